//! Backups that keep every acknowledged write, and the checks a copy must pass (issue 16).
//!
//! A plain copy of a SQLite file misses what is still in its write-ahead log. SQLite's
//! `VACUUM INTO` writes one self-contained file from a single read transaction instead:
//! every commit before it began is in the copy, and writers carry on meanwhile (WAL lets a
//! reader and writers work at once). On PostgreSQL `pg_dump` does the copying (the `circle`
//! binary runs it); this module exports the snapshot it copies, so the chain is verified and
//! the head recorded in exactly the state that went into the dump.
//!
//! A copy is checked for: integrity (SQLite's `integrity_check` and `foreign_key_check`),
//! its migrations against this build's, the whole audit chain, and where it stands against
//! the witness.

use std::path::Path;

use sqlx::{AnyConnection, Connection, Row};

use crate::audit::{ChainHead, VerifyReport, compare, head, walk};
use crate::witness::{WitnessFinding, WitnessLog};
use crate::{Backend, Store, StoreError};

/// Which of this build's migrations a database has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The highest version applied successfully (0 if none).
    pub applied: i64,
    /// The highest version this build knows.
    pub latest: i64,
    /// Versions recorded as failed.
    pub failed: Vec<i64>,
}

impl MigrationState {
    pub fn is_current(&self) -> bool {
        self.failed.is_empty() && self.applied == self.latest
    }
}

/// What a copy of the database was found to be.
#[derive(Debug, Clone)]
pub struct CopyCheck {
    /// SQLite: `Ok` or the first problems `integrity_check`/`foreign_key_check` named.
    /// PostgreSQL: `None` (the server keeps its own pages consistent; `pg_restore` checks
    /// the archive).
    pub integrity: Option<Result<(), String>>,
    pub migrations: MigrationState,
    pub chain: VerifyReport,
    pub head: ChainHead,
    pub witness: Option<WitnessFinding>,
}

impl CopyCheck {
    /// Integrity, migrations and chain are sound (the witness is judged by the caller: an
    /// older copy is fine to restore, a diverged one is not).
    pub fn is_sound(&self) -> bool {
        !matches!(self.integrity, Some(Err(_)))
            && self.migrations.failed.is_empty()
            && self.chain.first_broken.is_none()
    }
}

/// A PostgreSQL snapshot held open for `pg_dump --snapshot`.
pub struct Snapshot {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    id: String,
    store: Store,
}

impl Snapshot {
    /// The id to pass to `pg_dump --snapshot`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Checks the database as this snapshot sees it, then lets the snapshot go.
    pub async fn check(mut self, witness: Option<&WitnessLog>) -> Result<CopyCheck, StoreError> {
        let key = self.store.require_audit_key()?;
        let check = check_on(&mut self.tx, Backend::Postgres, key, witness).await?;
        self.tx.commit().await?;
        Ok(check)
    }
}

#[derive(sqlx::FromRow)]
struct MigrationRow {
    version: i64,
    ok: i64,
}

impl Store {
    /// SQLite: writes a consistent copy of the live database to the new file `out`.
    pub async fn backup_sqlite_into(&self, out: &Path) -> Result<(), StoreError> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Config(
                "VACUUM INTO copies SQLite databases only".to_owned(),
            ));
        }
        let mut conn = self.pool().acquire().await?;
        vacuum_into(&mut conn, out).await
    }

    /// PostgreSQL: opens a read-only snapshot and exports it for `pg_dump --snapshot`.
    pub async fn export_snapshot(&self) -> Result<Snapshot, StoreError> {
        if self.backend() != Backend::Postgres {
            return Err(StoreError::Config(
                "snapshots are exported on PostgreSQL only".to_owned(),
            ));
        }
        let mut tx = self.begin_snapshot().await?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        Ok(Snapshot {
            tx,
            id,
            store: self.clone(),
        })
    }

    /// Checks a SQLite database file (a backup) without changing it, with this store's
    /// audit key.
    pub async fn check_sqlite_file(
        &self,
        path: &Path,
        witness: Option<&WitnessLog>,
    ) -> Result<CopyCheck, StoreError> {
        let key = self.require_audit_key()?;
        let mut conn = open_read_only(path).await?;
        let mut tx = conn.begin().await?;
        let check = check_on(&mut tx, Backend::Sqlite, key, witness).await?;
        tx.commit().await?;
        conn.close().await?;
        Ok(check)
    }

    /// Checks this database in one snapshot: what a restored copy must pass.
    pub async fn check_database(
        &self,
        witness: Option<&WitnessLog>,
    ) -> Result<CopyCheck, StoreError> {
        let key = self.require_audit_key()?;
        let mut tx = self.begin_snapshot().await?;
        let check = check_on(&mut tx, self.backend(), key, witness).await?;
        tx.commit().await?;
        Ok(check)
    }
}

