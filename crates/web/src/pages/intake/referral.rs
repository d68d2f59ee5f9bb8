//! `/referrals/{id}`: a referral's page (its details, moves as buttons, screener,
//! client record and episode), and the changes made from it that are not screening,
//! consents or placement.

use super::*;

pub(super) struct TransitionRow {
    at: String,
    from: &'static str,
    to: &'static str,
    reason: Option<String>,
}

pub(super) struct ScreeningRow {
    at: String,
    decision: &'static str,
    reasons: Option<String>,
}

pub(super) struct SuggestionRow {
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

pub(super) struct Part2Row {
    recipient: String,
    purpose: String,
    signed_on: String,
    in_force: bool,
}

#[derive(Template)]
#[template(path = "intake_referral.html")]
pub(super) struct ReferralPage {
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
    /// The assigned screener's name, the picker's value.
    screener_now: String,
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
    /// What was typed into the form that was refused, by field.
    typed: HashMap<String, String>,
    /// Each refused field's rule, shown by the field (the summary at the top names them
    /// all; a name two forms share, `signed_on`, is left to the summary).
    errors: HashMap<String, String>,
}

impl ReferralPage {
    fn val(&self, k: &str) -> &str {
        self.typed.get(k).map_or("", |v| v.trim())
    }
    fn err(&self, k: &str) -> Option<&str> {
        self.errors.get(k).map(String::as_str)
    }
    /// The Part 2 form came back refused: it is shown open.
    fn part2_refused(&self) -> bool {
        [
            "patient_name",
            "discloser",
            "recipient",
            "information",
            "purpose",
            "expires_on",
            "expiry_event",
            "right_to_revoke_acknowledged",
            "signature",
        ]
        .iter()
        .any(|k| self.errors.contains_key(*k))
    }
}

/// One day of the availability grid: (day value, day label, [(part value, part label,
/// ticked)]).
pub(super) type GridDay = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str, bool)>,
);

