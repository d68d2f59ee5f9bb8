//! The client list, chart and admin pages over HTTP, on the database `TEST_DATABASE_URL`
//! names (SQLite when unset): who is refused what, the emergency-access chart, the
//! search's literal wildcards, and an admin form without its CSRF token changing nothing.
//! A page session's cookie carries the same sign-in token as the API's bearer token.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClientId;
use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// GETs a page as the holder of `token`: its status and body.
async fn page(t: &TestApp, token: &str, path: &str) -> (StatusCode, String) {
    let r = t.page(token, path).await;
    (r.status, r.body)
}

/// POSTs a form as the holder of `token`.
async fn form(t: &TestApp, token: &str, path: &str, fields: &[(&str, &str)]) -> StatusCode {
    t.page_form(token, path, fields).await.status
}

/// A clinic of `members` members and a signed-in token for its lead facilitator.
async fn clinic_and_lead(t: &TestApp, members: usize) -> (Clinic, String) {
    let clinic = t
        .clinic(ClinicSpec {
            members,
            ..ClinicSpec::default()
        })
        .await;
    let lead = t
        .login(&clinic.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    (clinic, lead)
}

async fn audit(t: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let (s, v) = t.get(admin, &format!("/api/v1/audit?{query}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

/// The id of the account with `email`, as the administrator's API lists it.
async fn user_id(t: &TestApp, admin: &str, email: &str) -> Value {
    let (_, users) = t.get(admin, "/api/v1/users").await;
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap()["id"]
        .clone()
}

#[tokio::test]
async fn a_client_account_is_refused_the_list_and_every_chart_including_their_own() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let me = clinic.members[0];
    let token = t
        .token_for(
            "member@example.test",
            Role::Client,
            None,
            Some(ClientId(me)),
        )
        .await;
    let (s, _) = page(&t, &token, "/clients").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for id in [me, clinic.members[1]] {
        let (s, body) = page(&t, &token, &format!("/clients/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{id}");
        assert!(!body.contains("Clinictest"), "nothing of the client shows");
    }
}

#[tokio::test]
async fn an_admin_opens_a_chart_only_under_emergency_access_and_every_read_is_flagged() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let member = clinic.members[0];
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, body) = page(&t, &admin, &format!("/clients/{member}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(!body.contains("Clinictest"));

    let me = user_id(&t, &admin, "admin@example.test").await;
    // The grant comes from someone else: a clinic-wide director.
    let (s, _) = t
        .send(
            reqwest::Method::PUT,
            &clinic.director,
            &format!("/api/v1/users/{me}/emergency-grant"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, access) = t
        .post(
            &admin,
            &format!("/api/v1/clients/{member}/emergency-access"),
            json!({"reason": "Client in crisis at the front desk; clinician unreachable"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{access}");

    let (s, body) = page(&t, &admin, &format!("/clients/{member}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("under emergency access"));
    assert!(
        body.contains("id=\"measures\""),
        "the whole chart, clinical part included"
    );
    assert!(
        !body.contains("id=\"alerts\""),
        "but no safety alerts for an administrator"
    );
    let flagged: Vec<Value> = audit(&t, &admin, &format!("client_id={member}"))
        .await
        .into_iter()
        .filter(|e| e["emergency_access_id"] == access["id"] && e["action"] != "emergency.open")
        .collect();
    // Nine kinds of data less the safety alerts, which administrators never see.
    assert_eq!(
        flagged.len(),
        8,
        "every read of the chart is flagged: {flagged:?}"
    );
    assert!(flagged.iter().all(|e| e["action"] != "alert.list"));

    // The review page lists the access; an administrator sees the facts, not the reason.
    let (s, body) = page(&t, &admin, "/admin/emergency-access").await;
    assert_eq!(s, StatusCode::OK);
    // Who opened which chart, by name and record number (issue 14: raw ids), linked to
    // the audit report filtered by that record number.
    assert!(body.contains("/admin/audit?client=C-0001"), "{body}");
    assert!(
        body.contains("admin@example.test (Administrator)"),
        "{body}"
    );
    assert!(!body.contains(&format!("client={member}\"")), "{body}");
    assert!(!body.contains("front desk"));
    let director = t
        .login("director@example.test", circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let (s, body) = page(&t, &director, "/admin/emergency-access").await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("front desk"), "directors review the reason");
}

#[tokio::test]
async fn directors_review_the_audit_but_not_accounts_and_clinicians_neither() {
    let t = spawn_app().await;
    let (clinic, lead) = clinic_and_lead(&t, 1).await;
    for (token, path, want) in [
        (&clinic.director, "/admin", StatusCode::FORBIDDEN),
        (&clinic.director, "/admin/audit", StatusCode::OK),
        (&lead, "/admin", StatusCode::FORBIDDEN),
        (&lead, "/admin/audit", StatusCode::FORBIDDEN),
        (&lead, "/admin/emergency-access", StatusCode::FORBIDDEN),
    ] {
        let (s, _) = page(&t, token, path).await;
        assert_eq!(s, want, "{path}");
    }
}

/// Issue 14: every report table downloads as CSV and prints without the page's controls.
#[tokio::test]
async fn the_audit_report_downloads_its_table_as_csv_and_prints_without_its_filters() {
    let t = spawn_app().await;
    let (clinic, _) = clinic_and_lead(&t, 1).await;
    let member = clinic.members[0];
    // The chart read leaves entries naming the member.
    let (s, _) = page(&t, &clinic.director, &format!("/clients/{member}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = page(&t, &clinic.director, "/admin/audit?client=C-0001").await;
    assert_eq!(s, StatusCode::OK);
    let link = "href=\"/admin/audit?client=C-0001&#38;format=csv\" download";
    assert!(body.contains(link), "{body}");

    let r = t
        .page(&clinic.director, "/admin/audit?client=C-0001&format=csv")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let header = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/csv"));
    assert!(header("content-disposition").contains("audit.csv"));
    assert_eq!(header("cache-control"), "no-store");
    let mut lines = r.body.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        lines.next(),
        Some("#,When,Who,Action,Client records,Object,Outcome,Emergency access")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty(), "{}", r.body);
    // The same words as the page: actions and outcomes in words, the member's record.
    assert!(rows.iter().all(|l| l.contains("C-0001")), "{rows:?}");
    assert!(!r.body.contains("client.read"), "{}", r.body);

    // An administrator's filter that names nobody, and a date that is not one: each is
    // explained by its field's label in words.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (s, body) = page(&t, &admin, "/admin/audit?actor=Nobody+Here&from=soon").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Who: choose a person from the list")
            && body.contains("From: write a date, such as 2026-05-04.")
            && !body.contains("must be a whole number"),
        "{body}"
    );

    // The client filter takes the record number the table shows, in any case; the internal
    // id (which no page shows), an unknown record number or one that cannot be one is
    // explained by the field's label, not ignored.
    let (s, body) = page(&t, &admin, "/admin/audit?client=c-0001").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let named: Vec<&str> = body
        .split("<td class=\"clients\">")
        .skip(1)
        .filter_map(|rest| rest.split("</td>").next())
        .collect();
    assert!(!named.is_empty(), "{body}");
    assert!(named.iter().all(|c| c.contains("C-0001")), "{named:?}");
    for (typed, says) in [
        (
            member.to_string(),
            "Client record number: no client has this record number.",
        ),
        (
            "Z-9999".to_owned(),
            "Client record number: no client has this record number.",
        ),
        (
            "C+0001".to_owned(),
            "Client record number: write it as the table shows it",
        ),
    ] {
        let (s, body) = page(&t, &admin, &format!("/admin/audit?client={typed}")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{typed}");
        assert!(body.contains(says), "{typed}: {body}");
        assert!(body.contains("id=\"no-entries\""), "{typed}: nothing shown");
    }

    // Printed, the report is its table: the filters and the admin links are not printed.
    let css = t
        .http
        .get(t.url("/static/circle.css"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let print = css
        .split("@media print")
        .find(|block| block.contains("form.admin-filters"))
        .unwrap_or_else(|| panic!("a print rule hides the audit filters"));
    assert!(
        print.contains("nav.admin-nav") && print.contains("a.download"),
        "{print}"
    );
}

/// Issue 14: the audit report said "user 1 (Director)" and "clients 21, 22". Every account
/// is named, whoever reviews (a director too); each client is shown as the reviewer may
/// read them — a clinic-wide director by name and record number, an administrator by the
/// record number only (DESIGN.md: no client content for administrators) — on the page and
/// in its CSV, and reading those clients for the report is itself audited.
#[tokio::test]
async fn the_audit_report_names_every_account_and_shows_clients_as_the_reviewer_may_read_them() {
    let t = spawn_app().await;
    let (clinic, _) = clinic_and_lead(&t, 1).await;
    let member = clinic.members[0];
    let (s, _) = page(&t, &clinic.director, &format!("/clients/{member}")).await;
    assert_eq!(s, StatusCode::OK);
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let cells = |body: &str, class: &str| -> Vec<String> {
        body.split(&format!("<td class=\"{class}\">"))
            .skip(1)
            .filter_map(|rest| rest.split("</td>").next())
            .map(str::to_owned)
            .collect()
    };
    // The reviewers' own reads of the report name the member too.
    let by_name = |who: &str| {
        ["director@example.test (", "admin@example.test ("]
            .iter()
            .any(|p| who.starts_with(p))
            && !who.contains("user ")
    };
    let query = "/admin/audit?client=C-0001".to_owned();
    for (reviewer, token, named) in [
        ("director", &clinic.director, true),
        ("admin", &admin, false),
    ] {
        let (s, body) = page(&t, token, &query).await;
        assert_eq!(s, StatusCode::OK, "{reviewer}");
        let whos = cells(&body, "who");
        assert!(!whos.is_empty(), "{reviewer}: {body}");
        assert!(
            whos.iter()
                .any(|w| w.starts_with("director@example.test (Director)")),
            "{reviewer}: {whos:?}"
        );
        assert!(
            whos.iter().all(|w| by_name(w)),
            "{reviewer}: every account by name: {whos:?}"
        );
        let clients = cells(&body, "clients");
        assert!(!clients.is_empty(), "{reviewer}: {body}");
        for c in &clients {
            assert!(c.contains("C-0001"), "{reviewer}: the record number: {c}");
            assert_eq!(
                c.contains("Member1 Clinictest"),
                named,
                "{reviewer}: the name only for a director: {c}"
            );
            assert!(
                !c.split([' ', ',', '(', ')'])
                    .any(|w| w == member.to_string()),
                "{reviewer}: no raw id: {c}"
            );
        }

        let r = t.page(token, &format!("{query}&format=csv")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let rows: Vec<&str> = r
            .body
            .split("\r\n")
            .skip(1)
            .filter(|l| !l.is_empty())
            .collect();
        assert!(!rows.is_empty());
        for row in &rows {
            assert!(
                row.split(',').any(by_name) && !row.contains("user ") && row.contains("C-0001"),
                "{reviewer}: {row}"
            );
            assert_eq!(
                row.contains("Member1 Clinictest"),
                named,
                "{reviewer}: {row}"
            );
        }
    }

    // The administrator's reading of the member's record number is on the trail.
    let admin_id = user_id(&t, &admin, "admin@example.test").await;
    let reads: Vec<Value> = audit(&t, &admin, &format!("client_id={member}"))
        .await
        .into_iter()
        .filter(|e| e["actor_user_id"] == admin_id && e["action"] == "client.list")
        .collect();
    assert!(
        !reads.is_empty(),
        "the report's client read is audited like the rest"
    );
}

#[tokio::test]
async fn an_admin_form_without_the_sessions_csrf_token_changes_nothing() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let (_, users) = t.get(&admin, "/api/v1/users").await;
    let lead = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == clinic.lead_email.as_str())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let wrong = circle_app::web_session::csrf_token("another session");
    for path in ["disable", "mfa-reset"] {
        let s = form(
            &t,
            &admin,
            &format!("/admin/users/{lead}/{path}"),
            &[("csrf", &wrong)],
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (_, users) = t.get(&admin, "/api/v1/users").await;
    let after = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == lead)
        .unwrap()
        .clone();
    assert_eq!(after["disabled"], false);
    assert_eq!(after["mfa_enrolled"], true);

    // With the session's token the same form works.
    let right = circle_app::web_session::csrf_token(&admin);
    let s = form(
        &t,
        &admin,
        &format!("/admin/users/{lead}/disable"),
        &[("csrf", &right)],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let n = audit(&t, &admin, "action=user.disable").await.len();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn the_client_search_matches_names_and_records_case_insensitively_and_wildcards_literally() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let rows = |body: &str| body.matches("<tr>").count().saturating_sub(1);
    for (q, want) in [
        ("", 3),
        ("member2", 1),
        ("MEMBER2 clinictest", 1),
        ("c-000", 3),
        ("%", 0),
        ("_", 0),
        ("nobody", 0),
    ] {
        let path = format!("/clients?q={}", q.replace('%', "%25").replace(' ', "+"));
        let (s, body) = page(&t, &clinic.director, &path).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert_eq!(rows(&body), want, "{q:?}");
    }
    let long = "x".repeat(101);
    let (s, body) = page(&t, &clinic.director, &format!("/clients?q={long}")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Search: must be at most 100 characters"));
}

/// Today names each client once per view, however many rows name them: two open alerts
/// for one client are two rows and one audited read naming that client (the page reads
/// every client it names in one `client.list`).
#[tokio::test]
async fn today_reads_each_client_it_names_once() {
    let t = spawn_app().await;
    let (clinic, lead) = clinic_and_lead(&t, 2).await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let c = clinic.members[0];
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9))))
        .collect();
    for _ in 0..2 {
        let (s, body) = t
            .post(
                &lead,
                &format!("/api/v1/clients/{c}/measures"),
                json!({"instrument": "phq9", "answers": answers}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let reads_of_c = |entries: &[Value]| {
        entries
            .iter()
            .filter(|e| {
                (e["action"] == "client.read" || e["action"] == "client.list")
                    && e["client_ids"]
                        .as_array()
                        .is_some_and(|ids| ids.contains(&json!(c)))
            })
            .count()
    };
    let reads = async || {
        let mut all = audit(&t, &admin, "action=client.read&limit=200").await;
        all.extend(audit(&t, &admin, "action=client.list&limit=200").await);
        all
    };
    let before = reads_of_c(&reads().await);
    let (s, body) = page(&t, &clinic.director, "/today").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        body.matches("item 9 with 1").count(),
        2,
        "two alert rows: {body}"
    );
    let after = reads_of_c(&reads().await);
    assert_eq!(
        after - before,
        1,
        "one read of the client for the whole page"
    );
}

/// Resetting a second factor asks the administrator to confirm they checked who is asking:
/// without the tick the page answers 422 naming the box and the factor stays enrolled.
#[tokio::test]
async fn resetting_a_second_factor_without_the_confirmation_changes_nothing() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let lead = |users: serde_json::Value| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == clinic.lead_email.as_str())
            .unwrap()
            .clone()
    };
    let (_, users) = t.get(&admin, "/api/v1/users").await;
    let id = lead(users)["id"].as_i64().unwrap();
    let csrf = circle_app::web_session::csrf_token(&admin);
    let path = format!("/admin/users/{id}/mfa-reset");
    let r = t.page_form(&admin, &path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Confirm: tick the box"), "{}", r.body);
    let (_, users) = t.get(&admin, "/api/v1/users").await;
    assert_eq!(lead(users)["mfa_enrolled"], true);
    let r = t
        .page_form(&admin, &path, &[("csrf", &csrf), ("confirm", "yes")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, users) = t.get(&admin, "/api/v1/users").await;
    assert_eq!(lead(users)["mfa_enrolled"], false);
}
