//! Circle's persistence. One behaviour on two databases: SQLite (a file; the zero-setup
//! default) and PostgreSQL (what a network of clinics runs), chosen by URL scheme.
//!
//! Queries are written once, in the SQL both databases share, and run through sqlx's `Any`
//! driver; each backend has its own migration tree with the same versions and names
//! (`migrations/sqlite`, `migrations/postgres`). Methods are command-shaped: each opens one
//! transaction, gathers the facts a rule needs, asks `circle_domain` for the verdict and
//! writes — so two servers on one database never break a rule between check and write.
//!
//! Rows are typed at the edge. Every select reads into a `#[derive(sqlx::FromRow)]` row
//! struct of the portable types the `Any` driver decodes on both databases (`i64`,
//! `String`, `Option` of those; flags are 0/1 integers), then converts into its domain type
//! with `TryFrom` — or a `Store` method when a column is sealed and needs the keyring.
//! Parsing text into instants, dates, vocabulary and JSON goes through `codec::read`, which
//! reports a value that does not parse as `StoreError::Corrupt(column)`; a value that does
//! not decode at all (another type, NULL where one is required) is `Corrupt(column)` too
//! (see `error.rs`). Never the value. The row structs live next to the queries of their
//! feature module, not in a `rows` module: a select and the struct it fills change together,
//! and a feature still reads top to bottom in one file (STYLE.md). A shape several modules
//! read is `pub(crate)` in the module that owns the table (`people::ClientRow`,
//! `sessions::SessionRow`, `groups::GroupRow`, `programs::ProgramRow`, `measures::AlertRow`).

pub mod access;
pub mod accounts;
pub mod agenda;
pub mod audit;
pub mod backup;
mod codec;
pub mod director_programs;
pub mod emergency;
mod error;
pub mod feeds;
pub mod fhir_export;
pub mod groups;
pub mod import;
pub mod intake;
pub mod leases;
pub mod measures;
pub mod messages;
pub mod notes;
pub mod people;
pub mod placement;
pub mod planning;
// --- portal ---
pub mod portal;
// --- end portal ---
// --- planner ---
pub mod planner_runs;
pub mod timetables;
// --- end planner ---
pub mod programs;
mod read_audit;
pub mod reports;
pub mod sealed;
pub mod sessions;
pub mod users;
pub mod witness;
// --- chart ---
pub mod chart;
// --- end chart ---
// --- reports ---
pub mod calendar;
pub mod figures;
// --- end reports ---

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use error::StoreError;

/// Which database a `Store` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether opening a SQLite URL may create the file. Serving never creates one, so a
/// typo in a path cannot silently start an empty clinic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    MustExist,
    CreateIfMissing,
}

/// A page of results in a stable order (ascending id), with the cursor for the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

/// Cursor pagination: items with id greater than `after`, at most `limit` (1–200).
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: i64,
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            after: 0,
            limit: 50,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    audit_key: Option<std::sync::Arc<audit::AuditKey>>,
    pub(crate) keyring: Option<std::sync::Arc<circle_vault::Keyring>>,
    write_waits: std::sync::Arc<WriteWaits>,
    /// Audited reads' entries waiting for their group commit (`read_audit`).
    read_audit: std::sync::Arc<read_audit::ReadAudit>,
}

/// How long write transactions waited to begin in this process — for a connection from the
/// pool, and on SQLite for the write lock — for `/metrics`.
#[derive(Debug, Default)]
struct WriteWaits {
    count: std::sync::atomic::AtomicU64,
    micros: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A hash of every migration's version and checksum.
fn schema_id(migrator: &sqlx::migrate::Migrator) -> String {
    // FNV-1a: stable across builds and platforms (std's hasher is not), no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for m in migrator.iter() {
        for b in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The backend a URL names, or a clear error for anything else.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Config(
            "the database URL must start with sqlite:// or postgres://".to_owned(),
        ))
    }
}

