//! Ways in and intake: the public self-referral form, referrals and their states,
//! screenings; the group agreement, 42 CFR Part 2 consents and the accounting of
//! disclosures.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use circle_app::intake::SelfReferralAnswer;
use circle_app::{App, RequestMeta};
use circle_domain::ids::ClientId;
use circle_domain::intake::{
    AgreementSignature, Consents, Disclosure, GROUP_AGREEMENT_TEXT, GROUP_AGREEMENT_VERSION,
    NewDisclosure, NewPart2Consent, NewReferral, NewScreening, NewTransition, Part2Consent,
    Referral, ReferralState, RevokeConsent, Screening, SelfReferralForm, SignAgreement,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Errors, PageOf, PageQuery};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth, request_meta};
use crate::problem::{ApiError, Problem, problem_response};

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// The request id and peer address of an anonymous request.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts)))
    }
}

/// Ask to join a group (no sign-in). The answer is 202 with an empty body: nothing about
/// the referral is echoed. At most five per hour from one address (then 429 with
/// `Retry-After`).
#[utoipa::path(post, path = "/api/v1/self-referrals", tag = "intake", request_body = SelfReferralForm,
    responses((status = 202, description = "received; someone from the clinic will be in touch"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "too many from this address; see Retry-After"),
        Errors))]
pub async fn self_referral(
    State(app): State<App>,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<SelfReferralForm>,
) -> Result<Response, ApiError> {
    match app.submit_self_referral(&body, None, &meta).await? {
        SelfReferralAnswer::Accepted => Ok(StatusCode::ACCEPTED.into_response()),
        SelfReferralAnswer::Limited { retry_after_secs } => {
            let s = StatusCode::TOO_MANY_REQUESTS;
            let mut resp = problem_response(
                s,
                &Problem {
                    kind: "urn:circle:problem:rate_limited".to_owned(),
                    title: "Too many requests".to_owned(),
                    status: s.as_u16(),
                    detail: "too many self-referrals from this address; try again later or call the clinic".to_owned(),
                    code: "rate_limited".to_owned(),
                    errors: vec![],
                    request_id: None,
                },
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(resp)
        }
    }
}

/// The current group agreement members sign.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupAgreementText {
    pub version: String,
    pub text: String,
}

/// The text of the group agreement (public: it is read before signing).
#[utoipa::path(get, path = "/api/v1/group-agreement", tag = "intake",
    responses((status = 200, body = GroupAgreementText)))]
pub async fn group_agreement_text() -> Json<GroupAgreementText> {
    Json(GroupAgreementText {
        version: GROUP_AGREEMENT_VERSION.to_owned(),
        text: GROUP_AGREEMENT_TEXT.to_owned(),
    })
}

/// Enter a referral: a program admission, a therapist's referral, or a self-referral taken
/// by phone (intake, directors).
#[utoipa::path(post, path = "/api/v1/referrals", tag = "intake", request_body = NewReferral,
    responses((status = 201, body = Referral), Errors), security(("bearer" = [])))]
pub async fn create_referral(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewReferral>,
) -> Created<Referral> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_referral(&a, &body).await?),
    ))
}

/// Filters and pagination for the referral list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralQuery {
    /// Only referrals in this state.
    pub state: Option<ReferralState>,
    /// Return referrals with an id greater than this (default 0).
    pub after: Option<i64>,
    /// Items per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Referrals, oldest first (intake and directors: all; a clinician: those they screen).
#[utoipa::path(get, path = "/api/v1/referrals", tag = "intake", params(ReferralQuery),
    responses((status = 200, body = PageOf<Referral>), Errors), security(("bearer" = [])))]
pub async fn list_referrals(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<ReferralQuery>,
) -> Result<Json<PageOf<Referral>>, ApiError> {
    let page = PageQuery {
        after: q.after,
        limit: q.limit,
    }
    .request()?;
    Ok(Json(app.list_referrals(&a, q.state, page).await?.into()))
}

/// One referral with its dated history and screenings (comments only for clinical staff).
#[utoipa::path(get, path = "/api/v1/referrals/{id}", tag = "intake", params(("id" = i64, Path)),
    responses((status = 200, body = Referral), Errors), security(("bearer" = [])))]
pub async fn get_referral(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Referral>, ApiError> {
    Ok(Json(app.referral(&a, id).await?))
}

/// Move a referral to its next state; an illegal move is 409 `illegal_transition` naming
/// the allowed next states.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/transitions", tag = "intake", params(("id" = i64, Path)),
    request_body = NewTransition, responses((status = 200, body = Referral), Errors), security(("bearer" = [])))]
