//! The reports and the calendar through the real server and their services, against a
//! clinic whose figures are known exactly (see `reports_fixture`): census, attendance
//! rates, outcomes, the billing download and the week calendar, and who is refused what.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

#[path = "reports_fixture/mod.rs"]
mod reports_fixture;

use circle_app::calendar::CalendarFilter;
use circle_app::figures::{GroupAttendance, ProgramCensus};
use circle_app::{Actor, AppError};
use circle_domain::DomainError;
use circle_domain::care::LevelOfCare;
use circle_domain::ids::{ClinicianId, GroupId, ProgramId, RoomId};
use circle_domain::user::Role;
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reports_fixture::{Known, known_clinic};
use reqwest::StatusCode;

async fn actor(t: &TestApp, email: &str) -> (String, Actor) {
    let token = t.login(email, TEST_PASSWORD).await.unwrap();
    let actor = t.app.authenticate(&token).await.unwrap();
    (token, actor)
}

/// A page as a signed-in person's browser gets it: (status, headers, body).
async fn page(
    t: &TestApp,
    token: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = t.page(token, path).await;
    (r.status, r.headers, r.body)
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, AppError>) {
    assert!(
        matches!(r, Err(AppError::Domain(DomainError::Forbidden))),
        "{r:?}"
    );
}

fn rates(group: i64, name: &str, held: u32, counts: [u32; 5]) -> GroupAttendance {
    let mut g = GroupAttendance::new(GroupId(group), name.to_owned(), "Adult IOP".to_owned());
    g.held_sessions = held;
    [
        g.present,
        g.late,
        g.left_early,
        g.absent_excused,
        g.absent_unexcused,
    ] = counts;
    g
}

async fn set_up() -> (TestApp, Known) {
    let t = spawn_app().await;
    let k = known_clinic(&t).await;
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;
    t.token_for("admin@example.test", Role::Admin, None, None)
        .await;
    (t, k)
}

