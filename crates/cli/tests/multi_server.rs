//! Several `circle serve` processes over one PostgreSQL database (issue 16): three real
//! servers on their own ports share sign-ins (a token or cookie from one works on the
//! others and ends on all at sign-out), sign-in throttling, the last-seat race, and
//! background work, which runs once per period on one server at a time through a lease in
//! the database and is taken over when a server dies mid-job.
//!
//! PostgreSQL only: several processes over one SQLite file is not a deployment Circle
//! offers. The tests are `#[ignore]`d so the SQLite leg of `cargo test --workspace` does
//! not run them; `.ci/run` runs them explicitly on its PostgreSQL leg:
//! `TEST_DATABASE_URL=postgres://… cargo test -p circle --test multi_server -- --ignored`.
//! Run without a PostgreSQL URL, they fail.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_circle");
const DEMO_PASSWORD: &str = "circle-demo-2026";
const DIRECTOR: &str = "director@demo.circle.test";
const DIRECTOR_TOTP: &str = "CIRCLEDEMODIRECTORTOTPSECRETAAAA";

/// The PostgreSQL server the tests run on; anything else fails the test.
fn postgres_base() -> String {
    let url = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
    assert!(
        url.starts_with("postgres://") || url.starts_with("postgresql://"),
        "the multi-server tests run on PostgreSQL only: set TEST_DATABASE_URL=postgres://… \
         (.ci/run does on its PostgreSQL leg)"
    );
    url
}

struct Server {
    child: Child,
    base: String,
    name: String,
    /// Every line the server logged (JSON, one object a line).
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The JSON log lines whose `message` is `message`.
    fn events(&self, message: &str) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .filter(|v| v["message"] == message)
            .collect()
    }
}

/// Starts `circle serve` over the demo clinic in `url` (seeding it when empty) with the keys
/// in `dir`, JSON logs, and `env` set.
fn serve(url: &str, dir: &std::path::Path, name: &str, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--db", url, "--listen", "127.0.0.1:0"])
        .args(["--key-file", &dir.join("demo.key").display().to_string()])
        .args([
            "--audit-key-file",
            &dir.join("demo-audit.key").display().to_string(),
        ])
        .args(["--server-id", name, "--log-format", "json"])
        .env_remove("CIRCLE_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(vec![]));
    let stderr = child.stderr.take().unwrap();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .next()
        .expect("serve prints its address")
        .unwrap_or_default();
    let base = first
        .split("http://")
        .nth(1)
        .map(|rest| format!("http://{}", rest.trim_end_matches('/')))
        .unwrap_or_else(|| panic!("{name}: unexpected first line {first:?}: {:?}", logs.lock()));
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base,
        name: name.to_owned(),
        logs,
    }
}

