//! Regressions for what schemathesis (`.ci/schemathesis.sh`) found: the OpenAPI document
//! must describe what the server really sends and accepts. Runs on the database
//! `TEST_DATABASE_URL` names (SQLite when unset).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::audit::{AuditAction, AuditOutcome, DataCategory};
use circle_domain::care::{Concern, GroupKind, LevelOfCare, Modality};
use circle_domain::client::ReferralSource;
use circle_domain::clinician::LicenseKind;
use circle_domain::membership::MembershipStatus;
use circle_domain::schedule::Weekday;
use circle_domain::session::{AttendanceStatus, SessionStatus};
use circle_domain::user::Role;
use circle_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn openapi(t: &TestApp) -> Value {
    let resp = reqwest::get(t.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

fn wire<T: std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

/// The vocabulary enums are declared through a macro whose `serde(rename = $text)` utoipa
/// could not read, so the document listed the Rust variant names (`Residential`) while the
/// server sends and accepts `residential`: every response with one failed its schema.
#[tokio::test]
async fn vocabulary_enums_document_their_wire_values() {
    let t = spawn_app().await;
    let doc = openapi(&t).await;
    let expected = [
        ("LevelOfCare", wire(LevelOfCare::ALL)),
        ("Concern", wire(Concern::ALL)),
        ("GroupKind", wire(GroupKind::ALL)),
        ("Modality", wire(Modality::ALL)),
        ("ReferralSource", wire(ReferralSource::ALL)),
        ("LicenseKind", wire(LicenseKind::ALL)),
        ("MembershipStatus", wire(MembershipStatus::ALL)),
        ("Weekday", wire(Weekday::ALL)),
        ("SessionStatus", wire(SessionStatus::ALL)),
        ("AttendanceStatus", wire(AttendanceStatus::ALL)),
        ("Role", wire(Role::ALL)),
        ("AuditAction", wire(AuditAction::ALL)),
        ("DataCategory", wire(DataCategory::ALL)),
        ("AuditOutcome", wire(AuditOutcome::ALL)),
    ];
    for (name, values) in expected {
        let documented: Vec<String> = doc["components"]["schemas"][name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no enum in the document"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(documented, values, "{name}");
    }
}

/// A value the server sends is one the document allows: the demo-style program created
/// here comes back with `level_of_care: "iop"`, which must be in the documented enum.
#[tokio::test]
async fn a_program_response_matches_its_documented_enum() {
    let t = spawn_app().await;
    let token = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (s, program) = t
        .post(
            &token,
            "/api/v1/programs",
            json!({"name": "Adult IOP evening", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let doc = openapi(&t).await;
    let allowed = doc["components"]["schemas"]["LevelOfCare"]["enum"]
        .as_array()
        .unwrap();
    assert!(
        allowed.contains(&program["level_of_care"]),
        "{} is not in {allowed:?}",
        program["level_of_care"]
    );
}

/// Page sizes are documented with the bounds the server enforces, so a client (or a
/// fuzzer) knows `limit=0` is refused.
#[tokio::test]
async fn page_limits_are_documented_with_their_bounds() {
    let t = spawn_app().await;
    let doc = openapi(&t).await;
    for (path, max) in [
        ("/api/v1/programs", 200),
        ("/api/v1/groups", 200),
        ("/api/v1/audit", 500),
    ] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let limit = params
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{path} documents no limit"));
        assert_eq!(limit["schema"]["minimum"], 1, "{path}");
        assert_eq!(limit["schema"]["maximum"], max, "{path}");
    }
}
