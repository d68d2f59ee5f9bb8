//! The staff workspace and client portal: server-rendered pages (askama, auto-escaping)
//! over the same services as the API. Every form works without JavaScript (POST, then a
//! 303 redirect or the page again with the problem explained); the one script (note drafts'
//! autosave, `/static/notes.js`) is an external file, so the pages' CSP allows no inline
//! script.
//!
//! Sessions: the cookie carries a sign-in token issued by the same sign-in as the API (MFA,
//! lockout, 12 h absolute and 15 min idle lifetimes, revoked at sign-out). It is `HttpOnly`
//! and `SameSite=Strict`; over TLS it is `Secure` with the `__Host-` prefix (browsers refuse
//! that prefix without `Secure`, so plain-HTTP development uses a plain name). Every
//! state-changing form also carries a CSRF token derived from the session, checked by the
//! one form extractor (`form::PageForm`) before a handler runs; the sign-in forms, before
//! there is a session, use a double-submit cookie.

mod admin;
mod auth;
mod calendar;
mod clients;
mod fields;
pub(crate) mod form;
mod groups;
mod import;
mod intake;
mod join;
mod messages;
mod notes;
mod picker;
mod planner;
mod portal;
mod public;
mod reports;
mod sessions;
mod telehealth;
mod timetable;
pub(crate) mod vocab;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use circle_app::purpose;
use circle_app::{Actor, App, AppError};
use circle_domain::DomainError;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::extract::request_meta;

/// Pages load only their own stylesheet and scripts (the one script, `/static/notes.js`,
/// autosaves note drafts to Circle itself); no inline scripts, frames, or foreign form
/// targets.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

const CSS: &str = include_str!("../../static/circle.css");

/// How cookies are set: `secure` when Circle serves TLS.
#[derive(Debug, Clone, Copy, Default)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn session_name(self) -> &'static str {
        if self.secure {
            "__Host-circle_session"
        } else {
            "circle_session"
        }
    }

    fn presession_name(self) -> &'static str {
        if self.secure {
            "__Host-circle_signin"
        } else {
            "circle_signin"
        }
    }

    /// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
    fn cookie(self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }
}

/// The page routes as they are registered: the router, and every path it serves. The
/// page authorization matrix (testkit `page_matrix`) walks `paths()`, so a page added here
/// and missing from its table fails that test.
pub struct PageRoutes {
    router: Router<App>,
    paths: Vec<&'static str>,
}

impl PageRoutes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    fn route(mut self, path: &'static str, methods: MethodRouter<App>) -> Self {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    fn merge(mut self, other: PageRoutes) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// Every page path, as written in the route table (`{id}` for parameters).
    pub fn paths(&self) -> &[&'static str] {
        &self.paths
    }
}

/// Every page route: the table `router` serves.
pub fn routes() -> PageRoutes {
    PageRoutes::new()
        .route("/", get(home))
        .route("/sign-in", get(auth::sign_in_form).post(auth::sign_in))
        .route("/sign-in/enroll", post(auth::enroll))
        .route("/sign-out", post(auth::sign_out))
        .route("/join", get(join::form).post(join::submit))
        .route("/today", get(sessions::today))
        .route("/sessions/{id}", get(sessions::session_page))
        .route(
            "/alerts/{id}/acknowledge",
            post(sessions::acknowledge_alert),
        )
        .route(
            "/sessions/{id}/attendance",
            post(sessions::record_attendance),
        )
        // Each area's pages; one line per module keeps their routes apart.
        .merge(admin::routes())
        .merge(calendar::routes())
        .merge(clients::routes())
        .merge(groups::routes())
        .merge(import::routes())
        .merge(intake::routes())
        .merge(messages::routes())
        .merge(notes::routes())
        .merge(planner::routes())
        .merge(portal::routes())
        .merge(public::routes())
        .merge(reports::routes())
        .merge(telehealth::routes())
        .merge(timetable::routes())
        .route("/static/circle.css", get(stylesheet))
}

/// The page routes, with the pages' cookie policy and CSP.
pub fn router(policy: CookiePolicy) -> Router<App> {
    routes()
        .router
        .layer(axum::middleware::from_fn(refuse_control_characters))
        .layer(axum::Extension(policy))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        ))
}