/// The client-record form's values: what the person wrote on the referral, or what intake
/// typed when the form comes back with an error.
pub(super) struct NewClientForm {
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
pub(super) struct OkQuery {
    pub(super) ok: Option<String>,
    /// The client record chosen for a referral not linked to one yet (linked when the
    /// referral is placed or waitlisted).
    client: Option<i64>,
    /// A search for the client's record by name or record number.
    find: Option<String>,
}

pub(super) fn ok_message(ok: Option<&str>) -> Option<String> {
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

pub(super) async fn referral_page(
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
        &FieldErrors::default(),
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
pub(super) async fn render_referral(
    app: &App,
    signed: &Signed,
    id: i64,
    chosen: Option<ClientId>,
    fields: &[(String, String)],
    errors: &FieldErrors,
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
                crate::pages::join::DAYS
                    .iter()
                    .map(|(day, day_label)| {
                        let parts = crate::pages::join::PARTS
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
                                Some(m) => format!("{} ({})", s.group_kind.label(), m.label()),
                                None => s.group_kind.label().to_owned(),
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
            screener_now: screeners
                .iter()
                .find(|(_, _, now)| *now)
                .map(|(_, name, _)| name.clone())
                .unwrap_or_default(),
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
            typed: fields.iter().cloned().collect(),
            errors: by_field(errors),
        },
    ))
}

/// Renders the referral again with the refusal explained (status 422), or fails.
pub(super) async fn refused(
    app: &App,
    signed: &Signed,
    id: i64,
    fields: &[(String, String)],
    what: &str,
    e: AppError,
) -> Result<Response, PageError> {
    let errors = field_errors(&e);
    let why = refusal(e)?;
    let chosen = chosen(fields).ok().flatten();
    render_referral(
        app,
        signed,
        id,
        chosen,
        fields,
        &errors,
        vec![format!("{what}: {why}")],
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub(super) fn done(id: i64, ok: &str) -> Response {
    Redirect::to(&format!("/referrals/{id}?ok={ok}")).into_response()
}

/// Back to the referral, still working with the chosen client record when it is not linked.
pub(super) fn done_with(id: i64, ok: &str, fields: &[(String, String)]) -> Response {
    match chosen(fields) {
        Ok(Some(c)) => {
            Redirect::to(&format!("/referrals/{id}?ok={ok}&client={}", c.0)).into_response()
        }
        _ => done(id, ok),
    }
}

pub(super) async fn transition(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<TransitionForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = match form.into_parsed() {
        Ok(f) => {
            let t = NewTransition {
                to: f.to,
                reason: f.reason,
                client_id: f.client_id,
            };
            app.transition_referral(&signed.actor, id, &t)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done(id, "moved")),
        Err(e) => refused(&app, &signed, id, &fields, "The referral was not moved", e).await,
    }
}

/// A move of a referral: the state to move to, why, and the client record chosen before
/// the referral is linked.
#[derive(Deserialize)]
pub(super) struct TransitionForm {
    to: ReferralState,
    reason: Option<ShortText>,
    #[serde(default, deserialize_with = "crate::pages::form::optional_choice")]
    client_id: Option<ClientId>,
}

/// The screener, picked by name ([`crate::pages::picker`]); empty for nobody yet.
#[derive(Deserialize)]
pub(super) struct ScreenerForm {
    #[serde(default, deserialize_with = "crate::pages::form::optional_choice")]
    screener_id: Option<ClinicianId>,
}

/// Assigns the clinician who screens the referral ("" clears it).
pub(super) async fn assign_screener(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<ScreenerForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let mut resolved = fields.clone();
    crate::pages::picker::resolve_clinicians(&app, &signed.actor, &mut resolved, &["screener_id"])
        .await;
    let result = match form.reparse(resolved).into_parsed() {
        Ok(f) => app
            .assign_screener(&signed.actor, id, f.screener_id)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(done_with(id, "screener", &fields)),
        Err(e) => refused(&app, &signed, id, &fields, "The screener was not saved", e).await,
    }
}

/// The client record as intake completes it from the request. `time` repeats, one value
/// per ticked cell of the weekly grid.
#[derive(Deserialize)]
pub(super) struct NewClientFields {
    record_number: RecordNumber,
    given_name: PersonName,
    family_name: PersonName,
    date_of_birth: Day,
    email: Option<Email>,
    phone: Option<Phone>,
    time: Vec<GridCell>,
}

/// Creates the client record from the request (what the person wrote, checked and
/// completed by intake), then works with it on the referral: it is linked when the person
/// is placed or waitlisted.
pub(super) async fn create_client(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<NewClientFields>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = async {
        let r = app.referral(&signed.actor, id).await?;
        if r.client_id.is_some() {
            return Err(AppError::Domain(DomainError::conflict(
                Rule::IllegalTransition,
                "this referral is already linked to a client record",
            )));
        }
        let f = form.into_parsed()?;
        let new = circle_domain::client::NewClient {
            record_number: f.record_number,
            given_name: f.given_name,
            family_name: f.family_name,
            preferred_name: None,
            date_of_birth: f.date_of_birth.0,
            email: f.email,
            phone: f.phone,
            concerns: vec![],
            // The grid starts from the times the person ticked; intake completes it.
            availability: f.time.iter().map(|t| t.0.window()).collect(),
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

/// An admission: the level of care, its program (optional) and the first day.
#[derive(Deserialize)]
pub(super) struct EpisodeForm {
    level_of_care: LevelOfCare,
    #[serde(default, deserialize_with = "optional_choice")]
    program_id: Option<ProgramId>,
    started_on: Day,
}

/// Opens the client's episode at a level of care (admission): intake admits
/// (DESIGN.md's role table), through the same service and gate as the API.
pub(super) async fn open_episode(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<EpisodeForm>,
) -> Result<Response, PageError> {
    let fields = form.fields().to_vec();
    let result = async {
        let client = linked_client(&app, &signed, id, &fields).await?;
        let f = form.into_parsed()?;
        let next = circle_domain::client::NewEpisode {
            level_of_care: f.level_of_care,
            program_id: f.program_id,
            started_on: f.started_on.0,
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
