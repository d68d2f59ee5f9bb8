//! A crawl of the pages per demo role (issue 14): signed in as each demo account on one
//! `serve --demo`, every link and form target reachable from the role's first page is
//! followed over plain HTTP from the role's home, and any 4xx/5xx or dead link fails the test — a link shown to
//! a role must work for that role. Forms that change something are posted with their
//! required fields left out (the server answers 422 and changes nothing) or not at all when
//! a bare button acts (listed below, each with its reason). Runs on SQLite or PostgreSQL
//! (`TEST_DATABASE_URL`), like the rest of the suite.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use reqwest::StatusCode;

mod common;
use common::{serve, shape, unescape};

/// At most this many pages of one shape (ids replaced) per role: the second chart proves
/// no more than the first, and the crawl stays fast.
const PER_SHAPE: usize = 3;

/// Form actions whose bare button acts (nothing to leave out), by shape: the crawl checks
/// the page that shows them, not the action.
const ACTING_BUTTONS: &[(&str, &str)] = &[
    ("/sign-out", "ends the crawl's own session"),
    (
        "/offers/{id}/accept",
        "makes the membership (browser test: accepting a waitlist offer)",
    ),
    ("/offers/{id}/decline", "passes the seat to the next person"),
    ("/waitlist/{id}/remove", "takes the person off the waitlist"),
    ("/admin/users/{id}/disable", "disables an account"),
    ("/me/feed", "makes a new calendar-feed secret"),
    (
        "/calendar/feed",
        "makes a new staff calendar-feed secret (tests/feeds.rs makes and revokes them)",
    ),
    (
        "/calendar/feed/revoke",
        "switches a staff calendar feed off",
    ),
    ("/notes/{id}/cosign", "co-signs a trainee's note"),
    (
        "/timetable/{id}/approve",
        "moves groups and their sessions (tests/timetabling.rs, browser test)",
    ),
    (
        "/timetable/{id}/solve",
        "solves the proposal again for seconds",
    ),
    (
        "/timetable/{id}/pin",
        "pins a group and solves again for seconds",
    ),
    (
        "/timetable/{id}/unpin",
        "unpins a group and solves again for seconds",
    ),
];

/// The value of attribute `name` in one tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// A form on a page: method, action, and its fields as the page fills them (hidden inputs
/// and the csrf token; visible fields are left out, so a change is refused with 422).
struct FormTarget {
    method: String,
    action: String,
    hidden: Vec<(String, String)>,
    visible_fields: usize,
}

/// Links (`<a href>`, `<link href>`) and forms of a page, same-site paths only.
fn targets(page_path: &str, html: &str) -> (Vec<String>, Vec<FormTarget>) {
    let mut links = vec![];
    let mut forms = vec![];
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        match name.as_str() {
            "a" | "link" => {
                if let Some(href) = attr(tag, "href")
                    && let Some(p) = local(page_path, &href)
                {
                    links.push(p);
                }
            }
            "form" => {
                let method = attr(tag, "method").unwrap_or_else(|| "get".to_owned());
                let action = attr(tag, "action").unwrap_or_else(|| page_path.to_owned());
                let body_end = rest.find("</form>").unwrap_or(rest.len());
                let body = &rest[..body_end];
                let mut hidden = vec![];
                let mut visible_fields = 0;
                let mut inner = body;
                while let Some(j) = inner.find('<') {
                    inner = &inner[j + 1..];
                    let Some(e) = inner.find('>') else { break };
                    let t = &inner[..e];
                    let is_input = t.starts_with("input");
                    let is_field = is_input || t.starts_with("select") || t.starts_with("textarea");
                    if is_field {
                        if is_input && attr(t, "type").as_deref() == Some("hidden") {
                            if let (Some(n), Some(v)) = (attr(t, "name"), attr(t, "value")) {
                                hidden.push((n, v));
                            }
                        } else if attr(t, "name").is_some() {
                            visible_fields += 1;
                        }
                    }
                }
                if let Some(a) = local(page_path, &action) {
                    forms.push(FormTarget {
                        method: method.to_lowercase(),
                        action: a,
                        hidden,
                        visible_fields,
                    });
                }
            }
            _ => {}
        }
    }
    (links, forms)
}

/// A same-site path for `href` on `page`, without its fragment; `None` for other sites,
/// `mailto:`/`tel:` and bare fragments.
fn local(page: &str, href: &str) -> Option<String> {
    let href = href.split('#').next().unwrap_or("");
    if href.is_empty() || href.contains(':') && !href.starts_with('/') {
        return None;
    }
    if href.starts_with("//") {
        return None;
    }
    if href.starts_with('/') {
        return Some(href.to_owned());
    }
    if let Some(q) = href.strip_prefix('?') {
        let p = page.split('?').next().unwrap_or(page);
        return Some(format!("{p}?{q}"));
    }
    let dir = page.rsplit_once('/').map_or("", |(d, _)| d);
    Some(format!("{dir}/{href}"))
}

