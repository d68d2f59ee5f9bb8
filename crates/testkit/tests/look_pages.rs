//! The look of a product (issue 14), over real HTTP on the test database: Today's summary
//! cards per role, the week calendar on a time grid coloured by program, the MFA
//! enrolment QR code drawn as inline SVG, and every report table as an RFC 4180 CSV
//! download that a spreadsheet cannot be tricked by.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::text::Email;
use circle_domain::user::Role;
use circle_testkit::clinic::ClinicSpec;
use circle_testkit::{TEST_PASSWORD, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

/// The summary card titled `title`, from its `<li>` to its end.
fn card<'a>(body: &'a str, title: &str) -> Option<&'a str> {
    let at = body.find(&format!("<span class=\"what\">{title}</span>"))?;
    let li = body[..at].rfind("<li class=\"card ")?;
    let end = body[at..].find("</li>")? + at;
    Some(&body[li..end])
}

#[tokio::test]
async fn today_opens_with_summary_cards_for_each_role() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let lead = t.login(&k.lead_email, TEST_PASSWORD).await.unwrap();

    // The director: alerts, sessions, notes, hours, offers and referrals at a glance.
    let page = t.page(&k.director, "/today").await;
    assert_eq!(page.status, StatusCode::OK);
    for title in [
        "Safety alerts",
        "Sessions today",
        "Notes overdue",
        "Weekly hours at risk",
        "Offers waiting",
        "Referrals waiting",
    ] {
        assert!(card(&page.body, title).is_some(), "{title}: {}", page.body);
    }
    // Monday 4 May, 09:00 in New York: today's 10:00 session is on the agenda.
    let sessions = card(&page.body, "Sessions today").unwrap();
    assert!(sessions.contains("tone-info"), "{sessions}");
    assert!(
        sessions.contains("<span class=\"count\">1</span>"),
        "{sessions}"
    );
    let alerts = card(&page.body, "Safety alerts").unwrap();
    assert!(
        alerts.contains("tone-ok") && alerts.contains("All clear"),
        "{alerts}"
    );

    // The clinician: their own sessions and referrals to screen; no intake cards.
    let page = t.page(&lead, "/today").await;
    assert!(card(&page.body, "My sessions today").is_some());
    assert!(card(&page.body, "Referrals to screen").is_some());
    assert!(card(&page.body, "Offers waiting").is_none());

    // Intake: offers and referrals, and no clinical cards.
    let page = t.page(&intake, "/today").await;
    assert!(card(&page.body, "Referrals waiting").is_some());
    assert!(card(&page.body, "Safety alerts").is_none());
    assert!(card(&page.body, "Weekly hours at risk").is_none());
    // Referral states are written as words.
    assert!(page.body.contains(">Referred</a>"), "{}", page.body);
}

#[tokio::test]
async fn the_week_calendar_is_a_time_grid_coloured_by_program_without_inline_styles() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    let page = t
        .page(
            &k.director,
            &format!("/calendar?show=program:{}&week=2026-05-04", k.program),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("class=\"week week-grid\""), "{body}");
    // The grid starts at 08:00; a quarter-hour per row: Monday 10:00–11:30 starts on row 9
    // and spans six rows, in the first lane, in the first program's colour.
    assert!(body.contains(">08:00</span>"), "{body}");
    let monday = body
        .split("id=\"day-2026-05-04\"")
        .nth(1)
        .and_then(|d| d.split("</section>").next())
        .unwrap();
    assert!(
        monday.contains("prog-0 gr-9 gs-6 gc-1"),
        "the session's place on the grid: {monday}"
    );
    assert!(monday.contains("10:00–11:30") && monday.contains("Monday process"));
    assert!(body.contains("Programs by colour") && body.contains("Adult IOP"));
    // The pages' CSP allows no inline style or script: placement is by class only.
    assert!(
        !body.contains("style=") && !body.contains("<script"),
        "{body}"
    );
}

