//! The client portal and public pages over HTTP: who may open them, that refused or bad
//! input changes nothing, that the feed's secret is the only key and every fetch is
//! audited, and that the public pages reveal no client.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClientId;
use circle_domain::text::Email;
use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An outpatient clinic on 20 October 2026 and a client of its group with a portal
/// account; returns the clinic, the client's id and a session token for the pages.
async fn setup(t: &TestApp) -> (Clinic, i64, String) {
    t.clock.set("2026-10-20T14:00:00Z".parse().unwrap());
    let clinic = t
        .clinic(ClinicSpec {
            members: 2,
            level: "outpatient",
            start_date: "2026-10-20",
            ..ClinicSpec::default()
        })
        .await;
    let id = clinic.members[0];
    let email = "portal.client@example.test";
    t.app
        .create_user(
            &Email::parse(email).unwrap(),
            TEST_PASSWORD,
            Role::Client,
            None,
            Some(ClientId(id)),
        )
        .await
        .unwrap();
    let token = t.login(email, TEST_PASSWORD).await.unwrap();
    (clinic, id, token)
}

fn cookie(token: &str) -> String {
    format!("circle_session={token}")
}

fn csrf(token: &str) -> String {
    circle_app::web_session::csrf_token(token)
}

async fn page(t: &TestApp, token: &str, path: &str) -> (StatusCode, String) {
    let r = t.page(token, path).await;
    (r.status, r.body)
}

async fn form(
    t: &TestApp,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = t.page_form(token, path, fields).await;
    (r.status, r.body)
}

/// Audit entries after `since` other than the admin's own reads, as (action, client ids,
/// object, actor).
async fn audit_after(t: &TestApp, admin: &str, since: i64) -> Vec<(String, Value, Value, Value)> {
    let (s, list) = t.get(admin, "/api/v1/audit?sort=-seq&limit=200").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["seq"].as_i64().unwrap() > since && e["action"] != "audit.read")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["client_ids"].clone(),
                e["object_id"].clone(),
                e["actor_user_id"].clone(),
            )
        })
        .collect()
}

async fn top_seq(t: &TestApp, admin: &str) -> i64 {
    let (_, list) = t.get(admin, "/api/v1/audit?sort=-seq&limit=1").await;
    list[0]["seq"].as_i64().unwrap_or(0)
}

/// The length of a list the API returns (or of one field of it).
async fn count(t: &TestApp, token: &str, path: &str, field: Option<&str>) -> usize {
    let (s, v) = t.get(token, path).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let list = match field {
        Some(f) => &v[f],
        None => &v,
    };
    list.as_array().unwrap().len()
}

async fn status(t: &TestApp, path: &str) -> StatusCode {
    t.http.get(t.url(path)).send().await.unwrap().status()
}

/// The public referral form: its pre-session cookie (`name=value`), the CSRF token that
/// cookie holds, and the page.
async fn refer_form(t: &TestApp) -> (String, String, String) {
    let r = t.http.get(t.url("/refer")).send().await.unwrap();
    let presession = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = presession.split_once('=').unwrap().1.to_owned();
    (presession, token, r.text().await.unwrap())
}

