//! The join-URL forms on the group and session pages (issue 15): the same rules as
//! `PUT /api/v1/groups/{id}/join-url` and `PUT /api/v1/sessions/{id}/join-url` (an
//! `https://` address, else the form comes back naming `join_url`; empty removes it), for
//! those the API lets set them: a group's directors, a session's facilitators and directors.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use circle_app::App;
use circle_domain::DomainError;
use circle_domain::ids::{GroupId, SessionId};
use circle_domain::telehealth::JoinUrl;

use super::form::{PageForm, Untyped};
use super::{PageError, Signed, explain, form_value};

pub fn routes() -> super::PageRoutes {
    super::PageRoutes::new()
        .route("/groups/{id}/join-url", post(set_group_join_url))
        .route("/sessions/{id}/join-url", post(set_session_join_url))
}

/// The form's `join_url`: empty removes the link; a missing field is a form error.
fn parse(fields: &[(String, String)]) -> Result<Option<JoinUrl>, circle_app::AppError> {
    if !fields.iter().any(|(k, _)| k == "join_url") {
        return Err(DomainError::invalid(
            "join_url",
            "is required (leave it empty to remove the link)",
        )
        .into());
    }
    match form_value(fields, "join_url") {
        "" => Ok(None),
        v => Ok(Some(JoinUrl::parse_field("join_url", v)?)),
    }
}

async fn set_group_join_url(
    State(app): State<App>,
    signed: Signed,
    Path(id): Path<i64>,
    form: PageForm<Untyped>,
) -> Result<Response, PageError> {
    let fields = form.into_fields();
    let group = GroupId(id);
    match parse(&fields) {
        Ok(url) => {
            app.set_group_join_url(&signed.actor, group, url.as_ref())
                .await?;
            Ok(Redirect::to(&format!("/groups/{id}?ok=join-url")).into_response())
        }
        Err(e) => {
            // Whoever may not set the link learns nothing about the form.
            app.group_join_url(&signed.actor, group).await?;
            super::groups::render_group(
                &app,
                &signed,
                group,
                &fields,
                vec![explain(&e)],
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
    form: PageForm<Untyped>,
) -> Result<Response, PageError> {
    let fields = form.into_fields();
    let session = SessionId(id);
    match parse(&fields) {
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
