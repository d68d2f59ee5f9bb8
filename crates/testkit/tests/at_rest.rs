//! Clinical free text is encrypted at rest: a unique marker written through the API is
//! found nowhere in the SQLite files (database, WAL) nor in a dump of the PostgreSQL
//! database, yet reads back intact to those allowed to see it.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::user::Role;
use circle_store::Backend;
use circle_testkit::spawn_app;
use reqwest::StatusCode;
use serde_json::json;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Signs in a director and registers `n` clients; returns the token and their ids.
async fn director_with_clients(t: &circle_testkit::TestApp, n: usize) -> (String, Vec<i64>) {
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let mut ids = vec![];
    for k in 0..n {
        let (_, c) = t
            .post(
                &dir,
                "/api/v1/clients",
                json!({"record_number": format!("R-{k}"), "given_name": "G", "family_name": "F",
                "date_of_birth": "1980-01-01", "referral_source": "self_referral"}),
            )
            .await;
        ids.push(c["id"].as_i64().unwrap());
    }
    (dir, ids)
}

#[tokio::test]
async fn a_separation_reason_is_nowhere_in_the_database_files_in_clear() {
    let t = spawn_app().await;
    let (dir, ids) = director_with_clients(&t, 2).await;
    let marker = format!("MARKER-{}-brother-in-law", rand::random::<u64>());
    let (s, _) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{}/separations", ids[0]),
            json!({"other_client_id": ids[1], "reason": marker}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, back) = t
        .get(&dir, &format!("/api/v1/clients/{}/separations", ids[1]))
        .await;
    assert_eq!(
        back[0]["reason"],
        marker.as_str(),
        "the reason reads back decrypted"
    );

    match t.db.backend() {
        Backend::Sqlite => {
            let path = t.db.url.trim_start_matches("sqlite://").to_owned();
            let mut checked = 0;
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    assert!(
                        !contains(&bytes, marker.as_bytes()),
                        "marker found in {path}{suffix}"
                    );
                    checked += 1;
                }
            }
            assert!(checked >= 2, "the database and its WAL were read");
        }
        Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&t.db.url)
                .output()
                .expect("pg_dump is installed (Debian: postgresql-client)");
            assert!(
                out.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.len() > 1000, "the dump has data");
            assert!(
                !contains(&out.stdout, marker.as_bytes()),
                "marker found in the PostgreSQL dump"
            );
        }
    }
}

#[tokio::test]
async fn a_sealed_reason_moved_to_another_row_is_an_integrity_error() {
    let t = spawn_app().await;
    let (dir, ids) = director_with_clients(&t, 4).await;
    t.post(
        &dir,
        &format!("/api/v1/clients/{}/separations", ids[0]),
        json!({"other_client_id": ids[1], "reason": "first"}),
    )
    .await;
    t.post(
        &dir,
        &format!("/api/v1/clients/{}/separations", ids[2]),
        json!({"other_client_id": ids[3], "reason": "second"}),
    )
    .await;
    t.db.store
        .execute_admin("UPDATE separations SET reason = (SELECT reason FROM separations WHERE id = 1) WHERE id = 2")
        .await
        .unwrap();
    let (s, p) = t
        .get(&dir, &format!("/api/v1/clients/{}/separations", ids[2]))
        .await;
    assert_eq!(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "never shown as valid: {p}"
    );
    assert!(!p.to_string().contains("first"));
    let (s, _) = t
        .get(&dir, &format!("/api/v1/clients/{}/separations", ids[0]))
        .await;
    assert_eq!(s, StatusCode::OK, "the untouched row still reads");
}

// --- security ---

/// Fails when `needle` is in the SQLite files (database, WAL) or the PostgreSQL dump.
fn assert_nowhere_in_the_database(t: &circle_testkit::TestApp, needle: &str) {
    match t.db.backend() {
        Backend::Sqlite => {
            let path = t.db.url.trim_start_matches("sqlite://").to_owned();
            let mut checked = 0;
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    assert!(
                        !contains(&bytes, needle.as_bytes()),
                        "found in clear in {path}{suffix}"
                    );
                    checked += 1;
                }
            }
            assert!(checked >= 2, "the database and its WAL were read");
        }
        Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&t.db.url)
                .output()
                .expect("pg_dump is installed (Debian: postgresql-client)");
            assert!(out.status.success(), "pg_dump failed");
            assert!(out.stdout.len() > 1000, "the dump has data");
            assert!(
                !contains(&out.stdout, needle.as_bytes()),
                "found in clear in the PostgreSQL dump"
            );
        }
    }
}

#[tokio::test]
async fn totp_secrets_enrolled_or_pending_are_nowhere_in_the_database_in_clear() {
    let t = spawn_app().await;
    // Enrolled at first sign-in: the secret is the authenticator app's.
    t.token_for("director@example.test", Role::Director, None, None)
        .await;
    let enrolled = t.enrolled("director@example.test").unwrap().secret;
    // An enrolment started but not finished holds its secret in mfa_enrollments.
    let e = circle_domain::text::Email::parse("clin@example.test").unwrap();
    let record = circle_testkit::builders::clinician(&t.db.store, 1).await;
    t.app
        .create_user(
            &e,
            circle_testkit::TEST_PASSWORD,
            Role::Clinician,
            Some(record.id),
            None,
        )
        .await
        .unwrap();
    let (s, pending) = t
        .post_login(
            json!({"email": "clin@example.test", "password": circle_testkit::TEST_PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let pending = pending["secret"].as_str().unwrap().to_owned();
    // The demo-style provisioning path seals too.
    let provisioned = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    let i = circle_domain::text::Email::parse("intake@example.test").unwrap();
    let intake = t
        .app
        .create_user(&i, circle_testkit::TEST_PASSWORD, Role::Intake, None, None)
        .await
        .unwrap();
    t.app
        .provision_totp_secret(intake.id, provisioned)
        .await
        .unwrap();
    for secret in [enrolled.as_str(), pending.as_str(), provisioned] {
        assert_eq!(secret.len(), 32);
        assert_nowhere_in_the_database(&t, secret);
        assert_nowhere_in_the_database(&t, &secret.to_lowercase());
    }
}
