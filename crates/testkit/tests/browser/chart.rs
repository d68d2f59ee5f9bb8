//! Browser tests: the client list, the client chart and reading a note.

use super::*;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use reqwest::Method;

/// Answers of `n` items (0–3 each) summing to `total`, PHQ-9's item 9 left at 0 (no alert).
fn summing(code: &str, n: usize, total: i64, at: &str) -> Value {
    let mut left = total;
    let mut answers = serde_json::Map::new();
    for i in 1..=n {
        let v = if code == "phq9" && i == 9 {
            0
        } else {
            left.min(3)
        };
        left -= v;
        answers.insert(i.to_string(), json!(v));
    }
    assert_eq!(left, 0, "{total} does not fit");
    json!({"instrument": code, "answers": answers, "administered_at": at})
}

/// The PHQ-9 totals recorded for the first member, oldest first.
const PHQ9: [(i64, &str); 3] = [
    (18, "2026-04-06T14:00:00Z"),
    (12, "2026-04-20T14:00:00Z"),
    (7, "2026-05-04T12:00:00Z"),
];

const NOTE_TEXT: &str = "Calm and engaged; spoke about the week at work.";

/// A clinic whose first member has three PHQ-9 scores, one GAD-7, attendance at Monday's
/// session and a progress note by the lead. Returns the clinic and the note's id. The
/// clock stands after Monday's session.
async fn charted_clinic(t: &TestApp) -> (Clinic, i64) {
    let clinic = t.clinic(ClinicSpec::default()).await;
    let member = clinic.members[0];
    for (total, at) in PHQ9 {
        let (s, r) = t
            .post(
                &clinic.director,
                &format!("/api/v1/clients/{member}/measures"),
                summing("phq9", 9, total, at),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    let (s, r) = t
        .post(
            &clinic.director,
            &format!("/api/v1/clients/{member}/measures"),
            summing("gad7", 7, 9, "2026-04-20T14:30:00Z"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let session = clinic.sessions(t, "2026-05-04", "2026-05-05").await[0];
    // After the session (the director's API token idles out; the lead signs in afresh).
    t.clock.set("2026-05-04T16:00:00Z".parse().unwrap());
    let lead = t.login(&clinic.lead_email, TEST_PASSWORD).await.unwrap();
    let (s, a) = t
        .send(
            Method::PUT,
            &lead,
            &format!("/api/v1/sessions/{session}/attendance/{member}"),
            json!({"status": "present"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let (s, note) = t
        .send(
            Method::PUT,
            &lead,
            &format!("/api/v1/sessions/{session}/notes/{member}"),
            json!({"presentation": NOTE_TEXT, "plan": "Continue weekly."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{note}");
    (clinic, note["id"].as_i64().unwrap())
}

async fn count(b: &Browser, css: &str) -> usize {
    b.client.find_all(Locator::Css(css)).await.unwrap().len()
}

/// The number of audit entries naming `client`.
async fn audit_entries(t: &TestApp, admin: &str, client: i64) -> Vec<Value> {
    let (s, v) = t
        .get(
            admin,
            &format!("/api/v1/audit?client_id={client}&limit=500"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_clinician_reads_their_clients_chart_with_trend_charts_and_opens_a_note() {
    let t = spawn_app().await;
    let (clinic, note) = charted_clinic(&t).await;
    let member = clinic.members[0];
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;

    let b = Browser::start().await;
    sign_in(&b, &t, &clinic.lead_email).await;
    assert_eq!(b.wait_path("/today").await, "/today");

    // The list is the caseload, searchable by record number.
    b.client.goto(&t.url("/clients")).await.unwrap();
    assert!(b.shows("#clients", "Clinictest, Member1").await);
    assert_eq!(count(&b, "#clients tbody tr").await, 6);
    b.check_page("clients").await;
    b.fill("#q", "c-0002").await;
    b.click("form.chart-search button").await;
    assert!(b.shows("#clients", "Member2").await);
    assert_eq!(count(&b, "#clients tbody tr").await, 1);
    b.check_page("clients-search").await;

    // One chart view writes one audit entry per kind of data, not one per row.
    let before = audit_entries(&t, &admin, member).await.len();
    b.client
        .goto(&t.url(&format!("/clients/{member}")))
        .await
        .unwrap();
    assert_eq!(b.text("#client-name").await, "Member1 Clinictest");
    b.check_page("chart").await;
    let after = audit_entries(&t, &admin, member).await;
    assert_eq!(
        after.len() - before,
        9,
        "client, episodes, memberships, consents, measures, attendance, note list, alerts, compliance"
    );

    // The PHQ-9 trend: an accessible SVG with its five severity bands and one point per
    // score, and the same numbers in the table beside it.
    let svg = b
        .client
        .find(Locator::Css("#trend-phq9 svg"))
        .await
        .unwrap();
    assert_eq!(svg.attr("role").await.unwrap().as_deref(), Some("img"));
    assert_eq!(count(&b, "#trend-phq9 svg title").await, 1);
    assert_eq!(count(&b, "#trend-phq9 svg desc").await, 1);
    assert_eq!(count(&b, "#trend-phq9 rect.band").await, 5);
    let mut drawn = vec![];
    for p in b
        .client
        .find_all(Locator::Css("#trend-phq9 circle.point"))
        .await
        .unwrap()
    {
        drawn.push(p.attr("data-total").await.unwrap().unwrap());
    }
    let recorded: Vec<String> = PHQ9.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(
        drawn, recorded,
        "one point per recorded score, oldest first"
    );
    let mut tabled = vec![];
    for td in b
        .client
        .find_all(Locator::Css("#scores-phq9 td.total"))
        .await
        .unwrap()
    {
        tabled.push(td.text().await.unwrap());
    }
    assert_eq!(tabled, recorded, "the table holds the same numbers");
    // A lower score is drawn lower: the y of 7 is below (greater than) the y of 18.
    let ys: Vec<i64> = {
        let mut v = vec![];
        for p in b
            .client
            .find_all(Locator::Css("#trend-phq9 circle.point"))
            .await
            .unwrap()
        {
            v.push(p.attr("cy").await.unwrap().unwrap().parse().unwrap());
        }
        v
    };
    assert!(ys[0] < ys[1] && ys[1] < ys[2], "{ys:?}");
    assert_eq!(count(&b, "#trend-gad7 circle.point").await, 1);
    assert!(b.shows("#attendance", "Present").await);
    assert!(b.shows("#compliance", "Week of").await);

    // Opening the note shows it, and the audit trail has the read.
    b.click(&format!("#notes a[href='/notes/{note}']")).await;
    assert_eq!(
        b.wait_path(&format!("/notes/{note}")).await,
        format!("/notes/{note}")
    );
    assert!(b.shows("#note-body", NOTE_TEXT).await);
    b.check_page("note").await;
    let (s, reads) = t
        .get(
            &admin,
            &format!("/api/v1/audit?action=note.read&client_id={member}"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{reads}");
    let reads = reads.as_array().unwrap();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["object_id"], note.to_string());
    assert_eq!(reads[0]["actor_role"], "clinician");
    assert_eq!(reads[0]["outcome"], "success");
    b.close().await;
}

#[tokio::test]
async fn a_clinician_outside_the_caseload_is_refused_a_chart_and_sees_nothing_of_the_client() {
    let t = spawn_app().await;
    let (clinic, note) = charted_clinic(&t).await;
    let member = clinic.members[0];
    let director = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (s, other) = t
        .post(
            &director,
            "/api/v1/clinicians",
            json!({"given_name": "Other", "family_name": "Clinician", "email": "other@example.test",
                "licenses": [{"kind": "lmhc", "number": "L-900", "state": "MA",
                    "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    t.token_for(
        "other@example.test",
        Role::Clinician,
        Some(ClinicianId(other["id"].as_i64().unwrap())),
        None,
    )
    .await;

    let b = Browser::start().await;
    sign_in(&b, &t, "other@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/clients")).await.unwrap();
    assert!(b.shows("#no-clients", "No clients").await);
    b.check_page("clients-empty-caseload").await;

    for path in [format!("/clients/{member}"), format!("/notes/{note}")] {
        b.client.goto(&t.url(&path)).await.unwrap();
        assert_eq!(b.text("main h1").await, "Not found", "{path}");
        let source = b.client.source().await.unwrap();
        for leak in ["Member1", "Clinictest", "C-0001", NOTE_TEXT, "phq9", "<svg"] {
            assert!(!source.contains(leak), "{path} shows {leak}");
        }
    }
    b.check_page("chart-refused").await;

    // The refusal is a 404 (nothing tells whether the record exists), and it is audited.
    let cookie = b
        .client
        .get_named_cookie("circle_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    for path in [format!("/clients/{member}"), "/clients/999999".to_owned()] {
        let r = t
            .http
            .get(t.url(&path))
            .header("cookie", format!("circle_session={cookie}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let denied: Vec<Value> = audit_entries(&t, &admin, member)
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied" && e["actor_role"] == "clinician")
        .collect();
    assert!(
        denied.iter().any(|e| e["action"] == "client.read"),
        "{denied:?}"
    );
    b.close().await;
}

#[tokio::test]
async fn intake_sees_demographics_groups_and_consents_but_no_notes_or_measures() {
    let t = spawn_app().await;
    let (clinic, _) = charted_clinic(&t).await;
    let member = clinic.members[0];
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;

    // Intake signs in with a second factor, like every staff role.
    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/clients/{member}")))
        .await
        .unwrap();
    assert_eq!(b.text("#client-name").await, "Member1 Clinictest");
    assert!(b.shows("#demographics", "C-0001").await);
    assert!(b.shows("#memberships", "Monday process").await);
    assert!(b.shows("#consents", "signed 2026-04-01").await);
    assert!(b.shows("#no-clinical", "not shown for your role").await);
    b.check_page("chart-intake").await;
    let source = b.client.source().await.unwrap();
    for absent in [
        "id=\"measures\"",
        "id=\"notes\"",
        "id=\"attendance\"",
        "id=\"alerts\"",
        "<svg",
        NOTE_TEXT,
        "/notes/",
    ] {
        assert!(!source.contains(absent), "intake's chart shows {absent}");
    }
    b.close().await;
}
