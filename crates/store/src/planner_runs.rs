//! Persisted planner runs and the approval of their items. A run row goes queued → running
//! → done (with the proposal as JSON) or failed; its heartbeat shows a worker is still on
//! it. Approving items is one transaction: each item is re-checked against every enrollment
//! rule inside a savepoint, so an item whose facts changed is refused with its rule and
//! rolled back alone while the others apply; an applied item is never applied twice.

use std::collections::BTreeMap;

use crate::access::{
    GroupAccess, ListScope, Listing, PlaceAccess, ProgramAccess, Purpose, purpose,
};
use circle_domain::DomainError;
use circle_domain::Rule;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, GroupId, MembershipId, ProgramId, UserId};
use circle_domain::membership::{
    Membership, MembershipChange, MembershipStatus, NewMembership, check_enrollment,
};
use circle_domain::planning::{ApplyOutcome, ItemDecision, ItemKind, PlanRun, Proposal, RunState};
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Acquire;

use crate::audit::{Record, append};
use crate::codec::{LockTable, date, json, lock_row, read, ts, whole_second};
use crate::groups::{MEMBERSHIP_COLUMNS, MembershipRow, Tx, group_in};
use crate::{Store, StoreError};

const RUN_COLUMNS: &str = "id, program_id, time_limit_ms, state, progress, started_by, \
     created_at, finished_at, error, proposal";

/// One item to approve: a new placement, a move (`from_group_id` is the group left), or an
/// ending (`group_id` is the group left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanItem {
    pub kind: ItemKind,
    pub client_id: ClientId,
    pub group_id: GroupId,
    pub from_group_id: Option<GroupId>,
}

/// Display names for a run's page: roster names of clients, names of groups.
#[derive(Debug, Clone, Default)]
pub struct RunNames {
    pub clients: BTreeMap<ClientId, String>,
    pub groups: BTreeMap<GroupId, String>,
}

/// The problem code a refusal carries (as the API's problem documents name rules).
pub fn problem_code(e: &DomainError) -> String {
    match e {
        DomainError::Conflict(c) => serde_json::to_value(c.rule)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "conflict".to_owned()),
        DomainError::Invalid(_) => "invalid_input".to_owned(),
        DomainError::NotFound { .. } => "not_found".to_owned(),
        DomainError::Unauthenticated => "unauthenticated".to_owned(),
        DomainError::Forbidden => "forbidden".to_owned(),
        DomainError::Throttled { .. } => "throttled".to_owned(),
    }
}

#[derive(sqlx::FromRow)]
struct RunRow {
    proposal: Option<String>,
    id: i64,
    program_id: Option<i64>,
    time_limit_ms: i64,
    state: String,
    progress: i64,
    started_by: i64,
    created_at: String,
    finished_at: Option<String>,
    error: Option<String>,
}

impl TryFrom<RunRow> for PlanRun {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        let proposal: Option<Proposal> = match r.proposal {
            Some(text) => {
                Some(serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("proposal"))?)
            }
            None => None,
        };
        Ok(PlanRun {
            id: r.id,
            program_id: r.program_id.map(ProgramId),
            time_limit_ms: read::uint(r.time_limit_ms, "time_limit_ms")?,
            state: RunState::parse(&r.state).ok_or(StoreError::Corrupt("state"))?,
            progress: u8::try_from(r.progress).map_err(|_| StoreError::Corrupt("progress"))?,
            started_by: UserId(r.started_by),
            created_at: read::ts(&r.created_at, "created_at")?,
            finished_at: read::opt_ts(r.finished_at.as_deref(), "finished_at")?,
            error: r.error,
            moves: proposal.as_ref().map(Proposal::moves).unwrap_or_default(),
            proposal,
            decisions: vec![],
        })
    }
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    kind: String,
    client_id: i64,
    group_id: i64,
    from_group_id: Option<i64>,
    outcome: String,
    membership_id: Option<i64>,
    code: Option<String>,
    message: Option<String>,
    decided_by: i64,
    decided_at: String,
}

impl TryFrom<DecisionRow> for ItemDecision {
    type Error = StoreError;
    fn try_from(r: DecisionRow) -> Result<Self, StoreError> {
        Ok(ItemDecision {
            kind: ItemKind::parse(&r.kind).ok_or(StoreError::Corrupt("kind"))?,
            client_id: ClientId(r.client_id),
            group_id: GroupId(r.group_id),
            from_group_id: r.from_group_id.map(GroupId),
            outcome: match r.outcome.as_str() {
                "applied" => ApplyOutcome::Applied,
                "refused" => ApplyOutcome::Refused,
                _ => return Err(StoreError::Corrupt("outcome")),
            },
            membership_id: r.membership_id.map(MembershipId),
            code: r.code,
            message: r.message,
            decided_by: UserId(r.decided_by),
            decided_at: read::ts(&r.decided_at, "decided_at")?,
        })
    }
}

