//! `circle backup` while a server takes writes, `circle restore` into a fresh database,
//! and a server on the restored copy (issue 16, item 4): every write acknowledged before
//! the backup began is there, none acknowledged after it ended is, and the restored copy
//! verifies and says where it stands against the witness. On SQLite (VACUUM INTO), or on
//! PostgreSQL (pg_dump/pg_restore) when `TEST_DATABASE_URL` is set.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use circle_domain::user::Role;
use circle_store::witness::{Cadence, Keeper, WitnessDir};
use circle_store::{OpenMode, Store};
use circle_testkit::{TEST_PASSWORD, TestDb, spawn_app_on, with_database};
use serde_json::{Value, json};

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

/// Waits (bounded) until `done` holds, checking every few milliseconds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Drops the PostgreSQL database a restore created.
struct DropDb(Option<String>);

impl Drop for DropDb {
    fn drop(&mut self) {
        let Some(name) = self.0.take() else { return };
        let base = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(admin) =
                    Store::connect(&with_database(&base, "postgres"), OpenMode::MustExist).await
                {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_concurrent_writes_restores_every_write_acknowledged_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("circle.key");
    let audit_file = dir.path().join("audit.key");
    for f in [&key_file, &audit_file] {
        let out = circle(&["keys", "keygen", "--out", f.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let audit = circle_vault::MasterKey::load(&audit_file)
        .unwrap()
        .derive_subkey("circle audit chain v1");
    let master = circle_vault::MasterKey::load(&key_file).unwrap();

    // A server with the real keys, checkpointing into the witness beside the audit key.
    let mut db = TestDb::new().await;
    db.store = db
        .store
        .clone()
        .with_audit_key(circle_store::audit::AuditKey::new(*audit))
        .with_keyring(circle_vault::Keyring::new(master, vec![]));
    let url = db.url.clone();
    let postgres = url.starts_with("postgres");
    let t = spawn_app_on(db).await;
    let witness = WitnessDir::new(dir.path().join("audit.witness"));
    let keeper = Keeper::start(
        t.db.store.clone(),
        witness.clone(),
        "test-server",
        Cadence::default(),
    )
    .await
    .unwrap();
    let token = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let intake_secret = t.enrolled("intake@example.test").unwrap().secret;

    // Writes, one after another, each recorded once acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (http, base, token) = (t.http.clone(), t.base.clone(), token.clone());
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            for i in 0..5000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = http
                    .post(format!("{base}/api/v1/clients"))
                    .bearer_auth(&token)
                    .json(
                        &json!({"record_number": format!("B-{i}"), "given_name": "Backup",
                        "family_name": format!("Writer{i}"), "date_of_birth": "1980-01-01",
                        "referral_source": "self_referral"}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "write {i}");
                let v: Value = r.json().await.unwrap();
                acked.lock().unwrap().push(v["id"].as_i64().unwrap());
            }
        })
    };
    let count = || acked.lock().unwrap().len();
    wait_until("20 writes are acknowledged", || count() >= 20).await;

    // The backup, while the writes go on.
    let before: BTreeSet<i64> = acked.lock().unwrap().iter().copied().collect();
    let file = dir.path().join("circle.backup");
    let out = {
        let (url, file, audit_file) = (url.clone(), file.clone(), audit_file.clone());
        tokio::task::spawn_blocking(move || {
            circle(&[
                "backup",
                "--db",
                &url,
                "--out",
                file.to_str().unwrap(),
                "--audit-key-file",
                audit_file.to_str().unwrap(),
            ])
        })
        .await
        .unwrap()
    };
    let at_end = count();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        at_end > before.len(),
        "writes went on during the backup ({} before, {at_end} after)",
        before.len()
    );
    assert!(said.contains("audit chain intact"), "{said}");
    assert!(said.contains("witness: recorded"), "{said}");
    if !postgres {
        assert!(said.contains("integrity: ok"), "{said}");
    }
    wait_until("5 more writes after the backup", || count() >= at_end + 5).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let all: Vec<i64> = acked.lock().unwrap().clone();
    let after: BTreeSet<i64> = all[at_end..].iter().copied().collect();
    keeper.stop().await.unwrap();
    drop(t);

    // Restore into a fresh database.
    let (target, _drop) = if postgres {
        let name = format!("{}_restored", url.rsplit('/').next().unwrap());
        (with_database(&url, &name), DropDb(Some(name)))
    } else {
        (
            format!("sqlite://{}", dir.path().join("restored.db").display()),
            DropDb(None),
        )
    };
    let out = circle(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--db",
        &target,
        "--audit-key-file",
        audit_file.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("migrations: up to date"), "{said}");
    assert!(said.contains("audit chain intact"), "{said}");
    assert!(said.contains("older than the witness ("), "{said}");

    let out = circle(&[
        "audit",
        "verify",
        "--db",
        &target,
        "--audit-key-file",
        audit_file.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("audit trail intact"), "{said}");
    assert!(
        said.contains("restored") && said.contains("entries behind"),
        "{said}"
    );

    // Serve the restored copy and read every client back as intake.
    let mut child = Command::new(BIN)
        .args(["serve", "--db", &target, "--listen", "127.0.0.1:0"])
        .arg("--key-file")
        .arg(&key_file)
        .arg("--audit-key-file")
        .arg(&audit_file)
        .env_remove("CIRCLE_MASTER_KEY")
        .env_remove("CIRCLE_AUDIT_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Killed on every way out of this test, a failed assertion included, so no server
    // outlives it holding the test runner's output open.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let child = KillOnDrop(child);
    let first = lines.next().expect("serve prints its address").unwrap();
    std::thread::spawn(move || for _ in lines {});
    let base = first
        .split("http://")
        .nth(1)
        .map(|rest| format!("http://{}", rest.trim_end_matches('/')))
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({
            "email": "intake@example.test",
            "password": TEST_PASSWORD,
            // Intake signs in with a second factor; this server runs on the real clock.
            "totp_code": circle_app::auth::totp_code(&intake_secret, jiff::Timestamp::now()).unwrap(),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("intake signs in").to_owned();
    let mut present = BTreeSet::new();
    let mut after_id = 0;
    loop {
        let page: Value = http
            .get(format!("{base}/api/v1/clients?limit=200&after={after_id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for c in page["items"].as_array().unwrap() {
            present.insert(c["id"].as_i64().unwrap());
        }
        match page["next_after"].as_i64() {
            Some(n) => after_id = n,
            None => break,
        }
    }
    drop(child);
    let lost: Vec<_> = before.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, lost: {lost:?}"
    );
    let extra: Vec<_> = after.intersection(&present).collect();
    assert!(
        extra.is_empty(),
        "written after the backup ended: {extra:?}"
    );
}
