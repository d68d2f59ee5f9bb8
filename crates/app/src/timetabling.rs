//! Timetabling (issue 17, part 2): a director designs the week for a program or the whole
//! clinic. The clinic's facts become a `circle-timetable/1` instance, the solver runs on a
//! blocking thread with a short limit (2 s by default, at most 5 s: a request never hangs),
//! and the proposal is stored with the reasons for each choice and the hours each track
//! reaches. The director pins parts (a group's days and time, its room, its lead — the
//! proposal's or their own) and re-solves; pins are honoured by construction (they narrow
//! the group's candidates). Approval changes the groups in one transaction and re-makes
//! their future sessions, so moved groups' members see the new week in their portal and
//! calendar feed.
//!
//! Choices written down here because the solver cannot see them:
//! - The grid: Monday to Sunday, 07:00–21:30 local time, quarter hours; every program's
//!   local clock is used as is (time zones are not converted, as in the placement plan).
//! - A track is a program (its level of care at its site). Its window is the program's
//!   timetable setting, else the level's default — residential Mon–Sat 08:00–20:00,
//!   PHP Mon–Fri 08:30–16:00, IOP Mon–Fri 09:00–21:00, outpatient Mon–Sat 07:00–21:30 —
//!   widened to hold the program's current meetings. Weekly requirement: the program's
//!   `weekly_required_minutes`; IOP is capped at 19 h (ASAM 2.1); days a week: residential
//!   6, PHP 5, IOP 3 unless the program says. Outpatient groups have different members, so
//!   they get only a window.
//! - A group meets on as many distinct days as it has weekly meetings, each as long as its
//!   longest meeting; its size is its maximum (rooms must seat it, as the group rules say).
//!   It needs a co-facilitator when it has one now. A telehealth group stays telehealth
//!   unless a pin gives it a room; an in-person group stays in person.
//! - Leads hold a licence active today and the group's modality when it has one.
//!   Clinicians work at every site (the database does not say otherwise); their weekly
//!   group minutes and windows come from migration 0030's columns.
//! - Groups outside the run's scope keep their times: their clinicians and rooms are busy
//!   then, and their minutes count against the clinicians' weekly hours.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use circle_domain::DomainError;
use circle_domain::care::{GroupKind, LevelOfCare};
use circle_domain::group::Group;
use circle_domain::ids::{ClinicianId, GroupId, ProgramId, RoomId};
use circle_domain::program::Program;
use circle_domain::schedule::{AvailabilityWindow, Weekday, WeeklyMeeting};
use circle_domain::timetabling::{
    EntryReason, Pattern, PinnedSlot, TimetableApproval, TimetableEntry, TimetablePin,
    TimetableProposal, TimetableRun, TrackHours, Unscheduled, UnscheduledReason, Venue,
};
use circle_store::StoreError;
use circle_store::access::{Listing, purpose};
use circle_store::timetables::{ProgramWindow, TimetableFacts};
use circle_timetable::format::{
    self as tf, Current, Grid, INSTANCE_FORMAT, Level, Track, Weights, Window,
};
use circle_timetable::{Pin, Problem, SolveOptions};
use jiff::civil::{Date, Time};

use crate::{Actor, App, AppError, AppResult};

/// The time limits a caller may ask for, in milliseconds (a request waits for the solve).
pub const TIMETABLE_LIMIT_MS: std::ops::RangeInclusive<u32> = 500..=5_000;
/// The limit when none is asked for.
pub const DEFAULT_TIMETABLE_LIMIT_MS: u32 = 2_000;
/// How many recent runs a list shows.
pub const RECENT_TIMETABLES: u32 = 20;

const GRID: Grid = Grid {
    days: 7,
    open: 7 * 60,
    close: 21 * 60 + 30,
    step: 15,
};
/// 19 hours: the top of intensive outpatient (ASAM 2.1).
const IOP_MAX_MINUTES: i64 = 19 * 60;
/// Waiting time per day that costs nothing (a break between groups).
const IDLE_ALLOWANCE: i64 = 30;
const TELEHEALTH: &str = "tele";

