//! Each role's day, end to end through the pages only (issue 14): what a person does from
//! signing in to done, on the clinic the tests make as a director would.

use super::*;
use circle_domain::ids::ClientId;
use circle_testkit::clinic::ClinicSpec;

/// A client who feels worse mid-cycle checks in although nothing is due; the item-9
/// answer reaches their clinician's Today, who opens the chart from the alert, comes back
/// and acknowledges it with what was done.
#[tokio::test]
async fn a_client_checks_in_off_cycle_and_the_clinician_opens_the_chart_from_the_alert_and_acknowledges()
 {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let d = &clinic.director;
    let (s, c) = t
        .post(
            d,
            "/api/v1/clients",
            json!({"record_number": "C-0950", "given_name": "Robin", "family_name": "Vale",
                "date_of_birth": "1988-08-08", "referral_source": "self_referral",
                "phone": "617-555-0199"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let client = c["id"].as_i64().unwrap();
    t.post(
        d,
        &format!("/api/v1/clients/{client}/episodes"),
        json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
    )
    .await;
    t.post(
        d,
        &format!("/api/v1/clients/{client}/consents/group-agreement"),
        json!({"signed_on": "2026-04-01"}),
    )
    .await;
    clinic.enroll(&t, client).await;
    // The intake check-ins were taken last week: nothing is due now.
    for (code, items) in [("phq9", 9), ("gad7", 7)] {
        let answers: serde_json::Map<String, Value> =
            (1..=items).map(|i| (i.to_string(), json!(0))).collect();
        let (s, r) = t
            .post(
                d,
                &format!("/api/v1/clients/{client}/measures"),
                json!({"instrument": code, "answers": answers,
                    "administered_at": "2026-04-27T14:00:00Z"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    let email = "robin@example.test";
    t.app
        .create_user(
            &Email::parse(email).unwrap(),
            TEST_PASSWORD,
            Role::Client,
            None,
            Some(ClientId(client)),
        )
        .await
        .unwrap();

    let b = Browser::start().await;
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.click("button[type=submit]").await;
    assert_eq!(b.wait_path("/me").await, "/me");
    assert!(
        b.client
            .find_all(Locator::Css("#due-checkins"))
            .await
            .unwrap()
            .is_empty(),
        "nothing is due"
    );
    assert!(b.text("#any-time-checkins").await.contains("PHQ-9"));
    b.check_page("journey-client-home-nothing-due").await;
    b.click("#any-time-checkins a[href='/me/check-in/phq9']")
        .await;
    assert_eq!(b.wait_path("/me/check-in/phq9").await, "/me/check-in/phq9");
    for item in 1..=8 {
        b.click(&format!("#item_{item}_1")).await;
    }
    b.click("#item_9_1").await;
    b.click("#send-check-in").await;
    assert_eq!(
        b.wait_path("/me/check-in/phq9/thanks").await,
        "/me/check-in/phq9/thanks"
    );
    assert!(b.text("#crisis-resources").await.contains("988"));
    b.check_page("journey-client-off-cycle-thanks").await;
    b.close().await;

    let b = Browser::start().await;
    sign_in(&b, &t, &clinic.lead_email).await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let alerts = b.text("#open-alerts").await;
    assert!(
        alerts.contains("Robin V.") && alerts.contains("total score 9"),
        "{alerts}"
    );
    assert!(alerts.contains("617-555-0199"), "{alerts}");
    assert!(
        b.client
            .find(Locator::Css("#open-alerts a[href='tel:6175550199']"))
            .await
            .is_ok(),
        "a way to call: {alerts}"
    );
    b.check_page("journey-clinician-alert-on-today").await;
    b.click(&format!("#open-alerts a[href='/clients/{client}']"))
        .await;
    assert_eq!(
        b.wait_path(&format!("/clients/{client}")).await,
        format!("/clients/{client}")
    );
    assert!(b.text("h1").await.contains("Robin"));
    let chart = b.text("main").await;
    assert!(
        chart.contains("Intensive outpatient (IOP)") && chart.contains("PHQ-9"),
        "levels and instruments in words: {chart}"
    );
    b.check_page("journey-clinician-chart-from-alert").await;
    b.client.goto(&t.url("/today")).await.unwrap();
    // An action of blank words is refused in plain words, by the field, and the alert
    // stays open.
    b.fill("#open-alerts textarea", "   ").await;
    b.click("#open-alerts button[type=submit]").await;
    assert!(
        b.shows("#open-alerts [role=alert]", "Action taken").await,
        "{}",
        b.text("main").await
    );
    let error = b.text("#open-alerts [role=alert]").await;
    assert!(
        !error.contains("action_taken") && !error.contains("1–2000"),
        "plain words: {error}"
    );
    let described = b
        .client
        .find(Locator::Css("#open-alerts textarea"))
        .await
        .unwrap()
        .attr("aria-describedby")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        described.ends_with("-error"),
        "the message is tied to the field: {described}"
    );
    b.check_page("journey-clinician-alert-empty-action").await;
    b.fill(
        "#open-alerts textarea",
        "Called Robin; safety plan reviewed; seen today at 2 pm.",
    )
    .await;
    b.click("#open-alerts button[type=submit]").await;
    assert!(b.shows("main", "No open safety alerts.").await);
    assert!(
        b.text("[role=status]")
            .await
            .contains("The alert was acknowledged"),
        "the acknowledgement is confirmed"
    );
    b.check_page("journey-clinician-alert-acknowledged").await;
    b.close().await;
}

/// Intake takes a `/join` request to a placed client through the pages only (issue 14):
/// sees the ticked times, assigns the screener, creates the client record pre-filled from
/// what the person wrote, opens their episode at a level of care, moves the referral on
/// with a reason, screens it, records the signed agreement and places the person in the
/// group that fits their evenings.
#[tokio::test]
async fn intake_takes_a_join_request_to_a_placed_client_through_the_pages() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            level: "outpatient",
            weekday: "tuesday",
            start: "18:00",
            ..ClinicSpec::default()
        })
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;

    let b = Browser::start().await;
    b.client.goto(&t.url("/join")).await.unwrap();
    b.fill("#name", "Jordan Okafor").await;
    b.fill("#email", "jordan@example.test").await;
    b.fill("#phone", "617-555-0142").await;
    b.fill("#looking_for", "Anxious since a move; evenings suit me.")
        .await;
    b.click("#t-tuesday-evening").await;
    b.click("form button[type=submit]").await;
    assert!(b.shows("[role=status]", "We have your request").await);
    b.close().await;

    let b = Browser::start().await;
    intake_list(&b, &t).await;
    let referral = open_referral(&b, "Jordan Okafor").await;
    assert_eq!(b.text("#referral-availability").await, "Tuesday evening");
    assert_eq!(b.text("#referral-screener").await, "not assigned yet");
    assert!(b.try_text("#already-client").await.is_none());
    b.check_page("journey-intake-join-request").await;

    // The screener, picked by name on the page.
    b.fill("#screener-select", "Lead Facilitator").await;
    b.click("#screener-form button[type=submit]").await;
    assert!(b.shows("[role=status]", "The screener was saved").await);
    assert_eq!(b.text("#referral-screener").await, "Lead Facilitator");

    // The client record, pre-filled from what the person wrote.
    assert_eq!(b.value("#nc-given").await, "Jordan");
    assert_eq!(b.value("#nc-family").await, "Okafor");
    assert_eq!(b.value("#nc-email").await, "jordan@example.test");
    assert_eq!(b.value("#nc-phone").await, "617-555-0142");
    b.set("#nc-dob", "1991-09-14").await;
    b.fill("#nc-record", "R-2041").await;
    b.click("#new-client-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The client record was created")
            .await,
        "{}",
        b.text("main").await
    );
    let chosen = b.text("#referral-client").await;
    assert!(
        chosen.contains("Jordan Okafor") && chosen.contains("no current level of care"),
        "{chosen}"
    );
    b.check_page("journey-intake-record-created").await;

    // Admission at a level of care, from the page.
    b.click("#episode-level option[value='outpatient']").await;
    b.click(&format!("#episode-program option[value='{}']", k.program))
        .await;
    b.click("#episode-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The episode of care was opened")
            .await
    );
    assert!(b.text("#referral-client").await.contains("Outpatient"));

    // Moved on with a reason; screened by intake (the decision, no clinical comments).
    b.fill("#move-reason", "Called back; Tuesday evenings work.")
        .await;
    b.click("#to-screening").await;
    assert!(b.shows("#referral-state", "Screening").await);
    assert!(
        b.text("#referral-history")
            .await
            .contains("Called back; Tuesday evenings work.")
    );
    assert!(b.try_text("#screen-reasons").await.is_none());
    // Screened ready, then the paper agreement, then the placement.
    screen_ready_and_record_agreement(&b).await;
    assert!(b.text("#screenings").await.contains("Ready for group"));
    let fits = b.text(&format!("#suggestion-{}", k.group)).await;
    assert!(fits.contains("Open to this client now"), "{fits}");
    b.check_page("journey-intake-ready-to-place").await;
    place_from_referral(&b, k.group).await;
    b.check_page("journey-intake-placed").await;
    b.close().await;

    // What the pages did, as the API reads it.
    let (_, r) = t
        .get(&intake, &format!("/api/v1/referrals/{referral}"))
        .await;
    let client = r["client_id"].as_i64().expect("the referral is linked");
    assert_eq!(r["state"], "placed");
    assert_eq!(r["screener_id"].as_i64(), Some(k.lead));
    let (_, c) = t.get(&intake, &format!("/api/v1/clients/{client}")).await;
    assert_eq!(
        (c["record_number"].as_str(), c["current_level"].as_str()),
        (Some("R-2041"), Some("outpatient")),
        "{c}"
    );
    assert_eq!(
        c["availability"],
        json!([{"weekday": "tuesday", "start": "17:00:00", "end": "21:30:00"}])
    );
    assert_active_member(&t, &k, client).await;
}

/// A therapist refers a client on `/refer` to a group that is full; intake creates the
/// record from the referral (the referral names no times: intake ticks the client's
/// evenings), admits them, screens them, records the agreement and puts them on the full
/// group's waitlist, all through the pages.
#[tokio::test]
async fn intake_takes_a_therapists_referral_to_a_full_groups_waitlist_through_the_pages() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            level: "outpatient",
            weekday: "wednesday",
            start: "18:00",
            ..ClinicSpec::default()
        })
        .await;
    // The group holds two: full with the clinic's two members.
    let (s, g) = t
        .send(
            reqwest::Method::PATCH,
            &k.director,
            &format!("/api/v1/groups/{}", k.group),
            json!({"version": 1, "min_size": 1, "max_size": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;

    let b = Browser::start().await;
    b.client.goto(&t.url("/refer")).await.unwrap();
    b.fill("#provider_name", "Dr. Dana Reyes").await;
    b.fill("#practice", "Harbor Counseling").await;
    b.fill("#provider_phone", "617-555-0110").await;
    b.fill("#client_name", "Casey Lin").await;
    b.fill("#client_phone", "617-555-0133").await;
    b.fill("#group", "Monday process").await;
    b.fill("#reason", "Panic since spring; ready for a group.")
        .await;
    b.click("#consent").await;
    b.click("#send-referral").await;
    assert!(b.shows("[role=status]", "We have your referral").await);
    b.close().await;

    let b = Browser::start().await;
    intake_list(&b, &t).await;
    let referral = open_referral(&b, "Casey Lin").await;
    assert!(
        b.text("main")
            .await
            .contains("Dr. Dana Reyes, Harbor Counseling")
    );
    assert_eq!(b.value("#nc-phone").await, "617-555-0133");
    b.set("#nc-dob", "1985-11-30").await;
    b.fill("#nc-record", "R-2042").await;
    b.click("#nc-t-wednesday-evening").await;
    b.client
        .execute(
            "document.querySelector('#nc-times').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.check_page("journey-intake-record-form").await;
    b.click("#new-client-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The client record was created")
            .await,
        "{}",
        b.text("main").await
    );
    b.click("#episode-level option[value='outpatient']").await;
    b.click("#episode-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The episode of care was opened")
            .await
    );
    screen_ready_and_record_agreement(&b).await;
    let full = b.text(&format!("#suggestion-{}", k.group)).await;
    assert!(full.contains("0 open seats"), "{full}");
    b.click(&format!("#priority-{} option[value='2']", k.group))
        .await;
    b.check_page("journey-intake-refer-waitlist").await;
    b.click(&format!("#waitlist-{}", k.group)).await;
    assert!(
        b.shows("[role=status]", "added to the group's waitlist")
            .await,
        "{}",
        b.text("main").await
    );
    assert!(b.shows("#referral-state", "Waitlisted").await);
    b.close().await;

    let (_, r) = t
        .get(&intake, &format!("/api/v1/referrals/{referral}"))
        .await;
    assert_eq!(r["state"], "waitlisted", "{r}");
    let client = r["client_id"].as_i64().expect("linked by the waitlisting");
    let (s, w) = t
        .get(&intake, &format!("/api/v1/groups/{}/waitlist", k.group))
        .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    let entry = w
        .as_array()
        .or_else(|| w["items"].as_array())
        .unwrap()
        .iter()
        .find(|e| e["client_id"].as_i64() == Some(client))
        .cloned()
        .unwrap_or_else(|| panic!("on the waitlist: {w}"));
    assert_eq!(entry["priority"], 2, "{entry}");
}

/// A therapist refers a client on `/refer` to an intensive outpatient admission (issue 14:
/// only the self-referral groups could be named), and intake takes the referral to a
/// placed, consented client through the pages only: the referral on their list with its
/// program, the record created from it, the episode opened at the program's level (chosen
/// for them by the referral), screening — placement waits until it finds the person
/// ready — the signed agreement, and the place in the program's group with a free seat.
#[tokio::test]
async fn intake_takes_a_therapists_program_admission_referral_to_a_placed_consented_client_through_the_pages()
 {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;

    let b = Browser::start().await;
    b.client.goto(&t.url("/refer")).await.unwrap();
    b.fill("#provider_name", "Dr. Ana Solis").await;
    b.fill("#provider_email", "ana.solis@example.test").await;
    b.fill("#client_name", "Riley Moss").await;
    b.fill("#client_phone", "617-555-0177").await;
    b.click(&format!("#program option[value='{}']", k.program))
        .await;
    b.fill(
        "#reason",
        "Worsening depression; weekly therapy is not enough.",
    )
    .await;
    b.click("#consent").await;
    b.check_page("journey-refer-program-admission").await;
    b.click("#send-referral").await;
    assert!(
        b.shows("[role=status]", "We have your referral").await,
        "{}",
        b.text("main").await
    );
    b.close().await;

    let b = Browser::start().await;
    intake_list(&b, &t).await;
    let listed = b.text("main").await;
    assert!(
        listed.contains("From an individual therapist, for admission: Intensive outpatient (IOP)"),
        "what the referral asks for, on the list: {listed}"
    );
    b.check_page("journey-intake-list-refer-admission").await;
    let referral = open_referral(&b, "Riley Moss").await;
    assert!(
        b.text("main")
            .await
            .contains("Dr. Ana Solis, ana.solis@example.test")
    );
    assert_eq!(
        b.text("#referral-program").await,
        "Adult IOP — Intensive outpatient (IOP)",
        "the admission asked for"
    );

    // The record, from the referral; the client comes on Monday mornings.
    assert_eq!(b.value("#nc-given").await, "Riley");
    assert_eq!(b.value("#nc-phone").await, "617-555-0177");
    b.set("#nc-dob", "1979-03-21").await;
    b.fill("#nc-record", "R-2043").await;
    b.click("#nc-t-monday-morning").await;
    b.click("#new-client-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The client record was created")
            .await,
        "{}",
        b.text("main").await
    );

    // The admission the therapist asked for is the one offered.
    assert_eq!(b.value("#episode-level").await, "iop");
    assert_eq!(b.value("#episode-program").await, k.program.to_string());
    b.client
        .execute(
            "document.querySelector('#admit-h').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.check_page("journey-intake-refer-admission").await;
    b.click("#episode-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The episode of care was opened")
            .await
    );
    assert!(
        b.text("#referral-client")
            .await
            .contains("Intensive outpatient (IOP)")
    );

    // In screening, placement waits for a screening that finds the person ready.
    b.fill("#move-reason", "Spoke with Riley; screening booked.")
        .await;
    b.click("#to-screening").await;
    assert!(b.shows("#referral-state", "Screening").await);
    assert!(b.try_text("#to-ready").await.is_none(), "no way round it");
    assert!(
        b.text("#placement-waits")
            .await
            .contains("once screening finds the person ready")
    );
    assert!(
        b.client
            .find_all(Locator::Css(&format!("#place-{}", k.group)))
            .await
            .unwrap()
            .is_empty(),
        "no placement before screening"
    );
    b.client
        .execute(
            "document.querySelector('#placement-waits').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.check_page("journey-intake-refer-waits-for-screening")
        .await;
    // Screened ready; the consent the placement needs; then the seat.
    screen_ready_and_record_agreement(&b).await;
    let fits = b.text(&format!("#suggestion-{}", k.group)).await;
    assert!(
        fits.contains("Open to this client now") && fits.contains("Process group"),
        "the group's kind in words: {fits}"
    );
    place_from_referral(&b, k.group).await;
    b.check_page("journey-intake-refer-placed").await;
    b.close().await;

    // What the pages did, as the API reads it.
    let (_, r) = t
        .get(&intake, &format!("/api/v1/referrals/{referral}"))
        .await;
    assert_eq!(r["state"], "placed", "{r}");
    assert_eq!(r["path"], "therapist_referral", "{r}");
    assert_eq!(
        (r["program_id"].as_i64(), r["level_of_care"].as_str()),
        (Some(k.program), Some("iop")),
        "{r}"
    );
    let client = r["client_id"].as_i64().expect("the referral is linked");
    let (_, c) = t.get(&intake, &format!("/api/v1/clients/{client}")).await;
    assert_eq!(c["current_level"], "iop", "{c}");
    let (_, consents) = t
        .get(&intake, &format!("/api/v1/clients/{client}/consents"))
        .await;
    assert_eq!(
        consents["group_agreements"].as_array().map(Vec::len),
        Some(1),
        "{consents}"
    );
    assert_active_member(&t, &k, client).await;
}

/// Intake signs in and opens their list of referrals.
async fn intake_list(b: &Browser, t: &TestApp) {
    sign_in(b, t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/intake")).await.unwrap();
}

/// Opens the referral of `name` from intake's list; its id.
async fn open_referral(b: &Browser, name: &str) -> i64 {
    b.client
        .find(Locator::LinkText(name))
        .await
        .unwrap_or_else(|e| panic!("{name} on intake's list: {e}"))
        .click()
        .await
        .unwrap();
    assert!(b.shows("h1", name).await);
    b.path()
        .await
        .trim_start_matches("/referrals/")
        .parse()
        .unwrap()
}

/// On a referral in screening: the screening finds the person ready, then the signed
/// paper agreement is recorded.
async fn screen_ready_and_record_agreement(b: &Browser) {
    b.click("#decision-ready").await;
    b.click("#screening-form button[type=submit]").await;
    assert!(b.shows("#referral-state", "Ready").await);
    b.click("#agreement-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "group agreement signature was recorded")
            .await
    );
}

/// Places the referral's client in `group` from the referral page: the page confirms it
/// and the referral is placed.
async fn place_from_referral(b: &Browser, group: i64) {
    b.click(&format!("#place-{group}")).await;
    assert!(
        b.shows("[role=status]", "The client was placed in the group")
            .await,
        "{}",
        b.text("main").await
    );
    assert!(b.shows("#referral-state", "Placed").await);
}

/// The API lists `client` as an active member of the clinic's group.
async fn assert_active_member(t: &TestApp, k: &circle_testkit::clinic::Clinic, client: i64) {
    let (_, members) = t
        .get(
            &k.director,
            &format!("/api/v1/groups/{}/memberships", k.group),
        )
        .await;
    assert!(
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["client_id"].as_i64() == Some(client) && m["status"] == "active"),
        "{members}"
    );
}

/// A clinic member whose surname a note might name: Dana Pryce, in the clinic's group.
async fn member_named_pryce(t: &TestApp, clinic: &circle_testkit::clinic::Clinic) -> i64 {
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
    let (s, e) = t
        .post(
            d,
            &format!("/api/v1/clients/{dana}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, a) = t
        .post(
            d,
            &format!("/api/v1/clients/{dana}/consents/group-agreement"),
            json!({"signed_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    clinic.enroll(t, dana).await;
    dana
}

/// The facilitator's day: from Today to the session that just ended; attendance for
/// everyone, then a participation ticked on its own (it was silently dropped, issue 14);
/// the group note signed; progress notes where a member's surname written with a title
/// or alone is caught before signing; every note signed; back to Today.
#[tokio::test]
async fn a_clinician_runs_todays_session_from_attendance_to_signed_notes() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let dana = member_named_pryce(&t, &clinic).await;
    let m = clinic.members.clone();
    // Monday 4 May, 11:45 in New York: the 10:00 session has ended.
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());

    let b = Browser::start().await;
    sign_in(&b, &t, &clinic.lead_email).await;
    assert_eq!(b.wait_path("/today").await, "/today");
    assert!(
        b.text("#sessions-h + table")
            .await
            .contains("Monday process")
    );
    b.check_page("journey-clinician-today").await;
    b.click("#sessions-h + table a").await;
    assert!(b.shows("h1", "Monday process").await);
    let session: i64 = b
        .path()
        .await
        .trim_start_matches("/sessions/")
        .parse()
        .unwrap();

    // Attendance: three came, one was excused.
    for (c, status) in [
        (m[0], "present"),
        (m[1], "present"),
        (m[2], "absent_excused"),
        (dana, "present"),
    ] {
        b.click(&format!("input[name=status_{c}][value={status}]"))
            .await;
    }
    b.click("form[action$='/attendance'] button[type=submit]")
        .await;
    assert!(
        b.shows("[role=status]", "saved for 4 members").await,
        "{}",
        b.text("main").await
    );
    // Then, remembering who shared, the facilitator ticks one participation and nothing
    // else: that alone is a change and is saved.
    b.click(&format!("#member-{} ~ td summary", m[0])).await;
    b.click(&format!("input[name=part_{}][value=shared]", m[0]))
        .await;
    b.click("form[action$='/attendance'] button[type=submit]")
        .await;
    assert!(
        b.shows("[role=status]", "saved for 1 member").await,
        "{}",
        b.text("main").await
    );
    // The folded box says what was ticked.
    assert_eq!(
        b.text(&format!(
            "#member-{} ~ td summary .participation-chosen",
            m[0]
        ))
        .await,
        "Shared"
    );
    b.check_page("journey-clinician-attendance-saved").await;

    // The group note, signed.
    b.fill("#group-note-themes", "Coping with weekend isolation.")
        .await;
    b.fill(
        "#group-note-interventions",
        "Validation; chain analysis on the whiteboard.",
    )
    .await;
    b.click("#group-note button[value=sign]").await;
    assert!(
        b.shows("#group-note .note-state", "Signed").await,
        "{}",
        b.text("main").await
    );
    assert!(
        b.client
            .find(Locator::Css(&format!("#note-{}", m[2])))
            .await
            .is_err(),
        "no progress note for the member who was excused"
    );

    // A progress note naming Dana with a title, then by surname alone: not signed, and
    // the warning names only the roster name and the field.
    let first = format!("#note-{}", m[0]);
    for (presentation, plan, field) in [
        (
            "Sat next to Ms. Pryce and shared.",
            "Continue the sleep diary.",
            "Presentation",
        ),
        (
            "Shared about the move.",
            "Check in with Pryce about rides.",
            "Plan",
        ),
    ] {
        b.fill(&format!("{first}-presentation"), presentation).await;
        b.fill(&format!("{first}-plan"), plan).await;
        b.click(&format!("{first} button[value=sign]")).await;
        assert!(
            b.shows(&format!("{first} [role=alert]"), "Not signed")
                .await,
            "{}",
            b.text("main").await
        );
        let warning = b.text(&format!("{first} [role=alert]")).await;
        assert!(
            warning.contains(&format!("Dana P. (in {field})")),
            "{presentation} / {plan}: {warning}"
        );
        assert!(
            !warning.contains("Pryce"),
            "only the roster name: {warning}"
        );
        if field == "Presentation" {
            b.check_page("journey-clinician-name-warning").await;
        }
    }
    // Rewritten without the name, it signs.
    b.fill(
        &format!("{first}-plan"),
        "Check in with a peer about rides.",
    )
    .await;
    b.click(&format!("{first} button[value=sign]")).await;
    assert!(
        b.shows(&format!("{first} .note-state"), "Signed").await,
        "{}",
        b.text("main").await
    );
    for c in [m[1], dana] {
        let note = format!("#note-{c}");
        b.fill(&format!("{note}-presentation"), "Engaged; calm.")
            .await;
        b.fill(&format!("{note}-plan"), "Continue.").await;
        b.click(&format!("{note} button[value=sign]")).await;
        assert!(
            b.shows(&format!("{note} .note-state"), "Signed").await,
            "{}",
            b.text("main").await
        );
    }
    b.check_page("journey-clinician-notes-signed").await;

    // Back on Today, nothing is left to write.
    b.client.goto(&t.url("/today")).await.unwrap();
    assert!(b.shows("main", "No overdue notes.").await);
    assert!(
        b.text("#sessions-h + table tbody").await.contains("Held"),
        "the session's status in words"
    );
    b.check_page("journey-clinician-day-done").await;
    b.close().await;

    // What the pages did, as the API reads it.
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (_, attendance) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/attendance"))
        .await;
    let rows = attendance.as_array().unwrap();
    let row = |c: i64| {
        rows.iter()
            .find(|a| a["client_id"] == c)
            .cloned()
            .unwrap_or_else(|| panic!("{c}: {attendance}"))
    };
    assert_eq!(row(m[0])["status"], "present");
    assert_eq!(row(m[0])["participation"], json!(["shared"]));
    assert_eq!(row(m[2])["status"], "absent_excused");
    let (_, group_note) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/group-note"))
        .await;
    assert_eq!(group_note["state"], "signed", "{group_note}");
    let (_, notes) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/notes"))
        .await;
    let signed: Vec<i64> = notes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "signed")
        .map(|n| n["client_id"].as_i64().unwrap())
        .collect();
    assert_eq!(signed.len(), 3, "{notes}");
    for c in [m[0], m[1], dana] {
        assert!(signed.contains(&c), "{c}: {notes}");
    }
    let first_note = notes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["client_id"] == m[0])
        .unwrap();
    assert_eq!(first_note["plan"], "Check in with a peer about rides.");
}

/// The director's planning: from Today to the planner, a run for the program, the
/// proposal with a reason in clinical words for every new placement (issue 14: none was
/// given), two of them approved, and the rest left open with their reasons.
#[tokio::test]
async fn a_director_runs_the_planner_and_approves_part_of_its_proposal_with_the_reasons_shown() {
    use super::planner::{members, unplaced};
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 0,
            ..ClinicSpec::default()
        })
        .await;
    let d = &clinic.director;
    let mut clients = vec![];
    for n in 1..=4 {
        clients.push(unplaced(&t, d, n).await);
    }
    // A small group: it runs with two members.
    let (s, g) = t
        .send(
            reqwest::Method::PATCH,
            d,
            &format!("/api/v1/groups/{}", clinic.group),
            json!({"version": 1, "min_size": 2, "max_size": 8}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{g}");
    // The first two are kept apart: only one of them can join the only group.
    let (s, sep) = t
        .post(
            d,
            &format!("/api/v1/clients/{}/separations", clients[0]),
            json!({"other_client_id": clients[1], "reason": "Conflict at work."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sep}");

    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("header a[href='/planner']").await;
    assert_eq!(b.wait_path("/planner").await, "/planner");
    b.click(&format!("#program option[value='{}']", clinic.program))
        .await;
    b.click("#time_limit option[value='1']").await;
    b.click("form.planner-start button[type=submit]").await;
    let mut summary = None;
    for _ in 0..100 {
        if let Some(s) = b.try_text("#run-summary").await {
            summary = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let summary = summary.expect("the run finishes and shows its proposal");
    assert!(summary.contains("4 clients"), "{summary}");

    // Three new placements, each with its reasons; the fourth is kept out by the
    // separation, and both sides say so.
    let rows = b
        .client
        .find_all(Locator::Css("#new-placements tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "{}", b.text("main").await);
    for row in &rows {
        let text = row.text().await.unwrap();
        assert!(
            text.contains("takes their level of care and meets when they are available")
                && text.contains("1 h 30 min of the 9 h a week they need"),
            "{text}"
        );
    }
    let placements = b.text("#new-placements").await;
    let unmet = b.text("#unmet").await;
    let mut placed_names = vec![];
    for th in b
        .client
        .find_all(Locator::Css("#new-placements tbody th"))
        .await
        .unwrap()
    {
        placed_names.push(th.text().await.unwrap());
    }
    let (placed, apart) = if placed_names.iter().any(|n| n == "Planned1 B.") {
        ("Planned1 B.", "Planned2 B.")
    } else {
        ("Planned2 B.", "Planned1 B.")
    };
    assert!(
        placements.contains(&format!(
            "kept apart from {apart}, who is not placed in this group"
        )),
        "{placements}"
    );
    assert!(
        unmet.contains(&format!("includes {placed}, whom they are kept apart from")),
        "{unmet}"
    );
    assert!(
        !placements.contains("Conflict at work"),
        "no reason text is shown"
    );
    b.check_page("journey-director-proposal-with-reasons").await;

    // Two of the three approved.
    let boxes = b
        .client
        .find_all(Locator::Css("#new-placements input[type=checkbox]"))
        .await
        .unwrap();
    let mut chosen = vec![];
    for cb in boxes.iter().take(2) {
        let value = cb.attr("value").await.unwrap().unwrap();
        let (client, _) = value.split_once('-').unwrap();
        chosen.push(client.parse::<i64>().unwrap());
        cb.click().await.unwrap();
    }
    chosen.sort_unstable();
    b.click("#approve-selected").await;
    assert!(
        b.shows("#decisions", "Applied").await,
        "{}",
        b.text("main").await
    );
    assert_eq!(
        b.client
            .find_all(Locator::Css("#decisions tbody tr"))
            .await
            .unwrap()
            .len(),
        2
    );
    // The third is still open, with its reasons.
    let open = b
        .client
        .find_all(Locator::Css("#new-placements input[type=checkbox]"))
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert!(
        b.text("#new-placements")
            .await
            .contains("meets when they are available")
    );
    b.check_page("journey-director-approved-part").await;
    b.close().await;

    assert_eq!(members(&t, d, clinic.group).await, chosen);
}

/// The administrator's day: a clinician account linked to the clinician's record picked
/// by name (issue 14: a raw record id was typed, and an account without one enrolled and
/// landed on a 403), then the audit report for one person, picked by name, over a date
/// range.
#[tokio::test]
async fn an_admin_creates_a_clinician_account_from_a_picker_and_reviews_one_persons_audit_over_dates()
 {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let member = clinic.members[0];
    // A clinician on staff without an account yet.
    let (s, morgan) = t
        .post(
            &clinic.director,
            "/api/v1/clinicians",
            json!({"given_name": "Morgan", "family_name": "Ellis", "email": "morgan@example.test",
                "licenses": [{"kind": "lmhc", "number": "L-200", "state": "MA",
                    "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{morgan}");
    let morgan = morgan["id"].as_i64().unwrap();
    // The lead reads the member's chart on Monday and again on Wednesday.
    let lead = t.login(&clinic.lead_email, TEST_PASSWORD).await.unwrap();
    let (s, _) = t.get(&lead, &format!("/api/v1/clients/{member}")).await;
    assert_eq!(s, StatusCode::OK);
    t.clock.set("2026-05-06T14:00:00Z".parse().unwrap());
    let lead = t.login(&clinic.lead_email, TEST_PASSWORD).await.unwrap();
    let (s, _) = t.get(&lead, &format!("/api/v1/clients/{member}")).await;
    assert_eq!(s, StatusCode::OK);
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;

    let b = Browser::start().await;
    sign_in(&b, &t, "admin@example.test").await;
    assert_eq!(b.wait_path("/admin").await, "/admin");

    // A clinician's account without their record is refused, by the field, in words.
    b.fill("#new-email", "morgan@example.test").await;
    b.click("#new-role option[value=clinician]").await;
    b.fill("#new-password", "a-long-temporary-passphrase-42")
        .await;
    b.click("form.admin-create button[type=submit]").await;
    assert!(
        b.shows("#new-clinician-error", "choose the clinician")
            .await,
        "{}",
        b.text("main").await
    );
    assert!(!b.text("[role=alert]").await.contains("clinician_id"));
    assert!(
        account_of(&t, &admin, "morgan@example.test")
            .await
            .is_none()
    );
    b.check_page("journey-admin-clinician-without-record").await;

    // Picked by name, it is created and linked.
    assert_eq!(b.value("#new-email").await, "morgan@example.test");
    b.fill("#new-clinician", "Morgan Ellis").await;
    b.fill("#new-password", "a-long-temporary-passphrase-42")
        .await;
    b.client
        .execute(
            "document.querySelector('#create-h').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.check_page("journey-admin-clinician-picker").await;
    b.click("form.admin-create button[type=submit]").await;
    assert!(
        b.shows("#done", "The account was created").await,
        "{}",
        b.text("main").await
    );
    let created = account_of(&t, &admin, "morgan@example.test")
        .await
        .expect("the account is listed");
    assert_eq!(created["role"], "clinician");
    assert_eq!(created["clinician_id"].as_i64(), Some(morgan), "{created}");
    assert!(
        b.text(&format!("#user-{}", created["id"]))
            .await
            .contains("Morgan Ellis")
    );
    b.check_page("journey-admin-clinician-created").await;

    // The audit report: the lead, picked by name, on Wednesday only.
    b.client.goto(&t.url("/admin/audit")).await.unwrap();
    let lead_choice = b
        .client
        .find(Locator::XPath(
            "//datalist[@id='f-actor-list']/option[starts-with(@value, 'Lead Facilitator')]",
        ))
        .await
        .expect("the lead in the person picker")
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    b.fill("#f-actor", &lead_choice).await;
    b.set("#f-from", "2026-05-06").await;
    b.set("#f-until", "2026-05-06").await;
    b.click("form.admin-filters button[type=submit]").await;
    assert!(
        b.shows("#audit", "Lead Facilitator").await,
        "{}",
        b.text("main").await
    );
    let mut whos = vec![];
    for td in b
        .client
        .find_all(Locator::Css("#audit td.who"))
        .await
        .unwrap()
    {
        whos.push(td.text().await.unwrap());
    }
    assert!(!whos.is_empty());
    assert!(
        whos.iter().all(|w| w.starts_with("Lead Facilitator")),
        "only the lead: {whos:?}"
    );
    let mut whens = vec![];
    for td in b
        .client
        .find_all(Locator::Css("#audit td.when"))
        .await
        .unwrap()
    {
        whens.push(td.text().await.unwrap());
    }
    assert!(
        whens.iter().all(|w| w.starts_with("Wed 6 May 2026")),
        "only Wednesday: {whens:?}"
    );
    // The filter stays chosen on the page it produced.
    let chosen = b.value("#f-actor").await;
    assert!(chosen.starts_with("Lead Facilitator"), "{chosen}");
    assert_eq!(b.value("#f-from").await, "2026-05-06");
    // Actions and outcomes in words, not codes.
    let first = b.text("#audit tbody tr").await;
    assert!(
        first.contains("Client record read") && first.contains("Allowed"),
        "{first}"
    );
    assert!(!first.contains("client.read"), "{first}");
    b.check_page("journey-admin-audit-by-person-and-dates")
        .await;

    // Monday alone holds the lead's first reading, not the second.
    b.set("#f-from", "2026-05-04").await;
    b.set("#f-until", "2026-05-04").await;
    b.click("form.admin-filters button[type=submit]").await;
    assert!(b.shows("#audit", "Mon 4 May 2026").await);
    assert!(!b.text("#audit").await.contains("Wed 6 May 2026"));
    b.close().await;
}

/// The account listed with `email` by the API.
async fn account_of(t: &TestApp, admin: &str, email: &str) -> Option<Value> {
    let (s, users) = t.get(admin, "/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{users}");
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}
