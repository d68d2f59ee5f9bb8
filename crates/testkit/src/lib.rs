//! Test support: a fresh database per test on either backend, a running Circle on an
//! ephemeral port, and builders for synthetic test data.
//!
//! `TEST_DATABASE_URL=postgres://…` runs the suite on PostgreSQL, each test in a database
//! of its own created on that server; unset, each test gets a fresh SQLite file. CI runs
//! the suite both ways. A PostgreSQL URL that cannot be reached fails the test — it never
//! skips.

pub mod builders;

use std::sync::atomic::{AtomicU32, Ordering};

use circle_store::{Backend, OpenMode, Store};

/// A fresh, migrated database for one test; dropped with the test.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => Self::postgres(&base).await,
            _ => Self::sqlite().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        let url = format!("sqlite://{}", dir.path().join("circle-test.db").display());
        let store = Store::connect(&url, OpenMode::CreateIfMissing)
            .await
            .expect("open a fresh SQLite database");
        store.migrate().await.expect("migrate SQLite");
        Self {
            store,
            url,
            _dir: Some(dir),
            pg: None,
        }
    }

    async fn postgres(base: &str) -> Self {
        let name = format!(
            "circle_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        let admin_url = with_database(base, "postgres");
        let admin = Store::connect(&admin_url, OpenMode::MustExist)
            .await
            .unwrap_or_else(|e| {
                panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
            });
        admin
            .execute_admin(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        admin.close().await;
        let url = with_database(base, &name);
        let store = Store::connect(&url, OpenMode::MustExist)
            .await
            .expect("connect to the test database");
        store.migrate().await.expect("migrate PostgreSQL");
        Self {
            store,
            url,
            _dir: None,
            pg: Some((admin_url, name)),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg.take() else {
            return;
        };
        // Best effort: a leftover test database is harmless, so failures are ignored.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Store::connect(&admin_url, OpenMode::MustExist).await {
                    let _ = admin
                        .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// `base` with its database path replaced by `db`.
pub fn with_database(base: &str, db: &str) -> String {
    let (head, query) = base
        .split_once('?')
        .map_or((base, None), |(h, q)| (h, Some(q)));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let root = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A running Circle on an ephemeral port over a fresh database, with a clock the test
/// controls (it starts at `builders::now()`).
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub app: circle_app::App,
    pub clock: std::sync::Arc<circle_app::FixedClock>,
    pub http: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The password every test account gets.
pub const TEST_PASSWORD: &str = "test-password-long-enough";

pub async fn spawn_app() -> TestApp {
    let db = TestDb::new().await;
    let clock = std::sync::Arc::new(circle_app::FixedClock::new(builders::now()));
    let app = circle_app::App::new(
        db.store.clone(),
        clock.clone(),
        circle_app::AppSettings::default(),
    );
    let server =
        circle_web::Application::build(app.clone(), "127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("bind an ephemeral port");
    let base = format!("http://127.0.0.1:{}", server.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until_stopped(async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let t = TestApp {
        base,
        db,
        app,
        clock,
        http,
        shutdown: Some(tx),
    };
    // Readiness, not a sleep: the listener is bound before `build` returns, so the first
    // request is served; loop briefly in case the task has not been polled yet.
    for _ in 0..100 {
        if let Ok(r) = t.http.get(t.url("/healthz")).send().await
            && r.status().is_success()
        {
            return t;
        }
        tokio::task::yield_now().await;
    }
    panic!("the test server never answered /healthz");
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an account with `role` (linked to a clinician or client record when given)
    /// and signs in, returning the bearer token.
    pub async fn token_for(
        &self,
        email: &str,
        role: circle_domain::user::Role,
        clinician: Option<circle_domain::ids::ClinicianId>,
        client: Option<circle_domain::ids::ClientId>,
    ) -> String {
        let e = circle_domain::text::Email::parse(email).expect("a test email");
        self.app
            .create_user(&e, TEST_PASSWORD, role, clinician, client)
            .await
            .expect("create a test user");
        self.login(email, TEST_PASSWORD).await.expect("sign in")
    }

    pub async fn login(&self, email: &str, password: &str) -> Option<String> {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        if !r.status().is_success() {
            return None;
        }
        let v: serde_json::Value = r.json().await.expect("login JSON");
        v["token"].as_str().map(str::to_owned)
    }

    pub async fn get(&self, token: &str, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        respond(r).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        respond(r).await
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(reqwest::Method::POST, token, path, body).await
    }
}

/// Status and JSON body (Null when empty). Problem responses must carry their media type.
pub async fn respond(r: reqwest::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = r.status();
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = r.bytes().await.expect("a response body");
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON response body")
    };
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(
            ct, "application/problem+json",
            "errors are problem+json: {status} {body}"
        );
    }
    (status, body)
}
