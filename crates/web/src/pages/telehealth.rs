//! The join-URL forms on the group and session pages (issue 15): the same rules as
//! `PUT /api/v1/groups/{id}/join-url` and `PUT /api/v1/sessions/{id}/join-url` (an
//! `https://` address, else the form comes back naming `join_url`; empty removes it), for
//! those the API lets set them: a group's directors, a session's facilitators and directors.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use circle_app::{App, AppError};
use circle_domain::DomainError;
use circle_domain::ids::{GroupId, SessionId};
use circle_domain::telehealth::JoinUrl;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::form::{Filled, PageForm};
use super::{PageError, Signed, explain};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/groups/{id}/join-url", post(set_group_join_url))
        .route("/sessions/{id}/join-url", post(set_session_join_url))
}

/// The join-link form: empty removes the link.
#[derive(Deserialize)]
pub struct JoinUrlForm {
    #[serde(deserialize_with = "join_url")]
    join_url: Option<JoinUrl>,
}

/// A join link through the domain's constructor, its rule in the domain's words.
fn join_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JoinUrl>, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.is_empty() {
        return Ok(None);
    }
    JoinUrl::parse_field("join_url", &raw)
        .map(Some)
        .map_err(|e| match e {
            DomainError::Invalid(fields) => de::Error::custom(
                fields
                    .0
                    .into_iter()
                    .next()
                    .map_or_else(|| "is not valid".to_owned(), |f| f.message),
            ),
            _ => de::Error::custom("is not valid"),
        })
}

/// The link to set, or the refusal. A form without the field at all is refused: an empty
/// one is what removes the link, so a missing one is not taken to mean it.
fn link(form: PageForm<JoinUrlForm>) -> (Result<Option<JoinUrl>, AppError>, Filled) {
    let (parsed, filled) = form.into_parts();
    let link = if filled.has("join_url") {
        parsed
            .map(|f| f.join_url)
            .map_err(|e| AppError::Domain(DomainError::Invalid(e)))
    } else {
        Err(DomainError::invalid(
            "join_url",
            "is required (leave it empty to remove the link)",
        )
        .into())
    };
    (link, filled)
}

async fn set_group_join_url(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<JoinUrlForm>,
) -> Result<Response, PageError> {
    let group = GroupId(id);
    let (link, mut filled) = link(form);
    match link {
        Ok(url) => {
            app.set_group_join_url(&signed.actor, group, url.as_ref())
                .await?;
            Ok(Redirect::to(&format!("/groups/{id}?ok=join-url")).into_response())
        }
        Err(e) => {
            // Whoever may not set the link learns nothing about the form.
            app.group_join_url(&signed.actor, group).await?;
            let message = explain(&e);
            filled.refusal(e)?;
            super::groups::render_group(
                &app,
                &signed,
                group,
                &filled,
                None,
                vec![message],
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn set_session_join_url(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<JoinUrlForm>,
) -> Result<Response, PageError> {
    let session = SessionId(id);
    let (link, _) = link(form);
    match link {
        Ok(url) => {
            app.set_session_join_url(&signed.actor, session, url.as_ref())
                .await?;
            Ok(Redirect::to(&format!("/sessions/{id}#join-url")).into_response())
        }
        Err(e) => {
            app.session_join_url_checked(&signed.actor, session).await?;
            super::sessions::render_session(
                &app,
                &signed,
                session,
                vec![explain(&e)],
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                super::notes::Feedback::default(),
                None,
            )
            .await
        }
    }
}
