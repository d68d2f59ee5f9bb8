//! Groups and memberships, with every enrollment rule checked inside the writing
//! transaction after the group's row is locked — two coordinators placing into the last
//! seat at once cannot both succeed.

use circle_domain::care::{GroupKind, Modality};
use circle_domain::group::{
    DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE, Group, GroupContext, GroupPatch, NewGroup, check_group,
};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, MembershipId, ProgramId, RoomId, UserId};
use circle_domain::membership::{
    GroupMember, Membership, MembershipChange, MembershipStatus, NewMembership, check_enrollment,
};
use circle_domain::program::Program;
use circle_domain::schedule::{WeeklyMeeting, weekly_schedules_overlap};
use circle_domain::text::TimeZoneName;
use circle_domain::{DomainError, Rule};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::access::{AuditContext, ClientAccess, GroupAccess, PlaceAccess, ProgramAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::{LockTable, date, json, lock_row, page_of, read, ts};
use crate::people::clinician_in;
use crate::programs::{PROGRAM_COLUMNS, ProgramRow, stale};
use crate::{Page, PageRequest, Store, StoreError};
use circle_domain::audit::AuditAction;

pub(crate) const GROUP_COLUMNS: &str = "id, program_id, name, kind, modality, focus_concerns, eligible_levels, \
     enrollment, min_size, max_size, size_override_reason, meetings, room_id, lead_facilitator_id, \
     co_facilitator_id, curriculum, version";

pub(crate) const MEMBERSHIP_COLUMNS: &str =
    "id, group_id, client_id, start_date, end_date, status, version";

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: i64,
    program_id: i64,
    name: String,
    kind: String,
    modality: Option<String>,
    focus_concerns: String,
    eligible_levels: String,
    enrollment: String,
    min_size: i64,
    max_size: i64,
    size_override_reason: Option<String>,
    meetings: String,
    room_id: Option<i64>,
    lead_facilitator_id: i64,
    co_facilitator_id: Option<i64>,
    curriculum: String,
    version: i64,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;
    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        Ok(Group {
            id: GroupId(r.id),
            program_id: ProgramId(r.program_id),
            name: read::parsed(r.name, "name")?,
            kind: read::vocab(&r.kind, "kind", GroupKind::parse)?,
            modality: r
                .modality
                .map(|m| Modality::parse(&m).ok_or(StoreError::Corrupt("modality")))
                .transpose()?,
            focus_concerns: read::json(&r.focus_concerns, "focus_concerns")?,
            eligible_levels: read::json(&r.eligible_levels, "eligible_levels")?,
            enrollment: read::json(&r.enrollment, "enrollment")?,
            min_size: read::uint(r.min_size, "min_size")?,
            max_size: read::uint(r.max_size, "max_size")?,
            size_override_reason: read::opt_parsed(r.size_override_reason, "size_override_reason")?,
            meetings: read::json(&r.meetings, "meetings")?,
            room_id: r.room_id.map(RoomId),
            lead_facilitator_id: ClinicianId(r.lead_facilitator_id),
            co_facilitator_id: r.co_facilitator_id.map(ClinicianId),
            curriculum: read::json(&r.curriculum, "curriculum")?,
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    id: i64,
    group_id: i64,
    client_id: i64,
    start_date: String,
    end_date: Option<String>,
    status: String,
    version: i64,
}

impl TryFrom<MembershipRow> for Membership {
    type Error = StoreError;
    fn try_from(r: MembershipRow) -> Result<Self, StoreError> {
        Ok(Membership {
            id: MembershipId(r.id),
            group_id: GroupId(r.group_id),
            client_id: ClientId(r.client_id),
            start_date: read::date(&r.start_date, "start_date")?,
            end_date: read::opt_date(r.end_date.as_deref(), "end_date")?,
            status: read::vocab(&r.status, "status", MembershipStatus::parse)?,
            version: r.version,
        })
    }
}

/// A membership with its member's name.
#[derive(sqlx::FromRow)]
struct MemberRow {
    #[sqlx(flatten)]
    membership: MembershipRow,
    #[sqlx(flatten)]
    names: crate::sessions::NameColumns,
}

pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

pub(crate) async fn program_in(
    tx: &mut Tx<'_>,
    id: ProgramId,
) -> Result<Option<Program>, StoreError> {
    sqlx::query_as::<_, ProgramRow>(&format!(
        "SELECT {PROGRAM_COLUMNS} FROM programs WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?
    .map(Program::try_from)
    .transpose()
}

pub(crate) async fn group_in(tx: &mut Tx<'_>, id: GroupId) -> Result<Group, StoreError> {
    let row = sqlx::query_as::<_, GroupRow>(&format!(
        "SELECT {GROUP_COLUMNS} FROM therapy_groups WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(DomainError::not_found("group"))?;
    Group::try_from(row)
}

async fn active_member_count(tx: &mut Tx<'_>, group: GroupId) -> Result<u32, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND end_date IS NULL",
    )
    .bind(group.0)
    .fetch_one(&mut **tx)
    .await?;
    u32::try_from(n).map_err(|_| StoreError::Corrupt("memberships"))
}

/// Everything `check_group` needs, plus the facilitator and room double-booking checks.
pub(crate) async fn check_group_in(
    tx: &mut Tx<'_>,
    group: &Group,
    effective_on: Date,
) -> Result<(), StoreError> {
    let program = program_in(tx, group.program_id)
        .await?
        .ok_or_else(|| DomainError::invalid("program_id", "names no program"))?;
    let room_capacity = match group.room_id {
        Some(room) => Some(
            sqlx::query_scalar::<_, i64>("SELECT capacity FROM rooms WHERE id = $1")
                .bind(room.0)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| DomainError::invalid("room_id", "names no room"))?,
        )
        .map(|c| u32::try_from(c).unwrap_or(0)),
        None => None,
    };
    let lead = clinician_in(&mut *tx, group.lead_facilitator_id)
        .await
        .map_err(|_| DomainError::invalid("lead_facilitator_id", "names no clinician"))?;
    let co = match group.co_facilitator_id {
        Some(id) => Some(
            clinician_in(&mut *tx, id)
                .await
                .map_err(|_| DomainError::invalid("co_facilitator_id", "names no clinician"))?,
        ),
        None => None,
    };
    let active_members = if group.id.0 > 0 {
        active_member_count(tx, group.id).await?
    } else {
        0
    };
    check_group(
        group,
        &GroupContext {
            program: &program,
            room_capacity,
            lead: &lead,
            co: co.as_ref(),
            effective_on,
            active_members,
        },
    )?;

    // Nobody — facilitator or room — is in two places at once.
    let tz = program.time_zone.time_zone();
    let co_id = group.co_facilitator_id.map_or(-1, |c| c.0);
    let rows = sqlx::query_as::<_, BookingRow>(
        "SELECT g.meetings, g.lead_facilitator_id, g.co_facilitator_id, g.room_id, p.time_zone \
         FROM therapy_groups g JOIN programs p ON p.id = g.program_id \
         WHERE g.id <> $1 AND (g.lead_facilitator_id IN ($2, $3) OR g.co_facilitator_id IN ($2, $3) \
         OR g.room_id = $4)",
    )
    .bind(group.id.0)
    .bind(group.lead_facilitator_id.0)
    .bind(co_id)
    .bind(group.room_id.map_or(-1, |r| r.0))
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let meetings: Vec<WeeklyMeeting> = read::json(&r.meetings, "meetings")?;
        let other_tz: TimeZoneName = read::parsed(r.time_zone, "time_zone")?;
        if weekly_schedules_overlap(
            (&group.meetings, &tz),
            (&meetings, &other_tz.time_zone()),
            effective_on,
        )? {
            let people = [Some(r.lead_facilitator_id), r.co_facilitator_id];
            let who = if group.room_id.is_some() && r.room_id == group.room_id.map(|x| x.0) {
                "the room is"
            } else if people.contains(&Some(group.lead_facilitator_id.0)) {
                "the lead facilitator is"
            } else {
                "the co-facilitator is"
            };
            return Err(DomainError::conflict(
                Rule::ScheduleOverlap,
                format!("{who} already booked for another group at an overlapping time"),
            )
            .into());
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct BookingRow {
    meetings: String,
    time_zone: String,
    lead_facilitator_id: i64,
    co_facilitator_id: Option<i64>,
    room_id: Option<i64>,
}

impl Store {
    /// Creates a group after checking its definition against its program, room and
    /// facilitators. `today` is the date the lead's license must be active on.
    pub async fn create_group(
        &self,
        program: &ProgramAccess<purpose::ProgramDesign>,
        new: &NewGroup,
        today: Date,
        now: Timestamp,
    ) -> Result<Group, StoreError> {
        if program.program() != new.program_id {
            return Err(DomainError::invalid("program_id", "names no program").into());
        }
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Programs, new.program_id.0).await? {
            return Err(DomainError::invalid("program_id", "names no program").into());
        }
        let program = program_in(&mut tx, new.program_id)
            .await?
            .ok_or_else(|| DomainError::invalid("program_id", "names no program"))?;
        let group = insert_group(&mut tx, &program, new, None, today, now).await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn group(&self, id: GroupId) -> Result<Group, StoreError> {
        let row = sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT {GROUP_COLUMNS} FROM therapy_groups WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("group"))?;
        Group::try_from(row)
    }

    /// Groups in a stable order, optionally those of one program.
    pub async fn list_groups(
        &self,
        program: Option<ProgramId>,
        page: PageRequest,
    ) -> Result<Page<Group>, StoreError> {
        self.list_groups_within(program, None, page).await
    }

    /// Groups in a stable order, optionally those of one program, and only those of the
    /// programs linked to `director` when given (a scoped director's).
    pub async fn list_groups_within(
        &self,
        program: Option<ProgramId>,
        director: Option<UserId>,
        page: PageRequest,
    ) -> Result<Page<Group>, StoreError> {
        let rows = sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT {GROUP_COLUMNS} FROM therapy_groups WHERE id > $1 AND ($2 = -1 OR program_id = $2) \
             AND ($4 = -1 OR {}) ORDER BY id LIMIT $3",
            crate::director_programs::director_program("$4", "therapy_groups.program_id")
        ))
        .bind(page.after)
        .bind(program.map_or(-1, |p| p.0))
        .bind(i64::from(page.limit) + 1)
        .bind(director.map_or(-1, |d| d.0))
        .fetch_all(self.pool())
        .await?;
        let items = rows
            .into_iter()
            .map(Group::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, page.limit, |g| g.id.0))
    }

    /// Changes a group if `patch.version` is current, re-checking every group rule.
    pub async fn update_group(
        &self,
        a: &GroupAccess<purpose::GroupDesign>,
        patch: &GroupPatch,
        today: Date,
        now: Timestamp,
    ) -> Result<Group, StoreError> {
        let id = a.group();
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Groups, id.0).await? {
            return Err(DomainError::not_found("group").into());
        }
        let current = group_in(&mut tx, id).await?;
        if current.version != patch.version {
            return Err(stale());
        }
        let current_max = current.max_size;
        let group = Group {
            name: patch.name.clone().unwrap_or(current.name.clone()),
            min_size: patch.min_size.unwrap_or(current.min_size),
            max_size: patch.max_size.unwrap_or(current.max_size),
            size_override_reason: patch
                .size_override_reason
                .clone()
                .or(current.size_override_reason.clone()),
            meetings: patch.meetings.clone().unwrap_or(current.meetings.clone()),
            lead_facilitator_id: patch
                .lead_facilitator_id
                .unwrap_or(current.lead_facilitator_id),
            co_facilitator_id: patch.co_facilitator_id.or(current.co_facilitator_id),
            curriculum: patch
                .curriculum
                .clone()
                .unwrap_or(current.curriculum.clone()),
            version: current.version + 1,
            ..current
        };
        check_group_in(&mut tx, &group, today).await?;
        sqlx::query(
            "UPDATE therapy_groups SET name = $1, min_size = $2, max_size = $3, size_override_reason = $4, \
             meetings = $5, lead_facilitator_id = $6, co_facilitator_id = $7, version = $8, updated_at = $9, \
             curriculum = $11 WHERE id = $10",
        )
        .bind(group.name.as_str())
        .bind(i64::from(group.min_size))
        .bind(i64::from(group.max_size))
        .bind(group.size_override_reason.as_ref().map(|r| r.as_str().to_owned()))
        .bind(json(&group.meetings))
        .bind(group.lead_facilitator_id.0)
        .bind(group.co_facilitator_id.map(|c| c.0))
        .bind(group.version)
        .bind(ts(now))
        .bind(id.0)
        .bind(json(&group.curriculum))
        .execute(&mut *tx)
        .await?;
        if group.max_size > current_max {
            // A larger group has seats for the waitlist: offered in this transaction. The
            // change is a director's design decision, so the offers are recorded as the
            // system's.
            self.refill_group(&mut tx, id, &AuditContext::nobody(), now)
                .await?;
        }
        tx.commit().await?;
        Ok(group)
    }

    /// Enrolls a client, checking size, level of care, enrollment model, separations and
    /// schedule clashes against the state inside this transaction.
    pub async fn enroll(
        &self,
        g: &GroupAccess<purpose::Enroll>,
        c: &PlaceAccess<purpose::Enroll>,
        new: &NewMembership,
        at: Timestamp,
    ) -> Result<Membership, StoreError> {
        let (group_id, ctx) = (g.group(), g.audit());
        if c.client() != new.client_id {
            return Err(DomainError::invalid("client_id", "names no client").into());
        }
        let now = at;
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Groups, group_id.0).await? {
            return Err(DomainError::not_found("group").into());
        }
        if !lock_row(&mut tx, LockTable::Clients, new.client_id.0).await? {
            return Err(DomainError::invalid("client_id", "names no client").into());
        }
        let group = group_in(&mut tx, group_id).await?;
        let client = crate::people::client_in(&mut tx, new.client_id).await?;
        let today = crate::placement::group_today(&mut tx, &group, now).await?;
        let facts = crate::placement::pair_facts(
            &mut tx,
            &group,
            new.client_id,
            client.current_level,
            new.start_date,
            today,
        )
        .await?;
        check_enrollment(&facts.enrollment(&group, new.start_date))?;
        let membership = crate::placement::insert_membership(
            &mut tx,
            group_id,
            new.client_id,
            new.start_date,
            now,
        )
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::MembershipCreate, &[new.client_id])
                .object(membership.id),
        )
        .await?;
        tx.commit().await?;
        Ok(membership)
    }

    /// A group's memberships, current and past, in a stable order.
    pub async fn list_memberships(
        &self,
        a: &GroupAccess<purpose::GroupMemberships>,
        page: PageRequest,
        at: Timestamp,
    ) -> Result<Page<Membership>, StoreError> {
        let (group, ctx) = (a.group(), a.audit());
        let mut tx = self.begin_read().await?;
        group_in(&mut tx, group).await?;
        let rows = sqlx::query_as::<_, MembershipRow>(&format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE group_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(group.0)
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let items = rows
            .into_iter()
            .map(Membership::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let page = page_of(items, page.limit, |m| m.id.0);
        let ids: Vec<ClientId> = page.items.iter().map(|m| m.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::MembershipRead, &ids).object(group),
        )
        .await?;
        Ok(page)
    }

    /// A group's memberships, current and past, each with the member's roster name: a
    /// group-scoped read (the access is to the group, not to each member's record), so the
    /// group's page lists former members without reading their charts.
    pub async fn list_members(
        &self,
        a: &GroupAccess<purpose::GroupMemberships>,
        at: Timestamp,
    ) -> Result<Vec<GroupMember>, StoreError> {
        let (group, ctx) = (a.group(), a.audit());
        let mut tx = self.begin_read().await?;
        group_in(&mut tx, group).await?;
        let rows = sqlx::query_as::<_, MemberRow>(
            "SELECT m.id, m.group_id, m.client_id, m.start_date, m.end_date, m.status, m.version, \
             c.given_name, c.family_name, c.preferred_name \
             FROM memberships m JOIN clients c ON c.id = m.client_id \
             WHERE m.group_id = $1 ORDER BY c.family_name, c.given_name, m.id",
        )
        .bind(group.0)
        .fetch_all(&mut *tx)
        .await?;
        let members = rows
            .into_iter()
            .map(|r| {
                Ok(GroupMember {
                    membership: Membership::try_from(r.membership)?,
                    roster_name: r.names.roster_name()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let ids: Vec<ClientId> = members.iter().map(|m| m.membership.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::MembershipRead, &ids).object(group),
        )
        .await?;
        Ok(members)
    }

    /// Memberships of one client, current and past.
    pub async fn client_memberships<P: purpose::ReadsMemberships>(
        &self,
        a: &ClientAccess<P>,
        at: Timestamp,
    ) -> Result<Vec<Membership>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        crate::people::client_in(&mut tx, client).await?;
        let rows = sqlx::query_as::<_, MembershipRow>(&format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE client_id = $1 ORDER BY id"
        ))
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(Membership::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::MembershipRead, &[client]),
        )
        .await?;
        Ok(list)
    }

    /// The lead and co-facilitator of a group (for authorization; no client data).
    pub async fn group_leads(
        &self,
        group: GroupId,
    ) -> Result<(ClinicianId, Option<ClinicianId>), StoreError> {
        let g = self.group(group).await?;
        Ok((g.lead_facilitator_id, g.co_facilitator_id))
    }

    pub async fn membership(&self, id: MembershipId) -> Result<Membership, StoreError> {
        let row = sqlx::query_as::<_, MembershipRow>(&format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("membership"))?;
        Membership::try_from(row)
    }

    /// Puts a membership on hold, back to active, or ends it (keeping its history).
    /// `a` is the access to the membership's group: a membership of another group is
    /// answered as not found.
    pub async fn change_membership(
        &self,
        a: &GroupAccess<purpose::MembershipUpdate>,
        id: MembershipId,
        change: &MembershipChange,
        now: Timestamp,
    ) -> Result<Membership, StoreError> {
        let ctx = a.audit();
        let current = self.membership(id).await?;
        if current.group_id != a.group() {
            return Err(DomainError::not_found("membership").into());
        }
        let mut tx = self.begin_write().await?;
        // The group's row first: a seat this change frees is offered in this transaction,
        // and nobody may take it in between.
        lock_row(&mut tx, LockTable::Groups, current.group_id.0).await?;
        change.check(&current)?;
        let row = sqlx::query_as::<_, MembershipRow>(&format!(
            "UPDATE memberships SET status = $1, end_date = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND version = $5 RETURNING {MEMBERSHIP_COLUMNS}"
        ))
        .bind(change.status.as_str())
        .bind(change.end_date.map(date))
        .bind(ts(now))
        .bind(id.0)
        .bind(change.version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(stale)?;
        let membership = Membership::try_from(row)?;
        append(
            &mut tx,
            self.audit_key(),
            now,
            Record::success(ctx, AuditAction::MembershipUpdate, &[membership.client_id]).object(id),
        )
        .await?;
        if membership.end_date.is_some() {
            self.refill_group(&mut tx, membership.group_id, ctx, now)
                .await?;
        }
        tx.commit().await?;
        Ok(membership)
    }
}

/// Checks a new group against its program, room and facilitators (`check_group_in`) and
/// inserts it (creation and the clinic import share it). The program's row is locked by
/// the caller.
pub(crate) async fn insert_group(
    tx: &mut Tx<'_>,
    program: &Program,
    new: &NewGroup,
    external_id: Option<&str>,
    today: Date,
    now: Timestamp,
) -> Result<Group, StoreError> {
    let default_max = DEFAULT_MAX_SIZE.min(program.max_group_size);
    let max_size = new.max_size.unwrap_or(default_max);
    let mut group = Group {
        id: GroupId(0),
        program_id: new.program_id,
        name: new.name.clone(),
        kind: new.kind,
        modality: new.modality,
        focus_concerns: new.focus_concerns.clone(),
        eligible_levels: new.eligible_levels.clone(),
        enrollment: new.enrollment,
        min_size: new.min_size.unwrap_or(DEFAULT_MIN_SIZE.min(max_size)),
        max_size,
        size_override_reason: new.size_override_reason.clone(),
        meetings: new.meetings.clone(),
        room_id: new.room_id,
        lead_facilitator_id: new.lead_facilitator_id,
        co_facilitator_id: new.co_facilitator_id,
        curriculum: new.curriculum.clone(),
        version: 1,
    };
    check_group_in(tx, &group, today).await?;
    let now = ts(now);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO therapy_groups (program_id, name, kind, modality, focus_concerns, \
         eligible_levels, enrollment, min_size, max_size, size_override_reason, meetings, room_id, \
         lead_facilitator_id, co_facilitator_id, curriculum, external_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $16, $17, $15, $15) RETURNING id",
    )
    .bind(group.program_id.0)
    .bind(group.name.as_str())
    .bind(group.kind.as_str())
    .bind(group.modality.map(|m| m.as_str().to_owned()))
    .bind(json(&group.focus_concerns))
    .bind(json(&group.eligible_levels))
    .bind(json(&group.enrollment))
    .bind(i64::from(group.min_size))
    .bind(i64::from(group.max_size))
    .bind(group.size_override_reason.as_ref().map(|r| r.as_str().to_owned()))
    .bind(json(&group.meetings))
    .bind(group.room_id.map(|r| r.0))
    .bind(group.lead_facilitator_id.0)
    .bind(group.co_facilitator_id.map(|c| c.0))
    .bind(&now)
    .bind(json(&group.curriculum))
    .bind(external_id)
    .fetch_one(&mut **tx)
    .await?;
    group.id = GroupId(id);
    Ok(group)
}
