//! The calendar: a week of sessions (Monday to Sunday, days as columns) for a program, a
//! clinician or a room, chosen with one searchable picker (a text field with a `<datalist>`,
//! resolved here; a code such as `program:3` still works); previous and next week links. Times are in
//! the clinic's time zone. The week is drawn on a time grid (quarter-hour rows, sessions
//! side by side when they overlap, each program its own colour) with CSS classes only:
//! the pages' CSP allows no inline styles and no script. A clinician starts on their own sessions and, whatever view they
//! choose, sees only the sessions they lead or co-lead (the service narrows it).

use std::collections::HashMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::calendar::{CalendarFilter, CalendarItem};
use circle_app::feeds::{FeedTarget, StaffFeed};
use circle_app::purpose;
use circle_app::{App, PageRequest};
use circle_domain::ids::{ClinicianId, ProgramId, RoomId};
use circle_domain::session::SessionStatus;
use jiff::civil::Date;
use serde::Deserialize;

use super::form::PageForm;
use super::{CookiePolicy, Nav, PageError, Signed, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/calendar", get(week))
        .route("/calendar/feed", post(create_feed))
        .route("/calendar/feed/revoke", post(revoke_feed))
        .route("/staff-feed/{file}", get(staff_feed))
}

/// The feed section of the calendar page, for a clinician's or a room's view the caller
/// may subscribe to.
struct FeedView {
    target: String,
    created: Option<String>,
    /// The address, shown once in the answer to making it.
    url: Option<String>,
}

#[derive(Deserialize)]
pub struct CalendarQuery {
    /// `all`, `program:ID`, `clinician:ID` or `room:ID`.
    show: Option<String>,
    /// Any day of the week to show.
    week: Option<String>,
}

/// One choice of the view picker: its code (`program:3`) and the words a person types or
/// picks ("Adult IOP"), with the kind the list shows beside them.
struct Choice {
    value: String,
    label: String,
    kind: &'static str,
}

/// What the "Show" field names: one of the choices by its words (any case), or a code
/// (`program:3`) as the week links, older bookmarks and the feed forms send it. Words that
/// name two choices (a program and a room called alike) name neither: the person picks one.
fn resolve_show<'a>(typed: &str, choices: &[&'a Choice]) -> Option<&'a Choice> {
    let typed = typed.trim();
    if let Some(c) = choices.iter().find(|c| c.value == typed) {
        return Some(c);
    }
    let mut named = choices
        .iter()
        .filter(|c| c.label.trim().eq_ignore_ascii_case(typed));
    match (named.next(), named.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// The sentence beside the "Show" field when it names nothing on the list.
const SHOW_UNKNOWN: &str = "Choose a program, clinician or room from the list.";

struct SessionCard {
    id: i64,
    time: String,
    group: String,
    program: String,
    place: String,
    status: &'static str,
    status_class: &'static str,
    /// Grid placement (circle.css `.gr-N` start row, `.gs-N` rows spanned, `.gc-N` lane).
    row: usize,
    span: usize,
    lane: usize,
    /// The program's colour (circle.css `.prog-N`).
    colour: usize,
}

struct Day {
    id: String,
    heading: String,
    today: bool,
    sessions: Vec<SessionCard>,
    /// Side-by-side lanes needed for the day's overlapping sessions (circle.css `.lanes-N`).
    lanes: usize,
}

/// Rows per hour of the time grid (a row is a quarter of an hour).
const ROWS_PER_HOUR: usize = 4;
/// Lanes the stylesheet draws; more overlapping sessions share the last lane's width.
const MAX_LANES: usize = 8;
/// Program colours the stylesheet holds (`.prog-0` to `.prog-7`).
const COLOURS: usize = 8;

/// Gives each session the first lane free at its start (sessions sorted by start), and
/// returns how many lanes the day needs.
pub(super) fn assign_lanes(spans: &[(usize, usize)]) -> (Vec<usize>, usize) {
    let mut lane_ends: Vec<usize> = vec![];
    let mut lanes = Vec::with_capacity(spans.len());
    for &(start, end) in spans {
        let lane = match lane_ends.iter().position(|&e| e <= start) {
            Some(l) => l,
            None => {
                lane_ends.push(0);
                lane_ends.len() - 1
            }
        };
        if let Some(e) = lane_ends.get_mut(lane) {
            *e = end;
        }
        lanes.push(lane.min(MAX_LANES - 1));
    }
    (lanes, lane_ends.len().clamp(1, MAX_LANES))
}

#[derive(Template)]
#[template(path = "calendar_week.html")]
struct WeekPage {
    nav: Option<Nav>,
    show: String,
    showing: String,
    week: String,
    heading: String,
    previous: String,
    next: String,
    /// The picker's text: the chosen view's words, or what was typed when it names nothing.
    show_text: String,
    /// The sentence by the picker when what was typed names nothing.
    show_error: Option<String>,
    /// The sentence by the week field when it is not a date.
    week_error: Option<String>,
    choices: Vec<Choice>,
    /// A field names nothing: the page shows the sentences and no week.
    invalid: bool,
    days: Vec<Day>,
    count: usize,
    can_open: bool,
    csrf: String,
    feed: Option<FeedView>,
    /// The grid's hour labels ("08:00") with their start rows, and its total rows.
    hours: Vec<(String, usize)>,
    rows: usize,
    /// Programs on the week, with their colour: the legend.
    legend: Vec<(String, usize)>,
}

const ALL_PAGES: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};

