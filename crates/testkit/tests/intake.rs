//! Ways in and intake (issue 3) and Part 2 disclosures (issue 4), through the real server on
//! the database `TEST_DATABASE_URL` names (SQLite when unset): the group agreement gates
//! attendance, the intake state machine, the public self-referral form and its rate limit,
//! screening comments hidden from intake, Part 2 consents and the accounting of
//! disclosures.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::intake::ReferralState;
use circle_domain::user::Role;
use circle_testkit::sys::SysStore;
use circle_testkit::{TEST_PASSWORD, TestApp, respond, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn director(t: &TestApp) -> String {
    t.token_for("director@example.test", Role::Director, None, None)
        .await
}

async fn intake(t: &TestApp) -> String {
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await
}

async fn clinician(t: &TestApp, dir: &str, n: u32) -> i64 {
    let (s, c) = t
        .post(dir, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": format!("Test{n}"),
            "email": format!("lead{n}@example.test"),
            "licenses": [{"kind": "lmhc", "number": format!("L-{n}"), "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_i64().unwrap()
}

async fn client(t: &TestApp, token: &str, n: u32, concerns: Value) -> i64 {
    let (s, c) = t
        .post(token, "/api/v1/clients", json!({"record_number": format!("T-{n:04}"), "given_name": format!("Given{n}"),
            "family_name": "Testcase", "date_of_birth": "1988-02-03", "referral_source": "program_admission",
            "concerns": concerns}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_i64().unwrap()
}

async fn post_anon(t: &TestApp, path: &str, body: Value) -> reqwest::Response {
    t.http.post(t.url(path)).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn attendance_is_refused_without_a_signed_agreement_and_accepted_after_signing() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let (_, program) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    let lead = clinician(&t, &dir, 1).await;
    let (s, group) = t
        .post(
            &dir,
            "/api/v1/groups",
            json!({"program_id": program["id"], "name": "Evening process",
            "kind": "process", "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "tuesday", "start": "18:00", "minutes": 90}],
            "lead_facilitator_id": lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let group = group["id"].as_i64().unwrap();
    let mut members = vec![];
    for n in 1..=2 {
        let c = client(&t, &dir, n, json!([])).await;
        let (s, e) = t
            .post(
                &dir,
                &format!("/api/v1/clients/{c}/episodes"),
                json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        let (s, m) = t
            .post(
                &dir,
                &format!("/api/v1/groups/{group}/memberships"),
                json!({"client_id": c, "start_date": "2026-05-05"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        members.push(c);
    }
    let (a, b) = (members[0], members[1]);
    // A paper signature needs its date, and may not be dated in the future.
    let sign = format!("/api/v1/clients/{b}/consents/group-agreement");
    let (s, p) = t.post(&dir, &sign, json!({})).await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("signed_on"))
    );
    let (s, _) = t
        .post(&dir, &sign, json!({"signed_on": "2026-05-09"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, paper) = t
        .post(&dir, &sign, json!({"signed_on": "2026-05-01"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{paper}");
    assert_eq!(paper["method"], "paper");
    assert_eq!(paper["version"], "2026-1");

    let (_, sessions) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-11"),
        )
        .await;
    let session = sessions[0]["id"].as_i64().unwrap();
    // After the session (19:35 in New York, 5 May); tokens from the morning have lapsed.
    t.clock.set("2026-05-05T23:35:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let mark = |c: i64| format!("/api/v1/sessions/{session}/attendance/{c}");

    for status in ["present", "late", "left_early"] {
        let body = if status == "present" {
            json!({"status": status})
        } else {
            json!({"status": status, "minutes": 60})
        };
        let (s, p) = t.send(Method::PUT, &dir, &mark(a), body).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::CONFLICT, Some("group_agreement_unsigned")),
            "{status}: {p}"
        );
    }
    // Nothing was written: the session is still scheduled.
    let (_, sess) = t.get(&dir, &format!("/api/v1/sessions/{session}")).await;
    assert_eq!(sess["status"], "scheduled");
    // Absences may still be recorded.
    let (s, p) = t
        .send(
            Method::PUT,
            &dir,
            &mark(a),
            json!({"status": "absent_excused"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    // The member with a paper signature from 1 May attends.
    let (s, p) = t
        .send(Method::PUT, &dir, &mark(b), json!({"status": "present"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");

    // The client signs themself (today, electronically), and the correction is accepted.
    let me = t
        .token_for(
            "client1@example.test",
            Role::Client,
            None,
            Some(ClientId(a)),
        )
        .await;
    let (s, p) = t
        .post(
            &me,
            &format!("/api/v1/clients/{a}/consents/group-agreement"),
            json!({"signed_on": "2026-05-01"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a client cannot backdate: {p}"
    );
    let (s, signed) = t
        .post(
            &me,
            &format!("/api/v1/clients/{a}/consents/group-agreement"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{signed}");
    assert_eq!(
        (signed["method"].as_str(), signed["signed_on"].as_str()),
        (Some("electronic"), Some("2026-05-05"))
    );
    // The client cannot sign for someone else.
    let (s, _) = t
        .post(
            &me,
            &format!("/api/v1/clients/{b}/consents/group-agreement"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p) = t
        .send(
            Method::PUT,
            &dir,
            &mark(a),
            json!({"status": "late", "minutes": 70}),
        )
        .await;
    assert_eq!(
        (s, p["minutes"].as_i64()),
        (StatusCode::OK, Some(70)),
        "{p}"
    );

    let (_, consents) = t.get(&me, &format!("/api/v1/clients/{a}/consents")).await;
    assert_eq!(consents["group_agreements"].as_array().unwrap().len(), 1);

    // A signature dated after a session does not cover it. The API never places anyone in
    // the past, so the earlier session and membership are set up through the store.
    use circle_domain::session::{AttendanceInput, MaterializeRequest};
    use circle_testkit::builders::input;
    let store = &t.db.store;
    let earlier = store
        .materialize_sessions(
            circle_domain::ids::GroupId(group),
            &input::<MaterializeRequest>(json!({"from": "2026-04-27", "weeks": 1})),
            t.app.now(),
        )
        .await
        .unwrap()[0]
        .clone();
    assert_eq!(earlier.local_date.to_string(), "2026-04-28");
    let c = client(&t, &dir, 3, json!([])).await;
    t.post(
        &dir,
        &format!("/api/v1/clients/{c}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    store
        .sys_enroll(
            circle_domain::ids::GroupId(group),
            &input(json!({"client_id": c, "start_date": "2026-04-28"})),
            t.app.now(),
        )
        .await
        .unwrap();
    let (s, _) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{c}/consents/group-agreement"),
            json!({"signed_on": "2026-05-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let present: AttendanceInput = input(json!({"status": "present"}));
    let r = store
        .sys_record_attendance(earlier.id, ClientId(c), &present, None, t.app.now())
        .await;
    match r {
        Err(circle_store::StoreError::Domain(e)) => {
            assert_eq!(e.rule(), Some(circle_domain::Rule::GroupAgreementUnsigned));
        }
        other => panic!("expected the agreement rule, got {other:?}"),
    }
    // Signed 1 May, it covers the 5 May session.
    let (s, p) = t
        .send(Method::PUT, &dir, &mark(c), json!({"status": "present"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
}

/// Drives a new referral along legal moves to `state`; returns its id.
async fn referral_in(t: &TestApp, token: &str, state: ReferralState, client: i64) -> i64 {
    use ReferralState::*;
    let (s, r) = t
        .post(token, "/api/v1/referrals", json!({"path": "therapist_referral", "name": "Synthetic Person",
            "phone": "555-0100", "reason": "low mood after a loss",
            "provider": {"name": "Dr. Example Therapist", "practice": "Example Counseling", "contact": "555-0199"}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    let path: &[ReferralState] = match state {
        Referred => &[],
        Screening => &[Screening],
        Ready => &[Screening, Ready],
        Waitlisted => &[Screening, Ready, Waitlisted],
        Placed => &[Screening, Ready, Placed],
        Active => &[Screening, Ready, Placed, Active],
        SteppedDown => &[Screening, Ready, Placed, Active, SteppedDown],
        Completed => &[Screening, Ready, Placed, Active, Completed],
        Discharged => &[Screening, Ready, Placed, Active, Discharged],
        Withdrawn => &[Withdrawn],
    };
    for to in path {
        // Ready is a screening's finding, never a bare move.
        if *to == Ready {
            let (s, r) = t
                .post(
                    token,
                    &format!("/api/v1/referrals/{id}/screenings"),
                    json!({"decision": "ready"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "screening: {r}");
            continue;
        }
        let body = if *to == Placed {
            json!({"to": to, "client_id": client})
        } else {
            json!({"to": to})
        };
        let (s, r) = t
            .post(token, &format!("/api/v1/referrals/{id}/transitions"), body)
            .await;
        assert_eq!(s, StatusCode::OK, "→ {to}: {r}");
    }
    id
}

#[tokio::test]
async fn every_illegal_transition_is_refused_and_legal_ones_are_dated_and_attributed() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let coordinator = intake(&t).await;
    let (_, me) = t.get(&coordinator, "/api/v1/me").await;
    let my_id = me["id"].as_i64().unwrap();
    let c = client(&t, &dir, 1, json!([])).await;

    for &from in ReferralState::ALL {
        let id = referral_in(&t, &coordinator, from, c).await;
        for &to in ReferralState::ALL {
            if from.allowed_next().contains(&to) {
                continue;
            }
            let (s, p) = t
                .post(
                    &coordinator,
                    &format!("/api/v1/referrals/{id}/transitions"),
                    json!({"to": to, "client_id": c}),
                )
                .await;
            assert_eq!(
                (s, p["code"].as_str()),
                (StatusCode::CONFLICT, Some("illegal_transition")),
                "{from} → {to}: {p}"
            );
            let detail = p["detail"].as_str().unwrap();
            for next in from.allowed_next() {
                assert!(detail.contains(next.as_str()), "{detail}");
            }
        }
        // Nothing moved.
        let (_, r) = t
            .get(&coordinator, &format!("/api/v1/referrals/{id}"))
            .await;
        assert_eq!(r["state"], from.as_str());
    }

    // A legal path, each step dated and attributed, with its reason.
    let id = referral_in(&t, &coordinator, ReferralState::Ready, c).await;
    // Placement needs the client record linked.
    let (s, p) = t
        .post(
            &coordinator,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "placed"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("referral_needs_client"))
    );
    t.clock.set("2026-05-04T13:05:00Z".parse().unwrap());
    let (s, r) = t
        .post(
            &coordinator,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "waitlisted", "reason": "evening group is full"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    t.clock.set("2026-05-04T13:10:00Z".parse().unwrap());
    let (s, r) = t
        .post(
            &coordinator,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "placed", "client_id": c}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["state"], "placed");
    assert_eq!(r["client_id"].as_i64(), Some(c));
    let steps: Vec<(Option<&str>, &str, &str)> = r["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["from"].as_str(),
                x["to"].as_str().unwrap(),
                x["at"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, "referred", "2026-05-04T13:00:00Z"),
            (Some("referred"), "screening", "2026-05-04T13:00:00Z"),
            (Some("screening"), "ready", "2026-05-04T13:00:00Z"),
            (Some("ready"), "waitlisted", "2026-05-04T13:05:00Z"),
            (Some("waitlisted"), "placed", "2026-05-04T13:10:00Z"),
        ]
    );
    for x in r["transitions"].as_array().unwrap() {
        assert_eq!(x["by_user_id"].as_i64(), Some(my_id));
    }
    assert_eq!(r["transitions"][3]["reason"], "evening group is full");
    // The list filters by state.
    let (_, list) = t
        .get(&coordinator, "/api/v1/referrals?state=waitlisted")
        .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["state"] == "waitlisted")
    );
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Clinicians, admins and clients do not move referrals.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, _) = t
        .post(
            &admin,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "active"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn self_referral_works_anonymously_exposes_nothing_and_is_rate_limited() {
    let t = spawn_app().await;
    let form = |n: u32| {
        json!({"name": format!("Synthetic Person {n}"), "email": format!("person{n}@example.test"),
            "looking_for": "a group for anxiety, evenings after work",
            "preferred_times": [{"weekday": "tuesday", "part_of_day": "evening"},
                                {"weekday": "thursday", "part_of_day": "evening"}]})
    };
    // Bad input is refused naming the field, and is not stored.
    let r = post_anon(
        &t,
        "/api/v1/self-referrals",
        json!({"name": "Synthetic", "looking_for": "x"}),
    )
    .await;
    let (s, p) = respond(r).await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("email"))
    );
    let r = post_anon(
        &t,
        "/api/v1/self-referrals",
        json!({"name": "S", "email": "s@example.test", "looking_for": "x".repeat(501)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    for n in 1..=5 {
        let r = post_anon(&t, "/api/v1/self-referrals", form(n)).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert!(r.headers().get("location").is_none());
        assert!(r.bytes().await.unwrap().is_empty(), "nothing is echoed");
    }
    t.clock.set("2026-05-04T13:30:00Z".parse().unwrap());
    let r = post_anon(&t, "/api/v1/self-referrals", form(6)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 30 * 60, "free again an hour after the first");
    let (_, p) = respond(r).await;
    assert_eq!(p["code"], "rate_limited");

    // Intake sees five pending self-referrals with their details and preferred times.
    let coordinator = intake(&t).await;
    let (s, list) = t
        .get(&coordinator, "/api/v1/referrals?state=referred")
        .await;
    assert_eq!(s, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|x| x["path"] == "self_referral"));
    assert_eq!(items[0]["details"]["name"], "Synthetic Person 1");
    assert_eq!(items[0]["preferred_times"][0]["part_of_day"], "evening");

    // An hour after the first, the address may send again.
    t.clock.set("2026-05-04T14:00:01Z".parse().unwrap());
    let r = post_anon(&t, "/api/v1/self-referrals", form(7)).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn intake_sees_the_screening_decision_but_never_its_comments() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let coordinator = intake(&t).await;
    let screener = clinician(&t, &dir, 1).await;
    let other = clinician(&t, &dir, 2).await;
    let clin = t
        .token_for(
            "clin1@example.test",
            Role::Clinician,
            Some(ClinicianId(screener)),
            None,
        )
        .await;
    let stranger = t
        .token_for(
            "clin2@example.test",
            Role::Clinician,
            Some(ClinicianId(other)),
            None,
        )
        .await;
    let (s, r) = t
        .post(
            &coordinator,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Synthetic Admit",
            "program_id": null, "level_of_care": "iop", "screener_id": screener}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an admission names its program: {r}"
    );
    let (_, program) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    let (s, r) = t
        .post(
            &coordinator,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Synthetic Admit",
            "email": "admit@example.test", "program_id": program["id"], "level_of_care": "iop",
            "screener_id": screener}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();

    // Intake screens (the role table) but writes no clinical comments: refused naming the
    // field, and nothing is recorded. An unassigned clinician cannot even see the referral.
    let path = format!("/api/v1/referrals/{id}/screenings");
    let body = json!({"decision": "ready", "reasons": "PRIVATE-COMMENT: ready for group", "measure_response_id": 41});
    let (s, p) = t.post(&coordinator, &path, body.clone()).await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("reasons")),
        "{p}"
    );
    let (_, r) = t
        .get(&coordinator, &format!("/api/v1/referrals/{id}"))
        .await;
    assert_eq!(r["screenings"], json!([]), "{r}");
    assert_eq!(
        t.post(&stranger, &path, body.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&stranger, &format!("/api/v1/referrals/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, mine) = t.get(&stranger, "/api/v1/referrals").await;
    assert!(mine["items"].as_array().unwrap().is_empty());

    // The screening instrument's response must be the referral's own client's: an unknown
    // one is refused naming the field, and nothing changes.
    let (s, p) = t.post(&clin, &path, body.clone()).await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("measure_response_id")
        ),
        "{p}"
    );
    let c = client(&t, &dir, 9, json!(["anxiety_panic"])).await;
    let (s, moved) = t
        .post(
            &coordinator,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "screening", "client_id": c}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    let (s, response) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{c}/measures"),
            json!({"instrument": "gad7", "answers": {"1": 1, "2": 1, "3": 0, "4": 0, "5": 0, "6": 1, "7": 0}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{response}");
    let mut body = body;
    body["measure_response_id"] = response["id"].clone();
    let (s, sc) = t.post(&clin, &path, body).await;
    assert_eq!(s, StatusCode::CREATED, "{sc}");
    assert_eq!(sc["reasons"], "PRIVATE-COMMENT: ready for group");
    assert_eq!(sc["measure_response_id"], response["id"]);

    // The decision moved the referral to ready.
    let r = t
        .http
        .get(t.url(&format!("/api/v1/referrals/{id}")))
        .bearer_auth(&coordinator)
        .send()
        .await
        .unwrap();
    let raw = r.text().await.unwrap();
    assert!(
        !raw.contains("PRIVATE-COMMENT"),
        "intake never sees screening comments"
    );
    let r: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(r["state"], "ready");
    assert_eq!(r["screenings"][0]["decision"], "ready");
    assert!(r["screenings"][0]["reasons"].is_null());
    let (_, list) = t.get(&coordinator, "/api/v1/referrals").await;
    assert!(!list.to_string().contains("PRIVATE-COMMENT"));

    // Directors and the screening clinician read the comments.
    for token in [&dir, &clin] {
        let (_, r) = t.get(token, &format!("/api/v1/referrals/{id}")).await;
        assert_eq!(
            r["screenings"][0]["reasons"],
            "PRIVATE-COMMENT: ready for group"
        );
    }
    // The stranger's refusal is on the audit trail (intake's comment was a field error).
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, denied) = t
        .get(
            &admin,
            "/api/v1/audit?action=screening.create&outcome=denied",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{denied}");
    assert_eq!(denied.as_array().map(Vec::len), Some(1), "{denied}");
    // Screening again once the referral is ready is refused.
    let (s, _) = t.post(&clin, &path, json!({"decision": "not_ready"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

fn complete_consent(recipient: &str, expires_on: &str) -> Value {
    json!({"patient_name": "Given1 Testcase", "discloser": "Riverside IOP",
        "recipient": recipient, "information": "attendance and progress in substance use treatment",
        "purpose": "court-ordered treatment verification", "expires_on": expires_on,
        "right_to_revoke_acknowledged": true, "signature": "Given1 Testcase", "signed_on": "2026-05-01"})
}

#[tokio::test]
async fn a_part2_consent_missing_elements_is_refused_naming_each() {
    let t = spawn_app().await;
    let coordinator = intake(&t).await;
    let c = client(&t, &coordinator, 1, json!(["substance_use"])).await;
    let path = format!("/api/v1/clients/{c}/consents/part2");
    let (s, p) = t
        .post(
            &coordinator,
            &path,
            json!({"recipient": "Harbor Probation Office", "right_to_revoke_acknowledged": false}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec![
            "patient_name",
            "discloser",
            "information",
            "purpose",
            "expiry",
            "right_to_revoke_acknowledged",
            "signature",
            "signed_on"
        ]
    );
    assert!(!p.to_string().contains("Harbor"), "values are never echoed");
    // An expiry before signing is refused; nothing was stored.
    let (s, _) = t
        .post(
            &coordinator,
            &path,
            complete_consent("Harbor Probation Office", "2026-04-01"),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, consents) = t
        .get(&coordinator, &format!("/api/v1/clients/{c}/consents"))
        .await;
    assert!(consents["part2"].as_array().unwrap().is_empty());
    // Complete, it is recorded; an expiry event may stand in for a date.
    let mut by_event = complete_consent("Harbor Probation Office", "2026-04-01");
    by_event["expires_on"] = Value::Null;
    by_event["expiry_event"] = json!("discharge from the program");
    let (s, c2) = t.post(&coordinator, &path, by_event).await;
    assert_eq!(s, StatusCode::CREATED, "{c2}");
    assert_eq!(c2["in_force"], true);
}

#[tokio::test]
async fn a_disclosure_is_refused_after_revocation_and_after_expiry_and_the_accounting_lists_them() {
    let t = spawn_app().await;
    let coordinator = intake(&t).await;
    let c = client(&t, &coordinator, 1, json!(["substance_use", "depression"])).await;
    let plain = client(&t, &coordinator, 2, json!(["depression"])).await;
    let disclose = format!("/api/v1/clients/{c}/disclosures");
    let what = |to: &str| json!({"recipient": to, "information": "attendance dates", "purpose": "verification"});

    // No consent: refused.
    let (s, p) = t
        .post(&coordinator, &disclose, what("Harbor Probation Office"))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_consent_in_force"))
    );

    let (s, first) = t
        .post(
            &coordinator,
            &format!("/api/v1/clients/{c}/consents/part2"),
            complete_consent("Harbor Probation Office", "2026-12-31"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let first_id = first["id"].as_i64().unwrap();
    // Case and spacing of the recipient do not matter; another recipient is refused.
    let (s, d1) = t
        .post(&coordinator, &disclose, what("harbor  probation office"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d1}");
    assert_eq!(d1["consent_id"].as_i64(), Some(first_id));
    // The consent covers its purpose only: another purpose to the same recipient is refused.
    let (s, p) = t
        .post(
            &coordinator,
            &disclose,
            json!({"recipient": "Harbor Probation Office", "information": "attendance dates", "purpose": "employment screening"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_consent_in_force"))
    );
    // Each disclosure of Part 2 records carries 42 CFR 2.32's notice.
    assert_eq!(
        d1["notice"],
        "42 CFR part 2 prohibits unauthorized disclosure of these records."
    );
    let (s, _) = t
        .post(&coordinator, &disclose, what("Example Employer"))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The patient revokes: from that instant, refused.
    let me = t
        .token_for(
            "client1@example.test",
            Role::Client,
            None,
            Some(ClientId(c)),
        )
        .await;
    let (s, revoked) = t
        .post(
            &me,
            &format!("/api/v1/clients/{c}/consents/part2/{first_id}/revoke"),
            json!({"reason": "revoked_by_patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{revoked}");
    assert_eq!(
        (
            revoked["in_force"].as_bool(),
            revoked["revoked_at"].as_str()
        ),
        (Some(false), Some("2026-05-04T13:00:00Z"))
    );
    let (s, p) = t
        .post(&coordinator, &disclose, what("Harbor Probation Office"))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_consent_in_force"))
    );
    let (s, p) = t
        .post(
            &me,
            &format!("/api/v1/clients/{c}/consents/part2/{first_id}/revoke"),
            json!({"reason": "revoked_by_patient"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("consent_revoked"))
    );

    // A consent expiring on 6 May permits disclosures on the 5th, none from the 6th.
    let (s, second) = t
        .post(
            &coordinator,
            &format!("/api/v1/clients/{c}/consents/part2"),
            complete_consent("Harbor Probation Office", "2026-05-06"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let second_id = second["id"].as_i64().unwrap();
    t.clock.set("2026-05-06T03:59:00Z".parse().unwrap()); // 23:59 on the 5th in New York
    let coordinator = t.login("intake@example.test", TEST_PASSWORD).await.unwrap();
    let (s, d2) = t
        .post(&coordinator, &disclose, what("Harbor Probation Office"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d2}");
    assert_eq!(d2["consent_id"].as_i64(), Some(second_id));
    t.clock.set("2026-05-06T04:00:00Z".parse().unwrap()); // midnight in New York
    let (s, p) = t
        .post(&coordinator, &disclose, what("Harbor Probation Office"))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_consent_in_force"))
    );

    // A client outside Part 2: disclosures are recorded for the accounting, no consent.
    let (s, d3) = t
        .post(
            &coordinator,
            &format!("/api/v1/clients/{plain}/disclosures"),
            what("Example Primary Care"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d3}");
    assert!(d3["consent_id"].is_null());
    assert!(d3["notice"].is_null(), "not Part 2 records: no notice");

    // The accounting: who disclosed what to whom, when, under which consent — for staff
    // and for the client themself; never for another client.
    let (_, intake_me) = t.get(&coordinator, "/api/v1/me").await;
    let me = t
        .login("client1@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    for token in [&coordinator, &me] {
        let (s, list) = t.get(token, &disclose).await;
        assert_eq!(s, StatusCode::OK, "{list}");
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["recipient"], "harbor  probation office");
        assert_eq!(list[0]["consent_id"].as_i64(), Some(first_id));
        assert_eq!(list[1]["consent_id"].as_i64(), Some(second_id));
        assert_eq!(list[1]["disclosed_at"], "2026-05-06T03:59:00Z");
        assert_eq!(list[1]["disclosed_by"], intake_me["id"]);
        assert_eq!(list[1]["purpose"], "verification");
    }
    assert_eq!(
        t.get(&me, &format!("/api/v1/clients/{plain}/disclosures"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // The consents read back with their state.
    let (_, consents) = t.get(&me, &format!("/api/v1/clients/{c}/consents")).await;
    let in_force: Vec<bool> = consents["part2"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["in_force"].as_bool().unwrap())
        .collect();
    assert_eq!(in_force, vec![false, false]);
    // Every disclosure was audited.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, audit) = t
        .get(&admin, "/api/v1/audit?action=disclosure.create")
        .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    assert_eq!(audit.as_array().map(Vec::len), Some(3), "{audit}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The raw bytes of the test database: SQLite's files, or a PostgreSQL data dump.
fn raw_database(t: &TestApp) -> Vec<u8> {
    match t.db.backend() {
        circle_store::Backend::Sqlite => {
            let path = t.db.url.trim_start_matches("sqlite://").to_owned();
            let mut all = vec![];
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    all.extend(bytes);
                }
            }
            all
        }
        circle_store::Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&t.db.url)
                .output()
                .expect("pg_dump is installed (Debian: postgresql-client)");
            assert!(out.status.success());
            out.stdout
        }
    }
}

#[tokio::test]
async fn referral_details_screening_comments_consents_and_disclosures_are_sealed_at_rest() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let m = |what: &str| format!("MARKER{}{what}", rand::random::<u32>());
    let (name, looking, provider, reason, comment, recipient, info) = (
        m("name"),
        m("looking"),
        m("provider"),
        m("reason"),
        m("comment"),
        m("recipient"),
        m("info"),
    );
    let r = post_anon(
        &t,
        "/api/v1/self-referrals",
        json!({"name": name, "phone": "555-0101", "looking_for": looking}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let (s, r) = t
        .post(
            &dir,
            "/api/v1/referrals",
            json!({"path": "therapist_referral", "name": "Synthetic",
            "reason": "r", "provider": {"name": provider}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let id = r["id"].as_i64().unwrap();
    let (s, _) = t
        .post(
            &dir,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "screening", "reason": reason}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .post(
            &dir,
            &format!("/api/v1/referrals/{id}/screenings"),
            json!({"decision": "not_ready", "reasons": comment}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let c = client(&t, &dir, 1, json!(["substance_use"])).await;
    let (s, p) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{c}/consents/part2"),
            complete_consent(&recipient, "2026-12-31"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, d) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{c}/disclosures"),
            json!({"recipient": recipient, "information": info, "purpose": "verification"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");

    // Everything reads back to those allowed…
    let (_, list) = t.get(&dir, "/api/v1/referrals").await;
    let (_, one) = t.get(&dir, &format!("/api/v1/referrals/{id}")).await;
    let text = format!("{list}{one}");
    for marker in [&name, &looking, &provider, &reason, &comment] {
        assert!(text.contains(marker.as_str()), "{marker} reads back");
    }
    let (_, accounting) = t
        .get(&dir, &format!("/api/v1/clients/{c}/disclosures"))
        .await;
    assert_eq!(accounting[0]["information"], info.as_str());
    // …and none of it is in the database in clear.
    let raw = raw_database(&t);
    assert!(raw.len() > 1000);
    for marker in [
        &name, &looking, &provider, &reason, &comment, &recipient, &info,
    ] {
        assert!(
            !contains(&raw, marker.as_bytes()),
            "{marker} found in clear"
        );
    }
}

/// Ready is a screening's finding (issue 14): no caller moves a referral to ready by hand,
/// not after a screening that found the person not ready either; a screening that finds
/// them ready does. Refused moves change nothing.
#[tokio::test]
async fn a_referral_becomes_ready_only_through_a_screening_that_found_the_person_ready() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let coordinator = intake(&t).await;
    let c = client(&t, &dir, 11, json!(["depression"])).await;
    let id = referral_in(&t, &coordinator, ReferralState::Screening, c).await;
    let moves = format!("/api/v1/referrals/{id}/transitions");
    let screenings = format!("/api/v1/referrals/{id}/screenings");
    for token in [&coordinator, &dir] {
        let (s, p) = t.post(token, &moves, json!({"to": "ready"})).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::CONFLICT, Some("screening_needed")),
            "{p}"
        );
    }
    let (s, sc) = t
        .post(&coordinator, &screenings, json!({"decision": "not_ready"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sc}");
    let (s, p) = t.post(&dir, &moves, json!({"to": "ready"})).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a not-ready screening is no pass: {p}"
    );
    let (_, r) = t.get(&dir, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(r["state"], "screening", "{r}");
    let (s, sc) = t
        .post(&coordinator, &screenings, json!({"decision": "ready"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sc}");
    let (_, r) = t.get(&dir, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(r["state"], "ready", "{r}");
    assert_eq!(r["screenings"][1]["decision"], "ready");
}

/// Intake assigns the screener after the referral came in; the clinician then lists and
/// screens it. An unknown clinician is refused naming the field; after the screening the
/// screener stays.
#[tokio::test]
async fn intake_assigns_a_screener_who_then_sees_and_screens_the_referral() {
    let t = spawn_app().await;
    let dir = director(&t).await;
    let coordinator = intake(&t).await;
    let lead = clinician(&t, &dir, 3).await;
    let clin = t
        .token_for(
            "clin3@example.test",
            Role::Clinician,
            Some(ClinicianId(lead)),
            None,
        )
        .await;
    let c = client(&t, &dir, 12, json!(["grief_loss"])).await;
    let id = referral_in(&t, &coordinator, ReferralState::Referred, c).await;
    let (_, mine) = t.get(&clin, "/api/v1/referrals").await;
    assert_eq!(mine["items"], json!([]), "not theirs yet: {mine}");
    let screener = format!("/api/v1/referrals/{id}/screener");
    let (s, p) = t
        .send(
            Method::PUT,
            &coordinator,
            &screener,
            json!({"screener_id": 999_999}),
        )
        .await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("screener_id")),
        "{p}"
    );
    let (s, r) = t
        .send(
            Method::PUT,
            &coordinator,
            &screener,
            json!({"screener_id": lead}),
        )
        .await;
    assert_eq!(
        (s, r["screener_id"].as_i64()),
        (StatusCode::OK, Some(lead)),
        "{r}"
    );
    let (_, mine) = t.get(&clin, "/api/v1/referrals").await;
    assert_eq!(mine["items"][0]["id"].as_i64(), Some(id), "{mine}");
    let (s, sc) = t
        .post(
            &clin,
            &format!("/api/v1/referrals/{id}/screenings"),
            json!({"decision": "ready", "reasons": "motivated"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sc}");
    let (s, p) = t
        .send(
            Method::PUT,
            &coordinator,
            &screener,
            json!({"screener_id": null}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    let (_, r) = t.get(&dir, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(r["screener_id"].as_i64(), Some(lead), "{r}");
    // A clinician does not assign screeners.
    let (s, _) = t
        .send(Method::PUT, &clin, &screener, json!({"screener_id": lead}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
