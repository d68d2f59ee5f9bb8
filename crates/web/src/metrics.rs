//! `/metrics` in the Prometheus (OpenMetrics) text format, served on its own listen address
//! when `circle serve --metrics-addr` is given, never on the public one (issue 16).
//!
//! Labels are fixed words only: a route's template (`/api/v1/clients/{id}`, never the path
//! with its ids), the method, the status code, a job's name. No identifier, name or email
//! can reach a label, so a scrape carries no PHI.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::IntoResponse;
use axum::routing::get;
use circle_app::App;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobRunLabels {
    job: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

fn request_histogram() -> Histogram {
    // 0.5 ms to about 4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The server's metrics. Request figures are recorded as requests finish; the rest is read
/// from the application when scraped.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    jobs_running: Family<JobLabels, Gauge>,
    job_runs: Family<JobRunLabels, Counter>,
    audit_appends: Counter,
    sign_in_failures: Counter,
    write_begins: Counter,
    write_wait: Counter<f64, std::sync::atomic::AtomicU64>,
    /// Scrapes bring the process-wide totals into the counters one at a time.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("circle");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let durations = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            request_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route template, method and status",
            durations.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database connections open, in use or idle",
            pool.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The most database connections the pool opens; requests wait for one beyond it",
            pool_max.clone(),
        );
        let jobs_running = Family::<JobLabels, Gauge>::default();
        registry.register(
            "background_jobs_running",
            "Background jobs this server is running now",
            jobs_running.clone(),
        );
        let job_runs = Family::<JobRunLabels, Counter>::default();
        registry.register(
            "background_job_runs",
            "Background job runs this server finished, by outcome (succeeded, failed)",
            job_runs.clone(),
        );
        let audit_appends = Counter::default();
        registry.register(
            "audit_appends",
            "Audit chain entries this server appended",
            audit_appends.clone(),
        );
        let sign_in_failures = Counter::default();
        registry.register(
            "sign_in_failures",
            "Sign-in attempts refused (bad credentials, bad code, throttled)",
            sign_in_failures.clone(),
        );
        let write_begins = Counter::default();
        registry.register(
            "db_write_begins",
            "Write transactions begun (every audited action is one)",
            write_begins.clone(),
        );
        let write_wait = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "db_write_wait_seconds",
            "Seconds write transactions waited in all to begin: for a pool connection, and on \
             SQLite for the write lock (divide by db_write_begins for the mean)",
            write_wait.clone(),
        );
        Self {
            registry,
            write_begins,
            write_wait,
            requests,
            durations,
            pool,
            pool_max,
            jobs_running,
            job_runs,
            audit_appends,
            sign_in_failures,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Records one answered request. `route` is the matched template, or `unmatched`.
    pub fn observe(&self, route: &str, method: &Method, status: u16, took: Duration) {
        let labels = RequestLabels {
            route: route.to_owned(),
            method: method_label(method),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The text exposition, with the figures read from `app` now.
    pub async fn render(&self, app: &App) -> String {
        let _one_at_a_time = self.scrape.lock().await;
        let (open, idle, max) = app.pool_use();
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::from(idle));
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(open.saturating_sub(idle)));
        self.pool_max.set(i64::from(max));
        for (job, counts) in app.counters().jobs() {
            let gauge = self.jobs_running.get_or_create(&JobLabels { job });
            gauge.set(i64::try_from(counts.running).unwrap_or(i64::MAX));
            for (outcome, total) in [("succeeded", counts.succeeded), ("failed", counts.failed)] {
                catch_up(
                    &self.job_runs.get_or_create(&JobRunLabels { job, outcome }),
                    total,
                );
            }
        }
        catch_up(&self.audit_appends, app.audit_appended());
        let (begins, waited) = app.write_waits();
        catch_up(&self.write_begins, begins);
        let seen = self.write_wait.get();
        if waited > seen {
            self.write_wait.inc_by(waited - seen);
        }
        catch_up(&self.sign_in_failures, app.counters().sign_in_failures());
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("the metrics could not be encoded");
        }
        out
    }
}

/// Moves a counter up to a process-wide total (which only grows).
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// Methods outside the standard set share one label, so requests cannot mint new series.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route template a request matched, or `unmatched` (a 404 from the fallback): never
/// the raw path, which carries ids.
pub(crate) fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// The router of the metrics listener: `GET /metrics` and nothing else.
pub fn metrics_router(app: App, metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let (app, metrics) = (app.clone(), metrics.clone());
            async move {
                let body = metrics.render(&app).await;
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    )],
                    body,
                )
                    .into_response()
            }
        }),
    )
}

/// Serves `GET /metrics` on `listener` until `stop` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(app, metrics))
        .with_graceful_shutdown(stop)
        .await
}
