//! Sign-in and the caller's own account. Sign-in takes a second factor for staff (TOTP,
//! enrolled at first sign-in); the rules live in `circle_app::auth`, this module only maps
//! them to HTTP: every refusal is the same 401 `invalid_credentials`.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use circle_app::auth::{SignInRequest, SignInStep};
use circle_app::{App, AppError};
use circle_domain::DomainError;
use circle_domain::user::{Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, Auth, bearer};
use crate::problem::{ApiError, Problem, problem_response};

/// Email and password, plus a code from the authenticator app (`totp_code`) or a
/// single-use recovery code (`recovery_code`) once the account has a second factor.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The 6-digit code the authenticator app shows now.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// One of the recovery codes shown at enrolment, instead of a TOTP code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginRequest { .. }")
    }
}

/// A completed sign-in: a bearer token for `Authorization: Bearer <token>`, shown once.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Always `signed_in`.
    pub status: SignedIn,
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    pub role: Role,
}

/// The `status` of a completed sign-in.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum SignedIn {
    SignedIn,
}

/// The `status` of a staff sign-in that must first enrol a second factor.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentRequired {
    MfaEnrollmentRequired,
}

/// The password was right, and this staff account has no second factor yet: add `secret`
/// (or scan `otpauth_uri`) in an authenticator app, then send a code from it with
/// `enrollment_token` to `POST /api/v1/auth/mfa/enroll` before `expires_at` (10 minutes).
#[derive(Serialize, ToSchema)]
pub struct EnrollmentResponse {
    /// Always `mfa_enrollment_required`.
    pub status: EnrollmentRequired,
    pub enrollment_token: String,
    /// The TOTP secret, base32 (RFC 6238: SHA-1, 6 digits, 30-second steps).
    pub secret: String,
    pub otpauth_uri: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
}

/// What a sign-in with the right password returns.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResult {
    SignedIn(LoginResponse),
    EnrollmentRequired(EnrollmentResponse),
}

fn signed_in(issued: circle_app::auth::IssuedToken) -> LoginResponse {
    LoginResponse {
        status: SignedIn::SignedIn,
        token: issued.token,
        expires_at: issued.expires_at,
        role: issued.user.role,
    }
}

/// The source address of the request, for the sign-in log (absent when the server was
/// not started with connection info, as in router-level tests).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// 401 for a refused sign-in. A wrong email, password or code and a locked or disabled
/// account all get exactly this, so none of them can be told apart.
fn invalid_credentials() -> Response {
    sign_in_problem(
        "invalid_credentials",
        "Sign-in refused",
        "the email, password or code is not correct",
    )
}

fn sign_in_problem(code: &str, title: &str, detail: &str) -> Response {
    let status = StatusCode::UNAUTHORIZED;
    problem_response(
        status,
        &Problem {
            kind: format!("urn:circle:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.to_owned(),
            code: code.to_owned(),
            errors: vec![],
            request_id: None,
        },
    )
}

fn refusal(e: AppError) -> Response {
    match e {
        AppError::Domain(DomainError::Unauthenticated) => invalid_credentials(),
        other => ApiError::from(other).into_response(),
    }
}

/// Sign in. Staff accounts (admin, director, clinician) need a second factor: the first
/// sign-in of one without it returns `status: mfa_enrollment_required` (complete it at
/// `POST /api/v1/auth/mfa/enroll`); afterwards a sign-in without `totp_code` or
/// `recovery_code` is 401 with `code: mfa_required`. Wrong credentials and a used code are
/// both 401 `invalid_credentials`. Repeated failures from one address, or against one
/// account from addresses it has never signed in from, are slowed down: while a delay
/// runs the answer is 429 `throttled` with `Retry-After`, and nothing is checked.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResult), Errors,
        (status = 429, description = "Too many failed attempts; wait `Retry-After` seconds.",
            body = Problem, content_type = "application/problem+json")))]
pub async fn login(
    State(app): State<App>,
    ClientIp(source_ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Response {
    let step = app
        .sign_in(SignInRequest {
            email: &body.email,
            password: &body.password,
            totp_code: body.totp_code.as_deref(),
            recovery_code: body.recovery_code.as_deref(),
            source_ip,
        })
        .await;
    match step {
        Ok(SignInStep::SignedIn(issued)) => {
            Json(LoginResult::SignedIn(signed_in(issued))).into_response()
        }
        Ok(SignInStep::EnrollmentRequired(e)) => {
            Json(LoginResult::EnrollmentRequired(EnrollmentResponse {
                status: EnrollmentRequired::MfaEnrollmentRequired,
                enrollment_token: e.enrollment_token,
                secret: e.secret,
                otpauth_uri: e.otpauth_uri,
                expires_at: e.expires_at,
            }))
            .into_response()
        }
        Ok(SignInStep::MfaRequired) => sign_in_problem(
            "mfa_required",
            "Second factor required",
            "send the code from your authenticator app as totp_code, or a recovery code as recovery_code",
        ),
        Err(e) => refusal(e),
    }
}

/// The enrolment token from sign-in and a code from the new secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// A missing token is treated like a wrong one: 401.
    #[serde(default)]
    pub enrollment_token: String,
    #[serde(default)]
    pub totp_code: String,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollRequest { .. }")
    }
}

/// Enrolment done and signed in. The recovery codes are shown this once: each signs in
/// once in place of a TOTP code.
#[derive(Serialize, ToSchema)]
pub struct EnrollResponse {
    /// Always `signed_in`.
    pub status: SignedIn,
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: jiff::Timestamp,
    pub role: Role,
    pub recovery_codes: Vec<String>,
}

/// Complete second-factor enrolment at first sign-in and sign in. An unknown, expired or
/// used enrolment token or a wrong code is 401 `invalid_credentials`.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll", tag = "auth", operation_id = "enroll_second_factor", request_body = EnrollRequest,
    responses((status = 200, body = EnrollResponse), Errors))]
pub async fn enroll(
    State(app): State<App>,
    ClientIp(source_ip): ClientIp,
    ApiJson(body): ApiJson<EnrollRequest>,
) -> Response {
    match app
        .complete_enrollment(&body.enrollment_token, &body.totp_code, source_ip)
        .await
    {
        Ok(done) => {
            let LoginResponse {
                status,
                token,
                expires_at,
                role,
            } = signed_in(done.issued);
            Json(EnrollResponse {
                status,
                token,
                expires_at,
                role,
                recovery_codes: done.recovery_codes,
            })
            .into_response()
        }
        Err(e) => refusal(e),
    }
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
