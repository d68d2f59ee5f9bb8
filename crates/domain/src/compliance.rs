//! Weekly hours compliance: per client and week, the group minutes scheduled and attended
//! against their level's requirement — flagged while the week can still be saved, not on
//! the remittance advice afterwards (DESIGN.md "Compliance").

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{LevelOfCare, vocab};
use crate::ids::{ClientId, ProgramId, SessionId};

vocab!(
    /// Where a client's week stands.
    ComplianceStatus {
        /// Attended minutes already meet the requirement.
        Met = "met",
        /// Not met yet, but the sessions left can still meet it.
        OnTrack = "on_track",
        /// Even attending every session left would fall short: act now.
        AtRisk = "at_risk",
        /// The week is over and the requirement was not met.
        Short = "short",
    }
);

impl ComplianceStatus {
    /// Sort key: the weeks that need someone's attention first.
    pub fn urgency(self) -> u8 {
        match self {
            Self::AtRisk => 0,
            Self::Short => 1,
            Self::OnTrack => 2,
            Self::Met => 3,
        }
    }
}

/// One session on a client's week, with what was recorded for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekSession {
    pub session_id: SessionId,
    pub starts_at: Timestamp,
    pub minutes: u32,
    pub cancelled: bool,
    /// Attended minutes recorded for the client; `None` while nothing is recorded.
    pub attended_minutes: Option<u32>,
}

/// One client's week, as the compliance report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClientWeek {
    pub client_id: ClientId,
    pub program_id: Option<ProgramId>,
    pub level_of_care: LevelOfCare,
    /// The Monday the week starts on.
    pub week_start: Date,
    pub required_minutes: u32,
    /// Minutes of the week's sessions that were not cancelled.
    pub scheduled_minutes: u32,
    pub attended_minutes: u32,
    /// Sessions still to come this week (not started, nothing recorded).
    pub sessions_left: u32,
    /// The most the client can still reach: attended plus the sessions left.
    pub reachable_minutes: u32,
    /// Past sessions with nothing recorded yet (they count as not attended until they are).
    pub unrecorded_sessions: u32,
    pub status: ComplianceStatus,
    /// For people: "6 h attended, 9 h required, 2 sessions left".
    pub summary: String,
}

/// The Monday of the week holding `day`.
pub fn week_start(day: Date) -> Date {
    let back = i64::from(day.weekday().to_monday_zero_offset());
    day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day)
}

/// Assesses one week. `week_over` says whether the week has ended for the client (no
/// session can still be attended).
pub fn assess(
    required_minutes: u32,
    sessions: &[WeekSession],
    now: Timestamp,
    week_over: bool,
) -> Assessment {
    let mut a = Assessment {
        required_minutes,
        scheduled_minutes: 0,
        attended_minutes: 0,
        sessions_left: 0,
        left_minutes: 0,
        unrecorded_sessions: 0,
        unrecorded_minutes: 0,
        status: ComplianceStatus::OnTrack,
    };
    for s in sessions.iter().filter(|s| !s.cancelled) {
        a.scheduled_minutes += s.minutes;
        match s.attended_minutes {
            Some(m) => a.attended_minutes += m,
            None if s.starts_at > now && !week_over => {
                a.sessions_left += 1;
                a.left_minutes += s.minutes;
            }
            None => {
                a.unrecorded_sessions += 1;
                a.unrecorded_minutes += s.minutes;
            }
        }
    }
    // A past session with nothing recorded may yet be recorded as attended: while the
    // week runs, the person is not at risk for it (the paperwork is; the summary says so).
    // Once the week is over it counts as missed (a shortfall).
    a.status = if a.attended_minutes >= required_minutes {
        ComplianceStatus::Met
    } else if week_over {
        ComplianceStatus::Short
    } else if a.attended_minutes + a.left_minutes + a.unrecorded_minutes < required_minutes {
        ComplianceStatus::AtRisk
    } else {
        ComplianceStatus::OnTrack
    };
    a
}

/// The figures of one assessed week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub required_minutes: u32,
    pub scheduled_minutes: u32,
    pub attended_minutes: u32,
    pub sessions_left: u32,
    pub left_minutes: u32,
    pub unrecorded_sessions: u32,
    /// Minutes of those unrecorded past sessions.
    pub unrecorded_minutes: u32,
    pub status: ComplianceStatus,
}

impl Assessment {
    /// "6 h attended, 9 h required, 2 sessions left"; a week with no group scheduled and
    /// sessions not recorded yet say so, rather than "0 sessions left".
    pub fn summary(&self) -> String {
        let plural = |n: u32, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let mut s = format!(
            "{} attended, {} required, ",
            hours(self.attended_minutes),
            hours(self.required_minutes)
        );
        if self.scheduled_minutes == 0 {
            s.push_str("no group sessions scheduled this week");
        } else {
            s.push_str(&plural(self.sessions_left, "session left", "sessions left"));
        }
        if self.unrecorded_sessions > 0 {
            s.push_str(", ");
            s.push_str(&plural(
                self.unrecorded_sessions,
                "session's attendance not recorded yet",
                "sessions' attendance not recorded yet",
            ));
        }
        s
    }
}

