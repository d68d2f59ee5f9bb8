//! Notes on the session screen: the group note, each attending member's progress note,
//! signatures and co-signatures, addenda, drafts that save themselves, and the printable
//! sign-in sheet.
//!
//! Every form works without JavaScript ("Save draft" and "Sign" POST and redirect). The one
//! script, `/static/notes.js`, only sends a form's draft to the same endpoint while the
//! clinician types (`action=autosave`, answered with JSON), so a session that expires after
//! 15 idle minutes loses nothing already typed before the last save (issue 5, "Sign-in").
//!
//! The check for other members' names is the service's (a member's chart may be released
//! to them or an insurer): a refused signature shows which of the other members, by the
//! roster name the facilitator already sees, appear in the text, and nothing is signed
//! until the text is fixed or the author confirms the words are not about those members
//! (the domain's `confirm_names_checked`, recorded on the note).

use std::collections::HashMap;

use askama::Template;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::purpose;
use circle_app::{App, AppError};
use circle_domain::group::Group;
use circle_domain::ids::{ClientId, ClinicianId, NoteId, SessionId};
use circle_domain::note::{
    Addendum, CosignNote, GroupNoteBody, GroupNoteInput, NewAddendum, NoteMeta, NoteState,
    ProgressNote, ProgressNoteBody, ProgressNoteInput, SignNote, find_names,
};
use circle_domain::session::{RosterEntry, Session, SessionStatus};
use circle_domain::text::{NoteText, ShortText};
use circle_domain::{DomainError, Rule};
use serde::Deserialize;
use serde_json::json;

use super::form::{Filled, PageForm};
use super::{Nav, PageError, Signed, explain, html};

const SCRIPT: &str = include_str!("../../static/notes.js");

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/static/notes.js", get(script))
        .route("/sessions/{id}/group-note", post(save_group))
        .route("/sessions/{id}/group-note/cosign", post(cosign_group))
        .route("/sessions/{id}/group-note/addenda", post(addendum_group))
        .route("/sessions/{id}/notes/{client}", post(save_progress))
        .route("/notes/{id}/cosign", post(cosign_progress))
        .route("/notes/{id}/addenda", post(addendum_progress))
        .route("/sessions/{id}/sign-in-sheet", get(sign_in_sheet))
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

// --- What the session screen shows ---

/// Which note a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Group,
    Member(i64),
}

/// A refusal to show at its note, with the form the clinician posted (and each field's
/// error by it) when it was not saved.
#[derive(Default)]
pub struct Feedback {
    target: Option<Target>,
    message: Option<String>,
    /// The signature was refused for other members' names: list those on the roster.
    name_check: bool,
    /// The service's count of names and the fields they are in, for names this roster
    /// does not show (a family name, a given name behind a preferred one).
    name_detail: Option<String>,
    /// The form as posted, with its fields' errors, when what was typed was not saved.
    filled: Option<Filled>,
}

impl Feedback {
    /// A refusal at `target` that keeps nothing typed (a signature, a co-signature).
    fn at_note(target: Target) -> Self {
        Feedback {
            target: Some(target),
            ..Feedback::default()
        }
    }

    /// A refused form at `target`, shown again as it was typed.
    fn form(target: Target, filled: Filled) -> Self {
        Feedback {
            target: Some(target),
            filled: Some(filled),
            ..Feedback::default()
        }
    }

    fn at(&self, target: Target) -> bool {
        self.target == Some(target)
    }

    /// The text posted for `field`, when the refused form had that field.
    fn posted(&self, field: &str) -> Option<String> {
        self.filled
            .as_ref()
            .filter(|f| f.has(field))
            .map(|f| f.value(field).replace("\r\n", "\n"))
    }

    /// The error of the refused form's `field` at `target`.
    fn error(&self, target: Target, field: &str) -> Option<String> {
        self.filled
            .as_ref()
            .filter(|_| self.at(target))
            .and_then(|f| f.error(field))
    }
}

pub struct NoteField {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// Why the value typed was refused, shown by the field.
    pub error: Option<String>,
    /// A one-line input rather than a text area.
    pub short: bool,
}

pub struct Choice {
    pub id: i64,
    pub name: String,
    pub checked: bool,
}

