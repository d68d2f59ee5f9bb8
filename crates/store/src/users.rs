//! User accounts and API tokens. Tokens are stored as SHA-256 digests only, so a copy of
//! the database does not hand out sessions.

use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId, UserId};
use circle_domain::text::Email;
use circle_domain::user::{Role, User};
use jiff::Timestamp;
use sqlx::any::AnyRow;

use crate::codec::{RowExt, ts};
use crate::{Store, StoreError};

const USER_COLUMNS: &str = "id, email, role, clinician_id, client_id, disabled_at";

fn user_from_row(r: &AnyRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(r.int("id")?),
        email: r.parsed("email")?,
        role: r.vocab("role", Role::parse)?,
        clinician_id: r.opt_int("clinician_id")?.map(ClinicianId),
        client_id: r.opt_int("client_id")?.map(ClientId),
        disabled: r.opt_text("disabled_at")?.is_some(),
    })
}

/// A user to create; the password is already hashed by the caller (Argon2id PHC string).
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub role: Role,
    pub clinician_id: Option<ClinicianId>,
    pub client_id: Option<ClientId>,
}

impl Store {
    pub async fn create_user(&self, new: &NewUser<'_>, now: Timestamp) -> Result<User, StoreError> {
        let now = ts(now);
        let row = sqlx::query(&format!(
            "INSERT INTO users (email, password_hash, role, clinician_id, client_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(new.email.normalized())
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(new.clinician_id.map(|c| c.0))
        .bind(new.client_id.map(|c| c.0))
        .bind(&now)
        .fetch_one(self.pool())
        .await?;
        user_from_row(&row)
    }

    /// The user with this email and their password hash, if any.
    pub async fn user_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1"
        ))
        .bind(email.normalized())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.text("password_hash")?)))
            .transpose()
    }

    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .ok_or(DomainError::not_found("user"))?;
        user_from_row(&row)
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn insert_token(
        &self,
        token_hash: &str,
        user: UserId,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The enabled user an unexpired token belongs to.
    pub async fn user_for_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.role, u.clinician_id, u.client_id, u.disabled_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    pub async fn delete_token(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
