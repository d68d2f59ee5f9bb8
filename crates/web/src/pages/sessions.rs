//! Today's sessions and the session screen: the roster with preferred names and attendance
//! for a whole group in one form (status and, for late arrival or early leave, minutes).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use circle_app::App;
use circle_domain::ids::{ClientId, SessionId};
use circle_domain::session::{
    AttendanceInput, AttendanceStatus, Participation, RosterEntry, Session,
};
use circle_domain::user::Role;
use serde::Deserialize;

use super::{Nav, PageError, Signed, explain, html};

struct AgendaRow {
    id: i64,
    time: String,
    group: String,
    room: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "today.html")]
struct TodayPage {
    nav: Option<Nav>,
    day: String,
    mine: bool,
    sessions: Vec<AgendaRow>,
}

/// "18:00–19:30" in the clinic's time zone.
fn span(app: &App, s: &Session) -> String {
    let tz = app.clinic_time_zone();
    let start = s
        .starts_at
        .to_zoned(tz.clone())
        .strftime("%H:%M")
        .to_string();
    let end = s.ends_at.to_zoned(tz.clone()).strftime("%H:%M").to_string();
    format!("{start}–{end}")
}

pub async fn today(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    let day = app.today();
    let items = app.agenda(&signed.actor, day).await?;
    let sessions = items
        .iter()
        .map(|i| AgendaRow {
            id: i.session.id.0,
            time: span(&app, &i.session),
            group: i.group_name.clone(),
            room: i
                .room_name
                .clone()
                .unwrap_or_else(|| "Telehealth".to_owned()),
            status: i.session.status.as_str(),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        TodayPage {
            nav: Some(signed.nav()),
            day: day.strftime("%A %-d %B %Y").to_string(),
            mine: signed.actor.role == Role::Clinician,
            sessions,
        },
    ))
}

struct MemberRow {
    client_id: i64,
    name: String,
    status: &'static str,
    minutes: String,
    participation: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    nav: Option<Nav>,
    csrf: String,
    id: i64,
    group: String,
    when: String,
    room: Option<String>,
    status: &'static str,
    topic: Option<String>,
    can_record: bool,
    roster: Vec<MemberRow>,
    statuses: Vec<(&'static str, &'static str)>,
    participation: Vec<(&'static str, &'static str)>,
    full_minutes: u32,
    messages: Vec<String>,
    saved: Option<String>,
}

/// Described, never scored: silence is a valid way to be in group.
const PARTICIPATION: [(Participation, &str); 7] = [
    (Participation::Shared, "Shared"),
    (Participation::ListenedPassed, "Listened / passed"),
    (Participation::GaveFeedback, "Gave feedback"),
    (Participation::PractisedSkill, "Practised a skill"),
    (Participation::SupportedPeer, "Supported a peer"),
    (Participation::AskedQuestion, "Asked a question"),
    (Participation::CompletedHomework, "Completed homework"),
];

const STATUSES: [(AttendanceStatus, &str); 5] = [
    (AttendanceStatus::Present, "Present"),
    (AttendanceStatus::Late, "Late"),
    (AttendanceStatus::LeftEarly, "Left early"),
    (AttendanceStatus::AbsentExcused, "Absent (excused)"),
    (AttendanceStatus::AbsentUnexcused, "Absent"),
];

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<u32>,
}

pub async fn session_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let saved = q.saved.map(|n| match n {
        1 => "Attendance saved for 1 member.".to_owned(),
        n => format!("Attendance saved for {n} members."),
    });
    render_session(&app, &signed, SessionId(id), vec![], saved, StatusCode::OK).await
}

