//! Black-box tests of the JSON API through a real server on an ephemeral port, on the
//! database `TEST_DATABASE_URL` names (SQLite when unset).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn director(t: &TestApp) -> String {
    t.token_for("director@example.test", Role::Director, None, None)
        .await
}

/// Program, clinician, room and an evening IOP group, created through the API.
async fn iop_group(t: &TestApp, token: &str) -> (i64, i64) {
    let (s, program) = t
        .post(
            token,
            "/api/v1/programs",
            json!({"name": "Adult IOP evening", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let (s, clinician) = t
        .post(token, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": "Testcase",
            "email": "lead@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-100", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{clinician}");
    let (s, room) = t
        .post(
            token,
            "/api/v1/rooms",
            json!({"site": "Riverside", "name": "Room 2", "capacity": 14}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{room}");
    let (s, group) = t
        .post(
            token,
            "/api/v1/groups",
            json!({
            "program_id": program["id"], "name": "Evening process", "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "tuesday", "start": "18:00", "minutes": 90}],
            "room_id": room["id"], "lead_facilitator_id": clinician["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    (
        program["id"].as_i64().unwrap(),
        group["id"].as_i64().unwrap(),
    )
}

async fn iop_client(t: &TestApp, token: &str, n: u32) -> i64 {
    let (s, c) = t
        .post(token, "/api/v1/clients", json!({"record_number": format!("T-{n:04}"), "given_name": format!("Given{n}"),
            "family_name": "Testcase", "date_of_birth": "1988-02-03", "referral_source": "program_admission"}))
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

#[tokio::test]
async fn health_and_readiness_answer() {
    let t = spawn_app().await;
    let r = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = t.http.get(t.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_thirteenth_member_gets_409_naming_the_size_rule_and_the_group_keeps_twelve() {
    let t = spawn_app().await;
    let token = director(&t).await;
    let (_, group) = iop_group(&t, &token).await;
    for n in 1..=12 {
        let c = iop_client(&t, &token, n).await;
        let (s, m) = t
            .post(
                &token,
                &format!("/api/v1/groups/{group}/memberships"),
                json!({"client_id": c, "start_date": "2026-05-05"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
    }
    let c13 = iop_client(&t, &token, 13).await;
    let (s, problem) = t
        .post(
            &token,
            &format!("/api/v1/groups/{group}/memberships"),
            json!({"client_id": c13, "start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "group_full");
    assert_eq!(problem["status"], 409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("maximum is 12")
    );
    let (_, members) = t
        .get(&token, &format!("/api/v1/groups/{group}/memberships"))
        .await;
    let active = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] == "active")
        .count();
    assert_eq!(active, 12);
}

#[tokio::test]
async fn every_api_route_refuses_anonymous_callers_with_401_problem_json() {
    let t = spawn_app().await;
    let (_, doc) = {
        let r = t
            .http
            .get(t.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        // Public by design: sign-in, the self-referral form and the group agreement text.
        if !path.starts_with("/api/v1/")
            || [
                "/api/v1/auth/login",
                "/api/v1/self-referrals",
                "/api/v1/group-agreement",
            ]
            .contains(&path.as_str())
        {
            continue;
        }
        let concrete = path.replace("{id}", "1").replace("{client_id}", "1");
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = t
                .http
                .request(m, t.url(&concrete))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let ct = r.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(ct, "application/problem+json");
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "only {checked} operations found in the OpenAPI document"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_with_schemas() {
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
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    // Every operation has its own operationId (a duplicate fails openapi-spec-validator;
    // two handlers named `enroll` once shared one).
    let mut ids = std::collections::BTreeMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                let earlier = ids.insert(id.to_owned(), format!("{method} {path}"));
                assert!(
                    earlier.is_none(),
                    "operationId {id} is used by {earlier:?} and {method} {path}"
                );
            }
        }
    }
    for path in [
        "/api/v1/auth/login",
        "/api/v1/programs",
        "/api/v1/programs/{id}",
        "/api/v1/clinicians",
        "/api/v1/clients",
        "/api/v1/clients/{id}/episodes",
        "/api/v1/groups",
        "/api/v1/groups/{id}/memberships",
        "/api/v1/memberships/{id}",
        "/api/v1/groups/{id}/sessions",
        "/api/v1/sessions/{id}/attendance/{client_id}",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is missing from the OpenAPI document"
        );
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if ["post", "patch", "put"].contains(&method.as_str())
                && ![
                    "/api/v1/auth/logout",
                    "/api/v1/users/{id}/emergency-grant",
                    "/api/v1/offers/{id}/accept",
                    "/api/v1/offers/{id}/decline",
                    "/api/v1/users/{id}/mfa-reset",
                ]
                .contains(&path.as_str())
            {
                assert!(
                    op.get("requestBody").is_some(),
                    "{method} {path} has no request body schema"
                );
            }
            let ok = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with('2'));
            assert!(ok, "{method} {path} documents no success response");
        }
    }
    for schema in [
        "Program",
        "Group",
        "Client",
        "Membership",
        "Session",
        "Attendance",
        "Problem",
        "NewGroup",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn bad_requests_are_4xx_problems_that_name_the_field_and_change_nothing() {
    let t = spawn_app().await;
    let token = director(&t).await;
    let raw = |body: &'static str, ct: &'static str| {
        t.http
            .post(t.url("/api/v1/programs"))
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let (s, p) = circle_testkit::respond(raw("{not json", "application/json").await.unwrap()).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let (s, _) = circle_testkit::respond(raw("{}", "text/plain").await.unwrap()).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let base =
        json!({"name": "P", "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let (s, p) = t
        .post(
            &token,
            "/api/v1/programs",
            with("max_group_size", json!("Jane Doe")),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "max_group_size");
    assert!(!p.to_string().contains("Jane"));
    let (s, p) = t
        .post(&token, "/api/v1/programs", with("surprise", json!(1)))
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("surprise"))
    );
    let (s, p) = t
        .post(
            &token,
            "/api/v1/programs",
            with("time_zone", json!("Mars/Base")),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "time_zone");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("IANA"));
    let (s, p) = t
        .post(
            &token,
            "/api/v1/programs",
            with("level_of_care", json!("spa")),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("level_of_care"))
    );
    let (s, p) = t
        .post(
            &token,
            "/api/v1/programs",
            with("max_group_size", json!(13)),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("max_group_size"))
    );
    let (s, p) = t
        .post(&token, "/api/v1/programs", json!({"name": "P"}))
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("site"))
    );

    let huge = json!({"name": "x".repeat(100_000), "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"});
    let (s, p) = t.post(&token, "/api/v1/programs", huge).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (s, p) = t.get(&token, "/api/v1/programs/abc").await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_path"))
    );
    let (s, p) = t.get(&token, "/api/v1/programs/999999").await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _) = t.get(&token, "/api/v1/programs?limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.get(&token, "/api/v1/programs?limit=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.get(&token, "/api/v1/nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // None of the refused requests created anything.
    let (_, list) = t.get(&token, "/api/v1/programs").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn lists_paginate_in_a_stable_order() {
    let t = spawn_app().await;
    let token = director(&t).await;
    for n in 0..5 {
        let (s, _) = t
            .post(&token, "/api/v1/programs", json!({"name": format!("P{n}"), "site": "S", "level_of_care": "outpatient", "time_zone": "America/Chicago"}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut seen = vec![];
    let mut after = 0;
    loop {
        let (_, page) = t
            .get(&token, &format!("/api/v1/programs?limit=2&after={after}"))
            .await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|p| p["name"].as_str().unwrap().to_owned()));
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(seen, ["P0", "P1", "P2", "P3", "P4"]);
}

#[tokio::test]
async fn sign_in_sign_out_and_wrong_passwords() {
    let t = spawn_app().await;
    let token = director(&t).await;
    let (s, me) = t.get(&token, "/api/v1/me").await;
    assert_eq!((s, me["role"].as_str()), (StatusCode::OK, Some("director")));
    assert!(me.get("password_hash").is_none());
    assert!(
        t.login("director@example.test", "wrong-password-entirely")
            .await
            .is_none()
    );
    assert!(
        t.login("nobody@example.test", TEST_PASSWORD)
            .await
            .is_none()
    );
    let (s, _) = t.post(&token, "/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = t.get(&token, "/api/v1/me").await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime_even_when_in_use() {
    let t = spawn_app().await;
    let token = director(&t).await;
    // Used every ten minutes, the token lives 12 hours from sign-in (13:00Z), no longer.
    let start: jiff::Timestamp = "2026-05-04T13:00:00Z".parse().unwrap();
    for step in 1..=71 {
        t.clock.set(
            start
                .checked_add(jiff::SignedDuration::from_mins(10 * step))
                .unwrap(),
        );
        assert_eq!(
            t.get(&token, "/api/v1/me").await.0,
            StatusCode::OK,
            "at step {step}"
        );
    }
    t.clock.set("2026-05-05T01:00:01Z".parse().unwrap()); // past 12 h
    assert_eq!(
        t.get(&token, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tokens_end_after_fifteen_idle_minutes() {
    let t = spawn_app().await;
    let token = director(&t).await;
    t.clock.set("2026-05-04T13:14:00Z".parse().unwrap());
    assert_eq!(t.get(&token, "/api/v1/me").await.0, StatusCode::OK);
    t.clock.set("2026-05-04T13:28:30Z".parse().unwrap()); // 14.5 idle minutes
    assert_eq!(t.get(&token, "/api/v1/me").await.0, StatusCode::OK);
    t.clock.set("2026-05-04T13:44:00Z".parse().unwrap()); // 15.5 idle minutes
    assert_eq!(
        t.get(&token, "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn roles_reach_only_what_they_may() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let (_, group) = iop_group(&t, &dir).await;
    let own = iop_client(&t, &dir, 1).await;
    let other = iop_client(&t, &dir, 2).await;
    let client = t
        .token_for(
            "client@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(own)),
        )
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;

    assert_eq!(
        t.get(&client, &format!("/api/v1/clients/{own}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&client, &format!("/api/v1/clients/{other}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&client, "/api/v1/clients").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get(&client, "/api/v1/groups").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get(&admin, &format!("/api/v1/clients/{own}")).await.0,
        StatusCode::FORBIDDEN
    );
    // Intake places clients but does not design groups.
    let (s, _) = t
        .post(
            &intake,
            &format!("/api/v1/groups/{group}/memberships"),
            json!({"client_id": own, "start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = t
        .send(
            Method::PATCH,
            &intake,
            &format!("/api/v1/groups/{group}"),
            json!({"version": 1, "max_size": 8}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A separation's reason is for clinical staff only.
    let (s, _) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{own}/separations"),
            json!({"other_client_id": other, "reason": "siblings"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, seen_by_intake) = t
        .get(&intake, &format!("/api/v1/clients/{own}/separations"))
        .await;
    assert_eq!(seen_by_intake[0]["reason"], Value::Null);
    let (_, seen_by_director) = t
        .get(&dir, &format!("/api/v1/clients/{own}/separations"))
        .await;
    assert_eq!(seen_by_director[0]["reason"], "siblings");
}

#[tokio::test]
async fn a_stale_version_gets_409_and_no_lost_update() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let (program, _) = iop_group(&t, &dir).await;
    let path = format!("/api/v1/programs/{program}");
    let (s, first) = t
        .send(
            Method::PATCH,
            &dir,
            &path,
            json!({"version": 1, "weekly_required_minutes": 600}),
        )
        .await;
    assert_eq!((s, first["version"].as_i64()), (StatusCode::OK, Some(2)));
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &path,
            json!({"version": 1, "weekly_required_minutes": 700}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("stale_version"))
    );
    assert_eq!(t.get(&dir, &path).await.1["weekly_required_minutes"], 600);
}

#[tokio::test]
async fn program_settings_default_change_and_refuse_with_the_field_named() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let (program, _) = iop_group(&t, &dir).await;
    let path = format!("/api/v1/programs/{program}");
    let (_, p) = t.get(&dir, &path).await;
    assert_eq!(
        (
            &p["newcomers_per_session"],
            &p["note_due_hours"],
            &p["session_code"],
            &p["per_diem_code"],
            &p["daily_minimum_minutes"],
            &p["measure_cadence_days"]
        ),
        (
            &json!(2),
            &json!(24),
            &json!("90853"),
            &Value::Null,
            &json!(180),
            &json!(14)
        )
    );
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &path,
            json!({"version": 1, "session_code": "G0410", "per_diem_code": "S9480", "newcomers_per_session": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (&p["session_code"], &p["per_diem_code"]),
        (&json!("G0410"), &json!("S9480"))
    );
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &path,
            json!({"version": 2, "per_diem_code": null}),
        )
        .await;
    assert_eq!(
        (s, &p["per_diem_code"], &p["newcomers_per_session"]),
        (StatusCode::OK, &Value::Null, &json!(3))
    );
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &path,
            json!({"version": 3, "note_due_hours": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "note_due_hours");
    assert_eq!(t.get(&dir, &path).await.1["version"], 3);
    // Billing codes must fit the level of care: H0035 is partial hospitalization's per
    // diem, not this IOP program's; nothing changes.
    let (s, p) = t
        .send(
            Method::PATCH,
            &dir,
            &path,
            json!({"version": 3, "per_diem_code": "H0035"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "per_diem_code");
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("partial hospitalization"),
        "{p}"
    );
    assert_eq!(t.get(&dir, &path).await.1["version"], 3);
    // A residential program billing S9480 (or G0410) is refused, each field named.
    let (s, p) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "Residential", "site": "Riverside", "level_of_care": "residential",
                "time_zone": "America/New_York", "per_diem_code": "S9480", "session_code": "G0410"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["session_code", "per_diem_code"], "{p}");
}

#[tokio::test]
async fn sessions_attendance_and_cancellation_through_the_api() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let (_, group) = iop_group(&t, &dir).await;
    let c = iop_client(&t, &dir, 1).await;
    t.post(
        &dir,
        &format!("/api/v1/groups/{group}/memberships"),
        json!({"client_id": c, "start_date": "2026-05-05"}),
    )
    .await;
    // Attending needs a signed group agreement (intake slice; tested in intake.rs).
    let (s, _) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{c}/consents/group-agreement"),
            json!({"signed_on": "2026-05-04"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, sessions) = t
        .post(
            &dir,
            &format!("/api/v1/groups/{group}/sessions/materialize"),
            json!({"from": "2026-05-04", "weeks": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sessions}");
    let first = sessions[0]["id"].as_i64().unwrap();
    assert_eq!(sessions[0]["starts_at"], "2026-05-05T22:00:00Z");
    let (_, roster) = t
        .get(&dir, &format!("/api/v1/sessions/{first}/roster"))
        .await;
    assert_eq!(roster[0]["display_name"], "Given1 T.");
    // Before the session starts, attendance is refused; after, it is recorded.
    let path = format!("/api/v1/sessions/{first}/attendance/{c}");
    let (s, p) = t
        .send(Method::PUT, &dir, &path, json!({"status": "present"}))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_not_started"))
    );
    t.clock.set("2026-05-05T23:35:00Z".parse().unwrap());
    // The morning's token has expired by the evening (12 h lifetime): sign in again.
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (s, a) = t
        .send(
            Method::PUT,
            &dir,
            &path,
            json!({"status": "left_early", "minutes": 60}),
        )
        .await;
    assert_eq!((s, a["minutes"].as_i64()), (StatusCode::OK, Some(60)));
    let (_, session) = t.get(&dir, &format!("/api/v1/sessions/{first}")).await;
    assert_eq!(session["status"], "held");
    let second = sessions[1]["id"].as_i64().unwrap();
    let (s, cancelled) = t
        .post(
            &dir,
            &format!("/api/v1/sessions/{second}/cancel"),
            json!({"version": 1, "reason": "holiday"}),
        )
        .await;
    assert_eq!(
        (s, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (s, listed) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-01&until=2026-06-01"),
        )
        .await;
    // Creating the group already materialised the four-week horizon; materialising again
    // added nothing.
    assert_eq!((s, listed.as_array().unwrap().len()), (StatusCode::OK, 4));
}

#[tokio::test]
async fn a_new_group_is_on_the_calendar_for_the_horizon_but_not_past_its_leads_license() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let (program, _) = iop_group(&t, &dir).await;
    let (_, lead) = t
        .post(&dir, "/api/v1/clinicians", json!({"given_name": "Soon", "family_name": "Expiring",
            "email": "expiring@example.test",
            "licenses": [{"kind": "lcsw", "number": "L-200", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2026-05-15"}]}))
        .await;
    let (s, group) = t
        .post(
            &dir,
            "/api/v1/groups",
            json!({
            "program_id": program, "name": "Thursday skills", "kind": "skills", "modality": "cbt",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "thursday", "start": "18:00", "minutes": 60}],
            "lead_facilitator_id": lead["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let (_, sessions) = t
        .get(
            &dir,
            &format!(
                "/api/v1/groups/{}/sessions?from=2026-05-04&until=2026-06-01",
                group["id"]
            ),
        )
        .await;
    let dates: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local_date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        ["2026-05-07", "2026-05-14"],
        "sessions stop before the license expires"
    );
}
