//! The audit chain's witness from the command line (issue 13, hole 2; issue 16, item 4):
//! `circle audit verify` finds entries cut from the end (with `audit_head` set back to
//! match) and a wiped log by comparing with the checkpoints outside the database, says how
//! many entries are missing, tells an older copy put back from a backup from tampering,
//! and a copy put back with `circle restore` verifies and says where it stands. On SQLite,
//! or on PostgreSQL when `TEST_DATABASE_URL` is set.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use circle_domain::audit::AuditAction;
use circle_store::witness::{WitnessDir, checkpoint_once};
use circle_store::{Backend, OpenMode, Store};

const BIN: &str = env!("CARGO_BIN_EXE_circle");

fn circle(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CIRCLE_MASTER_KEY")
        .env_remove("CIRCLE_AUDIT_KEY")
        .env_remove("CIRCLE_AUDIT_WITNESS_DIR")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A database with its keys in a temporary directory; the witness lives beside the audit
/// key (`audit.witness`), where servers put it by default.
struct Fixture {
    dir: tempfile::TempDir,
    url: String,
    audit_key: PathBuf,
    _pg: Option<circle_testkit::TestDb>,
    /// PostgreSQL databases a test created besides its own (dropped at the end).
    extra_pg: Vec<String>,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let db = circle_testkit::TestDb::new().await;
                (db.url.clone(), Some(db))
            }
            _ => (
                format!("sqlite://{}", dir.path().join("circle.db").display()),
                None,
            ),
        };
        let audit_key = dir.path().join("audit.key");
        let out = circle(&["keys", "keygen", "--out", audit_key.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let out = circle(&["migrate", "--db", &url]);
        assert!(out.status.success(), "{}", text(&out));
        Self {
            dir,
            url,
            audit_key,
            _pg: pg,
            extra_pg: vec![],
        }
    }

    fn witness(&self) -> WitnessDir {
        WitnessDir::new(self.dir.path().join("audit.witness"))
    }

    async fn store(&self, url: &str) -> Store {
        let key = circle_vault::MasterKey::load(&self.audit_key)
            .unwrap()
            .derive_subkey("circle audit chain v1");
        Store::connect(url, OpenMode::MustExist)
            .await
            .unwrap()
            .with_audit_key(circle_store::audit::AuditKey::new(*key))
    }

    /// Appends `n` entries and checkpoints the head, as a server does while serving.
    async fn append_and_checkpoint(&self, n: usize) -> i64 {
        let store = self.store(&self.url).await;
        for _ in 0..n {
            store
                .op_audit_entry(AuditAction::ClientRead, jiff::Timestamp::now())
                .await
                .unwrap();
        }
        let head = checkpoint_once(&store, &self.witness(), "test-server")
            .await
            .unwrap()
            .unwrap();
        store.close().await;
        head.seq
    }

    fn verify(&self, url: &str) -> (i32, String) {
        let out = circle(&[
            "audit",
            "verify",
            "--db",
            url,
            "--audit-key-file",
            self.audit_key.to_str().unwrap(),
        ]);
        (out.status.code().unwrap_or(-1), text(&out))
    }

    /// Cuts the log after entry `keep` and sets `audit_head` to match, as someone with
    /// write access to the database (but not the audit key) can.
    async fn cut_tail(&self, keep: i64) {
        let store = self.store(&self.url).await;
        let unprotect = match store.backend() {
            Backend::Sqlite => {
                "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"
            }
            Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
        };
        let head = if keep == 0 {
            "UPDATE audit_head SET seq = 0, mac = 'genesis' WHERE id = 1".to_owned()
        } else {
            format!(
                "UPDATE audit_head SET seq = {keep}, \
                 mac = (SELECT mac FROM audit_log WHERE seq = {keep}) WHERE id = 1"
            )
        };
        store
            .execute_admin(&format!(
                "{unprotect} DELETE FROM audit_log WHERE seq > {keep}; {head}"
            ))
            .await
            .unwrap();
        // Without the witness, the shorter chain verifies: that is the hole.
        assert!(store.verify_audit().await.unwrap().first_broken.is_none());
        store.close().await;
    }

    fn backup(&self, out: &Path) -> String {
        let out = circle(&[
            "backup",
            "--db",
            &self.url,
            "--out",
            out.to_str().unwrap(),
            "--audit-key-file",
            self.audit_key.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    }

    /// A URL for a database that does not exist yet, beside this test's.
    fn new_url(&mut self, name: &str) -> String {
        if self._pg.is_some() {
            let db = format!("{}_{name}", self.url.rsplit('/').next().unwrap());
            self.extra_pg.push(db.clone());
            circle_testkit::with_database(&self.url, &db)
        } else {
            format!(
                "sqlite://{}",
                self.dir.path().join(format!("{name}.db")).display()
            )
        }
    }

    /// Puts `backup` back as the database at `url` by hand (not with `circle restore`).
    async fn put_back_by_hand(&self, backup: &Path, url: &str) {
        if self._pg.is_some() {
            let base = std::env::var("TEST_DATABASE_URL").unwrap();
            let name = url.rsplit('/').next().unwrap();
            let admin = Store::connect(
                &circle_testkit::with_database(&base, "postgres"),
                OpenMode::MustExist,
            )
            .await
            .unwrap();
            admin
                .execute_admin(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await;
            let out = Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname", url])
                .arg(backup)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
        } else {
            let path = url.trim_start_matches("sqlite://");
            std::fs::copy(backup, path).unwrap();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.extra_pg.is_empty() {
            return;
        }
        let base = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
        let names = std::mem::take(&mut self.extra_pg);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let admin_url = circle_testkit::with_database(&base, "postgres");
                if let Ok(admin) = Store::connect(&admin_url, OpenMode::MustExist).await {
                    for name in names {
                        let _ = admin
                            .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn an_intact_log_verifies_against_its_witness() {
    let f = Fixture::new().await;
    let n = f.append_and_checkpoint(12).await;
    f.append_and_checkpoint(0).await;
    let (code, out) = f.verify(&f.url);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("audit trail intact: {n} entries verified")),
        "{out}"
    );
    assert!(out.contains("witness: consistent"), "{out}");
    assert!(out.contains(&format!("entry {n}")), "{out}");
}

#[tokio::test]
async fn cutting_the_tail_and_setting_the_head_back_is_reported_with_the_count_missing() {
    let f = Fixture::new().await;
    let n = f.append_and_checkpoint(12).await;
    f.cut_tail(n - 5).await;
    let (code, out) = f.verify(&f.url);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("audit trail BROKEN: 5 entries missing from the end relative to the witness"),
        "{out}"
    );
    assert!(out.contains(&format!("entry {n}")), "{out}");
}

#[tokio::test]
async fn a_wiped_log_is_reported_with_every_entry_missing() {
    let f = Fixture::new().await;
    let n = f.append_and_checkpoint(9).await;
    f.cut_tail(0).await;
    let (code, out) = f.verify(&f.url);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "audit trail BROKEN: {n} entries missing from the end relative to the witness"
        )),
        "{out}"
    );
    assert!(out.contains("the log is empty"), "{out}");
}

#[tokio::test]
async fn verify_without_the_witness_directory_fails_and_says_where_it_looked() {
    let f = Fixture::new().await;
    f.append_and_checkpoint(3).await;
    std::fs::remove_dir_all(f.witness().path()).unwrap();
    let (code, out) = f.verify(&f.url);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no audit witness directory"), "{out}");
    assert!(out.contains("audit.witness"), "{out}");
}

#[tokio::test]
async fn an_older_copy_put_back_by_hand_is_older_than_the_witness_not_tampering() {
    let mut f = Fixture::new().await;
    let k = f.append_and_checkpoint(10).await;
    let file = f.dir.path().join("circle.backup");
    let said = f.backup(&file);
    assert!(said.contains(&format!("{k} entries")), "{said}");
    let n = f.append_and_checkpoint(7).await;
    assert_eq!(n, k + 7);

    let url = f.new_url("put_back");
    f.put_back_by_hand(&file, &url).await;
    let (code, out) = f.verify(&url);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("audit trail is older than the witness (7 entries behind)"),
        "{out}"
    );
    assert!(out.contains("backup"), "{out}");
    assert!(!out.contains("BROKEN"), "{out}");
}

#[tokio::test]
async fn a_copy_put_back_with_circle_restore_verifies_and_says_where_it_stands() {
    let mut f = Fixture::new().await;
    let k = f.append_and_checkpoint(10).await;
    let file = f.dir.path().join("circle.backup");
    f.backup(&file);
    f.append_and_checkpoint(7).await;

    let url = f.new_url("restored");
    let out = circle(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--db",
        &url,
        "--audit-key-file",
        f.audit_key.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("older than the witness (7 entries behind)"),
        "{said}"
    );
    assert!(
        said.contains(&format!("audit chain intact: {k} entries")),
        "{said}"
    );

    let (code, out) = f.verify(&url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("restored"), "{out}");
    assert!(out.contains("7 entries"), "{out}");

    // Restoring over an existing database is refused.
    let out = circle(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--db",
        &url,
        "--audit-key-file",
        f.audit_key.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_checkpoints_at_start_and_at_sigterm_into_the_configured_directory() {
    use std::io::{BufRead, BufReader};
    let f = Fixture::new().await;
    let n = f.append_and_checkpoint(3).await;
    let master = f.dir.path().join("circle.key");
    assert!(
        circle(&["keys", "keygen", "--out", master.to_str().unwrap()])
            .status
            .success()
    );
    let elsewhere = f.dir.path().join("elsewhere");
    let mut child = Command::new(BIN)
        .args(["serve", "--db", &f.url, "--listen", "127.0.0.1:0"])
        .args(["--server-id", "web-7"])
        .arg("--key-file")
        .arg(&master)
        .arg("--audit-key-file")
        .arg(&f.audit_key)
        .env_remove("CIRCLE_MASTER_KEY")
        .env_remove("CIRCLE_AUDIT_KEY")
        .env("CIRCLE_AUDIT_WITNESS_DIR", &elsewhere)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("serve prints its address").unwrap();
    assert!(first.contains("http://127.0.0.1:"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    let file = elsewhere.join("web-7.witness");
    let seqs = |store: &Store| {
        let (store, dir) = (store.clone(), WitnessDir::new(&elsewhere));
        async move {
            store
                .read_witness(&dir)
                .await
                .unwrap()
                .records()
                .map(|r| r.record.seq)
                .collect::<Vec<_>>()
        }
    };
    let store = f.store(&f.url).await;
    assert!(
        file.exists(),
        "the server's own file in the configured directory"
    );
    assert_eq!(seqs(&store).await, vec![n], "a checkpoint at start");

    // Entries appended meanwhile (here by another process) reach the witness at shutdown.
    for _ in 0..4 {
        store
            .op_audit_entry(AuditAction::ClientRead, jiff::Timestamp::now())
            .await
            .unwrap();
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(seqs(&store).await.last(), Some(&(n + 4)));
    store.close().await;
}

#[tokio::test]
async fn a_restore_drill_checks_the_copy_and_leaves_the_witness_alone() {
    let mut f = Fixture::new().await;
    f.append_and_checkpoint(6).await;
    let file = f.dir.path().join("circle.backup");
    f.backup(&file);
    let n = f.append_and_checkpoint(4).await;
    let files = |w: &WitnessDir| {
        let mut v: Vec<_> = std::fs::read_dir(w.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let before = files(&f.witness());

    let url = f.new_url("drill");
    let out = circle(&[
        "restore",
        "--drill",
        "--from",
        file.to_str().unwrap(),
        "--db",
        &url,
        "--audit-key-file",
        f.audit_key.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("older than the witness (4 entries behind)"),
        "{said}"
    );
    assert!(said.contains("left as it was"), "{said}");
    assert_eq!(files(&f.witness()), before);
    // The drill copy is the recorded backup, behind the witness: older, not tampered with.
    let (code, out) = f.verify(&url);
    assert_eq!(code, 2, "{out}");
    let (code, out) = f.verify(&f.url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("entry {n}")), "{out}");
}
