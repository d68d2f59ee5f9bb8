//! RFC 9457 problem details: how every API error leaves the server. Messages name the field
//! and the rule and never echo a submitted value (it may be protected health information).
//! Internal failures say "something went wrong" with the request id; their cause is logged
//! by the middleware in `lib.rs`, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circle_app::AppError;
use circle_domain::{DomainError, FieldError, FieldErrors};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:circle:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Machine-readable code: a rule such as `group_full`, or `invalid_input`, `not_found`, …
    pub code: String,
    /// Per-field details for `invalid_input`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The request id, to quote when reporting a server error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Marks a response whose problem body the middleware completes (request id) and whose
/// cause it logs.
#[derive(Debug, Clone)]
pub struct InternalFailure(pub String);

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub enum ApiError {
    Domain(DomainError),
    /// A request the server could not read: malformed JSON, a bad path or query, …
    BadRequest {
        status: StatusCode,
        code: &'static str,
        detail: String,
        errors: FieldErrors,
    },
    Internal(String),
    /// The database could not write (`full`: its disk is full); nothing was committed.
    Storage {
        full: bool,
        cause: String,
    },
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(d) => ApiError::Domain(d),
            AppError::Internal(source) => {
                let storage = source.storage();
                // The store's error text names columns and drivers, never clinical data.
                let mut cause = source.to_string();
                let mut next = std::error::Error::source(&source);
                while let Some(s) = next {
                    cause.push_str(": ");
                    cause.push_str(&s.to_string());
                    next = s.source();
                }
                match storage {
                    Some(full) => ApiError::Storage { full, cause },
                    None => ApiError::Internal(cause),
                }
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError::Domain(e)
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            status: StatusCode::BAD_REQUEST,
            code,
            detail: detail.into(),
            errors: FieldErrors::default(),
        }
    }

    pub fn field(status: StatusCode, code: &'static str, field: String, message: String) -> Self {
        let mut errors = FieldErrors::default();
        errors.push(field, message);
        ApiError::BadRequest {
            status,
            code,
            detail: "the request has fields that break their rules".to_owned(),
            errors,
        }
    }

    pub(crate) fn problem(self) -> (StatusCode, Problem, Option<InternalFailure>) {
        let make = |status: StatusCode,
                    code: &str,
                    title: &str,
                    detail: String,
                    errors: Vec<FieldError>| Problem {
            kind: format!("urn:circle:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors,
            request_id: None,
        };
        match self {
            ApiError::Domain(DomainError::NotFound { entity }) => {
                let s = StatusCode::NOT_FOUND;
                (
                    s,
                    make(
                        s,
                        "not_found",
                        "Not found",
                        format!("{entity} not found"),
                        vec![],
                    ),
                    None,
                )
            }
            ApiError::Domain(DomainError::Invalid(errors)) => {
                let s = StatusCode::UNPROCESSABLE_ENTITY;
                let detail = errors.to_string();
                (
                    s,
                    make(s, "invalid_input", "Invalid input", detail, errors.0),
                    None,
                )
            }
            ApiError::Domain(DomainError::Conflict(c)) => {
                let s = StatusCode::CONFLICT;
                let code = serde_json::to_value(c.rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "conflict".to_owned());
                (
                    s,
                    make(s, &code, "Conflict with a rule", c.message, vec![]),
                    None,
                )
            }
            ApiError::Domain(DomainError::Unauthenticated) => {
                let s = StatusCode::UNAUTHORIZED;
                (
                    s,
                    make(
                        s,
                        "unauthenticated",
                        "Authentication required",
                        "sign in and send `Authorization: Bearer <token>`".to_owned(),
                        vec![],
                    ),
                    None,
                )
            }
            ApiError::Domain(DomainError::Forbidden) => {
                let s = StatusCode::FORBIDDEN;
                (
                    s,
                    make(
                        s,
                        "forbidden",
                        "Forbidden",
                        "your role may not do this".to_owned(),
                        vec![],
                    ),
                    None,
                )
            }
            ApiError::Domain(DomainError::Throttled { retry_after_secs }) => {
                let s = StatusCode::TOO_MANY_REQUESTS;
                (
                    s,
                    make(
                        s,
                        "throttled",
                        "Too many attempts",
                        format!(
                            "too many failed attempts; nothing was checked: try again in \
                             {retry_after_secs} second{}",
                            if retry_after_secs == 1 { "" } else { "s" }
                        ),
                        vec![],
                    ),
                    None,
                )
            }
            ApiError::BadRequest {
                status,
                code,
                detail,
                errors,
            } => (
                status,
                make(status, code, "Bad request", detail, errors.0),
                None,
            ),
            ApiError::Storage { full, cause } => {
                let s = StatusCode::SERVICE_UNAVAILABLE;
                let (code, detail) = storage_problem(full);
                (
                    s,
                    make(s, code, "Storage unavailable", detail.to_owned(), vec![]),
                    Some(InternalFailure(cause)),
                )
            }
            ApiError::Internal(cause) => {
                let s = StatusCode::INTERNAL_SERVER_ERROR;
                (
                    s,
                    make(
                        s,
                        "internal",
                        "Internal error",
                        "something went wrong".to_owned(),
                        vec![],
                    ),
                    Some(InternalFailure(cause)),
                )
            }
        }
    }
}

/// The code and detail of a storage failure: "disk full" when it is. Nothing was saved, and
/// saying so lets a person retry once space is freed.
pub fn storage_problem(full: bool) -> (&'static str, &'static str) {
    if full {
        (
            "storage_full",
            "the database cannot write: disk full; nothing was saved, try again later",
        )
    } else {
        (
            "storage_unavailable",
            "the database cannot write (storage error); nothing was saved, try again later",
        )
    }
}

/// Serializes a problem with its content type.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::Domain(DomainError::Throttled { retry_after_secs }) => {
                HeaderValue::from_str(&retry_after_secs.to_string()).ok()
            }
            _ => None,
        };
        let (status, problem, internal) = self.problem();
        let mut resp = problem_response(status, &problem);
        if let Some(v) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Some(i) = internal {
            resp.extensions_mut().insert(i);
            resp.extensions_mut().insert(problem);
        }
        resp
    }
}
