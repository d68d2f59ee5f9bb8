//! The intake and programs-and-groups pages over HTTP against the real server: who may open
//! them, that a forged or invalid form changes nothing, and that refusals are explained on
//! the page with status 422. (The browser tests in `tests/browser/intake.rs` drive the
//! same pages as a person would.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClientId;
use circle_domain::user::Role;
use circle_testkit::TestApp;
use circle_testkit::clinic::ClinicSpec;
use circle_testkit::spawn_app;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A page request signed in with `token` (the page cookie carries the same sign-in token).
async fn page(
    t: &TestApp,
    token: &str,
    path: &str,
) -> (StatusCode, String, reqwest::header::HeaderMap) {
    let r = t.page(token, path).await;
    (r.status, r.body, r.headers)
}

/// A form post with the session's CSRF token unless `csrf` is given.
async fn form(
    t: &TestApp,
    token: &str,
    path: &str,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let real = circle_app::web_session::csrf_token(token);
    let mut body: Vec<(&str, &str)> = vec![("csrf", csrf.unwrap_or(&real))];
    body.extend_from_slice(fields);
    let r = t.page_form(token, path, &body).await;
    (r.status, r.body)
}

async fn referral_count(t: &TestApp, token: &str) -> usize {
    let (s, list) = t.get(token, "/api/v1/referrals").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().len()
}

