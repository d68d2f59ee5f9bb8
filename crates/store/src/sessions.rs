//! Sessions materialised from weekly schedules, rosters derived from memberships, and
//! attendance.

use std::collections::HashMap;

use circle_domain::clinician::check_can_lead;
use circle_domain::group::{Enrollment, curriculum_topic};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, MembershipId, SessionId, UserId};
use circle_domain::schedule::occurrences;
use circle_domain::session::{
    Attendance, AttendanceInput, AttendanceStatus, CancelledSession, MaterializeRequest,
    NotifyMember, RosterEntry, Session, SessionCancellation, SessionDetails, SessionStatus,
    check_attendance_allowed,
};
use circle_domain::text::{Label, PersonName, ShortText, TimeZoneName};
use circle_domain::{DomainError, Rule};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::access::{SessionAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::{LockTable, date, json, lock_row, read, ts};
use crate::groups::group_in;
use crate::people::clinician_in;
use crate::programs::stale;
use crate::{Store, StoreError};
use circle_domain::audit::AuditAction;

pub(crate) const SESSION_COLUMNS: &str = "id, group_id, local_date, starts_at, ends_at, status, topic, \
     cancel_reason, lead_facilitator_id, facilitators_present, version";

/// A row of `SESSION_COLUMNS`.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: i64,
    group_id: i64,
    local_date: String,
    starts_at: String,
    ends_at: String,
    status: String,
    topic: Option<String>,
    cancel_reason: Option<String>,
    lead_facilitator_id: i64,
    facilitators_present: String,
    version: i64,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: SessionId(r.id),
            group_id: GroupId(r.group_id),
            local_date: read::date(&r.local_date, "local_date")?,
            starts_at: read::ts(&r.starts_at, "starts_at")?,
            ends_at: read::ts(&r.ends_at, "ends_at")?,
            status: read::vocab(&r.status, "status", SessionStatus::parse)?,
            // The stored topic is this session's own; `resolve_topics` fills in the
            // curriculum's where there is none.
            topic_overridden: r.topic.is_some(),
            topic: read::opt_parsed(r.topic, "topic")?,
            cancel_reason: read::opt_parsed(r.cancel_reason, "cancel_reason")?,
            lead_facilitator_id: ClinicianId(r.lead_facilitator_id),
            facilitators_present: read::json(&r.facilitators_present, "facilitators_present")?,
            version: r.version,
        })
    }
}

const ATTENDANCE_COLUMNS: &str = "session_id, client_id, status, minutes, participation, version";

/// A row of `ATTENDANCE_COLUMNS`.
#[derive(sqlx::FromRow)]
struct AttendanceRow {
    session_id: i64,
    client_id: i64,
    status: String,
    minutes: i64,
    participation: String,
    version: i64,
}

impl TryFrom<AttendanceRow> for Attendance {
    type Error = StoreError;
    fn try_from(r: AttendanceRow) -> Result<Self, StoreError> {
        Ok(Attendance {
            session_id: SessionId(r.session_id),
            client_id: ClientId(r.client_id),
            status: read::vocab(&r.status, "status", AttendanceStatus::parse)?,
            minutes: read::uint(r.minutes, "minutes")?,
            participation: read::json(&r.participation, "participation")?,
            version: r.version,
        })
    }
}

/// A client's name columns, read along with other columns (`#[sqlx(flatten)]`).
#[derive(sqlx::FromRow)]
pub(crate) struct NameColumns {
    given_name: String,
    family_name: String,
    preferred_name: Option<String>,
}

impl NameColumns {
    /// Preferred first name and last initial.
    pub(crate) fn roster_name(self) -> Result<String, StoreError> {
        let given: PersonName = read::parsed(self.given_name, "given_name")?;
        let preferred: Option<PersonName> =
            read::opt_parsed(self.preferred_name, "preferred_name")?;
        let family: PersonName = read::parsed(self.family_name, "family_name")?;
        let initial = family.as_str().chars().next().unwrap_or('?');
        Ok(format!(
            "{} {initial}.",
            preferred.as_ref().unwrap_or(&given)
        ))
    }

