//! Serde types for the `circle-placement/1` instance and the `circle-placement-solution/1`
//! solution (see `shared/bench/FORMAT.md`).
//!
//! Numbers are read as `i64` on purpose: a negative size or minute count must reach
//! [`crate::validate`] and come back as a typed error naming the item, not as a JSON
//! type error.

use serde::{Deserialize, Serialize};

/// The format tag every instance carries.
pub const INSTANCE_FORMAT: &str = "circle-placement/1";
/// The format tag every solution carries.
pub const SOLUTION_FORMAT: &str = "circle-placement-solution/1";

/// A placement instance as written on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub format: String,
    pub name: String,
    pub weights: Weights,
    pub groups: Vec<Group>,
    pub clients: Vec<Client>,
    pub eligible: Vec<Eligible>,
    #[serde(default)]
    pub separations: Vec<[String; 2]>,
}

/// Objective weights (per unmet minute, per continuity break).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub unmet_minute: i64,
    pub continuity_break: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    pub min_size: i64,
    pub max_size: i64,
    pub meetings: Vec<Meeting>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// One weekly meeting: `day` 0 is Monday, `start` is minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    pub day: i64,
    pub start: i64,
    pub minutes: i64,
}

impl Meeting {
    /// The overlap rule of FORMAT.md (same day, half-open intervals intersect), written
    /// exactly as `check_solution.py` writes it so both agree on every input.
    pub fn overlaps(&self, other: &Meeting) -> bool {
        self.day == other.day
            && self.start < other.start + other.minutes
            && other.start < self.start + self.minutes
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    pub required_minutes: i64,
    pub max_minutes: i64,
    #[serde(default)]
    pub current: Vec<String>,
}

/// A (client, group) pair the clinic allows, with its fit (0–100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eligible {
    pub client: String,
    pub group: String,
    pub fit: i64,
}

/// A solution as written on disk. `shortfalls` and `stats` are Circle's additions; the
/// checker ignores fields it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    pub format: String,
    pub instance: String,
    pub assignments: Vec<Assignment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortfalls: Vec<Shortfall>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub client: String,
    pub group: String,
}

/// A client left short of their required minutes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortfall {
    pub client: String,
    pub unmet_minutes: i64,
    pub reasons: Vec<Reason>,
}

/// Why a client did not get more minutes. Client-level reasons come first; then one entry
/// per eligible group the client is not in, saying what kept them out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The clinic lists no eligible group for this client (level, availability or
    /// clinical exclusions leave nothing).
    NoEligibleGroup,
    /// Even every eligible group that fits together without overlapping meetings (and
    /// under the weekly cap) adds up to fewer minutes than required.
    NotEnoughEligibleTime { reachable_minutes: i64 },
    /// The weekly cap `max_minutes` is below the required minutes.
    WeeklyCapBelowRequired { max_minutes: i64 },
    /// The group already has `max_size` members.
    GroupFull { group: String },
    /// A client this one must be kept apart from is in the group.
    Separation { group: String, other: String },
    /// The group does not run: too few clients could be placed in it to reach
    /// `min_size`, or placing them would cost more elsewhere than it gains.
    GroupBelowMinimum { group: String, min_size: i64 },
    /// The group meets at the same time as a group the client is placed in.
    Overlap { group: String, with: String },
    /// Joining the group would take the client over `max_minutes`.
    WeeklyCap { group: String },
    /// Joining would have needed another client moved or a group reshaped, and the
    /// optimizer found no such change that improves the total score.
    TradeOff { group: String },
}
