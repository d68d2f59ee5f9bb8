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
