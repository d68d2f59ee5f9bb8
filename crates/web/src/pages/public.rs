//! Public pages: the directory of groups open to self-referral and the referral form for
//! outside therapists. No account is needed; nothing shown reveals a client — a group's
//! availability is "open seats" or "waitlist", never a count — and a referral is
//! acknowledged without echoing what was sent.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Form};
use circle_app::App;
use circle_app::intake::SelfReferralAnswer;
use circle_app::portal::DirectoryEntry;
use circle_app::web_session::random_token;
use circle_domain::intake::NewReferral;
use circle_domain::text::{Email, Phone};
use serde_json::{Value, json};

use super::portal::{meeting_times, zone_words};
use super::vocab::Label;
use super::{CookiePolicy, Nav, PageError, form_value, html};
use crate::problem::ApiError;

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
    messages: Vec<String>,
    f: ReferFields,
}

/// The form's fields as typed, to refill it after a refusal.
#[derive(Default)]
struct ReferFields {
    provider_name: String,
    practice: String,
    provider_phone: String,
    provider_email: String,
    client_name: String,
    client_phone: String,
    client_email: String,
    group: String,
    program: String,
    reason: String,
}

impl ReferFields {
    fn from(fields: &[(String, String)]) -> Self {
        let v = |k: &str| form_value(fields, k).to_owned();
        Self {
            provider_name: v("provider_name"),
            practice: v("practice"),
            provider_phone: v("provider_phone"),
            provider_email: v("provider_email"),
            client_name: v("client_name"),
            client_phone: v("client_phone"),
            client_email: v("client_email"),
            group: v("group"),
            program: v("program"),
            reason: v("reason"),
        }
    }
}

#[derive(Template)]
#[template(path = "public_refer_thanks.html")]
struct ReferThanks {
    nav: Option<Nav>,
}

/// The form with a fresh double-submit cookie (there is no session to bind it to).
async fn refer_page(
    app: &App,
    policy: CookiePolicy,
    status: StatusCode,
    f: ReferFields,
    messages: Vec<String>,
) -> Result<Response, PageError> {
    let groups = app.directory().await?.iter().map(listed).collect();
    let programs = app
        .admission_programs()
        .await?
        .iter()
        .map(|p| (p.id.0, format!("{} — {}", p.name, p.level_of_care.label())))
        .collect();
    let csrf = random_token();
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
    refer_page(&app, policy, StatusCode::OK, ReferFields::default(), vec![]).await
}

/// The form's words for a field the rules name.
fn label(field: &str) -> &str {
    match field.split(['/', '.', '[']).next().unwrap_or(field) {
        "provider" => "Your name and practice",
        "name" => "Client's name",
        "email" => "Client's email",
        "phone" => "Client's phone",
        "reason" => "Reason for referral",
        "program_id" | "level_of_care" => "Admission to a program",
        other => other,
    }
}

async fn refer(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let f = ReferFields::from(&fields);
    if !super::auth::presession_ok(&headers, policy, form_value(&fields, "csrf")) {
        let m = vec!["The form had expired. Please send it again.".to_owned()];
        return refer_page(&app, policy, StatusCode::FORBIDDEN, f, m).await;
    }
    if super::honeypot_filled(&fields) {
        // A robot filled the field people cannot see: thank it, keep nothing.
        return Ok(html(StatusCode::OK, ReferThanks { nav: None }));
    }
    // The page's own checks first, each naming its field.
    let mut messages = Vec::new();
    if f.provider_name.is_empty() {
        messages.push("Your name: is required".to_owned());
    }
    if f.provider_phone.is_empty() && f.provider_email.is_empty() {
        messages.push("Your phone or email: one is required so we can reply".to_owned());
    }
    if !f.provider_phone.is_empty() && Phone::parse(&f.provider_phone).is_err() {
        messages.push(format!("Your phone: {}", Phone::RULE));
    }
    if !f.provider_email.is_empty() && Email::parse(&f.provider_email).is_err() {
        messages.push(format!("Your email: {}", Email::RULE));
    }
    if f.client_phone.is_empty() && f.client_email.is_empty() {
        messages.push("Client's phone or email: one is required so we can reach them".to_owned());
    }
    if form_value(&fields, "consent") != "yes" {
        messages.push(
            "The client agrees: tick the box to confirm the client asked for or agreed to this referral"
                .to_owned(),
        );
    }
    let groups = app.directory().await?;
    let group_name = match f.group.as_str() {
        "" => None,
        id => match groups.iter().find(|e| e.group.id.0.to_string() == id) {
            Some(e) => Some(e.group.name.to_string()),
            None => {
                messages.push("Group: choose one from the list, or no preference".to_owned());
                None
            }
        },
    };
    let program = match f.program.as_str() {
        "" => None,
        id => {
            let programs = app.admission_programs().await?;
            match programs.iter().find(|p| p.id.0.to_string() == id) {
                Some(p) if group_name.is_some() => {
                    messages.push(
                        "Admission to a program: choose a group or a program, not both".to_owned(),
                    );
                    Some(p.id)
                }
                Some(p) => Some(p.id),
                None => {
                    messages.push(
                        "Admission to a program: choose one from the list, or none".to_owned(),
                    );
                    None
                }
            }
        }
    };
    if !messages.is_empty() {
        return refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, messages).await;
    }
    let contact: Vec<&str> = [f.provider_phone.as_str(), f.provider_email.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let reason = match &group_name {
        Some(g) => format!("Group asked about: {g}. {}", f.reason),
        None => f.reason.clone(),
    };
    let optional = |v: &str| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::String(v.to_owned())
        }
    };
    let body = json!({
        "path": "therapist_referral",
        "name": f.client_name,
        "email": optional(&f.client_email),
        "phone": optional(&f.client_phone),
        "reason": optional(if f.reason.is_empty() { "" } else { &reason }),
        "provider": {
            "name": f.provider_name,
            "practice": optional(&f.practice),
            "contact": contact.join(" · "),
        },
        "program_id": program.map(|p| p.0),
    });
    let parsed = serde_json::to_vec(&body)
        .map_err(|e| ApiError::Internal(e.to_string()))
        .and_then(|bytes| crate::extract::parse_json::<NewReferral>(&bytes));
    let new = match parsed {
        Ok(new) => new,
        Err(ApiError::BadRequest { errors, .. }) => {
            let m = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", label(&e.field), e.message))
                .collect();
            return refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, m).await;
        }
        Err(_) => {
            let m = vec!["Please check the form and send it again.".to_owned()];
            return refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, m).await;
        }
    };
    let meta = circle_app::RequestMeta {
        request_id: None,
        source: Some(peer.ip().to_string()),
    };
    let group = groups
        .iter()
        .find(|e| e.group.id.0.to_string() == f.group)
        .map(|e| e.group.id);
    match app.submit_therapist_referral(&new, group, &meta).await {
        Ok(SelfReferralAnswer::Accepted) => Ok(html(StatusCode::OK, ReferThanks { nav: None })),
        Ok(SelfReferralAnswer::Limited { .. }) => {
            let m = vec!["We have had several referrals from this connection. Please call the clinic, or try again in an hour.".to_owned()];
            refer_page(&app, policy, StatusCode::TOO_MANY_REQUESTS, f, m).await
        }
        Err(circle_app::AppError::Domain(circle_domain::DomainError::Invalid(errors))) => {
            let m = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", label(&e.field), e.message))
                .collect();
            refer_page(&app, policy, StatusCode::UNPROCESSABLE_ENTITY, f, m).await
        }
        Err(e) => Err(e.into()),
    }
    .map(IntoResponse::into_response)
}
