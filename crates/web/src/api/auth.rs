//! Sign-in and the caller's own account.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::user::{Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, Auth, bearer};
use crate::problem::ApiError;

/// Email and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginRequest { .. }")
    }
}

/// A bearer token for `Authorization: Bearer <token>`; shown once.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    pub role: Role,
}

/// Sign in with email and password; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), Errors))]
pub async fn login(
    State(app): State<App>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let issued = app.login(&body.email, &body.password).await?;
    Ok(Json(LoginResponse {
        token: issued.token,
        expires_at: issued.expires_at,
        role: issued.user.role,
    }))
}

/// Sign out: the token stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"), Errors), security(("bearer" = [])))]
pub async fn logout(
    State(app): State<App>,
    Auth(_actor): Auth,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    if let Some(token) = bearer(&headers) {
        app.logout(token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's own account.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = User), Errors), security(("bearer" = [])))]
pub async fn me(State(app): State<App>, Auth(actor): Auth) -> Result<Json<User>, ApiError> {
    Ok(Json(app.me(&actor).await?))
}
