//! Staff calendar feeds, join URLs and the clinic's calendar settings (issue 15).
//!
//! A staff feed shows one clinician's sessions (those they lead or co-lead, with rooms and,
//! for telehealth, the join URL) or one room's sessions (never a join URL: a room's feed
//! may hang on a front-desk screen). Schedules hold no client data, so a feed's fetch is not
//! an audited read; making, replacing and revoking a feed are recorded. As for clients'
//! feeds, only a digest of the secret is kept.

use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClinicianId, RoomId};
use circle_domain::telehealth::{CalendarSettings, JoinUrl};
use jiff::Timestamp;

use crate::access::{GroupAccess, RoleAccess, SessionAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::{read, ts};
use crate::{Store, StoreError};

/// A staff feed's owner, as stored: exactly one of the two is set.
#[derive(sqlx::FromRow)]
struct FeedTargetRow {
    clinician_id: Option<i64>,
    room_id: Option<i64>,
}

/// Whose schedule a staff feed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedTarget {
    Clinician(ClinicianId),
    Room(RoomId),
}

impl FeedTarget {
    /// `clinician:ID` or `room:ID`: the audit entry's object, and the calendar page's value.
    pub fn object(self) -> String {
        match self {
            Self::Clinician(c) => format!("clinician:{}", c.0),
            Self::Room(r) => format!("room:{}", r.0),
        }
    }

    fn columns(self) -> (Option<i64>, Option<i64>) {
        match self {
            Self::Clinician(c) => (Some(c.0), None),
            Self::Room(r) => (None, Some(r.0)),
        }
    }
}

/// A session as a staff feed shows it: the same shape as a client's own schedule, with
/// the join URL only in a clinician's feed.
pub type StaffFeedSession = crate::portal::OwnSession;

impl Store {
    /// When the target's feed was made, if it has one.
    pub async fn staff_feed_created(
        &self,
        target: FeedTarget,
    ) -> Result<Option<Timestamp>, StoreError> {
        let (c, r) = target.columns();
        let created: Option<String> = sqlx::query_scalar(
            "SELECT created_at FROM staff_calendar_feeds WHERE clinician_id = $1 OR room_id = $2",
        )
        .bind(c.unwrap_or(-1))
        .bind(r.unwrap_or(-1))
        .fetch_optional(self.pool())
        .await?;
        created.map(|t| read::ts(&t, "created_at")).transpose()
    }

