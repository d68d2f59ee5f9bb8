//! One session: its roster, cancellation and attendance.

use axum::Json;
use axum::extract::State;
use circle_app::App;
use circle_domain::ids::{ClientId, SessionId};
use circle_domain::session::{
    Attendance, AttendanceInput, CancelledSession, RosterEntry, Session, SessionCancellation,
    SessionDetails,
};

use super::Errors;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::ApiError;

/// One session.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = Session), Errors), security(("bearer" = [])))]
pub async fn get_session(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(app.session(&a, SessionId(id)).await?))
}

/// Who is expected: members whose membership covers the session's date.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/roster", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RosterEntry>), Errors), security(("bearer" = [])))]
pub async fn roster(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<RosterEntry>>, ApiError> {
    Ok(Json(app.roster(&a, SessionId(id)).await?))
}

/// Set a session's topic (an empty string returns to the curriculum's) or the
/// facilitators present.
#[utoipa::path(patch, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = i64, Path)),
    request_body = SessionDetails, responses((status = 200, body = Session), Errors), security(("bearer" = [])))]
pub async fn update_session(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SessionDetails>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(
        app.update_session_details(&a, SessionId(id), &body).await?,
    ))
}

/// Cancel a scheduled session with a reason. The answer lists whom to notify: the members
/// on the session's roster (roster names) and its facilitators.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/cancel", tag = "sessions", params(("id" = i64, Path)),
    request_body = SessionCancellation, responses((status = 200, body = CancelledSession), Errors), security(("bearer" = [])))]
pub async fn cancel(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SessionCancellation>,
) -> Result<Json<CancelledSession>, ApiError> {
    Ok(Json(app.cancel_session(&a, SessionId(id), &body).await?))
}

/// Attendance recorded for a session.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/attendance", tag = "sessions", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Attendance>), Errors), security(("bearer" = [])))]
pub async fn list_attendance(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Attendance>>, ApiError> {
    Ok(Json(app.attendance(&a, SessionId(id)).await?))
}

/// Record or correct one member's attendance (status and minutes).
#[utoipa::path(put, path = "/api/v1/sessions/{id}/attendance/{client_id}", tag = "sessions",
    params(("id" = i64, Path), ("client_id" = i64, Path)),
    request_body = AttendanceInput, responses((status = 200, body = Attendance), Errors), security(("bearer" = [])))]
pub async fn record_attendance(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath((id, client)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<AttendanceInput>,
) -> Result<Json<Attendance>, ApiError> {
    Ok(Json(
        app.record_attendance(&a, SessionId(id), ClientId(client), &body)
            .await?,
    ))
}
