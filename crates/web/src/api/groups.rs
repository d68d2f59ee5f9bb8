//! Groups, their memberships and their sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::group::{Group, GroupPatch, NewGroup};
use circle_domain::ids::{GroupId, MembershipId, ProgramId};
use circle_domain::membership::{Membership, MembershipChange, NewMembership};
use circle_domain::session::{MaterializeRequest, Session};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Errors, PageOf, PageQuery};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// Filters and pagination for the group list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// Only the groups of this program.
    pub program_id: Option<i64>,
    /// Return groups with an id greater than this (default 0).
    pub after: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// List groups, optionally of one program.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(GroupQuery),
    responses((status = 200, body = PageOf<Group>), Errors), security(("bearer" = [])))]
pub async fn list_groups(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<GroupQuery>,
) -> Result<Json<PageOf<Group>>, ApiError> {
    let page = PageQuery {
        after: q.after,
        limit: q.limit,
    }
    .request()?;
    Ok(Json(
        app.list_groups(&a, q.program_id.map(ProgramId), page)
            .await?
            .into(),
    ))
}

/// Create a group (directors). Size, room capacity, program cap, facilitator license and
/// double-booking rules are checked.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, body = Group), Errors), security(("bearer" = [])))]
pub async fn create_group(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewGroup>,
) -> Created<Group> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_group(&a, &body).await?),
    ))
}

/// One group.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = Group), Errors), security(("bearer" = [])))]
pub async fn get_group(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Group>, ApiError> {
    Ok(Json(app.group(&a, GroupId(id)).await?))
}

/// Change a group (directors); `version` must be current and every rule holds again.
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    request_body = GroupPatch, responses((status = 200, body = Group), Errors), security(("bearer" = [])))]
pub async fn update_group(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupPatch>,
) -> Result<Json<Group>, ApiError> {
    Ok(Json(app.update_group(&a, GroupId(id), &body).await?))
}

/// A group's memberships, current and past.
#[utoipa::path(get, path = "/api/v1/groups/{id}/memberships", tag = "groups", params(("id" = i64, Path), PageQuery),
    responses((status = 200, body = PageOf<Membership>), Errors), security(("bearer" = [])))]
pub async fn list_memberships(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<Membership>>, ApiError> {
    Ok(Json(
        app.memberships(&a, GroupId(id), q.request()?).await?.into(),
    ))
}

/// Enroll a client (directors, intake). Refused with 409 naming the rule: group full,
/// level of care, closed cohort, module boundary, separation, schedule clash.
#[utoipa::path(post, path = "/api/v1/groups/{id}/memberships", tag = "groups", operation_id = "enroll_in_group", params(("id" = i64, Path)),
    request_body = NewMembership, responses((status = 201, body = Membership), Errors), security(("bearer" = [])))]
pub async fn enroll(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewMembership>,
) -> Created<Membership> {
    Ok((
        StatusCode::CREATED,
        Json(app.enroll(&a, GroupId(id), &body).await?),
    ))
}

/// Put a membership on hold, resume it, or end it (history is kept).
#[utoipa::path(patch, path = "/api/v1/memberships/{id}", tag = "groups", params(("id" = i64, Path)),
    request_body = MembershipChange, responses((status = 200, body = Membership), Errors), security(("bearer" = [])))]
pub async fn change_membership(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MembershipChange>,
) -> Result<Json<Membership>, ApiError> {
    Ok(Json(
        app.change_membership(&a, MembershipId(id), &body).await?,
    ))
}

/// The date range of a session listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DateRange {
    /// First local date, `YYYY-MM-DD`.
    #[param(value_type = String, format = Date)]
    pub from: jiff::civil::Date,
    /// Day after the last local date (exclusive), at most 366 days after `from`.
    #[param(value_type = String, format = Date)]
    pub until: jiff::civil::Date,
}

/// A group's sessions between two local dates.
#[utoipa::path(get, path = "/api/v1/groups/{id}/sessions", tag = "sessions", params(("id" = i64, Path), DateRange),
    responses((status = 200, body = Vec<Session>), Errors), security(("bearer" = [])))]
pub async fn list_sessions(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DateRange>,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(app.sessions(&a, GroupId(id), q.from, q.until).await?))
}

/// Create the sessions of the weekly schedule for a horizon (idempotent; directors).
#[utoipa::path(post, path = "/api/v1/groups/{id}/sessions/materialize", tag = "sessions", params(("id" = i64, Path)),
    request_body = MaterializeRequest, responses((status = 200, body = Vec<Session>), Errors), security(("bearer" = [])))]
pub async fn materialize(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MaterializeRequest>,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(
        app.materialize_sessions(&a, GroupId(id), &body).await?,
    ))
}
