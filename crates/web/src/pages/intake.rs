//! Intake: referrals by state and the form that records one (the three ways in), a
//! referral's page (its moves as buttons, the group-readiness screening, consents, and the
//! ranked placement suggestions with their reasons, from which a coordinator places the
//! client or waitlists them), and the waitlists with their offers.
//!
//! Everything goes through the intake and placement services, which check the role, reach
//! and write the audit trail. Intake never sees screening comments (the service blanks them):
//! intake records a screening's decision, clinicians and directors its comments too.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::purpose;
use circle_app::{App, AppError, PageRequest};
use circle_domain::care::{Concern, LevelOfCare};
use circle_domain::client::{Client, ReferralSource};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, OfferId, ProgramId, WaitlistEntryId};
use circle_domain::intake::{
    NewPart2Consent, NewReferral, NewScreening, NewTransition, PartOfDay, PreferredTime, Referral,
    ReferralState, ReferringProviderDetails, ScreeningDecision, SignAgreement,
};
use circle_domain::membership::NewMembership;
use circle_domain::placement::{NewWaitlistEntry, OfferState};
use circle_domain::text::{Email, Label, PersonName, Phone, RecordNumber, ShortText};
use circle_domain::{DomainError, FieldErrors, Rule};
use jiff::civil::Date;
use serde::Deserialize;

use super::vocab::Label as _;
use super::{Nav, PageError, Signed, explain, form_value, html, refusal};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/intake", get(intake_home))
        .route("/intake/referrals", post(record_referral))
        .route("/referrals/{id}", get(referral_page))
        .route("/referrals/{id}/transition", post(transition))
        .route("/referrals/{id}/screening", post(screening))
        .route("/referrals/{id}/screener", post(assign_screener))
        .route("/referrals/{id}/client", post(create_client))
        .route("/referrals/{id}/episode", post(open_episode))
        .route("/referrals/{id}/agreement", post(agreement))
        .route("/referrals/{id}/part2", post(part2))
        .route("/referrals/{id}/place", post(place))
        .route("/referrals/{id}/waitlist", post(waitlist_add))
        .route("/waitlist", get(waitlist_page))
        .route("/offers/{id}/accept", post(accept_offer))
        .route("/offers/{id}/decline", post(decline_offer))
        .route("/waitlist/{id}/remove", post(remove_from_waitlist))
}

const PAGE: PageRequest = PageRequest {
    after: 0,
    limit: 200,
};

/// The most client records a search on a referral shows.
const FOUND: u32 = 20;

/// Intake and directors work referrals and waitlists.
fn require_intake(signed: &Signed) -> Result<(), PageError> {
    if signed.actor.may::<purpose::ReferralTransition>() {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

fn invalid(errors: FieldErrors) -> AppError {
    AppError::Domain(DomainError::Invalid(errors))
}

/// An optional text field: `None` when blank; a value breaking its rule is named.
fn optional<T>(
    fields: &[(String, String)],
    name: &str,
    parse: fn(&str) -> Result<T, String>,
    errors: &mut FieldErrors,
) -> Option<T> {
    let v = form_value(fields, name);
    if v.is_empty() {
        return None;
    }
    match parse(v) {
        Ok(t) => Some(t),
        Err(rule) => {
            errors.push(name, rule);
            None
        }
    }
}

/// A required field.
fn required<T>(
    fields: &[(String, String)],
    name: &str,
    parse: fn(&str) -> Result<T, String>,
    errors: &mut FieldErrors,
) -> Option<T> {
    if form_value(fields, name).is_empty() {
        errors.push(name, "is required");
        return None;
    }
    optional(fields, name, parse, errors)
}

fn parse_date(v: &str) -> Result<Date, String> {
    v.parse::<Date>()
        .map_err(|_| "must be a date (YYYY-MM-DD)".to_owned())
}

fn parse_id(v: &str) -> Result<i64, String> {
    v.parse::<i64>()
        .map_err(|_| "must be one of the listed choices".to_owned())
}

fn path_label(p: ReferralSource) -> &'static str {
    p.label()
}

fn state_label(s: ReferralState) -> &'static str {
    s.label()
}

/// "Mon 4 May 2026" in the clinic's time zone.
fn day_of(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::day(t.to_zoned(app.clinic_time_zone().clone()).date())
}

