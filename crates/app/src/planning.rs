//! Placement planning: builds a `circle-placement/1` instance from the clinic's current
//! facts, runs the optimizer on a blocking thread, and reports what it proposes — new,
//! kept and ended placements, unmet minutes with the planner's reasons, score and bound.
//! Applying goes through the ordinary enrollment, one placement at a time, so every rule is
//! checked again against the state at that moment; a placement that became invalid since
//! the proposal is refused with its rule while the others apply.
//!
//! Two ways in: `plan_proposal` answers at once and stores nothing (the caller sends back
//! the placements it accepts to `apply_proposal`); a planner run (`start_plan_run`) is
//! solved in the background, stored with its proposal, and approved item by item
//! (`approve_plan_run`: one transaction, each item re-checked in a savepoint, each
//! decision recorded with who made it).
//!
//! Choices written down here because the planner cannot see them:
//! - Required weekly minutes: the episode program's `weekly_required_minutes`, else the
//!   level's default (`LevelOfCare::default_weekly_minutes`).
//! - Maximum weekly minutes: required + 50 %, or what the client attends now if that is
//!   more (the cap alone never ends a current membership), and for IOP never above 19 h
//!   (ASAM 2.1: IOP is 9–19 h a week; 20 h or more is partial hospitalization), but never
//!   below required.
//! - Time in current groups outside the planned program counts: it is taken off both the
//!   required and the maximum minutes.
//! - Eligible pair: the group accepts the client's level of care, every meeting lies inside
//!   one of the client's availability windows (same local clock; time zones are not
//!   converted), and the group admits newcomers today (`Enrollment::check_join`) or the
//!   client is already a member.
//! - Fit (0–100): 50, + 15 per concern the group focuses on that the client has, + 10 for a
//!   current member (continuity), capped at 100.
//! - Weights: 2 per unmet minute, 60 per continuity break (the benchmark's weights).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use circle_domain::DomainError;
use circle_domain::care::LevelOfCare;
use circle_domain::group::Group;
use circle_domain::ids::{ClientId, GroupId, ProgramId};
use circle_domain::membership::NewMembership;
use circle_domain::planning::{
    ApplyOutcome, ApplyResult, EndReason, EndedPlacement, ItemDecision, ItemKind, Placement,
    PlanRun, Proposal, ShortfallReason, UnmetMinutes,
};
use circle_planner::format::{
    Client as PClient, Eligible, Group as PGroup, INSTANCE_FORMAT, Meeting, Weights,
};
use circle_planner::{Instance, Problem, Reason, SolveOptions};
use circle_store::StoreError;
use circle_store::access::{GroupAccess, Listing, PlaceAccess, ProgramAccess, purpose};
use circle_store::planner_runs::{CheckedItem, PlanItem, RunNames};
use circle_store::planning::{PlanningClient, PlanningFacts};
use jiff::civil::Date;

use crate::{Actor, App, AppError, AppResult};

/// The proofs one approved item needs: its client may be placed, its groups reached.
type ItemProofs = (
    PlaceAccess<purpose::PlanPlace>,
    GroupAccess<purpose::PlanPlace>,
    Option<GroupAccess<purpose::PlanPlace>>,
);

/// The time limits a caller may ask for, in milliseconds.
pub const TIME_LIMIT_MS: std::ops::RangeInclusive<u32> = 100..=10_000;
/// The most placements one apply request may carry.
pub const MAX_APPLY: usize = 500;
/// 19 hours: the top of intensive outpatient (ASAM 2.1).
const IOP_MAX_MINUTES: i64 = 19 * 60;

fn cid(c: ClientId) -> String {
    format!("c{}", c.0)
}
fn gid(g: GroupId) -> String {
    format!("g{}", g.0)
}
fn parse_id(s: &str, prefix: char) -> Option<i64> {
    s.strip_prefix(prefix)?.parse().ok()
}
fn to_client(s: &str) -> ClientId {
    ClientId(parse_id(s, 'c').unwrap_or(0))
}
fn to_group(s: &str) -> GroupId {
    GroupId(parse_id(s, 'g').unwrap_or(0))
}

fn weekly_minutes(g: &Group) -> i64 {
    g.meetings.iter().map(|m| i64::from(m.minutes)).sum()
}