/// Ends the client's open membership of `from` on `start` (a move's arrival date), as
/// completed: the plan replaces or drops it, the client did not withdraw.
async fn end_for_move(
    tx: &mut Tx<'_>,
    client: ClientId,
    from: GroupId,
    start: Date,
    at: Timestamp,
) -> Result<Membership, StoreError> {
    if !lock_row(tx, LockTable::Groups, from.0).await? {
        return Err(DomainError::not_found("group").into());
    }
    let current = sqlx::query_as::<_, MembershipRow>(&format!(
        "SELECT {MEMBERSHIP_COLUMNS} FROM memberships \
         WHERE client_id = $1 AND group_id = $2 AND end_date IS NULL ORDER BY id LIMIT 1"
    ))
    .bind(client.0)
    .bind(from.0)
    .fetch_optional(&mut **tx)
    .await?
    .map(Membership::try_from)
    .transpose()?
    .ok_or_else(|| {
        DomainError::conflict(
            Rule::MembershipEnded,
            "the client is no longer a member of the group this move leaves",
        )
    })?;
    let change = MembershipChange {
        version: current.version,
        status: MembershipStatus::Completed,
        end_date: Some(start),
    };
    change.check(&current)?;
    let row = sqlx::query_as::<_, MembershipRow>(&format!(
        "UPDATE memberships SET status = $1, end_date = $2, version = version + 1, updated_at = $3 \
         WHERE id = $4 AND version = $5 RETURNING {MEMBERSHIP_COLUMNS}"
    ))
    .bind(change.status.as_str())
    .bind(date(start))
    .bind(ts(at))
    .bind(current.id.0)
    .bind(current.version)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(crate::programs::stale)?;
    Membership::try_from(row)
}

/// Enrolls like `Store::enroll`, inside the caller's transaction.
async fn enroll_in(
    tx: &mut Tx<'_>,
    group_id: GroupId,
    new: &NewMembership,
    at: Timestamp,
) -> Result<Membership, StoreError> {
    if !lock_row(tx, LockTable::Groups, group_id.0).await? {
        return Err(DomainError::not_found("group").into());
    }
    if !lock_row(tx, LockTable::Clients, new.client_id.0).await? {
        return Err(DomainError::invalid("client_id", "names no client").into());
    }
    let group = group_in(tx, group_id).await?;
    let client = crate::people::client_in(tx, new.client_id).await?;
    let today = crate::placement::group_today(tx, &group, at).await?;
    let facts = crate::placement::pair_facts(
        tx,
        &group,
        new.client_id,
        client.current_level,
        new.start_date,
        today,
    )
    .await?;
    check_enrollment(&facts.enrollment(&group, new.start_date))?;
    crate::placement::insert_membership(tx, group_id, new.client_id, new.start_date, at).await
}

/// One proposal item to approve, with the proofs that the approver may place its client
/// and reach its groups.
#[derive(Debug)]
pub struct CheckedItem<'a> {
    pub item: PlanItem,
    pub client: &'a PlaceAccess<purpose::PlanPlace>,
    pub group: &'a GroupAccess<purpose::PlanPlace>,
    pub from_group: Option<&'a GroupAccess<purpose::PlanPlace>>,
}

#[derive(sqlx::FromRow)]
struct RunOwnerRow {
    program_id: Option<i64>,
    started_by: i64,
}

#[derive(sqlx::FromRow)]
struct ClientNameRow {
    preferred_name: Option<String>,
    given_name: String,
    family_name: String,
}

#[derive(sqlx::FromRow)]
struct GroupNameRow {
    id: i64,
    name: String,
}

