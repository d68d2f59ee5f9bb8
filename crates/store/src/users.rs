//! User accounts and API tokens. Tokens are stored as SHA-256 digests only, so a copy of
//! the database does not hand out sessions.

use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId, UserId};
use circle_domain::text::Email;
use circle_domain::user::{Role, User};
use jiff::Timestamp;

use crate::codec::{read, ts};
use crate::{Store, StoreError};

const USER_COLUMNS: &str = "id, email, role, clinician_id, client_id, disabled_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    role: String,
    clinician_id: Option<i64>,
    client_id: Option<i64>,
    disabled_at: Option<String>,
}

/// A token's user and when the token was last used (or made).
#[derive(sqlx::FromRow)]
struct TokenUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    last_used: String,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId(r.id),
            email: read::parsed(r.email, "email")?,
            role: read::vocab(&r.role, "role", Role::parse)?,
            clinician_id: r.clinician_id.map(ClinicianId),
            client_id: r.client_id.map(ClientId),
            disabled: r.disabled_at.is_some(),
        })
    }
}

/// A user to create; the password is already hashed by the caller (Argon2id PHC string).
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub role: Role,
    pub clinician_id: Option<ClinicianId>,
    pub client_id: Option<ClientId>,
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    n: i64,
    latest: Option<String>,
}

/// An account with what signing in checks.
#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
    /// Sealed (or, before `seal-totp-secrets`, plain).
    totp_secret: Option<String>,
}

/// An account with its pending second-factor enrolment.
#[derive(sqlx::FromRow)]
struct EnrollmentRow {
    #[sqlx(flatten)]
    user: UserRow,
    /// Sealed.
    totp_secret: String,
}

#[derive(sqlx::FromRow)]
struct SignInAttemptRow {
    id: i64,
    attempted_at: String,
    user_id: Option<i64>,
    email_hash: Option<String>,
    outcome: String,
    source_ip: Option<String>,
}

impl Store {
    /// Creates an account from the command line (`circle user create`, the demo): how a
    /// clinic starts, so a director made here is clinic-wide. An administrator's account
    /// for a director (`create_account`) directs nothing until programs or the clinic-wide
    /// setting are given.
    pub async fn create_user(&self, new: &NewUser<'_>, now: Timestamp) -> Result<User, StoreError> {
        let now = ts(now);
        // In a transaction, not autocommit: on SQLite an autocommit `… RETURNING` read with
        // fetch_one/fetch_optional commits when the statement is reset, after the row was
        // handed back, and sqlx drops the reset's error — a failed commit (a full disk)
        // would be reported as success (issue 16, item 1).
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query_as::<_, UserRow>(&format!(
            "INSERT INTO users (email, password_hash, role, clinician_id, client_id, created_at, \
             updated_at, clinic_wide) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING {USER_COLUMNS}"
        ))
        .bind(new.email.normalized())
        .bind(new.password_hash)
        .bind(new.role.as_str())
        .bind(new.clinician_id.map(|c| c.0))
        .bind(new.client_id.map(|c| c.0))
        .bind(&now)
        .bind(i64::from(new.role == Role::Director))
        .fetch_one(&mut *tx)
        .await?;
        let user = User::try_from(row)?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let row = sqlx::query_as::<_, UserRow>(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("user"))?;
        User::try_from(row)
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    /// The enabled user an unexpired token belongs to: within its absolute lifetime and
    /// used within `idle` (its last use, or its creation). A use is recorded at most once
    /// a minute, so most requests only read.
    pub async fn user_for_token(
        &self,
        token_hash: &str,
        now: Timestamp,
        idle: jiff::SignedDuration,
    ) -> Result<Option<User>, StoreError> {
        let idle_since = now.checked_sub(idle).unwrap_or(now);
        let row = sqlx::query_as::<_, TokenUserRow>(
            "SELECT u.id, u.email, u.role, u.clinician_id, u.client_id, u.disabled_at, \
             COALESCE(t.last_used_at, t.created_at) AS last_used \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.disabled_at IS NULL \
             AND COALESCE(t.last_used_at, t.created_at) > $3",
        )
        .bind(token_hash)
        .bind(ts(now))
        .bind(ts(idle_since))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let minute_ago = now
            .checked_sub(jiff::SignedDuration::from_mins(1))
            .unwrap_or(now);
        // Decided here, not by the UPDATE's WHERE alone: an UPDATE that changes nothing
        // still takes SQLite's write lock, so every request would queue behind the audited
        // writes' commits for a use already recorded this minute.
        if read::ts(&row.last_used, "last_used")? < minute_ago {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 \
                 AND COALESCE(last_used_at, created_at) < $3",
            )
            .bind(token_hash)
            .bind(ts(now))
            .bind(ts(minute_ago))
            .execute(self.pool())
            .await?;
        }
        let row = row.user;
        Ok(Some(User::try_from(row)?))
    }

