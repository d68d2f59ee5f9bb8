//! Regressions for the holes an outside attack found (issue 13), each on SQLite and, with
//! `TEST_DATABASE_URL` set, PostgreSQL: a client probing ids learns nothing, a caller's
//! request id is kept only when short and safe, public referrals are limited per source,
//! per group and overall and ignore robots, the database is private to its owner, and
//! a clinician or client record has at most one account.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::user::Role;
use circle_testkit::clinic::ClinicSpec;
use circle_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn post_anon(t: &TestApp, path: &str, body: Value) -> reqwest::Response {
    t.http.post(t.url(path)).json(&body).send().await.unwrap()
}

fn self_referral(n: u32) -> Value {
    json!({"name": format!("Synthetic Person {n}"), "email": format!("person{n}@example.test"),
        "looking_for": "a group for low mood"})
}

/// A client asking for another person's referral, session or offer gets the answer an id
/// that does not exist gets: 404, nothing confirmed.
#[tokio::test]
async fn a_client_probing_other_peoples_records_cannot_tell_them_from_missing_ones() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let (me, other) = (clinic.members[0], clinic.members[1]);
    let client = t
        .token_for(
            "member@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(me)),
        )
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, referral) = t
        .post(
            &intake,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Someone Else", "client_id": other,
                "phone": "555-0100", "program_id": clinic.program, "level_of_care": "iop"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{referral}");
    let (s, sessions) = t
        .get(
            &clinic.director,
            &format!(
                "/api/v1/groups/{}/sessions?from=2026-05-01&until=2026-06-30",
                clinic.group
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sessions}");
    let session = sessions
        .as_array()
        .or_else(|| sessions["items"].as_array())
        .and_then(|a| a.first())
        .map(|x| x["id"].as_i64().unwrap())
        .expect("the fixture's group meets in May");

    // The client's own group's session too: not theirs to read as staff do.
    let referral = referral["id"].as_i64().unwrap();
    let probes = [
        ("/api/v1/referrals/{}", referral),
        ("/api/v1/clients/{}", other),
        ("/api/v1/clients/{}/measures", other),
        ("/api/v1/sessions/{}", session),
        ("/api/v1/sessions/{}/roster", session),
    ];
    for (template, id) in probes {
        let path = template.replace("{}", &id.to_string());
        let (s, body) = t.get(&client, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
        let missing = template.replace("{}", "987654");
        let (s2, body2) = t.get(&client, &missing).await;
        assert_eq!(s2, StatusCode::NOT_FOUND, "{missing}: {body2}");
        assert_eq!(body["title"], body2["title"], "{path}");
    }
}

/// A caller's request id reaches the audit log only as a short token of safe characters;
/// anything else is replaced by one the server makes.
#[tokio::test]
async fn an_oversized_or_unsafe_request_id_is_replaced_before_it_reaches_the_audit_log() {
    let t = spawn_app().await;
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    for (sent, kept) in [
        ("trace-123.a:b_c", true),
        (&*"x".repeat(65), false),
        (&*"y".repeat(380_000 / 8), false),
        ("has space", false),
        ("semi;colon", false),
    ] {
        let r = t
            .http
            .get(t.url("/api/v1/clients"))
            .bearer_auth(&director)
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let echoed = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(echoed == sent, kept, "{}", &sent[..sent.len().min(20)]);
        assert!(echoed.len() <= 64);
    }
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, log) = t.get(&admin, "/api/v1/audit?limit=200").await;
    assert_eq!(s, StatusCode::OK, "{log}");
    for e in log.as_array().unwrap() {
        let id = e["request_id"].as_str().unwrap_or("");
        assert!(id.len() <= 64, "a stored request id of {} bytes", id.len());
    }
}

/// Behind a proxy every visitor shares one address: an overall cap bounds a flood from
/// many addresses, and one group cannot be flooded either.
#[tokio::test]
async fn public_referrals_are_capped_overall_and_per_group_across_addresses() {
    use circle_app::RequestMeta;
    use circle_app::intake::{
        PUBLIC_REFERRALS_PER_GROUP_PER_HOUR, PUBLIC_REFERRALS_PER_HOUR, SelfReferralAnswer,
    };
    use circle_domain::intake::SelfReferralForm;

    let t = spawn_app().await;
    let form: SelfReferralForm = serde_json::from_value(self_referral(1)).unwrap();
    let from = |n: i64| RequestMeta {
        request_id: None,
        source: Some(format!("198.51.100.{}", n % 250)),
    };
    // One group: accepted up to its cap from many addresses, then refused.
    let group = Some(circle_domain::ids::GroupId(7));
    for n in 0..PUBLIC_REFERRALS_PER_GROUP_PER_HOUR {
        let a = t.app.submit_self_referral(&form, group, &from(n)).await;
        assert!(matches!(a, Ok(SelfReferralAnswer::Accepted)), "{n}: {a:?}");
    }
    let a = t.app.submit_self_referral(&form, group, &from(200)).await;
    assert!(matches!(a, Ok(SelfReferralAnswer::Limited { .. })), "{a:?}");
    // Other referrals still pass until the overall cap, then everyone is refused.
    let mut n = PUBLIC_REFERRALS_PER_GROUP_PER_HOUR;
    while n < PUBLIC_REFERRALS_PER_HOUR {
        let a = t.app.submit_self_referral(&form, None, &from(n)).await;
        assert!(matches!(a, Ok(SelfReferralAnswer::Accepted)), "{n}: {a:?}");
        n += 1;
    }
    let r = post_anon(&t, "/api/v1/self-referrals", self_referral(99)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (_, list) = t
        .get(&intake, "/api/v1/referrals?state=referred&limit=200")
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len() as i64,
        PUBLIC_REFERRALS_PER_HOUR,
        "refused attempts store nothing"
    );
}

/// The public forms carry a field people never see; a robot that fills it is thanked and
/// nothing is kept.
#[tokio::test]
async fn a_filled_honeypot_is_thanked_and_nothing_is_kept() {
    let t = spawn_app().await;
    for (page, fields) in [
        (
            "/join",
            vec![
                ("name", "Robot Person"),
                ("email", "robot@example.test"),
                ("looking_for", "buy cheap things"),
            ],
        ),
        (
            "/refer",
            vec![
                ("provider_name", "Robot Provider"),
                ("provider_phone", "555-0100"),
                ("client_name", "Robot Client"),
                ("client_phone", "555-0101"),
                ("reason", "spam"),
                ("consent", "yes"),
            ],
        ),
    ] {
        let form = t.http.get(t.url(page)).send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        let presession = form.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let csrf = presession.split_once('=').unwrap().1.to_owned();
        let html = form.text().await.unwrap();
        assert!(html.contains(r#"name="website""#), "{page} has the field");
        let mut body: Vec<(&str, &str)> = fields.clone();
        body.push(("csrf", &csrf));
        body.push(("website", "http://spam.example"));
        let r = t
            .http
            .post(t.url(page))
            .header("cookie", &presession)
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{page}");
        assert!(r.text().await.unwrap().contains("Thank"), "{page}");
    }
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (_, list) = t.get(&intake, "/api/v1/referrals?limit=200").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "{list}");
}

/// A new SQLite database, its WAL and a backup of it are readable by their owner only.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_and_its_wal_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let url = format!("sqlite://{}", path.display());
    let store = circle_store::Store::connect(&url, circle_store::OpenMode::CreateIfMissing)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    for f in ["private.db", "private.db-wal", "private.db-shm"] {
        let p = dir.path().join(f);
        if f == "private.db" || p.exists() {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f} is {mode:o}");
        }
    }
    assert!(dir.path().join("private.db-wal").exists(), "WAL mode is on");
    store.close().await;
}

/// A clinic-wide director reaches every client, so the gate once let any id through for
/// them: a write naming a client that does not exist hit the database's foreign key and
/// answered 500 (schemathesis found it on the contact-consent route). The gate now asks
/// whether the client exists for every reach that is not a list of ids: 404, like a read.
#[tokio::test]
async fn a_clinic_wide_director_naming_a_client_that_does_not_exist_gets_404() {
    let t = spawn_app().await;
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    for granted in [true, false] {
        let r = t
            .http
            .put(t.url("/api/v1/clients/9223372036854775806/contact-consent"))
            .bearer_auth(&director)
            .json(&json!({ "granted": granted }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let (s, _) = t
        .get(
            &director,
            "/api/v1/clients/9223372036854775806/contact-consent",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
