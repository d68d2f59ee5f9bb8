//! Placement proposals: what the optimizer suggests for a program (or the whole clinic), and
//! what became of applying chosen placements. Plain data; the app builds it from the
//! `circle-planner` report, and each placement is applied through the ordinary enrollment
//! rules, never around them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{ClientId, GroupId, MembershipId, ProgramId};

/// One (client, group) placement.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub client_id: ClientId,
    pub group_id: GroupId,
}

/// Why the plan drops a current membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The client has no open episode, so no level of care.
    NoCurrentLevelOfCare,
    /// The client's current level of care is not one the group accepts.
    LevelOfCareNotEligible,
    /// A meeting of the group falls outside the client's availability.
    OutsideAvailability,
    /// Still eligible, but the plan scores better without it (continuity was weighed).
    Replanned,
}

/// A current membership the plan would end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EndedPlacement {
    pub client_id: ClientId,
    pub group_id: GroupId,
    pub reason: EndReason,
}

/// Why a client got fewer minutes than required (the planner's explanation, with ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShortfallReason {
    /// No group is eligible (level, availability, enrollment leave nothing).
    NoEligibleGroup,
    /// All eligible groups that fit together add up to fewer minutes than required.
    NotEnoughEligibleTime { reachable_minutes: i64 },
    /// The weekly cap is below the requirement.
    WeeklyCapBelowRequired { max_minutes: i64 },
    /// The group is full.
    GroupFull { group_id: GroupId },
    /// Someone this client is kept apart from is in the group.
    Separation {
        group_id: GroupId,
        other_client_id: ClientId,
    },
    /// The group does not run in this plan: too few could be placed to reach its minimum.
    GroupBelowMinimum { group_id: GroupId, min_size: i64 },
    /// The group meets at the same time as one the client is placed in.
    Overlap {
        group_id: GroupId,
        with_group_id: GroupId,
    },
    /// Joining would take the client over their weekly cap.
    WeeklyCap { group_id: GroupId },
    /// Joining needed another change the optimizer found not worth it.
    TradeOff { group_id: GroupId },
}

/// A client left short of their weekly required minutes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnmetMinutes {
    pub client_id: ClientId,
    pub required_minutes: i64,
    pub unmet_minutes: i64,
    pub reasons: Vec<ShortfallReason>,
}

/// What the optimizer proposes. Not stored: apply the placements you accept with
/// `POST /api/v1/plan/apply`, where every rule is checked again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Proposal {
    /// The program planned, or none for the whole clinic.
    pub program_id: Option<ProgramId>,
    /// Placements that do not exist today.
    pub new_placements: Vec<Placement>,
    /// Current memberships the plan keeps.
    pub kept_placements: Vec<Placement>,
    /// Current memberships the plan drops.
    pub ended_placements: Vec<EndedPlacement>,
    /// Clients short of their weekly minutes under the plan.
    pub unmet: Vec<UnmetMinutes>,
    /// Objective: total fit − 2 × unmet minutes − 60 × continuity breaks.
    pub score: i64,
    /// An upper bound on the best possible score, when one was computed.
    pub bound: Option<i64>,
    /// The score is proven the best possible.
    pub proven_optimal: bool,
    /// The time limit cut the search short.
    pub timed_out: bool,
    pub clients_considered: usize,
    pub groups_considered: usize,
}

/// Whether a placement was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// The client is now a member.
    Applied,
    /// A rule refused it; `code` names the rule as the API's problem codes do.
    Refused,
}

/// One placement and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApplyResult {
    pub client_id: ClientId,
    pub group_id: GroupId,
    pub outcome: ApplyOutcome,
    /// The new membership, when applied.
    pub membership_id: Option<MembershipId>,
    /// The problem code of the refusal (`group_full`, `separation`, …, `invalid_input`,
    /// `not_found`).
    pub code: Option<String>,
    pub message: Option<String>,
}