/// Why a client may not be (newly) placed in a group, or `None` when the pair is eligible.
fn ineligible(c: &PlanningClient, g: &Group, today: Date, member: bool) -> Option<EndReason> {
    let Some(level) = c.level else {
        return Some(EndReason::NoCurrentLevelOfCare);
    };
    if !g.eligible_levels.contains(&level) {
        return Some(EndReason::LevelOfCareNotEligible);
    }
    if !g
        .meetings
        .iter()
        .all(|m| c.availability.iter().any(|w| w.covers(m)))
    {
        return Some(EndReason::OutsideAvailability);
    }
    if !member && g.enrollment.check_join(today).is_err() {
        // Only newcomers are held to the enrollment model; the reason is never shown for
        // a current member.
        return Some(EndReason::Replanned);
    }
    None
}

fn fit(c: &PlanningClient, g: &Group, member: bool) -> i64 {
    let shared = g
        .focus_concerns
        .iter()
        .filter(|x| c.concerns.contains(x))
        .count();
    let shared = i64::try_from(shared).unwrap_or(10);
    (50 + 15 * shared + if member { 10 } else { 0 }).min(100)
}

/// The instance for these facts, and each client's required minutes in it.
fn build_instance(facts: &PlanningFacts, today: Date, name: String) -> Instance {
    let current: BTreeSet<(ClientId, GroupId)> = facts.memberships.iter().copied().collect();
    let in_scope: BTreeMap<GroupId, &Group> = facts.groups.iter().map(|g| (g.id, g)).collect();
    let outside: BTreeMap<GroupId, &Group> =
        facts.outside_groups.iter().map(|g| (g.id, g)).collect();
    let groups = facts
        .groups
        .iter()
        .map(|g| PGroup {
            id: gid(g.id),
            program: Some(format!("p{}", g.program_id.0)),
            min_size: i64::from(g.min_size),
            max_size: i64::from(g.max_size),
            meetings: g
                .meetings
                .iter()
                .map(|m| Meeting {
                    day: i64::from(m.weekday.index()),
                    start: i64::from(m.start.hour()) * 60 + i64::from(m.start.minute()),
                    minutes: i64::from(m.minutes),
                })
                .collect(),
            members: facts
                .memberships
                .iter()
                .filter(|(_, x)| *x == g.id)
                .map(|(c, _)| cid(*c))
                .collect(),
        })
        .collect();
    let mut clients = Vec::new();
    let mut eligible = Vec::new();
    for c in &facts.clients {
        let (required, max) = match c.level {
            None => (0, 0),
            Some(level) => {
                let required = i64::from(
                    c.program_required_minutes
                        .filter(|_| c.episode_program.is_some())
                        .unwrap_or_else(|| level.default_weekly_minutes()),
                );
                let mut max = required + required / 2;
                if level == LevelOfCare::Iop {
                    max = max.min(IOP_MAX_MINUTES);
                }
                (required, max.max(required))
            }
        };
        let elsewhere: i64 = facts
            .memberships
            .iter()
            .filter(|(x, _)| *x == c.id)
            .filter_map(|(_, g)| outside.get(g))
            .map(|g| weekly_minutes(g))
            .sum();
        // The cap never forces a current membership out: someone already attending more
        // than required + 50 % (two outpatient groups, say) keeps that much room, counting
        // groups that still accept their level, within the level's own ceiling (IOP stays
        // under 20 h).
        let attending: i64 = elsewhere
            + facts
                .memberships
                .iter()
                .filter(|(x, _)| *x == c.id)
                .filter_map(|(_, g)| in_scope.get(g))
                .filter(|g| c.level.is_some_and(|l| g.eligible_levels.contains(&l)))
                .map(|g| weekly_minutes(g))
                .sum::<i64>();
        let max = match c.level {
            Some(LevelOfCare::Iop) => max.max(attending.min(IOP_MAX_MINUTES)),
            Some(_) => max.max(attending),
            None => max,
        };
        clients.push(PClient {
            id: cid(c.id),
            level: c.level.map(|l| l.as_str().to_owned()),
            required_minutes: (required - elsewhere).max(0),
            max_minutes: (max - elsewhere).max(0),
            current: facts
                .memberships
                .iter()
                .filter(|(x, g)| *x == c.id && in_scope.contains_key(g))
                .map(|(_, g)| gid(*g))
                .collect(),
        });
        for g in &facts.groups {
            let member = current.contains(&(c.id, g.id));
            if ineligible(c, g, today, member).is_none() {
                eligible.push(Eligible {
                    client: cid(c.id),
                    group: gid(g.id),
                    fit: fit(c, g, member),
                });
            }
        }
    }
    Instance {
        format: INSTANCE_FORMAT.to_owned(),
        name,
        weights: Weights {
            unmet_minute: 2,
            continuity_break: 60,
        },
        groups,
        clients,
        eligible,
        separations: facts
            .separations
            .iter()
            .map(|(a, b)| [cid(*a), cid(*b)])
            .collect(),
    }
}

