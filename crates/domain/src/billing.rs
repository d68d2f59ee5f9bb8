//! Billing events: one line per attending member per session with a signed note (CPT 90853
//! is billed per patient, with that patient's own diagnoses), plus per-diem lines for
//! programs that bill by the day, only for days that meet the program's daily minimum.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::ids::{ClientId, ProgramId, SessionId};
use crate::program::{PerDiemCode, SessionCode};
use crate::{DomainError, FieldErrors};

/// An ICD-10-CM diagnosis code such as `F33.1` (format checked, not the code list).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$", example = "F33.1")]
pub struct DiagnosisCode(String);

impl DiagnosisCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DiagnosisCode {
    type Error = &'static str;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let b = s.as_bytes();
        let head = b.len() >= 3
            && b[0].is_ascii_uppercase()
            && b[0] != b'U'
            && b[1].is_ascii_digit()
            && (b[2].is_ascii_digit() || b[2].is_ascii_uppercase());
        let tail = match &b.get(3..) {
            Some([]) | None => true,
            Some([b'.', rest @ ..]) => {
                (1..=4).contains(&rest.len())
                    && rest
                        .iter()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            }
            Some(_) => false,
        };
        if head && tail {
            Ok(Self(s))
        } else {
            Err("must be an ICD-10-CM code such as F33.1")
        }
    }
}

impl From<DiagnosisCode> for String {
    fn from(c: DiagnosisCode) -> Self {
        c.0
    }
}

/// A client's diagnoses in billing order (the first is primary).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosesInput {
    pub codes: Vec<DiagnosisCode>,
}

impl DiagnosesInput {
    /// At most 12 codes (a claim line's limit), none repeated.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if self.codes.len() > 12 {
            errors.push("codes", "must hold at most 12 diagnosis codes");
        }
        for (i, c) in self.codes.iter().enumerate() {
            if self.codes[..i].contains(c) {
                errors.push(format!("codes/{i}"), "must not repeat an earlier code");
            }
        }
        errors.into_result()
    }
}

vocab!(
    /// Whether a line bills one session or one day.
    LineKind {
        Session = "session",
        PerDiem = "per_diem",
    }
);

/// One attended session of one member whose progress note is signed: the raw material of
/// the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillableSession {
    pub session_id: SessionId,
    pub client_id: ClientId,
    pub record_number: String,
    pub date: Date,
    pub program_id: ProgramId,
    pub program: String,
    pub group: String,
    pub rendering_clinician: String,
    pub rendering_license: String,
    pub session_code: SessionCode,
    pub per_diem_code: Option<PerDiemCode>,
    pub daily_minimum_minutes: u32,
    pub minutes: u32,
    pub diagnoses: Vec<DiagnosisCode>,
}

/// One line of the billing export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillingLine {
    pub kind: LineKind,
    pub record_number: String,
    pub service_date: Date,
    pub program: String,
    /// Empty on per-diem lines.
    pub group: String,
    /// Empty on per-diem lines.
    pub rendering_clinician: String,
    pub rendering_license: String,
    pub code: String,
    pub minutes: u32,
    /// Semicolon-separated, primary first.
    pub diagnosis_codes: String,
    /// Empty on per-diem lines.
    pub session_id: Option<i64>,
}

/// The export's lines: every billable session, then one per-diem line per client, program
/// and day that meets the program's daily minimum, ordered by date, record number, kind.
pub fn billing_lines(sessions: &[BillableSession]) -> Vec<BillingLine> {
    let mut lines: Vec<BillingLine> = sessions
        .iter()
        .map(|s| BillingLine {
            kind: LineKind::Session,
            record_number: s.record_number.clone(),
            service_date: s.date,
            program: s.program.clone(),
            group: s.group.clone(),
            rendering_clinician: s.rendering_clinician.clone(),
            rendering_license: s.rendering_license.clone(),
            code: s.session_code.as_str().to_owned(),
            minutes: s.minutes,
            diagnosis_codes: diagnoses(&s.diagnoses),
            session_id: Some(s.session_id.0),
        })
        .collect();
    let mut days: BTreeMap<(ClientId, ProgramId, Date), (u32, &BillableSession, PerDiemCode)> =
        BTreeMap::new();
    for s in sessions {
        if let Some(code) = s.per_diem_code {
            days.entry((s.client_id, s.program_id, s.date))
                .or_insert((0, s, code))
                .0 += s.minutes;
        }
    }
    for (minutes, s, code) in days.into_values() {
        if minutes >= s.daily_minimum_minutes {
            lines.push(BillingLine {
                kind: LineKind::PerDiem,
                record_number: s.record_number.clone(),
                service_date: s.date,
                program: s.program.clone(),
                group: String::new(),
                rendering_clinician: String::new(),
                rendering_license: String::new(),
                code: code.as_str().to_owned(),
                minutes,
                diagnosis_codes: diagnoses(&s.diagnoses),
                session_id: None,
            });
        }
    }
    lines.sort_by(|a, b| {
        (a.service_date, &a.record_number, a.kind, a.session_id).cmp(&(
            b.service_date,
            &b.record_number,
            b.kind,
            b.session_id,
        ))
    });
    lines
}

