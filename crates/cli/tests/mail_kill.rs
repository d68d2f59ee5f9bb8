//! The outbox survives its process being killed (issue 18): a real `circle serve`, sending
//! to a real SMTP server (aiosmtpd, `crates/testkit/smtp/sink.py`), is killed with SIGKILL
//! over and over while it sends — often in the instant after the SMTP server has stored a
//! message and before it answered, so the server was delivered a message the outbox never
//! marked — and restarted each time. In the end every message was delivered exactly once
//! to the mailbox: each outbox row under one Message-ID only (a message cut off is sent
//! again as the same message, which a mailbox keeps once), none lost, each marked sent and
//! audited once.
//!
//! Runs on SQLite, or on PostgreSQL with `TEST_DATABASE_URL` set.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use circle_testkit::clinic::ClinicSpec;
use circle_testkit::smtp::SmtpSink;
use circle_testkit::{TestDb, spawn_app_on};
use common::BIN;
use reqwest::StatusCode;
use serde_json::json;

/// Writes a new key file with `circle keys keygen`.
fn keygen(path: &std::path::Path) {
    let out = Command::new(BIN)
        .args(["keys", "keygen", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn count(url: &str, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

/// `circle serve` over `url` with the keys in `dir`, sending to the sink.
fn serve(url: &str, dir: &std::path::Path, port: u16, name: &str) -> Child {
    Command::new(BIN)
        .args(["serve", "--db", url, "--listen", "127.0.0.1:0"])
        .arg("--key-file")
        .arg(dir.join("master.key"))
        .arg("--audit-key-file")
        .arg(dir.join("audit.key"))
        .arg("--audit-witness-dir")
        .arg(dir.join("witness"))
        .args(["--server-id", name])
        .env_remove("CIRCLE_LOG")
        .env("CIRCLE_LOG", "warn")
        .env("CIRCLE_MAIL_TRANSPORT", "smtp")
        .env("CIRCLE_SMTP_HOST", "127.0.0.1")
        .env("CIRCLE_SMTP_PORT", port.to_string())
        .env("CIRCLE_SMTP_TLS", "none")
        .env("CIRCLE_SMTP_TIMEOUT_SECS", "5")
        .env("CIRCLE_MAIL_FROM", "care@clinic.example")
        .env("CIRCLE_PUBLIC_URL", "http://127.0.0.1:9")
        .env("CIRCLE_MAIL_POLL_SECS", "1")
        // A killed server's claims are free again a second later.
        .env("CIRCLE_MAIL_LEASE_SECS", "1")
        .env("CIRCLE_MAIL_BATCH", "50")
        // Every interrupted send counts as an attempt, and this test interrupts the same
        // message again and again on purpose; running out of attempts (a dead letter) is
        // tested in tests/messaging.rs.
        .env("CIRCLE_MAIL_MAX_ATTEMPTS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn killing_the_server_again_and_again_while_it_sends_neither_loses_nor_repeats_a_message() {
    let dir = tempfile::tempdir().unwrap();
    keygen(&dir.path().join("master.key"));
    keygen(&dir.path().join("audit.key"));
    let master = circle_vault::MasterKey::load(dir.path().join("master.key")).unwrap();
    let audit = circle_vault::MasterKey::load(dir.path().join("audit.key")).unwrap();
    // The same keys as the server's (`secrets::load`): what this test writes, it reads.
    let db = TestDb::new().await.with_keys(
        circle_vault::Keyring::new(master, vec![]),
        circle_store::audit::AuditKey::new(*audit.derive_subkey("circle audit chain v1")),
    );
    let url = db.url.clone();
    let t = spawn_app_on(db).await;
    let k = t
        .clinic(ClinicSpec {
            members: 8,
            ..ClinicSpec::default()
        })
        .await;
    for c in &k.members {
        t.db.store
            .execute_admin(&format!(
                "UPDATE clients SET email = 'client{c}@people.example' WHERE id = {c}"
            ))
            .await
            .unwrap();
        let (s, b) = t
            .send(
                reqwest::Method::PUT,
                &k.director,
                &format!("/api/v1/clients/{c}/contact-consent"),
                json!({"granted": true}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // Four sessions cancelled, eight members told of each: 32 messages in the outbox.
    let sessions = k.sessions(&t, "2026-05-04", "2026-06-01").await;
    assert_eq!(sessions.len(), 4, "{sessions:?}");
    for s in &sessions {
        let (st, sess) = t.get(&k.director, &format!("/api/v1/sessions/{s}")).await;
        assert_eq!(st, StatusCode::OK, "{sess}");
        let (st, b) = t
            .post(
                &k.director,
                &format!("/api/v1/sessions/{s}/cancel"),
                json!({"version": sess["version"], "reason": "room closed"}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let written = count(
        &url,
        "SELECT COUNT(*) FROM messages WHERE status = 'queued'",
    )
    .await;
    assert_eq!(written, 32);

    // The SMTP server stores each message, then waits before its 250: a kill in that wait
    // leaves a message delivered and not marked.
    let sink = SmtpSink::start();
    sink.set_mode("slow:0.25");
    let started = Instant::now();
    let mut kills = 0;
    for i in 0..24u64 {
        let before = sink.received().len();
        let mut server = serve(&url, dir.path(), sink.port, &format!("s{i}"));
        // Until the server has handed over one more message (or has nothing left).
        let waited = Instant::now();
        loop {
            if sink.received().len() > before
                || count(&url, "SELECT COUNT(*) FROM messages WHERE status <> 'sent'").await == 0
            {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "server {i} sent nothing"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Every other kill lands at once (the message stored, its 250 not yet given);
        // the rest a little later, anywhere in the conversation or the marking.
        if i % 2 == 1 {
            tokio::time::sleep(Duration::from_millis((i * 37) % 300)).await;
        }
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        kills += 1;
    }
    // A last server finishes the outbox.
    sink.set_mode("ok");
    let mut last = serve(&url, dir.path(), sink.port, "last");
    let waited = Instant::now();
    while count(&url, "SELECT COUNT(*) FROM messages WHERE status <> 'sent'").await > 0 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the outbox was not emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last.kill().unwrap();
    last.wait().unwrap();
    assert!(kills >= 20);
    eprintln!("{kills} kills in {:.1} s", started.elapsed().as_secs_f64());

    // Whatever the servers wrote on their own (none expected: the sessions are past) is
    // held to the same rule: every row in the outbox.
    let rows = count(&url, "SELECT COUNT(*) FROM messages").await;
    assert!(rows >= 32);
    assert_eq!(
        count(&url, "SELECT COUNT(*) FROM messages WHERE status = 'sent'").await,
        rows,
        "every message sent, none dead"
    );
    let got = sink.received();
    let mut ids_by_row: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for m in &got {
        let row = m
            .message_id
            .trim_start_matches("<circle.outbox.")
            .split('.')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not an outbox Message-ID: {}", m.message_id));
        ids_by_row
            .entry(row)
            .or_default()
            .insert(m.message_id.clone());
    }
    assert_eq!(ids_by_row.len() as i64, rows, "no message lost");
    assert!(
        ids_by_row.values().all(|ids| ids.len() == 1),
        "a message sent again is the same message (one Message-ID per outbox row)"
    );
    let mailbox: BTreeSet<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        mailbox.len() as i64,
        rows,
        "the mailbox holds each message once"
    );
    eprintln!(
        "{} deliveries of {rows} messages: {} repeated after a kill, under the same Message-ID",
        got.len(),
        got.len() as i64 - rows
    );
    // Marked once and audited once each (recipient's record and kind, no address).
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send'"
        )
        .await,
        rows
    );
    assert_eq!(
        count(
            &url,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send' AND object_id LIKE '%@%'"
        )
        .await,
        0
    );
    drop(t);
}
