//! The planner (directors): start a run for a program or the whole clinic, watch its
//! progress (the page refreshes itself with a `Refresh` header while the run is live — no
//! script), review the proposal (endings, moves, new placements, kept placements, unmet
//! hours with their reasons), approve all or the ticked items, and see what became of each.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::{App, AppError, RunNames};
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, GroupId, ProgramId};
use circle_domain::planning::{
    ApplyOutcome, EndReason, ItemDecision, ItemKind, Placement, PlanRun, RunState, ShortfallReason,
};

use super::fields::Day;
use super::form::PageForm;
use super::vocab::Label;
use super::{Nav, PageError, Signed, explain, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/planner", get(index))
        .route("/planner/runs", post(start))
        .route("/planner/runs/{id}", get(run_page))
        .route("/planner/runs/{id}/approve", post(approve))
}

/// The time limits offered, in seconds.
const LIMITS: [u32; 4] = [1, 2, 5, 10];

struct RunRow {
    id: i64,
    scope: String,
    started: String,
    state: &'static str,
    progress: u8,
}

#[derive(Template)]
#[template(path = "planner_index.html")]
struct IndexPage {
    nav: Option<Nav>,
    csrf: String,
    messages: Vec<String>,
    programs: Vec<(i64, String)>,
    /// Whether "whole clinic" is offered (not to a director scoped to some programs).
    whole_clinic: bool,
    limits: Vec<u32>,
    runs: Vec<RunRow>,
}

/// One approvable item: an ending, a move or a new placement.
struct ItemRow {
    /// The checkbox value: `{client}-{group}`.
    key: String,
    client: String,
    /// For a move or an ending, the group left.
    from: String,
    /// For a move or a new placement, the group joined.
    to: String,
    /// Why, in clinical words.
    why: String,
    /// What became of it, once approved.
    status: Option<String>,
    applied: bool,
}

struct KeptRow {
    client: String,
    group: String,
}

struct UnmetRow {
    client: String,
    required: String,
    unmet: String,
    reasons: Vec<String>,
}

struct DecisionRow {
    what: String,
    outcome: &'static str,
    applied: bool,
    detail: String,
    when: String,
}

#[derive(Template)]
#[template(path = "planner_run.html")]
struct RunPage {
    nav: Option<Nav>,
    csrf: String,
    messages: Vec<String>,
    id: i64,
    scope: String,
    started: String,
    state: &'static str,
    live: bool,
    failed: Option<String>,
    progress: u8,
    done: bool,
    summary: String,
    endings: Vec<ItemRow>,
    moves: Vec<ItemRow>,
    placements: Vec<ItemRow>,
    kept: Vec<KeptRow>,
    unmet: Vec<UnmetRow>,
    decisions: Vec<DecisionRow>,
    open_items: usize,
    start_date: String,
}

fn state_label(s: RunState) -> &'static str {
    s.label()
}

/// An instant as the clinic reads it.
fn local(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

fn hours(minutes: i64) -> String {
    super::vocab::hours(minutes)
}

struct Names<'a> {
    names: &'a RunNames,
}

impl Names<'_> {
    fn client(&self, id: ClientId) -> String {
        self.names
            .clients
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Client {id}"))
    }
    fn group(&self, id: GroupId) -> String {
        self.names
            .groups
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Group {id}"))
    }
}

fn end_reason(r: EndReason) -> &'static str {
    match r {
        EndReason::NoCurrentLevelOfCare => "no open episode, so no level of care",
        EndReason::LevelOfCareNotEligible => "the group does not accept their level of care now",
        EndReason::OutsideAvailability => "the group meets outside their availability",
        EndReason::Replanned => "the plan as a whole is better without it",
    }
}

fn shortfall(n: &Names<'_>, r: &ShortfallReason) -> String {
    match r {
        ShortfallReason::NoEligibleGroup => {
            "no group accepts their level of care at times they are available".to_owned()
        }
        ShortfallReason::NotEnoughEligibleTime { reachable_minutes } => format!(
            "the groups open to them add up to only {} a week",
            hours(*reachable_minutes)
        ),
        ShortfallReason::WeeklyCapBelowRequired { max_minutes } => format!(
            "their weekly cap ({}) is below what they need",
            hours(*max_minutes)
        ),
        ShortfallReason::GroupFull { group_id } => format!("{} is full", n.group(*group_id)),
        ShortfallReason::Separation {
            group_id,
            other_client_id,
        } => format!(
            "{} includes {}, whom they are kept apart from",
            n.group(*group_id),
            n.client(*other_client_id)
        ),
        ShortfallReason::GroupBelowMinimum { group_id, min_size } => format!(
            "{} cannot reach its minimum of {min_size} members, so it does not run",
            n.group(*group_id)
        ),
        ShortfallReason::Overlap {
            group_id,
            with_group_id,
        } => format!(
            "{} meets at the same time as {}",
            n.group(*group_id),
            n.group(*with_group_id)
        ),
        ShortfallReason::WeeklyCap { group_id } => format!(
            "joining {} would take them over their weekly cap",
            n.group(*group_id)
        ),
        ShortfallReason::TradeOff { group_id } => format!(
            "placing them in {} would cost the plan more elsewhere",
            n.group(*group_id)
        ),
    }
}

