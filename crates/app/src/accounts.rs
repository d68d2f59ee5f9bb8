//! Account administration and password changes (the security issue).
//!
//! Administrators list, create, re-role, disable and enable accounts, reset a second
//! factor and set a temporary password; every action (and every refusal) is audited in the
//! `account` category. Disabling, a role change, a second-factor reset and a password reset
//! end all of the account's sessions on the server. A user changing their own password
//! keeps the session they change it from and ends every other one.
//!
//! A password reset never bypasses the second factor: it changes only the password, so a
//! staff account still signs in with its TOTP code (or enrols one, if it has none).

use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId, UserId};
use circle_domain::text::Email;
use circle_domain::user::{Role, UserAccount};
use circle_store::access::purpose;
pub use circle_store::accounts::AccountPatch;
use circle_store::users::{NewUser, SignInOutcome};

use crate::auth::{check_new_password, digest, email_digest, hash_password, verify_password};
use crate::{Actor, App, AppResult};

/// An account to create, as an administrator gives it.
pub struct NewAccount<'a> {
    pub email: &'a Email,
    pub password: &'a str,
    pub role: Role,
    pub clinician_id: Option<ClinicianId>,
    pub client_id: Option<ClientId>,
}

impl std::fmt::Debug for NewAccount<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The links an account of `role` needs (shared by `circle user create` and the API).
pub(crate) fn check_links(role: Role, client_id: Option<ClientId>) -> Result<(), DomainError> {
    if role == Role::Client && client_id.is_none() {
        return Err(DomainError::invalid(
            "client_id",
            "is required for a client account",
        ));
    }
    if role != Role::Client && client_id.is_some() {
        return Err(DomainError::invalid(
            "client_id",
            "only a client account is linked to a client record",
        ));
    }
    Ok(())
}

/// The clinician record an account of `role` needs: a clinician account runs sessions and
/// writes notes as its clinician, so it is linked to one; intake, administrator and client
/// accounts never are (a director may be, when they also lead groups).
pub(crate) fn check_clinician_link(
    role: Role,
    clinician_id: Option<ClinicianId>,
) -> Result<(), DomainError> {
    match (role, clinician_id) {
        (Role::Clinician, None) => Err(DomainError::invalid(
            "clinician_id",
            "is required for a clinician account: pick the clinician this account signs in as",
        )),
        (Role::Intake | Role::Admin | Role::Client, Some(_)) => Err(DomainError::invalid(
            "clinician_id",
            "only a clinician's or a director's account is linked to a clinician record",
        )),
        _ => Ok(()),
    }
}

/// The administrators' resets are for other accounts: on one's own they would skip the
/// proof a user's own change asks for (the current password), so that a stolen token could
/// replace the password or take over the second factor at the next sign-in.
fn refuse_own_account(actor: &Actor, id: UserId) -> Result<(), DomainError> {
    if actor.user_id() == id {
        return Err(DomainError::conflict(
            circle_domain::Rule::OwnAccount,
            "an administrator cannot reset their own password or second factor: change your \
             password at POST /api/v1/me/password; another administrator resets a second factor",
        ));
    }
    Ok(())
}

impl App {
    /// Every account with its sign-in state, never a secret (administrators).
    pub async fn user_accounts(&self, actor: &Actor) -> AppResult<Vec<UserAccount>> {
        let who = self.access_role::<purpose::UserAdmin>(actor).await?;
        Ok(self.store.user_accounts(&who, self.now()).await?)
    }

    /// Creates an account with its initial password (administrators): the rules of
    /// `circle user create`, plus the linked record must exist.
    pub async fn create_account(
        &self,
        actor: &Actor,
        new: &NewAccount<'_>,
    ) -> AppResult<UserAccount> {
        let who = self.access_role::<purpose::UserCreate>(actor).await?;
        check_links(new.role, new.client_id)?;
        check_clinician_link(new.role, new.clinician_id)?;
        check_new_password("password", new.password, Some(new.email))?;
        let hash = hash_password(new.password)?;
        Ok(self
            .store
            .create_account(
                &who,
                &NewUser {
                    email: new.email,
                    password_hash: &hash,
                    role: new.role,
                    clinician_id: new.clinician_id,
                    client_id: new.client_id,
                },
                self.now(),
            )
            .await?)
    }

