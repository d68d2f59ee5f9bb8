//! Account administration (the security issue): the administrators' user list, creating
//! accounts, role changes, disabling and enabling, second-factor and password resets, and a
//! user's own password change. Every command writes its audit entry (data category
//! `account`) in its own transaction, and every command that changes who may sign in ends
//! the account's sessions on the server: its bearer tokens and pending enrolments are
//! deleted in the same transaction.

use crate::access::{RoleAccess, purpose};
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, ClinicianId, UserId};
use circle_domain::user::{Role, UserAccount};
use circle_domain::{DomainError, Rule};
use jiff::Timestamp;

use crate::audit::{Record, append};
use crate::codec::{read, ts};
use crate::users::NewUser;
use crate::{Backend, Store, StoreError};

const ACCOUNT_COLUMNS: &str = "id, email, role, clinician_id, client_id, disabled_at, \
     CAST(CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END AS BIGINT) AS mfa_enrolled, clinic_wide";

#[derive(sqlx::FromRow)]
struct AccountRow {
    mfa_enrolled: i64,
    id: i64,
    email: String,
    role: String,
    clinician_id: Option<i64>,
    client_id: Option<i64>,
    disabled_at: Option<String>,
    clinic_wide: i64,
}

impl TryFrom<AccountRow> for UserAccount {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        let mfa = r.mfa_enrolled;
        Ok(UserAccount {
            id: UserId(r.id),
            email: read::parsed(r.email, "email")?,
            role: read::vocab(&r.role, "role", Role::parse)?,
            clinician_id: r.clinician_id.map(ClinicianId),
            client_id: r.client_id.map(ClientId),
            mfa_enrolled: mfa != 0,
            disabled: r.disabled_at.is_some(),
            clinic_wide: r.clinic_wide != 0,
        })
    }
}

/// A change to an account by an administrator; absent fields stay as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountPatch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

