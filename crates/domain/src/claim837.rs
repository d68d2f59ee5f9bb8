//! The X12 837P professional claim file (ASC X12 005010X222A1), written from the billing
//! export's lines: one interchange, one functional group, one transaction set; the clinic
//! as submitter and billing provider (2010AA, NPI + EIN), one subscriber loop (2000B) per
//! client, one claim (2300 `CLM`) per client, program and service date, one service line
//! (2400 `SV1`) per billable line with its place of service, modifier 95 on telehealth
//! and the rendering clinician (2420A, NPI) on session lines.
//!
//! Circle records no insurance: the subscriber is the patient, their member id is the
//! clinic's record number, the payer is named as not recorded, and charges are zero
//! (Circle keeps no fee schedule). The interchange is therefore marked as test data
//! (`ISA15 = T`): a clearinghouse maps payer, member id and charges before it is sent.

use std::collections::BTreeMap;

use jiff::civil::{Date, DateTime};

use crate::billing::{BillingLine, LineKind, Npi};
use crate::{DomainError, FieldErrors};

/// The implementation guide this writer follows.
pub const VERSION: &str = "005010X222A1";

/// The payer named on every claim while Circle records no insurance.
pub const PAYER_NOT_RECORDED: &str = "PAYER NOT RECORDED";

/// The clinic as submitter and billing provider.
#[derive(Debug, Clone)]
pub struct BillingProvider {
    pub name: String,
    pub npi: Npi,
    /// The EIN, 9 digits.
    pub tin: String,
    pub address: ClinicAddress,
}

/// The billing provider's street address (2010AA requires a physical address and a
/// nine-digit ZIP code) and a telephone number for the submitter contact (1000A PER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicAddress {
    pub line: String,
    pub city: String,
    /// Two-letter USPS state code.
    pub state: String,
    /// Nine digits (ZIP+4).
    pub zip: String,
    /// Ten digits.
    pub phone: String,
}

impl ClinicAddress {
    /// Checks each part, naming the setting that breaks its rule.
    pub fn parse(
        line: &str,
        city: &str,
        state: &str,
        zip: &str,
        phone: &str,
    ) -> Result<Self, DomainError> {
        let mut errors = FieldErrors::default();
        let text = |s: &str, max: usize| {
            let s = s.trim();
            !s.is_empty()
                && s.len() <= max
                && !s.chars().any(|c| c.is_control() || "~*:^".contains(c))
        };
        if !text(line, 55) {
            errors.push("clinic_address", "must be 1-55 characters, without ~ * : ^");
        }
        if !text(city, 30) {
            errors.push("clinic_city", "must be 1-30 characters, without ~ * : ^");
        }
        let state = state.trim().to_ascii_uppercase();
        if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_uppercase()) {
            errors.push("clinic_state", "must be a two-letter USPS state code");
        }
        let zip: String = zip.chars().filter(|c| *c != '-').collect();
        if zip.len() != 9 || !zip.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(
                "clinic_zip",
                "must be the nine digits of a ZIP+4 code (12345-6789)",
            );
        }
        let phone: String = phone.chars().filter(char::is_ascii_digit).collect();
        if phone.len() != 10 {
            errors.push("clinic_phone", "must be a ten-digit US telephone number");
        }
        errors.into_result()?;
        Ok(Self {
            line: line.trim().to_owned(),
            city: city.trim().to_owned(),
            state,
            zip,
            phone,
        })
    }
}

/// The interchange's identity: its control number (ISA13, GS06; 1 to 999,999,999) and
/// when it was made (the clinic's local time).
#[derive(Debug, Clone, Copy)]
pub struct Envelope {
    pub control_number: u32,
    pub created: DateTime,
}