impl Store {
    /// Opens a pool on `url`. SQLite runs in WAL mode with foreign keys on,
    /// `synchronous=FULL` (clinical data survives power loss) and a busy timeout so that
    /// concurrent writers wait instead of failing.
    pub async fn connect(url: &str, mode: OpenMode) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url(url, mode)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|_| StoreError::Config("the database URL could not be parsed".to_owned()))?;
        let pool_options = AnyPoolOptions::new()
            .max_connections(match backend {
                // Reads take no lock (WAL snapshots) and wait for their audit entry's group
                // commit without a connection, so more than the one writer's are useful.
                Backend::Sqlite => 8,
                Backend::Postgres => 10,
            })
            .acquire_timeout(Duration::from_secs(10));
        let pool_options = if backend == Backend::Sqlite {
            pool_options
                .after_release(|conn, _meta| {
                    Box::pin(async move {
                        use sqlx::Connection;
                        // See `sqlite_connection_is_clean`. Runs after any rollback a dropped
                        // transaction queued (a connection's worker takes commands in
                        // order); a deferred BEGIN takes no lock and fails inside a
                        // transaction.
                        let sqlite_idle = conn.execute("BEGIN").await.is_ok()
                            && conn.execute("ROLLBACK").await.is_ok();
                        Ok(sqlite_connection_is_clean(
                            sqlite_idle,
                            conn.is_in_transaction(),
                        ))
                    })
                })
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                         PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
        } else {
            pool_options
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(describe_connect_error(&e, backend)))?;
        Ok(Self {
            pool,
            backend,
            audit_key: None,
            keyring: None,
            write_waits: std::sync::Arc::default(),
            read_audit: std::sync::Arc::default(),
        })
    }

    /// Sets the key of the audit chain. Without one, every audited action fails.
    pub fn with_audit_key(mut self, key: audit::AuditKey) -> Self {
        self.audit_key = Some(std::sync::Arc::new(key));
        self
    }

    /// Sets the keys that encrypt clinical free text. Without them, writing or reading such
    /// text fails.
    pub fn with_keyring(mut self, keyring: circle_vault::Keyring) -> Self {
        self.keyring = Some(std::sync::Arc::new(keyring));
        self
    }

    pub(crate) fn seal(&self, text: &str, aad: &circle_vault::Aad) -> Result<String, StoreError> {
        let k = self.keyring.as_deref().ok_or_else(|| {
            StoreError::Config(
                "no master key is configured; clinical text cannot be stored".to_owned(),
            )
        })?;
        Ok(k.seal(text, aad))
    }

    pub(crate) fn open_sealed(
        &self,
        sealed: &str,
        aad: &circle_vault::Aad,
        column: &'static str,
    ) -> Result<circle_vault::Zeroizing<String>, StoreError> {
        let k = self.keyring.as_deref().ok_or_else(|| {
            StoreError::Config(
                "no master key is configured; clinical text cannot be read".to_owned(),
            )
        })?;
        // A value that does not open was moved, damaged or altered: an integrity error,
        // never shown as if valid.
        k.open(sealed, aad).map_err(|_| StoreError::Corrupt(column))
    }

    pub(crate) fn audit_key(&self) -> Option<&audit::AuditKey> {
        self.audit_key.as_deref()
    }

    /// Audit entries this process appended (committed or not), for `/metrics`.
    pub fn audit_appended(&self) -> u64 {
        self.audit_key
            .as_deref()
            .map_or(0, audit::AuditKey::appended)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this backend's tree.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// The migration versions and names of each tree, for the alignment test.
    pub fn migration_trees() -> [(Backend, Vec<(i64, String)>); 2] {
        let list = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|x| (x.version, x.description.to_string()))
                .collect::<Vec<_>>()
        };
        [
            (Backend::Sqlite, list(&SQLITE_MIGRATIONS)),
            (Backend::Postgres, list(&POSTGRES_MIGRATIONS)),
        ]
    }

    /// A short name for this build's PostgreSQL schema: a hash of every migration's version
    /// and checksum, so a test template database made from other migrations is never reused.
    pub fn postgres_schema_id() -> String {
        schema_id(&POSTGRES_MIGRATIONS)
    }

    /// The same for this build's SQLite schema.
    pub fn sqlite_schema_id() -> String {
        schema_id(&SQLITE_MIGRATIONS)
    }

    /// Whether every migration of this build has been applied (readiness).
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        let latest = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.iter().map(|m| m.version).max(),
            Backend::Postgres => POSTGRES_MIGRATIONS.iter().map(|m| m.version).max(),
        }
        .unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(None);
        Ok(applied.unwrap_or(0) >= latest)
    }

    /// Readiness of writes: inserts and deletes a row big enough to need new pages, and
    /// commits, so a database on a full disk (or one that cannot write for another reason)
    /// reports it. A rolled-back write would not do: on SQLite it never reaches the disk.
    pub async fn write_probe(&self) -> Result<(), StoreError> {
        let insert = match self.backend {
            Backend::Sqlite => "INSERT INTO health_probe (filler) VALUES (randomblob(16384))",
            Backend::Postgres => {
                "INSERT INTO health_probe (filler) \
                 VALUES (decode(repeat(md5(random()::text), 1024), 'hex'))"
            }
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(insert).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM health_probe")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a transaction that will write. On SQLite it takes the database's write lock
    /// at once: a transaction that reads first and writes later (as every audited read
    /// does) would otherwise fail with SQLITE_BUSY, rather than wait, when another writer
    /// committed in between. PostgreSQL locks rows as it goes and needs nothing here.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Any>, StoreError> {
        use std::sync::atomic::Ordering::Relaxed;
        let started = std::time::Instant::now();
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Sqlite {
            sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
                .execute(&mut *tx)
                .await?;
        }
        let waited = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.write_waits.count.fetch_add(1, Relaxed);
        self.write_waits.micros.fetch_add(waited, Relaxed);
        Ok(tx)
    }

    /// Write transactions begun by this process, and the seconds they waited in all to
    /// begin (a pool connection; on SQLite also the write lock).
    pub fn write_waits(&self) -> (u64, f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let micros = self.write_waits.micros.load(Relaxed);
        // A metric: f64's 53 bits hold microseconds for centuries.
        let secs = micros as f64 / 1e6;
        (self.write_waits.count.load(Relaxed), secs)
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The connection pool's use: (connections open, of them idle, the most it opens).
    pub fn pool_use(&self) -> (u32, u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (
            self.pool.size(),
            idle,
            self.pool.options().get_max_connections(),
        )
    }
}

/// Whether a SQLite connection coming back to the pool may be used again: neither sqlx nor
/// SQLite may think a transaction is open.
///
/// Why (issue 16, item 1): sqlx counts transaction depth itself and turns a `BEGIN` at depth
/// one or more into a `SAVEPOINT`, a `COMMIT` into a `RELEASE`. After a storage error
/// (`SQLITE_FULL`, `SQLITE_IOERR`) at `COMMIT` — or at a `RELEASE` or `ROLLBACK` — the count
/// and SQLite's own state part: SQLite may have rolled back on its own (the count stays one
/// too high), or kept the transaction open while sqlx's `ROLLBACK TO SAVEPOINT` left it
/// open (`ROLLBACK TO` never ends a transaction). Such a connection, back in the pool, turns
/// every later transaction into a savepoint inside one that never commits: the writes are
/// acknowledged, the write lock is held forever, and everything is lost when the
/// connection closes. A connection whose state is in any doubt is closed instead (closing
/// rolls back whatever SQLite still holds open and releases the lock); the pool opens a
/// fresh one.
fn sqlite_connection_is_clean(sqlite_idle: bool, sqlx_in_transaction: bool) -> bool {
    if !sqlite_idle {
        tracing::warn!("a database connection was left inside a transaction; closing it");
        return false;
    }
    if sqlx_in_transaction {
        tracing::warn!(
            "a database connection's transaction count no longer matches SQLite; closing it"
        );
        return false;
    }
    true
}

fn sqlite_url(url: &str, mode: OpenMode) -> Result<String, StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "a SQLite URL must name a file, such as sqlite://circle.db".to_owned(),
        ));
    }
    if mode == OpenMode::MustExist && !std::path::Path::new(path).exists() {
        return Err(StoreError::Config(format!(
            "no database file at {path}: create one with `circle migrate --db sqlite://{path}` \
             (or `circle demo --db sqlite://{path}` for the demo clinic)"
        )));
    }
    if mode == OpenMode::CreateIfMissing {
        create_private_file(std::path::Path::new(path))?;
    }
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    params.push(match mode {
        OpenMode::MustExist => "mode=rw",
        OpenMode::CreateIfMissing => "mode=rwc",
    });
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}

/// Creates `path` empty and readable by its owner only (0600), unless it exists. SQLite
/// gives the WAL and shared-memory files the mode of the database file, so the whole
/// database stays private; an empty file is a valid empty database, and an empty file is
/// what `VACUUM INTO` may write into.
pub fn create_private_file(path: &std::path::Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!(
            "cannot create the database file {}: {e}",
            path.display()
        ))),
    }
}

fn describe_connect_error(e: &sqlx::Error, backend: Backend) -> String {
    // The driver's text names hosts and database names, never clinical data.
    match backend {
        Backend::Sqlite => format!("cannot open the SQLite database: {e}"),
        Backend::Postgres => format!("cannot connect to PostgreSQL: {e}"),
    }
}

impl Store {
    /// Runs one administrative statement (creating or dropping a database in tests and
    /// tooling). Never called with user input.
    pub async fn execute_admin(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }
}
