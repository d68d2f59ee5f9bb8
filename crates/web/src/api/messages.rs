//! Consent to be contacted (issue 18): recorded per client and channel, with who recorded
//! it and when. Without it, no message goes to the client; withdrawing it stops their
//! queued messages at once.

use axum::Json;
use axum::extract::State;
use circle_app::App;
use circle_domain::ids::{ClientId, ProgramId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Errors;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::ApiError;

/// Consent to be contacted by email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetContactConsent {
    /// `true` grants it, `false` withdraws it.
    pub granted: bool,
}

/// A client's consent to be contacted by email, as last recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactConsentView {
    pub channel: &'static str,
    /// `granted`, `withdrawn`, or `none` when nothing was ever recorded (no messages).
    pub state: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub recorded_at: Option<jiff::Timestamp>,
    /// The user who recorded it; absent when the person used an unsubscribe link.
    pub recorded_by: Option<i64>,
    /// `staff`, `portal` or `unsubscribe_link`.
    pub recorded_via: Option<String>,
}

fn view(c: Option<circle_app::messaging::ContactConsent>) -> ContactConsentView {
    match c {
        Some(c) => ContactConsentView {
            channel: "email",
            state: if c.granted { "granted" } else { "withdrawn" },
            recorded_at: Some(c.recorded_at),
            recorded_by: c.recorded_by.map(|u| u.0),
            recorded_via: Some(c.recorded_via),
        },
        None => ContactConsentView {
            channel: "email",
            state: "none",
            recorded_at: None,
            recorded_by: None,
            recorded_via: None,
        },
    }
}

/// A client's consent to be contacted by email.
#[utoipa::path(get, path = "/api/v1/clients/{id}/contact-consent", tag = "messages",
    params(("id" = i64, Path)), responses((status = 200, body = ContactConsentView), Errors),
    security(("bearer" = [])))]
pub async fn get_contact_consent(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ContactConsentView>, ApiError> {
    Ok(Json(view(app.contact_consent(&a, ClientId(id)).await?)))
}

/// Record consent to be contacted by email, or its withdrawal (queued messages stop).
#[utoipa::path(put, path = "/api/v1/clients/{id}/contact-consent", tag = "messages",
    params(("id" = i64, Path)), request_body = SetContactConsent,
    responses((status = 200, body = ContactConsentView), Errors), security(("bearer" = [])))]
pub async fn set_contact_consent(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SetContactConsent>,
) -> Result<Json<ContactConsentView>, ApiError> {
    Ok(Json(view(Some(
        app.set_contact_consent(&a, ClientId(id), body.granted)
            .await?,
    ))))
}

/// A program's messaging settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramMessaging {
    /// Hours before a session its reminder goes (1 to 168).
    pub reminder_hours: u32,
    /// The name messages about this program come from (a discreet one: a client may not
    /// want the program's name in their inbox); absent or empty for the clinic's default.
    /// At most 80 characters on one line.
    #[serde(default)]
    pub sender_name: Option<String>,
}

/// A program's reminder time and sender name (directors).
#[utoipa::path(get, path = "/api/v1/programs/{id}/messaging", tag = "messages",
    params(("id" = i64, Path)), responses((status = 200, body = ProgramMessaging), Errors),
    security(("bearer" = [])))]
pub async fn get_program_messaging(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProgramMessaging>, ApiError> {
    let (reminder_hours, sender_name) = app.program_messaging(&a, ProgramId(id)).await?;
    Ok(Json(ProgramMessaging {
        reminder_hours,
        sender_name,
    }))
}

/// Set a program's reminder time and sender name (directors). 422 names the field.
#[utoipa::path(put, path = "/api/v1/programs/{id}/messaging", tag = "messages",
    params(("id" = i64, Path)), request_body = ProgramMessaging,
    responses((status = 200, body = ProgramMessaging), Errors), security(("bearer" = [])))]
pub async fn set_program_messaging(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ProgramMessaging>,
) -> Result<Json<ProgramMessaging>, ApiError> {
    app.set_program_messaging(
        &a,
        ProgramId(id),
        body.reminder_hours,
        body.sender_name.as_deref(),
    )
    .await?;
    let (reminder_hours, sender_name) = app.program_messaging(&a, ProgramId(id)).await?;
    Ok(Json(ProgramMessaging {
        reminder_hours,
        sender_name,
    }))
}