/// The 837P for the billable lines of an export. Every session line needs its rendering
/// clinician's NPI and every claim a diagnosis (422 naming the field otherwise).
pub fn claim_file(
    lines: &[BillingLine],
    provider: &BillingProvider,
    envelope: Envelope,
) -> Result<String, DomainError> {
    let billable: Vec<&BillingLine> = lines.iter().filter(|l| l.billable).collect();
    let mut errors = FieldErrors::default();
    let no_npi = billable
        .iter()
        .filter(|l| l.kind == LineKind::Session && l.rendering_npi.is_empty())
        .count();
    if no_npi > 0 {
        let mut who: Vec<&str> = billable
            .iter()
            .filter(|l| l.kind == LineKind::Session && l.rendering_npi.is_empty())
            .map(|l| l.rendering_clinician.as_str())
            .collect();
        who.sort_unstable();
        who.dedup();
        errors.push(
            "rendering_npi",
            format!(
                "{no_npi} billable session line(s) have no rendering NPI: record one for {} \
                 (PUT /api/v1/clinicians/{{id}}/npi)",
                who.join("; ")
            ),
        );
    }
    let no_dx = billable
        .iter()
        .filter(|l| l.claim.diagnoses.is_empty())
        .count();
    if no_dx > 0 {
        errors.push(
            "diagnosis_codes",
            format!("{no_dx} billable line(s) belong to clients with no diagnosis recorded"),
        );
    }
    if billable.is_empty() {
        errors.push(
            "from",
            "no billable line between from and until: a claim file needs at least one claim",
        );
    }
    if !(1..=999_999_999).contains(&envelope.control_number) {
        errors.push("control_number", "must be between 1 and 999999999");
    }
    errors.into_result()?;

    // Subscriber (client) → claim (program, date) → lines, in a stable order.
    let mut subscribers: BTreeMap<i64, BTreeMap<(Date, i64), Vec<&BillingLine>>> = BTreeMap::new();
    for l in billable {
        subscribers
            .entry(l.claim.client_id)
            .or_default()
            .entry((l.service_date, l.claim.program_id))
            .or_default()
            .push(l);
    }

    let mut w = Writer::default();
    let ctl = envelope.control_number;
    let created = envelope.created;
    let sender = provider.npi.as_str();
    let receiver = "CLEARINGHOUSE";
    let isa = format!(
        "ISA*00*{:10}*00*{:10}*ZZ*{:<15}*ZZ*{:<15}*{}*{}*^*00501*{ctl:09}*0*T*:",
        "",
        "",
        sender,
        receiver,
        yymmdd(created.date()),
        hhmm(created),
    );
    w.envelope(&isa);
    w.envelope(&format!(
        "GS*HC*{sender}*{receiver}*{}*{}*{ctl}*X*{VERSION}",
        ccyymmdd(created.date()),
        hhmm(created)
    ));
    w.seg(&format!("ST*837*0001*{VERSION}"));
    w.seg(&format!(
        "BHT*0019*00*{ctl}*{}*{}*CH",
        ccyymmdd(created.date()),
        hhmm(created)
    ));
    let clinic = text(&provider.name, 60);
    // 1000A submitter, 1000B receiver.
    w.seg(&format!("NM1*41*2*{clinic}*****46*{}", provider.tin));
    w.seg(&format!(
        "PER*IC*{}*TE*{}",
        text("Billing office", 60),
        provider.address.phone
    ));
    w.seg(&format!("NM1*40*2*{receiver}*****46*{receiver}"));
    // 2000A billing provider.
    w.seg("HL*1**20*1");
    w.seg(&format!("NM1*85*2*{clinic}*****XX*{}", provider.npi));
    w.seg(&format!("N3*{}", text(&provider.address.line, 55)));
    w.seg(&format!(
        "N4*{}*{}*{}",
        text(&provider.address.city, 30),
        provider.address.state,
        provider.address.zip
    ));
    w.seg(&format!("REF*EI*{}", provider.tin));

    let mut hl = 1;
    for claims in subscribers.values() {
        let first = claims.values().next().and_then(|ls| ls.first());
        let Some(first) = first else { continue };
        hl += 1;
        // 2000B: the patient is the subscriber (SBR02 = 18, self); the claim filing
        // indicator is "mutually defined" while Circle records no insurance.
        w.seg(&format!("HL*{hl}*1*22*0"));
        w.seg("SBR*P*18*******ZZ");
        let (family, given, dob) =
            first
                .claim
                .patient
                .as_ref()
                .map_or((String::new(), String::new(), None), |p| {
                    (
                        text(&p.family_name, 60),
                        text(&p.given_name, 35),
                        Some(p.date_of_birth),
                    )
                });
        w.seg(&format!(
            "NM1*IL*1*{family}*{given}****MI*{}",
            ident(&first.record_number, 80)
        ));
        if let Some(dob) = dob {
            w.seg(&format!("DMG*D8*{}*U", ccyymmdd(dob)));
        }
        w.seg(&format!("NM1*PR*2*{PAYER_NOT_RECORDED}*****PI*NOTRECORDED"));
        for ((date, program), lines) in claims {
            let Some(head) = lines.first() else { continue };
            let pos = head.place_of_service.as_str();
            // The patient control number comes back on the remittance: ids only, no PHI.
            let claim_id = format!("C{}D{}P{program}", head.claim.client_id, ccyymmdd(*date));
            w.seg(&format!("CLM*{claim_id}*0***{pos}:B:1*Y*A*Y*Y"));
            let hi: Vec<String> = head
                .claim
                .diagnoses
                .iter()
                .take(12)
                .enumerate()
                .map(|(i, d)| {
                    let q = if i == 0 { "ABK" } else { "ABF" };
                    format!("{q}:{}", d.as_str().replace('.', ""))
                })
                .collect();
            w.seg(&format!("HI*{}", hi.join("*")));
            let pointers = (1..=head.claim.diagnoses.len().min(4))
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(":");
            for (n, l) in lines.iter().enumerate() {
                w.seg(&format!("LX*{}", n + 1));
                let procedure = if l.modifier.is_empty() {
                    format!("HC:{}", l.code)
                } else {
                    format!("HC:{}:{}", l.code, l.modifier)
                };
                let line_pos = l.place_of_service.as_str();
                let sv105 = if line_pos == pos { "" } else { line_pos };
                w.seg(&format!("SV1*{procedure}*0*UN*1*{sv105}**{pointers}"));
                w.seg(&format!("DTP*472*D8*{}", ccyymmdd(l.service_date)));
                let line_ref = match l.session_id {
                    Some(s) => format!("S{s}C{}", l.claim.client_id),
                    None => format!("{claim_id}PD"),
                };
                w.seg(&format!("REF*6R*{line_ref}"));
                if !l.rendering_npi.is_empty() {
                    let (family, given) = l
                        .rendering_clinician
                        .split_once(", ")
                        .unwrap_or((l.rendering_clinician.as_str(), ""));
                    w.seg(&format!(
                        "NM1*82*1*{}*{}****XX*{}",
                        text(family, 60),
                        text(given, 35),
                        l.rendering_npi
                    ));
                }
            }
        }
    }
    // SE01 counts ST through SE.
    let count = w.segments + 1;
    w.seg(&format!("SE*{count}*0001"));
    w.envelope(&format!("GE*1*{ctl}"));
    w.envelope(&format!("IEA*1*{ctl:09}"));
    Ok(w.out)
}

