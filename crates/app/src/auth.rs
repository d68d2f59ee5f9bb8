//! Sign-in: Argon2id password hashes (PHC strings) and opaque bearer tokens whose SHA-256
//! digest is all the database keeps.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::text::Email;
use circle_domain::user::{Role, User, check_password};
use circle_store::users::NewUser;
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

/// Hashes a password with Argon2id at the crate's default cost (m=19 MiB, t=2, p=1, the
/// OWASP minimum for Argon2id).
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    check_password(password).map_err(|rule| DomainError::invalid("password", rule))?;
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| DomainError::invalid("password", "could not be hashed"))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn digest(token: &str) -> String {
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
        if role == Role::Client && client_id.is_none() {
            return Err(
                DomainError::invalid("client_id", "is required for a client account").into(),
            );
        }
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

    /// Signs in with email and password; a wrong email, a wrong password and a disabled
    /// account all get the same answer.
    pub async fn login(&self, email: &str, password: &str) -> AppResult<IssuedToken> {
        let found = match Email::parse(email) {
            Ok(e) => self.store.user_credentials(&e).await?,
            Err(_) => None,
        };
        let Some((user, hash)) = found else {
            verify_password(password, decoy_hash());
            return Err(AppError::Domain(DomainError::Unauthenticated));
        };
        if !verify_password(password, &hash) || user.disabled {
            return Err(AppError::Domain(DomainError::Unauthenticated));
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let now = self.now();
        let expires_at = now
            .checked_add(self.settings.token_lifetime)
            .map_err(|_| DomainError::Unauthenticated)?;
        self.store
            .insert_token(&digest(&token), user.id, now, expires_at)
            .await?;
        Ok(IssuedToken {
            token,
            expires_at,
            user,
        })
    }

    /// The actor a bearer token stands for, if it is valid now.
    pub async fn authenticate(&self, token: &str) -> AppResult<Actor> {
        let user = self
            .store
            .user_for_token(&digest(token), self.now())
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        Ok(Actor {
            user_id: user.id,
            role: user.role,
            clinician_id: user.clinician_id,
            client_id: user.client_id,
        })
    }

    /// Ends the session of this token.
    pub async fn logout(&self, token: &str) -> AppResult<()> {
        Ok(self.store.delete_token(&digest(token)).await?)
    }

    pub async fn user_count(&self) -> AppResult<i64> {
        Ok(self.store.count_users().await?)
    }

    pub async fn me(&self, actor: &Actor) -> AppResult<User> {
        Ok(self.store.user(actor.user_id).await?)
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
    fn short_passwords_are_refused_without_echoing_them() {
        let err = hash_password("short").unwrap_err();
        assert!(!err.to_string().contains("short"));
        assert!(matches!(err, DomainError::Invalid(ref f) if f.0[0].field == "password"));
    }

    #[test]
    fn tokens_are_stored_as_digests() {
        assert_eq!(digest("abc").len(), 64);
        assert_ne!(digest("abc"), "abc");
    }
}