    pub async fn delete_token(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Strong sign-in: credentials with their second factor and lock state, enrolment, recovery
// codes, and the sign-in attempt log. Every command that changes an account's sign-in
// state writes its `sign_in_attempts` row in the same transaction.

/// What one sign-in attempt came to; stored by its wire name in `sign_in_attempts.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignInOutcome {
    /// Signed in (password, plus a TOTP code where one is enrolled).
    Success,
    /// Signed in with a recovery code instead of a TOTP code.
    SuccessRecoveryCode,
    BadPassword,
    UnknownEmail,
    /// The password was right; the account has a second factor and none was given.
    MfaRequired,
    /// The password was right; a staff account without a second factor got an enrolment token.
    MfaEnrollmentRequired,
    /// A wrong TOTP code or an unknown or spent recovery code.
    BadMfaCode,
    /// A right TOTP code for a time step already used.
    MfaCodeReplayed,
    /// Refused without checking the password under the lockout of earlier versions; kept
    /// for the rows logged then.
    Locked,
    /// Refused without checking the password or code: too many recent failures for this
    /// account from this address, from this address overall, or for this account from
    /// addresses it never signed in from (the caller is told when to try again).
    Throttled,
    Disabled,
    /// Enrolment completed with a valid code: a sign-in.
    MfaEnrolled,
    /// An unknown, expired or spent enrolment token.
    BadEnrollmentToken,
}

impl SignInOutcome {
    pub const ALL: [SignInOutcome; 13] = [
        Self::Success,
        Self::SuccessRecoveryCode,
        Self::BadPassword,
        Self::UnknownEmail,
        Self::MfaRequired,
        Self::MfaEnrollmentRequired,
        Self::BadMfaCode,
        Self::MfaCodeReplayed,
        Self::Locked,
        Self::Disabled,
        Self::MfaEnrolled,
        Self::BadEnrollmentToken,
        Self::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::SuccessRecoveryCode => "success_recovery_code",
            Self::BadPassword => "bad_password",
            Self::UnknownEmail => "unknown_email",
            Self::MfaRequired => "mfa_required",
            Self::MfaEnrollmentRequired => "mfa_enrollment_required",
            Self::BadMfaCode => "bad_mfa_code",
            Self::MfaCodeReplayed => "mfa_code_replayed",
            Self::Locked => "locked",
            Self::Disabled => "disabled",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::BadEnrollmentToken => "bad_enrollment_token",
            Self::Throttled => "throttled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for SignInOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row to append to the sign-in log. Never holds a password or a code.
#[derive(Debug, Clone)]
pub struct SignInAttempt {
    pub at: Timestamp,
    pub user: Option<UserId>,
    /// Hex SHA-256 of the lower-cased email, when an email was given or is known.
    pub email_hash: Option<String>,
    pub source_ip: Option<std::net::IpAddr>,
    pub outcome: SignInOutcome,
}

/// A stored sign-in attempt, every column of `sign_in_attempts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInAttemptRecord {
    pub id: i64,
    pub attempted_at: Timestamp,
    pub user_id: Option<UserId>,
    pub email_hash: Option<String>,
    pub outcome: SignInOutcome,
    pub source_ip: Option<String>,
}

/// What sign-in needs to know about an account. `Debug` leaves the secrets out.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    /// Base32 TOTP secret, when enrolled.
    pub totp_secret: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user.id", &self.user.id)
            .field("mfa_enrolled", &self.totp_secret.is_some())
            .finish_non_exhaustive()
    }
}

