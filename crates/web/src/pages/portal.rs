//! The client portal: own groups and schedule, the group agreement, check-ins, the calendar
//! feed. Everything shown is the signed-in client's own; nothing names another member.
//!
//! The calendar feed (`/feed/{secret}.ics`) is written by `crate::ics`, which the staff
//! feeds share.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::portal::{OwnGroup, OwnSession, Portal};
use circle_app::{Actor, App};
use circle_domain::FieldErrors;
use circle_domain::ids::ClientId;
use circle_domain::intake::{GROUP_AGREEMENT_TEXT, GROUP_AGREEMENT_VERSION, SignAgreement};
use circle_domain::measure::{DueReason, NewMeasureResponse};
use jiff::tz::TimeZone;

use super::form::{Button, PageForm};
use super::vocab::Label;
use super::{CookiePolicy, Nav, PageError, Signed, explain, form_value, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/me", get(home))
        .route("/me/agreement", post(sign_agreement))
        .route("/me/check-in/{code}", get(check_in_form).post(check_in))
        .route("/me/check-in/{code}/thanks", get(check_in_thanks))
        .route("/me/feed", post(create_feed))
        .route("/me/feed/revoke", post(revoke_feed))
        .route("/feed/{file}", get(feed))
}

/// A group as its member sees it.
struct GroupView {
    name: String,
    kind: String,
    when: String,
    place: String,
    join_url: Option<String>,
}

/// An upcoming session as its member sees it.
struct SessionView {
    day: String,
    time: String,
    group: String,
    place: String,
    cancelled: bool,
    join_url: Option<String>,
}

struct DueView {
    code: String,
    name: &'static str,
    reason: &'static str,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    nav: Option<Nav>,
    csrf: String,
    notice: Option<&'static str>,
    messages: Vec<String>,
    groups: Vec<GroupView>,
    sessions: Vec<SessionView>,
    agreement_signed: Option<String>,
    agreement_text: &'static str,
    agreement_version: &'static str,
    due: Vec<DueView>,
    /// The check-ins a client may take when none is due (a client who feels worse
    /// mid-cycle checks in off-cycle; an item-9 answer alerts the care team all the same).
    any_time: Vec<(&'static str, &'static str)>,
    feed_created: Option<String>,
    feed_url: Option<String>,
}

