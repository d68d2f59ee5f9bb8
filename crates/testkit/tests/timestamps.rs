//! Instants are typed at the store's edge (issue 13): parsed once into `jiff::Timestamp`
//! where rows are read, written in the text format the database has always held, and sent
//! over the API as RFC 3339 strings. On the database `TEST_DATABASE_URL` names.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_testkit::clinic::ClinicSpec;
use circle_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// PHQ-9 answers, all 1 (total 9, item 9 answered 1: an alert too).
fn phq9_all_ones() -> Value {
    let answers: serde_json::Map<String, Value> =
        (1..=9).map(|i| (i.to_string(), json!(1))).collect();
    json!({"instrument": "phq9", "answers": answers})
}

/// A clinic of one member and its lead facilitator's token.
async fn member_and_lead(t: &TestApp) -> (i64, String) {
    let clinic = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let lead = t
        .login(&clinic.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    (clinic.members[0], lead)
}

async fn stored_text(t: &TestApp, sql: &str) -> Vec<String> {
    let pool = sqlx::AnyPool::connect(&t.db.url).await.unwrap();
    let v: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    v
}

async fn execute(t: &TestApp, sql: &str) {
    let pool = sqlx::AnyPool::connect(&t.db.url).await.unwrap();
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test]
async fn an_instant_with_an_offset_and_a_fraction_is_stored_as_before_and_reads_back_equal() {
    let t = spawn_app().await;
    let (member, lead) = member_and_lead(&t).await;
    let mut body = phq9_all_ones();
    body["administered_at"] = json!("2026-05-04T12:30:15.75+02:00");
    let (s, made) = t
        .post(&lead, &format!("/api/v1/clients/{member}/measures"), body)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    // The write answers what a later read gives: UTC, whole seconds, RFC 3339.
    assert_eq!(made["administered_at"], json!("2026-05-04T10:30:15Z"));
    let (s, list) = t
        .get(&lead, &format!("/api/v1/clients/{member}/measures"))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["administered_at"], made["administered_at"]);
    // The database holds the same fixed-width text as ever (its order is time order).
    assert_eq!(
        stored_text(&t, "SELECT administered_at FROM measure_responses").await,
        ["2026-05-04T10:30:15Z"]
    );
    // The alert's instants and the audit entries' too.
    let (s, alerts) = t.get(&lead, "/api/v1/alerts").await;
    assert_eq!(s, StatusCode::OK, "{alerts}");
    let raised = alerts["items"][0]["raised_at"]
        .as_str()
        .or_else(|| alerts[0]["raised_at"].as_str())
        .unwrap_or_else(|| panic!("an alert: {alerts}"));
    assert!(raised.parse::<jiff::Timestamp>().is_ok(), "{raised}");
    for at in stored_text(&t, "SELECT at FROM audit_log").await {
        assert!(
            at.len() == 20 && at.ends_with('Z') && at.parse::<jiff::Timestamp>().is_ok(),
            "audit instant stored as {at}"
        );
    }
}

#[tokio::test]
async fn a_stored_instant_that_does_not_parse_is_a_storage_error_that_shows_no_value() {
    let t = spawn_app().await;
    let (member, lead) = member_and_lead(&t).await;
    let (s, made) = t
        .post(
            &lead,
            &format!("/api/v1/clients/{member}/measures"),
            phq9_all_ones(),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    execute(
        &t,
        "UPDATE measure_responses SET administered_at = 'last tuesday-ish'",
    )
    .await;
    let (s, problem) = t
        .get(&lead, &format!("/api/v1/clients/{member}/measures"))
        .await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{problem}");
    assert!(!problem.to_string().contains("tuesday"), "{problem}");
    // The chart page, which shows the trend, fails the same way and names nothing.
    let page = t.page(&lead, &format!("/clients/{member}")).await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!page.body.contains("tuesday"));
    // The server carries on: the row put right reads again.
    execute(
        &t,
        "UPDATE measure_responses SET administered_at = '2026-05-04T13:00:00Z'",
    )
    .await;
    let (s, list) = t
        .get(&lead, &format!("/api/v1/clients/{member}/measures"))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["administered_at"], json!("2026-05-04T13:00:00Z"));
}

/// Every property named `at` or `…_at` in the OpenAPI document's schemas.
fn instant_properties(doc: &Value) -> Vec<(String, Value)> {
    let mut out = vec![];
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let mut props = vec![schema["properties"].clone()];
        for part in ["allOf", "oneOf", "anyOf"] {
            if let Some(parts) = schema[part].as_array() {
                props.extend(parts.iter().map(|p| p["properties"].clone()));
            }
        }
        for p in props.iter().filter_map(Value::as_object) {
            for (prop, def) in p {
                if prop == "at" || prop.ends_with("_at") {
                    out.push((format!("{name}.{prop}"), def.clone()));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_openapi_document_describes_every_instant_as_a_date_time_string() {
    let t = spawn_app().await;
    let doc: Value = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let props = instant_properties(&doc);
    for must in [
        "MeasureResponse.administered_at",
        "Referral.received_at",
        "SafetyAlert.acknowledged_at",
        "AuditEntry.at",
        "Offer.expires_at",
    ] {
        assert!(
            props.iter().any(|(p, _)| p == must),
            "{must} not among {props:?}"
        );
    }
    for (prop, def) in &props {
        let string = match &def["type"] {
            Value::String(t) => t == "string",
            Value::Array(ts) => ts.contains(&json!("string")),
            _ => false,
        };
        assert!(string && def["format"] == "date-time", "{prop} is {def}");
    }
}
