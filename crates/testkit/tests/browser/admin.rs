//! Browser tests: admin pages.

use super::*;
use circle_testkit::clinic::ClinicSpec;

/// The account listed with `email` by the API.
async fn account(t: &TestApp, admin: &str, email: &str) -> Option<Value> {
    let (s, users) = t.get(admin, "/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{users}");
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}

#[tokio::test]
async fn an_admin_creates_a_user_resets_a_second_factor_and_filters_the_audit_report() {
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

    let b = Browser::start().await;
    sign_in(&b, &t, "admin@example.test").await;
    assert_eq!(b.wait_path("/admin").await, "/admin");
    assert!(b.shows("#users", "lead@example.test").await);
    b.check_page("admin-users").await;

    // Create an intake coordinator's account.
    b.fill("#new-email", "new.intake@example.test").await;
    b.click("#new-role option[value=intake]").await;
    b.fill("#new-password", "a-long-temporary-passphrase-42")
        .await;
    b.click("form.admin-create button[type=submit]").await;
    assert!(b.shows("#done", "The account was created").await);
    b.check_page("admin-user-created").await;
    let created = account(&t, &admin, "new.intake@example.test")
        .await
        .expect("the new account is listed");
    assert_eq!(created["role"], "intake");
    assert_eq!(created["disabled"], false);

    // Reset the lead's lost authenticator.
    let lead = account(&t, &admin, &clinic.lead_email).await.unwrap();
    assert_eq!(lead["mfa_enrolled"], true);
    let row = format!("#user-{}", lead["id"]);
    assert_eq!(b.text(&format!("{row} .mfa")).await, "enrolled");
    b.click(&format!("{row} summary")).await;
    b.click(&format!("{row} input[name=confirm]")).await;
    b.click(&format!("{row} button.mfa-reset")).await;
    assert!(b.shows("#done", "second factor was reset").await);
    assert_eq!(b.text(&format!("{row} .mfa")).await, "not enrolled");
    b.check_page("admin-mfa-reset").await;
    let lead = account(&t, &admin, &clinic.lead_email).await.unwrap();
    assert_eq!(lead["mfa_enrolled"], false);

    // The audit report, filtered by action and by a date range holding today.
    b.client.goto(&t.url("/admin/audit")).await.unwrap();
    assert!(b.shows("#audit", "Account created").await);
    b.check_page("admin-audit").await;
    // The action picker: the action's words typed (any case), as choosing from the list.
    b.fill("#f-action", "second factor reset").await;
    b.set("#f-from", "2026-05-04").await;
    b.set("#f-until", "2026-05-04").await;
    b.click("form.admin-filters button[type=submit]").await;
    assert!(b.shows("#audit", "Second factor reset").await);
    let mut actions = vec![];
    for td in b
        .client
        .find_all(Locator::Css("#audit td.action"))
        .await
        .unwrap()
    {
        actions.push(td.text().await.unwrap());
    }
    assert_eq!(
        actions,
        vec!["Second factor reset"],
        "only the filtered action, in words"
    );
    assert_eq!(b.value("#f-action").await, "Second factor reset");
    b.check_page("admin-audit-filtered").await;

    // Words that name no action: refused by the field, what was typed kept.
    b.fill("#f-action", "Teleportation").await;
    b.click("form.admin-filters button[type=submit]").await;
    assert!(
        b.shows("#f-action-error", "Choose an action from the list")
            .await
    );
    assert_eq!(b.value("#f-action").await, "Teleportation");
    assert!(b.try_text("#audit").await.is_none(), "no entries shown");
    b.check_page("admin-audit-unknown-action").await;

    // A range before anything happened shows nothing; a bad date is explained.
    b.client
        .goto(&t.url("/admin/audit?until=2026-01-01"))
        .await
        .unwrap();
    assert!(b.shows("#no-entries", "No entries match").await);
    b.client
        .goto(&t.url("/admin/audit?from=yesterday"))
        .await
        .unwrap();
    assert!(
        b.shows("[role=alert]", "From: write a date, such as 2026-05-04.")
            .await
    );
    b.check_page("admin-audit-bad-filter").await;

    // By client: every entry names the client, by record number (issue 14: raw ids).
    b.client.goto(&t.url("/admin/audit")).await.unwrap();
    b.fill("#f-client", "C-0001").await;
    b.click("form.admin-filters button[type=submit]").await;
    let mut clients = vec![];
    for td in b
        .client
        .find_all(Locator::Css("#audit td.clients"))
        .await
        .unwrap()
    {
        clients.push(td.text().await.unwrap());
    }
    assert!(!clients.is_empty());
    assert!(
        clients.iter().all(|c| c.split(", ").any(|r| r == "C-0001")),
        "{clients:?}"
    );
    b.check_page("admin-audit-by-client").await;

    b.client
        .goto(&t.url("/admin/emergency-access"))
        .await
        .unwrap();
    assert!(b.shows("#no-accesses", "No emergency accesses").await);
    b.check_page("admin-emergency").await;
    b.close().await;
}

