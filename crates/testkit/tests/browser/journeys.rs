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
    b.click(&format!("#open-alerts a[href='/clients/{client}']"))
        .await;
    assert_eq!(
        b.wait_path(&format!("/clients/{client}")).await,
        format!("/clients/{client}")
    );
    assert!(b.text("h1").await.contains("Robin"));
    b.check_page("journey-clinician-chart-from-alert").await;
    b.client.goto(&t.url("/today")).await.unwrap();
    b.fill(
        "#open-alerts textarea",
        "Called Robin; safety plan reviewed; seen today at 2 pm.",
    )
    .await;
    b.click("#open-alerts button[type=submit]").await;
    assert!(b.shows("main", "No open safety alerts.").await);
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
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/intake")).await.unwrap();
    b.client
        .find(Locator::LinkText("Jordan Okafor"))
        .await
        .expect("the request on intake's list")
        .click()
        .await
        .unwrap();
    assert!(b.shows("h1", "Jordan Okafor").await);
    let referral: i64 = b
        .path()
        .await
        .trim_start_matches("/referrals/")
        .parse()
        .unwrap();
    assert_eq!(b.text("#referral-availability").await, "Tuesday evening");
    assert_eq!(b.text("#referral-screener").await, "not assigned yet");
    assert!(b.try_text("#already-client").await.is_none());
    b.check_page("journey-intake-join-request").await;

    // The screener, from the page.
    b.click(&format!("#screener-select option[value='{}']", k.lead))
        .await;
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
    b.click("#decision-ready").await;
    b.click("#screening-form button[type=submit]").await;
    assert!(b.shows("#referral-state", "Ready").await);
    assert!(b.text("#screenings").await.contains("Ready for group"));

    // The paper agreement, then the placement.
    b.click("#agreement-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "group agreement signature was recorded")
            .await
    );
    let fits = b.text(&format!("#suggestion-{}", k.group)).await;
    assert!(fits.contains("Open to this client now"), "{fits}");
    b.check_page("journey-intake-ready-to-place").await;
    b.click(&format!("#place-{}", k.group)).await;
    assert!(
        b.shows("[role=status]", "The client was placed in the group")
            .await,
        "{}",
        b.text("main").await
    );
    assert!(b.shows("#referral-state", "Placed").await);
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
    b.click(&format!("#group option[value='{}']", k.group))
        .await;
    b.fill("#reason", "Panic since spring; ready for a group.")
        .await;
    b.click("#consent").await;
    b.click("#send-referral").await;
    assert!(b.shows("[role=status]", "We have your referral").await);
    b.close().await;

    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/intake")).await.unwrap();
    b.client
        .find(Locator::LinkText("Casey Lin"))
        .await
        .expect("the referral on intake's list")
        .click()
        .await
        .unwrap();
    assert!(b.shows("h1", "Casey Lin").await);
    let referral: i64 = b
        .path()
        .await
        .trim_start_matches("/referrals/")
        .parse()
        .unwrap();
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
    b.click("#decision-ready").await;
    b.click("#screening-form button[type=submit]").await;
    assert!(b.shows("#referral-state", "Ready").await);
    b.click("#agreement-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "group agreement signature was recorded")
            .await
    );
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
