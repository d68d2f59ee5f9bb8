//! The JSON API under `/api/v1`: thin handlers that extract, call one service method and
//! render. Every route is described in the OpenAPI document.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod groups;
pub mod intake;
pub mod measures;
pub mod messages;
pub mod notes;
pub mod placement;
pub mod planning;
pub mod reports;
pub mod sessions;
pub mod structure;
pub mod telehealth;

use circle_app::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};

use crate::problem::{ApiError, Problem};

/// One page of a list in a stable order (ascending id). Pass `next_after` as `after` to
/// get the next page; it is absent on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

impl<T> From<Page<T>> for PageOf<T> {
    fn from(p: Page<T>) -> Self {
        Self {
            items: p.items,
            next_after: p.next_after,
        }
    }
}

/// Cursor pagination parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Return items with an id greater than this (default 0).
    pub after: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::field(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_query",
                "limit".to_owned(),
                "must be 1–200".to_owned(),
            ));
        }
        Ok(PageRequest {
            after: self.after.unwrap_or(0).max(0),
            limit,
        })
    }
}

/// The errors every authenticated route can answer with, as problem+json.
#[derive(IntoResponses)]
#[allow(
    dead_code,
    reason = "describes responses for the OpenAPI document only"
)]
pub enum Errors {
    /// Malformed JSON, a bad id in the path or a bad query parameter.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// Missing, invalid or expired bearer token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthenticated(Problem),
    /// The caller's role may not do this.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such record (or the caller may not know of it).
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// A rule about the current state was broken; `code` names it.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// The body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The body is not JSON.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// Fields break their rules; `errors` names each.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(Problem),
    /// Something went wrong on the server; quote `request_id`.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
}