#[tokio::test]
async fn the_portal_is_the_clients_own_and_no_one_elses() {
    let t = spawn_app().await;
    let (clinic, _, client) = setup(&t).await;
    let (s, body) = page(&t, &client, "/me").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("Monday process"));
    assert!(
        !body.contains("Member2") && !body.contains("Clinictest"),
        "no member's name, not even their own full name"
    );
    // Staff have no portal; without a session it is the sign-in page.
    let lead = t.login(&clinic.lead_email, TEST_PASSWORD).await.unwrap();
    assert_eq!(page(&t, &lead, "/me").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        form(&t, &lead, "/me/feed", &[("csrf", &csrf(&lead))])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let r = t.http.get(t.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Fme");
    // The page with client data is never cached.
    let r = t
        .http
        .get(t.url("/me"))
        .header("cookie", cookie(&client))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    // An instrument a client may not answer, or none at all: not found.
    assert_eq!(
        page(&t, &client, "/me/check-in/nope").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn refused_forms_change_nothing() {
    let t = spawn_app().await;
    let (clinic, id, client) = setup(&t).await;
    // A check-in missing an answer is shown again (422) naming the question; none stored.
    let mut fields: Vec<(String, String)> = (1..=8)
        .map(|i| (format!("item_{i}"), "1".to_owned()))
        .collect();
    fields.push(("csrf".to_owned(), csrf(&client)));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (s, body) = form(&t, &client, "/me/check-in/phq9", &refs).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Question 9: choose one answer"), "{body}");
    // The refusal stands by its question too, and the answers given stay chosen.
    assert!(
        body.contains("aria-describedby=\"q-9-error\"")
            && body.contains("id=\"q-9-error\">choose one answer<"),
        "{body}"
    );
    assert!(
        body.contains("id=\"item_1_1\" name=\"item_1\" value=\"1\" required checked"),
        "{body}"
    );
    assert!(body.contains("role=\"alert\""));
    // An answer outside 0–3 is refused the same way.
    let mut bad = refs.clone();
    bad.push(("item_9", "7"));
    assert_eq!(
        form(&t, &client, "/me/check-in/phq9", &bad).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Without the session's CSRF token: refused.
    let mut forged = refs.clone();
    forged.retain(|(k, _)| *k != "csrf");
    forged.push(("item_9", "0"));
    forged.push(("csrf", "forged"));
    assert_eq!(
        form(&t, &client, "/me/check-in/phq9", &forged).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        count(
            &t,
            &clinic.director,
            &format!("/api/v1/clients/{id}/measures"),
            None
        )
        .await,
        0,
        "nothing recorded"
    );

    // The agreement needs the tick and the session's token. (The clinic's members signed
    // on paper already; a second, electronic signature would be added.)
    let consents = format!("/api/v1/clients/{id}/consents");
    let before = count(&t, &clinic.director, &consents, Some("group_agreements")).await;
    let (s, body) = form(
        &t,
        &client,
        "/me/agreement",
        &[("csrf", &csrf(&client)), ("version", "2026-1")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("tick the box"));
    assert_eq!(
        form(
            &t,
            &client,
            "/me/agreement",
            &[("csrf", "forged"), ("version", "2026-1"), ("agree", "yes")],
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = form(
        &t,
        &client,
        "/me/agreement",
        &[
            ("csrf", &csrf(&client)),
            ("version", "1999-0"),
            ("agree", "yes"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Version: must be the current version"),
        "{body}"
    );
    assert_eq!(
        count(&t, &clinic.director, &consents, Some("group_agreements")).await,
        before
    );

    // A referral without the provider's contact or the client's consent changes nothing.
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (presession, token, _) = refer_form(&t).await;
    let r = t
        .http
        .post(t.url("/refer"))
        .header("cookie", &presession)
        .form(&[
            ("csrf", token.as_str()),
            ("provider_name", "Dana Therapist"),
            ("client_name", "<script>alert(1)</script>"),
            ("client_phone", "617-555-0199"),
            ("reason", "grief"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(body.contains("Your phone or email: one is required"));
    assert!(body.contains("The client agrees"));
    assert!(
        !body.contains("<script>alert(1)</script>") && body.contains("script&#62;alert(1)"),
        "typed text comes back escaped"
    );
    let (_, list) = t.get(&intake, "/api/v1/referrals").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");
}

#[tokio::test]
async fn the_feed_secret_is_the_only_key_and_each_fetch_is_audited() {
    let t = spawn_app().await;
    let (_, id, client) = setup(&t).await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, body) = form(&t, &client, "/me/feed", &[("csrf", &csrf(&client))]).await;
    assert_eq!(s, StatusCode::OK);
    let start = body.find("/feed/").unwrap();
    let end = start + body[start..].find(".ics").unwrap();
    let path = format!("{}.ics", &body[start..end]);
    // Shown once: the portal does not show it again.
    let (_, again) = page(&t, &client, "/me").await;
    assert!(!again.contains(&path[6..end - start]));

    let since = top_seq(&t, &admin).await;
    let r = t.http.get(t.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.text().await.unwrap().contains("BEGIN:VEVENT"));
    let entries = audit_after(&t, &admin, since).await;
    assert_eq!(
        entries,
        vec![(
            "schedule.read".to_owned(),
            json!([id]),
            json!("feed"),
            Value::Null
        )],
        "one read of the client's schedule, by no signed-in user"
    );

    // Unknown secrets, odd shapes and other files read nothing and write nothing.
    let since = top_seq(&t, &admin).await;
    for p in [
        "/feed/not-a-secret.ics".to_owned(),
        format!("{}x", &path[..path.len() - 4]),
        path.trim_end_matches(".ics").to_owned(),
        format!("/feed/{}.ics", "A".repeat(43)),
    ] {
        let r = t.http.get(t.url(&p)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{p}");
    }
    assert!(audit_after(&t, &admin, since).await.is_empty());

    // Replacing retires the old address; revoking retires the new one.
    let (_, body) = form(&t, &client, "/me/feed", &[("csrf", &csrf(&client))]).await;
    let start = body.find("/feed/").unwrap();
    let end = start + body[start..].find(".ics").unwrap();
    let replaced = format!("{}.ics", &body[start..end]);
    assert_ne!(replaced, path);
    assert_eq!(status(&t, &path).await, StatusCode::NOT_FOUND);
    assert_eq!(status(&t, &replaced).await, StatusCode::OK);
    let (s, _) = form(&t, &client, "/me/feed/revoke", &[("csrf", "forged")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(status(&t, &replaced).await, StatusCode::OK);
    let (s, _) = form(&t, &client, "/me/feed/revoke", &[("csrf", &csrf(&client))]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(status(&t, &replaced).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_pages_need_no_account_and_reveal_no_client() {
    let t = spawn_app().await;
    let (_, _, _) = setup(&t).await;
    for path in ["/directory", "/refer"] {
        let r = t.http.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Monday process") && body.contains("Open seats"));
        assert!(!body.contains("Member1") && !body.contains("Clinictest"));
    }
    // An IOP program's group is not a stand-alone service: not listed.
    let t = spawn_app().await;
    t.clinic(ClinicSpec::default()).await;
    let body = t
        .http
        .get(t.url("/directory"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("Monday process"), "{body}");
    // A group id that is not listed does not preselect anything.
    let body = t
        .http
        .get(t.url("/join?group=abc"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("I would like to join"));
}

/// Issue 14: a therapist could refer only to the self-referral groups. `/refer` lists the
/// programs that admit above outpatient, never an outpatient one; it refuses a program
/// not on the list, and a group and a program at once, by the field and changing nothing.
#[tokio::test]
async fn a_therapist_refers_to_a_program_admission_only_from_the_list_and_not_with_a_group() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 0,
            level: "outpatient",
            ..ClinicSpec::default()
        })
        .await;
    let (s, php) = t
        .post(
            &clinic.director,
            "/api/v1/programs",
            json!({"name": "Adult PHP", "site": "Riverside", "level_of_care": "php",
                "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{php}");
    let php = php["id"].as_i64().unwrap();
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;

    let (presession, token, body) = refer_form(&t).await;
    assert!(
        body.contains(&format!(
            "<option value=\"{php}\">Adult PHP — Partial hospitalization (PHP)</option>"
        )),
        "{body}"
    );
    // The clinic's outpatient program (named "Adult IOP" by the fixture) is not offered.
    assert!(
        !body.contains("Adult IOP — "),
        "an outpatient program admits nobody: {body}"
    );
    let send = |program: String, group: String| {
        let (t, presession, token) = (&t, presession.clone(), token.clone());
        async move {
            let r = t
                .http
                .post(t.url("/refer"))
                .header("cookie", &presession)
                .form(&[
                    ("csrf", token.as_str()),
                    ("provider_name", "Dana Therapist"),
                    ("provider_phone", "617-555-0110"),
                    ("client_name", "Sam Rivers"),
                    ("client_phone", "617-555-0199"),
                    ("reason", "Needs more than a weekly group."),
                    ("consent", "yes"),
                    ("program", program.as_str()),
                    ("group", group.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (s, body) = send(clinic.program.to_string(), String::new()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Admission to a program: choose one from the list, or none"),
        "{body}"
    );
    let (s, body) = send(php.to_string(), clinic.group.to_string()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Admission to a program: choose a group or a program, not both"),
        "{body}"
    );
    let (_, list) = t.get(&intake, "/api/v1/referrals").await;
    assert!(list["items"].as_array().unwrap().is_empty(), "{list}");

    let (s, body) = send(php.to_string(), String::new()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, list) = t.get(&intake, "/api/v1/referrals").await;
    let referral = &list["items"][0];
    assert_eq!(
        (
            referral["path"].as_str(),
            referral["program_id"].as_i64(),
            referral["level_of_care"].as_str()
        ),
        (Some("therapist_referral"), Some(php), Some("php")),
        "{list}"
    );
}
