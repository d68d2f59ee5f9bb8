//! Audit completeness: drive the clinical routes through the real server and check that
//! each wrote exactly the audit entries it should — the action, the client ids and the
//! outcome — no more and no fewer (issue 4, "Testing the whole surface").

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClinicianId;
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The highest audit sequence number now, and the entries after `since` (the admin's own
/// `audit.read` entries left out), as (action, client ids, outcome).
async fn entries_after(
    t: &TestApp,
    admin: &str,
    since: i64,
) -> (i64, Vec<(String, Value, String)>) {
    let (s, list) = t.get(admin, "/api/v1/audit?sort=-seq&limit=200").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    let top = list
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .max()
        .unwrap_or(0);
    let mut found: Vec<(String, Value, String)> = list
        .iter()
        .filter(|e| e["seq"].as_i64().unwrap() > since && e["action"] != "audit.read")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["client_ids"].clone(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    (top, found)
}

/// Who calls, the method, path and body, and the entries the call must write (action and
/// client ids).
type Step = (
    &'static str,
    Method,
    String,
    Value,
    Vec<(&'static str, Value)>,
);

#[tokio::test]
async fn each_clinical_route_writes_exactly_its_audit_entries() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (_, program) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    let (_, lead) = t
        .post(&dir, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": "Audit",
            "email": "lead@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-500", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    let (s, group) = t
        .post(
            &dir,
            "/api/v1/groups",
            json!({"program_id": program["id"], "name": "Monday process", "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "monday", "start": "10:00", "minutes": 90}],
            "lead_facilitator_id": lead["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let group = group["id"].as_i64().unwrap();
    let mut clients = vec![];
    for n in 1..=2 {
        let (_, c) = t
            .post(&dir, "/api/v1/clients", json!({"record_number": format!("AU-{n}"), "given_name": format!("Given{n}"),
                "family_name": "Auditcase", "date_of_birth": "1980-01-01", "referral_source": "self_referral",
                "concerns": ["depression", "substance_use"]}))
            .await;
        let id = c["id"].as_i64().unwrap();
        t.post(
            &dir,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        )
        .await;
        let (s, m) = t
            .post(
                &dir,
                &format!("/api/v1/groups/{group}/memberships"),
                json!({"client_id": id, "start_date": "2026-05-04"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        clients.push(id);
    }
    let (c, other) = (clients[0], clients[1]);
    let lead_id = lead["id"].as_i64().unwrap();
    t.token_for(
        "lead@example.test",
        Role::Clinician,
        Some(ClinicianId(lead_id)),
        None,
    )
    .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (_, sessions) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-11"),
        )
        .await;
    let session = sessions[0]["id"].as_i64().unwrap();
    // Monday 12:00 in New York: the session has ended.
    t.clock.set("2026-05-04T16:00:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let lead_token = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    let admin = {
        let _ = admin;
        t.login("admin@example.test", TEST_PASSWORD).await.unwrap()
    };

    let phq9: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9))))
        .collect();
    // (who, method, path, body, the entries it must write: action and client ids).
    let steps: Vec<Step> = vec![
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}"),
            Value::Null,
            vec![("client.read", json!([c]))],
        ),
        (
            "dir",
            Method::PATCH,
            format!("/api/v1/clients/{c}"),
            json!({"version": 1, "preferred_name": "Gee"}),
            vec![("client.update", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/episodes"),
            Value::Null,
            vec![("episode.read", json!([c]))],
        ),
        (
            "dir",
            Method::POST,
            format!("/api/v1/clients/{c}/separations"),
            json!({"other_client_id": other, "reason": "neighbours"}),
            vec![("separation.create", json!([c, other]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/separations"),
            Value::Null,
            vec![("separation.read", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/memberships"),
            Value::Null,
            vec![("membership.read", json!([c]))],
        ),
        (
            "dir",
            Method::POST,
            format!("/api/v1/clients/{c}/consents/group-agreement"),
            json!({"signed_on": "2026-05-01"}),
            vec![("consent.create", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/consents"),
            Value::Null,
            vec![("consent.read", json!([c]))],
        ),
        (
            "lead",
            Method::GET,
            format!("/api/v1/sessions/{session}/roster"),
            Value::Null,
            vec![("roster.read", json!([c, other]))],
        ),
        (
            "lead",
            Method::PUT,
            format!("/api/v1/sessions/{session}/attendance/{c}"),
            json!({"status": "present"}),
            vec![("attendance.write", json!([c]))],
        ),
        (
            "lead",
            Method::GET,
            format!("/api/v1/sessions/{session}/attendance"),
            Value::Null,
            vec![("attendance.read", json!([c]))],
        ),
        (
            "lead",
            Method::PUT,
            format!("/api/v1/sessions/{session}/notes/{c}"),
            json!({"presentation": "Calm.", "plan": "Continue."}),
            vec![("note.write", json!([c]))],
        ),
        (
            "lead",
            Method::POST,
            format!("/api/v1/clients/{c}/measures"),
            json!({"instrument": "phq9", "answers": phq9}),
            vec![("measure.create", json!([c]))],
        ),
        (
            "lead",
            Method::GET,
            format!("/api/v1/clients/{c}/measures"),
            Value::Null,
            vec![("measure.read", json!([c]))],
        ),
        (
            "lead",
            Method::GET,
            "/api/v1/alerts".to_owned(),
            Value::Null,
            vec![("alert.list", json!([c]))],
        ),
        (
            "dir",
            Method::PUT,
            format!("/api/v1/clients/{c}/diagnoses"),
            json!({"codes": ["F33.1"]}),
            vec![("diagnosis.update", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/diagnoses"),
            Value::Null,
            vec![("diagnosis.read", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            "/api/v1/compliance?week=2026-05-04".to_owned(),
            Value::Null,
            vec![("compliance.read", json!([c, other]))],
        ),
        (
            "lead",
            Method::GET,
            format!("/api/v1/clients/{c}/measures/summary"),
            Value::Null,
            vec![("measure.read", json!([c]))],
        ),
        (
            "lead",
            Method::GET,
            "/api/v1/measures/due".to_owned(),
            Value::Null,
            vec![("measure.due_list", json!([c, other]))],
        ),
        (
            "lead",
            Method::GET,
            format!("/api/v1/sessions/{session}/notes"),
            Value::Null,
            vec![("note.list", json!([c]))],
        ),
        (
            "dir",
            Method::POST,
            format!("/api/v1/clients/{c}/consents/part2"),
            json!({
            "patient_name": "Given1 Auditcase", "discloser": "Riverside IOP", "recipient": "Harbor Probation Office",
            "information": "attendance dates", "purpose": "treatment verification", "expires_on": "2026-12-31",
            "right_to_revoke_acknowledged": true, "signature": "Given1 Auditcase", "signed_on": "2026-05-01"}),
            vec![("consent.create", json!([c]))],
        ),
        (
            "dir",
            Method::POST,
            format!("/api/v1/clients/{c}/disclosures"),
            json!({"recipient": "Harbor Probation Office", "information": "attendance dates", "purpose": "verification"}),
            vec![("disclosure.create", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/disclosures"),
            Value::Null,
            vec![("disclosure.read", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/placement-suggestions"),
            Value::Null,
            vec![("placement.suggest", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/clients/{c}/transition-plan"),
            Value::Null,
            vec![("transition.read", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/groups/{group}/waitlist"),
            Value::Null,
            vec![("waitlist.read", json!([]))],
        ),
        // The billing export (CSV) is checked for its one entry in reports.rs.
        // A refusal is audited too: intake may not read measures.
        (
            "intake",
            Method::GET,
            format!("/api/v1/clients/{c}/measures"),
            Value::Null,
            vec![("measure.read", json!([c]))],
        ),
    ];
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let tokens = Tokens {
        dir: &dir,
        lead: &lead_token,
        intake: &intake,
    };
    let mut failures = run(&t, &admin, &tokens, steps).await;

    // Second round, on objects the first one made: notes, alerts, referrals, consents.
    let (_, notes) = t
        .get(&lead_token, &format!("/api/v1/sessions/{session}/notes"))
        .await;
    let note = notes[0]["id"].as_i64().unwrap();
    let note_version = notes[0]["version"].clone();
    let (_, alerts) = t.get(&lead_token, "/api/v1/alerts").await;
    let alert = alerts[0]["id"].as_i64().unwrap();
    let (s, referral) = t
        .post(
            &dir,
            "/api/v1/referrals",
            json!({"path": "therapist_referral", "name": "Synthetic Person",
            "reason": "low mood", "provider": {"name": "Dr. Example"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{referral}");
    let referral = referral["id"].as_i64().unwrap();
    let (_, consents) = t.get(&dir, &format!("/api/v1/clients/{c}/consents")).await;
    let consent = consents["part2"][0]["id"].as_i64().unwrap();
    let second: Vec<Step> = vec![
        (
            "lead",
            Method::GET,
            format!("/api/v1/notes/{note}"),
            Value::Null,
            vec![("note.read", json!([c]))],
        ),
        (
            "lead",
            Method::POST,
            format!("/api/v1/notes/{note}/sign"),
            json!({"version": note_version}),
            vec![("note.sign", json!([c]))],
        ),
        (
            "lead",
            Method::POST,
            format!("/api/v1/notes/{note}/addenda"),
            json!({"text": "Follow-up call made."}),
            vec![("note.addendum", json!([c]))],
        ),
        (
            "lead",
            Method::POST,
            format!("/api/v1/alerts/{alert}/acknowledge"),
            json!({"action_taken": "Called the client."}),
            vec![("alert.acknowledge", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/referrals/{referral}"),
            Value::Null,
            vec![("referral.read", json!([]))],
        ),
        (
            "dir",
            Method::POST,
            format!("/api/v1/referrals/{referral}/transitions"),
            json!({"to": "screening", "client_id": c}),
            vec![("referral.transition", json!([c]))],
        ),
        (
            "dir",
            Method::POST,
            format!("/api/v1/clients/{c}/consents/part2/{consent}/revoke"),
            json!({"reason": "revoked_by_patient"}),
            vec![("consent.revoke", json!([c]))],
        ),
        (
            "dir",
            Method::GET,
            format!("/api/v1/groups/{group}/memberships"),
            Value::Null,
            vec![("membership.read", json!([c, other]))],
        ),
        (
            "intake",
            Method::GET,
            format!("/api/v1/notes/{note}"),
            Value::Null,
            vec![("note.read", json!([c]))],
        ),
    ];
    failures.extend(run(&t, &admin, &tokens, second).await);
    assert!(
        failures.is_empty(),
        "audit mismatches:\n{}",
        failures.join("\n")
    );
}

/// Runs each step as its caller and collects every mismatch between the entries it wrote
/// and the ones expected. Steps by "intake" must be refused (and audited as denied).
async fn run(t: &TestApp, admin: &str, tokens: &Tokens<'_>, steps: Vec<Step>) -> Vec<String> {
    let (dir, lead_token, intake) = (tokens.dir, tokens.lead, tokens.intake);
    let (mut seq, _) = entries_after(t, admin, 0).await;
    let mut failures = vec![];
    for (who, method, path, body, expected) in steps {
        let token = match who {
            "dir" => dir,
            "lead" => lead_token,
            _ => intake,
        };
        let (status, v) = if method == Method::GET {
            t.get(token, &path).await
        } else {
            t.send(method.clone(), token, &path, body).await
        };
        let refused = who == "intake";
        assert!(
            status.is_success() != refused,
            "{method} {path} as {who}: {status} {v}"
        );
        let (top, found) = entries_after(t, admin, seq).await;
        seq = top;
        let outcome = if refused { "denied" } else { "success" };
        let mut want: Vec<(String, Value, String)> = expected
            .into_iter()
            .map(|(a, ids)| (a.to_owned(), ids, outcome.to_owned()))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        // Client ids are compared as sets (their order is the store's).
        let norm = |v: &[(String, Value, String)]| -> Vec<(String, Vec<i64>, String)> {
            v.iter()
                .map(|(a, ids, o)| {
                    let mut ids: Vec<i64> = ids
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i.as_i64().unwrap())
                        .collect();
                    ids.sort_unstable();
                    (a.clone(), ids, o.clone())
                })
                .collect()
        };
        if norm(&found) != norm(&want) {
            failures.push(format!(
                "{method} {path} as {who}: wrote {found:?}, expected {want:?}"
            ));
        }
    }
    failures
}

struct Tokens<'a> {
    dir: &'a str,
    lead: &'a str,
    intake: &'a str,
}