/// Refuses a form whose fields hold control characters (a NUL above all: PostgreSQL cannot
/// store one) with 422 naming the field, before any handler runs, as the JSON API does
/// (`extract::is_allowed_char`; issue 16). Tab and line breaks are allowed.
async fn refuse_control_characters(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let bad = form_urlencoded::parse(&bytes).find_map(|(k, v)| {
        if !k.chars().all(crate::extract::is_allowed_char) {
            Some("a field name".to_owned())
        } else if !v.chars().all(crate::extract::is_allowed_char) {
            Some(format!("“{}”", k.chars().take(64).collect::<String>()))
        } else {
            None
        }
    });
    if let Some(field) = bad {
        let message = format!(
            "The field {field} must not contain control characters (tab and line breaks are \
             allowed). Nothing was changed: go back, correct it and send the form again."
        );
        return html(
            StatusCode::UNPROCESSABLE_ENTITY,
            MessagePage {
                nav: None,
                title: "Form not accepted",
                message: &message,
            },
        );
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// Each role's first page: staff start on Today, administrators on Admin, clients on
/// their own groups.
async fn home(signed: Option<Signed>) -> Redirect {
    match signed.map(|s| s.actor) {
        Some(a) if a.may::<purpose::UserAdmin>() => Redirect::to("/admin"),
        Some(a) if a.may::<purpose::ScheduleRead>() => Redirect::to("/me"),
        Some(_) => Redirect::to("/today"),
        None => Redirect::to("/sign-in"),
    }
}

/// A signed-in user of the pages, with the session token behind the cookie.
pub struct Signed {
    pub actor: Actor,
    token: String,
}

impl Signed {
    pub fn csrf(&self) -> String {
        circle_app::web_session::csrf_token(&self.token)
    }

    /// The header's navigation for this user.
    pub fn nav(&self) -> Nav {
        // What the user works with, in the order of a working day (DESIGN.md "Who uses
        // it"). A link is shown exactly when the purpose behind its page is one the gate
        // grants this user's role, so nobody is shown a link that answers 403.
        let a = &self.actor;
        let reports = a.may::<purpose::ReportCensus>()
            || a.may::<purpose::ReportAttendance>()
            || a.may::<purpose::BillingExport>();
        let links: Vec<(&'static str, &'static str)> = [
            (a.may::<purpose::Schedules>(), ("/today", "Today")),
            (
                a.may::<purpose::ReferralTransition>(),
                ("/intake", "Intake"),
            ),
            (a.may::<purpose::ClientList>(), ("/clients", "Clients")),
            (a.may::<purpose::Schedules>(), ("/groups", "Groups")),
            (a.may::<purpose::PlanRead>(), ("/planner", "Planner")),
            (
                a.may::<purpose::TimetableRead>(),
                ("/timetable", "Timetable"),
            ),
            (a.may::<purpose::Schedules>(), ("/calendar", "Calendar")),
            (reports, ("/reports", "Reports")),
            (a.may::<purpose::UserAdmin>(), ("/admin", "Admin")),
            (a.may::<purpose::ScheduleRead>(), ("/me", "My groups")),
        ]
        .into_iter()
        .filter_map(|(shown, link)| shown.then_some(link))
        .collect();
        Nav {
            links,
            who: self.actor.role().as_str().to_owned(),
            csrf: self.csrf(),
        }
    }
}

/// The header's links, who is signed in (by role, never by name), and the sign-out form's
/// CSRF token.
pub struct Nav {
    pub links: Vec<(&'static str, &'static str)>,
    pub who: String,
    pub csrf: String,
}

impl FromRequestParts<App> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let policy = parts
            .extensions
            .get::<CookiePolicy>()
            .copied()
            .unwrap_or_default();
        let token = cookie(&parts.headers, policy.session_name())
            .ok_or_else(|| to_sign_in(parts))?
            .to_owned();
        match app.authenticate(&token).await {
            Ok(actor) => {
                // For the form extractor that follows: it checks the CSRF token against
                // this session.
                parts.extensions.insert(form::SessionToken(token.clone()));
                Ok(Signed {
                    actor: actor.with_request(request_meta(parts)),
                    token,
                })
            }
            Err(AppError::Domain(DomainError::Unauthenticated)) => Err(to_sign_in(parts)),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

/// The sign-in page, remembering the page a GET was for so that signing in (after a
/// session expired, say) returns there. A form's POST is not replayed: its page is.
fn to_sign_in(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let target = match (
        parts.method == axum::http::Method::GET,
        auth::safe_next(here),
    ) {
        (true, Some(next)) if next != "/" => format!(
            "/sign-in?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish()
        ),
        _ => "/sign-in".to_owned(),
    };
    Redirect::to(&target).into_response()
}

impl axum::extract::OptionalFromRequestParts<App> for Signed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &App,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Signed as FromRequestParts<App>>::from_request_parts(parts, app)
                .await
                .ok(),
        )
    }
}