/// FORMAT-timetable.md's default weights: an hour of a track's requirement outweighs any
/// one group's comfort; keeping a group's time and lead is worth a little.
const WEIGHTS: Weights = Weights {
    unmet_minute: 20,
    unscheduled_group: 600,
    preference: 10,
    empty_seat: 2,
    telehealth_meeting: 15,
    extra_day: 150,
    idle_minute: 3,
    keep_meeting: 40,
    keep_lead: 120,
};

fn gid(g: GroupId) -> String {
    format!("g{}", g.0)
}
fn pid(p: ProgramId) -> String {
    format!("p{}", p.0)
}
fn kid(k: ClinicianId) -> String {
    format!("k{}", k.0)
}
fn rid(r: RoomId) -> String {
    format!("r{}", r.0)
}
fn venue_id(v: Venue) -> String {
    v.room().map_or_else(|| TELEHEALTH.to_owned(), rid)
}
fn parse_id(s: &str, prefix: char) -> Option<i64> {
    s.strip_prefix(prefix)?.parse().ok()
}

fn minute(t: Time) -> i64 {
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}
fn time_of(m: i64) -> Time {
    Time::new(
        i8::try_from(m / 60).unwrap_or(0),
        i8::try_from(m % 60).unwrap_or(0),
        0,
        0,
    )
    .unwrap_or(Time::midnight())
}
fn day_index(d: Weekday) -> i64 {
    i64::from(d.index())
}
fn weekday(i: i64) -> Weekday {
    Weekday::ALL
        .get(usize::try_from(i).unwrap_or(0))
        .copied()
        .unwrap_or(Weekday::Monday)
}

/// Meetings sorted by day, so two patterns compare by content.
fn sorted(mut m: Vec<WeeklyMeeting>) -> Vec<WeeklyMeeting> {
    m.sort_by_key(|x| (x.weekday.index(), x.start));
    m
}

/// A group's pattern as it runs now.
fn pattern_of(g: &Group) -> Pattern {
    Pattern {
        meetings: sorted(g.meetings.clone()),
        venue: Venue::of(g.room_id),
        lead: g.lead_facilitator_id,
        co: g.co_facilitator_id,
    }
}

/// Distinct weekdays a group meets on, its longest meeting and its first start.
fn shape(g: &Group) -> Option<(Vec<i64>, i64, i64)> {
    let days: BTreeSet<i64> = g.meetings.iter().map(|m| day_index(m.weekday)).collect();
    let minutes = g.meetings.iter().map(|m| i64::from(m.minutes)).max()?;
    let start = sorted(g.meetings.clone())
        .first()
        .map(|m| minute(m.start))?;
    Some((days.into_iter().collect(), minutes, start))
}

/// Whether a group has one weekly pattern: one start, on distinct days.
fn regular(g: &Group) -> bool {
    let days: BTreeSet<Weekday> = g.meetings.iter().map(|m| m.weekday).collect();
    days.len() == g.meetings.len() && g.meetings.windows(2).all(|w| w[0].start == w[1].start)
}

/// The level's default window: days, from, to and days a week.
fn level_window(level: LevelOfCare) -> (Vec<i64>, i64, i64, Option<i64>) {
    match level {
        LevelOfCare::Residential => ((0..6).collect(), 8 * 60, 20 * 60, Some(6)),
        LevelOfCare::Php => ((0..5).collect(), 8 * 60 + 30, 16 * 60, Some(5)),
        LevelOfCare::Iop => ((0..5).collect(), 9 * 60, 21 * 60, Some(3)),
        LevelOfCare::Outpatient => ((0..6).collect(), GRID.open, GRID.close, None),
    }
}