pub async fn transition(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewTransition>,
) -> Result<Json<Referral>, ApiError> {
    Ok(Json(app.transition_referral(&a, id, &body).await?))
}

/// Who screens a referral: a clinician's id, or `null` to clear it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenerChoice {
    pub screener_id: Option<circle_domain::ids::ClinicianId>,
}

/// Assign the clinician who screens a referral (intake, directors), before its screening.
#[utoipa::path(put, path = "/api/v1/referrals/{id}/screener", tag = "intake", params(("id" = i64, Path)),
    request_body = ScreenerChoice, responses((status = 200, body = Referral), Errors), security(("bearer" = [])))]
pub async fn assign_screener(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ScreenerChoice>,
) -> Result<Json<Referral>, ApiError> {
    Ok(Json(app.assign_screener(&a, id, body.screener_id).await?))
}

/// Record a group-readiness screening (directors, the assigned clinician, intake; intake
/// gives the decision without comments). `ready` moves the referral to ready; nothing else
/// does.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/screenings", tag = "intake", params(("id" = i64, Path)),
    request_body = NewScreening, responses((status = 201, body = Screening), Errors), security(("bearer" = [])))]
pub async fn screening(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewScreening>,
) -> Created<Screening> {
    Ok((
        StatusCode::CREATED,
        Json(app.record_screening(&a, id, &body).await?),
    ))
}

/// Sign the group agreement (the client, today) or record a paper signature with its date
/// (staff).
#[utoipa::path(post, path = "/api/v1/clients/{id}/consents/group-agreement", tag = "intake",
    params(("id" = i64, Path)), request_body = SignAgreement,
    responses((status = 201, body = AgreementSignature), Errors), security(("bearer" = [])))]
pub async fn sign_agreement(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SignAgreement>,
) -> Created<AgreementSignature> {
    Ok((
        StatusCode::CREATED,
        Json(app.sign_group_agreement(&a, ClientId(id), &body).await?),
    ))
}

/// A client's group agreement signatures and Part 2 consents.
#[utoipa::path(get, path = "/api/v1/clients/{id}/consents", tag = "intake", params(("id" = i64, Path)),
    responses((status = 200, body = Consents), Errors), security(("bearer" = [])))]
pub async fn consents(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Consents>, ApiError> {
    Ok(Json(app.consents(&a, ClientId(id)).await?))
}

/// Record a 42 CFR Part 2 consent; each missing required element is named (422).
#[utoipa::path(post, path = "/api/v1/clients/{id}/consents/part2", tag = "intake", params(("id" = i64, Path)),
    request_body = NewPart2Consent, responses((status = 201, body = Part2Consent), Errors), security(("bearer" = [])))]
pub async fn part2_consent(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewPart2Consent>,
) -> Created<Part2Consent> {
    Ok((
        StatusCode::CREATED,
        Json(app.record_part2_consent(&a, ClientId(id), &body).await?),
    ))
}

/// Revoke a Part 2 consent (or record that its expiry event happened): effective at once.
#[utoipa::path(post, path = "/api/v1/clients/{id}/consents/part2/{consent_id}/revoke", tag = "intake",
    params(("id" = i64, Path), ("consent_id" = i64, Path)), request_body = RevokeConsent,
    responses((status = 200, body = Part2Consent), Errors), security(("bearer" = [])))]
pub async fn revoke_part2(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath((id, consent)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<RevokeConsent>,
) -> Result<Json<Part2Consent>, ApiError> {
    Ok(Json(
        app.revoke_part2_consent(&a, ClientId(id), consent, &body)
            .await?,
    ))
}

/// Record a disclosure; for a Part 2 client it needs a consent in force for the recipient.
#[utoipa::path(post, path = "/api/v1/clients/{id}/disclosures", tag = "intake", params(("id" = i64, Path)),
    request_body = NewDisclosure, responses((status = 201, body = Disclosure), Errors), security(("bearer" = [])))]
pub async fn record_disclosure(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewDisclosure>,
) -> Created<Disclosure> {
    Ok((
        StatusCode::CREATED,
        Json(app.record_disclosure(&a, ClientId(id), &body).await?),
    ))
}

/// The accounting of a client's disclosures: who disclosed what to whom, when, under which
/// consent.
#[utoipa::path(get, path = "/api/v1/clients/{id}/disclosures", tag = "intake", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Disclosure>), Errors), security(("bearer" = [])))]
pub async fn list_disclosures(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Disclosure>>, ApiError> {
    Ok(Json(app.disclosures(&a, ClientId(id)).await?))
}
