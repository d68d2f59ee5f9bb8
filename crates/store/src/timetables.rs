//! Timetable runs (issue 17, part 2): the facts the week's design is built from (programs
//! with their timetable windows, rooms and clinicians with their weekly windows and hours,
//! every group as it runs now), the run stored with its pins and proposal, and approval in
//! one transaction that changes each group's meetings, room and leads and re-makes its
//! future sessions, so members see the new week in their portal and calendar feed.
//!
//! A scoped director builds and reads runs of their own programs only; a whole-clinic run
//! is for clinic-wide directors. Approval is all-or-nothing: a group changed since the
//! proposal (its version moved on) or a rule the new pattern breaks refuses the lot.

use circle_domain::audit::AuditAction;
use circle_domain::clinician::Clinician;
use circle_domain::group::Group;
use circle_domain::ids::{GroupId, ProgramId, UserId};
use circle_domain::program::{Program, Room};
use circle_domain::schedule::{AvailabilityWindow, Weekday, occurrences};
use circle_domain::text::TimeZoneName;
use circle_domain::timetabling::{
    TimetableApproval, TimetablePin, TimetableProposal, TimetableRun, TimetableState,
};
use circle_domain::{DomainError, Rule};
use jiff::Timestamp;
use jiff::civil::{Date, Time};

use crate::access::{ListScope, Listing, ProgramAccess, Purpose, purpose};
use crate::audit::{Record, append};
use crate::codec::{LockTable, date, json, lock_row, read, ts};
use crate::groups::{GROUP_COLUMNS, GroupRow, check_group_in, group_in};
use crate::programs::{PROGRAM_COLUMNS, ProgramRow};
use crate::{Store, StoreError};

/// A program's timetable window as set (each part `None`: the level's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramWindow {
    pub days: Option<Vec<Weekday>>,
    pub start: Option<Time>,
    pub end: Option<Time>,
    pub days_target: Option<u32>,
}

/// A clinician's weekly group hours and windows (empty: any time the clinic is open).
#[derive(Debug, Clone)]
pub struct ClinicianCapacity {
    pub clinician: Clinician,
    pub weekly_minutes: u32,
    pub availability: Vec<AvailabilityWindow>,
}

/// A room and its weekly windows (empty: any time the clinic is open).
#[derive(Debug, Clone)]
pub struct RoomHours {
    pub room: Room,
    pub availability: Vec<AvailabilityWindow>,
}

/// Everything a timetable is built from. Every group of the clinic is here: those outside
/// the run's scope hold their clinicians and rooms at their current times.
#[derive(Debug, Clone)]
pub struct TimetableFacts {
    pub programs: Vec<(Program, ProgramWindow)>,
    pub rooms: Vec<RoomHours>,
    pub clinicians: Vec<ClinicianCapacity>,
    pub groups: Vec<Group>,
}

#[derive(sqlx::FromRow)]
struct WindowRow {
    id: i64,
    timetable_days: Option<String>,
    timetable_start: Option<String>,
    timetable_end: Option<String>,
    days_target: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: i64,
    site: String,
    name: String,
    capacity: i64,
    version: i64,
    availability: String,
}

#[derive(sqlx::FromRow)]
struct CapacityRow {
    id: i64,
    weekly_group_minutes: i64,
    availability: String,
}

const RUN_COLUMNS: &str = "id, program_id, state, time_limit_ms, started_by, pins, proposal, \
     applied, approved_by, approved_at, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    program_id: Option<i64>,
    state: String,
    time_limit_ms: i64,
    started_by: i64,
    pins: String,
    proposal: String,
    applied: String,
    approved_by: Option<i64>,
    approved_at: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl TryFrom<RunRow> for TimetableRun {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self, StoreError> {
        Ok(TimetableRun {
            id: r.id,
            program_id: r.program_id.map(ProgramId),
            state: read::vocab(&r.state, "state", TimetableState::parse)?,
            time_limit_ms: read::uint(r.time_limit_ms, "time_limit_ms")?,
            started_by: UserId(r.started_by),
            pins: read::json(&r.pins, "pins")?,
            proposal: read::json(&r.proposal, "proposal")?,
            applied: read::json(&r.applied, "applied")?,
            approved_by: r.approved_by.map(UserId),
            approved_at: read::opt_ts(r.approved_at.as_deref(), "approved_at")?,
            version: r.version,
            created_at: read::ts(&r.created_at, "created_at")?,
            updated_at: read::ts(&r.updated_at, "updated_at")?,
        })
    }
}

fn opt_time(v: Option<String>, col: &'static str) -> Result<Option<Time>, StoreError> {
    v.map(|s| s.parse::<Time>().map_err(|_| StoreError::Corrupt(col)))
        .transpose()
}

