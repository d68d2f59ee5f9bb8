//! Circle over HTTP: the JSON API under `/api/v1` (described by the OpenAPI document at
//! `/api/v1/openapi.json`), health checks, and the middleware every response passes
//! through: request ids, problem+json for every error, security headers.
//!
//! The server lives here so `circle serve` and the tests start it the same way:
//! `Application::build(app, addr)` binds (port 0 picks a free port), `port()` says which,
//! `run_until_stopped()` serves. `Application::build_with_tls` serves HTTPS with rustls
//! from a PEM certificate chain and key ([`Tls`]); every response then carries
//! `Strict-Transport-Security`, and never over plain HTTP.

pub mod api;
pub mod extract;
pub mod fhir;
pub mod ics;
pub mod metrics;
pub mod pages;
pub mod problem;

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use circle_app::App;
use circle_domain::DomainError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Metrics;
use crate::problem::{ApiError, InternalFailure, Problem, problem_response};

/// Request bodies above this are refused with 413: no legitimate API call is larger.
pub const BODY_LIMIT: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Circle API",
        description = "Group therapy programs: programs, groups, clients, memberships, sessions and attendance. \
            Errors are application/problem+json (RFC 9457) with a machine-readable `code`.",
        license(name = "AGPL-3.0-or-later")
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem)),
    tags(
        (name = "auth", description = "Sign-in"),
        (name = "programs", description = "Programs (service lines by level of care)"),
        (name = "rooms", description = "Rooms"),
        (name = "clinicians", description = "Clinicians and licenses"),
        (name = "clients", description = "Clients, episodes, separations"),
        (name = "groups", description = "Groups and memberships"),
        (name = "sessions", description = "Sessions and attendance"),
        (name = "placement", description = "Placement suggestions, waitlists, offers, transitions"),
        (name = "notes", description = "Group notes, progress notes, signatures and addenda"),
        (name = "audit", description = "The audit trail"),
        (name = "measures", description = "Outcome measures, safety alerts, due list"),
        (name = "intake", description = "Referrals, screening, consents and disclosures"),
        (name = "messages", description = "Consent to be contacted by email"),
        (name = "users", description = "User accounts (administrators)"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// The API routes and the OpenAPI document generated from them.
pub fn api_router() -> (Router<App>, utoipa::openapi::OpenApi) {
    use api::{auth, clients, groups, sessions, structure};
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::enroll))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(structure::list_programs, structure::create_program))
        .routes(routes!(structure::get_program, structure::update_program))
        .routes(routes!(structure::list_rooms, structure::create_room))
        .routes(routes!(structure::get_room))
        .routes(routes!(
            structure::list_clinicians,
            structure::create_clinician
        ))
        .routes(routes!(structure::get_clinician))
        .routes(routes!(structure::set_clinician_npi))
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(clients::get_client, clients::update_client))
        .routes(routes!(clients::list_episodes, clients::change_level))
        .routes(routes!(clients::discharge))
        .routes(routes!(clients::list_separations, clients::add_separation))
        .routes(routes!(clients::client_memberships))
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(groups::get_group, groups::update_group))
        .routes(routes!(groups::list_memberships, groups::enroll))
        .routes(routes!(groups::change_membership))
        .routes(routes!(groups::list_sessions))
        .routes(routes!(groups::materialize))
        .routes(routes!(sessions::get_session, sessions::update_session))
        .routes(routes!(sessions::roster))
        .routes(routes!(sessions::cancel))
        .routes(routes!(sessions::list_attendance))
        .routes(routes!(sessions::record_attendance))
        .routes(routes!(api::telehealth::set_group_join_url))
        .routes(routes!(
            api::telehealth::get_session_join_url,
            api::telehealth::set_session_join_url
        ))
        .routes(routes!(
            api::telehealth::get_calendar_settings,
            api::telehealth::put_calendar_settings
        ))
        // --- notes ---
        .routes(routes!(
            api::notes::get_group_note,
            api::notes::save_group_note
        ))
        .routes(routes!(api::notes::sign_group_note))
        .routes(routes!(api::notes::cosign_group_note))
        .routes(routes!(api::notes::group_note_addendum))
        .routes(routes!(api::notes::list_progress_notes))
        .routes(routes!(api::notes::save_progress_note))
        .routes(routes!(api::notes::overdue))
        .routes(routes!(api::notes::get_note))
        .routes(routes!(api::notes::sign_note))
        .routes(routes!(api::notes::cosign_note))
        .routes(routes!(api::notes::note_addendum))
        // --- end notes ---
        .routes(routes!(api::planning::propose))
        .routes(routes!(api::planning::apply))
        // --- planner ---
        .routes(routes!(api::planning::list_runs, api::planning::start_run))
        .routes(routes!(api::planning::get_run))
        .routes(routes!(api::planning::approve_run))
        // --- end planner ---
        // --- placement ---
        .routes(routes!(api::placement::suggestions))
        .routes(routes!(api::placement::transition_plan))
        .routes(routes!(
            api::placement::list_waitlist,
            api::placement::add_to_waitlist
        ))
        .routes(routes!(api::placement::remove_from_waitlist))
        .routes(routes!(api::placement::list_offers))
        .routes(routes!(api::placement::get_offer))
        .routes(routes!(api::placement::accept_offer))
        .routes(routes!(api::placement::decline_offer))
        .routes(routes!(api::audit::report))
        .routes(routes!(api::audit::grant, api::audit::revoke))
        .routes(routes!(api::audit::open_emergency))
        .routes(routes!(api::audit::list_emergency))
        .routes(routes!(api::reports::compliance))
        .routes(routes!(
            api::reports::get_diagnoses,
            api::reports::set_diagnoses
        ))
        .routes(routes!(api::reports::billing_export))
        .routes(routes!(api::reports::claim_file_837p))
        // --- measures ---
        .routes(routes!(
            api::measures::list_instruments,
            api::measures::create_instrument
        ))
        .routes(routes!(api::measures::get_instrument))
        .routes(routes!(
            api::measures::list_measures,
            api::measures::record_measure
        ))
        .routes(routes!(api::measures::measure_summary))
        .routes(routes!(api::measures::list_alerts))
        .routes(routes!(api::measures::acknowledge_alert))
        .routes(routes!(api::measures::measures_due))
        // --- intake ---
        .routes(routes!(api::intake::self_referral))
        .routes(routes!(api::intake::group_agreement_text))
        .routes(routes!(
            api::intake::list_referrals,
            api::intake::create_referral
        ))
        .routes(routes!(api::intake::get_referral))
        .routes(routes!(api::intake::transition))
        .routes(routes!(api::intake::screening))
        .routes(routes!(api::intake::assign_screener))
        .routes(routes!(api::intake::sign_agreement))
        .routes(routes!(api::intake::consents))
        .routes(routes!(api::intake::part2_consent))
        .routes(routes!(api::intake::revoke_part2))
        .routes(routes!(
            api::messages::get_contact_consent,
            api::messages::set_contact_consent
        ))
        .routes(routes!(
            api::messages::get_program_messaging,
            api::messages::set_program_messaging
        ))
        .routes(routes!(
            api::intake::list_disclosures,
            api::intake::record_disclosure
        ))
        // --- security ---
        .routes(routes!(
            api::accounts::list_users,
            api::accounts::create_user
        ))
        .routes(routes!(api::accounts::update_user))
        .routes(routes!(api::accounts::reset_mfa))
        .routes(routes!(api::accounts::reset_password))
        .routes(routes!(
            api::accounts::user_programs,
            api::accounts::set_user_programs
        ))
        .routes(routes!(api::accounts::change_password))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .split_for_parts()
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "up")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers and is migrated.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready"), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn readyz(State(app): State<App>) -> Response {
    match app.ready().await {
        Ok(true) => Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(false) => unavailable(
            "unavailable",
            "the database is not fully migrated: run `circle migrate`",
        ),
        Err(e) => match e.storage() {
            Some(full) => {
                let (code, _) = problem::storage_problem(full);
                unavailable(
                    code,
                    if full {
                        "the database cannot write: disk full"
                    } else {
                        "the database cannot write (storage error)"
                    },
                )
            }
            None => unavailable("unavailable", "the database is unreachable"),
        },
    }
}

