//! Programs, rooms and clinicians: the clinic's structure.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::billing::NpiInput;
use circle_domain::clinician::{Clinician, NewClinician};
use circle_domain::ids::{ClinicianId, ProgramId, RoomId};
use circle_domain::program::{NewProgram, NewRoom, Program, ProgramPatch, Room};

use super::{Errors, PageOf, PageQuery};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// List programs.
#[utoipa::path(get, path = "/api/v1/programs", tag = "programs", params(PageQuery),
    responses((status = 200, body = PageOf<Program>), Errors), security(("bearer" = [])))]
pub async fn list_programs(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<Program>>, ApiError> {
    Ok(Json(app.list_programs(&a, q.request()?).await?.into()))
}

/// Create a program (directors).
#[utoipa::path(post, path = "/api/v1/programs", tag = "programs", request_body = NewProgram,
    responses((status = 201, body = Program), Errors), security(("bearer" = [])))]
pub async fn create_program(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewProgram>,
) -> Created<Program> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_program(&a, &body).await?),
    ))
}

/// One program.
#[utoipa::path(get, path = "/api/v1/programs/{id}", tag = "programs", params(("id" = i64, Path)),
    responses((status = 200, body = Program), Errors), security(("bearer" = [])))]
pub async fn get_program(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Program>, ApiError> {
    Ok(Json(app.program(&a, ProgramId(id)).await?))
}

/// Change a program's settings (directors); `version` must be current.
#[utoipa::path(patch, path = "/api/v1/programs/{id}", tag = "programs", params(("id" = i64, Path)),
    request_body = ProgramPatch, responses((status = 200, body = Program), Errors), security(("bearer" = [])))]
pub async fn update_program(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ProgramPatch>,
) -> Result<Json<Program>, ApiError> {
    Ok(Json(app.update_program(&a, ProgramId(id), &body).await?))
}

/// List rooms.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", params(PageQuery),
    responses((status = 200, body = PageOf<Room>), Errors), security(("bearer" = [])))]
pub async fn list_rooms(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<Room>>, ApiError> {
    Ok(Json(app.list_rooms(&a, q.request()?).await?.into()))
}

/// Add a room (directors, admins).
#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", request_body = NewRoom,
    responses((status = 201, body = Room), Errors), security(("bearer" = [])))]
pub async fn create_room(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewRoom>,
) -> Created<Room> {
    Ok((StatusCode::CREATED, Json(app.create_room(&a, &body).await?)))
}

/// One room.
#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms", params(("id" = i64, Path)),
    responses((status = 200, body = Room), Errors), security(("bearer" = [])))]
pub async fn get_room(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Room>, ApiError> {
    Ok(Json(app.room(&a, RoomId(id)).await?))
}

/// List clinicians.
#[utoipa::path(get, path = "/api/v1/clinicians", tag = "clinicians", params(PageQuery),
    responses((status = 200, body = PageOf<Clinician>), Errors), security(("bearer" = [])))]
pub async fn list_clinicians(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<Clinician>>, ApiError> {
    Ok(Json(app.list_clinicians(&a, q.request()?).await?.into()))
}

/// Add a clinician with their licenses (directors, admins).
#[utoipa::path(post, path = "/api/v1/clinicians", tag = "clinicians", request_body = NewClinician,
    responses((status = 201, body = Clinician), Errors), security(("bearer" = [])))]
pub async fn create_clinician(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewClinician>,
) -> Created<Clinician> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_clinician(&a, &body).await?),
    ))
}

/// Record or remove a clinician's National Provider Identifier, the rendering provider on
/// billing lines and claims (directors, admins): ten digits whose last is the check digit
/// over the 80840 prefix, else 422 naming `npi`.
#[utoipa::path(put, path = "/api/v1/clinicians/{id}/npi", tag = "clinicians", params(("id" = i64, Path)),
    request_body = NpiInput, responses((status = 200, body = Clinician), Errors), security(("bearer" = [])))]
pub async fn set_clinician_npi(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NpiInput>,
) -> Result<Json<Clinician>, ApiError> {
    Ok(Json(
        app.set_clinician_npi(&a, ClinicianId(id), body.npi.as_ref())
            .await?,
    ))
}

/// One clinician.
#[utoipa::path(get, path = "/api/v1/clinicians/{id}", tag = "clinicians", params(("id" = i64, Path)),
    responses((status = 200, body = Clinician), Errors), security(("bearer" = [])))]
pub async fn get_clinician(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Clinician>, ApiError> {
    Ok(Json(app.clinician(&a, ClinicianId(id)).await?))
}
