//! The timetable (directors, issue 17): build a proposal of the week for a program or the
//! whole clinic, review it on a week grid (the calendar's time grid) with the hours each
//! track reaches and the reasons for each group's place, pin a group where it is or move
//! it and re-solve, and approve it — one transaction that moves the groups and re-makes
//! their future sessions. Every form posts and redirects; no script.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::timetabling::DEFAULT_TIMETABLE_LIMIT_MS;
use circle_app::{App, PageRequest};
use circle_domain::ids::{ClinicianId, GroupId, ProgramId, RoomId};
use circle_domain::schedule::Weekday;
use circle_domain::timetabling::{
    EntryReason, Pattern, PinnedSlot, TimetablePin, TimetableRun, TimetableState,
    UnscheduledReason, Venue,
};

use super::calendar::assign_lanes;
use super::form::{PageForm, optional_choice};
use super::vocab::{self, Label};
use super::{Nav, PageError, Signed, explain, html, refusal};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/timetable", get(index).post(build))
        .route("/timetable/{id}", get(run_page))
        .route("/timetable/{id}/pin", post(pin))
        .route("/timetable/{id}/unpin", post(unpin))
        .route("/timetable/{id}/solve", post(solve))
        .route("/timetable/{id}/approve", post(approve))
}

/// The time limits offered, in seconds (the page waits for the solve).
const LIMITS: [u32; 3] = [1, 2, 5];
const ALL: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};
/// The grid: 07:00 to 21:30 in quarter-hour rows (the solver's grid).
const FIRST_HOUR: i64 = 7;
const LAST_HOUR: i64 = 22;
const COLOURS: usize = 8;

struct RunRow {
    id: i64,
    scope: String,
    created: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "timetable_index.html")]
struct IndexPage {
    nav: Option<Nav>,
    csrf: String,
    messages: Vec<String>,
    programs: Vec<(i64, String)>,
    whole_clinic: bool,
    limits: Vec<u32>,
    default_limit: u32,
    runs: Vec<RunRow>,
}

struct Card {
    group: String,
    time: String,
    place: String,
    lead: String,
    note: &'static str,
    row: usize,
    span: usize,
    lane: usize,
    colour: usize,
}

struct Day {
    id: &'static str,
    heading: &'static str,
    cards: Vec<Card>,
    lanes: usize,
}

struct TrackRow {
    program: String,
    level: &'static str,
    required: String,
    scheduled: String,
    status: String,
    met: bool,
    days: String,
    groups: String,
}

struct EntryRow {
    group_id: i64,
    group: String,
    program: String,
    when: String,
    place: String,
    lead: String,
    co: String,
    was: Option<String>,
    reasons: Vec<String>,
    pinned: bool,
    /// Whether that change has been applied already (a part approval).
    applied: bool,
    /// For the move form: the days it meets, its start (`HH:MM`).
    days: Vec<&'static str>,
    start: String,
    venue: String,
}

struct UnscheduledRow {
    group: String,
    program: String,
    why: String,
}

#[derive(Template)]
#[template(path = "timetable_run.html")]
struct RunPage {
    nav: Option<Nav>,
    csrf: String,
    messages: Vec<String>,
    id: i64,
    version: i64,
    scope: String,
    created: String,
    state: &'static str,
    approved: Option<String>,
    /// Changes applied by part approvals so far.
    applied: usize,
    open: bool,
    summary: String,
    tracks: Vec<TrackRow>,
    days: Vec<Day>,
    hours: Vec<(String, usize)>,
    rows: usize,
    legend: Vec<(String, usize)>,
    entries: Vec<EntryRow>,
    unscheduled: Vec<UnscheduledRow>,
    changes: usize,
    weekdays: Vec<(&'static str, &'static str)>,
    rooms: Vec<(String, String)>,
    /// Every clinician's name: the move forms' lead picker.
    leads: Vec<String>,
}

/// The names a run's page shows.
struct Names {
    programs: BTreeMap<ProgramId, String>,
    levels: HashMap<ProgramId, &'static str>,
    groups: HashMap<GroupId, String>,
    rooms: HashMap<RoomId, String>,
    clinicians: HashMap<ClinicianId, String>,
}