/// "New York time" for `America/New_York`: how people name a zone.
pub(crate) fn zone_words(name: &str) -> String {
    let city = name.rsplit('/').next().unwrap_or(name).replace('_', " ");
    format!("{city} time")
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

fn place(room: Option<&str>) -> String {
    room.map_or_else(|| "Telehealth (video)".to_owned(), str::to_owned)
}

fn weekday_plural(d: circle_domain::schedule::Weekday) -> String {
    format!("{}s", d.label())
}

/// "Mondays 10:00–11:30" for each weekly meeting.
pub(crate) fn meeting_times(g: &circle_domain::group::Group) -> String {
    g.meetings
        .iter()
        .map(|m| {
            let end = m
                .start
                .checked_add(jiff::Span::new().minutes(i64::from(m.minutes)))
                .unwrap_or(m.start);
            format!(
                "{} {}–{}",
                weekday_plural(m.weekday),
                m.start.strftime("%H:%M"),
                end.strftime("%H:%M")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn group_view(g: &OwnGroup) -> GroupView {
    GroupView {
        name: g.group.name.to_string(),
        kind: g.group.kind.label().to_owned(),
        when: format!("{} ({})", meeting_times(&g.group), zone_words(&g.time_zone)),
        place: place(g.room_name.as_deref()),
        join_url: g.join_url.clone(),
    }
}

fn session_view(s: &OwnSession) -> SessionView {
    let tz = zone(&s.time_zone);
    let start = s.starts_at.to_zoned(tz.clone());
    let end = s.ends_at.to_zoned(tz);
    SessionView {
        day: start.strftime("%A %-d %B %Y").to_string(),
        time: format!(
            "{}–{} {}",
            start.strftime("%H:%M"),
            end.strftime("%H:%M"),
            start.strftime("%Z")
        ),
        group: s.group_name.clone(),
        place: place(s.room_name.as_deref()),
        cancelled: s.cancelled,
        join_url: s.join_url.clone().filter(|_| !s.cancelled),
    }
}

fn instrument_name(code: &str) -> &'static str {
    match code {
        "phq9" => "Mood check-in (PHQ-9)",
        "gad7" => "Worry check-in (GAD-7)",
        _ => "Check-in",
    }
}

fn home_page(
    clinic: &TimeZone,
    signed: &Signed,
    p: &Portal,
    notice: Option<&'static str>,
    messages: Vec<String>,
    feed_url: Option<String>,
) -> HomePage {
    HomePage {
        nav: Some(signed.nav()),
        csrf: signed.csrf(),
        notice,
        messages,
        groups: p.groups.iter().map(group_view).collect(),
        sessions: p.sessions.iter().map(session_view).collect(),
        agreement_signed: p
            .agreement_signed
            .map(|d| d.strftime("%-d %B %Y").to_string()),
        agreement_text: GROUP_AGREEMENT_TEXT,
        agreement_version: GROUP_AGREEMENT_VERSION,
        due: p
            .due
            .iter()
            .map(|d| DueView {
                code: d.instrument.clone(),
                name: instrument_name(&d.instrument),
                reason: match d.reason {
                    DueReason::Intake => "as you start with us",
                    DueReason::Routine => "it is time for your regular check-in",
                    DueReason::Discharge => "as your time with us comes to an end",
                },
            })
            .collect(),
        any_time: ["phq9", "gad7"]
            .into_iter()
            .filter(|code| !p.due.iter().any(|d| d.instrument == *code))
            .map(|code| (code, instrument_name(code)))
            .collect(),
        feed_created: p
            .feed_created
            .map(|t| t.to_zoned(clinic.clone()).strftime("%-d %B %Y").to_string()),
        feed_url,
    }
}

#[derive(serde::Deserialize)]
struct Done {
    done: Option<String>,
}

/// The client's home: their groups, upcoming sessions, agreement, check-ins and feed.
async fn home(
    State(app): State<App>,
    signed: Signed,
    axum::extract::Query(q): axum::extract::Query<Done>,
) -> Result<Response, PageError> {
    let p = app.portal(&signed.actor).await?;
    let notice = match q.done.as_deref() {
        Some("agreement") => Some("Thank you. Your signature on the group agreement is saved."),
        Some("feed-revoked") => {
            Some("Your calendar link is switched off. Calendars using it no longer update.")
        }
        _ => None,
    };
    Ok(html(
        StatusCode::OK,
        home_page(app.clinic_time_zone(), &signed, &p, notice, vec![], None),
    ))
}

fn own_client(actor: &Actor) -> Result<ClientId, PageError> {
    actor.client_id().ok_or(PageError::Forbidden)
}

/// The client's own signature: the box ticked and the version of the text they read.
#[derive(serde::Deserialize)]
struct AgreementForm {
    agree: bool,
    version: String,
}

async fn sign_agreement(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<AgreementForm>,
) -> Result<Response, PageError> {
    let client = own_client(&signed.actor)?;
    let outcome = match form.into_parsed() {
        Ok(f) if f.agree => {
            let body = SignAgreement {
                signed_on: None,
                version: Some(f.version),
            };
            app.sign_group_agreement(&signed.actor, client, &body)
                .await
                .map(|_| ())
        }
        Ok(_) => Err(circle_domain::DomainError::invalid(
            "agree",
            "tick the box to say you have read the agreement and agree to it.",
        )
        .into()),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/me?done=agreement").into_response()),
        Err(e @ circle_app::AppError::Domain(circle_domain::DomainError::Invalid(_))) => {
            let p = app.portal(&signed.actor).await?;
            let page = home_page(
                app.clinic_time_zone(),
                &signed,
                &p,
                None,
                vec![explain(&e)],
                None,
            );
            Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page))
        }
        Err(e) => Err(e.into()),
    }
}

// Check-ins.

struct ItemView {
    id: String,
    text: String,
    /// Value, words, and whether it was the answer given (a refused form keeps them).
    options: Vec<(i64, String, bool)>,
    /// Why the answer was refused, shown with the question.
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "portal_check_in.html")]
struct CheckInPage {
    nav: Option<Nav>,
    csrf: String,
    code: String,
    title: &'static str,
    items: Vec<ItemView>,
    messages: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal_thanks.html")]
struct ThanksPage {
    nav: Option<Nav>,
    support: bool,
}

fn check_in_page(
    signed: &Signed,
    inst: &circle_domain::measure::InstrumentView,
    chosen: &BTreeMap<String, i64>,
    errors: &FieldErrors,
    messages: Vec<String>,
) -> CheckInPage {
    let error = |id: &str| {
        let name = CheckInAnswers::field(id);
        errors
            .0
            .iter()
            .find(|e| e.field == name)
            .map(|e| e.message.clone())
    };
    CheckInPage {
        nav: Some(signed.nav()),
        csrf: signed.csrf(),
        code: inst.code.clone(),
        title: instrument_name(&inst.code),
        items: inst
            .items
            .iter()
            .map(|i| ItemView {
                id: i.id.clone(),
                text: i.text.clone(),
                options: i
                    .options
                    .iter()
                    .map(|o| {
                        let picked = chosen.get(&i.id) == Some(&o.value);
                        (o.value, o.label.clone(), picked)
                    })
                    .collect(),
                error: error(&i.id),
            })
            .collect(),
        messages,
    }
}

/// A check-in's answers: item id → the chosen option's value, every question answered
/// with one of its options. The form posts one radio group per question, named
/// `item_<id>` after the instrument's item (a row-keyed form: its names come from the
/// instrument, not from a struct's fields, so it is read here against the instrument).
struct CheckInAnswers(BTreeMap<String, i64>);

impl CheckInAnswers {
    /// The form field of an item's radio group.
    fn field(item: &str) -> String {
        format!("item_{item}")
    }

    /// The answers of `fields`, or each unanswered question's rule (by its field).
    /// Fields the instrument does not ask are not read.
    fn read(
        inst: &circle_domain::measure::InstrumentView,
        fields: &[(String, String)],
    ) -> Result<Self, (BTreeMap<String, i64>, FieldErrors)> {
        let mut answers = BTreeMap::new();
        let mut errors = FieldErrors::default();
        for item in &inst.items {
            let name = Self::field(&item.id);
            match form_value(fields, &name).parse::<i64>() {
                Ok(v) if item.options.iter().any(|o| o.value == v) => {
                    answers.insert(item.id.clone(), v);
                }
                _ => errors.push(name, "choose one answer"),
            }
        }
        if errors.is_empty() {
            Ok(CheckInAnswers(answers))
        } else {
            Err((answers, errors))
        }
    }
}

/// "Question 9: choose one answer" for each refused answer, in the questions' order.
fn question_messages(
    inst: &circle_domain::measure::InstrumentView,
    errors: &FieldErrors,
) -> Vec<String> {
    inst.items
        .iter()
        .enumerate()
        .filter_map(|(n, item)| {
            let name = CheckInAnswers::field(&item.id);
            let e = errors.0.iter().find(|e| e.field == name)?;
            Some(format!("Question {}: {}", n + 1, e.message))
        })
        .collect()
}

/// The client's own instruments only: a code a client may not answer is "not found".
async fn own_instrument(
    app: &App,
    signed: &Signed,
    code: &str,
) -> Result<circle_domain::measure::InstrumentView, PageError> {
    own_client(&signed.actor)?;
    Ok(app.instrument(&signed.actor, code).await?)
}

async fn check_in_form(
    State(app): State<App>,
    signed: Signed,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let inst = own_instrument(&app, &signed, &code).await?;
    Ok(html(
        StatusCode::OK,
        check_in_page(
            &signed,
            &inst,
            &BTreeMap::new(),
            &FieldErrors::default(),
            vec![],
        ),
    ))
}

async fn check_in(
    State(app): State<App>,
    signed: Signed,
    Path(code): Path<String>,
    form: PageForm<Button>,
) -> Result<Response, PageError> {
    let client = own_client(&signed.actor)?;
    let inst = own_instrument(&app, &signed, &code).await?;
    let answers = match CheckInAnswers::read(&inst, form.fields()) {
        Ok(CheckInAnswers(answers)) => answers,
        Err((given, errors)) => {
            let messages = question_messages(&inst, &errors);
            return Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                check_in_page(&signed, &inst, &given, &errors, messages),
            ));
        }
    };
    let new = NewMeasureResponse {
        instrument: inst.code.clone(),
        answers,
        administered_at: None,
    };
    match app.record_measure(&signed.actor, client, &new).await {
        Ok(_) => Ok(Redirect::to(&format!("/me/check-in/{}/thanks", inst.code)).into_response()),
        Err(e @ circle_app::AppError::Domain(circle_domain::DomainError::Invalid(_))) => Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            check_in_page(
                &signed,
                &inst,
                &new.answers,
                &FieldErrors::default(),
                vec![explain(&e)],
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A calm thank-you, never a score; crisis resources are prominent when the latest answer
/// to a safety item was above 0 (read back from the client's own record, so the URL
/// carries nothing about it).
async fn check_in_thanks(
    State(app): State<App>,
    signed: Signed,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let client = own_client(&signed.actor)?;
    let inst = own_instrument(&app, &signed, &code).await?;
    let list = app.measures(&signed.actor, client).await?;
    let support = list
        .iter()
        .rev()
        .find(|r| r.instrument == inst.code)
        .is_some_and(|r| {
            inst.safety_items
                .iter()
                .any(|i| r.answers.get(i).is_some_and(|v| *v > 0))
        });
    Ok(html(
        StatusCode::OK,
        ThanksPage {
            nav: Some(signed.nav()),
            support,
        },
    ))
}

// The calendar feed.

/// The feed's address on this server, from the request's `Host`.
pub(super) fn feed_url(
    headers: &HeaderMap,
    policy: CookiePolicy,
    path: &str,
    secret: &str,
) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if policy.secure { "https" } else { "http" };
    format!("{scheme}://{host}/{path}/{secret}.ics")
}

/// Makes or replaces the feed and shows its address once (only a digest is kept, so it
/// cannot be shown again): the page is the answer to the POST rather than a redirect, so
/// the secret never sits in a URL of the browser's history.
async fn create_feed(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    headers: HeaderMap,
    signed: Signed,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    let secret = app.create_calendar_feed(&signed.actor).await?;
    let p = app.portal(&signed.actor).await?;
    let url = feed_url(&headers, policy, "feed", &secret);
    Ok(html(
        StatusCode::OK,
        home_page(
            app.clinic_time_zone(),
            &signed,
            &p,
            Some(
                "Your calendar link is ready. Copy it now: for your privacy it is shown only once.",
            ),
            vec![],
            Some(url),
        ),
    ))
}

async fn revoke_feed(
    State(app): State<App>,
    signed: Signed,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    app.revoke_calendar_feed(&signed.actor).await?;
    Ok(Redirect::to("/me?done=feed-revoked").into_response())
}

/// `GET /feed/{secret}.ics`: no session (calendar apps cannot sign in); the secret is the
/// key. Unknown or revoked → 404, reading and changing nothing.
async fn feed(
    State(app): State<App>,
    Path(file): Path<String>,
    parts: axum::http::request::Parts,
) -> Response {
    let Some(secret) = file.strip_suffix(".ics") else {
        return PageError::NotFound.into_response();
    };
    let meta = crate::extract::request_meta(&parts);
    match app.calendar_feed(secret, &meta).await {
        Ok(Some(sessions)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            crate::ics::calendar("My groups", &own_events(&sessions), app.now()),
        )
            .into_response(),
        Ok(None) => PageError::NotFound.into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// A client's sessions as feed events: their own groups' names (members know them), the
/// room or "Telehealth", and the join URL of online sessions.
fn own_events(sessions: &[circle_app::portal::OwnSession]) -> Vec<crate::ics::FeedEvent> {
    sessions
        .iter()
        .map(|s| crate::ics::FeedEvent {
            session_id: s.session_id,
            title: s.group_name.clone(),
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            time_zone: s.time_zone.clone(),
            location: s
                .room_name
                .clone()
                .unwrap_or_else(|| "Telehealth".to_owned()),
            cancelled: s.cancelled,
            join_url: s.join_url.clone(),
        })
        .collect()
}