/// "Mon 4 May, 14:05" in the clinic's time zone.
fn moment(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

/// A client as intake picks them: full name and record number (demographics are intake's).
fn full_name(c: &Client) -> String {
    format!("{} {} ({})", c.given_name, c.family_name, c.record_number)
}

// ---------------------------------------------------------------------------------------
// /intake

struct ReferralRow {
    id: i64,
    name: String,
    path: &'static str,
    received: String,
}

struct StateList {
    key: &'static str,
    label: &'static str,
    rows: Vec<ReferralRow>,
    more: bool,
}

#[derive(Template)]
#[template(path = "intake_home.html")]
struct IntakePage {
    nav: Option<Nav>,
    csrf: String,
    counts: Vec<(&'static str, &'static str, String, bool)>,
    lists: Vec<StateList>,
    messages: Vec<String>,
    /// The form's values after a refusal.
    v: HashMap<String, String>,
    paths: Vec<(&'static str, &'static str)>,
    programs: Vec<(i64, String)>,
    levels: Vec<(&'static str, &'static str)>,
    clients: Vec<(i64, String)>,
    clinicians: Vec<(i64, String)>,
}

impl IntakePage {
    fn val(&self, k: &str) -> &str {
        self.v.get(k).map_or("", String::as_str)
    }
    fn is(&self, k: &str, want: &str) -> bool {
        self.val(k) == want
    }
}

/// The states whose referrals are listed: those someone still has to act on.
const WORKING: [ReferralState; 5] = [
    ReferralState::Referred,
    ReferralState::Screening,
    ReferralState::Ready,
    ReferralState::Waitlisted,
    ReferralState::Placed,
];

async fn intake_home(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    render_home(&app, &signed, &[], vec![], StatusCode::OK).await
}

async fn render_home(
    app: &App,
    signed: &Signed,
    fields: &[(String, String)],
    messages: Vec<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    require_intake(signed)?;
    let actor = &signed.actor;
    let mut counts = vec![];
    let mut lists = vec![];
    for state in ReferralState::ALL {
        let found = app.list_referrals(actor, Some(*state), PAGE).await?;
        let more = found.next_after.is_some();
        let count = if more {
            "more than 200".to_owned()
        } else {
            found.items.len().to_string()
        };
        counts.push((
            state.as_str(),
            state_label(*state),
            count,
            WORKING.contains(state),
        ));
        if WORKING.contains(state) {
            lists.push(StateList {
                key: state.as_str(),
                label: state_label(*state),
                rows: found
                    .items
                    .iter()
                    .map(|r| ReferralRow {
                        id: r.id,
                        name: r.details.name.to_string(),
                        path: path_label(r.path),
                        received: day_of(app, r.received_at),
                    })
                    .collect(),
                more,
            });
        }
    }
    let programs = app
        .list_programs(actor, PAGE)
        .await?
        .items
        .iter()
        .map(|p| {
            (
                p.id.0,
                format!("{} ({}, {})", p.name, p.site, p.level_of_care.label()),
            )
        })
        .collect();
    let clients = app
        .list_clients(actor, PAGE)
        .await?
        .items
        .iter()
        .map(|c| (c.id.0, full_name(c)))
        .collect();
    let clinicians = app
        .list_clinicians(actor, PAGE)
        .await?
        .items
        .iter()
        .map(|c| (c.id.0, format!("{} {}", c.given_name, c.family_name)))
        .collect();
    Ok(html(
        status,
        IntakePage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            counts,
            lists,
            messages,
            v: fields.iter().cloned().collect(),
            paths: ReferralSource::ALL
                .iter()
                .map(|p| (p.as_str(), path_label(*p)))
                .collect(),
            programs,
            levels: [LevelOfCare::Residential, LevelOfCare::Php, LevelOfCare::Iop]
                .iter()
                .map(|l| (l.as_str(), l.label()))
                .collect(),
            clients,
            clinicians,
        },
    ))
}

/// Reads the record-a-referral form; each field that breaks its rule is named.
fn new_referral(fields: &[(String, String)]) -> Result<NewReferral, AppError> {
    let mut e = FieldErrors::default();
    let path = match ReferralSource::parse(form_value(fields, "path")) {
        Some(p) => Some(p),
        None => {
            e.push("path", "choose how the person was referred");
            None
        }
    };
    let name = required(fields, "name", PersonName::parse, &mut e);
    let email = optional(fields, "email", Email::parse, &mut e);
    let phone = optional(fields, "phone", Phone::parse, &mut e);
    let reason = optional(fields, "reason", ShortText::parse, &mut e);
    let admission = path == Some(ReferralSource::ProgramAdmission);
    let therapist = path == Some(ReferralSource::TherapistReferral);
    // Only the path's own fields count: the others may hold what was typed before the
    // path was changed.
    let program_id = if admission {
        optional(fields, "program_id", parse_id, &mut e).map(ProgramId)
    } else {
        None
    };
    let level_of_care = if admission {
        optional(
            fields,
            "level_of_care",
            |v| LevelOfCare::parse(v).ok_or_else(|| "must be one of the listed levels".to_owned()),
            &mut e,
        )
    } else {
        None
    };
    let provider = if therapist {
        let pname = optional(fields, "provider_name", PersonName::parse, &mut e);
        let practice = optional(fields, "provider_practice", Label::parse, &mut e);
        let contact = optional(fields, "provider_contact", Label::parse, &mut e);
        pname.map(|name| ReferringProviderDetails {
            name,
            practice,
            contact,
        })
    } else {
        None
    };
    let client_id = optional(fields, "client_id", parse_id, &mut e).map(ClientId);
    let screener_id = optional(fields, "screener_id", parse_id, &mut e).map(ClinicianId);
    e.into_result().map_err(AppError::Domain)?;
    let Some(path) = path else {
        return Err(AppError::Domain(DomainError::invalid(
            "path",
            "is required",
        )));
    };
    let Some(name) = name else {
        return Err(AppError::Domain(DomainError::invalid(
            "name",
            "is required",
        )));
    };
    let new = NewReferral {
        path,
        name,
        email,
        phone,
        reason,
        preferred_times: vec![],
        program_id,
        level_of_care,
        provider,
        client_id,
        screener_id,
    };
    new.validate().map_err(AppError::Domain)?;
    Ok(new)
}

