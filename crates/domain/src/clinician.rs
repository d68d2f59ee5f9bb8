//! Clinicians, their licenses and trained modalities. A lead facilitator must hold a
//! license that is active on the date of the session they lead.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::billing::Npi;
use crate::care::{Modality, vocab};
use crate::ids::ClinicianId;
use crate::text::{Email, LicenseNumber, PersonName, UsState};
use crate::{DomainError, FieldErrors, Rule};

vocab!(
    /// Professional license types seen in US behavioural health.
    LicenseKind {
        Licsw = "licsw",
        Lcsw = "lcsw",
        Lmhc = "lmhc",
        Lpc = "lpc",
        Lmft = "lmft",
        Lcadc = "lcadc",
        Psyd = "psyd",
        Phd = "phd",
        Md = "md",
        Pmhnp = "pmhnp",
    }
);

/// One license held by a clinician.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct License {
    pub kind: LicenseKind,
    pub number: LicenseNumber,
    /// Issuing state board.
    pub state: UsState,
    pub issued_on: Date,
    pub expires_on: Date,
}

impl License {
    /// Active from the issue date through the expiry date, inclusive.
    pub fn is_active_on(&self, date: Date) -> bool {
        self.issued_on <= date && date <= self.expires_on
    }
}

/// A clinician as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Clinician {
    pub id: ClinicianId,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub email: Email,
    pub licenses: Vec<License>,
    pub modalities: Vec<Modality>,
    /// The rendering provider's National Provider Identifier on claims, once recorded.
    pub npi: Option<Npi>,
    pub version: i64,
}

impl Clinician {
    pub fn licensed_on(&self, date: Date) -> bool {
        self.licenses.iter().any(|l| l.is_active_on(date))
    }

    /// A clinician with no license at all is a supervised trainee: they may co-facilitate.
    pub fn is_trainee(&self) -> bool {
        self.licenses.is_empty()
    }
}

/// A clinician to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClinician {
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub email: Email,
    #[serde(default)]
    pub licenses: Vec<License>,
    #[serde(default)]
    pub modalities: Vec<Modality>,
    /// The clinician's NPI (10 digits with its check digit), if they have one.
    #[serde(default)]
    pub npi: Option<Npi>,
}

impl NewClinician {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        for (i, l) in self.licenses.iter().enumerate() {
            if l.expires_on < l.issued_on {
                errors.push(
                    format!("licenses/{i}/expires_on"),
                    "must not be before issued_on",
                );
            }
            let dup = self.licenses[..i]
                .iter()
                .any(|o| o.state == l.state && o.number == l.number);
            if dup {
                errors.push(format!("licenses/{i}/number"), "is listed twice");
            }
        }
        errors.into_result()
    }
}

/// The rule: whoever leads a session holds a license active on its date.
pub fn check_can_lead(clinician: &Clinician, date: Date) -> Result<(), DomainError> {
    if clinician.licensed_on(date) {
        Ok(())
    } else {
        Err(DomainError::conflict(
            Rule::LicenseNotActive,
            format!(
                "the lead facilitator holds no license active on {date}; a trainee or a \
                 clinician with an expired license may only co-facilitate"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn clinician(licenses: Vec<License>) -> Clinician {
        Clinician {
            id: ClinicianId(1),
            given_name: PersonName::parse("Ana").unwrap(),
            family_name: PersonName::parse("Reyes").unwrap(),
            email: Email::parse("ana@example.org").unwrap(),
            licenses,
            modalities: vec![],
            npi: None,
            version: 1,
        }
    }

    fn license(expires_on: Date) -> License {
        License {
            kind: LicenseKind::Licsw,
            number: LicenseNumber::parse("L-1").unwrap(),
            state: UsState::parse("MA").unwrap(),
            issued_on: date(2020, 1, 1),
            expires_on,
        }
    }

    #[test]
    fn a_license_is_active_through_its_expiry_date() {
        let c = clinician(vec![license(date(2026, 6, 30))]);
        assert!(check_can_lead(&c, date(2026, 6, 30)).is_ok());
        let err = check_can_lead(&c, date(2026, 7, 1)).unwrap_err();
        assert_eq!(err.rule(), Some(Rule::LicenseNotActive));
    }

    #[test]
    fn a_trainee_cannot_lead() {
        let c = clinician(vec![]);
        assert!(c.is_trainee());
        assert!(check_can_lead(&c, date(2026, 1, 1)).is_err());
    }

    #[test]
    fn expiry_before_issue_is_invalid() {
        let mut l = license(date(2019, 1, 1));
        l.issued_on = date(2020, 1, 1);
        let n = NewClinician {
            given_name: PersonName::parse("A").unwrap(),
            family_name: PersonName::parse("B").unwrap(),
            email: Email::parse("a@b.org").unwrap(),
            licenses: vec![l],
            modalities: vec![],
            npi: None,
        };
        assert!(matches!(n.validate(), Err(DomainError::Invalid(_))));
    }
}