fn unavailable(code: &str, detail: &str) -> Response {
    let s = StatusCode::SERVICE_UNAVAILABLE;
    problem_response(
        s,
        &Problem {
            kind: "urn:circle:problem:unavailable".to_owned(),
            title: "Not ready".to_owned(),
            status: s.as_u16(),
            detail: detail.to_owned(),
            code: code.to_owned(),
            errors: vec![],
            request_id: None,
        },
    )
}

/// The whole HTTP surface with its middleware.
pub fn router(app: App) -> Router {
    router_with(app, pages::CookiePolicy::default())
}

/// The whole HTTP surface, with cookies set as `policy` says (secure when serving TLS).
pub fn router_with(app: App, policy: pages::CookiePolicy) -> Router {
    router_observed(app, policy, None)
}

/// The whole HTTP surface, recording each request into `metrics` when given.
pub fn router_observed(
    app: App,
    policy: pages::CookiePolicy,
    metrics: Option<std::sync::Arc<Metrics>>,
) -> Router {
    let (api, openapi) = api_router();
    let api = api.merge(pages::router(policy)).merge(fhir::router());
    let openapi_json = serde_json::to_value(&openapi).unwrap_or_default();
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { Json(openapi_json) }),
    )
    // An address nothing serves: the API's and FHIR's clients get problem+json; a browser
    // anywhere else gets the pages' calm "Not found" page (issue 14: it showed raw JSON).
    .fallback(|uri: axum::http::Uri| async move {
        let path = uri.path();
        if path.starts_with("/api/") || path.starts_with("/fhir/") {
            ApiError::Domain(DomainError::not_found("route")).into_response()
        } else {
            pages::PageError::NotFound.into_response()
        }
    })
    .method_not_allowed_fallback(|| async {
        ApiError::bad_request(
            "method_not_allowed",
            "this route does not accept that method",
        )
    })
    .layer(DefaultBodyLimit::max(BODY_LIMIT))
    .with_state(app)
    .layer(CatchPanicLayer::custom(|_| {
        ApiError::Internal("a handler panicked".to_owned()).into_response()
    }))
    .layer(middleware::from_fn(finish_problems))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ))
    .layer(middleware::from_fn_with_state(metrics, observe_request))
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
    .layer(middleware::from_fn(drop_unsafe_request_id))
}