pub struct AddendumView {
    pub by: String,
    pub at: String,
    pub text: String,
}

pub struct NoteView {
    pub anchor: String,
    /// The member a progress note is about (empty for the group note).
    pub client: String,
    pub title: String,
    pub action: String,
    pub version: String,
    pub state: &'static str,
    pub state_key: &'static str,
    pub editable: bool,
    pub can_sign: bool,
    pub lines: Vec<String>,
    pub fields: Vec<NoteField>,
    pub facilitators: Vec<Choice>,
    pub cosign_action: Option<String>,
    pub addendum_action: Option<String>,
    pub addenda: Vec<AddendumView>,
    pub addendum_text: String,
    pub addendum_error: Option<String>,
    /// Why the facilitators ticked were refused.
    pub facilitators_error: Option<String>,
    pub message: Option<String>,
    pub names: Vec<String>,
    pub confirm: bool,
}

pub struct NotesView {
    pub notice: Option<String>,
    pub notes: Vec<NoteView>,
    /// Roster names of members with no progress note to write (not recorded as attending).
    pub absent: Vec<String>,
}

const GROUP_FIELDS: [(&str, &str); 3] = [
    ("topic", "Topic covered"),
    ("themes", "Themes"),
    ("interventions", "Interventions"),
];

const PROGRESS_FIELDS: [(&str, &str); 4] = [
    ("presentation", "Presentation"),
    ("participation", "Participation"),
    ("progress", "Progress toward goals"),
    ("plan", "Plan"),
];

fn state_label(state: Option<NoteState>) -> (&'static str, &'static str) {
    match state {
        None => ("Not started", "none"),
        Some(NoteState::Draft) => ("Draft", "draft"),
        Some(NoteState::AwaitingCosign) => ("Awaiting co-signature", "awaiting"),
        Some(NoteState::Signed) => ("Signed", "signed"),
    }
}

/// An instant as the clinic reads it ("Mon 4 May, 14:05").
fn local(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

/// Staff names, looked up once per page.
struct Clinicians<'a> {
    app: &'a App,
    signed: &'a Signed,
    names: HashMap<ClinicianId, String>,
}

impl Clinicians<'_> {
    async fn name(&mut self, id: ClinicianId) -> Result<String, PageError> {
        if let Some(n) = self.names.get(&id) {
            return Ok(n.clone());
        }
        let c = self.app.clinician(&self.signed.actor, id).await?;
        let n = format!("{} {}", c.given_name, c.family_name);
        self.names.insert(id, n.clone());
        Ok(n)
    }
}

/// The first name a roster line shows ("Jordan" of "Jordan R.").
fn roster_first(display: &str) -> &str {
    display.rsplit_once(' ').map_or(display, |(first, _)| first)
}

