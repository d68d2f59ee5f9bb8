//! Administration: users (create with a role and its link, change role, disable and
//! enable, reset the second factor, set a temporary password), the audit report with
//! filters, and the emergency-access review.
//!
//! The services decide who may: accounts are administrators' only; the audit report and
//! the emergency-access review are also open to clinic-wide directors (the service shows
//! directors the reasons and administrators only the facts), not to a director scoped to
//! some programs. A director's programs are linked on the user page. A refused change is the page again with
//! status 422 and the field and its rule; nothing typed is echoed except the form's own
//! non-secret fields (never a password).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use circle_app::accounts::{AccountPatch, NewAccount};
use circle_app::audit_types::{AuditQuery, AuditSort};
use circle_app::{App, AppError};
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, ClinicianId, ProgramId, UserId};
use circle_domain::text::{Email, RecordNumber};
use circle_domain::user::Role;
use serde::Deserialize;
use std::collections::HashMap;

use super::form::{Answer, Button, FieldView, Filled, PageForm, Untrimmed, after_post, again};
use super::vocab::Label;
use super::{Nav, PageError, Signed, explain, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/admin", get(users))
        .route("/admin/users", post(create_user))
        .route("/admin/users/{id}/role", post(change_role))
        .route("/admin/users/{id}/disable", post(disable))
        .route("/admin/users/{id}/enable", post(enable))
        .route("/admin/users/{id}/mfa-reset", post(reset_mfa))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/users/{id}/programs", post(set_programs))
        .route("/admin/audit", get(audit))
        .route("/admin/emergency-access", get(emergency))
}

/// An instant in the clinic's time zone, written the one way pages write it.
fn local(app: &App, t: jiff::Timestamp) -> String {
    super::vocab::when(app.clinic_time_zone(), t)
}

// Users.

struct UserRow {
    id: i64,
    email: String,
    /// The role's code (the change form's chosen option) and its words (what is shown).
    role: &'static str,
    role_label: &'static str,
    link: String,
    mfa: bool,
    disabled: bool,
    /// For a director: every program, and whether the director is linked to it.
    programs: Option<Vec<ProgramChoice>>,
    /// For a director: set to reach the whole clinic.
    clinic_wide: bool,
}

/// A program offered as a director's link.
struct ProgramChoice {
    id: i64,
    name: String,
    linked: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    rows: Vec<UserRow>,
    roles: Vec<(&'static str, &'static str)>,
    /// The clinician records to link a new account to, by name.
    clinicians: Vec<ClinicianChoice>,
    /// The create form as typed (never the password) and its fields' errors.
    form: CreateForm,
    messages: Vec<String>,
    done: Option<&'static str>,
}

/// The create form's fields as drawn: each value typed and its error, and every error
/// in words at the top.
#[derive(Default)]
struct CreateForm {
    summary: Vec<String>,
    email: FieldView,
    role: FieldView,
    clinician: FieldView,
    client: FieldView,
    password: FieldView,
}

impl CreateForm {
    fn of(filled: &Filled) -> Self {
        CreateForm {
            summary: filled.summary(),
            email: filled.field("email"),
            role: filled.field("role"),
            clinician: filled.field("clinician_id"),
            client: filled.field("client_id"),
            password: filled.field("password"),
        }
    }
}

/// A clinician record offered in the create form's picker.
struct ClinicianChoice {
    /// "Morgan Ellis", what the picker posts (resolved to the record when the form comes).
    name: String,
    /// "(has an account)" when one is linked already.
    note: &'static str,
}

/// Every clinician record's display name (the staff directory).
async fn clinician_names(
    app: &App,
    signed: &Signed,
) -> Result<std::collections::HashMap<ClinicianId, String>, AppError> {
    let mut clinicians = std::collections::HashMap::new();
    let mut after = 0;
    loop {
        let page = app
            .list_clinicians(&signed.actor, circle_app::PageRequest { after, limit: 200 })
            .await?;
        for c in &page.items {
            clinicians.insert(c.id, format!("{} {}", c.given_name, c.family_name));
        }
        match page.next_after {
            Some(n) => after = n,
            None => break,
        }
    }
    Ok(clinicians)
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

fn done_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "The account was created. Its user enrols a second factor at first sign-in.",
        "role" => "The role was changed; the account's sessions were ended.",
        "disabled" => "The account was disabled; its sessions were ended.",
        "enabled" => "The account was enabled.",
        "mfa" => "The second factor was reset; the user enrols a new one at next sign-in.",
        "password" => {
            "The temporary password was set; the account's sessions were ended. Give it to the user in person."
        }
        "programs" => "The director's programs were saved.",
        _ => return None,
    })
}

