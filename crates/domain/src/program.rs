//! Programs: a service line at a site with its level of care, time zone and hours rule.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::LevelOfCare;
use crate::ids::ProgramId;
use crate::text::{Label, TimeZoneName};
use crate::{DomainError, FieldErrors};

/// CPT 90853 allows at most 12 patients per group; a program may cap lower (one state's
/// Medicaid IOP rule caps at 8), never higher.
pub const CPT_GROUP_MAX: u32 = 12;

/// A program as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Program {
    pub id: ProgramId,
    pub name: Label,
    pub site: Label,
    pub level_of_care: LevelOfCare,
    pub time_zone: TimeZoneName,
    pub weekly_required_minutes: u32,
    pub max_group_size: u32,
    pub version: i64,
}

/// A program to create. Omitted settings take the level's defaults.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgram {
    pub name: Label,
    pub site: Label,
    pub level_of_care: LevelOfCare,
    pub time_zone: TimeZoneName,
    pub weekly_required_minutes: Option<u32>,
    pub max_group_size: Option<u32>,
}

/// A change to a program's settings; `version` must match the stored one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramPatch {
    pub version: i64,
    pub name: Option<Label>,
    pub weekly_required_minutes: Option<u32>,
    pub max_group_size: Option<u32>,
}

/// A program's settings after defaults, proven valid.
#[derive(Debug, Clone)]
pub struct ProgramSettings {
    pub weekly_required_minutes: u32,
    pub max_group_size: u32,
}

/// Weekly minutes above a full week of waking hours are a typo, not a requirement.
const MAX_WEEKLY_MINUTES: u32 = 7 * 16 * 60;

pub fn validate_settings(
    weekly_required_minutes: u32,
    max_group_size: u32,
) -> Result<ProgramSettings, DomainError> {
    let mut errors = FieldErrors::default();
    if weekly_required_minutes > MAX_WEEKLY_MINUTES {
        errors.push(
            "weekly_required_minutes",
            format!("must be at most {MAX_WEEKLY_MINUTES} minutes"),
        );
    }
    if !(2..=CPT_GROUP_MAX).contains(&max_group_size) {
        errors.push(
            "max_group_size",
            format!("must be between 2 and {CPT_GROUP_MAX} (CPT 90853 allows at most 12 patients)"),
        );
    }
    errors.into_result()?;
    Ok(ProgramSettings {
        weekly_required_minutes,
        max_group_size,
    })
}

impl NewProgram {
    pub fn settings(&self) -> Result<ProgramSettings, DomainError> {
        validate_settings(
            self.weekly_required_minutes
                .unwrap_or_else(|| self.level_of_care.default_weekly_minutes()),
            self.max_group_size.unwrap_or(CPT_GROUP_MAX),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_cap_above_twelve_is_refused() {
        let err = validate_settings(540, 13).unwrap_err();
        assert!(matches!(err, DomainError::Invalid(ref f) if f.0[0].field == "max_group_size"));
        assert!(validate_settings(540, 8).is_ok());
    }
}

/// A room at a site. A group's maximum never exceeds its room's capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Room {
    pub id: crate::ids::RoomId,
    pub site: Label,
    pub name: Label,
    pub capacity: u32,
    pub version: i64,
}

/// A room to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    pub site: Label,
    pub name: Label,
    pub capacity: u32,
}

impl NewRoom {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if !(1..=200).contains(&self.capacity) {
            errors.push("capacity", "must be 1–200 people");
        }
        errors.into_result()
    }
}
