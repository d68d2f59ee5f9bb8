//! Memberships and the enrollment rules: size, level of care, enrollment model,
//! separations and schedule clashes.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{LevelOfCare, vocab};
use crate::group::Group;
use crate::ids::{ClientId, GroupId, MembershipId};
use crate::{DomainError, FieldErrors, Rule};

vocab!(
    /// Where a membership stands.
    MembershipStatus {
        Active = "active",
        OnHold = "on_hold",
        Completed = "completed",
        Withdrawn = "withdrawn",
        Discharged = "discharged",
    }
);

impl MembershipStatus {
    /// Ended memberships keep their history; rejoining creates a new membership.
    pub fn is_ended(self) -> bool {
        matches!(self, Self::Completed | Self::Withdrawn | Self::Discharged)
    }
}

/// A client's membership in a group. `end_date` is exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Membership {
    pub id: MembershipId,
    pub group_id: GroupId,
    pub client_id: ClientId,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub status: MembershipStatus,
    pub version: i64,
}

impl Membership {
    /// Whether this membership puts the client on the roster of a session on `date`.
    pub fn covers(&self, date: Date) -> bool {
        self.start_date <= date
            && self.end_date.is_none_or(|end| date < end)
            && self.status != MembershipStatus::OnHold
    }
}

/// A membership as the group's page lists it: with the member's roster name (preferred
/// first name and last initial), read through the group, so a former member who has left
/// a clinician's caseload still appears in the history of the group they led.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupMember {
    pub membership: Membership,
    pub roster_name: String,
}

/// Enroll a client in a group from a date.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMembership {
    pub client_id: ClientId,
    pub start_date: Date,
}

/// Change a membership's status; ending statuses need an end date.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipChange {
    pub version: i64,
    pub status: MembershipStatus,
    pub end_date: Option<Date>,
}

impl MembershipChange {
    pub fn check(&self, current: &Membership) -> Result<(), DomainError> {
        if current.status.is_ended() {
            return Err(DomainError::conflict(
                Rule::MembershipEnded,
                "this membership has ended; rejoining creates a new membership",
            ));
        }
        let mut errors = FieldErrors::default();
        match (self.status.is_ended(), self.end_date) {
            (true, None) => errors.push("end_date", "is required when a membership ends"),
            (false, Some(_)) => errors.push("end_date", "is only set when a membership ends"),
            (true, Some(end)) if end <= current.start_date => {
                errors.push("end_date", "must be after the start date")
            }
            _ => {}
        }
        errors.into_result()
    }
}

/// Everything the enrollment rules need, gathered by the store inside the transaction
/// that will write the membership.
pub struct EnrollmentFacts<'a> {
    pub group: &'a Group,
    pub start_date: Date,
    pub client_level: Option<LevelOfCare>,
    /// Members whose membership covers the start date (a scheduled end after it still
    /// holds the seat until then).
    pub active_members: u32,
    /// Seats held by open waitlist offers to other clients.
    pub held_by_offers: u32,
    pub already_member: bool,
    pub separated_from_a_member: bool,
    pub schedule_clash: bool,
    /// The program's `newcomers_per_session` setting.
    pub newcomer_limit: u32,
    /// Start dates of the group's other current memberships (for the newcomer limit).
    pub other_starts: &'a [Date],
}