/// The notes part of the session screen, or `None` for roles that never see notes.
pub(super) async fn session_notes(
    app: &App,
    signed: &Signed,
    session: &Session,
    group: &Group,
    roster: &[RosterEntry],
    feedback: Feedback,
) -> Result<Option<NotesView>, PageError> {
    if !signed.actor.may::<purpose::NoteList>() {
        return Ok(None);
    }
    if session.status == SessionStatus::Cancelled {
        return Ok(Some(NotesView {
            notice: Some("The session was cancelled: it has no notes.".to_owned()),
            notes: vec![],
            absent: vec![],
        }));
    }
    if session.starts_at > app.now() {
        return Ok(Some(NotesView {
            notice: Some("Notes can be written once the session has started.".to_owned()),
            notes: vec![],
            absent: vec![],
        }));
    }
    let group_note = match app.group_note(&signed.actor, session.id).await {
        Ok(n) => Some(n),
        Err(AppError::Domain(DomainError::NotFound { .. })) => None,
        Err(AppError::Domain(DomainError::Forbidden)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let progress = app.progress_notes(&signed.actor, session.id).await?;
    let me = signed.actor.clinician_id();
    let mut staff = Clinicians {
        app,
        signed,
        names: HashMap::new(),
    };
    let sid = session.id.0;
    let mut notes = vec![];

    // The group note.
    let target = Target::Group;
    let mut view = note_view(
        app,
        &mut staff,
        me,
        group_note.as_ref().map(|n| &n.meta),
        "group-note".to_owned(),
        "Group note".to_owned(),
        format!("/sessions/{sid}/group-note"),
        format!("/sessions/{sid}/group-note/cosign"),
        format!("/sessions/{sid}/group-note/addenda"),
        &feedback,
        target,
    )
    .await?;
    let body = group_note.as_ref().map(|n| &n.body);
    view.fields = GROUP_FIELDS
        .iter()
        .map(|(name, label)| {
            let saved = body.map_or_else(
                || {
                    if *name == "topic" {
                        session
                            .topic
                            .as_ref()
                            .map_or(String::new(), |t| t.to_string())
                    } else {
                        String::new()
                    }
                },
                |b| {
                    b.fields()
                        .iter()
                        .find(|(f, _)| f == name)
                        .map_or(String::new(), |(_, v)| (*v).to_owned())
                },
            );
            NoteField {
                name,
                label,
                value: posted_or(&feedback, target, name, saved),
                error: feedback.error(target, name),
                short: *name == "topic",
            }
        })
        .collect();
    let mut ids: Vec<ClinicianId> = vec![group.lead_facilitator_id];
    ids.extend(group.co_facilitator_id);
    ids.extend(session.facilitators_present.iter().copied());
    if let Some(b) = body {
        ids.extend(b.facilitators.iter().copied());
    }
    let mut seen = vec![];
    let chosen: Vec<ClinicianId> = match body {
        Some(b) => b.facilitators.clone(),
        None if session.facilitators_present.is_empty() => {
            std::iter::once(group.lead_facilitator_id)
                .chain(group.co_facilitator_id)
                .collect()
        }
        None => session.facilitators_present.clone(),
    };
    let posted_choice: Option<Vec<i64>> = feedback
        .filled
        .as_ref()
        .filter(|_| feedback.at(target))
        .map(|f| {
            f.values("facilitator")
                .into_iter()
                .filter_map(|v| v.trim().parse().ok())
                .collect()
        });
    view.facilitators_error = feedback.error(target, "facilitator");
    for id in ids {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        view.facilitators.push(Choice {
            id: id.0,
            name: staff.name(id).await?,
            checked: posted_choice
                .as_ref()
                .map_or(chosen.contains(&id), |p| p.contains(&id.0)),
        });
    }
    notes.push(view);

    // Each attending member's progress note, in roster order.
    // The roster's names, read only when a signature was refused for names.
    let words = if feedback.name_check {
        app.roster_name_words(&signed.actor, session.id).await?
    } else {
        vec![]
    };
    let others: Vec<RosterWords<'_>> = roster
        .iter()
        .map(|r| RosterWords {
            id: r.client_id,
            display: &r.display_name,
            words: words.iter().find(|(c, _)| *c == r.client_id).map_or_else(
                || vec![roster_first(&r.display_name).to_owned()],
                |(_, w)| w.clone(),
            ),
        })
        .collect();
    let mut absent = vec![];
    for r in roster {
        let c = r.client_id.0;
        let note = progress.iter().find(|n| n.client_id == r.client_id);
        let attended = r.attendance.as_ref().is_some_and(|a| a.status.attended());
        if !attended && note.is_none() {
            absent.push(r.display_name.clone());
            continue;
        }
        let target = Target::Member(c);
        let mut view = note_view(
            app,
            &mut staff,
            me,
            note.map(|n| &n.meta),
            format!("note-{c}"),
            format!("Progress note: {}", r.display_name),
            format!("/sessions/{sid}/notes/{c}"),
            note.map_or(String::new(), |n| format!("/notes/{}/cosign", n.meta.id.0)),
            note.map_or(String::new(), |n| format!("/notes/{}/addenda", n.meta.id.0)),
            &feedback,
            target,
        )
        .await?;
        view.fields = PROGRESS_FIELDS
            .iter()
            .map(|(name, label)| {
                let saved = note.map_or(String::new(), |n| {
                    n.body
                        .fields()
                        .iter()
                        .find(|(f, _)| f == name)
                        .map_or(String::new(), |(_, v)| (*v).to_owned())
                });
                NoteField {
                    name,
                    label,
                    value: posted_or(&feedback, target, name, saved),
                    error: feedback.error(target, name),
                    short: false,
                }
            })
            .collect();
        if feedback.at(target) && feedback.name_check {
            if let Some(n) = note {
                view.names = names_found(n, &others);
            }
            if view.names.is_empty()
                && let Some(detail) = &feedback.name_detail
            {
                view.names.push(format!(
                    "Names this roster does not show: {detail} (look for other members' \
                     last names or given names)"
                ));
            }
            view.confirm = true;
        }
        notes.push(view);
    }
    Ok(Some(NotesView {
        notice: None,
        notes,
        absent,
    }))
}

fn posted_or(feedback: &Feedback, target: Target, field: &str, saved: String) -> String {
    if feedback.at(target) {
        feedback.posted(field).unwrap_or(saved)
    } else {
        saved
    }
}

/// A roster member's names to look for, and the roster name the page shows for them.
struct RosterWords<'a> {
    id: ClientId,
    display: &'a str,
    words: Vec<String>,
}

/// The other members named in a progress note — by given, family or preferred name, a
/// surname after a title ("Ms. Pryce") included — listed by the roster name the page
/// already shows, with the fields they were found in.
fn names_found(note: &ProgressNote, roster: &[RosterWords<'_>]) -> Vec<String> {
    let fields = note.body.fields();
    let own: Vec<String> = roster
        .iter()
        .filter(|r| r.id == note.client_id)
        .flat_map(|r| r.words.iter().cloned())
        .collect();
    let label = |f: &str| {
        PROGRESS_FIELDS
            .iter()
            .find(|(n, _)| *n == f)
            .map_or(f, |(_, l)| l)
            .to_owned()
    };
    roster
        .iter()
        .filter(|r| r.id != note.client_id)
        .filter_map(|r| {
            let hits = find_names(&fields, &r.words, &own);
            (!hits.is_empty()).then(|| {
                let wheres: Vec<String> = hits.fields.iter().map(|f| label(f)).collect();
                format!("{} (in {})", r.display, wheres.join(", "))
            })
        })
        .collect()
}

#[allow(
    clippy::too_many_arguments,
    reason = "one note's facts: which, where its forms post, and the message for it"
)]
async fn note_view(
    app: &App,
    staff: &mut Clinicians<'_>,
    me: Option<ClinicianId>,
    meta: Option<&NoteMeta>,
    anchor: String,
    title: String,
    action: String,
    cosign: String,
    addendum: String,
    feedback: &Feedback,
    target: Target,
) -> Result<NoteView, PageError> {
    let state = meta.map(|m| m.state);
    let (label, key) = state_label(state);
    let writer = me.is_some();
    let mut lines = vec![];
    let mut addenda = vec![];
    if let Some(m) = meta {
        let author = staff.name(m.author_clinician_id).await?;
        match m.state {
            NoteState::Draft => lines.push(format!("Draft by {author}.")),
            NoteState::AwaitingCosign => lines.push(format!(
                "Signed by {author}, a supervised trainee; it needs a licensed clinician's \
                 co-signature."
            )),
            NoteState::Signed => lines.push(match m.signed_at {
                Some(at) => format!("Signed by {author} on {}.", local(app, at)),
                None => format!("Signed by {author}."),
            }),
        }
        if let (Some(by), Some(at)) = (m.cosigned_by, m.cosigned_at) {
            lines.push(format!(
                "Co-signed by {} on {}.",
                staff.name(by).await?,
                local(app, at)
            ));
        }
        if m.names_check_confirmed {
            lines.push(
                "The author confirmed that names found in the text are not about other members."
                    .to_owned(),
            );
        }
        for a in &m.addenda {
            addenda.push(addendum_view(app, staff, a).await?);
        }
    }
    let editable = writer && state.is_none_or(|s| s == NoteState::Draft);
    let author_is_me = meta.is_none_or(|m| Some(m.author_clinician_id) == me);
    let cosign_action = meta
        .filter(|m| {
            m.state == NoteState::AwaitingCosign && writer && Some(m.author_clinician_id) != me
        })
        .map(|_| cosign);
    let addendum_action = meta
        .filter(|m| m.state == NoteState::Signed && writer)
        .map(|_| addendum);
    let here = feedback.at(target);
    Ok(NoteView {
        client: match target {
            Target::Group => String::new(),
            Target::Member(c) => c.to_string(),
        },
        anchor,
        title,
        action,
        version: meta.map_or(String::new(), |m| m.version.to_string()),
        state: label,
        state_key: key,
        editable,
        can_sign: editable && author_is_me,
        lines,
        fields: vec![],
        facilitators: vec![],
        cosign_action,
        addendum_action,
        addenda,
        addendum_text: if here {
            feedback.posted("text").unwrap_or_default()
        } else {
            String::new()
        },
        addendum_error: feedback.error(target, "text"),
        facilitators_error: None,
        message: if here { feedback.message.clone() } else { None },
        names: vec![],
        confirm: false,
    })
}

