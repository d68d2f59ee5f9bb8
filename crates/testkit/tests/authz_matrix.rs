//! The authorization matrix: every route the router serves (enumerated from the OpenAPI
//! document, which utoipa-axum generates from the same route registrations) × every role
//! and anonymous × own and foreign objects, compared with the expected table below. A
//! route missing from the table fails the test, so no route ships unchecked.
//!
//! "allow" means authorization let the request through (any status but 401/403/404 — a 409
//! or 422 from the rules behind it is fine); "deny" means 401, 403 or 404 (foreign objects
//! are hidden as 404). A 5xx always fails.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_testkit::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[path = "world/mod.rs"]
mod world;
use world::{World, world};

/// Expected outcome per caller: anonymous, admin, director, clinician, intake, client.
/// `A` allow, `D` deny. `Object` picks the caller's own object or a foreign one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Object {
    Own,
    Foreign,
}

const CALLERS: [&str; 6] = [
    "anonymous",
    "admin",
    "director",
    "clinician",
    "intake",
    "client",
];

fn table() -> Vec<(&'static str, &'static str, Object, &'static str)> {
    use Object::*;
    vec![
        // method, path, object, expectation per caller (anon admin director clinician intake client)
        ("GET", "/api/v1/me", Own, "DAAAAA"),
        ("GET", "/api/v1/programs", Own, "DAAAAD"),
        ("POST", "/api/v1/programs", Own, "DDADDD"),
        ("GET", "/api/v1/programs/{id}", Own, "DAAAAD"),
        ("PATCH", "/api/v1/programs/{id}", Own, "DDADDD"),
        // A program's messaging settings: its directors only.
        ("GET", "/api/v1/programs/{id}/messaging", Own, "DDADDD"),
        ("PUT", "/api/v1/programs/{id}/messaging", Own, "DDADDD"),
        ("GET", "/api/v1/rooms", Own, "DAAAAD"),
        ("POST", "/api/v1/rooms", Own, "DAADDD"),
        ("GET", "/api/v1/rooms/{id}", Own, "DAAAAD"),
        ("GET", "/api/v1/clinicians", Own, "DAAAAD"),
        ("POST", "/api/v1/clinicians", Own, "DAADDD"),
        ("GET", "/api/v1/clinicians/{id}", Own, "DAAAAD"),
        ("PUT", "/api/v1/clinicians/{id}/npi", Own, "DAADDD"),
        ("GET", "/api/v1/clients", Own, "DDAAAD"),
        ("POST", "/api/v1/clients", Own, "DDADAD"),
        ("GET", "/api/v1/clients/{id}", Own, "DDAAAA"),
        ("GET", "/api/v1/clients/{id}", Foreign, "DDADAD"),
        ("PATCH", "/api/v1/clients/{id}", Own, "DDADAD"),
        ("GET", "/api/v1/clients/{id}/episodes", Own, "DDAAAA"),
        ("GET", "/api/v1/clients/{id}/episodes", Foreign, "DDADAD"),
        // Intake admits (an episode at a level of care); clinicians their caseload.
        ("POST", "/api/v1/clients/{id}/episodes", Own, "DDAAAD"),
        ("POST", "/api/v1/clients/{id}/episodes", Foreign, "DDADAD"),
        // Discharge reaches the rules (the fixture's clients still have a membership: 409).
        ("POST", "/api/v1/clients/{id}/discharge", Own, "DDAADD"),
        ("POST", "/api/v1/clients/{id}/discharge", Foreign, "DDADDD"),
        ("GET", "/api/v1/clients/{id}/separations", Own, "DDAAAD"),
        ("GET", "/api/v1/clients/{id}/separations", Foreign, "DDADAD"),
        ("POST", "/api/v1/clients/{id}/separations", Own, "DDAAAD"),
        ("GET", "/api/v1/clients/{id}/memberships", Own, "DDAAAA"),
        ("GET", "/api/v1/clients/{id}/memberships", Foreign, "DDADAD"),
        ("GET", "/api/v1/groups", Own, "DAAAAD"),
        ("POST", "/api/v1/groups", Own, "DDADDD"),
        ("GET", "/api/v1/groups/{id}", Own, "DAAAAD"),
        ("PATCH", "/api/v1/groups/{id}", Own, "DDADDD"),
        ("GET", "/api/v1/groups/{id}/memberships", Own, "DDAAAD"),
        ("GET", "/api/v1/groups/{id}/memberships", Foreign, "DDADAD"),
        ("POST", "/api/v1/groups/{id}/memberships", Own, "DDADAD"),
        ("PATCH", "/api/v1/memberships/{id}", Own, "DDAAAD"),
        ("GET", "/api/v1/groups/{id}/sessions", Own, "DAAAAD"),
        (
            "POST",
            "/api/v1/groups/{id}/sessions/materialize",
            Own,
            "DDADDD",
        ),
        ("GET", "/api/v1/sessions/{id}", Own, "DAAAAD"),
        ("GET", "/api/v1/sessions/{id}/roster", Own, "DDAAAD"),
        ("GET", "/api/v1/sessions/{id}/roster", Foreign, "DDADAD"),
        ("POST", "/api/v1/sessions/{id}/cancel", Own, "DDAADD"),
        ("GET", "/api/v1/sessions/{id}/attendance", Own, "DDAADD"),
        ("GET", "/api/v1/sessions/{id}/attendance", Foreign, "DDADDD"),
        (
            "PUT",
            "/api/v1/sessions/{id}/attendance/{client_id}",
            Own,
            "DDAADD",
        ),
        (
            "PUT",
            "/api/v1/sessions/{id}/attendance/{client_id}",
            Foreign,
            "DDADDD",
        ),
        // Telehealth and calendars (issue 15): a group's join URL is the director's; a
        // session's is its facilitators' and directors' (never intake or admin); the
        // calendar settings every staff role reads and clinic-wide directors and
        // administrators change.
        ("PUT", "/api/v1/groups/{id}/join-url", Own, "DDADDD"),
        ("GET", "/api/v1/sessions/{id}/join-url", Own, "DDAADD"),
        ("GET", "/api/v1/sessions/{id}/join-url", Foreign, "DDADDD"),
        ("PUT", "/api/v1/sessions/{id}/join-url", Own, "DDAADD"),
        ("PUT", "/api/v1/sessions/{id}/join-url", Foreign, "DDADDD"),
        ("GET", "/api/v1/clinic/calendar-settings", Own, "DAAAAD"),
        ("PUT", "/api/v1/clinic/calendar-settings", Own, "DAADDD"),
        // --- notes ---
        // Notes: the session's facilitators and directors read; writing needs a clinician
        // record (the director of this fixture has none, so writes are refused to them).
        ("PATCH", "/api/v1/sessions/{id}", Own, "DDAADD"),
        ("PATCH", "/api/v1/sessions/{id}", Foreign, "DDADDD"),
        ("GET", "/api/v1/sessions/{id}/group-note", Own, "DDAADD"),
        ("GET", "/api/v1/sessions/{id}/group-note", Foreign, "DDADDD"),
        ("PUT", "/api/v1/sessions/{id}/group-note", Own, "DDDADD"),
        ("PUT", "/api/v1/sessions/{id}/group-note", Foreign, "DDDDDD"),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/sign",
            Own,
            "DDDADD",
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/sign",
            Foreign,
            "DDDDDD",
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/cosign",
            Own,
            "DDDADD",
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/cosign",
            Foreign,
            "DDDDDD",
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/addenda",
            Own,
            "DDDADD",
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/addenda",
            Foreign,
            "DDDDDD",
        ),
        ("GET", "/api/v1/sessions/{id}/notes", Own, "DDAADD"),
        ("GET", "/api/v1/sessions/{id}/notes", Foreign, "DDADDD"),
        (
            "PUT",
            "/api/v1/sessions/{id}/notes/{client_id}",
            Own,
            "DDDADD",
        ),
        (
            "PUT",
            "/api/v1/sessions/{id}/notes/{client_id}",
            Foreign,
            "DDDDDD",
        ),
        ("GET", "/api/v1/notes/overdue", Own, "DDAADD"),
        ("GET", "/api/v1/notes/{id}", Own, "DDAADD"),
        ("GET", "/api/v1/notes/{id}", Foreign, "DDADDD"),
        ("POST", "/api/v1/notes/{id}/sign", Own, "DDDADD"),
        ("POST", "/api/v1/notes/{id}/sign", Foreign, "DDDDDD"),
        ("POST", "/api/v1/notes/{id}/cosign", Own, "DDDADD"),
        ("POST", "/api/v1/notes/{id}/cosign", Foreign, "DDDDDD"),
        ("POST", "/api/v1/notes/{id}/addenda", Own, "DDDADD"),
        ("POST", "/api/v1/notes/{id}/addenda", Foreign, "DDDDDD"),
        // --- end notes ---
        ("GET", "/api/v1/audit", Own, "DAADDD"),
        // Nobody holds an emergency grant here: opening one is refused for everyone.
        (
            "POST",
            "/api/v1/clients/{id}/emergency-access",
            Own,
            "DDDDDD",
        ),
        ("GET", "/api/v1/emergency-accesses", Own, "DAADDD"),
        // A clinic-wide director grants emergency access (never an administrator, and
        // never to themself: that is a 422, which the matrix counts as let through).
        ("PUT", "/api/v1/users/{id}/emergency-grant", Own, "DDADDD"),
        (
            "DELETE",
            "/api/v1/users/{id}/emergency-grant",
            Own,
            "DDADDD",
        ),
        ("POST", "/api/v1/plan/proposals", Own, "DDADDD"),
        ("POST", "/api/v1/plan/apply", Own, "DDADDD"),
        // --- planner ---
        ("POST", "/api/v1/plan/runs", Own, "DDADDD"),
        ("GET", "/api/v1/plan/runs", Own, "DDADDD"),
        ("GET", "/api/v1/plan/runs/{id}", Own, "DDADDD"),
        ("POST", "/api/v1/plan/runs/{id}/approve", Own, "DDADDD"),
        // --- end planner ---
        // --- reports ---
        ("GET", "/api/v1/compliance", Own, "DDAADD"),
        ("GET", "/api/v1/clients/{id}/diagnoses", Own, "DDAADD"),
        ("GET", "/api/v1/clients/{id}/diagnoses", Foreign, "DDADDD"),
        ("PUT", "/api/v1/clients/{id}/diagnoses", Own, "DDAADD"),
        ("PUT", "/api/v1/clients/{id}/diagnoses", Foreign, "DDADDD"),
        ("GET", "/api/v1/billing/export", Own, "DDADDD"),
        // The test clinic configures no NPI: a director's claim file is a 422 naming it.
        ("GET", "/api/v1/billing/837p", Own, "DDADDD"),
        // --- measures ---
        // Instruments: every signed-in user reads them (a client, the self-report ones).
        ("GET", "/api/v1/instruments", Own, "DAAAAA"),
        ("POST", "/api/v1/instruments", Own, "DDADDD"),
        ("GET", "/api/v1/instruments/{code}", Own, "DAAAAA"),
        // Measures: the client's clinicians, directors and the client; never intake;
        // admin only under emergency access (none here).
        ("GET", "/api/v1/clients/{id}/measures", Own, "DDAADA"),
        ("GET", "/api/v1/clients/{id}/measures", Foreign, "DDADDD"),
        ("POST", "/api/v1/clients/{id}/measures", Own, "DDAADA"),
        ("POST", "/api/v1/clients/{id}/measures", Foreign, "DDADDD"),
        (
            "GET",
            "/api/v1/clients/{id}/measures/summary",
            Own,
            "DDAADA",
        ),
        (
            "GET",
            "/api/v1/clients/{id}/measures/summary",
            Foreign,
            "DDADDD",
        ),
        ("GET", "/api/v1/measures/due", Own, "DDAADD"),
        // Safety alerts: the client's clinicians and directors only, never the client.
        ("GET", "/api/v1/alerts", Own, "DDAADD"),
        ("POST", "/api/v1/alerts/{id}/acknowledge", Own, "DDAADD"),
        ("POST", "/api/v1/alerts/{id}/acknowledge", Foreign, "DDADDD"),
        // --- intake ---
        // The own referral is assigned to the clinician under test for screening.
        ("POST", "/api/v1/referrals", Own, "DDADAD"),
        ("GET", "/api/v1/referrals", Own, "DDAAAD"),
        ("GET", "/api/v1/referrals/{id}", Own, "DDAAAD"),
        ("GET", "/api/v1/referrals/{id}", Foreign, "DDADAD"),
        // Intake screens (DESIGN.md's role table): every referral, as it reads them.
        ("POST", "/api/v1/referrals/{id}/screenings", Own, "DDAAAD"),
        (
            "POST",
            "/api/v1/referrals/{id}/screenings",
            Foreign,
            "DDADAD",
        ),
        ("POST", "/api/v1/referrals/{id}/transitions", Own, "DDADAD"),
        // The body names the clinician under test, the own referral's screener already:
        // assigning it changes nobody's reach.
        ("PUT", "/api/v1/referrals/{id}/screener", Own, "DDADAD"),
        (
            "POST",
            "/api/v1/clients/{id}/consents/group-agreement",
            Own,
            "DDAAAA",
        ),
        (
            "POST",
            "/api/v1/clients/{id}/consents/group-agreement",
            Foreign,
            "DDADAD",
        ),
        ("GET", "/api/v1/clients/{id}/consents", Own, "DDAAAA"),
        ("GET", "/api/v1/clients/{id}/consents", Foreign, "DDADAD"),
        ("GET", "/api/v1/clients/{id}/contact-consent", Own, "DDAAAA"),
        (
            "GET",
            "/api/v1/clients/{id}/contact-consent",
            Foreign,
            "DDADAD",
        ),
        ("PUT", "/api/v1/clients/{id}/contact-consent", Own, "DDADAA"),
        (
            "PUT",
            "/api/v1/clients/{id}/contact-consent",
            Foreign,
            "DDADAD",
        ),
        ("POST", "/api/v1/clients/{id}/consents/part2", Own, "DDAAAD"),
        (
            "POST",
            "/api/v1/clients/{id}/consents/part2",
            Foreign,
            "DDADAD",
        ),
        (
            "POST",
            "/api/v1/clients/{id}/consents/part2/{consent_id}/revoke",
            Own,
            "DDAAAA",
        ),
        (
            "POST",
            "/api/v1/clients/{id}/consents/part2/{consent_id}/revoke",
            Foreign,
            "DDADAD",
        ),
        ("POST", "/api/v1/clients/{id}/disclosures", Own, "DDAAAD"),
        (
            "POST",
            "/api/v1/clients/{id}/disclosures",
            Foreign,
            "DDADAD",
        ),
        ("GET", "/api/v1/clients/{id}/disclosures", Own, "DDAAAA"),
        ("GET", "/api/v1/clients/{id}/disclosures", Foreign, "DDADAD"),
        // --- end intake ---
        // --- placement ---
        (
            "GET",
            "/api/v1/clients/{id}/placement-suggestions",
            Own,
            "DDAAAD",
        ),
        (
            "GET",
            "/api/v1/clients/{id}/placement-suggestions",
            Foreign,
            "DDADAD",
        ),
        ("GET", "/api/v1/clients/{id}/transition-plan", Own, "DDAAAD"),
        (
            "GET",
            "/api/v1/clients/{id}/transition-plan",
            Foreign,
            "DDADAD",
        ),
        ("GET", "/api/v1/groups/{id}/waitlist", Own, "DDADAD"),
        ("POST", "/api/v1/groups/{id}/waitlist", Own, "DDADAD"),
        ("DELETE", "/api/v1/waitlist/{id}", Own, "DDADAD"),
        ("GET", "/api/v1/offers", Own, "DDADAA"),
        ("GET", "/api/v1/offers/{id}", Own, "DDADAA"),
        ("GET", "/api/v1/offers/{id}", Foreign, "DDADAD"),
        ("POST", "/api/v1/offers/{id}/decline", Foreign, "DDADAD"),
        ("POST", "/api/v1/offers/{id}/accept", Own, "DDADAA"),
        ("POST", "/api/v1/offers/{id}/decline", Own, "DDADAA"),
        ("POST", "/api/v1/offers/{id}/accept", Foreign, "DDADAD"),
        // --- end placement ---
        // --- security ---
        ("GET", "/api/v1/users", Own, "DADDDD"),
        ("POST", "/api/v1/users", Own, "DADDDD"),
        ("PATCH", "/api/v1/users/{id}", Own, "DADDDD"),
        ("POST", "/api/v1/users/{id}/mfa-reset", Own, "DADDDD"),
        ("POST", "/api/v1/users/{id}/password", Own, "DADDDD"),
        // A director's programs (the target is an intake account: 422 for the admin).
        ("GET", "/api/v1/users/{id}/programs", Own, "DADDDD"),
        ("PUT", "/api/v1/users/{id}/programs", Own, "DADDDD"),
        // Every signed-in user changes their own password (a wrong current one here: 422).
        ("POST", "/api/v1/me/password", Own, "DAAAAA"),
        // Last: signing out revokes the callers' tokens.
        ("POST", "/api/v1/auth/logout", Own, "DAAAAA"),
    ]
}