fn parse_show(show: &str) -> Option<CalendarFilter> {
    if show == "all" {
        return Some(CalendarFilter::All);
    }
    let (kind, id) = show.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "program" => Some(CalendarFilter::Program(ProgramId(id))),
        "clinician" => Some(CalendarFilter::Clinician(ClinicianId(id))),
        "room" => Some(CalendarFilter::Room(RoomId(id))),
        _ => None,
    }
}

fn status_of(s: SessionStatus) -> (&'static str, &'static str) {
    match s {
        SessionStatus::Scheduled => ("Scheduled", "muted"),
        SessionStatus::Held => ("Held", "ok"),
        SessionStatus::Cancelled => ("Cancelled", "danger"),
    }
}

async fn week(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<CalendarQuery>,
) -> Result<Response, PageError> {
    render_week(&app, &signed, q, None).await
}

/// The feed target a calendar view names (a clinician's or a room's week).
fn feed_target(filter: CalendarFilter) -> Option<FeedTarget> {
    match filter {
        CalendarFilter::Clinician(c) => Some(FeedTarget::Clinician(c)),
        CalendarFilter::Room(r) => Some(FeedTarget::Room(r)),
        CalendarFilter::All | CalendarFilter::Program(_) => None,
    }
}

async fn render_week(
    app: &App,
    signed: &Signed,
    q: CalendarQuery,
    feed_url: Option<String>,
) -> Result<Response, PageError> {
    let actor = &signed.actor;
    if !actor.may::<purpose::Schedules>() {
        return Err(PageError::Forbidden);
    }
    // A clinician's week starts on their own sessions.
    let mine = if actor.reaches_whole_clinic() || actor.directed_programs().is_some() {
        None
    } else {
        actor.clinician_id()
    };
    let default_show = mine.map_or_else(|| "all".to_owned(), |c| format!("clinician:{}", c.0));
    let typed = q
        .show
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(&default_show)
        .to_owned();
    let today = app.today();
    let mut week_error = None;
    let day = match q.week.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => today,
        Some(w) => w.parse::<Date>().unwrap_or_else(|_| {
            week_error = Some("Week holding: write a date, such as 2026-05-04.".to_owned());
            today
        }),
    };

    let programs = app.list_programs(actor, ALL_PAGES).await?.items;
    let clinicians = app.list_clinicians(actor, ALL_PAGES).await?.items;
    let rooms = app.list_rooms(actor, ALL_PAGES).await?.items;
    let program_names: HashMap<i64, String> = programs
        .iter()
        .map(|p| (p.id.0, p.name.to_string()))
        .collect();
    let choice = |value: String, label: String, kind: &'static str| Choice { value, label, kind };
    let mut choices = match mine {
        None => vec![choice("all".to_owned(), "Every session".to_owned(), "All")],
        Some(c) => vec![choice(
            format!("clinician:{}", c.0),
            "My sessions".to_owned(),
            "Mine",
        )],
    };
    choices.extend(
        programs
            .iter()
            .map(|p| choice(format!("program:{}", p.id.0), p.name.to_string(), "Program")),
    );
    choices.extend(clinicians.iter().filter(|c| Some(c.id) != mine).map(|c| {
        choice(
            format!("clinician:{}", c.id.0),
            format!("{} {}", c.given_name, c.family_name),
            "Clinician",
        )
    }));
    choices.extend(rooms.iter().map(|r| {
        choice(
            format!("room:{}", r.id.0),
            format!("{} ({})", r.name, r.site),
            "Room",
        )
    }));
    let refs: Vec<&Choice> = choices.iter().collect();
    let chosen = resolve_show(&typed, &refs)
        .and_then(|c| parse_show(&c.value).map(|f| (f, c.value.clone(), c.label.clone())));
    let (filter, show, showing, show_error) = match chosen {
        Some((f, value, label)) => (f, value, label.clone(), None),
        None => (
            CalendarFilter::All,
            String::new(),
            String::new(),
            Some(SHOW_UNKNOWN.to_owned()),
        ),
    };
    // The field shows the chosen view's words, or what was typed, to be corrected.
    let show_text = if show_error.is_some() {
        typed.clone()
    } else {
        showing.clone()
    };
    let invalid = show_error.is_some() || week_error.is_some();

    let status = if !invalid {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut days = vec![];
    let mut count = 0;
    let feed = match feed_target(filter) {
        Some(target) if !invalid && app.may_manage_staff_feed(actor, target) => {
            let created = app.staff_feed_created(actor, target).await?;
            Some(FeedView {
                target: target.object(),
                created: created.map(|t| {
                    t.to_zoned(app.clinic_time_zone().clone())
                        .strftime("%-d %B %Y")
                        .to_string()
                }),
                url: feed_url,
            })
        }
        _ => None,
    };
    let week = if !invalid {
        Some(app.calendar_week(actor, day, filter).await?)
    } else {
        None
    };
    let monday = week
        .as_ref()
        .map_or(circle_domain::compliance::week_start(day), |w| w.monday);
    let tz = app.clinic_time_zone().clone();
    let hhmm = |t: jiff::Timestamp| t.to_zoned(tz.clone()).strftime("%H:%M").to_string();
    // Minutes after local midnight (a session past midnight ends at the day's end).
    let minute_of_day = |t: jiff::Timestamp, date: Date| {
        let z = t.to_zoned(tz.clone());
        if z.date() > date {
            24 * 60
        } else {
            usize::from(z.hour().unsigned_abs()) * 60 + usize::from(z.minute().unsigned_abs())
        }
    };
    // The grid spans the week's sessions, at least 08:00–18:00, in whole hours.
    let (mut first, mut last) = (8usize, 18usize);
    for (date, items) in week.iter().flat_map(|w| w.days.iter()) {
        for i in items {
            first = first.min(minute_of_day(i.session.starts_at, *date) / 60);
            last = last.max(minute_of_day(i.session.ends_at, *date).div_ceil(60));
        }
    }
    let last = last.clamp(first + 1, 24);
    let rows = (last - first) * ROWS_PER_HOUR;
    let colour_of: HashMap<i64, usize> = programs
        .iter()
        .enumerate()
        .map(|(n, p)| (p.id.0, n % COLOURS))
        .collect();
    let mut on_week: Vec<i64> = vec![];
    for (date, items) in week.iter().flat_map(|w| w.days.iter()) {
        let mut items: Vec<&CalendarItem> = items.iter().collect();
        items.sort_by_key(|i| i.session.starts_at);
        let spans: Vec<(usize, usize)> = items
            .iter()
            .map(|i| {
                let start = minute_of_day(i.session.starts_at, *date).saturating_sub(first * 60);
                let end = minute_of_day(i.session.ends_at, *date).saturating_sub(first * 60);
                (start, end.max(start + 15))
            })
            .collect();
        let (lanes_of, lanes) = assign_lanes(&spans);
        let sessions: Vec<SessionCard> = items
            .iter()
            .zip(spans.iter().zip(lanes_of))
            .map(|(i, (&(start, end), lane))| {
                let (status, status_class) = status_of(i.session.status);
                if !on_week.contains(&i.program_id.0) {
                    on_week.push(i.program_id.0);
                }
                let row = (start / 15 + 1).min(rows);
                let span = (end.div_ceil(15) + 1)
                    .saturating_sub(row)
                    .clamp(1, rows + 1 - row);
                SessionCard {
                    id: i.session.id.0,
                    time: format!("{}–{}", hhmm(i.session.starts_at), hhmm(i.session.ends_at)),
                    group: i.group_name.clone(),
                    program: program_names
                        .get(&i.program_id.0)
                        .cloned()
                        .unwrap_or_default(),
                    place: i
                        .room_name
                        .clone()
                        .unwrap_or_else(|| "Telehealth".to_owned()),
                    status,
                    status_class,
                    row,
                    span,
                    lane: lane + 1,
                    colour: colour_of.get(&i.program_id.0).copied().unwrap_or(0),
                }
            })
            .collect();
        count += sessions.len();
        days.push(Day {
            id: date.to_string(),
            heading: date.strftime("%a %-d %b").to_string(),
            today: *date == today,
            sessions,
            lanes,
        });
    }
    let hours = (first..last)
        .map(|h| (format!("{h:02}:00"), (h - first) * ROWS_PER_HOUR + 1))
        .collect();
    let legend = programs
        .iter()
        .filter(|p| on_week.contains(&p.id.0))
        .map(|p| {
            (
                p.name.to_string(),
                colour_of.get(&p.id.0).copied().unwrap_or(0),
            )
        })
        .collect();
    let shift = |d: i64| {
        monday
            .checked_add(jiff::Span::new().days(d))
            .unwrap_or(monday)
            .to_string()
    };
    Ok(html(
        status,
        WeekPage {
            nav: Some(signed.nav()),
            show,
            showing,
            week: day.to_string(),
            heading: heading(monday, show_error.is_some(), week_error.is_some()),
            previous: shift(-7),
            next: shift(7),
            show_text,
            show_error,
            week_error,
            choices,
            invalid,
            days,
            count,
            can_open: actor.may::<purpose::SessionRun>(),
            csrf: signed.csrf(),
            feed,
            hours,
            rows,
            legend,
        },
    ))
}

