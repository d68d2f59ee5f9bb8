//! Test support: a fresh database per test on either backend, a running Circle on an
//! ephemeral port, and builders for synthetic test data.
//!
//! `TEST_DATABASE_URL=postgres://…` runs the suite on PostgreSQL, each test in a database
//! of its own created on that server; unset, each test gets a fresh SQLite file. CI runs
//! the suite both ways. A PostgreSQL URL that cannot be reached fails the test — it never
//! skips.

pub mod builders;
pub mod clinic;
pub mod contents;
pub mod smtp;
pub mod sys;

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

    /// The same database with the given keys instead of the test keys: for a test that
    /// writes rows a real `circle serve` (started with the same key files) then reads.
    pub fn with_keys(
        mut self,
        keyring: circle_vault::Keyring,
        audit: circle_store::audit::AuditKey,
    ) -> Self {
        self.store = self
            .store
            .clone()
            .with_keyring(keyring)
            .with_audit_key(audit);
        self
    }

    /// A SQLite database in the file `path` (created and migrated when missing), for tests
    /// that choose where it lives: on a small filesystem, or reopened after a restart.
    pub async fn sqlite_at(path: &std::path::Path) -> Self {
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, OpenMode::CreateIfMissing)
            .await
            .expect("open a SQLite database")
            .with_audit_key(test_audit_key())
            .with_keyring(test_keyring());
        store.migrate().await.expect("migrate SQLite");
        Self {
            store,
            url,
            _dir: None,
            pg: None,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the test database");
        let path = dir.path().join("circle-test.db");
        std::fs::copy(sqlite_template().await, &path).expect("copy the template database");
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, OpenMode::MustExist)
            .await
            .expect("open a fresh SQLite database")
            .with_audit_key(test_audit_key())
            .with_keyring(test_keyring());
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
        let template = postgres_template(base, &admin_url).await;
        create_from_template(&admin_url, &name, &template).await;
        let url = with_database(base, &name);
        let store = Store::connect(&url, OpenMode::MustExist)
            .await
            .expect("connect to the test database")
            .with_audit_key(test_audit_key())
            .with_keyring(test_keyring());
        store.migrate().await.expect("migrate PostgreSQL");
        Self {
            store,
            url,
            _dir: None,
            pg: Some((admin_url, name)),
        }
    }
}

/// A SQLite file holding this build's migrated schema, made once per schema and shared by
/// every test process (built under a private name and renamed into place, so a reader never
/// sees half of it); each SQLite test database starts as a copy, which is far cheaper than
/// running every migration with its fsyncs. Each test still runs `migrate()` on its copy.
async fn sqlite_template() -> &'static std::path::Path {
    static MADE: tokio::sync::OnceCell<std::path::PathBuf> = tokio::sync::OnceCell::const_new();
    MADE.get_or_init(|| async {
        let path = std::env::temp_dir().join(format!(
            "circle-test-template-{}.db",
            Store::sqlite_schema_id()
        ));
        if !path.exists() {
            let building = std::env::temp_dir().join(format!(
                "circle-test-template-{}-{}.db",
                std::process::id(),
                rand::random::<u32>()
            ));
            let url = format!("sqlite://{}", building.display());
            let store = Store::connect(&url, OpenMode::CreateIfMissing)
                .await
                .expect("create the template database");
            store
                .migrate()
                .await
                .expect("migrate the template database");
            // Fold the write-ahead log into the file, so the file alone is the database.
            store
                .execute_admin("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .expect("checkpoint the template database");
            store.close().await;
            for ext in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", building.display()));
            }
            std::fs::rename(&building, &path).expect("publish the template database");
        }
        path
    })
    .await
}

