//! The store conformance suite: every rule of the foundation, through the store, on
//! whichever database `TEST_DATABASE_URL` names (SQLite when unset). CI runs it on both.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::care::LevelOfCare;
use circle_domain::group::GroupPatch;
use circle_domain::membership::{MembershipChange, NewMembership};
use circle_domain::program::ProgramPatch;
use circle_domain::session::{AttendanceInput, MaterializeRequest, SessionCancellation};
use circle_domain::{DomainError, Rule};
use circle_store::{PageRequest, StoreError};
use circle_testkit::TestDb;
use circle_testkit::builders::*;
use circle_testkit::sys::SysStore;
use jiff::civil::date;
use serde_json::json;

fn rule_of<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Rule {
    match r {
        Err(StoreError::Domain(DomainError::Conflict(c))) => c.rule,
        other => panic!("expected a rule conflict, got {other:?}"),
    }
}

fn invalid_field<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Domain(DomainError::Invalid(f))) => f.0[0].field.clone(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn join(client: circle_domain::ids::ClientId, start: &str) -> NewMembership {
    input(json!({"client_id": client, "start_date": start}))
}

struct Iop {
    db: TestDb,
    program: circle_domain::program::Program,
    lead: circle_domain::clinician::Clinician,
    group: circle_domain::group::Group,
}

async fn iop_with_group() -> Iop {
    let db = TestDb::new().await;
    let program = program(&db.store, "Adult IOP evening", LevelOfCare::Iop).await;
    let lead = clinician(&db.store, 1).await;
    let room = room(&db.store, "Room 2", 14).await;
    let g = group(
        &db.store,
        &group_input(
            program.id,
            lead.id,
            Some(room.id),
            "Evening process",
            tuesday_evening(),
            json!({}),
        ),
    )
    .await;
    Iop {
        db,
        program,
        lead,
        group: g,
    }
}

#[tokio::test]
async fn a_thirteenth_member_is_refused_and_the_group_keeps_twelve() {
    let t = iop_with_group().await;
    assert_eq!(t.group.max_size, 12);
    for n in 1..=12 {
        let c = client_at(&t.db.store, n, LevelOfCare::Iop).await;
        t.db.store
            .sys_enroll(t.group.id, &join(c.id, "2026-05-05"), now())
            .await
            .expect("seat available");
    }
    let c13 = client_at(&t.db.store, 13, LevelOfCare::Iop).await;
    let r =
        t.db.store
            .sys_enroll(t.group.id, &join(c13.id, "2026-05-05"), now())
            .await;
    assert_eq!(rule_of(r), Rule::GroupFull);
    let members =
        t.db.store
            .sys_list_memberships(
                t.group.id,
                PageRequest {
                    after: 0,
                    limit: 50,
                },
                now(),
            )
            .await
            .unwrap();
    assert_eq!(members.items.len(), 12);
}

#[tokio::test]
async fn a_lower_program_cap_is_enforced() {
    let db = TestDb::new().await;
    let p = program(&db.store, "Medicaid IOP", LevelOfCare::Iop).await;
    let p = db
        .store
        .update_program(
            p.id,
            &input::<ProgramPatch>(json!({"version": p.version, "max_group_size": 8})),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(p.max_group_size, 8);
    let lead = clinician(&db.store, 1).await;
    // Asking for 12 in a program capped at 8 needs a director's override.
    let r = db
        .store
        .sys_create_group(
            &group_input(
                p.id,
                lead.id,
                None,
                "G",
                tuesday_evening(),
                json!({"max_size": 12}),
            ),
            today(),
            now(),
        )
        .await;
    assert_eq!(rule_of(r), Rule::SizeCapExceeded);
    let g = group(
        &db.store,
        &group_input(p.id, lead.id, None, "G", tuesday_evening(), json!({})),
    )
    .await;
    assert_eq!(g.max_size, 8);
    for n in 1..=8 {
        let c = client_at(&db.store, n, LevelOfCare::Iop).await;
        db.store
            .sys_enroll(g.id, &join(c.id, "2026-05-05"), now())
            .await
            .unwrap();
    }
    let c9 = client_at(&db.store, 9, LevelOfCare::Iop).await;
    assert_eq!(
        rule_of(
            db.store
                .sys_enroll(g.id, &join(c9.id, "2026-05-05"), now())
                .await
        ),
        Rule::GroupFull
    );
}

#[tokio::test]
async fn a_group_cannot_be_larger_than_its_room() {
    let db = TestDb::new().await;
    let p = program(&db.store, "P", LevelOfCare::Iop).await;
    let lead = clinician(&db.store, 1).await;
    let small = room(&db.store, "Small room", 6).await;
    let r = db
        .store
        .sys_create_group(
            &group_input(
                p.id,
                lead.id,
                Some(small.id),
                "G",
                tuesday_evening(),
                json!({"max_size": 10}),
            ),
            today(),
            now(),
        )
        .await;
    assert_eq!(rule_of(r), Rule::RoomCapacity);
}

#[tokio::test]
async fn a_member_at_another_level_of_care_is_refused() {
    let t = iop_with_group().await;
    let php = client_at(&t.db.store, 1, LevelOfCare::Php).await;
    let r =
        t.db.store
            .sys_enroll(t.group.id, &join(php.id, "2026-05-05"), now())
            .await;
    assert_eq!(rule_of(r), Rule::LevelOfCareNotEligible);
}

#[tokio::test]
async fn stepping_down_keeps_history_and_changes_eligibility() {
    let t = iop_with_group().await;
    let c = client_at(&t.db.store, 1, LevelOfCare::Php).await;
    let e =
        t.db.store
            .sys_change_level(
                c.id,
                &input(json!({"level_of_care": "iop", "started_on": "2026-05-01"})),
                now(),
            )
            .await
            .unwrap();
    assert_eq!(e.level_of_care, LevelOfCare::Iop);
    let episodes = t.db.store.sys_episodes(c.id, now()).await.unwrap();
    assert_eq!(episodes.len(), 2);
    assert_eq!(episodes[0].level_of_care, LevelOfCare::Php);
    assert_eq!(episodes[0].ended_on, Some(date(2026, 5, 1)));
    assert_eq!(episodes[1].ended_on, None);
    assert_eq!(
        t.db.store
            .sys_client(c.id, now())
            .await
            .unwrap()
            .current_level,
        Some(LevelOfCare::Iop)
    );
    t.db.store
        .sys_enroll(t.group.id, &join(c.id, "2026-05-05"), now())
        .await
        .expect("now eligible");
    // A change dated before the open episode started is refused, and nothing changes.
    let r =
        t.db.store
            .sys_change_level(
                c.id,
                &input(json!({"level_of_care": "outpatient", "started_on": "2026-04-01"})),
                now(),
            )
            .await;
    assert_eq!(rule_of(r), Rule::EpisodeOrder);
    assert_eq!(t.db.store.sys_episodes(c.id, now()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_closed_group_refuses_joiners_after_its_cohort_started() {
    let t = iop_with_group().await;
    let g = group(
        &t.db.store,
        &group_input(
            t.program.id,
            t.lead.id,
            None,
            "Closed cohort",
            json!([{"weekday": "thursday", "start": "18:00", "minutes": 90}]),
            json!({"enrollment": {"model": "closed", "cohort_start": "2026-05-07"}}),
        ),
    )
    .await;
    let a = client_at(&t.db.store, 1, LevelOfCare::Iop).await;
    let b = client_at(&t.db.store, 2, LevelOfCare::Iop).await;
    t.db.store
        .sys_enroll(g.id, &join(a.id, "2026-05-07"), now())
        .await
        .unwrap();
    let r =
        t.db.store
            .sys_enroll(g.id, &join(b.id, "2026-05-14"), now())
            .await;
    assert_eq!(rule_of(r), Rule::ClosedCohortStarted);
}

#[tokio::test]
async fn a_rolling_group_admits_only_at_module_boundaries() {
    let t = iop_with_group().await;
    let g = group(
        &t.db.store,
        &group_input(
            t.program.id,
            t.lead.id,
            None,
            "DBT skills",
            json!([{"weekday": "wednesday", "start": "18:00", "minutes": 120}]),
            json!({"kind": "skills", "modality": "dbt",
                   "enrollment": {"model": "rolling", "curriculum_start": "2026-04-06", "module_weeks": 6}}),
        ),
    )
    .await;
    let a = client_at(&t.db.store, 1, LevelOfCare::Iop).await;
    let r =
        t.db.store
            .sys_enroll(g.id, &join(a.id, "2026-05-06"), now())
            .await;
    assert_eq!(rule_of(r), Rule::BetweenModuleBoundaries);
    t.db.store
        .sys_enroll(g.id, &join(a.id, "2026-05-20"), now())
        .await
        .expect("a module starts 2026-05-18");
}

#[tokio::test]
async fn a_lead_without_an_active_license_is_refused() {
    let db = TestDb::new().await;
    let p = program(&db.store, "P", LevelOfCare::Iop).await;
    let trainee = trainee(&db.store, 1).await;
    let r = db
        .store
        .sys_create_group(
            &group_input(p.id, trainee.id, None, "G", tuesday_evening(), json!({})),
            today(),
            now(),
        )
        .await;
    assert_eq!(rule_of(r), Rule::LicenseNotActive);
    // A trainee may co-facilitate beside a licensed lead.
    let lead = clinician(&db.store, 2).await;
    let g = group(
        &db.store,
        &group_input(
            p.id,
            lead.id,
            None,
            "G",
            tuesday_evening(),
            json!({"co_facilitator_id": trainee.id}),
        ),
    )
    .await;
    assert_eq!(g.co_facilitator_id, Some(trainee.id));
}

#[tokio::test]
async fn sessions_are_not_materialised_past_the_leads_license_expiry() {
    let db = TestDb::new().await;
    let p = program(&db.store, "P", LevelOfCare::Iop).await;
    let lead = clinician_with(&db.store, 1, "2026-05-15").await;
    let g = group(
        &db.store,
        &group_input(p.id, lead.id, None, "G", tuesday_evening(), json!({})),
    )
    .await;
    let ok = db
        .store
        .materialize_sessions(
            g.id,
            &input::<MaterializeRequest>(json!({"from": "2026-05-04", "weeks": 1})),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(ok.len(), 1);
    let r = db
        .store
        .materialize_sessions(
            g.id,
            &input::<MaterializeRequest>(json!({"from": "2026-05-11", "weeks": 2})),
            now(),
        )
        .await;
    assert_eq!(rule_of(r), Rule::LicenseNotActive);
    // Nothing of the refused horizon was created, not even the session before expiry.
    let all = db
        .store
        .list_sessions(g.id, date(2026, 5, 1), date(2026, 6, 1))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn a_client_cannot_be_in_two_groups_at_overlapping_times() {
    let t = iop_with_group().await;
    let other_lead = clinician(&t.db.store, 2).await;
    let overlapping = group(
        &t.db.store,
        &group_input(
            t.program.id,
            other_lead.id,
            None,
            "Overlapping",
            json!([{"weekday": "tuesday", "start": "19:00", "minutes": 60}]),
            json!({}),
        ),
    )
    .await;
    let c = client_at(&t.db.store, 1, LevelOfCare::Iop).await;
    t.db.store
        .sys_enroll(t.group.id, &join(c.id, "2026-05-05"), now())
        .await
        .unwrap();
    let r =
        t.db.store
            .sys_enroll(overlapping.id, &join(c.id, "2026-05-05"), now())
            .await;
    assert_eq!(rule_of(r), Rule::ScheduleOverlap);
}

#[tokio::test]
async fn a_clinician_or_room_cannot_be_booked_twice_at_once() {
    let t = iop_with_group().await;
    // Same lead, overlapping time.
    let r =
        t.db.store
            .sys_create_group(
                &group_input(
                    t.program.id,
                    t.lead.id,
                    None,
                    "Clash",
                    json!([{"weekday": "tuesday", "start": "19:00", "minutes": 60}]),
                    json!({}),
                ),
                today(),
                now(),
            )
            .await;
    assert_eq!(rule_of(r), Rule::ScheduleOverlap);
    // Same room, another lead, overlapping time.
    let other = clinician(&t.db.store, 2).await;
    let r =
        t.db.store
            .sys_create_group(
                &group_input(
                    t.program.id,
                    other.id,
                    t.group.room_id,
                    "Room clash",
                    json!([{"weekday": "tuesday", "start": "18:30", "minutes": 60}]),
                    json!({}),
                ),
                today(),
                now(),
            )
            .await;
    let err = format!("{r:?}");
    assert_eq!(rule_of(r), Rule::ScheduleOverlap);
    assert!(err.contains("room"));
    // After the first group ends, the same lead and room are free.
    group(
        &t.db.store,
        &group_input(
            t.program.id,
            t.lead.id,
            t.group.room_id,
            "Later",
            json!([{"weekday": "tuesday", "start": "19:30", "minutes": 60}]),
            json!({}),
        ),
    )
    .await;
}

#[tokio::test]
async fn a_separated_pair_never_shares_a_group_and_the_refusal_names_no_one() {
    let t = iop_with_group().await;
    let a = client_at(&t.db.store, 1, LevelOfCare::Iop).await;
    let b = client_at(&t.db.store, 2, LevelOfCare::Iop).await;
    t.db.store
        .sys_add_separation(
            a.id,
            &input(json!({"other_client_id": b.id, "reason": "coworkers"})),
            now(),
        )
        .await
        .unwrap();
    t.db.store
        .sys_enroll(t.group.id, &join(a.id, "2026-05-05"), now())
        .await
        .unwrap();
    let r =
        t.db.store
            .sys_enroll(t.group.id, &join(b.id, "2026-05-05"), now())
            .await;
    let text = format!("{r:?}");
    assert_eq!(rule_of(r), Rule::Separation);
    assert!(!text.contains("Given1") && !text.contains("Family1") && !text.contains("MRN-00001"));
    let seen_from_b = t.db.store.sys_separations(b.id, now()).await.unwrap();
    assert_eq!(seen_from_b[0].other_client_id, a.id);
}

#[tokio::test]
async fn unique_values_cannot_be_used_twice() {
    let db = TestDb::new().await;
    client_at(&db.store, 1, LevelOfCare::Iop).await;
    let dup_record = db
        .store
        .sys_create_client(
            &input(
                json!({"record_number": "MRN-00001", "given_name": "X", "family_name": "Y",
                          "date_of_birth": "1980-01-01", "referral_source": "self_referral"}),
            ),
            today(),
            now(),
        )
        .await;
    let text = format!("{dup_record:?}");
    assert_eq!(rule_of(dup_record), Rule::Duplicate);
    assert!(text.contains("record_number"));

    clinician(&db.store, 1).await;
    let dup_email = db
        .store
        .create_clinician(
            &input(
                json!({"given_name": "A", "family_name": "B", "email": "CLINICIAN1@example.test"}),
            ),
            now(),
        )
        .await;
    assert!(format!("{dup_email:?}").contains("email"));
    assert_eq!(rule_of(dup_email), Rule::Duplicate);

    let dup_license = db
        .store
        .create_clinician(
            &input(json!({"given_name": "A", "family_name": "B", "email": "other@example.test",
                "licenses": [{"kind": "lmhc", "number": "LIC-1", "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]})),
            now(),
        )
        .await;
    assert!(format!("{dup_license:?}").contains("licenses/number"));
    assert_eq!(rule_of(dup_license), Rule::Duplicate);
    // The refused clinician was not half-created.
    let all = db
        .store
        .list_clinicians(PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

#[tokio::test]
async fn a_stale_update_is_refused_and_changes_nothing() {
    let t = iop_with_group().await;
    let v = t.group.version;
    let patch: GroupPatch = input(json!({"version": v, "max_size": 10}));
    let updated =
        t.db.store
            .sys_update_group(t.group.id, &patch, today(), now())
            .await
            .unwrap();
    assert_eq!(updated.version, v + 1);
    let again: GroupPatch = input(json!({"version": v, "max_size": 9}));
    assert_eq!(
        rule_of(
            t.db.store
                .sys_update_group(t.group.id, &again, today(), now())
                .await
        ),
        Rule::StaleVersion
    );
    assert_eq!(t.db.store.group(t.group.id).await.unwrap().max_size, 10);

    let p = t.db.store.program(t.program.id).await.unwrap();
    let stale: ProgramPatch =
        input(json!({"version": p.version + 5, "weekly_required_minutes": 600}));
    assert_eq!(
        rule_of(t.db.store.update_program(p.id, &stale, now()).await),
        Rule::StaleVersion
    );
}

#[tokio::test]
async fn the_roster_follows_memberships_so_a_new_member_appears_next_week() {
    let t = iop_with_group().await;
    let sessions =
        t.db.store
            .materialize_sessions(
                t.group.id,
                &input::<MaterializeRequest>(json!({"from": "2026-05-04", "weeks": 3})),
                now(),
            )
            .await
            .unwrap();
    assert_eq!(sessions.len(), 3);
    let a = client_at(&t.db.store, 1, LevelOfCare::Iop).await;
    let b = client_at(&t.db.store, 2, LevelOfCare::Iop).await;
    t.db.store
        .sys_enroll(t.group.id, &join(a.id, "2026-05-05"), now())
        .await
        .unwrap();
    t.db.store
        .sys_enroll(t.group.id, &join(b.id, "2026-05-12"), now())
        .await
        .unwrap();
    let first = t.db.store.sys_roster(sessions[0].id, now()).await.unwrap();
    let second = t.db.store.sys_roster(sessions[1].id, now()).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 2);
    assert_eq!(first[0].display_name, "Given1 F.");
    // Leaving ends the membership; the member drops from later rosters, history stays.
    let m =
        t.db.store
            .sys_client_memberships(a.id, now())
            .await
            .unwrap()
            .remove(0);
    let change: MembershipChange =
        input(json!({"version": m.version, "status": "completed", "end_date": "2026-05-19"}));
    t.db.store
        .sys_change_membership(m.id, &change, now())
        .await
        .unwrap();
    assert_eq!(
        t.db.store
            .sys_roster(sessions[2].id, now())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        t.db.store
            .sys_roster(sessions[0].id, now())
            .await
            .unwrap()
            .len(),
        1
    );
    // Rejoining creates a new membership.
    t.db.store
        .sys_enroll(t.group.id, &join(a.id, "2026-05-26"), now())
        .await
        .unwrap();
    assert_eq!(
        t.db.store
            .sys_client_memberships(a.id, now())
            .await
            .unwrap()
            .len(),
        2
    );
    // Materialising again is idempotent.
    let again =
        t.db.store
            .materialize_sessions(
                t.group.id,
                &input::<MaterializeRequest>(json!({"from": "2026-05-04", "weeks": 3})),
                now(),
            )
            .await
            .unwrap();
    assert_eq!(
        again.iter().map(|s| s.id).collect::<Vec<_>>(),
        sessions.iter().map(|s| s.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn stored_sessions_keep_1800_local_across_daylight_saving() {
    let t = iop_with_group().await;
    let march =
        t.db.store
            .materialize_sessions(
                t.group.id,
                &input::<MaterializeRequest>(json!({"from": "2026-03-02", "weeks": 2})),
                now(),
            )
            .await
            .unwrap();
    assert_eq!(march[0].starts_at.to_string(), "2026-03-03T23:00:00Z");
    assert_eq!(march[1].starts_at.to_string(), "2026-03-10T22:00:00Z");
    let november =
        t.db.store
            .materialize_sessions(
                t.group.id,
                &input::<MaterializeRequest>(json!({"from": "2026-10-26", "weeks": 2})),
                now(),
            )
            .await
            .unwrap();
    assert_eq!(november[0].starts_at.to_string(), "2026-10-27T22:00:00Z");
    assert_eq!(november[1].starts_at.to_string(), "2026-11-03T23:00:00Z");
}

#[tokio::test]
async fn attendance_is_recorded_with_minutes_and_only_for_the_roster() {
    let t = iop_with_group().await;
    let sessions =
        t.db.store
            .materialize_sessions(
                t.group.id,
                &input::<MaterializeRequest>(json!({"from": "2026-04-27", "weeks": 2})),
                now(),
            )
            .await
            .unwrap();
    let past = &sessions[0]; // Tuesday 28 April, before now()
    let future = &sessions[1]; // Tuesday 5 May, after now()
    let a = client_at(&t.db.store, 1, LevelOfCare::Iop).await;
    let outsider = client_at(&t.db.store, 2, LevelOfCare::Iop).await;
    t.db.store
        .sys_enroll(t.group.id, &join(a.id, "2026-04-28"), now())
        .await
        .unwrap();
    // Attending needs a signed group agreement (intake slice; tested in intake.rs).
    t.db.store
        .sys_sign_group_agreement(
            a.id,
            jiff::civil::date(2026, 4, 27),
            circle_domain::intake::SignatureMethod::Paper,
            now(),
        )
        .await
        .unwrap();

    let late: AttendanceInput = input(json!({"status": "late", "minutes": 75}));
    let rec =
        t.db.store
            .sys_record_attendance(past.id, a.id, &late, None, now())
            .await
            .unwrap();
    assert_eq!(rec.minutes, 75);
    assert_eq!(
        t.db.store.session(past.id).await.unwrap().status,
        circle_domain::session::SessionStatus::Held
    );
    // Correcting it keeps one row and bumps its version.
    let present: AttendanceInput = input(json!({"status": "present"}));
    let rec =
        t.db.store
            .sys_record_attendance(past.id, a.id, &present, None, now())
            .await
            .unwrap();
    assert_eq!((rec.minutes, rec.version), (90, 2));
    assert_eq!(
        t.db.store
            .sys_attendance(past.id, now())
            .await
            .unwrap()
            .len(),
        1
    );

    let r =
        t.db.store
            .sys_record_attendance(past.id, outsider.id, &present, None, now())
            .await;
    assert_eq!(rule_of(r), Rule::NotOnRoster);
    let r =
        t.db.store
            .sys_record_attendance(future.id, a.id, &present, None, now())
            .await;
    assert_eq!(rule_of(r), Rule::SessionNotStarted);
    let bad: AttendanceInput = input(json!({"status": "absent_excused", "minutes": 30}));
    assert_eq!(
        invalid_field(
            t.db.store
                .sys_record_attendance(past.id, a.id, &bad, None, now())
                .await
        ),
        "minutes"
    );

    let cancel: SessionCancellation =
        input(json!({"version": future.version, "reason": "facilitator ill"}));
    let cancelled =
        t.db.store
            .sys_cancel_session(future.id, &cancel, now())
            .await
            .unwrap();
    assert_eq!(
        cancelled.cancel_reason.map(String::from).as_deref(),
        Some("facilitator ill")
    );
    let later: jiff::Timestamp = "2026-05-06T00:00:00Z".parse().unwrap();
    let r =
        t.db.store
            .sys_record_attendance(future.id, a.id, &present, None, later)
            .await;
    assert_eq!(rule_of(r), Rule::SessionCancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_coordinators_racing_for_the_last_seat_place_exactly_one() {
    let t = iop_with_group().await;
    for n in 1..=11 {
        let c = client_at(&t.db.store, n, LevelOfCare::Iop).await;
        t.db.store
            .sys_enroll(t.group.id, &join(c.id, "2026-05-05"), now())
            .await
            .unwrap();
    }
    let x = client_at(&t.db.store, 20, LevelOfCare::Iop).await;
    let y = client_at(&t.db.store, 21, LevelOfCare::Iop).await;
    let (s1, s2) = (t.db.store.clone(), t.db.store.clone());
    let g = t.group.id;
    let a = tokio::spawn(async move { s1.sys_enroll(g, &join(x.id, "2026-05-05"), now()).await });
    let b = tokio::spawn(async move { s2.sys_enroll(g, &join(y.id, "2026-05-05"), now()).await });
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "exactly one placement: {a:?} / {b:?}");
    let loser = if a.is_err() { a } else { b };
    assert_eq!(rule_of(loser), Rule::GroupFull);
}

#[tokio::test]
async fn migrations_are_aligned_between_backends() {
    let [(_, sqlite), (_, postgres)] = circle_store::Store::migration_trees();
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "every migration exists in both trees with the same version and name"
    );
}
