//! The pages in a real browser: Debian's headless Chromium driven through WebDriver
//! (chromedriver) against the real server, as a person would use them. Every page visited
//! is checked with axe-core (zero serious or critical violations) and saved as a
//! screenshot under `target/screenshots/`.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian's `chromium` and
//! `chromium-driver`) and `crates/testkit/browser/node_modules/axe-core` (`npm ci` there);
//! `.ci/run` installs all three. Missing pieces fail the test with the command that fixes
//! it: a browser test that skips itself would be a hole, not a pass.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use circle_domain::ids::ClinicianId;
use circle_domain::text::Email;
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process and a headless Chromium session, closed on drop.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    async fn start() -> Self {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: install Debian's `{package}` (apt-get install chromium chromium-driver), as .ci/run does"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1024,768"]}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            // chromedriver listens on loopback HTTP: no TLS stack needed.
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    // Finds wait up to five seconds for their element: on a loaded machine a
                    // click's page can arrive after the click returns.
                    client
                        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                            None,
                            None,
                            Some(Duration::from_secs(5)),
                        ))
                        .await
                        .expect("set the implicit wait");
                    return Self { client, driver };
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}");
    }

    /// Checks the current page with axe-core and saves a screenshot named `name`.
    async fn check_page(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");

        let axe = std::fs::read_to_string(axe_path()).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run `npm ci` in crates/testkit/browser (as .ci/run does)",
                axe_path().display()
            )
        });
        // WebDriver scripts run outside the page's CSP, so the page keeps allowing none.
        self.client
            .execute(&axe, vec![])
            .await
            .expect("load axe-core");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))))
                    .catch(e => done([{id: 'axe-error', impact: 'critical', nodes: String(e)}]));",
                vec![],
            )
            .await
            .expect("run axe-core");
        let serious: Vec<&Value> = result
            .as_array()
            .expect("a list of violations")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            serious.is_empty(),
            "{name}: accessibility violations: {serious:?}"
        );
    }

    /// `css`'s text, or `None` while it is missing or its page is being replaced (a stale
    /// element after a form's redirect).
    async fn try_text(&self, css: &str) -> Option<String> {
        self.client
            .find(Locator::Css(css))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    async fn text(&self, css: &str) -> String {
        for _ in 0..20 {
            if let Some(text) = self.try_text(css).await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css}: not found on {}", self.path().await)
    }

    /// Whether `css`'s text comes to contain `needle` within five seconds (the page after a
    /// form that redirects back to the same path may still be arriving).
    async fn shows(&self, css: &str, needle: &str) -> bool {
        for _ in 0..50 {
            if self.try_text(css).await.is_some_and(|t| t.contains(needle)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    async fn fill(&self, css: &str, value: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the current URL")
            .path()
            .to_owned()
    }

    /// The path once it is `want` (a click's navigation can finish after the click returns
    /// on a loaded machine), or whatever it is after five seconds.
    async fn wait_path(&self, want: &str) -> String {
        for _ in 0..50 {
            let path = self.path().await;
            if path == want {
                return path;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.path().await
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

fn screenshots_dir() -> PathBuf {
    workspace_root().join("target/screenshots")
}

fn axe_path() -> PathBuf {
    workspace_root().join("crates/testkit/browser/node_modules/axe-core/axe.min.js")
}

/// Signs in through the pages with the account's next TOTP code (the account was enrolled
/// by `TestApp::token_for`).
async fn sign_in(b: &Browser, t: &TestApp, email: &str) {
    let m = t.enrolled(email).expect("an enrolled account");
    let now = circle_app::auth::totp_step(t.app.now());
    let step = now.max(m.last_step + 1);
    let code = circle_app::auth::totp_code_for_step(&m.secret, step).expect("a code");
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.fill("#code", &code).await;
    b.click("button[type=submit]").await;
}

#[tokio::test]
async fn a_clinician_enrols_mfa_at_first_sign_in_and_signs_out() {
    let t = spawn_app().await;
    let email = "first.time@example.test";
    t.app
        .create_user(
            &Email::parse(email).unwrap(),
            TEST_PASSWORD,
            Role::Director,
            None,
            None,
        )
        .await
        .unwrap();
    let b = Browser::start().await;
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.check_page("sign-in").await;

    // A wrong password is refused without saying which part was wrong.
    b.fill("#email", email).await;
    b.fill("#password", "not-the-password-at-all").await;
    b.click("button[type=submit]").await;
    assert!(
        b.text("[role=alert]").await.contains("was not accepted"),
        "a refusal is explained"
    );

    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.click("button[type=submit]").await;
    let secret = b.text("#totp-secret").await;
    b.check_page("mfa-enrolment").await;
    let code = circle_app::auth::totp_code(&secret, t.app.now()).unwrap();
    b.fill("#code", &code).await;
    b.click("button[type=submit]").await;
    let codes = b.text("#recovery-codes").await;
    assert_eq!(
        codes.lines().count(),
        10,
        "ten recovery codes are shown once"
    );
    b.check_page("recovery-codes").await;
    b.click("a.button").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.check_page("today").await;

    // Signing out ends the session on the server: the old cookie no longer works.
    let cookie = b
        .client
        .get_named_cookie("circle_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    b.click("header form button").await;
    assert_eq!(b.wait_path("/sign-in").await, "/sign-in");
    let r = t
        .http
        .get(t.url("/today"))
        .header("cookie", format!("circle_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/sign-in");
    b.close().await;
}

#[tokio::test]
async fn a_facilitator_takes_attendance_for_a_full_group_of_twelve() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (_, program) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "Adult IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    let (_, lead) = t
        .post(&dir, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": "Browser",
            "email": "lead@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-300", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    let (_, room) = t
        .post(
            &dir,
            "/api/v1/rooms",
            json!({"site": "Riverside", "name": "Room 3", "capacity": 12}),
        )
        .await;
    let (s, group) = t
        .post(
            &dir,
            "/api/v1/groups",
            json!({"program_id": program["id"], "name": "Monday process", "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"}, "room_id": room["id"],
            "meetings": [{"weekday": "monday", "start": "10:00", "minutes": 90}],
            "lead_facilitator_id": lead["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let group = group["id"].as_i64().unwrap();
    let mut members = vec![];
    for n in 1..=12 {
        let (_, c) = t
            .post(
                &dir,
                "/api/v1/clients",
                json!({"record_number": format!("B-{n:04}"),
                "given_name": format!("Member{n}"), "family_name": "Browsercase",
                "date_of_birth": "1984-01-01", "referral_source": "program_admission"}),
            )
            .await;
        let id = c["id"].as_i64().unwrap();
        t.post(
            &dir,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        )
        .await;
        let (s, m) = t
            .post(
                &dir,
                &format!("/api/v1/groups/{group}/memberships"),
                json!({"client_id": id, "start_date": "2026-05-04"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        let (s, a) = t
            .post(
                &dir,
                &format!("/api/v1/clients/{id}/consents/group-agreement"),
                json!({"signed_on": "2026-05-01"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        members.push(id);
    }
    t.token_for(
        "lead@example.test",
        Role::Clinician,
        Some(ClinicianId(lead["id"].as_i64().unwrap())),
        None,
    )
    .await;
    // Monday 11:45 in New York: the 10:00 session has ended.
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(b.text("main").await.contains("Monday process"));
    b.click("main table a").await;
    b.check_page("session-attendance").await;
    let rows = b.client.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 12, "the whole roster");
    assert!(
        b.text("tbody").await.contains("Member1 B."),
        "preferred name and last initial"
    );

    // Everyone present but one absent and one late (60 of 90 minutes): a few taps.
    for &c in &members {
        b.click(&format!("input[name=status_{c}][value=present]"))
            .await;
    }
    b.click(&format!(
        "input[name=status_{}][value=absent_unexcused]",
        members[0]
    ))
    .await;
    b.click(&format!("input[name=status_{}][value=late]", members[1]))
        .await;
    b.fill(&format!("#minutes_{}", members[1]), "60").await;
    b.click("form button[type=submit]:not(.quiet)").await;
    assert!(
        b.text("[role=status]")
            .await
            .contains("saved for 12 members"),
        "{}",
        b.text("main").await
    );
    b.check_page("session-attendance-saved").await;

    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let session = b.path().await.trim_start_matches("/sessions/").to_owned();
    let (_, attendance) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/attendance"))
        .await;
    let rows = attendance.as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let of = |c: i64| rows.iter().find(|a| a["client_id"] == c).unwrap();
    assert_eq!(
        (&of(members[0])["status"], &of(members[0])["minutes"]),
        (&json!("absent_unexcused"), &json!(0))
    );
    assert_eq!(
        (&of(members[1])["status"], &of(members[1])["minutes"]),
        (&json!("late"), &json!(60))
    );
    assert_eq!(
        (&of(members[2])["status"], &of(members[2])["minutes"]),
        (&json!("present"), &json!(90))
    );
    b.close().await;
}

#[tokio::test]
async fn a_form_from_another_session_is_refused_and_changes_nothing() {
    let t = spawn_app().await;
    t.token_for("director@example.test", Role::Director, None, None)
        .await;
    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let cookie = b
        .client
        .get_named_cookie("circle_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    // A forged sign-out without the session's CSRF token.
    let r = t
        .http
        .post(t.url("/sign-out"))
        .header("cookie", format!("circle_session={cookie}"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The session still works.
    b.client.goto(&t.url("/today")).await.unwrap();
    assert_eq!(b.wait_path("/today").await, "/today");
    b.close().await;
}

#[tokio::test]
async fn an_item_9_answer_puts_an_alert_at_the_top_of_the_clinicians_today_until_acknowledged() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (_, program) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "Adult IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    let mut leads = vec![];
    let mut groups = vec![];
    for (n, day) in ["tuesday", "wednesday"].iter().enumerate() {
        let (_, lead) = t
            .post(&dir, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": format!("Alert{n}"),
                "email": format!("lead{n}@example.test"),
                "licenses": [{"kind": "lmhc", "number": format!("L-40{n}"), "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
            .await;
        let (s, group) = t
            .post(
                &dir,
                "/api/v1/groups",
                json!({"program_id": program["id"], "name": format!("Group {n}"), "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": day, "start": "18:00", "minutes": 90}],
                "lead_facilitator_id": lead["id"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{group}");
        leads.push(lead["id"].as_i64().unwrap());
        groups.push(group["id"].as_i64().unwrap());
    }
    let (_, c) = t
        .post(&dir, "/api/v1/clients", json!({"record_number": "A-0001", "given_name": "Avery",
            "family_name": "Alertcase", "date_of_birth": "1990-01-01", "referral_source": "self_referral"}))
        .await;
    let client = c["id"].as_i64().unwrap();
    t.post(
        &dir,
        &format!("/api/v1/clients/{client}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    let (s, m) = t
        .post(
            &dir,
            &format!("/api/v1/groups/{}/memberships", groups[0]),
            json!({"client_id": client, "start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    for (n, lead) in leads.iter().enumerate() {
        t.token_for(
            &format!("lead{n}@example.test"),
            Role::Clinician,
            Some(ClinicianId(*lead)),
            None,
        )
        .await;
    }
    let client_token = t
        .token_for(
            "avery@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(client)),
        )
        .await;

    // The client's own check-in: PHQ-9 with item 9 answered 1.
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9 || i == 2))))
        .collect();
    let (s, r) = t
        .post(
            &client_token,
            &format!("/api/v1/clients/{client}/measures"),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    // Their clinician sees it first on Today, and acknowledges it with the action taken.
    let b = Browser::start().await;
    sign_in(&b, &t, "lead0@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let alerts = b.text("#open-alerts").await;
    assert!(
        alerts.contains("Avery A.") && alerts.contains("item 9"),
        "{alerts}"
    );
    let first_section = b.text("main section h2").await;
    assert_eq!(first_section, "Safety alerts", "alerts come first");
    b.check_page("today-with-alert").await;
    b.fill(
        "#open-alerts textarea",
        "Called the client; safety plan reviewed; seen today.",
    )
    .await;
    b.click("#open-alerts button[type=submit]").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(b.shows("main", "No open safety alerts.").await);
    b.close().await;

    // Another clinician never sees it, and cannot open the client's session.
    let b = Browser::start().await;
    sign_in(&b, &t, "lead1@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(b.shows("main", "No open safety alerts.").await);
    let (_, sessions) = t
        .get(
            &t.login("director@example.test", TEST_PASSWORD)
                .await
                .unwrap(),
            &format!(
                "/api/v1/groups/{}/sessions?from=2026-05-04&until=2026-05-11",
                groups[0]
            ),
        )
        .await;
    let foreign = sessions[0]["id"].as_i64().unwrap();
    b.client
        .goto(&t.url(&format!("/sessions/{foreign}")))
        .await
        .unwrap();
    let h1 = b.text("h1").await;
    assert!(h1 == "Not found" || h1 == "Not available", "{h1}");
    assert!(!b.text("main").await.contains("Avery"));
    b.check_page("refused-outside-caseload").await;
    b.close().await;
}

#[tokio::test]
async fn a_person_asks_to_join_a_group_without_an_account_and_intake_sees_the_referral() {
    let t = spawn_app().await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let b = Browser::start().await;
    b.client.goto(&t.url("/join")).await.unwrap();
    b.check_page("join").await;

    // Neither email nor phone: explained by field, nothing stored.
    b.fill("#name", "Sam Example").await;
    b.fill(
        "#looking_for",
        "A weekly group for low mood, evenings after work.",
    )
    .await;
    b.click("form button[type=submit]").await;
    let refused = b.text("[role=alert]").await;
    assert!(refused.contains("Email"), "{refused}");
    let (_, none) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    b.fill("#email", "sam@example.test").await;
    b.click("#t-tuesday-evening").await;
    b.click("#t-thursday-evening").await;
    b.click("form button[type=submit]").await;
    assert!(
        b.text("[role=status]")
            .await
            .contains("We have your request")
    );
    assert!(
        !b.text("main").await.contains("Sam"),
        "the answer echoes nothing"
    );
    b.check_page("join-thanks").await;
    b.close().await;

    let (_, referrals) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    let items = referrals["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{referrals}");
    assert_eq!(items[0]["path"], "self_referral");
    assert_eq!(
        items[0]["preferred_times"],
        json!([{"weekday": "tuesday", "part_of_day": "evening"}, {"weekday": "thursday", "part_of_day": "evening"}])
    );
}