/// Why the plan places `x` in a new group, in a clinician's words (issue 14: a director
/// saw no reason at all). From the proposal alone: the planner only places a client in a
/// group that takes their level of care, meets when they are available and holds nobody
/// they are kept apart from; their hours and whom they stay with or apart from are
/// in the proposal.
fn placement_reasons(
    n: &Names<'_>,
    p: &circle_domain::planning::Proposal,
    x: &Placement,
) -> String {
    let mut why =
        vec!["the group takes their level of care and meets when they are available".to_owned()];
    match p.unmet.iter().find(|u| u.client_id == x.client_id) {
        None => why.push("with it they have the weekly hours they need".to_owned()),
        Some(u) => why.push(format!(
            "it brings them to {} of the {} a week they need (short by {}: see Unmet hours)",
            hours(u.required_minutes - u.unmet_minutes),
            hours(u.required_minutes),
            hours(u.unmet_minutes)
        )),
    }
    let kept: Vec<String> = p
        .kept_placements
        .iter()
        .filter(|k| k.client_id == x.client_id)
        .map(|k| n.group(k.group_id))
        .collect();
    if !kept.is_empty() {
        why.push(format!("they keep their place in {}", kept.join(" and ")));
    }
    // Someone kept out of this group because this client is in it.
    for u in &p.unmet {
        for r in &u.reasons {
            if let ShortfallReason::Separation {
                group_id,
                other_client_id,
            } = r
                && *group_id == x.group_id
                && *other_client_id == x.client_id
            {
                why.push(format!(
                    "they are kept apart from {}, who is not placed in this group",
                    n.client(u.client_id)
                ));
            }
        }
    }
    let mut s = why.join("; ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    s.push('.');
    s
}

fn key(client: ClientId, group: GroupId) -> String {
    format!("{}-{}", client.0, group.0)
}

fn parse_key(s: &str) -> Option<Placement> {
    let (c, g) = s.split_once('-')?;
    Some(Placement {
        client_id: ClientId(c.parse().ok()?),
        group_id: GroupId(g.parse().ok()?),
    })
}

async fn scope_name(app: &App, signed: &Signed, program: Option<ProgramId>) -> String {
    let Some(p) = program else {
        return "Whole clinic".to_owned();
    };
    match app
        .list_programs(
            &signed.actor,
            circle_app::PageRequest {
                after: 0,
                limit: 200,
            },
        )
        .await
    {
        Ok(page) => page
            .items
            .iter()
            .find(|x| x.id == p)
            .map_or_else(|| format!("Program {p}"), |x| x.name.as_str().to_owned()),
        Err(_) => format!("Program {p}"),
    }
}

pub async fn index(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    index_page(&app, &signed, vec![], StatusCode::OK).await
}

async fn index_page(
    app: &App,
    signed: &Signed,
    messages: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let runs = app.plan_runs(&signed.actor).await?;
    let whole_clinic = signed.actor.directed_programs().is_none();
    let programs: Vec<(i64, String)> = app
        .list_programs(
            &signed.actor,
            circle_app::PageRequest {
                after: 0,
                limit: 200,
            },
        )
        .await?
        .items
        .iter()
        .map(|p| (p.id.0, p.name.as_str().to_owned()))
        .collect();
    let name_of = |p: Option<ProgramId>| match p {
        None => "Whole clinic".to_owned(),
        Some(p) => programs
            .iter()
            .find(|(id, _)| *id == p.0)
            .map_or_else(|| format!("Program {p}"), |(_, n)| n.clone()),
    };
    let rows = runs
        .iter()
        .map(|r| RunRow {
            id: r.id,
            scope: name_of(r.program_id),
            started: local(app, r.created_at),
            state: state_label(r.state),
            progress: r.progress,
        })
        .collect();
    Ok(html(
        status,
        IndexPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            messages,
            programs,
            whole_clinic,
            limits: LIMITS.to_vec(),
            runs: rows,
        },
    ))
}