    /// Given, family and (when there is one) preferred name.
    pub(crate) fn words(self) -> Result<Vec<String>, StoreError> {
        let mut names = vec![
            read::parsed::<PersonName>(self.given_name, "given_name")?.to_string(),
            read::parsed::<PersonName>(self.family_name, "family_name")?.to_string(),
        ];
        if let Some(p) = read::opt_parsed::<PersonName>(self.preferred_name, "preferred_name")? {
            names.push(p.to_string());
        }
        Ok(names)
    }
}

/// A member on a roster, by name.
#[derive(sqlx::FromRow)]
struct MemberNameRow {
    client_id: i64,
    #[sqlx(flatten)]
    names: NameColumns,
}

/// A member on a session's roster with the attendance recorded, if any (the attendance
/// columns are NULL when none was).
#[derive(sqlx::FromRow)]
struct RosterRow {
    membership_id: i64,
    client_id: i64,
    #[sqlx(flatten)]
    names: NameColumns,
    session_id: Option<i64>,
    status: Option<String>,
    minutes: Option<i64>,
    participation: Option<String>,
    version: Option<i64>,
}

impl RosterRow {
    fn attendance(&self) -> Result<Option<Attendance>, StoreError> {
        let Some(session_id) = self.session_id else {
            return Ok(None);
        };
        let row = AttendanceRow {
            session_id,
            client_id: self.client_id,
            status: self.status.clone().ok_or(StoreError::Corrupt("status"))?,
            minutes: self.minutes.ok_or(StoreError::Corrupt("minutes"))?,
            participation: self
                .participation
                .clone()
                .ok_or(StoreError::Corrupt("participation"))?,
            version: self.version.ok_or(StoreError::Corrupt("version"))?,
        };
        Attendance::try_from(row).map(Some)
    }
}

/// Fills in each session's topic from its group's curriculum where none was set for the
/// session. Open and closed groups count the group's earlier sessions that were not
/// cancelled; rolling groups use the session's module. One statement per 200 sessions
/// (each session's count comes from the `sessions_group_start` index), however many
/// groups they belong to: Today and the calendar resolve topics on every view.
pub(crate) async fn resolve_topics(
    conn: &mut sqlx::AnyConnection,
    sessions: &mut [Session],
) -> Result<(), StoreError> {
    let ids: Vec<i64> = sessions
        .iter()
        .filter(|s| !s.topic_overridden)
        .map(|s| s.id.0)
        .collect();
    let mut ordinals: HashMap<i64, u64> = HashMap::new();
    // Per group: its enrollment and curriculum, `None` when it has no curriculum.
    let mut curricula: HashMap<i64, Option<(Enrollment, Vec<Label>)>> = HashMap::new();
    for chunk in ids.chunks(200) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        // Start times sort as text: RFC 3339 UTC with whole seconds.
        let sql = format!(
            "SELECT s.id, s.group_id, g.enrollment, g.curriculum, \
             (SELECT COUNT(*) FROM sessions o WHERE o.group_id = s.group_id \
             AND o.starts_at < s.starts_at AND o.status <> 'cancelled') AS ordinal \
             FROM sessions s JOIN therapy_groups g ON g.id = s.group_id WHERE s.id IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query_as::<_, TopicRow>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&mut *conn).await? {
            if let std::collections::hash_map::Entry::Vacant(e) = curricula.entry(r.group_id) {
                let curriculum: Vec<Label> = read::json(&r.curriculum, "curriculum")?;
                e.insert(if curriculum.is_empty() {
                    None
                } else {
                    Some((read::json(&r.enrollment, "enrollment")?, curriculum))
                });
            }
            ordinals.insert(r.id, u64::try_from(r.ordinal).unwrap_or(0));
        }
    }
    for s in sessions.iter_mut().filter(|s| !s.topic_overridden) {
        let (Some(Some((enrollment, curriculum))), Some(&ordinal)) =
            (curricula.get(&s.group_id.0), ordinals.get(&s.id.0))
        else {
            continue;
        };
        s.topic = curriculum_topic(curriculum, enrollment, s.local_date, ordinal)
            .and_then(|t| ShortText::parse(t.as_str()).ok());
    }
    Ok(())
}

