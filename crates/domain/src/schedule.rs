//! Weekly schedules in a program's time zone, and the sessions they produce.
//!
//! A group meets "Tuesdays 18:00 America/New_York": the rule is kept in local time and each
//! occurrence is resolved to an instant on its own date, so the group stays at 18:00 local
//! across daylight-saving changes.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::{DomainError, FieldErrors};

vocab!(
    /// Day of the week; weeks start on Monday.
    Weekday {
        Monday = "monday",
        Tuesday = "tuesday",
        Wednesday = "wednesday",
        Thursday = "thursday",
        Friday = "friday",
        Saturday = "saturday",
        Sunday = "sunday",
    }
);

impl Weekday {
    pub fn of(date: Date) -> Self {
        match date.weekday() {
            jiff::civil::Weekday::Monday => Self::Monday,
            jiff::civil::Weekday::Tuesday => Self::Tuesday,
            jiff::civil::Weekday::Wednesday => Self::Wednesday,
            jiff::civil::Weekday::Thursday => Self::Thursday,
            jiff::civil::Weekday::Friday => Self::Friday,
            jiff::civil::Weekday::Saturday => Self::Saturday,
            jiff::civil::Weekday::Sunday => Self::Sunday,
        }
    }

    /// Days after Monday (0–6).
    pub fn index(self) -> i8 {
        match self {
            Self::Monday => 0,
            Self::Tuesday => 1,
            Self::Wednesday => 2,
            Self::Thursday => 3,
            Self::Friday => 4,
            Self::Saturday => 5,
            Self::Sunday => 6,
        }
    }
}

/// One weekly meeting: a weekday, a local start time and a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyMeeting {
    pub weekday: Weekday,
    /// Local start time, `HH:MM`.
    #[schema(value_type = String, example = "18:00")]
    pub start: Time,
    /// Length in minutes: 15–480 (an IOP day block runs 3 hours).
    pub minutes: u32,
}

/// A weekly window in which a client can attend (people who work come mornings or evenings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityWindow {
    pub weekday: Weekday,
    #[schema(value_type = String, example = "17:00")]
    pub start: Time,
    #[schema(value_type = String, example = "21:00")]
    pub end: Time,
}

impl AvailabilityWindow {
    /// Whether a meeting falls entirely inside this window.
    pub fn covers(&self, m: &WeeklyMeeting) -> bool {
        let start = minutes_of_day(m.start);
        self.weekday == m.weekday
            && minutes_of_day(self.start) <= start
            && start + i64::from(m.minutes) <= minutes_of_day(self.end)
    }
}

fn minutes_of_day(t: Time) -> i64 {
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}

pub const MEETING_MINUTES: std::ops::RangeInclusive<u32> = 15..=480;

/// Field rules for a list of weekly meetings: lengths in range, no two overlapping.
pub fn validate_meetings(field: &str, meetings: &[WeeklyMeeting], errors: &mut FieldErrors) {
    if meetings.is_empty() {
        errors.push(field, "must list at least one weekly meeting");
    }
    for (i, m) in meetings.iter().enumerate() {
        if !MEETING_MINUTES.contains(&m.minutes) {
            errors.push(format!("{field}/{i}/minutes"), "must be 15–480 minutes");
        }
        if m.start.second() != 0 || m.start.subsec_nanosecond() != 0 {
            errors.push(
                format!("{field}/{i}/start"),
                "must be a whole minute (HH:MM)",
            );
        }
        let clash = meetings[..i].iter().any(|o| {
            o.weekday == m.weekday && {
                let (a0, b0) = (minutes_of_day(o.start), minutes_of_day(m.start));
                a0 < b0 + i64::from(m.minutes) && b0 < a0 + i64::from(o.minutes)
            }
        });
        if clash {
            errors.push(
                format!("{field}/{i}"),
                "overlaps an earlier meeting of the same group",
            );
        }
    }
}

