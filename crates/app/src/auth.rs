//! Sign-in: Argon2id password hashes (PHC strings) and opaque bearer tokens whose SHA-256
//! digest is all the database keeps.
//!
//! Strong sign-in (the security issue): staff accounts (admin, director, clinician) need a
//! second factor, an RFC 6238 TOTP code (SHA-1, 6 digits, 30 s steps, one step of skew
//! either way), enrolled at their first sign-in; intake and client accounts may have one.
//! Each accepted code's time step is remembered so a code works once; ten single-use
//! recovery codes stand in for a lost authenticator. Five consecutive failures lock an
//! account for fifteen minutes, answered exactly like a wrong password (the caller never
//! learns that an account exists or is locked). Every attempt is logged without its
//! password, code or email (only the email's SHA-256), with the source address.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId, UserId};
use circle_domain::text::Email;
use circle_domain::user::{Role, User, check_password};
use circle_store::users::{
    CompletedEnrollment, NewToken, NewUser, SecondFactor, SignInAttempt, SignInOutcome,
};
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Actor, App, AppError, AppResult};

/// A freshly issued token. The secret is shown once and never stored.
#[derive(Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: Timestamp,
    pub user: User,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The lowest zxcvbn score a new password may have. zxcvbn (Dropbox's estimator, with its
/// frequency lists of common passwords, names and words, keyboard patterns, dates and
/// repeats) scores 3 when it estimates at least 10^8 guesses are needed: "safely
/// unguessable" against online attack and moderately against an offline slow hash
/// (OWASP ASVS 2.1.7 asks that common and breached passwords be refused).
pub const MIN_PASSWORD_SCORE: u8 = 3;

/// How many leading characters zxcvbn scores. Its matching grows faster than linearly
/// with length, and a 64-character prefix that scores 3 or more is already strong; a longer
/// password whose first 64 characters are trivial (a repeat) is refused, as it should be.
const SCORED_PREFIX: usize = 64;

/// The rule a new password (creation, change, reset) must pass: 12–128 characters and not
/// common or trivially guessable. The email's parts count as guessable words. The error
/// names `field` and the rule, never the password.
pub fn check_new_password(
    field: &'static str,
    password: &str,
    email: Option<&Email>,
) -> Result<(), DomainError> {
    check_password(password).map_err(|rule| DomainError::invalid(field, rule))?;
    let prefix: String = password.chars().take(SCORED_PREFIX).collect();
    let email = email.map(Email::normalized).unwrap_or_default();
    let mut inputs: Vec<&str> = email
        .split(['@', '.', '-', '_', '+'])
        .filter(|p| p.len() >= 3)
        .collect();
    inputs.push(email.as_str());
    // "pat.morgan@…" also guesses "patmorgan".
    let local: String = email
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    inputs.push(local.as_str());
    let score = u8::from(zxcvbn::zxcvbn(&prefix, &inputs).score());
    if score < MIN_PASSWORD_SCORE {
        return Err(DomainError::invalid(
            field,
            "is too common or too easy to guess (a password-strength estimate below 3 of 4): \
             use a longer passphrase of several unrelated words",
        ));
    }
    Ok(())
}

/// Hashes a password with Argon2id at the crate's default cost (m=19 MiB, t=2, p=1, the
/// OWASP minimum for Argon2id). Checks only the length: callers setting a new password
/// check it with [`check_new_password`] first.
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    check_password(password).map_err(|rule| DomainError::invalid("password", rule))?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| DomainError::invalid("password", "could not be hashed"))
}

pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub(crate) fn digest(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A valid hash of a random password, verified against when the email is unknown so that
/// a wrong email and a wrong password take the same time.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let pw = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        hash_password(&pw).unwrap_or_default()
    })
}

impl App {
    /// Creates a user account (the CLI and administrators).
    pub async fn create_user(
        &self,
        email: &Email,
        password: &str,
        role: Role,
        clinician_id: Option<ClinicianId>,
        client_id: Option<ClientId>,
    ) -> AppResult<User> {
        crate::accounts::check_links(role, client_id)?;
        crate::accounts::check_clinician_link(role, clinician_id)?;
        check_new_password("password", password, Some(email))?;
        let hash = hash_password(password)?;
        Ok(self
            .store
            .create_user(
                &NewUser {
                    email,
                    password_hash: &hash,
                    role,
                    clinician_id,
                    client_id,
                },
                self.now(),
            )
            .await?)
    }