/// Routes anyone may call (no token): sign-in steps and the document itself.
const PUBLIC: [&str; 7] = [
    "POST /api/v1/auth/login",
    // --- intake ---
    "POST /api/v1/self-referrals",
    "GET /api/v1/group-agreement",
    "POST /api/v1/auth/mfa/enroll",
    "GET /healthz",
    "GET /readyz",
    "GET /api/v1/openapi.json",
];

#[tokio::test]
async fn every_route_times_every_role_matches_the_expected_table() {
    let t = spawn_app().await;
    let World {
        dir: _,
        program,
        program_b: _,
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
        tokens,
        ..
    } = world(&t).await;

    // Every route of the router is in the table or public.
    let doc: Value = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let table = table();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let key = format!("{} {path}", method.to_uppercase());
            let listed = table.iter().any(|(m, p, _, _)| format!("{m} {p}") == key)
                || PUBLIC.contains(&key.as_str());
            assert!(
                listed,
                "route {key} is missing from the authorization table"
            );
        }
    }

    let mut failures = vec![];
    let mut seq = 0;
    for (method, path, object, expected) in &table {
        let i = if *object == Object::Own { 0 } else { 1 };
        for (k, caller) in CALLERS.iter().enumerate() {
            seq += 1;
            let id = if path.starts_with("/api/v1/clients") {
                clients[i]
            } else if path.starts_with("/api/v1/groups/{id}") {
                groups[i]
            } else if path.starts_with("/api/v1/sessions") {
                sessions[i]
            } else if path.starts_with("/api/v1/notes") {
                notes[i]
            } else if path.starts_with("/api/v1/memberships") {
                membership
            } else if path.starts_with("/api/v1/waitlist") {
                placement.entry
            } else if path.starts_with("/api/v1/offers") {
                placement.offers[i]
            } else if path.starts_with("/api/v1/programs") {
                program["id"].as_i64().unwrap()
            } else if path.starts_with("/api/v1/referrals") {
                referrals[i]
            } else if path.starts_with("/api/v1/rooms") {
                room["id"].as_i64().unwrap()
            } else if path.starts_with("/api/v1/alerts") {
                alerts[i]
            } else if path.starts_with("/api/v1/users/{id}") {
                target_user
            // --- planner ---
            } else if path.starts_with("/api/v1/plan/runs/{id}") {
                plan_run
            // --- end planner ---
            } else {
                leads[0]
            };
            let mut concrete = path
                .replace("{id}", &id.to_string())
                .replace("{client_id}", &clients[i].to_string())
                .replace("{code}", "phq9")
                .replace("{consent_id}", &consents[i].to_string());
            if *path == "/api/v1/groups/{id}/sessions" {
                concrete.push_str("?from=2026-05-04&until=2026-05-11");
            }
            if *path == "/api/v1/billing/export" || *path == "/api/v1/billing/837p" {
                concrete.push_str("?from=2026-05-01&until=2026-05-31");
            }
            let body = body_for(method, path, seq, &program, leads[0], clients[1 - i]);
            let mut req = t.http.request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                t.url(&concrete),
            );
            if let Some(token) = &tokens[caller] {
                req = req.bearer_auth(token);
            }
            if *method != "GET" {
                req = req.json(&body);
            }
            let status = req.send().await.unwrap().status();
            assert!(
                !status.is_server_error(),
                "{method} {concrete} as {caller}: {status}"
            );
            // A request refused for its shape never reached authorization: the table would
            // prove nothing about it.
            assert_ne!(
                status,
                StatusCode::BAD_REQUEST,
                "{method} {concrete} as {caller}: malformed test request"
            );
            let denied = matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            );
            let want_denied = expected.as_bytes()[k] == b'D';
            if denied != want_denied {
                failures.push(format!(
                    "{method} {path} ({object:?}) as {caller}: got {status}, expected {}",
                    if want_denied { "deny" } else { "allow" }
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}

/// A body that parses, so the request reaches authorization; whatever the rules say after
/// that (409, 422) counts as "allowed". Names are unique per call.
fn body_for(
    method: &str,
    path: &str,
    seq: usize,
    program: &Value,
    lead: i64,
    other_client: i64,
) -> Value {
    match (method, path) {
        ("POST", "/api/v1/programs") => {
            json!({"name": format!("P{seq}"), "site": "S", "level_of_care": "outpatient", "time_zone": "America/New_York"})
        }
        ("PATCH", "/api/v1/programs/{id}") => json!({"version": 999}),
        ("PUT", "/api/v1/programs/{id}/messaging") => json!({"reminder_hours": 24}),
        ("POST", "/api/v1/rooms") => {
            json!({"site": "S", "name": format!("Room {seq}"), "capacity": 10})
        }
        ("PUT", "/api/v1/clinicians/{id}/npi") => json!({"npi": "1234567893"}),
        ("POST", "/api/v1/clinicians") => {
            json!({"given_name": "N", "family_name": "N", "email": format!("n{seq}@example.test")})
        }
        ("POST", "/api/v1/clients") => {
            json!({"record_number": format!("N-{seq}"), "given_name": "N", "family_name": "N",
            "date_of_birth": "1990-01-01", "referral_source": "self_referral"})
        }
        ("PATCH", "/api/v1/clients/{id}") => json!({"version": 999}),
        ("POST", "/api/v1/clients/{id}/episodes") => {
            json!({"level_of_care": "outpatient", "started_on": "2026-01-01"})
        }
        ("POST", "/api/v1/clients/{id}/separations") => json!({"other_client_id": other_client}),
        ("POST", "/api/v1/groups") => {
            json!({"program_id": program["id"], "name": format!("G{seq}"), "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "friday", "start": "08:00", "minutes": 60}], "lead_facilitator_id": lead})
        }
        ("PATCH", "/api/v1/groups/{id}") => json!({"version": 999}),
        ("POST", "/api/v1/groups/{id}/memberships") => {
            json!({"client_id": other_client, "start_date": "2026-01-01"})
        }
        ("PATCH", "/api/v1/memberships/{id}") => json!({"version": 999, "status": "on_hold"}),
        ("POST", "/api/v1/clients/{id}/emergency-access") => json!({"reason": "crisis call"}),
        ("POST", "/api/v1/groups/{id}/sessions/materialize") => {
            json!({"from": "2026-05-04", "weeks": 1})
        }
        ("POST", "/api/v1/sessions/{id}/cancel") => json!({"version": 999, "reason": "test"}),
        ("PUT", "/api/v1/sessions/{id}/attendance/{client_id}") => json!({"status": "present"}),
        ("PUT", "/api/v1/groups/{id}/join-url" | "/api/v1/sessions/{id}/join-url") => {
            json!({"join_url": "https://video.example.org/j/matrix"})
        }
        ("PUT", "/api/v1/clinic/calendar-settings") => json!({"staff_feed_group_names": false}),
        // --- notes ---
        ("PATCH", "/api/v1/sessions/{id}") => json!({"version": 999}),
        ("PUT", "/api/v1/sessions/{id}/group-note") => json!({"themes": "t"}),
        ("PUT", "/api/v1/sessions/{id}/notes/{client_id}") => json!({"version": 999}),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/sign"
            | "/api/v1/sessions/{id}/group-note/cosign"
            | "/api/v1/notes/{id}/sign"
            | "/api/v1/notes/{id}/cosign",
        ) => json!({"version": 999}),
        ("POST", "/api/v1/sessions/{id}/group-note/addenda" | "/api/v1/notes/{id}/addenda") => {
            json!({"text": "addendum"})
        }
        // --- end notes ---
        ("POST", "/api/v1/plan/proposals") => json!({"time_limit_ms": 100}),
        ("POST", "/api/v1/plan/apply") => json!({"start_date": "2026-05-05", "placements": []}),
        // --- planner ---
        ("POST", "/api/v1/plan/runs") => json!({"time_limit_ms": 100}),
        ("POST", "/api/v1/plan/runs/{id}/approve") => {
            json!({"start_date": "2026-05-05", "items": []})
        }
        // --- end planner ---
        ("PUT", "/api/v1/clients/{id}/diagnoses") => json!({"codes": ["F33.1"]}),
        ("POST", "/api/v1/clients/{id}/discharge") => json!({"ended_on": "2026-05-20"}),
        // --- measures ---
        ("POST", "/api/v1/instruments") => json!({"code": format!("clinic{seq}"), "name": "N",
            "items": [{"id": "a", "text": "T", "options": [{"value": 0, "label": "No"}, {"value": 1, "label": "Yes"}]}],
            "bands": [{"min": 0, "max": 1, "label": "any"}], "respondents": ["client"], "direction": "lower_is_better"}),
        ("POST", "/api/v1/clients/{id}/measures") => json!({"instrument": "gad7",
            "answers": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0}}),
        ("POST", "/api/v1/alerts/{id}/acknowledge") => json!({"action_taken": "Called the client"}),
        // --- intake ---
        ("POST", "/api/v1/referrals") => {
            json!({"path": "therapist_referral", "name": "N", "reason": "r", "provider": {"name": "Dr P"}})
        }
        ("POST", "/api/v1/referrals/{id}/screenings") => json!({"decision": "not_ready"}),
        ("POST", "/api/v1/referrals/{id}/transitions") => json!({"to": "withdrawn"}),
        ("PUT", "/api/v1/referrals/{id}/screener") => json!({"screener_id": lead}),
        ("POST", "/api/v1/clients/{id}/consents/group-agreement") => {
            json!({"signed_on": "2026-05-04"})
        }
        ("PUT", "/api/v1/clients/{id}/contact-consent") => json!({"granted": true}),
        ("POST", "/api/v1/clients/{id}/consents/part2") => json!({"recipient": "R"}),
        ("POST", "/api/v1/clients/{id}/consents/part2/{consent_id}/revoke") => {
            json!({"reason": "revoked_by_patient"})
        }
        ("POST", "/api/v1/clients/{id}/disclosures") => {
            json!({"recipient": "R", "information": "i", "purpose": "p"})
        }
        // --- placement ---
        ("POST", "/api/v1/groups/{id}/waitlist") => {
            json!({"client_id": other_client, "priority": 3})
        }
        // --- security ---
        ("POST", "/api/v1/users") => {
            json!({"email": format!("u{seq}@example.test"), "role": "intake", "password": "amber lantern orchard violin"})
        }
        ("PATCH", "/api/v1/users/{id}") => json!({"disabled": true}),
        ("PUT", "/api/v1/users/{id}/programs") => json!({"program_ids": []}),
        ("POST", "/api/v1/users/{id}/password") => {
            json!({"password": "amber lantern orchard violin"})
        }
        ("POST", "/api/v1/me/password") => {
            json!({"current_password": "not-the-password-at-all", "new_password": "amber lantern orchard violin"})
        }
        _ => json!({}),
    }
}

/// What an id in a write names. `Shared` ids name clinic-wide records no principal is
/// scoped out of (staff, rooms, an instrument's own items, a response checked against the
/// referral's client); the rest are walked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Client,
    Group,
    Session,
    Note,
    Referral,
    Alert,
    Consent,
    Membership,
    Waitlist,
    Offer,
    Program,
    PlanRun,
    User,
    Shared,
}

/// Every id a write route accepts — in its path, query or body (`a[].b` inside a list) —
/// and what it names. The walk fails when the API has an id-carrying field this table
/// does not list, so a new one cannot ship unwalked.
fn id_fields() -> Vec<(&'static str, &'static str, &'static str, Kind)> {
    use Kind::*;
    vec![
        ("POST", "/api/v1/alerts/{id}/acknowledge", "path id", Alert),
        ("PATCH", "/api/v1/clients/{id}", "path id", Client),
        // Clinicians are staff records every director and admin may set up.
        ("PUT", "/api/v1/clinicians/{id}/npi", "path id", Shared),
        (
            "POST",
            "/api/v1/clients/{id}/consents/group-agreement",
            "path id",
            Client,
        ),
        (
            "PUT",
            "/api/v1/clients/{id}/contact-consent",
            "path id",
            Client,
        ),
        (
            "POST",
            "/api/v1/clients/{id}/consents/part2",
            "path id",
            Client,
        ),
        (
            "POST",
            "/api/v1/clients/{id}/consents/part2/{consent_id}/revoke",
            "path id",
            Client,
        ),
        (
            "POST",
            "/api/v1/clients/{id}/consents/part2/{consent_id}/revoke",
            "path consent_id",
            Consent,
        ),
        ("PUT", "/api/v1/clients/{id}/diagnoses", "path id", Client),
        ("POST", "/api/v1/clients/{id}/discharge", "path id", Client),
        (
            "POST",
            "/api/v1/clients/{id}/disclosures",
            "path id",
            Client,
        ),
        (
            "POST",
            "/api/v1/clients/{id}/emergency-access",
            "path id",
            Client,
        ),
        ("POST", "/api/v1/clients/{id}/episodes", "path id", Client),
        (
            "POST",
            "/api/v1/clients/{id}/episodes",
            "body program_id",
            Program,
        ),
        ("POST", "/api/v1/clients/{id}/measures", "path id", Client),
        (
            "POST",
            "/api/v1/clients/{id}/separations",
            "path id",
            Client,
        ),
        (
            "POST",
            "/api/v1/clients/{id}/separations",
            "body other_client_id",
            Client,
        ),
        ("POST", "/api/v1/groups", "body co_facilitator_id", Shared),
        ("POST", "/api/v1/groups", "body lead_facilitator_id", Shared),
        ("POST", "/api/v1/groups", "body program_id", Program),
        ("POST", "/api/v1/groups", "body room_id", Shared),
        ("PATCH", "/api/v1/groups/{id}", "path id", Group),
        (
            "PATCH",
            "/api/v1/groups/{id}",
            "body co_facilitator_id",
            Shared,
        ),
        (
            "PATCH",
            "/api/v1/groups/{id}",
            "body lead_facilitator_id",
            Shared,
        ),
        ("PUT", "/api/v1/groups/{id}/join-url", "path id", Group),
        ("PUT", "/api/v1/sessions/{id}/join-url", "path id", Session),
        ("POST", "/api/v1/groups/{id}/memberships", "path id", Group),
        (
            "POST",
            "/api/v1/groups/{id}/memberships",
            "body client_id",
            Client,
        ),
        (
            "POST",
            "/api/v1/groups/{id}/sessions/materialize",
            "path id",
            Group,
        ),
        ("POST", "/api/v1/groups/{id}/waitlist", "path id", Group),
        (
            "POST",
            "/api/v1/groups/{id}/waitlist",
            "body client_id",
            Client,
        ),
        ("POST", "/api/v1/instruments", "body items[].id", Shared),
        ("PATCH", "/api/v1/memberships/{id}", "path id", Membership),
        ("POST", "/api/v1/notes/{id}/addenda", "path id", Note),
        ("POST", "/api/v1/notes/{id}/cosign", "path id", Note),
        ("POST", "/api/v1/notes/{id}/sign", "path id", Note),
        ("POST", "/api/v1/offers/{id}/accept", "path id", Offer),
        ("POST", "/api/v1/offers/{id}/decline", "path id", Offer),
        (
            "POST",
            "/api/v1/plan/apply",
            "body placements[].client_id",
            Client,
        ),
        (
            "POST",
            "/api/v1/plan/apply",
            "body placements[].group_id",
            Group,
        ),
        ("POST", "/api/v1/plan/proposals", "body program_id", Program),
        ("POST", "/api/v1/plan/runs", "body program_id", Program),
        ("POST", "/api/v1/plan/runs/{id}/approve", "path id", PlanRun),
        (
            "POST",
            "/api/v1/plan/runs/{id}/approve",
            "body items[].client_id",
            Client,
        ),
        (
            "POST",
            "/api/v1/plan/runs/{id}/approve",
            "body items[].group_id",
            Group,
        ),
        ("PATCH", "/api/v1/programs/{id}", "path id", Program),
        ("PUT", "/api/v1/programs/{id}/messaging", "path id", Program),
        ("POST", "/api/v1/referrals", "body client_id", Client),
        ("POST", "/api/v1/referrals", "body program_id", Program),
        ("POST", "/api/v1/referrals", "body screener_id", Shared),
        (
            "POST",
            "/api/v1/referrals/{id}/screenings",
            "path id",
            Referral,
        ),
        (
            "PUT",
            "/api/v1/referrals/{id}/screener",
            "path id",
            Referral,
        ),
        (
            "PUT",
            "/api/v1/referrals/{id}/screener",
            "body screener_id",
            Shared,
        ),
        (
            "POST",
            "/api/v1/referrals/{id}/screenings",
            "body measure_response_id",
            Shared,
        ),
        (
            "POST",
            "/api/v1/referrals/{id}/transitions",
            "path id",
            Referral,
        ),
        (
            "POST",
            "/api/v1/referrals/{id}/transitions",
            "body client_id",
            Client,
        ),
        ("PATCH", "/api/v1/sessions/{id}", "path id", Session),
        (
            "PUT",
            "/api/v1/sessions/{id}/attendance/{client_id}",
            "path id",
            Session,
        ),
        (
            "PUT",
            "/api/v1/sessions/{id}/attendance/{client_id}",
            "path client_id",
            Client,
        ),
        ("POST", "/api/v1/sessions/{id}/cancel", "path id", Session),
        (
            "PUT",
            "/api/v1/sessions/{id}/group-note",
            "path id",
            Session,
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/addenda",
            "path id",
            Session,
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/cosign",
            "path id",
            Session,
        ),
        (
            "POST",
            "/api/v1/sessions/{id}/group-note/sign",
            "path id",
            Session,
        ),
        (
            "PUT",
            "/api/v1/sessions/{id}/notes/{client_id}",
            "path id",
            Session,
        ),
        (
            "PUT",
            "/api/v1/sessions/{id}/notes/{client_id}",
            "path client_id",
            Client,
        ),
        ("POST", "/api/v1/users", "body client_id", Client),
        ("POST", "/api/v1/users", "body clinician_id", Shared),
        ("PATCH", "/api/v1/users/{id}", "path id", User),
        (
            "DELETE",
            "/api/v1/users/{id}/emergency-grant",
            "path id",
            User,
        ),
        ("PUT", "/api/v1/users/{id}/emergency-grant", "path id", User),
        ("POST", "/api/v1/users/{id}/mfa-reset", "path id", User),
        ("POST", "/api/v1/users/{id}/password", "path id", User),
        ("PUT", "/api/v1/users/{id}/programs", "path id", User),
        (
            "PUT",
            "/api/v1/users/{id}/programs",
            "body program_ids",
            Program,
        ),
        ("DELETE", "/api/v1/waitlist/{id}", "path id", Waitlist),
    ]
}

/// The id-carrying fields of a JSON schema: names ending in `id`/`_ids`, inside nested
/// objects and lists (`a[].b`), with `$ref`s and `oneOf`/`anyOf`/`allOf` followed.
fn schema_id_fields(doc: &Value, schema: &Value, prefix: &str, depth: u8, out: &mut Vec<String>) {
    let mut s = schema;
    while let Some(r) = s["$ref"].as_str() {
        s = &doc["components"]["schemas"][r.rsplit('/').next().unwrap()];
    }
    for comb in ["oneOf", "anyOf", "allOf"] {
        for x in s[comb].as_array().into_iter().flatten() {
            schema_id_fields(doc, x, prefix, depth, out);
        }
    }
    for (name, v) in s["properties"].as_object().into_iter().flatten() {
        if name == "id" || name.ends_with("_id") || name.ends_with("_ids") {
            out.push(format!("{prefix}{name}"));
        }
        if depth < 2 {
            let mut v = v;
            while let Some(r) = v["$ref"].as_str() {
                v = &doc["components"]["schemas"][r.rsplit('/').next().unwrap()];
            }
            let is_list = v["type"] == "array"
                || v["type"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|x| x == "array"));
            if is_list {
                schema_id_fields(
                    doc,
                    &v["items"],
                    &format!("{prefix}{name}[]."),
                    depth + 1,
                    out,
                );
            } else if v.get("properties").is_some() || v.get("oneOf").is_some() {
                schema_id_fields(doc, v, &format!("{prefix}{name}."), depth + 1, out);
            }
        }
    }
}