/// Three servers over one fresh database; the first seeds the demo clinic.
async fn cluster(env: &[(&str, &str)]) -> (Vec<Server>, circle_testkit::TestDb, tempfile::TempDir) {
    postgres_base();
    let db = circle_testkit::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let first = serve(&db.url, dir.path(), "s1", env);
    let mut servers = vec![first];
    for name in ["s2", "s3"] {
        servers.push(serve(&db.url, dir.path(), name, env));
    }
    (servers, db, dir)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only: .ci/run runs it on its PostgreSQL leg with --ignored"]
async fn three_servers_share_sign_ins_sign_outs_throttling_and_the_last_seat() {
    let (servers, _db, _dir) = cluster(&[]).await;
    let c = http();
    let base = |i: usize| servers[i % servers.len()].base.clone();

    // A token from one server works on the others, as the page cookie.
    let (s, login) = send(c.post(format!("{}/api/v1/auth/login", base(0))).json(&json!({
        "email": DIRECTOR, "password": DEMO_PASSWORD,
        "totp_code": circle_app::auth::totp_code(DIRECTOR_TOTP, jiff::Timestamp::now()).unwrap(),
    })))
    .await;
    assert_eq!(s, StatusCode::OK, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let (s, me) = send(c.get(format!("{}/api/v1/me", base(i))).bearer_auth(&token)).await;
        assert_eq!((s, me["email"].as_str()), (StatusCode::OK, Some(DIRECTOR)));
        let page = c
            .get(format!("{}/today", base(i)))
            .header("cookie", format!("circle_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "server {i} serves the page");
    }

    // The last-seat race, two servers at a time: exactly one of two enrolments wins.
    let director = token.clone();
    let post = |i: usize, path: &str, body: Value| {
        c.post(format!("{}{path}", base(i)))
            .bearer_auth(&director)
            .json(&body)
    };
    let created = |(s, v): (StatusCode, Value)| -> i64 {
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_i64().unwrap()
    };
    let program = created(
        send(post(
            0,
            "/api/v1/programs",
            json!({"name": "Race IOP", "site": "Race",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        ))
        .await,
    );
    let lead = created(
        send(post(
            1,
            "/api/v1/clinicians",
            json!({"given_name": "Race", "family_name": "Lead",
            "email": "race.lead@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-900", "state": "MA",
                "issued_on": "2020-01-01", "expires_on": "2035-01-01"}]}),
        ))
        .await,
    );
    let room = created(
        send(post(
            2,
            "/api/v1/rooms",
            json!({"site": "Race", "name": "Race room", "capacity": 12}),
        ))
        .await,
    );
    let start = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(14))
        .unwrap()
        .to_string();
    let mut next_client = 0;
    let mut admit = async |i: usize| -> i64 {
        next_client += 1;
        let n = next_client;
        let id = created(
            send(post(
                i,
                "/api/v1/clients",
                json!({"record_number": format!("R-{n:04}"),
                "given_name": format!("Racer{n}"), "family_name": "Multiserver",
                "date_of_birth": "1984-01-01", "referral_source": "program_admission"}),
            ))
            .await,
        );
        created(
            send(post(
                i + 1,
                &format!("/api/v1/clients/{id}/episodes"),
                json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
            ))
            .await,
        );
        created(
            send(post(
                i + 2,
                &format!("/api/v1/clients/{id}/consents/group-agreement"),
                json!({"signed_on": "2026-04-01"}),
            ))
            .await,
        );
        id
    };
    for (round, weekday) in [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ]
    .iter()
    .enumerate()
    {
        let group = created(
            send(post(
                round,
                "/api/v1/groups",
                json!({"program_id": program,
                "name": format!("Race {round}"), "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "room_id": room, "min_size": 1, "max_size": 2,
                "meetings": [{"weekday": weekday, "start": "07:00", "minutes": 90}],
                "lead_facilitator_id": lead}),
            ))
            .await,
        );
        let first = admit(round).await;
        let enrol = |i: usize, client: i64| {
            send(post(
                i,
                &format!("/api/v1/groups/{group}/memberships"),
                json!({"client_id": client, "start_date": start}),
            ))
        };
        let (s, v) = enrol(round, first).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (a, b) = (admit(round + 1).await, admit(round + 2).await);
        let ((sa, va), (sb, vb)) = tokio::join!(enrol(round, a), enrol(round + 1, b));
        let mut statuses = [sa, sb];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "round {round}: {va} / {vb}"
        );
        let loser = if sa == StatusCode::CONFLICT { va } else { vb };
        assert_eq!(loser["code"], "group_full", "round {round}");
        let (_, members) = send(
            c.get(format!(
                "{}/api/v1/groups/{group}/memberships",
                base(round + 2)
            ))
            .bearer_auth(&token),
        )
        .await;
        assert_eq!(
            members["items"].as_array().unwrap().len(),
            2,
            "round {round}"
        );
    }

    // Signing out on one server ends the token and the cookie on all.
    let (s, _) = send(
        c.post(format!("{}/api/v1/auth/logout", base(1)))
            .bearer_auth(&token),
    )
    .await;
    assert!(s.is_success(), "logout: {s}");
    for i in 0..3 {
        let (s, _) = send(c.get(format!("{}/api/v1/me", base(i))).bearer_auth(&token)).await;
        assert_eq!(
            s,
            StatusCode::UNAUTHORIZED,
            "server {i} still takes the token"
        );
        let page = c
            .get(format!("{}/today", base(i)))
            .header("cookie", format!("circle_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "server {i}");
        assert!(
            page.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/sign-in"),
            "server {i} sends the ended cookie to sign in"
        );
    }

    // Throttling counts failures from every server: spread round the three, the refusals
    // turn to 429 after the few free failures of one account and source (3), not after
    // three times as many as each server alone would allow.
    let mut refused = 0;
    let mut throttled_on = None;
    for attempt in 0..12 {
        let (s, v) = send(
            c.post(format!("{}/api/v1/auth/login", base(attempt)))
                .json(&json!({"email": "intake@demo.circle.test", "password": "wrong-password-1"})),
        )
        .await;
        match s {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                throttled_on = Some(attempt);
                break;
            }
            other => panic!("attempt {attempt}: {other} {v}"),
        }
    }
    let throttled_on = throttled_on.expect("sign-in was never throttled");
    assert!(
        (3..6).contains(&refused),
        "{refused} refusals before the first throttle (3 free failures, shared)"
    );
    // And the other servers throttle the account too, even with the right password.
    for i in 1..3 {
        let (s, v) = send(
            c.post(format!("{}/api/v1/auth/login", base(throttled_on + i)))
                .json(&json!({"email": "intake@demo.circle.test", "password": DEMO_PASSWORD})),
        )
        .await;
        assert_eq!(
            s,
            StatusCode::TOO_MANY_REQUESTS,
            "server {}: {v}",
            throttled_on + i
        );
    }
}

/// A run of the horizon job as a server logged it.
#[derive(Debug, Clone)]
struct Run {
    server: String,
    run: i64,
    started: jiff::Timestamp,
    finished: Option<jiff::Timestamp>,
}

fn runs(servers: &[&Server]) -> Vec<Run> {
    let mut out = vec![];
    for s in servers {
        let finished: BTreeMap<i64, jiff::Timestamp> = s
            .events("background job finished")
            .iter()
            .filter(|e| e["job"] == "horizon")
            .map(|e| {
                (
                    e["run"].as_i64().unwrap(),
                    e["timestamp"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        for e in s.events("background job started") {
            if e["job"] != "horizon" {
                continue;
            }
            let run = e["run"].as_i64().unwrap();
            out.push(Run {
                server: s.name.clone(),
                run,
                started: e["timestamp"].as_str().unwrap().parse().unwrap(),
                finished: finished.get(&run).copied(),
            });
        }
    }
    out.sort_by_key(|r| r.run);
    out
}

/// Every run number once, on one server, and no run starting before the one before it
/// finished.
fn assert_once_each(runs: &[Run]) {
    let numbers: BTreeSet<i64> = runs.iter().map(|r| r.run).collect();
    assert_eq!(numbers.len(), runs.len(), "a run number twice: {runs:?}");
    for pair in runs.windows(2) {
        if let Some(done) = pair[0].finished {
            assert!(
                pair[1].started >= done,
                "run {} ({}) started before run {} ({}) finished: {runs:?}",
                pair[1].run,
                pair[1].server,
                pair[0].run,
                pair[0].server
            );
        }
    }
}

async fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "PostgreSQL only: .ci/run runs it on its PostgreSQL leg with --ignored"]
async fn background_work_runs_once_per_period_on_one_server_and_survives_a_server_dying() {
    // The horizon job every 2 s with 2 s leases, so a test sees several periods.
    let (mut servers, db, _dir) = cluster(&[
        ("CIRCLE_HORIZON_EVERY_SECS", "2"),
        ("CIRCLE_JOB_LEASE_SECS", "2"),
    ])
    .await;
    let all = |s: &[Server]| runs(&s.iter().collect::<Vec<_>>());
    wait_for("four runs", Duration::from_secs(60), || {
        all(&servers)
            .iter()
            .filter(|r| r.finished.is_some())
            .count()
            >= 4
    })
    .await;
    assert_once_each(&all(&servers));

    // A server dies mid-job: a holder claims the lease and never finishes (the test plays
    // it, so the death falls inside the job for certain). No server runs the job while the
    // lease is fresh; once it expires, one takes over with the next run number.
    let store = &db.store;
    let dead = loop {
        let now = jiff::Timestamp::now();
        if let Some(lease) = store
            .claim_lease_if_due(
                "horizon",
                "dead-server:1",
                now,
                jiff::SignedDuration::from_secs(4),
                jiff::SignedDuration::from_secs(2),
            )
            .await
            .unwrap()
        {
            break (lease, now);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (lease, claimed_at) = dead;
    wait_for(
        "a server takes the job over",
        Duration::from_secs(30),
        || all(&servers).iter().any(|r| r.run > lease.generation),
    )
    .await;
    let after = all(&servers);
    let taken = after.iter().find(|r| r.run > lease.generation).unwrap();
    assert_eq!(taken.run, lease.generation + 1, "{after:?}");
    assert!(
        taken.started
            >= claimed_at
                .checked_add(jiff::SignedDuration::from_secs(3))
                .unwrap(),
        "run {} started at {} while the dead holder's lease (claimed {claimed_at}) was fresh",
        taken.run,
        taken.started
    );
    assert!(
        after.iter().all(|r| r.run != lease.generation),
        "a server ran the dead holder's run"
    );

    // A real server killed (SIGKILL, no drain): the other two go on, each run once.
    drop(servers.remove(0));
    let survivors_before = all(&servers).len();
    wait_for(
        "two more runs on the survivors",
        Duration::from_secs(60),
        || {
            all(&servers)
                .iter()
                .filter(|r| r.finished.is_some())
                .count()
                >= survivors_before + 2
        },
    )
    .await;
    let survivors = all(&servers);
    assert_once_each(&survivors);
    let state = store.lease_state("horizon").await.unwrap().unwrap();
    assert!(
        state.generation >= survivors.last().unwrap().run,
        "the lease numbers every run: {state:?}"
    );
    // No server logged a failed run.
    for s in &servers {
        assert!(
            s.events("background job failed").is_empty(),
            "{}: {:?}",
            s.name,
            s.events("background job failed")
        );
    }
}