fn diagnoses(codes: &[DiagnosisCode]) -> String {
    codes
        .iter()
        .map(DiagnosisCode::as_str)
        .collect::<Vec<_>>()
        .join(";")
}

/// A spreadsheet opens a cell starting with `=`, `+`, `-`, `@`, tab or CR as a formula:
/// such text is prefixed with `'` so an export can never run as one (OWASP "CSV
/// injection").
pub fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let trigger = |c: char| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r');
    // A formula trigger at the start, or right after a character a spreadsheet may take
    // as a delimiter (`PHP;=1+1` in a locale that splits on semicolons).
    let after_delimiter = text
        .split([';', ',', '\t', '|'])
        .skip(1)
        .any(|part| part.chars().next().is_some_and(trigger));
    if text.chars().next().is_some_and(trigger) || after_delimiter {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> DiagnosisCode {
        DiagnosisCode::try_from(s.to_owned()).unwrap()
    }

    fn session(id: i64, client: i64, day: &str, minutes: u32, per_diem: bool) -> BillableSession {
        BillableSession {
            session_id: SessionId(id),
            client_id: ClientId(client),
            record_number: format!("MRN-{client}"),
            date: day.parse().unwrap(),
            program_id: ProgramId(1),
            program: "IOP".into(),
            group: format!("G{id}"),
            rendering_clinician: "Lead, A".into(),
            rendering_license: "L-1".into(),
            session_code: SessionCode::Cpt90853,
            per_diem_code: per_diem.then_some(PerDiemCode::S9480),
            daily_minimum_minutes: 180,
            minutes,
            diagnoses: vec![code("F33.1"), code("F41.1")],
        }
    }

    #[test]
    fn diagnosis_codes_are_checked_for_shape() {
        for ok in ["F33.1", "F41.1", "Z63.0", "F10.20", "F32.A"] {
            assert!(DiagnosisCode::try_from(ok.to_owned()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "f33.1",
            "F3",
            "F33.",
            "F33.12345",
            "U07.1",
            "33.1",
            "F33-1",
            "F32A",
            "F200",
        ] {
            assert!(DiagnosisCode::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_line_per_session_and_per_diem_only_for_days_meeting_the_minimum() {
        let lines = billing_lines(&[
            session(1, 7, "2026-05-04", 90, true),
            session(2, 7, "2026-05-04", 90, true),
            session(3, 7, "2026-05-05", 90, true),
            session(4, 8, "2026-05-04", 60, false),
        ]);
        let kinds: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l.service_date.to_string(),
                    l.record_number.as_str(),
                    l.code.as_str(),
                    l.minutes,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("2026-05-04".to_owned(), "MRN-7", "90853", 90),
                ("2026-05-04".to_owned(), "MRN-7", "90853", 90),
                ("2026-05-04".to_owned(), "MRN-7", "S9480", 180),
                ("2026-05-04".to_owned(), "MRN-8", "90853", 60),
                ("2026-05-05".to_owned(), "MRN-7", "90853", 90),
            ]
        );
        assert_eq!(lines[0].diagnosis_codes, "F33.1;F41.1");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(spreadsheet_safe("=1+1"), "'=1+1");
        assert_eq!(spreadsheet_safe("-2"), "'-2");
        assert_eq!(spreadsheet_safe("Adult IOP"), "Adult IOP");
        // A formula after a character a spreadsheet may split on.
        assert_eq!(spreadsheet_safe("PHP;=1+1"), "'PHP;=1+1");
        assert_eq!(spreadsheet_safe("IOP, evening"), "IOP, evening");
    }

    #[test]
    fn repeated_codes_are_refused() {
        let input = DiagnosesInput {
            codes: vec![code("F33.1"), code("F33.1")],
        };
        assert!(input.validate().is_err());
    }
}