/// "6 h", "7 h 30 min", "45 min": the one way Circle writes an amount of time.
pub fn hours(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) if m > 0 => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> Timestamp {
        Timestamp::from_second(1_777_900_000 + h * 3600).unwrap()
    }

    fn s(id: i64, hour: i64, minutes: u32, attended: Option<u32>) -> WeekSession {
        WeekSession {
            session_id: SessionId(id),
            starts_at: at(hour),
            minutes,
            cancelled: false,
            attended_minutes: attended,
        }
    }

    #[test]
    fn an_iop_client_who_missed_a_day_is_at_risk_mid_week() {
        // Three 3-hour days required 9 h; Monday attended, Tuesday missed, one day left.
        let week = [
            s(1, 0, 180, Some(180)),
            s(2, 24, 180, Some(0)),
            s(3, 48, 180, None),
        ];
        let a = assess(540, &week, at(30), false);
        assert_eq!(a.status, ComplianceStatus::AtRisk);
        assert_eq!(a.summary(), "3 h attended, 9 h required, 1 session left");
    }

    #[test]
    fn an_unrecorded_past_session_is_paperwork_not_a_risk_until_the_week_is_over() {
        // Monday's 3 h session happened but nobody recorded it; two days left.
        let week = [s(1, 0, 180, None), s(2, 24, 180, None), s(3, 48, 180, None)];
        let a = assess(540, &week, at(2), false);
        assert_eq!(a.status, ComplianceStatus::OnTrack);
        assert_eq!(
            a.summary(),
            "0 h attended, 9 h required, 2 sessions left, \
             1 session's attendance not recorded yet"
        );
        assert_eq!(
            assess(540, &week, at(2), true).status,
            ComplianceStatus::Short
        );
    }

    #[test]
    fn a_week_without_sessions_says_so_instead_of_zero_sessions_left() {
        let a = assess(540, &[], at(0), false);
        assert_eq!(
            a.summary(),
            "0 h attended, 9 h required, no group sessions scheduled this week"
        );
        assert_eq!(hours(450), "7 h 30 min");
    }

    #[test]
    fn on_track_met_and_short() {
        let week = [s(1, 0, 180, Some(180)), s(2, 24, 180, None)];
        assert_eq!(
            assess(360, &week, at(2), false).status,
            ComplianceStatus::OnTrack
        );
        let done = [s(1, 0, 180, Some(180)), s(2, 24, 180, Some(180))];
        assert_eq!(
            assess(360, &done, at(30), false).status,
            ComplianceStatus::Met
        );
        assert_eq!(
            assess(360, &week, at(30), true).status,
            ComplianceStatus::Short
        );
    }

    #[test]
    fn cancelled_and_unrecorded_sessions_do_not_count() {
        let mut cancelled = s(2, 24, 180, None);
        cancelled.cancelled = true;
        let week = [s(1, 0, 180, None), cancelled, s(3, 48, 60, None)];
        let a = assess(240, &week, at(30), false);
        assert_eq!(
            (a.scheduled_minutes, a.unrecorded_sessions, a.sessions_left),
            (240, 1, 1)
        );
        // The unrecorded 3 h may yet be recorded as attended: not at risk while the week
        // runs, short once it is over with nothing recorded.
        assert_eq!(a.status, ComplianceStatus::OnTrack);
        assert_eq!(
            assess(240, &week, at(30), true).status,
            ComplianceStatus::Short
        );
        // Without the unrecorded session's minutes the rest cannot meet the hours.
        let week = [cancelled_only(), s(3, 48, 60, None)];
        assert_eq!(
            assess(240, &week, at(30), false).status,
            ComplianceStatus::AtRisk
        );
    }

    fn cancelled_only() -> WeekSession {
        let mut c = s(2, 24, 180, None);
        c.cancelled = true;
        c
    }

    #[test]
    fn hours_read_naturally() {
        assert_eq!(hours(360), "6 h");
        assert_eq!(hours(450), "7 h 30 min");
        assert_eq!(hours(45), "45 min");
        assert_eq!(hours(0), "0 h");
        assert_eq!(hours(100), "1 h 40 min");
    }

    #[test]
    fn weeks_start_on_monday() {
        let sunday: Date = "2026-05-10".parse().unwrap();
        assert_eq!(week_start(sunday), "2026-05-04".parse::<Date>().unwrap());
        assert_eq!(week_start(sunday).weekday(), jiff::civil::Weekday::Monday);
    }
}