async fn addendum_view(
    app: &App,
    staff: &mut Clinicians<'_>,
    a: &Addendum,
) -> Result<AddendumView, PageError> {
    Ok(AddendumView {
        by: staff.name(a.author_clinician_id).await?,
        at: local(app, a.signed_at),
        text: a.text.as_str().to_owned(),
    })
}

// --- Saving, signing, co-signing, addenda ---

/// What a note form's button asks; none is "Save draft".
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum NoteAction {
    Save,
    Sign,
    /// The script's save while the clinician types, answered with JSON.
    Autosave,
}

/// Whether the script posted the form: its answer is JSON even when the form cannot be
/// read (as the extractor's answer to an expired form is).
fn is_autosave(fields: &[(String, String)]) -> bool {
    fields.iter().any(|(k, v)| k == "action" && v == "autosave")
}

/// The group note's form: its texts, the facilitators ticked, and the draft's version (none
/// for a note not started).
#[derive(Deserialize)]
pub struct GroupNoteForm {
    action: Option<NoteAction>,
    version: Option<i64>,
    topic: Option<ShortText>,
    themes: NoteText,
    interventions: NoteText,
    #[serde(deserialize_with = "super::form::choices")]
    facilitator: Vec<ClinicianId>,
}

/// A member's progress note form.
#[derive(Deserialize)]
pub struct ProgressNoteForm {
    action: Option<NoteAction>,
    version: Option<i64>,
    presentation: NoteText,
    participation: NoteText,
    progress: NoteText,
    plan: NoteText,
    /// The author checked that names found are not about other members.
    confirm_names_checked: bool,
}

