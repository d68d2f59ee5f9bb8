//! Session details and clinical notes through the real HTTP server, on the database
//! `TEST_DATABASE_URL` names (SQLite when unset): curriculum topics, facilitators present,
//! participation, cancellation notices, group and progress notes, the name check,
//! signatures, co-signatures, addenda, the overdue list, access and audit, and note text
//! sealed at rest.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::audit::{AuditAction, AuditEntry, AuditOutcome};
use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::user::Role;
use circle_store::Backend;
use circle_store::audit::{AuditQuery, AuditSort};
use circle_testkit::sys::SysStore;

use circle_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Tuesday 5 May 2026, five minutes after the 18:00–19:30 New York session ended.
const AFTER_FIRST_SESSION: &str = "2026-05-05T23:35:00Z";

struct Fx {
    t: TestApp,
    dir: String,
    lead: String,
    trainee: String,
    other: String,
    program: i64,
    lead_id: i64,
    trainee_id: i64,
    other_id: i64,
    group: i64,
    /// The group's sessions in time order (5, 12, 19 and 26 May).
    sessions: Vec<i64>,
    /// Robin Alder, Casey "Cass" Birch, Jordan Cedar.
    clients: Vec<i64>,
}

async fn clinician(t: &TestApp, dir: &str, n: &str, licensed: bool) -> i64 {
    let mut body = json!({"given_name": format!("Clin{n}"), "family_name": "Testcase",
        "email": format!("clin{n}@example.test")});
    if licensed {
        body["licenses"] = json!([{"kind": "lmhc", "number": format!("L-{n}"), "state": "MA",
            "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]);
    }
    let (s, c) = t.post(dir, "/api/v1/clinicians", body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_i64().unwrap()
}

async fn member(t: &TestApp, dir: &str, group: i64, n: usize, names: Value) -> i64 {
    let mut body = json!({"record_number": format!("N-{n}"), "date_of_birth": "1985-02-03",
        "referral_source": "self_referral"});
    for (k, v) in names.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, c) = t.post(dir, "/api/v1/clients", body).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    t.post(
        dir,
        &format!("/api/v1/clients/{id}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    let (s, m) = t
        .post(
            dir,
            &format!("/api/v1/groups/{group}/memberships"),
            json!({"client_id": id, "start_date": "2026-05-05"}),
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

/// A Tuesday-evening IOP process group led by a licensed clinician with a trainee
/// co-facilitator and a three-topic curriculum; three members; the first session has just
/// ended, with Robin and Casey present and Jordan absent.
async fn fixture() -> Fx {
    let t = spawn_app().await;
    t.clock.set(AFTER_FIRST_SESSION.parse().unwrap());
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (_, program) = t
        .post(&dir, "/api/v1/programs", json!({"name": "IOP", "site": "S", "level_of_care": "iop", "time_zone": "America/New_York"}))
        .await;
    let program = program["id"].as_i64().unwrap();
    let lead_id = clinician(&t, &dir, "lead", true).await;
    let trainee_id = clinician(&t, &dir, "trainee", false).await;
    let other_id = clinician(&t, &dir, "other", true).await;
    let (s, group) = t
        .post(
            &dir,
            "/api/v1/groups",
            json!({"program_id": program, "name": "Evening process", "kind": "process",
            "eligible_levels": ["iop"], "enrollment": {"model": "open"},
            "meetings": [{"weekday": "tuesday", "start": "18:00", "minutes": 90}],
            "lead_facilitator_id": lead_id, "co_facilitator_id": trainee_id,
            "curriculum": ["Values", "Boundaries", "Repair"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    assert_eq!(
        group["curriculum"],
        json!(["Values", "Boundaries", "Repair"])
    );
    let group = group["id"].as_i64().unwrap();
    let clients = vec![
        member(
            &t,
            &dir,
            group,
            1,
            json!({"given_name": "Robin", "family_name": "Alder"}),
        )
        .await,
        member(
            &t,
            &dir,
            group,
            2,
            json!({"given_name": "Casey", "family_name": "Birch", "preferred_name": "Cass"}),
        )
        .await,
        member(
            &t,
            &dir,
            group,
            3,
            json!({"given_name": "Jordan", "family_name": "Cedar"}),
        )
        .await,
    ];
    let (_, listed) = t
        .get(
            &dir,
            &format!("/api/v1/groups/{group}/sessions?from=2026-05-01&until=2026-06-01"),
        )
        .await;
    let sessions: Vec<i64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(sessions.len(), 4, "{listed}");
    let lead = t
        .token_for(
            "lead@example.test",
            Role::Clinician,
            Some(ClinicianId(lead_id)),
            None,
        )
        .await;
    let trainee = t
        .token_for(
            "trainee@example.test",
            Role::Clinician,
            Some(ClinicianId(trainee_id)),
            None,
        )
        .await;
    let other = t
        .token_for(
            "other@example.test",
            Role::Clinician,
            Some(ClinicianId(other_id)),
            None,
        )
        .await;
    for (c, status) in clients.iter().zip(["present", "late", "absent_excused"]) {
        let minutes = if status == "late" {
            json!(70)
        } else {
            Value::Null
        };
        let (s, a) = t
            .send(
                Method::PUT,
                &lead,
                &format!("/api/v1/sessions/{}/attendance/{c}", sessions[0]),
                json!({"status": status, "minutes": minutes}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
    }
    Fx {
        t,
        dir,
        lead,
        trainee,
        other,
        program,
        lead_id,
        trainee_id,
        other_id,
        group,
        sessions,
        clients,
    }
}

impl Fx {
    fn note_path(&self, client: usize) -> String {
        format!(
            "/api/v1/sessions/{}/notes/{}",
            self.sessions[0], self.clients[client]
        )
    }

    /// Writes a draft progress note about member `client` as `token`.
    async fn draft(&self, token: &str, client: usize, body: Value) -> Value {
        let (s, n) = self
            .t
            .send(Method::PUT, token, &self.note_path(client), body)
            .await;
        assert_eq!(s, StatusCode::OK, "{n}");
        n
    }

    async fn sign(&self, token: &str, note: &Value, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"version": note["version"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.t
            .post(token, &format!("/api/v1/notes/{}/sign", note["id"]), body)
            .await
    }

    /// The director's overdue list.
    async fn overdue(&self) -> Value {
        let (s, list) = self.t.get(&self.dir, "/api/v1/notes/overdue").await;
        assert_eq!(s, StatusCode::OK, "{list}");
        list
    }

    /// Signs in again after the clock moved past the tokens' idle timeout.
    async fn relogin(&mut self) {
        let pw = circle_testkit::TEST_PASSWORD;
        self.dir = self.t.login("director@example.test", pw).await.unwrap();
        self.lead = self.t.login("lead@example.test", pw).await.unwrap();
        self.trainee = self.t.login("trainee@example.test", pw).await.unwrap();
        self.other = self.t.login("other@example.test", pw).await.unwrap();
    }
}

async fn entries(t: &TestApp) -> Vec<AuditEntry> {
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
            circle_testkit::builders::now(),
        )
        .await
        .unwrap()
        .into_iter()
        // The report's own entry is not what a test looks for.
        .filter(|e| e.action != AuditAction::AuditRead)
        .collect()
}

#[tokio::test]
async fn signing_a_progress_note_that_names_another_member_warns_and_confirmation_is_recorded() {
    let f = fixture().await;
    let note = f
        .draft(
            &f.lead,
            0,
            json!({"presentation": "Calm. Responded warmly to BIRCH's share.",
                   "participation": "Shared about the week.",
                   "plan": "Check in with Cass next week", "progress": "Used grounding twice."}),
        )
        .await;
    assert_eq!(note["state"], "draft");
    let (s, p) = f.sign(&f.lead, &note, json!({})).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("other_members_named"))
    );
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("2 names"), "{detail}");
    assert!(
        detail.contains("presentation") && detail.contains("plan"),
        "{detail}"
    );
    assert!(!detail.contains("participation"), "{detail}");
    for name in ["Birch", "BIRCH", "Cass", "Casey"] {
        assert!(
            !p.to_string().contains(name),
            "the warning never echoes a name"
        );
    }
    // Still a draft, unchanged.
    let (_, back) =
        f.t.get(&f.lead, &format!("/api/v1/notes/{}", note["id"]))
            .await;
    assert_eq!(
        (back["state"].as_str(), &back["version"]),
        (Some("draft"), &note["version"])
    );

    let (s, signed) = f
        .sign(&f.lead, &note, json!({"confirm_names_checked": true}))
        .await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["names_check_confirmed"], true);
    assert_eq!(signed["content_hash"].as_str().unwrap().len(), 64);
    assert!(signed["signed_at"].is_string());

    // The member's own names, and names inside other words, raise no warning.
    let own = f
        .draft(
            &f.lead,
            1,
            json!({"presentation": "Casey arrived late; Cass prefers her preferred name.",
                   "plan": "Robinson worksheet; Alderwood exercise"}),
        )
        .await;
    let (s, signed) = f.sign(&f.lead, &own, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    assert_eq!(signed["names_check_confirmed"], false);
}

#[tokio::test]
async fn a_signed_note_cannot_be_edited_only_amended() {
    let f = fixture().await;
    let note = f
        .draft(
            &f.lead,
            0,
            json!({"presentation": "Engaged.", "plan": "Continue."}),
        )
        .await;
    // Autosave: the draft updates with its version, and a stale version is refused.
    let (s, saved) = f
        .t
        .send(
            Method::PUT,
            &f.lead,
            &f.note_path(0),
            json!({"version": note["version"], "presentation": "Engaged and reflective.", "plan": "Continue."}),
        )
        .await;
    assert_eq!(
        (s, saved["presentation"].as_str()),
        (StatusCode::OK, Some("Engaged and reflective."))
    );
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &f.note_path(0),
            json!({"version": note["version"], "plan": "x"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("stale_version"))
    );
    let (s, p) =
        f.t.post(
            &f.lead,
            &format!("/api/v1/notes/{}/addenda", note["id"]),
            json!({"text": "early"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_state"))
    );

    let (s, signed) = f.sign(&f.lead, &saved, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &f.note_path(0),
            json!({"version": signed["version"], "presentation": "Rewritten."}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_signed"))
    );
    let (s, p) = f.sign(&f.lead, &signed, json!({})).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_signed"))
    );

    let (s, amended) =
        f.t.post(
            &f.lead,
            &format!("/api/v1/notes/{}/addenda", note["id"]),
            json!({"text": "Late entry: member phoned after group to report feeling better."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{amended}");
    let add = &amended["addenda"][0];
    assert_eq!(add["author_clinician_id"], f.lead_id);
    assert_eq!(add["content_hash"].as_str().unwrap().len(), 64);
    assert!(add["signed_at"].is_string());
    // The signed text and its hash are untouched.
    assert_eq!(amended["presentation"], "Engaged and reflective.");
    assert_eq!(amended["content_hash"], signed["content_hash"]);
    let (_, back) =
        f.t.get(&f.dir, &format!("/api/v1/notes/{}", note["id"]))
            .await;
    assert_eq!(back["addenda"].as_array().unwrap().len(), 1);
    let (s, p) =
        f.t.post(
            &f.lead,
            &format!("/api/v1/notes/{}/addenda", note["id"]),
            json!({"text": ""}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("text"))
    );

    // The same lock holds for the group note.
    let gpath = format!("/api/v1/sessions/{}/group-note", f.sessions[0]);
    let (s, g) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &gpath,
            json!({"themes": "Trust.", "interventions": "Reflective listening."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    assert_eq!(g["topic"], "Values", "the topic defaults to the session's");
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &gpath,
            json!({"version": g["version"], "facilitators": [f.lead_id, 999_999]}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("facilitators/1"))
    );
    assert_eq!(g["facilitators"], json!([f.lead_id, f.trainee_id]));
    let (s, g) =
        f.t.post(
            &f.lead,
            &format!("{gpath}/sign"),
            json!({"version": g["version"]}),
        )
        .await;
    assert_eq!((s, g["state"].as_str()), (StatusCode::OK, Some("signed")));
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &gpath,
            json!({"version": g["version"], "themes": "x"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_signed"))
    );
    let (s, g) =
        f.t.post(
            &f.lead,
            &format!("{gpath}/addenda"),
            json!({"text": "Room changed mid-session."}),
        )
        .await;
    assert_eq!(
        (s, g["addenda"].as_array().map(Vec::len)),
        (StatusCode::CREATED, Some(1))
    );
}

#[tokio::test]
async fn a_trainees_note_is_not_signed_until_a_licensed_clinician_cosigns() {
    let f = fixture().await;
    let note = f
        .draft(
            &f.trainee,
            1,
            json!({"presentation": "Quiet; listened.", "plan": "Invite to share."}),
        )
        .await;
    assert_eq!(note["author_clinician_id"], f.trainee_id);
    // Only the author signs.
    let (s, p) = f.sign(&f.lead, &note, json!({})).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_author"))
    );
    let (s, waiting) = f.sign(&f.trainee, &note, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{waiting}");
    assert_eq!(waiting["state"], "awaiting_cosign");
    assert!(waiting["signed_at"].is_null(), "not signed yet");
    // Locked meanwhile; nobody co-signs their own note; an unlicensed clinician cannot.
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.trainee,
            &f.note_path(1),
            json!({"version": waiting["version"], "plan": "x"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_awaiting_cosign"))
    );
    let cosign = format!("/api/v1/notes/{}/cosign", note["id"]);
    let (s, p) =
        f.t.post(&f.trainee, &cosign, json!({"version": waiting["version"]}))
            .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_author"))
    );
    // Overdue still lists it: only `signed` counts as signed.
    let (s, signed) =
        f.t.post(&f.lead, &cosign, json!({"version": waiting["version"]}))
            .await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["cosigned_by"], f.lead_id);
    assert!(signed["signed_at"].is_string());
    assert_eq!(signed["content_hash"], waiting["content_hash"]);
    let (s, p) =
        f.t.post(&f.lead, &cosign, json!({"version": signed["version"]}))
            .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("note_state"))
    );
}

#[tokio::test]
async fn reading_a_note_writes_exactly_one_note_read_entry_and_listing_one_list_entry() {
    let f = fixture().await;
    let note = f
        .draft(&f.lead, 0, json!({"presentation": "Engaged."}))
        .await;
    let before = entries(&f.t).await.len();
    let (s, _) =
        f.t.get(&f.lead, &format!("/api/v1/notes/{}", note["id"]))
            .await;
    assert_eq!(s, StatusCode::OK);
    let added: Vec<AuditEntry> = entries(&f.t).await.into_iter().skip(before).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!(added[0].action, AuditAction::NoteRead);
    assert_eq!(added[0].client_ids, vec![ClientId(f.clients[0])]);
    assert_eq!(
        added[0].object_id.as_deref(),
        Some(note["id"].to_string().as_str())
    );
    assert_eq!(added[0].category.as_str(), "note");

    let before = entries(&f.t).await.len();
    let (s, list) =
        f.t.get(
            &f.lead,
            &format!("/api/v1/sessions/{}/notes", f.sessions[0]),
        )
        .await;
    assert_eq!(
        (s, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
    let added: Vec<AuditEntry> = entries(&f.t).await.into_iter().skip(before).collect();
    let actions: Vec<AuditAction> = added.iter().map(|e| e.action).collect();
    assert_eq!(actions, vec![AuditAction::NoteList]);

    // Writes are audited too.
    let before = entries(&f.t).await.len();
    f.sign(&f.lead, &note, json!({})).await;
    let added: Vec<AuditAction> = entries(&f.t)
        .await
        .into_iter()
        .skip(before)
        .map(|e| e.action)
        .collect();
    assert_eq!(added, vec![AuditAction::NoteSign]);
}

#[tokio::test]
async fn intake_clients_admins_and_other_clinicians_cannot_read_notes() {
    let f = fixture().await;
    let note = f
        .draft(&f.lead, 0, json!({"presentation": "Engaged."}))
        .await;
    let gpath = format!("/api/v1/sessions/{}/group-note", f.sessions[0]);
    f.t.send(Method::PUT, &f.lead, &gpath, json!({"themes": "Trust."}))
        .await;
    let intake =
        f.t.token_for("intake@example.test", Role::Intake, None, None)
            .await;
    let admin =
        f.t.token_for("admin@example.test", Role::Admin, None, None)
            .await;
    let client =
        f.t.token_for(
            "robin@example.test",
            Role::Client,
            None,
            Some(ClientId(f.clients[0])),
        )
        .await;
    let before = entries(&f.t).await.len();
    let paths = [
        format!("/api/v1/notes/{}", note["id"]),
        format!("/api/v1/sessions/{}/notes", f.sessions[0]),
        gpath.clone(),
    ];
    for (who, token) in [
        ("intake", &intake),
        ("admin", &admin),
        ("client", &client),
        ("other clinician", &f.other),
    ] {
        for path in &paths {
            let (s, body) = f.t.get(token, path).await;
            assert!(
                matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                "{who} GET {path}: {s}"
            );
            assert!(!body.to_string().contains("Engaged"), "{who} saw note text");
        }
        let (s, _) =
            f.t.send(
                Method::PUT,
                token,
                &f.note_path(0),
                json!({"version": note["version"], "plan": "x"}),
            )
            .await;
        assert!(
            matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{who} wrote"
        );
    }
    let denied: Vec<AuditEntry> = entries(&f.t)
        .await
        .into_iter()
        .skip(before)
        .filter(|e| e.outcome == AuditOutcome::Denied)
        .collect();
    assert_eq!(denied.len(), 16, "every refusal is audited: {denied:?}");
    assert!(
        entries(&f.t)
            .await
            .into_iter()
            .skip(before)
            .all(|e| e.outcome == AuditOutcome::Denied),
        "nothing was read"
    );
    // The director reads; a substitute recorded as present may too.
    assert_eq!(f.t.get(&f.dir, &paths[0]).await.0, StatusCode::OK);
    let (_, session) =
        f.t.get(&f.dir, &format!("/api/v1/sessions/{}", f.sessions[0]))
            .await;
    let (s, session) =
        f.t.send(
            Method::PATCH,
            &f.lead,
            &format!("/api/v1/sessions/{}", f.sessions[0]),
            json!({"version": session["version"], "facilitators_present": [f.lead_id, f.other_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert_eq!(
        session["facilitators_present"],
        json!([f.lead_id, f.other_id])
    );
    assert_eq!(f.t.get(&f.other, &paths[0]).await.0, StatusCode::OK);
    // …and take attendance, but not at the group's other sessions.
    let (s, _) =
        f.t.get(
            &f.other,
            &format!("/api/v1/sessions/{}/roster", f.sessions[0]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) =
        f.t.get(
            &f.other,
            &format!("/api/v1/sessions/{}/roster", f.sessions[1]),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn overdue_notes_are_listed_per_clinician_after_the_programs_window() {
    let mut f = fixture().await;
    let note = f
        .draft(&f.lead, 0, json!({"presentation": "Engaged."}))
        .await;
    // Within the 24-hour window nothing is overdue.
    f.t.clock.set("2026-05-06T23:00:00Z".parse().unwrap());
    f.relogin().await;
    let (s, list) = f.t.get(&f.lead, "/api/v1/notes/overdue").await;
    assert_eq!((s, list), (StatusCode::OK, json!([])));

    f.t.clock.set("2026-05-06T23:31:00Z".parse().unwrap());
    f.relogin().await;
    let (s, list) = f.t.get(&f.lead, "/api/v1/notes/overdue").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["clinician_id"], f.lead_id);
    let notes = list[0]["notes"].as_array().unwrap();
    // The group note (missing), Robin's draft and Casey's missing note; Jordan was absent.
    assert_eq!(notes.len(), 3, "{list}");
    assert_eq!(notes[0]["kind"], "group");
    assert!(notes[0]["state"].is_null());
    let progress: Vec<(i64, Value)> = notes[1..]
        .iter()
        .map(|n| (n["client_id"].as_i64().unwrap(), n["state"].clone()))
        .collect();
    assert_eq!(
        progress,
        vec![(f.clients[0], json!("draft")), (f.clients[1], Value::Null)]
    );
    assert_eq!(notes[1]["due_at"], "2026-05-06T23:30:00Z");
    assert_eq!(notes[1]["note_id"], note["id"]);

    // Another clinician sees none of them; a director sees them all; intake nothing.
    assert_eq!(
        f.t.get(&f.other, "/api/v1/notes/overdue").await.1,
        json!([])
    );
    let (_, all) = f.t.get(&f.dir, "/api/v1/notes/overdue").await;
    assert_eq!(all, list);
    let intake =
        f.t.token_for("intake@example.test", Role::Intake, None, None)
            .await;
    assert_eq!(
        f.t.get(&intake, "/api/v1/notes/overdue").await.0,
        StatusCode::FORBIDDEN
    );

    // A trainee's note counts once co-signed, not before; a signed note leaves the list.
    let t_note = f
        .draft(&f.trainee, 1, json!({"presentation": "Listened."}))
        .await;
    let (_, waiting) = f.sign(&f.trainee, &t_note, json!({})).await;
    let (_, mine) = f.t.get(&f.trainee, "/api/v1/notes/overdue").await;
    assert_eq!(mine[0]["notes"][0]["state"], "awaiting_cosign", "{mine}");
    f.t.post(
        &f.lead,
        &format!("/api/v1/notes/{}/cosign", t_note["id"]),
        json!({"version": waiting["version"]}),
    )
    .await;
    f.sign(&f.lead, &note, json!({})).await;
    let (_, list) = f.t.get(&f.dir, "/api/v1/notes/overdue").await;
    let left: Vec<&str> = list[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(left, vec!["group"], "{list}");

    // The window is the program's setting.
    let (_, program) =
        f.t.get(&f.dir, &format!("/api/v1/programs/{}", f.program))
            .await;
    let (s, _) =
        f.t.send(
            Method::PATCH,
            &f.dir,
            &format!("/api/v1/programs/{}", f.program),
            json!({"version": program["version"], "note_due_hours": 48}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f.t.get(&f.dir, "/api/v1/notes/overdue").await.1, json!([]));
}

/// The overdue list starts from the sessions whose notes are not all signed, a set the
/// database keeps itself (migration 0033): a session whose notes were all signed comes
/// back when someone who was marked absent is marked present, and leaves again when the
/// change is undone or the new note signed.
#[tokio::test]
async fn a_signed_sessions_notes_are_overdue_again_when_attendance_changes_after_signing() {
    let mut f = fixture().await;
    f.t.clock.set("2026-05-07T12:00:00Z".parse().unwrap());
    f.relogin().await;
    let gpath = format!("/api/v1/sessions/{}/group-note", f.sessions[0]);
    let (s, g) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &gpath,
            json!({"themes": "Trust.", "interventions": "Reflective listening."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    let (s, g) =
        f.t.post(
            &f.lead,
            &format!("{gpath}/sign"),
            json!({"version": g["version"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    for member in [0, 1] {
        let note = f
            .draft(&f.lead, member, json!({"presentation": "Engaged."}))
            .await;
        let (s, n) = f.sign(&f.lead, &note, json!({})).await;
        assert_eq!(s, StatusCode::OK, "{n}");
    }
    assert_eq!(f.overdue().await, json!([]), "every note signed");

    // Jordan was marked absent; the facilitator corrects it: Jordan's note is now missing.
    let jordan = format!(
        "/api/v1/sessions/{}/attendance/{}",
        f.sessions[0], f.clients[2]
    );
    let (s, a) =
        f.t.send(Method::PUT, &f.lead, &jordan, json!({"status": "present"}))
            .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let list = f.overdue().await;
    let notes = list[0]["notes"].as_array().expect("overdue notes");
    assert_eq!(notes.len(), 1, "{list}");
    assert_eq!(
        (notes[0]["kind"].as_str(), notes[0]["client_id"].as_i64()),
        (Some("progress"), Some(f.clients[2])),
        "{list}"
    );

    // Undone: nothing is overdue again.
    let (s, a) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &jordan,
            json!({"status": "absent_excused"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(
        f.overdue().await,
        json!([]),
        "absent again: nothing missing"
    );

    // Present once more, and the note written and signed: nothing overdue.
    let (s, a) =
        f.t.send(Method::PUT, &f.lead, &jordan, json!({"status": "present"}))
            .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(
        f.overdue().await[0]["notes"].as_array().map(Vec::len),
        Some(1)
    );
    let note = f
        .draft(&f.lead, 2, json!({"presentation": "Quiet, attentive."}))
        .await;
    let (s, n) = f.sign(&f.lead, &note, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(f.overdue().await, json!([]), "Jordan's note signed");
}

#[tokio::test]
async fn topics_come_from_the_curriculum_rolling_groups_advancing_by_module() {
    let f = fixture().await;
    let (s, group) =
        f.t.post(
            &f.dir,
            "/api/v1/groups",
            json!({"program_id": f.program, "name": "DBT skills", "kind": "skills",
            "modality": "dbt", "eligible_levels": ["iop"],
            "enrollment": {"model": "rolling", "curriculum_start": "2026-05-04", "module_weeks": 2},
            "meetings": [{"weekday": "thursday", "start": "10:00", "minutes": 90}],
            "lead_facilitator_id": f.other_id,
            "curriculum": ["Mindfulness", "Distress tolerance", "Emotion regulation"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group}");
    let g = group["id"].as_i64().unwrap();
    let (s, sessions) =
        f.t.post(
            &f.dir,
            &format!("/api/v1/groups/{g}/sessions/materialize"),
            json!({"from": "2026-05-04", "weeks": 7}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sessions}");
    let topics: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        [
            "Mindfulness",
            "Mindfulness",
            "Distress tolerance",
            "Distress tolerance",
            "Emotion regulation",
            "Emotion regulation",
            "Mindfulness"
        ]
    );

    // An open group cycles session by session; a cancelled session gives its topic to
    // the next one; a session's own topic overrides and can be cleared.
    assert_eq!(
        topics_of(&f).await,
        ["Values", "Boundaries", "Repair", "Values"]
    );
    let (s, cancelled) =
        f.t.post(
            &f.lead,
            &format!("/api/v1/sessions/{}/cancel", f.sessions[1]),
            json!({"version": 1, "reason": "Facilitator illness"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(
        topics_of(&f).await,
        ["Values", "Boundaries", "Boundaries", "Repair"]
    );
    let path = format!("/api/v1/sessions/{}", f.sessions[2]);
    let (s, own) =
        f.t.send(
            Method::PATCH,
            &f.lead,
            &path,
            json!({"version": 1, "topic": "Guest speaker"}),
        )
        .await;
    assert_eq!(
        (s, own["topic"].as_str(), own["topic_overridden"].as_bool()),
        (StatusCode::OK, Some("Guest speaker"), Some(true))
    );
    assert_eq!(
        topics_of(&f).await,
        ["Values", "Boundaries", "Guest speaker", "Repair"]
    );
    let (s, back) =
        f.t.send(
            Method::PATCH,
            &f.lead,
            &path,
            json!({"version": own["version"], "topic": ""}),
        )
        .await;
    assert_eq!(
        (
            s,
            back["topic"].as_str(),
            back["topic_overridden"].as_bool()
        ),
        (StatusCode::OK, Some("Boundaries"), Some(false))
    );

    // Curricula are validated and can be replaced.
    let (_, g0) =
        f.t.get(&f.dir, &format!("/api/v1/groups/{}", f.group))
            .await;
    let (s, p) =
        f.t.send(
            Method::PATCH,
            &f.dir,
            &format!("/api/v1/groups/{}", f.group),
            json!({"version": g0["version"], "curriculum": ["ok", ""]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, g1) =
        f.t.send(
            Method::PATCH,
            &f.dir,
            &format!("/api/v1/groups/{}", f.group),
            json!({"version": g0["version"], "curriculum": []}),
        )
        .await;
    assert_eq!((s, &g1["curriculum"]), (StatusCode::OK, &json!([])));
    assert_eq!(topics_of(&f).await, ["-", "-", "-", "-"]);
}

#[tokio::test]
async fn participation_round_trips_and_silence_is_valid() {
    let f = fixture().await;
    let path = format!(
        "/api/v1/sessions/{}/attendance/{}",
        f.sessions[0], f.clients[0]
    );
    let (s, a) = f
        .t
        .send(
            Method::PUT,
            &f.lead,
            &path,
            json!({"status": "present", "participation": ["listened_passed", "shared", "listened_passed", "practised_skill"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(
        a["participation"],
        json!(["shared", "listened_passed", "practised_skill"])
    );
    let (_, list) =
        f.t.get(
            &f.lead,
            &format!("/api/v1/sessions/{}/attendance", f.sessions[0]),
        )
        .await;
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["client_id"] == f.clients[0])
        .unwrap();
    assert_eq!(
        mine["participation"],
        json!(["shared", "listened_passed", "practised_skill"])
    );
    let (_, roster) =
        f.t.get(
            &f.lead,
            &format!("/api/v1/sessions/{}/roster", f.sessions[0]),
        )
        .await;
    assert_eq!(roster[0]["attendance"]["participation"][0], "shared");
    // Silence: an empty set, or none given.
    let (s, a) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &path,
            json!({"status": "present", "participation": []}),
        )
        .await;
    assert_eq!((s, &a["participation"]), (StatusCode::OK, &json!([])));
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &path,
            json!({"status": "absent_excused", "participation": ["shared"]}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("participation"))
    );
    let (s, _) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &path,
            json!({"status": "present", "participation": ["scored_well"]}),
        )
        .await;
    assert!(s.is_client_error());
}

#[tokio::test]
async fn cancelling_lists_whom_to_notify_and_notes_need_attendance() {
    let f = fixture().await;
    let (s, c) =
        f.t.post(
            &f.lead,
            &format!("/api/v1/sessions/{}/cancel", f.sessions[1]),
            json!({"version": 1, "reason": "Building closed"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(
        (c["status"].as_str(), c["cancel_reason"].as_str()),
        (Some("cancelled"), Some("Building closed"))
    );
    let names: Vec<(i64, &str)> = c["notify_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["client_id"].as_i64().unwrap(),
                m["roster_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (f.clients[0], "Robin A."),
            (f.clients[1], "Cass B."),
            (f.clients[2], "Jordan C.")
        ]
    );
    assert_eq!(c["notify_facilitators"], json!([f.lead_id, f.trainee_id]));
    // Notes: not for an absent member, not for a cancelled or future session.
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &f.note_path(2),
            json!({"presentation": "x"}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_attending"))
    );
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &format!("/api/v1/sessions/{}/group-note", f.sessions[1]),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_cancelled"))
    );
    let (s, p) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &format!("/api/v1/sessions/{}/group-note", f.sessions[2]),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("session_not_started"))
    );
    // A substitute must hold a license on the date.
    let unlicensed = clinician(&f.t, &f.dir, "unlicensed", false).await;
    let (s, p) =
        f.t.send(
            Method::PATCH,
            &f.lead,
            &format!("/api/v1/sessions/{}", f.sessions[0]),
            json!({"version": 2, "facilitators_present": [unlicensed]}),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_a_facilitator")),
        "{p}"
    );
}

async fn topics_of(f: &Fx) -> Vec<String> {
    let path = format!(
        "/api/v1/groups/{}/sessions?from=2026-05-01&until=2026-06-01",
        f.group
    );
    let (_, l) = f.t.get(&f.dir, &path).await;
    l.as_array()
        .unwrap()
        .iter()
        .map(|s| s["topic"].as_str().unwrap_or("-").to_owned())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn note_text_is_nowhere_in_the_database_in_clear() {
    let f = fixture().await;
    let marker = format!("NOTEMARK{}", rand::random::<u64>());
    let note = f
        .draft(&f.lead, 0, json!({"presentation": format!("{marker}-presentation"), "plan": format!("{marker}-plan")}))
        .await;
    let (_, signed) = f.sign(&f.lead, &note, json!({})).await;
    assert_eq!(signed["state"], "signed");
    f.t.post(
        &f.lead,
        &format!("/api/v1/notes/{}/addenda", note["id"]),
        json!({"text": format!("{marker}-addendum")}),
    )
    .await;
    let (s, _) =
        f.t.send(
            Method::PUT,
            &f.lead,
            &format!("/api/v1/sessions/{}/group-note", f.sessions[0]),
            json!({"themes": format!("{marker}-themes")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, back) =
        f.t.get(&f.dir, &format!("/api/v1/notes/{}", note["id"]))
            .await;
    assert_eq!(
        back["plan"],
        format!("{marker}-plan"),
        "reads back decrypted"
    );
    assert_eq!(back["addenda"][0]["text"], format!("{marker}-addendum"));

    match f.t.db.backend() {
        Backend::Sqlite => {
            let path = f.t.db.url.trim_start_matches("sqlite://").to_owned();
            let mut checked = 0;
            for suffix in ["", "-wal", "-shm"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    assert!(
                        !contains(&bytes, marker.as_bytes()),
                        "marker found in {path}{suffix}"
                    );
                    checked += 1;
                }
            }
            assert!(checked >= 2, "the database and its WAL were read");
        }
        Backend::Postgres => {
            let out = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(&f.t.db.url)
                .output()
                .expect("pg_dump is installed (Debian: postgresql-client)");
            assert!(
                out.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.len() > 1000, "the dump has data");
            assert!(
                !contains(&out.stdout, marker.as_bytes()),
                "marker found in the PostgreSQL dump"
            );
        }
    }
}

#[tokio::test]
async fn a_signed_note_changed_behind_circles_back_is_an_integrity_error_never_a_valid_note() {
    let f = fixture().await;
    let note = f
        .draft(
            &f.lead,
            0,
            json!({"presentation": "Engaged.", "plan": "Continue."}),
        )
        .await;
    let (s, signed) = f.sign(&f.lead, &note, json!({})).await;
    assert_eq!(
        (s, &signed["state"]),
        (StatusCode::OK, &json!("signed")),
        "{signed}"
    );
    let path = format!("/api/v1/notes/{}", note["id"]);
    let (s, read) = f.t.get(&f.lead, &path).await;
    assert_eq!(
        (s, &read["presentation"]),
        (StatusCode::OK, &json!("Engaged."))
    );

    // Someone with database access swaps in the digest of other content.
    f.t.db
        .store
        .execute_admin(&format!(
            "UPDATE progress_notes SET content_hash = '{}' WHERE id = {}",
            "0".repeat(64),
            note["id"]
        ))
        .await
        .unwrap();
    let (s, p) = f.t.get(&f.lead, &path).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{p}");
    assert!(
        p.get("presentation").is_none(),
        "the content is not shown: {p}"
    );
}
