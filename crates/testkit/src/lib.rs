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
