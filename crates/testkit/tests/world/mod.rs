//! The world the authorization matrices run in (the API's in `authz_matrix.rs`, the
//! pages' in `page_matrix.rs`): two programs (A and B), one group in each with its own
//! lead and one member, sessions, notes, alerts, referrals, consents, a placement, a plan
//! run, and a token for every principal, the scoped director's scoped to program A.

#![allow(dead_code, reason = "each matrix uses the parts of the world it walks")]

use std::collections::BTreeMap;

use circle_testkit::sys::SysStore;

use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::user::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The matrix's world: one program's two groups, each with its own lead and one member;
/// "own" objects belong to the clinician and client under test (group 0), "foreign" ones
/// to the other group, which runs in a second program (B) so that a director scoped to
/// the first (A) has foreign objects too.
/// The given names of the two groups' members (own, foreign): distinct words, so a page
/// that shows a client out of its reader's reach is caught by name.
pub const GIVEN_NAMES: [&str; 2] = ["Ada", "Bex"];

pub struct World {
    /// The clinic-wide director's token, for tests that add to the world.
    pub dir: String,
    pub program: Value,
    pub program_b: i64,
    pub room: Value,
    pub leads: Vec<i64>,
    pub groups: Vec<i64>,
    pub clients: Vec<i64>,
    pub sessions: [i64; 2],
    pub notes: [i64; 2],
    pub membership: i64,
    pub alerts: Vec<i64>,
    pub referrals: Vec<i64>,
    pub consents: Vec<i64>,
    pub placement: PlacementFixture,
    pub target_user: i64,
    pub plan_run: i64,
    /// Timetable proposals of program A (own) and program B (foreign).
    pub timetables: [i64; 2],
    pub tokens: BTreeMap<&'static str, Option<String>>,
    /// Group 1's (program B's) membership, waitlist entry and open offer.
    pub foreign_membership: i64,
    pub foreign_entry: i64,
    pub foreign_offer: i64,
}

