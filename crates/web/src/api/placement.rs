//! Placement: suggestions for a client, group waitlists, seat offers, and the transition
//! plan after a change of level of care.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::ids::{ClientId, GroupId, OfferId, WaitlistEntryId};
use circle_domain::membership::Membership;
use circle_domain::placement::{
    NewWaitlistEntry, Offer, OfferState, Suggestion, TransitionPlan, WaitlistEntry,
};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Errors;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

/// The date a placement would start.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// First day of the placement, `YYYY-MM-DD`, today or later (default today).
    #[param(value_type = Option<String>, format = Date)]
    pub start_date: Option<Date>,
}

/// Every group as a placement for this client, ranked by clinical fit: eligible or
/// excluded with every reason (a separation only as "not available for this client"),
/// open seats, next joinable date and why it fits (intake, directors; clinicians for their
/// caseload).
#[utoipa::path(get, path = "/api/v1/clients/{id}/placement-suggestions", tag = "placement",
    params(("id" = i64, Path), SuggestionQuery),
    responses((status = 200, body = Vec<Suggestion>), Errors), security(("bearer" = [])))]
pub async fn suggestions(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<SuggestionQuery>,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    Ok(Json(
        app.placement_suggestions(&a, ClientId(id), q.start_date)
            .await?,
    ))
}

/// The client's memberships that no longer fit their level of care, each with suggested
/// groups at the new level (same facilitator or track, else a transition group).
#[utoipa::path(get, path = "/api/v1/clients/{id}/transition-plan", tag = "placement",
    params(("id" = i64, Path)),
    responses((status = 200, body = TransitionPlan), Errors), security(("bearer" = [])))]
pub async fn transition_plan(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TransitionPlan>, ApiError> {
    Ok(Json(app.transition_plan(&a, ClientId(id)).await?))
}

/// A group's waitlist by priority (1 most urgent) then date added (intake, directors).
#[utoipa::path(get, path = "/api/v1/groups/{id}/waitlist", tag = "placement",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<WaitlistEntry>), Errors), security(("bearer" = [])))]
pub async fn list_waitlist(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<WaitlistEntry>>, ApiError> {
    Ok(Json(app.waitlist(&a, GroupId(id)).await?))
}

/// Put a client on a group's waitlist (intake, directors). A free seat is offered at once.
#[utoipa::path(post, path = "/api/v1/groups/{id}/waitlist", tag = "placement",
    params(("id" = i64, Path)), request_body = NewWaitlistEntry,
    responses((status = 201, body = WaitlistEntry), Errors), security(("bearer" = [])))]
pub async fn add_to_waitlist(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewWaitlistEntry>,
) -> Result<(StatusCode, Json<WaitlistEntry>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(app.add_to_waitlist(&a, GroupId(id), &body).await?),
    ))
}

/// Take a client off a waitlist (intake, directors); an open offer to them is withdrawn
/// and moves on.
#[utoipa::path(delete, path = "/api/v1/waitlist/{id}", tag = "placement",
    params(("id" = i64, Path)),
    responses((status = 200, body = WaitlistEntry), Errors), security(("bearer" = [])))]
pub async fn remove_from_waitlist(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<WaitlistEntry>, ApiError> {
    Ok(Json(
        app.remove_from_waitlist(&a, WaitlistEntryId(id)).await?,
    ))
}

/// Filter of the offer list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OfferQuery {
    /// Only offers in this state.
    pub state: Option<OfferState>,
}

/// Seat offers, newest first (intake, directors; a client sees their own).
#[utoipa::path(get, path = "/api/v1/offers", tag = "placement", params(OfferQuery),
    responses((status = 200, body = Vec<Offer>), Errors), security(("bearer" = [])))]
pub async fn list_offers(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<OfferQuery>,
) -> Result<Json<Vec<Offer>>, ApiError> {
    Ok(Json(app.offers(&a, q.state).await?))
}

/// One offer (intake, directors, or the client it is for).
#[utoipa::path(get, path = "/api/v1/offers/{id}", tag = "placement", params(("id" = i64, Path)),
    responses((status = 200, body = Offer), Errors), security(("bearer" = [])))]
pub async fn get_offer(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Offer>, ApiError> {
    Ok(Json(app.offer(&a, OfferId(id)).await?))
}

/// An accepted offer and the membership it made.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedOffer {
    pub offer: Offer,
    pub membership: Membership,
}

/// Accept an open offer: places the client, re-checking every enrollment rule (409 naming
/// the rule otherwise).
#[utoipa::path(post, path = "/api/v1/offers/{id}/accept", tag = "placement", params(("id" = i64, Path)),
    responses((status = 201, body = AcceptedOffer), Errors), security(("bearer" = [])))]
pub async fn accept_offer(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<AcceptedOffer>), ApiError> {
    let (offer, membership) = app.accept_offer(&a, OfferId(id)).await?;
    Ok((
        StatusCode::CREATED,
        Json(AcceptedOffer { offer, membership }),
    ))
}

/// Decline an open offer: the seat moves on to the next eligible waiting client.
#[utoipa::path(post, path = "/api/v1/offers/{id}/decline", tag = "placement", params(("id" = i64, Path)),
    responses((status = 200, body = Offer), Errors), security(("bearer" = [])))]
pub async fn decline_offer(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Offer>, ApiError> {
    Ok(Json(app.decline_offer(&a, OfferId(id)).await?))
}