async fn record_referral(
    State(app): State<App>,
    signed: Signed,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    require_intake(&signed)?;
    // The page again shows what was typed, not the id it was resolved to.
    let typed = fields.clone();
    let mut fields = fields;
    super::picker::resolve_clients(&app, &signed.actor, &mut fields, &["client_id"]).await;
    super::picker::resolve_clinicians(&app, &signed.actor, &mut fields, &["screener_id"]).await;
    let fields_resolved = fields;
    let fields = typed;
    let result = match new_referral(&fields_resolved) {
        Ok(new) => app.create_referral(&signed.actor, &new).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => Ok(Redirect::to(&format!("/referrals/{}?ok=recorded", r.id)).into_response()),
        Err(e) => {
            let why = refusal(e)?;
            render_home(
                &app,
                &signed,
                &fields,
                vec![format!("The referral was not recorded: {why}")],
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

// ---------------------------------------------------------------------------------------
// /referrals/{id}

struct TransitionRow {
    at: String,
    from: &'static str,
    to: &'static str,
    reason: Option<String>,
}

struct ScreeningRow {
    at: String,
    decision: &'static str,
    reasons: Option<String>,
}

struct SuggestionRow {
    rank: usize,
    group_id: i64,
    name: String,
    kind: String,
    fit: u32,
    eligible: bool,
    reasons: Vec<String>,
    exclusions: Vec<String>,
    open_seats: u32,
    next_date: Option<String>,
    can_place: bool,
    start: String,
}

struct Part2Row {
    recipient: String,
    purpose: String,
    signed_on: String,
    in_force: bool,
}

#[derive(Template)]
#[template(path = "intake_referral.html")]
struct ReferralPage {
    nav: Option<Nav>,
    csrf: String,
    id: i64,
    name: String,
    /// The times the person ticked on `/join` ("Tuesday evening, Thursday evening").
    availability: Option<String>,
    path: &'static str,
    state: &'static str,
    state_key: &'static str,
    received: String,
    email: Option<String>,
    phone: Option<String>,
    reason: Option<String>,
    provider: Option<String>,
    program: Option<String>,
    level: Option<&'static str>,
    screener: Option<String>,
    next: Vec<(&'static str, &'static str)>,
    transitions: Vec<TransitionRow>,
    screenings: Vec<ScreeningRow>,
    can_screen: bool,
    clinical: bool,
    /// The linked client record, by name; `None` until one is linked.
    client: Option<String>,
    client_level: Option<&'static str>,
    client_hidden: bool,
    /// The chosen (not yet linked) client record, carried by every form.
    chosen: Option<i64>,
    /// What intake typed into the client search, and the records it found.
    find: String,
    found: Vec<(i64, String)>,
    /// Intake may still choose or create the client record.
    choosing: bool,
    /// The new-record form, pre-filled from what the person wrote.
    new_client: NewClientForm,
    /// Clinicians to assign as screener (intake, before the screening).
    /// (id, name, assigned now).
    screeners: Vec<(i64, String, bool)>,
    /// Intake opens the client's episode at a level of care from here.
    can_admit: bool,
    levels: Vec<(&'static str, &'static str)>,
    admit_level: &'static str,
    /// (id, name and level, the referral's program).
    programs: Vec<(i64, String, bool)>,
    /// Client records with this request's email or phone: the person may already be a
    /// client.
    already_client: Vec<(i64, String)>,
    agreements: Vec<String>,
    part2_applies: bool,
    part2: Vec<Part2Row>,
    patient_name: String,
    today: String,
    suggestions: Vec<SuggestionRow>,
    suggestions_note: Option<String>,
    can_place: bool,
    /// Intake sees why there are no place buttons yet.
    placement_waits: bool,
    messages: Vec<String>,
    ok: Option<String>,
}

/// One day of the availability grid: (day value, day label, [(part value, part label,
/// ticked)]).
type GridDay = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str, bool)>,
);

/// The client-record form's values: what the person wrote on the referral, or what intake
/// typed when the form comes back with an error.
struct NewClientForm {
    given_name: String,
    family_name: String,
    email: String,
    phone: String,
    record_number: String,
    date_of_birth: String,
    /// The weekly grid: (day value, day label, [(part value, part label, ticked)]).
    times: Vec<GridDay>,
}

#[derive(Deserialize)]
struct OkQuery {
    ok: Option<String>,
    /// The client record chosen for a referral not linked to one yet (linked when the
    /// referral is placed or waitlisted).
    client: Option<i64>,
    /// A search for the client's record by name or record number.
    find: Option<String>,
}

fn ok_message(ok: Option<&str>) -> Option<String> {
    let text = match ok? {
        "recorded" => "The referral was recorded.",
        "moved" => "The referral was moved on.",
        "screened" => "The screening was recorded.",
        "screener" => "The screener was saved.",
        "created" => "The client record was created from the request.",
        "admitted" => "The episode of care was opened.",
        "agreement" => "The group agreement signature was recorded.",
        "part2" => "The Part 2 consent was recorded.",
        "placed" => "The client was placed in the group.",
        "waitlisted" => "The client was added to the group's waitlist.",
        "accepted" => "The offer was accepted: the client is now a member of the group.",
        "declined" => "The offer was declined; the seat moves on to the next person waiting.",
        "removed" => "The client was taken off the waitlist.",
        _ => return None,
    };
    Some(text.to_owned())
}

async fn referral_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(q): Query<OkQuery>,
) -> Result<Response, PageError> {
    let ok = ok_message(q.ok.as_deref());
    let chosen = q.client.map(ClientId);
    let mut fields = vec![];
    if let Some(f) = q.find {
        fields.push(("find".to_owned(), f));
    }
    render_referral(
        &app,
        &signed,
        id,
        chosen,
        &fields,
        vec![],
        ok,
        StatusCode::OK,
    )
    .await
}

#[allow(
    clippy::too_many_arguments,
    reason = "the page's inputs, each plain; a struct would only rename them"
)]
async fn render_referral(
    app: &App,
    signed: &Signed,
    id: i64,
    chosen: Option<ClientId>,
    fields: &[(String, String)],
    messages: Vec<String>,
    ok: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let actor = &signed.actor;
    let r: Referral = app.referral(actor, id).await?;
    let intake = actor.may::<purpose::ReferralTransition>();
    let program = match r.program_id {
        Some(p) => Some(app.program(actor, p).await?.name.to_string()),
        None => None,
    };
    let screener = match r.screener_id {
        Some(c) => {
            let c = app.clinician(actor, c).await?;
            Some(format!("{} {}", c.given_name, c.family_name))
        }
        None => None,
    };
    // A screening clinician may reach the referral before the client is in their caseload:
    // the record is then not shown (the service refuses and audits the read).
    let mut client_hidden = false;
    // Before the referral is linked, intake may choose the client record to work with.
    let chosen = if r.client_id.is_none() && intake {
        chosen
    } else {
        None
    };
    let client = match r.client_id.or(chosen) {
        Some(c) => match app.client(actor, c).await {
            Ok(c) => Some(c),
            Err(AppError::Domain(DomainError::NotFound { .. } | DomainError::Forbidden)) => {
                client_hidden = true;
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    // A second request from someone already a client (same email or phone as a record,
    // every client checked): flagged, so intake links it instead of making a second record.
    let choosing = r.client_id.is_none() && intake;
    let field = |k: &str| form_value(fields, k).to_owned();
    let find = field("find");
    let mut already_client = vec![];
    let mut found = vec![];
    if choosing {
        already_client = app
            .clients_with_contact(
                actor,
                r.details.email.as_ref().map(|e| e.as_str()),
                r.details.phone.as_ref().map(|p| p.as_str()),
            )
            .await?
            .iter()
            .map(|c| (c.id.0, full_name(c)))
            .collect();
        if !find.trim().is_empty() {
            found = app
                .search_clients(
                    actor,
                    find.trim(),
                    PageRequest {
                        after: 0,
                        limit: FOUND,
                    },
                )
                .await?
                .items
                .iter()
                .map(|c| (c.id.0, full_name(c)))
                .collect();
        }
    }
    let new_client = {
        let written = r.details.name.as_str().trim();
        let (given, family) = written.rsplit_once(' ').unwrap_or((written, ""));
        let or = |k: &str, v: &str| {
            let typed = field(k);
            if fields.iter().any(|(f, _)| f == k) {
                typed
            } else {
                v.to_owned()
            }
        };
        NewClientForm {
            given_name: or("given_name", given.trim()),
            family_name: or("family_name", family.trim()),
            email: or("email", r.details.email.as_ref().map_or("", |e| e.as_str())),
            phone: or("phone", r.details.phone.as_ref().map_or("", |p| p.as_str())),
            record_number: field("record_number"),
            date_of_birth: field("date_of_birth"),
            times: {
                // What intake ticked when the form comes back; else the person's own ticks.
                let typed: Vec<String> = fields
                    .iter()
                    .filter(|(k, _)| k == "time")
                    .map(|(_, v)| v.clone())
                    .collect();
                let retyped = fields.iter().any(|(k, _)| k == "given_name");
                super::join::DAYS
                    .iter()
                    .map(|(day, day_label)| {
                        let parts = super::join::PARTS
                            .iter()
                            .map(|(part, part_label)| {
                                let key = format!("{}/{part}", day.as_str());
                                let ticked = if retyped {
                                    typed.contains(&key)
                                } else {
                                    r.preferred_times.iter().any(|t| {
                                        t.weekday == *day && t.part_of_day.as_str() == *part
                                    })
                                };
                                (*part, *part_label, ticked)
                            })
                            .collect();
                        (day.as_str(), *day_label, parts)
                    })
                    .collect()
            },
        }
    };
    let before_screening = matches!(r.state, ReferralState::Referred | ReferralState::Screening);
    let screeners = if intake && before_screening {
        app.list_clinicians(actor, PAGE)
            .await?
            .items
            .iter()
            .map(|c| {
                (
                    c.id.0,
                    format!("{} {}", c.given_name, c.family_name),
                    r.screener_id == Some(c.id),
                )
            })
            .collect()
    } else {
        vec![]
    };
    let can_admit =
        intake && !r.state.is_final() && client.as_ref().is_some_and(|c| c.current_level.is_none());
    let programs = if can_admit {
        app.list_programs(actor, PAGE)
            .await?
            .items
            .iter()
            .map(|p| {
                (
                    p.id.0,
                    format!("{} — {}", p.name, p.level_of_care.label()),
                    r.program_id == Some(p.id),
                )
            })
            .collect()
    } else {
        vec![]
    };
    let mut agreements = vec![];
    let mut part2 = vec![];
    let mut part2_applies = false;
    let mut suggestions = vec![];
    let mut suggestions_note = None;
    if let Some(c) = &client {
        let consents = app.consents(actor, c.id).await?;
        agreements = consents
            .group_agreements
            .iter()
            .map(|a| {
                format!(
                    "Version {}, signed {} ({})",
                    a.version, a.signed_on, a.method
                )
            })
            .collect();
        part2 = consents
            .part2
            .iter()
            .map(|p| Part2Row {
                recipient: p.terms.recipient.to_string(),
                purpose: p.terms.purpose.to_string(),
                signed_on: p.terms.signed_on.to_string(),
                in_force: p.in_force,
            })
            .collect();
        // 42 CFR Part 2 covers records of substance-use treatment.
        part2_applies = c.concerns.contains(&Concern::SubstanceUse) || !part2.is_empty();
        match app.placement_suggestions(actor, c.id, None).await {
            Ok(list) => {
                let today = app.today().to_string();
                suggestions = list
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        // A group that only needs a later start date can still be placed in.
                        let dates_only = s.exclusions.iter().all(|e| {
                            matches!(e.rule, Rule::NewcomerLimit | Rule::BetweenModuleBoundaries)
                        }) && s.next_joinable_date.is_some();
                        SuggestionRow {
                            rank: i + 1,
                            group_id: s.group_id.0,
                            name: s.name.to_string(),
                            kind: match s.modality {
                                Some(m) => format!("{} ({m})", s.group_kind),
                                None => s.group_kind.to_string(),
                            },
                            fit: s.fit,
                            eligible: s.eligible,
                            reasons: s.fit_reasons.iter().map(|f| f.message.clone()).collect(),
                            exclusions: s.exclusions.iter().map(|e| e.message.clone()).collect(),
                            open_seats: s.open_seats,
                            next_date: s.next_joinable_date.map(|d| d.to_string()),
                            can_place: s.eligible || dates_only,
                            start: s
                                .next_joinable_date
                                .map_or_else(|| today.clone(), |d| d.to_string()),
                        }
                    })
                    .collect();
            }
            Err(e) => suggestions_note = Some(refusal(e)?),
        }
    }
    let patient_name = match (field("patient_name"), &client) {
        (v, _) if !v.is_empty() => v,
        (_, Some(c)) => format!("{} {}", c.given_name, c.family_name),
        _ => String::new(),
    };
    Ok(html(
        status,
        ReferralPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            id,
            name: r.details.name.to_string(),
            availability: (!r.preferred_times.is_empty()).then(|| {
                r.preferred_times
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {}",
                            t.weekday.label(),
                            t.part_of_day.label().to_lowercase()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            path: path_label(r.path),
            state: state_label(r.state),
            state_key: r.state.as_str(),
            received: moment(app, r.received_at),
            email: r.details.email.as_ref().map(ToString::to_string),
            phone: r.details.phone.as_ref().map(ToString::to_string),
            reason: r.details.reason.as_ref().map(ToString::to_string),
            provider: r.details.provider.as_ref().map(|p| {
                let mut s = p.name.to_string();
                for extra in [&p.practice, &p.contact].into_iter().flatten() {
                    s.push_str(", ");
                    s.push_str(extra.as_str());
                }
                s
            }),
            program,
            level: r.level_of_care.map(|l| l.label()),
            screener,
            // Ready is a screening's finding, never a button: the page offers the other
            // moves (issue 14: screening could be skipped from here).
            next: if intake {
                r.state
                    .allowed_next()
                    .iter()
                    .filter(|s| **s != ReferralState::Ready)
                    .map(|s| (s.as_str(), state_label(*s)))
                    .collect()
            } else {
                vec![]
            },
            transitions: r
                .transitions
                .iter()
                .map(|t| TransitionRow {
                    at: moment(app, t.at),
                    from: t.from.map_or("—", state_label),
                    to: state_label(t.to),
                    reason: t.reason.as_ref().map(ToString::to_string),
                })
                .collect(),
            screenings: r
                .screenings
                .iter()
                .map(|s| ScreeningRow {
                    at: moment(app, s.screened_at),
                    decision: s.decision.label(),
                    reasons: s.reasons.as_ref().map(ToString::to_string),
                })
                .collect(),
            can_screen: actor.may::<purpose::ScreeningCreate>() && before_screening,
            clinical: actor.may::<purpose::ScreeningComments>(),
            client_level: client
                .as_ref()
                .and_then(|c| c.current_level)
                .map(|l| l.label()),
            client: client.as_ref().map(full_name),
            client_hidden,
            chosen: chosen.filter(|_| client.is_some()).map(|c| c.0),
            find,
            found,
            choosing: choosing && client.is_none() && !client_hidden,
            new_client,
            screeners,
            can_admit,
            levels: [
                LevelOfCare::Residential,
                LevelOfCare::Php,
                LevelOfCare::Iop,
                LevelOfCare::Outpatient,
            ]
            .iter()
            .map(|l| (l.as_str(), l.label()))
            .collect(),
            admit_level: r.level_of_care.map_or("", |l| l.as_str()),
            programs,

            already_client,
            agreements,
            part2_applies,
            part2,
            patient_name,
            today: app.today().to_string(),
            suggestions,
            suggestions_note,
            can_place: intake && PLACEABLE.contains(&r.state),
            placement_waits: intake && !PLACEABLE.contains(&r.state) && !r.state.is_final(),
            messages,
            ok,
        },
    ))
}

/// Renders the referral again with the refusal explained (status 422), or fails.
async fn refused(
    app: &App,
    signed: &Signed,
    id: i64,
    fields: &[(String, String)],
    what: &str,
    e: AppError,
) -> Result<Response, PageError> {
    let why = refusal(e)?;
    let chosen = form_value(fields, "client_id").parse().ok().map(ClientId);
    render_referral(
        app,
        signed,
        id,
        chosen,
        fields,
        vec![format!("{what}: {why}")],
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

fn done(id: i64, ok: &str) -> Response {
    Redirect::to(&format!("/referrals/{id}?ok={ok}")).into_response()
}

/// Back to the referral, still working with the chosen client record when it is not linked.
fn done_with(id: i64, ok: &str, fields: &[(String, String)]) -> Response {
    match form_value(fields, "client_id").parse::<i64>() {
        Ok(c) => Redirect::to(&format!("/referrals/{id}?ok={ok}&client={c}")).into_response(),
        Err(_) => done(id, ok),
    }
}

async fn transition(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let mut e = FieldErrors::default();
    let to = ReferralState::parse(form_value(&fields, "to"));
    if to.is_none() {
        e.push("to", "choose the state to move to");
    }
    let reason = optional(&fields, "reason", ShortText::parse, &mut e);
    let client_id = optional(&fields, "client_id", parse_id, &mut e).map(ClientId);
    let result = match (e.into_result(), to) {
        (Ok(()), Some(to)) => {
            let t = NewTransition {
                to,
                reason,
                client_id,
            };
            app.transition_referral(&signed.actor, id, &t)
                .await
                .map(|_| ())
        }
        (Err(errors), _) => Err(AppError::Domain(errors)),
        (Ok(()), None) => Err(AppError::Domain(DomainError::invalid("to", "is required"))),
    };
    match result {
        Ok(()) => Ok(done(id, "moved")),
        Err(e) => refused(&app, &signed, id, &fields, "The referral was not moved", e).await,
    }
}

async fn screening(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let mut e = FieldErrors::default();
    let decision = ScreeningDecision::parse(form_value(&fields, "decision"));
    if decision.is_none() {
        e.push("decision", "choose the outcome of the screening");
    }
    let reasons = optional(&fields, "reasons", ShortText::parse, &mut e);
    let result = match (e.into_result(), decision) {
        (Ok(()), Some(decision)) => {
            let s = NewScreening {
                decision,
                reasons,
                measure_response_id: None,
            };
            app.record_screening(&signed.actor, id, &s)
                .await
                .map(|_| ())
        }
        (Err(errors), _) => Err(AppError::Domain(errors)),
        (Ok(()), None) => Err(invalid(FieldErrors::default())),
    };
    match result {
        // The chosen (not yet linked) record stays chosen across the screening.
        Ok(()) => Ok(done_with(id, "screened", &fields)),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The screening was not recorded",
                e,
            )
            .await
        }
    }
}

/// The referral's linked client, else the client record chosen on the page, else the rule
/// that one is needed.
async fn linked_client(
    app: &App,
    signed: &Signed,
    id: i64,
    fields: &[(String, String)],
) -> Result<ClientId, AppError> {
    let r = app.referral(&signed.actor, id).await?;
    if let Some(c) = r.client_id {
        return Ok(c);
    }
    match form_value(fields, "client_id") {
        "" => Err(AppError::Domain(DomainError::conflict(
            Rule::ReferralNeedsClient,
            "link the referral to a client record first: choose the client's record on this page",
        ))),
        v => v.parse::<i64>().map(ClientId).map_err(|_| {
            AppError::Domain(DomainError::invalid(
                "client_id",
                "must be one of the listed clients",
            ))
        }),
    }
}

async fn agreement(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let mut e = FieldErrors::default();
        let signed_on = required(&fields, "signed_on", parse_date, &mut e);
        e.into_result().map_err(AppError::Domain)?;
        let body = SignAgreement {
            signed_on,
            version: None,
        };
        app.sign_group_agreement(&signed.actor, client, &body)
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => Ok(done_with(id, "agreement", &fields)),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The group agreement was not recorded",
                e,
            )
            .await
        }
    }
}