/// The template database holding this build's migrated schema, made once (under an
/// advisory lock, so parallel test processes make it once between them) and copied by every
/// PostgreSQL test database: a copy takes a fraction of the time running the migrations
/// takes, and the PostgreSQL leg makes hundreds of databases. Each test still runs
/// `migrate()` on its copy, which finds nothing to do unless the template is wrong.
async fn postgres_template(base: &str, admin_url: &str) -> String {
    use sqlx::Connection;
    static MADE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(t) = MADE.get() {
        return t.clone();
    }
    let template = format!("circle_tpl_{}", Store::postgres_schema_id());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
    // Any key works as long as every test process uses the same one.
    sqlx::query("SELECT pg_advisory_lock(4242424242)")
        .execute(&mut conn)
        .await
        .expect("take the template lock");
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT 1::BIGINT FROM pg_database WHERE datname = $1")
            .bind(&template)
            .fetch_optional(&mut conn)
            .await
            .expect("look for the template database");
    if exists.is_none() {
        // Built under a temporary name and renamed when complete: a crash half-way never
        // leaves a template that looks ready.
        let building = format!("{template}_building");
        let sql = format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)");
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .expect("drop a half-built template");
        let sql = format!("CREATE DATABASE {building}");
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .expect("create the template database");
        let store = Store::connect(&with_database(base, &building), OpenMode::MustExist)
            .await
            .expect("connect to the template database");
        store
            .migrate()
            .await
            .expect("migrate the template database");
        store.close().await;
        // Nobody may connect to a template that is being copied (autovacuum included).
        for sql in [
            format!("ALTER DATABASE {building} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"),
            format!("ALTER DATABASE {building} RENAME TO {template}"),
        ] {
            sqlx::raw_sql(&sql)
                .execute(&mut conn)
                .await
                .expect("publish the template database");
        }
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock(4242424242)")
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let _ = MADE.set(template.clone());
    template
}

/// `CREATE DATABASE name TEMPLATE template`, retried while PostgreSQL reports the template
/// busy (another session briefly connected to it): a copy needs it to itself.
async fn create_from_template(admin_url: &str, name: &str, template: &str) {
    let admin = Store::connect(admin_url, OpenMode::MustExist)
        .await
        .expect("connect to PostgreSQL");
    let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
    let mut tries = 0;
    loop {
        match admin.execute_admin(&sql).await {
            Ok(()) => break,
            Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create a test database from the template: {e}"),
        }
    }
    admin.close().await;
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

/// The audit-chain key of test databases (tests only; real keys come from the key file).
pub fn test_audit_key() -> circle_store::audit::AuditKey {
    circle_store::audit::AuditKey::new([42; 32])
}

/// A fresh master key for a test database.
pub fn test_keyring() -> circle_vault::Keyring {
    circle_vault::Keyring::new(circle_vault::MasterKey::generate(), vec![])
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
    /// The second factor of each account this test enrolled through `login`, by email.
    mfa: std::sync::Mutex<std::collections::HashMap<String, Enrolled>>,
    /// Clinician records made by `clinician_token`, to number them.
    clinicians_made: std::sync::atomic::AtomicU32,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What a test's authenticator app and drawer hold for one account.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub secret: String,
    /// The last TOTP step this test signed in with (a code works once).
    pub last_step: i64,
    /// Recovery codes not yet used by `login`.
    pub recovery_codes: Vec<String>,
}

/// The password every test account gets.
pub const TEST_PASSWORD: &str = "test-password-long-enough";

pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDb::new().await).await
}

/// A running Circle over `db` (a test that needs its own keys sets them on `db.store`
/// first).
pub async fn spawn_app_on(db: TestDb) -> TestApp {
    spawn_app_with(db, circle_app::AppSettings::default()).await
}