    /// Changes an account's role or enabled state (administrators). Disabling ends all the
    /// account's sessions at once and refuses its sign-ins; an administrator cannot
    /// disable themself, and the last enabled administrator stays one.
    pub async fn update_account(
        &self,
        actor: &Actor,
        id: UserId,
        patch: AccountPatch,
    ) -> AppResult<UserAccount> {
        // The refusal of a non-administrator is audited as the change they asked for.
        Ok(match (patch.role, patch.disabled) {
            (Some(_), _) => {
                let who = self.access_role::<purpose::UserRoleChange>(actor).await?;
                self.store
                    .update_account(&who, id, patch, self.now())
                    .await?
            }
            (None, Some(false)) => {
                let who = self.access_role::<purpose::UserEnable>(actor).await?;
                self.store
                    .update_account(&who, id, patch, self.now())
                    .await?
            }
            _ => {
                let who = self.access_role::<purpose::UserDisable>(actor).await?;
                self.store
                    .update_account(&who, id, patch, self.now())
                    .await?
            }
        })
    }

    /// Clears an account's second factor and recovery codes, so it enrols again at its next
    /// sign-in, and ends its sessions (administrators; for a lost authenticator).
    pub async fn reset_mfa(&self, actor: &Actor, id: UserId) -> AppResult<UserAccount> {
        let who = self.access_role::<purpose::UserMfaReset>(actor).await?;
        refuse_own_account(actor, id)?;
        Ok(self.store.reset_mfa(&who, id, self.now()).await?)
    }

    /// Sets a temporary password (administrators): ends all the account's sessions and
    /// lifts a lockout, but keeps its second factor.
    pub async fn reset_password(&self, actor: &Actor, id: UserId, password: &str) -> AppResult<()> {
        let who = self
            .access_role::<purpose::UserPasswordReset>(actor)
            .await?;
        refuse_own_account(actor, id)?;
        let user = self.store.user(id).await?;
        check_new_password("password", password, Some(&user.email))?;
        let hash = hash_password(password)?;
        Ok(self
            .store
            .set_password(&who, id, &hash, None, self.now())
            .await?)
    }

    /// Changes the caller's own password, given the current one. Keeps the session of
    /// `token` (the request's own) and ends every other session of the account. A wrong
    /// current password counts towards the lockout, like a wrong one at sign-in, so a
    /// stolen token cannot be used to guess the password.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        token: &str,
        current: &str,
        new: &str,
    ) -> AppResult<()> {
        let who = self.access_role::<purpose::OwnAccount>(actor).await?;
        let user = self.store.user(actor.user_id()).await?;
        let creds = self
            .store
            .sign_in_credentials(&user.email)
            .await?
            .ok_or(DomainError::not_found("user"))?;
        let now = self.now();
        let digest_of_email = email_digest(&user.email.normalized());
        let source = actor
            .request()
            .source
            .as_deref()
            .and_then(|s| s.parse().ok());
        if let Some(secs) = self.throttle_wait(&digest_of_email, source).await? {
            return Err(DomainError::invalid(
                "current_password",
                format!(
                    "cannot be checked now: too many wrong attempts; try again in {secs} seconds"
                ),
            )
            .into());
        }
        if !verify_password(current, &creds.password_hash) {
            let attempt = self.attempt(
                Some(user.id),
                Some(digest_of_email),
                source,
                SignInOutcome::BadPassword,
            );
            self.store.record_sign_in_attempt(&attempt).await?;
            return Err(DomainError::invalid("current_password", "is not correct").into());
        }
        check_new_password("new_password", new, Some(&user.email))?;
        if verify_password(new, &creds.password_hash) {
            return Err(DomainError::invalid(
                "new_password",
                "must differ from the current password",
            )
            .into());
        }
        let hash = hash_password(new)?;
        Ok(self
            .store
            .set_password(&who, user.id, &hash, Some(&digest(token)), now)
            .await?)
    }
}
