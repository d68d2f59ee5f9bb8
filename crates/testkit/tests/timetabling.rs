//! Timetabling in the product (issue 17, part 2) through the app's services: a small clinic
//! designed from its database, a group pinned to a new time and re-solved, the proposal
//! approved (the group's meetings and its future sessions move), a second approval
//! refused, and a scoped director kept out of another program's proposal — on the
//! database `TEST_DATABASE_URL` names (SQLite when unset).

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_app::AppError;
use circle_domain::ids::{GroupId, ProgramId};
use circle_domain::schedule::Weekday;
use circle_domain::timetabling::{PinnedSlot, TimetablePin, TimetableRun, TimetableState};
use circle_domain::user::Role;
use circle_domain::{DomainError, Rule};
use circle_testkit::builders::today;
use circle_testkit::clinic::ClinicSpec;
use circle_testkit::{TestApp, spawn_app};
use jiff::civil::time;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn wednesday_evening(group: GroupId) -> TimetablePin {
    TimetablePin {
        group_id: group,
        slot: Some(PinnedSlot {
            days: vec![Weekday::Wednesday],
            start: time(18, 0, 0, 0),
        }),
        venue: None,
        lead: None,
    }
}

fn meets_wednesday_evening(run: &TimetableRun, group: GroupId) -> bool {
    run.proposal
        .entries
        .iter()
        .find(|e| e.group_id == group)
        .is_some_and(|e| {
            e.pattern.meetings.len() == 1
                && e.pattern.meetings[0].weekday == Weekday::Wednesday
                && e.pattern.meetings[0].start == time(18, 0, 0, 0)
        })
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

#[tokio::test]
async fn a_pinned_move_survives_a_re_solve_and_approval_moves_the_group_and_its_sessions() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let group = GroupId(clinic.group);

    let run = t
        .app
        .build_timetable(&director, Some(ProgramId(clinic.program)), 1000)
        .await
        .unwrap();
    assert_eq!(run.state, TimetableState::Proposed);
    let entry = run
        .proposal
        .entries
        .iter()
        .find(|e| e.group_id == group)
        .expect("the Monday group is in the week");
    assert!(
        !entry.changes(),
        "nothing forces the group to move: {entry:?}"
    );
    let track = run
        .proposal
        .tracks
        .iter()
        .find(|t| t.program_id == ProgramId(clinic.program))
        .expect("the program's track hours");
    assert_eq!((track.required_minutes, track.scheduled_minutes), (540, 90));

    let run = t
        .app
        .pin_timetable_group(&director, run.id, run.version, wednesday_evening(group))
        .await
        .unwrap();
    assert!(meets_wednesday_evening(&run, group), "{:?}", run.proposal);
    assert_eq!(run.pins.len(), 1);
    let run = t
        .app
        .resolve_timetable(&director, run.id, run.version)
        .await
        .unwrap();
    assert!(meets_wednesday_evening(&run, group), "the pin is kept");

    // A stale version is refused: someone re-solved meanwhile.
    let stale = t
        .app
        .approve_timetable(&director, run.id, run.version - 1, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, AppError::Domain(DomainError::Conflict(c)) if c.rule == Rule::StaleVersion),
        "{stale:?}"
    );

    let approval = t
        .app
        .approve_timetable(&director, run.id, run.version, None)
        .await
        .unwrap();
    assert_eq!(approval.groups_changed, vec![group]);
    assert!(approval.sessions_removed > 0 && approval.sessions_created > 0);
    let g = t.app.group(&director, group).await.unwrap();
    assert_eq!(g.meetings.len(), 1);
    assert_eq!(
        (g.meetings[0].weekday, g.meetings[0].start),
        (Weekday::Wednesday, time(18, 0, 0, 0))
    );
    let ahead = today().saturating_add(jiff::Span::new().days(28));
    let sessions = t
        .app
        .sessions(&director, group, today(), ahead)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 4, "four Wednesdays in the next four weeks");
    assert!(
        sessions
            .iter()
            .all(|s| Weekday::of(s.local_date) == Weekday::Wednesday)
    );

    // A member sees the new day in their portal: every session ahead is on a Wednesday.
    let member = circle_domain::ids::ClientId(clinic.members[0]);
    let token = t
        .token_for("member@example.test", Role::Client, None, Some(member))
        .await;
    let me = t.app.authenticate(&token).await.unwrap();
    let portal = t.app.portal(&me).await.unwrap();
    let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
    assert!(!portal.sessions.is_empty());
    for s in &portal.sessions {
        let local = s.starts_at.to_zoned(ny.clone());
        assert_eq!(Weekday::of(local.date()), Weekday::Wednesday);
        assert_eq!((local.hour(), local.minute()), (18, 0));
    }

    let again = t
        .app
        .approve_timetable(&director, run.id, run.version + 1, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&again, AppError::Domain(DomainError::Conflict(c)) if c.rule == Rule::IllegalTransition),
        "{again:?}"
    );
    let run = t.app.timetable(&director, run.id).await.unwrap();
    assert_eq!(run.state, TimetableState::Approved);
}

