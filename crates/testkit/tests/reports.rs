//! Reports through the real server: weekly hours compliance flagged during the week,
//! diagnoses, and the billing export (exactly the attended sessions with signed notes).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClinicianId;
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, TestDb, spawn_app, spawn_app_with};
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
            "\"line_type\",\"client_record_number\",\"service_date\",\"program\",\"group\",\"rendering_clinician\",\"rendering_license\",\"code\",\"minutes\",\"diagnosis_codes\",\"session_id\",\"rendering_npi\",\"place_of_service\",\"modifier\",\"billable\"",
            &format!(
                "\"session\",\"R-0001\",\"2026-05-04\",\"Adult IOP day\",\"IOP day\",\"Reporter, Lead\",\"lmhc MA L-200\",\"90853\",\"180\",\"F33.1;F41.1\",\"{monday}\",\"\",\"10\",\"95\",\"no\""
            ),
            "\"per_diem\",\"R-0001\",\"2026-05-04\",\"Adult IOP day\",\"\",\"\",\"\",\"S9480\",\"180\",\"F33.1;F41.1\",\"\",\"\",\"10\",\"95\",\"yes\"",
        ],
        "only the attended session with a signed note, and its per-diem day; the group \
         meets by telehealth (no room): POS 10 and modifier 95; the per diem covers the \
         session by default"
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