    /// The actor a bearer token stands for, if it is valid now.
    pub async fn authenticate(&self, token: &str) -> AppResult<Actor> {
        Ok(self
            .store
            .actor_for_token(
                &digest(token),
                self.now(),
                self.settings.token_idle_timeout,
                self.caseload_since(),
            )
            .await?
            .ok_or(DomainError::Unauthenticated)?)
    }

    /// Ends the session of this token.
    pub async fn logout(&self, token: &str) -> AppResult<()> {
        Ok(self.store.delete_token(&digest(token)).await?)
    }

    pub async fn user_count(&self) -> AppResult<i64> {
        Ok(self.store.count_users().await?)
    }

    pub async fn me(&self, actor: &Actor) -> AppResult<User> {
        Ok(self.store.user(actor.user_id()).await?)
    }
}

// ---------------------------------------------------------------------------------------
// TOTP (RFC 6238) and the second factor.

/// Digits in a TOTP code (RFC 6238 with the RFC 4226 truncation).
pub const TOTP_DIGITS: usize = 6;
/// Seconds per TOTP time step.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Steps of clock skew tolerated either side of now.
pub const TOTP_SKEW_STEPS: i64 = 1;
/// Bytes of a generated TOTP secret: 160 bits, as RFC 4226 section 4 recommends.
pub const TOTP_SECRET_BYTES: usize = 20;
/// The issuer shown by authenticator apps.
pub const TOTP_ISSUER: &str = "Circle";
/// How long an enrolment token lasts.
pub const ENROLLMENT_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);
/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Sign-in throttling (issue 13, hole 3; OWASP ASVS 5.0 V6.3, "anti-automation"). A hard
/// lockout let anyone who knows an email keep its owner out; instead an attempt is slowed —
/// refused without checking anything, with the seconds to wait — when recent failures say
/// so, counted three ways from the sign-in log (so the limits hold across servers):
/// - for this account from this address: after `PAIR_FREE` failures, a delay doubling
///   from one second with each further failure;
/// - from this address for any account: after `SOURCE_FREE`, the same doubling, and no
///   attempt at all after `SOURCE_MAX` in the window;
/// - for this account from every address: after `ACCOUNT_FREE`, the doubling applies to
///   addresses the account never signed in from. Its owner, at an address they signed in
///   from within `KNOWN_DAYS`, is never slowed by other people's failures.
///
/// Every delay is capped at `MAX_DELAY` and counts failures within `THROTTLE_WINDOW`.
pub mod throttle {
    use jiff::SignedDuration;

    pub const THROTTLE_WINDOW: SignedDuration = SignedDuration::from_hours(1);
    pub const PAIR_FREE: i64 = 3;
    pub const SOURCE_FREE: i64 = 20;
    pub const SOURCE_MAX: i64 = 200;
    pub const ACCOUNT_FREE: i64 = 10;
    pub const KNOWN_DAYS: i64 = 90;
    pub const MAX_DELAY: SignedDuration = SignedDuration::from_mins(15);

    /// The delay after `failures` failures of which `free` cost nothing: 1 s, 2 s, 4 s…
    pub fn delay(failures: i64, free: i64) -> SignedDuration {
        if failures < free {
            return SignedDuration::ZERO;
        }
        let doublings = u32::try_from((failures - free).min(20)).unwrap_or(20);
        SignedDuration::from_secs(1_i64 << doublings).min(MAX_DELAY)
    }
}

/// Roles that must sign in with a second factor: every staff role (they open clinical
/// records, Part 2 consents or accounts; intake sees every client). Client accounts may
/// enrol but need not.
pub fn role_requires_mfa(role: Role) -> bool {
    matches!(
        role,
        Role::Admin | Role::Director | Role::Clinician | Role::Intake
    )
}

fn totp_for(secret_base32: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_base32.trim().to_ascii_uppercase())
        .to_bytes()
        .ok()?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        TOTP_DIGITS,
        0,
        u64::try_from(TOTP_STEP_SECONDS).ok()?,
        bytes,
    )
    .ok()
}

/// The RFC 6238 time step that contains `at`.
pub fn totp_step(at: Timestamp) -> i64 {
    at.as_second().div_euclid(TOTP_STEP_SECONDS)
}

