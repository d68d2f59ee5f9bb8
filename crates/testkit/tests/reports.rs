//! Reports through the real server: weekly hours compliance flagged during the week,
//! diagnoses, and the billing export (exactly the attended sessions with signed notes).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClinicianId;
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An IOP program requiring 9 h a week, its lead, and a group meeting Monday, Wednesday
/// and Friday 10:00–13:00 New York time. Returns (program, lead clinician, group).
async fn iop_week(t: &TestApp, dir: &str) -> (i64, i64, i64) {
    let (s, program) = t
        .post(
            dir,
            "/api/v1/programs",
            json!({"name": "Adult IOP day", "site": "Riverside", "level_of_care": "iop",
                "time_zone": "America/New_York", "weekly_required_minutes": 540}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let (s, lead) = t
        .post(dir, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": "Reporter",
            "email": "lead@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-200", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lead}");
    let meetings: Vec<Value> = ["monday", "wednesday", "friday"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "10:00", "minutes": 180}))
        .collect();
    let (s, group) = t
        .post(
            dir,
            "/api/v1/groups",
            json!({"program_id": program["id"], "name": "IOP day", "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"}, "meetings": meetings,
            "lead_facilitator_id": lead["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    (
        program["id"].as_i64().unwrap(),
        lead["id"].as_i64().unwrap(),
        group["id"].as_i64().unwrap(),
    )
}

/// A client in the program from April, a member of `group` from 2026-05-04.
async fn member(t: &TestApp, dir: &str, n: u32, program: i64, group: i64) -> i64 {
    let (s, c) = t
        .post(dir, "/api/v1/clients", json!({"record_number": format!("R-{n:04}"), "given_name": format!("Given{n}"),
            "family_name": "Reportcase", "date_of_birth": "1985-06-07", "referral_source": "program_admission"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            dir,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "iop", "program_id": program, "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, m) = t
        .post(
            dir,
            &format!("/api/v1/groups/{group}/memberships"),
            json!({"client_id": id, "start_date": "2026-05-04"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    // Attending needs the group agreement, signed on paper at intake.
    let (s, a) = t
        .post(
            dir,
            &format!("/api/v1/clients/{id}/consents/group-agreement"),
            json!({"signed_on": "2026-05-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    id
}

async fn sessions_of(t: &TestApp, dir: &str, group: i64) -> Vec<i64> {
    let (_, s) = t
        .get(
            dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-10"),
        )
        .await;
    s.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

fn week_of(report: &Value, client: i64) -> &Value {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["client_id"] == client)
        .unwrap_or_else(|| panic!("client {client} is not in the report: {report}"))
}

#[tokio::test]
async fn compliance_flags_an_iop_client_at_risk_mid_week_and_short_after_it() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (program, lead, group) = iop_week(&t, &dir).await;
    let missed = member(&t, &dir, 1, program, group).await;
    let came = member(&t, &dir, 2, program, group).await;
    t.token_for(
        "lead@example.test",
        Role::Clinician,
        Some(ClinicianId(lead)),
        None,
    )
    .await;
    let (_, other) = t
        .post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": "Other", "family_name": "Reporter",
            "email": "other@example.test"}),
        )
        .await;
    t.token_for(
        "other@example.test",
        Role::Clinician,
        Some(ClinicianId(other["id"].as_i64().unwrap())),
        None,
    )
    .await;
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let sessions = sessions_of(&t, &dir, group).await;
    assert_eq!(sessions.len(), 3);

    // Monday 14:00 in New York: the first session is over.
    t.clock.set("2026-05-04T18:00:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let monday = sessions[0];
    let (s, a) = t
        .send(
            Method::PUT,
            &dir,
            &format!("/api/v1/sessions/{monday}/attendance/{missed}"),
            json!({"status": "absent_unexcused"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let (s, a) = t
        .send(
            Method::PUT,
            &dir,
            &format!("/api/v1/sessions/{monday}/attendance/{came}"),
            json!({"status": "present"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");

    let (s, report) = t
        .get(
            &dir,
            &format!("/api/v1/compliance?week=2026-05-06&program_id={program}"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let w = week_of(&report, missed);
    assert_eq!(
        (
            &w["status"],
            &w["summary"],
            &w["reachable_minutes"],
            &w["week_start"]
        ),
        (
            &json!("at_risk"),
            &json!("0 h attended, 9 h required, 2 sessions left"),
            &json!(360),
            &json!("2026-05-04")
        )
    );
    let w = week_of(&report, came);
    assert_eq!(
        (&w["status"], &w["summary"], &w["scheduled_minutes"]),
        (
            &json!("on_track"),
            &json!("3 h attended, 9 h required, 2 sessions left"),
            &json!(540)
        )
    );
    // Those at risk come first.
    assert_eq!(report[0]["client_id"], missed);

    // The lead sees their members; another clinician sees no one; intake is refused.
    let lead_token = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    let (s, theirs) = t.get(&lead_token, "/api/v1/compliance").await;
    assert_eq!((s, theirs.as_array().unwrap().len()), (StatusCode::OK, 2));
    let other = t.login("other@example.test", TEST_PASSWORD).await.unwrap();
    let (s, none) = t.get(&other, "/api/v1/compliance").await;
    assert_eq!((s, none), (StatusCode::OK, json!([])));
    let intake = t.login("intake@example.test", TEST_PASSWORD).await.unwrap();
    let (s, _) = t.get(&intake, "/api/v1/compliance").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The next Monday the week is over: the missing hours are a shortfall.
    t.clock.set("2026-05-11T14:00:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (_, report) = t.get(&dir, "/api/v1/compliance?week=2026-05-04").await;
    assert_eq!(week_of(&report, missed)["status"], "short");
    assert_eq!(week_of(&report, missed)["unrecorded_sessions"], 2);

    // Reading the report is audited with the clients it covered.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, audit) = t
        .get(
            &admin,
            &format!("/api/v1/audit?action=compliance.read&client_id={missed}"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    assert!(audit.as_array().unwrap().len() >= 2, "{audit}");
}

#[tokio::test]
async fn diagnoses_are_validated_and_kept_from_intake() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (program, _, group) = iop_week(&t, &dir).await;
    let c = member(&t, &dir, 1, program, group).await;
    let path = format!("/api/v1/clients/{c}/diagnoses");
    let (s, p) = t
        .send(
            Method::PUT,
            &dir,
            &path,
            json!({"codes": ["F33.1", "banana"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["errors"][0]["field"].as_str().unwrap().contains("codes"),
        "{p}"
    );
    assert!(
        !p.to_string().contains("banana"),
        "the value is not echoed: {p}"
    );
    let (s, p) = t
        .send(
            Method::PUT,
            &dir,
            &path,
            json!({"codes": ["F33.1", "F33.1"]}),
        )
        .await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("codes/1"))
    );
    assert_eq!(t.get(&dir, &path).await.1, json!([]));
    let (s, codes) = t
        .send(
            Method::PUT,
            &dir,
            &path,
            json!({"codes": ["F33.1", "F41.1"]}),
        )
        .await;
    assert_eq!((s, codes), (StatusCode::OK, json!(["F33.1", "F41.1"])));
    let (s, codes) = t
        .send(Method::PUT, &dir, &path, json!({"codes": ["F41.1"]}))
        .await;
    assert_eq!((s, codes), (StatusCode::OK, json!(["F41.1"])));
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, _) = t.get(&intake, &path).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_billing_export_holds_exactly_the_attended_sessions_with_signed_notes() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (program, lead, group) = iop_week(&t, &dir).await;
    let signed = member(&t, &dir, 1, program, group).await;
    let draft_only = member(&t, &dir, 2, program, group).await;
    let absent = member(&t, &dir, 3, program, group).await;
    for (c, codes) in [
        (signed, json!(["F33.1", "F41.1"])),
        (draft_only, json!(["F43.10"])),
    ] {
        let (s, d) = t
            .send(
                Method::PUT,
                &dir,
                &format!("/api/v1/clients/{c}/diagnoses"),
                json!({ "codes": codes }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{d}");
    }
    // The program bills per diem too (IOP S9480, days of at least 3 hours).
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/programs/{program}"),
            json!({"version": 1, "per_diem_code": "S9480", "daily_minimum_minutes": 180}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    t.token_for(
        "lead@example.test",
        Role::Clinician,
        Some(ClinicianId(lead)),
        None,
    )
    .await;
    let sessions = sessions_of(&t, &dir, group).await;
    let monday = sessions[0];

    // Monday 14:00 in New York: the session (10:00–13:00) is over.
    t.clock.set("2026-05-04T18:00:00Z".parse().unwrap());
    let lead_token = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    for (c, status) in [
        (signed, "present"),
        (draft_only, "present"),
        (absent, "absent_excused"),
    ] {
        let (s, a) = t
            .send(
                Method::PUT,
                &lead_token,
                &format!("/api/v1/sessions/{monday}/attendance/{c}"),
                json!({ "status": status }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
    }
    for c in [signed, draft_only] {
        let (s, n) = t
            .send(
                Method::PUT,
                &lead_token,
                &format!("/api/v1/sessions/{monday}/notes/{c}"),
                json!({"presentation": "Engaged and calm.", "plan": "Continue."}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
        if c == signed {
            let (s, n) = t
                .post(
                    &lead_token,
                    &format!("/api/v1/notes/{}/sign", n["id"]),
                    json!({"version": n["version"]}),
                )
                .await;
            assert_eq!((s, &n["state"]), (StatusCode::OK, &json!("signed")), "{n}");
        }
    }

    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let r = t
        .http
        .get(t.url("/api/v1/billing/export?from=2026-05-01&until=2026-05-31"))
        .bearer_auth(&dir)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let csv = r.text().await.unwrap();
    // RFC 4180: CRLF after every record, every field quoted.
    assert!(
        csv.ends_with("\r\n") && !csv.replace("\r\n", "").contains('\n'),
        "{csv:?}"
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "\"line_type\",\"client_record_number\",\"service_date\",\"program\",\"group\",\"rendering_clinician\",\"rendering_license\",\"code\",\"minutes\",\"diagnosis_codes\",\"session_id\"",
            &format!(
                "\"session\",\"R-0001\",\"2026-05-04\",\"Adult IOP day\",\"IOP day\",\"Reporter, Lead\",\"lmhc MA L-200\",\"90853\",\"180\",\"F33.1;F41.1\",\"{monday}\""
            ),
            "\"per_diem\",\"R-0001\",\"2026-05-04\",\"Adult IOP day\",\"\",\"\",\"\",\"S9480\",\"180\",\"F33.1;F41.1\",\"\"",
        ],
        "only the attended session with a signed note, and its per-diem day"
    );

    // Intake and clinicians cannot export; a backwards range is refused naming the field.
    let lead_token = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    let (s, _) = t
        .get(
            &lead_token,
            "/api/v1/billing/export?from=2026-05-01&until=2026-05-31",
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, p) = t
        .get(
            &dir,
            "/api/v1/billing/export?from=2026-05-31&until=2026-05-01",
        )
        .await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("until"))
    );

    // The export is audited once, naming the client billed.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (_, audit) = t.get(&admin, "/api/v1/audit?action=billing.export").await;
    let entries = audit.as_array().unwrap();
    let done: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(done.len(), 1, "{audit}");
    assert_eq!(done[0]["client_ids"], json!([signed]));
    // The clinician's refused attempt is on the trail too.
    assert!(
        entries
            .iter()
            .any(|e| e["outcome"] == "denied" && e["actor_role"] == "clinician")
    );
}

#[tokio::test]
async fn discharge_ends_care_after_the_memberships_and_makes_the_discharge_measures_due() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (program, _, group) = iop_week(&t, &dir).await;
    let c = member(&t, &dir, 1, program, group).await;
    let path = format!("/api/v1/clients/{c}/discharge");

    // Still in a group: refused naming the rule, and nothing changes.
    let (s, p) = t.post(&dir, &path, json!({"ended_on": "2026-05-06"})).await;
    assert_eq!(
        (s, &p["code"]),
        (StatusCode::CONFLICT, &json!("open_memberships")),
        "{p}"
    );
    let (_, episodes) = t.get(&dir, &format!("/api/v1/clients/{c}/episodes")).await;
    assert!(
        episodes
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["ended_on"].is_null())
    );

    let (_, memberships) = t
        .get(&dir, &format!("/api/v1/clients/{c}/memberships"))
        .await;
    let m = &memberships[0];
    let (s, ended) = t
        .send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/memberships/{}", m["id"]),
            json!({"version": m["version"], "status": "completed", "end_date": "2026-05-06"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ended}");
    let (s, p) = t.post(&dir, &path, json!({"ended_on": "2026-03-01"})).await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("ended_on"))
    );
    let (s, episode) = t.post(&dir, &path, json!({"ended_on": "2026-05-06"})).await;
    assert_eq!(
        (s, &episode["ended_on"]),
        (StatusCode::OK, &json!("2026-05-06")),
        "{episode}"
    );
    let (s, p) = t.post(&dir, &path, json!({"ended_on": "2026-05-07"})).await;
    assert_eq!(
        (s, &p["code"]),
        (StatusCode::CONFLICT, &json!("no_open_episode"))
    );

    // The week after, PHQ-9 and GAD-7 are due at discharge.
    t.clock.set("2026-05-07T14:00:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (_, due) = t.get(&dir, "/api/v1/measures/due").await;
    let mine: Vec<&Value> = due
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["client_id"] == c)
        .collect();
    assert_eq!(mine.len(), 2, "{due}");
    assert!(mine.iter().all(|d| d["reason"] == "discharge"), "{due}");
}
