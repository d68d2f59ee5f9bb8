//! A clinician's day through the pages: their groups (with members who have left), the
//! session screen (attendance, participation, a future session), progress notes.

use super::*;
use circle_testkit::clinic::ClinicSpec;

#[tokio::test]
async fn a_clinician_opens_their_own_group_whose_former_member_left_their_caseload() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    // One member completed the group in May; by July they are outside the lead's
    // caseload (memberships ended more than 30 days ago), but still a former member.
    let (_, memberships) = t
        .get(
            &clinic.director,
            &format!("/api/v1/groups/{}/memberships", clinic.group),
        )
        .await;
    let first = memberships["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["client_id"] == clinic.members[0])
        .unwrap()
        .clone();
    let (status, body) = t
        .send(
            reqwest::Method::PATCH,
            &clinic.director,
            &format!("/api/v1/memberships/{}", first["id"]),
            json!({"version": first["version"], "status": "completed", "end_date": "2026-05-18"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.clock.set("2026-07-06T14:00:00Z".parse().unwrap());

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/groups/{}", clinic.group)))
        .await
        .unwrap();
    assert_eq!(
        b.text("h1").await,
        "Monday process",
        "{}",
        b.text("main").await
    );
    let members = b.text("#members").await;
    assert!(members.contains("Member2 C."), "{members}");
    assert!(
        members.contains("Member1 C.") && members.contains("Completed"),
        "the former member, with a human status: {members}"
    );
    b.check_page("clinician-group-with-former-member").await;
    b.close().await;
}

#[tokio::test]
async fn participation_ticked_after_attendance_was_saved_is_saved_too() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    // Monday 11:45 in New York: the 10:00 session has ended.
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());
    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("main table a").await;
    for &c in &clinic.members {
        b.click(&format!("input[name=status_{c}][value=present]"))
            .await;
    }
    b.click("form button[type=submit]:not(.quiet)").await;
    assert!(b.shows("[role=status]", "saved for 6 members").await);

    // Later, the facilitator remembers who shared: only the participation changes.
    let c = clinic.members[0];
    b.click(&format!("#member-{c} ~ td summary")).await;
    b.click(&format!("input[name=part_{c}][value=shared]"))
        .await;
    b.click("form button[type=submit]:not(.quiet)").await;
    assert!(
        b.shows("[role=status]", "saved for 1 member").await,
        "{}",
        b.text("main").await
    );
    b.check_page("session-participation-saved").await;
    let session = b.path().await.trim_start_matches("/sessions/").to_owned();
    // The clock moved on: the director signs in again.
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (_, attendance) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/attendance"))
        .await;
    let row = attendance
        .as_array()
        .unwrap_or_else(|| panic!("{session}: {attendance}"))
        .iter()
        .find(|a| a["client_id"] == c)
        .unwrap_or_else(|| panic!("{session}: {attendance}"))
        .clone();
    assert_eq!(row["participation"], json!(["shared"]), "{row}");
    b.close().await;
}

#[tokio::test]
async fn a_late_arrival_without_minutes_is_shown_by_that_members_minutes_and_the_rest_is_saved() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());
    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("main table a").await;
    let late = clinic.members[1];
    for &c in &clinic.members {
        let status = if c == late { "late" } else { "present" };
        b.click(&format!("input[name=status_{c}][value={status}]"))
            .await;
    }
    b.click("form button[type=submit]:not(.quiet)").await;
    // The page again: the others saved, the late member's minutes named by the field,
    // the choice made still chosen.
    assert!(b.shows("[role=status]", "saved for 5 members").await);
    assert_eq!(
        b.text(&format!("#minutes_{late}-error")).await,
        "is required for late arrival or early leave"
    );
    assert!(
        b.text("main")
            .await
            .contains("Member2 C.: Minutes: is required for late arrival or early leave")
    );
    let checked = b
        .client
        .find(Locator::Css(&format!(
            "input[name=status_{late}][value=late]"
        )))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap();
    assert_eq!(checked.as_deref(), Some("true"));
    b.check_page("session-attendance-minutes-refused").await;
    b.fill(&format!("#minutes_{late}"), "50").await;
    b.click("form button[type=submit]:not(.quiet)").await;
    assert!(b.shows("[role=status]", "saved for 1 member").await);
    b.close().await;
}

#[tokio::test]
async fn a_session_that_has_not_started_says_when_attendance_opens_instead_of_offering_it() {
    let t = spawn_app().await;
    t.clinic(ClinicSpec::default()).await;
    // Monday 09:00 in New York: the 10:00 session is still to come.
    t.clock.set("2026-05-04T13:00:00Z".parse().unwrap());
    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("main table a").await;
    assert!(
        b.shows(
            "#attendance-closed",
            "Attendance opens when the session starts"
        )
        .await,
        "{}",
        b.text("main").await
    );
    assert!(b.text("#attendance-closed").await.contains("10:00"));
    let radios = b
        .client
        .find_all(Locator::Css("input[type=radio][name^=status_]"))
        .await
        .unwrap();
    assert!(radios.is_empty(), "no attendance form before the session");
    assert!(
        b.text("main").await.contains("Member1 C."),
        "the roster is shown"
    );
    b.check_page("session-not-started").await;
    b.close().await;
}

