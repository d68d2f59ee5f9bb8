//! Program directors scoped to their programs (DESIGN.md: a director sees "everything in
//! their programs"): a director linked to programs sees and acts only on them, their
//! groups and their clients; a director linked to none stays clinic-wide; only an
//! administrator links and unlinks, and every change is audited. Out-of-scope records are
//! refused as if they did not exist (404), audited, and nothing changes.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_app::{Actor, AppError, PageRequest};
use circle_domain::DomainError;
use circle_domain::ids::{ClientId, GroupId, ProgramId, SessionId};
use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Two programs: the clinic fixture's Adult IOP (program A, its Monday group and six
/// members) and an Adult PHP (program B) with a Tuesday group and one client of its own.
/// `director` (the fixture's) is clinic-wide; `scoped` is linked to program A only.
struct Two {
    t: TestApp,
    clinic: Clinic,
    admin: String,
    scoped: String,
    scoped_id: i64,
    program_b: i64,
    group_b: i64,
    client_b: i64,
}

fn created(what: &str, (status, body): (StatusCode, Value)) -> i64 {
    assert_eq!(status, StatusCode::CREATED, "{what}: {body}");
    body["id"].as_i64().unwrap()
}

async fn user_id(t: &TestApp, admin: &str, email: &str) -> i64 {
    let (s, users) = t.get(admin, "/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{users}");
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["id"].as_i64())
        .unwrap()
}

async fn link(t: &TestApp, admin: &str, user: i64, programs: &[i64]) -> (StatusCode, Value) {
    t.send(
        Method::PUT,
        admin,
        &format!("/api/v1/users/{user}/programs"),
        json!({ "program_ids": programs }),
    )
    .await
}

