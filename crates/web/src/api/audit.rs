//! The audit report.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_app::audit_types::{AuditQuery, AuditSort};
use circle_domain::audit::{
    AuditAction, AuditEntry, AuditOutcome, EmergencyAccess, NewEmergencyAccess,
};
use circle_domain::ids::{ClientId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

/// Filters, sort and paging of the audit report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// From this instant (inclusive), RFC 3339.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<jiff::Timestamp>,
    /// Until this instant (exclusive), RFC 3339.
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<jiff::Timestamp>,
    pub actor_user_id: Option<i64>,
    pub client_id: Option<i64>,
    pub action: Option<AuditAction>,
    pub outcome: Option<AuditOutcome>,
    /// A field to sort by, `-` first for descending: seq, at, actor_user_id, actor_role,
    /// action, category, client_ids, object_id, outcome, request_id, source. Default `-seq`.
    pub sort: Option<String>,
    pub offset: Option<u32>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The audit trail, filtered and sorted (administrators and directors).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = Vec<AuditEntry>), Errors), security(("bearer" = [])))]
pub async fn report(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let bad = |field: &str, message: &str| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            "bad_query",
            field.to_owned(),
            message.to_owned(),
        )
    };
    let sort_text = p.sort.as_deref().unwrap_or("-seq");
    let (descending, key) = match sort_text.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort_text),
    };
    let sort = AuditSort::parse(key).ok_or_else(|| {
        bad(
            "sort",
            "is not a sortable field; see the parameter's description",
        )
    })?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(bad("limit", "must be 1–500"));
    }
    let q = AuditQuery {
        from: p.from,
        until: p.until,
        actor: p.actor_user_id.map(UserId),
        client: p.client_id.map(ClientId),
        action: p.action,
        outcome: p.outcome,
        sort,
        descending,
        offset: p.offset.unwrap_or(0),
        limit,
    };
    Ok(Json(app.audit_report(&a, &q).await?))
}

/// Grant a user the capability to open charts in an emergency (administrators).
#[utoipa::path(put, path = "/api/v1/users/{id}/emergency-grant", tag = "audit", params(("id" = i64, Path)),
    responses((status = 204, description = "granted"), Errors), security(("bearer" = [])))]
pub async fn grant(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.set_emergency_grant(&a, UserId(id), true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a user's emergency-access capability (administrators).
#[utoipa::path(delete, path = "/api/v1/users/{id}/emergency-grant", tag = "audit", params(("id" = i64, Path)),
    responses((status = 204, description = "revoked"), Errors), security(("bearer" = [])))]
pub async fn revoke(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    app.set_emergency_grant(&a, UserId(id), false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open a chart outside your caseload in an emergency, saying why. Lasts 60 minutes;
/// everything done under it is flagged in the audit and reviewed by directors.
#[utoipa::path(post, path = "/api/v1/clients/{id}/emergency-access", tag = "audit", params(("id" = i64, Path)),
    request_body = NewEmergencyAccess, responses((status = 201, body = EmergencyAccess), Errors), security(("bearer" = [])))]
pub async fn open_emergency(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewEmergencyAccess>,
) -> Result<(StatusCode, Json<EmergencyAccess>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.open_emergency_access(&a, ClientId(id), &body).await?),
    ))
}

/// Emergency accesses for review, newest first (directors see reasons; administrators the facts).
#[utoipa::path(get, path = "/api/v1/emergency-accesses", tag = "audit",
    responses((status = 200, body = Vec<EmergencyAccess>), Errors), security(("bearer" = [])))]
pub async fn list_emergency(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<Vec<EmergencyAccess>>, ApiError> {
    Ok(Json(app.emergency_accesses(&a).await?))
}
