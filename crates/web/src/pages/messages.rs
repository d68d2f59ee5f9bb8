//! Pages that messages link to, and the administrators' view of the outbox (issue 18).
//!
//! `/offers/{secret}` and `/unsubscribe/{secret}` work without an account: the link's secret
//! is the capability. Following a link (GET) never changes anything — mail scanners fetch
//! links — so each page shows a form, and the answer is a POST checked by a double-submit
//! CSRF cookie, as the public join form does. A used, expired or unknown link gets a page
//! that says which.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use circle_app::messaging::{LinkState, OfferAnswer, OfferLink};
use circle_app::web_session::random_token;
use circle_app::{App, RequestMeta};

use super::form::{Button, PageForm, Public, PublicForm};
use super::{CookiePolicy, Nav, PageError, Signed, html};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/offers/{secret}", get(offer_page).post(answer_offer))
        .route(
            "/unsubscribe/{secret}",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/admin/messages", get(dead_letters))
        .route(
            "/programs/{id}/messaging",
            get(program_messaging_page).post(save_program_messaging),
        )
}

#[derive(Template)]
#[template(path = "offer.html")]
struct OfferPage {
    nav: Option<Nav>,
    csrf: String,
    secret: String,
    start_date: String,
    reply_by: String,
    /// A refusal of the whole form (it expired).
    message: Option<String>,
    /// The answer's rule, shown by its field.
    answer_error: Option<String>,
}

#[derive(Template)]
#[template(path = "link_state.html")]
struct LinkStatePage {
    nav: Option<Nav>,
    title: String,
    message: String,
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    nav: Option<Nav>,
    csrf: String,
    secret: String,
}

fn meta(peer: std::net::SocketAddr) -> RequestMeta {
    RequestMeta {
        request_id: None,
        source: Some(peer.ip().to_string()),
    }
}

fn state_page(status: StatusCode, title: &str, message: &str) -> Response {
    html(
        status,
        LinkStatePage {
            nav: None,
            title: title.to_owned(),
            message: message.to_owned(),
        },
    )
}

fn closed_offer(link: &OfferLink) -> Response {
    match link {
        OfferLink::Used => state_page(
            StatusCode::GONE,
            "This offer has been answered",
            "This link has already been used to answer the offer, so it no longer works. \
             If you have a question about your place, please call the clinic.",
        ),
        OfferLink::Expired => state_page(
            StatusCode::GONE,
            "This offer has expired",
            "The time to answer this offer has passed and the seat has moved on. If you would \
             still like to join a group, please call the clinic: you can be added to the \
             waiting list again.",
        ),
        OfferLink::Unknown | OfferLink::Open(_) => state_page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "This link is not one we sent, or it was copied incompletely. Please use the \
             link in the message, or call the clinic.",
        ),
    }
}

fn spoken(app: &App, at: &jiff::Timestamp) -> String {
    at.to_zoned(app.clinic_time_zone().clone())
        .strftime("%A %-d %B at %H:%M")
        .to_string()
}

/// What the offer's form says above its fields: a refusal of the whole form (it
/// expired), or the answer's rule by its field.
enum Notice {
    None,
    Form(String),
    Answer(String),
}

fn offer_form(
    app: &App,
    policy: CookiePolicy,
    status: StatusCode,
    secret: &str,
    offer: &circle_domain::placement::Offer,
    notice: Notice,
) -> Response {
    let (message, answer_error) = match notice {
        Notice::None => (None, None),
        Notice::Form(m) => (Some(m), None),
        Notice::Answer(m) => (None, Some(m)),
    };
    let csrf = random_token();
    let mut res = html(
        status,
        OfferPage {
            nav: None,
            csrf: csrf.clone(),
            secret: secret.to_owned(),
            start_date: offer.start_date.strftime("%A %-d %B").to_string(),
            reply_by: spoken(app, &offer.expires_at),
            message,
            answer_error,
        },
    );
    super::auth::set_cookie(
        &mut res,
        &policy.cookie(policy.presession_name(), &csrf, 3600),
    );
    res
}

async fn offer_page(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    offer_again(
        &app,
        policy,
        &secret,
        &meta(peer),
        StatusCode::OK,
        Notice::None,
    )
    .await
}