impl Names {
    async fn load(app: &App, signed: &Signed) -> Result<Names, PageError> {
        let actor = &signed.actor;
        let listed = app.list_programs(actor, ALL).await?.items;
        let programs = listed.iter().map(|p| (p.id, p.name.to_string())).collect();
        let levels = listed
            .iter()
            .map(|p| (p.id, p.level_of_care.label()))
            .collect();
        let mut groups = HashMap::new();
        let mut page = ALL;
        loop {
            let got = app.list_groups(actor, None, page).await?;
            for g in &got.items {
                groups.insert(g.id, g.name.to_string());
            }
            match got.next_after {
                Some(after) => page.after = after,
                None => break,
            }
        }
        let rooms = app
            .list_rooms(actor, ALL)
            .await?
            .items
            .into_iter()
            .map(|r| (r.id, format!("{} ({})", r.name, r.site)))
            .collect();
        let clinicians = app
            .list_clinicians(actor, ALL)
            .await?
            .items
            .into_iter()
            .map(|c| (c.id, format!("{} {}", c.given_name, c.family_name)))
            .collect();
        Ok(Names {
            programs,
            levels,
            groups,
            rooms,
            clinicians,
        })
    }
    fn program(&self, id: ProgramId) -> String {
        self.programs
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Program {id}"))
    }
    fn group(&self, id: GroupId) -> String {
        self.groups
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Group {id}"))
    }
    fn venue(&self, v: Venue) -> String {
        match v {
            Venue::Room { room_id } => self
                .rooms
                .get(&room_id)
                .cloned()
                .unwrap_or_else(|| format!("Room {room_id}")),
            Venue::Telehealth => "Telehealth".to_owned(),
        }
    }
    fn clinician(&self, id: ClinicianId) -> String {
        self.clinicians
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("Clinician {id}"))
    }
}

fn scope_name(names: &Names, p: Option<ProgramId>) -> String {
    p.map_or_else(|| "Whole clinic".to_owned(), |p| names.program(p))
}

fn state_label(s: TimetableState) -> &'static str {
    s.label()
}

fn local(app: &App, t: jiff::Timestamp) -> String {
    vocab::when(app.clinic_time_zone(), t)
}

/// "Monday, Wednesday, Friday 09:00–12:00".
fn when(p: &Pattern) -> String {
    let Some(first) = p.meetings.first() else {
        return "No weekly meetings".to_owned();
    };
    let days: Vec<&str> = p.meetings.iter().map(|m| m.weekday.label()).collect();
    let end = first
        .start
        .checked_add(jiff::SignedDuration::from_mins(i64::from(first.minutes)))
        .unwrap_or(first.start);
    format!(
        "{} {}–{}",
        days.join(", "),
        first.start.strftime("%H:%M"),
        end.strftime("%H:%M")
    )
}

fn reason(r: &EntryReason) -> String {
    match r {
        EntryReason::PinnedSlot => "You pinned its days and time".to_owned(),
        EntryReason::PinnedVenue => "You pinned where it meets".to_owned(),
        EntryReason::PinnedLead => "You pinned its lead".to_owned(),
        EntryReason::KeptTime => "It keeps its current days and time".to_owned(),
        EntryReason::MovedOutOfWindow => {
            "Moved: its current time lies outside its program's window".to_owned()
        }
        EntryReason::MovedForTheWeek => {
            "Moved: its current time clashes with what the week needs (a track mate, its lead's or room's other groups, the track's hours)".to_owned()
        }
        EntryReason::NewlyScheduled => "It had no weekly meetings yet".to_owned(),
        EntryReason::KeptLead => "It keeps its current lead".to_owned(),
        EntryReason::NewLead => {
            "A new lead: the current one is not free, licensed or within their hours then"
                .to_owned()
        }
        EntryReason::LeadModality { modality } => {
            format!("The lead is trained in {}", modality.label())
        }
        EntryReason::RoomSeats {
            capacity,
            max_size,
        } => format!(
            "The room seats {capacity} for a group of up to {max_size}, the closest fit free then"
        ),
        EntryReason::Telehealth => "It meets by video, as it does now".to_owned(),
        EntryReason::CoFacilitator => "A co-facilitator joins the lead, as now".to_owned(),
    }
}

