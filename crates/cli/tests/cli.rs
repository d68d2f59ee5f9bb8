//! The `circle` binary as a newcomer meets it: `--help`, `serve --demo` answering within
//! seconds on SQLite or PostgreSQL (whichever `TEST_DATABASE_URL` selects), the demo
//! director's sign-in with a code from the published TOTP secret, the size rule on the demo
//! clinic's full group, `user create`, and no database created by a typo.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;
use common::{BIN, Server, fresh_db, serve};

/// The demo director's published TOTP secret (README, "demo accounts").
const DEMO_DIRECTOR_TOTP_SECRET: &str = "CIRCLEDEMODIRECTORTOTPSECRETAAAA";

/// The code an authenticator app shows now for a secret, as a person would type it.
fn demo_code(secret: &str) -> String {
    circle_app::auth::totp_code(secret, jiff::Timestamp::now()).unwrap()
}

#[test]
fn help_explains_every_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in ["serve", "migrate", "demo", "user", "plan"] {
        assert!(text.contains(cmd), "--help does not mention {cmd}");
    }
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--demo") && text.contains("--db") && text.contains("--listen"));
}

#[test]
fn a_typo_in_the_database_path_never_creates_an_empty_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clinci.db");
    let out = Command::new(BIN)
        .args([
            "serve",
            "--db",
            &format!("sqlite://{}", path.display()),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("circle migrate"),
        "the error says how to fix it: {err}"
    );
    assert!(!path.exists());
    let out = Command::new(BIN)
        .args(["migrate", "--db", "mysql://localhost/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("sqlite:// or postgres://")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_clinic_serves_and_refuses_a_thirteenth_member() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo.db").await;
    let key = dir.path().join("demo.key").display().to_string();
    let audit_key = dir.path().join("demo-audit.key").display().to_string();
    let server = serve(&[
        "--demo",
        "--db",
        &url,
        "--key-file",
        &key,
        "--audit-key-file",
        &audit_key,
    ]);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());

    let token = demo_token(
        &http,
        &server.base,
        "director@demo.circle.test",
        DEMO_DIRECTOR_TOTP_SECRET,
    )
    .await;
    let get = |path: String| {
        let (http, token, base) = (http.clone(), token.clone(), server.base.clone());
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let groups = get("/api/v1/groups?limit=200".to_owned()).await;
    let groups = groups["items"].as_array().unwrap().clone();
    assert!(
        groups.len() >= 8,
        "the demo has a realistic number of groups"
    );

    // Find the group that is exactly full.
    let mut full = None;
    for g in &groups {
        let members = get(format!("/api/v1/groups/{}/memberships?limit=200", g["id"])).await;
        let active: Vec<i64> = members["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["end_date"].is_null())
            .map(|m| m["client_id"].as_i64().unwrap())
            .collect();
        if active.len() == 12 && g["max_size"] == 12 {
            full = Some((g.clone(), active));
            break;
        }
    }
    let (group, members) = full.expect("the demo clinic has a full group of 12");

    // An eligible newcomer: at a level the group accepts, not already a member.
    let clients = get("/api/v1/clients?limit=200".to_owned()).await;
    let levels = group["eligible_levels"].as_array().unwrap();
    let newcomer = clients["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            levels.contains(&c["current_level"]) && !members.contains(&c["id"].as_i64().unwrap())
        })
        .expect("an eligible client outside the full group")["id"]
        .as_i64()
        .unwrap();
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("America/New_York").unwrap())
        .date();
    let r = http
        .post(format!(
            "{}/api/v1/groups/{}/memberships",
            server.base, group["id"]
        ))
        .bearer_auth(&token)
        .json(&json!({"client_id": newcomer, "start_date": today.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CONFLICT);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "group_full", "{problem}");
    let after = get(format!(
        "/api/v1/groups/{}/memberships?limit=200",
        group["id"]
    ))
    .await;
    let active = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["end_date"].is_null())
        .count();
    assert_eq!(active, 12);

    // The second demo director is scoped to the IOP evening track: its program, its groups
    // and its clients only; director@ stays clinic-wide.
    let scoped = demo_token(
        &http,
        &server.base,
        "iop.director@demo.circle.test",
        "CIRCLEDEMOIOPDIRECTORTOTPSECRETA",
    )
    .await;
    let get_as = |token: String, path: &'static str| {
        let (http, base) = (http.clone(), server.base.clone());
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let programs = get_as(scoped.clone(), "/api/v1/programs?limit=200").await;
    let programs = programs["items"].as_array().unwrap();
    assert_eq!(programs.len(), 1, "{programs:?}");
    assert_eq!(programs[0]["name"], "Adult IOP — evening track");
    let own_groups = get_as(scoped.clone(), "/api/v1/groups?limit=200").await;
    let own_groups = own_groups["items"].as_array().unwrap();
    assert!(!own_groups.is_empty());
    assert!(own_groups.len() < groups.len());
    assert!(
        own_groups
            .iter()
            .all(|g| g["program_id"] == programs[0]["id"])
    );
    let own_clients = get_as(scoped, "/api/v1/clients?limit=200").await;
    let own_clients = own_clients["items"].as_array().unwrap().len();
    let all_clients = clients["items"].as_array().unwrap().len();
    assert!(
        own_clients > 0 && own_clients < all_clients,
        "{own_clients} of {all_clients}"
    );
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "users.db").await;
    let status = Command::new(BIN)
        .args(["migrate", "--db", &url])
        .status()
        .unwrap();
    assert!(status.success());
    let create = |password: &str| {
        let mut child = Command::new(BIN)
            .args([
                "user",
                "create",
                "--email",
                "new.director@example.test",
                "--role",
                "director",
                "--password-stdin",
                "--db",
                &url,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let short = create("too-short\n");
    assert!(!short.status.success());
    let err = String::from_utf8(short.stderr).unwrap();
    assert!(
        err.contains("password") && !err.contains("too-short"),
        "{err}"
    );
    let ok = create("a-long-enough-password\n");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let again = create("a-long-enough-password\n");
    assert!(!again.status.success(), "an email is used once");
}

#[tokio::test]
async fn the_demo_prints_each_staff_accounts_totp_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo-secrets.db").await;
    let out = Command::new(BIN)
        .args(["demo", "--db", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(DEMO_DIRECTOR_TOTP_SECRET), "{text}");
    assert!(
        text.contains(&format!(
            "otpauth://totp/Circle:director@demo.circle.test?secret={DEMO_DIRECTOR_TOTP_SECRET}"
        )),
        "{text}"
    );
    for other in [
        "CIRCLEDEMOADMINTOTPSECRETAAAAAAA",
        "CIRCLEDEMOCLINICIANTOTPSECRETAAA",
        "CIRCLEDEMOIOPDIRECTORTOTPSECRETA",
    ] {
        assert!(text.contains(other), "{text}");
    }
}

// --- measures ---
/// Signs in to a demo server with a staff account's published TOTP secret.
async fn demo_token(http: &reqwest::Client, base: &str, email: &str, secret: &str) -> String {
    common::sign_in(http, base, email, common::DEMO_PASSWORD, Some(secret)).await
}

#[tokio::test]
async fn the_demo_has_measure_histories_safety_alerts_and_due_clients() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo-measures.db").await;
    let key = dir.path().join("demo.key").display().to_string();
    let audit_key = dir.path().join("demo-audit.key").display().to_string();
    let server = serve(&[
        "--demo",
        "--db",
        &url,
        "--key-file",
        &key,
        "--audit-key-file",
        &audit_key,
    ]);
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let get = |token: String, path: &str| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let clinician = demo_token(
        &http,
        &base,
        "clinician@demo.circle.test",
        "CIRCLEDEMOCLINICIANTOTPSECRETAAA",
    )
    .await;
    // The demo facilitator has an open item-9 alert first, and an acknowledged one.
    let alerts = get(clinician.clone(), "/api/v1/alerts").await;
    let alerts = alerts.as_array().unwrap();
    assert_eq!(alerts[0]["state"], "open", "{alerts:?}");
    assert_eq!(alerts[0]["items"][0]["item_id"], "9");
    assert!(alerts.iter().any(|a| a["state"] == "acknowledged"
        && a["action_taken"].as_str().is_some_and(|t| !t.is_empty())));
    // Some of their clients are due.
    let due = get(clinician.clone(), "/api/v1/measures/due").await;
    assert!(!due.as_array().unwrap().is_empty());

    // Across the clinic: most improve reliably on PHQ-9, a few get worse.
    let director = demo_token(
        &http,
        &base,
        "director@demo.circle.test",
        DEMO_DIRECTOR_TOTP_SECRET,
    )
    .await;
    let clients = get(director.clone(), "/api/v1/clients?limit=200").await;
    let mut flags = std::collections::BTreeMap::<String, usize>::new();
    for c in clients["items"].as_array().unwrap() {
        let summary = get(
            director.clone(),
            &format!("/api/v1/clients/{}/measures/summary", c["id"]),
        )
        .await;
        for s in summary.as_array().unwrap() {
            if s["instrument"] == "phq9" && s["responses"].as_i64().unwrap() >= 3 {
                *flags
                    .entry(s["flag"].as_str().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
    }
    let improved = flags.get("reliable_improvement").copied().unwrap_or(0);
    let worse = flags.get("reliable_deterioration").copied().unwrap_or(0);
    assert!(improved >= 10, "{flags:?}");
    assert!((1..=4).contains(&worse), "{flags:?}");
    let due = get(director, "/api/v1/measures/due").await;
    let reasons: std::collections::BTreeSet<&str> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains("intake") && reasons.contains("routine"),
        "{reasons:?}"
    );
}

// --- security ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_https_with_hsts_when_the_tls_settings_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo.db").await;
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let keys = [
        "--key-file".to_owned(),
        dir.path().join("demo.key").display().to_string(),
        "--audit-key-file".to_owned(),
        dir.path().join("demo-audit.key").display().to_string(),
    ];

    // Half a pair is a settings mistake, said before anything starts.
    let out = Command::new(BIN)
        .args(["serve", "--demo", "--db", &url, "--listen", "127.0.0.1:0"])
        .args(&keys)
        .arg("--tls-cert")
        .arg(&cert_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--tls-cert and --tls-key"), "{err}");

    // Both, from the environment (as CIRCLE_* settings): HTTPS with HSTS.
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--db", &url, "--listen", "127.0.0.1:0"])
        .args(&keys)
        .env("CIRCLE_TLS_CERT", &cert_path)
        .env("CIRCLE_TLS_KEY", &key_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("serve prints its address").unwrap();
    std::thread::spawn(move || for _ in lines {});
    let server = Server {
        child,
        base: first.clone(),
    };
    let port: u16 = first
        .strip_prefix("Circle is running at https://127.0.0.1:")
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("an https address: {first}"));
    let https = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let r = https
        .get(format!("https://localhost:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", server.base);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    // The demo director signs in over HTTPS.
    let r = https
        .post(format!("https://localhost:{port}/api/v1/auth/login"))
        .json(
            &json!({"email": "director@demo.circle.test", "password": "circle-demo-2026",
            "totp_code": demo_code(DEMO_DIRECTOR_TOTP_SECRET)}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(server);
}

/// `circle plan timetable` designs the week of a generated instance; the reference
/// checker accepts the timetable with the score the command printed.
#[test]
fn plan_timetable_writes_a_week_the_reference_checker_accepts() {
    let bench = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/bench");
    let dir = tempfile::tempdir().unwrap();
    let inst = dir.path().join("small.json");
    let out = Command::new("python3")
        .arg(format!("{bench}/gen_timetable.py"))
        .args(["--size", "small", "--seed", "2", "-o"])
        .arg(&inst)
        .output()
        .expect("python3 runs the reference generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sol = dir.path().join("week.json");
    let out = Command::new(BIN)
        .args(["plan", "timetable"])
        .arg(&inst)
        .args(["--time-limit", "2", "--out"])
        .arg(&sol)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["hard_violations"], 0, "{report}");
    let out = Command::new("python3")
        .arg(format!("{bench}/check_timetable.py"))
        .arg(&inst)
        .arg(&sol)
        .output()
        .unwrap();
    let check: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check["feasible"], true, "{check}");
    assert_eq!(check["score"], report["score"], "{check} vs {report}");
    assert!(report["bound"].as_f64().unwrap() >= report["score"].as_f64().unwrap());
}