async fn account_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: UserId,
) -> Result<UserAccount, StoreError> {
    let row = sqlx::query_as::<_, AccountRow>(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(DomainError::not_found("user"))?;
    UserAccount::try_from(row)
}

/// Ends every session of `user` on the server: bearer tokens (all, or all but `keep`) and
/// pending second-factor enrolments.
async fn end_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    keep: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM api_tokens WHERE user_id = $1 AND token_hash <> $2")
        .bind(user.0)
        .bind(keep.unwrap_or(""))
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM mfa_enrollments WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Locks every enabled administrator's row (PostgreSQL; SQLite's write transaction already
/// holds the database) and counts those other than `except`, so two administrators
/// disabling each other at once cannot both succeed.
async fn other_enabled_admins(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    except: UserId,
) -> Result<i64, StoreError> {
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id{lock}"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let mut others = 0;
    for id in ids {
        if id != except.0 {
            others += 1;
        }
    }
    Ok(others)
}

impl Store {
    /// Every account, by id, for administrators; audited as `user.list`.
    pub async fn user_accounts(
        &self,
        who: &RoleAccess<impl purpose::AdministersUsers>,
        at: Timestamp,
    ) -> Result<Vec<UserAccount>, StoreError> {
        let ctx = who.audit();
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, AccountRow>(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(UserAccount::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::UserList, &[]))
            .await?;
        Ok(list)
    }

    /// Creates an account for an administrator; audited as `user.create`, naming the
    /// record it is linked to. The linked clinician or client record must exist and have no
    /// account yet: a second account on one clinician's record could read and sign as them.
    pub async fn create_account(
        &self,
        who: &RoleAccess<impl purpose::AdministersUsers>,
        new: &NewUser<'_>,
        at: Timestamp,
    ) -> Result<UserAccount, StoreError> {
        let ctx = who.audit();
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        if let Some(c) = new.clinician_id {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clinicians WHERE id = $1")
                .bind(c.0)
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(DomainError::invalid("clinician_id", "names no clinician").into());
            }
            let taken: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE clinician_id = $1")
                    .bind(c.0)
                    .fetch_one(&mut *tx)
                    .await?;
            if taken > 0 {
                return Err(DomainError::conflict(
                    Rule::Duplicate,
                    "clinician_id: this clinician already has an account; one account per clinician",
                )
                .into());
            }
        }
        if let Some(c) = new.client_id {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE id = $1")
                .bind(c.0)
                .fetch_one(&mut *tx)
                .await?;
            if n == 0 {
                return Err(DomainError::invalid("client_id", "names no client").into());
            }
            let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE client_id = $1")
                .bind(c.0)
                .fetch_one(&mut *tx)
                .await?;
            if taken > 0 {
                return Err(DomainError::conflict(
                    Rule::Duplicate,
                    "client_id: this client already has an account; one account per client",
                )
                .into());
            }
        }
        let linked_client: Vec<ClientId> = new.client_id.into_iter().collect();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, password_hash, role, clinician_id, client_id, \
               password_changed_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $6) RETURNING id",
        )
        .bind(new.email.normalized())
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(new.clinician_id.map(|c| c.0))
        .bind(new.client_id.map(|c| c.0))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::UserCreate, &linked_client).object(
                match new.clinician_id {
                    Some(c) => format!("user:{id};clinician:{}", c.0),
                    None => format!("user:{id}"),
                },
            ),
        )
        .await?;
        let account = account_in(&mut tx, UserId(id)).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Changes an account's role or enabled state; each change is its own audit entry
    /// (`user.role_change`, `user.disable`, `user.enable`). A role change or disabling ends
    /// all the account's sessions. Refused (409) when an administrator would disable
    /// themself, or when no enabled administrator would remain.
    pub async fn update_account(
        &self,
        who: &RoleAccess<impl purpose::AdministersUsers>,
        id: UserId,
        patch: AccountPatch,
        at: Timestamp,
    ) -> Result<UserAccount, StoreError> {
        let ctx = who.audit();
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        // Locks in one order for every change: the enabled administrators' rows (by id),
        // then the account's own row, so two concurrent changes wait for each other rather
        // than deadlock; the reads below are then the state we change.
        let other_admins = other_enabled_admins(&mut tx, self.backend(), id).await?;
        sqlx::query("UPDATE users SET version = version WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let before = account_in(&mut tx, id).await?;
        let role = patch.role.unwrap_or(before.role);
        let disabled = patch.disabled.unwrap_or(before.disabled);
        let role_changed = role != before.role;
        if role_changed && (role == Role::Client || before.role == Role::Client) {
            return Err(DomainError::invalid(
                "role",
                "changes only between staff roles: a client account stays a client account",
            )
            .into());
        }
        if disabled && !before.disabled && ctx.actor_user_id() == Some(id) {
            return Err(DomainError::conflict(
                Rule::SelfDisable,
                "an administrator cannot disable their own account",
            )
            .into());
        }
        let was_enabled_admin = before.role == Role::Admin && !before.disabled;
        let stays_enabled_admin = role == Role::Admin && !disabled;
        if was_enabled_admin && !stays_enabled_admin && other_admins == 0 {
            return Err(DomainError::conflict(
                Rule::LastAdmin,
                "the change would leave no enabled administrator",
            )
            .into());
        }
        sqlx::query(
            "UPDATE users SET role = $2, \
               disabled_at = CASE WHEN $3 = 1 THEN COALESCE(disabled_at, $4) ELSE NULL END, \
               version = version + 1, updated_at = $4 WHERE id = $1",
        )
        .bind(id.0)
        .bind(role.as_str())
        .bind(i64::from(disabled))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let object = format!("user:{}", id.0);
        let mut actions = vec![];
        if role_changed {
            actions.push(AuditAction::UserRoleChange);
        }
        if disabled != before.disabled {
            actions.push(if disabled {
                AuditAction::UserDisable
            } else {
                AuditAction::UserEnable
            });
        }
        for action in actions {
            append(
                &mut tx,
                self.audit_key(),
                at,
                Record::success(ctx, action, &[]).object(&object),
            )
            .await?;
        }
        if role_changed || disabled {
            end_sessions(&mut tx, id, None).await?;
        }
        let after = account_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Clears the account's TOTP secret, last step and recovery codes, so its next sign-in
    /// enrols a second factor again, and ends all its sessions; audited as `user.mfa_reset`.
    pub async fn reset_mfa(
        &self,
        who: &RoleAccess<impl purpose::AdministersUsers>,
        id: UserId,
        at: Timestamp,
    ) -> Result<UserAccount, StoreError> {
        let ctx = who.audit();
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_enrolled_at = NULL, totp_last_step = NULL, \
               version = version + 1, updated_at = $2 WHERE id = $1",
        )
        .bind(id.0)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DomainError::not_found("user").into());
        }
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        end_sessions(&mut tx, id, None).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::UserMfaReset, &[]).object(format!("user:{}", id.0)),
        )
        .await?;
        let account = account_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// The account's current password hash (to check a password change).
    pub async fn password_hash(&self, id: UserId) -> Result<String, StoreError> {
        let hash: Option<String> =
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?;
        hash.ok_or_else(|| DomainError::not_found("user").into())
    }

    /// Sets a new password hash and ends the account's sessions, all of them or all but
    /// the token `keep` (the caller's own, on a password change). An administrator's reset
    /// (`user.password_reset`) also lifts a lockout; it leaves the second factor alone.
    /// A user's own change is `user.password_change`.
    /// An administrator resets anyone's password (`purpose::UserPasswordReset`); anyone changes
    /// only their own (`purpose::OwnAccount`).
    pub async fn set_password<P: purpose::SetsPassword>(
        &self,
        who: &RoleAccess<P>,
        id: UserId,
        password_hash: &str,
        keep: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = who.audit();
        let action = P::PASSWORD_ACTION;
        if action == AuditAction::UserPasswordChange && who.user() != id {
            return Err(DomainError::Forbidden.into());
        }
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let unlock = action == AuditAction::UserPasswordReset;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, \
               failed_sign_ins = CASE WHEN $4 = 1 THEN 0 ELSE failed_sign_ins END, \
               locked_until = CASE WHEN $4 = 1 THEN NULL ELSE locked_until END, \
               version = version + 1, updated_at = $3 WHERE id = $1",
        )
        .bind(id.0)
        .bind(password_hash)
        .bind(&now)
        .bind(i64::from(unlock))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(DomainError::not_found("user").into());
        }
        end_sessions(&mut tx, id, keep).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, action, &[]).object(format!("user:{}", id.0)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