/// A program's track: the setting where there is one, else the level's default widened
/// to hold the program's current meetings.
fn track_of(p: &Program, w: &ProgramWindow, groups: &[&Group]) -> Track {
    let (mut days, mut from, mut to, target) = level_window(p.level_of_care);
    let current: Vec<&WeeklyMeeting> = groups.iter().flat_map(|g| g.meetings.iter()).collect();
    match &w.days {
        Some(set) => days = set.iter().map(|d| day_index(*d)).collect(),
        None => days.extend(current.iter().map(|m| day_index(m.weekday))),
    }
    days.sort_unstable();
    days.dedup();
    match w.start {
        Some(s) => from = minute(s),
        None => from = current.iter().map(|m| minute(m.start)).fold(from, i64::min),
    }
    match w.end {
        Some(e) => to = minute(e),
        None => {
            to = current
                .iter()
                .map(|m| minute(m.start) + i64::from(m.minutes))
                .fold(to, i64::max);
        }
    }
    let from = from.clamp(GRID.open, GRID.close);
    let to = to.clamp(from, GRID.close);
    let cohort = p.level_of_care != LevelOfCare::Outpatient;
    let required = i64::from(p.weekly_required_minutes);
    Track {
        id: pid(p.id),
        site: p.site.as_str().to_owned(),
        level: match p.level_of_care {
            LevelOfCare::Residential => Level::Residential,
            LevelOfCare::Php => Level::Php,
            LevelOfCare::Iop => Level::Iop,
            LevelOfCare::Outpatient => Level::Outpatient,
        },
        cohort,
        days,
        from,
        to,
        required_minutes: if cohort { required } else { 0 },
        max_minutes: (cohort && p.level_of_care == LevelOfCare::Iop)
            .then_some(IOP_MAX_MINUTES.max(required)),
        days_target: if cohort {
            w.days_target.map(i64::from).or(target)
        } else {
            None
        },
        idle_allowance: cohort.then_some(IDLE_ALLOWANCE),
    }
}

/// Every day of the grid, open to close, or the windows given.
fn windows(list: &[AvailabilityWindow]) -> Vec<Window> {
    if list.is_empty() {
        return (0..GRID.days)
            .map(|day| Window {
                day,
                from: GRID.open,
                to: GRID.close,
            })
            .collect();
    }
    list.iter()
        .map(|w| Window {
            day: day_index(w.weekday),
            from: minute(w.start),
            to: minute(w.end),
        })
        .filter(|w| w.from < w.to)
        .collect()
}

/// `windows` less the busy `(day, from, to)` intervals.
fn subtract(windows: Vec<Window>, busy: &[(i64, i64, i64)]) -> Vec<Window> {
    let mut out = windows;
    for &(day, from, to) in busy {
        out = out
            .into_iter()
            .flat_map(|w| {
                if w.day != day || to <= w.from || w.to <= from {
                    return vec![w];
                }
                let mut parts = vec![];
                if w.from < from {
                    parts.push(Window { to: from, ..w });
                }
                if to < w.to {
                    parts.push(Window { from: to, ..w });
                }
                parts
            })
            .collect();
    }
    out
}

fn kind(k: GroupKind) -> tf::GroupKind {
    match k {
        GroupKind::Process => tf::GroupKind::Process,
        GroupKind::Psychoeducation => tf::GroupKind::Psychoeducation,
        GroupKind::Skills => tf::GroupKind::Skills,
        GroupKind::RelapsePrevention => tf::GroupKind::RelapsePrevention,
        GroupKind::Transition => tf::GroupKind::Transition,
    }
}

/// The solver's pin for a director's.
fn pin_of(p: &TimetablePin) -> Pin {
    Pin {
        slot: p.slot.as_ref().map(|s| {
            (
                s.days.iter().map(|d| day_index(*d)).collect(),
                minute(s.start),
            )
        }),
        room: p.venue.map(venue_id),
        lead: p.lead.map(kid),
    }
}