/// The TOTP code of a base32 secret for the step containing `at`: what an authenticator
/// app shows. `None` when the secret is not valid base32 of at least 128 bits.
pub fn totp_code(secret_base32: &str, at: Timestamp) -> Option<String> {
    totp_code_for_step(secret_base32, totp_step(at))
}

/// The TOTP code of a base32 secret for one time step.
pub fn totp_code_for_step(secret_base32: &str, step: i64) -> Option<String> {
    let totp = totp_for(secret_base32)?;
    let time = u64::try_from(step.checked_mul(TOTP_STEP_SECONDS)?).ok()?;
    Some(totp.generate(time))
}

/// The step whose code `code` is, within the skew around `at`, compared in constant time.
fn totp_match(secret_base32: &str, code: &str, at: Timestamp) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = totp_step(at);
    let mut found = None;
    // Check every step in the window, so the time taken does not say which one matched.
    for step in now - TOTP_SKEW_STEPS..=now + TOTP_SKEW_STEPS {
        if let Some(expected) = totp_code_for_step(secret_base32, step)
            && constant_time_eq(expected.as_bytes(), code.as_bytes())
            && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new random TOTP secret, base32 without padding (what authenticator apps accept).
fn new_totp_secret() -> String {
    let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    match totp_rs::Secret::Raw(bytes).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => String::new(),
    }
}

/// The `otpauth://` key URI an authenticator app reads (as a QR code or pasted), in the
/// Google Authenticator key-URI format.
pub fn otpauth_uri(account: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
        issuer = TOTP_ISSUER,
        account = percent_encode(account),
    )
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Recovery codes: ten base32 characters (50 bits) as `xxxxx-xxxxx`, lower case.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    let (a, b) = chars.split_at(5);
    format!(
        "{}-{}",
        a.iter().collect::<String>(),
        b.iter().collect::<String>()
    )
}

/// The digest a recovery code is stored and looked up by; spaces, dashes and case do not
/// matter when typing it.
fn recovery_digest(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    digest(&normalized)
}

/// What the sign-in log keeps of an email: the SHA-256 of its lower-cased form.
pub fn email_digest(email: &str) -> String {
    digest(&email.trim().to_lowercase())
}

fn new_bearer_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A sign-in request. `Debug` shows none of its secrets.
pub struct SignInRequest<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub totp_code: Option<&'a str>,
    pub recovery_code: Option<&'a str>,
    /// Where the request came from, for the sign-in log.
    pub source_ip: Option<std::net::IpAddr>,
}

impl std::fmt::Debug for SignInRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInRequest { .. }")
    }
}

/// Where a sign-in with the right password stands.
#[derive(Debug)]
pub enum SignInStep {
    /// Signed in: here is the bearer token.
    SignedIn(IssuedToken),
    /// The account has a second factor and the request gave none.
    MfaRequired,
    /// A staff account without a second factor: enrol it, then sign-in completes.
    EnrollmentRequired(MfaEnrollment),
}

/// An enrolment in progress: the secret to add to an authenticator app and the token that
/// completes enrolment with a code from it. Shown once; `Debug` redacts.
pub struct MfaEnrollment {
    pub enrollment_token: String,
    pub secret: String,
    pub otpauth_uri: String,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for MfaEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaEnrollment")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A completed enrolment: the sign-in's token and the recovery codes, shown once.
pub struct EnrolledSignIn {
    pub issued: IssuedToken,
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for EnrolledSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolledSignIn")
            .field("issued", &self.issued)
            .finish_non_exhaustive()
    }
}

fn refused() -> AppError {
    AppError::Domain(DomainError::Unauthenticated)
}

impl App {
    pub(crate) fn attempt(
        &self,
        user: Option<UserId>,
        email_hash: Option<String>,
        source_ip: Option<std::net::IpAddr>,
        outcome: SignInOutcome,
    ) -> SignInAttempt {
        tracing::info!(user.id = user.map(|u| u.0), outcome = %outcome, "sign-in attempt");
        SignInAttempt {
            at: self.now(),
            user,
            email_hash,
            source_ip,
            outcome,
        }
    }

    /// Logs a failed attempt and answers with the refusal (the log is what throttling
    /// counts).
    async fn fail(&self, attempt: SignInAttempt) -> AppError {
        self.counters
            .sign_in_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.store.record_sign_in_attempt(&attempt).await {
            Ok(()) => refused(),
            Err(e) => e.into(),
        }
    }

