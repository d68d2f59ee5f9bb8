//! The XSS corpus: script tags, event-handler attributes and `javascript:` URLs typed into
//! every free-text field the API and the public forms accept, then every page each role can
//! reach crawled over HTTP with that role's session. No page may carry a payload as markup,
//! and each payload must show up — escaped — on at least one page, so the crawl cannot pass
//! by never reaching the places that display it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use circle_domain::ids::ClientId;
use circle_domain::user::Role;
use circle_testkit::clinic::ClinicSpec;
use circle_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A payload tagged with the field it went into: a script element, an attribute break-out
/// with an event handler, and a `javascript:` URL.
fn payload(tag: &str) -> String {
    format!("<script>x('{tag}')</script>\"'><img src=x onerror=x('{tag}')> javascript:x('{tag}')")
}

/// How the tag reads once escaped (askama escapes `'` as `&#39;`).
fn escaped_marker(tag: &str) -> String {
    format!("x(&#39;{tag}&#39;)")
}

/// Markup a payload would become if it were not escaped.
const RAW: &[&str] = &["<script>x(", "<img src=x", "\"'><img"];

/// Crawls every page reachable from `/` with `token` as the session cookie (GET only, never
/// the sign-out form, static files, the API, feeds or downloads) and returns each page's
/// path and body.
async fn crawl(t: &TestApp, token: &str, limit: usize) -> BTreeMap<String, String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from(["/".to_owned()]);
    let mut pages = BTreeMap::new();
    while let Some(path) = queue.pop_front() {
        if pages.len() >= limit || !seen.insert(path.clone()) {
            continue;
        }
        let r = t.page(token, &path).await;
        if r.status == StatusCode::SEE_OTHER {
            if let Some(to) = r.location {
                queue.push_back(to);
            }
            continue;
        }
        let is_html = r
            .headers
            .get("content-type")
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("text/html"));
        if !is_html {
            continue;
        }
        let body = r.body;
        for link in links(&body) {
            if !seen.contains(&link) {
                queue.push_back(link);
            }
        }
        pages.insert(path, body);
    }
    pages
}

/// Same-site links of a page, without fragments; state-changing and non-page paths left out.
fn links(body: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .map(|href| href.split('#').next().unwrap_or_default().to_owned())
        .filter(|href| href.starts_with('/') && !href.starts_with("//"))
        .filter(|href| {
            !["/sign-out", "/static/", "/api/", "/feed/"]
                .iter()
                .any(|p| href.starts_with(p))
                && !href.ends_with(".csv")
                && !href.ends_with(".ics")
                && !href.contains("download")
        })
        .collect()
}

/// Asserts no page carries a payload as markup or a `javascript:` link; returns the tags
/// seen escaped.
fn check(role: &str, pages: &BTreeMap<String, String>, seen: &mut BTreeSet<String>, tags: &[&str]) {
    for (path, body) in pages {
        for raw in RAW {
            assert!(
                !body.contains(raw),
                "{role} {path}: unescaped payload `{raw}` in the page"
            );
        }
        let lower = body.to_lowercase();
        for attr in [
            "href=\"javascript:",
            "src=\"javascript:",
            "action=\"javascript:",
        ] {
            assert!(
                !lower.contains(attr),
                "{role} {path}: a javascript: URL in `{attr}`"
            );
        }
        for tag in tags {
            if body.contains(&escaped_marker(tag)) {
                seen.insert((*tag).to_owned());
            }
        }
    }
}

fn ok(what: &str, (status, body): (StatusCode, Value)) -> Value {
    assert!(status.is_success(), "{what}: {status} {body}");
    body
}

