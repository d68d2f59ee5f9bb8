//! What the `circle` binary's integration tests share: a fresh database per test and a
//! real `circle serve` process on a free port.

#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses only part of it"
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_circle");

/// A database URL for this test: a fresh SQLite file `name` in `dir`, or, with
/// `TEST_DATABASE_URL` set, a fresh PostgreSQL database (created, migrated and later
/// dropped by the returned `TestDb`).
pub async fn fresh_db(
    dir: &tempfile::TempDir,
    name: &str,
) -> (String, Option<circle_testkit::TestDb>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let db = circle_testkit::TestDb::new().await;
            (db.url.clone(), Some(db))
        }
        _ => (
            format!("sqlite://{}", dir.path().join(name).display()),
            None,
        ),
    }
}

/// A running `circle serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `circle serve` with `args` on port 0 and waits for the address it prints.
pub fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("serve prints its address").unwrap();
    let base = first
        .split("http://")
        .nth(1)
        .map(|rest| format!("http://{}", rest.trim_end_matches('/')))
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

/// The password every demo account has (`serve --demo` prints it).
pub const DEMO_PASSWORD: &str = "circle-demo-2026";

/// Signs `email` in over the JSON API and returns the session token; with a TOTP `secret`,
/// sends the current code (the servers these tests start run on the real clock).
pub async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
    secret: Option<&str>,
) -> String {
    let mut body = serde_json::json!({"email": email, "password": password});
    if let Some(s) = secret {
        body["totp_code"] = serde_json::json!(
            circle_app::auth::totp_code(s, jiff::Timestamp::now()).expect("a valid TOTP secret")
        );
    }
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .expect("the sign-in request")
        .json()
        .await
        .expect("a JSON answer to sign-in");
    login["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{email} signs in: {login}"))
        .to_owned()
}

/// The demo accounts (README, "demo accounts"): email and TOTP secret (the client needs
/// none).
pub const DEMO_ROLES: [(&str, Option<&str>); 6] = [
    (
        "director@demo.circle.test",
        Some("CIRCLEDEMODIRECTORTOTPSECRETAAAA"),
    ),
    (
        "iop.director@demo.circle.test",
        Some("CIRCLEDEMOIOPDIRECTORTOTPSECRETA"),
    ),
    (
        "clinician@demo.circle.test",
        Some("CIRCLEDEMOCLINICIANTOTPSECRETAAA"),
    ),
    (
        "intake@demo.circle.test",
        Some("CIRCLEDEMOINTAKETOTPSECRETAAAAAA"),
    ),
    (
        "admin@demo.circle.test",
        Some("CIRCLEDEMOADMINTOTPSECRETAAAAAAA"),
    ),
    ("client@demo.circle.test", None),
];

/// The path's shape: numeric segments become `{id}`, the query keeps its keys only.
pub fn shape(path: &str) -> String {
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut s: String = p
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    if !q.is_empty() {
        let keys: std::collections::BTreeSet<&str> = q
            .split('&')
            .map(|kv| kv.split_once('=').map_or(kv, |(k, _)| k))
            .collect();
        s.push('?');
        s.push_str(&keys.into_iter().collect::<Vec<_>>().join("&"));
    }
    s
}

/// Undoes the HTML escaping of an attribute or text (`&amp;` last, so `&amp;lt;` stays `&lt;`).
pub fn unescape(v: &str) -> String {
    v.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}