/// The page's heading: the week shown, or, when a field is refused and no week is shown,
/// what the person is asked to choose (never a week the page does not show).
fn heading(monday: Date, show_refused: bool, week_refused: bool) -> String {
    match (show_refused, week_refused) {
        (false, false) => format!("Calendar: week of {}", monday.strftime("%-d %B %Y")),
        (true, false) => "Calendar: choose what to show".to_owned(),
        (false, true) => "Calendar: choose a week".to_owned(),
        (true, true) => "Calendar: choose what to show and a week".to_owned(),
    }
}

/// A feed form: the target it names (`clinician:ID` or `room:ID`).
#[derive(Deserialize)]
pub struct FeedForm {
    target: String,
}

/// The target a feed form names.
fn form_target(form: &PageForm<FeedForm>) -> Result<FeedTarget, PageError> {
    form.parsed()
        .ok()
        .and_then(|f| parse_show(&f.target))
        .and_then(feed_target)
        .ok_or(PageError::NotFound)
}

/// Makes or replaces a staff feed and shows its address once, in the answer to the POST
/// (only a digest is kept; the secret never sits in a URL of the browser's history).
async fn create_feed(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    headers: HeaderMap,
    signed: Signed,
    form: PageForm<FeedForm>,
) -> Result<Response, PageError> {
    if !signed.actor.may::<purpose::StaffFeedWrite>() {
        return Err(PageError::Forbidden);
    }
    let target = form_target(&form)?;
    let secret = app.create_staff_feed(&signed.actor, target).await?;
    let url = super::portal::feed_url(&headers, policy, "staff-feed", &secret);
    let q = CalendarQuery {
        show: Some(target.object()),
        week: None,
    };
    render_week(&app, &signed, q, Some(url)).await
}