async fn users(
    State(app): State<App>,
    signed: Signed,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let done = q.done.as_deref().and_then(done_message);
    users_page(
        &app,
        &signed,
        Filled::default(),
        vec![],
        done,
        StatusCode::OK,
    )
    .await
}

async fn users_page(
    app: &App,
    signed: &Signed,
    form: Filled,
    messages: Vec<String>,
    done: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let accounts = app.user_accounts(&signed.actor).await?;
    let links = app.director_links(&signed.actor).await?;
    let programs = app
        .list_programs(
            &signed.actor,
            circle_app::PageRequest {
                after: 0,
                limit: 200,
            },
        )
        .await?
        .items;
    // Linked clinicians by name (the staff directory); client records by number only: an
    // administrator reads no client's chart, their name included.
    let clinicians = clinician_names(app, signed).await?;
    let mut choices: Vec<ClinicianChoice> = clinicians
        .iter()
        .map(|(id, name)| ClinicianChoice {
            name: name.clone(),
            note: if accounts.iter().any(|a| a.clinician_id == Some(*id)) {
                "has an account"
            } else {
                ""
            },
        })
        .collect();
    choices.sort_by(|a, b| a.name.cmp(&b.name));
    let rows = accounts
        .iter()
        .map(|a| UserRow {
            programs: (a.role == Role::Director).then(|| {
                programs
                    .iter()
                    .map(|p| ProgramChoice {
                        id: p.id.0,
                        name: p.name.as_str().to_owned(),
                        linked: links.contains(&(a.id, p.id)),
                    })
                    .collect()
            }),
            clinic_wide: a.clinic_wide,
            id: a.id.0,
            email: a.email.to_string(),
            role: a.role.as_str(),
            role_label: a.role.label(),
            link: {
                let record = match (a.clinician_id, a.client_id) {
                    (Some(c), _) => Some(match clinicians.get(&c) {
                        Some(name) => format!("clinician {name}"),
                        None => format!("clinician record {}", c.0),
                    }),
                    (_, Some(c)) => Some(format!("client record {}", c.0)),
                    _ => None,
                };
                // A director directs the whole clinic or the programs linked to them.
                let directs = (a.role == Role::Director).then(|| {
                    let names: Vec<&str> = programs
                        .iter()
                        .filter(|p| links.contains(&(a.id, p.id)))
                        .map(|p| p.name.as_str())
                        .collect();
                    if a.clinic_wide {
                        "directs the whole clinic".to_owned()
                    } else if names.is_empty() {
                        "directs no program yet (sees no client)".to_owned()
                    } else {
                        format!("directs {}", names.join(", "))
                    }
                });
                [record, directs]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            mfa: a.mfa_enrolled,
            disabled: a.disabled,
        })
        .collect();
    Ok(html(
        status,
        UsersPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            rows,
            roles: Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect(),
            clinicians: choices,
            form: CreateForm::of(&form),
            messages,
            done,
        },
    ))
}