pub fn validate_availability(windows: &[AvailabilityWindow], errors: &mut FieldErrors) {
    for (i, w) in windows.iter().enumerate() {
        if w.end <= w.start {
            errors.push(format!("availability/{i}/end"), "must be after start");
        }
    }
}

/// One resolved occurrence of a weekly meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    /// The local calendar date the group meets on.
    pub local_date: Date,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// Every occurrence of `meetings` on local dates in `[from, until)`, in time order.
///
/// A start time that falls in a spring-forward gap resolves to the later, valid instant and
/// one in a fall-back fold to the earlier ("compatible" disambiguation, as RFC 5545 does).
pub fn occurrences(
    meetings: &[WeeklyMeeting],
    tz: &TimeZone,
    from: Date,
    until: Date,
) -> Result<Vec<Occurrence>, DomainError> {
    let mut out = Vec::new();
    let mut day = from;
    while day < until {
        let weekday = Weekday::of(day);
        for m in meetings.iter().filter(|m| m.weekday == weekday) {
            let local = day.to_datetime(m.start);
            let starts_at = tz
                .to_ambiguous_zoned(local)
                .compatible()
                .map_err(|_| {
                    DomainError::invalid(
                        "meetings",
                        "a meeting time cannot be resolved in the program's time zone",
                    )
                })?
                .timestamp();
            let ends_at = starts_at
                .checked_add(SignedDuration::from_mins(i64::from(m.minutes)))
                .map_err(|_| {
                    DomainError::invalid(
                        "meetings",
                        "a meeting ends outside the supported calendar",
                    )
                })?;
            out.push(Occurrence {
                local_date: day,
                starts_at,
                ends_at,
            });
        }
        day = day
            .tomorrow()
            .map_err(|_| DomainError::invalid("until", "is outside the supported calendar"))?;
    }
    out.sort_by_key(|o| o.starts_at);
    Ok(out)
}

