//! `circle backup` and `circle restore` (issue 16, item 4).
//!
//! SQLite: `VACUUM INTO` copies the live database into one self-contained file from a single
//! read transaction — what is still in the write-ahead log included — while writers carry
//! on. PostgreSQL: `pg_dump --format=custom` copies a snapshot that this command exported
//! and verifies in the same transaction; `pg_restore` puts it back. Either way the copy is
//! checked (integrity, migrations, the whole audit chain, the witness), and the witness
//! records the backup; a restore records the rollback and moves the records of the
//! abandoned history aside, so a restored older copy verifies and says how far behind it is.
//!
//! The keys are not in the backup, by design: keep them apart (README, "Backups").

use std::io::Read;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use circle_store::backup::{CopyCheck, restore_sqlite_file};
use circle_store::witness::{RecordKind, WitnessDir, WitnessLog, WitnessState};
use circle_store::{Backend, OpenMode, Store, backend_of};

use crate::witness::describe;

/// What `backup`/`restore` need besides the database: the audit key's store, the witness,
/// and the name its records carry.
pub struct WitnessSetting {
    pub dir: WitnessDir,
    pub writer: String,
}

async fn read_witness(store: &Store, w: &WitnessSetting) -> Result<WitnessLog> {
    if !w.dir.exists() {
        return Ok(WitnessLog::default());
    }
    Ok(store.read_witness(&w.dir).await?)
}

fn print_check(check: &CopyCheck) {
    match &check.integrity {
        Some(Ok(())) => println!("  integrity: ok"),
        Some(Err(problems)) => println!("  integrity: FAILED: {problems}"),
        None => {}
    }
    let m = &check.migrations;
    if !m.failed.is_empty() {
        println!("  migrations: FAILED versions {:?}", m.failed);
    } else if m.applied == m.latest {
        println!("  migrations: up to date (version {})", m.applied);
    } else if m.applied < m.latest {
        println!(
            "  migrations: version {} of this build's {} (a restore applies the rest)",
            m.applied, m.latest
        );
    } else {
        println!(
            "  migrations: version {}, newer than this build's {}: use a newer circle",
            m.applied, m.latest
        );
    }
    match &check.chain.first_broken {
        None => println!("  audit chain intact: {} entries", check.chain.entries),
        Some(b) => println!(
            "  audit chain BROKEN at entry {}: {} ({} entries verified before it)",
            b.seq, b.reason, check.chain.entries
        ),
    }
}

/// `circle backup --db URL --out FILE`.
pub async fn backup(url: &str, out: &Path, store: Store, w: &WitnessSetting) -> Result<()> {
    if out.exists() {
        bail!(
            "{} already exists; a backup never overwrites a file",
            out.display()
        );
    }
    let log = read_witness(&store, w).await?;
    let (check, what) = match store.backend() {
        Backend::Sqlite => {
            store
                .backup_sqlite_into(out)
                .await
                .context("the backup failed")?;
            let check = store.check_sqlite_file(out, Some(&log)).await?;
            (check, "a SQLite database file")
        }
        Backend::Postgres => {
            let check = pg_dump(url, out, &store, &log).await?;
            (check, "a pg_dump archive (custom format)")
        }
    };
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "backup written to {} ({what}, {:.1} MB), as the database stood at audit entry {}",
        out.display(),
        size as f64 / 1e6,
        check.head.seq
    );
    if store.backend() == Backend::Postgres {
        println!("  integrity: the archive reads back (pg_restore --list)");
    }
    print_check(&check);
    let finding = check
        .witness
        .as_ref()
        .ok_or_else(|| anyhow!("no witness"))?;
    // The live log went on after the copy was taken, so the copy may trail the witness:
    // that is expected. A copy that differs from it is not.
    if !check.is_sound() || !finding.bad.is_empty() {
        bail!(
            "the backup at {} did not verify: do not rely on it",
            out.display()
        );
    }
    if let WitnessState::Diverged { .. } = finding.state {
        for line in describe(finding, w.dir.path()).judging {
            println!("{line}");
        }
        bail!(
            "the database differs from its witness: the backup at {} is of a log that was \
             tampered with or belongs to another witness",
            out.display()
        );
    }
    let file = store
        .write_witness_record(&w.dir, &w.writer, RecordKind::Backup, &check.head, None)
        .await
        .context("the backup is written and verified, but the witness could not record it")?;
    println!(
        "  witness: recorded this backup (entry {}) in {}",
        check.head.seq,
        file.display()
    );
    Ok(())
}