/// A pending enrolment found by its token. `Debug` leaves the secret out.
pub struct PendingEnrollment {
    pub user: User,
    pub totp_secret: String,
}

impl std::fmt::Debug for PendingEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEnrollment")
            .field("user.id", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// The second factor a sign-in consumes, checked and spent inside its transaction.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactor<'a> {
    /// The account has none and needs none.
    NotRequired,
    /// An RFC 6238 time step whose code was verified; accepted only if later than the last.
    TotpStep(i64),
    /// The digest of a recovery code; accepted only if unspent.
    RecoveryCode(&'a str),
}

/// A bearer token to store (digest only) for a completed sign-in.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub token_hash: &'a str,
    pub expires_at: Timestamp,
}

/// A completed enrolment to store.
pub struct CompletedEnrollment<'a> {
    pub enrollment_token_hash: &'a str,
    pub user: UserId,
    pub totp_secret: &'a str,
    pub totp_step: i64,
    pub recovery_code_hashes: &'a [String],
    pub token: NewToken<'a>,
}

const ATTEMPT_COLUMNS: &str = "id, attempted_at, user_id, email_hash, outcome, source_ip";

/// The recent failed sign-ins a throttling decision weighs, since a point in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleFacts {
    /// Failures for this account (by email digest) from this address, and the latest.
    pub pair: (i64, Option<Timestamp>),
    /// Failures from this address for any account, and the latest.
    pub source: (i64, Option<Timestamp>),
    /// Failures for this account from any address, and the latest.
    pub account: (i64, Option<Timestamp>),
    /// Whether this account signed in successfully from this address within the known
    /// window (its owner's usual place: exempt from the account-wide throttle).
    pub known_source: bool,
}

/// The outcomes that count as failures for throttling (a throttled attempt itself does
/// not, so waiting out a delay is never punished).
const FAILURES: &str = "('bad_password', 'unknown_email', 'bad_mfa_code', 'mfa_code_replayed', \
     'bad_enrollment_token')";

impl Store {
    /// The failures a sign-in from `source` for the account `email_hash` weighs: since
    /// `since`, and whether the address is a known one (a success since `known_since`).
    pub async fn throttle_facts(
        &self,
        email_hash: &str,
        source: Option<std::net::IpAddr>,
        since: Timestamp,
        known_since: Timestamp,
    ) -> Result<ThrottleFacts, StoreError> {
        let source = source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let count = |sql: String| {
            let (email, source) = (email_hash.to_owned(), source.clone());
            async move {
                let row = sqlx::query_as::<_, ThrottleRow>(&sql)
                    .bind(email)
                    .bind(source)
                    .bind(ts(since))
                    .fetch_one(self.pool())
                    .await?;
                Ok::<_, StoreError>((row.n, read::opt_ts(row.latest.as_deref(), "latest")?))
            }
        };
        let pair = count(format!(
            "SELECT COUNT(*) AS n, MAX(attempted_at) AS latest FROM sign_in_attempts \
             WHERE email_hash = $1 AND source_ip = $2 AND attempted_at > $3 AND outcome IN {FAILURES}"
        ))
        .await?;
        let from_source = count(format!(
            "SELECT COUNT(*) AS n, MAX(attempted_at) AS latest FROM sign_in_attempts \
             WHERE $1 = $1 AND source_ip = $2 AND attempted_at > $3 AND outcome IN {FAILURES}"
        ))
        .await?;
        let account = count(format!(
            "SELECT COUNT(*) AS n, MAX(attempted_at) AS latest FROM sign_in_attempts \
             WHERE email_hash = $1 AND $2 = $2 AND attempted_at > $3 AND outcome IN {FAILURES}"
        ))
        .await?;
        let known: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_attempts WHERE email_hash = $1 AND source_ip = $2 \
             AND attempted_at > $3 AND outcome IN ('success', 'success_recovery_code', 'mfa_enrolled')",
        )
        .bind(email_hash)
        .bind(&source)
        .bind(ts(known_since))
        .fetch_one(self.pool())
        .await?;
        Ok(ThrottleFacts {
            pair,
            source: from_source,
            account,
            known_source: known > 0,
        })
    }
}

