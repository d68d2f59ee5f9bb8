//! Browser tests: the reports and the calendar, against a clinic whose figures are known
//! exactly (`reports_fixture`).

use super::*;

#[path = "../reports_fixture/mod.rs"]
mod reports_fixture;

use reports_fixture::known_clinic;

/// Sets a form control's value (date inputs take typed keys in the browser's locale order,
/// so the value is set directly, as picking a date would).
async fn set_value(b: &Browser, css: &str, value: &str) {
    b.client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
}

/// The rows of a table as text, one string per row with cells separated by " | ".
pub(super) async fn rows(b: &Browser, table: &str) -> Vec<String> {
    let mut out = vec![];
    for row in b
        .client
        .find_all(Locator::Css(&format!("{table} tbody tr")))
        .await
        .unwrap()
    {
        let mut cells = vec![];
        for cell in row.find_all(Locator::Css("th, td")).await.unwrap() {
            cells.push(cell.text().await.unwrap());
        }
        out.push(cells.join(" | "));
    }
    out
}

#[tokio::test]
async fn a_director_reads_each_report_and_downloads_the_billing_csv() {
    let t = spawn_app().await;
    let k = known_clinic(&t).await;
    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("nav a[href='/reports']").await;
    assert_eq!(b.wait_path("/reports").await, "/reports");
    b.check_page("reports-index").await;

    b.click("a[href='/reports/census']").await;
    assert_eq!(b.wait_path("/reports/census").await, "/reports/census");
    let seats = k.monday_max + k.wednesday_max;
    let open = k.monday_max - 6 + k.wednesday_max - 2;
    assert_eq!(
        rows(&b, "#census-programs").await,
        vec![format!(
            "Adult IOP | Intensive outpatient (IOP) | 2 | 7 | 8 | {seats} | {open}"
        )]
    );
    assert!(
        rows(&b, "#census-levels")
            .await
            .contains(&"Intensive outpatient (IOP) | 7".to_owned())
    );
    b.check_page("reports-census").await;

    b.client.goto(&t.url("/reports/attendance")).await.unwrap();
    set_value(&b, "#from", "2026-05-01").await;
    set_value(&b, "#until", "2026-05-31").await;
    b.click("main form button[type=submit]").await;
    assert!(b.shows("#attendance-rates caption", "2026-05-01").await);
    assert_eq!(
        rows(&b, "#attendance-rates").await,
        vec![
            "Monday process | Adult IOP | 2 | 7 | 1 | 1 | 1 | 2 | 75%".to_owned(),
            "Wednesday skills | Adult IOP | 1 | 1 | 0 | 0 | 1 | 0 | 50%".to_owned(),
        ]
    );
    b.check_page("reports-attendance").await;

    b.client.goto(&t.url("/reports/compliance")).await.unwrap();
    set_value(&b, "#week", "2026-05-06").await;
    b.click("main form button[type=submit]").await;
    assert!(b.shows("#week-h", "Monday 4 May 2026").await);
    assert!(b.text("#compliance-counts").await.contains("7 Short"));
    let compliance = rows(&b, "#compliance").await;
    assert_eq!(compliance.len(), 7);
    assert!(
        compliance.iter().any(|r| r.starts_with(
            "Member1 C. | C-0001 | Intensive outpatient (IOP) | 2 h 30 min | 9 h | Short"
        )),
        "{compliance:?}"
    );
    b.check_page("reports-compliance").await;

    b.client.goto(&t.url("/reports/outcomes")).await.unwrap();
    assert_eq!(
        rows(&b, "#outcomes-phq9").await,
        vec![
            "Monday process | Adult IOP | 6 | 2 | 17.0 | 9.0 | -8.0".to_owned(),
            "Wednesday skills | Adult IOP | 2 | 1 | 20.0 | 10.0 | -10.0".to_owned(),
        ]
    );
    assert_eq!(
        rows(&b, "#outcomes-gad7").await,
        vec![
            "Monday process | Adult IOP | 6 | 1 | 15.0 | 9.0 | -6.0".to_owned(),
            "Wednesday skills | Adult IOP | 2 | 1 | 15.0 | 9.0 | -6.0".to_owned(),
        ]
    );
    let bars = b
        .client
        .find_all(Locator::Css("#chart-phq9 rect.bar-latest"))
        .await
        .unwrap();
    assert_eq!(
        bars.len(),
        3,
        "the legend's swatch and one bar per measured group"
    );
    b.check_page("reports-outcomes").await;

    // The billing form: a backwards range is explained, then the download.
    b.client.goto(&t.url("/reports/billing")).await.unwrap();
    b.check_page("reports-billing").await;
    set_value(&b, "#from", "2026-05-31").await;
    set_value(&b, "#until", "2026-05-01").await;
    b.click("#billing-form button[type=submit]").await;
    assert!(
        b.text("[role=alert]")
            .await
            .contains("Until: must not be before from")
    );
    b.check_page("reports-billing-refused").await;
    set_value(&b, "#from", "2026-05-01").await;
    set_value(&b, "#until", "2026-05-31").await;
    // The form's own query string, fetched with the browser's session as the download is.
    let query: String = b
        .client
        .execute(
            "return new URLSearchParams(new FormData(document.getElementById('billing-form'))).toString();",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let action = b
        .client
        .find(Locator::Css("#billing-form"))
        .await
        .unwrap()
        .attr("action")
        .await
        .unwrap()
        .unwrap();
    let cookie = b
        .client
        .get_named_cookie("circle_session")
        .await
        .unwrap()
        .value()
        .to_owned();
    let r = t
        .http
        .get(t.url(&format!("{action}?{query}")))
        .header("cookie", format!("circle_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"circle-billing-2026-05-01-2026-05-31.csv\""
    );
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    assert_eq!(
        csv.split("\r\n").collect::<Vec<_>>(),
        vec![
            "\"line_type\",\"client_record_number\",\"service_date\",\"program\",\"group\",\"rendering_clinician\",\"rendering_license\",\"code\",\"minutes\",\"diagnosis_codes\",\"session_id\",\"rendering_npi\",\"place_of_service\",\"modifier\",\"billable\"".to_owned(),
            format!(
                "\"session\",\"C-0001\",\"2026-05-04\",\"Adult IOP\",\"Monday process\",\"Facilitator, Lead\",\"lmhc MA L-100\",\"90853\",\"90\",\"\",\"{}\",\"\",\"11\",\"\",\"yes\"",
                k.monday_sessions[0]
            ),
            String::new(),
        ],
        "every field quoted (RFC 4180), every line ended by CRLF"
    );
    b.close().await;
}

#[tokio::test]
async fn the_calendar_shows_a_program_a_clinician_and_a_room_in_the_right_week() {
    let t = spawn_app().await;
    known_clinic(&t).await;
    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("nav a[href='/calendar']").await;
    assert_eq!(b.wait_path("/calendar").await, "/calendar");
    // Today is Tuesday 12 May: this week's Monday session is held, Wednesday's to come.
    assert!(b.text("h1").await.contains("week of 11 May 2026"));
    assert!(b.text("#day-2026-05-11").await.contains("Monday process"));
    assert!(b.text("#day-2026-05-13").await.contains("Wednesday skills"));
    b.check_page("calendar-all").await;

    // The program, the week before: typed into the picker, as a person chooses it.
    b.fill("#show", "Adult IOP").await;
    set_value(&b, "#week", "2026-05-05").await;
    b.click("#calendar-form button[type=submit]").await;
    assert!(b.shows("h1", "week of 4 May 2026").await);
    let monday = b.text("#day-2026-05-04").await;
    assert!(
        monday.contains("10:00–11:30")
            && monday.contains("Monday process")
            && monday.contains("Room 3")
            && monday.contains("Held"),
        "{monday}"
    );
    let wednesday = b.text("#day-2026-05-06").await;
    assert!(
        wednesday.contains("18:00–19:00")
            && wednesday.contains("Wednesday skills")
            && wednesday.contains("Telehealth"),
        "{wednesday}"
    );
    assert!(b.text("#showing").await.contains("Adult IOP · 2 sessions"));
    b.check_page("calendar-program").await;

    // The other clinician: only Wednesday.
    b.fill("#show", "Other Skillsled").await;
    b.click("#calendar-form button[type=submit]").await;
    assert!(b.shows("#showing", "Other Skillsled · 1 session").await);
    assert!(b.text("#day-2026-05-06").await.contains("Wednesday skills"));
    assert!(b.text("#day-2026-05-04").await.contains("No sessions"));
    b.check_page("calendar-clinician").await;

    // The room, then the next week by its link.
    b.fill("#show", "Room 3 (Riverside)").await;
    b.click("#calendar-form button[type=submit]").await;
    assert!(b.shows("#showing", "Room 3 (Riverside) · 1 session").await);
    b.click("#next-week").await;
    assert!(b.shows("h1", "week of 11 May 2026").await);
    assert!(b.text("#day-2026-05-11").await.contains("Monday process"));
    assert!(b.text("#day-2026-05-13").await.contains("No sessions"));
    b.check_page("calendar-room").await;

    // Words that name nothing: a plain sentence by the field, what was typed kept.
    b.fill("#show", "Room 9").await;
    b.click("#calendar-form button[type=submit]").await;
    assert!(
        b.shows(
            "#show-error",
            "Choose a program, clinician or room from the list"
        )
        .await
    );
    assert_eq!(b.value("#show").await, "Room 9");
    assert!(b.try_text("#week-grid, .week-grid").await.is_none());
    b.check_page("calendar-unknown-choice").await;
    b.close().await;
}

#[tokio::test]
async fn a_clinician_sees_their_own_calendar_and_intake_no_clinical_figures() {
    let t = spawn_app().await;
    let k = known_clinic(&t).await;
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("nav a[href='/calendar']").await;
    assert_eq!(b.wait_path("/calendar").await, "/calendar");
    assert!(b.text("#showing").await.contains("My sessions · 1 session"));
    assert!(b.text("#day-2026-05-11").await.contains("Monday process"));
    assert!(b.text("#day-2026-05-13").await.contains("No sessions"));
    b.check_page("calendar-clinician-own").await;
    // Choosing the whole program still shows only their sessions.
    b.client
        .goto(&t.url(&format!("/calendar?show=program:{}", k.clinic.program)))
        .await
        .unwrap();
    assert!(b.text("#day-2026-05-13").await.contains("No sessions"));
    // The billing export is a director's.
    b.client.goto(&t.url("/reports/billing")).await.unwrap();
    assert_eq!(b.text("h1").await, "Not available");
    b.check_page("reports-billing-refused-clinician").await;
    // Their own groups' attendance only.
    b.client
        .goto(&t.url("/reports/attendance?from=2026-05-01&until=2026-05-31"))
        .await
        .unwrap();
    assert_eq!(
        rows(&b, "#attendance-rates").await,
        vec!["Monday process | Adult IOP | 2 | 7 | 1 | 1 | 1 | 2 | 75%".to_owned()]
    );
    b.check_page("reports-attendance-clinician").await;
    b.click("header form button").await;
    assert_eq!(b.wait_path("/sign-in").await, "/sign-in");

    // Intake holds no clinical data (and signs in with a second factor, as all staff do).
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/reports/outcomes")).await.unwrap();
    assert_eq!(b.text("h1").await, "Not available");
    b.check_page("reports-outcomes-refused-intake").await;
    b.client.goto(&t.url("/reports")).await.unwrap();
    let links = b.text("main ul").await;
    assert!(
        links.contains("Census") && !links.contains("Outcomes"),
        "{links}"
    );
    b.check_page("reports-index-intake").await;
    b.close().await;
}
