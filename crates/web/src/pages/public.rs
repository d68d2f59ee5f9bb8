//! Public pages: the directory of groups open to self-referral and the referral form for
//! outside therapists. No account is needed; nothing shown reveals a client — a group's
//! availability is "open seats" or "waitlist", never a count — and a referral is
//! acknowledged without echoing what was sent.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use circle_app::intake::SelfReferralAnswer;
use circle_app::portal::DirectoryEntry;
use circle_app::web_session::random_token;
use circle_app::{App, AppError};
use circle_domain::client::ReferralSource;
use circle_domain::intake::{NewReferral, ReferringProviderDetails};
use circle_domain::text::{Email, Label, PersonName, Phone, ShortText};
use circle_domain::{DomainError, FieldErrors};

use super::form::{Filled, Public, PublicForm, with_rules};
use super::portal::{meeting_times, zone_words};
use super::vocab::Label as _;
use super::{CookiePolicy, Nav, PageError, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/directory", get(directory))
        .route("/refer", get(refer_form).post(refer))
}

/// A group as the public sees it.
struct ListedGroup {
    id: i64,
    name: String,
    focus: String,
    kind: String,
    when: String,
    format: &'static str,
    seats_open: bool,
}

fn listed(e: &DirectoryEntry) -> ListedGroup {
    let g = &e.group;
    let mut focus: Vec<String> = g
        .focus_concerns
        .iter()
        .map(|c| c.label().to_owned())
        .collect();
    if let Some(m) = g.modality {
        focus.push(m.label().to_owned());
    }
    ListedGroup {
        id: g.id.0,
        name: g.name.to_string(),
        focus: if focus.is_empty() {
            "General support".to_owned()
        } else {
            focus.join(", ")
        },
        kind: g.kind.label().to_owned(),
        when: format!("{} ({})", meeting_times(g), zone_words(&e.time_zone)),
        format: if e.room_name.is_some() {
            "In person"
        } else {
            "Telehealth (video)"
        },
        seats_open: e.seats_open,
    }
}

#[derive(Template)]
#[template(path = "public_directory.html")]
struct DirectoryPage {
    nav: Option<Nav>,
    groups: Vec<ListedGroup>,
}

async fn directory(State(app): State<App>) -> Result<Response, PageError> {
    let groups = app.directory().await?.iter().map(listed).collect();
    Ok(html(StatusCode::OK, DirectoryPage { nav: None, groups }))
}

#[derive(Template)]
#[template(path = "public_refer.html")]
struct ReferPage {
    nav: Option<Nav>,
    csrf: String,
    groups: Vec<ListedGroup>,
    /// The programs that admit above outpatient: id and "name — level" (issue 14: a
    /// therapist could name only the self-referral groups).
    programs: Vec<(i64, String)>,
    /// Every refusal, each naming its field by the page's label: the summary at the top.
    messages: Vec<String>,
    /// What was typed, and each field's rule in plain words.
    f: Filled,
}

#[derive(Template)]
#[template(path = "public_refer_thanks.html")]
struct ReferThanks {
    nav: Option<Nav>,
}

/// The form with a fresh double-submit cookie (there is no session to bind it to); `f`
/// refills it after a refusal, and `notices` are refusals of no one field.
async fn refer_page(
    app: &App,
    policy: CookiePolicy,
    status: StatusCode,
    f: Filled,
    notices: Vec<String>,
) -> Result<Response, PageError> {
    let groups = app.directory().await?.iter().map(listed).collect();
    let programs = app
        .admission_programs()
        .await?
        .iter()
        .map(|p| (p.id.0, format!("{} — {}", p.name, p.level_of_care.label())))
        .collect();
    let csrf = random_token();
    let messages = f.summary_by(notices, label);
    let mut res = html(
        status,
        ReferPage {
            nav: None,
            csrf: csrf.clone(),
            groups,
            programs,
            messages,
            f,
        },
    );
    super::auth::set_cookie(
        &mut res,
        &policy.cookie(policy.presession_name(), &csrf, 3600),
    );
    Ok(res)
}

async fn refer_form(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
) -> Result<Response, PageError> {
    refer_page(&app, policy, StatusCode::OK, Filled::default(), vec![]).await
}

/// The form's words for a field: the page's own, and the referral's as the rules name them.
fn label(field: &str) -> &str {
    match field.split(['/', '.', '[']).next().unwrap_or(field) {
        "provider_name" | "provider" => "Your name",
        "practice" => "Practice",
        "provider_phone" => "Your phone",
        "provider_email" => "Your email",
        "provider_contact" => "Your phone or email",
        "client_name" | "name" => "Client's name",
        "client_phone" | "phone" => "Client's phone",
        "client_email" | "email" => "Client's email",
        "client_contact" => "Client's phone or email",
        "group" => "Group",
        "program" | "program_id" | "level_of_care" => "Admission to a program",
        "reason" => "Reason for referral",
        "consent" => "The client agrees",
        other => other,
    }
}

/// The form's fields in the order the page shows them, for its summary of errors.
const ORDER: [&str; 13] = [
    "provider_name",
    "practice",
    "provider_phone",
    "provider_email",
    "provider_contact",
    "client_name",
    "client_phone",
    "client_email",
    "client_contact",
    "group",
    "program",
    "reason",
    "consent",
];