#[tokio::test]
async fn the_calendar_s_show_picker_takes_typed_words_and_answers_unknown_ones_by_the_field() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    // A choice typed in another case: the program's week, the field holding its name.
    let page = t
        .page(&k.director, "/calendar?show=adult+iop&week=2026-05-04")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(body.contains("<strong>Adult IOP</strong>"), "{body}");
    assert!(
        body.contains(r#"list="show-list" value="Adult IOP""#),
        "{body}"
    );
    assert!(body.contains("Monday process"), "{body}");
    // The picker lists every choice with its kind, and no long dropdown is left.
    assert!(
        body.contains(r#"<option value="Adult IOP">Program</option>"#),
        "{body}"
    );
    assert!(!body.contains("<select id=\"show\""), "{body}");
    // The next week's link keeps the view by its code, which still works.
    let next = format!("/calendar?show=program:{}&amp;week=2026-05-11", k.program);
    assert!(body.contains(&next), "{body}");

    // Words that name nothing: a plain sentence by the field, what was typed kept, no week.
    let page = t
        .page(&k.director, "/calendar?show=Nowhere+Group&week=2026-05-04")
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = &page.body;
    assert!(
        body.contains(
            r#"<span class="field-error" id="show-error" role="alert">Choose a program, clinician or room from the list"#
        ),
        "{body}"
    );
    assert!(
        body.contains(r#"value="Nowhere Group" required autocomplete="off" aria-invalid="true""#),
        "{body}"
    );
    assert!(
        !body.contains("Monday process") && !body.contains("show:"),
        "{body}"
    );
}

#[tokio::test]
async fn a_refused_calendar_view_says_what_to_choose_in_its_heading_not_a_week_it_hides() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    let h1 = |body: &str| {
        let start = body.find("<h1>").map_or(0, |i| i + 4);
        let end = body[start..].find("</h1>").map_or(start, |i| start + i);
        body[start..end].to_owned()
    };
    let page = t
        .page(&k.director, "/calendar?show=all&week=2026-05-06")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(h1(&page.body), "Calendar: week of 4 May 2026");

    // A clinician may not see every session: "all" is not theirs to choose.
    let lead = t.login(&k.lead_email, TEST_PASSWORD).await.unwrap();
    let page = t.page(&lead, "/calendar?show=all&week=2026-05-04").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h1(&page.body), "Calendar: choose what to show");
    assert!(page.body.contains(r#"id="show-error""#), "{}", page.body);

    // A week that is not a date, and then both fields refused.
    let page = t
        .page(&k.director, "/calendar?show=all&week=next+tuesday")
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h1(&page.body), "Calendar: choose a week");
    let page = t
        .page(&k.director, "/calendar?show=Nowhere&week=soon")
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h1(&page.body), "Calendar: choose what to show and a week");
}

