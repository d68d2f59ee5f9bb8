//! Placement proposals: what the optimizer suggests for a program (or the whole clinic), and
//! what became of applying chosen placements. Plain data; the app builds it from the
//! `circle-planner` report, and each placement is applied through the ordinary enrollment
//! rules, never around them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{ClientId, GroupId, MembershipId, ProgramId, UserId};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndedPlacement {
    pub client_id: ClientId,
    pub group_id: GroupId,
    pub reason: EndReason,
}

/// Why a client got fewer minutes than required (the planner's explanation, with ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnmetMinutes {
    pub client_id: ClientId,
    pub required_minutes: i64,
    pub unmet_minutes: i64,
    pub reasons: Vec<ShortfallReason>,
}

/// What the optimizer proposes: returned as is by `POST /api/v1/plan/proposals` (apply the
/// placements you accept with `POST /api/v1/plan/apply`), or stored with a planner run
/// (approve its items with `POST /api/v1/plan/runs/{id}/approve`). Every rule is checked
/// again when anything is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// A client the plan moves from one group to another: one of their ended placements paired
/// with one of their new placements. Approving it ends the old membership the day the new
/// one starts, in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub struct Move {
    pub client_id: ClientId,
    pub from_group_id: GroupId,
    pub to_group_id: GroupId,
}

impl Proposal {
    /// The moves in this proposal: per client, ended and new placements paired in group
    /// order.
    pub fn moves(&self) -> Vec<Move> {
        let mut moves = Vec::new();
        let mut clients: Vec<ClientId> = self.new_placements.iter().map(|p| p.client_id).collect();
        clients.sort_unstable();
        clients.dedup();
        for c in clients {
            let mut ended: Vec<GroupId> = self
                .ended_placements
                .iter()
                .filter(|e| e.client_id == c)
                .map(|e| e.group_id)
                .collect();
            ended.sort_unstable();
            let mut new: Vec<GroupId> = self
                .new_placements
                .iter()
                .filter(|p| p.client_id == c)
                .map(|p| p.group_id)
                .collect();
            new.sort_unstable();
            moves.extend(ended.into_iter().zip(new).map(|(from, to)| Move {
                client_id: c,
                from_group_id: from,
                to_group_id: to,
            }));
        }
        moves
    }

    /// New placements that are not the arriving half of a move.
    pub fn placements_only(&self) -> Vec<Placement> {
        let moves = self.moves();
        self.new_placements
            .iter()
            .filter(|p| {
                !moves
                    .iter()
                    .any(|m| m.client_id == p.client_id && m.to_group_id == p.group_id)
            })
            .copied()
            .collect()
    }

    /// Ended placements that are not the leaving half of a move.
    pub fn endings_only(&self) -> Vec<EndedPlacement> {
        let moves = self.moves();
        self.ended_placements
            .iter()
            .filter(|e| {
                !moves
                    .iter()
                    .any(|m| m.client_id == e.client_id && m.from_group_id == e.group_id)
            })
            .cloned()
            .collect()
    }
}

/// Where a planner run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Done,
    Failed,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    /// Still being worked on.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// What an approvable item of a proposal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// End a current membership the plan drops (and does not replace): `group_id` is the
    /// group left. Applied first, so the seats it frees count.
    End,
    /// Move a client: end their membership of `from_group_id`, enroll them in `group_id`.
    Move,
    /// A new membership of `group_id`.
    Place,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::End => "end",
            Self::Move => "move",
            Self::Place => "place",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "end" => Self::End,
            "move" => Self::Move,
            "place" => Self::Place,
            _ => return None,
        })
    }
}

/// What became of one approved item of a run, who approved it and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemDecision {
    pub kind: ItemKind,
    pub client_id: ClientId,
    pub group_id: GroupId,
    pub from_group_id: Option<GroupId>,
    pub outcome: ApplyOutcome,
    pub membership_id: Option<MembershipId>,
    /// The problem code of a refusal (`group_full`, `separation`, `already_applied`, …).
    pub code: Option<String>,
    pub message: Option<String>,
    pub decided_by: UserId,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub decided_at: Timestamp,
}

/// A persisted planner run: its state and progress, and once done its proposal (with the
/// moves paired out of it) and what has been approved so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlanRun {
    pub id: i64,
    /// The program planned; none for the whole clinic.
    pub program_id: Option<ProgramId>,
    pub time_limit_ms: u32,
    pub state: RunState,
    /// 0–100: elapsed time against the time limit while running, 100 when done.
    pub progress: u8,
    pub started_by: UserId,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// Why the run failed (`interrupted` when a restart cut it off).
    pub error: Option<String>,
    /// The proposal, once done. A move's halves also appear in its `new_placements` and
    /// `ended_placements`.
    pub proposal: Option<Proposal>,
    /// The moves paired out of the proposal.
    pub moves: Vec<Move>,
    /// Each item approved so far and its outcome (the latest decision per item).
    pub decisions: Vec<ItemDecision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(c: i64, g: i64) -> Placement {
        Placement {
            client_id: ClientId(c),
            group_id: GroupId(g),
        }
    }

    fn ended(c: i64, g: i64) -> EndedPlacement {
        EndedPlacement {
            client_id: ClientId(c),
            group_id: GroupId(g),
            reason: EndReason::Replanned,
        }
    }

    #[test]
    fn moves_pair_a_clients_endings_with_their_new_placements_and_leave_the_rest() {
        let p = Proposal {
            program_id: None,
            // Client 1 moves 10 → 20; client 2 gains 30 and 40 but left only 11; client 3
            // only joins; client 4 only leaves.
            new_placements: vec![place(1, 20), place(2, 30), place(2, 40), place(3, 50)],
            kept_placements: vec![],
            ended_placements: vec![ended(1, 10), ended(2, 11), ended(4, 12)],
            unmet: vec![],
            score: 0,
            bound: None,
            proven_optimal: false,
            timed_out: false,
            clients_considered: 4,
            groups_considered: 6,
        };
        let mv = |c: i64, f: i64, t: i64| Move {
            client_id: ClientId(c),
            from_group_id: GroupId(f),
            to_group_id: GroupId(t),
        };
        assert_eq!(p.moves(), vec![mv(1, 10, 20), mv(2, 11, 30)]);
        assert_eq!(p.placements_only(), vec![place(2, 40), place(3, 50)]);
        assert_eq!(p.endings_only(), vec![ended(4, 12)]);
    }
}