/// The enrollment rules, in the order a coordinator can act on them.
pub fn check_enrollment(f: &EnrollmentFacts<'_>) -> Result<(), DomainError> {
    match enrollment_conflicts(f).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every enrollment rule the placement would break, in the order a coordinator can act on
/// them (placement suggestions show them all; enrollment refuses with the first).
pub fn enrollment_conflicts(f: &EnrollmentFacts<'_>) -> Vec<DomainError> {
    let mut out = Vec::new();
    if f.already_member {
        out.push(DomainError::conflict(
            Rule::AlreadyMember,
            "the client already has an active membership in this group",
        ));
    }
    match f.client_level {
        None => out.push(DomainError::conflict(
            Rule::NoCurrentLevelOfCare,
            "the client has no current level of care; open an episode first",
        )),
        Some(level) if !f.group.eligible_levels.contains(&level) => {
            out.push(DomainError::conflict(
                Rule::LevelOfCareNotEligible,
                format!("this group does not accept clients at the {level} level of care"),
            ))
        }
        Some(_) => {}
    }
    if let Err(e) = f.group.enrollment.check_join(f.start_date) {
        out.push(e);
    }
    let taken = f.active_members + f.held_by_offers;
    if taken >= f.group.max_size {
        out.push(DomainError::conflict(
            Rule::GroupFull,
            if f.held_by_offers > 0 {
                format!(
                    "the group is full: its maximum is {} and {} open waitlist offer(s) hold the remaining seats",
                    f.group.max_size, f.held_by_offers
                )
            } else {
                format!(
                    "the group is full: it has {} active members and its maximum is {}",
                    f.active_members, f.group.max_size
                )
            },
        ));
    }
    if f.separated_from_a_member {
        // Never say who: that would disclose another client's treatment.
        out.push(DomainError::conflict(
            Rule::Separation,
            "this group is not available for this client (a separation applies)",
        ));
    }
    if f.schedule_clash {
        out.push(DomainError::conflict(
            Rule::ScheduleOverlap,
            "the group meets at a time the client is already in another group",
        ));
    }
    if let Err(e) =
        crate::placement::check_newcomers(f.group, f.start_date, f.newcomer_limit, f.other_starts)
    {
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::care::GroupKind;
    use crate::group::Enrollment;
    use crate::ids::{ClinicianId, ProgramId};
    use crate::text::Label;
    use jiff::civil::date;

    fn group() -> Group {
        Group {
            id: GroupId(1),
            program_id: ProgramId(1),
            name: Label::parse("Evening process").unwrap(),
            kind: GroupKind::Process,
            modality: None,
            focus_concerns: vec![],
            eligible_levels: vec![LevelOfCare::Iop],
            enrollment: Enrollment::Open,
            min_size: 5,
            max_size: 12,
            size_override_reason: None,
            meetings: vec![],
            room_id: None,
            lead_facilitator_id: ClinicianId(1),
            co_facilitator_id: None,
            curriculum: vec![],
            version: 1,
        }
    }

    fn facts(g: &Group) -> EnrollmentFacts<'_> {
        EnrollmentFacts {
            group: g,
            start_date: date(2026, 5, 5),
            client_level: Some(LevelOfCare::Iop),
            active_members: 11,
            held_by_offers: 0,
            already_member: false,
            separated_from_a_member: false,
            schedule_clash: false,
            newcomer_limit: 2,
            other_starts: &[],
        }
    }

    #[test]
    fn the_twelfth_member_joins_and_the_thirteenth_is_refused() {
        let g = group();
        assert!(check_enrollment(&facts(&g)).is_ok());
        let full = EnrollmentFacts {
            active_members: 12,
            ..facts(&g)
        };
        assert_eq!(
            check_enrollment(&full).unwrap_err().rule(),
            Some(Rule::GroupFull)
        );
    }

    #[test]
    fn seats_held_by_open_offers_count_as_taken() {
        let g = group();
        let f = EnrollmentFacts {
            active_members: 10,
            held_by_offers: 2,
            ..facts(&g)
        };
        assert_eq!(
            check_enrollment(&f).unwrap_err().rule(),
            Some(Rule::GroupFull)
        );
    }

    #[test]
    fn a_lower_program_maximum_is_enforced_too() {
        let mut g = group();
        g.max_size = 8;
        let f = EnrollmentFacts {
            active_members: 8,
            ..facts(&g)
        };
        assert_eq!(
            check_enrollment(&f).unwrap_err().rule(),
            Some(Rule::GroupFull)
        );
    }

    #[test]
    fn the_wrong_level_of_care_is_refused() {
        let g = group();
        let f = EnrollmentFacts {
            client_level: Some(LevelOfCare::Php),
            ..facts(&g)
        };
        assert_eq!(
            check_enrollment(&f).unwrap_err().rule(),
            Some(Rule::LevelOfCareNotEligible)
        );
    }

    #[test]
    fn a_separation_refusal_names_no_one() {
        let g = group();
        let f = EnrollmentFacts {
            separated_from_a_member: true,
            ..facts(&g)
        };
        let err = check_enrollment(&f).unwrap_err();
        assert_eq!(err.rule(), Some(Rule::Separation));
        assert_eq!(
            err.to_string(),
            "this group is not available for this client (a separation applies)"
        );
    }

    #[test]
    fn an_on_hold_member_is_not_on_the_roster() {
        let m = Membership {
            id: MembershipId(1),
            group_id: GroupId(1),
            client_id: ClientId(1),
            start_date: date(2026, 5, 1),
            end_date: Some(date(2026, 6, 1)),
            status: MembershipStatus::Active,
            version: 1,
        };
        assert!(m.covers(date(2026, 5, 1)));
        assert!(!m.covers(date(2026, 6, 1)));
        assert!(!m.covers(date(2026, 4, 30)));
        let held = Membership {
            status: MembershipStatus::OnHold,
            ..m
        };
        assert!(!held.covers(date(2026, 5, 10)));
    }
}