/// One membership of a client, as the API reports it.
async fn membership(t: &TestApp, token: &str, client: i64, id: i64) -> serde_json::Value {
    let (s, list) = t
        .get(token, &format!("/api/v1/clients/{client}/memberships"))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn intake_pages_open_for_intake_and_directors_only_and_are_never_cached() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let lead = t
        .login(&k.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let me = t
        .token_for(
            "member@example.test",
            Role::Client,
            None,
            Some(ClientId(k.members[0])),
        )
        .await;

    for path in [
        "/intake",
        "/waitlist",
        "/groups",
        &format!("/groups/{}", k.group),
    ] {
        let (s, body, headers) = page(&t, &intake, path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        let (s, _, _) = page(&t, &k.director, path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    // Clinicians see programs and groups, not intake's lists; clients see none of it.
    for path in ["/intake", "/waitlist"] {
        let (s, _, _) = page(&t, &lead, path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, body, _) = page(&t, &lead, &format!("/groups/{}", k.group)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Member1 C."),
        "the lead sees their group's members"
    );
    for path in ["/intake", "/waitlist", "/groups"] {
        let (s, body, _) = page(&t, &me, path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        assert!(!body.contains("Member1"), "{path}");
    }
    // Without a session: to sign-in.
    let r = t.http.get(t.url("/intake")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Fintake");
}

#[tokio::test]
async fn a_forged_or_incomplete_referral_form_records_nothing_and_names_the_fields() {
    let t = spawn_app().await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;

    let (s, _) = form(
        &t,
        &intake,
        "/intake/referrals",
        Some("forged"),
        &[
            ("path", "self_referral"),
            ("name", "Sam Example"),
            ("phone", "555-0100"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(referral_count(&t, &intake).await, 0);

    // A therapist's referral without the therapist or the reason.
    let (s, body) = form(
        &t,
        &intake,
        "/intake/referrals",
        None,
        &[("path", "therapist_referral"), ("name", "Sam Example")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("role=\"alert\""));
    assert!(
        body.contains("Provider: is required for a referral from a therapist"),
        "{body}"
    );
    assert!(
        body.contains("Reason: is required for a referral from a therapist"),
        "{body}"
    );
    assert!(
        body.contains("value=\"Sam Example\""),
        "the form keeps what was typed"
    );
    assert_eq!(referral_count(&t, &intake).await, 0);
    // Each rule also stands by its field, linked to it for screen readers.
    assert!(
        body.contains("id=\"provider_name-error\">is required for a referral from a therapist<")
            && body.contains("aria-describedby=\"provider_name-error\""),
        "{body}"
    );
    assert!(
        body.contains("id=\"reason-error\">is required for a referral from a therapist<"),
        "{body}"
    );
    // No name and no way in: both named, by their fields too.
    let (s, body) = form(&t, &intake, "/intake/referrals", None, &[("name", "")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("Path: choose how the person was referred")
            && body.contains("Name: is required"),
        "{body}"
    );
    assert!(
        body.contains("id=\"path-error\">choose how the person was referred<")
            && body.contains("id=\"name-error\">is required<"),
        "{body}"
    );
    assert_eq!(referral_count(&t, &intake).await, 0);

    // The complete form records it and goes to the referral's page.
    let (s, _) = form(
        &t,
        &intake,
        "/intake/referrals",
        None,
        &[
            ("path", "therapist_referral"),
            ("name", "Sam Example"),
            ("reason", "Low mood"),
            ("provider_name", "Dana Therapist"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(referral_count(&t, &intake).await, 1);
    // Counted and listed under its state.
    let (_, body, _) = page(&t, &intake, "/intake").await;
    assert!(
        body.contains("<a href=\"#list-referred-h\">Referred</a> <strong>1</strong>"),
        "{body}"
    );
    let listed = body.split("id=\"list-referred\"").nth(1).unwrap_or("");
    assert!(listed.contains("Sam Example"), "{body}");
}

#[tokio::test]
async fn a_referral_without_a_client_record_cannot_be_placed_and_stays_where_it_is() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 0,
            ..ClinicSpec::default()
        })
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, r) = t
        .post(
            &intake,
            "/api/v1/referrals",
            json!({"path": "self_referral", "name": "Sam Example", "phone": "555-0100"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    let group = k.group.to_string();
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/place"),
        None,
        &[("group_id", &group), ("start_date", "2026-05-11")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("link the referral to a client record first"),
        "{body}"
    );
    // An illegal move is explained with the allowed ones.
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/transition"),
        None,
        &[("to", "placed")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("allowed next states from referred: screening, withdrawn"),
        "{body}"
    );
    let (_, r) = t.get(&intake, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(r["state"], "referred");
    // Intake records a screening's decision but no clinical comments: the form has no
    // comment box, and a forged comment is refused naming the field, recording nothing.
    let (_, body, _) = page(&t, &intake, &format!("/referrals/{id}")).await;
    assert!(body.contains("id=\"screening-form\""));
    assert!(!body.contains("id=\"screen-reasons\""));
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/screening"),
        None,
        &[("decision", "ready"), ("reasons", "clinical words")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("screening comments are clinical"), "{body}");
    // A screening without its outcome names the field.
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/screening"),
        None,
        &[("decision", "")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("The screening was not recorded: Decision: is required"),
        "{body}"
    );
    let (_, r) = t.get(&intake, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(r["screenings"].as_array().unwrap().len(), 0);
    assert_eq!(r["state"], "referred");
}

#[tokio::test]
async fn membership_changes_the_rules_refuse_change_nothing() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let lead = t
        .login(&k.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let newcomer = k.admit(&t, 50).await;
    let (_, list) = t
        .get(
            &k.director,
            &format!("/api/v1/groups/{}/memberships", k.group),
        )
        .await;
    let first = list["items"][0]["id"].as_i64().unwrap();
    let first_client = list["items"][0]["client_id"].as_i64().unwrap();

    // A clinician does not place clients.
    let client = newcomer.to_string();
    let (s, body) = form(
        &t,
        &lead,
        &format!("/groups/{}/memberships", k.group),
        None,
        &[("client_id", &client), ("start_date", "2026-05-11")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("not allowed for your role"), "{body}");
    // A start in the past is refused for the director too.
    let (s, body) = form(
        &t,
        &k.director,
        &format!("/groups/{}/memberships", k.group),
        None,
        &[("client_id", &client), ("start_date", "2026-04-27")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("Start date: must be today or later"),
        "{body}"
    );
    // A form with two bad fields: each rule by its field, what was typed kept.
    let (s, body) = form(
        &t,
        &k.director,
        &format!("/groups/{}/memberships", k.group),
        None,
        &[("client_id", "Nobody Weknow"), ("start_date", "next week")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for (id, rule) in [
        ("add-client", "must be one of the listed choices"),
        ("add-start", "must be a date (YYYY-MM-DD)"),
    ] {
        assert!(
            body.contains(&format!(
                r#"<span class="field-error" id="{id}-error">{rule}</span>"#
            )),
            "{id}: {body}"
        );
    }
    assert!(body.contains(r#"value="Nobody Weknow""#), "{body}");
    assert!(body.contains(r#"value="next week""#), "{body}");
    let (_, list) = t
        .get(
            &k.director,
            &format!("/api/v1/groups/{}/memberships", k.group),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    // Ending on or before the start date is refused; the membership stays active.
    let (s, body) = form(
        &t,
        &k.director,
        &format!("/groups/{}/memberships/{first}/end", k.group),
        None,
        &[
            ("version", "1"),
            ("status", "withdrawn"),
            ("end_date", "2026-05-04"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("End date: must be after the start date"),
        "{body}"
    );
    // The refused ending is shown open at its membership, the rule by the last day.
    assert!(
        body.contains(&format!(
            r#"<span class="field-error" id="end-{first}-error">must be after the start date</span>"#
        )),
        "{body}"
    );
    assert!(
        body.contains(r#"<option value="withdrawn" selected>"#),
        "{body}"
    );
    let m = membership(&t, &k.director, first_client, first).await;
    assert_eq!(m["status"], "active", "{m}");
    // The group's lead may end it (the reason is the ending status).
    let (s, _) = form(
        &t,
        &lead,
        &format!("/groups/{}/memberships/{first}/end", k.group),
        None,
        &[
            ("version", "1"),
            ("status", "completed"),
            ("end_date", "2026-05-11"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let m = membership(&t, &k.director, first_client, first).await;
    assert_eq!(
        (m["status"].as_str(), m["end_date"].as_str()),
        (Some("completed"), Some("2026-05-11"))
    );
}

#[tokio::test]
async fn intake_chooses_the_client_record_of_an_unlinked_referral_and_placing_links_it() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let person = k.admit(&t, 60).await;
    // Monday mornings suit them (suggestions exclude groups outside a client's windows).
    let (_, c) = t
        .get(&k.director, &format!("/api/v1/clients/{person}"))
        .await;
    let (s, c) = t
        .send(
            reqwest::Method::PATCH,
            &k.director,
            &format!("/api/v1/clients/{person}"),
            json!({"version": c["version"], "availability": [{"weekday": "monday", "start": "08:00", "end": "12:00"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (s, r) = t
        .post(
            &intake,
            "/api/v1/referrals",
            json!({"path": "self_referral", "name": "Member60 Clinictest", "phone": "555-0100"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    let (client, group) = (person.to_string(), k.group.to_string());
    let place = [
        ("client_id", client.as_str()),
        ("group_id", group.as_str()),
        ("start_date", "2026-05-04"),
    ];

    // Chosen on the page: its suggestions show; placing waits for the screening.
    let (s, body, _) = page(&t, &intake, &format!("/referrals/{id}?client={person}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("(linked when placed or waitlisted)"),
        "{body}"
    );
    assert!(
        body.contains(&format!("id=\"suggestion-{}\"", k.group)),
        "{body}"
    );
    assert!(body.contains("id=\"placement-waits\""), "{body}");
    assert!(!body.contains(&format!("id=\"place-{}\"", k.group)));
    let (s, body) = form(&t, &intake, &format!("/referrals/{id}/place"), None, &place).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("once screening finds the person ready"),
        "{body}"
    );
    let (_, list) = t
        .get(
            &k.director,
            &format!("/api/v1/clients/{person}/memberships"),
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 0);

    // Screened ready by the director; now intake places from the page, which links it.
    let (s, sc) = t
        .post(
            &k.director,
            &format!("/api/v1/referrals/{id}/screenings"),
            json!({"decision": "ready"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sc}");
    let (_, body, _) = page(&t, &intake, &format!("/referrals/{id}?client={person}")).await;
    assert!(
        body.contains(&format!("id=\"place-{}\"", k.group)),
        "{body}"
    );
    // A start that is no date, a priority that is no number: each refused naming its
    // field, the chosen record kept, nothing changed.
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/place"),
        None,
        &[
            ("client_id", client.as_str()),
            ("group_id", group.as_str()),
            ("start_date", "next Monday"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("The client was not placed: Start date: must be a date (YYYY-MM-DD)"),
        "{body}"
    );
    assert!(
        body.contains("(linked when placed or waitlisted)"),
        "{body}"
    );
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/waitlist"),
        None,
        &[
            ("client_id", client.as_str()),
            ("group_id", group.as_str()),
            ("priority", "high"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("Priority: must be 1 (most urgent) to 5"),
        "{body}"
    );
    let (_, r) = t.get(&intake, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(r["state"], "ready", "{r}");
    let (s, body) = form(&t, &intake, &format!("/referrals/{id}/place"), None, &place).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let (_, list) = t
        .get(
            &k.director,
            &format!("/api/v1/clients/{person}/memberships"),
        )
        .await;
    assert_eq!(list[0]["group_id"], k.group, "{list}");
    let (_, r) = t.get(&intake, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(
        (r["state"].as_str(), r["client_id"].as_i64()),
        (Some("placed"), Some(person))
    );
}

#[tokio::test]
async fn markup_typed_into_a_referral_is_shown_escaped_on_every_intake_page() {
    let t = spawn_app().await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let corpus = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(2)>",
        "javascript:alert(3)",
    ];
    let (s, _) = form(
        &t,
        &intake,
        "/intake/referrals",
        None,
        &[
            ("path", "therapist_referral"),
            ("name", corpus[0]),
            ("reason", corpus[1]),
            ("provider_name", corpus[2]),
            ("provider_practice", corpus[1]),
            ("provider_contact", corpus[0]),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, list) = t.get(&intake, "/api/v1/referrals").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    for path in ["/intake".to_owned(), format!("/referrals/{id}")] {
        let (s, body, _) = page(&t, &intake, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(
            body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: shown, escaped"
        );
        assert!(!body.contains("<script"), "{path}: no script element");
        assert!(!body.contains("<img"), "{path}: no injected element");
        assert!(
            !body.contains("href=\"javascript:"),
            "{path}: no javascript: link"
        );
    }
    // A refused form shows what was typed, escaped, in its fields.
    let (s, body) = form(
        &t,
        &intake,
        "/intake/referrals",
        None,
        &[("path", "therapist_referral"), ("name", corpus[1])],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body.contains("<img"), "{body}");
    assert!(body.contains("value=\"&#34;&#62;&#60;img"), "{body}");
}

#[tokio::test]
async fn intake_takes_someone_off_a_waitlist_and_a_forged_form_changes_nothing() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let waiting = k.admit(&t, 40).await;
    let (s, entry) = t
        .post(
            &k.director,
            &format!("/api/v1/groups/{}/waitlist", k.group),
            json!({"client_id": waiting, "priority": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{entry}");
    let id = entry["id"].as_i64().unwrap();
    let path = format!("/waitlist/{id}/remove");
    let (_, body, _) = page(&t, &intake, "/waitlist").await;
    assert!(
        body.contains(&format!("action=\"{path}\"")),
        "a remove form"
    );
    let (s, _) = form(&t, &intake, &path, Some("forged"), &[]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        waitlist(&t, &k.director, k.group).await[0]["status"],
        "waiting",
        "unchanged"
    );

    let (s, _) = form(&t, &intake, &path, None, &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, body, _) = page(&t, &intake, "/waitlist?ok=removed").await;
    assert!(body.contains("taken off the waitlist"), "the notice");
    assert!(
        !body.contains(&format!("action=\"{path}\"")),
        "no second remove"
    );
    let after = waitlist(&t, &k.director, k.group).await;
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"] != id || e["status"] == "removed"),
        "{after}"
    );

    // Again: refused with the reason on the page, nothing else changes.
    let (s, body) = form(&t, &intake, &path, None, &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("Nobody was taken off the list"));
}

/// A group's waitlist as the API reports it.
async fn waitlist(t: &TestApp, token: &str, group: i64) -> serde_json::Value {
    t.get(token, &format!("/api/v1/groups/{group}/waitlist"))
        .await
        .1
}

#[tokio::test]
async fn a_clinician_finds_the_referrals_they_are_to_screen_on_today() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    let lead = t
        .login(&k.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let (s, r) = t
        .post(&k.director, "/api/v1/referrals", json!({"path": "therapist_referral",
            "name": "Screening Person", "phone": "555-0100", "reason": "low mood",
            "screener_id": k.lead,
            "provider": {"name": "Dr. Example", "practice": "Example Counseling", "contact": "555-0199"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    let link = format!("href=\"/referrals/{id}\"");
    let (_, body, _) = page(&t, &lead, "/today").await;
    assert!(!body.contains(&link), "not yet in screening");
    let (s, r) = t
        .post(
            &k.director,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "screening"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, body, _) = page(&t, &lead, "/today").await;
    assert!(body.contains(&link), "the screener's Today links it");
    assert!(body.contains("Screening Person"));
    // Another clinician is not its screener and sees nothing of it.
    let (_, other) = t
        .post(&k.director, "/api/v1/clinicians", json!({"given_name": "Other", "family_name": "Clinician",
            "email": "other@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-777", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    let other = t
        .token_for(
            "other@example.test",
            Role::Clinician,
            Some(circle_domain::ids::ClinicianId(
                other["id"].as_i64().unwrap(),
            )),
            None,
        )
        .await;
    let (_, body, _) = page(&t, &other, "/today").await;
    assert!(!body.contains(&link) && !body.contains("Screening Person"));
    assert!(body.contains("No referrals are waiting for your screening."));
}

/// The "already a client" flag checks every client, not a first page: a returning person
/// whose record is the 201st is flagged by their phone however it is punctuated, and the
/// search on the referral finds their record by name.
#[tokio::test]
async fn a_request_from_a_client_beyond_the_first_two_hundred_is_flagged_and_found_by_name() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    for n in 1..=201 {
        let (given, family, phone) = if n == 201 {
            ("Morgan", "Returning", json!("(617) 555-0177"))
        } else {
            ("Given", "Bulk", Value::Null)
        };
        let (s, c) = t
            .post(
                &dir,
                "/api/v1/clients",
                json!({"record_number": format!("B-{n:04}"), "given_name": given,
                    "family_name": family, "date_of_birth": "1980-01-01",
                    "referral_source": "self_referral", "phone": phone}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
    }
    let r = t
        .http
        .post(t.url("/api/v1/self-referrals"))
        .json(&json!({"name": "Morgan R", "phone": "617 555 0177",
            "looking_for": "Back for a group."}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (_, list) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let (s, body, _) = page(&t, &intake, &format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let flag = body
        .split("id=\"already-client\"")
        .nth(1)
        .expect("the flag is shown");
    assert!(flag.contains("Morgan Returning (B-0201)"), "{flag}");
    let (s, body, _) = page(&t, &intake, &format!("/referrals/{id}?find=returning")).await;
    assert_eq!(s, StatusCode::OK);
    let found = body
        .split("id=\"found-clients\"")
        .nth(1)
        .expect("the search's results");
    assert!(found.contains("Morgan Returning (B-0201)"), "{found}");
    assert!(!found.contains("Given Bulk"), "{found}");
}

/// The client record made from a referral: each bad field is named, nothing is created; a
/// good one is created with the request's ticked times and the way they came in. The
/// episode form names a missing level.
#[tokio::test]
async fn the_client_record_made_from_a_referral_names_each_bad_field_and_creates_nothing() {
    let t = spawn_app().await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let r = t
        .http
        .post(t.url("/api/v1/self-referrals"))
        .json(
            &json!({"name": "Avery Quinn", "email": "avery@example.test",
            "looking_for": "A morning group.",
            "preferred_times": [{"weekday": "wednesday", "part_of_day": "morning"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (_, list) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    // The form starts from what the person wrote, their ticked time included.
    let (_, body, _) = page(&t, &intake, &format!("/referrals/{id}")).await;
    assert!(
        body.contains("id=\"nc-given\" name=\"given_name\" value=\"Avery\""),
        "{body}"
    );
    assert!(
        body.contains("value=\"wednesday/morning\" checked"),
        "{body}"
    );
    assert!(!body.contains("value=\"wednesday/evening\" checked"));
    let path = format!("/referrals/{id}/client");
    let (s, body) = form(
        &t,
        &intake,
        &path,
        None,
        &[
            ("given_name", "Avery"),
            ("family_name", "Quinn"),
            ("record_number", "no spaces allowed"),
            ("date_of_birth", ""),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("Record number: must be"), "{body}");
    assert!(body.contains("Date of birth: is required"), "{body}");
    // What intake typed comes back in the form.
    assert!(body.contains("value=\"no spaces allowed\""), "{body}");
    // Each rule also stands by its field, linked to it for screen readers.
    assert!(
        body.contains("id=\"nc-dob-error\">is required<")
            && body.contains("aria-describedby=\"nc-dob-error\""),
        "{body}"
    );
    assert!(body.contains("id=\"nc-record-error\">must be"), "{body}");
    let (_, clients) = t.get(&intake, "/api/v1/clients").await;
    assert_eq!(clients["items"], json!([]), "{clients}");

    let r = t
        .page_form(
            &intake,
            &path,
            &[
                ("csrf", &circle_app::web_session::csrf_token(&intake)),
                ("given_name", "Avery"),
                ("family_name", "Quinn"),
                ("record_number", "R-3001"),
                ("date_of_birth", "1992-02-02"),
                ("email", "avery@example.test"),
                ("time", "wednesday/morning"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, clients) = t.get(&intake, "/api/v1/clients").await;
    let c = &clients["items"][0];
    assert_eq!(
        (c["record_number"].as_str(), c["referral_source"].as_str()),
        (Some("R-3001"), Some("self_referral")),
        "{c}"
    );
    assert_eq!(
        c["availability"],
        json!([{"weekday": "wednesday", "start": "07:00:00", "end": "12:00:00"}])
    );
    let client = c["id"].as_i64().unwrap();
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/referrals/{id}?ok=created&client={client}").as_str())
    );
    let cid = client.to_string();
    let (s, body) = form(
        &t,
        &intake,
        &format!("/referrals/{id}/episode"),
        None,
        &[
            ("client_id", &cid),
            ("level_of_care", ""),
            ("started_on", "2026-05-04"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("Level of care: is required"), "{body}");
    let (_, episodes) = t
        .get(&intake, &format!("/api/v1/clients/{client}/episodes"))
        .await;
    assert_eq!(episodes, json!([]));
    // The chosen record stays chosen across a screening (it was lost, and with it the
    // consents and placement that follow).
    let r = t
        .page_form(
            &intake,
            &format!("/referrals/{id}/screening"),
            &[
                ("csrf", &circle_app::web_session::csrf_token(&intake)),
                ("client_id", &cid),
                ("decision", "not_ready"),
            ],
        )
        .await;
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/referrals/{id}?ok=screened&client={client}").as_str()),
        "{}",
        r.body
    );
}