    /// How long an attempt for the account `email_hash` from `source` must wait now, if at
    /// all (see [`throttle`]). Nothing is checked while an attempt must wait.
    pub(crate) async fn throttle_wait(
        &self,
        email_hash: &str,
        source: Option<std::net::IpAddr>,
    ) -> AppResult<Option<i64>> {
        use throttle::*;
        let now = self.now();
        let since = now.checked_sub(THROTTLE_WINDOW).unwrap_or(now);
        let known_since = now
            .checked_sub(jiff::SignedDuration::from_hours(24 * KNOWN_DAYS))
            .unwrap_or(now);
        let f = self
            .store
            .throttle_facts(email_hash, source, since, known_since)
            .await?;
        let until = |(n, latest): (i64, Option<Timestamp>), free: i64| {
            latest.and_then(|l| l.checked_add(delay(n, free)).ok())
        };
        let mut waits = vec![until(f.pair, PAIR_FREE), until(f.source, SOURCE_FREE)];
        if !f.known_source {
            waits.push(until(f.account, ACCOUNT_FREE));
        }
        if f.source.0 >= SOURCE_MAX {
            // The address's window ends an hour after its failures began to count.
            waits.push(f.source.1.and_then(|l| l.checked_add(THROTTLE_WINDOW).ok()));
        }
        let free_at = waits.into_iter().flatten().max();
        Ok(free_at
            .filter(|t| *t > now)
            .map(|t| (t.as_second() - now.as_second()).max(1)))
    }

    /// Refuses an attempt that must wait, logging it as throttled.
    async fn check_throttle(
        &self,
        user: Option<UserId>,
        email_hash: &str,
        source: Option<std::net::IpAddr>,
    ) -> AppResult<()> {
        if let Some(secs) = self.throttle_wait(email_hash, source).await? {
            // Same work as a real check, so timing does not tell a throttle from a refusal.
            verify_password("", decoy_hash());
            let a = self.attempt(
                user,
                Some(email_hash.to_owned()),
                source,
                SignInOutcome::Throttled,
            );
            self.counters
                .sign_in_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.store.record_sign_in_attempt(&a).await?;
            tracing::warn!(
                user.id = user.map(|u| u.0),
                retry_after_secs = secs,
                "sign-in throttled"
            );
            return Err(DomainError::Throttled {
                retry_after_secs: secs,
            }
            .into());
        }
        Ok(())
    }

    fn new_token(&self) -> AppResult<(String, Timestamp)> {
        let expires_at = self
            .now()
            .checked_add(self.settings.token_lifetime)
            .map_err(|_| DomainError::Unauthenticated)?;
        Ok((new_bearer_token(), expires_at))
    }