async fn part2(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let mut e = FieldErrors::default();
        let new = NewPart2Consent {
            patient_name: optional(&fields, "patient_name", PersonName::parse, &mut e),
            discloser: optional(&fields, "discloser", Label::parse, &mut e),
            recipient: optional(&fields, "recipient", Label::parse, &mut e),
            information: optional(&fields, "information", ShortText::parse, &mut e),
            purpose: optional(&fields, "purpose", ShortText::parse, &mut e),
            expires_on: optional(&fields, "expires_on", parse_date, &mut e),
            expiry_event: optional(&fields, "expiry_event", ShortText::parse, &mut e),
            right_to_revoke_acknowledged: Some(
                form_value(&fields, "right_to_revoke_acknowledged") == "yes",
            ),
            signature: optional(&fields, "signature", PersonName::parse, &mut e),
            signed_on: optional(&fields, "signed_on", parse_date, &mut e),
        };
        e.into_result().map_err(AppError::Domain)?;
        app.record_part2_consent(&signed.actor, client, &new)
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => Ok(done_with(id, "part2", &fields)),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The Part 2 consent was not recorded",
                e,
            )
            .await
        }
    }
}

/// The states from which a referral is placed or waitlisted.
const PLACEABLE: [ReferralState; 2] = [ReferralState::Ready, ReferralState::Waitlisted];