/// Designs the week for `scope` (`None`: the whole clinic) with `pins` kept. Pure; the
/// caller runs it on a blocking thread.
pub fn design(
    facts: &TimetableFacts,
    scope: Option<ProgramId>,
    pins: &[TimetablePin],
    today: Date,
    limit: Duration,
) -> Result<TimetableProposal, DomainError> {
    let in_scope = |p: ProgramId| scope.is_none_or(|s| s == p);
    let programs: Vec<&(Program, ProgramWindow)> = facts
        .programs
        .iter()
        .filter(|(p, _)| in_scope(p.id))
        .collect();
    let program_of: BTreeMap<ProgramId, &Program> =
        facts.programs.iter().map(|(p, _)| (p.id, p)).collect();
    let mut sites: Vec<String> = programs
        .iter()
        .map(|(p, _)| p.site.as_str().to_owned())
        .collect();
    sites.sort();
    sites.dedup();
    // A group that meets twice on one day, or at different times on different days, has
    // no one weekly pattern (the solver's model): it keeps its week, holding its people
    // and room like a group outside the scope.
    let (planned, fixed): (Vec<&Group>, Vec<&Group>) = facts
        .groups
        .iter()
        .partition(|g| in_scope(g.program_id) && regular(g));
    let mut unscheduled = Vec::new();
    for g in facts
        .groups
        .iter()
        .filter(|g| in_scope(g.program_id) && !regular(g))
    {
        unscheduled.push(Unscheduled {
            group_id: g.id,
            program_id: g.program_id,
            reason: UnscheduledReason::Irregular,
        });
    }
    let tracks: Vec<Track> = programs
        .iter()
        .map(|(p, w)| {
            let mine: Vec<&Group> = planned
                .iter()
                .copied()
                .filter(|g| g.program_id == p.id)
                .collect();
            track_of(p, w, &mine)
        })
        .collect();

    // What groups outside the scope hold at their current times.
    let mut clin_busy: BTreeMap<ClinicianId, Vec<(i64, i64, i64)>> = BTreeMap::new();
    let mut clin_minutes: BTreeMap<ClinicianId, i64> = BTreeMap::new();
    let mut room_busy: BTreeMap<RoomId, Vec<(i64, i64, i64)>> = BTreeMap::new();
    for g in &fixed {
        for m in &g.meetings {
            let slot = (
                day_index(m.weekday),
                minute(m.start),
                minute(m.start) + i64::from(m.minutes),
            );
            for k in std::iter::once(g.lead_facilitator_id).chain(g.co_facilitator_id) {
                clin_busy.entry(k).or_default().push(slot);
                *clin_minutes.entry(k).or_default() += i64::from(m.minutes);
            }
            if let Some(r) = g.room_id {
                room_busy.entry(r).or_default().push(slot);
            }
        }
    }

    let mut groups = Vec::new();
    for g in &planned {
        let Some((days, minutes, start)) = shape(g) else {
            unscheduled.push(Unscheduled {
                group_id: g.id,
                program_id: g.program_id,
                reason: UnscheduledReason::NoMeetings,
            });
            continue;
        };
        let site = program_of
            .get(&g.program_id)
            .map(|p| p.site.as_str().to_owned())
            .unwrap_or_default();
        groups.push(tf::Group {
            id: gid(g.id),
            track: pid(g.program_id),
            kind: kind(g.kind),
            modality: (g.kind == GroupKind::Skills)
                .then(|| g.modality.map(|m| m.as_str().to_owned()))
                .flatten(),
            lead_modality: g.modality.map(|m| m.as_str().to_owned()),
            meetings: i64::try_from(days.len()).unwrap_or(1),
            minutes,
            size: i64::from(g.max_size),
            trauma: g
                .focus_concerns
                .contains(&circle_domain::care::Concern::PtsdTrauma),
            co_required: g.co_facilitator_id.is_some(),
            sites: vec![site],
            telehealth: g.room_id.is_none(),
            current: Some(Current {
                days,
                start,
                room: Some(venue_id(Venue::of(g.room_id))),
                lead: Some(kid(g.lead_facilitator_id)),
                co: g.co_facilitator_id.map(kid),
            }),
        });
    }
    let mut rooms: Vec<tf::Room> = facts
        .rooms
        .iter()
        .filter(|r| sites.iter().any(|s| s == r.room.site.as_str()))
        .map(|r| tf::Room {
            id: rid(r.room.id),
            site: Some(r.room.site.as_str().to_owned()),
            capacity: Some(i64::from(r.room.capacity)),
            telehealth: false,
            available: subtract(
                windows(&r.availability),
                room_busy.get(&r.room.id).map_or(&[], Vec::as_slice),
            ),
        })
        .collect();
    rooms.push(tf::Room {
        id: TELEHEALTH.to_owned(),
        site: None,
        capacity: None,
        telehealth: true,
        available: windows(&[]),
    });
    let clinicians: Vec<tf::Clinician> = facts
        .clinicians
        .iter()
        .map(|c| {
            let id = c.clinician.id;
            tf::Clinician {
                id: kid(id),
                sites: sites.clone(),
                licensed: c.clinician.licensed_on(today),
                modalities: c
                    .clinician
                    .modalities
                    .iter()
                    .map(|m| m.as_str().to_owned())
                    .collect(),
                max_minutes: (i64::from(c.weekly_minutes)
                    - clin_minutes.get(&id).copied().unwrap_or(0))
                .max(0),
                available: subtract(
                    windows(&c.availability),
                    clin_busy.get(&id).map_or(&[], Vec::as_slice),
                ),
                prefers: vec![],
            }
        })
        .collect();
    let instance = tf::Instance {
        format: INSTANCE_FORMAT.to_owned(),
        name: scope.map_or_else(|| "clinic".to_owned(), pid),
        grid: GRID,
        travel_minutes: 30,
        weights: WEIGHTS,
        sites,
        tracks,
        groups,
        rooms,
        clinicians,
    };
    let tracks_in = instance.tracks.clone();
    let mut problem = Problem::new(instance).map_err(|e| {
        // Names a field of the clinic's own settings (ids and rule words only).
        DomainError::invalid("timetable", format!("the clinic's facts: {e}"))
    })?;
    let mut pinned: BTreeMap<GroupId, &TimetablePin> = BTreeMap::new();
    for p in pins {
        if !planned.iter().any(|g| g.id == p.group_id) {
            continue;
        }
        if let Err(e) = problem.pin(&gid(p.group_id), &pin_of(p)) {
            return Err(DomainError::invalid(e.part, e.rule));
        }
        pinned.insert(p.group_id, p);
    }
    // A telehealth group stays telehealth unless a pin says where it meets.
    for g in planned.iter().filter(|g| g.room_id.is_none()) {
        if pinned.get(&g.id).is_none_or(|p| p.venue.is_none()) {
            let _ = problem.pin(
                &gid(g.id),
                &Pin {
                    room: Some(TELEHEALTH.to_owned()),
                    ..Pin::default()
                },
            );
        }
    }
    let options = SolveOptions {
        time_limit: limit,
        ..SolveOptions::default()
    };
    let (solution, report) = circle_timetable::solve(&problem, &options);

    let track_window: BTreeMap<String, &Track> =
        tracks_in.iter().map(|t| (t.id.clone(), t)).collect();
    let capacity: BTreeMap<RoomId, u32> = facts
        .rooms
        .iter()
        .map(|r| (r.room.id, r.room.capacity))
        .collect();
    let mut entries = Vec::new();
    let mut placed = BTreeSet::new();
    for e in &solution.groups {
        let Some(g) =
            parse_id(&e.group, 'g').and_then(|id| planned.iter().find(|g| g.id.0 == id).copied())
        else {
            continue;
        };
        placed.insert(g.id);
        let Some((_, minutes, _)) = shape(g) else {
            continue;
        };
        let meetings = sorted(
            e.days
                .iter()
                .map(|&d| WeeklyMeeting {
                    weekday: weekday(d),
                    start: time_of(e.start),
                    minutes: u32::try_from(minutes).unwrap_or(60),
                })
                .collect(),
        );
        let venue = match parse_id(&e.room, 'r') {
            Some(r) => Venue::Room { room_id: RoomId(r) },
            None => Venue::Telehealth,
        };
        let pattern = Pattern {
            meetings,
            venue,
            lead: ClinicianId(parse_id(&e.lead, 'k').unwrap_or(0)),
            co: e
                .co
                .as_deref()
                .and_then(|c| parse_id(c, 'k'))
                .map(ClinicianId),
        };
        let was = pattern_of(g);
        let mut reasons = vec![];
        let pin = pinned.get(&g.id);
        if pin.is_some_and(|p| p.slot.is_some()) && was.meetings == pattern.meetings {
            reasons.push(EntryReason::PinnedSlot);
        }
        if pin.is_some_and(|p| p.venue.is_some()) {
            reasons.push(EntryReason::PinnedVenue);
        }
        if pin.is_some_and(|p| p.lead.is_some()) {
            reasons.push(EntryReason::PinnedLead);
        }
        let window = track_window.get(&pid(g.program_id));
        let outside = window.is_some_and(|t| {
            g.meetings.iter().any(|m| {
                let s = minute(m.start);
                !t.days.contains(&day_index(m.weekday))
                    || s < t.from
                    || s + i64::from(m.minutes) > t.to
            })
        });
        // A pinned slot is its own reason; "moved because..." would guess at the director's.
        let slot_pinned = pin.is_some_and(|p| p.slot.is_some());
        reasons.push(if slot_pinned && was.meetings != pattern.meetings {
            EntryReason::PinnedSlot
        } else if was.meetings.is_empty() {
            EntryReason::NewlyScheduled
        } else if was.meetings == pattern.meetings {
            EntryReason::KeptTime
        } else if outside {
            EntryReason::MovedOutOfWindow
        } else {
            EntryReason::MovedForTheWeek
        });
        reasons.push(if was.lead == pattern.lead {
            EntryReason::KeptLead
        } else {
            EntryReason::NewLead
        });
        if let Some(m) = g.modality {
            reasons.push(EntryReason::LeadModality { modality: m });
        }
        reasons.push(match venue {
            Venue::Room { room_id } => EntryReason::RoomSeats {
                capacity: capacity.get(&room_id).copied().unwrap_or(0),
                max_size: g.max_size,
            },
            Venue::Telehealth => EntryReason::Telehealth,
        });
        if pattern.co.is_some() {
            reasons.push(EntryReason::CoFacilitator);
        }
        entries.push(TimetableEntry {
            group_id: g.id,
            program_id: g.program_id,
            group_version: g.version,
            pattern,
            was,
            reasons,
        });
    }
    for g in &planned {
        if placed.contains(&g.id) || unscheduled.iter().any(|u| u.group_id == g.id) {
            continue;
        }
        let reason = match problem.candidates(&gid(g.id)) {
            Some((0, _, _)) => UnscheduledReason::NoLead,
            Some((_, 0, _)) => UnscheduledReason::NoRoom,
            Some((_, _, 0)) if g.co_facilitator_id.is_some() => UnscheduledReason::NoCoFacilitator,
            _ if pinned.contains_key(&g.id) => UnscheduledReason::Pin {
                part: "pin".to_owned(),
                rule: "cannot be kept with the rest of the week (a room, a clinician or a track mate is busy then)".to_owned(),
            },
            _ => UnscheduledReason::TradeOff,
        };
        unscheduled.push(Unscheduled {
            group_id: g.id,
            program_id: g.program_id,
            reason,
        });
    }
    let tracks = report
        .tracks
        .iter()
        .filter_map(|t| {
            Some(TrackHours {
                program_id: ProgramId(parse_id(&t.track, 'p')?),
                cohort: t.cohort,
                required_minutes: t.required_minutes,
                scheduled_minutes: t.scheduled_minutes,
                max_minutes: t.max_minutes,
                days_used: u32::try_from(t.days_used).unwrap_or(0),
                days_target: t.days_target.and_then(|d| u32::try_from(d).ok()),
                groups: u32::try_from(t.groups).unwrap_or(0),
                groups_scheduled: u32::try_from(t.groups_scheduled).unwrap_or(0),
            })
        })
        .collect();
    Ok(TimetableProposal {
        entries,
        unscheduled,
        tracks,
        score: report.score,
        bound: report.bound,
        timed_out: report.timed_out,
    })
}

