//! Browser tests: the client portal (own groups, the group agreement, a PHQ-9 check-in whose
//! safety answer reaches the clinician's Today, the calendar feed) and the public pages
//! (the directory and the referral page for therapists).

use super::*;
use circle_domain::ids::ClientId;
use circle_testkit::clinic::{Clinic, ClinicSpec};

/// An outpatient clinic on Tuesday 20 October 2026 in New York (EDT): the lead's Monday
/// 10:00 group has sessions on 26 October (still EDT) and 2 November (EST, after the
/// clocks go back on 1 November).
async fn outpatient_clinic(t: &TestApp) -> Clinic {
    t.clock.set("2026-10-20T14:00:00Z".parse().unwrap());
    t.clinic(ClinicSpec {
        members: 3,
        level: "outpatient",
        start_date: "2026-10-20",
        ..ClinicSpec::default()
    })
    .await
}

/// A client of the clinic's group who has not signed the agreement yet, with a portal
/// account (clients sign in without a second factor: `role_requires_mfa`).
async fn portal_client(t: &TestApp, clinic: &Clinic, email: &str) -> i64 {
    assert!(!circle_app::auth::role_requires_mfa(Role::Client));
    let (s, c) = t
        .post(
            &clinic.director,
            "/api/v1/clients",
            json!({"record_number": "P-0001", "given_name": "Portal", "family_name": "Person",
                "date_of_birth": "1990-02-02", "referral_source": "self_referral"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            &clinic.director,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "outpatient", "started_on": "2026-10-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    clinic.enroll(t, id).await;
    t.app
        .create_user(
            &Email::parse(email).unwrap(),
            TEST_PASSWORD,
            Role::Client,
            None,
            Some(ClientId(id)),
        )
        .await
        .unwrap();
    id
}

async fn client_sign_in(b: &Browser, t: &TestApp, email: &str) {
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.click("button[type=submit]").await;
}

#[tokio::test]
async fn a_client_signs_the_agreement_and_a_phq9_safety_answer_reaches_their_clinician() {
    let t = spawn_app().await;
    let clinic = outpatient_clinic(&t).await;
    // Another group of the program the client is not in.
    let (s, other) = t
        .post(
            &clinic.director,
            "/api/v1/groups",
            json!({"program_id": clinic.program, "name": "Thursday skills", "kind": "psychoeducation",
                "eligible_levels": ["outpatient"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": "thursday", "start": "18:00", "minutes": 60}],
                "lead_facilitator_id": clinic.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    let email = "portal.person@example.test";
    portal_client(&t, &clinic, email).await;

    let b = Browser::start().await;
    client_sign_in(&b, &t, email).await;
    assert_eq!(b.wait_path("/me").await, "/me");
    b.check_page("portal-home").await;
    let groups = b.text("#my-groups").await;
    assert!(groups.contains("Monday process"), "{groups}");
    assert!(groups.contains("Room 3"), "{groups}");
    let main = b.text("main").await;
    assert!(
        !main.contains("Thursday skills"),
        "a group the client is not in"
    );
    for n in 1..=3 {
        assert!(
            !main.contains(&format!("Member{n}")) && !main.contains("Clinictest"),
            "no other member appears: {main}"
        );
    }
    let sessions = b.text("#my-sessions").await;
    assert!(
        sessions.contains("Monday 26 October 2026") && sessions.contains("10:00–11:30 EDT"),
        "{sessions}"
    );
    assert!(
        sessions.contains("Monday 2 November 2026") && sessions.contains("10:00–11:30 EST"),
        "local time after the clocks go back: {sessions}"
    );

    // The agreement: refused without the tick (the browser's `required` would stop it, so
    // post without it through the page's own form is not possible; the server check is
    // covered over HTTP below), then signed.
    assert!(b.text("#agreement-text").await.contains("Confidentiality"));
    b.click("#agree").await;
    b.click("#sign-agreement").await;
    assert!(
        b.shows(
            "#agreement-status",
            "You signed the group agreement on 20 October 2026"
        )
        .await,
        "{}",
        b.text("main").await
    );
    b.check_page("portal-agreement-signed").await;

    // The PHQ-9 is due (a new episode with no check-in yet).
    assert!(b.text("#due-checkins").await.contains("PHQ-9"));
    b.click("a[href='/me/check-in/phq9']").await;
    assert_eq!(b.wait_path("/me/check-in/phq9").await, "/me/check-in/phq9");
    b.check_page("portal-phq9").await;
    assert!(
        b.text("#q-9 legend")
            .await
            .contains("better off dead or of hurting yourself"),
        "each radio group is labelled with its item's text"
    );
    for item in 1..=8 {
        b.click(&format!("#item_{item}_1")).await;
    }
    b.click("#item_9_2").await;
    b.click("#send-check-in").await;
    assert_eq!(
        b.wait_path("/me/check-in/phq9/thanks").await,
        "/me/check-in/phq9/thanks"
    );
    let support = b.text("#crisis-resources").await;
    assert!(
        support.contains("988") && support.contains("911"),
        "{support}"
    );
    let thanks = b.text("main").await;
    for judgement in ["score", "severe", "moderate", "mild", "10"] {
        assert!(
            !thanks.to_lowercase().contains(judgement),
            "no score judgement: {thanks}"
        );
    }
    b.check_page("portal-check-in-thanks").await;

    // The clinician, in a second browser, sees the open alert first on Today.
    let staff = Browser::start().await;
    sign_in(&staff, &t, &clinic.lead_email).await;
    assert_eq!(staff.wait_path("/today").await, "/today");
    let alerts = staff.text("#open-alerts").await;
    assert!(
        alerts.contains("Portal P.") && alerts.contains("item 9") && alerts.contains("PHQ-9"),
        "the client's alert: {alerts}"
    );
    staff.check_page("portal-alert-on-today").await;
    staff.close().await;

    // A second check-in is not due any more; the thank-you of a calm GAD-7 has no crisis
    // section.
    b.client.goto(&t.url("/me")).await.unwrap();
    assert!(!b.text("#due-checkins").await.contains("PHQ-9"));
    b.click("a[href='/me/check-in/gad7']").await;
    assert_eq!(b.wait_path("/me/check-in/gad7").await, "/me/check-in/gad7");
    for item in 1..=7 {
        b.click(&format!("#item_{item}_0")).await;
    }
    b.click("#send-check-in").await;
    assert_eq!(
        b.wait_path("/me/check-in/gad7/thanks").await,
        "/me/check-in/gad7/thanks"
    );
    assert!(b.text("main").await.contains("Your answers are saved"));
    assert!(
        b.client
            .find_all(Locator::Css("#crisis-resources"))
            .await
            .unwrap()
            .is_empty()
    );
    b.close().await;
}

#[tokio::test]
async fn a_client_subscribes_to_a_dst_correct_calendar_feed_and_revokes_it() {
    let t = spawn_app().await;
    let clinic = outpatient_clinic(&t).await;
    let email = "feed.person@example.test";
    portal_client(&t, &clinic, email).await;

    let b = Browser::start().await;
    client_sign_in(&b, &t, email).await;
    assert_eq!(b.wait_path("/me").await, "/me");
    assert!(b.text("#feed-status").await.contains("no calendar link"));
    b.click("#create-feed").await;
    let url = b
        .client
        .find(Locator::Css("#feed-url"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .expect("the feed's address is shown once");
    b.check_page("portal-feed-created").await;
    assert!(
        url.starts_with(&t.url("/feed/")) && url.ends_with(".ics"),
        "{url}"
    );

    // Fetched without any session, as a calendar app does.
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = r.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    assert!(
        ics.contains("BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"),
        "{ics}"
    );
    // Summer time, then winter time: 10:00 local both, 14:00Z and 15:00Z.
    assert!(
        ics.contains("DTSTART;TZID=America/New_York:20261026T100000\r\n"),
        "{ics}"
    );
    assert!(
        ics.contains("DTSTART;TZID=America/New_York:20261102T100000\r\n"),
        "{ics}"
    );
    assert!(ics.contains("TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n"));
    assert!(ics.contains("SUMMARY:Monday process\r\n") && ics.contains("LOCATION:Room 3\r\n"));
    assert!(
        !ics.contains("Clinictest") && !ics.contains("Portal"),
        "no names in the feed"
    );

    // A wrong secret of the same shape is unknown.
    let secret = url
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".ics")
        .to_owned();
    let wrong: String = secret
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    let r = t
        .http
        .get(t.url(&format!("/feed/{wrong}.ics")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Revoked: the address stops working.
    b.client.goto(&t.url("/me")).await.unwrap();
    assert!(b.text("#feed-status").await.contains("was made on"));
    b.check_page("portal-feed-exists").await;
    b.click("#revoke-feed").await;
    assert!(b.shows("[role=status]", "switched off").await);
    assert!(b.text("#feed-status").await.contains("no calendar link"));
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    b.close().await;
}

#[tokio::test]
async fn the_directory_shows_open_seats_or_a_waitlist_and_a_therapist_refers_a_client() {
    let t = spawn_app().await;
    let clinic = outpatient_clinic(&t).await;
    // A small group that is full: newcomers join its waitlist.
    let (s, small) = t
        .post(
            &clinic.director,
            "/api/v1/groups",
            json!({"program_id": clinic.program, "name": "Grief circle", "kind": "process",
                "focus_concerns": ["grief_loss"], "eligible_levels": ["outpatient"],
                "enrollment": {"model": "open"}, "min_size": 1, "max_size": 2,
                "meetings": [{"weekday": "wednesday", "start": "17:30", "minutes": 75}],
                "lead_facilitator_id": clinic.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{small}");
    for &m in &clinic.members[..2] {
        let (s, b) = t
            .post(
                &clinic.director,
                &format!("/api/v1/groups/{}/memberships", small["id"]),
                json!({"client_id": m, "start_date": "2026-10-20"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    let b = Browser::start().await;
    b.client.goto(&t.url("/directory")).await.unwrap();
    b.check_page("public-directory").await;
    let rows = b.text("#directory").await;
    let row = |name: &str| {
        rows.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} listed: {rows}"))
            .to_owned()
    };
    assert!(row("Monday process").contains("Open seats"), "{rows}");
    assert!(row("Grief circle").contains("Waitlist"), "{rows}");
    assert!(row("Grief circle").contains("Grief and loss"), "{rows}");
    assert!(row("Monday process").contains("In person"), "{rows}");
    assert!(
        !rows.contains("Clinictest") && !rows.contains(" 3 ") && !rows.contains("2/2"),
        "no member and no count: {rows}"
    );
    // Each group links to the self-referral form, which names it.
    b.click(&format!("a[href='/join?group={}']", small["id"]))
        .await;
    assert_eq!(b.wait_path("/join").await, "/join");
    assert!(
        b.client
            .find(Locator::Css("#looking_for"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("Grief circle")
    );
    b.check_page("public-join-preselected").await;

    // A therapist's referral.
    b.client.goto(&t.url("/refer")).await.unwrap();
    b.check_page("public-refer").await;
    assert!(b.text("#open-groups").await.contains("Waitlist"));
    // No way to reply to either, and a group that is not listed: each named by its field.
    b.fill("#provider_name", "Dana Therapist").await;
    b.fill("#client_name", "Robin Referred").await;
    b.fill("#group", "Nowhere Group").await;
    b.fill("#reason", "Grief after a loss.").await;
    b.click("#consent").await;
    b.click("#send-referral").await;
    assert!(b.shows("#refer-errors", "Your phone or email").await);
    let refused = b.text("#refer-errors").await;
    assert!(
        refused.contains("Client's phone or email") && refused.contains("Group: choose one"),
        "{refused}"
    );
    assert!(b.shows("#group-error", "choose one from the list").await);
    assert_eq!(b.value("#group").await, "Nowhere Group");
    b.check_page("public-refer-refused").await;
    b.client.goto(&t.url("/refer")).await.unwrap();
    b.fill("#provider_name", "Dana Therapist").await;
    b.fill("#practice", "Harbor Counseling").await;
    b.fill("#provider_phone", "617-555-0100").await;
    b.fill("#provider_email", "dana@harbor.example").await;
    b.fill("#client_name", "Robin Referred").await;
    b.fill("#client_phone", "617-555-0199").await;
    b.fill(
        "#reason",
        "Grief after a loss; in weekly individual therapy with me.",
    )
    .await;
    // The group picker: part of the name typed, the group chosen by its name.
    b.fill("#group", "Grief circle").await;
    b.click("#consent").await;
    b.click("#send-referral").await;
    assert!(b.shows("[role=status]", "We have your referral").await);
    let thanks = b.text("main").await;
    assert!(
        !thanks.contains("Robin") && !thanks.contains("Dana"),
        "nothing echoed: {thanks}"
    );
    b.check_page("public-refer-thanks").await;
    b.close().await;

    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, list) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let items = list["items"].as_array().unwrap();
    let r = items
        .iter()
        .find(|r| r["path"] == "therapist_referral")
        .unwrap_or_else(|| panic!("a therapist referral: {list}"));
    let d = &r["details"];
    assert_eq!(d["name"], "Robin Referred");
    assert_eq!(d["phone"], "617-555-0199");
    assert_eq!(d["provider"]["name"], "Dana Therapist");
    assert_eq!(d["provider"]["practice"], "Harbor Counseling");
    let contact = d["provider"]["contact"].as_str().unwrap();
    assert!(
        contact.contains("617-555-0100") && contact.contains("dana@harbor.example"),
        "{contact}"
    );
    assert!(
        d["reason"].as_str().unwrap().contains("Grief circle"),
        "the group asked about: {d}"
    );
}