#[tokio::test]
async fn payloads_in_every_free_text_field_are_escaped_on_every_page() {
    let t = spawn_app().await;
    let c = t.clinic(ClinicSpec::default()).await;
    let dir = c.director.clone();
    let mut tags: Vec<&str> = vec![];

    // Structure: a program, room, clinician and group whose names are payloads.
    tags.extend([
        "program",
        "site",
        "room",
        "group",
        "clin_given",
        "clin_family",
    ]);
    let program = ok(
        "program",
        t.post(
            &dir,
            "/api/v1/programs",
            json!({"name": payload("program"), "site": payload("site"),
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await,
    );
    let room = ok(
        "room",
        t.post(
            &dir,
            "/api/v1/rooms",
            json!({"site": "Riverside", "name": payload("room"), "capacity": 12}),
        )
        .await,
    );
    ok(
        "clinician",
        t.post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": payload("clin_given"),
            "family_name": payload("clin_family"), "email": "xss.clinician@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-900", "state": "MA",
                "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
        )
        .await,
    );
    ok(
        "group",
        t.post(
            &dir,
            "/api/v1/groups",
            json!({"program_id": program["id"], "name": payload("group"),
            "kind": "process", "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "room_id": room["id"],
            "meetings": [{"weekday": "wednesday", "start": "18:00", "minutes": 90}],
            "lead_facilitator_id": c.lead}),
        )
        .await,
    );

    // A member of the clinic's group whose names are payloads.
    tags.extend(["given", "family", "preferred"]);
    let member = ok(
        "client",
        t.post(
            &dir,
            "/api/v1/clients",
            json!({"record_number": "X-0001",
            "given_name": payload("given"), "family_name": payload("family"),
            "date_of_birth": "1984-01-01", "referral_source": "program_admission"}),
        )
        .await,
    );
    let m = member["id"].as_i64().unwrap();
    ok(
        "preferred name",
        t.send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/clients/{m}"),
            json!({"version": member["version"], "preferred_name": payload("preferred")}),
        )
        .await,
    );
    ok(
        "episode",
        t.post(
            &dir,
            &format!("/api/v1/clients/{m}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        )
        .await,
    );
    ok(
        "agreement",
        t.post(
            &dir,
            &format!("/api/v1/clients/{m}/consents/group-agreement"),
            json!({"signed_on": "2026-04-01"}),
        )
        .await,
    );
    c.enroll(&t, m).await;

    // A held session: its topic, attendance, the group note and a progress note.
    tags.extend([
        "topic",
        "themes",
        "interventions",
        "presentation",
        "plan",
        "addendum",
    ]);
    let sessions = c.sessions(&t, "2026-05-04", "2026-05-05").await;
    let session = sessions[0];
    let s = ok(
        "session",
        t.get(&dir, &format!("/api/v1/sessions/{session}")).await,
    );
    ok(
        "topic",
        t.send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/sessions/{session}"),
            json!({"version": s["version"], "topic": payload("topic")}),
        )
        .await,
    );
    t.clock.set("2026-05-04T16:00:00Z".parse().unwrap());
    // The clock moved past the idle limit: sign in again.
    let dir = t
        .login("director@example.test", circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let lead = t
        .login(&c.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    ok(
        "attendance",
        t.send(
            Method::PUT,
            &lead,
            &format!("/api/v1/sessions/{session}/attendance/{m}"),
            json!({"status": "present"}),
        )
        .await,
    );
    ok(
        "group note",
        t.send(
            Method::PUT,
            &lead,
            &format!("/api/v1/sessions/{session}/group-note"),
            json!({"themes": payload("themes"), "interventions": payload("interventions")}),
        )
        .await,
    );
    let note = ok(
        "progress note",
        t.send(
            Method::PUT,
            &lead,
            &format!("/api/v1/sessions/{session}/notes/{m}"),
            json!({"presentation": payload("presentation"), "plan": payload("plan")}),
        )
        .await,
    );
    ok(
        "sign",
        t.post(
            &lead,
            &format!("/api/v1/notes/{}/sign", note["id"]),
            json!({"version": note["version"]}),
        )
        .await,
    );
    ok(
        "addendum",
        t.post(
            &lead,
            &format!("/api/v1/notes/{}/addenda", note["id"]),
            json!({"text": payload("addendum")}),
        )
        .await,
    );

    // A safety alert acknowledged with a payload as the action taken.
    tags.push("action");
    let client_token = t
        .token_for(
            "xss.client@example.test",
            Role::Client,
            None,
            Some(ClientId(m)),
        )
        .await;
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9))))
        .collect();
    ok(
        "phq9",
        t.post(
            &client_token,
            &format!("/api/v1/clients/{m}/measures"),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await,
    );
    let alerts = ok("alerts", t.get(&lead, "/api/v1/alerts").await);
    let alert = alerts.as_array().unwrap()[0]["id"].as_i64().unwrap();
    ok(
        "acknowledge",
        t.post(
            &lead,
            &format!("/api/v1/alerts/{alert}/acknowledge"),
            json!({"action_taken": payload("action")}),
        )
        .await,
    );

    // A therapist's referral and its screening.
    tags.extend([
        "ref_name",
        "ref_reason",
        "provider",
        "practice",
        "screening",
    ]);
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let referral = ok(
        "referral",
        t.post(
            &intake,
            "/api/v1/referrals",
            json!({"path": "therapist_referral",
            "name": payload("ref_name"), "phone": "555-0100", "reason": payload("ref_reason"),
            "provider": {"name": payload("provider"), "practice": payload("practice"),
                "contact": "555-0199"}}),
        )
        .await,
    );
    let r = referral["id"].as_i64().unwrap();
    ok(
        "to screening",
        t.post(
            &intake,
            &format!("/api/v1/referrals/{r}/transitions"),
            json!({"to": "screening"}),
        )
        .await,
    );
    ok(
        "screening",
        t.post(
            &dir,
            &format!("/api/v1/referrals/{r}/screenings"),
            json!({"decision": "ready", "reasons": payload("screening")}),
        )
        .await,
    );

    // Every role's pages.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let mut seen = BTreeSet::new();
    let mut visited = 0;
    for (role, token) in [
        ("director", &dir),
        ("clinician", &lead),
        ("intake", &intake),
        ("admin", &admin),
        ("client", &client_token),
    ] {
        let pages = crawl(&t, token, 400).await;
        assert!(pages.len() > 1, "{role}: the crawl reached no pages");
        visited += pages.len();
        check(role, &pages, &mut seen, &tags);
    }
    let missing: Vec<&&str> = tags.iter().filter(|t| !seen.contains(**t)).collect();
    assert!(
        missing.is_empty(),
        "these fields were never displayed on any of {visited} pages, so their escaping went untested: {missing:?}"
    );
}