fn unscheduled_reason(r: &UnscheduledReason) -> String {
    match r {
        UnscheduledReason::NoMeetings => "It has no weekly meetings to place".to_owned(),
        UnscheduledReason::Irregular => {
            "It meets twice on a day or at different times on different days, so it keeps its week as it is".to_owned()
        }
        UnscheduledReason::NoLead => {
            "No clinician holds an active licence, its modality and enough weekly hours".to_owned()
        }
        UnscheduledReason::NoRoom => "No room seats its maximum size".to_owned(),
        UnscheduledReason::NoCoFacilitator => "No co-facilitator is free for it".to_owned(),
        UnscheduledReason::NoCommonTime => {
            "A room, a lead and its program's window never meet at one time".to_owned()
        }
        UnscheduledReason::Pin { rule, .. } => format!("Its pin {rule}"),
        UnscheduledReason::TradeOff => {
            "Placing it would cost the week more elsewhere (another group's hours or a clash)"
                .to_owned()
        }
    }
}

fn day_id(d: Weekday) -> &'static str {
    d.as_str()
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
    let runs = app.timetables(&signed.actor).await?;
    let names = Names::load(app, signed).await?;
    let rows = runs
        .iter()
        .map(|r| RunRow {
            id: r.id,
            scope: scope_name(&names, r.program_id),
            created: local(app, r.created_at),
            state: state_label(r.state),
        })
        .collect();
    Ok(html(
        status,
        IndexPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            messages,
            programs: names
                .programs
                .iter()
                .map(|(id, n)| (id.0, n.clone()))
                .collect(),
            whole_clinic: signed.actor.directed_programs().is_none(),
            limits: LIMITS.to_vec(),
            default_limit: DEFAULT_TIMETABLE_LIMIT_MS / 1000,
            runs: rows,
        },
    ))
}

