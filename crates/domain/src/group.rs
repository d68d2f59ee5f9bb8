//! Standing therapy groups: kind, eligibility, enrollment model, size bounds, schedule,
//! room or telehealth, facilitators.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{Concern, GroupKind, LevelOfCare, Modality};
use crate::clinician::{Clinician, check_can_lead};
use crate::ids::{ClinicianId, GroupId, ProgramId, RoomId};
use crate::program::Program;
use crate::schedule::{WeeklyMeeting, validate_meetings};
use crate::text::{Label, ShortText};
use crate::{DomainError, FieldErrors, Rule};

/// The article's default group size: 5–12 members.
pub const DEFAULT_MIN_SIZE: u32 = 5;
pub const DEFAULT_MAX_SIZE: u32 = 12;
/// Even with a director's override a group stays a group.
pub const ABSOLUTE_MAX_SIZE: u32 = 30;

/// When newcomers may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Enrollment {
    /// Join any week.
    Open,
    /// Join at module boundaries of a curriculum, as DBT skills groups do: in the first
    /// week of each `module_weeks`-week module counted from `curriculum_start`.
    Rolling {
        curriculum_start: Date,
        module_weeks: u32,
    },
    /// A cohort that starts together on `cohort_start`; nobody joins after.
    Closed { cohort_start: Date },
}

impl Enrollment {
    pub fn model(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Rolling { .. } => "rolling",
            Self::Closed { .. } => "closed",
        }
    }

    /// Whether someone may join with a membership starting on `start`.
    pub fn check_join(&self, start: Date) -> Result<(), DomainError> {
        match *self {
            Self::Open => Ok(()),
            Self::Closed { cohort_start } => {
                if start > cohort_start {
                    Err(DomainError::conflict(
                        Rule::ClosedCohortStarted,
                        format!(
                            "this is a closed group whose cohort started on {cohort_start}; new members join the next cohort"
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            Self::Rolling {
                curriculum_start,
                module_weeks,
            } => {
                let days = (start - curriculum_start).get_days();
                let module_days = i64::from(module_weeks) * 7;
                let offset = i64::from(days).rem_euclid(module_days.max(1));
                if start >= curriculum_start && offset < 7 {
                    Ok(())
                } else {
                    let next = next_boundary(curriculum_start, module_weeks, start);
                    Err(DomainError::conflict(
                        Rule::BetweenModuleBoundaries,
                        match next {
                            Some(d) => format!(
                                "this rolling group admits newcomers in the first week of a module; the next module starts on {d}"
                            ),
                            None => {
                                "this rolling group admits newcomers in the first week of a module"
                                    .to_owned()
                            }
                        },
                    ))
                }
            }
        }
    }
}

impl Enrollment {
    /// The first date on or after `on` a newcomer may start, or `None` when nobody joins
    /// any more (a closed cohort that has started).
    pub fn next_join_date(&self, on: Date) -> Option<Date> {
        if self.check_join(on).is_ok() {
            return Some(on);
        }
        match *self {
            Self::Open => Some(on),
            Self::Closed { .. } => None,
            Self::Rolling {
                curriculum_start,
                module_weeks,
            } => next_boundary(curriculum_start, module_weeks, on),
        }
    }
}

fn next_boundary(curriculum_start: Date, module_weeks: u32, after: Date) -> Option<Date> {
    if after < curriculum_start {
        return Some(curriculum_start);
    }
    let module_days = i64::from(module_weeks.max(1)) * 7;
    let days = i64::from((after - curriculum_start).get_days());
    let k = days / module_days + 1;
    curriculum_start
        .checked_add(jiff::Span::new().days(k * module_days))
        .ok()
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub id: GroupId,
    pub program_id: ProgramId,
    pub name: Label,
    pub kind: GroupKind,
    pub modality: Option<Modality>,
    pub focus_concerns: Vec<Concern>,
    pub eligible_levels: Vec<LevelOfCare>,
    pub enrollment: Enrollment,
    pub min_size: u32,
    pub max_size: u32,
    /// Why a director allowed a maximum above the program's cap, when they did.
    pub size_override_reason: Option<ShortText>,
    pub meetings: Vec<WeeklyMeeting>,
    /// The room; none means the group meets by telehealth.
    pub room_id: Option<RoomId>,
    pub lead_facilitator_id: ClinicianId,
    pub co_facilitator_id: Option<ClinicianId>,
    /// Ordered session topics (may be empty). Open and closed groups cycle through it
    /// session by session; rolling groups take the topic of the current module.
    pub curriculum: Vec<Label>,
    pub version: i64,
}

impl Group {
    pub fn is_telehealth(&self) -> bool {
        self.room_id.is_none()
    }
}

/// A group to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub program_id: ProgramId,
    pub name: Label,
    pub kind: GroupKind,
    pub modality: Option<Modality>,
    #[serde(default)]
    pub focus_concerns: Vec<Concern>,
    pub eligible_levels: Vec<LevelOfCare>,
    pub enrollment: Enrollment,
    pub min_size: Option<u32>,
    pub max_size: Option<u32>,
    pub size_override_reason: Option<ShortText>,
    pub meetings: Vec<WeeklyMeeting>,
    pub room_id: Option<RoomId>,
    pub lead_facilitator_id: ClinicianId,
    pub co_facilitator_id: Option<ClinicianId>,
    /// Ordered session topics (optional).
    #[serde(default)]
    pub curriculum: Vec<Label>,
}

/// A change to a group's size bounds, schedule, room, facilitators or curriculum.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupPatch {
    pub version: i64,
    pub name: Option<Label>,
    pub min_size: Option<u32>,
    pub max_size: Option<u32>,
    pub size_override_reason: Option<ShortText>,
    pub meetings: Option<Vec<WeeklyMeeting>>,
    pub lead_facilitator_id: Option<ClinicianId>,
    pub co_facilitator_id: Option<ClinicianId>,
    /// Replaces the curriculum (an empty list removes it).
    pub curriculum: Option<Vec<Label>>,
}

/// The most topics a curriculum may list.
pub const MAX_CURRICULUM_TOPICS: usize = 100;

/// The topic of a session from a group's curriculum, if it has one. `ordinal` is the
/// number of the group's earlier sessions that were not cancelled (open and closed groups
/// cycle through the curriculum session by session); a rolling group takes the topic of
/// the module `local_date` falls in (modules of `module_weeks` weeks from
/// `curriculum_start`, the curriculum listing one topic per module, repeating).
pub fn curriculum_topic<'a>(
    curriculum: &'a [Label],
    enrollment: &Enrollment,
    local_date: Date,
    ordinal: u64,
) -> Option<&'a Label> {
    if curriculum.is_empty() {
        return None;
    }
    let len = curriculum.len() as u64;
    let index = match *enrollment {
        Enrollment::Rolling {
            curriculum_start,
            module_weeks,
        } => {
            if local_date < curriculum_start {
                return None;
            }
            let days = u64::try_from((local_date - curriculum_start).get_days()).ok()?;
            let module_days = u64::from(module_weeks.max(1)) * 7;
            (days / module_days) % len
        }
        Enrollment::Open | Enrollment::Closed { .. } => ordinal % len,
    };
    curriculum.get(usize::try_from(index).ok()?)
}

