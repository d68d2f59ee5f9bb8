//! Clients, their episodes (levels of care over time), separations and memberships.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use circle_app::App;
use circle_domain::client::{
    Client, ClientPatch, Episode, NewClient, NewEpisode, NewSeparation, Separation,
};
use circle_domain::ids::ClientId;
use circle_domain::membership::Membership;

use super::{Errors, PageOf, PageQuery};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::problem::ApiError;

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

/// List clients (clinical and intake staff).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", params(PageQuery),
    responses((status = 200, body = PageOf<Client>), Errors), security(("bearer" = [])))]
pub async fn list_clients(
    State(app): State<App>,
    Auth(a): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<PageOf<Client>>, ApiError> {
    Ok(Json(app.list_clients(&a, q.request()?).await?.into()))
}

/// Register a client (directors, intake).
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, body = Client), Errors), security(("bearer" = [])))]
pub async fn create_client(
    State(app): State<App>,
    Auth(a): Auth,
    ApiJson(body): ApiJson<NewClient>,
) -> Created<Client> {
    Ok((
        StatusCode::CREATED,
        Json(app.create_client(&a, &body).await?),
    ))
}

/// One client (staff, or the client themself).
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = Client), Errors), security(("bearer" = [])))]
pub async fn get_client(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(app.client(&a, ClientId(id)).await?))
}

/// Change contact details, concerns or availability; `version` must be current.
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "clients", params(("id" = i64, Path)),
    request_body = ClientPatch, responses((status = 200, body = Client), Errors), security(("bearer" = [])))]
pub async fn update_client(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ClientPatch>,
) -> Result<Json<Client>, ApiError> {
    Ok(Json(app.update_client(&a, ClientId(id), &body).await?))
}

/// A client's levels of care over time.
#[utoipa::path(get, path = "/api/v1/clients/{id}/episodes", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Episode>), Errors), security(("bearer" = [])))]
pub async fn list_episodes(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Episode>>, ApiError> {
    Ok(Json(app.episodes(&a, ClientId(id)).await?))
}

/// Change level of care (step down or up): closes the open episode and opens this one.
#[utoipa::path(post, path = "/api/v1/clients/{id}/episodes", tag = "clients", params(("id" = i64, Path)),
    request_body = NewEpisode, responses((status = 201, body = Episode), Errors), security(("bearer" = [])))]
pub async fn change_level(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewEpisode>,
) -> Created<Episode> {
    Ok((
        StatusCode::CREATED,
        Json(app.change_level(&a, ClientId(id), &body).await?),
    ))
}

/// Discharge: end the client's care on a date (their group memberships must be ended
/// first). The closed episode makes the discharge measures due.
#[utoipa::path(post, path = "/api/v1/clients/{id}/discharge", tag = "clients", params(("id" = i64, Path)),
    request_body = circle_domain::client::NewDischarge, responses((status = 200, body = Episode), Errors), security(("bearer" = [])))]
pub async fn discharge(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<circle_domain::client::NewDischarge>,
) -> Result<Json<Episode>, ApiError> {
    Ok(Json(app.discharge(&a, ClientId(id), &body).await?))
}

/// A client's separations (the reason only for directors and clinicians).
#[utoipa::path(get, path = "/api/v1/clients/{id}/separations", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Separation>), Errors), security(("bearer" = [])))]
pub async fn list_separations(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Separation>>, ApiError> {
    Ok(Json(app.separations(&a, ClientId(id)).await?))
}

/// Record that this client must never share a group with another.
#[utoipa::path(post, path = "/api/v1/clients/{id}/separations", tag = "clients", params(("id" = i64, Path)),
    request_body = NewSeparation, responses((status = 201, body = Separation), Errors), security(("bearer" = [])))]
pub async fn add_separation(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewSeparation>,
) -> Created<Separation> {
    Ok((
        StatusCode::CREATED,
        Json(app.add_separation(&a, ClientId(id), &body).await?),
    ))
}

/// A client's memberships, current and past.
#[utoipa::path(get, path = "/api/v1/clients/{id}/memberships", tag = "clients", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Membership>), Errors), security(("bearer" = [])))]
pub async fn client_memberships(
    State(app): State<App>,
    Auth(a): Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Membership>>, ApiError> {
    Ok(Json(app.client_memberships(&a, ClientId(id)).await?))
}