/// Placement follows screening: a referral is placed once it is ready or waitlisted.
async fn ready_for_placement(app: &App, signed: &Signed, id: i64) -> Result<(), AppError> {
    let r = app.referral(&signed.actor, id).await?;
    if PLACEABLE.contains(&r.state) {
        return Ok(());
    }
    Err(AppError::Domain(DomainError::conflict(
        Rule::IllegalTransition,
        format!(
            "a referral is placed once screening finds the person ready (or from the waitlist); this one is {}",
            r.state
        ),
    )))
}

/// Moves the referral to `to` when its state allows it; a referral elsewhere in its way
/// stays where it is (the placement itself stands).
async fn follow(app: &App, signed: &Signed, id: i64, client: ClientId, to: ReferralState) {
    let Ok(r) = app.referral(&signed.actor, id).await else {
        return;
    };
    if !r.state.allowed_next().contains(&to) {
        return;
    }
    let t = NewTransition {
        to,
        reason: None,
        client_id: Some(client),
    };
    if let Err(e) = app.transition_referral(&signed.actor, id, &t).await {
        tracing::warn!(referral.id = id, error = %explain(&e), "the referral did not follow its placement");
    }
}

async fn place(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        ready_for_placement(&app, &signed, id).await?;
        let mut e = FieldErrors::default();
        let group = required(&fields, "group_id", parse_id, &mut e).map(GroupId);
        let start = required(&fields, "start_date", parse_date, &mut e);
        e.into_result().map_err(AppError::Domain)?;
        let (Some(group), Some(start_date)) = (group, start) else {
            return Err(invalid(FieldErrors::default()));
        };
        let new = NewMembership {
            client_id: client,
            start_date,
        };
        app.enroll(&signed.actor, group, &new).await?;
        Ok(client)
    }
    .await;
    match result {
        Ok(client) => {
            follow(&app, &signed, id, client, ReferralState::Placed).await;
            Ok(done_with(id, "placed", &fields))
        }
        Err(e) => refused(&app, &signed, id, &fields, "The client was not placed", e).await,
    }
}

