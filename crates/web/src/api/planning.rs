//! Placement planning: ask the optimizer for a proposal, then apply the placements you
//! accept (each re-checked by the enrollment rules) — or run the planner in the background
//! as a stored run, read its progress and proposal, and approve all or part of it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::ids::ProgramId;
use circle_domain::planning::{ApplyResult, ItemDecision, Placement, PlanRun, Proposal};
use jiff::civil::Date;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, Auth};
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

/// A planner run to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Plan this program only; omitted plans the whole clinic.
    pub program_id: Option<i64>,
    /// The optimizer's time limit, 100–10000 ms (default 2000).
    pub time_limit_ms: Option<u32>,
}

/// Items of a run to approve.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The date the new memberships start (and moved clients leave their old group):
    /// today or later.
    #[schema(value_type = String, format = Date, example = "2026-05-05")]
    pub start_date: Date,
    /// The items to approve, each named by its placement: a new placement, a move by the
    /// group the client moves to, an ending (a current membership the plan drops without a
    /// replacement) by the group left. Omitted approves every item of the proposal.
    pub items: Option<Vec<Placement>>,
}

/// Start a planner run in the background (directors). Answers 202 with the run, queued or
/// already running; read it with `GET /api/v1/plan/runs/{id}` for its progress and, once
/// done, its proposal.
#[utoipa::path(post, path = "/api/v1/plan/runs", tag = "planning", request_body = RunRequest,
    responses((status = 202, body = PlanRun), Errors), security(("bearer" = [])))]
pub async fn start_run(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<RunRequest>,
) -> Result<(StatusCode, Json<PlanRun>), ApiError> {
    let run = app
        .start_plan_run(
            &a,
            body.program_id.map(ProgramId),
            body.time_limit_ms.unwrap_or(2000),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// Recent planner runs, newest first, without their proposals (directors).
#[utoipa::path(get, path = "/api/v1/plan/runs", tag = "planning",
    responses((status = 200, body = Vec<PlanRun>), Errors), security(("bearer" = [])))]
pub async fn list_runs(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<Vec<PlanRun>>, ApiError> {
    Ok(Json(app.plan_runs(&a).await?))
}

/// One planner run: state, progress, and once done the proposal (new placements, moves,
/// kept and ended placements, unmet minutes with reasons) and what was approved (directors).
#[utoipa::path(get, path = "/api/v1/plan/runs/{id}", tag = "planning",
    params(("id" = i64, Path, description = "The run")),
    responses((status = 200, body = PlanRun), Errors), security(("bearer" = [])))]
pub async fn get_run(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PlanRun>, ApiError> {
    Ok(Json(app.plan_run(&a, id).await?.0))
}

/// Approve all or some items of a done run (directors): one transaction, each item
/// re-checked against every rule now; an item whose facts changed is `refused` with its
/// rule's code and message while the rest applies. An item applied once is refused as
/// `already_applied`.
#[utoipa::path(post, path = "/api/v1/plan/runs/{id}/approve", tag = "planning",
    params(("id" = i64, Path, description = "The run")), request_body = ApproveRequest,
    responses((status = 200, body = Vec<ItemDecision>), Errors), security(("bearer" = [])))]
pub async fn approve_run(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ApproveRequest>,
) -> Result<Json<Vec<ItemDecision>>, ApiError> {
    Ok(Json(
        app.approve_plan_run(&a, id, body.items.as_deref(), body.start_date)
            .await?,
    ))
}
