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
        // WebDriver scripts run outside the page's CSP, so the page keeps allowing none. A
        // page that refreshes itself (the planner's progress) can be replaced between loading
        // axe-core and running it, which leaves no `axe` to run: load it again and retry.
        let mut result = Value::Null;
        for _ in 0..5 {
            self.client
                .execute(&axe, vec![])
                .await
                .expect("load axe-core");
            result = self
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     if (typeof axe === 'undefined') { done('reloaded'); return; }
                     axe.run(document, {resultTypes: ['violations']})
                        .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))))
                        .catch(e => done([{id: 'axe-error', impact: 'critical', nodes: String(e)}]));",
                    vec![],
                )
                .await
                .expect("run axe-core");
            if result != "reloaded" {
                break;
            }
        }
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

    /// Sets a form control's value directly, as picking from a date picker would (date
    /// inputs take typed keys in the browser's locale order).
    async fn set(&self, css: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    /// An input's current value.
    async fn value(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .prop("value")
            .await
            .expect("a value")
            .unwrap_or_default()
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
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    // The authenticator's next unused code; when the test clock's steps are spent, a
    // recovery code, as a person without their phone would.
    match t.next_totp(email) {
        Some(code) => b.fill("#code", &code).await,
        None => {
            let code = t
                .take_recovery_code(email)
                .expect("an unused recovery code");
            b.click("details summary").await;
            b.fill("#recovery_code", &code).await;
        }
    }
    b.click("button[type=submit]").await;
}

// One module per area; each shares the harness above.
mod admin;
mod chart;
mod clinician;
mod intake;
mod journeys;
mod look;
mod messages;
mod notes;
mod planner;
mod portal;
mod reports;
mod staff;
mod timetable;