impl Store {
    /// PostgreSQL: whether the server has a database of this name (for a restore target).
    pub async fn database_exists(&self, name: &str) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT CAST(1 AS BIGINT) FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(found.is_some())
    }

    /// PostgreSQL: how many tables the `public` schema holds (a restore needs none).
    pub async fn table_count(&self) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM information_schema.tables \
             WHERE table_schema = 'public'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }
}

/// SQLite: copies the backup file `from` into the new database file `to`, reading `from`
/// without changing it.
pub async fn restore_sqlite_file(from: &Path, to: &Path) -> Result<(), StoreError> {
    let mut conn = open_read_only(from).await?;
    vacuum_into(&mut conn, to).await?;
    conn.close().await?;
    Ok(())
}

async fn open_read_only(path: &Path) -> Result<AnyConnection, StoreError> {
    sqlx::any::install_default_drivers();
    if !path.is_file() {
        return Err(StoreError::Config(format!(
            "no database file at {}",
            path.display()
        )));
    }
    AnyConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot open {} read-only: {e}", path.display()))
        })
}

async fn vacuum_into(conn: &mut AnyConnection, out: &Path) -> Result<(), StoreError> {
    if out.exists() {
        return Err(StoreError::Config(format!(
            "{} already exists; a backup or restore never overwrites a file",
            out.display()
        )));
    }
    let target = out
        .to_str()
        .ok_or_else(|| StoreError::Config("the file name must be valid UTF-8".to_owned()))?;
    // The copy holds every chart: owner-only from its first byte.
    crate::create_private_file(out)?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut *conn)
        .await?;
    // VACUUM INTO does not promise the new file reached the disk: make sure it did.
    let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
    sync(out)
        .and_then(|()| match out.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => sync(dir),
            _ => Ok(()),
        })
        .map_err(|e| StoreError::Config(format!("cannot sync {}: {e}", out.display())))
}

async fn check_on(
    conn: &mut AnyConnection,
    backend: Backend,
    key: &crate::audit::AuditKey,
    witness: Option<&WitnessLog>,
) -> Result<CopyCheck, StoreError> {
    let integrity = match backend {
        Backend::Sqlite => Some(sqlite_integrity(conn).await?),
        Backend::Postgres => None,
    };
    let migrations = migration_state(conn, backend).await?;
    let chain = walk(conn, key).await?;
    let head = head(conn).await?;
    let witness = match witness {
        Some(w) => Some(compare(conn, w).await?),
        None => None,
    };
    Ok(CopyCheck {
        integrity,
        migrations,
        chain,
        head,
        witness,
    })
}

async fn sqlite_integrity(conn: &mut AnyConnection) -> Result<Result<(), String>, StoreError> {
    let rows = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    let problems: Vec<String> = rows
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter(|t| t != "ok")
        .take(3)
        .collect();
    if !problems.is_empty() {
        return Ok(Err(problems.join("; ")));
    }
    let violations = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await?;
    if !violations.is_empty() {
        return Ok(Err(format!(
            "{} rows break a foreign key",
            violations.len()
        )));
    }
    Ok(Ok(()))
}

async fn migration_state(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<MigrationState, StoreError> {
    let latest = Store::migration_trees()
        .into_iter()
        .find(|(b, _)| *b == backend)
        .and_then(|(_, tree)| tree.iter().map(|(v, _)| *v).max())
        .unwrap_or(0);
    let rows = sqlx::query_as::<_, MigrationRow>(
        "SELECT version, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT) AS ok \
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(|_| {
        StoreError::Config("this is not a Circle database (it has no migrations)".to_owned())
    })?;
    let mut state = MigrationState {
        applied: 0,
        latest,
        failed: vec![],
    };
    for r in rows {
        let version = r.version;
        if r.ok == 1 {
            state.applied = state.applied.max(version);
        } else {
            state.failed.push(version);
        }
    }
    Ok(state)
}