/// What the rules need to know about a group's surroundings.
pub struct GroupContext<'a> {
    pub program: &'a Program,
    pub room_capacity: Option<u32>,
    pub lead: &'a Clinician,
    pub co: Option<&'a Clinician>,
    /// The date the group (or this change) takes effect; the lead must be licensed on it.
    pub effective_on: Date,
    /// Active members now; a new maximum may not fall below it.
    pub active_members: u32,
}

/// Checks every rule about a group's definition. Field rules come back together as one
/// `Invalid`; state rules as the first `Conflict`.
pub fn check_group(group: &Group, ctx: &GroupContext<'_>) -> Result<(), DomainError> {
    let mut errors = FieldErrors::default();
    if group.eligible_levels.is_empty() {
        errors.push("eligible_levels", "must list at least one level of care");
    }
    if group.kind == GroupKind::Skills && group.modality.is_none() {
        errors.push(
            "modality",
            "is required for a skills group (for example cbt or dbt)",
        );
    }
    if group.min_size < 1 {
        errors.push("min_size", "must be at least 1");
    }
    if group.max_size < group.min_size {
        errors.push("max_size", "must be at least min_size");
    }
    if group.max_size > ABSOLUTE_MAX_SIZE {
        errors.push("max_size", format!("must be at most {ABSOLUTE_MAX_SIZE}"));
    }
    if let Enrollment::Rolling { module_weeks, .. } = group.enrollment
        && !(1..=52).contains(&module_weeks)
    {
        errors.push("enrollment/module_weeks", "must be 1–52 weeks");
    }
    if group.co_facilitator_id == Some(group.lead_facilitator_id) {
        errors.push("co_facilitator_id", "must differ from the lead facilitator");
    }
    validate_meetings("meetings", &group.meetings, &mut errors);
    if group.curriculum.len() > MAX_CURRICULUM_TOPICS {
        errors.push(
            "curriculum",
            format!("must list at most {MAX_CURRICULUM_TOPICS} topics"),
        );
    }
    errors.into_result()?;

    let cap = ctx.program.max_group_size;
    if group.max_size > cap && group.size_override_reason.is_none() {
        return Err(DomainError::conflict(
            Rule::SizeCapExceeded,
            format!(
                "max_size is above this program's cap of {cap}; a director's override with a reason is required"
            ),
        ));
    }
    if let Some(capacity) = ctx.room_capacity
        && group.max_size > capacity
    {
        return Err(DomainError::conflict(
            Rule::RoomCapacity,
            format!("max_size is above the room's capacity of {capacity}"),
        ));
    }
    if group.max_size < ctx.active_members {
        return Err(DomainError::conflict(
            Rule::GroupFull,
            "max_size cannot fall below the number of active members",
        ));
    }
    check_can_lead(ctx.lead, ctx.effective_on)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_closed_group_refuses_joiners_after_its_cohort_started() {
        let e = Enrollment::Closed {
            cohort_start: date(2026, 3, 2),
        };
        assert!(e.check_join(date(2026, 3, 2)).is_ok());
        assert!(e.check_join(date(2026, 2, 20)).is_ok());
        assert_eq!(
            e.check_join(date(2026, 3, 3)).unwrap_err().rule(),
            Some(Rule::ClosedCohortStarted)
        );
    }

    #[test]
    fn a_rolling_group_admits_only_in_a_modules_first_week() {
        let e = Enrollment::Rolling {
            curriculum_start: date(2026, 1, 5),
            module_weeks: 6,
        };
        assert!(e.check_join(date(2026, 1, 5)).is_ok());
        assert!(e.check_join(date(2026, 1, 11)).is_ok());
        assert!(e.check_join(date(2026, 2, 16)).is_ok()); // six weeks later
        let err = e.check_join(date(2026, 1, 12)).unwrap_err();
        assert_eq!(err.rule(), Some(Rule::BetweenModuleBoundaries));
        assert!(err.to_string().contains("2026-02-16"));
        assert!(e.check_join(date(2026, 1, 1)).is_err());
    }

    fn topics(names: &[&str]) -> Vec<Label> {
        names.iter().map(|n| Label::parse(n).unwrap()).collect()
    }

    #[test]
    fn a_rolling_curriculum_advances_by_module() {
        let c = topics(&["Mindfulness", "Distress tolerance", "Emotion regulation"]);
        let e = Enrollment::Rolling {
            curriculum_start: date(2026, 1, 5),
            module_weeks: 2,
        };
        let t = |d| curriculum_topic(&c, &e, d, 99).map(Label::as_str);
        assert_eq!(t(date(2026, 1, 4)), None, "before the curriculum starts");
        assert_eq!(t(date(2026, 1, 5)), Some("Mindfulness"));
        assert_eq!(t(date(2026, 1, 18)), Some("Mindfulness"));
        assert_eq!(t(date(2026, 1, 19)), Some("Distress tolerance"));
        assert_eq!(t(date(2026, 2, 2)), Some("Emotion regulation"));
        assert_eq!(t(date(2026, 2, 16)), Some("Mindfulness"), "and repeats");
    }

    #[test]
    fn open_groups_cycle_session_by_session() {
        let c = topics(&["A", "B"]);
        let t = |n| curriculum_topic(&c, &Enrollment::Open, date(2026, 1, 1), n);
        assert_eq!(t(0).map(Label::as_str), Some("A"));
        assert_eq!(t(1).map(Label::as_str), Some("B"));
        assert_eq!(t(2).map(Label::as_str), Some("A"));
        assert_eq!(
            curriculum_topic(&[], &Enrollment::Open, date(2026, 1, 1), 0),
            None
        );
    }

    #[test]
    fn the_next_join_date_follows_the_enrollment_model() {
        let rolling = Enrollment::Rolling {
            curriculum_start: date(2026, 1, 5),
            module_weeks: 6,
        };
        assert_eq!(
            rolling.next_join_date(date(2026, 1, 7)),
            Some(date(2026, 1, 7))
        );
        assert_eq!(
            rolling.next_join_date(date(2026, 1, 20)),
            Some(date(2026, 2, 16))
        );
        let closed = Enrollment::Closed {
            cohort_start: date(2026, 3, 2),
        };
        assert_eq!(
            closed.next_join_date(date(2026, 3, 1)),
            Some(date(2026, 3, 1))
        );
        assert_eq!(closed.next_join_date(date(2026, 3, 3)), None);
        assert_eq!(
            Enrollment::Open.next_join_date(date(2026, 3, 3)),
            Some(date(2026, 3, 3))
        );
    }

    #[test]
    fn enrollment_json_is_tagged_by_model() {
        let e: Enrollment =
            serde_json::from_str(r#"{"model":"closed","cohort_start":"2026-03-02"}"#).unwrap();
        assert_eq!(e.model(), "closed");
        assert!(serde_json::from_str::<Enrollment>(r#"{"model":"sometimes"}"#).is_err());
    }
}