async fn waitlist_add(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        ready_for_placement(&app, &signed, id).await?;
        let mut e = FieldErrors::default();
        let group = required(&fields, "group_id", parse_id, &mut e).map(GroupId);
        let priority = required(
            &fields,
            "priority",
            |v| {
                v.parse::<u8>()
                    .map_err(|_| "must be 1 (most urgent) to 5".to_owned())
            },
            &mut e,
        );
        e.into_result().map_err(AppError::Domain)?;
        let (Some(group), Some(priority)) = (group, priority) else {
            return Err(invalid(FieldErrors::default()));
        };
        let new = NewWaitlistEntry {
            client_id: client,
            priority,
            note: None,
        };
        app.add_to_waitlist(&signed.actor, group, &new).await?;
        Ok(client)
    }
    .await;
    match result {
        Ok(client) => {
            follow(&app, &signed, id, client, ReferralState::Waitlisted).await;
            Ok(done_with(id, "waitlisted", &fields))
        }
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The client was not added to the waitlist",
                e,
            )
            .await
        }
    }
}

/// Assigns the clinician who screens the referral ("" clears it).
async fn assign_screener(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let mut e = FieldErrors::default();
    let screener = optional(&fields, "screener_id", parse_id, &mut e).map(ClinicianId);
    let result = match e.into_result() {
        Ok(()) => app
            .assign_screener(&signed.actor, id, screener)
            .await
            .map(|_| ()),
        Err(errors) => Err(AppError::Domain(errors)),
    };
    match result {
        Ok(()) => Ok(done_with(id, "screener", &fields)),
        Err(e) => refused(&app, &signed, id, &fields, "The screener was not saved", e).await,
    }
}