fn internal(message: &str) -> AppError {
    AppError::Internal(StoreError::Config(message.to_owned()))
}

fn check_limit(ms: u32) -> AppResult<()> {
    if TIMETABLE_LIMIT_MS.contains(&ms) {
        Ok(())
    } else {
        Err(DomainError::invalid("time_limit_ms", "must be 500–5000").into())
    }
}

impl App {
    /// Solves on a blocking thread (the limit bounds the wait).
    async fn solve_timetable(
        &self,
        listing: &Listing<purpose::TimetableBuild>,
        scope: Option<ProgramId>,
        pins: Vec<TimetablePin>,
        time_limit_ms: u32,
    ) -> AppResult<TimetableProposal> {
        let facts = self.store.timetable_facts(listing).await?;
        let today = self.today();
        let limit = Duration::from_millis(u64::from(time_limit_ms));
        let proposal =
            tokio::task::spawn_blocking(move || design(&facts, scope, &pins, today, limit))
                .await
                .map_err(|_| internal("the timetable solver stopped unexpectedly"))??;
        Ok(proposal)
    }

    /// Builds a timetable proposal for a program or the whole clinic (directors; a
    /// director linked to programs designs one of theirs) and stores it.
    pub async fn build_timetable(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
        time_limit_ms: u32,
    ) -> AppResult<TimetableRun> {
        let listing = self.listing::<purpose::TimetableBuild>(actor).await?;
        check_limit(time_limit_ms)?;
        let access = self
            .access_program_opt::<purpose::TimetableBuild>(actor, program)
            .await?;
        if program.is_none() && listing.only_programs().is_some() {
            return Err(DomainError::invalid(
                "program_id",
                "must name one of your programs: a whole-clinic timetable is for clinic-wide directors",
            )
            .into());
        }
        let proposal = self
            .solve_timetable(&listing, program, vec![], time_limit_ms)
            .await?;
        let id = self
            .store
            .create_timetable_run(
                &listing,
                access.as_ref(),
                time_limit_ms,
                &[],
                &proposal,
                self.now(),
            )
            .await?;
        self.timetable(actor, id).await
    }

