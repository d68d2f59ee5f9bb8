//! `circle serve` stops the way service managers ask it to (issue 16, item 2): at SIGTERM
//! (systemd, Docker, Kubernetes) as at Ctrl-C it stops accepting, finishes the requests in
//! flight, and exits 0; every write it acknowledged is there after a restart.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{BIN, fresh_db, serve};
const DEMO_DIRECTOR_TOTP_SECRET: &str = "CIRCLEDEMODIRECTORTOTPSECRETAAAA";

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < within, "the server did not exit in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A POST whose body is sent in two parts, so the request is in flight in between.
struct SlowPost {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowPost {
    fn start(base: &str, token: &str, path: &str, body: &Value) -> Self {
        let addr = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        let body = serde_json::to_vec(body).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..5]).unwrap();
        stream.flush().unwrap();
        Self {
            stream,
            rest: body[5..].to_vec(),
        }
    }

    fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).unwrap();
        let mut response = String::new();
        self.stream.read_to_string(&mut response).unwrap();
        response
    }
}

async fn director_token(base: &str) -> String {
    common::sign_in(
        &reqwest::Client::new(),
        base,
        "director@demo.circle.test",
        common::DEMO_PASSWORD,
        Some(DEMO_DIRECTOR_TOTP_SECRET),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_requests_in_flight_then_exits_zero_keeping_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo.db").await;
    let key = dir.path().join("demo.key").display().to_string();
    let audit_key = dir.path().join("demo-audit.key").display().to_string();
    let args = [
        "--demo",
        "--db",
        &url,
        "--key-file",
        &key,
        "--audit-key-file",
        &audit_key,
    ];
    let mut server = serve(&args);
    let http = reqwest::Client::new();
    let token = director_token(&server.base).await;

    // Requests the server has begun reading when SIGTERM arrives.
    let slow: Vec<_> = (0..4)
        .map(|i| {
            SlowPost::start(
                &server.base,
                &token,
                "/api/v1/rooms",
                &json!({"site": "Drain", "name": format!("Slow {i}"), "capacity": 6}),
            )
        })
        .collect();
    // And many ordinary writes racing the signal.
    let racing: Vec<_> = (0..30)
        .map(|i| {
            let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
            tokio::spawn(async move {
                let name = format!("Racing {i}");
                let r = http
                    .post(format!("{base}/api/v1/rooms"))
                    .bearer_auth(&token)
                    .json(&json!({"site": "Drain", "name": name, "capacity": 6}))
                    .send()
                    .await;
                (name, r.map(|r| r.status()))
            })
        })
        .collect();
    // A request's headers must reach the server before the signal does; there is nothing
    // to observe from outside, so give the accept loop a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server.child);
    // The server waits for the bodies still on their way.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited with requests in flight"
    );
    let mut acknowledged = vec![];
    for (i, post) in slow.into_iter().enumerate() {
        let response = tokio::task::spawn_blocking(move || post.finish())
            .await
            .unwrap();
        assert!(
            response.starts_with("HTTP/1.1 201"),
            "in-flight request {i}: {response}"
        );
        acknowledged.push(format!("Slow {i}"));
    }
    for task in racing {
        let (name, status) = task.await.unwrap();
        // An error means never accepted (the listener had closed): not acknowledged.
        if let Ok(s) = status {
            assert!(s.is_success(), "{name}: {s}");
            acknowledged.push(name);
        }
    }
    let status = wait_exit(&mut server.child, Duration::from_secs(30));
    assert!(status.success(), "exit status {status}");

    // Restarted, the server has every acknowledged write (the token still works).
    let server = serve(&args);
    let mut names = vec![];
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!(
                "{}/api/v1/rooms?limit=200&after={after}",
                server.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in page["items"].as_array().unwrap() {
            names.push(r["name"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    let lost: Vec<_> = acknowledged.iter().filter(|n| !names.contains(n)).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_never_finishes_holds_shutdown_no_longer_than_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = fresh_db(&dir, "demo.db").await;
    let key = dir.path().join("demo.key").display().to_string();
    let audit_key = dir.path().join("demo-audit.key").display().to_string();
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--db", &url, "--key-file", &key])
        .args(["--audit-key-file", &audit_key, "--listen", "127.0.0.1:0"])
        .env("CIRCLE_SHUTDOWN_GRACE_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = format!(
        "http://{}",
        first.split("http://").nth(1).unwrap().trim_end_matches('/')
    );
    std::thread::spawn(move || for _ in lines {});
    // Headers and part of a body; the rest never comes.
    let token = director_token(&base).await;
    let stuck = SlowPost::start(&base, &token, "/api/v1/rooms", &json!({"name": "x"}));
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&child);
    let started = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the server did not wait for the request in flight"
    );
    drop(stuck);
}