/// Creates the client record from the request (what the person wrote, checked and
/// completed by intake), then works with it on the referral: it is linked when the person
/// is placed or waitlisted.
async fn create_client(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let result = async {
        let r = app.referral(&signed.actor, id).await?;
        if r.client_id.is_some() {
            return Err(AppError::Domain(DomainError::conflict(
                Rule::IllegalTransition,
                "this referral is already linked to a client record",
            )));
        }
        let mut e = FieldErrors::default();
        let record_number = required(&fields, "record_number", RecordNumber::parse, &mut e);
        let given_name = required(&fields, "given_name", PersonName::parse, &mut e);
        let family_name = required(&fields, "family_name", PersonName::parse, &mut e);
        let date_of_birth = required(&fields, "date_of_birth", parse_date, &mut e);
        let email = optional(&fields, "email", Email::parse, &mut e);
        let phone = optional(&fields, "phone", Phone::parse, &mut e);
        let mut availability = vec![];
        for (k, v) in &fields {
            if k != "time" {
                continue;
            }
            let t = v.split_once('/').and_then(|(d, p)| {
                Some(PreferredTime {
                    weekday: circle_domain::schedule::Weekday::parse(d)?,
                    part_of_day: PartOfDay::parse(p)?,
                })
            });
            match t {
                Some(t) => availability.push(t.window()),
                None => e.push("time", "choose times from the grid"),
            }
        }
        e.into_result().map_err(AppError::Domain)?;
        let (Some(record_number), Some(given_name), Some(family_name), Some(date_of_birth)) =
            (record_number, given_name, family_name, date_of_birth)
        else {
            return Err(invalid(FieldErrors::default()));
        };
        let new = circle_domain::client::NewClient {
            record_number,
            given_name,
            family_name,
            preferred_name: None,
            date_of_birth,
            email,
            phone,
            concerns: vec![],
            // The grid starts from the times the person ticked; intake completes it.
            availability,
            referral_source: r.path,
        };
        Ok(app.create_client(&signed.actor, &new).await?.id)
    }
    .await;
    match result {
        Ok(client) => Ok(
            Redirect::to(&format!("/referrals/{id}?ok=created&client={}", client.0))
                .into_response(),
        ),
        Err(e) => {
            refused(
                &app,
                &signed,
                id,
                &fields,
                "The client record was not created",
                e,
            )
            .await
        }
    }
}

/// Opens the client's episode at a level of care (admission): intake admits
/// (DESIGN.md's role table), through the same service and gate as the API.
async fn open_episode(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.check_csrf(form_value(&fields, "csrf"))?;
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let mut e = FieldErrors::default();
        let level = required(
            &fields,
            "level_of_care",
            |v| {
                LevelOfCare::parse(v)
                    .ok_or_else(|| "choose a level of care from the list".to_owned())
            },
            &mut e,
        );
        let program = optional(&fields, "program_id", parse_id, &mut e).map(ProgramId);
        let started_on = required(&fields, "started_on", parse_date, &mut e);
        e.into_result().map_err(AppError::Domain)?;
        let (Some(level_of_care), Some(started_on)) = (level, started_on) else {
            return Err(invalid(FieldErrors::default()));
        };
        let next = circle_domain::client::NewEpisode {
            level_of_care,
            program_id: program,
            started_on,
            taper_weeks: None,
        };
        app.change_level(&signed.actor, client, &next).await?;
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(done_with(id, "admitted", &fields)),
        Err(e) => refused(&app, &signed, id, &fields, "The episode was not opened", e).await,
    }
}