pub async fn build(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<super::planner::StartForm>,
) -> Result<Response, PageError> {
    let outcome = match form.into_parsed() {
        Ok(f) => {
            app.build_timetable(&signed.actor, f.program, f.time_limit.saturating_mul(1000))
                .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(run) => Ok(Redirect::to(&format!("/timetable/{}", run.id)).into_response()),
        Err(e) => {
            let msg = refusal(e)?;
            index_page(&app, &signed, vec![msg], StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub async fn run_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    render_run(&app, &signed, id, vec![], StatusCode::OK).await
}

async fn render_run(
    app: &App,
    signed: &Signed,
    id: i64,
    messages: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let run = app.timetable(&signed.actor, id).await?;
    let names = Names::load(app, signed).await?;
    Ok(html(status, run_view(app, signed, &run, &names, messages)))
}

fn run_view(
    app: &App,
    signed: &Signed,
    run: &TimetableRun,
    names: &Names,
    messages: Vec<String>,
) -> RunPage {
    let p = &run.proposal;
    let colour_of: HashMap<ProgramId, usize> = names
        .programs
        .keys()
        .enumerate()
        .map(|(n, id)| (*id, n % COLOURS))
        .collect();
    let rows = usize::try_from((LAST_HOUR - FIRST_HOUR) * 4).unwrap_or(60);
    let pinned = |g: GroupId| run.pins.iter().any(|x| x.group_id == g);
    let days: Vec<Day> = Weekday::ALL
        .iter()
        .map(|&d| {
            let mut items: Vec<(usize, usize, Card)> = p
                .entries
                .iter()
                .flat_map(|e| {
                    e.pattern
                        .meetings
                        .iter()
                        .filter(move |m| m.weekday == d)
                        .map(move |m| (e, m))
                })
                .map(|(e, m)| {
                    let start = i64::from(m.start.hour()) * 60 + i64::from(m.start.minute());
                    let from = usize::try_from(start - FIRST_HOUR * 60).unwrap_or(0);
                    let to = from + usize::try_from(m.minutes).unwrap_or(15);
                    let row = (from / 15 + 1).min(rows);
                    let span = to
                        .div_ceil(15)
                        .saturating_sub(from / 15)
                        .clamp(1, rows + 1 - row);
                    let end = m
                        .start
                        .checked_add(jiff::SignedDuration::from_mins(i64::from(m.minutes)))
                        .unwrap_or(m.start);
                    let note = if pinned(e.group_id) {
                        "Pinned"
                    } else if e.moves() {
                        "Moves"
                    } else {
                        ""
                    };
                    (
                        from,
                        to,
                        Card {
                            group: names.group(e.group_id),
                            time: format!(
                                "{}–{}",
                                m.start.strftime("%H:%M"),
                                end.strftime("%H:%M")
                            ),
                            place: names.venue(e.pattern.venue),
                            lead: names.clinician(e.pattern.lead),
                            note,
                            row,
                            span,
                            lane: 0,
                            colour: colour_of.get(&e.program_id).copied().unwrap_or(0),
                        },
                    )
                })
                .collect();
            items.sort_by_key(|(from, to, _)| (*from, *to));
            let spans: Vec<(usize, usize)> = items.iter().map(|(f, t, _)| (*f, *t)).collect();
            let (lanes_of, lanes) = assign_lanes(&spans);
            let cards = items
                .into_iter()
                .zip(lanes_of)
                .map(|((_, _, mut c), lane)| {
                    c.lane = lane + 1;
                    c
                })
                .collect();
            Day {
                id: day_id(d),
                heading: d.label(),
                cards,
                lanes,
            }
        })
        .collect();
    let hours = (FIRST_HOUR..LAST_HOUR)
        .map(|h| {
            (
                format!("{h:02}:00"),
                usize::try_from((h - FIRST_HOUR) * 4 + 1).unwrap_or(1),
            )
        })
        .collect();
    let mut legend_ids: Vec<ProgramId> = p.entries.iter().map(|e| e.program_id).collect();
    legend_ids.sort();
    legend_ids.dedup();
    let legend = legend_ids
        .iter()
        .map(|id| (names.program(*id), colour_of.get(id).copied().unwrap_or(0)))
        .collect();
    let tracks = p
        .tracks
        .iter()
        .map(|t| {
            let short = t.required_minutes - t.scheduled_minutes;
            let (status, met) = if !t.cohort {
                (
                    "No weekly requirement (stand-alone groups)".to_owned(),
                    true,
                )
            } else if short > 0 {
                (format!("Short by {}", vocab::hours(short)), false)
            } else {
                ("Met".to_owned(), true)
            };
            TrackRow {
                program: names.program(t.program_id),
                level: names.levels.get(&t.program_id).copied().unwrap_or(""),
                required: vocab::hours(t.required_minutes),
                scheduled: vocab::hours(t.scheduled_minutes),
                status,
                met,
                days: match t.days_target {
                    Some(target) => format!("{} of {target}", t.days_used),
                    None => t.days_used.to_string(),
                },
                groups: format!("{} of {}", t.groups_scheduled, t.groups),
            }
        })
        .collect();
    let entries: Vec<EntryRow> = p
        .entries
        .iter()
        .map(|e| EntryRow {
            group_id: e.group_id.0,
            group: names.group(e.group_id),
            program: names.program(e.program_id),
            when: when(&e.pattern),
            place: names.venue(e.pattern.venue),
            lead: names.clinician(e.pattern.lead),
            co: e.pattern.co.map(|c| names.clinician(c)).unwrap_or_default(),
            was: e.changes().then(|| {
                format!(
                    "{}; {}; {}",
                    when(&e.was),
                    names.venue(e.was.venue),
                    names.clinician(e.was.lead)
                )
            }),
            reasons: e.reasons.iter().map(reason).collect(),
            pinned: pinned(e.group_id),
            applied: run.applied.contains(&e.group_id),
            days: e
                .pattern
                .meetings
                .iter()
                .map(|m| m.weekday.as_str())
                .collect(),
            start: e
                .pattern
                .meetings
                .first()
                .map(|m| m.start.strftime("%H:%M").to_string())
                .unwrap_or_default(),
            venue: match e.pattern.venue {
                Venue::Room { room_id } => room_id.0.to_string(),
                Venue::Telehealth => "tele".to_owned(),
            },
        })
        .collect();
    let unscheduled = p
        .unscheduled
        .iter()
        .map(|u| UnscheduledRow {
            group: names.group(u.group_id),
            program: names.program(u.program_id),
            why: unscheduled_reason(&u.reason),
        })
        .collect();
    let scheduled = p.entries.len();
    let total = scheduled + p.unscheduled.len();
    let mut summary = format!(
        "{} of {} scheduled; {} change.",
        scheduled,
        vocab::count(total, "group", "groups"),
        vocab::count(
            p.entries.iter().filter(|e| e.changes()).count(),
            "group",
            "groups"
        ),
    );
    if p.score >= p.bound {
        summary.push_str(" Proven the best week these facts allow.");
    } else {
        summary.push_str(&format!(
            " At most {} points below the best week these facts allow.",
            p.bound - p.score
        ));
    }
    // Once proven, nothing better exists: that the clock also ran out says nothing then.
    if p.timed_out && p.score < p.bound {
        summary.push_str(" The time limit cut the search short.");
    }
    let mut rooms: Vec<(String, String)> = names
        .rooms
        .iter()
        .map(|(id, n)| (id.0.to_string(), n.clone()))
        .collect();
    rooms.sort_by(|a, b| a.1.cmp(&b.1));
    rooms.push(("tele".to_owned(), "Telehealth".to_owned()));
    let mut leads: Vec<String> = names.clinicians.values().cloned().collect();
    leads.sort();
    RunPage {
        nav: Some(signed.nav()),
        csrf: signed.csrf(),
        messages,
        id: run.id,
        version: run.version,
        scope: scope_name(names, run.program_id),
        created: local(app, run.created_at),
        state: state_label(run.state),
        approved: run.approved_at.map(|t| local(app, t)),
        applied: run.applied.len(),
        open: run.state == TimetableState::Proposed,
        summary,
        tracks,
        days,
        hours,
        rows,
        legend,
        changes: p
            .entries
            .iter()
            .filter(|e| e.changes() && !run.applied.contains(&e.group_id))
            .count(),
        entries,
        unscheduled,
        weekdays: Weekday::ALL
            .iter()
            .map(|d| (d.as_str(), d.label()))
            .collect(),
        rooms,
        leads,
    }
}

/// The version of the run a form was drawn from: every form of the run page posts it, so
/// a change to a proposal that moved on since is refused (the service compares it).
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Version(i64);

/// A version missing or garbled: the form is not one this page drew.
const STALE: &str = "reload the proposal and try again";

impl TryFrom<String> for Version {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        v.trim().parse().map(Version).map_err(|_| STALE)
    }
}

/// A form of the run page: it carries the version it was drawn at (`None` when missing).
trait RunForm {
    fn version(&self) -> Option<Version>;
}

/// A group of the timetable, as a row's form or checkbox names it.
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct RowGroup(GroupId);

impl TryFrom<String> for RowGroup {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        v.trim()
            .parse()
            .map(|g| RowGroup(GroupId(g)))
            .map_err(|_| "choose a group of this timetable")
    }
}

/// A group's row form: pin it where the proposal has it (`mode=as_proposed`), or where
/// the move form says (an empty part is left to the solver), or unpin it.
#[derive(serde::Deserialize)]
pub struct RowForm {
    version: Option<Version>,
    group: RowGroup,
    mode: String,
    day: Vec<Weekday>,
    start: Option<TimeOfDay>,
    venue: VenueChoice,
    #[serde(default, deserialize_with = "optional_choice")]
    lead: Option<ClinicianId>,
}

/// A time of day typed as `HH:MM` (a time input's value).
#[derive(Clone, Copy, serde::Deserialize)]
#[serde(try_from = "String")]
struct TimeOfDay(jiff::civil::Time);

impl TryFrom<String> for TimeOfDay {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        v.trim()
            .parse::<jiff::civil::Time>()
            .map(TimeOfDay)
            .map_err(|_| "must be a time such as 18:00")
    }
}

/// A room by id, `tele` for telehealth, or blank to leave the venue to the solver.
#[derive(serde::Deserialize)]
#[serde(try_from = "String")]
struct VenueChoice(Option<Venue>);

impl TryFrom<String> for VenueChoice {
    type Error = &'static str;

    fn try_from(v: String) -> Result<Self, Self::Error> {
        match v.trim() {
            "" => Ok(VenueChoice(None)),
            "tele" => Ok(VenueChoice(Some(Venue::Telehealth))),
            r => r
                .parse()
                .map(|r| VenueChoice(Some(Venue::Room { room_id: RoomId(r) })))
                .map_err(|_| "must be one of the listed choices"),
        }
    }
}

/// The run's version only (re-solve).
#[derive(serde::Deserialize)]
pub struct SolveForm {
    version: Option<Version>,
}

/// An approval: every change (`approve=all`) or the ticked groups' (`approve=selected`).
#[derive(serde::Deserialize)]
pub struct ApproveForm {
    version: Option<Version>,
    approve: String,
    group: Vec<RowGroup>,
}

impl RunForm for RowForm {
    fn version(&self) -> Option<Version> {
        self.version
    }
}

impl RunForm for SolveForm {
    fn version(&self) -> Option<Version> {
        self.version
    }
}

impl RunForm for ApproveForm {
    fn version(&self) -> Option<Version> {
        self.version
    }
}

/// The version and typed form of the run page's forms (pin, unpin, solve, approve), or
/// the run drawn again (422) with each field's rule.
async fn run_form<T: RunForm>(
    app: &App,
    signed: &Signed,
    id: i64,
    form: PageForm<T>,
) -> Result<Result<(i64, T), Response>, PageError> {
    let parsed = form.into_parsed().and_then(|f| match f.version() {
        Some(Version(v)) => Ok((v, f)),
        None => Err(circle_domain::DomainError::invalid("version", STALE).into()),
    });
    match parsed {
        Ok(f) => Ok(Ok(f)),
        Err(e) => {
            let page = render_run(
                app,
                signed,
                id,
                vec![explain(&e)],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await?;
            Ok(Err(page))
        }
    }
}

/// Renders the run with a refusal's explanation (422), or the failure page.
async fn refused(
    app: &App,
    signed: &Signed,
    id: i64,
    e: circle_app::AppError,
) -> Result<Response, PageError> {
    if matches!(
        e,
        circle_app::AppError::Domain(circle_domain::DomainError::NotFound { .. })
    ) {
        return Err(e.into());
    }
    let msg = refusal(e)?;
    render_run(app, signed, id, vec![msg], StatusCode::UNPROCESSABLE_ENTITY).await
}

fn back(id: i64, anchor: &str) -> Response {
    Redirect::to(&format!("/timetable/{id}{anchor}")).into_response()
}

/// Pins a group: where the proposal has it (`mode=as_proposed`), or where the form says
/// (days, start, room, lead; an empty field leaves that part to the solver).
pub async fn pin(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<RowForm>,
) -> Result<Response, PageError> {
    // The lead picker posts a clinician's name (a bare id still works).
    let mut resolved = form.fields().to_vec();
    super::picker::resolve_clinicians(&app, &signed.actor, &mut resolved, &["lead"]).await;
    let form = form.reparse(resolved);
    let (version, f) = match run_form(&app, &signed, id, form).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let RowGroup(group) = f.group;
    let outcome = if f.mode == "as_proposed" {
        app.pin_timetable_as_proposed(&signed.actor, id, version, group)
            .await
    } else {
        let slot = match (f.day.is_empty(), f.start) {
            (true, None) => None,
            (false, Some(start)) => Some(PinnedSlot {
                days: f.day,
                start: start.0,
            }),
            _ => {
                let msg = "Days and start: give both, or neither to leave the time to the solver."
                    .to_owned();
                return render_run(
                    &app,
                    &signed,
                    id,
                    vec![msg],
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
        app.pin_timetable_group(
            &signed.actor,
            id,
            version,
            TimetablePin {
                group_id: group,
                slot,
                venue: f.venue.0,
                lead: f.lead,
            },
        )
        .await
    };
    match outcome {
        Ok(_) => Ok(back(id, &format!("#group-{}", group.0))),
        Err(e) => refused(&app, &signed, id, e).await,
    }
}

pub async fn unpin(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<RowForm>,
) -> Result<Response, PageError> {
    let (version, f) = match run_form(&app, &signed, id, form).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let RowGroup(group) = f.group;
    match app
        .unpin_timetable_group(&signed.actor, id, version, group)
        .await
    {
        Ok(_) => Ok(back(id, &format!("#group-{}", group.0))),
        Err(e) => refused(&app, &signed, id, e).await,
    }
}

pub async fn solve(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<SolveForm>,
) -> Result<Response, PageError> {
    let (version, _) = match run_form(&app, &signed, id, form).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    match app.resolve_timetable(&signed.actor, id, version).await {
        Ok(_) => Ok(back(id, "")),
        Err(e) => refused(&app, &signed, id, e).await,
    }
}

pub async fn approve(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<ApproveForm>,
) -> Result<Response, PageError> {
    let (version, f) = match run_form(&app, &signed, id, form).await? {
        Ok(f) => f,
        Err(page) => return Ok(page),
    };
    let chosen: Vec<GroupId> = f.group.iter().map(|g| g.0).collect();
    let only = (f.approve == "selected").then_some(chosen.as_slice());
    match app
        .approve_timetable(&signed.actor, id, version, only)
        .await
    {
        Ok(_) => Ok(back(id, "#approval")),
        Err(e) => refused(&app, &signed, id, e).await,
    }
}