#[tokio::test]
async fn a_progress_note_naming_a_member_by_title_and_surname_or_surname_alone_is_caught_by_roster_name()
 {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let d = &clinic.director;
    let (s, dana) = t
        .post(
            d,
            "/api/v1/clients",
            json!({"record_number": "C-0900", "given_name": "Dana", "family_name": "Pryce",
                "date_of_birth": "1980-02-02", "referral_source": "program_admission"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{dana}");
    let dana = dana["id"].as_i64().unwrap();
    t.post(
        d,
        &format!("/api/v1/clients/{dana}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    t.post(
        d,
        &format!("/api/v1/clients/{dana}/consents/group-agreement"),
        json!({"signed_on": "2026-04-01"}),
    )
    .await;
    clinic.enroll(&t, dana).await;
    let session = clinic.sessions(&t, "2026-05-04", "2026-05-05").await[0];
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    for c in clinic.members.iter().chain([&dana]) {
        let (s, a) = t
            .send(
                reqwest::Method::PUT,
                &dir,
                &format!("/api/v1/sessions/{session}/attendance/{c}"),
                json!({"status": "present"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
    }

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/sessions/{session}")))
        .await
        .unwrap();
    let note = format!("#note-{}", clinic.members[0]);
    for (text, field) in [
        ("Sat next to Ms. Pryce and shared.", "Presentation"),
        ("Check in with Pryce about rides.", "Plan"),
    ] {
        let (fill, clear) = if field == "Presentation" {
            ("presentation", "plan")
        } else {
            ("plan", "presentation")
        };
        b.fill(&format!("{note}-{fill}"), text).await;
        b.fill(&format!("{note}-{clear}"), "Engaged.").await;
        b.click(&format!("{note} button[value=sign]")).await;
        assert!(
            b.shows(&format!("{note} [role=alert]"), "Not signed").await,
            "{}",
            b.text("main").await
        );
        let warning = b.text(&format!("{note} [role=alert]")).await;
        assert!(
            warning.contains(&format!("Dana P. (in {field})")),
            "{text}: {warning}"
        );
        assert!(
            !warning.contains("Pryce"),
            "only the roster name: {warning}"
        );
    }
    b.check_page("notes-surname-warning").await;
    b.close().await;
}

/// A client of the clinic's group with a phone on file and a sign-in of their own.
async fn client_with_phone(t: &TestApp, clinic: &circle_testkit::clinic::Clinic) -> (i64, String) {
    let d = &clinic.director;
    let (s, c) = t
        .post(
            d,
            "/api/v1/clients",
            json!({"record_number": "C-0901", "given_name": "Avery", "family_name": "Quinn",
                "date_of_birth": "1990-03-03", "referral_source": "program_admission",
                "phone": "(617) 555-0100", "email": "avery@example.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    t.post(
        d,
        &format!("/api/v1/clients/{id}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    t.post(
        d,
        &format!("/api/v1/clients/{id}/consents/group-agreement"),
        json!({"signed_on": "2026-04-01"}),
    )
    .await;
    clinic.enroll(t, id).await;
    let token = t
        .token_for(
            "avery@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(id)),
        )
        .await;
    (id, token)
}

#[tokio::test]
async fn a_safety_alert_on_today_links_the_chart_shows_the_total_offers_a_call_and_explains_an_empty_action()
 {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let (client, token) = client_with_phone(&t, &clinic).await;
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9 || i == 2))))
        .collect();
    let (s, r) = t
        .post(
            &token,
            &format!("/api/v1/clients/{client}/measures"),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let alerts = b.text("#open-alerts").await;
    assert!(alerts.contains("total score 2"), "{alerts}");
    assert!(alerts.contains("(617) 555-0100"), "{alerts}");
    let call = b
        .client
        .find(Locator::Css("#open-alerts a[href='tel:6175550100']"))
        .await;
    assert!(call.is_ok(), "a tel: link to call the client");
    b.check_page("today-alert-with-call").await;

    // Acknowledging with blank words is explained in plain words, by the field.
    b.fill("#open-alerts textarea", "   ").await;
    b.click("#open-alerts button[type=submit]").await;
    assert!(
        b.shows("#open-alerts [role=alert]", "Action taken").await,
        "{}",
        b.text("main").await
    );
    let error = b.text("#open-alerts [role=alert]").await;
    assert!(!error.contains("action_taken"), "no field codes: {error}");
    b.check_page("today-alert-empty-action").await;

    // The client's name opens the chart.
    b.click(&format!("#open-alerts a[href='/clients/{client}']"))
        .await;
    assert_eq!(
        b.wait_path(&format!("/clients/{client}")).await,
        format!("/clients/{client}")
    );
    b.close().await;
}
