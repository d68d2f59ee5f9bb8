//! The staff workspace: sign-in, Today, the session screen, and the public join page.

use super::*;
use circle_testkit::clinic::ClinicSpec;

#[tokio::test]
async fn a_clinician_enrols_mfa_at_first_sign_in_and_signs_out() {
    let t = spawn_app().await;
    let email = "first.time@example.test";
    t.app
        .create_user(
            &Email::parse(email).unwrap(),
            TEST_PASSWORD,
            Role::Director,
            None,
            None,
        )
        .await
        .unwrap();
    let b = Browser::start().await;
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.check_page("sign-in").await;

    // A wrong password is refused without saying which part was wrong.
    b.fill("#email", email).await;
    b.fill("#password", "not-the-password-at-all").await;
    b.click("button[type=submit]").await;
    assert!(
        b.text("[role=alert]").await.contains("was not accepted"),
        "a refusal is explained"
    );

    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.click("button[type=submit]").await;
    let secret = b.text("#totp-secret").await;
    b.check_page("mfa-enrolment").await;
    let code = circle_app::auth::totp_code(&secret, t.app.now()).unwrap();
    b.fill("#code", &code).await;
    b.click("button[type=submit]").await;
    let codes = b.text("#recovery-codes").await;
    assert_eq!(
        codes.lines().count(),
        10,
        "ten recovery codes are shown once"
    );
    b.check_page("recovery-codes").await;
    b.click("a.button").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.check_page("today").await;

    // Signing out ends the session on the server: the old cookie no longer works.
    let cookie = b
        .client
        .get_named_cookie("circle_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    b.click("header form button").await;
    assert_eq!(b.wait_path("/sign-in").await, "/sign-in");
    let r = t
        .http
        .get(t.url("/today"))
        .header("cookie", format!("circle_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/sign-in?next=%2Ftoday");
    b.close().await;
}

#[tokio::test]
async fn a_facilitator_takes_attendance_for_a_full_group_of_twelve() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 12,
            ..ClinicSpec::default()
        })
        .await;
    let members = clinic.members.clone();
    // Monday 11:45 in New York: the 10:00 session has ended.
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(b.text("main").await.contains("Monday process"));
    b.click("main table a").await;
    b.check_page("session-attendance").await;
    let rows = b.client.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 12, "the whole roster");
    assert!(
        b.text("tbody").await.contains("Member1 C."),
        "preferred name and last initial"
    );

    // Everyone present but one absent and one late (60 of 90 minutes): a few taps.
    for &c in &members {
        b.click(&format!("input[name=status_{c}][value=present]"))
            .await;
    }
    b.click(&format!(
        "input[name=status_{}][value=absent_unexcused]",
        members[0]
    ))
    .await;
    b.click(&format!("input[name=status_{}][value=late]", members[1]))
        .await;
    b.fill(&format!("#minutes_{}", members[1]), "60").await;
    b.click("form button[type=submit]:not(.quiet)").await;
    assert!(
        b.text("[role=status]")
            .await
            .contains("saved for 12 members"),
        "{}",
        b.text("main").await
    );
    b.check_page("session-attendance-saved").await;

    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let session = b.path().await.trim_start_matches("/sessions/").to_owned();
    let (_, attendance) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/attendance"))
        .await;
    let rows = attendance.as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let of = |c: i64| rows.iter().find(|a| a["client_id"] == c).unwrap();
    assert_eq!(
        (&of(members[0])["status"], &of(members[0])["minutes"]),
        (&json!("absent_unexcused"), &json!(0))
    );
    assert_eq!(
        (&of(members[1])["status"], &of(members[1])["minutes"]),
        (&json!("late"), &json!(60))
    );
    assert_eq!(
        (&of(members[2])["status"], &of(members[2])["minutes"]),
        (&json!("present"), &json!(90))
    );
    b.close().await;
}