/// Whether a listing reaches a run of `program` (`None`: the whole clinic).
fn reaches<P: Purpose>(listing: &Listing<P>, program: Option<ProgramId>) -> bool {
    match listing.scope() {
        ListScope::All => true,
        ListScope::Programs { programs, .. } => program.is_some_and(|p| programs.contains(&p)),
        _ => false,
    }
}

/// The sessions ahead that approval re-makes: scheduled, not yet started, and with
/// nothing recorded against them (attendance or notes keep a session as it was).
const UNTOUCHED_FUTURE: &str = "group_id = $1 AND starts_at > $2 AND status = 'scheduled' \
     AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.session_id = sessions.id) \
     AND NOT EXISTS (SELECT 1 FROM group_notes n WHERE n.session_id = sessions.id) \
     AND NOT EXISTS (SELECT 1 FROM progress_notes p WHERE p.session_id = sessions.id)";

impl Store {
    /// The facts a timetable is built from (no client data: group sizes are their bounds).
    pub async fn timetable_facts(
        &self,
        _listing: &Listing<purpose::TimetableBuild>,
    ) -> Result<TimetableFacts, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let programs = sqlx::query_as::<_, ProgramRow>(&format!(
            "SELECT {PROGRAM_COLUMNS} FROM programs ORDER BY id"
        ))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(Program::try_from)
        .collect::<Result<Vec<_>, _>>()?;
        let windows = sqlx::query_as::<_, WindowRow>(
            "SELECT id, timetable_days, timetable_start, timetable_end, days_target FROM programs",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut with_windows = Vec::with_capacity(programs.len());
        for p in programs {
            let w = windows
                .iter()
                .find(|w| w.id == p.id.0)
                .ok_or(StoreError::Corrupt("programs"))?;
            let window = ProgramWindow {
                days: w
                    .timetable_days
                    .as_deref()
                    .map(|d| read::json(d, "timetable_days"))
                    .transpose()?,
                start: opt_time(w.timetable_start.clone(), "timetable_start")?,
                end: opt_time(w.timetable_end.clone(), "timetable_end")?,
                days_target: w
                    .days_target
                    .map(|d| read::uint(d, "days_target"))
                    .transpose()?,
            };
            with_windows.push((p, window));
        }
        let rooms = sqlx::query_as::<_, RoomRow>(
            "SELECT id, site, name, capacity, version, availability FROM rooms ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| {
            Ok(RoomHours {
                room: Room {
                    id: circle_domain::ids::RoomId(r.id),
                    site: read::parsed(r.site, "site")?,
                    name: read::parsed(r.name, "name")?,
                    capacity: read::uint(r.capacity, "capacity")?,
                    version: r.version,
                },
                availability: read::json(&r.availability, "availability")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let capacities = sqlx::query_as::<_, CapacityRow>(
            "SELECT id, weekly_group_minutes, availability FROM clinicians ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut clinicians = Vec::with_capacity(capacities.len());
        for c in capacities {
            let clinician =
                crate::people::clinician_in(&mut conn, circle_domain::ids::ClinicianId(c.id))
                    .await?;
            clinicians.push(ClinicianCapacity {
                clinician,
                weekly_minutes: read::uint(c.weekly_group_minutes, "weekly_group_minutes")?,
                availability: read::json(&c.availability, "availability")?,
            });
        }
        let groups = sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT {GROUP_COLUMNS} FROM therapy_groups ORDER BY id"
        ))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(Group::try_from)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(TimetableFacts {
            programs: with_windows,
            rooms,
            clinicians,
            groups,
        })
    }

    /// Records a new run with its first proposal. A director linked to programs designs
    /// one of their programs, never the whole clinic.
    pub async fn create_timetable_run(
        &self,
        listing: &Listing<purpose::TimetableBuild>,
        program: Option<&ProgramAccess<purpose::TimetableBuild>>,
        time_limit_ms: u32,
        pins: &[TimetablePin],
        proposal: &TimetableProposal,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let program = program.map(|p| p.program());
        if !reaches(listing, program) {
            return Err(DomainError::invalid(
                "program_id",
                "must name one of your programs: a whole-clinic timetable is for clinic-wide directors",
            )
            .into());
        }
        let ctx = listing.audit();
        let by = ctx.actor_user_id().ok_or(DomainError::Unauthenticated)?;
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO timetable_runs (program_id, state, time_limit_ms, started_by, pins, \
             proposal, version, created_at, updated_at) \
             VALUES ($1, 'proposed', $2, $3, $4, $5, 1, $6, $6) RETURNING id",
        )
        .bind(program.map(|p| p.0))
        .bind(i64::from(time_limit_ms))
        .bind(by.0)
        .bind(json(pins))
        .bind(json(proposal))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::TimetableBuild, &[]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The program a run designs (`None`: the whole clinic); 404 for no such run or one
    /// out of the listing's reach (its existence is not confirmed).
    pub async fn timetable_run_program<P: Purpose>(
        &self,
        listing: &Listing<P>,
        id: i64,
    ) -> Result<Option<ProgramId>, StoreError> {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT program_id FROM timetable_runs WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        match row {
            Some(p) if reaches(listing, p.map(ProgramId)) => Ok(p.map(ProgramId)),
            _ => Err(DomainError::not_found("timetable").into()),
        }
    }

    /// One run with its pins and proposal.
    pub async fn timetable_run<P: Purpose>(
        &self,
        listing: &Listing<P>,
        id: i64,
    ) -> Result<TimetableRun, StoreError> {
        self.timetable_run_program(listing, id).await?;
        let row = sqlx::query_as::<_, RunRow>(&format!(
            "SELECT {RUN_COLUMNS} FROM timetable_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("timetable"))?;
        TimetableRun::try_from(row)
    }

    /// The most recent runs the listing reaches, newest first.
    pub async fn timetable_runs(
        &self,
        listing: &Listing<purpose::TimetableRead>,
        limit: u32,
    ) -> Result<Vec<TimetableRun>, StoreError> {
        let rows = sqlx::query_as::<_, RunRow>(&format!(
            "SELECT {RUN_COLUMNS} FROM timetable_runs ORDER BY id DESC"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            if reaches(listing, r.program_id.map(ProgramId)) {
                out.push(TimetableRun::try_from(r)?);
                if out.len() >= limit as usize {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Stores a re-solved proposal with its pins, if the run is still a proposal at
    /// `version` (409 otherwise: approved, or re-solved by someone else meanwhile).
    pub async fn resolve_timetable_run(
        &self,
        listing: &Listing<purpose::TimetableBuild>,
        id: i64,
        version: i64,
        pins: &[TimetablePin],
        proposal: &TimetableProposal,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.timetable_run_program(listing, id).await?;
        let ctx = listing.audit();
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE timetable_runs SET pins = $1, proposal = $2, version = version + 1, \
             updated_at = $3 WHERE id = $4 AND version = $5 AND state = 'proposed'",
        )
        .bind(json(pins))
        .bind(json(proposal))
        .bind(&now)
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(not_open().into());
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::TimetableBuild, &[]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Approves a run's proposal at `version` in one transaction: each changed group not
    /// yet applied (of `only`, when given) gets its new meetings, room and leads,
    /// re-checked against every group rule; its untouched future sessions are removed and
    /// its schedule is materialised again from `today` to `until`. The run is approved once
    /// every change is applied. A group changed since the proposal, a rule broken, a part
    /// already applied, or a run already approved refuses the whole approval and changes
    /// nothing.
    #[allow(
        clippy::too_many_arguments,
        reason = "each is a distinct input of one transaction"
    )]
    pub async fn approve_timetable_run(
        &self,
        listing: &Listing<purpose::TimetableApprove>,
        id: i64,
        version: i64,
        only: Option<&[GroupId]>,
        today: Date,
        until: Date,
        at: Timestamp,
    ) -> Result<TimetableApproval, StoreError> {
        self.timetable_run_program(listing, id).await?;
        let ctx = listing.audit();
        let by = ctx.actor_user_id().ok_or(DomainError::Unauthenticated)?;
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        // The run's row is the lock: two approvals take turns and the second finds it
        // approved.
        let row = sqlx::query_as::<_, RunRow>(&format!(
            "UPDATE timetable_runs SET updated_at = updated_at WHERE id = $1 RETURNING {RUN_COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::not_found("timetable"))?;
        let run = TimetableRun::try_from(row)?;
        if run.state != TimetableState::Proposed {
            return Err(DomainError::conflict(
                Rule::IllegalTransition,
                "this timetable has already been approved; build a new one to change the week",
            )
            .into());
        }
        if run.version != version {
            return Err(not_open().into());
        }
        let mut approval = TimetableApproval {
            groups_changed: vec![],
            sessions_removed: 0,
            sessions_created: 0,
        };
        let changing: Vec<GroupId> = run
            .proposal
            .entries
            .iter()
            .filter(|e| e.changes())
            .map(|e| e.group_id)
            .collect();
        if let Some(only) = only {
            if only.is_empty() {
                return Err(DomainError::invalid("groups", "must name at least one group").into());
            }
            if let Some(g) = only.iter().find(|g| !changing.contains(g)) {
                return Err(DomainError::invalid(
                    "groups",
                    format!("group {g} is not a change of this proposal"),
                )
                .into());
            }
            if let Some(g) = only.iter().find(|g| run.applied.contains(g)) {
                return Err(DomainError::conflict(
                    Rule::Duplicate,
                    format!("the change of group {g} has already been applied"),
                )
                .into());
            }
        }
        for entry in &run.proposal.entries {
            if !entry.changes()
                || run.applied.contains(&entry.group_id)
                || only.is_some_and(|o| !o.contains(&entry.group_id))
            {
                continue;
            }
            if !reaches(listing, Some(entry.program_id)) {
                return Err(DomainError::not_found("group").into());
            }
            if !lock_row(&mut tx, LockTable::Groups, entry.group_id.0).await? {
                return Err(DomainError::not_found("group").into());
            }
            let current = group_in(&mut tx, entry.group_id).await?;
            if current.version != entry.group_version {
                return Err(DomainError::conflict(
                    Rule::StaleVersion,
                    format!(
                        "group {} changed since this proposal was built; re-solve it",
                        entry.group_id
                    ),
                )
                .into());
            }
            let p = &entry.pattern;
            let group = Group {
                meetings: p.meetings.clone(),
                room_id: p.venue.room(),
                lead_facilitator_id: p.lead,
                co_facilitator_id: p.co,
                version: current.version + 1,
                ..current.clone()
            };
            check_group_in(&mut tx, &group, today).await?;
            sqlx::query(
                "UPDATE therapy_groups SET meetings = $1, room_id = $2, lead_facilitator_id = $3, \
                 co_facilitator_id = $4, version = $5, updated_at = $6 WHERE id = $7",
            )
            .bind(json(&group.meetings))
            .bind(group.room_id.map(|r| r.0))
            .bind(group.lead_facilitator_id.0)
            .bind(group.co_facilitator_id.map(|c| c.0))
            .bind(group.version)
            .bind(&now)
            .bind(group.id.0)
            .execute(&mut *tx)
            .await?;
            if group.meetings != current.meetings
                || group.lead_facilitator_id != current.lead_facilitator_id
            {
                let removed =
                    sqlx::query(&format!("DELETE FROM sessions WHERE {UNTOUCHED_FUTURE}"))
                        .bind(group.id.0)
                        .bind(&now)
                        .execute(&mut *tx)
                        .await?;
                approval.sessions_removed += u32::try_from(removed.rows_affected()).unwrap_or(0);
                approval.sessions_created +=
                    materialize_in(&mut tx, &group, today, until, at).await?;
            }
            approval.groups_changed.push(group.id);
        }
        let mut applied = run.applied.clone();
        applied.extend(approval.groups_changed.iter().copied());
        let complete = changing.iter().all(|g| applied.contains(g));
        sqlx::query(
            "UPDATE timetable_runs SET applied = $1, version = version + 1, updated_at = $2, \
             state = CASE WHEN $3 = 1 THEN 'approved' ELSE state END, \
             approved_by = CASE WHEN $3 = 1 THEN $4 ELSE approved_by END, \
             approved_at = CASE WHEN $3 = 1 THEN $2 ELSE approved_at END WHERE id = $5",
        )
        .bind(json(&applied))
        .bind(&now)
        .bind(i64::from(complete))
        .bind(by.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::TimetableApprove, &[]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(approval)
    }
}

/// Materialises a group's schedule on dates in `[from, until)` inside the caller's
/// transaction (meetings already begun are not made); stops at the first date its lead's
/// licence does not cover (the horizon job reports that group). Returns how many sessions
/// were created.
async fn materialize_in(
    tx: &mut crate::groups::Tx<'_>,
    group: &Group,
    from: Date,
    until: Date,
    at: Timestamp,
) -> Result<u32, StoreError> {
    let tz: TimeZoneName =
        sqlx::query_scalar::<_, String>("SELECT time_zone FROM programs WHERE id = $1")
            .bind(group.program_id.0)
            .fetch_one(&mut **tx)
            .await?
            .try_into()
            .map_err(|_| StoreError::Corrupt("time_zone"))?;
    let lead = crate::people::clinician_in(&mut *tx, group.lead_facilitator_id).await?;
    let now = ts(at);
    let mut created = 0;
    for o in occurrences(&group.meetings, &tz.time_zone(), from, until)? {
        if o.starts_at <= at {
            continue;
        }
        if !lead.licensed_on(o.local_date) {
            break;
        }
        let done = sqlx::query(
            "INSERT INTO sessions (group_id, local_date, starts_at, ends_at, status, \
             lead_facilitator_id, created_at, updated_at) VALUES ($1, $2, $3, $4, 'scheduled', $5, $6, $6) \
             ON CONFLICT (group_id, starts_at) DO NOTHING",
        )
        .bind(group.id.0)
        .bind(date(o.local_date))
        .bind(ts(o.starts_at))
        .bind(ts(o.ends_at))
        .bind(lead.id.0)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
        created += u32::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(created)
}

fn not_open() -> DomainError {
    DomainError::conflict(
        Rule::StaleVersion,
        "this timetable changed since you loaded it (re-solved or approved); reload it",
    )
}
