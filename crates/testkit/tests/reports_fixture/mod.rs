//! A clinic whose report figures are known exactly, shared by the reports' HTTP and
//! browser tests (included with `#[path]`, so it is not a test target of its own).
//!
//! - "Adult IOP" (IOP) with two groups: "Monday process" (Mondays 10:00–11:30 New York,
//!   Room 3, led by `lead@example.test`, members C-0001..C-0006) and "Wednesday skills"
//!   (Wednesdays 18:00–19:00, telehealth, led by `other@example.test`, members C-0001 and
//!   C-0007). Seven clients, all with an open IOP episode; eight memberships.
//! - Attendance: Monday 4 May — C-0001, C-0002 present, C-0003 late (60 min), C-0004 left
//!   early (45 min), C-0005 absent excused, C-0006 absent unexcused; Monday 11 May —
//!   C-0001..C-0005 present, C-0006 absent unexcused; Wednesday 6 May — C-0001 present,
//!   C-0007 absent excused. The sessions of 18 May and later are not held.
//! - PHQ-9: C-0001 20, 15, 10; C-0002 14, 8; C-0003 12 (once). GAD-7: C-0001 15, 9.
//! - C-0001's progress note for 4 May is signed (the one billable line).
//! - The clock ends on Tuesday 12 May 2026, 08:00 in New York.

#![allow(dead_code, reason = "each test binary uses part of the fixture")]

use circle_domain::ids::ClinicianId;
use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TEST_PASSWORD, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub struct Known {
    pub clinic: Clinic,
    pub other: i64,
    pub wednesday: i64,
    /// Clients C-0001..C-0007 by index 0..6.
    pub clients: Vec<i64>,
    /// Monday process: sessions of 4, 11, 18 and 25 May.
    pub monday_sessions: Vec<i64>,
    /// Wednesday skills: sessions of 6, 13, 20 and 27 May.
    pub wednesday_sessions: Vec<i64>,
    pub monday_max: u32,
    pub wednesday_max: u32,
}

fn ok(what: &str, (s, body): (StatusCode, Value)) -> Value {
    assert!(s.is_success(), "{what}: {s} {body}");
    body
}

async fn mark(
    t: &TestApp,
    token: &str,
    session: i64,
    client: i64,
    status: &str,
    minutes: Option<u32>,
) {
    let mut body = json!({ "status": status });
    if let Some(m) = minutes {
        body["minutes"] = json!(m);
    }
    ok(
        "attendance",
        t.send(
            Method::PUT,
            token,
            &format!("/api/v1/sessions/{session}/attendance/{client}"),
            body,
        )
        .await,
    );
}

/// Answers of `n` items (0–3 each) summing to `total`, PHQ-9's item 9 left at 0.
fn summing(code: &str, n: usize, total: i64) -> Value {
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
    json!({"instrument": code, "answers": answers})
}

pub async fn known_clinic(t: &TestApp) -> Known {
    let clinic = t.clinic(ClinicSpec::default()).await;
    let dir = clinic.director.clone();
    let other = ok(
        "clinician",
        t.post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": "Other", "family_name": "Skillsled",
            "email": "other@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-101", "state": "MA",
                "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
        )
        .await,
    )["id"]
        .as_i64()
        .unwrap();
    t.token_for(
        "other@example.test",
        Role::Clinician,
        Some(ClinicianId(other)),
        None,
    )
    .await;
    let wednesday = ok(
        "group",
        t.post(
            &dir,
            "/api/v1/groups",
            json!({"program_id": clinic.program, "name": "Wednesday skills", "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": "wednesday", "start": "18:00", "minutes": 60}],
                "lead_facilitator_id": other}),
        )
        .await,
    )["id"]
        .as_i64()
        .unwrap();
    let seventh = clinic.admit(t, 7).await;
    let mut clients = clinic.members.clone();
    clients.push(seventh);
    for c in [clients[0], seventh] {
        ok(
            "membership",
            t.post(
                &dir,
                &format!("/api/v1/groups/{wednesday}/memberships"),
                json!({"client_id": c, "start_date": "2026-05-04"}),
            )
            .await,
        );
    }
    let monday_sessions = clinic.sessions(t, "2026-05-04", "2026-06-01").await;
    let (_, ws) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{wednesday}/sessions?from=2026-05-04&until=2026-06-01"),
        )
        .await;
    let wednesday_sessions: Vec<i64> = ws
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!((monday_sessions.len(), wednesday_sessions.len()), (4, 4));
    let max = |g: Value| g["max_size"].as_u64().unwrap() as u32;
    let monday_max = max(t
        .get(&dir, &format!("/api/v1/groups/{}", clinic.group))
        .await
        .1);
    let wednesday_max = max(t.get(&dir, &format!("/api/v1/groups/{wednesday}")).await.1);

    // Scores, given before the sessions (never in the future).
    for (client, code, n, total, day) in [
        (0, "phq9", 9, 20, "2026-04-06"),
        (0, "phq9", 9, 15, "2026-04-20"),
        (0, "phq9", 9, 10, "2026-05-01"),
        (1, "phq9", 9, 14, "2026-04-07"),
        (1, "phq9", 9, 8, "2026-05-02"),
        (2, "phq9", 9, 12, "2026-04-08"),
        (0, "gad7", 7, 15, "2026-04-06"),
        (0, "gad7", 7, 9, "2026-05-01"),
    ] {
        let mut body = summing(code, n, total);
        body["administered_at"] = json!(format!("{day}T12:00:00Z"));
        ok(
            "measure",
            t.post(
                &dir,
                &format!("/api/v1/clients/{}/measures", clients[client]),
                body,
            )
            .await,
        );
    }

    // Monday 4 May, 11:45 in New York: the first Monday session is over.
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());
    let lead = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    let s = monday_sessions[0];
    mark(t, &lead, s, clients[0], "present", None).await;
    mark(t, &lead, s, clients[1], "present", None).await;
    mark(t, &lead, s, clients[2], "late", Some(60)).await;
    mark(t, &lead, s, clients[3], "left_early", Some(45)).await;
    mark(t, &lead, s, clients[4], "absent_excused", None).await;
    mark(t, &lead, s, clients[5], "absent_unexcused", None).await;
    let note = ok(
        "note",
        t.send(
            Method::PUT,
            &lead,
            &format!("/api/v1/sessions/{s}/notes/{}", clients[0]),
            json!({"presentation": "Engaged and calm.", "plan": "Continue."}),
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

    // Wednesday 6 May, 19:30 in New York.
    t.clock.set("2026-05-06T23:30:00Z".parse().unwrap());
    let other_token = t.login("other@example.test", TEST_PASSWORD).await.unwrap();
    let s = wednesday_sessions[0];
    mark(t, &other_token, s, clients[0], "present", None).await;
    mark(t, &other_token, s, seventh, "absent_excused", None).await;

    // Monday 11 May, 11:45 in New York.
    t.clock.set("2026-05-11T15:45:00Z".parse().unwrap());
    let lead = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    let s = monday_sessions[1];
    for &c in &clients[..5] {
        mark(t, &lead, s, c, "present", None).await;
    }
    mark(t, &lead, s, clients[5], "absent_unexcused", None).await;

    // Tuesday 12 May, 08:00 in New York.
    t.clock.set("2026-05-12T12:00:00Z".parse().unwrap());
    Known {
        clinic,
        other,
        wednesday,
        clients,
        monday_sessions,
        wednesday_sessions,
        monday_max,
        wednesday_max,
    }
}
