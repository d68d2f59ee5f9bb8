//! Emergency ("break-glass") access: grants made in advance, accesses opened with a
//! sealed reason for a limited time, and the list directors review.

use crate::access::{RoleAccess, purpose};
use circle_domain::DomainError;
use circle_domain::audit::{AuditAction, EmergencyAccess};
use circle_domain::ids::{ClientId, UserId};
use circle_domain::text::ShortText;
use jiff::{SignedDuration, Timestamp};

use crate::audit::{Record, append};
use crate::codec::{read, ts, whole_second};
use crate::{Store, StoreError};

fn reason_aad(id: i64) -> circle_vault::Aad {
    crate::sealed::EMERGENCY_REASON.aad(id)
}

#[derive(sqlx::FromRow)]
struct EmergencyRow {
    id: i64,
    reason: Option<String>,
    user_id: i64,
    client_id: i64,
    started_at: String,
    expires_at: String,
}

impl Store {
    /// Grants (or revokes) a user the capability to open charts in an emergency: a
    /// clinic-wide director, never for themself, so nobody opens a chart alone. Revoking
    /// also ends, at once, every access the user has open. A privilege change, audited.
    pub async fn set_emergency_grant(
        &self,
        who: &RoleAccess<purpose::EmergencyGrant>,
        user: UserId,
        granted: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = who.audit();
        if who.user() == user {
            return Err(DomainError::invalid(
                "user",
                "must be someone else: emergency access is granted by another person",
            )
            .into());
        }
        let mut tx = self.begin_write().await?;
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?;
        if exists == 0 {
            return Err(DomainError::not_found("user").into());
        }
        if granted {
            sqlx::query(
                "INSERT INTO emergency_grants (user_id, granted_by, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(user.0)
            .bind(ctx.actor_user_id().map(|u| u.0))
            .bind(ts(at))
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query("DELETE FROM emergency_grants WHERE user_id = $1")
                .bind(user.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE emergency_accesses SET expires_at = $2 WHERE user_id = $1 AND expires_at > $2",
            )
            .bind(user.0)
            .bind(ts(at))
            .execute(&mut *tx)
            .await?;
        }
        let action = if granted {
            AuditAction::PrivilegeGrant
        } else {
            AuditAction::PrivilegeRevoke
        };
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, action, &[]).object(format!("user:{}", user.0)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Opens an emergency access for `minutes` if the user holds a grant; audited with
    /// the access's own id so every later action under it is traceable.
    pub async fn open_emergency_access(
        &self,
        who: &RoleAccess<purpose::EmergencyOpen>,
        client: ClientId,
        reason: &ShortText,
        minutes: i64,
        at: Timestamp,
    ) -> Result<EmergencyAccess, StoreError> {
        let (user, ctx) = (who.user(), who.audit());
        let mut tx = self.begin_write().await?;
        let granted: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM emergency_grants WHERE user_id = $1")
                .bind(user.0)
                .fetch_one(&mut *tx)
                .await?;
        if granted == 0 {
            return Err(DomainError::Forbidden.into());
        }
        crate::people::client_in(&mut tx, client).await?;
        let expires = at
            .checked_add(SignedDuration::from_mins(minutes))
            .map_err(|_| DomainError::invalid("minutes", "is too large"))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO emergency_accesses (user_id, client_id, reason, started_at, expires_at) \
             VALUES ($1, $2, NULL, $3, $4) RETURNING id",
        )
        .bind(user.0)
        .bind(client.0)
        .bind(ts(at))
        .bind(ts(expires))
        .fetch_one(&mut *tx)
        .await?;
        let sealed = self.seal(reason.as_str(), &reason_aad(id))?;
        sqlx::query("UPDATE emergency_accesses SET reason = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let flagged = ctx.under_emergency(id);
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(&flagged, AuditAction::EmergencyOpen, &[client]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(EmergencyAccess {
            id,
            user_id: user,
            client_id: client,
            reason: Some(reason.clone()),
            started_at: whole_second(at),
            expires_at: whole_second(expires),
        })
    }

    /// The id of the user's emergency access to this client that is active at `at`.
    pub async fn active_emergency_access(
        &self,
        user: UserId,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(id) FROM emergency_accesses WHERE user_id = $1 AND client_id = $2 \
             AND started_at <= $3 AND expires_at > $3",
        )
        .bind(user.0)
        .bind(client.0)
        .bind(ts(at))
        .fetch_one(self.pool())
        .await?)
    }

    /// Every emergency access, newest first, with reasons, for review; audited.
    pub async fn emergency_accesses(
        &self,
        who: &RoleAccess<purpose::EmergencyReview>,
        at: Timestamp,
    ) -> Result<Vec<EmergencyAccess>, StoreError> {
        let ctx = who.audit();
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, EmergencyRow>(
            "SELECT id, user_id, client_id, reason, started_at, expires_at FROM emergency_accesses ORDER BY id DESC LIMIT 500",
        )
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(|r| self.emergency_of(r))
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<ClientId> = list.iter().map(|e| e.client_id).collect();
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::EmergencyList, &ids))
            .await?;
        Ok(list)
    }

    fn emergency_of(&self, r: EmergencyRow) -> Result<EmergencyAccess, StoreError> {
        let id = r.id;
        let reason = match r.reason {
            Some(sealed) => {
                let text =
                    self.open_sealed(&sealed, &reason_aad(id), "emergency_accesses.reason")?;
                Some(
                    ShortText::parse(&text)
                        .map_err(|_| StoreError::Corrupt("emergency_accesses.reason"))?,
                )
            }
            None => None,
        };
        Ok(EmergencyAccess {
            id,
            user_id: UserId(r.user_id),
            client_id: ClientId(r.client_id),
            reason,
            started_at: read::ts(&r.started_at, "started_at")?,
            expires_at: read::ts(&r.expires_at, "expires_at")?,
        })
    }
}

// --- security ---