    /// Signs in with email and password, plus a TOTP or recovery code where the account
    /// has a second factor. A wrong email, a wrong password or code, a locked and a
    /// disabled account all get the same answer (`Unauthenticated`); only after the right
    /// password does the caller learn that a code or enrolment is needed.
    #[tracing::instrument(skip_all)]
    pub async fn sign_in(&self, req: SignInRequest<'_>) -> AppResult<SignInStep> {
        if req.totp_code.is_some() && req.recovery_code.is_some() {
            return Err(DomainError::invalid(
                "recovery_code",
                "give either totp_code or recovery_code, not both",
            )
            .into());
        }
        let digest_of_email = email_digest(req.email);
        let email_hash = Some(digest_of_email.clone());
        let ip = req.source_ip;
        let found = match Email::parse(req.email) {
            Ok(e) => self.store.sign_in_credentials(&e).await?,
            Err(_) => None,
        };
        // Unknown emails are throttled exactly like known ones, so neither the delay nor its
        // absence says whether an account exists.
        self.check_throttle(found.as_ref().map(|c| c.user.id), &digest_of_email, ip)
            .await?;
        let Some(creds) = found else {
            verify_password(req.password, decoy_hash());
            let a = self.attempt(None, email_hash, ip, SignInOutcome::UnknownEmail);
            self.store.record_sign_in_attempt(&a).await?;
            return Err(refused());
        };
        let user_id = creds.user.id;
        let now = self.now();
        if !verify_password(req.password, &creds.password_hash) {
            let a = self.attempt(Some(user_id), email_hash, ip, SignInOutcome::BadPassword);
            return Err(self.fail(a).await);
        }
        if creds.user.disabled {
            let a = self.attempt(Some(user_id), email_hash, ip, SignInOutcome::Disabled);
            self.store.record_sign_in_attempt(&a).await?;
            return Err(refused());
        }
        let Some(secret) = creds.totp_secret.as_deref() else {
            if role_requires_mfa(creds.user.role) {
                return self
                    .start_enrollment(&creds.user, email_hash, ip)
                    .await
                    .map(SignInStep::EnrollmentRequired);
            }
            return self
                .finish_sign_in(creds.user, SecondFactor::NotRequired, email_hash, ip)
                .await
                .map(SignInStep::SignedIn);
        };
        if let Some(code) = req.recovery_code {
            let hash = recovery_digest(code);
            return self
                .finish_sign_in(
                    creds.user,
                    SecondFactor::RecoveryCode(&hash),
                    email_hash,
                    ip,
                )
                .await
                .map(SignInStep::SignedIn);
        }
        let Some(code) = req.totp_code else {
            let a = self.attempt(Some(user_id), email_hash, ip, SignInOutcome::MfaRequired);
            self.store.record_sign_in_attempt(&a).await?;
            return Ok(SignInStep::MfaRequired);
        };
        let Some(step) = totp_match(secret, code, now) else {
            let a = self.attempt(Some(user_id), email_hash, ip, SignInOutcome::BadMfaCode);
            return Err(self.fail(a).await);
        };
        self.finish_sign_in(creds.user, SecondFactor::TotpStep(step), email_hash, ip)
            .await
            .map(SignInStep::SignedIn)
    }

    /// Spends the factor and issues the token; a spent factor is a failed attempt.
    async fn finish_sign_in(
        &self,
        user: User,
        factor: SecondFactor<'_>,
        email_hash: Option<String>,
        ip: Option<std::net::IpAddr>,
    ) -> AppResult<IssuedToken> {
        let (token, expires_at) = self.new_token()?;
        let token_hash = digest(&token);
        let outcome = match factor {
            SecondFactor::RecoveryCode(_) => SignInOutcome::SuccessRecoveryCode,
            _ => SignInOutcome::Success,
        };
        let a = self.attempt(Some(user.id), email_hash.clone(), ip, outcome);
        let done = self
            .store
            .complete_sign_in(
                user.id,
                factor,
                NewToken {
                    token_hash: &token_hash,
                    expires_at,
                },
                &a,
            )
            .await?;
        if !done {
            let outcome = match factor {
                SecondFactor::TotpStep(_) => SignInOutcome::MfaCodeReplayed,
                _ => SignInOutcome::BadMfaCode,
            };
            let a = self.attempt(Some(user.id), email_hash, ip, outcome);
            return Err(self.fail(a).await);
        }
        Ok(IssuedToken {
            token,
            expires_at,
            user,
        })
    }

    async fn start_enrollment(
        &self,
        user: &User,
        email_hash: Option<String>,
        ip: Option<std::net::IpAddr>,
    ) -> AppResult<MfaEnrollment> {
        let enrollment_token = new_bearer_token();
        let secret = new_totp_secret();
        let expires_at = self
            .now()
            .checked_add(ENROLLMENT_LIFETIME)
            .map_err(|_| DomainError::Unauthenticated)?;
        let a = self.attempt(
            Some(user.id),
            email_hash,
            ip,
            SignInOutcome::MfaEnrollmentRequired,
        );
        self.store
            .start_mfa_enrollment(user.id, &digest(&enrollment_token), &secret, expires_at, &a)
            .await?;
        Ok(MfaEnrollment {
            otpauth_uri: otpauth_uri(&user.email.normalized(), &secret),
            enrollment_token,
            secret,
            expires_at,
        })
    }

