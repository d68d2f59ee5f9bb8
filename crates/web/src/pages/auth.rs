//! Sign-in pages: password and code, enrolment of the second factor at first sign-in with
//! recovery codes, and sign-out. The same `App::sign_in` as the API decides; these pages
//! only carry its steps.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use circle_app::auth::{IssuedToken, SignInRequest, SignInStep};
use circle_app::web_session::{random_token, secrets_match};
use circle_app::{App, AppError};
use circle_domain::DomainError;
use serde::Deserialize;

use super::form::{Button, PageForm};
use super::{CookiePolicy, Nav, PageError, Signed, cookie, html};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    nav: Option<Nav>,
    csrf: String,
    email: String,
    message: Option<String>,
    /// Where to go once signed in (a checked local path), or empty for the role's home.
    next: String,
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage {
    nav: Option<Nav>,
    csrf: String,
    secret: String,
    otpauth_uri: String,
    /// The `otpauth_uri` as a QR code (inline SVG drawn here from the server-held URI, never
    /// from a posted value), for a phone's authenticator app to scan.
    qr: Option<String>,
    enrollment_token: String,
    message: Option<&'static str>,
}

/// The authenticator link as an inline SVG QR code: no script and no image request, so the
/// pages' CSP stays as strict as it is. `None` if the text cannot be encoded (the key and
/// link are still on the page). The SVG holds only the code's squares: nothing typed by
/// anyone reaches the markup.
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(uri, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Inline in HTML: no XML declaration; named for assistive technology.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the authenticator link\" class=\"qr\" ",
        1,
    ))
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
struct RecoveryCodesPage {
    nav: Option<Nav>,
    codes: Vec<String>,
}

/// The page to return to after signing in: a local path of ours only (never another
/// site: no scheme, no `//host`, no backslash tricks), else `None`.
pub(super) fn safe_next(raw: &str) -> Option<&str> {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && raw.len() <= 512
        && !raw.starts_with("/sign-")
        && raw
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '\\' && c != '"');
    ok.then_some(raw)
}

/// A sign-in form bound to a fresh double-submit cookie.
fn sign_in_page(
    policy: CookiePolicy,
    status: StatusCode,
    email: String,
    message: Option<&str>,
    next: &str,
) -> Response {
    let csrf = random_token();
    let mut res = html(
        status,
        SignInPage {
            nav: None,
            csrf: csrf.clone(),
            email,
            message: message.map(str::to_owned),
            next: safe_next(next).unwrap_or_default().to_owned(),
        },
    );
    set_cookie(
        &mut res,
        &policy.cookie(policy.presession_name(), &csrf, 900),
    );
    res
}