/// A session's group curriculum and how many of the group's sessions before it were not
/// cancelled (its place in the curriculum).
#[derive(sqlx::FromRow)]
struct TopicRow {
    id: i64,
    group_id: i64,
    enrollment: String,
    curriculum: String,
    ordinal: i64,
}

impl Store {
    /// Creates the sessions of a group's weekly schedule for `weeks` weeks from `from`
    /// (idempotent: existing sessions are kept). Refuses — creating nothing — if the lead
    /// facilitator's license is not active on one of the dates.
    pub async fn materialize_sessions(
        &self,
        group_id: GroupId,
        req: &MaterializeRequest,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        req.validate()?;
        let until = req
            .from
            .checked_add(jiff::Span::new().days(i64::from(req.weeks) * 7))
            .map_err(|_| DomainError::invalid("from", "is outside the supported calendar"))?;
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Groups, group_id.0).await? {
            return Err(DomainError::not_found("group").into());
        }
        let group = group_in(&mut tx, group_id).await?;
        let tz: TimeZoneName =
            sqlx::query_scalar::<_, String>("SELECT time_zone FROM programs WHERE id = $1")
                .bind(group.program_id.0)
                .fetch_one(&mut *tx)
                .await?
                .try_into()
                .map_err(|_| StoreError::Corrupt("time_zone"))?;
        let lead = clinician_in(&mut tx, group.lead_facilitator_id).await?;
        let now = ts(now);
        for o in occurrences(&group.meetings, &tz.time_zone(), req.from, until)? {
            check_can_lead(&lead, o.local_date)?;
            sqlx::query(
                "INSERT INTO sessions (group_id, local_date, starts_at, ends_at, status, \
                 lead_facilitator_id, created_at, updated_at) VALUES ($1, $2, $3, $4, 'scheduled', $5, $6, $6) \
                 ON CONFLICT (group_id, starts_at) DO NOTHING",
            )
            .bind(group_id.0)
            .bind(date(o.local_date))
            .bind(ts(o.starts_at))
            .bind(ts(o.ends_at))
            .bind(lead.id.0)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.list_sessions(group_id, req.from, until).await
    }

