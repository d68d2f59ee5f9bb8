//! Keys and the audit chain from the command line: serving refuses to start without a
//! master key, `keys keygen` makes owner-only key files, and `audit verify` reports an
//! intact chain and a broken one.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_circle");

fn circle(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("CIRCLE_MASTER_KEY")
        .env_remove("CIRCLE_AUDIT_KEY")
        .output()
        .unwrap()
}

#[test]
fn serve_refuses_to_start_without_a_master_key_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    assert!(circle(&["migrate", "--db", &db]).status.success());
    let out = circle(&["serve", "--db", &db, "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("circle keys keygen"), "{err}");
}

#[cfg(unix)]
#[test]
fn keygen_writes_an_owner_only_key_and_never_prints_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("circle.key");
    let out = circle(&["keys", "keygen", "--out", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let key_b64 = text
        .lines()
        .find(|l| l.starts_with("circle-master-key"))
        .unwrap()
        .split(' ')
        .nth(3)
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(key_b64));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !circle(&["keys", "keygen", "--out", path.to_str().unwrap()])
            .status
            .success(),
        "no silent overwrite"
    );
}

#[tokio::test]
async fn audit_verify_reports_intact_and_broken_chains() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("demo.db");
    let db = format!("sqlite://{}", db_path.display());
    let out = circle(&["demo", "--db", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The demo generated its keys beside the database.
    assert!(dir.path().join("circle-demo.key").exists());
    let audit_key = dir.path().join("circle-demo-audit.key");
    let audit_key = audit_key.to_str().unwrap();
    let out = circle(&[
        "audit",
        "verify",
        "--db",
        &db,
        "--audit-key-file",
        audit_key,
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success() && text.contains("intact"), "{text}");

    // Someone with write access to the file edits an entry (dropping the trigger first).
    let store = circle_store::Store::connect(&db, circle_store::OpenMode::MustExist)
        .await
        .unwrap();
    store
        .execute_admin("DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor_user_id = 42 WHERE seq = 10")
        .await
        .unwrap();
    store.close().await;
    let out = circle(&[
        "audit",
        "verify",
        "--db",
        &db,
        "--audit-key-file",
        audit_key,
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success());
    assert!(
        text.contains("BROKEN at entry 10") && text.contains("modified"),
        "{text}"
    );
}
