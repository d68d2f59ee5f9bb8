//! Clients, their level-of-care episodes and their separations.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{Concern, LevelOfCare, vocab};
use crate::ids::{ClientId, EpisodeId, ProgramId, SeparationId};
use crate::schedule::{AvailabilityWindow, validate_availability};
use crate::text::{Email, Label, PersonName, Phone, RecordNumber, ShortText};
use crate::{DomainError, FieldErrors, Rule};

vocab!(
    /// How a client came to the clinic (the article's three ways in).
    ReferralSource {
        SelfReferral = "self_referral",
        ProgramAdmission = "program_admission",
        TherapistReferral = "therapist_referral",
    }
);

/// A client as stored. Debug output of the text fields is redacted by their types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Client {
    pub id: ClientId,
    pub record_number: RecordNumber,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub preferred_name: Option<PersonName>,
    pub date_of_birth: Date,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub concerns: Vec<Concern>,
    pub availability: Vec<AvailabilityWindow>,
    pub referral_source: ReferralSource,
    /// The level of care of the open episode, if any.
    pub current_level: Option<LevelOfCare>,
    pub version: i64,
}

impl Client {
    /// The name to use on rosters and sign-in sheets: preferred first name and last initial.
    pub fn roster_name(&self) -> String {
        let first = self.preferred_name.as_ref().unwrap_or(&self.given_name);
        let initial = self.family_name.as_str().chars().next().unwrap_or('?');
        format!("{first} {initial}.")
    }
}

/// A client to register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub record_number: RecordNumber,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub preferred_name: Option<PersonName>,
    pub date_of_birth: Date,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    #[serde(default)]
    pub concerns: Vec<Concern>,
    #[serde(default)]
    pub availability: Vec<AvailabilityWindow>,
    pub referral_source: ReferralSource,
}

/// A change to a client's contact details, concerns or availability.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub version: i64,
    pub preferred_name: Option<PersonName>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub concerns: Option<Vec<Concern>>,
    pub availability: Option<Vec<AvailabilityWindow>>,
}

impl NewClient {
    pub fn validate(&self, today: Date) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if self.date_of_birth > today {
            errors.push("date_of_birth", "must not be in the future");
        }
        if self.date_of_birth.year() < 1900 {
            errors.push("date_of_birth", "must be in 1900 or later");
        }
        validate_availability(&self.availability, &mut errors);
        errors.into_result()
    }
}

impl ClientPatch {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if let Some(a) = &self.availability {
            validate_availability(a, &mut errors);
        }
        errors.into_result()
    }
}

/// One level of care over a span of dates. `ended_on` is exclusive and empty while open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Episode {
    pub id: EpisodeId,
    pub client_id: ClientId,
    pub program_id: Option<ProgramId>,
    pub level_of_care: LevelOfCare,
    pub started_on: Date,
    pub ended_on: Option<Date>,
}

/// End a client's care (discharge): closes the open episode on `ended_on`. Their group
/// memberships must have been ended first, so every seat that opens goes through the
/// waitlist's offers.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDischarge {
    /// The day care ends (the episode covers days before it).
    pub ended_on: Date,
}

/// Move a client to a level of care from a date: closes the open episode and opens this one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEpisode {
    pub level_of_care: LevelOfCare,
    pub program_id: Option<ProgramId>,
    pub started_on: Date,
    /// Stepping down from IOP only: keep the IOP groups for 1 or 2 more weeks (a taper);
    /// those memberships then end that many weeks after `started_on`.
    #[serde(default)]
    pub taper_weeks: Option<u32>,
}

/// The rule for changing level: history is kept, never overwritten, and runs forward.
pub fn check_episode_change(open: Option<&Episode>, next: &NewEpisode) -> Result<(), DomainError> {
    if let Some(open) = open
        && next.started_on <= open.started_on
    {
        return Err(DomainError::conflict(
            Rule::EpisodeOrder,
            "a new level of care must start after the current episode started",
        ));
    }
    Ok(())
}

/// Two clients who must not share a group (they know each other outside it). The reason is
/// restricted: only directors and the clients' own clinicians may read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Separation {
    pub id: SeparationId,
    pub client_id: ClientId,
    pub other_client_id: ClientId,
    pub reason: Option<ShortText>,
}

/// Record a separation from one client to another.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSeparation {
    pub other_client_id: ClientId,
    pub reason: Option<ShortText>,
}

/// The referring individual therapist, when the client came that way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferringProvider {
    pub name: PersonName,
    pub practice: Option<Label>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn episode(started_on: Date) -> Episode {
        Episode {
            id: EpisodeId(1),
            client_id: ClientId(1),
            program_id: None,
            level_of_care: LevelOfCare::Php,
            started_on,
            ended_on: None,
        }
    }

    #[test]
    fn stepping_down_must_move_forward_in_time() {
        let open = episode(date(2026, 3, 1));
        let next = NewEpisode {
            level_of_care: LevelOfCare::Iop,
            program_id: None,
            started_on: date(2026, 3, 1),
            taper_weeks: None,
        };
        assert_eq!(
            check_episode_change(Some(&open), &next).unwrap_err().rule(),
            Some(Rule::EpisodeOrder)
        );
        let next = NewEpisode {
            started_on: date(2026, 3, 20),
            ..next
        };
        assert!(check_episode_change(Some(&open), &next).is_ok());
    }

    #[test]
    fn roster_name_is_preferred_first_name_and_last_initial() {
        let c = Client {
            id: ClientId(1),
            record_number: RecordNumber::parse("R-1").unwrap(),
            given_name: PersonName::parse("Robert").unwrap(),
            family_name: PersonName::parse("Nguyen").unwrap(),
            preferred_name: Some(PersonName::parse("Bobby").unwrap()),
            date_of_birth: date(1990, 1, 1),
            email: None,
            phone: None,
            concerns: vec![],
            availability: vec![],
            referral_source: ReferralSource::SelfReferral,
            current_level: None,
            version: 1,
        };
        assert_eq!(c.roster_name(), "Bobby N.");
    }

    #[test]
    fn a_birth_date_in_the_future_is_refused() {
        let json = serde_json::json!({
            "record_number": "R-1", "given_name": "A", "family_name": "B",
            "date_of_birth": "2030-01-01", "referral_source": "self_referral"
        });
        let c: NewClient = serde_json::from_value(json).unwrap();
        assert!(c.validate(date(2026, 1, 1)).is_err());
    }
}