#[tokio::test]
async fn an_unknown_address_shows_a_browser_a_page_and_the_api_a_problem() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    for path in ["/no-such-page", "/groups/1/nothing-here"] {
        let page = t.page(&k.director, path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        let kind = page
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert!(page.body.contains("<h1>Not found</h1>"), "{}", page.body);
        assert!(!page.body.contains("urn:circle"), "{}", page.body);
        assert_eq!(
            page.headers
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
    }
    // The API's clients keep their problem+json.
    let page = t.page(&k.director, "/api/v1/nowhere").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let kind = page
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(kind.starts_with("application/problem+json"), "{kind}");
}

/// Signs in through the sign-in page as a browser would (its double-submit cookie and
/// CSRF token); the answer is the enrolment page for an account without a second factor.
async fn sign_in_page(t: &circle_testkit::TestApp, email: &str) -> (String, String, String) {
    let circle_testkit::PublicPage { cookie, csrf, .. } = t.public_page(&t.url("/sign-in")).await;
    let r = t
        .http
        .post(t.url("/sign-in"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", TEST_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    (cookie, csrf, r.text().await.unwrap())
}

#[tokio::test]
async fn mfa_enrolment_shows_a_qr_code_drawn_on_the_server_and_never_links_a_posted_uri() {
    let t = spawn_app().await;
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
    let (cookie, csrf, body) = sign_in_page(&t, email).await;
    assert!(body.contains("id=\"totp-qr\""), "{body}");
    assert!(body.contains("<svg role=\"img\""), "{body}");
    assert!(body.contains("<path fill=\"#000\" d=\"M"), "{body}");
    assert!(
        !body.contains("<?xml") && !body.contains("<script"),
        "{body}"
    );
    let token = body
        .split("name=\"enrollment_token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let qr = body
        .split("id=\"totp-qr\"")
        .nth(1)
        .and_then(|r| r.split("</figure>").next())
        .unwrap()
        .to_owned();

    // A wrong code with a link of the poster's choosing: the page again, with the QR code
    // of the server-held link (the same squares) and no trace of the posted one.
    let r = t
        .http
        .post(t.url("/sign-in/enroll"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("enrollment_token", token.as_str()),
            ("code", "000000"),
            ("otpauth_uri", "javascript:alert(document.cookie)"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let again = r.text().await.unwrap();
    assert!(!again.contains("javascript:"), "{again}");
    assert!(again.contains(&qr), "the same QR code as before");
}

#[tokio::test]
async fn every_report_table_downloads_as_rfc_4180_csv_safe_for_spreadsheets() {
    let t = spawn_app().await;
    let k = t.clinic(ClinicSpec::default()).await;
    // A program whose name a spreadsheet would run as a formula, with quotes and a comma.
    let (s, p) = t
        .post(
            &k.director,
            "/api/v1/programs",
            json!({"name": "=HYPERLINK(\"http://x.test\", \"a, b\")", "site": "Riverside",
                "level_of_care": "php", "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");

    let page = t.page(&k.director, "/reports/census").await;
    assert!(page.body.contains("href=\"/reports/census?format=csv\""));
    let csv = t.page(&k.director, "/reports/census?format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"circle-census-")
    );
    assert_eq!(csv.headers["cache-control"], "no-store");
    let body = &csv.body;
    assert!(
        body.starts_with(
            "Program,Level of care,Groups,Active clients,Memberships,Seats,Open seats\r\n"
        ),
        "{body}"
    );
    // Every line ends CRLF; no bare line feed.
    assert_eq!(body.matches('\n').count(), body.matches("\r\n").count());
    assert!(body.ends_with("\r\n"));
    // The formula is neutralised with a leading apostrophe and quoted as RFC 4180 says.
    assert!(
        body.contains(
            "\"'=HYPERLINK(\"\"http://x.test\"\", \"\"a, b\"\")\",Partial hospitalization (PHP),"
        ),
        "{body}"
    );
    assert!(
        body.contains("Adult IOP,Intensive outpatient (IOP),1,"),
        "{body}"
    );

    // The other report tables, each with its header row.
    for (path, header) in [
        (
            "/reports/attendance?from=2026-04-01&until=2026-05-04&format=csv",
            "Group,Program,Held sessions,Present,Late,Left early,Absent (excused),Absent,Attendance rate\r\n",
        ),
        (
            "/reports/compliance?week=2026-05-04&format=csv",
            "Client,Record,Level of care,Attended,Required,Status,Summary\r\n",
        ),
        (
            "/reports/outcomes?format=csv",
            "Instrument,Group,Program,Members,Measured twice,Mean first score,Mean latest score,Mean change\r\n",
        ),
    ] {
        let r = t.page(&k.director, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
        assert!(r.body.starts_with(header), "{path}: {}", r.body);
    }
    // The compliance table: six members, each a row, hours written one way.
    let r = t
        .page(
            &k.director,
            "/reports/compliance?week=2026-05-04&format=csv",
        )
        .await;
    assert_eq!(r.body.matches("\r\n").count(), 7, "{}", r.body);
    assert!(r.body.contains(",0 h,9 h,"), "{}", r.body);
    // A clinician is refused the census, in CSV as on the page.
    let lead = t.login(&k.lead_email, TEST_PASSWORD).await.unwrap();
    let r = t.page(&lead, "/reports/census?format=csv").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