#[tokio::test]
async fn the_admin_pages_are_refused_to_other_roles_and_a_bad_account_changes_nothing() {
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
    let before = t.get(&admin, "/api/v1/users").await.1;

    // A clinician is refused the users page.
    let b = Browser::start().await;
    sign_in(&b, &t, &clinic.lead_email).await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/admin")).await.unwrap();
    assert_eq!(b.text("main h1").await, "Not available");
    b.check_page("admin-refused").await;
    b.close().await;

    // An administrator's account with a weak password is refused with the rule, and
    // nothing is created.
    let b = Browser::start().await;
    sign_in(&b, &t, "admin@example.test").await;
    assert_eq!(b.wait_path("/admin").await, "/admin");
    b.fill("#new-email", "weak@example.test").await;
    b.fill("#new-password", "passwordpassword").await;
    b.click("form.admin-create button[type=submit]").await;
    assert!(b.shows("[role=alert]", "password").await);
    assert_eq!(
        b.client
            .find(Locator::Css("#new-email"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("weak@example.test"),
        "the form keeps what was typed, except the password"
    );
    b.check_page("admin-create-refused").await;
    let after = t.get(&admin, "/api/v1/users").await.1;
    assert_eq!(
        before.as_array().unwrap().len(),
        after.as_array().unwrap().len()
    );
    b.close().await;
}

#[tokio::test]
async fn an_admin_links_a_director_to_one_program_and_the_director_then_sees_only_it() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 1,
            ..ClinicSpec::default()
        })
        .await;
    let d = &clinic.director;
    let (s, program_b) = t
        .post(
            d,
            "/api/v1/programs",
            json!({"name": "Adult PHP", "site": "Riverside", "level_of_care": "php",
                "time_zone": "America/New_York"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program_b}");
    let (s, group_b) = t
        .post(
            d,
            "/api/v1/groups",
            json!({"program_id": program_b["id"], "name": "Tuesday skills", "kind": "process",
                "eligible_levels": ["php"], "enrollment": {"model": "open"},
                "room_id": clinic.room,
                "meetings": [{"weekday": "tuesday", "start": "10:00", "minutes": 90}],
                "lead_facilitator_id": clinic.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{group_b}");
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    t.token_for("iop.director@example.test", Role::Director, None, None)
        .await;
    let scoped = account(&t, &admin, "iop.director@example.test")
        .await
        .unwrap();

    // The administrator ticks Adult IOP for the new director on the users page.
    let b = Browser::start().await;
    sign_in(&b, &t, "admin@example.test").await;
    assert_eq!(b.wait_path("/admin").await, "/admin");
    let row = format!("#user-{}", scoped["id"]);
    b.click(&format!("{row} summary")).await;
    b.click(&format!("#program-{}-{}", scoped["id"], clinic.program))
        .await;
    b.click(&format!("{row} form.director-programs button[type=submit]"))
        .await;
    assert!(b.shows("#done", "programs were saved").await);
    b.check_page("admin-director-programs").await;
    let (s, linked) = t
        .get(&admin, &format!("/api/v1/users/{}/programs", scoped["id"]))
        .await;
    assert_eq!(s, StatusCode::OK, "{linked}");
    assert_eq!(linked["program_ids"], json!([clinic.program]));
    b.close().await;

    // The director's groups page lists the IOP group only, and the PHP group is not found.
    let b = Browser::start().await;
    sign_in(&b, &t, "iop.director@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.click("nav a[href='/groups']").await;
    assert_eq!(b.wait_path("/groups").await, "/groups");
    assert!(b.shows("main", "Monday process").await);
    assert!(!b.text("main").await.contains("Tuesday skills"));
    b.check_page("scoped-director-groups").await;
    b.client
        .goto(&t.url(&format!("/groups/{}", group_b["id"])))
        .await
        .unwrap();
    assert!(b.shows("main", "Not found").await);
    assert!(!b.text("body").await.contains("Tuesday skills"));
    b.close().await;
}

/// Chooses `path` for the import form's file input of `file` (WebDriver types a local path
/// into a file input, as a person picks the file in the dialog).
async fn choose_file(b: &Browser, file: &str, path: &std::path::Path) {
    b.client
        .find(Locator::Css(&format!("input[type=file][name='{file}']")))
        .await
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .send_keys(&path.display().to_string())
        .await
        .unwrap_or_else(|e| panic!("{file}: {e}"));
}

#[tokio::test]
async fn an_admin_dry_runs_a_clinic_s_files_sees_the_broken_row_then_imports_a_good_set() {
    let t = spawn_app().await;
    t.token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let director = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    // The demo clinic's folder (README "Import"), one room's capacity written as a word.
    let sample = workspace_root().join("docs/import-sample");
    let folder = tempfile::tempdir().unwrap();
    let mut names = vec![];
    for entry in std::fs::read_dir(&sample).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        if name == "rooms.csv" {
            assert!(text.contains("Cedar Room,14"), "the sample's third room");
            text = text.replace("Cedar Room,14", "Cedar Room,fourteen");
        }
        std::fs::write(folder.path().join(&name), text).unwrap();
        names.push(name);
    }
    names.sort();
    assert_eq!(names.len(), 9, "one file per kind: {names:?}");

    let b = Browser::start().await;
    sign_in(&b, &t, "admin@example.test").await;
    assert_eq!(b.wait_path("/admin").await, "/admin");
    b.click(".admin-nav a[href='/admin/import']").await;
    assert_eq!(b.wait_path("/admin/import").await, "/admin/import");
    b.check_page("admin-import").await;

    // Every file of the folder, checked by a dry run (the box is ticked to begin with).
    for name in &names {
        choose_file(&b, name, &folder.path().join(name)).await;
    }
    assert!(
        b.client
            .find(Locator::Css("#dry_run"))
            .await
            .unwrap()
            .is_selected()
            .await
            .unwrap()
    );
    b.click("#import-form button[type=submit]").await;
    assert!(b.shows("#outcome-heading", "nothing was written").await);
    let problems = super::reports::rows(&b, "#import-problems").await;
    assert!(
        problems
            .iter()
            .any(|r| r.starts_with("rooms.csv | 4 | capacity | ")),
        "the broken cell by file, row (the header is row 1) and column: {problems:?}"
    );
    // Problems never repeat a cell's value.
    assert!(
        problems.iter().all(|r| !r.contains("fourteen")),
        "{problems:?}"
    );
    b.check_page("admin-import-dry-run-problems").await;
    let (s, programs) = t.get(&director, "/api/v1/programs").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !programs.to_string().contains("Adult PHP — day program"),
        "a dry run writes nothing"
    );

    // A good small set for real: the sample's rooms and programs, the dry-run box unticked.
    b.click("#dry_run").await;
    choose_file(&b, "rooms.csv", &sample.join("rooms.csv")).await;
    choose_file(&b, "programs.csv", &sample.join("programs.csv")).await;
    b.click("#import-form button[type=submit]").await;
    assert!(
        b.shows("#outcome-heading", "Imported: 10 records created")
            .await,
        "{}",
        b.text("#import-outcome").await
    );
    let counts = super::reports::rows(&b, "#import-counts").await;
    assert!(counts.contains(&"rooms | 5 | 0".to_owned()), "{counts:?}");
    assert!(
        counts.contains(&"programs | 5 | 0".to_owned()),
        "{counts:?}"
    );
    assert!(counts.contains(&"clients | 0 | 0".to_owned()), "{counts:?}");
    b.check_page("admin-import-done").await;
    // What was created is in Circle: the director's programs list holds them.
    let (s, programs) = t.get(&director, "/api/v1/programs").await;
    assert_eq!(s, StatusCode::OK);
    for name in ["Adult PHP — day program", "Community outpatient groups"] {
        assert!(programs.to_string().contains(name), "{name}: {programs}");
    }
    b.close().await;
}