async fn revoke_feed(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<FeedForm>,
) -> Result<Response, PageError> {
    if !signed.actor.may::<purpose::StaffFeedWrite>() {
        return Err(PageError::Forbidden);
    }
    let target = form_target(&form)?;
    app.revoke_staff_feed(&signed.actor, target).await?;
    Ok(Redirect::to(&format!("/calendar?show={}", target.object())).into_response())
}

/// `GET /staff-feed/{secret}.ics`: no session (calendar apps cannot sign in); the secret
/// is the key. Unknown or revoked → 404.
async fn staff_feed(
    State(app): State<App>,
    Path(file): Path<String>,
    parts: axum::http::request::Parts,
) -> Response {
    let Some(secret) = file.strip_suffix(".ics") else {
        return PageError::NotFound.into_response();
    };
    let meta = crate::extract::request_meta(&parts);
    match app.staff_feed(secret, &meta).await {
        Ok(Some(feed)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            crate::ics::calendar(feed_name(&feed), &staff_events(&feed), app.now()),
        )
            .into_response(),
        Ok(None) => PageError::NotFound.into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

fn feed_name(feed: &StaffFeed) -> &'static str {
    match feed.target {
        FeedTarget::Clinician(_) => "My group sessions",
        FeedTarget::Room(_) => "Room schedule",
    }
}

/// A staff feed's events: titled discreetly ("Group session — Room 2") unless the clinic
/// shows group names to staff; join URLs only in a clinician's own feed.
fn staff_events(feed: &StaffFeed) -> Vec<crate::ics::FeedEvent> {
    feed.sessions
        .iter()
        .map(|s| {
            let location = s
                .room_name
                .clone()
                .unwrap_or_else(|| "Telehealth".to_owned());
            let title = if feed.settings.staff_feed_group_names {
                s.group_name.clone()
            } else {
                format!("Group session — {location}")
            };
            crate::ics::FeedEvent {
                session_id: s.session_id,
                title,
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                time_zone: s.time_zone.clone(),
                location,
                cancelled: s.cancelled,
                join_url: s.join_url.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_selector_reads_a_kind_and_an_id() {
        assert_eq!(parse_show("all"), Some(CalendarFilter::All));
        assert_eq!(parse_show("room:3"), Some(CalendarFilter::Room(RoomId(3))));
        assert_eq!(
            parse_show("clinician:12"),
            Some(CalendarFilter::Clinician(ClinicianId(12)))
        );
        assert_eq!(parse_show("group:1"), None);
        assert_eq!(parse_show("program:x"), None);
    }

    #[test]
    fn the_show_picker_takes_a_choice_s_words_in_any_case_or_its_code() {
        let c = |value: &str, label: &str, kind| Choice {
            value: value.to_owned(),
            label: label.to_owned(),
            kind,
        };
        let choices = [
            c("all", "Every session", "All"),
            c("program:1", "Adult IOP", "Program"),
            c("clinician:4", "Ana Lead", "Clinician"),
            c("room:2", "Quiet", "Room"),
            c("program:3", "Quiet", "Program"),
        ];
        let refs: Vec<&Choice> = choices.iter().collect();
        let pick = |typed: &str| resolve_show(typed, &refs).map(|c| c.value.as_str());
        assert_eq!(pick("Adult IOP"), Some("program:1"));
        assert_eq!(pick("  ana lead "), Some("clinician:4"));
        assert_eq!(pick("room:2"), Some("room:2"));
        // Words naming two choices, or nothing, or a code not on the list name nothing.
        assert_eq!(pick("Quiet"), None);
        assert_eq!(pick("Adult"), None);
        assert_eq!(pick("room:9"), None);
    }

    #[test]
    fn overlapping_sessions_sit_side_by_side_and_later_ones_reuse_a_free_lane() {
        // 10:00–11:30 and 10:30–12:00 overlap; 12:00–13:00 fits the first lane again.
        let (lanes, n) = assign_lanes(&[(120, 210), (150, 240), (240, 300)]);
        assert_eq!((lanes, n), (vec![0, 1, 0], 2));
        let (lanes, n) = assign_lanes(&[]);
        assert_eq!((lanes, n), (vec![], 1));
    }
}