    /// Recent timetable runs the director reaches, newest first.
    pub async fn timetables(&self, actor: &Actor) -> AppResult<Vec<TimetableRun>> {
        let listing = self.listing::<purpose::TimetableRead>(actor).await?;
        Ok(self
            .store
            .timetable_runs(&listing, RECENT_TIMETABLES)
            .await?)
    }

    /// One run with its pins and proposal (404 for one out of the director's reach).
    pub async fn timetable(&self, actor: &Actor, id: i64) -> AppResult<TimetableRun> {
        let listing = self.listing::<purpose::TimetableRead>(actor).await?;
        Ok(self.store.timetable_run(&listing, id).await?)
    }

    /// Re-solves a run at `version` with `pins` (replacing its pins).
    async fn resolve_with(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
        pins: Vec<TimetablePin>,
    ) -> AppResult<TimetableRun> {
        let listing = self.listing::<purpose::TimetableBuild>(actor).await?;
        let run = self.store.timetable_run(&listing, id).await?;
        let proposal = self
            .solve_timetable(&listing, run.program_id, pins.clone(), run.time_limit_ms)
            .await?;
        self.store
            .resolve_timetable_run(&listing, id, version, &pins, &proposal, self.now())
            .await?;
        self.timetable(actor, id).await
    }

