//! Sessions (one meeting of a group on a date) and attendance.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::ids::{ClientId, ClinicianId, GroupId, SessionId};
use crate::text::ShortText;
use crate::{DomainError, FieldErrors, Rule};

vocab!(
    /// Where a session stands.
    SessionStatus {
        Scheduled = "scheduled",
        Held = "held",
        Cancelled = "cancelled",
    }
);

vocab!(
    /// How a member attended. Late arrival and early leave reduce the minutes counted.
    AttendanceStatus {
        Present = "present",
        Late = "late",
        LeftEarly = "left_early",
        AbsentExcused = "absent_excused",
        AbsentUnexcused = "absent_unexcused",
    }
);

vocab!(
    /// How a member took part, described and never scored: a set, possibly empty, because
    /// silence is a valid way to be in a group ("encouraged but not forced to share").
    Participation {
        Shared = "shared",
        /// Listened / passed.
        ListenedPassed = "listened_passed",
        GaveFeedback = "gave_feedback",
        PractisedSkill = "practised_skill",
        SupportedPeer = "supported_peer",
        AskedQuestion = "asked_question",
        CompletedHomework = "completed_homework",
    }
);

impl AttendanceStatus {
    pub fn attended(self) -> bool {
        matches!(self, Self::Present | Self::Late | Self::LeftEarly)
    }
}

/// One meeting of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: SessionId,
    pub group_id: GroupId,
    /// The local date in the program's time zone.
    pub local_date: Date,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    pub status: SessionStatus,
    /// The session's topic: the one set for this session, else the group curriculum's.
    pub topic: Option<ShortText>,
    /// Whether `topic` was set for this session rather than taken from the curriculum.
    pub topic_overridden: bool,
    pub cancel_reason: Option<ShortText>,
    pub lead_facilitator_id: ClinicianId,
    /// Who facilitated (lead, co-lead or a licensed substitute), once recorded.
    pub facilitators_present: Vec<ClinicianId>,
    pub version: i64,
}

/// Set a session's topic or the facilitators present.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionDetails {
    pub version: i64,
    /// This session's topic; an empty string returns to the curriculum's topic.
    pub topic: Option<ShortText>,
    /// The facilitators present: the group's lead or co-facilitator, or a substitute
    /// clinician holding a license active on the session's date.
    pub facilitators_present: Option<Vec<ClinicianId>>,
}

impl SessionDetails {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if let Some(list) = &self.facilitators_present {
            if list.len() > 4 {
                errors.push("facilitators_present", "must list at most 4 clinicians");
            }
            for (i, c) in list.iter().enumerate() {
                if list[..i].contains(c) {
                    errors.push(format!("facilitators_present/{i}"), "is listed twice");
                }
            }
        }
        errors.into_result()
    }
}

/// Whom to tell that a session is cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NotifyMember {
    pub client_id: ClientId,
    /// Preferred first name and last initial.
    pub roster_name: String,
}

/// A cancelled session and the people to notify: the members on its roster and its
/// facilitators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CancelledSession {
    #[serde(flatten)]
    pub session: Session,
    pub notify_members: Vec<NotifyMember>,
    pub notify_facilitators: Vec<ClinicianId>,
}

impl Session {
    pub fn minutes(&self) -> u32 {
        let mins = self.ends_at.duration_since(self.starts_at).as_mins();
        u32::try_from(mins).unwrap_or(0)
    }
}

/// Cancel a session, saying why.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionCancellation {
    pub version: i64,
    pub reason: ShortText,
}

/// Materialise sessions from the weekly schedule over a horizon.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterializeRequest {
    pub from: Date,
    /// Weeks ahead from `from` (1–26).
    pub weeks: u32,
}

impl MaterializeRequest {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if !(1..=26).contains(&self.weeks) {
            errors.push("weeks", "must be 1–26");
        }
        errors.into_result()
    }
}

/// A member's attendance at one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attendance {
    pub session_id: SessionId,
    pub client_id: ClientId,
    pub status: AttendanceStatus,
    pub minutes: u32,
    /// How the member took part (descriptive; empty is valid).
    pub participation: Vec<Participation>,
    pub version: i64,
}

/// Record (or correct) one member's attendance. `minutes` defaults to the whole session
/// when present and to 0 when absent; late and left-early need the minutes attended.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceInput {
    pub status: AttendanceStatus,
    pub minutes: Option<u32>,
    /// How the member took part, if noted: a set (order and repeats do not matter).
    #[serde(default)]
    pub participation: Vec<Participation>,
}

impl AttendanceInput {
    /// The participation set, sorted and without repeats; none for an absence.
    pub fn participation_set(&self) -> Result<Vec<Participation>, DomainError> {
        if !self.status.attended() && !self.participation.is_empty() {
            return Err(DomainError::invalid(
                "participation",
                "must be empty when the member was absent",
            ));
        }
        let mut set = self.participation.clone();
        set.sort();
        set.dedup();
        Ok(set)
    }

