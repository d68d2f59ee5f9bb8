//! Outcome measures and safety through the real HTTP server, on the database
//! `TEST_DATABASE_URL` names (SQLite when unset): scoring and bands, safety alerts and who
//! sees them, clinic instruments, change over time and the due list.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A small clinic: one IOP program, two groups each with its own lead and one member, and a
/// token per role. Index 0 is "ours", index 1 the other group's.
struct Clinic {
    program: i64,
    clients: [i64; 2],
    director: String,
    /// Lead of group 0 (client 0's clinician).
    clinician: String,
    /// Lead of group 1 (not client 0's clinician).
    other_clinician: String,
    intake: String,
    admin: String,
    /// Client 0 themself.
    client: String,
}

async fn clinic(t: &TestApp) -> Clinic {
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (s, program) = t
        .post(&director, "/api/v1/programs", json!({"name": "IOP", "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let program = program["id"].as_i64().unwrap();
    let mut leads = vec![];
    let mut clients = vec![];
    for n in 0..2 {
        let (s, lead) = t
            .post(&director, "/api/v1/clinicians", json!({"given_name": "L", "family_name": format!("T{n}"), "email": format!("lead{n}@example.test"),
                "licenses": [{"kind": "lmhc", "number": format!("L-{n}"), "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{lead}");
        let (s, group) = t
            .post(&director, "/api/v1/groups", json!({"program_id": program, "name": format!("G{n}"), "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": if n == 0 { "tuesday" } else { "wednesday" }, "start": "18:00", "minutes": 90}],
                "lead_facilitator_id": lead["id"]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{group}");
        let cid = new_client(t, &director, program, &format!("M-{n}"), "2026-04-01").await;
        let (s, m) = t
            .post(
                &director,
                &format!("/api/v1/groups/{}/memberships", group["id"]),
                json!({"client_id": cid, "start_date": "2026-05-05"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        leads.push(lead["id"].as_i64().unwrap());
        clients.push(cid);
    }
    Clinic {
        program,
        clients: [clients[0], clients[1]],
        clinician: t
            .token_for(
                "lead0@example.test",
                Role::Clinician,
                Some(ClinicianId(leads[0])),
                None,
            )
            .await,
        other_clinician: t
            .token_for(
                "lead1@example.test",
                Role::Clinician,
                Some(ClinicianId(leads[1])),
                None,
            )
            .await,
        intake: t
            .token_for("intake@example.test", Role::Intake, None, None)
            .await,
        admin: t
            .token_for("admin@example.test", Role::Admin, None, None)
            .await,
        client: t
            .token_for(
                "client@example.test",
                Role::Client,
                None,
                Some(ClientId(clients[0])),
            )
            .await,
        director,
    }
}

/// A client with an open IOP episode in `program` from `started_on`.
async fn new_client(t: &TestApp, token: &str, program: i64, mrn: &str, started_on: &str) -> i64 {
    let (s, client) = t
        .post(
            token,
            "/api/v1/clients",
            json!({"record_number": mrn, "given_name": "C", "family_name": "F",
            "date_of_birth": "1980-01-01", "referral_source": "self_referral"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let cid = client["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            token,
            &format!("/api/v1/clients/{cid}/episodes"),
            json!({"level_of_care": "iop", "program_id": program, "started_on": started_on}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    cid
}

/// PHQ-9 answers: `values[i]` for item i+1.
fn phq9(values: [i64; 9]) -> Value {
    let answers: serde_json::Map<String, Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i + 1).to_string(), json!(v)))
        .collect();
    json!({"instrument": "phq9", "answers": answers})
}

/// Answers of `n` items (0–3 each) summing to `total`, item `n` (PHQ-9's item 9) left at 0
/// so no alert is raised.
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

async fn record(t: &TestApp, token: &str, client: i64, body: Value) -> (StatusCode, Value) {
    t.post(token, &format!("/api/v1/clients/{client}/measures"), body)
        .await
}

async fn audit_count(t: &TestApp, c: &Clinic, action: &str, outcome: &str) -> usize {
    let (s, entries) = t
        .get(
            &c.admin,
            &format!("/api/v1/audit?action={action}&outcome={outcome}&limit=500"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{entries}");
    entries.as_array().unwrap().len()
}

#[tokio::test]
async fn an_item_nine_answer_alerts_the_clients_clinician_and_the_director_and_no_one_else() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let me = c.clients[0];

    // The client's own check-in: the alert is not shown to them.
    let (s, r) = record(&t, &c.client, me, phq9([1, 1, 0, 0, 0, 0, 0, 0, 1])).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["total"].as_i64(), r["severity"].as_str()),
        (Some(3), Some("minimal"))
    );
    assert!(r.get("alert_id").is_none(), "{r}");

    // The client's clinician and the director see it, open.
    for token in [&c.clinician, &c.director] {
        let (s, alerts) = t.get(token, "/api/v1/alerts").await;
        assert_eq!(s, StatusCode::OK, "{alerts}");
        let alerts = alerts.as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["client_id"], me);
        assert_eq!(alerts[0]["response_id"], r["id"]);
        assert_eq!(alerts[0]["state"], "open");
        assert_eq!(alerts[0]["items"], json!([{"item_id": "9", "value": 1}]));
        assert!(alerts[0]["action_taken"].is_null());
    }
    // The clinician sees the alert on the response too.
    let (_, list) = t
        .get(&c.clinician, &format!("/api/v1/clients/{me}/measures"))
        .await;
    assert!(list[0]["alert_id"].is_i64(), "{list}");

    // No one else: another clinician sees an empty list; intake, admin and the client are
    // refused.
    let (s, alerts) = t.get(&c.other_clinician, "/api/v1/alerts").await;
    assert_eq!((s, alerts), (StatusCode::OK, json!([])));
    for token in [&c.intake, &c.admin, &c.client] {
        let (s, _) = t.get(token, "/api/v1/alerts").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let (_, alerts) = t.get(&c.director, "/api/v1/alerts").await;
    let alert = alerts[0]["id"].as_i64().unwrap();
    let ack = format!("/api/v1/alerts/{alert}/acknowledge");
    let body = json!({"action_taken": "Called the client; safety plan reviewed."});
    let (s, _) = t.post(&c.other_clinician, &ack, body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for token in [&c.intake, &c.admin, &c.client] {
        let (s, _) = t.post(token, &ack, body.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // Nor do they reach the client's measures.
    let path = format!("/api/v1/clients/{me}/measures");
    let (s, _) = t.get(&c.other_clinician, &path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for token in [&c.intake, &c.admin] {
        let (s, _) = t.get(token, &path).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // The client reads their own responses, without the alert.
    let (s, own) = t.get(&c.client, &path).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(own.as_array().unwrap().len(), 1);
    assert!(own[0].get("alert_id").is_none(), "{own}");

    // Acknowledging needs what was done; it stays open until then.
    let (s, p) = t
        .post(&c.clinician, &ack, json!({"action_taken": "   "}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "action_taken");
    let (_, open) = t.get(&c.clinician, "/api/v1/alerts?state=open").await;
    assert_eq!(open.as_array().unwrap().len(), 1);

    // (Within the tokens' 15-minute idle limit.)
    t.clock.set("2026-05-04T13:10:00Z".parse().unwrap());
    let (s, done) = t.post(&c.clinician, &ack, body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "acknowledged");
    assert_eq!(done["acknowledged_at"], "2026-05-04T13:10:00Z");
    assert!(done["acknowledged_by"].is_i64());
    assert_eq!(done["action_taken"], body["action_taken"]);
    let (s, again) = t.post(&c.director, &ack, body.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "already_acknowledged");

    let (_, open) = t.get(&c.director, "/api/v1/alerts?state=open").await;
    assert_eq!(open, json!([]));
    let (_, acked) = t
        .get(&c.director, "/api/v1/alerts?state=acknowledged")
        .await;
    assert_eq!(acked[0]["action_taken"], body["action_taken"]);

    // Every read, change and refusal is in the audit trail.
    assert_eq!(audit_count(&t, &c, "measure.create", "success").await, 1);
    assert_eq!(audit_count(&t, &c, "alert.acknowledge", "success").await, 1);
    assert!(audit_count(&t, &c, "alert.acknowledge", "denied").await >= 4);
    assert!(audit_count(&t, &c, "alert.list", "denied").await >= 3);
    assert!(audit_count(&t, &c, "alert.list", "success").await >= 5);
}

#[tokio::test]
async fn open_alerts_come_first_oldest_first_and_a_zero_on_item_nine_raises_none() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let (s, _) = record(&t, &c.director, c.clients[0], phq9([3; 9])).await;
    assert_eq!(s, StatusCode::CREATED);
    let mut raised = vec![];
    for (i, (client, at)) in [
        (c.clients[1], "2026-05-04T09:00:00Z"),
        (c.clients[0], "2026-05-04T10:00:00Z"),
        (c.clients[1], "2026-05-04T11:00:00Z"),
    ]
    .into_iter()
    .enumerate()
    {
        t.clock.set(at.parse().unwrap());
        let mut values = [0; 9];
        values[8] = 1 + i as i64 % 3;
        let (s, r) = record(&t, &c.director, client, phq9(values)).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        raised.push(r["alert_id"].as_i64().unwrap());
    }
    // Only the three item-9 answers raised alerts (the all-3 one had item 9 = 3, so four).
    let (_, all) = t.get(&c.director, "/api/v1/alerts").await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let (s, _) = t
        .post(
            &c.director,
            &format!("/api/v1/alerts/{}/acknowledge", raised[0]),
            json!({"action_taken": "Reached by phone"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, all) = t.get(&c.director, "/api/v1/alerts").await;
    let order: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["state"].as_str().unwrap(),
                a["raised_at"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(order[0].0, "open");
    assert!(
        order[0].1 <= order[1].1 && order[1].1 <= order[2].1,
        "{order:?}"
    );
    assert_eq!(order[3].0, "acknowledged");
    assert_eq!(all[3]["id"], raised[0]);
    // The clinician of group 0 sees only client 0's two.
    let (_, mine) = t.get(&c.clinician, "/api/v1/alerts").await;
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|a| a["client_id"] == c.clients[0])
    );
    assert_eq!(mine.as_array().unwrap().len(), 2);
    // A bad state is a 400 naming it.
    let (s, p) = t.get(&c.director, "/api/v1/alerts?state=closed").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
}

/// Totals at band edges and the band each must get.
type Edges = &'static [(i64, &'static str)];

#[tokio::test]
async fn scores_and_bands_at_every_band_edge() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let cases: &[(&str, usize, Edges)] = &[
        (
            "phq9",
            9,
            &[
                (0, "minimal"),
                (4, "minimal"),
                (5, "mild"),
                (9, "mild"),
                (10, "moderate"),
                (14, "moderate"),
                (15, "moderately severe"),
                (19, "moderately severe"),
                (20, "severe"),
                (24, "severe"),
            ],
        ),
        (
            "gad7",
            7,
            &[
                (0, "minimal"),
                (4, "minimal"),
                (5, "mild"),
                (9, "mild"),
                (10, "moderate"),
                (14, "moderate"),
                (15, "severe"),
                (21, "severe"),
            ],
        ),
    ];
    for (code, n, edges) in cases {
        for (total, band) in *edges {
            let (s, r) = record(&t, &c.clinician, c.clients[0], summing(code, *n, *total)).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
            assert_eq!(r["total"], *total, "{code} {total}");
            assert_eq!(r["severity"], *band, "{code} {total}");
        }
    }
    // PHQ-9's top (27) needs item 9 = 3, which also raises an alert.
    let (s, r) = record(&t, &c.clinician, c.clients[0], phq9([3; 9])).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        (r["total"].as_i64(), r["severity"].as_str()),
        (Some(27), Some("severe"))
    );
    assert!(r["alert_id"].is_i64());

    // Bad answers are refused naming each item, and store nothing.
    let (_, before) = t
        .get(
            &c.director,
            &format!("/api/v1/clients/{}/measures", c.clients[0]),
        )
        .await;
    let mut bad = phq9([0; 9]);
    bad["answers"]["3"] = json!(4);
    bad["answers"].as_object_mut().unwrap().remove("5");
    bad["answers"]["10"] = json!(0);
    let (s, p) = record(&t, &c.director, c.clients[0], bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["answers.3", "answers.5", "answers"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    let (s, p) = record(
        &t,
        &c.director,
        c.clients[0],
        json!({"instrument": "nope", "answers": {}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let mut future = phq9([0; 9]);
    future["administered_at"] = json!("2026-05-05T13:00:00Z");
    let (s, p) = record(&t, &c.director, c.clients[0], future).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "administered_at");
    let (_, after) = t
        .get(
            &c.director,
            &format!("/api/v1/clients/{}/measures", c.clients[0]),
        )
        .await;
    assert_eq!(before, after);

    // Intake never records measures; another clinician cannot reach this client.
    let (s, _) = record(&t, &c.intake, c.clients[0], phq9([0; 9])).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = record(&t, &c.other_clinician, c.clients[0], phq9([0; 9])).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = record(&t, &c.client, c.clients[1], phq9([0; 9])).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

fn clinic_instrument(code: &str) -> Value {
    let yes_no = json!([{"value": 0, "label": "No"}, {"value": 1, "label": "Somewhat"}, {"value": 2, "label": "Yes"}]);
    json!({
        "code": code,
        "name": "Session check-in",
        "items": [
            {"id": "heard", "text": "I felt heard in group today", "options": yes_no},
            {"id": "safe", "text": "I felt safe in group today", "options": yes_no},
        ],
        "bands": [{"min": 0, "max": 1, "label": "low"}, {"min": 2, "max": 4, "label": "good"}],
        "respondents": ["client"],
        "reliable_change": 2,
        "direction": "higher_is_better",
    })
}

#[tokio::test]
async fn an_invalid_clinic_instrument_is_refused_with_reasons_and_nothing_is_stored() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let mut bad = clinic_instrument("checkin");
    bad["items"][1]["id"] = json!("heard");
    bad["items"][0]["options"] = json!([]);
    bad["bands"][1]["max"] = json!(3);
    bad["safety_items"] = json!(["nowhere"]);
    bad["loinc_panel"] = json!("12345");
    let (s, p) = t.post(&c.director, "/api/v1/instruments", bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "items[1].id",
        "items[0].options",
        "safety_items[0]",
        "loinc_panel",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    let (s, _) = t.get(&c.director, "/api/v1/instruments/checkin").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = t.get(&c.director, "/api/v1/instruments").await;
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["phq9", "gad7"]);

    // Bands that miss the top of the range are named.
    let mut gap = clinic_instrument("checkin");
    gap["bands"][1]["max"] = json!(3);
    let (s, p) = t.post(&c.director, "/api/v1/instruments", gap).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "bands");

    // A built-in cannot be replaced; only directors add instruments.
    let (s, p) = t
        .post(
            &c.director,
            "/api/v1/instruments",
            clinic_instrument("phq9"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    let (s, _) = t
        .post(
            &c.clinician,
            "/api/v1/instruments",
            clinic_instrument("checkin"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t.get(&c.director, "/api/v1/instruments/checkin").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_valid_clinic_instrument_can_then_be_answered() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let (s, i) = t
        .post(
            &c.director,
            "/api/v1/instruments",
            clinic_instrument("checkin"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{i}");
    assert_eq!(
        (i["total_min"].as_i64(), i["total_max"].as_i64()),
        (Some(0), Some(4))
    );
    assert_eq!(i["built_in"], false);
    let (s, _) = t
        .post(
            &c.director,
            "/api/v1/instruments",
            clinic_instrument("checkin"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The client sees it (self-report) and answers it.
    let (s, got) = t.get(&c.client, "/api/v1/instruments/checkin").await;
    assert_eq!(s, StatusCode::OK, "{got}");
    let me = c.clients[0];
    let (s, r) = record(
        &t,
        &c.client,
        me,
        json!({"instrument": "checkin", "answers": {"heard": 2, "safe": 1}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["total"].as_i64(), r["severity"].as_str()),
        (Some(3), Some("good"))
    );
    let (s, p) = record(
        &t,
        &c.client,
        me,
        json!({"instrument": "checkin", "answers": {"heard": 5}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (_, list) = t
        .get(&c.client, &format!("/api/v1/clients/{me}/measures"))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["instrument"], "checkin");
    assert_eq!(list[0]["answers"], json!({"heard": 2, "safe": 1}));

    // A clinician-rated instrument is not offered to the client, nor answerable by them.
    let mut rated = clinic_instrument("rated");
    rated["respondents"] = json!(["clinician"]);
    let (s, _) = t.post(&c.director, "/api/v1/instruments", rated).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, offered) = t.get(&c.client, "/api/v1/instruments").await;
    let codes: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["phq9", "gad7", "checkin"]);
    let (s, _) = t.get(&c.client, "/api/v1/instruments/rated").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let answers = json!({"instrument": "rated", "answers": {"heard": 0, "safe": 0}});
    let (s, _) = record(&t, &c.client, me, answers.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = record(&t, &c.clinician, me, answers).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn the_summary_flags_reliable_improvement_and_deterioration() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let me = c.clients[0];
    let at = |d: &str, mut body: Value| {
        body["administered_at"] = json!(format!("{d}T12:00:00Z"));
        body
    };
    for (d, phq, gad) in [
        ("2026-04-06", 18, 12),
        ("2026-04-20", 15, 12),
        ("2026-05-04", 11, 9),
    ] {
        for body in [summing("phq9", 9, phq), summing("gad7", 7, gad)] {
            let (s, r) = record(&t, &c.clinician, me, at(d, body)).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
        }
    }
    let (s, summary) = t
        .get(
            &c.clinician,
            &format!("/api/v1/clients/{me}/measures/summary"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{summary}");
    let by = |code: &str| {
        summary
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["instrument"] == code)
            .unwrap()
            .clone()
    };
    let phq = by("phq9");
    assert_eq!(phq["first"]["total"], 18);
    assert_eq!(phq["latest"]["total"], 11);
    assert_eq!(phq["change"], -7);
    assert_eq!(phq["responses"], 3);
    assert_eq!(phq["flag"], "reliable_improvement");
    assert_eq!(phq["first"]["administered_at"], "2026-04-06T12:00:00Z");
    let gad = by("gad7");
    assert_eq!(gad["change"], -3);
    assert_eq!(gad["flag"], "no_reliable_change");

    // The other client gets worse by 6 on PHQ-9.
    let other = c.clients[1];
    for (d, total) in [("2026-04-20", 8), ("2026-05-04", 14)] {
        let (s, _) = record(&t, &c.director, other, at(d, summing("phq9", 9, total))).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let (_, summary) = t
        .get(
            &c.director,
            &format!("/api/v1/clients/{other}/measures/summary"),
        )
        .await;
    assert_eq!(summary[0]["flag"], "reliable_deterioration");
    // The client reads their own; nobody else outside their care does.
    let (s, _) = t
        .get(&c.client, &format!("/api/v1/clients/{me}/measures/summary"))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .get(
            &c.client,
            &format!("/api/v1/clients/{other}/measures/summary"),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .get(&c.intake, &format!("/api/v1/clients/{me}/measures/summary"))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_due_list_shows_intake_and_routine_measures_by_the_programs_cadence() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    // Today is 2026-05-04. Client 0: PHQ-9 answered 2026-04-10, GAD-7 never since the
    // episode began on 2026-04-01 → PHQ-9 routine since 2026-04-24, GAD-7 at intake.
    let mut body = summing("phq9", 9, 6);
    body["administered_at"] = json!("2026-04-10T15:00:00Z");
    let (s, _) = record(&t, &c.director, c.clients[0], body).await;
    assert_eq!(s, StatusCode::CREATED);
    // Client 1: both answered today → nothing due.
    for body in [summing("phq9", 9, 3), summing("gad7", 7, 3)] {
        let (s, _) = record(&t, &c.director, c.clients[1], body).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    // A third client, in no group, began an episode last week.
    let third = new_client(&t, &c.director, c.program, "M-3", "2026-04-27").await;

    let (s, due) = t.get(&c.director, "/api/v1/measures/due").await;
    assert_eq!(s, StatusCode::OK, "{due}");
    let rows: Vec<(i64, &str, &str, &str)> = due
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["client_id"].as_i64().unwrap(),
                d["instrument"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
                d["since"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (c.clients[0], "gad7", "intake", "2026-04-01"),
            (c.clients[0], "phq9", "routine", "2026-04-24"),
            (third, "gad7", "intake", "2026-04-27"),
            (third, "phq9", "intake", "2026-04-27"),
        ]
    );

    // The clinician sees their caseload only; intake, admin and clients are refused.
    let (_, mine) = t.get(&c.clinician, "/api/v1/measures/due").await;
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|d| d["client_id"] == c.clients[0])
    );
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let (_, theirs) = t.get(&c.other_clinician, "/api/v1/measures/due").await;
    assert_eq!(theirs, json!([]));
    for token in [&c.intake, &c.admin, &c.client] {
        let (s, _) = t.get(token, "/api/v1/measures/due").await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }

    // A weekly cadence makes client 1's answers due again a week later.
    let (_, program) = t
        .get(&c.director, &format!("/api/v1/programs/{}", c.program))
        .await;
    let (s, p) = t
        .send(
            Method::PATCH,
            &c.director,
            &format!("/api/v1/programs/{}", c.program),
            json!({"version": program["version"], "measure_cadence_days": 7}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    t.clock.set("2026-05-11T13:00:00Z".parse().unwrap());
    // A week later the old tokens have idled out: sign in again.
    let director = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (s, due) = t.get(&director, "/api/v1/measures/due").await;
    assert_eq!(s, StatusCode::OK, "{due}");
    let client1: Vec<(&str, &str, &str)> = due
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["client_id"] == c.clients[1])
        .map(|d| {
            (
                d["instrument"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
                d["since"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        client1,
        [
            ("gad7", "routine", "2026-05-11"),
            ("phq9", "routine", "2026-05-11")
        ]
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_action_taken_on_an_alert_is_sealed_at_rest() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let (_, r) = record(
        &t,
        &c.director,
        c.clients[0],
        phq9([0, 0, 0, 0, 0, 0, 0, 0, 2]),
    )
    .await;
    let alert = r["alert_id"].as_i64().unwrap();
    let marker = format!("MARKER-{alert}-{}-called-the-sister", c.program * 7919);
    let (s, done) = t
        .post(
            &c.clinician,
            &format!("/api/v1/alerts/{alert}/acknowledge"),
            json!({"action_taken": marker}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    let (_, back) = t.get(&c.director, "/api/v1/alerts").await;
    assert_eq!(
        back[0]["action_taken"],
        marker.as_str(),
        "reads back decrypted"
    );
    match t.db.backend() {
        circle_store::Backend::Sqlite => {
            let path = t.db.url.trim_start_matches("sqlite://").to_owned();
            let mut checked = 0;
            for suffix in ["", "-wal"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    assert!(!contains(&bytes, marker.as_bytes()), "in {path}{suffix}");
                    checked += 1;
                }
            }
            assert!(checked >= 1);
        }
        circle_store::Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&t.db.url)
                .output()
                .expect("pg_dump is installed");
            assert!(out.status.success());
            assert!(!contains(&out.stdout, marker.as_bytes()));
        }
    }
}

#[tokio::test]
async fn an_administrator_reaches_measures_only_through_emergency_access_and_never_alerts() {
    let t = spawn_app().await;
    let c = clinic(&t).await;
    let me = c.clients[0];
    let (s, _) = record(&t, &c.clinician, me, phq9([1, 1, 1, 0, 0, 0, 0, 0, 1])).await;
    assert_eq!(s, StatusCode::CREATED);
    let on_call = t
        .token_for("oncall-admin@example.test", Role::Admin, None, None)
        .await;
    let path = format!("/api/v1/clients/{me}/measures");
    assert_eq!(t.get(&on_call, &path).await.0, StatusCode::FORBIDDEN);

    let (_, who) = t.get(&on_call, "/api/v1/me").await;
    let (s, _) = t
        .send(
            Method::PUT,
            &c.director,
            &format!("/api/v1/users/{}/emergency-grant", who["id"]),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, access) = t
        .post(
            &on_call,
            &format!("/api/v1/clients/{me}/emergency-access"),
            json!({"reason": "client in crisis; clinician unreachable"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{access}");
    let (s, list) = t.get(&on_call, &path).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["total"], 4);
    // The read is flagged with the emergency access in the audit trail.
    let (_, entries) = t
        .get(
            &c.admin,
            "/api/v1/audit?action=measure.read&outcome=success",
        )
        .await;
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["emergency_access_id"] == access["id"]),
        "{entries}"
    );
    // Alerts stay with the client's clinicians and directors.
    assert_eq!(
        t.get(&on_call, "/api/v1/alerts").await.0,
        StatusCode::FORBIDDEN
    );
}