    /// Completes enrolment at first sign-in: the enrolment token from `sign_in` and a code
    /// from the new secret. Signs in and returns ten single-use recovery codes (shown once,
    /// stored as digests). An unknown, expired or spent token, a wrong code, and a locked or
    /// disabled account all get `Unauthenticated`; a wrong code counts towards the lockout.
    #[tracing::instrument(skip_all)]
    pub async fn complete_enrollment(
        &self,
        enrollment_token: &str,
        totp_code: &str,
        source_ip: Option<std::net::IpAddr>,
    ) -> AppResult<EnrolledSignIn> {
        let now = self.now();
        let token_hash = digest(enrollment_token);
        let pending = if enrollment_token.is_empty() {
            None
        } else {
            self.store.pending_enrollment(&token_hash, now).await?
        };
        let Some(pending) = pending else {
            let a = self.attempt(None, None, source_ip, SignInOutcome::BadEnrollmentToken);
            self.store.record_sign_in_attempt(&a).await?;
            return Err(refused());
        };
        let user = pending.user;
        let digest_of_email = email_digest(&user.email.normalized());
        let email_hash = Some(digest_of_email.clone());
        let refuse_with =
            |outcome| self.attempt(Some(user.id), email_hash.clone(), source_ip, outcome);
        self.check_throttle(Some(user.id), &digest_of_email, source_ip)
            .await?;
        if user.disabled {
            self.store
                .record_sign_in_attempt(&refuse_with(SignInOutcome::Disabled))
                .await?;
            return Err(refused());
        }
        let Some(step) = totp_match(&pending.totp_secret, totp_code, now) else {
            let a = refuse_with(SignInOutcome::BadMfaCode);
            return Err(self.fail(a).await);
        };
        let recovery_codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
            .map(|_| new_recovery_code())
            .collect();
        let recovery_code_hashes: Vec<String> =
            recovery_codes.iter().map(|c| recovery_digest(c)).collect();
        let (token, expires_at) = self.new_token()?;
        let bearer_hash = digest(&token);
        let a = refuse_with(SignInOutcome::MfaEnrolled);
        let done = self
            .store
            .complete_mfa_enrollment(
                &CompletedEnrollment {
                    enrollment_token_hash: &token_hash,
                    user: user.id,
                    totp_secret: &pending.totp_secret,
                    totp_step: step,
                    recovery_code_hashes: &recovery_code_hashes,
                    token: NewToken {
                        token_hash: &bearer_hash,
                        expires_at,
                    },
                },
                &a,
            )
            .await?;
        if !done {
            // Spent by a concurrent request between the read and the write.
            self.store
                .record_sign_in_attempt(&refuse_with(SignInOutcome::BadEnrollmentToken))
                .await?;
            return Err(refused());
        }
        Ok(EnrolledSignIn {
            issued: IssuedToken {
                token,
                expires_at,
                user,
            },
            recovery_codes,
        })
    }

    /// The secret and `otpauth://` URI of a pending enrolment, by its token: what the
    /// enrolment page shows again after a wrong code (never what a form posted). `None` for
    /// an unknown, expired or spent token.
    pub async fn pending_enrollment_view(
        &self,
        enrollment_token: &str,
    ) -> AppResult<Option<(String, String)>> {
        if enrollment_token.is_empty() {
            return Ok(None);
        }
        let pending = self
            .store
            .pending_enrollment(&digest(enrollment_token), self.now())
            .await?;
        Ok(pending.map(|p| {
            let uri = otpauth_uri(&p.user.email.normalized(), &p.totp_secret);
            (p.totp_secret, uri)
        }))
    }

    /// Enrols a user with a known TOTP secret, with no code and no recovery codes. For
    /// provisioning only: the demo clinic's documented staff accounts.
    pub async fn provision_totp_secret(&self, user: UserId, secret_base32: &str) -> AppResult<()> {
        if totp_for(secret_base32).is_none() {
            return Err(
                DomainError::invalid("totp_secret", "must be base32 of at least 128 bits").into(),
            );
        }
        Ok(self
            .store
            .set_totp_secret(user, &secret_base32.trim().to_ascii_uppercase(), self.now())
            .await?)
    }

