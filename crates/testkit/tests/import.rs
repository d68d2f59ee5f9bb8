//! Onboarding by import (issue 15), through the service `circle import` and the admin
//! page call: a dry run lists every problem by file, row and column and writes nothing; a
//! refused row anywhere leaves the database as it was; a second run of the same files
//! changes nothing and says so; the domain's rules refuse a group above 12, a lead
//! without an active licence and a separation inside one group, each with its row; the
//! page imports for an administrator and is refused to every other role. On SQLite, or
//! on PostgreSQL with `TEST_DATABASE_URL`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_app::Actor;
use circle_app::import::ImportOutcome;
use circle_domain::user::Role;
use circle_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;

/// A small clinic whose files pass every rule (today is 2026-05-04 in the test clock).
fn clinic() -> Vec<(&'static str, String)> {
    vec![
        (
            "clinicians.csv",
            "external_id,given_name,family_name,email,modalities\r\n\
             C1,Ana,Lead,ana@example.org,cbt; dbt\r\n\
             C2,Ben,Trainee,ben@example.org,\r\n\
             C3,Cy,Lapsed,cy@example.org,\r\n"
                .to_owned(),
        ),
        (
            "licenses.csv",
            "clinician,kind,number,state,issued_on,expires_on\r\n\
             C1,lcsw,LCSW-1,MA,2020-01-01,2028-01-01\r\n\
             C3,lcsw,LCSW-3,MA,2010-01-01,2025-01-01\r\n"
                .to_owned(),
        ),
        (
            "rooms.csv",
            "external_id,site,name,capacity\r\nR1,Main,Room 1,14\r\n".to_owned(),
        ),
        (
            "programs.csv",
            "external_id,name,site,level_of_care,time_zone\r\n\
             P1,Evening IOP,Main,iop,America/New_York\r\n"
                .to_owned(),
        ),
        (
            "groups.csv",
            "external_id,program,name,kind,eligible_levels,enrollment,meetings,lead_facilitator,room,co_facilitator,max_size\r\n\
             G1,P1,Evening process,process,iop,open,tuesday 18:00 90; thursday 18:00 90,C1,R1,C2,12\r\n"
                .to_owned(),
        ),
        (
            "clients.csv",
            "external_id,record_number,given_name,family_name,date_of_birth,referral_source,availability,concerns\r\n\
             K1,R-1,Kim,One,1990-01-01,self_referral,tuesday 17:00-21:00; thursday 17:00-21:00,depression\r\n\
             K2,R-2,Lee,Two,1985-02-02,program_admission,,anxiety_panic\r\n"
                .to_owned(),
        ),
        (
            "episodes.csv",
            "client,level_of_care,program,started_on,ended_on\r\n\
             K1,php,,2026-03-01,2026-04-01\r\n\
             K1,iop,P1,2026-04-01,\r\n\
             K2,iop,P1,2026-04-01,\r\n"
                .to_owned(),
        ),
        (
            "separations.csv",
            "client,other_client\r\nK1,K2\r\n".to_owned(),
        ),
        (
            "memberships.csv",
            "external_id,group,client,start_date,end_date,status\r\n\
             M1,G1,K1,2026-04-07,,active\r\n"
                .to_owned(),
        ),
    ]
}