/// The start form of a planner run, and of a timetable proposal (`super::timetable`):
/// the program (`all`, or blank, for the whole clinic) and the time limit in seconds.
#[derive(serde::Deserialize)]
pub(super) struct StartForm {
    #[serde(default, deserialize_with = "program_or_all")]
    pub(super) program: Option<ProgramId>,
    pub(super) time_limit: u32,
}

/// A program chosen from the list, or none for the whole clinic (`all`).
fn program_or_all<'de, D>(d: D) -> Result<Option<ProgramId>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = <String as serde::Deserialize>::deserialize(d)?;
    match raw.trim() {
        "" | "all" => Ok(None),
        p => p
            .parse()
            .map(|p| Some(ProgramId(p)))
            .map_err(|_| serde::de::Error::custom("must be one of the listed choices")),
    }
}

pub async fn start(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<StartForm>,
) -> Result<Response, PageError> {
    let outcome = match form.into_parsed() {
        Ok(f) => {
            app.start_plan_run(&signed.actor, f.program, f.time_limit.saturating_mul(1000))
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(run) => Ok(Redirect::to(&format!("/planner/runs/{}", run.id)).into_response()),
        Err(e @ AppError::Domain(DomainError::Invalid(_) | DomainError::NotFound { .. })) => {
            index_page(
                &app,
                &signed,
                vec![explain(&e)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn run_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    render_run(&app, &signed, id, vec![], StatusCode::OK).await
}

fn item_status(d: Option<&ItemDecision>) -> (Option<String>, bool) {
    match d {
        None => (None, false),
        Some(d) if d.outcome == ApplyOutcome::Applied => (Some("Applied".to_owned()), true),
        Some(d) => (
            Some(format!(
                "Refused: {}",
                d.message.as_deref().unwrap_or("a rule refused it")
            )),
            false,
        ),
    }
}

async fn render_run(
    app: &App,
    signed: &Signed,
    id: i64,
    messages: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (run, names) = app.plan_run(&signed.actor, id).await?;
    let n = Names { names: &names };
    let scope = scope_name(app, signed, run.program_id).await;
    let decided: BTreeMap<(ClientId, GroupId), &ItemDecision> = run
        .decisions
        .iter()
        .map(|d| ((d.client_id, d.group_id), d))
        .collect();
    let mut page = RunPage {
        nav: Some(signed.nav()),
        csrf: signed.csrf(),
        messages,
        id: run.id,
        scope,
        started: local(app, run.created_at),
        state: state_label(run.state),
        live: run.state.is_live(),
        failed: (run.state == RunState::Failed).then(|| match run.error.as_deref() {
            Some("interrupted") => {
                "The run was interrupted (the server restarted). Start a new one.".to_owned()
            }
            Some(e) => format!("The run failed: {e}."),
            None => "The run failed.".to_owned(),
        }),
        progress: run.progress,
        done: false,
        summary: String::new(),
        endings: vec![],
        moves: vec![],
        placements: vec![],
        kept: vec![],
        unmet: vec![],
        decisions: vec![],
        open_items: 0,
        start_date: app.today().to_string(),
    };
    if let Some(p) = &run.proposal {
        page.done = true;
        page.summary = summary(&run, p);
        let row = |kind: ItemKind,
                   client: ClientId,
                   from: Option<GroupId>,
                   to: Option<GroupId>,
                   why: String| {
            let group = if kind == ItemKind::End { from } else { to }.unwrap_or(GroupId(0));
            let (status, applied) = item_status(decided.get(&(client, group)).copied());
            ItemRow {
                key: key(client, group),
                client: n.client(client),
                from: from.map(|g| n.group(g)).unwrap_or_default(),
                to: to.map(|g| n.group(g)).unwrap_or_default(),
                why,
                status,
                applied,
            }
        };
        page.endings = p
            .endings_only()
            .iter()
            .map(|e| {
                row(
                    ItemKind::End,
                    e.client_id,
                    Some(e.group_id),
                    None,
                    end_reason(e.reason).to_owned(),
                )
            })
            .collect();
        page.moves = run
            .moves
            .iter()
            .map(|m| {
                let why = p
                    .ended_placements
                    .iter()
                    .find(|e| e.client_id == m.client_id && e.group_id == m.from_group_id)
                    .map_or("", |e| end_reason(e.reason))
                    .to_owned();
                row(
                    ItemKind::Move,
                    m.client_id,
                    Some(m.from_group_id),
                    Some(m.to_group_id),
                    why,
                )
            })
            .collect();
        page.placements = p
            .placements_only()
            .iter()
            .map(|x| {
                row(
                    ItemKind::Place,
                    x.client_id,
                    None,
                    Some(x.group_id),
                    placement_reasons(&n, p, x),
                )
            })
            .collect();
        page.kept = p
            .kept_placements
            .iter()
            .map(|k| KeptRow {
                client: n.client(k.client_id),
                group: n.group(k.group_id),
            })
            .collect();
        page.unmet = p
            .unmet
            .iter()
            .map(|u| UnmetRow {
                client: n.client(u.client_id),
                required: hours(u.required_minutes),
                unmet: hours(u.unmet_minutes),
                reasons: u.reasons.iter().map(|r| shortfall(&n, r)).collect(),
            })
            .collect();
        page.open_items = page
            .endings
            .iter()
            .chain(&page.moves)
            .chain(&page.placements)
            .filter(|r| !r.applied)
            .count();
        page.decisions = run
            .decisions
            .iter()
            .map(|d| DecisionRow {
                what: match d.kind {
                    ItemKind::End => {
                        format!("End {} in {}", n.client(d.client_id), n.group(d.group_id))
                    }
                    ItemKind::Move => format!(
                        "Move {} from {} to {}",
                        n.client(d.client_id),
                        d.from_group_id.map(|g| n.group(g)).unwrap_or_default(),
                        n.group(d.group_id)
                    ),
                    ItemKind::Place => {
                        format!("Place {} in {}", n.client(d.client_id), n.group(d.group_id))
                    }
                },
                outcome: if d.outcome == ApplyOutcome::Applied {
                    "Applied"
                } else {
                    "Refused"
                },
                applied: d.outcome == ApplyOutcome::Applied,
                detail: d.message.clone().unwrap_or_default(),
                when: local(app, d.decided_at),
            })
            .collect();
    }
    let live = page.live;
    let mut response = html(status, page);
    if live {
        // The page reloads itself every 2 s while the run is live (a header, not a
        // script; a link does the same by hand).
        response
            .headers_mut()
            .insert("refresh", HeaderValue::from_static("2"));
    }
    Ok(response)
}

fn summary(run: &PlanRun, p: &circle_domain::planning::Proposal) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut s = format!(
        "{} and {} considered. ",
        plural(p.clients_considered, "client", "clients"),
        plural(p.groups_considered, "group", "groups"),
    );
    // The planner's bound says how far from the best possible plan this one can be.
    match p.bound {
        Some(b) if p.proven_optimal || b <= p.score => s.push_str("Proven the best possible plan"),
        None if p.proven_optimal => s.push_str("Proven the best possible plan"),
        Some(b) => {
            let gap = (b - p.score) as f64 / (b.abs().max(1)) as f64;
            s.push_str(&format!(
                "Within {:.2} % of the best possible plan (at most {} points short)",
                gap * 100.0,
                b - p.score
            ));
        }
        None => s.push_str("Not proven the best possible plan (no bound was computed)"),
    }
    if p.timed_out {
        s.push_str(&format!(
            "; the {} s time limit cut the search short",
            run.time_limit_ms / 1000
        ));
    }
    s.push('.');
    s
}

/// The approval of a proposal: all its open items (`approve=all`) or the ticked ones
/// (`item`, repeated), placed from the start date.
#[derive(serde::Deserialize)]
pub struct ApproveForm {
    approve: String,
    item: Vec<ItemKey>,
    start_date: Day,
}

/// A proposal's item as its checkbox names it: `<client id>-<group id>`.
#[derive(serde::Deserialize)]
#[serde(try_from = "String")]
struct ItemKey(Placement);

impl TryFrom<String> for ItemKey {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        parse_key(&v)
            .map(ItemKey)
            .ok_or("must be items of this proposal")
    }
}

pub async fn approve(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<ApproveForm>,
) -> Result<Response, PageError> {
    let outcome = match form.into_parsed() {
        Ok(f) => {
            let chosen: Vec<Placement> = f.item.into_iter().map(|k| k.0).collect();
            let all = f.approve == "all";
            if !all && chosen.is_empty() {
                Err(DomainError::invalid(
                    "item",
                    "tick at least one item to approve, or approve all.",
                )
                .into())
            } else {
                let items = if all { None } else { Some(chosen.as_slice()) };
                app.approve_plan_run(&signed.actor, id, items, f.start_date.0)
                    .await
            }
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!("/planner/runs/{id}#results")).into_response()),
        Err(e @ AppError::Domain(DomainError::Invalid(_) | DomainError::Conflict(_))) => {
            render_run(
                &app,
                &signed,
                id,
                vec![explain(&e)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