    /// Stores the digest of a new feed secret for `target`, replacing any earlier one.
    pub async fn set_staff_feed(
        &self,
        a: &RoleAccess<purpose::StaffFeedWrite>,
        target: FeedTarget,
        secret_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (c, r) = target.columns();
        let exists: Option<i64> = match target {
            FeedTarget::Clinician(id) => {
                sqlx::query_scalar("SELECT id FROM clinicians WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            FeedTarget::Room(id) => {
                sqlx::query_scalar("SELECT id FROM rooms WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        if exists.is_none() {
            return Err(DomainError::not_found(match target {
                FeedTarget::Clinician(_) => "clinician",
                FeedTarget::Room(_) => "room",
            })
            .into());
        }
        sqlx::query("DELETE FROM staff_calendar_feeds WHERE clinician_id = $1 OR room_id = $2")
            .bind(c.unwrap_or(-1))
            .bind(r.unwrap_or(-1))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staff_calendar_feeds (clinician_id, room_id, secret_hash, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(c)
        .bind(r)
        .bind(secret_hash)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(a.audit(), AuditAction::FeedWrite, &[])
                .object(format!("create {}", target.object())),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes the target's feed; its URL stops working at once.
    pub async fn revoke_staff_feed(
        &self,
        a: &RoleAccess<purpose::StaffFeedWrite>,
        target: FeedTarget,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (c, r) = target.columns();
        sqlx::query("DELETE FROM staff_calendar_feeds WHERE clinician_id = $1 OR room_id = $2")
            .bind(c.unwrap_or(-1))
            .bind(r.unwrap_or(-1))
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(a.audit(), AuditAction::FeedWrite, &[])
                .object(format!("revoke {}", target.object())),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The target of the staff feed whose secret has this digest, if any.
    pub async fn staff_feed_target(
        &self,
        secret_hash: &str,
    ) -> Result<Option<FeedTarget>, StoreError> {
        let row = sqlx::query_as::<_, FeedTargetRow>(
            "SELECT clinician_id, room_id FROM staff_calendar_feeds WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(match (row.clinician_id, row.room_id) {
            (Some(c), _) => Some(FeedTarget::Clinician(ClinicianId(c))),
            (None, Some(r)) => Some(FeedTarget::Room(RoomId(r))),
            (None, None) => return Err(StoreError::Corrupt("staff_calendar_feeds")),
        })
    }

    /// The sessions a staff feed shows, starting in `span`: a clinician's (the session's
    /// lead, or the group's lead or co-lead, as the calendar page counts them) with join
    /// URLs, or a room's without.
    pub async fn staff_feed_sessions(
        &self,
        target: FeedTarget,
        span: std::ops::Range<Timestamp>,
    ) -> Result<Vec<StaffFeedSession>, StoreError> {
        let (c, r) = target.columns();
        let rows = sqlx::query_as::<_, crate::portal::CalendarSessionRow>(
            "SELECT s.id, s.group_id, s.starts_at, s.ends_at, s.status, \
             COALESCE(s.join_url, g.join_url) AS join_url, g.name AS group_name, \
             p.time_zone AS tz, r.name AS room_name \
             FROM sessions s JOIN therapy_groups g ON g.id = s.group_id \
             JOIN programs p ON p.id = g.program_id LEFT JOIN rooms r ON r.id = g.room_id \
             WHERE s.starts_at >= $1 AND s.starts_at < $2 \
             AND ((s.lead_facilitator_id = $3 OR g.lead_facilitator_id = $3 OR g.co_facilitator_id = $3) \
                  OR g.room_id = $4) \
             ORDER BY s.starts_at, s.id",
        )
        .bind(ts(span.start))
        .bind(ts(span.end))
        .bind(c.unwrap_or(-1))
        .bind(r.unwrap_or(-1))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut session = StaffFeedSession::try_from(row)?;
            if matches!(target, FeedTarget::Room(_)) {
                // A room's feed may hang on a front-desk screen: never a join URL.
                session.join_url = None;
            }
            out.push(session);
        }
        Ok(out)
    }

    /// The clinic's calendar settings.
    pub async fn calendar_settings(&self) -> Result<CalendarSettings, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT staff_feed_group_names FROM clinic_settings WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(CalendarSettings {
            staff_feed_group_names: v == Some(1),
        })
    }

    pub async fn set_calendar_settings(
        &self,
        _a: &RoleAccess<purpose::CalendarSettings>,
        settings: CalendarSettings,
        at: Timestamp,
    ) -> Result<CalendarSettings, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE clinic_settings SET staff_feed_group_names = $1, updated_at = $2 WHERE id = 1",
        )
        .bind(i64::from(settings.staff_feed_group_names))
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(settings)
    }

    /// Sets or removes a telehealth group's join URL. A group that meets in a room has
    /// none (422): its sessions may still each be moved online with their own URL.
    pub async fn set_group_join_url(
        &self,
        a: &GroupAccess<purpose::GroupJoinUrl>,
        url: Option<&JoinUrl>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let room: Option<Option<i64>> =
            sqlx::query_scalar("SELECT room_id FROM therapy_groups WHERE id = $1")
                .bind(a.group().0)
                .fetch_optional(&mut *tx)
                .await?;
        match room {
            None => return Err(DomainError::not_found("group").into()),
            Some(Some(_)) if url.is_some() => {
                return Err(DomainError::invalid(
                    "join_url",
                    "only a telehealth group (one without a room) has a join URL; set it on a session to move that session online",
                )
                .into());
            }
            Some(_) => {}
        }
        sqlx::query("UPDATE therapy_groups SET join_url = $1, updated_at = $2 WHERE id = $3")
            .bind(url.map(JoinUrl::as_str))
            .bind(ts(at))
            .bind(a.group().0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A group's join URL (for whoever designs it).
    pub async fn group_join_url(
        &self,
        a: &GroupAccess<purpose::GroupJoinUrl>,
    ) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT join_url FROM therapy_groups WHERE id = $1")
                .bind(a.group().0)
                .fetch_optional(self.pool())
                .await?;
        v.ok_or_else(|| DomainError::not_found("group").into())
    }

    /// Sets or removes one session's own join URL (removed, the group's applies).
    pub async fn set_session_join_url(
        &self,
        a: &SessionAccess<purpose::SessionJoinUrl>,
        url: Option<&JoinUrl>,
        at: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("UPDATE sessions SET join_url = $1, updated_at = $2 WHERE id = $3")
            .bind(url.map(JoinUrl::as_str))
            .bind(ts(at))
            .bind(a.session().0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(DomainError::not_found("session").into());
        }
        tx.commit().await?;
        self.session_join_url(a).await
    }

    /// The join URL in force for a session: its own, else its group's.
    pub async fn session_join_url<P: purpose::ReadsJoinUrl>(
        &self,
        a: &SessionAccess<P>,
    ) -> Result<Option<String>, StoreError> {
        let v: Option<Option<String>> = sqlx::query_scalar(
            "SELECT COALESCE(s.join_url, g.join_url) FROM sessions s \
             JOIN therapy_groups g ON g.id = s.group_id WHERE s.id = $1",
        )
        .bind(a.session().0)
        .fetch_optional(self.pool())
        .await?;
        v.ok_or_else(|| DomainError::not_found("session").into())
    }
}