/// The page again with a refusal explained, or the error page for an internal failure.
async fn refused(
    app: &App,
    signed: &Signed,
    what: &str,
    e: AppError,
) -> Result<Response, PageError> {
    if let AppError::Internal(cause) = e {
        tracing::error!(cause = %cause, "an account change failed");
        return Err(PageError::Internal);
    }
    if matches!(
        e,
        AppError::Domain(circle_domain::DomainError::Forbidden)
            | AppError::Domain(circle_domain::DomainError::Unauthenticated)
    ) {
        return Err(PageError::Forbidden);
    }
    users_page(
        app,
        signed,
        Filled::default(),
        vec![format!("{what}: {}", explain(&e))],
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The create-an-account form. The clinician is picked by name ([`super::picker`]).
#[derive(Deserialize)]
pub struct NewUserForm {
    email: Email,
    role: Role,
    password: Untrimmed,
    #[serde(default, deserialize_with = "super::form::optional_choice")]
    clinician_id: Option<ClinicianId>,
    #[serde(default, deserialize_with = "super::form::optional_choice")]
    client_id: Option<ClientId>,
}

async fn create_user(
    State(app): State<App>,
    signed: Signed,
    form: PageForm<NewUserForm>,
) -> Result<Response, PageError> {
    let mut resolved = form.fields().to_vec();
    super::picker::resolve_clinicians(&app, &signed.actor, &mut resolved, &["clinician_id"]).await;
    let (parsed, filled) = form.reparse(resolved).into_parts();
    let outcome = match parsed {
        Ok(f) => create(&app, &signed, f).await,
        Err(errors) => Err(circle_domain::DomainError::Invalid(errors).into()),
    };
    match after_post(outcome, filled)? {
        Answer::Redirect(to) => Ok(to),
        Answer::Again(mut filled) => {
            filled
                .messages
                .insert(0, "The account was not created.".to_owned());
            again(users_page(&app, &signed, filled, vec![], None, StatusCode::OK).await)
        }
    }
}

/// Creates the account the form describes; the next page's address.
async fn create(app: &App, signed: &Signed, f: NewUserForm) -> Result<String, AppError> {
    // A clinician's account without their record signs in to nothing (issue 14: it
    // enrolled a second factor and landed on a refusal).
    if f.role == Role::Clinician && f.clinician_id.is_none() {
        return Err(circle_domain::DomainError::invalid(
            "clinician_id",
            "choose the clinician this account is for; a clinician's account opens their own groups and caseload",
        )
        .into());
    }
    app.create_account(
        &signed.actor,
        &NewAccount {
            email: &f.email,
            password: &f.password.0,
            role: f.role,
            clinician_id: f.clinician_id,
            client_id: f.client_id,
        },
    )
    .await?;
    Ok("/admin?done=created".to_owned())
}

#[derive(Deserialize)]
pub struct RoleForm {
    role: String,
}

async fn change_role(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<RoleForm>,
) -> Result<Response, PageError> {
    let result = match form.parsed().ok().and_then(|f| Role::parse(&f.role)) {
        None => Err(
            circle_domain::DomainError::invalid("role", "must be one of the roles listed").into(),
        ),
        Some(role) => app
            .update_account(
                &signed.actor,
                UserId(id),
                AccountPatch {
                    role: Some(role),
                    disabled: None,
                },
            )
            .await
            .map(|_| ()),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin?done=role").into_response()),
        Err(e) => refused(&app, &signed, "The role was not changed", e).await,
    }
}

async fn set_disabled(
    app: &App,
    signed: &Signed,
    id: i64,
    disabled: bool,
) -> Result<Response, PageError> {
    let patch = AccountPatch {
        role: None,
        disabled: Some(disabled),
    };
    match app.update_account(&signed.actor, UserId(id), patch).await {
        Ok(_) if disabled => Ok(Redirect::to("/admin?done=disabled").into_response()),
        Ok(_) => Ok(Redirect::to("/admin?done=enabled").into_response()),
        Err(e) => {
            let what = if disabled {
                "The account was not disabled"
            } else {
                "The account was not enabled"
            };
            refused(app, signed, what, e).await
        }
    }
}

async fn disable(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    set_disabled(&app, &signed, id, true).await
}

async fn enable(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    set_disabled(&app, &signed, id, false).await
}

/// Resetting a second factor hands the account to whoever enrols next: the administrator
/// confirms they checked who is asking (issue 14: it asked for no confirmation).
#[derive(Deserialize)]
pub struct MfaResetForm {
    confirm: Option<String>,
}

async fn reset_mfa(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<MfaResetForm>,
) -> Result<Response, PageError> {
    let confirmed = form
        .parsed()
        .is_ok_and(|f| f.confirm.as_deref() == Some("yes"));
    let result = if confirmed {
        app.reset_mfa(&signed.actor, UserId(id)).await.map(|_| ())
    } else {
        Err(circle_domain::DomainError::invalid(
            "confirm",
            "tick the box to confirm you checked who is asking; nothing was reset",
        )
        .into())
    };
    match result {
        Ok(_) => Ok(Redirect::to("/admin?done=mfa").into_response()),
        Err(e) => refused(&app, &signed, "The second factor was not reset", e).await,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: Untrimmed,
}

async fn reset_password(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let password = form.parsed().map_or("", |f| f.password.0.as_str());
    match app
        .reset_password(&signed.actor, UserId(id), password)
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin?done=password").into_response()),
        Err(e) => refused(&app, &signed, "The password was not set", e).await,
    }
}

/// A director's programs: the ticked ones, or the whole clinic.
#[derive(Deserialize)]
pub struct ProgramsForm {
    program: Vec<ProgramId>,
    clinic_wide: bool,
}

/// Sets what a director directs: the checked programs, or the whole clinic when that box
/// is ticked (with no program).
async fn set_programs(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<ProgramsForm>,
) -> Result<Response, PageError> {
    let result = match form.into_parsed() {
        // Ticking a program means "these programs"; the whole-clinic box counts only when
        // none is ticked (the API refuses both at once).
        Ok(f) => app
            .set_director_programs(
                &signed.actor,
                UserId(id),
                &f.program,
                f.clinic_wide && f.program.is_empty(),
            )
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin?done=programs").into_response()),
        Err(e) => refused(&app, &signed, "The programs were not saved", e).await,
    }
}

// The audit report.

#[derive(Deserialize, Default)]
pub struct AuditFilter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    offset: u32,
    /// `csv`: the table as a download instead of the page.
    #[serde(default)]
    format: String,
}

/// The report's filters as a query string, at entry `offset` (the "Older entries" link,
/// the CSV download of the page shown).
fn audit_query(f: &AuditFilter, offset: u32) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("actor", &f.actor),
        ("action", &f.action),
        ("client", &f.client),
        ("from", &f.from),
        ("until", &f.until),
    ] {
        if !v.trim().is_empty() {
            s.append_pair(k, v.trim());
        }
    }
    if offset > 0 {
        s.append_pair("offset", &offset.to_string());
    }
    s.finish()
}

struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: &'static str,
    clients: String,
    object: String,
    outcome: &'static str,
    emergency: String,
}

/// A person offered in the audit report's "Who" picker.
struct PersonChoice {
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    /// The accounts by name, for the "Who" picker (`None` only when there are none).
    people: Option<Vec<PersonChoice>>,
    actor: String,
    /// The action picker's text: the chosen action's words, or what was typed.
    action: String,
    /// The sentence by the action picker when what was typed names no action.
    action_error: Option<String>,
    client: String,
    from: String,
    until: String,
    /// Each action's words, the picker's choices.
    actions: Vec<&'static str>,
    rows: Vec<AuditRow>,
    next: Option<String>,
    /// The page's table as a CSV download (these filters, this page of entries).
    csv: String,
    messages: Vec<String>,
}

/// How many entries one page of the report shows.
const AUDIT_PAGE: u32 = 100;

/// A date filter (`YYYY-MM-DD`, the clinic's day) as the instant the day starts; `until`
/// is exclusive, so the day after the one named.
fn day_start(
    app: &App,
    value: &str,
    field: &str,
    next_day: bool,
) -> Result<Option<jiff::Timestamp>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let d: jiff::civil::Date = value
        .parse()
        .map_err(|_| format!("{field}: write a date, such as 2026-05-04."))?;
    let d = if next_day {
        d.checked_add(jiff::Span::new().days(1))
            .map_err(|_| format!("{field}: must be a date before 9999"))?
    } else {
        d
    };
    d.to_zoned(app.clinic_time_zone().clone())
        .map(|z| Some(z.timestamp()))
        .map_err(|_| format!("{field}: write a date, such as 2026-05-04."))
}

/// The action the "Action" picker names: blank is any action; an action by its words (any
/// case) or its code; anything else names nothing.
fn chosen_action(typed: &str) -> Result<Option<AuditAction>, ()> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    if let Some(a) = AuditAction::parse(typed) {
        return Ok(Some(a));
    }
    let mut named = AuditAction::ALL
        .iter()
        .filter(|a| super::vocab::action(**a).eq_ignore_ascii_case(typed));
    match (named.next(), named.next()) {
        (Some(a), None) => Ok(Some(*a)),
        _ => Err(()),
    }
}

/// The accounts an audit page names, by id (issue 14: the report said "user 4"), for every
/// reviewer: a clinician's account by the clinician's name, any other by its email.
async fn people_named(app: &App, signed: &Signed) -> Result<HashMap<i64, String>, PageError> {
    Ok(app
        .audit_people(&signed.actor)
        .await?
        .iter()
        .map(|p| {
            let who = match &p.clinician_name {
                Some(name) => format!("{name}, {}", p.email),
                None => p.email.clone(),
            };
            (p.id.0, format!("{who} ({})", p.role.label()))
        })
        .collect())
}

/// The audit report's query string filtering by one client's record number.
fn client_query(record_number: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("client", record_number)
        .finish()
}

/// A client as an audit page names them.
struct ClientNamed {
    /// Name and record number for a reviewer who reads names, else the record number.
    label: String,
    /// What the report's client filter takes.
    record_number: String,
}