#[tokio::test]
async fn a_scoped_director_cannot_see_another_programs_timetable_nor_design_the_whole_clinic() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let (s, other) = t
        .post(
            &clinic.director,
            "/api/v1/programs",
            json!({"name": "Adult PHP", "site": "Riverside", "level_of_care": "php",
                "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    let other = ProgramId(other["id"].as_i64().unwrap());
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let scoped_token = t
        .token_for("iop.director@example.test", Role::Director, None, None)
        .await;
    let scoped_id = user_id(&t, &admin, "iop.director@example.test").await;
    let (s, body): (StatusCode, Value) = t
        .send(
            Method::PUT,
            &admin,
            &format!("/api/v1/users/{scoped_id}/programs"),
            json!({ "program_ids": [clinic.program] }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let scoped = t.app.authenticate(&scoped_token).await.unwrap();

    let theirs = t
        .app
        .build_timetable(&director, Some(other), 500)
        .await
        .unwrap();
    let refused = t.app.timetable(&scoped, theirs.id).await.unwrap_err();
    assert!(
        matches!(refused, AppError::Domain(DomainError::NotFound { .. })),
        "{refused:?}"
    );
    let refused = t
        .app
        .approve_timetable(&scoped, theirs.id, theirs.version, None)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppError::Domain(DomainError::NotFound { .. })),
        "{refused:?}"
    );
    let refused = t
        .app
        .build_timetable(&scoped, Some(other), 500)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppError::Domain(DomainError::NotFound { .. })),
        "{refused:?}"
    );
    let refused = t.app.build_timetable(&scoped, None, 500).await.unwrap_err();
    assert!(
        matches!(refused, AppError::Domain(DomainError::Invalid(_))),
        "{refused:?}"
    );

    let mine = t
        .app
        .build_timetable(&scoped, Some(ProgramId(clinic.program)), 500)
        .await
        .unwrap();
    let listed: Vec<i64> = t
        .app
        .timetables(&scoped)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![mine.id]);
    let all: Vec<i64> = t
        .app
        .timetables(&director)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, vec![mine.id, theirs.id]);
}

