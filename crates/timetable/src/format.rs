//! Serde types for the `circle-timetable/1` instance and the `circle-timetable-solution/1`
//! solution (see `shared/bench/FORMAT-timetable.md`).
//!
//! Numbers are read as `i64` on purpose: a negative minute count must reach
//! [`crate::validate`] and come back as a typed error naming the field, not as a JSON type
//! error.

use serde::{Deserialize, Serialize};

/// The format tag every instance carries.
pub const INSTANCE_FORMAT: &str = "circle-timetable/1";
/// The format tag every solution carries.
pub const SOLUTION_FORMAT: &str = "circle-timetable-solution/1";

/// A timetabling instance as written on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub format: String,
    pub name: String,
    pub grid: Grid,
    pub travel_minutes: i64,
    pub weights: Weights,
    pub sites: Vec<String>,
    pub tracks: Vec<Track>,
    pub groups: Vec<Group>,
    pub rooms: Vec<Room>,
    pub clinicians: Vec<Clinician>,
}

/// The week: `days` days, starts at `open + k × step`, every meeting over by `close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub days: i64,
    pub open: i64,
    pub close: i64,
    pub step: i64,
}

/// Objective weights; FORMAT-timetable.md says what each one rewards or charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub unmet_minute: i64,
    pub unscheduled_group: i64,
    pub preference: i64,
    pub empty_seat: i64,
    pub telehealth_meeting: i64,
    pub extra_day: i64,
    pub idle_minute: i64,
    pub keep_meeting: i64,
    pub keep_lead: i64,
}

/// Level of care of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Residential,
    Php,
    Iop,
    Outpatient,
}

/// A program's level of care at a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub id: String,
    pub site: String,
    pub level: Level,
    pub cohort: bool,
    pub days: Vec<i64>,
    pub from: i64,
    pub to: i64,
    pub required_minutes: i64,
    pub max_minutes: Option<i64>,
    pub days_target: Option<i64>,
    pub idle_allowance: Option<i64>,
}

/// What a group is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    Process,
    Psychoeducation,
    Skills,
    RelapsePrevention,
    Transition,
}

/// A standing group to be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub track: String,
    pub kind: GroupKind,
    pub modality: Option<String>,
    pub lead_modality: Option<String>,
    pub meetings: i64,
    pub minutes: i64,
    pub size: i64,
    pub trauma: bool,
    pub co_required: bool,
    pub sites: Vec<String>,
    pub telehealth: bool,
    pub current: Option<Current>,
}

/// How a group runs today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    pub days: Vec<i64>,
    pub start: i64,
    pub room: Option<String>,
    pub lead: Option<String>,
    #[serde(default)]
    pub co: Option<String>,
}

/// A `{day, from, to}` window: contains a meeting that starts at or after `from` and ends
/// by `to` on that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub day: i64,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: String,
    pub site: Option<String>,
    pub capacity: Option<i64>,
    pub telehealth: bool,
    pub available: Vec<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clinician {
    pub id: String,
    pub sites: Vec<String>,
    pub licensed: bool,
    #[serde(default)]
    pub modalities: Vec<String>,
    pub max_minutes: i64,
    pub available: Vec<Window>,
    #[serde(default)]
    pub prefers: Vec<Window>,
}

/// A timetable as written on disk; groups not listed are not offered this week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    pub format: String,
    pub instance: String,
    pub groups: Vec<Entry>,
}

/// One group's weekly pattern: the same start, room, lead and co-facilitator every day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub group: String,
    pub days: Vec<i64>,
    pub start: i64,
    pub room: String,
    pub lead: String,
    #[serde(default)]
    pub co: Option<String>,
}
