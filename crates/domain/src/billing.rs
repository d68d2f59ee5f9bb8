//! Billing events: one line per attending member per session with a signed note (CPT 90853
//! is billed per patient, with that patient's own diagnoses), plus per-diem lines for
//! programs that bill by the day, only for days that meet the program's daily minimum.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::ids::{ClientId, ProgramId, SessionId};
use crate::program::{PerDiemCode, PlaceOfService, SessionCode};
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

/// A National Provider Identifier: ten digits, the last a Luhn check digit computed over
/// the card-issuer prefix 80840 and the first nine (45 CFR 162.406; CMS "NPI check digit").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = r"^[0-9]{10}$", example = "1234567893")]
pub struct Npi(String);

impl Npi {
    /// Parses `raw` for the field named `field` (the error names the field and the rule,
    /// never the value).
    pub fn parse_field(field: &str, raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                field,
                "must be a 10-digit NPI whose last digit is its check digit",
            ))
        }
    }

    /// Whether `npi` is ten digits with a valid check digit.
    pub fn is_valid(npi: &str) -> bool {
        if npi.len() != 10 || !npi.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let sum: u32 = "80840"
            .bytes()
            .chain(npi.bytes())
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0');
                if i % 2 == 1 {
                    let x = d * 2;
                    if x > 9 { x - 9 } else { x }
                } else {
                    d
                }
            })
            .sum();
        sum.is_multiple_of(10)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Npi {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse_field("npi", &s)
    }
}

impl From<Npi> for String {
    fn from(n: Npi) -> Self {
        n.0
    }
}

impl std::fmt::Display for Npi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A clinician's NPI to record; `null` removes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NpiInput {
    pub npi: Option<Npi>,
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
    pub rendering_npi: Option<Npi>,
    pub session_code: SessionCode,
    pub per_diem_code: Option<PerDiemCode>,
    pub daily_minimum_minutes: u32,
    pub minutes: u32,
    pub diagnoses: Vec<DiagnosisCode>,
    /// The group met by telehealth (it has no room).
    pub telehealth: bool,
    /// The program's in-person and telehealth places of service.
    pub place_of_service: PlaceOfService,
    pub telehealth_place_of_service: PlaceOfService,
    /// The program's rule: session lines stay billable beside a per-diem line.
    pub sessions_billable_with_per_diem: bool,
    /// The patient (the subscriber on a claim file).
    pub patient: Patient,
}

/// Who a claim is for, as the claim file names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: Date,
}

/// The CPT/HCPCS modifier for services rendered by synchronous audio-video telehealth
/// (AMA CPT Appendix P; CMS asks it alongside POS 02/10 for many payers).
pub const TELEHEALTH_MODIFIER: &str = "95";

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
    /// The rendering clinician's NPI; empty on per-diem lines (billed by the clinic) and
    /// while the clinician's NPI is not recorded.
    pub rendering_npi: String,
    pub code: String,
    /// `95` on telehealth lines, else empty.
    pub modifier: String,
    pub place_of_service: PlaceOfService,
    pub minutes: u32,
    /// Semicolon-separated, primary first.
    pub diagnosis_codes: String,
    /// Empty on per-diem lines.
    pub session_id: Option<i64>,
    /// Whether the line is billed. A session line on a day that also has a per-diem line
    /// is billable only when the program says both are ([`BillableSession::
    /// sessions_billable_with_per_diem`]); otherwise the per diem covers it.
    pub billable: bool,
    /// What a claim file needs besides the line (not in the CSV).
    #[serde(skip)]
    pub claim: ClaimKey,
}

/// What groups lines into claims, and the claim's patient and diagnoses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimKey {
    pub client_id: i64,
    pub program_id: i64,
    pub patient: Option<Patient>,
    pub diagnoses: Vec<DiagnosisCode>,
}