/// The referral form as posted. The group picker and the consent box are the page's rules
/// across the form, read from what was typed (`refer`).
#[derive(serde::Deserialize)]
pub struct ReferFields {
    provider_name: PersonName,
    practice: Option<Label>,
    provider_phone: Option<Phone>,
    provider_email: Option<Email>,
    client_name: PersonName,
    client_phone: Option<Phone>,
    client_email: Option<Email>,
    reason: Option<ShortText>,
}

/// The group the picker names: blank is no preference; a group of the directory by its
/// name (any case) or id; anything else names nothing.
fn chosen_group<'a>(
    typed: &str,
    groups: &'a [DirectoryEntry],
) -> Result<Option<&'a DirectoryEntry>, ()> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    let mut named = groups.iter().filter(|e| {
        e.group.id.0.to_string() == typed || e.group.name.as_str().eq_ignore_ascii_case(typed)
    });
    match (named.next(), named.next()) {
        (Some(e), None) => Ok(Some(e)),
        _ => Err(()),
    }
}

async fn refer(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    form: PublicForm<ReferFields>,
) -> Result<Response, PageError> {
    let (posted, mut f) = form.into_parts();
    let parsed = match posted {
        Public::Expired => {
            let m = vec!["The form had expired. Please send it again.".to_owned()];
            return refer_page(&app, policy, StatusCode::FORBIDDEN, f, m).await;
        }
        // A robot filled the field people cannot see: thank it, keep nothing.
        Public::Robot => return Ok(html(StatusCode::OK, ReferThanks { nav: None })),
        Public::Parsed(parsed) => parsed,
    };
    // The page's rules across fields, on what was typed, with every field's own rule.
    let blank = |k: &str| f.value(k).trim().is_empty();
    let mut rules = FieldErrors::default();
    if blank("provider_phone") && blank("provider_email") {
        rules.push("provider_contact", "one is required so we can reply");
    }
    if blank("client_phone") && blank("client_email") {
        rules.push("client_contact", "one is required so we can reach them");
    }
    if blank("consent") {
        rules.push(
            "consent",
            "tick the box to confirm the client asked for or agreed to this referral",
        );
    }
    let groups = app.directory().await?;
    let group = chosen_group(f.value("group"), &groups).unwrap_or_else(|()| {
        rules.push(
            "group",
            "choose one from the list, or leave it blank for no preference",
        );
        None
    });
    // An admission to a program above outpatient (its level is the program's), or a
    // group, not both.
    let program = match f.value("program").trim() {
        "" => None,
        id => {
            let programs = app.admission_programs().await?;
            match programs.iter().find(|p| p.id.0.to_string() == id) {
                Some(_) if group.is_some() => {
                    rules.push("program", "choose a group or a program, not both");
                    None
                }
                Some(p) => Some(p.id),
                None => {
                    rules.push("program", "choose one from the list, or none");
                    None
                }
            }
        }
    };
    let fields = match with_rules(parsed, rules, &ORDER) {
        Ok(fields) => fields,
        Err(errors) => {
            f.field_errors(errors);
            return refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, vec![]).await;
        }
    };
    // The provider's ways to reply, as one line; the group asked about leads the reason
    // (a referral has no field of its own for it).
    let contact = [
        fields.provider_phone.as_ref().map(Phone::as_str),
        fields.provider_email.as_ref().map(Email::as_str),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let contact = match Label::parse(&contact) {
        Ok(contact) => contact,
        Err(rule) => {
            let mut errors = FieldErrors::default();
            errors.push("provider_contact", rule);
            f.field_errors(errors);
            return refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, vec![]).await;
        }
    };
    let reason = fields
        .reason
        .filter(|r| !r.as_str().is_empty())
        .map(|r| match group {
            Some(g) => ShortText::parse(&format!(
                "Group asked about: {}. {}",
                g.group.name,
                r.as_str()
            ))
            .unwrap_or(r),
            None => r,
        });
    let new = NewReferral {
        path: ReferralSource::TherapistReferral,
        name: fields.client_name,
        email: fields.client_email,
        phone: fields.client_phone,
        reason,
        preferred_times: vec![],
        program_id: program,
        level_of_care: None,
        provider: Some(ReferringProviderDetails {
            name: fields.provider_name,
            practice: fields.practice,
            contact: Some(contact),
        }),
        client_id: None,
        screener_id: None,
    };
    let meta = circle_app::RequestMeta {
        request_id: None,
        source: Some(peer.ip().to_string()),
    };
    let group = group.map(|e| e.group.id);
    match app.submit_therapist_referral(&new, group, &meta).await {
        Ok(SelfReferralAnswer::Accepted) => Ok(html(StatusCode::OK, ReferThanks { nav: None })),
        Ok(SelfReferralAnswer::Limited { .. }) => {
            let m = vec!["We have had several referrals from this connection. Please call the clinic, or try again in an hour.".to_owned()];
            refer_page(&app, policy, StatusCode::TOO_MANY_REQUESTS, f, m).await
        }
        Err(AppError::Domain(DomainError::Invalid(errors))) => {
            f.field_errors(errors);
            refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, vec![]).await
        }
        Err(e) => Err(e.into()),
    }
    .map(IntoResponse::into_response)
}