fn reason_of(r: &Reason) -> ShortfallReason {
    match r {
        Reason::NoEligibleGroup => ShortfallReason::NoEligibleGroup,
        Reason::NotEnoughEligibleTime { reachable_minutes } => {
            ShortfallReason::NotEnoughEligibleTime {
                reachable_minutes: *reachable_minutes,
            }
        }
        Reason::WeeklyCapBelowRequired { max_minutes } => ShortfallReason::WeeklyCapBelowRequired {
            max_minutes: *max_minutes,
        },
        Reason::GroupFull { group } => ShortfallReason::GroupFull {
            group_id: to_group(group),
        },
        Reason::Separation { group, other } => ShortfallReason::Separation {
            group_id: to_group(group),
            other_client_id: to_client(other),
        },
        Reason::GroupBelowMinimum { group, min_size } => ShortfallReason::GroupBelowMinimum {
            group_id: to_group(group),
            min_size: *min_size,
        },
        Reason::Overlap { group, with } => ShortfallReason::Overlap {
            group_id: to_group(group),
            with_group_id: to_group(with),
        },
        Reason::WeeklyCap { group } => ShortfallReason::WeeklyCap {
            group_id: to_group(group),
        },
        Reason::TradeOff { group } => ShortfallReason::TradeOff {
            group_id: to_group(group),
        },
    }
}

fn internal(message: String) -> AppError {
    AppError::Internal(StoreError::Config(message))
}

impl App {
    /// Proposes placements for one program or the whole clinic (directors). The read of
    /// every client involved is audited; nothing is written besides that.
    pub async fn plan_proposal(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
        time_limit_ms: u32,
    ) -> AppResult<Proposal> {
        let listing = self.listing::<purpose::PlanRun>(actor).await?;
        if !TIME_LIMIT_MS.contains(&time_limit_ms) {
            return Err(DomainError::invalid("time_limit_ms", "must be 100–10000").into());
        }
        let program_access = self
            .access_program_opt::<purpose::PlanRun>(actor, program)
            .await?;
        Self::check_plan_scope(&listing, program)?;
        self.propose(&listing, program_access.as_ref(), time_limit_ms)
            .await
    }

    /// The proposal for a checked listing and program (the run's background half shares it).
    async fn propose(
        &self,
        listing: &Listing<purpose::PlanRun>,
        program_access: Option<&ProgramAccess<purpose::PlanRun>>,
        time_limit_ms: u32,
    ) -> AppResult<Proposal> {
        let program = program_access.map(|p| p.program());
        let today = self.today();
        let facts = self
            .store
            .planning_facts(listing, program_access, self.now())
            .await?;
        let name = program.map_or_else(|| "clinic".to_owned(), |p| format!("program-{p}"));
        let instance = build_instance(&facts, today, name);
        let required: BTreeMap<String, i64> = instance
            .clients
            .iter()
            .map(|c| (c.id.clone(), c.required_minutes))
            .collect();
        let problem = Problem::new(instance)
            .map_err(|e| internal(format!("the placement instance is invalid: {e}")))?;
        let options = SolveOptions {
            time_limit: Duration::from_millis(u64::from(time_limit_ms)),
            ..SolveOptions::default()
        };
        let report = tokio::task::spawn_blocking(move || circle_planner::solve(&problem, &options))
            .await
            .map_err(|_| internal("the planner stopped unexpectedly".to_owned()))?;

        let assigned: BTreeSet<(ClientId, GroupId)> = report
            .solution
            .assignments
            .iter()
            .map(|a| (to_client(&a.client), to_group(&a.group)))
            .collect();
        let current: BTreeSet<(ClientId, GroupId)> = facts
            .memberships
            .iter()
            .copied()
            .filter(|(_, g)| facts.groups.iter().any(|x| x.id == *g))
            .collect();
        let placement = |(client_id, group_id): &(ClientId, GroupId)| Placement {
            client_id: *client_id,
            group_id: *group_id,
        };
        let ended = current
            .difference(&assigned)
            .map(|(c, g)| {
                let client = facts.clients.iter().find(|x| x.id == *c);
                let group = facts.groups.iter().find(|x| x.id == *g);
                let reason = match (client, group) {
                    (Some(client), Some(group)) => {
                        ineligible(client, group, today, true).unwrap_or(EndReason::Replanned)
                    }
                    _ => EndReason::Replanned,
                };
                EndedPlacement {
                    client_id: *c,
                    group_id: *g,
                    reason,
                }
            })
            .collect();
        Ok(Proposal {
            program_id: program,
            new_placements: assigned.difference(&current).map(placement).collect(),
            kept_placements: assigned.intersection(&current).map(placement).collect(),
            ended_placements: ended,
            unmet: report
                .solution
                .shortfalls
                .iter()
                .map(|s| UnmetMinutes {
                    client_id: to_client(&s.client),
                    required_minutes: required.get(&s.client).copied().unwrap_or(0),
                    unmet_minutes: s.unmet_minutes,
                    reasons: s.reasons.iter().map(reason_of).collect(),
                })
                .collect(),
            score: report.evaluation.score,
            bound: report.bound,
            proven_optimal: report.proven_optimal,
            timed_out: report.timed_out,
            clients_considered: facts.clients.len(),
            groups_considered: facts.groups.len(),
        })
    }

