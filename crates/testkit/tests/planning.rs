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
    let stepped_down_membership = join(t, &director, evening, stepped_down, "2026-05-04").await;
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
        stepped_down_membership,
    }
}

/// Enrolls `client` in `group` from `start` through the API, asserting it was created.
async fn join(t: &TestApp, token: &str, group: i64, client: i64, start: &str) -> i64 {
    let (s, m) = t
        .post(
            token,
            &format!("/api/v1/groups/{group}/memberships"),
            json!({"client_id": client, "start_date": start}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    m["id"].as_i64().unwrap()
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
    join(&t, &k.director, k.evening, newcomer, "2026-05-05").await;

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

// Planner runs: started in the background, read while and after they run, approved in
// full or in part in one transaction that re-checks every rule. Their clinic is the one
// above plus a morning client placed in the evening track (a move).

async fn clinic_with_a_move(t: &TestApp) -> Clinic {
    let k = clinic(t).await;
    join(t, &k.director, k.evening, k.c[3], "2026-05-04").await;
    k
}

async fn run_to_done(t: &TestApp, token: &str, body: Value) -> Value {
    let (s, run) = t.post(token, "/api/v1/plan/runs", body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    assert!(
        ["queued", "running", "done"].contains(&run["state"].as_str().unwrap()),
        "{run}"
    );
    let id = run["id"].as_i64().unwrap();
    for _ in 0..600 {
        let (s, run) = t.get(token, &format!("/api/v1/plan/runs/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{run}");
        let progress = run["progress"].as_i64().unwrap();
        assert!((0..=100).contains(&progress), "{run}");
        match run["state"].as_str().unwrap() {
            "queued" | "running" => {
                assert!(
                    run["proposal"].is_null(),
                    "no proposal while running: {run}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            "done" => return run,
            other => panic!("run ended {other}: {run}"),
        }
    }
    panic!("the run never finished");
}

fn item(c: i64, g: i64) -> Value {
    json!({"client_id": c, "group_id": g})
}

#[tokio::test]
async fn a_run_goes_from_queued_to_done_with_a_proposal_of_placements_moves_and_endings() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    let run = run_to_done(
        &t,
        &k.director,
        json!({"program_id": k.program, "time_limit_ms": 500}),
    )
    .await;
    assert_eq!(run["progress"], 100, "{run}");
    assert_eq!(run["program_id"], k.program);
    assert_eq!(run["time_limit_ms"], 500);
    assert!(run["finished_at"].is_string(), "{run}");
    assert!(run["error"].is_null(), "{run}");
    let p = &run["proposal"];
    // The morning client in the evening track moves to the morning track.
    assert_eq!(
        run["moves"],
        json!([{"client_id": k.c[3], "from_group_id": k.evening, "to_group_id": k.morning}]),
        "{run}"
    );
    assert!(pairs(&p["new_placements"]).contains(&(k.c[3], k.morning)));
    // The stepped-down client's membership ends, with its rule; unmet minutes explained.
    let ended = p["ended_placements"].as_array().unwrap();
    assert!(ended.iter().any(|e| e["client_id"] == k.stepped_down
        && e["group_id"] == k.evening
        && e["reason"] == "level_of_care_not_eligible"));
    let unmet = p["unmet"].as_array().unwrap();
    let outpatient = unmet
        .iter()
        .find(|u| u["client_id"] == k.stepped_down)
        .unwrap_or_else(|| panic!("unmet entry for the outpatient client: {p}"));
    assert_eq!(outpatient["reasons"][0]["kind"], "no_eligible_group");
    assert!(run["decisions"].as_array().unwrap().is_empty());

    // The list shows it, newest first, without the proposal.
    let (s, list) = t.get(&k.director, "/api/v1/plan/runs").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], run["id"]);
    assert_eq!(list[0]["state"], "done");
    assert!(list[0]["proposal"].is_null());

    // Nothing was written to the memberships by planning.
    assert!(active_members(&t, &k.director, k.morning).await.is_empty());

    // Bad starts: an unknown program 404, a time limit out of range 422.
    let (s, _) = t
        .post(
            &k.director,
            "/api/v1/plan/runs",
            json!({"program_id": 999_999}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, problem) = t
        .post(
            &k.director,
            "/api/v1/plan/runs",
            json!({"time_limit_ms": 20_000}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (s, _) = t.get(&k.director, "/api/v1/plan/runs/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn approving_part_applies_exactly_the_chosen_items_and_never_twice() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    let run = run_to_done(&t, &k.director, json!({"time_limit_ms": 500})).await;
    let id = run["id"].as_i64().unwrap();
    let url = format!("/api/v1/plan/runs/{id}/approve");
    // Two items: one evening client's new placement, and the move.
    let evening_client = k.c[4];
    let (s, d) = t
        .post(
            &k.director,
            &url,
            json!({"start_date": "2026-05-05",
                "items": [item(evening_client, k.evening), item(k.c[3], k.morning)]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let d = d.as_array().unwrap();
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d.iter().all(|x| x["outcome"] == "applied"), "{d:?}");
    let mv = d.iter().find(|x| x["kind"] == "move").unwrap();
    assert_eq!(mv["from_group_id"], k.evening);
    assert!(d.iter().all(|x| x["decided_by"].is_i64()));

    // Exactly those: the morning track has only the moved client; the evening track keeps
    // the stepped-down member, gains one evening client and lost the moved one.
    assert_eq!(
        active_members(&t, &k.director, k.morning).await,
        vec![k.c[3]]
    );
    let mut evening = active_members(&t, &k.director, k.evening).await;
    evening.sort_unstable();
    let mut want = vec![k.stepped_down, evening_client];
    want.sort_unstable();
    assert_eq!(evening, want);

    // The run remembers the decisions; approving the same item again is refused.
    let (_, read) = t.get(&k.director, &format!("/api/v1/plan/runs/{id}")).await;
    assert_eq!(read["decisions"].as_array().unwrap().len(), 2, "{read}");
    let (s, again) = t
        .post(
            &k.director,
            &url,
            json!({"start_date": "2026-05-05", "items": [item(evening_client, k.evening)]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again[0]["outcome"], "refused");
    assert_eq!(again[0]["code"], "already_applied");
    assert_eq!(active_members(&t, &k.director, k.evening).await.len(), 2);

    // An item the proposal does not hold is refused with 422 and nothing applies.
    let (s, problem) = t
        .post(
            &k.director,
            &url,
            json!({"start_date": "2026-05-05",
                "items": [item(k.c[5], k.evening), item(k.c[5], k.morning)]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "items");
    assert_eq!(active_members(&t, &k.director, k.evening).await.len(), 2);

    // Approving all the rest now applies them (the ending first, so every evening seat
    // fits); the already applied ones are refused as such.
    let (s, rest) = t
        .post(&k.director, &url, json!({"start_date": "2026-05-05"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{rest}");
    let rest = rest.as_array().unwrap();
    let refused: Vec<&Value> = rest.iter().filter(|x| x["outcome"] == "refused").collect();
    assert_eq!(refused.len(), 2, "{rest:?}");
    assert!(refused.iter().all(|x| x["code"] == "already_applied"));
    assert_eq!(rest[0]["kind"], "end", "endings come first: {rest:?}");
    let mut evening = active_members(&t, &k.director, k.evening).await;
    evening.sort_unstable();
    let mut want = k.c[4..8].to_vec();
    want.sort_unstable();
    assert_eq!(
        evening, want,
        "the evening track is the four evening clients"
    );
}

#[tokio::test]
async fn an_item_whose_group_filled_meanwhile_is_refused_with_its_rule_and_the_rest_applies() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    let run = run_to_done(&t, &k.director, json!({"time_limit_ms": 500})).await;
    let id = run["id"].as_i64().unwrap();
    let placed = pairs(&run["proposal"]["new_placements"]);
    let morning: Vec<i64> = placed
        .iter()
        .filter(|(_, g)| *g == k.morning)
        .map(|(c, _)| *c)
        .collect();
    assert_eq!(morning.len(), 3, "{run}");
    assert!(morning.contains(&k.c[3]), "the move is one of them: {run}");
    // Meanwhile two newcomers join the morning track, and so does the one of the separated
    // pair the plan left out: three of its four seats are taken.
    for n in [9, 10] {
        let newcomer = client(&t, &k.director, n, windows("08:00", "13:00")).await;
        join(&t, &k.director, k.morning, newcomer, "2026-05-05").await;
    }
    let (left_out, proposed) = if morning.contains(&k.c[1]) {
        (k.c[0], k.c[1])
    } else {
        (k.c[1], k.c[0])
    };
    join(&t, &k.director, k.morning, left_out, "2026-05-05").await;
    // Approving the three morning items: the move comes first and takes the last seat; the
    // other two meet a full group (and one its separation too). Both are refused with the
    // rule's code and message; the move applies.
    let items: Vec<Value> = morning.iter().map(|c| item(*c, k.morning)).collect();
    let (s, d) = t
        .post(
            &k.director,
            &format!("/api/v1/plan/runs/{id}/approve"),
            json!({"start_date": "2026-05-05", "items": items}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let d = d.as_array().unwrap();
    assert_eq!(d.len(), 3, "{d:?}");
    assert_eq!(d[0]["kind"], "move", "{d:?}");
    assert_eq!(d[0]["outcome"], "applied", "{d:?}");
    let refused: Vec<&Value> = d.iter().filter(|x| x["outcome"] == "refused").collect();
    assert_eq!(refused.len(), 2, "{d:?}");
    for r in &refused {
        let code = r["code"].as_str().unwrap();
        assert!(["group_full", "separation"].contains(&code), "{r}");
        assert!(!r["message"].as_str().unwrap().is_empty(), "{r}");
        assert!(r["membership_id"].is_null(), "{r}");
    }
    let other = morning
        .iter()
        .find(|c| **c != k.c[3] && **c != proposed)
        .copied()
        .unwrap();
    let r = refused.iter().find(|r| r["client_id"] == other).unwrap();
    assert_eq!(r["code"], "group_full", "{r}");
    // What applied is there, what was refused is not, and the group is exactly full.
    let members = active_members(&t, &k.director, k.morning).await;
    assert_eq!(members.len(), 4, "{members:?}");
    assert!(members.contains(&k.c[3]));
    assert!(!members.contains(&proposed) && !members.contains(&other));
    assert!(
        !active_members(&t, &k.director, k.evening)
            .await
            .contains(&k.c[3])
    );

    // The run records each decision (the refused ones may be approved again later).
    let (_, read) = t.get(&k.director, &format!("/api/v1/plan/runs/{id}")).await;
    let decisions = read["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{read}");
    assert_eq!(
        decisions
            .iter()
            .filter(|x| x["outcome"] == "refused")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_refused_move_leaves_the_client_where_they_were() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    let run = run_to_done(&t, &k.director, json!({"time_limit_ms": 500})).await;
    let id = run["id"].as_i64().unwrap();
    // The morning track fills up completely before the move is approved.
    for n in 9..13 {
        let newcomer = client(&t, &k.director, n, windows("08:00", "13:00")).await;
        join(&t, &k.director, k.morning, newcomer, "2026-05-05").await;
    }
    let (s, d) = t
        .post(
            &k.director,
            &format!("/api/v1/plan/runs/{id}/approve"),
            json!({"start_date": "2026-05-05", "items": [item(k.c[3], k.morning)]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d[0]["kind"], "move");
    assert_eq!(d[0]["outcome"], "refused");
    assert_eq!(d[0]["code"], "group_full");
    // Still in the evening track: the ending of the move was rolled back with it.
    assert!(
        active_members(&t, &k.director, k.evening)
            .await
            .contains(&k.c[3])
    );
    assert!(
        !active_members(&t, &k.director, k.morning)
            .await
            .contains(&k.c[3])
    );
}

#[tokio::test]
async fn a_run_cut_off_by_a_restart_or_a_lost_worker_reads_as_interrupted() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    // The director's own listing, from the gate (the run names them as its starter).
    let director = t.app.authenticate(&k.director).await.unwrap();
    let at = t.app.now();
    let listing =
        t.db.store
            .listing::<circle_store::access::purpose::PlanRun>(&director, at)
            .await
            .unwrap();
    // A run recorded but never worked on (as if the process died at once).
    let orphan =
        t.db.store
            .create_plan_run(&listing, None, 500, at)
            .await
            .unwrap();
    let (_, run) = t
        .get(&k.director, &format!("/api/v1/plan/runs/{orphan}"))
        .await;
    assert_eq!(run["state"], "queued", "fresh: {run}");
    // At start-up a live run with a fresh heartbeat is left alone: another server on the
    // same database may be working on it.
    assert_eq!(t.app.fail_interrupted_plan_runs().await.unwrap(), 0);
    let (_, run) = t
        .get(&k.director, &format!("/api/v1/plan/runs/{orphan}"))
        .await;
    assert_eq!(run["state"], "queued", "still live: {run}");
    // A minute without a heartbeat: its worker is gone, and start-up fails it.
    t.clock
        .set(at.checked_add(jiff::SignedDuration::from_secs(61)).unwrap());
    assert_eq!(t.app.fail_interrupted_plan_runs().await.unwrap(), 1);
    let (_, run) = t
        .get(&k.director, &format!("/api/v1/plan/runs/{orphan}"))
        .await;
    assert_eq!(run["state"], "failed", "{run}");
    assert_eq!(run["error"], "interrupted");
    // A failed run cannot be approved.
    let (s, problem) = t
        .post(
            &k.director,
            &format!("/api/v1/plan/runs/{orphan}/approve"),
            json!({"start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");

    // A run whose heartbeat stopped two minutes ago is failed when it is read.
    let second =
        t.db.store
            .create_plan_run(&listing, None, 500, at)
            .await
            .unwrap();
    t.clock
        .set(at.checked_add(jiff::SignedDuration::from_mins(2)).unwrap());
    let (_, list) = t.get(&k.director, "/api/v1/plan/runs").await;
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == second)
        .unwrap();
    assert_eq!(listed["state"], "failed", "{listed}");
    assert_eq!(listed["error"], "interrupted");
}

#[tokio::test]
async fn only_a_director_may_start_read_list_or_approve_runs() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    let run = run_to_done(&t, &k.director, json!({"time_limit_ms": 300})).await;
    let id = run["id"].as_i64().unwrap();
    let clin = t
        .token_for(
            "clin@example.test",
            Role::Clinician,
            Some(ClinicianId(k.lead)),
            None,
        )
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    for token in [&clin, &intake] {
        let (s, _) = t.post(token, "/api/v1/plan/runs", json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = t.get(token, "/api/v1/plan/runs").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = t.get(token, &format!("/api/v1/plan/runs/{id}")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = t
            .post(
                token,
                &format!("/api/v1/plan/runs/{id}/approve"),
                json!({"start_date": "2026-05-05"}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    assert!(active_members(&t, &k.director, k.morning).await.is_empty());
    let (_, list) = t.get(&k.director, "/api/v1/plan/runs").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "no run started by others"
    );
}

#[tokio::test]
async fn the_weekly_cap_alone_never_ends_a_current_membership() {
    // Outpatient requires 1 h a week (cap 1 h 30 min); this client attends two 90-minute
    // outpatient groups, 3 h. Both are kept: the cap grows to what they attend now.
    let t = spawn_app().await;
    let k = t
        .clinic(circle_testkit::clinic::ClinicSpec {
            members: 0,
            level: "outpatient",
            ..Default::default()
        })
        .await;
    let program = json!({"id": k.program});
    let monday = json!([{"weekday": "monday", "start": "14:00", "minutes": 90}]);
    let tuesday = json!([{"weekday": "tuesday", "start": "14:00", "minutes": 90}]);
    let mut groups = vec![];
    for (name, meetings) in [("Monday anxiety", monday), ("Tuesday grief", tuesday)] {
        let (s, g) = t
            .post(
                &k.director,
                "/api/v1/groups",
                json!({"program_id": program["id"], "name": name, "kind": "process",
                    "eligible_levels": ["outpatient"], "enrollment": {"model": "open"},
                    "min_size": 1, "max_size": 8, "meetings": meetings,
                    "lead_facilitator_id": k.lead}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        groups.push(g["id"].as_i64().unwrap());
    }
    let (s, c) = t
        .post(
            &k.director,
            "/api/v1/clients",
            json!({"record_number": "OP-1", "given_name": "Two", "family_name": "Groups",
                "date_of_birth": "1980-01-01", "referral_source": "program_admission",
                "availability": [{"weekday": "monday", "start": "13:00", "end": "16:00"},
                    {"weekday": "tuesday", "start": "13:00", "end": "16:00"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let c = c["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{c}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    for g in &groups {
        join(&t, &k.director, *g, c, "2026-05-04").await;
    }
    let run = run_to_done(&t, &k.director, json!({"time_limit_ms": 300})).await;
    let p = &run["proposal"];
    assert!(p["ended_placements"].as_array().unwrap().is_empty(), "{p}");
    let kept = pairs(&p["kept_placements"]);
    for g in &groups {
        assert!(kept.contains(&(c, *g)), "{p}");
    }
}

#[tokio::test]
async fn the_planner_pages_name_each_broken_field_and_start_or_apply_nothing() {
    let t = spawn_app().await;
    let k = clinic_with_a_move(&t).await;
    let csrf = circle_app::web_session::csrf_token(&k.director);
    // A program not on the list and a time limit that is no number: both named.
    let r = t
        .page_form(
            &k.director,
            "/planner/runs",
            &[
                ("csrf", &csrf),
                ("program", "Adult IOP"),
                ("time_limit", "soon"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body
            .contains("Program: must be one of the listed choices"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Time limit: must be a whole number"),
        "{}",
        r.body
    );
    let (_, runs) = t.get(&k.director, "/api/v1/plan/runs").await;
    assert_eq!(runs, json!([]), "no run started");

    // An approval with a start that is no date and an item not of the proposal: both
    // named; with nothing ticked, the page says to tick one. Nothing is applied.
    let run = run_to_done(&t, &k.director, json!({"time_limit_ms": 500})).await;
    let approve = format!("/planner/runs/{}/approve", run["id"]);
    let r = t
        .page_form(
            &k.director,
            &approve,
            &[
                ("csrf", &csrf),
                ("item", "someone"),
                ("start_date", "next week"),
                ("approve", "selected"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("Start date: must be a date (YYYY-MM-DD)"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Item: must be items of this proposal"),
        "{}",
        r.body
    );
    let r = t
        .page_form(
            &k.director,
            &approve,
            &[
                ("csrf", &csrf),
                ("start_date", "2026-05-05"),
                ("approve", "selected"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("Item: tick at least one item"),
        "{}",
        r.body
    );
    assert_eq!(
        active_members(&t, &k.director, k.morning).await,
        Vec::<i64>::new()
    );
}