/// A co-signature: the version of the note the co-signer read.
#[derive(Deserialize)]
pub struct CosignForm {
    version: i64,
}

/// An addendum to a signed note.
#[derive(Deserialize)]
pub struct AddendumForm {
    text: NoteText,
}

/// The session and member a progress note's form came from (hidden fields, only to draw
/// the session screen again after a refusal; the service checks the note itself).
#[derive(Deserialize)]
struct NoteOrigin {
    session: SessionId,
    client: ClientId,
}

fn note_origin(fields: &[(String, String)]) -> Result<NoteOrigin, PageError> {
    super::form::parse(fields).map_err(|_| PageError::NotFound)
}

/// A field of the note forms as the page labels it.
fn field_label(name: &str) -> String {
    match name {
        "text" => "Addendum".to_owned(),
        "facilitator" => "Facilitators".to_owned(),
        _ => GROUP_FIELDS
            .iter()
            .chain(PROGRESS_FIELDS.iter())
            .find(|(n, _)| *n == name)
            .map_or_else(|| super::vocab::field(name), |(_, l)| (*l).to_owned()),
    }
}

/// What the clinician reads for a refusal: the rule's explanation, in page words for the
/// rules whose service wording names API fields.
fn refusal(e: &AppError) -> String {
    match e {
        AppError::Domain(d) if d.rule() == Some(Rule::OtherMembersNamed) => {
            "Not signed: this note names other members of the group. A member's notes may be \
             released to them or to their insurer, so remove the names below and sign again. \
             If the words are not about those members, tick the box below to sign anyway."
                .to_owned()
        }
        AppError::Domain(DomainError::Invalid(fields)) => {
            let each: Vec<String> = fields
                .0
                .iter()
                .map(|f| format!("{}: {}", field_label(&f.field), f.message))
                .collect();
            format!("Not saved: {}.", each.join("; "))
        }
        AppError::Domain(d) if d.rule() == Some(Rule::StaleVersion) => {
            "Not saved: this note was changed elsewhere since this page was loaded. Your text \
             is kept below; check it against the latest and save again."
                .to_owned()
        }
        e => explain(e),
    }
}