    /// Applies chosen placements one by one through the ordinary enrollment (directors):
    /// each is checked against every rule in its own transaction and either applied or
    /// refused with its rule. Memberships start on `start_date` (today or later).
    pub async fn apply_proposal(
        &self,
        actor: &Actor,
        placements: &[Placement],
        start_date: Date,
    ) -> AppResult<Vec<ApplyResult>> {
        if !actor.may::<purpose::Enroll>() || !actor.may::<purpose::PlanPlace>() {
            let clients: Vec<ClientId> = placements.iter().map(|p| p.client_id).collect();
            self.store
                .record_refusal::<purpose::Enroll>(actor, &clients, None, self.now())
                .await?;
            return Err(DomainError::Forbidden.into());
        }
        if start_date < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        if placements.len() > MAX_APPLY {
            return Err(DomainError::invalid(
                "placements",
                format!("must list at most {MAX_APPLY} placements"),
            )
            .into());
        }
        // A scoped director places only in their programs' groups; one group outside them
        // refuses the whole request before anything applies.
        let mut checked = Vec::with_capacity(placements.len());
        for p in placements {
            let g = self
                .access_group::<purpose::Enroll>(actor, p.group_id)
                .await?;
            let c = self
                .access_place::<purpose::Enroll>(actor, p.client_id)
                .await?;
            checked.push((g, c));
        }
        let mut results = Vec::with_capacity(placements.len());
        for (p, (g, c)) in placements.iter().zip(&checked) {
            let new = NewMembership {
                client_id: p.client_id,
                start_date,
            };
            let outcome = self.store.enroll(g, c, &new, self.now()).await;
            results.push(match outcome {
                Ok(m) => ApplyResult {
                    client_id: p.client_id,
                    group_id: p.group_id,
                    outcome: ApplyOutcome::Applied,
                    membership_id: Some(m.id),
                    code: None,
                    message: None,
                },
                Err(StoreError::Domain(e)) => ApplyResult {
                    client_id: p.client_id,
                    group_id: p.group_id,
                    outcome: ApplyOutcome::Refused,
                    membership_id: None,
                    code: Some(code_of(&e)),
                    message: Some(e.to_string()),
                },
                Err(other) => return Err(AppError::Internal(other)),
            });
        }
        Ok(results)
    }
}

impl App {
    /// A scoped director plans only one of their programs: a whole-clinic plan is for
    /// clinic-wide directors (422 naming `program_id`); another program was refused (404)
    /// by the program's gate.
    fn check_plan_scope(
        listing: &Listing<purpose::PlanRun>,
        program: Option<ProgramId>,
    ) -> AppResult<()> {
        if program.is_none() && listing.only_programs().is_some() {
            return Err(DomainError::invalid(
                "program_id",
                "must name one of your programs: a whole-clinic plan is for clinic-wide directors",
            )
            .into());
        }
        Ok(())
    }
}

