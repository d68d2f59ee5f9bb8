//! Account administration (administrators) and a user's own password change. The rules
//! live in `circle_app::accounts`; this module maps them to HTTP.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use circle_app::App;
use circle_app::accounts::NewAccount;
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, ClinicianId, ProgramId, UserId};
use circle_domain::text::Email;
use circle_domain::user::{Role, UserAccount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, Auth, bearer};
use crate::problem::ApiError;

/// A new account and its initial password (12–128 characters, not common or guessable).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountRequest {
    #[schema(value_type = String, format = Email)]
    pub email: Email,
    pub role: Role,
    pub password: String,
    /// The clinician record of a clinician's or director's account.
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub clinician_id: Option<ClinicianId>,
    /// The client record of a client's account (required for the client role).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub client_id: Option<ClientId>,
}

impl std::fmt::Debug for NewAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewAccountRequest { .. }")
    }
}

/// A change to an account: a new role (between staff roles), or disabling (`true`) or
/// enabling (`false`) it. At least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatchRequest {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A temporary password set by an administrator.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub password: String,
}

impl std::fmt::Debug for PasswordResetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordResetRequest { .. }")
    }
}

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChangeRequest { .. }")
    }
}

/// Every account with its role, links and sign-in state (second factor enrolled,
/// disabled, locked), never a secret (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserAccount>), Errors), security(("bearer" = [])))]
pub async fn list_users(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<Vec<UserAccount>>, ApiError> {
    Ok(Json(app.user_accounts(&a).await?))
}

/// Create an account with a role and an initial password (administrators). A common or
/// guessable password is 422 naming `password`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewAccountRequest,
    responses((status = 201, body = UserAccount), Errors), security(("bearer" = [])))]
pub async fn create_user(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewAccountRequest>,
) -> Result<(StatusCode, Json<UserAccount>), ApiError> {
    let account = app
        .create_account(
            &a,
            &NewAccount {
                email: &body.email,
                password: &body.password,
                role: body.role,
                clinician_id: body.clinician_id,
                client_id: body.client_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// Change an account's role or disable/enable it (administrators). Disabling ends all its
/// sessions at once and refuses its sign-ins; a role change ends its sessions too. 409
/// `self_disable` for one's own account, `last_admin` when no enabled administrator would
/// remain.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body = AccountPatchRequest,
    responses((status = 200, body = UserAccount), Errors), security(("bearer" = [])))]
pub async fn update_user(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AccountPatchRequest>,
) -> Result<Json<UserAccount>, ApiError> {
    if body.role.is_none() && body.disabled.is_none() {
        return Err(DomainError::invalid("role", "give role or disabled (or both)").into());
    }
    let patch = circle_app::accounts::AccountPatch {
        role: body.role,
        disabled: body.disabled,
    };
    Ok(Json(app.update_account(&a, UserId(id), patch).await?))
}

/// Reset an account's second factor (administrators): its TOTP secret and recovery codes
/// are cleared, it enrols again at its next sign-in, and its sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/mfa-reset", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserAccount), Errors), security(("bearer" = [])))]
pub async fn reset_mfa(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<UserAccount>, ApiError> {
    Ok(Json(app.reset_mfa(&a, UserId(id)).await?))
}

/// Set a temporary password for an account (administrators). Its sessions end and a
/// lockout is lifted; its second factor stays: sign-in still needs the TOTP code.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", params(("id" = i64, Path)),
    request_body = PasswordResetRequest,
    responses((status = 204, description = "password set; the account's sessions ended"), Errors),
    security(("bearer" = [])))]
pub async fn reset_password(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<StatusCode, ApiError> {
    app.reset_password(&a, UserId(id), &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The programs a director's account is linked to. Empty: a clinic-wide director, who
/// sees every program; otherwise the director sees and acts only on these programs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectorPrograms {
    #[schema(value_type = Vec<i64>)]
    pub program_ids: Vec<ProgramId>,
    /// The director reaches every program (then `program_ids` is empty). A director with
    /// neither programs nor this setting reaches nothing.
    #[serde(default)]
    pub clinic_wide: bool,
}

/// The programs linked to an account (administrators), and whether it is clinic-wide.
#[utoipa::path(get, path = "/api/v1/users/{id}/programs", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = DirectorPrograms), Errors), security(("bearer" = [])))]
pub async fn user_programs(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DirectorPrograms>, ApiError> {
    let (program_ids, clinic_wide) = app.linked_programs(&a, UserId(id)).await?;
    Ok(Json(DirectorPrograms {
        program_ids,
        clinic_wide,
    }))
}

/// Set what a director directs (administrators): exactly these programs, or the whole
/// clinic with `clinic_wide` and no programs. Removing every program never makes a
/// director clinic-wide (they then reach nothing). Audited as `user.programs_change`. 422
/// naming `program_ids` for an account that is not a director's or a program that does
/// not exist, and naming `clinic_wide` when both are given.
#[utoipa::path(put, path = "/api/v1/users/{id}/programs", tag = "users", params(("id" = i64, Path)),
    request_body = DirectorPrograms,
    responses((status = 200, body = DirectorPrograms), Errors), security(("bearer" = [])))]
pub async fn set_user_programs(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DirectorPrograms>,
) -> Result<Json<DirectorPrograms>, ApiError> {
    if body.program_ids.len() > 500 {
        return Err(DomainError::invalid("program_ids", "must list at most 500 programs").into());
    }
    Ok(Json(DirectorPrograms {
        program_ids: app
            .set_director_programs(&a, UserId(id), &body.program_ids, body.clinic_wide)
            .await?,
        clinic_wide: body.clinic_wide,
    }))
}

/// Change your own password. The token of this request stays valid; every other session of
/// the account ends. A wrong `current_password` is 422 and counts towards the lockout.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = PasswordChangeRequest,
    responses((status = 204, description = "changed; other sessions ended"), Errors),
    security(("bearer" = [])))]
pub async fn change_password(
    State(app): State<App>,
    Auth(a): Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers).ok_or(DomainError::Unauthenticated)?;
    app.change_own_password(&a, token, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