fn with(
    mut files: Vec<(&'static str, String)>,
    file: &str,
    extra_rows: &str,
) -> Vec<(&'static str, String)> {
    for (name, text) in &mut files {
        if *name == file {
            text.push_str(extra_rows);
        }
    }
    files
}

fn bytes(files: &[(&'static str, String)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(n, t)| ((*n).to_owned(), t.as_bytes().to_vec()))
        .collect()
}

async fn admin(t: &TestApp) -> (String, Actor) {
    let token = t
        .token_for("admin@import.test", Role::Admin, None, None)
        .await;
    let actor = t.app.authenticate(&token).await.unwrap();
    (token, actor)
}

async fn import(
    t: &TestApp,
    actor: &Actor,
    files: &[(&'static str, String)],
    dry_run: bool,
) -> ImportOutcome {
    t.app
        .import_clinic(actor, &bytes(files), dry_run)
        .await
        .unwrap()
}

/// Rows per exported file (the header not counted).
async fn rows(t: &TestApp, actor: &Actor) -> Vec<(&'static str, usize)> {
    t.app
        .export_clinic_csv(actor)
        .await
        .unwrap()
        .into_iter()
        .map(|(f, text)| (f, text.split("\r\n").filter(|l| !l.is_empty()).count() - 1))
        .collect()
}

fn empty(counts: &[(&'static str, usize)]) -> bool {
    counts.iter().all(|(_, n)| *n == 0)
}

fn problem_lines(o: &ImportOutcome) -> Vec<String> {
    o.report.problems.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn a_dry_run_lists_every_problem_by_file_row_and_column_and_writes_nothing() {
    let t = spawn_app().await;
    let (_, admin) = admin(&t).await;
    let files = with(
        with(
            with(
                clinic(),
                "groups.csv",
                // Above the CPT cap of 12, and a lead whose only licence lapsed.
                "G2,P1,Monday process,process,iop,open,monday 18:00 90,C1,R1,,13\r\n\
                 G3,P1,Wednesday process,process,iop,open,wednesday 18:00 90,C3,,,10\r\n",
            ),
            "clients.csv",
            "K3,R-3,Max,Three,03/04/1990,walk_in,,\r\n",
        ),
        "memberships.csv",
        // K2 is separated from K1, who is in G1.
        "M2,G1,K2,2026-04-07,,active\r\n",
    );
    let outcome = import(&t, &admin, &files, true).await;
    let lines = problem_lines(&outcome);
    for expected in [
        "groups.csv row 3, column max_size: max_size is above this program's cap of 12",
        "groups.csv row 4, column lead_facilitator: the lead facilitator holds no license active on 2026-05-04",
        "clients.csv row 4, column date_of_birth: must be a date written YYYY-MM-DD",
        "clients.csv row 4, column referral_source: must be one of self_referral, program_admission, therapist_referral",
        "memberships.csv row 3, column group: this group is not available for this client (a separation applies)",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "missing {expected:?} in {lines:#?}"
        );
    }
    assert_eq!(lines.len(), 5, "{lines:#?}");
    // What `circle import` prints first: the count in words.
    assert_eq!(outcome.lines()[0], "5 problems found; nothing was written:");
    assert!(!outcome.report.written);
    assert!(empty(&rows(&t, &admin).await), "a dry run wrote rows");
    // No names or other cell values in any problem.
    for l in &lines {
        for name in ["Ana", "Kim", "Lee", "Max", "Monday process", "03/04/1990"] {
            assert!(!l.contains(name), "{l} names a value");
        }
    }

    // The same files without their problems pass the dry run, and it still writes nothing.
    let outcome = import(&t, &admin, &clinic(), true).await;
    assert!(outcome.report.problems.is_empty(), "{:#?}", outcome.report);
    assert_eq!(outcome.report.created(), 15);
    assert_eq!(
        outcome.lines()[0],
        "Dry run: no problems; 15 records would be created; nothing was written."
    );
    assert!(empty(&rows(&t, &admin).await), "a clean dry run wrote rows");
}

#[tokio::test]
async fn a_refused_row_anywhere_leaves_the_database_as_it_was() {
    let t = spawn_app().await;
    let (_, admin) = admin(&t).await;
    // Every row is fine but the last membership: K2 shares a group with K1.
    let files = with(
        clinic(),
        "memberships.csv",
        "M2,G1,K2,2026-04-07,,active\r\n",
    );
    let outcome = import(&t, &admin, &files, false).await;
    assert_eq!(
        problem_lines(&outcome),
        vec![
            "memberships.csv row 3, column group: this group is not available for this client \
             (a separation applies)"
                .to_owned()
        ]
    );
    assert_eq!(outcome.lines()[0], "1 problem found; nothing was written:");
    assert!(!outcome.report.written);
    assert!(
        empty(&rows(&t, &admin).await),
        "rows before the refused one were kept"
    );
}

#[tokio::test]
async fn a_second_run_of_the_same_files_changes_nothing_and_says_so() {
    let t = spawn_app().await;
    let (token, admin) = admin(&t).await;
    let first = import(&t, &admin, &clinic(), false).await;
    assert!(first.report.written, "{:#?}", first.report);
    assert_eq!(first.report.created(), 15);
    assert_eq!(
        first.lines()[0],
        "Imported: 15 records created in one transaction."
    );
    let after_first = rows(&t, &admin).await;
    assert_eq!(
        after_first,
        vec![
            ("clinicians.csv", 3),
            ("licenses.csv", 2),
            ("rooms.csv", 1),
            ("programs.csv", 1),
            ("groups.csv", 1),
            ("clients.csv", 2),
            ("episodes.csv", 3),
            ("separations.csv", 1),
            ("memberships.csv", 1),
        ]
    );

    let second = import(&t, &admin, &clinic(), false).await;
    assert!(second.report.problems.is_empty(), "{:#?}", second.report);
    assert_eq!(second.report.created(), 0);
    assert!(!second.report.written);
    assert!(second.lines()[0].starts_with("Nothing to import"));
    assert_eq!(second.report.counts["memberships"].unchanged, 1);
    assert_eq!(rows(&t, &admin).await, after_first);

    // One audit entry for the import that wrote, naming counts and client ids only.
    let (s, audit) = t
        .get(&token, "/api/v1/audit?action=clinic.import&limit=50")
        .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    let object = entries[0]["object_id"].as_str().unwrap();
    assert!(
        object.contains("clients=2") && object.contains("groups=1"),
        "{object}"
    );
    assert_eq!(entries[0]["client_ids"].as_array().unwrap().len(), 2);
}

/// A multipart body with `csrf`, the dry-run box when asked, and one part per file.
fn multipart(csrf: &str, dry_run: bool, files: &[(&'static str, String)]) -> (String, Vec<u8>) {
    let boundary = "circle-import-test-boundary";
    let mut body = String::new();
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
    ));
    if dry_run {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"dry_run\"\r\n\r\n1\r\n"
        ));
    }
    for (name, text) in files {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\
             Content-Type: text/csv\r\n\r\n{text}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

async fn upload(
    t: &TestApp,
    token: &str,
    dry_run: bool,
    files: &[(&'static str, String)],
) -> (StatusCode, String) {
    let csrf = circle_app::web_session::csrf_token(token);
    let (content_type, body) = multipart(&csrf, dry_run, files);
    let r = t
        .http
        .post(t.url("/admin/import"))
        .header("cookie", format!("circle_session={token}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_import_page_imports_for_an_administrator_and_is_refused_to_other_roles() {
    let t = spawn_app().await;
    let (token, admin) = admin(&t).await;
    let page = t.page(&token, "/admin/import").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    assert!(
        page.body.contains("href=\"/admin/import\""),
        "the admin nav links the page"
    );

    // A dry run with a problem: the page names file, row and column, and nothing is written.
    let bad = with(
        clinic(),
        "memberships.csv",
        "M2,G1,K2,2026-04-07,,active\r\n",
    );
    let (status, body) = upload(&t, &token, true, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("<td>memberships.csv</td><td>3</td><td>group</td>"),
        "{body}"
    );
    assert!(empty(&rows(&t, &admin).await));

    let (status, body) = upload(&t, &token, false, &clinic()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Imported: 15 records created"), "{body}");
    assert_eq!(rows(&t, &admin).await[5], ("clients.csv", 2));

    // Without the session's CSRF token nothing is read.
    let (content_type, body) = multipart("forged", false, &clinic());
    let r = t
        .http
        .post(t.url("/admin/import"))
        .header("cookie", format!("circle_session={token}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    for (email, role) in [
        ("director@import.test", Role::Director),
        ("intake@import.test", Role::Intake),
    ] {
        let other = t.token_for(email, role, None, None).await;
        assert_eq!(
            t.page(&other, "/admin/import").await.status,
            StatusCode::FORBIDDEN
        );
        let (status, _) = upload(&t, &other, false, &clinic()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{email} uploaded");
    }
}

#[tokio::test]
async fn a_value_already_in_circle_is_reported_with_its_row_and_later_rows_are_still_checked() {
    let t = spawn_app().await;
    let (_, admin) = admin(&t).await;
    assert!(import(&t, &admin, &clinic(), false).await.report.written);
    // New external ids, but the email and the licence are the first import's: the
    // database's unique constraints refuse them inside their row's savepoint, and the
    // rows after them are still checked (on PostgreSQL a failed statement would otherwise
    // end the transaction).
    let files = vec![
        (
            "clinicians.csv",
            "external_id,given_name,family_name,email\r\n\
             C9,Dee,Again,ana@example.org\r\n\
             C10,Eve,New,eve@example.org\r\n\
             C11,Fay,Dates,fay@example.org\r\n"
                .to_owned(),
        ),
        (
            "licenses.csv",
            "clinician,kind,number,state,issued_on,expires_on\r\n\
             C10,lcsw,LCSW-1,MA,2020-01-01,2028-01-01\r\n\
             C11,lcsw,LCSW-11,MA,2024-01-01,2023-01-01\r\n"
                .to_owned(),
        ),
        (
            "rooms.csv",
            "external_id,site,name,capacity\r\nR2,Main,Room 2,0\r\n".to_owned(),
        ),
    ];
    let outcome = import(&t, &admin, &files, false).await;
    assert_eq!(
        problem_lines(&outcome),
        vec![
            "clinicians.csv row 2, column email: is already in use in Circle and must be unique"
                .to_owned(),
            "clinicians.csv row 3: a license's state and number are already in use in Circle \
             and must be unique"
                .to_owned(),
            "licenses.csv row 3, column expires_on: must not be before issued_on".to_owned(),
            "rooms.csv row 2, column capacity: must be 1–200 people".to_owned(),
        ]
    );
    assert_eq!(rows(&t, &admin).await[0], ("clinicians.csv", 3));
}