    /// The sign-in log, oldest first (tests and administrators' tooling).
    pub async fn sign_in_attempts(
        &self,
        limit: u32,
    ) -> AppResult<Vec<circle_store::users::SignInAttemptRecord>> {
        Ok(self.store.sign_in_attempts(limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_as_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
    }

    #[test]
    fn common_and_guessable_passwords_are_refused_naming_the_field() {
        let email = Email::parse("pat.morgan@example.test").unwrap();
        for weak in [
            "password1234",
            "123456789012",
            "qwertyuiopasdf",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "iloveyou2026!",
            "patmorgan2026",
        ] {
            let Err(err) = check_new_password("password", weak, Some(&email)) else {
                panic!("{weak} was accepted");
            };
            let DomainError::Invalid(f) = &err else {
                panic!("{weak}: {err:?}")
            };
            assert_eq!(f.0[0].field, "password");
            assert!(f.0[0].message.contains("too common"), "{weak}");
            assert!(!err.to_string().contains(weak));
        }
    }

    #[test]
    fn the_passwords_tests_and_the_demo_use_are_strong_enough() {
        for ok in [
            "circle-demo-2026",
            "test-password-long-enough",
            "a-long-enough-password",
            "correct horse battery",
            "violet kettle sparrow drum",
        ] {
            check_new_password("password", ok, None).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The estimator is third-party code fed with user input: any text, in any script,
        /// gets an answer, never a panic (whose message could carry the password to a log).
        #[test]
        fn the_strength_check_answers_any_text_without_panicking(
            chars in proptest::collection::vec(proptest::char::any(), 0..140)
        ) {
            let p: String = chars.into_iter().collect();
            let _ = check_new_password("password", &p, None);
        }
    }

    #[test]
    fn a_long_password_is_scored_quickly() {
        let started = std::time::Instant::now();
        let long: String = "Zq9!xV2#mL7@pR4$".repeat(8);
        assert_eq!(long.len(), 128);
        check_new_password("password", &long, None).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn short_passwords_are_refused_without_echoing_them() {
        let err = hash_password("short").unwrap_err();
        assert!(!err.to_string().contains("short"));
        assert!(matches!(err, DomainError::Invalid(ref f) if f.0[0].field == "password"));
    }

    /// RFC 6238 appendix B: the SHA-1 seed "12345678901234567890"; our codes are the
    /// last six digits of the RFC's eight.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn totp_codes_match_the_rfc_6238_test_vectors() {
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(totp_code(RFC_SECRET, at(t)).unwrap(), code, "T = {t}");
        }
    }

    #[test]
    fn a_code_matches_its_step_within_one_step_of_skew() {
        let now = at(1_111_111_109);
        let step = totp_step(now);
        for s in [step - 1, step, step + 1] {
            let code = totp_code_for_step(RFC_SECRET, s).unwrap();
            assert_eq!(totp_match(RFC_SECRET, &code, now), Some(s));
        }
        for s in [step - 2, step + 2] {
            let code = totp_code_for_step(RFC_SECRET, s).unwrap();
            assert_eq!(totp_match(RFC_SECRET, &code, now), None);
        }
        assert_eq!(totp_match(RFC_SECRET, "08180", now), None);
        assert_eq!(totp_match(RFC_SECRET, "08180x", now), None);
        assert_eq!(totp_match(RFC_SECRET, " 081 804 ", now), Some(step));
    }

    #[test]
    fn short_or_malformed_secrets_are_refused() {
        assert!(totp_code("GEZDGNBV", at(59)).is_none(), "under 128 bits");
        assert!(totp_code("not base32!", at(59)).is_none());
        assert_eq!(new_totp_secret().len(), 32);
        assert!(totp_code(&new_totp_secret(), at(59)).is_some());
    }

    #[test]
    fn recovery_codes_ignore_case_and_dashes_and_are_stored_as_digests() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            recovery_digest(&code),
            recovery_digest(&code.replace('-', "").to_uppercase())
        );
        assert_ne!(recovery_digest(&code), code);
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        assert_eq!(
            otpauth_uri("a b@example.test", "ABC"),
            "otpauth://totp/Circle:a%20b@example.test?secret=ABC&issuer=Circle&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn staff_who_open_records_need_a_second_factor() {
        assert!(role_requires_mfa(Role::Admin));
        assert!(role_requires_mfa(Role::Director));
        assert!(role_requires_mfa(Role::Clinician));
        assert!(role_requires_mfa(Role::Intake));
        assert!(!role_requires_mfa(Role::Client));
    }

    #[test]
    fn emails_are_logged_as_digests_of_their_lower_case() {
        assert_eq!(
            email_digest("A@Example.test"),
            email_digest("a@example.test")
        );
        assert_eq!(email_digest("a@example.test").len(), 64);
    }

    #[test]
    fn tokens_are_stored_as_digests() {
        assert_eq!(digest("abc").len(), 64);
        assert_ne!(digest("abc"), "abc");
    }
}
