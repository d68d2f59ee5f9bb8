//! The public self-referral page: plain language, what happens next, no account needed.
//! The answer acknowledges the request and reveals nothing about the clinic's clients; the
//! same rate limit as the API applies.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use circle_app::intake::SelfReferralAnswer;
use circle_app::web_session::random_token;
use circle_app::{App, AppError};
use circle_domain::DomainError;
use circle_domain::intake::SelfReferralForm;
use circle_domain::schedule::Weekday;
use circle_domain::text::{Email, PersonName, Phone, ShortText};

use super::fields::GridCell;
use super::form::{Filled, Public, PublicForm, with_rules};
use super::{CookiePolicy, Nav, html};

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage {
    nav: Option<Nav>,
    csrf: String,
    /// What was typed, and each field's rule in plain words.
    f: Filled,
    /// Every refusal, each naming its field by the page's label: the summary at the top.
    messages: Vec<String>,
    /// The weekly grid: each day with its parts, ticked as posted.
    days: Vec<GridDay>,
    parts: Vec<(&'static str, &'static str)>,
}

/// A day of the "when could you come" grid.
struct GridDay {
    value: &'static str,
    label: &'static str,
    /// Each part of the day: its value, its label, and whether it was ticked.
    parts: Vec<(&'static str, &'static str, bool)>,
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

/// The form, bound to a fresh double-submit cookie; `f` refills it after a refusal, and
/// `notices` are refusals of no one field (an expired form, the rate limit).
fn page(policy: CookiePolicy, status: StatusCode, f: Filled, notices: Vec<String>) -> Response {
    let csrf = random_token();
    let ticked = f.values("time");
    let days = DAYS
        .iter()
        .map(|(d, label)| GridDay {
            value: d.as_str(),
            label,
            parts: PARTS
                .iter()
                .map(|(p, l)| {
                    (
                        *p,
                        *l,
                        ticked.contains(&format!("{}/{p}", d.as_str()).as_str()),
                    )
                })
                .collect(),
        })
        .collect();
    let messages = f.summary_by(notices, label);
    let mut res = html(
        status,
        JoinPage {
            nav: None,
            csrf: csrf.clone(),
            f,
            messages,
            days,
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
    page(policy, StatusCode::OK, Filled::new(fields), vec![])
}

/// The join form as posted: `time` repeats, one value per ticked cell of the grid.
#[derive(serde::Deserialize)]
pub struct JoinFields {
    name: PersonName,
    email: Option<Email>,
    phone: Option<Phone>,
    looking_for: ShortText,
    time: Vec<GridCell>,
    /// The group a directory link named (a hidden field): one no longer open to
    /// self-referral, or not a group at all, is no preference, as the person cannot change it.
    group: String,
}

pub async fn submit(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    form: PublicForm<JoinFields>,
) -> Response {
    let (posted, mut f) = form.into_parts();
    let parsed = match posted {
        Public::Expired => {
            let m = vec!["The form had expired. Please send it again.".to_owned()];
            return page(policy, StatusCode::FORBIDDEN, f, m);
        }
        // A robot filled the field people cannot see: thank it, keep nothing.
        Public::Robot => return html(StatusCode::OK, ThanksPage { nav: None }),
        Public::Parsed(parsed) => parsed,
    };
    // Every field's own rule and the rules across fields, reported together.
    let has_contact = !f.value("email").trim().is_empty() || !f.value("phone").trim().is_empty();
    let rules = SelfReferralForm::rules_of_what_was_written(has_contact, f.value("looking_for"));
    let fields = match with_rules(parsed, rules, &ORDER) {
        Ok(fields) => fields,
        Err(errors) => {
            f.field_errors(errors);
            return page(policy, StatusCode::UNPROCESSABLE_ENTITY, f, vec![]);
        }
    };
    let form = SelfReferralForm {
        name: fields.name,
        email: fields.email,
        phone: fields.phone,
        looking_for: fields.looking_for,
        preferred_times: fields.time.into_iter().map(|t| t.0).collect(),
    };
    let meta = circle_app::RequestMeta {
        request_id: None,
        source: Some(peer.ip().to_string()),
    };
    // The group the directory link named, if it is still open to self-referral.
    let group = match fields.group.parse::<i64>() {
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
            f,
            vec!["We have had several requests from this connection. Please call the clinic, or try again in an hour.".to_owned()],
        ),
        Err(AppError::Domain(DomainError::Invalid(errors))) => {
            f.field_errors(errors);
            page(policy, StatusCode::UNPROCESSABLE_ENTITY, f, vec![])
        }
        Err(e) => page(
            policy,
            StatusCode::UNPROCESSABLE_ENTITY,
            f,
            vec![super::explain(&e)],
        ),
    }
}

/// The form's fields in the order the page shows them, for its summary of errors.
const ORDER: [&str; 5] = ["name", "email", "phone", "looking_for", "time"];

/// The form's words for a field the rules name.
fn label(field: &str) -> &str {
    match field.split(['/', '.', '[']).next().unwrap_or(field) {
        "name" => "Your name",
        "email" => "Email",
        "phone" => "Phone",
        "looking_for" => "What you are looking for",
        "preferred_times" | "time" => "When you could come",
        other => other,
    }
}