/// A caller's `X-Request-Id` is kept only when it is a short token of safe characters (at
/// most 64 of letters, digits, `-`, `_`, `.`, `:`); anything else is dropped, so the server
/// generates one. The id is copied into every audit entry and log line of the request: an
/// unchecked one could fill the audit log (a 380 KB id was stored) or forge log lines.
async fn drop_unsafe_request_id(mut req: Request, next: Next) -> Response {
    let safe = req.headers().get(REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        (1..=64).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
    });
    if !safe {
        req.headers_mut().remove(REQUEST_ID);
    }
    next.run(req).await
}

/// One log line per request — its id, route template, method, status and time, never the
/// raw path (it carries ids) or anything from the body — and a span with the request id
/// and route around everything the request logs. Records the request in `/metrics` too,
/// when it is served.
async fn observe_request(
    State(metrics): State<Option<std::sync::Arc<Metrics>>>,
    req: Request,
    next: Next,
) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    let route = metrics::route_of(&req);
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id, route = %route);
    let started = std::time::Instant::now();
    let resp = next.run(req).instrument(span).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    tracing::info!(
        target: "circle::request",
        request_id = %request_id,
        route = %route,
        method = %method,
        status,
        duration_ms = took.as_secs_f64() * 1000.0,
        "request"
    );
    if let Some(metrics) = metrics {
        metrics.observe(&route, &method, status, took);
    }
    resp
}

