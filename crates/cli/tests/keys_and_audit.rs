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

#[tokio::test]
async fn rotate_key_rewraps_sealed_text_so_the_old_key_can_go() {
    use circle_store::access::purpose;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    assert!(circle(&["demo", "--db", &db]).status.success());
    let old = dir.path().join("circle-demo.key");
    let audit = dir.path().join("circle-demo-audit.key");
    let new = dir.path().join("new.key");
    assert!(
        circle(&["keys", "keygen", "--out", new.to_str().unwrap()])
            .status
            .success()
    );
    let out = circle(&[
        "rotate-key",
        "--db",
        &db,
        "--key-file",
        new.to_str().unwrap(),
        "--retired-key-file",
        old.to_str().unwrap(),
        "--audit-key-file",
        audit.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Separation reasons, intake's values, alert actions, waitlist notes, the demo staff
    // accounts' TOTP secrets, and every demo note and addendum.
    let rewrapped: usize = text
        .split("re-wrapped ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(rewrapped > 1000, "{text}");

    // Every sealed value in the database — whatever table or column holds it — is now
    // under the new key, and every column holding one is in the registry key rotation
    // walks: a new sealed column left out of it fails here.
    let new_id = circle_vault::MasterKey::load(&new).unwrap().id();
    sqlx::any::install_default_drivers();
    let raw = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&db)
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&raw)
    .await
    .unwrap();
    let mut sealed_seen = std::collections::BTreeSet::new();
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&raw)
                .await
                .unwrap();
        for column in columns {
            let values: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT \"{column}\" FROM \"{table}\" WHERE typeof(\"{column}\") = 'text' \
                 AND \"{column}\" LIKE 'v1.%'"
            ))
            .fetch_all(&raw)
            .await
            .unwrap();
            for v in values {
                let Ok(key) = circle_vault::Keyring::key_id_of(&v) else {
                    continue;
                };
                assert_eq!(
                    key, new_id,
                    "{table}.{column} still holds a value under the old key"
                );
                sealed_seen.insert((table.clone(), column.clone()));
            }
        }
    }
    for (table, column) in &sealed_seen {
        assert!(
            circle_store::sealed::SEALED_COLUMNS
                .iter()
                .any(|c| c.table == table && c.column == column),
            "{table}.{column} holds sealed values but is not in the sealed-column registry"
        );
    }
    assert!(
        sealed_seen.len() >= 10,
        "the demo seals most kinds: {sealed_seen:?}"
    );
    raw.close().await;

    let open_with = |key: &std::path::Path| {
        let (db, key, audit) = (db.clone(), key.to_path_buf(), audit.clone());
        async move {
            let audit_key = circle_vault::MasterKey::load(&audit)
                .unwrap()
                .derive_subkey("circle audit chain v1");
            circle_store::Store::connect(&db, circle_store::OpenMode::MustExist)
                .await
                .unwrap()
                .with_audit_key(circle_store::audit::AuditKey::new(*audit_key))
                .with_keyring(circle_vault::Keyring::new(
                    circle_vault::MasterKey::load(&key).unwrap(),
                    vec![],
                ))
        }
    };
    // Find a client with a separation, then read its reason with the new key alone.
    let store = open_with(&new).await;
    let now = jiff::Timestamp::now();
    let mut found = None;
    for id in 1..=60 {
        let list = store
            .separations(
                &store
                    .op()
                    .client::<purpose::SeparationRead>(circle_domain::ids::ClientId(id))
                    .await
                    .unwrap(),
                now,
            )
            .await
            .unwrap();
        if let Some(s) = list.into_iter().find(|s| s.reason.is_some()) {
            found = Some(id);
            assert!(!s.reason.unwrap().as_str().is_empty());
            break;
        }
    }
    let id = found.expect("the demo has separations with reasons");
    // Intake's sealed values (a referral's details) open with the new key alone too.
    let referral = store
        .op()
        .referral::<purpose::ReferralRead>(1)
        .await
        .unwrap();
    assert!(store.referral(&referral, now).await.is_ok());
    // Notes (and their addenda) read with the new key alone too.
    let mut notes = 0;
    for session in 1..=60 {
        notes += store
            .progress_notes(
                &store
                    .op()
                    .session::<purpose::NoteList>(circle_domain::ids::SessionId(session))
                    .await
                    .unwrap(),
                now,
            )
            .await
            .unwrap()
            .len();
    }
    assert!(notes > 0, "the demo's early sessions have notes");
    // The demo director's TOTP secret opens with the new key alone too.
    let director = circle_domain::text::Email::parse("director@demo.circle.test").unwrap();
    let creds = store.sign_in_credentials(&director).await.unwrap().unwrap();
    assert_eq!(
        creds.totp_secret.as_deref(),
        Some("CIRCLEDEMODIRECTORTOTPSECRETAAAA")
    );
    store.close().await;
    // The old key alone no longer opens them.
    let stale = open_with(&old).await;
    assert!(
        stale
            .separations(
                &stale
                    .op()
                    .client::<purpose::SeparationRead>(circle_domain::ids::ClientId(id))
                    .await
                    .unwrap(),
                now,
            )
            .await
            .is_err()
    );
    let referral = stale
        .op()
        .referral::<purpose::ReferralRead>(1)
        .await
        .unwrap();
    assert!(stale.referral(&referral, now).await.is_err());
    assert!(stale.sign_in_credentials(&director).await.is_err());
    // Running it again changes nothing.
    let out = circle(&[
        "rotate-key",
        "--db",
        &db,
        "--key-file",
        new.to_str().unwrap(),
        "--audit-key-file",
        audit.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("re-wrapped 0")
    );
}