/// PostgreSQL: exports a snapshot, has pg_dump copy exactly it, and checks the database
/// as that snapshot sees it.
async fn pg_dump(url: &str, out: &Path, store: &Store, log: &WitnessLog) -> Result<CopyCheck> {
    let pg = PgUrl::parse(url)?;
    let snapshot = store.export_snapshot().await?;
    // pg_dump truncates and keeps the file's mode: the archive is owner-only (0600).
    circle_store::create_private_file(out)?;
    let mut cmd = Command::new("pg_dump");
    cmd.arg("--format=custom")
        .arg(format!("--snapshot={}", snapshot.id()))
        .arg("--no-password")
        .arg("--file")
        .arg(out)
        .arg("--dbname")
        .arg(&pg.without_password);
    pg.set_password(&mut cmd);
    let result = run_tool(cmd, "pg_dump").await;
    if let Err(e) = result {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    let check = snapshot.check(Some(log)).await?;
    let mut list = Command::new("pg_restore");
    list.arg("--list").arg(out);
    let listing = run_tool(list, "pg_restore").await?;
    if !listing.contains("TABLE DATA public audit_log") {
        bail!(
            "the archive at {} does not hold the audit log: do not rely on it",
            out.display()
        );
    }
    Ok(check)
}

/// Runs a PostgreSQL client tool off the async threads; its standard output, or an error
/// with what it said.
async fn run_tool(mut cmd: Command, name: &'static str) -> Result<String> {
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .context("the tool's thread failed")?;
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{name} is not installed: install the PostgreSQL client tools of the server's \
             major version or newer (Debian: postgresql-client)"
        ),
        Err(e) => return Err(anyhow!("cannot run {name}: {e}")),
    };
    if !output.status.success() {
        bail!(
            "{name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What a backup file is, by its first bytes.
fn backup_kind(from: &Path) -> Result<Backend> {
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(from)
        .with_context(|| format!("cannot open the backup {}", from.display()))?;
    let n = file.read(&mut head).unwrap_or(0);
    if n == 16 && &head == b"SQLite format 3\0" {
        Ok(Backend::Sqlite)
    } else if n >= 5 && &head[..5] == b"PGDMP" {
        Ok(Backend::Postgres)
    } else {
        bail!(
            "{} is neither a SQLite backup nor a pg_dump archive (custom format)",
            from.display()
        )
    }
}

/// `circle restore --from FILE --db URL [--drill]`: into a new database only. A drill
/// checks the copy against the witness but leaves the witness as it is.
pub async fn restore(
    from: &Path,
    url: &str,
    audit: circle_store::audit::AuditKey,
    w: &WitnessSetting,
    drill: bool,
) -> Result<()> {
    let kind = backup_kind(from)?;
    let target = backend_of(url)?;
    if kind != target {
        bail!(
            "{} is a {} backup: restore it into a {} URL",
            from.display(),
            if kind == Backend::Sqlite {
                "SQLite"
            } else {
                "PostgreSQL"
            },
            if kind == Backend::Sqlite {
                "sqlite://"
            } else {
                "postgres://"
            }
        );
    }
    match kind {
        Backend::Sqlite => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = Path::new(path.split('?').next().unwrap_or(path));
            if path.exists() {
                bail!(
                    "{} already exists; restore into a new database file (a restore never \
                     overwrites one)",
                    path.display()
                );
            }
            restore_sqlite_file(from, path).await?;
        }
        Backend::Postgres => pg_restore(from, url).await?,
    }
    let store = Store::connect(url, OpenMode::MustExist)
        .await?
        .with_audit_key(audit);
    let was_current = store.is_migrated().await?;
    store.migrate().await?;
    let log = read_witness(&store, w).await?;
    let check = store.check_database(Some(&log)).await?;
    println!(
        "restored {} into {} (entries up to {})",
        from.display(),
        redact(url),
        check.head.seq
    );
    print_check(&check);
    if !was_current {
        println!("  (this build's newer migrations were applied)");
    }
    let finding = check
        .witness
        .as_ref()
        .ok_or_else(|| anyhow!("no witness"))?;
    // Behind the witness is what restoring an older copy means; differing from it is not.
    let acceptable = check.is_sound()
        && finding.bad.is_empty()
        && !matches!(finding.state, WitnessState::Diverged { .. });
    if !acceptable {
        for line in describe(finding, w.dir.path()).judging {
            println!("{line}");
        }
        store.close().await;
        bail!(
            "the restored database did not verify: do not serve it (the witness was left as \
             it was)"
        );
    }
    // The witness records the rollback and starts again from the restored entry.
    let at_backup = matches!(
        finding.state,
        WitnessState::Behind {
            backup: Some(_),
            ..
        }
    );
    let latest = finding.latest.as_ref().map(|l| l.record.seq);
    let before = latest.unwrap_or(check.head.seq).max(check.head.seq);
    let behind = before - check.head.seq;
    if behind > 0 {
        println!(
            "  witness: this copy is older than the witness ({behind} {} behind): the witness \
             had recorded entry {before}; the {behind} {} after entry {} are not in the restored \
             database",
            plural(behind),
            plural(behind),
            check.head.seq
        );
        if !at_backup {
            println!(
                "  witness: this copy does not end where `circle backup` recorded a backup (it \
                 was made another way, or cut short)"
            );
        }
    } else if latest.is_some() {
        println!("  witness: this copy is as recent as the witness's latest record");
    } else {
        println!("  witness: it held no records");
    }
    if drill {
        store.close().await;
        println!(
            "  witness: left as it was (--drill): this copy does not take over from the \
             database the witness belongs to; drop it when done"
        );
        return Ok(());
    }
    let moved = w
        .dir
        .supersede(jiff::Timestamp::now())
        .context("cannot move the witness's earlier records aside")?;
    let file = store
        .write_witness_record(
            &w.dir,
            &w.writer,
            RecordKind::Restore,
            &check.head,
            Some(before),
        )
        .await
        .context("the database is restored, but the witness could not record the restore")?;
    store.close().await;
    if let Some(moved) = moved {
        println!("  witness: earlier records moved to {}", moved.display());
    }
    println!(
        "  witness: recorded the restore (entry {}) in {}",
        check.head.seq,
        file.display()
    );
    Ok(())
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "entry" } else { "entries" }
}