    /// A group's sessions on local dates in `[from, until)`, in time order.
    pub async fn list_sessions(
        &self,
        group: GroupId,
        from: Date,
        until: Date,
    ) -> Result<Vec<Session>, StoreError> {
        self.group(group).await?;
        let rows = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE group_id = $1 AND local_date >= $2 \
             AND local_date < $3 ORDER BY starts_at"
        ))
        .bind(group.0)
        .bind(date(from))
        .bind(date(until))
        .fetch_all(self.pool())
        .await?;
        let mut list = rows
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.pool().acquire().await?;
        resolve_topics(&mut conn, &mut list).await?;
        Ok(list)
    }

    pub async fn session(&self, id: SessionId) -> Result<Session, StoreError> {
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("session"))?;
        let mut one = [Session::try_from(row)?];
        let mut conn = self.pool().acquire().await?;
        resolve_topics(&mut conn, &mut one).await?;
        let [session] = one;
        Ok(session)
    }

    /// Sets a session's own topic (an empty one returns to the curriculum's) or the
    /// facilitators present: each the group's lead or co-facilitator, or a clinician
    /// holding a license active on the session's date (a substitute).
    pub async fn update_session_details(
        &self,
        a: &SessionAccess<purpose::SessionRun>,
        details: &SessionDetails,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let id = a.session();
        details.validate()?;
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Sessions, id.0).await? {
            return Err(DomainError::not_found("session").into());
        }
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let session = Session::try_from(row)?;
        if session.version != details.version {
            return Err(stale());
        }
        let group = group_in(&mut tx, session.group_id).await?;
        let facilitators = match &details.facilitators_present {
            Some(list) => {
                for (i, c) in list.iter().enumerate() {
                    let field = format!("facilitators_present/{i}");
                    let clinician = clinician_in(&mut tx, *c)
                        .await
                        .map_err(|_| DomainError::invalid(field.clone(), "names no clinician"))?;
                    let leads =
                        *c == group.lead_facilitator_id || Some(*c) == group.co_facilitator_id;
                    if !leads && !clinician.licensed_on(session.local_date) {
                        return Err(DomainError::conflict(
                            Rule::NotAFacilitator,
                            format!(
                                "{field} is neither a facilitator of this group nor a clinician \
                                 licensed on the session's date who could substitute"
                            ),
                        )
                        .into());
                    }
                }
                list.clone()
            }
            None => session.facilitators_present.clone(),
        };
        let topic = match &details.topic {
            Some(t) if t.as_str().is_empty() => None,
            Some(t) => Some(t.as_str().to_owned()),
            None => session
                .topic
                .as_ref()
                .filter(|_| session.topic_overridden)
                .map(|t| t.as_str().to_owned()),
        };
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "UPDATE sessions SET topic = $1, facilitators_present = $2, version = version + 1, \
             updated_at = $3 WHERE id = $4 RETURNING {SESSION_COLUMNS}"
        ))
        .bind(topic)
        .bind(json(&facilitators))
        .bind(ts(now))
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let mut one = [Session::try_from(row)?];
        resolve_topics(&mut tx, &mut one).await?;
        tx.commit().await?;
        let [session] = one;
        Ok(session)
    }

    /// Whom to tell about a cancelled session: the members on its roster (by roster
    /// name) and its facilitators. Reading the roster is audited.
    pub async fn cancellation_notice(
        &self,
        a: &SessionAccess<purpose::SessionRun>,
        session: Session,
        at: Timestamp,
    ) -> Result<CancelledSession, StoreError> {
        if session.id != a.session() {
            return Err(DomainError::not_found("session").into());
        }
        let ctx = a.audit();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query_as::<_, MemberNameRow>(
            "SELECT m.client_id, c.given_name, c.family_name, c.preferred_name \
             FROM memberships m JOIN clients c ON c.id = m.client_id \
             WHERE m.group_id = $1 AND m.start_date <= $2 AND (m.end_date IS NULL OR m.end_date > $2) \
             AND m.status <> 'on_hold' ORDER BY c.family_name, c.given_name, m.client_id",
        )
        .bind(session.group_id.0)
        .bind(date(session.local_date))
        .fetch_all(&mut *tx)
        .await?;
        let members = rows
            .into_iter()
            .map(|r| {
                Ok(NotifyMember {
                    client_id: ClientId(r.client_id),
                    roster_name: r.names.roster_name()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let group = group_in(&mut tx, session.group_id).await?;
        let mut facilitators = vec![group.lead_facilitator_id];
        facilitators.extend(group.co_facilitator_id);
        for c in &session.facilitators_present {
            if !facilitators.contains(c) {
                facilitators.push(*c);
            }
        }
        let ids: Vec<ClientId> = members.iter().map(|m| m.client_id).collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::RosterRead, &ids).object(session.id),
        )
        .await?;
        tx.commit().await?;
        Ok(CancelledSession {
            session,
            notify_members: members,
            notify_facilitators: facilitators,
        })
    }

    /// The words to look for when a progress note must not name other members: for each
    /// member on the session's roster, their given, family and preferred names. The page
    /// uses them to say which member a refused signature found — a surname written alone
    /// or after a title ("Ms. Pryce") included — by the roster name it already shows.
    /// Audited as a roster read.
    pub async fn roster_name_words(
        &self,
        a: &SessionAccess<purpose::RosterRead>,
        at: Timestamp,
    ) -> Result<Vec<(ClientId, Vec<String>)>, StoreError> {
        let (id, ctx) = (a.session(), a.audit());
        let session = self.session(id).await?;
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, MemberNameRow>(
            "SELECT m.client_id, c.given_name, c.family_name, c.preferred_name \
             FROM memberships m JOIN clients c ON c.id = m.client_id \
             WHERE m.group_id = $1 AND m.start_date <= $2 AND (m.end_date IS NULL OR m.end_date > $2) \
             AND m.status <> 'on_hold' ORDER BY m.client_id",
        )
        .bind(session.group_id.0)
        .bind(date(session.local_date))
        .fetch_all(&mut *tx)
        .await?;
        let words = rows
            .into_iter()
            .map(|r| Ok((ClientId(r.client_id), r.names.words()?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let ids: Vec<ClientId> = words.iter().map(|(c, _)| *c).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::RosterRead, &ids).object(id),
        )
        .await?;
        Ok(words)
    }

    /// The roster of a session: members whose membership covers its date, with any
    /// attendance recorded.
    pub async fn roster(
        &self,
        a: &SessionAccess<purpose::RosterRead>,
        at: Timestamp,
    ) -> Result<Vec<RosterEntry>, StoreError> {
        let (id, ctx) = (a.session(), a.audit());
        let session = self.session(id).await?;
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, RosterRow>(
            "SELECT m.id AS membership_id, m.client_id, c.given_name, c.family_name, c.preferred_name, \
             a.session_id, a.status, a.minutes, a.participation, a.version \
             FROM memberships m JOIN clients c ON c.id = m.client_id \
             LEFT JOIN attendance a ON a.session_id = $3 AND a.client_id = m.client_id \
             WHERE m.group_id = $1 AND m.start_date <= $2 AND (m.end_date IS NULL OR m.end_date > $2) \
             AND m.status <> 'on_hold' ORDER BY c.family_name, c.given_name, m.client_id",
        )
        .bind(session.group_id.0)
        .bind(date(session.local_date))
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        let roster = rows
            .into_iter()
            .map(|r| {
                let attendance = r.attendance()?;
                Ok(RosterEntry {
                    client_id: ClientId(r.client_id),
                    membership_id: MembershipId(r.membership_id),
                    display_name: r.names.roster_name()?,
                    attendance,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let ids: Vec<ClientId> = roster.iter().map(|r| r.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::RosterRead, &ids).object(id),
        )
        .await?;
        Ok(roster)
    }

    /// Cancels a scheduled session with its reason.
    pub async fn cancel_session(
        &self,
        a: &SessionAccess<purpose::SessionRun>,
        c: &SessionCancellation,
        now: Timestamp,
    ) -> Result<Session, StoreError> {
        let id = a.session();
        let session = self.session(id).await?;
        match session.status {
            SessionStatus::Cancelled => {
                return Err(DomainError::conflict(
                    Rule::SessionCancelled,
                    "the session is already cancelled",
                )
                .into());
            }
            SessionStatus::Held => {
                return Err(DomainError::conflict(
                    Rule::InUse,
                    "attendance has been recorded for this session; it cannot be cancelled",
                )
                .into());
            }
            SessionStatus::Scheduled => {}
        }
        // In a transaction, not autocommit: on SQLite an autocommit `… RETURNING` read with
        // fetch_one/fetch_optional commits when the statement is reset, after the row was
        // handed back, and sqlx drops the reset's error — a failed commit (a full disk)
        // would be reported as success (issue 16, item 1).
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "UPDATE sessions SET status = 'cancelled', cancel_reason = $1, version = version + 1, \
             updated_at = $2 WHERE id = $3 AND version = $4 AND status = 'scheduled' RETURNING {SESSION_COLUMNS}"
        ))
        .bind(c.reason.as_str())
        .bind(ts(now))
        .bind(id.0)
        .bind(c.version)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(stale)?;
        let cancelled = Session::try_from(row)?;
        // Members hear of it from the same transaction (issue 18).
        self.queue_cancellation(&mut tx, &cancelled, now).await?;
        tx.commit().await?;
        let mut one = [cancelled];
        let mut conn = self.pool().acquire().await?;
        resolve_topics(&mut conn, &mut one).await?;
        let [session] = one;
        Ok(session)
    }

    /// Records or corrects one member's attendance; the session becomes `held`.
    /// The client is named by id: a client not on this session's roster is refused, so the
    /// session's access is the only reach this needs.
    pub async fn record_attendance(
        &self,
        a: &SessionAccess<purpose::AttendanceWrite>,
        client: ClientId,
        input: &AttendanceInput,
        at: Timestamp,
    ) -> Result<Attendance, StoreError> {
        let (session_id, ctx) = (a.session(), a.audit());
        let recorded_by: Option<UserId> = ctx.actor_user_id();
        let now = at;
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Sessions, session_id.0).await? {
            return Err(DomainError::not_found("session").into());
        }
        let row = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(session_id.0)
        .fetch_one(&mut *tx)
        .await?;
        let session = Session::try_from(row)?;
        check_attendance_allowed(&session, now)?;
        let on_roster: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE group_id = $1 AND client_id = $2 \
             AND start_date <= $3 AND (end_date IS NULL OR end_date > $3) AND status <> 'on_hold'",
        )
        .bind(session.group_id.0)
        .bind(client.0)
        .bind(date(session.local_date))
        .fetch_one(&mut *tx)
        .await?;
        if on_roster == 0 {
            return Err(DomainError::conflict(
                Rule::NotOnRoster,
                "the client is not on this session's roster",
            )
            .into());
        }
        // Attending needs a signed group agreement (intake slice).
        crate::intake::check_agreement_signed(
            &mut tx,
            client,
            input.status.attended(),
            session.local_date,
        )
        .await?;
        let minutes = input.minutes_for(&session)?;
        let participation = input.participation_set()?;
        let now = ts(now);
        let row = sqlx::query_as::<_, AttendanceRow>(&format!(
            "INSERT INTO attendance (session_id, client_id, status, minutes, recorded_by, created_at, updated_at, participation) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
             ON CONFLICT (session_id, client_id) DO UPDATE SET status = excluded.status, \
             minutes = excluded.minutes, recorded_by = excluded.recorded_by, \
             participation = excluded.participation, \
             version = attendance.version + 1, updated_at = excluded.updated_at \
             RETURNING {ATTENDANCE_COLUMNS}",
        ))
        .bind(session_id.0)
        .bind(client.0)
        .bind(input.status.as_str())
        .bind(i64::from(minutes))
        .bind(recorded_by.map(|u| u.0))
        .bind(&now)
        .bind(json(&participation))
        .fetch_one(&mut *tx)
        .await?;
        let attendance = Attendance::try_from(row)?;
        sqlx::query(
            "UPDATE sessions SET status = 'held', version = version + 1, updated_at = $1 \
             WHERE id = $2 AND status = 'scheduled'",
        )
        .bind(&now)
        .bind(session_id.0)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::AttendanceWrite, &[client]).object(session_id),
        )
        .await?;
        tx.commit().await?;
        Ok(attendance)
    }

    pub async fn attendance(
        &self,
        a: &SessionAccess<purpose::AttendanceRead>,
        at: Timestamp,
    ) -> Result<Vec<Attendance>, StoreError> {
        let (session, ctx) = (a.session(), a.audit());
        self.session(session).await?;
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, AttendanceRow>(&format!(
            "SELECT {ATTENDANCE_COLUMNS} FROM attendance WHERE session_id = $1 ORDER BY client_id",
        ))
        .bind(session.0)
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(Attendance::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<ClientId> = list.iter().map(|a| a.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::AttendanceRead, &ids).object(session),
        )
        .await?;
        Ok(list)
    }
}