/// The problem code a refusal would carry on its own request.
fn code_of(e: &DomainError) -> String {
    circle_store::planner_runs::problem_code(e)
}

/// A run whose heartbeat is older than this has lost its worker (a restart, a crash).
const RUN_STALE_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
/// How many recent runs a list shows.
pub const RECENT_RUNS: u32 = 20;
/// How often a running run's progress and heartbeat are written.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

impl App {
    /// Fails as `interrupted` the live runs whose heartbeat stopped more than a minute ago
    /// (their worker is gone: a restart, a crash); returns how many. Called at start-up and
    /// before runs are read. Live runs with a fresh heartbeat are left alone even at
    /// start-up: another server on the same database may be working on them.
    pub async fn fail_interrupted_plan_runs(&self) -> AppResult<u64> {
        let now = self.now();
        let before = now
            .checked_sub(RUN_STALE_AFTER)
            .map_err(|_| internal("the clock is out of range".to_owned()))?;
        Ok(self.store.fail_interrupted_plan_runs(before, now).await?)
    }

    /// Starts a planner run in the background (directors): recorded as queued, then solved
    /// on a blocking thread with its progress (elapsed time against the limit) written as
    /// it goes; the proposal is stored when it is done.
    pub async fn start_plan_run(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
        time_limit_ms: u32,
    ) -> AppResult<PlanRun> {
        let listing = self.listing::<purpose::PlanRun>(actor).await?;
        if !TIME_LIMIT_MS.contains(&time_limit_ms) {
            return Err(DomainError::invalid("time_limit_ms", "must be 100–10000").into());
        }
        let program_access = self
            .access_program_opt::<purpose::PlanRun>(actor, program)
            .await?;
        Self::check_plan_scope(&listing, program)?;
        let id = self
            .store
            .create_plan_run(&listing, program_access.as_ref(), time_limit_ms, self.now())
            .await?;
        let app = self.clone();
        tokio::spawn(async move {
            app.work_plan_run(listing, program_access, id, time_limit_ms)
                .await
        });
        let reader = self.listing::<purpose::PlanRead>(actor).await?;
        let (run, _) = self.store.plan_run(&reader, id, self.now()).await?;
        Ok(run)
    }