/// Whether two weekly schedules (each in its own time zone) put anyone in two places at
/// once, judged over the week that contains `around` (with a day's margin either side so a
/// meeting that crosses midnight in another zone is seen).
pub fn weekly_schedules_overlap(
    a: (&[WeeklyMeeting], &TimeZone),
    b: (&[WeeklyMeeting], &TimeZone),
    around: Date,
) -> Result<bool, DomainError> {
    let monday = around
        .checked_sub(jiff::Span::new().days(i64::from(Weekday::of(around).index()) + 1))
        .map_err(|_| DomainError::invalid("start_date", "is outside the supported calendar"))?;
    let until = monday
        .checked_add(jiff::Span::new().days(9))
        .map_err(|_| DomainError::invalid("start_date", "is outside the supported calendar"))?;
    let xs = occurrences(a.0, a.1, monday, until)?;
    let ys = occurrences(b.0, b.1, monday, until)?;
    Ok(xs.iter().any(|x| {
        ys.iter()
            .any(|y| x.starts_at < y.ends_at && y.starts_at < x.ends_at)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn tuesday_evening() -> Vec<WeeklyMeeting> {
        vec![WeeklyMeeting {
            weekday: Weekday::Tuesday,
            start: time(18, 0, 0, 0),
            minutes: 90,
        }]
    }

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn local_hour(ts: Timestamp) -> (i8, i8) {
        let z = ts.to_zoned(ny());
        (z.hour(), z.minute())
    }

    #[test]
    fn a_tuesday_1800_group_stays_at_1800_across_the_march_change() {
        // 2026-03-08 is the spring-forward Sunday in the US.
        let occ = occurrences(
            &tuesday_evening(),
            &ny(),
            date(2026, 3, 1),
            date(2026, 3, 15),
        )
        .unwrap();
        assert_eq!(occ.len(), 2);
        assert_eq!(occ[0].local_date, date(2026, 3, 3));
        assert_eq!(occ[1].local_date, date(2026, 3, 10));
        for o in &occ {
            assert_eq!(local_hour(o.starts_at), (18, 0));
        }
        // Same local time, but the UTC instant moved by an hour: EST is UTC−5, EDT UTC−4.
        assert_eq!(occ[0].starts_at.to_string(), "2026-03-03T23:00:00Z");
        assert_eq!(occ[1].starts_at.to_string(), "2026-03-10T22:00:00Z");
    }

    #[test]
    fn a_tuesday_1800_group_stays_at_1800_across_the_november_change() {
        // 2026-11-01 is the fall-back Sunday in the US.
        let occ = occurrences(
            &tuesday_evening(),
            &ny(),
            date(2026, 10, 26),
            date(2026, 11, 9),
        )
        .unwrap();
        assert_eq!(occ.len(), 2);
        assert_eq!(occ[0].starts_at.to_string(), "2026-10-27T22:00:00Z");
        assert_eq!(occ[1].starts_at.to_string(), "2026-11-03T23:00:00Z");
        for o in &occ {
            assert_eq!(local_hour(o.starts_at), (18, 0));
            assert_eq!(
                o.ends_at.duration_since(o.starts_at),
                SignedDuration::from_mins(90)
            );
        }
    }

    #[test]
    fn a_start_in_the_spring_gap_resolves_to_the_later_instant() {
        let m = vec![WeeklyMeeting {
            weekday: Weekday::Sunday,
            start: time(2, 30, 0, 0),
            minutes: 60,
        }];
        let occ = occurrences(&m, &ny(), date(2026, 3, 8), date(2026, 3, 9)).unwrap();
        assert_eq!(occ.len(), 1);
        assert_eq!(local_hour(occ[0].starts_at), (3, 30));
    }

    #[test]
    fn overlapping_weekly_schedules_are_detected() {
        let later = vec![WeeklyMeeting {
            weekday: Weekday::Tuesday,
            start: time(19, 0, 0, 0),
            minutes: 60,
        }];
        let after = vec![WeeklyMeeting {
            weekday: Weekday::Tuesday,
            start: time(19, 30, 0, 0),
            minutes: 60,
        }];
        let tz = ny();
        assert!(
            weekly_schedules_overlap((&tuesday_evening(), &tz), (&later, &tz), date(2026, 5, 5))
                .unwrap()
        );
        assert!(
            !weekly_schedules_overlap((&tuesday_evening(), &tz), (&after, &tz), date(2026, 5, 5))
                .unwrap()
        );
    }

    #[test]
    fn schedules_in_different_zones_are_compared_as_instants() {
        // 15:00 in Los Angeles is 18:00 in New York.
        let la_meeting = vec![WeeklyMeeting {
            weekday: Weekday::Tuesday,
            start: time(15, 0, 0, 0),
            minutes: 30,
        }];
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        assert!(
            weekly_schedules_overlap(
                (&tuesday_evening(), &ny()),
                (&la_meeting, &la),
                date(2026, 5, 5)
            )
            .unwrap()
        );
    }

    #[test]
    fn meetings_of_one_group_must_not_overlap() {
        let mut ms = tuesday_evening();
        ms.push(WeeklyMeeting {
            weekday: Weekday::Tuesday,
            start: time(19, 0, 0, 0),
            minutes: 30,
        });
        let mut errors = FieldErrors::default();
        validate_meetings("meetings", &ms, &mut errors);
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "meetings/1");
    }

    #[test]
    fn availability_covers_a_meeting_inside_it() {
        let w = AvailabilityWindow {
            weekday: Weekday::Tuesday,
            start: time(17, 0, 0, 0),
            end: time(21, 0, 0, 0),
        };
        assert!(w.covers(&tuesday_evening()[0]));
        let w2 = AvailabilityWindow {
            end: time(19, 0, 0, 0),
            ..w
        };
        assert!(!w2.covers(&tuesday_evening()[0]));
    }
}