/// Whether a public form's hidden "website" field came back filled in: people never see
/// it (it is off-screen and out of the tab order), form-filling robots do.
pub fn honeypot_filled(fields: &[(String, String)]) -> bool {
    !form_value(fields, "website").trim().is_empty()
}

/// A posted form field's value (the first with that name), trimmed; `""` when absent.
pub fn form_value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

/// One cookie's value from the request (the `Cookie` header's `name=value; ...` pairs).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Why a page could not be shown: rendered as a calm page, never with internals.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    Forbidden,
    Csrf,
    Internal,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    nav: Option<Nav>,
    title: &'a str,
    message: &'a str,
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Domain(DomainError::NotFound { .. }) => PageError::NotFound,
            AppError::Domain(DomainError::Forbidden | DomainError::Unauthenticated) => {
                PageError::Forbidden
            }
            AppError::Domain(_) => PageError::Forbidden,
            AppError::Internal(cause) => {
                tracing::error!(cause = %cause, "page failed");
                PageError::Internal
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.",
            ),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not available",
                "Your role does not give access to this page.",
            ),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from your current session. Go back, reload the page and try again.",
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Nothing was changed. Try again; if it keeps happening, tell your administrator.",
            ),
        };
        html(
            status,
            MessagePage {
                nav: None,
                title,
                message,
            },
        )
    }
}

/// Renders a template as an HTML response.
pub fn html(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The message a person reads for a refused change: the rule's explanation, or each field
/// and its rule. Never a value they typed.
pub fn explain(e: &AppError) -> String {
    match e {
        AppError::Domain(DomainError::Invalid(fields)) => fields
            .0
            .iter()
            .map(|f| vocab::field_message(&f.field, &f.message))
            .collect::<Vec<_>>()
            .join("; "),
        AppError::Domain(DomainError::Conflict(c)) => c.message.clone(),
        AppError::Domain(DomainError::NotFound { .. }) => "not found".to_owned(),
        AppError::Domain(_) => "not allowed for your role".to_owned(),
        AppError::Internal(_) => "something went wrong; nothing was changed".to_owned(),
    }
}

/// A refused change a person can act on becomes its explanation (`explain`); a failure
/// stays a failure, logged by its cause (never client data) and shown as the calm page.
pub fn refusal(e: AppError) -> Result<String, PageError> {
    match e {
        AppError::Internal(cause) => {
            tracing::error!(cause = %cause, "a page's change failed");
            Err(PageError::Internal)
        }
        e => Ok(explain(&e)),
    }
}

/// The app handle, for handlers that take `State`.
pub type AppState = State<App>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_and_secure_with_the_host_prefix_over_tls() {
        let tls = CookiePolicy { secure: true };
        assert_eq!(tls.session_name(), "__Host-circle_session");
        assert_eq!(
            tls.cookie(tls.session_name(), "v", 60),
            "__Host-circle_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        let plain = CookiePolicy { secure: false };
        assert_eq!(
            plain.cookie(plain.session_name(), "v", 0),
            "circle_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        );
    }

    #[test]
    fn a_cookie_is_read_by_its_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x_circle_session=a; circle_session=b; other=c"),
        );
        assert_eq!(cookie(&h, "circle_session"), Some("b"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
