//! Clinical notes: a session's group note, its members' progress notes, signatures,
//! co-signatures, addenda and the overdue list.

use axum::Json;
use axum::extract::State;
use circle_app::App;
use circle_domain::ids::{ClientId, NoteId, SessionId};
use circle_domain::note::{
    CosignNote, GroupNote, GroupNoteInput, NewAddendum, OverdueForClinician, ProgressNote,
    ProgressNoteInput, SignNote,
};

use super::Errors;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::problem::ApiError;

/// A session's group note (topic, themes, interventions, facilitators).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/group-note", tag = "notes", params(("id" = i64, Path)),
    responses((status = 200, body = GroupNote), Errors), security(("bearer" = [])))]
pub async fn get_group_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<GroupNote>, ApiError> {
    Ok(Json(app.group_note(&a, SessionId(id)).await?))
}

/// Create the session's draft group note, or autosave it (send its `version`).
#[utoipa::path(put, path = "/api/v1/sessions/{id}/group-note", tag = "notes", params(("id" = i64, Path)),
    request_body = GroupNoteInput, responses((status = 200, body = GroupNote), Errors), security(("bearer" = [])))]
pub async fn save_group_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupNoteInput>,
) -> Result<Json<GroupNote>, ApiError> {
    Ok(Json(app.save_group_note(&a, SessionId(id), &body).await?))
}

/// Sign the group note (its author). A trainee's note then awaits a co-signature.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/group-note/sign", tag = "notes", params(("id" = i64, Path)),
    request_body = SignNote, responses((status = 200, body = GroupNote), Errors), security(("bearer" = [])))]
pub async fn sign_group_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SignNote>,
) -> Result<Json<GroupNote>, ApiError> {
    Ok(Json(app.sign_group_note(&a, SessionId(id), &body).await?))
}

/// Co-sign a trainee's group note (a licensed clinician).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/group-note/cosign", tag = "notes", params(("id" = i64, Path)),
    request_body = CosignNote, responses((status = 200, body = GroupNote), Errors), security(("bearer" = [])))]
pub async fn cosign_group_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CosignNote>,
) -> Result<Json<GroupNote>, ApiError> {
    Ok(Json(app.cosign_group_note(&a, SessionId(id), &body).await?))
}

/// Amend the signed group note with an addendum.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/group-note/addenda", tag = "notes", params(("id" = i64, Path)),
    request_body = NewAddendum, responses((status = 201, body = GroupNote), Errors), security(("bearer" = [])))]
pub async fn group_note_addendum(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewAddendum>,
) -> Result<(axum::http::StatusCode, Json<GroupNote>), ApiError> {
    Ok((
        axum::http::StatusCode::CREATED,
        Json(app.add_group_addendum(&a, SessionId(id), &body).await?),
    ))
}

/// The session's progress notes (one per attending member who has one).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/notes", tag = "notes", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ProgressNote>), Errors), security(("bearer" = [])))]
pub async fn list_progress_notes(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<ProgressNote>>, ApiError> {
    Ok(Json(app.progress_notes(&a, SessionId(id)).await?))
}

/// Create a member's draft progress note for the session, or autosave it (send its
/// `version`). The member must have attended.
#[utoipa::path(put, path = "/api/v1/sessions/{id}/notes/{client_id}", tag = "notes",
    params(("id" = i64, Path), ("client_id" = i64, Path)),
    request_body = ProgressNoteInput, responses((status = 200, body = ProgressNote), Errors), security(("bearer" = [])))]
pub async fn save_progress_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath((id, client)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<ProgressNoteInput>,
) -> Result<Json<ProgressNote>, ApiError> {
    Ok(Json(
        app.save_progress_note(&a, SessionId(id), ClientId(client), &body)
            .await?,
    ))
}

/// Notes not signed within the program's window after their session: a clinician's own,
/// or everyone's for a director, grouped by clinician.
#[utoipa::path(get, path = "/api/v1/notes/overdue", tag = "notes",
    responses((status = 200, body = Vec<OverdueForClinician>), Errors), security(("bearer" = [])))]
pub async fn overdue(
    State(app): State<App>,
    Auth(a): Auth,
) -> Result<Json<Vec<OverdueForClinician>>, ApiError> {
    Ok(Json(app.overdue_notes(&a).await?))
}

/// One progress note.
#[utoipa::path(get, path = "/api/v1/notes/{id}", tag = "notes", params(("id" = i64, Path)),
    responses((status = 200, body = ProgressNote), Errors), security(("bearer" = [])))]
pub async fn get_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProgressNote>, ApiError> {
    Ok(Json(app.progress_note(&a, NoteId(id)).await?))
}

/// Sign a progress note (its author). Refused with 409 `other_members_named` when names
/// of other members of the session appear in it, unless `confirm_names_checked` is true.
#[utoipa::path(post, path = "/api/v1/notes/{id}/sign", tag = "notes", params(("id" = i64, Path)),
    request_body = SignNote, responses((status = 200, body = ProgressNote), Errors), security(("bearer" = [])))]
pub async fn sign_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SignNote>,
) -> Result<Json<ProgressNote>, ApiError> {
    Ok(Json(app.sign_progress_note(&a, NoteId(id), &body).await?))
}

/// Co-sign a trainee's progress note (a licensed clinician).
#[utoipa::path(post, path = "/api/v1/notes/{id}/cosign", tag = "notes", params(("id" = i64, Path)),
    request_body = CosignNote, responses((status = 200, body = ProgressNote), Errors), security(("bearer" = [])))]
pub async fn cosign_note(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CosignNote>,
) -> Result<Json<ProgressNote>, ApiError> {
    Ok(Json(app.cosign_progress_note(&a, NoteId(id), &body).await?))
}

/// Amend a signed progress note with an addendum.
#[utoipa::path(post, path = "/api/v1/notes/{id}/addenda", tag = "notes", params(("id" = i64, Path)),
    request_body = NewAddendum, responses((status = 201, body = ProgressNote), Errors), security(("bearer" = [])))]
pub async fn note_addendum(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewAddendum>,
) -> Result<(axum::http::StatusCode, Json<ProgressNote>), ApiError> {
    Ok((
        axum::http::StatusCode::CREATED,
        Json(app.add_progress_addendum(&a, NoteId(id), &body).await?),
    ))
}