#[tokio::test]
async fn a_pin_the_group_can_never_keep_is_refused_naming_its_part() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let run = t
        .app
        .build_timetable(&director, Some(ProgramId(clinic.program)), 500)
        .await
        .unwrap();
    // IOP runs on weekdays: Sunday is outside its window.
    let pin = TimetablePin {
        slot: Some(PinnedSlot {
            days: vec![Weekday::Sunday],
            start: time(10, 0, 0, 0),
        }),
        ..wednesday_evening(GroupId(clinic.group))
    };
    let refused = t
        .app
        .pin_timetable_group(&director, run.id, run.version, pin)
        .await
        .unwrap_err();
    match refused {
        AppError::Domain(DomainError::Invalid(f)) => {
            assert!(format!("{f:?}").contains("days"), "{f:?}")
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

#[tokio::test]
async fn a_part_approved_alone_moves_only_that_group_and_is_never_applied_twice() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let (s, second) = t
        .post(
            &clinic.director,
            "/api/v1/groups",
            json!({"program_id": clinic.program, "name": "Tuesday skills", "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "room_id": clinic.room,
                "meetings": [{"weekday": "tuesday", "start": "10:00", "minutes": 90}],
                "lead_facilitator_id": clinic.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let first = GroupId(clinic.group);
    let second = GroupId(second["id"].as_i64().unwrap());

    let run = t
        .app
        .build_timetable(&director, Some(ProgramId(clinic.program)), 1000)
        .await
        .unwrap();
    let run = t
        .app
        .pin_timetable_group(&director, run.id, run.version, wednesday_evening(first))
        .await
        .unwrap();
    let thursday = TimetablePin {
        group_id: second,
        slot: Some(PinnedSlot {
            days: vec![Weekday::Thursday],
            start: time(18, 0, 0, 0),
        }),
        venue: None,
        lead: None,
    };
    let run = t
        .app
        .pin_timetable_group(&director, run.id, run.version, thursday)
        .await
        .unwrap();
    assert!(meets_wednesday_evening(&run, first));

    let part = t
        .app
        .approve_timetable(&director, run.id, run.version, Some(&[first]))
        .await
        .unwrap();
    assert_eq!(part.groups_changed, vec![first]);
    let g1 = t.app.group(&director, first).await.unwrap();
    let g2 = t.app.group(&director, second).await.unwrap();
    assert_eq!(g1.meetings[0].weekday, Weekday::Wednesday);
    assert_eq!(g2.meetings[0].weekday, Weekday::Tuesday, "not approved yet");
    let run = t.app.timetable(&director, run.id).await.unwrap();
    assert_eq!(run.state, TimetableState::Proposed);
    assert_eq!(run.applied, vec![first]);

    let twice = t
        .app
        .approve_timetable(&director, run.id, run.version, Some(&[first]))
        .await
        .unwrap_err();
    assert!(
        matches!(&twice, AppError::Domain(DomainError::Conflict(c)) if c.rule == Rule::Duplicate),
        "{twice:?}"
    );
    let rest = t
        .app
        .approve_timetable(&director, run.id, run.version, None)
        .await
        .unwrap();
    assert_eq!(rest.groups_changed, vec![second]);
    let g2 = t.app.group(&director, second).await.unwrap();
    assert_eq!(
        (g2.meetings[0].weekday, g2.meetings[0].start),
        (Weekday::Thursday, time(18, 0, 0, 0))
    );
    let run = t.app.timetable(&director, run.id).await.unwrap();
    assert_eq!(run.state, TimetableState::Approved);
}

#[tokio::test]
async fn a_group_meeting_at_different_times_keeps_its_week_through_an_approval() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let (s, odd) = t
        .post(
            &clinic.director,
            "/api/v1/groups",
            json!({"program_id": clinic.program, "name": "Two-time skills", "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "room_id": clinic.room,
                "meetings": [{"weekday": "tuesday", "start": "10:00", "minutes": 60},
                             {"weekday": "thursday", "start": "14:00", "minutes": 60}],
                "lead_facilitator_id": clinic.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{odd}");
    let odd = GroupId(odd["id"].as_i64().unwrap());
    let before = t.app.group(&director, odd).await.unwrap();
    let run = t
        .app
        .build_timetable(&director, Some(ProgramId(clinic.program)), 500)
        .await
        .unwrap();
    let left = run
        .proposal
        .unscheduled
        .iter()
        .find(|u| u.group_id == odd)
        .expect("left as it is");
    assert_eq!(
        left.reason,
        circle_domain::timetabling::UnscheduledReason::Irregular
    );
    assert!(run.proposal.entries.iter().all(|e| e.group_id != odd));
    t.app
        .approve_timetable(&director, run.id, run.version, None)
        .await
        .unwrap();
    let after = t.app.group(&director, odd).await.unwrap();
    assert_eq!(after.meetings, before.meetings);
    assert_eq!(after.version, before.version);
}

#[tokio::test]
async fn the_run_pages_forms_name_the_broken_field_and_change_nothing() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let run = t
        .app
        .build_timetable(&director, Some(ProgramId(clinic.program)), 500)
        .await
        .unwrap();
    let csrf = circle_app::web_session::csrf_token(&clinic.director);
    let version = run.version.to_string();
    let group = clinic.group.to_string();
    // A move whose start is not a time and whose venue is not on the list: both named in
    // the page's words (the typed text never echoed), nothing pinned.
    let r = t
        .page_form(
            &clinic.director,
            &format!("/timetable/{}/pin", run.id),
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("group", &group),
                ("day", "wednesday"),
                ("start", "half past six"),
                ("venue", "the big room"),
                ("lead", "Nobody Onstaff"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("Start: must be a time such as 18:00"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Venue: must be one of the listed choices"),
        "{}",
        r.body
    );
    // The lead picker's words that name no clinician: refused by the field, not echoed.
    assert!(
        r.body.contains("Lead: must be one of the listed choices"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("half past six") && !r.body.contains("the big room"));
    assert!(!r.body.contains("Nobody Onstaff"), "{}", r.body);
    // Every form of the page without the version it was drawn at: reload, one sentence.
    for action in ["pin", "unpin", "solve", "approve"] {
        let r = t
            .page_form(
                &clinic.director,
                &format!("/timetable/{}/{action}", run.id),
                &[("csrf", &csrf), ("group", &group), ("approve", "all")],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{action}");
        assert!(
            r.body
                .contains("Version: reload the proposal and try again"),
            "{action}: {}",
            r.body
        );
    }
    let after = t.app.timetable(&director, run.id).await.unwrap();
    assert_eq!(after.version, run.version, "nothing changed");
    assert!(after.pins.is_empty(), "nothing pinned");
    assert_eq!(after.state, TimetableState::Proposed);
}
