//! Outcome measures and safety: instruments, a client's responses and their change over
//! time, safety alerts and the due list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::ids::ClientId;
use circle_domain::measure::{
    Acknowledgement, AlertState, DueMeasure, InstrumentDefinition, InstrumentSummary,
    InstrumentView, MeasureResponse, NewMeasureResponse, SafetyAlert,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// Every instrument: the built-in PHQ-9 and GAD-7 and the clinic's own (a client sees the
/// self-report ones).
#[utoipa::path(get, path = "/api/v1/instruments", tag = "measures",
    responses((status = 200, body = Vec<InstrumentView>), Errors), security(("bearer" = [])))]
pub async fn list_instruments(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<Vec<InstrumentView>>, ApiError> {
    Ok(Json(app.list_instruments(&a).await?))
}

/// Add a clinic instrument (directors). Refused with every reason when invalid; built-in
/// and existing codes cannot be replaced.
#[utoipa::path(post, path = "/api/v1/instruments", tag = "measures", request_body = InstrumentDefinition,
    responses((status = 201, body = InstrumentView), Errors), security(("bearer" = [])))]
pub async fn create_instrument(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<InstrumentDefinition>,
) -> Created<InstrumentView> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_instrument(&a, body).await?),
    ))
}

/// One instrument by code.
#[utoipa::path(get, path = "/api/v1/instruments/{code}", tag = "measures", params(("code" = String, Path)),
    responses((status = 200, body = InstrumentView), Errors), security(("bearer" = [])))]
pub async fn get_instrument(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(code): ApiPath<String>,
) -> Result<Json<InstrumentView>, ApiError> {
    Ok(Json(app.instrument(&a, &code).await?))
}

/// A client's responses, oldest first (the client's clinicians, directors, the client).
#[utoipa::path(get, path = "/api/v1/clients/{id}/measures", tag = "measures", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<MeasureResponse>), Errors), security(("bearer" = [])))]
pub async fn list_measures(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<MeasureResponse>>, ApiError> {
    Ok(Json(app.measures(&a, ClientId(id)).await?))
}

/// Record an administration: scored and banded; a safety answer raises an alert.
#[utoipa::path(post, path = "/api/v1/clients/{id}/measures", tag = "measures", params(("id" = i64, Path)),
    request_body = NewMeasureResponse, responses((status = 201, body = MeasureResponse), Errors), security(("bearer" = [])))]
pub async fn record_measure(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewMeasureResponse>,
) -> Created<MeasureResponse> {
    Ok((
        StatusCode::CREATED,
        Json(app.record_measure(&a, ClientId(id), &body).await?),
    ))
}

/// Change over time per instrument, with the reliable-change flag.
#[utoipa::path(get, path = "/api/v1/clients/{id}/measures/summary", tag = "measures", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<InstrumentSummary>), Errors), security(("bearer" = [])))]
pub async fn measure_summary(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<InstrumentSummary>>, ApiError> {
    Ok(Json(app.measure_summary(&a, ClientId(id)).await?))
}

/// Which alerts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open` or `acknowledged`; both when absent (open first).
    pub state: Option<AlertState>,
}

/// Safety alerts of the caller's clients (a clinician's caseload; directors all): open
/// ones first, oldest first, then acknowledged ones.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "measures", params(AlertQuery),
    responses((status = 200, body = Vec<SafetyAlert>), Errors), security(("bearer" = [])))]
pub async fn list_alerts(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<Vec<SafetyAlert>>, ApiError> {
    Ok(Json(app.alerts(&a, q.state).await?))
}

/// Acknowledge a safety alert, saying what was done.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "measures", params(("id" = i64, Path)),
    request_body = Acknowledgement, responses((status = 200, body = SafetyAlert), Errors), security(("bearer" = [])))]
pub async fn acknowledge_alert(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Acknowledgement>,
) -> Result<Json<SafetyAlert>, ApiError> {
    Ok(Json(app.acknowledge_alert(&a, id, &body).await?))
}

/// Clients due a measure, with the instrument, why and since when.
#[utoipa::path(get, path = "/api/v1/measures/due", tag = "measures",
    responses((status = 200, body = Vec<DueMeasure>), Errors), security(("bearer" = [])))]
pub async fn measures_due(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<Vec<DueMeasure>>, ApiError> {
    Ok(Json(app.measures_due(&a).await?))
}