/// Sets `field` (`name` or `list[].name`) in `body` to `value`, the list's one item
/// keeping `siblings` (the item's other ids, own ones).
fn set_field(body: &mut Value, field: &str, value: Value, siblings: &Value) {
    match field.split_once("[].") {
        Some((list, name)) => {
            let mut item = siblings.clone();
            item[name] = value;
            body[list] = json!([item]);
        }
        None if field.ends_with("_ids") => body[field] = json!([value]),
        None => body[field] = value,
    }
}

/// Every id a write accepts, as each principal who must not reach the record it names —
/// a director scoped to another program, a clinician outside the caseload, a client, an
/// intake coordinator: the write changes nothing, and its answer is the one an id that
/// does not exist gets (so it reveals nothing, not even that the record exists).
#[tokio::test]
async fn every_id_a_write_names_is_checked_as_a_read_of_it_would_be() {
    use circle_testkit::contents::{changed, contents};
    let t = spawn_app().await;
    let w = world(&t).await;
    const MISSING: i64 = 987_654;

    // The table lists exactly the API's id-carrying fields of writes.
    let doc: Value = t
        .http
        .get(t.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = vec![];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if method == "get" {
                continue;
            }
            let mut fields = vec![];
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" || (name.ends_with("id") && p["in"] == "query") {
                    fields.push(format!("{} {name}", p["in"].as_str().unwrap()));
                }
            }
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if !schema.is_null() {
                let mut body = vec![];
                schema_id_fields(&doc, schema, "", 0, &mut body);
                body.sort();
                body.dedup();
                fields.extend(body.into_iter().map(|f| format!("body {f}")));
            }
            for f in fields {
                found.push((method.to_uppercase(), path.clone(), f));
            }
        }
    }
    let table = id_fields();
    let missing: Vec<_> = found
        .iter()
        .filter(|(m, p, f)| {
            !table
                .iter()
                .any(|(tm, tp, tf, _)| tm == m && tp == p && tf == f)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "id-carrying fields of writes missing from the walk's table: {missing:#?}"
    );
    let stale: Vec<_> = table
        .iter()
        .filter(|(tm, tp, tf, _)| !found.iter().any(|(m, p, f)| tm == m && tp == p && tf == f))
        .collect();
    assert!(
        stale.is_empty(),
        "table rows the API no longer has: {stale:#?}"
    );

    // Own (reachable) ids, filling every id but the one walked.
    let own = |kind: Kind| -> i64 {
        match kind {
            Kind::Client => w.clients[0],
            Kind::Group => w.groups[0],
            Kind::Session => w.sessions[0],
            Kind::Note => w.notes[0],
            Kind::Referral => w.referrals[0],
            Kind::Alert => w.alerts[0],
            Kind::Consent => w.consents[0],
            Kind::Membership => w.membership,
            Kind::Waitlist => w.placement.entry,
            Kind::Offer => w.placement.offers[0],
            Kind::Program => w.program["id"].as_i64().unwrap(),
            Kind::PlanRun => w.plan_run,
            Kind::User => w.target_user,
            Kind::Shared => w.leads[0],
        }
    };
    // The record of each kind the principal must not reach (`None`: it reaches them all).
    let foreign = |who: &str, kind: Kind| -> Option<i64> {
        let clinic_wide_intake = matches!(
            kind,
            Kind::Client
                | Kind::Group
                | Kind::Referral
                | Kind::Membership
                | Kind::Waitlist
                | Kind::Offer
                | Kind::Program
        );
        if who == "intake" && clinic_wide_intake {
            return None;
        }
        // Programs are the clinic's structure, listed to every clinician.
        if who == "clinician" && kind == Kind::Program {
            return None;
        }
        Some(match kind {
            Kind::Client => w.clients[1],
            Kind::Group => w.groups[1],
            Kind::Session => w.sessions[1],
            Kind::Note => w.notes[1],
            Kind::Referral => w.referrals[1],
            Kind::Alert => w.alerts[1],
            Kind::Consent => w.consents[1],
            Kind::Membership => w.foreign_membership,
            Kind::Waitlist => w.foreign_entry,
            Kind::Offer => w.foreign_offer,
            Kind::Program => w.program_b,
            Kind::PlanRun if who == "scoped" => w.plan_run,
            Kind::PlanRun | Kind::User => own(kind),
            Kind::Shared => return None,
        })
    };
    let path_kind = |path: &str, param: &str| -> Kind {
        table
            .iter()
            .find(|(_, p, f, _)| *p == path && *f == format!("path {param}"))
            .map(|(_, _, _, k)| *k)
            .unwrap()
    };

    let mut before = contents(&t.db.url).await;
    let mut failures = vec![];
    let mut seq = 10_000;
    for (method, path, field, kind) in &table {
        for who in ["scoped", "clinician", "client", "intake"] {
            let Some(foreign_id) = foreign(who, *kind) else {
                continue;
            };
            let token = w.tokens[who].clone().unwrap();
            let mut send = |id: i64| {
                seq += 1;
                let mut concrete = path.to_string();
                for param in ["id", "client_id", "consent_id"] {
                    let slot = format!("{{{param}}}");
                    if concrete.contains(&slot) {
                        let value = if *field == format!("path {param}") {
                            id
                        } else {
                            own(path_kind(path, param))
                        };
                        concrete = concrete.replace(&slot, &value.to_string());
                    }
                }
                let mut body = body_for(method, path, seq, &w.program, w.leads[0], w.clients[0]);
                if let Some(name) = field.strip_prefix("body ") {
                    let siblings = json!({"client_id": w.clients[0], "group_id": w.groups[0],
                        "start_date": "2026-05-12"});
                    set_field(&mut body, name, json!(id), &siblings);
                }
                let req = t
                    .http
                    .request(
                        Method::from_bytes(method.as_bytes()).unwrap(),
                        t.url(&concrete),
                    )
                    .bearer_auth(&token)
                    .json(&body);
                async move {
                    let r = req.send().await.unwrap();
                    let status = r.status();
                    let v: Value = r.json().await.unwrap_or(Value::Null);
                    (status, v["code"].clone(), concrete)
                }
            };
            let (status, code, concrete) = send(foreign_id).await;
            let after = contents(&t.db.url).await;
            let what = format!("{method} {concrete} ({field} foreign) as {who}");
            let touched = changed(&before, &after);
            if !touched.is_empty() {
                failures.push(format!("{what}: changed {touched:?} ({status})"));
                before = after;
            }
            if status.is_success() || status == StatusCode::BAD_REQUEST || status.is_server_error()
            {
                failures.push(format!("{what}: answered {status}"));
                continue;
            }
            let (m_status, m_code, _) = send(MISSING).await;
            if (m_status, &m_code) != (status, &code) {
                failures.push(format!(
                    "{what}: {status} {code} but {m_status} {m_code} for an id that does not exist"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "writes naming a record out of reach:\n{}",
        failures.join("\n")
    );
}

// --- fhir ---
/// Callers of the FHIR matrix: the six above and the director scoped to program A.
const FHIR_CALLERS: [&str; 7] = [
    "anonymous",
    "admin",
    "director",
    "clinician",
    "intake",
    "client",
    "scoped",
];

/// The FHIR routes (issue 15) × every caller, own and foreign objects. The FHIR router
/// serves `/fhir/r4/{type}` and `/fhir/r4/{type}/{id}`, outside the OpenAPI document, so
/// this table is checked against the CapabilityStatement's types instead: a type the
/// server declares and the table lacks fails the test. Expectations per caller:
/// anonymous admin director clinician intake client scoped.
fn fhir_table() -> Vec<(&'static str, Object, &'static str)> {
    use Object::*;
    vec![
        ("/fhir/r4/metadata", Own, "AAAAAAA"),
        ("/fhir/r4/Patient", Own, "DDAAAAA"),
        ("/fhir/r4/Patient/{client}", Own, "DDAAAAA"),
        ("/fhir/r4/Patient/{client}", Foreign, "DDADADD"),
        ("/fhir/r4/EpisodeOfCare", Own, "DDAAAAA"),
        ("/fhir/r4/EpisodeOfCare/{episode}", Own, "DDAAAAA"),
        ("/fhir/r4/EpisodeOfCare/{episode}", Foreign, "DDADADD"),
        // Measures: never intake; admin only under emergency access (none here).
        ("/fhir/r4/Observation", Own, "DDAADAA"),
        ("/fhir/r4/Observation/{response}", Own, "DDAADAA"),
        ("/fhir/r4/Observation/{response}", Foreign, "DDADDDD"),
        ("/fhir/r4/QuestionnaireResponse", Own, "DDAADAA"),
        ("/fhir/r4/QuestionnaireResponse/{response}", Own, "DDAADAA"),
        (
            "/fhir/r4/QuestionnaireResponse/{response}",
            Foreign,
            "DDADDDD",
        ),
        ("/fhir/r4/Questionnaire", Own, "DAAAAAA"),
        ("/fhir/r4/Questionnaire/phq9", Own, "DAAAAAA"),
        // A group's design facts: every staff role, a clinician any group, a scoped
        // director their programs' groups; never a client.
        ("/fhir/r4/Group", Own, "DAAAADA"),
        ("/fhir/r4/Group/{group}", Own, "DAAAADA"),
        ("/fhir/r4/Group/{group}", Foreign, "DAAAADD"),
        ("/fhir/r4/CareTeam", Own, "DAAAADA"),
        ("/fhir/r4/CareTeam/{group}", Own, "DAAAADA"),
        ("/fhir/r4/CareTeam/{group}", Foreign, "DAAAADD"),
        // Encounters are attendance: directors and the group's clinicians.
        ("/fhir/r4/Encounter", Own, "DDAADDA"),
        ("/fhir/r4/Encounter/{session}", Own, "DDAADDA"),
        ("/fhir/r4/Encounter/{session}", Foreign, "DDADDDD"),
        ("/fhir/r4/Encounter/{member_encounter}", Own, "DDAADDA"),
        ("/fhir/r4/Encounter/{member_encounter}", Foreign, "DDADDDD"),
        ("/fhir/r4/Appointment", Own, "DAAAADA"),
        ("/fhir/r4/Appointment/{session}", Own, "DAAAADA"),
        ("/fhir/r4/Appointment/{session}", Foreign, "DAAAADD"),
        ("/fhir/r4/Practitioner", Own, "DAAAADA"),
        ("/fhir/r4/Practitioner/{lead}", Own, "DAAAADA"),
        ("/fhir/r4/Location", Own, "DAAAADA"),
        ("/fhir/r4/Location/{room}", Own, "DAAAADA"),
        ("/fhir/r4/HealthcareService", Own, "DAAAADA"),
        ("/fhir/r4/HealthcareService/{program}", Own, "DAAAADA"),
        ("/fhir/r4/HealthcareService/{program}", Foreign, "DAAAADD"),
        // The clinic itself: anyone signed in.
        ("/fhir/r4/Organization", Own, "DAAAAAA"),
        ("/fhir/r4/Organization/clinic", Own, "DAAAAAA"),
        ("/fhir/r4/PractitionerRole", Own, "DAAAADA"),
        ("/fhir/r4/PractitionerRole/{lead}", Own, "DAAAADA"),
        // Referrals: intake, directors and the clinician screening them (a scoped
        // director those aimed at their programs: the world's are aimed at none).
        ("/fhir/r4/ServiceRequest", Own, "DDAAADA"),
        ("/fhir/r4/ServiceRequest/{referral}", Own, "DDAAADD"),
        ("/fhir/r4/ServiceRequest/{referral}", Foreign, "DDADADD"),
        // Consents: as the client's record (never the administrator).
        ("/fhir/r4/Consent", Own, "DDAAAAA"),
        ("/fhir/r4/Consent/{consent}", Own, "DDAAAAA"),
        ("/fhir/r4/Consent/{consent}", Foreign, "DDADADD"),
        // Signed notes: their readers (the group's clinicians, directors); the search
        // answers an administrator without emergency access with nothing.
        ("/fhir/r4/DocumentReference", Own, "DAAADDA"),
        (
            "/fhir/r4/DocumentReference/{member_encounter}",
            Own,
            "DDAADDA",
        ),
        (
            "/fhir/r4/DocumentReference/{member_encounter}",
            Foreign,
            "DDADDDD",
        ),
        // The audit trail: administrators only.
        ("/fhir/r4/AuditEvent", Own, "DADDDDD"),
        ("/fhir/r4/AuditEvent/1", Own, "DADDDDD"),
        // Bulk Data export: directors (a scoped one of their own programs' groups); a
        // job's status and files are its requester's only (here the clinic-wide director).
        ("/fhir/r4/$export?recipient=R&purpose=p", Own, "DDADDDA"),
        (
            "/fhir/r4/Group/{group}/$export?recipient=R&purpose=p",
            Own,
            "DDADDDA",
        ),
        (
            "/fhir/r4/Group/{group}/$export?recipient=R&purpose=p",
            Foreign,
            "DDADDDD",
        ),
        ("/fhir/r4/$export-status/{job}", Own, "DDADDDD"),
        ("/fhir/r4/$export-file/{job}/{file}", Own, "DDADDDD"),
    ]
}

#[tokio::test]
async fn every_fhir_route_times_every_caller_matches_the_expected_table() {
    let t = spawn_app().await;
    let w = world(&t).await;
    let dir = &w.dir;
    // The objects' FHIR ids: each client's first episode and first measure response.
    let mut episodes = vec![];
    let mut responses = vec![];
    for c in &w.clients {
        let (_, e) = t.get(dir, &format!("/api/v1/clients/{c}/episodes")).await;
        episodes.push(format!("{c}.{}", e[0]["id"].as_i64().unwrap()));
        let (_, m) = t.get(dir, &format!("/api/v1/clients/{c}/measures")).await;
        responses.push(format!("{c}.{}", m[0]["id"].as_i64().unwrap()));
    }
    // One finished export of the clinic-wide director's, for its status and file routes.
    let r = t
        .http
        .get(t.url("/fhir/r4/$export?recipient=R&purpose=p"))
        .bearer_auth(dir)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let status = r.headers()["content-location"].to_str().unwrap().to_owned();
    let job = status.rsplit('/').next().unwrap().to_owned();
    let mut manifest = Value::Null;
    for _ in 0..600 {
        let r = t.http.get(&status).bearer_auth(dir).send().await.unwrap();
        if r.status() == StatusCode::OK {
            manifest = r.json().await.unwrap();
            break;
        }
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let file_id = manifest["output"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("a finished export: {manifest}"))
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let table = fhir_table();
    for route in [
        "/fhir/r4/$export",
        "/fhir/r4/Group/{group}/$export",
        "/fhir/r4/$export-status/{job}",
        "/fhir/r4/$export-file/{job}/{file}",
    ] {
        assert!(
            table.iter().any(|(p, _, _)| p.starts_with(route)),
            "{route} is missing from the authorization table"
        );
    }
    // Every type the server declares is in the table, for search and read.
    let (_, cs) = t.get("", "/fhir/r4/metadata").await;
    for r in cs["rest"][0]["resource"].as_array().unwrap() {
        let kind = r["type"].as_str().unwrap();
        let search = format!("/fhir/r4/{kind}");
        assert!(
            table.iter().any(|(p, _, _)| *p == search),
            "FHIR search {search} is missing from the authorization table"
        );
        assert!(
            table
                .iter()
                .any(|(p, _, _)| p.starts_with(&format!("{search}/"))),
            "FHIR read of {kind} is missing from the authorization table"
        );
    }
    // Each group's progress note signed, so it is a DocumentReference.
    for i in 0..2 {
        use circle_domain::ids::{ClientId, ClinicianId, NoteId, SessionId};
        use circle_testkit::sys::SysStore as _;
        let (_, note) = t.get(dir, &format!("/api/v1/notes/{}", w.notes[i])).await;
        let session = t.db.store.session(SessionId(w.sessions[i])).await.unwrap();
        t.db.store
            .sys_sign_progress_note(
                session.id,
                ClientId(w.clients[i]),
                NoteId(w.notes[i]),
                note["version"].as_i64().unwrap(),
                ClinicianId(w.leads[i]),
                session.ends_at,
            )
            .await
            .unwrap();
    }
    let foreign_patient = format!("Patient/{}", w.clients[1]);
    let mut failures = vec![];
    for (path, object, expected) in &table {
        let i = usize::from(*object == Object::Foreign);
        let program = if i == 0 {
            w.program["id"].as_i64().unwrap()
        } else {
            w.program_b
        };
        let concrete = path
            .replace("{client}", &w.clients[i].to_string())
            .replace("{episode}", &episodes[i])
            .replace("{response}", &responses[i])
            .replace("{group}", &w.groups[i].to_string())
            .replace(
                "{member_encounter}",
                &format!("{}.{}", w.sessions[i], w.clients[i]),
            )
            .replace("{session}", &w.sessions[i].to_string())
            .replace("{referral}", &w.referrals[i].to_string())
            .replace("{consent}", &format!("{}.p{}", w.clients[i], w.consents[i]))
            .replace("{lead}", &w.leads[0].to_string())
            .replace("{room}", &w.room["id"].as_i64().unwrap().to_string())
            .replace("{program}", &program.to_string())
            .replace("{job}", &job)
            .replace("{file}", &file_id);
        for (k, caller) in FHIR_CALLERS.iter().enumerate() {
            let mut req = t
                .http
                .get(t.url(&concrete))
                .header("prefer", "respond-async");
            if let Some(token) = &w.tokens[caller] {
                req = req.bearer_auth(token);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let text = r.text().await.unwrap();
            assert!(
                !status.is_server_error(),
                "{concrete} as {caller}: {status} {text}"
            );
            // Kick-offs answer 202 with no body; the manifest is JSON; files are NDJSON.
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(
                ct.starts_with("application/fhir+json")
                    || (status.is_success() && path.contains("$export")),
                "{concrete} as {caller}: {ct}"
            );
            let denied = matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            );
            if denied {
                assert_eq!(body["resourceType"], "OperationOutcome", "{concrete}");
            }
            let want_denied = expected.as_bytes()[k] == b'D';
            if denied != want_denied {
                failures.push(format!(
                    "{path} ({object:?}) as {caller}: got {status}, expected {}",
                    if want_denied { "deny" } else { "allow" }
                ));
            }
            // A search narrowed by the caller's reach never returns the other group's
            // member: not the clinician of group 0, not client 0, not program A's director.
            if status == StatusCode::OK
                && body["resourceType"] == "Bundle"
                && ["clinician", "client", "scoped"].contains(caller)
            {
                let text = body.to_string();
                let leaked = text.contains(&format!("\"{foreign_patient}\""))
                    || body["entry"].as_array().is_some_and(|es| {
                        es.iter().any(|e| {
                            e["resource"]["resourceType"] == "Patient"
                                && e["resource"]["id"].as_str()
                                    == Some(w.clients[1].to_string().as_str())
                        })
                    });
                if leaked {
                    failures.push(format!("{path} as {caller}: returns the foreign client"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "FHIR authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}
// --- end fhir ---
