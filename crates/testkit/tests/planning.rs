//! The placement planner through the JSON API: a small IOP clinic with a morning and an
//! evening track and a skills group, a separation pair and a member who stepped down,
//! planned and applied — on the database `TEST_DATABASE_URL` names (SQLite when unset).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClinicianId;
use circle_domain::user::Role;
use circle_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Clinic {
    director: String,
    program: i64,
    lead: i64,
    morning: i64,
    evening: i64,
    skills: i64,
    /// c[0], c[1]: morning, separated from each other; c[2], c[3]: morning;
    /// c[4]..c[7]: evening.
    c: Vec<i64>,
    /// An evening member who has stepped down to outpatient.
    stepped_down: i64,
    stepped_down_membership: i64,
}

const MORNING: &[&str] = &["monday", "wednesday", "friday"];

fn windows(start: &str, end: &str) -> Value {
    let mut w: Vec<Value> = MORNING
        .iter()
        .map(|d| json!({"weekday": d, "start": start, "end": end}))
        .collect();
    w.push(json!({"weekday": "tuesday", "start": "17:00", "end": "21:00"}));
    Value::Array(w)
}

async fn client(t: &TestApp, token: &str, n: u32, availability: Value) -> i64 {
    let (s, c) = t
        .post(
            token,
            "/api/v1/clients",
            json!({"record_number": format!("P-{n:04}"),
            "given_name": format!("Given{n}"), "family_name": "Testcase",
            "date_of_birth": "1985-07-01", "referral_source": "program_admission",
            "concerns": ["depression"], "availability": availability}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            token,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    id
}

async fn group(
    t: &TestApp,
    token: &str,
    program: &Value,
    lead: i64,
    name: &str,
    meetings: Value,
    max: u32,
) -> i64 {
    let (s, g) = t
        .post(
            token,
            "/api/v1/groups",
            json!({"program_id": program["id"], "name": name,
            "kind": "process", "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "focus_concerns": ["depression"], "min_size": 2, "max_size": max,
            "meetings": meetings, "lead_facilitator_id": lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    g["id"].as_i64().unwrap()
}

async fn clinic(t: &TestApp) -> Clinic {
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (s, program) = t
        .post(
            &director,
            "/api/v1/programs",
            json!({"name": "Adult IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let (s, lead) = t
        .post(&director, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": "Testcase",
            "email": "lead@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-1", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{lead}");
    let lead = lead["id"].as_i64().unwrap();
    let block = |start: &str| {
        Value::Array(
            MORNING
                .iter()
                .map(|d| json!({"weekday": d, "start": start, "minutes": 180}))
                .collect(),
        )
    };
    let morning = group(
        t,
        &director,
        &program,
        lead,
        "Morning track",
        block("09:00"),
        4,
    )
    .await;
    let evening = group(
        t,
        &director,
        &program,
        lead,
        "Evening track",
        block("18:00"),
        4,
    )
    .await;
    let skills = group(
        t,
        &director,
        &program,
        lead,
        "Tuesday skills",
        json!([{"weekday": "tuesday", "start": "18:00", "minutes": 90}]),
        6,
    )
    .await;
    let mut c = vec![];
    for n in 0..4 {
        c.push(client(t, &director, n, windows("08:00", "13:00")).await);
    }
    for n in 4..8 {
        c.push(client(t, &director, n, windows("17:00", "22:00")).await);
    }
    let (s, sep) = t
        .post(
            &director,
            &format!("/api/v1/clients/{}/separations", c[0]),
            json!({"other_client_id": c[1]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sep}");
    // An evening member who then steps down to outpatient: the group no longer fits.
    let stepped_down = client(t, &director, 8, windows("17:00", "22:00")).await;
    let (s, m) = t
        .post(
            &director,
            &format!("/api/v1/groups/{evening}/memberships"),
            json!({"client_id": stepped_down, "start_date": "2026-05-04"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let (s, e) = t
        .post(
            &director,
            &format!("/api/v1/clients/{stepped_down}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "2026-05-04"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    Clinic {
        director,
        program: program["id"].as_i64().unwrap(),
        lead,
        morning,
        evening,
        skills,
        c,
        stepped_down,
        stepped_down_membership: m["id"].as_i64().unwrap(),
    }
}

fn pairs(v: &Value) -> Vec<(i64, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["client_id"].as_i64().unwrap(),
                p["group_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn propose(t: &TestApp, token: &str) -> (StatusCode, Value) {
    t.post(
        token,
        "/api/v1/plan/proposals",
        json!({"time_limit_ms": 500}),
    )
    .await
}

async fn active_members(t: &TestApp, token: &str, group: i64) -> Vec<i64> {
    let (s, page) = t
        .get(token, &format!("/api/v1/groups/{group}/memberships"))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["end_date"].is_null())
        .map(|m| m["client_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_proposal_places_the_eligible_keeps_separations_apart_and_explains_the_rest() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let (s, p) = propose(&t, &k.director).await;
    assert_eq!(s, StatusCode::OK, "{p}");

    let placed: Vec<(i64, i64)> =
        [pairs(&p["new_placements"]), pairs(&p["kept_placements"])].concat();
    let in_group = |c: i64, g: i64| placed.contains(&(c, g));
    // The evening track fills with the four evening clients; the morning track takes the
    // two unseparated morning clients and one of the separated pair.
    for &c in &k.c[4..8] {
        assert!(in_group(c, k.evening), "evening client {c} placed: {p}");
    }
    for &c in &k.c[2..4] {
        assert!(in_group(c, k.morning), "morning client {c} placed: {p}");
    }
    assert_eq!(
        [k.c[0], k.c[1]]
            .iter()
            .filter(|&&c| in_group(c, k.morning))
            .count(),
        1,
        "one of the separated pair in the morning track: {p}"
    );
    // Never together, in any group.
    for g in [k.morning, k.evening, k.skills] {
        assert!(
            !(in_group(k.c[0], g) && in_group(k.c[1], g)),
            "separated pair together in {g}: {p}"
        );
    }
    assert!(
        placed.iter().all(|&(c, _)| c != k.stepped_down),
        "the stepped-down client is placed nowhere: {p}"
    );

    // The stepped-down member's placement ends, with the rule that ends it.
    let ended = p["ended_placements"].as_array().unwrap();
    assert_eq!(ended.len(), 1, "{p}");
    assert_eq!(ended[0]["client_id"], k.stepped_down);
    assert_eq!(ended[0]["group_id"], k.evening);
    assert_eq!(ended[0]["reason"], "level_of_care_not_eligible");

    // Unmet minutes are explained: the separated client left out of the morning track,
    // and the outpatient client no IOP group accepts.
    let unmet = p["unmet"].as_array().unwrap();
    let left_out = if in_group(k.c[0], k.morning) {
        k.c[1]
    } else {
        k.c[0]
    };
    let entry = unmet
        .iter()
        .find(|u| u["client_id"] == left_out)
        .unwrap_or_else(|| panic!("unmet entry for {left_out}: {p}"));
    assert_eq!(entry["required_minutes"], 540);
    assert!(entry["unmet_minutes"].as_i64().unwrap() > 0, "{entry}");
    assert!(
        entry["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "separation" && r["group_id"] == k.morning),
        "the separation is named: {entry}"
    );
    let outpatient = unmet
        .iter()
        .find(|u| u["client_id"] == k.stepped_down)
        .unwrap_or_else(|| panic!("unmet entry for the outpatient client: {p}"));
    assert_eq!(outpatient["reasons"][0]["kind"], "no_eligible_group");
    assert!(p["score"].is_i64(), "{p}");
    assert!(p["bound"].is_i64(), "{p}");
    assert!(p["score"].as_i64() <= p["bound"].as_i64(), "{p}");

    // Planning the one program sees the same clients and groups here; an unknown program
    // is 404.
    let (s, one) = t
        .post(
            &k.director,
            "/api/v1/plan/proposals",
            json!({"program_id": k.program, "time_limit_ms": 500}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["program_id"], k.program);
    assert_eq!(one["groups_considered"], 3);
    assert_eq!(one["clients_considered"], p["clients_considered"]);
    assert_eq!(one["score"], p["score"]);
    let (s, one) = t
        .post(
            &k.director,
            "/api/v1/plan/proposals",
            json!({"program_id": 999_999}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{one}");
}

#[tokio::test]
async fn applying_enrolls_the_new_placements_and_refuses_one_that_became_invalid() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let (s, p) = propose(&t, &k.director).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let new = pairs(&p["new_placements"]);
    assert!(!new.is_empty());

    // The director ends the stepped-down member's placement, as the proposal says…
    let (s, m) = t
        .send(
            Method::PATCH,
            &k.director,
            &format!("/api/v1/memberships/{}", k.stepped_down_membership),
            json!({"version": 1, "status": "discharged", "end_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    // …but meanwhile intake fills a seat of the evening track with a newcomer.
    let newcomer = client(&t, &k.director, 9, windows("17:00", "22:00")).await;
    let (s, m) = t
        .post(
            &k.director,
            &format!("/api/v1/groups/{}/memberships", k.evening),
            json!({"client_id": newcomer, "start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");

    let placements: Vec<Value> = new
        .iter()
        .map(|(c, g)| json!({"client_id": c, "group_id": g}))
        .collect();
    let (s, results) = t
        .post(
            &k.director,
            "/api/v1/plan/apply",
            json!({"start_date": "2026-05-05", "placements": placements}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{results}");
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), new.len());
    let refused: Vec<&Value> = results
        .iter()
        .filter(|r| r["outcome"] == "refused")
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "only the last evening seat is refused: {results:?}"
    );
    assert_eq!(refused[0]["group_id"], k.evening);
    assert_eq!(refused[0]["code"], "group_full");
    assert!(refused[0]["message"].as_str().unwrap().contains("full"));

    // Every applied placement is a membership now.
    for r in results.iter().filter(|r| r["outcome"] == "applied") {
        assert!(r["membership_id"].is_i64(), "{r}");
        let members = active_members(&t, &k.director, r["group_id"].as_i64().unwrap()).await;
        assert!(members.contains(&r["client_id"].as_i64().unwrap()), "{r}");
    }
    let evening = active_members(&t, &k.director, k.evening).await;
    assert_eq!(
        evening.len(),
        4,
        "the evening track is full, not over: {evening:?}"
    );

    // Applying the same placements again changes nothing: each is refused by its rule.
    let (s, again) = t
        .post(
            &k.director,
            "/api/v1/plan/apply",
            json!({"start_date": "2026-05-05", "placements": [{"client_id": k.c[2], "group_id": k.morning}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again[0]["outcome"], "refused");
    assert_eq!(again[0]["code"], "already_member");
}

#[tokio::test]
async fn a_clinician_may_neither_plan_nor_apply() {
    let t = spawn_app().await;
    let k = clinic(&t).await;
    let clin = t
        .token_for(
            "clin@example.test",
            Role::Clinician,
            Some(ClinicianId(k.lead)),
            None,
        )
        .await;
    let (s, problem) = propose(&t, &clin).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{problem}");
    let (s, problem) = t
        .post(
            &clin,
            "/api/v1/plan/apply",
            json!({"start_date": "2026-05-05", "placements": [{"client_id": k.c[2], "group_id": k.morning}]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{problem}");
    assert!(active_members(&t, &k.director, k.morning).await.is_empty());
}

#[tokio::test]
async fn a_time_limit_outside_100_to_10000_ms_is_refused_with_422() {
    let t = spawn_app().await;
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    for ms in [0, 99, 10_001] {
        let (s, problem) = t
            .post(
                &director,
                "/api/v1/plan/proposals",
                json!({"time_limit_ms": ms}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "time_limit_ms");
    }
}