    /// The background half of a run: solve while a ticker writes progress.
    async fn work_plan_run(
        &self,
        listing: Listing<purpose::PlanRun>,
        program: Option<ProgramAccess<purpose::PlanRun>>,
        id: i64,
        time_limit_ms: u32,
    ) {
        let started = std::time::Instant::now();
        let limit = Duration::from_millis(u64::from(time_limit_ms));
        if let Err(e) = self.store.plan_run_progress(id, 0, self.now()).await {
            tracing::error!(run = id, error = %e, "planner run could not start");
        }
        let ticker = {
            let app = self.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(PROGRESS_EVERY);
                loop {
                    every.tick().await;
                    let elapsed = started.elapsed().as_millis();
                    let progress = u8::try_from(elapsed * 100 / limit.as_millis().max(1))
                        .unwrap_or(99)
                        .min(99);
                    match app.store.plan_run_progress(id, progress, app.now()).await {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            tracing::warn!(run = id, error = %e, "planner progress not written")
                        }
                    }
                }
            })
        };
        let outcome = self
            .propose(&listing, program.as_ref(), time_limit_ms)
            .await;
        ticker.abort();
        let written = match outcome {
            Ok(proposal) => self.store.finish_plan_run(id, &proposal, self.now()).await,
            Err(e) => {
                // The cause goes to the log (ids and rule names only); the row keeps a fixed
                // phrase.
                tracing::error!(run = id, error = %e, "planner run failed");
                self.store
                    .fail_plan_run(id, "the planner could not finish", self.now())
                    .await
            }
        };
        if let Err(e) = written {
            tracing::error!(run = id, error = %e, "planner run result not written");
        }
    }

    /// Recent planner runs, newest first, without proposals (directors).
    pub async fn plan_runs(&self, actor: &Actor) -> AppResult<Vec<PlanRun>> {
        let listing = self.listing::<purpose::PlanRead>(actor).await?;
        self.fail_interrupted_plan_runs().await?;
        Ok(self.store.plan_runs(&listing, RECENT_RUNS).await?)
    }

    /// One planner run with its proposal, moves and decisions, and the names its page
    /// shows (directors; the read of the proposal's clients is audited).
    pub async fn plan_run(&self, actor: &Actor, id: i64) -> AppResult<(PlanRun, RunNames)> {
        let listing = self.listing::<purpose::PlanRead>(actor).await?;
        self.fail_interrupted_plan_runs().await?;
        Ok(self.store.plan_run(&listing, id, self.now()).await?)
    }

    /// Approves all (`items` none) or some of a done run's items — new placements, moves and
    /// endings — (directors), in one transaction that re-checks every rule for each item
    /// now: an item whose facts changed is refused with its rule and the rest applies. An
    /// item is named by its placement (a move by the group it moves to, an ending by the
    /// group left); one not in the proposal is refused with 422 and nothing applies. Each
    /// decision is recorded with who made it.
    pub async fn approve_plan_run(
        &self,
        actor: &Actor,
        id: i64,
        items: Option<&[Placement]>,
        start_date: Date,
    ) -> AppResult<Vec<ItemDecision>> {
        let listing = self.listing::<purpose::PlanPlace>(actor).await?;
        if start_date < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        if items.is_some_and(|i| i.len() > MAX_APPLY) {
            return Err(DomainError::invalid(
                "items",
                format!("must list at most {MAX_APPLY} items"),
            )
            .into());
        }
        let (run, _) = self.store.plan_run(&listing, id, self.now()).await?;
        let Some(proposal) = run.proposal.as_ref() else {
            return Err(DomainError::conflict(
                circle_domain::Rule::IllegalTransition,
                "only a finished run's proposal can be approved",
            )
            .into());
        };
        // Every approvable item, named by its placement: new placements (a move by the
        // group it moves to) and endings not part of a move.
        let moves = proposal.moves();
        let mut all: Vec<PlanItem> = proposal
            .endings_only()
            .iter()
            .map(|e| PlanItem {
                kind: ItemKind::End,
                client_id: e.client_id,
                group_id: e.group_id,
                from_group_id: None,
            })
            .chain(proposal.new_placements.iter().map(|p| {
                let from = moves
                    .iter()
                    .find(|m| m.client_id == p.client_id && m.to_group_id == p.group_id)
                    .map(|m| m.from_group_id);
                PlanItem {
                    kind: if from.is_some() {
                        ItemKind::Move
                    } else {
                        ItemKind::Place
                    },
                    client_id: p.client_id,
                    group_id: p.group_id,
                    from_group_id: from,
                }
            }))
            .collect();
        // Endings first, then moves, then new placements: seats freed count for what follows.
        all.sort_by_key(|i| (i.kind, i.client_id, i.group_id));

        let plan: Vec<PlanItem> = match items {
            None => all,
            Some(list) => {
                if let Some(bad) = list.iter().find(|p| {
                    !all.iter()
                        .any(|i| i.client_id == p.client_id && i.group_id == p.group_id)
                }) {
                    return Err(DomainError::invalid(
                        "items",
                        format!(
                            "client {} in group {} is not an item of this run's proposal",
                            bad.client_id, bad.group_id
                        ),
                    )
                    .into());
                }
                all.into_iter()
                    .filter(|i| {
                        list.iter()
                            .any(|p| p.client_id == i.client_id && p.group_id == i.group_id)
                    })
                    .collect()
            }
        };
        // Every item's client must be one the approver may place and its groups ones they
        // reach: refused before anything applies.
        let mut proofs: Vec<ItemProofs> = Vec::with_capacity(plan.len());
        for i in &plan {
            let client = self
                .access_place::<purpose::PlanPlace>(actor, i.client_id)
                .await?;
            let group = self
                .access_group::<purpose::PlanPlace>(actor, i.group_id)
                .await?;
            let from = match i.from_group_id {
                Some(g) => Some(self.access_group::<purpose::PlanPlace>(actor, g).await?),
                None => None,
            };
            proofs.push((client, group, from));
        }
        let checked: Vec<CheckedItem<'_>> = plan
            .iter()
            .zip(&proofs)
            .map(|(i, (client, group, from))| CheckedItem {
                item: *i,
                client,
                group,
                from_group: from.as_ref(),
            })
            .collect();
        Ok(self
            .store
            .approve_plan_items(&listing, id, &checked, start_date, self.now())
            .await?)
    }
}