    /// The minutes to record, or the field rule broken.
    pub fn minutes_for(&self, session: &Session) -> Result<u32, DomainError> {
        let full = session.minutes();
        let minutes = match (self.status, self.minutes) {
            (AttendanceStatus::Present, None) => full,
            (AttendanceStatus::Present, Some(m)) if m == full => m,
            (AttendanceStatus::Present, Some(_)) => {
                return Err(DomainError::invalid(
                    "minutes",
                    "must equal the session length when present; use late or left_early for part of a session",
                ));
            }
            (AttendanceStatus::Late | AttendanceStatus::LeftEarly, None) => {
                return Err(DomainError::invalid(
                    "minutes",
                    "is required for late arrival or early leave",
                ));
            }
            (AttendanceStatus::Late | AttendanceStatus::LeftEarly, Some(m)) => {
                if m == 0 || m >= full {
                    return Err(DomainError::invalid(
                        "minutes",
                        format!(
                            "must be between 1 and {} for part of a session",
                            full.saturating_sub(1)
                        ),
                    ));
                }
                m
            }
            (
                AttendanceStatus::AbsentExcused | AttendanceStatus::AbsentUnexcused,
                None | Some(0),
            ) => 0,
            (AttendanceStatus::AbsentExcused | AttendanceStatus::AbsentUnexcused, Some(_)) => {
                return Err(DomainError::invalid("minutes", "must be 0 when absent"));
            }
        };
        Ok(minutes)
    }
}

/// The session-state rules for recording attendance.
pub fn check_attendance_allowed(session: &Session, now: Timestamp) -> Result<(), DomainError> {
    if session.status == SessionStatus::Cancelled {
        return Err(DomainError::conflict(
            Rule::SessionCancelled,
            "the session was cancelled; attendance cannot be recorded",
        ));
    }
    if session.starts_at > now {
        return Err(DomainError::conflict(
            Rule::SessionNotStarted,
            "the session has not started yet",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn session() -> Session {
        let starts_at: Timestamp = "2026-05-05T22:00:00Z".parse().unwrap();
        Session {
            id: SessionId(1),
            group_id: GroupId(1),
            local_date: date(2026, 5, 5),
            starts_at,
            ends_at: "2026-05-05T23:30:00Z".parse().unwrap(),
            status: SessionStatus::Scheduled,
            topic: None,
            topic_overridden: false,
            cancel_reason: None,
            lead_facilitator_id: ClinicianId(1),
            facilitators_present: vec![],
            version: 1,
        }
    }

    fn input(status: AttendanceStatus, minutes: Option<u32>) -> AttendanceInput {
        AttendanceInput {
            status,
            minutes,
            participation: vec![],
        }
    }

    #[test]
    fn participation_is_a_set_and_only_for_those_who_attended() {
        let mut i = input(AttendanceStatus::Present, None);
        i.participation = vec![
            Participation::Shared,
            Participation::ListenedPassed,
            Participation::Shared,
        ];
        assert_eq!(
            i.participation_set(),
            Ok(vec![Participation::Shared, Participation::ListenedPassed])
        );
        i.participation.clear();
        assert_eq!(i.participation_set(), Ok(vec![]), "silence is valid");
        let mut absent = input(AttendanceStatus::AbsentExcused, None);
        absent.participation = vec![Participation::Shared];
        assert!(absent.participation_set().is_err());
    }

    #[test]
    fn minutes_follow_the_status() {
        let s = session();
        assert_eq!(
            input(AttendanceStatus::Present, None).minutes_for(&s),
            Ok(90)
        );
        assert_eq!(
            input(AttendanceStatus::Late, Some(70)).minutes_for(&s),
            Ok(70)
        );
        assert_eq!(
            input(AttendanceStatus::AbsentExcused, None).minutes_for(&s),
            Ok(0)
        );
        assert!(input(AttendanceStatus::Late, None).minutes_for(&s).is_err());
        assert!(
            input(AttendanceStatus::LeftEarly, Some(90))
                .minutes_for(&s)
                .is_err()
        );
        assert!(
            input(AttendanceStatus::AbsentUnexcused, Some(10))
                .minutes_for(&s)
                .is_err()
        );
        assert!(
            input(AttendanceStatus::Present, Some(45))
                .minutes_for(&s)
                .is_err()
        );
    }

    #[test]
    fn attendance_waits_for_the_session_and_not_for_a_cancelled_one() {
        let s = session();
        let before: Timestamp = "2026-05-05T21:00:00Z".parse().unwrap();
        let after: Timestamp = "2026-05-05T22:10:00Z".parse().unwrap();
        assert_eq!(
            check_attendance_allowed(&s, before).unwrap_err().rule(),
            Some(Rule::SessionNotStarted)
        );
        assert!(check_attendance_allowed(&s, after).is_ok());
        let cancelled = Session {
            status: SessionStatus::Cancelled,
            ..s
        };
        assert_eq!(
            check_attendance_allowed(&cancelled, after)
                .unwrap_err()
                .rule(),
            Some(Rule::SessionCancelled)
        );
    }
}

/// One line of a session's roster: derived from the memberships valid on the session's
/// date, so someone who joins next week appears in next week's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RosterEntry {
    pub client_id: ClientId,
    pub membership_id: crate::ids::MembershipId,
    /// Preferred first name and last initial, as a sign-in sheet prints it.
    pub display_name: String,
    pub attendance: Option<Attendance>,
}
