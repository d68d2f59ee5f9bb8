//! The client portal and the public pages: a client's own groups and upcoming sessions,
//! their secret calendar feed, the public directory of groups open to self-referral, and
//! referrals from outside therapists. Nothing here ever returns another member's data; the
//! directory returns seat availability as a yes/no, never a count.

use std::collections::{BTreeMap, HashMap};

use crate::access::{AuditContext, ClientAccess, purpose};
use circle_domain::audit::AuditAction;
use circle_domain::care::LevelOfCare;
use circle_domain::client::ReferralSource;
use circle_domain::group::Group;
use circle_domain::ids::{ClientId, GroupId};
use circle_domain::intake::{NewReferral, ReferralDetails};
use circle_domain::program::Program;
use circle_domain::session::SessionStatus;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::audit::{Record, append};
use crate::codec::{date, read, ts};
use crate::groups::{GROUP_COLUMNS, GroupRow};
use crate::intake::{PublicSource, RateLimit, SelfReferralOutcome};
use crate::measures::DueFacts;
use crate::programs::{PROGRAM_COLUMNS, ProgramRow};
use crate::{Store, StoreError};

/// One of a client's current groups, as the client may see it.
#[derive(Debug, Clone)]
pub struct OwnGroup {
    pub group: Group,
    /// The program's IANA time zone, in which the group meets.
    pub time_zone: String,
    /// `None` for telehealth groups.
    pub room_name: Option<String>,
    pub member_since: Date,
    /// A telehealth group's join URL (the member's own group: members see it).
    pub join_url: Option<String>,
}

/// One upcoming session of a client's groups.
#[derive(Debug, Clone)]
pub struct OwnSession {
    pub session_id: i64,
    pub group_id: GroupId,
    pub group_name: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub time_zone: String,
    pub room_name: Option<String>,
    pub cancelled: bool,
    /// The session's join URL (its own, else its group's), if it meets online.
    pub join_url: Option<String>,
}

/// A group in the public directory.
#[derive(Debug, Clone)]
pub struct DirectoryEntry {
    pub group: Group,
    pub time_zone: String,
    /// `None` for telehealth groups.
    pub room_name: Option<String>,
    /// Whether a seat is free (else newcomers join the waitlist).
    pub seats_open: bool,
}

/// A group the client belongs to, with its program's time zone and room.
#[derive(sqlx::FromRow)]
struct OwnGroupRow {
    #[sqlx(flatten)]
    group: GroupRow,
    tz: String,
    room_name: Option<String>,
    start_date: String,
    group_join_url: Option<String>,
}

/// How many seats of a group are taken.
#[derive(sqlx::FromRow)]
struct FilledRow {
    group_id: i64,
    n: i64,
}

/// A group in the public directory, with its program's time zone and level and its room.
#[derive(sqlx::FromRow)]
struct DirectoryRow {
    #[sqlx(flatten)]
    group: GroupRow,
    tz: String,
    program_level: String,
    room_name: Option<String>,
}

/// A session on someone's calendar, as read (the portal's own schedule, a staff feed).
#[derive(sqlx::FromRow)]
pub(crate) struct CalendarSessionRow {
    id: i64,
    group_id: i64,
    group_name: String,
    starts_at: String,
    ends_at: String,
    tz: String,
    room_name: Option<String>,
    status: String,
    join_url: Option<String>,
}

impl TryFrom<CalendarSessionRow> for OwnSession {
    type Error = StoreError;