// ---------------------------------------------------------------------------------------
// /waitlist and offers

struct WaitRow {
    id: i64,
    /// Still in line (not yet offered a seat): may be taken off the list.
    waiting: bool,
    position: usize,
    client: String,
    priority: u8,
    status: &'static str,
    added: String,
}

struct WaitGroup {
    id: i64,
    name: String,
    rows: Vec<WaitRow>,
}

struct OfferRow {
    id: i64,
    client: String,
    group: String,
    start: String,
    offered: String,
    expires: String,
    answered: Option<String>,
}

struct OfferList {
    key: &'static str,
    label: &'static str,
    open: bool,
    rows: Vec<OfferRow>,
}

#[derive(Template)]
#[template(path = "intake_waitlist.html")]
struct WaitlistPage {
    nav: Option<Nav>,
    csrf: String,
    groups: Vec<WaitGroup>,
    offers: Vec<OfferList>,
    messages: Vec<String>,
    ok: Option<String>,
}

async fn waitlist_page(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<OkQuery>,
) -> Result<Response, PageError> {
    let ok = ok_message(q.ok.as_deref());
    render_waitlist(&app, &signed, vec![], ok, StatusCode::OK).await
}

async fn render_waitlist(
    app: &App,
    signed: &Signed,
    messages: Vec<String>,
    ok: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    require_intake(signed)?;
    let actor = &signed.actor;
    let mut names: HashMap<ClientId, String> = HashMap::new();
    let mut group_names: HashMap<GroupId, String> = HashMap::new();
    let mut groups = vec![];
    let mut page = PAGE;
    loop {
        let found = app.list_groups(actor, None, page).await?;
        for g in &found.items {
            group_names.insert(g.id, g.name.to_string());
            let list = app.waitlist(actor, g.id).await?;
            if list.is_empty() {
                continue;
            }
            let mut rows = vec![];
            for (i, w) in list.iter().enumerate() {
                rows.push(WaitRow {
                    id: w.id.0,
                    waiting: w.status == circle_domain::placement::WaitlistStatus::Waiting,
                    position: i + 1,
                    client: roster_name(app, signed, &mut names, w.client_id).await?,
                    priority: w.priority,
                    status: w.status.label(),
                    added: day_of(app, w.added_at),
                });
            }
            groups.push(WaitGroup {
                id: g.id.0,
                name: g.name.to_string(),
                rows,
            });
        }
        match found.next_after {
            Some(after) => page.after = after,
            None => break,
        }
    }
    let all = app.offers(actor, None).await?;
    let mut offers = vec![];
    for (state, key, label) in [
        (OfferState::Open, "open", "Waiting for an answer"),
        (OfferState::Accepted, "accepted", "Accepted"),
        (OfferState::Declined, "declined", "Declined"),
        (OfferState::Expired, "expired", "Expired"),
        (OfferState::Withdrawn, "withdrawn", "Withdrawn"),
    ] {
        let mut rows = vec![];
        for o in all.iter().filter(|o| o.state == state) {
            rows.push(OfferRow {
                id: o.id.0,
                client: roster_name(app, signed, &mut names, o.client_id).await?,
                group: group_names
                    .get(&o.group_id)
                    .cloned()
                    .unwrap_or_else(|| "a group".to_owned()),
                start: o.start_date.to_string(),
                offered: moment(app, o.offered_at),
                expires: moment(app, o.expires_at),
                answered: o.responded_at.map(|t| moment(app, t)),
            });
        }
        offers.push(OfferList {
            key,
            label,
            open: state == OfferState::Open,
            rows,
        });
    }
    Ok(html(
        status,
        WaitlistPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            groups,
            offers,
            messages,
            ok,
        },
    ))
}

/// A client's roster name, read once per page (each read is audited).
async fn roster_name(
    app: &App,
    signed: &Signed,
    cache: &mut HashMap<ClientId, String>,
    id: ClientId,
) -> Result<String, PageError> {
    if let Some(n) = cache.get(&id) {
        return Ok(n.clone());
    }
    let n = app.client(&signed.actor, id).await?.roster_name();
    cache.insert(id, n.clone());
    Ok(n)
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn accept_offer(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_csrf(&form.csrf)?;
    let done = app.accept_offer(&signed.actor, OfferId(id)).await;
    waitlist_outcome(
        &app,
        &signed,
        done,
        "accepted",
        "The offer was not accepted",
    )
    .await
}

async fn decline_offer(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_csrf(&form.csrf)?;
    let done = app.decline_offer(&signed.actor, OfferId(id)).await;
    waitlist_outcome(
        &app,
        &signed,
        done,
        "declined",
        "The offer was not declined",
    )
    .await
}

/// Takes someone off a waitlist (they found another group, or no longer want one).
async fn remove_from_waitlist(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed.check_csrf(&form.csrf)?;
    let done = app
        .remove_from_waitlist(&signed.actor, WaitlistEntryId(id))
        .await;
    waitlist_outcome(
        &app,
        &signed,
        done,
        "removed",
        "Nobody was taken off the list",
    )
    .await
}

/// After a change on the waitlist page: back to it with the change's notice, or the page
/// again with the refusal explained and nothing changed.
async fn waitlist_outcome<T>(
    app: &App,
    signed: &Signed,
    done: Result<T, AppError>,
    ok: &str,
    refused: &str,
) -> Result<Response, PageError> {
    match done {
        Ok(_) => Ok(Redirect::to(&format!("/waitlist?ok={ok}")).into_response()),
        Err(e) => {
            let why = refusal(e)?;
            render_waitlist(
                app,
                signed,
                vec![format!("{refused}: {why}")],
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