/// An autosave's answer: JSON the script reads.
fn autosave_answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn autosave_refused(e: &AppError) -> Response {
    let status = match e {
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        AppError::Domain(DomainError::Forbidden | DomainError::Unauthenticated) => {
            StatusCode::FORBIDDEN
        }
        AppError::Domain(DomainError::NotFound { .. }) => StatusCode::NOT_FOUND,
        AppError::Domain(DomainError::Invalid(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        AppError::Domain(_) => StatusCode::CONFLICT,
    };
    if let AppError::Internal(cause) = e {
        tracing::error!(cause = %cause, "autosaving a note failed");
    }
    autosave_answer(status, json!({ "error": refusal(e) }))
}

/// The autosave script's answer to a saved draft: its new version and the clinic time.
fn autosave_saved(app: &App, version: i64) -> Response {
    let at = app
        .now()
        .to_zoned(app.clinic_time_zone().clone())
        .strftime("%H:%M:%S")
        .to_string();
    autosave_answer(StatusCode::OK, json!({"version": version, "saved_at": at}))
}

/// The session screen again, with the refusal at its note.
async fn refused(
    app: &App,
    signed: &Signed,
    session: SessionId,
    e: AppError,
    feedback: Feedback,
) -> Result<Response, PageError> {
    if let AppError::Internal(cause) = &e {
        tracing::error!(cause = %cause, "a note change failed");
        return Err(PageError::Internal);
    }
    if matches!(
        e,
        AppError::Domain(
            DomainError::Forbidden | DomainError::Unauthenticated | DomainError::NotFound { .. }
        )
    ) {
        return Err(e.into());
    }
    let name_check = matches!(&e, AppError::Domain(d) if d.rule() == Some(Rule::OtherMembersNamed));
    // The service's sentence up to its advice, which speaks of API fields.
    let name_detail = match &e {
        AppError::Domain(DomainError::Conflict(c)) if name_check => {
            c.message.split(". Remove").next().map(str::to_owned)
        }
        _ => None,
    };
    let mut feedback = Feedback {
        message: Some(refusal(&e)),
        name_check,
        name_detail,
        ..feedback
    };
    // Each field's rule by its field too; the service names the facilitators' list
    // (`facilitators`, `facilitators/1`) where the form has its boxes (`facilitator`).
    if let (AppError::Domain(DomainError::Invalid(errors)), Some(filled)) =
        (&e, feedback.filled.as_mut())
    {
        let mut errors = errors.clone();
        for f in &mut errors.0 {
            if f.field.starts_with("facilitators") {
                f.field = "facilitator".to_owned();
            }
        }
        filled.field_errors(errors);
    }
    super::sessions::render_session(
        app,
        signed,
        session,
        vec!["A note was not saved or signed; the reason is shown at the note.".to_owned()],
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
        feedback,
        None,
    )
    .await
}

fn back(session: i64, done: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/sessions/{session}?note={done}#{anchor}")).into_response()
}

/// Whether a sign-in was a signature that then awaits a co-signature.
fn signed_word(state: NoteState) -> &'static str {
    if state == NoteState::AwaitingCosign {
        "awaiting"
    } else {
        "signed"
    }
}

/// Saves the group note's draft and, for "Sign", signs it; `action=autosave` (the script)
/// only saves and answers JSON.
async fn save_group(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<GroupNoteForm>,
) -> Result<Response, PageError> {
    let session = SessionId(id);
    let autosave = is_autosave(form.fields());
    let (parsed, filled) = form.into_parts();
    let mut action = NoteAction::Save;
    let saved = match parsed {
        Err(errors) => Err(AppError::Domain(DomainError::Invalid(errors))),
        Ok(f) => {
            action = f.action.unwrap_or(NoteAction::Save);
            let body = GroupNoteBody {
                topic: f.topic,
                themes: f.themes,
                interventions: f.interventions,
                facilitators: f.facilitator,
            };
            let input = GroupNoteInput {
                version: f.version,
                body,
            };
            app.save_group_note(&signed.actor, session, &input).await
        }
    };
    let note = match saved {
        Ok(n) => n,
        Err(e) if autosave => return Ok(autosave_refused(&e)),
        Err(e) => {
            let fb = Feedback::form(Target::Group, filled);
            return refused(&app, &signed, session, e, fb).await;
        }
    };
    if autosave {
        return Ok(autosave_saved(&app, note.meta.version));
    }
    if action != NoteAction::Sign {
        return Ok(back(id, "saved", "group-note"));
    }
    let req = SignNote {
        version: note.meta.version,
        confirm_names_checked: false,
    };
    match app.sign_group_note(&signed.actor, session, &req).await {
        Ok(n) => Ok(back(id, signed_word(n.meta.state), "group-note")),
        Err(e) => refused(&app, &signed, session, e, Feedback::at_note(Target::Group)).await,
    }
}

/// Saves a member's progress note draft and, for "Sign", signs it (the name check may
/// refuse); `action=autosave` only saves and answers JSON.
async fn save_progress(
    State(app): State<App>,
    signed: Signed,
    Path((id, client)): Path<(i64, i64)>,
    form: PageForm<ProgressNoteForm>,
) -> Result<Response, PageError> {
    let session = SessionId(id);
    let target = Target::Member(client);
    let anchor = format!("note-{client}");
    let autosave = is_autosave(form.fields());
    let (parsed, filled) = form.into_parts();
    let mut sign = None;
    let saved = match parsed {
        Err(errors) => Err(AppError::Domain(DomainError::Invalid(errors))),
        Ok(f) => {
            if f.action == Some(NoteAction::Sign) {
                sign = Some(f.confirm_names_checked);
            }
            let input = ProgressNoteInput {
                version: f.version,
                body: ProgressNoteBody {
                    presentation: f.presentation,
                    participation: f.participation,
                    progress: f.progress,
                    plan: f.plan,
                },
            };
            app.save_progress_note(&signed.actor, session, ClientId(client), &input)
                .await
        }
    };
    let note = match saved {
        Ok(n) => n,
        Err(e) if autosave => return Ok(autosave_refused(&e)),
        Err(e) => return refused(&app, &signed, session, e, Feedback::form(target, filled)).await,
    };
    if autosave {
        return Ok(autosave_saved(&app, note.meta.version));
    }
    let Some(confirm_names_checked) = sign else {
        return Ok(back(id, "saved", &anchor));
    };
    let req = SignNote {
        version: note.meta.version,
        confirm_names_checked,
    };
    match app
        .sign_progress_note(&signed.actor, note.meta.id, &req)
        .await
    {
        Ok(n) => Ok(back(id, signed_word(n.meta.state), &anchor)),
        Err(e) => refused(&app, &signed, session, e, Feedback::at_note(target)).await,
    }
}

async fn cosign_group(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<CosignForm>,
) -> Result<Response, PageError> {
    let session = SessionId(id);
    let cosigned = match form.into_parsed() {
        Ok(f) => {
            let req = CosignNote { version: f.version };
            app.cosign_group_note(&signed.actor, session, &req)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match cosigned {
        Ok(()) => Ok(back(id, "cosigned", "group-note")),
        Err(e) => refused(&app, &signed, session, e, Feedback::at_note(Target::Group)).await,
    }
}

/// The addendum's text, refused when empty (the domain's rule) before the service is asked.
fn addendum(
    parsed: Result<AddendumForm, circle_domain::FieldErrors>,
) -> Result<NewAddendum, AppError> {
    let new = NewAddendum {
        text: parsed
            .map_err(|e| AppError::Domain(DomainError::Invalid(e)))?
            .text,
    };
    new.validate()?;
    Ok(new)
}

async fn addendum_group(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<AddendumForm>,
) -> Result<Response, PageError> {
    let session = SessionId(id);
    let (parsed, filled) = form.into_parts();
    let added = match addendum(parsed) {
        Ok(new) => app
            .add_group_addendum(&signed.actor, session, &new)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match added {
        Ok(()) => Ok(back(id, "addendum", "group-note")),
        Err(e) => {
            refused(
                &app,
                &signed,
                session,
                e,
                Feedback::form(Target::Group, filled),
            )
            .await
        }
    }
}

async fn cosign_progress(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<CosignForm>,
) -> Result<Response, PageError> {
    let origin = note_origin(form.fields())?;
    let cosigned = match form.into_parsed() {
        Ok(f) => {
            let req = CosignNote { version: f.version };
            app.cosign_progress_note(&signed.actor, NoteId(id), &req)
                .await
        }
        Err(e) => Err(e),
    };
    match cosigned {
        Ok(n) => Ok(back(
            n.meta.session_id.0,
            "cosigned",
            &format!("note-{}", n.client_id.0),
        )),
        Err(e) => {
            let fb = Feedback::at_note(Target::Member(origin.client.0));
            refused(&app, &signed, origin.session, e, fb).await
        }
    }
}

async fn addendum_progress(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<AddendumForm>,
) -> Result<Response, PageError> {
    let origin = note_origin(form.fields())?;
    let (parsed, filled) = form.into_parts();
    let added = match addendum(parsed) {
        Ok(new) => {
            app.add_progress_addendum(&signed.actor, NoteId(id), &new)
                .await
        }
        Err(e) => Err(e),
    };
    match added {
        Ok(n) => Ok(back(
            n.meta.session_id.0,
            "addendum",
            &format!("note-{}", n.client_id.0),
        )),
        Err(e) => {
            let fb = Feedback::form(Target::Member(origin.client.0), filled);
            refused(&app, &signed, origin.session, e, fb).await
        }
    }
}

/// The status line after a note change (`?note=` on the session screen).
pub(super) fn done_message(done: &str) -> Option<String> {
    Some(
        match done {
            "saved" => "Draft saved.",
            "signed" => "Note signed. It is now locked; amend it with an addendum.",
            "awaiting" => "Note signed. It now waits for a licensed clinician's co-signature.",
            "cosigned" => "Note co-signed.",
            "addendum" => "Addendum added.",
            _ => return None,
        }
        .to_owned(),
    )
}

// --- The sign-in sheet ---

#[derive(Template)]
#[template(path = "notes_sign_in_sheet.html")]
struct SheetPage {
    nav: Option<Nav>,
    id: i64,
    group: String,
    when: String,
    names: Vec<String>,
}

/// A printable sheet for the session: the roster by preferred first name and last initial,
/// and an empty signature column. Nothing else about the members.
async fn sign_in_sheet(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let session = app.session(&signed.actor, SessionId(id)).await?;
    let roster = app.roster(&signed.actor, SessionId(id)).await?;
    let group = app.group(&signed.actor, session.group_id).await?;
    let tz = app.clinic_time_zone();
    let when = format!(
        "{}–{}",
        session
            .starts_at
            .to_zoned(tz.clone())
            .strftime("%A %-d %B %Y, %H:%M"),
        session.ends_at.to_zoned(tz.clone()).strftime("%H:%M")
    );
    Ok(html(
        StatusCode::OK,
        SheetPage {
            nav: Some(signed.nav()),
            id,
            group: group.name.to_string(),
            when,
            names: roster.into_iter().map(|r| r.display_name).collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roster_first_name_drops_the_initial() {
        assert_eq!(roster_first("Jordan R."), "Jordan");
        assert_eq!(roster_first("Mary Ann K."), "Mary Ann");
        assert_eq!(roster_first("Solo"), "Solo");
    }

    #[test]
    fn refusals_for_names_speak_page_words_not_api_fields() {
        let e = AppError::Domain(DomainError::conflict(
            Rule::OtherMembersNamed,
            "1 name ... sign with confirm_names_checked: true",
        ));
        let text = refusal(&e);
        assert!(text.contains("names other members"), "{text}");
        assert!(!text.contains("confirm_names_checked"), "{text}");
    }
}
