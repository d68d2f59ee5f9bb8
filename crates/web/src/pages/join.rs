//! The public self-referral page: plain language, what happens next, no account needed.
//! The answer acknowledges the request and reveals nothing about the clinic's clients; the
//! same rate limit as the API applies.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Form};
use circle_app::App;
use circle_app::intake::SelfReferralAnswer;
use circle_app::web_session::random_token;
use circle_domain::intake::SelfReferralForm;
use circle_domain::schedule::Weekday;
use serde_json::{Value, json};

use super::{CookiePolicy, Nav, form_value, html};
use crate::problem::ApiError;

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    email: String,
    phone: String,
    looking_for: String,
    group: String,
    messages: Vec<String>,
    days: Vec<(&'static str, &'static str)>,
    parts: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "join_thanks.html")]
struct ThanksPage {
    nav: Option<Nav>,
}

pub(super) const DAYS: [(Weekday, &str); 7] = [
    (Weekday::Monday, "Monday"),
    (Weekday::Tuesday, "Tuesday"),
    (Weekday::Wednesday, "Wednesday"),
    (Weekday::Thursday, "Thursday"),
    (Weekday::Friday, "Friday"),
    (Weekday::Saturday, "Saturday"),
    (Weekday::Sunday, "Sunday"),
];
pub(super) const PARTS: [(&str, &str); 3] = [
    ("morning", "Morning"),
    ("afternoon", "Afternoon"),
    ("evening", "Evening"),
];

/// The form, bound to a fresh double-submit cookie; `fields` refill it after a refusal.
fn page(
    policy: CookiePolicy,
    status: StatusCode,
    fields: &[(String, String)],
    messages: Vec<String>,
) -> Response {
    let field = |k: &str| form_value(fields, k).to_owned();
    let csrf = random_token();
    let mut res = html(
        status,
        JoinPage {
            nav: None,
            csrf: csrf.clone(),
            name: field("name"),
            email: field("email"),
            phone: field("phone"),
            looking_for: field("looking_for"),
            group: field("group"),
            messages,
            days: DAYS.iter().map(|(d, l)| (d.as_str(), *l)).collect(),
            parts: PARTS.to_vec(),
        },
    );
    super::auth::set_cookie(
        &mut res,
        &policy.cookie(policy.presession_name(), &csrf, 3600),
    );
    res
}

/// `?group=ID` (a link from the directory) starts the form naming that group.
#[derive(serde::Deserialize)]
pub struct Preselect {
    group: Option<String>,
}

pub async fn form(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::Query(pre): axum::extract::Query<Preselect>,
) -> Response {
    let mut fields = Vec::new();
    if let Some(id) = pre.group.and_then(|g| g.parse::<i64>().ok())
        && let Ok(list) = app.directory().await
        && let Some(e) = list.iter().find(|e| e.group.id.0 == id)
    {
        fields.push((
            "looking_for".to_owned(),
            format!("I would like to join {}.", e.group.name),
        ));
        fields.push(("group".to_owned(), id.to_string()));
    }
    page(policy, StatusCode::OK, &fields, vec![])
}

pub async fn submit(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| form_value(&fields, k).to_owned();
    if !super::auth::presession_ok(&headers, policy, form_value(&fields, "csrf")) {
        return page(
            policy,
            StatusCode::FORBIDDEN,
            &fields,
            vec!["The form had expired. Please send it again.".to_owned()],
        );
    }
    if super::honeypot_filled(&fields) {
        // A robot filled the field people cannot see: thank it, keep nothing.
        return html(StatusCode::OK, ThanksPage { nav: None });
    }
    let optional = |k: &str| {
        let v = field(k);
        if v.is_empty() {
            Value::Null
        } else {
            Value::String(v)
        }
    };
    let times: Vec<Value> = fields
        .iter()
        .filter(|(k, _)| k == "time")
        .filter_map(|(_, v)| v.split_once('/'))
        .map(|(day, part)| json!({"weekday": day, "part_of_day": part}))
        .collect();
    let body = json!({
        "name": field("name"), "email": optional("email"), "phone": optional("phone"),
        "looking_for": field("looking_for"), "preferred_times": times,
    });
    let parsed = serde_json::to_vec(&body)
        .map_err(|e| ApiError::Internal(e.to_string()))
        .and_then(|bytes| crate::extract::parse_json::<SelfReferralForm>(&bytes));
    let form = match parsed {
        Ok(form) => form,
        Err(ApiError::BadRequest { errors, .. }) => {
            let messages = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", label(&e.field), e.message))
                .collect();
            return page(policy, StatusCode::UNPROCESSABLE_ENTITY, &fields, messages);
        }
        Err(_) => {
            return page(
                policy,
                StatusCode::UNPROCESSABLE_ENTITY,
                &fields,
                vec!["Please check the form and send it again.".to_owned()],
            );
        }
    };
    let meta = circle_app::RequestMeta {
        request_id: None,
        source: Some(peer.ip().to_string()),
    };
    // The group the directory link named, if it is still open to self-referral.
    let group = match form_value(&fields, "group").parse::<i64>() {
        Ok(id) => app
            .directory()
            .await
            .ok()
            .and_then(|list| list.iter().find(|e| e.group.id.0 == id).map(|e| e.group.id)),
        Err(_) => None,
    };
    match app.submit_self_referral(&form, group, &meta).await {
        Ok(SelfReferralAnswer::Accepted) => html(StatusCode::OK, ThanksPage { nav: None }),
        Ok(SelfReferralAnswer::Limited { .. }) => page(
            policy,
            StatusCode::TOO_MANY_REQUESTS,
            &fields,
            vec!["We have had several requests from this connection. Please call the clinic, or try again in an hour.".to_owned()],
        ),
        Err(circle_app::AppError::Domain(circle_domain::DomainError::Invalid(errors))) => {
            let messages = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", label(&e.field), e.message))
                .collect();
            page(policy, StatusCode::UNPROCESSABLE_ENTITY, &fields, messages)
        }
        Err(e) => page(
            policy,
            StatusCode::UNPROCESSABLE_ENTITY,
            &fields,
            vec![super::explain(&e)],
        ),
    }
}

/// The form's words for a field the rules name.
fn label(field: &str) -> &str {
    match field.split(['/', '.', '[']).next().unwrap_or(field) {
        "name" => "Your name",
        "email" => "Email",
        "phone" => "Phone",
        "looking_for" => "What you are looking for",
        "preferred_times" => "When you could come",
        other => other,
    }
}