impl Store {
    /// Records a new run, queued, started by the listing's user. A director linked to
    /// programs plans one of their programs, never the whole clinic.
    pub async fn create_plan_run(
        &self,
        listing: &Listing<purpose::PlanRun>,
        program: Option<&ProgramAccess<purpose::PlanRun>>,
        time_limit_ms: u32,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let ctx = listing.audit();
        if program.is_none() && matches!(listing.scope(), ListScope::Programs { .. }) {
            return Err(DomainError::invalid(
                "program_id",
                "must name one of your programs: a whole-clinic plan is for clinic-wide directors",
            )
            .into());
        }
        let program = program.map(|p| p.program());
        let by = ctx.actor_user_id().ok_or(DomainError::Unauthenticated)?.0;
        let mut tx = self.begin_write().await?;
        let now = ts(at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO planner_runs (program_id, time_limit_ms, state, progress, started_by, \
             created_at, heartbeat_at) VALUES ($1, $2, 'queued', 0, $3, $4, $4) RETURNING id",
        )
        .bind(program.map(|p| p.0))
        .bind(i64::from(time_limit_ms))
        .bind(by)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::PlanRunStart, &[]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Marks a live run running at `progress` and refreshes its heartbeat. Returns false
    /// when the run is no longer live (failed meanwhile, e.g. as interrupted).
    pub async fn plan_run_progress(
        &self,
        id: i64,
        progress: u8,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE planner_runs SET state = 'running', progress = $1, heartbeat_at = $2 \
             WHERE id = $3 AND state IN ('queued','running')",
        )
        .bind(i64::from(progress.min(99)))
        .bind(ts(at))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a live run's proposal and marks it done.
    pub async fn finish_plan_run(
        &self,
        id: i64,
        proposal: &Proposal,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = ts(at);
        let done = sqlx::query(
            "UPDATE planner_runs SET state = 'done', progress = 100, proposal = $1, \
             heartbeat_at = $2, finished_at = $2 WHERE id = $3 AND state IN ('queued','running')",
        )
        .bind(json(proposal))
        .bind(&now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a live run failed with a fixed phrase (never client data).
    pub async fn fail_plan_run(
        &self,
        id: i64,
        error: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = ts(at);
        let done = sqlx::query(
            "UPDATE planner_runs SET state = 'failed', error = $1, heartbeat_at = $2, \
             finished_at = $2 WHERE id = $3 AND state IN ('queued','running')",
        )
        .bind(error)
        .bind(&now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Fails as `interrupted` every live run whose heartbeat is older than `stale_before`.
    /// Returns how many.
    pub async fn fail_interrupted_plan_runs(
        &self,
        stale_before: Timestamp,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let cutoff = ts(stale_before);
        let done = sqlx::query(
            "UPDATE planner_runs SET state = 'failed', error = 'interrupted', finished_at = $1 \
             WHERE state IN ('queued','running') AND heartbeat_at < $2",
        )
        .bind(ts(at))
        .bind(cutoff)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// The most recent runs, newest first, without their proposals (no client data): a
    /// scoped director's own runs of their programs only (never a whole-clinic run).
    pub async fn plan_runs(
        &self,
        listing: &Listing<purpose::PlanRead>,
        limit: u32,
    ) -> Result<Vec<PlanRun>, StoreError> {
        let director = match listing.scope() {
            ListScope::Programs { director, .. } => Some(*director),
            _ => None,
        };
        sqlx::query_as::<_, RunRow>(&format!(
            "SELECT id, program_id, time_limit_ms, state, progress, started_by, created_at, \
             finished_at, error, CAST(NULL AS TEXT) AS proposal FROM planner_runs \
             WHERE ($2 = -1 OR ({} AND started_by = $2)) ORDER BY id DESC LIMIT $1",
            crate::director_programs::director_program("$2", "planner_runs.program_id")
        ))
        .bind(i64::from(limit))
        .bind(director.map_or(-1, |d| d.0))
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(PlanRun::try_from)
        .collect()
    }

    /// Refuses a run out of a listing's reach as if it did not exist: a director linked to
    /// programs reaches only the runs they started of their programs (a clinic-wide
    /// director's run of the same program may have weighed clients of other programs).
    async fn check_run_reach<P: Purpose>(
        &self,
        listing: &Listing<P>,
        id: i64,
    ) -> Result<(), StoreError> {
        let (program, started_by) = self.plan_run_owner(id).await?;
        let reached = match listing.scope() {
            ListScope::All => true,
            ListScope::Programs {
                director, programs, ..
            } => program.is_some_and(|p| programs.contains(&p)) && started_by == *director,
            _ => false,
        };
        if reached {
            Ok(())
        } else {
            Err(DomainError::not_found("planner run").into())
        }
    }

    /// The program a run planned (`None` for the whole clinic) and who started it; 404 for
    /// no such run. No client data is read.
    pub async fn plan_run_owner(&self, id: i64) -> Result<(Option<ProgramId>, UserId), StoreError> {
        let row = sqlx::query_as::<_, RunOwnerRow>(
            "SELECT program_id, started_by FROM planner_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("planner run"))?;
        Ok((row.program_id.map(ProgramId), UserId(row.started_by)))
    }

    /// One run with its proposal and decisions, and the names its page shows. When it
    /// holds a proposal, the read of its clients is audited (`plan.run_read`).
    pub async fn plan_run<P: purpose::ReadsPlanRuns>(
        &self,
        listing: &Listing<P>,
        id: i64,
        at: Timestamp,
    ) -> Result<(PlanRun, RunNames), StoreError> {
        self.check_run_reach(listing, id).await?;
        let ctx = listing.audit();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, RunRow>(&format!(
            "SELECT {RUN_COLUMNS} FROM planner_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::not_found("planner run"))?;
        let mut run = PlanRun::try_from(row)?;
        run.decisions = sqlx::query_as::<_, DecisionRow>(
            "SELECT kind, client_id, group_id, from_group_id, outcome, code, message, membership_id, \
             decided_by, decided_at FROM planner_run_items WHERE run_id = $1 \
             ORDER BY client_id, group_id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(ItemDecision::try_from)
        .collect::<Result<_, _>>()?;
        let mut names = RunNames::default();
        if let Some(p) = &run.proposal {
            let mut clients: Vec<ClientId> = p
                .new_placements
                .iter()
                .chain(&p.kept_placements)
                .map(|x| x.client_id)
                .chain(p.ended_placements.iter().map(|e| e.client_id))
                .chain(p.unmet.iter().map(|u| u.client_id))
                .collect();
            clients.sort_unstable();
            clients.dedup();
            let mut groups: Vec<GroupId> = p
                .new_placements
                .iter()
                .chain(&p.kept_placements)
                .map(|x| x.group_id)
                .chain(p.ended_placements.iter().map(|e| e.group_id))
                .collect();
            groups.sort_unstable();
            groups.dedup();
            for c in &clients {
                if let Some(r) = sqlx::query_as::<_, ClientNameRow>(
                    "SELECT given_name, family_name, preferred_name FROM clients WHERE id = $1",
                )
                .bind(c.0)
                .fetch_optional(&mut *tx)
                .await?
                {
                    let first = r.preferred_name.unwrap_or(r.given_name);
                    let initial = r.family_name.chars().next().unwrap_or('?');
                    names.clients.insert(*c, format!("{first} {initial}."));
                }
            }
            // Every group, so reasons naming a group outside the plan read well too.
            for r in sqlx::query_as::<_, GroupNameRow>("SELECT id, name FROM therapy_groups")
                .fetch_all(&mut *tx)
                .await?
            {
                names.groups.insert(GroupId(r.id), r.name);
            }
            append(
                &mut tx,
                self.audit_key(),
                at,
                Record::success(ctx, AuditAction::PlanRunRead, &clients).object(id),
            )
            .await?;
        }
        tx.commit().await?;
        Ok((run, names))
    }

    /// Approves items of a done run in one transaction, each re-checked against every rule
    /// as it stands now (inside a savepoint: a refused item leaves no trace but its
    /// decision). An item already applied is refused as `already_applied`. Memberships
    /// start on `start`; a move ends the old membership that day. Seats a move frees are
    /// offered to the waitlist afterwards, as ending a membership always does.
    pub async fn approve_plan_items(
        &self,
        listing: &Listing<purpose::PlanPlace>,
        run_id: i64,
        items: &[CheckedItem<'_>],
        start: Date,
        at: Timestamp,
    ) -> Result<Vec<ItemDecision>, StoreError> {
        self.check_run_reach(listing, run_id).await?;
        for c in items {
            if c.client.client() != c.item.client_id
                || c.group.group() != c.item.group_id
                || c.from_group.map(|g| g.group()) != c.item.from_group_id
            {
                return Err(DomainError::invalid("items", "names another client or group").into());
            }
        }
        let items: Vec<&PlanItem> = items.iter().map(|c| &c.item).collect();
        let ctx = listing.audit();
        let by = ctx.actor_user_id().ok_or(DomainError::Unauthenticated)?;
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        // The run's row is the lock: two approvals of one run take turns.
        let state: Option<String> = sqlx::query_scalar(
            "UPDATE planner_runs SET heartbeat_at = heartbeat_at WHERE id = $1 RETURNING state",
        )
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await?;
        match state.as_deref() {
            None => return Err(DomainError::not_found("planner run").into()),
            Some("done") => {}
            Some(_) => {
                return Err(DomainError::conflict(
                    Rule::IllegalTransition,
                    "only a finished run's proposal can be approved",
                )
                .into());
            }
        }
        let mut decisions = Vec::with_capacity(items.len());
        let mut freed = Vec::new();
        for &item in &items {
            let applied: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM planner_run_items WHERE run_id = $1 AND client_id = $2 \
                 AND group_id = $3 AND outcome = 'applied'",
            )
            .bind(run_id)
            .bind(item.client_id.0)
            .bind(item.group_id.0)
            .fetch_one(&mut *tx)
            .await?;
            let result: Result<Option<Membership>, DomainError> = if applied > 0 {
                Err(DomainError::conflict(
                    Rule::Duplicate,
                    "this item of the proposal has already been applied",
                ))
            } else {
                let mut sp = tx.begin().await?;
                let attempt = async {
                    let leaves = match item.kind {
                        ItemKind::End => Some(item.group_id),
                        ItemKind::Move => item.from_group_id,
                        ItemKind::Place => None,
                    };
                    let ended = match leaves {
                        Some(from) => {
                            Some(end_for_move(&mut sp, item.client_id, from, start, at).await?)
                        }
                        None => None,
                    };
                    let joined = if item.kind == ItemKind::End {
                        None
                    } else {
                        let new = NewMembership {
                            client_id: item.client_id,
                            start_date: start,
                        };
                        Some(enroll_in(&mut sp, item.group_id, &new, at).await?)
                    };
                    Ok::<_, StoreError>((ended, joined))
                }
                .await;
                match attempt {
                    Ok((ended, m)) => {
                        if let Some(old) = ended {
                            append(
                                &mut sp,
                                self.audit_key(),
                                at,
                                Record::success(
                                    ctx,
                                    AuditAction::MembershipUpdate,
                                    &[item.client_id],
                                )
                                .object(old.id),
                            )
                            .await?;
                            freed.push(old.group_id);
                        }
                        if let Some(m) = &m {
                            append(
                                &mut sp,
                                self.audit_key(),
                                at,
                                Record::success(
                                    ctx,
                                    AuditAction::MembershipCreate,
                                    &[item.client_id],
                                )
                                .object(m.id),
                            )
                            .await?;
                        }
                        sp.commit().await?;
                        Ok(m)
                    }
                    Err(StoreError::Domain(e)) => {
                        sp.rollback().await?;
                        Err(e)
                    }
                    Err(other) => return Err(other),
                }
            };
            let mut decision = ItemDecision {
                kind: item.kind,
                client_id: item.client_id,
                group_id: item.group_id,
                from_group_id: item.from_group_id,
                outcome: if result.is_ok() {
                    ApplyOutcome::Applied
                } else {
                    ApplyOutcome::Refused
                },
                membership_id: result.as_ref().ok().and_then(|m| m.as_ref().map(|m| m.id)),
                code: result.as_ref().err().map(problem_code),
                message: result.as_ref().err().map(ToString::to_string),
                decided_by: by,
                decided_at: whole_second(at),
            };
            if applied > 0 {
                decision.code = Some("already_applied".to_owned());
            } else {
                sqlx::query(
                    "DELETE FROM planner_run_items WHERE run_id = $1 AND client_id = $2 AND group_id = $3",
                )
                .bind(run_id)
                .bind(item.client_id.0)
                .bind(item.group_id.0)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO planner_run_items (run_id, kind, client_id, group_id, from_group_id, \
                     outcome, code, message, membership_id, decided_by, decided_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(run_id)
                .bind(item.kind.as_str())
                .bind(item.client_id.0)
                .bind(item.group_id.0)
                .bind(item.from_group_id.map(|g| g.0))
                .bind(if result.is_ok() { "applied" } else { "refused" })
                .bind(decision.code.clone())
                .bind(decision.message.clone())
                .bind(decision.membership_id.map(|m| m.0))
                .bind(by.0)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
            }
            decisions.push(decision);
        }
        freed.sort_unstable();
        freed.dedup();
        for g in freed {
            self.refill_group(&mut tx, g, ctx, at).await?;
        }
        let clients: Vec<ClientId> = items.iter().map(|i| i.client_id).collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::PlanApprove, &clients).object(run_id),
        )
        .await?;
        tx.commit().await?;
        Ok(decisions)
    }
}