    /// Re-solves a run with its pins (the clinic's facts may have changed since).
    pub async fn resolve_timetable(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
    ) -> AppResult<TimetableRun> {
        let run = self.timetable(actor, id).await?;
        self.resolve_with(actor, id, version, run.pins).await
    }

    /// Pins parts of one group (replacing its earlier pin) and re-solves. A group not in
    /// the run is refused (422 naming `group_id`), and so is a pin the group can never
    /// keep (422 naming the part and its rule).
    pub async fn pin_timetable_group(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
        pin: TimetablePin,
    ) -> AppResult<TimetableRun> {
        let run = self.timetable(actor, id).await?;
        let known = run
            .proposal
            .entries
            .iter()
            .any(|e| e.group_id == pin.group_id)
            || run
                .proposal
                .unscheduled
                .iter()
                .any(|u| u.group_id == pin.group_id);
        if !known {
            return Err(
                DomainError::invalid("group_id", "is not a group of this timetable").into(),
            );
        }
        if pin.slot.is_none() && pin.venue.is_none() && pin.lead.is_none() {
            return Err(
                DomainError::invalid("pin", "must fix the time, the room or the lead").into(),
            );
        }
        let mut pins: Vec<TimetablePin> = run
            .pins
            .into_iter()
            .filter(|p| p.group_id != pin.group_id)
            .collect();
        pins.push(pin);
        self.resolve_with(actor, id, version, pins).await
    }