    fn try_from(r: CalendarSessionRow) -> Result<Self, StoreError> {
        Ok(OwnSession {
            session_id: r.id,
            group_id: GroupId(r.group_id),
            group_name: r.group_name,
            starts_at: read::ts(&r.starts_at, "starts_at")?,
            ends_at: read::ts(&r.ends_at, "ends_at")?,
            time_zone: r.tz,
            room_name: r.room_name,
            cancelled: r.status == SessionStatus::Cancelled.as_str(),
            join_url: r.join_url,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LastAnsweredRow {
    pub(crate) instrument_code: String,
    pub(crate) last: String,
}

#[derive(sqlx::FromRow)]
struct EpisodeCadenceRow {
    started_on: String,
    ended_on: Option<String>,
    cadence: i64,
}

impl Store {
    /// A client's current groups (memberships active or on hold, not ended before
    /// `today`) and their sessions starting in `span` within each membership's
    /// dates. One audited read of the client's schedule (`object` says how it was read).
    pub async fn own_schedule(
        &self,
        a: &ClientAccess<purpose::ScheduleRead>,
        today: Date,
        span: std::ops::Range<Timestamp>,
        object: &str,
        at: Timestamp,
    ) -> Result<(Vec<OwnGroup>, Vec<OwnSession>), StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        let cols = GROUP_COLUMNS
            .split(", ")
            .map(|c| format!("g.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query_as::<_, OwnGroupRow>(&format!(
            "SELECT {cols}, p.time_zone AS tz, r.name AS room_name, m.start_date, \
             g.join_url AS group_join_url \
             FROM memberships m JOIN therapy_groups g ON g.id = m.group_id \
             JOIN programs p ON p.id = g.program_id LEFT JOIN rooms r ON r.id = g.room_id \
             WHERE m.client_id = $1 AND m.status IN ('active', 'on_hold') \
             AND (m.end_date IS NULL OR m.end_date > $2) ORDER BY g.name, g.id"
        ))
        .bind(client.0)
        .bind(date(today))
        .fetch_all(&mut *tx)
        .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for r in rows {
            groups.push(OwnGroup {
                group: Group::try_from(r.group)?,
                time_zone: r.tz,
                room_name: r.room_name,
                member_since: read::date(&r.start_date, "start_date")?,
                join_url: r.group_join_url,
            });
        }
        let rows = sqlx::query_as::<_, CalendarSessionRow>(
            "SELECT s.id, s.group_id, s.starts_at, s.ends_at, s.status, g.name AS group_name, \
             p.time_zone AS tz, r.name AS room_name, COALESCE(s.join_url, g.join_url) AS join_url \
             FROM sessions s JOIN memberships m ON m.group_id = s.group_id \
             JOIN therapy_groups g ON g.id = s.group_id JOIN programs p ON p.id = g.program_id \
             LEFT JOIN rooms r ON r.id = g.room_id \
             WHERE m.client_id = $1 AND m.status IN ('active', 'on_hold') \
             AND s.local_date >= m.start_date AND (m.end_date IS NULL OR s.local_date < m.end_date) \
             AND s.starts_at >= $2 AND s.starts_at < $3 ORDER BY s.starts_at, s.id",
        )
        .bind(client.0)
        .bind(ts(span.start))
        .bind(ts(span.end))
        .fetch_all(&mut *tx)
        .await?;
        let sessions = rows
            .into_iter()
            .map(OwnSession::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ScheduleRead, &[client]).object(object),
        )
        .await?;
        Ok((groups, sessions))
    }

    /// When the client's calendar feed was made, if they have one.
    pub async fn calendar_feed_created(
        &self,
        client: ClientId,
    ) -> Result<Option<Timestamp>, StoreError> {
        let created: Option<String> =
            sqlx::query_scalar("SELECT created_at FROM calendar_feeds WHERE client_id = $1")
                .bind(client.0)
                .fetch_optional(self.pool())
                .await?;
        created.map(|t| read::ts(&t, "created_at")).transpose()
    }

    /// Stores the digest of a client's new feed secret, replacing any earlier one.
    pub async fn set_calendar_feed(
        &self,
        a: &ClientAccess<purpose::FeedWrite>,
        secret_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM calendar_feeds WHERE client_id = $1")
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO calendar_feeds (client_id, secret_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(client.0)
        .bind(secret_hash)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::FeedWrite, &[client]).object("create"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a client's feed; its URL stops working at once.
    pub async fn revoke_calendar_feed(
        &self,
        a: &ClientAccess<purpose::FeedWrite>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM calendar_feeds WHERE client_id = $1")
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::FeedWrite, &[client]).object("revoke"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The client whose feed secret has this digest, if any.
    pub async fn calendar_feed_client(
        &self,
        secret_hash: &str,
    ) -> Result<Option<ClientId>, StoreError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT client_id FROM calendar_feeds WHERE secret_hash = $1")
                .bind(secret_hash)
                .fetch_optional(self.pool())
                .await?;
        Ok(id.map(ClientId))
    }

    /// The programs that admit above outpatient (residential, PHP, IOP), by name: what a
    /// referring therapist may ask an admission to on the public page. No client data is
    /// read.
    pub async fn admission_programs(&self) -> Result<Vec<Program>, StoreError> {
        let rows = sqlx::query_as::<_, ProgramRow>(&format!(
            "SELECT {PROGRAM_COLUMNS} FROM programs WHERE level_of_care <> 'outpatient' \
             ORDER BY name, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(Program::try_from).collect()
    }

    /// The groups open to self-referral: those of outpatient (stand-alone) programs or
    /// that take outpatient clients, which a newcomer can still join (not a closed cohort
    /// that has started), with whether a seat is free. No client data is read.
    pub async fn directory(&self, today: Date) -> Result<Vec<DirectoryEntry>, StoreError> {
        let cols = GROUP_COLUMNS
            .split(", ")
            .map(|c| format!("g.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query_as::<_, DirectoryRow>(&format!(
            "SELECT {cols}, p.time_zone AS tz, p.level_of_care AS program_level, \
             r.name AS room_name FROM therapy_groups g JOIN programs p ON p.id = g.program_id \
             LEFT JOIN rooms r ON r.id = g.room_id ORDER BY g.name, g.id"
        ))
        .fetch_all(&mut *conn)
        .await?;
        let filled: HashMap<i64, i64> = sqlx::query_as::<_, FilledRow>(
            "SELECT group_id, COUNT(*) AS n FROM memberships WHERE status IN ('active', 'on_hold') \
             AND start_date <= $1 AND (end_date IS NULL OR end_date > $1) GROUP BY group_id",
        )
        .bind(date(today))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.group_id, r.n))
        .collect();
        let mut out = Vec::new();
        for r in rows {
            let group = Group::try_from(r.group)?;
            let outpatient = r.program_level == LevelOfCare::Outpatient.as_str()
                || group.eligible_levels.contains(&LevelOfCare::Outpatient);
            if !outpatient || group.enrollment.next_join_date(today).is_none() {
                continue;
            }
            let n = filled.get(&group.id.0).copied().unwrap_or(0);
            out.push(DirectoryEntry {
                seats_open: n < i64::from(group.max_size),
                time_zone: r.tz,
                room_name: r.room_name,
                group,
            });
        }
        Ok(out)
    }

    /// A referral from an outside therapist through the public page: no sign-in, limited
    /// per source address together with self-referrals (the same attempts table).
    pub async fn submit_therapist_referral(
        &self,
        new: &NewReferral,
        source: PublicSource<'_>,
        limit: RateLimit,
        ctx: &AuditContext,
        at: Timestamp,
    ) -> Result<SelfReferralOutcome, StoreError> {
        if new.path != ReferralSource::TherapistReferral
            || new.client_id.is_some()
            || new.screener_id.is_some()
            || new.level_of_care.is_some()
        {
            return Err(circle_domain::DomainError::invalid(
                "path",
                "the public referral page takes referrals from therapists only",
            )
            .into());
        }
        // A referral to an admission names a program that admits above outpatient; its
        // level of care is the program's.
        let admission = match new.program_id {
            None => None,
            Some(program) => {
                let level: Option<String> =
                    sqlx::query_scalar("SELECT level_of_care FROM programs WHERE id = $1")
                        .bind(program.0)
                        .fetch_optional(self.pool())
                        .await?;
                match level.as_deref().and_then(LevelOfCare::parse) {
                    Some(l) if l != LevelOfCare::Outpatient => Some((program, l)),
                    _ => {
                        return Err(circle_domain::DomainError::invalid(
                            "program_id",
                            "names no program that takes admissions",
                        )
                        .into());
                    }
                }
            }
        };
        let mut new = new.clone();
        new.level_of_care = admission.map(|(_, l)| l);
        new.validate()?;
        let details = ReferralDetails {
            name: new.name.clone(),
            email: new.email.clone(),
            phone: new.phone.clone(),
            reason: new.reason.clone(),
            provider: new.provider.clone(),
        };
        self.public_referral(
            ReferralSource::TherapistReferral,
            &details,
            &new.preferred_times,
            admission,
            source,
            limit,
            ctx,
            at,
        )
        .await
    }

    /// The due-rule facts of one client (their latest episode, the program's cadence and
    /// when each instrument was last answered), for their own check-ins; an audited read.
    pub async fn own_due_facts(
        &self,
        a: &ClientAccess<purpose::OwnDue>,
        at: Timestamp,
    ) -> Result<Option<DueFacts>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        let row = sqlx::query_as::<_, EpisodeCadenceRow>(
            "SELECT e.started_on, e.ended_on, COALESCE(p.measure_cadence_days, 14) AS cadence \
             FROM episodes e LEFT JOIN programs p ON p.id = e.program_id \
             WHERE e.client_id = $1 ORDER BY e.started_on DESC, e.id DESC LIMIT 1",
        )
        .bind(client.0)
        .fetch_optional(&mut *tx)
        .await?;
        let mut facts = match row {
            Some(r) => Some(DueFacts {
                client_id: client,
                episode_start: read::date(&r.started_on, "started_on")?,
                episode_end: read::opt_date(r.ended_on.as_deref(), "ended_on")?,
                cadence_days: r.cadence,
                last: BTreeMap::new(),
            }),
            None => None,
        };
        if let Some(f) = &mut facts {
            let rows = sqlx::query_as::<_, LastAnsweredRow>(
                "SELECT instrument_code, MAX(administered_at) AS last FROM measure_responses \
                 WHERE client_id = $1 GROUP BY instrument_code",
            )
            .bind(client.0)
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                f.last.insert(r.instrument_code, read::ts(&r.last, "last")?);
            }
        }
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::MeasureDueList, &[client]),
        )
        .await?;
        Ok(facts)
    }
}