#[tokio::test]
async fn the_census_counts_clients_memberships_and_open_seats_per_program_and_level() {
    let (t, k) = set_up().await;
    let (_, dir) = actor(&t, "director@example.test").await;
    let census = t.app.census(&dir).await.unwrap();
    assert_eq!(
        census.programs,
        vec![ProgramCensus {
            program_id: ProgramId(k.clinic.program),
            program: "Adult IOP".to_owned(),
            level_of_care: LevelOfCare::Iop,
            groups: 2,
            active_clients: 7,
            memberships: 8,
            seats: k.monday_max + k.wednesday_max,
            open_seats: k.monday_max - 6 + k.wednesday_max - 2,
        }]
    );
    assert_eq!(census.active_clients, 7);
    let levels: Vec<(LevelOfCare, u32)> = census.levels.clone();
    assert_eq!(
        levels,
        vec![
            (LevelOfCare::Residential, 0),
            (LevelOfCare::Php, 0),
            (LevelOfCare::Iop, 7),
            (LevelOfCare::Outpatient, 0)
        ]
    );

    // Intake fills seats and sees the census; clinicians and admins are refused.
    let (intake_token, intake) = actor(&t, "intake@example.test").await;
    assert_eq!(t.app.census(&intake).await.unwrap(), census);
    let (_, lead) = actor(&t, "lead@example.test").await;
    forbidden(t.app.census(&lead).await);
    let (_, admin) = actor(&t, "admin@example.test").await;
    forbidden(t.app.census(&admin).await);

    // The page shows the same numbers.
    let (s, _, html) = page(&t, &intake_token, "/reports/census").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(r#"<td class="num">7</td><td class="num">8</td>"#),
        "{html}"
    );

    // Each read is audited naming the clients counted; the refusals too.
    let admin_token = t.login("admin@example.test", TEST_PASSWORD).await.unwrap();
    let (_, audit) = t
        .get(&admin_token, "/api/v1/audit?action=report.census&limit=50")
        .await;
    let entries = audit.as_array().unwrap();
    let ok: Vec<_> = entries
        .iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    let denied = entries.iter().filter(|e| e["outcome"] == "denied").count();
    assert_eq!((ok.len(), denied), (3, 2), "{audit}");
    assert_eq!(ok[0]["client_ids"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn attendance_rates_count_held_sessions_per_group_in_the_range() {
    let (t, k) = set_up().await;
    let (dir_token, dir) = actor(&t, "director@example.test").await;
    let may = |d: u8| jiff::civil::date(2026, 5, d.try_into().unwrap());
    let all = t.app.attendance_rates(&dir, may(1), may(31)).await.unwrap();
    assert_eq!(
        all,
        vec![
            rates(k.clinic.group, "Monday process", 2, [7, 1, 1, 1, 2]),
            rates(k.wednesday, "Wednesday skills", 1, [1, 0, 0, 1, 0]),
        ]
    );
    assert_eq!(
        all.iter()
            .map(GroupAttendance::rate_percent)
            .collect::<Vec<_>>(),
        vec![Some(75), Some(50)]
    );
    // From 5 May: the 4 May session falls outside.
    let later = t.app.attendance_rates(&dir, may(5), may(31)).await.unwrap();
    assert_eq!(
        later[0],
        rates(k.clinic.group, "Monday process", 1, [5, 0, 0, 0, 1])
    );

    // A clinician sees the groups they lead; intake is refused; a backwards range is invalid.
    let (lead_token, lead) = actor(&t, "lead@example.test").await;
    let theirs = t
        .app
        .attendance_rates(&lead, may(1), may(31))
        .await
        .unwrap();
    assert_eq!(theirs, all[..1].to_vec());
    let (_, other) = actor(&t, "other@example.test").await;
    let theirs = t
        .app
        .attendance_rates(&other, may(1), may(31))
        .await
        .unwrap();
    assert_eq!(theirs, all[1..].to_vec());
    let (intake_token, intake) = actor(&t, "intake@example.test").await;
    forbidden(t.app.attendance_rates(&intake, may(1), may(31)).await);
    assert!(matches!(
        t.app.attendance_rates(&dir, may(31), may(1)).await,
        Err(AppError::Domain(DomainError::Invalid(_)))
    ));

    // The page: the figures, a 422 naming the field for bad input, 403 for intake.
    let (s, headers, html) = page(
        &t,
        &dir_token,
        "/reports/attendance?from=2026-05-01&until=2026-05-31",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains(r#"<td class="num">75%</td>"#), "{html}");
    assert!(html.contains(r#"<td class="num">50%</td>"#), "{html}");
    let (s, _, html) = page(
        &t,
        &lead_token,
        "/reports/attendance?from=2026-05-01&until=2026-05-31",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Monday process") && !html.contains("Wednesday skills"));
    let (s, _, html) = page(
        &t,
        &dir_token,
        "/reports/attendance?from=2026-05-31&until=2026-05-01",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"role="alert">Until: must not be before from"#),
        "{html}"
    );
    let (s, _, html) = page(&t, &dir_token, "/reports/attendance?from=someday").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The sentence names the field by its label and says what to write.
    assert!(
        html.contains(r#"role="alert">From: write a date, such as 2026-05-04."#),
        "{html}"
    );
    let (s, _, _) = page(&t, &intake_token, "/reports/attendance").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = page(&t, &intake_token, "/reports/attendance?from=someday").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn outcomes_average_first_and_latest_scores_of_members_measured_twice() {
    let (t, k) = set_up().await;
    let (dir_token, dir) = actor(&t, "director@example.test").await;
    let groups = t.app.outcomes(&dir).await.unwrap();
    type Means = (String, u32, Option<f64>, Option<f64>);
    let summary: Vec<(i64, u32, Vec<Means>)> = groups
        .iter()
        .map(|g| {
            (
                g.group_id.0,
                g.members,
                g.instruments
                    .iter()
                    .map(|i| {
                        (
                            i.instrument.clone(),
                            i.measured,
                            i.mean_first,
                            i.mean_latest,
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                k.clinic.group,
                6,
                vec![
                    ("phq9".to_owned(), 2, Some(17.0), Some(9.0)),
                    ("gad7".to_owned(), 1, Some(15.0), Some(9.0)),
                ]
            ),
            (
                k.wednesday,
                2,
                vec![
                    ("phq9".to_owned(), 1, Some(20.0), Some(10.0)),
                    ("gad7".to_owned(), 1, Some(15.0), Some(9.0)),
                ]
            ),
        ]
    );
    let (_, lead) = actor(&t, "lead@example.test").await;
    let theirs = t.app.outcomes(&lead).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].group_id, GroupId(k.clinic.group));
    let (_, intake) = actor(&t, "intake@example.test").await;
    forbidden(t.app.outcomes(&intake).await);

    // The page: an accessible chart and the same numbers in a table.
    let (s, _, html) = page(&t, &dir_token, "/reports/outcomes").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"role="img" aria-labelledby="phq9-title phq9-desc""#));
    assert!(
        html.contains("Monday process: first 17.0, latest 9.0 (2 measured)"),
        "{html}"
    );
    assert!(html.contains(r#"<td class="num">-8.0</td>"#), "{html}");

    // Audited with every member whose scores were read.
    let admin = t.login("admin@example.test", TEST_PASSWORD).await.unwrap();
    let (_, audit) = t
        .get(
            &admin,
            "/api/v1/audit?action=report.outcomes&outcome=success",
        )
        .await;
    let first = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor_role"] == "director")
        .unwrap();
    assert_eq!(first["client_ids"].as_array().unwrap().len(), 7, "{audit}");
}

#[tokio::test]
async fn the_billing_download_is_the_apis_csv_as_an_attachment_for_directors_only() {
    let (t, k) = set_up().await;
    let (dir_token, _) = actor(&t, "director@example.test").await;
    let (s, headers, csv) = page(
        &t,
        &dir_token,
        "/reports/billing/export?from=2026-05-01&until=2026-05-31&program=",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"circle-billing-2026-05-01-2026-05-31.csv\""
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "\"line_type\",\"client_record_number\",\"service_date\",\"program\",\"group\",\"rendering_clinician\",\"rendering_license\",\"code\",\"minutes\",\"diagnosis_codes\",\"session_id\",\"rendering_npi\",\"place_of_service\",\"modifier\",\"billable\"",
            &format!(
                "\"session\",\"C-0001\",\"2026-05-04\",\"Adult IOP\",\"Monday process\",\"Facilitator, Lead\",\"lmhc MA L-100\",\"90853\",\"90\",\"\",\"{}\",\"\",\"11\",\"\",\"yes\"",
                k.monday_sessions[0]
            ),
        ]
    );
    // Byte for byte what the API gives.
    let api = t
        .http
        .get(t.url("/api/v1/billing/export?from=2026-05-01&until=2026-05-31"))
        .bearer_auth(&dir_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(api, csv);

    // A program that does not exist is not found (the gate answers for every program id).
    let (s, _, _) = page(
        &t,
        &dir_token,
        &format!(
            "/reports/billing/export?from=2026-05-01&until=2026-05-31&program={}",
            k.clinic.program + 100
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A backwards range is explained on the form; nothing is exported.
    let (s, headers, html) = page(
        &t,
        &dir_token,
        "/reports/billing/export?from=2026-05-31&until=2026-05-01",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(headers.get("content-disposition").is_none());
    assert!(
        html.contains(r#"role="alert">Until: must not be before from"#),
        "{html}"
    );

    // A program that is not one listed, and a date that is not one: each sentence names
    // its field by the form's label, not by its code.
    let (s, headers, html) = page(
        &t,
        &dir_token,
        "/reports/billing/export?from=soon&until=2026-05-31&program=adult",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(headers.get("content-disposition").is_none());
    assert!(
        html.contains(r#"role="alert">Program: choose one of the programs listed."#)
            && html.contains(r#"role="alert">Service dates from: write a date"#)
            && !html.contains("program: must"),
        "{html}"
    );

    // The form offers the 837P claim file too; this clinic has no NPI, EIN or address
    // configured, so the download is refused on the form, naming the settings.
    let (s, _, html) = page(&t, &dir_token, "/reports/billing").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(r#"formaction="/reports/billing/837p""#),
        "{html}"
    );
    let (s, headers, html) = page(
        &t,
        &dir_token,
        "/reports/billing/837p?from=2026-05-01&until=2026-05-31&program=",
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(headers.get("content-disposition").is_none());
    assert!(
        html.contains("must be set in the settings to write claims"),
        "{html}"
    );

    // Clinicians and intake are refused the form and the downloads.
    for who in ["lead@example.test", "intake@example.test"] {
        let (token, _) = actor(&t, who).await;
        for path in [
            "/reports/billing",
            "/reports/billing/export?from=2026-05-01&until=2026-05-31",
            "/reports/billing/837p?from=2026-05-01&until=2026-05-31",
        ] {
            let (s, h, _) = page(&t, &token, path).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{who} {path}");
            assert!(h.get("content-disposition").is_none());
        }
    }

    // The page download is audited exactly as the API's: one entry each, naming C-0001.
    let admin = t.login("admin@example.test", TEST_PASSWORD).await.unwrap();
    let (_, audit) = t.get(&admin, "/api/v1/audit?action=billing.export").await;
    let entries = audit.as_array().unwrap();
    let ok: Vec<_> = entries
        .iter()
        .filter(|e| e["outcome"] == "success")
        .collect();
    assert_eq!(ok.len(), 2, "page and API (no other program: 404): {audit}");
    assert!(
        ok.iter()
            .any(|e| e["client_ids"] == serde_json::json!([k.clients[0]]))
    );
}

#[tokio::test]
async fn the_calendar_shows_a_week_per_program_clinician_and_room_and_only_what_the_role_may_see() {
    let (t, k) = set_up().await;
    let (dir_token, dir) = actor(&t, "director@example.test").await;
    let monday = jiff::civil::date(2026, 5, 4);
    let sessions_of = |w: &circle_app::calendar::CalendarWeek| -> Vec<(String, String)> {
        w.days
            .iter()
            .flat_map(|(d, items)| {
                items
                    .iter()
                    .map(move |i| (d.to_string(), i.group_name.clone()))
            })
            .collect()
    };
    let week = t
        .app
        .calendar_week(
            &dir,
            jiff::civil::date(2026, 5, 7),
            CalendarFilter::Program(ProgramId(k.clinic.program)),
        )
        .await
        .unwrap();
    assert_eq!(week.monday, monday);
    assert_eq!(week.days.len(), 7);
    assert_eq!(
        sessions_of(&week),
        vec![
            ("2026-05-04".to_owned(), "Monday process".to_owned()),
            ("2026-05-06".to_owned(), "Wednesday skills".to_owned())
        ]
    );
    let room = t
        .app
        .calendar_week(&dir, monday, CalendarFilter::Room(RoomId(k.clinic.room)))
        .await
        .unwrap();
    assert_eq!(
        sessions_of(&room),
        vec![("2026-05-04".to_owned(), "Monday process".to_owned())]
    );
    let other = t
        .app
        .calendar_week(
            &dir,
            monday,
            CalendarFilter::Clinician(ClinicianId(k.other)),
        )
        .await
        .unwrap();
    assert_eq!(
        sessions_of(&other),
        vec![("2026-05-06".to_owned(), "Wednesday skills".to_owned())]
    );

    // A clinician sees only their own sessions, whatever the view.
    let (lead_token, lead) = actor(&t, "lead@example.test").await;
    let theirs = t
        .app
        .calendar_week(
            &lead,
            monday,
            CalendarFilter::Program(ProgramId(k.clinic.program)),
        )
        .await
        .unwrap();
    assert_eq!(
        sessions_of(&theirs),
        vec![("2026-05-04".to_owned(), "Monday process".to_owned())]
    );
    let none = t
        .app
        .calendar_week(
            &lead,
            monday,
            CalendarFilter::Clinician(ClinicianId(k.other)),
        )
        .await
        .unwrap();
    assert!(sessions_of(&none).is_empty());
    let (_, admin) = actor(&t, "admin@example.test").await;
    forbidden(
        t.app
            .calendar_week(&admin, monday, CalendarFilter::All)
            .await,
    );

    // Pages: a clinician's default is their own week; times in New York; bad views are 422.
    let (s, _, html) = page(&t, &lead_token, "/calendar").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("week of 11 May 2026"),
        "today is 12 May: {html}"
    );
    assert!(html.contains("10:00–11:30") && html.contains("Monday process"));
    assert!(!html.contains("Wednesday skills</a>"));
    let (s, _, html) = page(
        &t,
        &dir_token,
        &format!(
            "/calendar?show=program:{}&week=2026-05-04",
            k.clinic.program
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Wednesday skills")
            && html.contains("18:00–19:00")
            && html.contains("Telehealth")
    );
    assert!(
        html.contains("week=2026-04-27") && html.contains("week=2026-05-11"),
        "previous and next weeks"
    );
    let (s, _, html) = page(&t, &dir_token, "/calendar?show=group:1").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(r#"id="show-error" role="alert">Choose a program, clinician or room"#),
        "{html}"
    );
    let (s, _, _) = page(&t, &dir_token, "/calendar?week=May").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let admin_token = t.login("admin@example.test", TEST_PASSWORD).await.unwrap();
    let (s, _, _) = page(&t, &admin_token, "/calendar").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn each_role_sees_only_its_reports_and_compliance_names_the_caseload() {
    let (t, k) = set_up().await;
    let (dir_token, _) = actor(&t, "director@example.test").await;
    let (s, _, html) = page(&t, &dir_token, "/reports").await;
    assert_eq!(s, StatusCode::OK);
    for path in ["census", "attendance", "compliance", "outcomes", "billing"] {
        assert!(
            html.contains(&format!("href=\"/reports/{path}\"")),
            "{path}"
        );
    }
    let (lead_token, _) = actor(&t, "lead@example.test").await;
    let (s, _, html) = page(&t, &lead_token, "/reports").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("/reports/billing") && !html.contains("/reports/census"));
    let (intake_token, _) = actor(&t, "intake@example.test").await;
    for (path, want) in [
        ("/reports", StatusCode::OK),
        ("/reports/census", StatusCode::OK),
        ("/reports/compliance", StatusCode::FORBIDDEN),
        ("/reports/outcomes", StatusCode::FORBIDDEN),
    ] {
        assert_eq!(page(&t, &intake_token, path).await.0, want, "intake {path}");
    }
    let admin_token = t.login("admin@example.test", TEST_PASSWORD).await.unwrap();
    assert_eq!(
        page(&t, &admin_token, "/reports").await.0,
        StatusCode::FORBIDDEN
    );

    // Compliance for the week of 4 May (over): everyone short; C-0001 attended 2 h 30 min.
    let (s, _, html) = page(&t, &dir_token, "/reports/compliance?week=2026-05-06").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("<strong>7</strong> Short"), "{html}");
    assert!(
        html.contains(
            r#"<td>C-0001</td><td>Intensive outpatient (IOP)</td>
    <td class="num">2 h 30 min</td><td class="num">9 h</td>"#
        ),
        "{html}"
    );
    // The lead's caseload is the six Monday members.
    let (_, _, html) = page(&t, &lead_token, "/reports/compliance?week=2026-05-06").await;
    assert!(html.contains("<strong>6</strong> Short"), "{html}");
    assert!(!html.contains("C-0007"));
    let _ = k;
}

#[tokio::test]
async fn a_group_name_with_markup_is_shown_escaped_on_the_calendar_and_in_the_charts() {
    let (t, k) = set_up().await;
    let (dir_token, _) = actor(&t, "director@example.test").await;
    let evil = r#"<img src=x onerror=alert(1)> "quoted" & <script>alert(2)</script>"#;
    let (s, g) = t
        .post(
            &dir_token,
            "/api/v1/groups",
            serde_json::json!({"program_id": k.clinic.program, "name": evil, "kind": "process",
                "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": "thursday", "start": "12:00", "minutes": 60}],
                "lead_facilitator_id": k.clinic.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    for path in ["/calendar", "/reports/outcomes"] {
        let (s, _, html) = page(&t, &dir_token, path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(
            !html.contains("<img src=x") && !html.contains("<script>"),
            "{path}: {html}"
        );
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{path}: {html}"
        );
    }
}