pub async fn world(t: &circle_testkit::TestApp) -> World {
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;

    // Two groups, each with its own lead and one member; "own" objects belong to the
    // clinician and client under test, "foreign" ones to the other group.
    let (_, program) = t
        .post(&dir, "/api/v1/programs", json!({"name": "IOP", "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"}))
        .await;
    let (_, room) = t
        .post(
            &dir,
            "/api/v1/rooms",
            json!({"site": "S", "name": "R", "capacity": 12}),
        )
        .await;
    let (s, b) = t
        .post(&dir, "/api/v1/programs", json!({"name": "IOP B", "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let program_b = b["id"].as_i64().unwrap();
    let mut leads = vec![];
    let mut groups = vec![];
    let mut clients = vec![];
    for (n, given_name) in GIVEN_NAMES.iter().enumerate() {
        let (_, lead) = t
            .post(&dir, "/api/v1/clinicians", json!({"given_name": "L", "family_name": format!("T{n}"), "email": format!("lead{n}@example.test"),
                "licenses": [{"kind": "lmhc", "number": format!("L-{n}"), "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
            .await;
        let program_n = if n == 0 {
            program["id"].clone()
        } else {
            json!(program_b)
        };
        let (_, group) = t
            .post(&dir, "/api/v1/groups", json!({"program_id": program_n, "name": format!("G{n}"), "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": if n == 0 { "tuesday" } else { "wednesday" }, "start": "18:00", "minutes": 90}],
                "lead_facilitator_id": lead["id"]}))
            .await;
        let (_, client) = t
            .post(&dir, "/api/v1/clients", json!({"record_number": format!("M-{n}"), "given_name": given_name, "family_name": format!("F{n}"),
                "date_of_birth": "1980-01-01", "referral_source": "self_referral"}))
            .await;
        let cid = client["id"].as_i64().unwrap();
        t.post(
            &dir,
            &format!("/api/v1/clients/{cid}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01", "program_id": program_n}),
        )
        .await;
        let (s, _) = t
            .post(
                &dir,
                &format!("/api/v1/groups/{}/memberships", group["id"]),
                json!({"client_id": cid, "start_date": "2026-05-05"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        leads.push(lead["id"].as_i64().unwrap());
        groups.push(group["id"].as_i64().unwrap());
        clients.push(cid);
    }
    let session_of = |g: usize| {
        let t = &t;
        let dir = dir.clone();
        let group = groups[g];
        async move {
            let (_, s) = t
                .get(
                    &dir,
                    &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-11"),
                )
                .await;
            s[0]["id"].as_i64().unwrap()
        }
    };
    let sessions = [session_of(0).await, session_of(1).await];
    let notes = notes_fixture(t, &sessions, &leads, &clients).await;
    let (_, memberships) = t
        .get(&dir, &format!("/api/v1/groups/{}/memberships", groups[0]))
        .await;
    let membership = memberships["items"][0]["id"].as_i64().unwrap();
    // --- measures ---
    let alerts = measures_fixture(t, &dir, &clients).await;
    let (referrals, consents) = intake_fixture(t, &dir, &leads, &clients).await;
    let placement = placement_fixture(t, &dir, &program, leads[0], clients[0]).await;
    let target_user = security_fixture(t).await;
    // --- planner ---
    let (s, plan_run) = t
        .post(&dir, "/api/v1/plan/runs", json!({"time_limit_ms": 100}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{plan_run}");
    let plan_run = plan_run["id"].as_i64().unwrap();
    // --- end planner ---
    let director = t.app.authenticate(&dir).await.unwrap();
    let mut timetables = [0; 2];
    for (slot, p) in timetables
        .iter_mut()
        .zip([program["id"].as_i64().unwrap(), program_b])
    {
        *slot = t
            .app
            .build_timetable(&director, Some(circle_domain::ids::ProgramId(p)), 500)
            .await
            .unwrap()
            .id;
    }

    let tokens: BTreeMap<&str, Option<String>> = [
        ("anonymous", None),
        (
            "admin",
            Some(
                t.token_for("admin@example.test", Role::Admin, None, None)
                    .await,
            ),
        ),
        ("director", Some(dir.clone())),
        (
            "clinician",
            Some(
                t.token_for(
                    "clin@example.test",
                    Role::Clinician,
                    Some(ClinicianId(leads[0])),
                    None,
                )
                .await,
            ),
        ),
        (
            "intake",
            Some(
                t.token_for("intake@example.test", Role::Intake, None, None)
                    .await,
            ),
        ),
        (
            "client",
            Some(
                t.token_for(
                    "client@example.test",
                    Role::Client,
                    None,
                    Some(ClientId(clients[0])),
                )
                .await,
            ),
        ),
    ]
    .into_iter()
    .collect();
    // A director scoped to program A (the foreign group runs in program B).
    let mut tokens = tokens;
    let admin = tokens["admin"].clone().unwrap();
    let scoped = t
        .token_for("scoped.director@example.test", Role::Director, None, None)
        .await;
    let (_, me) = t.get(&scoped, "/api/v1/me").await;
    let (s, linked) = t
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/users/{}/programs", me["id"]),
            json!({"program_ids": [program["id"]]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{linked}");
    tokens.insert("scoped", Some(scoped));
    // Program B's own placement objects: a membership, and a client waiting for group 1
    // who is offered its free seat at once.
    let (_, list) = t
        .get(&dir, &format!("/api/v1/groups/{}/memberships", groups[1]))
        .await;
    let foreign_membership = list["items"][0]["id"].as_i64().unwrap();
    let (_, waiting) = t
        .post(
            &dir,
            "/api/v1/clients",
            json!({"record_number": "B-W", "given_name": "Wren", "family_name": "B",
            "date_of_birth": "1980-01-01", "referral_source": "self_referral",
            "availability": [{"weekday": "wednesday", "start": "08:00", "end": "22:00"}]}),
        )
        .await;
    let waiting = waiting["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            &dir,
            &format!("/api/v1/clients/{waiting}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01", "program_id": program_b}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = t
        .post(
            &dir,
            &format!("/api/v1/groups/{}/waitlist", groups[1]),
            json!({"client_id": waiting, "priority": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let foreign_entry = e["id"].as_i64().unwrap();
    let foreign_offer = e["open_offer_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("an offer at once: {e}"));
    World {
        foreign_membership,
        foreign_entry,
        foreign_offer,
        dir,
        program,
        program_b,
        room,
        leads,
        groups,
        clients,
        sessions,
        notes,
        membership,
        alerts,
        referrals,
        consents,
        placement,
        target_user,
        plan_run,
        timetables,
        tokens,
    }
}

// --- measures ---
/// One open PHQ-9 item-9 alert per client, raised by the director; returns their ids.
pub async fn measures_fixture(t: &circle_testkit::TestApp, dir: &str, clients: &[i64]) -> Vec<i64> {
    let mut alerts = vec![];
    for c in clients {
        let answers: serde_json::Map<String, Value> = (1..=9)
            .map(|i| (i.to_string(), json!(i32::from(i == 9))))
            .collect();
        let (s, r) = t
            .post(
                dir,
                &format!("/api/v1/clients/{c}/measures"),
                json!({"instrument": "phq9", "answers": answers}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        alerts.push(r["alert_id"].as_i64().unwrap());
    }
    alerts
}

// --- intake ---
/// One referral per group lead (the first is the "own" one of the clinician under test,
/// assigned to them for screening) and one Part 2 consent per client.
pub async fn intake_fixture(
    t: &circle_testkit::TestApp,
    dir: &str,
    leads: &[i64],
    clients: &[i64],
) -> (Vec<i64>, Vec<i64>) {
    let mut referrals = vec![];
    let mut consents = vec![];
    for (lead, client) in leads.iter().zip(clients) {
        let (s, r) = t
            .post(
                dir,
                "/api/v1/referrals",
                json!({"path": "therapist_referral", "name": "Synthetic",
                "reason": "r", "provider": {"name": "Dr P"}, "screener_id": lead}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        referrals.push(r["id"].as_i64().unwrap());
        let (s, c) = t
            .post(
                dir,
                &format!("/api/v1/clients/{client}/consents/part2"),
                json!({
                "patient_name": "C", "discloser": "Clinic", "recipient": "R", "information": "i",
                "purpose": "p", "expires_on": "2026-12-31", "right_to_revoke_acknowledged": true,
                "signature": "C", "signed_on": "2026-05-01"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        consents.push(c["id"].as_i64().unwrap());
    }
    (referrals, consents)
}

// --- placement ---

/// Waitlist objects: an open offer for the client under test ("own") and one for another
/// client ("foreign"), and a waiting entry to remove.
pub struct PlacementFixture {
    pub offers: [i64; 2],
    pub entry: i64,
}

pub async fn placement_fixture(
    t: &circle_testkit::TestApp,
    dir: &str,
    program: &Value,
    lead: i64,
    own_client: i64,
) -> PlacementFixture {
    let saturday = json!([{"weekday": "saturday", "start": "08:00", "end": "20:00"},
        {"weekday": "sunday", "start": "08:00", "end": "20:00"}]);
    let (s, c) = t
        .send(
            Method::PATCH,
            dir,
            &format!("/api/v1/clients/{own_client}"),
            json!({"version": 1, "availability": saturday}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (_, other) = t
        .post(dir, "/api/v1/clients", json!({"record_number": "W-1", "given_name": "W", "family_name": "W",
            "date_of_birth": "1980-01-01", "referral_source": "self_referral", "availability": saturday}))
        .await;
    let other = other["id"].as_i64().unwrap();
    t.post(
        dir,
        &format!("/api/v1/clients/{other}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    let mut offers = [0; 2];
    let mut groups = [0; 2];
    for (n, (weekday, client)) in [("saturday", own_client), ("sunday", other)]
        .iter()
        .enumerate()
    {
        let (s, g) = t
            .post(
                dir,
                "/api/v1/groups",
                json!({"program_id": program["id"], "name": format!("W{n}"),
                "kind": "process", "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "min_size": 1, "max_size": 1, "lead_facilitator_id": lead,
                "meetings": [{"weekday": weekday, "start": "10:00", "minutes": 60}]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{g}");
        groups[n] = g["id"].as_i64().unwrap();
        // The seat is free, so the client is offered it at once.
        let (s, e) = t
            .post(
                dir,
                &format!("/api/v1/groups/{}/waitlist", groups[n]),
                json!({"client_id": client, "priority": 1}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        offers[n] = e["open_offer_id"].as_i64().unwrap();
    }
    // The other client also waits for the first group (its seat is held by the offer).
    let (s, e) = t
        .post(
            dir,
            &format!("/api/v1/groups/{}/waitlist", groups[0]),
            json!({"client_id": other, "priority": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    PlacementFixture {
        offers,
        entry: e["id"].as_i64().unwrap(),
    }
}
// --- notes ---
/// Each group's session is held (its member present) and has a draft group note and a
/// draft progress note, written through the store as of the session's end (the test clock
/// stands before the sessions). Returns the progress notes' ids, own first.
pub async fn notes_fixture(
    t: &circle_testkit::TestApp,
    sessions: &[i64; 2],
    leads: &[i64],
    clients: &[i64],
) -> [i64; 2] {
    use circle_domain::ids::SessionId;
    use circle_testkit::builders::input;
    let store = &t.db.store;
    let mut ids = [0; 2];
    for i in 0..2 {
        let session = store.session(SessionId(sessions[i])).await.unwrap();
        let at = session.ends_at;
        // Attending needs the group agreement (the intake rule).
        store
            .sys_sign_group_agreement(
                ClientId(clients[i]),
                session.local_date,
                circle_domain::intake::SignatureMethod::Paper,
                at,
            )
            .await
            .unwrap();
        store
            .sys_record_attendance(
                session.id,
                ClientId(clients[i]),
                &input(json!({"status": "present"})),
                None,
                at,
            )
            .await
            .unwrap();
        store
            .sys_save_group_note(
                session.id,
                ClinicianId(leads[i]),
                &input(json!({"themes": "t"})),
                at,
            )
            .await
            .unwrap();
        let note = store
            .sys_save_progress_note(
                session.id,
                ClientId(clients[i]),
                ClinicianId(leads[i]),
                &input(json!({"presentation": "p"})),
                at,
            )
            .await
            .unwrap();
        ids[i] = note.meta.id.0;
    }
    ids
}
// --- end notes ---
// --- security ---

/// The account the administrators' routes act on (disable, resets): nobody's token in the
/// matrix belongs to it, so acting on it leaves the other rows' callers signed in.
pub async fn security_fixture(t: &circle_testkit::TestApp) -> i64 {
    let email = circle_domain::text::Email::parse("target@example.test").unwrap();
    t.app
        .create_user(
            &email,
            circle_testkit::TEST_PASSWORD,
            Role::Intake,
            None,
            None,
        )
        .await
        .unwrap()
        .id
        .0
}