/// A running Circle over `db` with `settings` (a clinic's identity, say).
pub async fn spawn_app_with(db: TestDb, settings: circle_app::AppSettings) -> TestApp {
    let clock = std::sync::Arc::new(circle_app::FixedClock::new(builders::now()));
    let app = circle_app::App::new(db.store.clone(), clock.clone(), settings);
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
        mfa: Default::default(),
        clinicians_made: Default::default(),
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
    /// and signs in, returning the bearer token. Staff accounts enrol their second factor
    /// on the way, as a person would at first sign-in.
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

    /// A clinician's account on a new clinician record of its own (a clinician account is
    /// always linked to one), signed in.
    pub async fn clinician_token(&self, email: &str) -> String {
        let n = self
            .clinicians_made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 9000;
        let record = crate::builders::clinician(&self.db.store, n).await;
        self.token_for(
            email,
            circle_domain::user::Role::Clinician,
            Some(record.id),
            None,
        )
        .await
    }

    /// Signs in as a person with their authenticator app would: enrols the second factor
    /// when asked to, and sends a fresh code for accounts this test enrolled (the code of
    /// the next unused step within the allowed skew, or else a recovery code, since the
    /// test clock may stand still). The bearer token, or `None` when refused.
    pub async fn login(&self, email: &str, password: &str) -> Option<String> {
        let now = circle_app::auth::totp_step(self.clock_now());
        let known = self.enrolled(email);
        let mut body = serde_json::json!({"email": email, "password": password});
        let mut used_step = None;
        let mut used_recovery = None;
        if let Some(m) = &known {
            let step = now.max(m.last_step + 1);
            if step <= now + circle_app::auth::TOTP_SKEW_STEPS {
                body["totp_code"] = circle_app::auth::totp_code_for_step(&m.secret, step)
                    .expect("a valid secret")
                    .into();
                used_step = Some(step);
            } else if let Some(code) = m.recovery_codes.last() {
                body["recovery_code"] = code.clone().into();
                used_recovery = Some(code.clone());
            }
        }
        let (status, v) = self.post_login(body).await;
        if !status.is_success() {
            return None;
        }
        if v["status"] == "mfa_enrollment_required" {
            let secret = v["secret"]
                .as_str()
                .expect("an enrolment secret")
                .to_owned();
            let code = circle_app::auth::totp_code_for_step(&secret, now).expect("a valid secret");
            let (status, done) = self
                .post_enroll(serde_json::json!({
                    "enrollment_token": v["enrollment_token"],
                    "totp_code": code,
                }))
                .await;
            assert!(status.is_success(), "enrolment at first sign-in: {status}");
            let recovery_codes = done["recovery_codes"]
                .as_array()
                .expect("recovery codes")
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            self.set_enrolled(
                email,
                Enrolled {
                    secret,
                    last_step: now,
                    recovery_codes,
                },
            );
            return done["token"].as_str().map(str::to_owned);
        }
        if let Some(mut m) = known {
            if let Some(step) = used_step {
                m.last_step = step;
            }
            if let Some(code) = used_recovery {
                m.recovery_codes.retain(|c| *c != code);
            }
            self.set_enrolled(email, m);
        }
        v["token"].as_str().map(str::to_owned)
    }

    /// The next TOTP code `email`'s authenticator app shows that no sign-in has used yet
    /// (a code works once), marked as used; `None` when the account has no second factor
    /// from this test or the allowed skew is spent (the test clock stands still).
    pub fn next_totp(&self, email: &str) -> Option<String> {
        let mut m = self.enrolled(email)?;
        let now = circle_app::auth::totp_step(self.clock_now());
        let step = now.max(m.last_step + 1);
        if step > now + circle_app::auth::TOTP_SKEW_STEPS {
            return None;
        }
        let code = circle_app::auth::totp_code_for_step(&m.secret, step)?;
        m.last_step = step;
        self.set_enrolled(email, m);
        Some(code)
    }

    /// An unused recovery code of `email`'s, marked as used.
    pub fn take_recovery_code(&self, email: &str) -> Option<String> {
        let mut m = self.enrolled(email)?;
        let code = m.recovery_codes.pop()?;
        self.set_enrolled(email, m);
        Some(code)
    }

    /// The second factor this test enrolled for `email`, if any.
    pub fn enrolled(&self, email: &str) -> Option<Enrolled> {
        self.mfa
            .lock()
            .ok()
            .and_then(|m| m.get(&email.to_lowercase()).cloned())
    }

    fn set_enrolled(&self, email: &str, e: Enrolled) {
        if let Ok(mut m) = self.mfa.lock() {
            m.insert(email.to_lowercase(), e);
        }
    }

    fn clock_now(&self) -> jiff::Timestamp {
        use circle_app::Clock;
        self.clock.now()
    }

    /// `POST /api/v1/auth/login` with any body.
    pub async fn post_login(
        &self,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .expect("login request");
        respond(r).await
    }

    /// `POST /api/v1/auth/login` from another loopback address (127.0.0.2, 127.0.0.3…): the
    /// server sees it as a different source, as it would another machine.
    pub async fn post_login_from(
        &self,
        source: std::net::Ipv4Addr,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value, Option<String>) {
        let client = reqwest::Client::builder()
            .local_address(std::net::IpAddr::V4(source))
            .build()
            .expect("an HTTP client");
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&body)
            .send()
            .await
            .expect("login request");
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (s, v) = respond(r).await;
        (s, v, retry_after)
    }

    /// `POST /api/v1/auth/mfa/enroll` with any body.
    pub async fn post_enroll(
        &self,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let r = self
            .http
            .post(self.url("/api/v1/auth/mfa/enroll"))
            .json(&body)
            .send()
            .await
            .expect("enrol request");
        respond(r).await
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

    /// A page as a browser gets it, signed in with `token` as the session cookie (the
    /// pages' cookie carries the same sign-in token as the API's bearer), redirects not
    /// followed.
    pub async fn page(&self, token: &str, path: &str) -> PageResponse {
        let r = self
            .http
            .get(self.url(path))
            .header("cookie", format!("circle_session={token}"))
            .send()
            .await
            .expect("GET a page");
        PageResponse::read(r).await
    }

    /// A form POSTed from a page as the holder of `token` (the fields as given: a test
    /// adds the `csrf` field itself, or leaves it out on purpose).
    pub async fn page_form(
        &self,
        token: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> PageResponse {
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", format!("circle_session={token}"))
            .form(fields)
            .send()
            .await
            .expect("POST a form");
        PageResponse::read(r).await
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.send(reqwest::Method::POST, token, path, body).await
    }

    /// A page with a pre-session form (join, refer, a message's link) as a browser gets it
    /// from `url` (a whole address): the answer, its double-submit cookie (`name=value`) and
    /// the form's token; either is empty when the page sets none.
    pub async fn public_page(&self, url: &str) -> PublicPage {
        let r = self.http.get(url).send().await.expect("GET a public page");
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("circle_signin="))
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let page = PageResponse::read(r).await;
        let csrf = page
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        PublicPage { page, cookie, csrf }
    }

    /// A pre-session form POSTed to `url` with the page's `cookie` (the fields as given: a
    /// test adds the `csrf` field itself).
    pub async fn post_public(
        &self,
        url: &str,
        cookie: &str,
        fields: &[(&str, &str)],
    ) -> PageResponse {
        let r = self
            .http
            .post(url)
            .header("cookie", cookie)
            .form(fields)
            .send()
            .await
            .expect("POST a public form");
        PageResponse::read(r).await
    }
}

/// A public page with its pre-session form: see [`TestApp::public_page`].
#[derive(Debug)]
pub struct PublicPage {
    pub page: PageResponse,
    pub cookie: String,
    pub csrf: String,
}

/// A page's answer: status, headers, where a redirect goes, and the body.
#[derive(Debug)]
pub struct PageResponse {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub location: Option<String>,
    pub body: String,
}

impl PageResponse {
    /// A response read as a page (for a request a test builds itself).
    pub async fn read(r: reqwest::Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.expect("a page body");
        Self {
            status,
            headers,
            location,
            body,
        }
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