/// Segments joined by `~` and a line break (readable, and accepted by X12 parsers).
#[derive(Default)]
struct Writer {
    out: String,
    /// Segments inside the transaction set (ST counted).
    segments: usize,
}

impl Writer {
    fn seg(&mut self, s: &str) {
        self.segments += 1;
        self.envelope(s);
    }

    fn envelope(&mut self, s: &str) {
        self.out.push_str(s);
        self.out.push_str("~\n");
    }
}

/// Text as an X12 element: upper case, the delimiters (`~ * : ^`) and anything outside
/// printable ASCII replaced by a space, runs of spaces collapsed, at most `max` characters.
fn text(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !"~*:^".contains(c) {
                c.to_ascii_uppercase()
            } else {
                ' '
            }
        })
        .collect();
    let joined = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let out: String = joined.chars().take(max).collect();
    if out.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        out
    }
}

/// An identifier: letters, digits and `-` only.
fn ident(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(max)
        .collect();
    if out.len() < 2 {
        format!("{out:0>2}")
    } else {
        out
    }
}

fn ccyymmdd(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

fn yymmdd(d: Date) -> String {
    format!("{:02}{:02}{:02}", d.year() % 100, d.month(), d.day())
}

fn hhmm(t: DateTime) -> String {
    format!("{:02}{:02}", t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{ClaimKey, DiagnosisCode, Patient};
    use crate::program::PlaceOfService;

    fn line(client: i64, day: i8, kind: LineKind, session: Option<i64>) -> BillingLine {
        BillingLine {
            kind,
            record_number: format!("MRN-{client}"),
            service_date: jiff::civil::date(2026, 5, day),
            program: "Adult IOP".into(),
            group: "Skills".into(),
            rendering_clinician: "Reyes, Ana".into(),
            rendering_license: "lmhc MA L-1".into(),
            rendering_npi: if kind == LineKind::Session {
                "1234567893".into()
            } else {
                String::new()
            },
            code: if kind == LineKind::Session {
                "90853"
            } else {
                "S9480"
            }
            .into(),
            modifier: "95".into(),
            place_of_service: PlaceOfService::Telehealth10,
            minutes: 60,
            diagnosis_codes: "F33.1".into(),
            session_id: session,
            billable: true,
            claim: ClaimKey {
                client_id: client,
                program_id: 1,
                patient: Some(Patient {
                    given_name: "Ann*e".into(),
                    family_name: "O'Lee~".into(),
                    date_of_birth: jiff::civil::date(1990, 1, 2),
                }),
                diagnoses: vec![DiagnosisCode::try_from("F33.1".to_owned()).unwrap()],
            },
        }
    }

    fn provider() -> BillingProvider {
        BillingProvider {
            name: "Circle clinic".into(),
            npi: Npi::parse_field("clinic_npi", "1234567893").unwrap(),
            tin: "123456789".into(),
            address: ClinicAddress::parse(
                "1 Main St",
                "Boston",
                "ma",
                "02110-1234",
                "617 555 0100",
            )
            .unwrap(),
        }
    }

    fn envelope() -> Envelope {
        Envelope {
            control_number: 42,
            created: jiff::civil::datetime(2026, 6, 1, 9, 5, 0, 0),
        }
    }

    #[test]
    fn segments_are_counted_and_delimiters_in_names_are_removed() {
        let lines = [
            line(7, 4, LineKind::Session, Some(1)),
            line(7, 4, LineKind::PerDiem, None),
            line(8, 5, LineKind::Session, Some(2)),
        ];
        let file = claim_file(&lines, &provider(), envelope()).unwrap();
        let segs: Vec<&str> = file.split("~\n").filter(|s| !s.is_empty()).collect();
        assert_eq!(segs[0].len(), 105, "ISA is fixed width: {}", segs[0]);
        let st = segs.iter().position(|s| s.starts_with("ST*")).unwrap();
        let se = segs.iter().position(|s| s.starts_with("SE*")).unwrap();
        assert_eq!(segs[se], format!("SE*{}*0001", se - st + 1));
        assert_eq!(segs.iter().filter(|s| s.starts_with("CLM*")).count(), 2);
        assert!(segs.contains(&"NM1*IL*1*O'LEE*ANN E****MI*MRN-7"), "{file}");
        assert!(segs.contains(&"SV1*HC:90853:95*0*UN*1***1"), "{file}");
        assert!(segs.contains(&"HI*ABK:F331"), "{file}");
        assert_eq!(segs[segs.len() - 2], "GE*1*42");
        assert_eq!(segs[segs.len() - 1], "IEA*1*000000042");
    }

    #[test]
    fn a_session_line_without_a_rendering_npi_is_refused_naming_the_field() {
        let mut l = line(7, 4, LineKind::Session, Some(1));
        l.rendering_npi.clear();
        let err = claim_file(&[l], &provider(), envelope()).unwrap_err();
        assert!(format!("{err:?}").contains("rendering_npi"), "{err:?}");
    }

    #[test]
    fn lines_that_are_not_billable_stay_out_of_the_file() {
        let mut l = line(7, 4, LineKind::Session, Some(1));
        l.billable = false;
        let mut m = line(8, 4, LineKind::Session, Some(2));
        m.billable = true;
        let file = claim_file(&[l.clone(), m], &provider(), envelope()).unwrap();
        assert!(!file.contains("MRN-7"));
        assert!(claim_file(&[l], &provider(), envelope()).is_err());
    }

    #[test]
    fn the_clinic_address_needs_a_zip_plus_four_and_a_phone() {
        let err = ClinicAddress::parse("1 Main", "Boston", "MA", "02110", "555").unwrap_err();
        let s = format!("{err:?}");
        assert!(
            s.contains("clinic_zip") && s.contains("clinic_phone"),
            "{s}"
        );
    }
}