/// PostgreSQL: creates the target database if it does not exist, refuses one that has
/// tables, and runs pg_restore in one transaction.
async fn pg_restore(from: &Path, url: &str) -> Result<()> {
    let pg = PgUrl::parse(url)?;
    let admin = Store::connect(&pg.maintenance, OpenMode::MustExist)
        .await
        .context("cannot reach the PostgreSQL server's `postgres` database to create the target")?;
    let exists = admin.database_exists(&pg.database).await?;
    if !exists {
        admin
            .execute_admin(&format!("CREATE DATABASE \"{}\"", pg.database))
            .await
            .with_context(|| format!("cannot create the database {}", pg.database))?;
    }
    admin.close().await;
    if exists {
        let target = Store::connect(url, OpenMode::MustExist).await?;
        let tables = target.table_count().await?;
        target.close().await;
        if tables > 0 {
            bail!(
                "the database {} already has tables; restore into a new or empty database (a \
                 restore never overwrites one)",
                pg.database
            );
        }
    }
    let mut cmd = Command::new("pg_restore");
    cmd.args([
        "--exit-on-error",
        "--single-transaction",
        "--no-owner",
        "--no-privileges",
        "--no-password",
    ])
    .arg("--dbname")
    .arg(&pg.without_password)
    .arg(from);
    pg.set_password(&mut cmd);
    run_tool(cmd, "pg_restore").await?;
    Ok(())
}

/// A PostgreSQL URL taken apart for the client tools: the password goes to them through
/// `PGPASSWORD`, never on a command line others can read.
struct PgUrl {
    without_password: String,
    password: Option<String>,
    database: String,
    maintenance: String,
}

impl PgUrl {
    fn parse(url: &str) -> Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| anyhow!("not a postgres:// URL"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, database) = rest
            .split_once('/')
            .ok_or_else(|| anyhow!("the PostgreSQL URL must name a database: …/NAME"))?;
        if database.is_empty()
            || !database
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            bail!("the database name must be letters, digits, '_' or '-'");
        }
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user), Some(percent_decode(pw))),
                None => (Some(u), None),
            },
            None => (None, None),
        };
        let build = |db: &str| {
            let mut s = format!("{scheme}://");
            if let Some(user) = user {
                s.push_str(user);
                s.push('@');
            }
            s.push_str(host);
            s.push('/');
            s.push_str(db);
            if let Some(q) = query {
                s.push('?');
                s.push_str(q);
            }
            s
        };
        let with_password = |db: &str| match (&password, userinfo) {
            (Some(_), Some(u)) => {
                let mut s = format!("{scheme}://{u}@{host}/{db}");
                if let Some(q) = query {
                    s.push('?');
                    s.push_str(q);
                }
                s
            }
            _ => build(db),
        };
        let maintenance = with_password("postgres");
        Ok(Self {
            without_password: build(database),
            password,
            database: database.to_owned(),
            maintenance,
        })
    }

    fn set_password(&self, cmd: &mut Command) {
        if let Some(pw) = &self.password {
            cmd.env("PGPASSWORD", pw);
        }
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match PgUrl::parse(url) {
        Ok(pg) if url.starts_with("postgres") => pg.without_password,
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_keeps_its_password_off_the_command_line() {
        let pg = PgUrl::parse("postgres://circle:p%40ss@db.example:5432/clinic?sslmode=require")
            .expect("a URL");
        assert_eq!(
            pg.without_password,
            "postgres://circle@db.example:5432/clinic?sslmode=require"
        );
        assert_eq!(pg.password.as_deref(), Some("p@ss"));
        assert_eq!(pg.database, "clinic");
        assert_eq!(
            pg.maintenance,
            "postgres://circle:p%40ss@db.example:5432/postgres?sslmode=require"
        );
        assert!(PgUrl::parse("postgres://h/bad;name").is_err());
        let plain = PgUrl::parse("postgres://postgres@127.0.0.1:5432/x").expect("a URL");
        assert_eq!(plain.password, None);
        assert_eq!(
            plain.maintenance,
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }
}
