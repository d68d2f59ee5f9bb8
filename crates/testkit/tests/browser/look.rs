//! The look of a product (issue 14), seen in the browser at a desktop's 1280×900 and a
//! tablet's 1024×768: Today's summary cards per role, the week calendar's time grid and the
//! MFA enrolment QR code, each axe-checked and saved as a screenshot.

use super::*;
use circle_testkit::clinic::ClinicSpec;

const SIZES: [(u32, u32); 2] = [(1280, 900), (1024, 768)];

/// Checks and saves the current page at each size as `{name}-{width}.png`.
async fn at_each_size(b: &Browser, name: &str) {
    for (w, h) in SIZES {
        b.client.set_window_size(w, h).await.expect("resize");
        b.check_page(&format!("{name}-{w}")).await;
    }
}

#[tokio::test]
async fn today_the_week_calendar_and_mfa_enrolment_look_like_a_product_at_two_sizes() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let b = Browser::start().await;

    // Today per role, each opening with its summary cards.
    for (email, role) in [
        ("director@example.test", "director"),
        (k.lead_email.as_str(), "clinician"),
        ("intake@example.test", "intake"),
    ] {
        sign_in(&b, &t, email).await;
        assert_eq!(b.wait_path("/today").await, "/today", "{role}");
        let cards = b.text("#summary").await;
        assert!(!cards.is_empty(), "{role}: no summary cards");
        at_each_size(&b, &format!("look-today-{role}")).await;
        if role == "director" {
            // The week on its grid, the clinic's program in its colour.
            b.client
                .goto(&t.url("/calendar?show=all&week=2026-05-04"))
                .await
                .unwrap();
            assert!(b.text("#day-2026-05-04").await.contains("Monday process"));
            at_each_size(&b, "look-calendar-week").await;
        }
        b.click("header form button").await;
        assert_eq!(b.wait_path("/sign-in").await, "/sign-in");
    }

    // A new account enrols its second factor by scanning the QR code.
    let email = "new.director@example.test";
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
    b.client.goto(&t.url("/sign-in")).await.unwrap();
    b.fill("#email", email).await;
    b.fill("#password", TEST_PASSWORD).await;
    b.click("button[type=submit]").await;
    assert!(!b.text("#totp-secret").await.is_empty());
    let qr = b
        .client
        .find(Locator::Css("#totp-qr svg"))
        .await
        .expect("the QR code");
    let (_, _, width, height) = qr.rectangle().await.expect("its size");
    assert!(
        width >= 200.0 && height >= 200.0,
        "large enough to scan: {width}×{height}"
    );
    at_each_size(&b, "look-mfa-enrolment").await;
    b.close().await;
}