async fn two_programs() -> Two {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let d = clinic.director.clone();
    let program_b = created(
        "program B",
        t.post(
            &d,
            "/api/v1/programs",
            json!({"name": "Adult PHP", "site": "Riverside", "level_of_care": "php",
                "time_zone": "America/New_York"}),
        )
        .await,
    );
    let group_b = created(
        "group B",
        t.post(
            &d,
            "/api/v1/groups",
            json!({"program_id": program_b, "name": "Tuesday skills", "kind": "process",
                "eligible_levels": ["php", "iop"], "enrollment": {"model": "open"},
                "room_id": clinic.room,
                "meetings": [{"weekday": "tuesday", "start": "10:00", "minutes": 90}],
                "lead_facilitator_id": clinic.lead}),
        )
        .await,
    );
    let client_b = created(
        "client B",
        t.post(
            &d,
            "/api/v1/clients",
            json!({"record_number": "P-0001", "given_name": "Phpclient", "family_name": "Other",
                "date_of_birth": "1980-02-02", "referral_source": "program_admission"}),
        )
        .await,
    );
    created(
        "episode B",
        t.post(
            &d,
            &format!("/api/v1/clients/{client_b}/episodes"),
            json!({"level_of_care": "php", "program_id": program_b, "started_on": "2026-04-01"}),
        )
        .await,
    );
    created(
        "agreement B",
        t.post(
            &d,
            &format!("/api/v1/clients/{client_b}/consents/group-agreement"),
            json!({"signed_on": "2026-04-01"}),
        )
        .await,
    );
    created(
        "membership B",
        t.post(
            &d,
            &format!("/api/v1/groups/{group_b}/memberships"),
            json!({"client_id": client_b, "start_date": "2026-05-05"}),
        )
        .await,
    );
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let scoped = t
        .token_for("iop.director@example.test", Role::Director, None, None)
        .await;
    let scoped_id = user_id(&t, &admin, "iop.director@example.test").await;
    let (s, body) = link(&t, &admin, scoped_id, &[clinic.program]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["program_ids"], json!([clinic.program]));
    Two {
        t,
        clinic,
        admin,
        scoped,
        scoped_id,
        program_b,
        group_b,
        client_b,
    }
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .or_else(|| v["items"].as_array())
        .unwrap()
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

fn not_found<T: std::fmt::Debug>(r: Result<T, AppError>) {
    assert!(
        matches!(r, Err(AppError::Domain(DomainError::NotFound { .. }))),
        "{r:?}"
    );
}

async fn actor(t: &TestApp, token: &str) -> Actor {
    t.app.authenticate(token).await.unwrap()
}

/// The audit entries with `action`, as (outcome, object id, client ids).
async fn audited(t: &TestApp, admin: &str, action: &str) -> Vec<(String, Value, Value)> {
    let (s, list) = t
        .get(admin, &format!("/api/v1/audit?action={action}&limit=200"))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap().to_owned(),
                e["object_id"].clone(),
                e["client_ids"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_scoped_director_lists_and_reads_only_their_programs_and_groups() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);

    let (s, programs) = t.get(&x.scoped, "/api/v1/programs").await;
    assert_eq!(s, StatusCode::OK, "{programs}");
    assert_eq!(ids(&programs), vec![a.program]);
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/programs/{}", x.program_b))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, groups) = t.get(&x.scoped, "/api/v1/groups").await;
    assert_eq!(s, StatusCode::OK, "{groups}");
    assert_eq!(ids(&groups), vec![a.group]);
    for path in [
        format!("/api/v1/groups/{}", x.group_b),
        format!("/api/v1/groups/{}/memberships", x.group_b),
        format!("/api/v1/groups/{}/waitlist", x.group_b),
        format!(
            "/api/v1/groups/{}/sessions?from=2026-05-01&until=2026-06-01",
            x.group_b
        ),
    ] {
        let (s, body) = t.get(&x.scoped, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (s, _) = t
        .get(
            &x.scoped,
            &format!("/api/v1/groups/{}/memberships", a.group),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // The clinic-wide director still sees both programs and both groups.
    let (_, programs) = t.get(&a.director, "/api/v1/programs").await;
    assert_eq!(ids(&programs), vec![a.program, x.program_b]);
    let (_, groups) = t.get(&a.director, "/api/v1/groups").await;
    assert_eq!(ids(&groups), vec![a.group, x.group_b]);

    // The refusal of another program's roster is on record, naming the group.
    let denied = audited(t, &x.admin, "membership.read").await;
    assert!(
        denied
            .iter()
            .any(|(o, obj, _)| o == "denied" && *obj == json!(x.group_b.to_string())),
        "{denied:?}"
    );
}

#[tokio::test]
async fn a_scoped_director_sees_only_the_clients_of_their_programs() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);

    let (s, clients) = t.get(&x.scoped, "/api/v1/clients").await;
    assert_eq!(s, StatusCode::OK, "{clients}");
    assert_eq!(ids(&clients), a.members);
    let (_, all) = t.get(&a.director, "/api/v1/clients").await;
    let mut expected = a.members.clone();
    expected.push(x.client_b);
    assert_eq!(ids(&all), expected);

    for path in [
        format!("/api/v1/clients/{}", x.client_b),
        format!("/api/v1/clients/{}/episodes", x.client_b),
        format!("/api/v1/clients/{}/measures", x.client_b),
        format!("/api/v1/clients/{}/consents", x.client_b),
    ] {
        let (s, body) = t.get(&x.scoped, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/clients/{}", a.members[0]))
        .await;
    assert_eq!(s, StatusCode::OK);

    // A client stays theirs through a referral aimed at their program, even without an
    // episode or a membership there.
    let (s, r) = t
        .post(
            &a.director,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Phpclient Other",
                "program_id": a.program, "level_of_care": "iop", "client_id": x.client_b}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/clients/{}", x.client_b))
        .await;
    assert_eq!(s, StatusCode::OK, "a referral to their program");
    let (_, referrals) = t.get(&x.scoped, "/api/v1/referrals").await;
    assert_eq!(ids(&referrals), vec![r["id"].as_i64().unwrap()]);

    // Every refusal is audited with the client it was about.
    let denied = audited(t, &x.admin, "client.read").await;
    assert!(
        denied
            .iter()
            .any(|(o, _, c)| o == "denied" && *c == json!([x.client_b])),
        "{denied:?}"
    );
}

#[tokio::test]
async fn out_of_scope_changes_are_refused_and_change_nothing() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let (_, before) = t
        .get(&a.director, &format!("/api/v1/groups/{}", x.group_b))
        .await;
    let (_, roster_before) = t
        .get(
            &a.director,
            &format!("/api/v1/groups/{}/memberships", x.group_b),
        )
        .await;

    let (s, _) = t
        .send(
            Method::PATCH,
            &x.scoped,
            &format!("/api/v1/groups/{}", x.group_b),
            json!({"version": before["version"], "name": "Renamed"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(
            &x.scoped,
            &format!("/api/v1/groups/{}/memberships", x.group_b),
            json!({"client_id": a.members[0], "start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(
            &x.scoped,
            "/api/v1/groups",
            json!({"program_id": x.program_b, "name": "Sneaky", "kind": "process",
                "eligible_levels": ["php"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": "friday", "start": "10:00", "minutes": 60}],
                "lead_facilitator_id": a.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .send(
            Method::PATCH,
            &x.scoped,
            &format!("/api/v1/programs/{}", x.program_b),
            json!({"version": 1, "max_group_size": 8}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, client) = t
        .get(&a.director, &format!("/api/v1/clients/{}", x.client_b))
        .await;
    let (s, _) = t
        .send(
            Method::PATCH,
            &x.scoped,
            &format!("/api/v1/clients/{}", x.client_b),
            json!({"version": client["version"], "phone": "555-0100"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A new program is for clinic-wide directors.
    let (s, _) = t
        .post(
            &x.scoped,
            "/api/v1/programs",
            json!({"name": "Adult residential", "site": "Riverside",
                "level_of_care": "residential", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Nothing changed.
    let (_, after) = t
        .get(&a.director, &format!("/api/v1/groups/{}", x.group_b))
        .await;
    assert_eq!(before, after);
    let (_, roster_after) = t
        .get(
            &a.director,
            &format!("/api/v1/groups/{}/memberships", x.group_b),
        )
        .await;
    assert_eq!(ids(&roster_before), ids(&roster_after));
    let (_, client_after) = t
        .get(&a.director, &format!("/api/v1/clients/{}", x.client_b))
        .await;
    assert_eq!(client["version"], client_after["version"]);
    let (_, programs) = t.get(&a.director, "/api/v1/programs").await;
    assert_eq!(ids(&programs).len(), 2);
    let denied = audited(t, &x.admin, "membership.create").await;
    assert!(denied.iter().any(|(o, _, _)| o == "denied"), "{denied:?}");

    // Inside their program they still design and place.
    let (s, body) = t
        .post(
            &x.scoped,
            "/api/v1/groups",
            json!({"program_id": a.program, "name": "Wednesday skills", "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": "wednesday", "start": "18:00", "minutes": 90}],
                "lead_facilitator_id": a.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn notes_and_sessions_of_other_programs_are_refused() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let (s, sessions) = t
        .get(
            &a.director,
            &format!(
                "/api/v1/groups/{}/sessions?from=2026-05-01&until=2026-06-01",
                x.group_b
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sessions}");
    let other = ids(&sessions)[0];
    let own = a.sessions(t, "2026-05-01", "2026-06-01").await[0];

    for path in [
        format!("/api/v1/sessions/{other}"),
        format!("/api/v1/sessions/{other}/roster"),
        format!("/api/v1/sessions/{other}/notes"),
        format!("/api/v1/sessions/{other}/attendance"),
    ] {
        let (s, body) = t.get(&x.scoped, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
        let (s, body) = t.get(&a.director, &path).await;
        assert_eq!(s, StatusCode::OK, "clinic-wide {path}: {body}");
    }
    for path in [
        format!("/api/v1/sessions/{own}"),
        format!("/api/v1/sessions/{own}/notes"),
    ] {
        let (s, body) = t.get(&x.scoped, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
    }

    let scoped = actor(t, &x.scoped).await;
    not_found(t.app.progress_notes(&scoped, SessionId(other)).await);
    let denied = audited(t, &x.admin, "note.list").await;
    assert!(
        denied
            .iter()
            .any(|(o, obj, _)| o == "denied" && *obj == json!(other.to_string())),
        "{denied:?}"
    );
}

#[tokio::test]
async fn reports_cover_only_the_scoped_directors_programs() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let scoped = actor(t, &x.scoped).await;
    let wide = actor(t, &a.director).await;

    let census = t.app.census(&scoped).await.unwrap();
    let programs: Vec<ProgramId> = census.programs.iter().map(|p| p.program_id).collect();
    assert_eq!(programs, vec![ProgramId(a.program)]);
    let census = t.app.census(&wide).await.unwrap();
    assert_eq!(census.programs.len(), 2);

    let outcomes = t.app.outcomes(&scoped).await.unwrap();
    let groups: Vec<GroupId> = outcomes.iter().map(|o| o.group_id).collect();
    assert_eq!(groups, vec![GroupId(a.group)]);
    let outcomes = t.app.outcomes(&wide).await.unwrap();
    assert_eq!(outcomes.len(), 2);

    let day = "2026-05-06".parse().unwrap();
    let weeks = t.app.compliance(&scoped, Some(day), None).await.unwrap();
    assert!(!weeks.iter().any(|w| w.client_id == ClientId(x.client_b)));
    assert!(weeks.iter().any(|w| w.client_id == ClientId(a.members[0])));
    let weeks = t.app.compliance(&wide, Some(day), None).await.unwrap();
    assert!(weeks.iter().any(|w| w.client_id == ClientId(x.client_b)));

    let from = "2026-05-01".parse().unwrap();
    let until = "2026-05-31".parse().unwrap();
    not_found(
        t.app
            .billing_export(&scoped, from, until, Some(ProgramId(x.program_b)))
            .await,
    );
    assert!(
        t.app
            .billing_export(&scoped, from, until, None)
            .await
            .is_ok()
    );

    let clients = t
        .app
        .list_clients(
            &scoped,
            PageRequest {
                after: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert!(!clients.items.iter().any(|c| c.id == ClientId(x.client_b)));

    // The census page, through the real server.
    let page = t.page(&x.scoped, "/reports/census").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Adult IOP"), "{}", page.body);
    assert!(!page.body.contains("Adult PHP"), "{}", page.body);
    let page = t.page(&a.director, "/reports/census").await;
    assert!(page.body.contains("Adult PHP"));
}

#[tokio::test]
async fn the_planner_plans_only_the_scoped_directors_programs() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let (s, body) = t
        .post(
            &x.scoped,
            "/api/v1/plan/runs",
            json!({"time_limit_ms": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "whole clinic: {body}");
    let (s, _) = t
        .post(
            &x.scoped,
            "/api/v1/plan/runs",
            json!({"program_id": x.program_b, "time_limit_ms": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(
            &x.scoped,
            "/api/v1/plan/proposals",
            json!({"program_id": x.program_b, "time_limit_ms": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, own) = t
        .post(
            &x.scoped,
            "/api/v1/plan/runs",
            json!({"program_id": a.program, "time_limit_ms": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{own}");
    let (s, other) = t
        .post(
            &a.director,
            "/api/v1/plan/runs",
            json!({"program_id": x.program_b, "time_limit_ms": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{other}");

    let (_, runs) = t.get(&x.scoped, "/api/v1/plan/runs").await;
    assert_eq!(ids(&runs), vec![own["id"].as_i64().unwrap()]);

    // An IOP client of no program who attends the other program's group would be eligible
    // for program A's groups: the clinic-wide plan considers them, the scoped one does not
    // (placing them would bring another program's client into reach).
    let elsewhere = client_with_episode(t, &a.director, 9, None).await;
    created(
        "membership elsewhere",
        t.post(
            &a.director,
            &format!("/api/v1/groups/{}/memberships", x.group_b),
            json!({"client_id": elsewhere, "start_date": "2026-05-05"}),
        )
        .await,
    );
    let considered = |token: String| async move {
        let (s, p) = t
            .post(
                &token,
                "/api/v1/plan/proposals",
                json!({"program_id": a.program, "time_limit_ms": 100}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        p["clients_considered"].as_u64().unwrap()
    };
    let wide = considered(a.director.clone()).await;
    let mine = considered(x.scoped.clone()).await;
    assert_eq!(wide, mine + 1, "clinic-wide {wide}, scoped {mine}");
    let (_, runs) = t.get(&a.director, "/api/v1/plan/runs").await;
    assert_eq!(ids(&runs).len(), 2);
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/plan/runs/{}", other["id"]))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/plan/runs/{}", own["id"]))
        .await;
    assert_eq!(s, StatusCode::OK);

    // A clinic-wide director's run of the scoped director's own program weighed clients of
    // other programs (`wide` above): the scoped director neither lists nor reads it.
    let (s, theirs) = t
        .post(
            &a.director,
            "/api/v1/plan/runs",
            json!({"program_id": a.program, "time_limit_ms": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{theirs}");
    let (_, runs) = t.get(&x.scoped, "/api/v1/plan/runs").await;
    assert_eq!(ids(&runs), vec![own["id"].as_i64().unwrap()]);
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/plan/runs/{}", theirs["id"]))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_an_administrator_links_programs_and_every_change_is_audited() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);

    // Directors do not link themselves (or anyone).
    let (s, _) = link(t, &a.director, x.scoped_id, &[a.program, x.program_b]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = link(t, &x.scoped, x.scoped_id, &[a.program, x.program_b]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Only a director's account is linked, and only to programs that exist.
    let lead = user_id(t, &x.admin, &a.lead_email).await;
    let (s, body) = link(t, &x.admin, lead, &[a.program]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = link(t, &x.admin, x.scoped_id, &[a.program, 999_999]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, now) = t
        .get(&x.admin, &format!("/api/v1/users/{}/programs", x.scoped_id))
        .await;
    assert_eq!(
        now["program_ids"],
        json!([a.program]),
        "a refusal changes nothing"
    );

    // Linking a second program widens the scope. Unlinking every program no longer makes a
    // director clinic-wide (that failed open, issue 13): they then reach nothing, until an
    // administrator sets the clinic-wide setting explicitly.
    let (s, _) = link(t, &x.admin, x.scoped_id, &[x.program_b, a.program]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/clients/{}", x.client_b))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = link(t, &x.admin, x.scoped_id, &[x.program_b]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/clients/{}", a.members[0]))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = link(t, &x.admin, x.scoped_id, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["program_ids"], json!([]));
    let (_, programs) = t.get(&x.scoped, "/api/v1/programs").await;
    assert_eq!(ids(&programs), Vec::<i64>::new(), "no program: nothing");
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/clients/{}", x.client_b))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Clinic-wide with programs named is contradictory: refused, naming the field.
    let (s, body) = t
        .send(
            Method::PUT,
            &x.admin,
            &format!("/api/v1/users/{}/programs", x.scoped_id),
            json!({"program_ids": [a.program], "clinic_wide": true}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = t
        .send(
            Method::PUT,
            &x.admin,
            &format!("/api/v1/users/{}/programs", x.scoped_id),
            json!({"program_ids": [], "clinic_wide": true}),
        )
        .await;
    assert_eq!(
        (s, body["clinic_wide"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (_, programs) = t.get(&x.scoped, "/api/v1/programs").await;
    assert_eq!(ids(&programs), vec![a.program, x.program_b]);

    let changes = audited(t, &x.admin, "user.programs_change").await;
    let object = json!(format!("user:{}", x.scoped_id));
    let ok = changes
        .iter()
        .filter(|(o, obj, _)| o == "success" && *obj == object)
        .count();
    assert_eq!(
        ok, 5,
        "the first link, three changes and the clinic-wide setting: {changes:?}"
    );
    let denied = changes.iter().filter(|(o, _, _)| o == "denied").count();
    assert_eq!(denied, 2, "the two directors' attempts: {changes:?}");
}

#[tokio::test]
async fn the_audit_review_is_closed_to_a_scoped_director() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    for path in ["/api/v1/audit", "/api/v1/emergency-accesses"] {
        let (s, _) = t.get(&x.scoped, path).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
        let (s, _) = t.get(&a.director, path).await;
        assert_eq!(s, StatusCode::OK, "clinic-wide {path}");
    }
    let denied = audited(t, &x.admin, "audit.read").await;
    assert!(denied.iter().any(|(o, _, _)| o == "denied"), "{denied:?}");
}

#[tokio::test]
async fn pages_show_a_scoped_director_only_their_programs() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);

    let page = t.page(&x.scoped, "/groups").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Monday process"), "{}", page.body);
    assert!(!page.body.contains("Tuesday skills"), "{}", page.body);

    // Another program's group and client: as if they did not exist.
    let page = t.page(&x.scoped, &format!("/groups/{}", x.group_b)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("Tuesday skills"));
    let page = t.page(&x.scoped, &format!("/clients/{}", x.client_b)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("Phpclient"));
    let page = t.page(&x.scoped, "/clients").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Phpclient"));

    // The clinic-wide director opens both.
    let page = t.page(&a.director, &format!("/groups/{}", x.group_b)).await;
    assert_eq!(page.status, StatusCode::OK);
    let page = t
        .page(&a.director, &format!("/clients/{}", x.client_b))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Phpclient"));

    // Every page of a director's working day opens for a scoped director, and none names
    // the other program's group or client.
    for path in [
        "/today",
        "/intake",
        "/waitlist",
        "/calendar",
        "/reports",
        "/reports/census",
        "/reports/attendance",
        "/reports/compliance?week=2026-05-04",
        "/reports/outcomes",
        "/reports/billing",
    ] {
        let page = t.page(&x.scoped, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(!page.body.contains("Tuesday skills"), "{path}");
        assert!(!page.body.contains("Phpclient"), "{path}");
    }
    // (The clinic-wide director's week does hold the other program's sessions.)
    let page = t.page(&a.director, "/calendar").await;
    assert!(page.body.contains("Tuesday skills"));

    // The planner offers a scoped director no whole-clinic plan.
    let page = t.page(&x.scoped, "/planner").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Whole clinic"));
    assert!(!page.body.contains("Adult PHP"));
}

#[tokio::test]
async fn the_admin_user_page_links_a_directors_programs_with_checkboxes() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let page = t.page(&x.admin, "/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("directs Adult IOP"), "{}", page.body);
    assert!(page.body.contains("directs the whole clinic"));
    let checkbox = format!("id=\"program-{}-{}\"", x.scoped_id, a.program);
    let at = page.body.find(&checkbox).unwrap();
    let tag_end = at + page.body[at..].find('>').unwrap();
    assert!(
        page.body[at..tag_end].contains("checked"),
        "linked is checked"
    );
    let other = format!("id=\"program-{}-{}\"", x.scoped_id, x.program_b);
    let at = page.body.find(&other).unwrap();
    let tag_end = at + page.body[at..].find('>').unwrap();
    assert!(!page.body[at..tag_end].contains("checked"));

    let csrf = circle_app::web_session::csrf_token(&x.admin);
    let b = x.program_b.to_string();
    let r = t
        .page_form(
            &x.admin,
            &format!("/admin/users/{}/programs", x.scoped_id),
            &[("csrf", csrf.as_str()), ("program", b.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, now) = t
        .get(&x.admin, &format!("/api/v1/users/{}/programs", x.scoped_id))
        .await;
    assert_eq!(now["program_ids"], json!([x.program_b]));

    // Without the CSRF token nothing changes; a director cannot post the form.
    let r = t
        .page_form(
            &x.admin,
            &format!("/admin/users/{}/programs", x.scoped_id),
            &[("program", a.program.to_string().as_str())],
        )
        .await;
    assert!(r.status.is_client_error());
    let dcsrf = circle_app::web_session::csrf_token(&a.director);
    let r = t
        .page_form(
            &a.director,
            &format!("/admin/users/{}/programs", x.scoped_id),
            &[("csrf", dcsrf.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (_, now) = t
        .get(&x.admin, &format!("/api/v1/users/{}/programs", x.scoped_id))
        .await;
    assert_eq!(now["program_ids"], json!([x.program_b]));
}

/// A new client (record `X-{n}`) with an IOP episode, in program `program` when given.
async fn client_with_episode(t: &TestApp, d: &str, n: u32, program: Option<i64>) -> i64 {
    let id = created(
        "client",
        t.post(
            d,
            "/api/v1/clients",
            json!({"record_number": format!("X-{n:04}"), "given_name": format!("Reach{n}"),
                "family_name": "Path", "date_of_birth": "1990-03-03",
                "referral_source": "program_admission"}),
        )
        .await,
    );
    created(
        "episode",
        t.post(
            d,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "iop", "program_id": program, "started_on": "2026-04-01"}),
        )
        .await,
    );
    id
}

#[tokio::test]
async fn a_client_is_reached_through_an_episode_a_membership_a_referral_or_a_waitlist_entry() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let d = &a.director;
    let by_episode = client_with_episode(t, d, 1, Some(a.program)).await;
    let by_waitlist = client_with_episode(t, d, 2, None).await;
    let (s, body) = t
        .post(
            d,
            &format!("/api/v1/groups/{}/waitlist", a.group),
            json!({"client_id": by_waitlist, "priority": 3}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let by_referral = client_with_episode(t, d, 3, None).await;
    let (s, body) = t
        .post(
            d,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Reach3 Path",
                "program_id": a.program, "level_of_care": "iop", "client_id": by_referral}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let unlinked = client_with_episode(t, d, 4, None).await;

    let store = &t.db.store;
    let director = circle_domain::ids::UserId(x.scoped_id);
    for (what, client, reached) in [
        ("a membership", a.members[0], true),
        ("an episode", by_episode, true),
        ("a waitlist entry", by_waitlist, true),
        ("a referral", by_referral, true),
        ("another program's client", x.client_b, false),
        ("a client of no program", unlinked, false),
    ] {
        assert_eq!(
            store
                .director_reaches_client(director, ClientId(client))
                .await
                .unwrap(),
            reached,
            "{what}"
        );
    }
    // The listing uses the same definition.
    let (_, listed) = t.get(&x.scoped, "/api/v1/clients?limit=200").await;
    let mut want = a.members.clone();
    want.extend([by_episode, by_waitlist, by_referral]);
    assert_eq!(ids(&listed), want);
}

#[tokio::test]
async fn alerts_and_placements_of_other_programs_are_not_the_scoped_directors() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9))))
        .collect();
    let mut alert = vec![];
    for c in [a.members[0], x.client_b] {
        let (s, r) = t
            .post(
                &a.director,
                &format!("/api/v1/clients/{c}/measures"),
                json!({"instrument": "phq9", "answers": answers}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        alert.push(r["alert_id"].as_i64().unwrap());
    }
    let (_, seen) = t.get(&x.scoped, "/api/v1/alerts").await;
    assert_eq!(ids(&seen), vec![alert[0]]);
    let (_, all) = t.get(&a.director, "/api/v1/alerts").await;
    assert_eq!(ids(&all).len(), 2);

    let (s, _) = t
        .post(
            &x.scoped,
            &format!("/api/v1/alerts/{}/acknowledge", alert[1]),
            json!({"action_taken": "Called the client"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, all) = t.get(&a.director, "/api/v1/alerts?state=open").await;
    assert_eq!(ids(&all).len(), 2, "the refusal acknowledged nothing");
    let (s, body) = t
        .post(
            &x.scoped,
            &format!("/api/v1/alerts/{}/acknowledge", alert[0]),
            json!({"action_taken": "Called the client"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Placement suggestions list only the scoped director's groups.
    let path = format!("/api/v1/clients/{}/placement-suggestions", a.members[0]);
    let groups = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["group_id"].as_i64().unwrap())
            .collect()
    };
    let (s, mine) = t.get(&x.scoped, &path).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(groups(&mine), vec![a.group]);
    let (_, all) = t.get(&a.director, &path).await;
    assert!(groups(&all).contains(&x.group_b));
}

#[tokio::test]
async fn a_scoped_director_admits_a_new_client_into_their_program_but_cannot_pull_in_anothers() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let new_client = |n: u32| {
        let scoped = x.scoped.clone();
        async move {
            created(
                "client",
                t.post(
                    &scoped,
                    "/api/v1/clients",
                    json!({"record_number": format!("N-{n:04}"), "given_name": format!("New{n}"),
                        "family_name": "Admit", "date_of_birth": "1991-04-04",
                        "referral_source": "program_admission"}),
                )
                .await,
            )
        }
    };
    let episode = |client: i64, program: i64| {
        let scoped = x.scoped.clone();
        async move {
            t.post(
                &scoped,
                &format!("/api/v1/clients/{client}/episodes"),
                json!({"level_of_care": "iop", "program_id": program, "started_on": "2026-04-01"}),
            )
            .await
        }
    };

    // A new record: admitted into their program, then theirs.
    let fresh = new_client(1).await;
    let (s, body) = episode(fresh, a.program).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _) = t.get(&x.scoped, &format!("/api/v1/clients/{fresh}")).await;
    assert_eq!(s, StatusCode::OK);

    // Not into another program, and another program's client cannot be pulled in.
    let other = new_client(2).await;
    let (s, _) = episode(other, x.program_b).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = episode(x.client_b, a.program).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, episodes) = t
        .get(
            &a.director,
            &format!("/api/v1/clients/{}/episodes", x.client_b),
        )
        .await;
    assert_eq!(
        episodes.as_array().unwrap().len(),
        1,
        "nothing changed: {episodes}"
    );
}

#[tokio::test]
async fn a_scoped_directors_chart_lists_only_the_notes_of_their_programs_sessions() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let member = a.members[0];
    // The member also joins the other program's group (it takes IOP clients too).
    created(
        "second membership",
        t.post(
            &a.director,
            &format!("/api/v1/groups/{}/memberships", x.group_b),
            json!({"client_id": member, "start_date": "2026-05-05"}),
        )
        .await,
    );
    let own = a.sessions(t, "2026-05-04", "2026-05-05").await[0];
    let (_, listed) = t
        .get(
            &a.director,
            &format!(
                "/api/v1/groups/{}/sessions?from=2026-05-05&until=2026-05-06",
                x.group_b
            ),
        )
        .await;
    let other = ids(&listed)[0];
    t.clock.set("2026-05-05T20:00:00Z".parse().unwrap());
    // A day later every token has been idle too long: everyone signs in again.
    let again = |email: &'static str| async move {
        t.login(email, circle_testkit::TEST_PASSWORD).await.unwrap()
    };
    let lead = again("lead@example.test").await;
    let scoped_token = again("iop.director@example.test").await;
    let wide_token = again("director@example.test").await;
    let mut notes = vec![];
    for session in [own, other] {
        let (s, body) = t
            .send(
                Method::PUT,
                &lead,
                &format!("/api/v1/sessions/{session}/attendance/{member}"),
                json!({"status": "present"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, note) = t
            .send(
                Method::PUT,
                &lead,
                &format!("/api/v1/sessions/{session}/notes/{member}"),
                json!({"presentation": "Engaged."}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{note}");
        notes.push(note["id"].as_i64().unwrap());
    }

    let scoped = actor(t, &scoped_token).await;
    let chart = t.app.chart(&scoped, ClientId(member)).await.unwrap();
    let listed: Vec<i64> = chart
        .clinical
        .unwrap()
        .notes
        .iter()
        .map(|n| n.id.0)
        .collect();
    assert_eq!(listed, vec![notes[0]]);
    let wide = actor(t, &wide_token).await;
    let chart = t.app.chart(&wide, ClientId(member)).await.unwrap();
    assert_eq!(chart.clinical.unwrap().notes.len(), 2);

    let (s, _) = t
        .get(&scoped_token, &format!("/api/v1/notes/{}", notes[1]))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = t
        .get(&wide_token, &format!("/api/v1/notes/{}", notes[0]))
        .await;
    assert_eq!(s, StatusCode::OK, "clinic-wide: {body}");
    let (s, body) = t
        .get(&scoped_token, &format!("/api/v1/notes/{}", notes[0]))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let page = t.page(&scoped_token, &format!("/clients/{member}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("/notes/{}", notes[0])));
    assert!(!page.body.contains(&format!("/notes/{}", notes[1])));
    // The other program's group is named only as such on the chart.
    assert!(page.body.contains("another program"), "{}", page.body);
    assert!(!page.body.contains("Tuesday skills"));

    // Weeks later both sessions' notes are overdue: the scoped director's list holds only
    // their program's session.
    t.clock.set("2026-05-20T12:00:00Z".parse().unwrap());
    let overdue_groups = |v: &Value| -> Vec<i64> {
        let mut g: Vec<i64> = v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["notes"].as_array().unwrap().iter())
            .map(|n| n["group_id"].as_i64().unwrap())
            .collect();
        g.sort_unstable();
        g.dedup();
        g
    };
    let scoped_token = again("iop.director@example.test").await;
    let wide_token = again("director@example.test").await;
    let (s, mine) = t.get(&scoped_token, "/api/v1/notes/overdue").await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(overdue_groups(&mine), vec![a.group]);
    let (_, all) = t.get(&wide_token, "/api/v1/notes/overdue").await;
    assert_eq!(overdue_groups(&all), vec![a.group, x.group_b]);
}

#[tokio::test]
async fn a_scoped_director_cannot_pull_another_programs_client_in_by_placing_them() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    // Each of these would make the client "theirs" (a membership, a waitlist entry, a
    // referral to their program): refused as if the client did not exist.
    let (s, _) = t
        .post(
            &x.scoped,
            &format!("/api/v1/groups/{}/memberships", a.group),
            json!({"client_id": x.client_b, "start_date": "2026-05-11"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(
            &x.scoped,
            &format!("/api/v1/groups/{}/waitlist", a.group),
            json!({"client_id": x.client_b, "priority": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = t
        .post(
            &x.scoped,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Phpclient Other",
                "program_id": a.program, "level_of_care": "iop", "client_id": x.client_b}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Nor a referral to another program.
    let (s, _) = t
        .post(
            &x.scoped,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Someone New",
                "program_id": x.program_b, "level_of_care": "php"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Still out of reach, and nothing was written.
    let (s, _) = t
        .get(&x.scoped, &format!("/api/v1/clients/{}", x.client_b))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, memberships) = t
        .get(
            &a.director,
            &format!("/api/v1/clients/{}/memberships", x.client_b),
        )
        .await;
    assert_eq!(memberships.as_array().unwrap().len(), 1, "{memberships}");
    let (_, waitlist) = t
        .get(&a.director, &format!("/api/v1/groups/{}/waitlist", a.group))
        .await;
    assert_eq!(waitlist.as_array().unwrap().len(), 0, "{waitlist}");
    let (_, referrals) = t.get(&a.director, "/api/v1/referrals").await;
    assert_eq!(ids(&referrals).len(), 0, "{referrals}");
    let denied = audited(t, &x.admin, "waitlist.write").await;
    assert!(
        denied
            .iter()
            .any(|(o, _, c)| o == "denied" && *c == json!([x.client_b])),
        "{denied:?}"
    );

    // A client they reach they place as before: admitted to their program, then waitlisted.
    let admitted = client_with_episode(t, &a.director, 7, Some(a.program)).await;
    let (s, body) = t
        .post(
            &x.scoped,
            &format!("/api/v1/groups/{}/waitlist", a.group),
            json!({"client_id": admitted, "priority": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

/// Hole 1 of the outside attack: a referral aimed at the director's own program, moved to
/// any state with another program's client named in `client_id`, pulled that client into
/// the director's reach for good. Naming a client in a transition passes the same gate as
/// placing them: refused as if the client did not exist, and nothing is linked.
#[tokio::test]
async fn a_referral_transition_cannot_pull_another_programs_client_into_reach() {
    let x = two_programs().await;
    let (t, a) = (&x.t, &x.clinic);
    let (s, referral) = t
        .post(
            &x.scoped,
            "/api/v1/referrals",
            json!({"path": "program_admission", "name": "Someone New", "phone": "555-0100",
                "program_id": a.program, "level_of_care": "iop"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{referral}");
    let id = referral["id"].as_i64().unwrap();
    for to in ["screening", "withdrawn"] {
        let (s, body) = t
            .post(
                &x.scoped,
                &format!("/api/v1/referrals/{id}/transitions"),
                json!({"to": to, "client_id": x.client_b}),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "to {to}: {body}");
    }
    let (_, now) = t.get(&a.director, &format!("/api/v1/referrals/{id}")).await;
    assert_eq!(now["client_id"], Value::Null, "{now}");
    assert_eq!(now["state"], "referred", "{now}");
    for path in [
        format!("/api/v1/clients/{}", x.client_b),
        format!("/api/v1/clients/{}/consents", x.client_b),
        format!("/api/v1/clients/{}/measures", x.client_b),
        format!("/api/v1/clients/{}/separations", x.client_b),
    ] {
        let (s, body) = t.get(&x.scoped, &path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (s, _) = t
        .post(
            &x.scoped,
            &format!("/api/v1/clients/{}/episodes", x.client_b),
            json!({"level_of_care": "iop", "program_id": a.program, "started_on": "2026-05-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The same move naming a client of their own program links as before.
    let own = client_with_episode(t, &a.director, 8, Some(a.program)).await;
    let (s, body) = t
        .post(
            &x.scoped,
            &format!("/api/v1/referrals/{id}/transitions"),
            json!({"to": "screening", "client_id": own}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["client_id"], own);
}
