//! Programs and groups: each group's seats (filled / maximum, minimum), schedule,
//! facilitators, enrollment model and waitlist length; a group's members as the role may see
//! them, adding a membership and ending one, with the rule explained inline when refused.
//!
//! Members are shown to directors, intake (who is enrolled, never clinical content) and the
//! group's own facilitators; other clinicians see the group but not who is in it, and the
//! page does not even ask for the members (a refused read would be audited as one).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};
use circle_app::purpose;
use circle_app::{App, AppError, PageRequest};
use circle_domain::DomainError;
use circle_domain::group::{Enrollment, Group};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, MembershipId};
use circle_domain::membership::{MembershipChange, MembershipStatus, NewMembership};
use jiff::civil::Date;
use serde::Deserialize;

use super::form::{Answer, FieldView, Filled, PageForm, after_post};
use super::vocab::Label;
use super::{Nav, PageError, Signed, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/groups", get(groups_page))
        .route("/programs", get(|| async { Redirect::to("/groups") }))
        .route("/groups/{id}", get(group_page))
        .route("/groups/{id}/memberships", post(add_membership))
        .route("/groups/{id}/memberships/{mid}/end", post(end_membership))
}

const PAGE: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};

fn require_staff(signed: &Signed) -> Result<(), PageError> {
    if signed.actor.may::<purpose::Schedules>() {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

fn day_name(d: circle_domain::schedule::Weekday) -> &'static str {
    use circle_domain::schedule::Weekday::*;
    match d {
        Monday => "Monday",
        Tuesday => "Tuesday",
        Wednesday => "Wednesday",
        Thursday => "Thursday",
        Friday => "Friday",
        Saturday => "Saturday",
        Sunday => "Sunday",
    }
}

/// "Monday 18:00 (90 min); Thursday 18:00 (90 min)", in the program's local time.
fn schedule(g: &Group) -> String {
    if g.meetings.is_empty() {
        return "no weekly meetings".to_owned();
    }
    g.meetings
        .iter()
        .map(|m| {
            format!(
                "{} {} ({} min)",
                day_name(m.weekday),
                m.start.strftime("%H:%M"),
                m.minutes
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn enrollment(e: &Enrollment) -> String {
    match e {
        Enrollment::Open => "open: join any week".to_owned(),
        Enrollment::Rolling {
            curriculum_start,
            module_weeks,
        } => format!(
            "rolling: join in the first week of each {module_weeks}-week module (from {curriculum_start})"
        ),
        Enrollment::Closed { cohort_start } => {
            format!("closed: a cohort that starts together on {cohort_start}")
        }
    }
}

/// Clinician names, read once per page.
async fn clinician_name(
    app: &App,
    signed: &Signed,
    cache: &mut HashMap<ClinicianId, String>,
    id: ClinicianId,
) -> Result<String, PageError> {
    if let Some(n) = cache.get(&id) {
        return Ok(n.clone());
    }
    let c = app.clinician(&signed.actor, id).await?;
    let n = format!("{} {}", c.given_name, c.family_name);
    cache.insert(id, n.clone());
    Ok(n)
}

async fn facilitators(
    app: &App,
    signed: &Signed,
    cache: &mut HashMap<ClinicianId, String>,
    g: &Group,
) -> Result<String, PageError> {
    let mut s = clinician_name(app, signed, cache, g.lead_facilitator_id).await?;
    if let Some(co) = g.co_facilitator_id {
        s.push_str(" (lead), ");
        s.push_str(&clinician_name(app, signed, cache, co).await?);
        s.push_str(" (co)");
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// /groups

struct GroupRow {
    id: i64,
    name: String,
    kind: String,
    levels: String,
    seats: String,
    full: bool,
    below_min: bool,
    schedule: String,
    facilitators: String,
    enrollment: &'static str,
    waitlist: u32,
}

struct ProgramBlock {
    id: i64,
    name: String,
    detail: String,
    groups: Vec<GroupRow>,
}

#[derive(Template)]
#[template(path = "groups_list.html")]
struct GroupsPage {
    nav: Option<Nav>,
    programs: Vec<ProgramBlock>,
}

async fn groups_page(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    require_staff(&signed)?;
    let actor = &signed.actor;
    let mut names = HashMap::new();
    let mut programs = vec![];
    for p in app.list_programs(actor, PAGE).await?.items {
        let mut groups = vec![];
        let mut page = PAGE;
        loop {
            let found = app.list_groups(actor, Some(p.id), page).await?;
            for g in &found.items {
                let seats = app.group_seats(actor, g.id).await?;
                groups.push(GroupRow {
                    id: g.id.0,
                    name: g.name.to_string(),
                    kind: match g.modality {
                        Some(m) => format!("{} ({})", g.kind.label(), m.label()),
                        None => g.kind.label().to_owned(),
                    },
                    levels: g
                        .eligible_levels
                        .iter()
                        .map(|l| l.label())
                        .collect::<Vec<_>>()
                        .join(", "),
                    seats: format!("{} / {} (min {})", seats.filled, g.max_size, g.min_size),
                    full: seats.filled + seats.held_by_offers >= g.max_size,
                    below_min: seats.filled < g.min_size,
                    schedule: schedule(g),
                    facilitators: facilitators(&app, &signed, &mut names, g).await?,
                    enrollment: g.enrollment.model(),
                    waitlist: seats.waitlist,
                });
            }
            match found.next_after {
                Some(after) => page.after = after,
                None => break,
            }
        }
        programs.push(ProgramBlock {
            id: p.id.0,
            name: p.name.to_string(),
            detail: format!(
                "{}, {} · {} · groups of at most {}",
                p.site,
                super::portal::zone_words(&p.time_zone.to_string()),
                p.level_of_care.label(),
                p.max_group_size
            ),
            groups,
        });
    }
    Ok(html(
        StatusCode::OK,
        GroupsPage {
            nav: Some(signed.nav()),
            programs,
        },
    ))
}

// ---------------------------------------------------------------------------------------
// /groups/{id}

/// A membership's status in words.
fn status_label(s: MembershipStatus) -> &'static str {
    s.label()
}

struct MemberRow {
    id: i64,
    version: i64,
    name: String,
    start: String,
    end: Option<String>,
    status: &'static str,
    ended: bool,
    /// Whether this membership's end was just refused: its form is shown open, with the
    /// reason and last day typed and their errors.
    ending: bool,
    end_status: FieldView,
    end_date: FieldView,
}

#[derive(Template)]
#[template(path = "groups_detail.html")]
struct GroupPage {
    nav: Option<Nav>,
    csrf: String,
    id: i64,
    name: String,
    program: String,
    kind: String,
    levels: String,
    focus: String,
    enrollment: String,
    filled: u32,
    held: u32,
    min: u32,
    max: u32,
    waitlist: u32,
    schedule: String,
    room: String,
    facilitators: String,
    curriculum: Vec<String>,
    /// `None` when the role may not see who is in the group.
    members: Option<Vec<MemberRow>>,
    /// The telehealth group's join URL and its form, for its directors only (`None`
    /// otherwise; `Some("")` when no link is set).
    join_url: Option<String>,
    can_add: bool,
    can_end: bool,
    clients: Vec<(i64, String)>,
    today: String,
    client: FieldView,
    start: FieldView,
    join_url_error: Option<String>,
    messages: Vec<String>,
    ok: Option<String>,
}

#[derive(Deserialize)]
struct OkQuery {
    ok: Option<String>,
}

async fn group_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<OkQuery>,
) -> Result<Response, PageError> {
    let ok = match q.ok.as_deref() {
        Some("added") => Some("The membership was added.".to_owned()),
        Some("ended") => Some("The membership was ended.".to_owned()),
        Some("join-url") => Some("The join link was saved.".to_owned()),
        _ => None,
    };
    render_group(
        &app,
        &signed,
        GroupId(id),
        &Filled::default(),
        None,
        vec![],
        ok,
        StatusCode::OK,
    )
    .await
}

/// The group's page; `form` is a refused form as posted (the membership `ending`, when
/// it was the end of one), its values and errors shown by its fields.
#[allow(
    clippy::too_many_arguments,
    reason = "the page and what a refused form brings back to it"
)]
pub(super) async fn render_group(
    app: &App,
    signed: &Signed,
    id: GroupId,
    form: &Filled,
    ending: Option<MembershipId>,
    messages: Vec<String>,
    ok: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    require_staff(signed)?;
    let actor = &signed.actor;
    let g = app.group(actor, id).await?;
    let program = app.program(actor, g.program_id).await?;
    let seats = app.group_seats(actor, id).await?;
    let room = match g.room_id {
        Some(r) => app.room(actor, r).await?.name.to_string(),
        None => "Telehealth".to_owned(),
    };
    let mut names = HashMap::new();
    let facilitators = facilitators(app, signed, &mut names, &g).await?;
    let sees_members = actor.reaches_group::<purpose::GroupMemberships>(id);
    let members = if sees_members {
        let mut rows: Vec<MemberRow> = app
            .group_members(actor, id)
            .await?
            .into_iter()
            .map(|m| MemberRow {
                id: m.membership.id.0,
                version: m.membership.version,
                name: m.roster_name,
                start: m.membership.start_date.to_string(),
                end: m.membership.end_date.map(|d| d.to_string()),
                status: status_label(m.membership.status),
                ended: m.membership.status.is_ended(),
                ending: ending == Some(m.membership.id),
                end_status: if ending == Some(m.membership.id) {
                    form.field("status")
                } else {
                    FieldView::default()
                },
                end_date: if ending == Some(m.membership.id) {
                    form.field("end_date")
                } else {
                    FieldView::default()
                },
            })
            .collect();
        // Current members first, then those who have left.
        rows.sort_by_key(|r| r.ended);
        Some(rows)
    } else {
        None
    };
    // A telehealth group's link, for its directors (a group with a room has none).
    let join_url = if g.room_id.is_none() && actor.reaches_group::<purpose::GroupJoinUrl>(id) {
        let stored = app.group_join_url(actor, id).await?.unwrap_or_default();
        // After a refused change the form shows what was typed.
        Some(if form.has("join_url") {
            form.value("join_url").to_owned()
        } else {
            stored
        })
    } else {
        None
    };
    let can_add = actor.reaches_group::<purpose::Enroll>(id);
    let clients = if can_add {
        app.list_clients(actor, PAGE)
            .await?
            .items
            .iter()
            .map(|c| {
                (
                    c.id.0,
                    format!("{} {} ({})", c.given_name, c.family_name, c.record_number),
                )
            })
            .collect()
    } else {
        vec![]
    };
    let today = app.today().to_string();
    let mut start = form.field("start_date");
    if start.value.is_empty() {
        start.value = today.clone();
    }
    Ok(html(
        status,
        GroupPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            id: id.0,
            name: g.name.to_string(),
            program: program.name.to_string(),
            kind: match g.modality {
                Some(m) => format!("{} ({})", g.kind.label(), m.label()),
                None => g.kind.label().to_owned(),
            },
            levels: g
                .eligible_levels
                .iter()
                .map(|l| l.label())
                .collect::<Vec<_>>()
                .join(", "),
            focus: g
                .focus_concerns
                .iter()
                .map(|c| c.label())
                .collect::<Vec<_>>()
                .join(", "),
            enrollment: enrollment(&g.enrollment),
            filled: seats.filled,
            held: seats.held_by_offers,
            min: g.min_size,
            max: g.max_size,
            waitlist: seats.waitlist,
            schedule: schedule(&g),
            room,
            facilitators,
            curriculum: g.curriculum.iter().map(ToString::to_string).collect(),
            members,
            join_url,
            can_add,
            can_end: actor.reaches_group::<purpose::MembershipUpdate>(id),
            clients,
            today,
            client: form.field("client_id"),
            start,
            join_url_error: form.error("join_url"),
            messages,
            ok,
        },
    ))
}

/// Adding a member: the client picked by name or record number (resolved to their id)
/// and the first day.
#[derive(Deserialize)]
pub struct AddMembershipForm {
    #[serde(deserialize_with = "super::form::optional_choice")]
    client_id: Option<ClientId>,
    #[serde(deserialize_with = "super::form::date")]
    start_date: Date,
}

async fn add_membership(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<AddMembershipForm>,
) -> Result<Response, PageError> {
    // The page again shows what was typed, not the id it was resolved to.
    let mut resolved = form.fields().to_vec();
    super::picker::resolve_clients(&app, &signed.actor, &mut resolved, &["client_id"]).await;
    let (parsed, filled) = form.reparse(resolved).into_parts();
    let outcome = match parsed {
        Err(errors) => Err(AppError::Domain(DomainError::Invalid(errors))),
        Ok(AddMembershipForm {
            client_id: None, ..
        }) => Err(DomainError::invalid("client_id", "is required").into()),
        Ok(AddMembershipForm {
            client_id: Some(client_id),
            start_date,
        }) => {
            let new = NewMembership {
                client_id,
                start_date,
            };
            app.enroll(&signed.actor, GroupId(id), &new)
                .await
                .map(|_| format!("/groups/{id}?ok=added"))
        }
    };
    match after_post(outcome, filled)? {
        Answer::Redirect(to) => Ok(to),
        Answer::Again(filled) => {
            // One alert: what was not done, and why.
            let messages = vec![format!(
                "The membership was not added: {}",
                filled.summary().join("; ")
            )];
            render_group(
                &app,
                &signed,
                GroupId(id),
                &filled,
                None,
                messages,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// Ending a membership: why (one of the ending statuses) and the last day, for the
/// version the page showed.
#[derive(Deserialize)]
pub struct EndMembershipForm {
    status: MembershipStatus,
    #[serde(deserialize_with = "super::form::date")]
    end_date: Date,
    version: i64,
}

async fn end_membership(
    State(app): State<App>,
    signed: Signed,
    Path((id, mid)): Path<(i64, i64)>,
    form: PageForm<EndMembershipForm>,
) -> Result<Response, PageError> {
    let (parsed, filled) = form.into_parts();
    let outcome = match parsed {
        Err(errors) => Err(AppError::Domain(DomainError::Invalid(errors))),
        Ok(f) if !f.status.is_ended() => {
            Err(DomainError::invalid("status", "must be completed, withdrawn or discharged").into())
        }
        Ok(f) => {
            let change = MembershipChange {
                version: f.version,
                status: f.status,
                end_date: Some(f.end_date),
            };
            app.change_membership(&signed.actor, MembershipId(mid), &change)
                .await
                .map(|_| format!("/groups/{id}?ok=ended"))
        }
    };
    match after_post(outcome, filled)? {
        Answer::Redirect(to) => Ok(to),
        Answer::Again(filled) => {
            // One alert: what was not done, and why.
            let messages = vec![format!(
                "The membership was not ended: {}",
                filled.summary().join("; ")
            )];
            render_group(
                &app,
                &signed,
                GroupId(id),
                &filled,
                Some(MembershipId(mid)),
                messages,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
