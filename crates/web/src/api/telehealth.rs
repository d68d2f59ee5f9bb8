//! Telehealth join URLs and the clinic's calendar settings (issue 15).

use axum::Json;
use axum::extract::State;
use circle_app::App;
use circle_domain::ids::{GroupId, SessionId};
use circle_domain::telehealth::{CalendarSettings, JoinUrlInput};
use serde::Serialize;
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::ApiError;

/// The join URL in force (`null`: none; the session meets in its room).
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinUrlOut {
    pub join_url: Option<String>,
}

/// Set or remove a telehealth group's join URL (an `https://` address; 422 names
/// `join_url` otherwise). Directors who design the group; a group with a room has none.
#[utoipa::path(put, path = "/api/v1/groups/{id}/join-url", tag = "groups", params(("id" = i64, Path)),
    request_body = JoinUrlInput, responses((status = 200, body = JoinUrlOut), Errors), security(("bearer" = [])))]
pub async fn set_group_join_url(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<JoinUrlInput>,
) -> Result<Json<JoinUrlOut>, ApiError> {
    let join_url = app
        .set_group_join_url(&a, GroupId(id), body.join_url.as_ref())
        .await?;
    Ok(Json(JoinUrlOut { join_url }))
}

/// The join URL in force for a session (its own, else its group's): the session's
/// facilitators and directors.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/join-url", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = JoinUrlOut), Errors), security(("bearer" = [])))]
pub async fn get_session_join_url(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JoinUrlOut>, ApiError> {
    let join_url = app.session_join_url_checked(&a, SessionId(id)).await?;
    Ok(Json(JoinUrlOut { join_url }))
}

/// Override (or with `null` clear) one session's join URL — e.g. a room session moved
/// online for a week. Answers the URL now in force.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/join-url", tag = "sessions", params(("id" = i64, Path)),
    request_body = JoinUrlInput, responses((status = 200, body = JoinUrlOut), Errors), security(("bearer" = [])))]
pub async fn set_session_join_url(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<JoinUrlInput>,
) -> Result<Json<JoinUrlOut>, ApiError> {
    let join_url = app
        .set_session_join_url(&a, SessionId(id), body.join_url.as_ref())
        .await?;
    Ok(Json(JoinUrlOut { join_url }))
}

/// The clinic's calendar settings (every staff role reads them).
#[utoipa::path(get, path = "/api/v1/clinic/calendar-settings", tag = "programs",
    responses((status = 200, body = CalendarSettings), Errors), security(("bearer" = [])))]
pub async fn get_calendar_settings(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<CalendarSettings>, ApiError> {
    Ok(Json(app.calendar_settings(&a).await?))
}

/// Change the clinic's calendar settings: clinic-wide directors and administrators.
#[utoipa::path(put, path = "/api/v1/clinic/calendar-settings", tag = "programs",
    request_body = CalendarSettings, responses((status = 200, body = CalendarSettings), Errors), security(("bearer" = [])))]
pub async fn put_calendar_settings(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<CalendarSettings>,
) -> Result<Json<CalendarSettings>, ApiError> {
    Ok(Json(app.set_calendar_settings(&a, body).await?))
}