#[tokio::test]
async fn a_form_from_another_session_is_refused_and_changes_nothing() {
    let t = spawn_app().await;
    t.token_for("director@example.test", Role::Director, None, None)
        .await;
    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let cookie = b
        .client
        .get_named_cookie("circle_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    // A forged sign-out without the session's CSRF token.
    let r = t
        .http
        .post(t.url("/sign-out"))
        .header("cookie", format!("circle_session={cookie}"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The session still works.
    b.client.goto(&t.url("/today")).await.unwrap();
    assert_eq!(b.wait_path("/today").await, "/today");
    b.close().await;
}

#[tokio::test]
async fn an_item_9_answer_puts_an_alert_at_the_top_of_the_clinicians_today_until_acknowledged() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let (_, program) = t
        .post(
            &dir,
            "/api/v1/programs",
            json!({"name": "Adult IOP", "site": "Riverside",
            "level_of_care": "iop", "time_zone": "America/New_York"}),
        )
        .await;
    let mut leads = vec![];
    let mut groups = vec![];
    for (n, day) in ["tuesday", "wednesday"].iter().enumerate() {
        let (_, lead) = t
            .post(&dir, "/api/v1/clinicians", json!({"given_name": "Lead", "family_name": format!("Alert{n}"),
                "email": format!("lead{n}@example.test"),
                "licenses": [{"kind": "lmhc", "number": format!("L-40{n}"), "state": "MA", "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}))
            .await;
        let (s, group) = t
            .post(
                &dir,
                "/api/v1/groups",
                json!({"program_id": program["id"], "name": format!("Group {n}"), "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": day, "start": "18:00", "minutes": 90}],
                "lead_facilitator_id": lead["id"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{group}");
        leads.push(lead["id"].as_i64().unwrap());
        groups.push(group["id"].as_i64().unwrap());
    }
    let (_, c) = t
        .post(&dir, "/api/v1/clients", json!({"record_number": "A-0001", "given_name": "Avery",
            "family_name": "Alertcase", "date_of_birth": "1990-01-01", "referral_source": "self_referral"}))
        .await;
    let client = c["id"].as_i64().unwrap();
    t.post(
        &dir,
        &format!("/api/v1/clients/{client}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    let (s, m) = t
        .post(
            &dir,
            &format!("/api/v1/groups/{}/memberships", groups[0]),
            json!({"client_id": client, "start_date": "2026-05-05"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    for (n, lead) in leads.iter().enumerate() {
        t.token_for(
            &format!("lead{n}@example.test"),
            Role::Clinician,
            Some(ClinicianId(*lead)),
            None,
        )
        .await;
    }
    let client_token = t
        .token_for(
            "avery@example.test",
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(client)),
        )
        .await;

    // The client's own check-in: PHQ-9 with item 9 answered 1.
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9 || i == 2))))
        .collect();
    let (s, r) = t
        .post(
            &client_token,
            &format!("/api/v1/clients/{client}/measures"),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    // Their clinician sees it first on Today, and acknowledges it with the action taken.
    let b = Browser::start().await;
    sign_in(&b, &t, "lead0@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let alerts = b.text("#open-alerts").await;
    assert!(
        alerts.contains("Avery A.") && alerts.contains("item 9"),
        "{alerts}"
    );
    let first_section = b.text("main section h2").await;
    assert_eq!(first_section, "Safety alerts", "alerts come first");
    b.check_page("today-with-alert").await;
    b.fill(
        "#open-alerts textarea",
        "Called the client; safety plan reviewed; seen today.",
    )
    .await;
    b.click("#open-alerts button[type=submit]").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(b.shows("main", "No open safety alerts.").await);
    b.close().await;

    // Another clinician never sees it, and cannot open the client's session.
    let b = Browser::start().await;
    sign_in(&b, &t, "lead1@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(b.shows("main", "No open safety alerts.").await);
    let (_, sessions) = t
        .get(
            &t.login("director@example.test", TEST_PASSWORD)
                .await
                .unwrap(),
            &format!(
                "/api/v1/groups/{}/sessions?from=2026-05-04&until=2026-05-11",
                groups[0]
            ),
        )
        .await;
    let foreign = sessions[0]["id"].as_i64().unwrap();
    b.client
        .goto(&t.url(&format!("/sessions/{foreign}")))
        .await
        .unwrap();
    let h1 = b.text("h1").await;
    assert!(h1 == "Not found" || h1 == "Not available", "{h1}");
    assert!(!b.text("main").await.contains("Avery"));
    b.check_page("refused-outside-caseload").await;
    b.close().await;
}

#[tokio::test]
async fn a_person_asks_to_join_a_group_without_an_account_and_intake_sees_the_referral() {
    let t = spawn_app().await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let b = Browser::start().await;
    b.client.goto(&t.url("/join")).await.unwrap();
    b.check_page("join").await;

    // Neither email nor phone: explained by field, nothing stored.
    b.fill("#name", "Sam Example").await;
    b.fill(
        "#looking_for",
        "A weekly group for low mood, evenings after work.",
    )
    .await;
    b.click("form button[type=submit]").await;
    let refused = b.text("[role=alert]").await;
    assert!(refused.contains("Email"), "{refused}");
    // The rule by its field too, what was typed kept.
    assert!(
        b.shows("#email-error", "an email or a phone number is required")
            .await
    );
    assert_eq!(b.value("#name").await, "Sam Example");
    b.check_page("join-refused").await;
    let (_, none) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    b.fill("#email", "sam@example.test").await;
    b.click("#t-tuesday-evening").await;
    b.click("#t-thursday-evening").await;
    b.click("form button[type=submit]").await;
    assert!(
        b.text("[role=status]")
            .await
            .contains("We have your request")
    );
    assert!(
        !b.text("main").await.contains("Sam"),
        "the answer echoes nothing"
    );
    b.check_page("join-thanks").await;
    b.close().await;

    let (_, referrals) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    let items = referrals["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{referrals}");
    assert_eq!(items[0]["path"], "self_referral");
    assert_eq!(
        items[0]["preferred_times"],
        json!([{"weekday": "tuesday", "part_of_day": "evening"}, {"weekday": "thursday", "part_of_day": "evening"}])
    );
}

#[tokio::test]
async fn after_an_expired_session_signing_in_again_returns_to_the_page() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let session = clinic.sessions(&t, "2026-05-04", "2026-05-05").await[0];
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());
    let b = Browser::start().await;
    sign_in(&b, &t, &clinic.lead_email).await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let page = format!("/sessions/{session}");
    b.client.goto(&t.url(&page)).await.unwrap();
    assert_eq!(b.wait_path(&page).await, page);

    // Sixteen idle minutes: the session has expired; the next page view asks to sign in.
    t.clock.set("2026-05-04T16:01:00Z".parse().unwrap());
    b.client.refresh().await.unwrap();
    assert_eq!(b.wait_path("/sign-in").await, "/sign-in");
    b.check_page("sign-in-after-expiry").await;
    let m = t.enrolled(&clinic.lead_email).unwrap();
    let step = circle_app::auth::totp_step(t.app.now()).max(m.last_step + 1);
    let code = circle_app::auth::totp_code_for_step(&m.secret, step).unwrap();
    b.fill("#email", &clinic.lead_email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.fill("#code", &code).await;
    b.click("button[type=submit]").await;
    assert_eq!(b.wait_path(&page).await, page, "back where they were");
    b.close().await;

    // Only a local path is remembered: another site's address is dropped.
    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let r = t
            .http
            .get(t.url("/sign-in"))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        assert!(!body.contains("evil.example"), "{next} was kept");
    }
}