/// The offer's form while the offer is open (first shown; expired, 403; the answer refused
/// by its field, 422); a closed offer says why instead.
async fn offer_again(
    app: &App,
    policy: CookiePolicy,
    secret: &str,
    request: &RequestMeta,
    status: StatusCode,
    notice: Notice,
) -> Result<Response, PageError> {
    Ok(match app.offer_by_link(secret, request).await? {
        OfferLink::Open(offer) => offer_form(app, policy, status, secret, &offer, notice),
        other => closed_offer(&other),
    })
}

/// The answer to an offer: the seat taken or not.
#[derive(serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Accept,
    Decline,
}

/// The offer page's form.
#[derive(serde::Deserialize)]
pub struct OfferForm {
    answer: Answer,
}

async fn answer_offer(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(secret): Path<String>,
    form: PublicForm<OfferForm>,
) -> Result<Response, PageError> {
    let request = meta(peer);
    let (posted, filled) = form.into_parts();
    let accept = match posted {
        Public::Expired | Public::Robot => {
            let m = Notice::Form("The page had expired. Please choose again.".to_owned());
            return offer_again(&app, policy, &secret, &request, StatusCode::FORBIDDEN, m).await;
        }
        Public::Parsed(Ok(OfferForm { answer })) => matches!(answer, Answer::Accept),
        Public::Parsed(Err(errors)) => {
            let mut filled = filled;
            filled.field_errors(errors);
            let rule = filled.error("answer").unwrap_or_default();
            let m = Notice::Answer(format!("Your answer: {rule}"));
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return offer_again(&app, policy, &secret, &request, status, m).await;
        }
    };
    match app.answer_offer_by_link(&secret, accept, &request).await {
        Ok(OfferAnswer::Accepted(offer)) => Ok(state_page(
            StatusCode::OK,
            "Your seat is booked",
            &format!(
                "Thank you: your place starts {}. The clinic will send you the details of \
                 your first session.",
                offer.start_date.strftime("%A %-d %B")
            ),
        )),
        Ok(OfferAnswer::Declined(_)) => Ok(state_page(
            StatusCode::OK,
            "You have declined the seat",
            "Thank you for letting us know. The seat will be offered to someone else. If \
             you change your mind, please call the clinic.",
        )),
        Ok(OfferAnswer::Closed(link)) => Ok(closed_offer(&link)),
        // A rule that keeps the person out now (the group filled, a schedule changed):
        // the same rules as at intake, explained without naming anyone.
        Err(circle_app::AppError::Domain(d)) => Ok(state_page(
            StatusCode::CONFLICT,
            "The seat could not be booked",
            &format!(
                "{} Please call the clinic and we will find the next place for you.",
                super::explain(&circle_app::AppError::Domain(d))
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn unsubscribe_page(
    Extension(policy): Extension<CookiePolicy>,
    Path(secret): Path<String>,
) -> Response {
    let csrf = random_token();
    let mut res = html(
        StatusCode::OK,
        UnsubscribePage {
            nav: None,
            csrf: csrf.clone(),
            secret,
        },
    );
    super::auth::set_cookie(
        &mut res,
        &policy.cookie(policy.presession_name(), &csrf, 3600),
    );
    res
}

async fn unsubscribe(
    State(app): State<App>,
    Extension(policy): Extension<CookiePolicy>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Path(secret): Path<String>,
    form: PublicForm<Button>,
) -> Result<Response, PageError> {
    if !matches!(form.into_parts().0, Public::Parsed(_)) {
        return Ok(unsubscribe_page(Extension(policy), Path(secret)).await);
    }
    Ok(match app.unsubscribe(&secret, &meta(peer)).await? {
        LinkState::Done => state_page(
            StatusCode::OK,
            "You will not get these messages any more",
            "We have stopped messages by email to you, including any waiting to be sent. \
             You can ask the clinic to start them again at any time.",
        ),
        LinkState::Used => state_page(
            StatusCode::GONE,
            "This link has been used",
            "Messages by email were already stopped with this link.",
        ),
        LinkState::Expired => state_page(
            StatusCode::GONE,
            "This link has expired",
            "Please use the link in a more recent message, or ask the clinic to stop \
             messages by email.",
        ),
        LinkState::Unknown => state_page(
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Please use the link in the message, or ask the clinic to stop messages by email.",
        ),
    })
}

struct DeadRow {
    id: i64,
    kind: &'static str,
    recipient: String,
    attempts: u32,
    error: String,
    created: String,
    updated: String,
}

#[derive(Template)]
#[template(path = "admin_messages.html")]
struct DeadLettersPage {
    nav: Option<Nav>,
    counts: circle_app::messaging::OutboxCounts,
    rows: Vec<DeadRow>,
}

async fn dead_letters(State(app): State<App>, signed: Signed) -> Result<Response, PageError> {
    let (counts, list) = app.dead_letters(&signed.actor).await?;
    let local = |t: jiff::Timestamp| {
        t.to_zoned(app.clinic_time_zone().clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    let rows = list
        .into_iter()
        .map(|d| DeadRow {
            id: d.id,
            kind: super::vocab::message_kind(d.kind.as_str()).unwrap_or("Other"),
            recipient: format!("{} {}", d.recipient_kind, d.recipient_id),
            attempts: d.attempts,
            error: d.last_error.unwrap_or_default(),
            created: local(d.created_at),
            updated: local(d.updated_at),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        DeadLettersPage {
            nav: Some(signed.nav()),
            counts,
            rows,
        },
    ))
}

#[derive(Template)]
#[template(path = "program_messaging.html")]
struct ProgramMessagingPage {
    nav: Option<Nav>,
    csrf: String,
    program: i64,
    reminder_hours: String,
    sender_name: String,
    saved: bool,
    error: Option<String>,
    hours_error: Option<String>,
    name_error: Option<String>,
}

#[derive(serde::Deserialize)]
struct SavedQuery {
    ok: Option<String>,
}

/// A program's reminder time and discreet sender name (directors of the program).
async fn program_messaging_page(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> Result<Response, PageError> {
    let (hours, name) = app
        .program_messaging(&signed.actor, circle_domain::ids::ProgramId(id))
        .await?;
    Ok(html(
        StatusCode::OK,
        ProgramMessagingPage {
            nav: Some(signed.nav()),
            csrf: signed.csrf(),
            program: id,
            reminder_hours: hours.to_string(),
            sender_name: name.unwrap_or_default(),
            saved: q.ok.is_some(),
            error: None,
            hours_error: None,
            name_error: None,
        },
    ))
}

/// A program's messaging settings: hours before a session to remind, and the sender name
/// (empty for the clinic's own; its rule is the service's).
#[derive(serde::Deserialize)]
pub struct MessagingForm {
    reminder_hours: u32,
    sender_name: String,
}

async fn save_program_messaging(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<MessagingForm>,
) -> Result<Response, PageError> {
    let program = circle_domain::ids::ProgramId(id);
    let (parsed, filled) = form.into_parts();
    let result = match parsed {
        Ok(f) => {
            app.set_program_messaging(
                &signed.actor,
                program,
                f.reminder_hours,
                Some(&f.sender_name),
            )
            .await
        }
        // The caller's right to the program is checked first: a refused field is no
        // answer to someone who may not see the form.
        Err(errors) => Err(match app.program_messaging(&signed.actor, program).await {
            Err(e) => e,
            Ok(_) => circle_app::AppError::Domain(circle_domain::DomainError::Invalid(errors)),
        }),
    };
    match result {
        Ok(()) => Ok(
            axum::response::Redirect::to(&format!("/programs/{id}/messaging?ok=saved"))
                .into_response(),
        ),
        Err(e @ circle_app::AppError::Domain(circle_domain::DomainError::Invalid(_))) => {
            // The refused values are shown back, each rule by its field, and nothing was
            // changed.
            let mut filled = filled;
            filled.refusal(e)?;
            Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                ProgramMessagingPage {
                    nav: Some(signed.nav()),
                    csrf: signed.csrf(),
                    program: id,
                    reminder_hours: filled.value("reminder_hours").to_owned(),
                    sender_name: filled.value("sender_name").to_owned(),
                    saved: false,
                    error: Some(filled.summary().join("; ")),
                    hours_error: filled.error("reminder_hours"),
                    name_error: filled.error("sender_name"),
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}
