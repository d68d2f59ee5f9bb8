//! The audit trail: every clinical read and change (and every refusal) leaves exactly the
//! expected entries; the log refuses updates and deletes; tampering of any kind is found
//! by verification. Runs on the database `TEST_DATABASE_URL` names (SQLite when unset).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::audit::{AuditAction, AuditOutcome};
use circle_domain::user::Role;
use circle_store::Backend;
use circle_store::audit::{AuditQuery, AuditSort};
use circle_testkit::builders::now;
use circle_testkit::sys::SysStore;
use circle_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn setup(t: &TestApp) -> (String, i64, i64) {
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (_, program) = t
        .post(&dir, "/api/v1/programs", json!({"name": "IOP", "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"}))
        .await;
    let (_, lead) = t
        .post(&dir, "/api/v1/clinicians", json!({"given_name": "L", "family_name": "T", "email": "l@example.test",
            "licenses": [{"kind": "lmhc", "number": "L-1", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
        .await;
    let (_, group) = t
        .post(&dir, "/api/v1/groups", json!({"program_id": program["id"], "name": "G", "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "tuesday", "start": "18:00", "minutes": 90}], "lead_facilitator_id": lead["id"]}))
        .await;
    let (_, client) = t
        .post(
            &dir,
            "/api/v1/clients",
            json!({"record_number": "A-1", "given_name": "Audit", "family_name": "Subject",
            "date_of_birth": "1980-01-01", "referral_source": "self_referral"}),
        )
        .await;
    (
        dir,
        group["id"].as_i64().unwrap(),
        client["id"].as_i64().unwrap(),
    )
}

async fn entries(t: &TestApp) -> Vec<circle_domain::audit::AuditEntry> {
    t.db.store
        .sys_audit_report(
            &AuditQuery {
                from: None,
                until: None,
                actor: None,
                client: None,
                action: None,
                outcome: None,
                sort: AuditSort::Seq,
                descending: false,
                offset: 0,
                limit: 10_000,
            },
            now(),
        )
        .await
        .unwrap()
}

/// Drives `call` and returns the entries it added (excluding the report's own entry).
async fn added_by<F: std::future::Future<Output = (StatusCode, Value)>>(
    t: &TestApp,
    call: F,
) -> (StatusCode, Vec<(AuditAction, AuditOutcome, Vec<i64>)>) {
    let before = entries(t).await.len() + 1; // the report reads itself into the log
    let (status, _) = call.await;
    let after = entries(t).await;
    let new = after[before..after.len()]
        .iter()
        .map(|e| {
            (
                e.action,
                e.outcome,
                e.client_ids.iter().map(|c| c.0).collect(),
            )
        })
        .collect();
    (status, new)
}

#[tokio::test]
async fn every_clinical_route_writes_exactly_the_expected_entries() {
    let t = spawn_app().await;
    let (dir, group, client) = setup(&t).await;
    use AuditAction::*;
    use AuditOutcome::*;
    let c = client;

    let (s, e) = added_by(&t, t.get(&dir, &format!("/api/v1/clients/{c}"))).await;
    assert_eq!(
        (s, e),
        (StatusCode::OK, vec![(ClientRead, Success, vec![c])])
    );
    let (_, e) = added_by(
        &t,
        t.post(
            &dir,
            &format!("/api/v1/clients/{c}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        ),
    )
    .await;
    assert_eq!(e, vec![(EpisodeCreate, Success, vec![c])]);
    let (_, e) = added_by(&t, t.get(&dir, &format!("/api/v1/clients/{c}/episodes"))).await;
    assert_eq!(e, vec![(EpisodeRead, Success, vec![c])]);
    let (_, e) = added_by(&t, t.get(&dir, "/api/v1/clients")).await;
    assert_eq!(e, vec![(ClientList, Success, vec![c])]);
    let (_, e) = added_by(
        &t,
        t.post(
            &dir,
            &format!("/api/v1/groups/{group}/memberships"),
            json!({"client_id": c, "start_date": "2026-05-05"}),
        ),
    )
    .await;
    assert_eq!(e, vec![(MembershipCreate, Success, vec![c])]);
    let (_, e) = added_by(
        &t,
        t.get(&dir, &format!("/api/v1/groups/{group}/memberships")),
    )
    .await;
    assert_eq!(e, vec![(MembershipRead, Success, vec![c])]);
    let (_, sessions) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-11"),
        )
        .await;
    let session = sessions[0]["id"].as_i64().unwrap();
    let (_, e) = added_by(
        &t,
        t.get(&dir, &format!("/api/v1/sessions/{session}/roster")),
    )
    .await;
    assert_eq!(e, vec![(RosterRead, Success, vec![c])]);
    // Programs and groups are not client data: nothing is written.
    let (_, e) = added_by(&t, t.get(&dir, "/api/v1/groups")).await;
    assert_eq!(e, vec![]);

    // Refusals are audited too: a client reading someone else, an admin reading a chart.
    let other = t
        .token_for(
            "client@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(c)),
        )
        .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, e) = added_by(&t, t.get(&admin, &format!("/api/v1/clients/{c}"))).await;
    assert_eq!(
        (s, e),
        (StatusCode::FORBIDDEN, vec![(ClientRead, Denied, vec![c])])
    );
    let (s, e) = added_by(&t, t.get(&other, "/api/v1/clients")).await;
    assert_eq!(
        (s, e),
        (StatusCode::FORBIDDEN, vec![(ClientList, Denied, vec![])])
    );

    // Each entry carries the actor, role, request id and source address.
    let last = entries(&t)
        .await
        .into_iter()
        .rev()
        .find(|e| e.action == ClientList)
        .unwrap();
    assert_eq!(last.actor_role, Some(Role::Client));
    assert!(last.request_id.as_deref().is_some_and(|r| r.len() >= 8));
    assert_eq!(last.source.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn the_audit_report_filters_and_sorts_by_allow_listed_fields() {
    let t = spawn_app().await;
    let (dir, _, c) = setup(&t).await;
    t.get(&dir, &format!("/api/v1/clients/{c}")).await;
    let admin = t
        .token_for("admin2@example.test", Role::Admin, None, None)
        .await;
    let (s, list) = t
        .get(
            &admin,
            &format!("/api/v1/audit?client_id={c}&action=client.read&sort=-at"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["client_ids"], json!([c]));
    let (s, p) = t.get(&admin, "/api/v1/audit?sort=password_hash").await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
    for key in [
        "seq",
        "at",
        "actor_user_id",
        "actor_role",
        "action",
        "category",
        "client_ids",
        "object_id",
        "outcome",
        "request_id",
        "source",
    ] {
        let (s, _) = t.get(&admin, &format!("/api/v1/audit?sort={key}")).await;
        assert_eq!(s, StatusCode::OK, "sort by {key}");
    }
    let clinician = t.clinician_token("c@example.test").await;
    assert_eq!(
        t.get(&clinician, "/api/v1/audit").await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_log_refuses_updates_and_deletes() {
    let t = spawn_app().await;
    let (dir, _, c) = setup(&t).await;
    t.get(&dir, &format!("/api/v1/clients/{c}")).await;
    let update =
        t.db.store
            .execute_admin("UPDATE audit_log SET outcome = 'denied' WHERE seq = 1")
            .await;
    assert!(update.is_err(), "an UPDATE of the audit log must fail");
    let delete =
        t.db.store
            .execute_admin("DELETE FROM audit_log WHERE seq = 1")
            .await;
    assert!(delete.is_err(), "a DELETE from the audit log must fail");
    assert!(
        t.db.store
            .verify_audit()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );
}

/// Lifts the append-only protection as an attacker with database access could.
async fn unprotect(t: &TestApp) {
    let sql = match t.db.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER USER",
    };
    t.db.store.execute_admin(sql).await.unwrap();
}

#[tokio::test]
async fn every_kind_of_tampering_is_detected_and_an_untouched_log_verifies() {
    // Several rounds on fresh logs, each with a pseudo-random tamper and position.
    for round in 0..8_u64 {
        let t = spawn_app().await;
        let (dir, _, c) = setup(&t).await;
        for _ in 0..6 {
            t.get(&dir, &format!("/api/v1/clients/{c}")).await;
        }
        let clean = t.db.store.verify_audit().await.unwrap();
        assert!(clean.first_broken.is_none(), "untouched log verifies");
        let n = clean.entries;
        assert!(n >= 7);
        unprotect(&t).await;
        let pick = |salt: u64| 1 + ((round * 7919 + salt * 104_729) % (n as u64 - 1)) as i64;
        let k = pick(1);
        let sql = match round % 4 {
            0 => format!("UPDATE audit_log SET actor_user_id = 999 WHERE seq = {k}"),
            1 => format!("DELETE FROM audit_log WHERE seq = {k}"),
            2 => {
                // Insert a forged entry copying another's MAC fields, at the end.
                format!(
                    "INSERT INTO audit_log (seq, at, actor_user_id, actor_role, action, category, client_ids, object_id, \
                     outcome, request_id, source, prev_mac, mac) SELECT {next}, at, actor_user_id, actor_role, action, category, \
                     client_ids, object_id, outcome, request_id, source, mac, mac FROM audit_log WHERE seq = {n}; \
                     UPDATE audit_head SET seq = {next}",
                    next = n + 1
                )
            }
            _ => {
                // Reorder: move another entry's content (its request id differs) into this
                // position, keeping the sequence numbers.
                let j = if k == n { k - 1 } else { k + 1 };
                format!(
                    "UPDATE audit_log SET action = (SELECT action FROM audit_log WHERE seq = {j}), \
                     client_ids = (SELECT client_ids FROM audit_log WHERE seq = {j}), \
                     request_id = (SELECT request_id FROM audit_log WHERE seq = {j}), \
                     at = (SELECT at FROM audit_log WHERE seq = {j}) WHERE seq = {k}"
                )
            }
        };
        t.db.store.execute_admin(&sql).await.unwrap();
        let report = t.db.store.verify_audit().await.unwrap();
        let broken = report
            .first_broken
            .unwrap_or_else(|| panic!("round {round}: tampering not detected ({sql})"));
        assert!(broken.seq <= n + 1, "round {round}: {broken:?}");
    }
}

#[tokio::test]
async fn removing_the_newest_entries_is_detected() {
    let t = spawn_app().await;
    let (dir, _, c) = setup(&t).await;
    t.get(&dir, &format!("/api/v1/clients/{c}")).await;
    let n = t.db.store.verify_audit().await.unwrap().entries;
    unprotect(&t).await;
    t.db.store
        .execute_admin(&format!("DELETE FROM audit_log WHERE seq = {n}"))
        .await
        .unwrap();
    let report = t.db.store.verify_audit().await.unwrap();
    assert_eq!(report.first_broken.map(|b| b.seq), Some(n));
}

#[tokio::test]
async fn a_clinician_sees_only_their_caseload_and_probes_are_refused_and_audited() {
    let t = spawn_app().await;
    let (dir, group, mine) = setup(&t).await;
    let (_, other) = t
        .post(
            &dir,
            "/api/v1/clients",
            json!({"record_number": "A-2", "given_name": "Not", "family_name": "Mine",
            "date_of_birth": "1980-01-01", "referral_source": "self_referral"}),
        )
        .await;
    let other = other["id"].as_i64().unwrap();
    t.post(
        &dir,
        &format!("/api/v1/clients/{mine}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    t.post(
        &dir,
        &format!("/api/v1/groups/{group}/memberships"),
        json!({"client_id": mine, "start_date": "2026-05-05"}),
    )
    .await;
    let (_, g) = t.get(&dir, &format!("/api/v1/groups/{group}")).await;
    let lead = circle_domain::ids::ClinicianId(g["lead_facilitator_id"].as_i64().unwrap());
    let clin = t
        .token_for("lead@example.test", Role::Clinician, Some(lead), None)
        .await;

    let (s, list) = t.get(&clin, "/api/v1/clients").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![mine]);
    assert_eq!(
        t.get(&clin, &format!("/api/v1/clients/{mine}")).await.0,
        StatusCode::OK
    );
    let (s, e) = added_by(&t, t.get(&clin, &format!("/api/v1/clients/{other}"))).await;
    assert_eq!(
        (s, e),
        (
            StatusCode::NOT_FOUND,
            vec![(AuditAction::ClientRead, AuditOutcome::Denied, vec![other])]
        )
    );
    // Another clinician's group: no roster.
    let (_, other_clinician) = t
        .post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": "O", "family_name": "T", "email": "o@example.test"}),
        )
        .await;
    let other_clinician = circle_domain::ids::ClinicianId(other_clinician["id"].as_i64().unwrap());
    let stranger = t
        .token_for(
            "stranger@example.test",
            Role::Clinician,
            Some(other_clinician),
            None,
        )
        .await;
    let (_, sessions) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-04&until=2026-05-11"),
        )
        .await;
    let session = sessions[0]["id"].as_i64().unwrap();
    // Another group's session is out of the stranger's reach: 404, audited.
    assert_eq!(
        t.get(&stranger, &format!("/api/v1/sessions/{session}/roster"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&clin, &format!("/api/v1/sessions/{session}/roster"))
            .await
            .0,
        StatusCode::OK
    );
    let (s, _) = t
        .send(
            Method::PUT,
            &stranger,
            &format!("/api/v1/sessions/{session}/attendance/{mine}"),
            json!({"status": "present"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_audited_reads_and_writes_never_fail() {
    let t = spawn_app().await;
    let (dir, group, c) = setup(&t).await;
    t.post(
        &dir,
        &format!("/api/v1/clients/{c}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..24 {
        let (http, base, token) = (t.http.clone(), t.base.clone(), dir.clone());
        tasks.spawn(async move {
            let r = if n % 3 == 0 {
                http.post(format!("{base}/api/v1/clients"))
                    .bearer_auth(&token)
                    .json(&json!({"record_number": format!("C-{n}"), "given_name": "G", "family_name": "F",
                        "date_of_birth": "1980-01-01", "referral_source": "self_referral"}))
                    .send()
                    .await
            } else if n % 3 == 1 {
                http.get(format!("{base}/api/v1/clients/{c}")).bearer_auth(&token).send().await
            } else {
                http.get(format!("{base}/api/v1/groups/{group}/memberships")).bearer_auth(&token).send().await
            };
            r.unwrap().status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert!(status.unwrap().is_success());
    }
    assert!(
        t.db.store
            .verify_audit()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );
}

#[tokio::test]
async fn emergency_access_opens_a_chart_for_an_hour_flags_the_audit_and_is_reviewed() {
    let t = spawn_app().await;
    let (dir, _, c) = setup(&t).await;
    let (_, other) = t
        .post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": "On", "family_name": "Call", "email": "oncall@example.test"}),
        )
        .await;
    let oncall = t
        .token_for(
            "oncall@example.test",
            Role::Clinician,
            Some(circle_domain::ids::ClinicianId(
                other["id"].as_i64().unwrap(),
            )),
            None,
        )
        .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (_, me) = t.get(&oncall, "/api/v1/me").await;
    let user = me["id"].as_i64().unwrap();

    // Outside the caseload, and no grant yet: refused.
    assert_eq!(
        t.get(&oncall, &format!("/api/v1/clients/{c}")).await.0,
        StatusCode::NOT_FOUND
    );
    let open = json!({"reason": "client in crisis at the front desk; primary clinician away"});
    let (s, _) = t
        .post(
            &oncall,
            &format!("/api/v1/clients/{c}/emergency-access"),
            open.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An administrator cannot grant it (nobody opens a chart alone); a clinic-wide
    // director grants it in advance, and the on-call clinician opens it.
    let (s, _) = t
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/users/{user}/emergency-grant"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = t
        .send(
            Method::PUT,
            &dir,
            &format!("/api/v1/users/{user}/emergency-grant"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, access) = t
        .post(
            &oncall,
            &format!("/api/v1/clients/{c}/emergency-access"),
            open,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{access}");
    let access_id = access["id"].as_i64().unwrap();
    assert_eq!(
        t.get(&oncall, &format!("/api/v1/clients/{c}")).await.0,
        StatusCode::OK
    );

    // Every action under it names the access in the audit.
    let flagged: Vec<_> = entries(&t)
        .await
        .into_iter()
        .filter(|e| e.emergency_access_id == Some(access_id))
        .collect();
    let actions: Vec<AuditAction> = flagged.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![AuditAction::EmergencyOpen, AuditAction::ClientRead]
    );
    assert!(
        t.db.store
            .verify_audit()
            .await
            .unwrap()
            .first_broken
            .is_none()
    );

    // Directors review it with the reason; administrators see the facts only.
    let (_, review) = t.get(&dir, "/api/v1/emergency-accesses").await;
    assert_eq!(review[0]["id"], access_id);
    assert!(review[0]["reason"].as_str().unwrap().contains("crisis"));
    let (_, review) = t.get(&admin, "/api/v1/emergency-accesses").await;
    assert_eq!(review[0]["reason"], Value::Null);

    // After 60 minutes the chart closes again.
    t.clock.set("2026-05-04T14:01:00Z".parse().unwrap());
    let oncall = t
        .login("oncall@example.test", circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        t.get(&oncall, &format!("/api/v1/clients/{c}")).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Hole 4 of the outside attack: a grant comes from someone other than its grantee, and
/// revoking it ends an access already opened at once (not when its hour runs out).
#[tokio::test]
async fn nobody_grants_themself_emergency_access_and_revoking_ends_an_open_one() {
    let t = spawn_app().await;
    let (dir, _, c) = setup(&t).await;
    let (_, other) = t
        .post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": "On", "family_name": "Call", "email": "oncall@example.test"}),
        )
        .await;
    let oncall = t
        .token_for(
            "oncall@example.test",
            Role::Clinician,
            Some(circle_domain::ids::ClinicianId(
                other["id"].as_i64().unwrap(),
            )),
            None,
        )
        .await;
    let (_, me) = t.get(&dir, "/api/v1/me").await;
    let (s, body) = t
        .send(
            Method::PUT,
            &dir,
            &format!("/api/v1/users/{}/emergency-grant", me["id"]),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "user", "{body}");

    let (_, them) = t.get(&oncall, "/api/v1/me").await;
    let grant = format!("/api/v1/users/{}/emergency-grant", them["id"]);
    let (s, _) = t.send(Method::PUT, &dir, &grant, json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = t
        .post(
            &oncall,
            &format!("/api/v1/clients/{c}/emergency-access"),
            json!({"reason": "client in crisis; primary clinician away"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(
        t.get(&oncall, &format!("/api/v1/clients/{c}")).await.0,
        StatusCode::OK
    );
    // Revoked ten minutes in: the chart closes now, on this very token.
    let (s, _) = t.send(Method::DELETE, &dir, &grant, json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        t.get(&oncall, &format!("/api/v1/clients/{c}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = t
        .post(
            &oncall,
            &format!("/api/v1/clients/{c}/emergency-access"),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "no grant, no new access");
}