/// The clients an audit page names, as its reviewer may read them: one audited read.
async fn clients_named(
    app: &App,
    signed: &Signed,
    ids: &[ClientId],
) -> Result<HashMap<ClientId, ClientNamed>, PageError> {
    Ok(app
        .audit_clients(&signed.actor, ids)
        .await?
        .into_iter()
        .map(|c| {
            let label = match c.name {
                Some(name) => format!("{name} ({})", c.record_number),
                None => c.record_number.clone(),
            };
            (
                c.id,
                ClientNamed {
                    label,
                    record_number: c.record_number,
                },
            )
        })
        .collect())
}

async fn audit(
    State(app): State<App>,
    signed: Signed,
    Query(f): Query<AuditFilter>,
) -> Result<Response, PageError> {
    let mut messages = vec![];
    let id_of = |v: &str, field: &str, messages: &mut Vec<String>| -> Option<i64> {
        let v = v.trim();
        if v.is_empty() {
            return None;
        }
        match v.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                messages.push(format!("{field}: must be a whole number"));
                None
            }
        }
    };
    // The table shows clients by record number, so the filter takes one (the internal id
    // appears nowhere on the page).
    let client = match f.client.trim() {
        "" => None,
        typed if RecordNumber::parse(typed).is_err() => {
            messages.push(
                "Client record number: write it as the table shows it, such as DEMO-0012 \
                 (letters, digits and hyphens)."
                    .to_owned(),
            );
            None
        }
        typed => match app.audit_client_by_record(&signed.actor, typed).await? {
            Some(c) => Some(c),
            None => {
                messages.push("Client record number: no client has this record number.".to_owned());
                None
            }
        },
    };
    // The "Action" picker posts the action's words; its code (`user.mfa_reset`) still works.
    let (action, action_error) = match chosen_action(&f.action) {
        Ok(a) => (a, None),
        Err(()) => (
            None,
            Some("Choose an action from the list, or leave it empty for any action.".to_owned()),
        ),
    };
    let from = day_start(&app, f.from.trim(), "From", false).unwrap_or_else(|m| {
        messages.push(m);
        None
    });
    let until = day_start(&app, f.until.trim(), "Until (inclusive)", true).unwrap_or_else(|m| {
        messages.push(m);
        None
    });
    let names = people_named(&app, &signed).await?;
    // The "Who" picker posts the chosen person's words; a bare number is an account id.
    let actor = match names
        .iter()
        .find(|(_, label)| label.as_str() == f.actor.trim())
    {
        Some((id, _)) => Some(*id),
        // Words that name nobody on the list (an administrator's picker): say so, not
        // "must be a whole number" (a bare account id still works).
        None if !names.is_empty()
            && !f.actor.trim().is_empty()
            && f.actor.trim().parse::<i64>().is_err() =>
        {
            messages.push(
                "Who: choose a person from the list, or leave it empty for anyone.".to_owned(),
            );
            None
        }
        None => id_of(&f.actor, "Who", &mut messages),
    };
    let people = (!names.is_empty()).then(|| {
        let mut people: Vec<PersonChoice> = names
            .iter()
            .map(|(id, label)| PersonChoice {
                label: label.clone(),
                selected: actor == Some(*id),
            })
            .collect();
        people.sort_by(|a, b| a.label.cmp(&b.label));
        people
    });
    let mut rows = vec![];
    let mut next = None;
    let status = if messages.is_empty() && action_error.is_none() {
        let q = AuditQuery {
            from,
            until,
            actor: actor.map(UserId),
            client,
            action,
            outcome: None,
            sort: AuditSort::Seq,
            descending: true,
            offset: f.offset,
            limit: AUDIT_PAGE,
        };
        let entries = app.audit_report(&signed.actor, &q).await?;
        if entries.len() == AUDIT_PAGE as usize {
            next = Some(format!(
                "/admin/audit?{}",
                audit_query(&f, f.offset + AUDIT_PAGE)
            ));
        }
        // Clients as the reviewer may read them (issue 14: "clients 21, 22"): one audited
        // read for the page.
        let named: Vec<ClientId> = entries
            .iter()
            .flat_map(|e| e.client_ids.iter().copied())
            .collect();
        let clients: HashMap<ClientId, String> = clients_named(&app, &signed, &named)
            .await?
            .into_iter()
            .map(|(id, c)| (id, c.label))
            .collect();
        rows = entries
            .iter()
            .map(|e| AuditRow {
                seq: e.seq,
                at: local(&app, e.at),
                actor: match e.actor_user_id {
                    Some(u) => names
                        .get(&u.0)
                        .cloned()
                        .unwrap_or_else(|| "an account no longer on file".to_owned()),
                    None => "system".to_owned(),
                },
                action: super::vocab::action(e.action),
                clients: e
                    .client_ids
                    .iter()
                    .map(|c| {
                        clients
                            .get(c)
                            .cloned()
                            .unwrap_or_else(|| "a record no longer on file".to_owned())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                object: e
                    .object_id
                    .as_deref()
                    .map(super::vocab::object)
                    .unwrap_or_default(),
                outcome: e.outcome.label(),
                emergency: e
                    .emergency_access_id
                    .map(|x| x.to_string())
                    .unwrap_or_default(),
            })
            .collect();
        // The table as CSV: the entries shown, read (and audited) as the page reads them.
        if f.format.trim().eq_ignore_ascii_case("csv") {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.seq.to_string(),
                        r.at.clone(),
                        r.actor.clone(),
                        r.action.to_owned(),
                        r.clients.clone(),
                        r.object.clone(),
                        r.outcome.to_owned(),
                        r.emergency.clone(),
                    ]
                })
                .collect();
            return super::reports::csv_download(
                "audit",
                &[
                    "#",
                    "When",
                    "Who",
                    "Action",
                    "Client records",
                    "Object",
                    "Outcome",
                    "Emergency access",
                ],
                &table,
            );
        }
        StatusCode::OK
    } else {
        // The service checks the role; a bad filter must not skip that check's answer.
        if !matches!(signed.actor.role(), Role::Admin | Role::Director) {
            return Err(PageError::Forbidden);
        }
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(html(
        status,
        AuditPage {
            nav: Some(signed.nav()),
            actor: people
                .iter()
                .flatten()
                .find(|p| p.selected)
                .map_or_else(|| f.actor.trim().to_owned(), |p| p.label.clone()),
            people,
            action: action.map_or_else(
                || f.action.trim().to_owned(),
                |a| super::vocab::action(a).to_owned(),
            ),
            action_error,
            client: f.client.trim().to_owned(),
            from: f.from.trim().to_owned(),
            until: f.until.trim().to_owned(),
            actions: AuditAction::ALL
                .iter()
                .map(|a| super::vocab::action(*a))
                .collect(),
            rows,
            next,
            csv: format!(
                "/admin/audit?{}",
                [audit_query(&f, f.offset), "format=csv".to_owned()]
                    .into_iter()
                    .filter(|q| !q.is_empty())
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            messages,
        },
    ))
}

// Emergency-access review.

struct EmergencyRow {
    id: i64,
    /// Who opened the chart, as the audit report names them.
    user: String,
    /// The client, as the audit report names them.
    client: String,
    /// The audit report filtered by this client (`None` for a record no longer on file).
    audit: Option<String>,
    started: String,
    expires: String,
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_emergency.html")]
struct EmergencyPage {
    nav: Option<Nav>,
    rows: Vec<EmergencyRow>,
    reasons_shown: bool,
}

async fn emergency(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    let list = app.emergency_accesses(&signed.actor).await?;
    // By name and record number, as the audit report shows them (issue 14: raw ids); with
    // no access to show, no account or client is read (or audited as read).
    let people = if list.is_empty() {
        HashMap::new()
    } else {
        people_named(&app, &signed).await?
    };
    let ids: Vec<ClientId> = list.iter().map(|e| e.client_id).collect();
    let clients = clients_named(&app, &signed, &ids).await?;
    let rows = list
        .iter()
        .map(|e| EmergencyRow {
            id: e.id,
            user: people
                .get(&e.user_id.0)
                .cloned()
                .unwrap_or_else(|| "an account no longer on file".to_owned()),
            client: clients.get(&e.client_id).map_or_else(
                || "a record no longer on file".to_owned(),
                |c| c.label.clone(),
            ),
            audit: clients
                .get(&e.client_id)
                .map(|c| format!("/admin/audit?{}", client_query(&c.record_number))),
            started: local(&app, e.started_at),
            expires: local(&app, e.expires_at),
            reason: e.reason.as_ref().map(|r| r.to_string()),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        EmergencyPage {
            nav: Some(signed.nav()),
            rows,
            reasons_shown: signed.actor.role() == Role::Director,
        },
    ))
}