async fn insert_attempt(
    conn: &mut sqlx::AnyConnection,
    a: &SignInAttempt,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sign_in_attempts (attempted_at, user_id, email_hash, outcome, source_ip) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(ts(a.at))
    .bind(a.user.map(|u| u.0))
    .bind(a.email_hash.as_deref())
    .bind(a.outcome.as_str())
    .bind(a.source_ip.map(|ip| ip.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_token(
    conn: &mut sqlx::AnyConnection,
    token: NewToken<'_>,
    user: UserId,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token.token_hash)
    .bind(user.0)
    .bind(now)
    .bind(ts(token.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// The account with this email, its password hash, second factor and lock state.
    pub async fn sign_in_credentials(
        &self,
        email: &Email,
    ) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query_as::<_, CredentialsRow>(&format!(
            "SELECT {USER_COLUMNS}, password_hash, totp_secret FROM users WHERE email = $1"
        ))
        .bind(email.normalized())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let user = User::try_from(r.user)?;
            let totp_secret = r
                .totp_secret
                .map(|stored| self.open_totp(&stored, &totp_aad(user.id), "users.totp_secret"))
                .transpose()?;
            Ok(Credentials {
                user,
                password_hash: r.password_hash,
                totp_secret,
            })
        })
        .transpose()
    }

    /// Appends one attempt that changes no account state (unknown email, a locked or
    /// disabled account, a missing second factor).
    pub async fn record_sign_in_attempt(&self, attempt: &SignInAttempt) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        insert_attempt(&mut conn, attempt).await
    }

    /// Completes a sign-in in one transaction: spends the second factor, clears the
    /// failure count and any lock, stores the token and logs the attempt. Returns false,
    /// changing nothing, when the factor was already spent (a replayed TOTP step, or a
    /// recovery code that is unknown or used).
    pub async fn complete_sign_in(
        &self,
        user: UserId,
        factor: SecondFactor<'_>,
        token: NewToken<'_>,
        attempt: &SignInAttempt,
    ) -> Result<bool, StoreError> {
        let now = ts(attempt.at);
        let mut tx = self.pool().begin().await?;
        let spent = match factor {
            SecondFactor::NotRequired => true,
            SecondFactor::TotpStep(step) => {
                sqlx::query(
                    "UPDATE users SET totp_last_step = $2, updated_at = $3 \
                     WHERE id = $1 AND totp_secret IS NOT NULL \
                       AND (totp_last_step IS NULL OR totp_last_step < $2)",
                )
                .bind(user.0)
                .bind(step)
                .bind(&now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
            SecondFactor::RecoveryCode(hash) => {
                sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3, updated_at = $3 \
                     WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(user.0)
                .bind(hash)
                .bind(&now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
        };
        if !spent {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE users SET failed_sign_ins = 0, locked_until = NULL, updated_at = $2 WHERE id = $1",
        )
        .bind(user.0)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, token, user, &now).await?;
        insert_attempt(&mut tx, attempt).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts enrolment: replaces any pending enrolment of the user with this one and logs
    /// the attempt, in one transaction.
    pub async fn start_mfa_enrollment(
        &self,
        user: UserId,
        token_hash: &str,
        totp_secret: &str,
        expires_at: Timestamp,
        attempt: &SignInAttempt,
    ) -> Result<(), StoreError> {
        let now = ts(attempt.at);
        let sealed = self.seal(totp_secret, &enrollment_aad(user))?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM mfa_enrollments WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO mfa_enrollments (token_hash, user_id, totp_secret, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(token_hash)
        .bind(user.0)
        .bind(sealed)
        .bind(ts(expires_at))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        insert_attempt(&mut tx, attempt).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The unexpired enrolment this token digest opens, with its user.
    pub async fn pending_enrollment(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<PendingEnrollment>, StoreError> {
        let row = sqlx::query_as::<_, EnrollmentRow>(
            "SELECT u.id, u.email, u.role, u.clinician_id, u.client_id, u.disabled_at, \
                    e.totp_secret \
             FROM mfa_enrollments e JOIN users u ON u.id = e.user_id \
             WHERE e.token_hash = $1 AND e.expires_at > $2",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let user = User::try_from(r.user)?;
            let totp_secret = self.open_totp(
                &r.totp_secret,
                &enrollment_aad(user.id),
                "mfa_enrollments.totp_secret",
            )?;
            Ok(PendingEnrollment { user, totp_secret })
        })
        .transpose()
    }

    /// Completes enrolment in one transaction: spends the enrolment token, stores the
    /// secret and the step of the code that proved it, replaces the recovery codes, clears
    /// the failure count, stores the bearer token and logs the attempt. Returns false,
    /// changing nothing, when the enrolment token is no longer pending.
    pub async fn complete_mfa_enrollment(
        &self,
        done: &CompletedEnrollment<'_>,
        attempt: &SignInAttempt,
    ) -> Result<bool, StoreError> {
        let now = ts(attempt.at);
        let sealed = self.seal(done.totp_secret, &totp_aad(done.user))?;
        let mut tx = self.pool().begin().await?;
        let spent = sqlx::query(
            "DELETE FROM mfa_enrollments WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
        )
        .bind(done.enrollment_token_hash)
        .bind(done.user.0)
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !spent {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_enrolled_at = $3, totp_last_step = $4, \
               failed_sign_ins = 0, locked_until = NULL, updated_at = $3 WHERE id = $1",
        )
        .bind(done.user.0)
        .bind(sealed)
        .bind(&now)
        .bind(done.totp_step)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(done.user.0)
            .execute(&mut *tx)
            .await?;
        for hash in done.recovery_code_hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3)",
            )
            .bind(done.user.0)
            .bind(hash)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        insert_token(&mut tx, done.token, done.user, &now).await?;
        insert_attempt(&mut tx, attempt).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sets a user's TOTP secret directly, without a code and without recovery codes:
    /// provisioning only (the demo clinic's documented accounts).
    pub async fn set_totp_secret(
        &self,
        user: UserId,
        totp_secret: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let now = ts(now);
        let sealed = self.seal(totp_secret, &totp_aad(user))?;
        let done = sqlx::query(
            "UPDATE users SET totp_secret = $2, totp_enrolled_at = $3, totp_last_step = NULL, \
               updated_at = $3 WHERE id = $1",
        )
        .bind(user.0)
        .bind(sealed)
        .bind(&now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(DomainError::not_found("user").into())
        }
    }

    /// The sign-in log in the order written (oldest first), at most `limit` rows.
    pub async fn sign_in_attempts(
        &self,
        limit: u32,
    ) -> Result<Vec<SignInAttemptRecord>, StoreError> {
        let rows = sqlx::query_as::<_, SignInAttemptRow>(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM sign_in_attempts ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(SignInAttemptRecord {
                    id: r.id,
                    attempted_at: read::ts(&r.attempted_at, "attempted_at")?,
                    user_id: r.user_id.map(UserId),
                    email_hash: r.email_hash,
                    outcome: read::vocab(&r.outcome, "outcome", SignInOutcome::parse)?,
                    source_ip: r.source_ip,
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// TOTP secrets at rest: sealed with the vault, bound to the user's id, so a copy of the
// database (or a secret moved to another account's row) gives no second factor.

fn totp_aad(user: UserId) -> circle_vault::Aad {
    crate::sealed::TOTP_SECRET.aad(user.0)
}

fn enrollment_aad(user: UserId) -> circle_vault::Aad {
    crate::sealed::PENDING_TOTP_SECRET.aad(user.0)
}

/// Whether a stored TOTP secret is a sealed value. A legacy plain secret is base32, which
/// never has the sealed form's `.`-separated segments.
fn is_sealed(stored: &str) -> bool {
    crate::sealed::is_sealed(stored)
}

impl Store {
    /// The base32 secret of a stored TOTP secret: opened when sealed; a legacy plain secret
    /// (written before migration 0012) is returned as it is, until
    /// [`Store::seal_totp_secrets`] seals it.
    fn open_totp(
        &self,
        stored: &str,
        aad: &circle_vault::Aad,
        column: &'static str,
    ) -> Result<String, StoreError> {
        if is_sealed(stored) {
            Ok(self.open_sealed(stored, aad, column)?.as_str().to_owned())
        } else {
            Ok(stored.to_owned())
        }
    }
}