/// Completes internal-error problems with the request id and logs their cause (never
/// client data: causes are driver and column names).
async fn finish_problems(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    let mut resp = next.run(req).await;
    if let Some(InternalFailure(cause)) = resp.extensions_mut().remove::<InternalFailure>() {
        tracing::error!(request_id = %request_id, cause = %cause, "request failed");
        let mut problem = resp
            .extensions_mut()
            .remove::<Problem>()
            .unwrap_or_else(|| Problem {
                kind: "urn:circle:problem:internal".to_owned(),
                title: "Internal error".to_owned(),
                status: 500,
                detail: "something went wrong".to_owned(),
                code: "internal".to_owned(),
                errors: vec![],
                request_id: None,
            });
        problem.request_id = Some(request_id);
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return problem_response(status, &problem);
    }
    resp
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand_id());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded per process from the OS; mixing in a counter gives distinct,
    // unpredictable-enough ids for correlating logs (not a secret).
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// The HSTS policy sent on every response served over TLS: one year, subdomains included
/// (OWASP ASVS 9.1.1, 14.4.5). Never sent over plain HTTP, where browsers ignore it and a
/// proxy in front may be the one terminating TLS.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// A TLS server configuration: a certificate chain and its private key (rustls, ring
/// provider, TLS 1.2 and 1.3).
#[derive(Clone)]
pub struct Tls {
    config: std::sync::Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

impl Tls {
    /// Loads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1). The error says which file is wrong, never its content.
    pub fn from_pem_files(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<Self> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
            std::io::Error::other(format!("{what} {}: {e}", path.display()))
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad("cannot read the TLS certificate file", cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("the TLS certificate file is not PEM", cert, &e))?;
        if chain.is_empty() {
            return Err(bad(
                "the TLS certificate file holds no certificate",
                cert,
                &"expected -----BEGIN CERTIFICATE-----",
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| bad("cannot read a PEM private key from", key, &e))?;
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| std::io::Error::other(format!("TLS setup: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| bad("the TLS key does not suit the certificate in", cert, &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: std::sync::Arc::new(config),
        })
    }
}

/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts TCP connections and completes TLS handshakes concurrently (one slow or broken
/// client never holds up the others), handing finished streams to the server.
struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn new(listener: tokio::net::TcpListener, tls: &Tls) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // As axum's own listener does: too many open files and the like pass.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The server stopped accepting: release the port.
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Aborts a background task when dropped (when the server stops, however it stops).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Tls>,
    /// The FHIR export worker, stopped when the server stops.
    export_worker: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Binds `listen` (use port 0 for any free port), to serve plain HTTP.
    pub async fn build(app: App, listen: SocketAddr) -> std::io::Result<Self> {
        Self::build_with_tls(app, listen, None).await
    }

    /// Binds `listen`, to serve HTTPS when `tls` is given (with HSTS on every response),
    /// plain HTTP otherwise.
    pub async fn build_with_tls(
        app: App,
        listen: SocketAddr,
        tls: Option<Tls>,
    ) -> std::io::Result<Self> {
        Self::build_observed(app, listen, tls, None).await
    }

    /// Binds `listen` like [`Application::build_with_tls`], recording every request into
    /// `metrics` when given (served elsewhere by [`metrics::metrics_router`]).
    pub async fn build_observed(
        app: App,
        listen: SocketAddr,
        tls: Option<Tls>,
        metrics: Option<std::sync::Arc<Metrics>>,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        // --- planner ---
        // A planner run whose worker stopped (this process's predecessor, say) is failed
        // now rather than at its next read; runs other servers are working on keep going.
        if let Err(e) = app.fail_interrupted_plan_runs().await {
            tracing::warn!(error = %e, "interrupted planner runs could not be marked");
        }
        // --- end planner ---
        // FHIR Bulk Data exports are worked on in the background by every server; a job
        // whose server stopped is claimed again (issue 15).
        let export_worker = fhir::export::spawn_worker(app.clone());
        // Over TLS the session cookie is Secure with the __Host- prefix.
        let policy = pages::CookiePolicy {
            secure: tls.is_some(),
        };
        let mut router = router_observed(app, policy, metrics);
        if tls.is_some() {
            router = router.layer(SetResponseHeaderLayer::overriding(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            ));
        }
        Ok(Self {
            listener,
            router,
            tls,
            export_worker,
        })
    }

    /// Whether this server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until `shutdown` completes, then stops accepting and finishes in-flight
    /// requests, waiting at most `grace` for them: what SIGTERM from a service manager
    /// needs (issue 16, item 2). Requests still running after `grace` are dropped.
    pub async fn run_until_stopped_within(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        grace: std::time::Duration,
    ) -> std::io::Result<()> {
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = stopped_tx.send(());
        };
        let serve = self.run_until_stopped(signal);
        tokio::pin!(serve);
        tokio::select! {
            r = &mut serve => r,
            () = async {
                if stopped_rx.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the shutdown grace were dropped");
                Ok(())
            }
        }
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        // An unfinished export is claimed again by the next server that runs.
        let _stop_worker = AbortOnDrop(self.export_worker);
        match &self.tls {
            None => {
                axum::serve(self.listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some(tls) => {
                use axum::serve::ListenerExt;
                // `tap_io` makes the peer's address available as `ConnectInfo`, as for TCP.
                let listener = TlsListener::new(self.listener, tls)?.tap_io(|_| {});
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
    }
}
