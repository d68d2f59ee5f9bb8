//! A server that says how it is (issue 16), on the database `TEST_DATABASE_URL` names
//! (SQLite when unset): `circle serve --log-format json` logs one JSON object a line — one
//! per request with its id, route template, status and time — and never a name or email;
//! `--metrics-addr` serves `/metrics` apart from the public address, in the Prometheus text
//! format, with requests by route template, pool use, background jobs, audit appends and
//! sign-in failures, and no id or email in any label.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;
use common::{BIN, fresh_db};
const DIRECTOR: &str = "director@demo.circle.test";
const DIRECTOR_TOTP: &str = "CIRCLEDEMODIRECTORTOTPSECRETAAAA";

struct Server {
    child: Child,
    base: String,
    metrics: String,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(url: &str, dir: &std::path::Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--db", url, "--listen", "127.0.0.1:0"])
        .args(["--key-file", &dir.join("demo.key").display().to_string()])
        .args([
            "--audit-key-file",
            &dir.join("demo-audit.key").display().to_string(),
        ])
        .args(["--log-format", "json", "--metrics-addr", "127.0.0.1:0"])
        .env_remove("CIRCLE_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(vec![]));
    let sink = logs.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = |prefix: &str| loop {
        let line = lines.next().expect("serve prints its addresses").unwrap();
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    let base = addr("Circle is running at ");
    let metrics = addr("metrics: ");
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base,
        metrics,
        logs,
    }
}

/// One sample of the text format: name, labels, value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = vec![];
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").unwrap();
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        out.push((name, labels, value));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_and_metrics_say_how_the_server_is_without_ids_names_or_emails() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo.db").await;
    let mut server = serve(&url, dir.path());
    let http = reqwest::Client::new();

    // A failed sign-in, then the director's, then a chart read.
    let bad = http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": DIRECTOR, "password": "not-the-password-at-all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let token = &common::sign_in(
        &http,
        &server.base,
        DIRECTOR,
        common::DEMO_PASSWORD,
        Some(DIRECTOR_TOTP),
    )
    .await;
    let clients: Value = http
        .get(format!("{}/api/v1/clients?limit=200", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clients = clients["items"].as_array().unwrap().clone();
    assert!(!clients.is_empty());
    let id = clients[0]["id"].as_i64().unwrap();
    let chart = http
        .get(format!("{}/api/v1/clients/{id}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(chart.status(), StatusCode::OK);
    let page = http
        .get(format!("{}/clients/{id}", server.base))
        .header("cookie", format!("circle_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page_request_id = page.headers()["x-request-id"].to_str().unwrap().to_owned();

    // /metrics is not on the public address; it is on its own.
    let public = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    // The horizon job runs at start-up, on this server (the only one); wait for it.
    let started = Instant::now();
    let scraped = loop {
        let scraped = http.get(&server.metrics).send().await.unwrap();
        assert_eq!(scraped.status(), StatusCode::OK);
        let headers = scraped.headers().clone();
        let text = scraped.text().await.unwrap();
        if text
            .contains("circle_background_job_runs_total{job=\"horizon\",outcome=\"succeeded\"} 1")
        {
            break (headers, text);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the horizon job never finished: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (headers, text) = scraped;
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let all = samples(&text);
    let value = |name: &str, want: &[(&str, &str)]| -> f64 {
        all.iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    };
    assert_eq!(
        value(
            "circle_http_requests_total",
            &[
                ("route", "/api/v1/clients/{id}"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            "circle_http_requests_total",
            &[("route", "/api/v1/auth/login"), ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        value(
            "circle_http_request_duration_seconds_count",
            &[("route", "/clients/{id}"), ("status", "200")]
        ),
        1.0
    );
    assert!(
        value(
            "circle_http_request_duration_seconds_bucket",
            &[("route", "/clients/{id}"), ("le", "+Inf")]
        ) == 1.0
    );
    assert_eq!(
        value("circle_http_requests_total", &[("route", "unmatched")]),
        1.0,
        "the public /metrics 404 is counted as unmatched, not by its path"
    );
    assert!(value("circle_sign_in_failures_total", &[]) >= 1.0);
    assert!(
        value("circle_audit_appends_total", &[]) >= 2.0,
        "the chart reads were audited"
    );
    assert!(value("circle_db_pool_max_connections", &[]) >= 1.0);
    assert!(value("circle_db_write_begins_total", &[]) >= 2.0);
    assert!(value("circle_db_write_wait_seconds_total", &[]) > 0.0);
    assert!(
        all.iter()
            .any(|(n, l, _)| n == "circle_db_pool_connections" && l["state"] == "idle")
    );
    assert_eq!(
        value(
            "circle_background_job_runs_total",
            &[("job", "horizon"), ("outcome", "succeeded")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value("circle_background_jobs_running", &[("job", "horizon")]),
        0.0
    );
    // No label carries an id, a name or an email.
    let names: Vec<String> = clients
        .iter()
        .flat_map(|c| {
            ["given_name", "family_name"]
                .into_iter()
                .filter_map(|f| c[f].as_str().map(str::to_owned))
        })
        .filter(|n| n.len() > 2)
        .collect();
    assert!(!names.is_empty());
    for (name, labels, _) in &all {
        for (k, v) in labels {
            let id_segment = v
                .split('/')
                .any(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()));
            assert!(!(k == "route" && id_segment), "{name} {k}={v}");
            assert!(!v.contains('@'), "{name} {k}={v}");
            assert!(
                !names.iter().any(|n| v.contains(n.as_str())),
                "{name} {k}={v}"
            );
        }
    }

    // Stop (SIGTERM: the logs are flushed) and read every log line as JSON.
    let ok = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let started = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let logs = server.logs.lock().unwrap().clone();
    let lines: Vec<Value> = logs
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("a log line is not JSON: {l}")))
        .collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    for r in &requests {
        for field in [
            "timestamp",
            "request_id",
            "route",
            "method",
            "status",
            "duration_ms",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
    }
    let chart_line = requests
        .iter()
        .find(|r| r["request_id"] == page_request_id.as_str())
        .expect("the chart page's request is logged with its id");
    assert_eq!(chart_line["route"], "/clients/{id}");
    assert_eq!(chart_line["status"], 200);
    assert!(
        requests
            .iter()
            .any(|r| r["route"] == "/api/v1/auth/login" && r["status"] == 401)
    );
    // Events inside a request carry its span (request id and route).
    assert!(
        lines.iter().any(|l| l["message"] == "sign-in attempt"
            && l["spans"].as_array().is_some_and(|spans| spans
                .iter()
                .any(|s| s["name"] == "request"
                    && s["route"] == "/api/v1/auth/login"
                    && !s["request_id"].is_null()))),
        "the sign-in attempt is logged inside its request's span: {:?}",
        lines
            .iter()
            .filter(|l| l["message"] == "sign-in attempt")
            .collect::<Vec<_>>()
    );
    let everything = logs.join("\n");
    let emails = [
        DIRECTOR,
        "admin@demo.circle.test",
        "clinician@demo.circle.test",
        "intake@demo.circle.test",
        "client@demo.circle.test",
    ];
    for needle in emails.iter().map(|e| e.to_string()).chain(names.clone()) {
        assert!(!everything.contains(&needle), "the logs name {needle:?}");
    }
    assert!(
        !everything.contains(&format!("/clients/{id}\"")),
        "a raw path with an id was logged"
    );
}