    /// Pins a group where the proposal has it (days and time, room, lead) and re-solves.
    pub async fn pin_timetable_as_proposed(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
        group: GroupId,
    ) -> AppResult<TimetableRun> {
        let run = self.timetable(actor, id).await?;
        let entry = run
            .proposal
            .entries
            .iter()
            .find(|e| e.group_id == group)
            .ok_or_else(|| DomainError::invalid("group_id", "is not scheduled in this proposal"))?;
        let start = entry
            .pattern
            .meetings
            .first()
            .map(|m| m.start)
            .ok_or_else(|| internal("a scheduled group without meetings"))?;
        let pin = TimetablePin {
            group_id: group,
            slot: Some(PinnedSlot {
                days: entry.pattern.meetings.iter().map(|m| m.weekday).collect(),
                start,
            }),
            venue: Some(entry.pattern.venue),
            lead: Some(entry.pattern.lead),
        };
        self.pin_timetable_group(actor, id, version, pin).await
    }

    /// Removes a group's pin and re-solves.
    pub async fn unpin_timetable_group(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
        group: GroupId,
    ) -> AppResult<TimetableRun> {
        let run = self.timetable(actor, id).await?;
        let pins = run
            .pins
            .into_iter()
            .filter(|p| p.group_id != group)
            .collect();
        self.resolve_with(actor, id, version, pins).await
    }

    /// Approves a run at `version` (all its changed groups, or those in `only`) in one
    /// transaction: groups get their new meetings, rooms and leads and their future
    /// sessions are made again `HORIZON_WEEKS` ahead. A second approval is refused (409).
    pub async fn approve_timetable(
        &self,
        actor: &Actor,
        id: i64,
        version: i64,
        only: Option<&[GroupId]>,
    ) -> AppResult<TimetableApproval> {
        let listing = self.listing::<purpose::TimetableApprove>(actor).await?;
        let today = self.today();
        let until =
            today.saturating_add(jiff::Span::new().days(i64::from(crate::HORIZON_WEEKS * 7)));
        Ok(self
            .store
            .approve_timetable_run(&listing, id, version, only, today, until, self.now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_is_cut_out_of_a_window_leaving_both_sides() {
        let day = vec![Window {
            day: 2,
            from: 480,
            to: 1200,
        }];
        let left = subtract(day, &[(2, 600, 690), (3, 0, 1440)]);
        assert_eq!(
            left,
            vec![
                Window {
                    day: 2,
                    from: 480,
                    to: 600
                },
                Window {
                    day: 2,
                    from: 690,
                    to: 1200
                }
            ]
        );
    }

    #[test]
    fn an_empty_window_list_means_every_day_the_clinic_is_open() {
        let all = windows(&[]);
        assert_eq!(all.len(), 7);
        assert!(
            all.iter()
                .all(|w| (w.from, w.to) == (GRID.open, GRID.close))
        );
    }
}