/// Marks `clients` present at `session` and signs each one's progress note as the lead.
async fn attend_and_sign(t: &TestApp, lead: &str, session: i64, clients: &[i64]) {
    for c in clients {
        let (s, a) = t
            .send(
                Method::PUT,
                lead,
                &format!("/api/v1/sessions/{session}/attendance/{c}"),
                json!({ "status": "present" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
        let (s, n) = t
            .send(
                Method::PUT,
                lead,
                &format!("/api/v1/sessions/{session}/notes/{c}"),
                json!({"presentation": "Engaged.", "plan": "Continue."}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
        let (s, n) = t
            .post(
                lead,
                &format!("/api/v1/notes/{}/sign", n["id"]),
                json!({"version": n["version"]}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
    }
}

/// The clinic as a billing provider (fictitious identifiers of the right shape).
fn billing_clinic() -> circle_app::AppSettings {
    circle_app::AppSettings {
        clinic: circle_app::ClinicIdentity {
            name: "Test*Clinic".to_owned(),
            npi: Some("1234567893".to_owned()),
            tin: Some("123456789".to_owned()),
            address: Some(
                circle_domain::claim837::ClinicAddress::parse(
                    "1 Main St",
                    "Boston",
                    "MA",
                    "02110-1234",
                    "617-555-0100",
                )
                .unwrap(),
            ),
        },
        ..circle_app::AppSettings::default()
    }
}

#[tokio::test]
async fn the_837p_counts_its_segments_makes_one_clm_per_claim_and_numbers_its_controls_once() {
    let t = spawn_app_with(TestDb::new().await, billing_clinic()).await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (program, lead, group) = iop_week(&t, &dir).await;
    let a = member(&t, &dir, 1, program, group).await;
    let b = member(&t, &dir, 2, program, group).await;
    for c in [a, b] {
        let (s, d) = t
            .send(
                Method::PUT,
                &dir,
                &format!("/api/v1/clients/{c}/diagnoses"),
                json!({ "codes": ["F33.1", "F41.1"] }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{d}");
    }
    // Per diem, and this program's payer pays the sessions beside it.
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/programs/{program}"),
            json!({"version": 1, "per_diem_code": "S9480", "daily_minimum_minutes": 180,
                "sessions_billable_with_per_diem": true, "telehealth_place_of_service": "02"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (&p["place_of_service"], &p["telehealth_place_of_service"]),
        (&json!("11"), &json!("02"))
    );
    // A rendering NPI is checked (ten digits, the Luhn digit over 80840), naming the field.
    let (s, e) = t
        .send(
            Method::PUT,
            &dir,
            &format!("/api/v1/clinicians/{lead}/npi"),
            json!({"npi": "1234567890"}),
        )
        .await;
    assert_eq!(
        (s, &e["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("npi")),
        "{e}"
    );
    let (s, c) = t
        .send(
            Method::PUT,
            &dir,
            &format!("/api/v1/clinicians/{lead}/npi"),
            json!({"npi": "1245319599"}),
        )
        .await;
    assert_eq!(
        (s, &c["npi"]),
        (StatusCode::OK, &json!("1245319599")),
        "{c}"
    );

    t.token_for(
        "lead@example.test",
        Role::Clinician,
        Some(ClinicianId(lead)),
        None,
    )
    .await;
    let sessions = sessions_of(&t, &dir, group).await;
    // Friday evening: Monday's and Wednesday's sessions are over.
    t.clock.set("2026-05-08T22:00:00Z".parse().unwrap());
    let lead_token = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    attend_and_sign(&t, &lead_token, sessions[0], &[a, b]).await;
    attend_and_sign(&t, &lead_token, sessions[1], &[a]).await;

    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    // `to` is accepted for `until`.
    let r = t
        .http
        .get(t.url("/api/v1/billing/837p?from=2026-05-01&to=2026-05-31"))
        .bearer_auth(&dir)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/edi-x12");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let file = r.text().await.unwrap();
    let segs: Vec<Vec<&str>> = file
        .split('~')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.split('*').collect())
        .collect();
    let ids = |tag: &str| -> Vec<usize> {
        segs.iter()
            .enumerate()
            .filter(|(_, s)| s[0] == tag)
            .map(|(i, _)| i)
            .collect()
    };
    let (isa, gs, st, se, ge, iea) = (
        ids("ISA"),
        ids("GS"),
        ids("ST"),
        ids("SE"),
        ids("GE"),
        ids("IEA"),
    );
    assert_eq!((isa.len(), iea.len()), (1, 1), "one interchange");
    assert_eq!(st.len(), se.len());
    // SE01 counts the segments from ST to SE inclusive, SE02 repeats ST02.
    for (st, se) in st.iter().zip(&se) {
        assert_eq!(segs[*se][1], (se - st + 1).to_string(), "{file}");
        assert_eq!(segs[*se][2], segs[*st][2]);
    }
    // GE01 counts the transaction sets, IEA01 the functional groups; each trailer repeats
    // its header's control number.
    assert_eq!(segs[ge[0]][1], st.len().to_string());
    assert_eq!(segs[ge[0]][2], segs[gs[0]][6]);
    assert_eq!(segs[iea[0]][1], gs.len().to_string());
    assert_eq!(segs[iea[0]][2], segs[isa[0]][13]);
    assert_eq!(segs[isa[0]][15], "T", "test data until payers are recorded");
    // Control numbers unique in the file: transaction sets, claims, service lines.
    for (tag, field) in [("ST", 2), ("CLM", 1), ("REF", 2)] {
        let values: Vec<&str> = ids(tag).iter().map(|i| segs[*i][field]).collect();
        let mut unique = values.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            values.len(),
            unique.len(),
            "{tag}{field:02} repeats: {values:?}"
        );
    }
    // One CLM per claim (client, program, day): a on Monday and Wednesday, b on Monday.
    let clm = ids("CLM");
    assert_eq!(clm.len(), 3, "{file}");
    // Each day's three hours meet the daily minimum: every claim has its session line and
    // its per-diem line, both billable by this program's setting.
    assert_eq!(ids("SV1").len(), 6, "{file}");
    let sv1: Vec<&str> = ids("SV1").iter().map(|i| segs[*i][1]).collect();
    assert!(
        sv1.iter().all(|p| p.ends_with(":95")),
        "telehealth: {sv1:?}"
    );
    assert!(
        clm.iter().all(|i| segs[*i][5] == "02:B:1"),
        "POS 02 on every claim"
    );
    // The rendering clinician on every session line; the clinic on the billing loop.
    assert_eq!(
        ids("NM1")
            .iter()
            .filter(|i| segs[**i][1] == "82")
            .map(|i| segs[*i][9])
            .collect::<Vec<_>>(),
        ["1245319599"; 3]
    );
    assert!(
        file.contains("NM1*85*2*TEST CLINIC*****XX*1234567893~"),
        "{file}"
    );

    // One `billing.export` audit entry naming both clients.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (_, audit) = t.get(&admin, "/api/v1/audit?action=billing.export").await;
    let done: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(done.len(), 1, "{audit}");
    let mut named = vec![a, b];
    named.sort_unstable();
    assert_eq!(done[0]["client_ids"], json!(named));

    // Clinicians cannot fetch it.
    let lead_token = t.login("lead@example.test", TEST_PASSWORD).await.unwrap();
    let (s, _) = t
        .get(
            &lead_token,
            "/api/v1/billing/837p?from=2026-05-01&until=2026-05-31",
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_837p_is_refused_naming_the_settings_a_clinic_has_not_configured() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (s, p) = t
        .get(
            &dir,
            "/api/v1/billing/837p?from=2026-05-01&until=2026-05-31",
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&Value> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["field"])
        .collect();
    assert_eq!(
        fields,
        [
            &json!("clinic_npi"),
            &json!("clinic_tin"),
            &json!("clinic_address")
        ]
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

/// The chart's weekly hours are the compliance report's, week by week (issue 16: the chart
/// reads its weeks in two statements for the whole range, the report one week for many
/// clients): across a step down mid-week, attended and missed sessions, weeks with no
/// group yet, and the current week still running.
#[tokio::test]
async fn the_charts_weekly_hours_are_the_compliance_reports_week_by_week() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (program, _lead, group) = iop_week(&t, &dir).await;
    let stepped = member(&t, &dir, 1, program, group).await;
    let stayed = member(&t, &dir, 2, program, group).await;
    let (s, made) = t
        .post(
            &dir,
            &format!("/api/v1/groups/{group}/sessions/materialize"),
            json!({"from": "2026-05-04", "weeks": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{made}");
    let (_, listed) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-24"),
        )
        .await;
    let sessions: Vec<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(sessions.len(), 9, "{listed}");

    // Wednesday of the third week: the first two weeks are over.
    t.clock.set("2026-05-20T18:00:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    for (i, session) in sessions.iter().take(5).enumerate() {
        for (client, status) in [
            (stayed, "present"),
            (
                stepped,
                if i % 2 == 0 {
                    "present"
                } else {
                    "absent_excused"
                },
            ),
        ] {
            let (s, a) = t
                .send(
                    Method::PUT,
                    &dir,
                    &format!("/api/v1/sessions/{session}/attendance/{client}"),
                    json!({"status": status}),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{a}");
        }
    }
    // A step down to outpatient on the second week's Wednesday: that week's level is the
    // one in force at its end.
    let (s, e) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{stepped}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "2026-05-13"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");

    let director = t.app.authenticate(&dir).await.unwrap();
    for client in [stepped, stayed] {
        let chart = t
            .app
            .chart(&director, circle_domain::ids::ClientId(client))
            .await
            .unwrap();
        let weeks = chart.clinical.unwrap().weeks;
        assert_eq!(weeks.len(), 8, "eight weeks, each in care: {weeks:?}");
        assert!(
            weeks.iter().filter(|w| w.attended_minutes > 0).count() >= 2,
            "{weeks:?}"
        );
        for w in &weeks {
            let report = t
                .app
                .compliance(&director, Some(w.week_start), None)
                .await
                .unwrap();
            let theirs = report
                .iter()
                .find(|r| r.client_id == w.client_id)
                .unwrap_or_else(|| panic!("{} not in {report:?}", w.week_start));
            assert_eq!(theirs, w, "week of {}", w.week_start);
        }
    }
    let chart = t
        .app
        .chart(&director, circle_domain::ids::ClientId(stepped))
        .await
        .unwrap();
    let levels: Vec<String> = chart
        .clinical
        .unwrap()
        .weeks
        .iter()
        .map(|w| format!("{} {:?}", w.week_start, w.level_of_care))
        .collect();
    assert_eq!(
        levels[5..],
        [
            "2026-05-04 Iop".to_owned(),
            "2026-05-11 Outpatient".to_owned(),
            "2026-05-18 Outpatient".to_owned()
        ],
        "{levels:?}"
    );
}