pub(super) fn set_cookie(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn sign_in_form(
    Extension(policy): Extension<CookiePolicy>,
    Query(q): Query<NextQuery>,
) -> Response {
    sign_in_page(policy, StatusCode::OK, String::new(), None, &q.next)
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    email: String,
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    recovery_code: String,
    #[serde(default)]
    next: String,
}

/// The pre-session form is ours only if its hidden token matches the cookie we set.
pub(super) fn presession_ok(headers: &HeaderMap, policy: CookiePolicy, presented: &str) -> bool {
    cookie(headers, policy.presession_name()).is_some_and(|c| secrets_match(c, presented))
}

pub async fn sign_in(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !presession_ok(&headers, policy, &form.csrf) {
        return sign_in_page(
            policy,
            StatusCode::FORBIDDEN,
            String::new(),
            Some("The sign-in form had expired. Please try again."),
            "",
        );
    }
    let ip = Some(peer.ip());
    let nonempty = |s: &str| {
        let t = s.trim();
        (!t.is_empty()).then_some(t.to_owned())
    };
    let code = nonempty(&form.code);
    let recovery = nonempty(&form.recovery_code);
    let step = app
        .sign_in(SignInRequest {
            email: form.email.trim(),
            password: &form.password,
            totp_code: code.as_deref(),
            recovery_code: recovery.as_deref(),
            source_ip: ip,
        })
        .await;
    let email = form.email.trim().to_owned();
    match step {
        Ok(SignInStep::SignedIn(issued)) => signed_in(
            policy,
            &issued,
            Redirect::to(safe_next(&form.next).unwrap_or("/")),
        ),
        Ok(SignInStep::MfaRequired) => sign_in_page(
            policy,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            Some("Enter your password again with the 6-digit code from your authenticator app."),
            &form.next,
        ),
        Ok(SignInStep::EnrollmentRequired(e)) => html(
            StatusCode::OK,
            EnrollPage {
                nav: None,
                csrf: form.csrf,
                secret: e.secret,
                qr: qr_svg(&e.otpauth_uri),
                otpauth_uri: e.otpauth_uri,
                enrollment_token: e.enrollment_token,
                message: None,
            },
        ),
        Err(AppError::Domain(DomainError::Throttled { retry_after_secs })) => {
            let wait = if retry_after_secs < 90 {
                format!("{retry_after_secs} seconds")
            } else {
                format!("{} minutes", (retry_after_secs + 59) / 60)
            };
            sign_in_page(
                policy,
                StatusCode::TOO_MANY_REQUESTS,
                email,
                Some(&format!(
                    "Too many attempts that were not accepted. For your account's safety, \
                     wait {wait} and try again; nothing was checked this time."
                )),
                &form.next,
            )
        }
        Err(_) => sign_in_page(
            policy,
            StatusCode::UNPROCESSABLE_ENTITY,
            email,
            Some("That email, password or code was not accepted."),
            &form.next,
        ),
    }
}

/// Sets the session cookie (a new id at every sign-in) and clears the sign-in cookie.
fn signed_in(policy: CookiePolicy, issued: &IssuedToken, then: impl IntoResponse) -> Response {
    let mut res = then.into_response();
    set_cookie(
        &mut res,
        &policy.cookie(policy.session_name(), &issued.token, 12 * 3600),
    );
    set_cookie(&mut res, &policy.cookie(policy.presession_name(), "", 0));
    res
}

#[derive(Deserialize)]
pub struct EnrollForm {
    csrf: String,
    enrollment_token: String,
    code: String,
}

pub async fn enroll(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<EnrollForm>,
) -> Response {
    if !presession_ok(&headers, policy, &form.csrf) {
        return sign_in_page(
            policy,
            StatusCode::FORBIDDEN,
            String::new(),
            Some("The sign-in form had expired. Please try again."),
            "",
        );
    }
    let ip = Some(peer.ip());
    match app
        .complete_enrollment(&form.enrollment_token, form.code.trim(), ip)
        .await
    {
        Ok(done) => signed_in(
            policy,
            &done.issued,
            html(
                StatusCode::OK,
                RecoveryCodesPage {
                    nav: None,
                    codes: done.recovery_codes,
                },
            ),
        ),
        // The page again with the secret the server holds for this enrolment — never what
        // a form posted (a posted link would be shown as the authenticator link).
        Err(_) => match app.pending_enrollment_view(&form.enrollment_token).await {
            Ok(Some((secret, otpauth_uri))) => html(
                StatusCode::UNPROCESSABLE_ENTITY,
                EnrollPage {
                    nav: None,
                    csrf: form.csrf,
                    secret,
                    qr: qr_svg(&otpauth_uri),
                    otpauth_uri,
                    enrollment_token: form.enrollment_token,
                    message: Some("That code was not accepted. Enter the code your app shows now."),
                },
            ),
            _ => sign_in_page(
                policy,
                StatusCode::UNPROCESSABLE_ENTITY,
                String::new(),
                Some("That enrolment has ended. Sign in again to start a new one."),
                "",
            ),
        },
    }
}

/// Ends the session on the server and clears the cookie.
pub async fn sign_out(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    signed: Signed,
    _: PageForm<Button>,
) -> Result<Response, PageError> {
    app.logout(&signed.token).await?;
    let mut res = Redirect::to("/sign-in").into_response();
    set_cookie(&mut res, &policy.cookie(policy.session_name(), "", 0));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(safe_next("/sessions/4?x=1"), Some("/sessions/4?x=1"));
        for bad in [
            "",
            "sessions/4",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "/sign-in?next=/x",
            "/a b",
            "/\"\u{1b}",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod qr_tests {
    use super::qr_svg;

    #[test]
    fn the_enrolment_qr_code_is_inline_svg_without_script_or_declaration() {
        let svg = qr_svg("otpauth://totp/Circle:a%40b.test?secret=ABCDEFGHIJKLMNOP&issuer=Circle")
            .expect("a QR code");
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.contains("<path"), "{svg}");
        assert!(!svg.contains("<?xml") && !svg.contains("script") && !svg.contains("style"));
    }
}