/// The export's lines: every billable session, then one per-diem line per client, program
/// and day that meets the program's daily minimum, ordered by date, record number, kind.
pub fn billing_lines(sessions: &[BillableSession]) -> Vec<BillingLine> {
    // Per client, program and day: the minutes attended, whether every session was by
    // telehealth, and a session to take the program's settings from.
    type Day<'a> = (u32, bool, &'a BillableSession, PerDiemCode);
    let mut days: BTreeMap<(ClientId, ProgramId, Date), Day<'_>> = BTreeMap::new();
    for s in sessions {
        if let Some(code) = s.per_diem_code {
            let day = days
                .entry((s.client_id, s.program_id, s.date))
                .or_insert((0, true, s, code));
            day.0 += s.minutes;
            day.1 &= s.telehealth;
        }
    }
    days.retain(|_, (minutes, _, s, _)| *minutes >= s.daily_minimum_minutes);
    let mut lines: Vec<BillingLine> = sessions
        .iter()
        .map(|s| {
            let per_diem_day = days.contains_key(&(s.client_id, s.program_id, s.date));
            BillingLine {
                kind: LineKind::Session,
                record_number: s.record_number.clone(),
                service_date: s.date,
                program: s.program.clone(),
                group: s.group.clone(),
                rendering_clinician: s.rendering_clinician.clone(),
                rendering_license: s.rendering_license.clone(),
                rendering_npi: s
                    .rendering_npi
                    .as_ref()
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_default(),
                code: s.session_code.as_str().to_owned(),
                modifier: modifier(s.telehealth),
                place_of_service: place(s, s.telehealth),
                minutes: s.minutes,
                diagnosis_codes: diagnoses(&s.diagnoses),
                session_id: Some(s.session_id.0),
                billable: !per_diem_day || s.sessions_billable_with_per_diem,
                claim: claim_key(s),
            }
        })
        .collect();
    for (minutes, telehealth, s, code) in days.into_values() {
        lines.push(BillingLine {
            kind: LineKind::PerDiem,
            record_number: s.record_number.clone(),
            service_date: s.date,
            program: s.program.clone(),
            group: String::new(),
            rendering_clinician: String::new(),
            rendering_license: String::new(),
            rendering_npi: String::new(),
            code: code.as_str().to_owned(),
            modifier: modifier(telehealth),
            place_of_service: place(s, telehealth),
            minutes,
            diagnosis_codes: diagnoses(&s.diagnoses),
            session_id: None,
            billable: true,
            claim: claim_key(s),
        });
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

/// A telehealth line's place of service is the program's telehealth one (10 or 02), any
/// other line's the program's own; a per-diem day is telehealth when all its groups were.
fn place(s: &BillableSession, telehealth: bool) -> PlaceOfService {
    if telehealth {
        s.telehealth_place_of_service
    } else {
        s.place_of_service
    }
}

fn modifier(telehealth: bool) -> String {
    if telehealth {
        TELEHEALTH_MODIFIER.to_owned()
    } else {
        String::new()
    }
}

fn claim_key(s: &BillableSession) -> ClaimKey {
    ClaimKey {
        client_id: s.client_id.0,
        program_id: s.program_id.0,
        patient: Some(s.patient.clone()),
        diagnoses: s.diagnoses.clone(),
    }
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
            rendering_npi: Some(Npi::parse_field("npi", "1234567893").unwrap()),
            session_code: SessionCode::Cpt90853,
            per_diem_code: per_diem.then_some(PerDiemCode::S9480),
            daily_minimum_minutes: 180,
            minutes,
            diagnoses: vec![code("F33.1"), code("F41.1")],
            telehealth: false,
            place_of_service: PlaceOfService::Office,
            telehealth_place_of_service: PlaceOfService::Telehealth10,
            sessions_billable_with_per_diem: false,
            patient: Patient {
                given_name: "Ann".into(),
                family_name: "Lee".into(),
                date_of_birth: jiff::civil::date(1990, 1, 2),
            },
        }
    }

    #[test]
    fn an_npi_needs_ten_digits_and_the_check_digit_over_the_80840_prefix() {
        // CMS's worked example: 123456789 with the prefix gives check digit 3.
        assert!(Npi::parse_field("npi", "1234567893").is_ok());
        for bad in ["1234567890", "123456789", "12345678931", "12345678a3", ""] {
            let e = Npi::parse_field("npi", bad).expect_err(bad);
            assert!(format!("{e:?}").contains("npi"), "{bad}");
        }
        assert!(serde_json::from_str::<NpiInput>(r#"{"npi":"1234567890"}"#).is_err());
        let none: NpiInput = serde_json::from_str(r#"{"npi":null}"#).unwrap();
        assert!(none.npi.is_none());
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
        // The per diem covers the day's groups unless the program bills both.
        let billable: Vec<_> = lines.iter().map(|l| l.billable).collect();
        assert_eq!(billable, [false, false, true, true, true]);
        assert_eq!(lines[0].rendering_npi, "1234567893");
        assert_eq!(lines[2].rendering_npi, "");
    }

    #[test]
    fn both_lines_stay_billable_when_the_program_says_so() {
        let mut a = session(1, 7, "2026-05-04", 180, true);
        a.sessions_billable_with_per_diem = true;
        let lines = billing_lines(&[a]);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.billable));
    }

    #[test]
    fn telehealth_lines_carry_the_telehealth_place_and_modifier_95() {
        let mut a = session(1, 7, "2026-05-04", 120, true);
        a.telehealth = true;
        let b = session(2, 7, "2026-05-04", 60, true);
        let mut c = session(3, 8, "2026-05-04", 180, true);
        c.telehealth = true;
        c.telehealth_place_of_service = PlaceOfService::Telehealth02;
        let lines = billing_lines(&[a, b, c]);
        let got: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l.code.as_str(),
                    l.modifier.as_str(),
                    l.place_of_service.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("90853", "95", "10"),
                ("90853", "", "11"),
                // One group in person: the day was not telehealth.
                ("S9480", "", "11"),
                ("90853", "95", "02"),
                ("S9480", "95", "02"),
            ]
        );
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