async fn render_session(
    app: &App,
    signed: &Signed,
    id: SessionId,
    messages: Vec<String>,
    saved: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let session = app.session(&signed.actor, id).await?;
    let roster = app.roster(&signed.actor, id).await?;
    let group = app.group(&signed.actor, session.group_id).await?;
    let room = match group.room_id {
        Some(r) => Some(app.room(&signed.actor, r).await?.name.to_string()),
        None => None,
    };
    let tz = app.clinic_time_zone();
    let when = format!(
        "{} {}",
        session
            .starts_at
            .to_zoned(tz.clone())
            .strftime("%a %-d %b %Y"),
        span(app, &session)
    );
    let can_record = matches!(signed.actor.role, Role::Director | Role::Clinician);
    Ok(html(
        status,
        SessionPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            id: id.0,
            group: group.name.to_string(),
            when,
            room,
            status: session.status.as_str(),
            topic: session.topic.as_ref().map(|t| t.to_string()),
            can_record,
            roster: roster.iter().map(member_row).collect(),
            statuses: STATUSES.iter().map(|(s, l)| (s.as_str(), *l)).collect(),
            participation: PARTICIPATION
                .iter()
                .map(|(p, l)| (p.as_str(), *l))
                .collect(),
            full_minutes: session.minutes(),
            messages,
            saved,
        },
    ))
}

fn member_row(r: &RosterEntry) -> MemberRow {
    let (status, minutes) = match &r.attendance {
        Some(a)
            if matches!(
                a.status,
                AttendanceStatus::Late | AttendanceStatus::LeftEarly
            ) =>
        {
            (a.status.as_str(), a.minutes.to_string())
        }
        Some(a) => (a.status.as_str(), String::new()),
        None => ("", String::new()),
    };
    MemberRow {
        client_id: r.client_id.0,
        name: r.display_name.clone(),
        status,
        minutes,
        participation: r
            .attendance
            .iter()
            .flat_map(|a| a.participation.iter().map(|p| p.as_str()))
            .collect(),
    }
}

/// Saves every member whose status or minutes changed; refusals are shown per member by
/// roster name and rule, and the members saved stay saved.
pub async fn record_attendance(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
    };
    signed.check_csrf(field("csrf").unwrap_or(""))?;
    let session = SessionId(id);
    let roster = app.roster(&signed.actor, session).await?;
    let mut messages = vec![];
    let mut saved = 0;
    for member in &roster {
        let c = member.client_id.0;
        let Some(status) = field(&format!("status_{c}")).and_then(AttendanceStatus::parse) else {
            continue;
        };
        let minutes = match field(&format!("minutes_{c}")).filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => match m.parse::<u32>() {
                Ok(m) => Some(m),
                Err(_) => {
                    messages.push(format!(
                        "{}: minutes must be a whole number",
                        member.display_name
                    ));
                    continue;
                }
            },
        };
        let mut participation: Vec<Participation> = fields
            .iter()
            .filter(|(k, _)| *k == format!("part_{c}"))
            .filter_map(|(_, v)| Participation::parse(v))
            .collect();
        if !status.attended() {
            // An absence has no participation; the boxes may still be ticked on the page.
            participation.clear();
        }
        participation.sort();
        participation.dedup();
        // Minutes only mean something for late arrival and early leave.
        let minutes = minutes
            .filter(|_| matches!(status, AttendanceStatus::Late | AttendanceStatus::LeftEarly));
        let unchanged = member
            .attendance
            .as_ref()
            .is_some_and(|a| a.status == status && minutes.is_none_or(|m| m == a.minutes));
        if unchanged {
            continue;
        }
        let input = AttendanceInput {
            status,
            minutes,
            participation,
        };
        match app
            .record_attendance(&signed.actor, session, ClientId(c), &input)
            .await
        {
            Ok(_) => saved += 1,
            Err(circle_app::AppError::Internal(cause)) => {
                tracing::error!(cause = %cause, "recording attendance failed");
                messages.push(format!(
                    "{}: something went wrong; nothing was saved for this member",
                    member.display_name
                ));
            }
            Err(e) => messages.push(format!("{}: {}", member.display_name, explain(&e))),
        }
    }
    if messages.is_empty() {
        return Ok(Redirect::to(&format!("/sessions/{id}?saved={saved}")).into_response());
    }
    let note = (saved > 0).then(|| format!("Attendance saved for {saved} member(s)."));
    render_session(
        &app,
        &signed,
        session,
        messages,
        note,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}
