//! Placement planning: ask the optimizer for a proposal, then apply the placements you
//! accept (each re-checked by the enrollment rules). Proposals are not stored.

use axum::Json;
use axum::extract::State;
use circle_app::App;
use circle_domain::ids::ProgramId;
use circle_domain::planning::{ApplyResult, Placement, Proposal};
use jiff::civil::Date;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, Auth};
use crate::problem::ApiError;

/// What to plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    /// Plan this program only; omitted plans the whole clinic.
    pub program_id: Option<i64>,
    /// The optimizer's time limit, 100–10000 ms (default 1000).
    pub time_limit_ms: Option<u32>,
}

/// Placements to apply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The date the new memberships start: today or later.
    #[schema(value_type = String, format = Date, example = "2026-05-05")]
    pub start_date: Date,
    /// The placements to make (at most 500), usually chosen from a proposal's
    /// `new_placements`.
    pub placements: Vec<Placement>,
}

/// Propose placements (directors): new, kept and ended placements, unmet minutes with
/// reasons, score and bound. Nothing is written but the audit entry of the read.
#[utoipa::path(post, path = "/api/v1/plan/proposals", tag = "planning", request_body = ProposalRequest,
    responses((status = 200, body = Proposal), Errors), security(("bearer" = [])))]
pub async fn propose(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<ProposalRequest>,
) -> Result<Json<Proposal>, ApiError> {
    Ok(Json(
        app.plan_proposal(
            &a,
            body.program_id.map(ProgramId),
            body.time_limit_ms.unwrap_or(1000),
        )
        .await?,
    ))
}

/// Apply placements (directors), one by one through the enrollment rules: each result says
/// `applied` (with the membership) or `refused` (with the rule's code and message).
#[utoipa::path(post, path = "/api/v1/plan/apply", tag = "planning", request_body = ApplyRequest,
    responses((status = 200, body = Vec<ApplyResult>), Errors), security(("bearer" = [])))]
pub async fn apply(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<ApplyRequest>,
) -> Result<Json<Vec<ApplyResult>>, ApiError> {
    Ok(Json(
        app.apply_proposal(&a, &body.placements, body.start_date)
            .await?,
    ))
}