/// What one role's crawl found wrong, and how many requests it made.
async fn crawl(http: &reqwest::Client, base: &str, token: &str) -> (Vec<String>, usize) {
    let cookie = format!("circle_session={token}");
    let csrf = circle_app::web_session::csrf_token(token);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
    let mut posted: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<(String, String)> = VecDeque::new();
    // Home sends each role to its first page (Today, the admin pages, the portal).
    queue.push_back(("/".to_owned(), "sign-in".to_owned()));
    let mut problems = vec![];
    let mut requests = 0;
    while let Some((path, from)) = queue.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let n = shapes.entry(shape(&path)).or_default();
        if *n >= PER_SHAPE {
            continue;
        }
        *n += 1;
        requests += 1;
        let r = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let status = r.status();
        if status.is_redirection() {
            if let Some(to) = r
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| local(&path, l))
            {
                queue.push_back((to, path.clone()));
            }
            continue;
        }
        if !status.is_success() {
            problems.push(format!("GET {path} (linked from {from}): {status}"));
            continue;
        }
        let is_html = r
            .headers()
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("text/html"));
        if !is_html {
            continue;
        }
        let html = r.text().await.unwrap();
        let (links, forms) = targets(&path, &html);
        for l in links {
            queue.push_back((l, path.clone()));
        }
        for f in forms {
            if f.method == "get" {
                queue.push_back((f.action, path.clone()));
                continue;
            }
            let key = shape(&f.action);
            if ACTING_BUTTONS.iter().any(|(a, _)| *a == key) || !posted.insert(key.clone()) {
                continue;
            }
            if f.visible_fields == 0 {
                problems.push(format!(
                    "POST {} (on {path}) is a bare button: list it in ACTING_BUTTONS with why",
                    f.action
                ));
                continue;
            }
            requests += 1;
            let mut fields: Vec<(String, String)> =
                f.hidden.into_iter().filter(|(k, _)| k != "csrf").collect();
            fields.push(("csrf".to_owned(), csrf.clone()));
            let r = http
                .post(format!("{base}{}", f.action))
                .header("cookie", &cookie)
                .form(&fields)
                .send()
                .await
                .unwrap();
            let status = r.status();
            // Left-out fields are refused with 422 (or the page answers again); anything
            // else from the 4xx range means the form is shown to a role it refuses, or
            // points nowhere.
            if status.is_server_error()
                || matches!(
                    status,
                    StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                )
            {
                problems.push(format!("POST {} (on {path}): {status}", f.action));
            }
        }
    }
    if std::env::var_os("CRAWL_SHOW").is_some() {
        eprintln!("{:#?}", shapes.keys().collect::<Vec<_>>());
    }
    (problems, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_link_and_form_each_demo_role_sees_works_for_that_role() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _db) = match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let db = circle_testkit::TestDb::new().await;
            (db.url.clone(), Some(db))
        }
        _ => (
            format!("sqlite://{}", dir.path().join("crawl.db").display()),
            None,
        ),
    };
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
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut report = vec![];
    let mut admin = None;
    for (email, secret) in common::DEMO_ROLES {
        let token =
            common::sign_in(&http, &server.base, email, common::DEMO_PASSWORD, secret).await;
        if email.starts_with("admin@") {
            admin = Some(token.clone());
        }
        let (problems, requests) = crawl(&http, &server.base, &token).await;
        eprintln!("{email}: {requests} requests");
        if requests < 5 {
            report.push(format!("{email}: the crawl reached only {requests} pages"));
        }
        report.extend(problems.into_iter().map(|p| format!("{email}: {p}")));
    }
    // Every account the demo makes is crawled: a role added to the demo and not to
    // DEMO_ROLES would go unchecked.
    let accounts: serde_json::Value = http
        .get(format!("{}/api/v1/users", server.base))
        .bearer_auth(admin.expect("the demo's administrator"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let crawled: BTreeSet<&str> = common::DEMO_ROLES.iter().map(|(e, _)| *e).collect();
    let emails: Vec<&str> = accounts
        .as_array()
        .expect("the account list")
        .iter()
        .filter_map(|a| a["email"].as_str())
        .collect();
    assert_eq!(emails.len(), crawled.len(), "{accounts}");
    for email in emails {
        if !crawled.contains(email) {
            report.push(format!(
                "{email}: a demo account the crawl does not sign in as"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn shapes_replace_ids_and_keep_query_keys() {
    assert_eq!(
        shape("/groups/4/sessions?from=1&to=2"),
        "/groups/{id}/sessions?from&to"
    );
    assert_eq!(
        local("/referrals/3", "?client=4#x").as_deref(),
        Some("/referrals/3?client=4")
    );
    assert_eq!(local("/a/b", "tel:555"), None);
    let (links, forms) = targets(
        "/x",
        r#"<a href="/y?a=1&amp;b=2">y</a><form method="post" action="/z"><input type="hidden" name="csrf" value="t"><input name="q"></form>"#,
    );
    assert_eq!(links, vec!["/y?a=1&b=2"]);
    assert_eq!(
        (forms[0].action.as_str(), forms[0].visible_fields),
        ("/z", 1)
    );
}
