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
    assert!(b.shows("#audit", "User create").await);
    b.check_page("admin-audit").await;
    b.click("#f-action option[value='user.mfa_reset']").await;
    b.fill("#f-from", "2026-05-04").await;
    b.fill("#f-until", "2026-05-04").await;
    b.click("form.admin-filters button[type=submit]").await;
    assert!(b.shows("#audit", "User MFA reset").await);
    let mut actions = vec![];
    for td in b
        .client
        .find_all(Locator::Css("#audit td.action"))
        .await
        .unwrap()
    {
        actions.push(td.text().await.unwrap());
    }
    assert_eq!(actions, vec!["User MFA reset"], "only the filtered action");
    b.check_page("admin-audit-filtered").await;

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
    assert!(b.shows("[role=alert]", "From: must be a date").await);
    b.check_page("admin-audit-bad-filter").await;

    // By client: every entry names the client.
    let member = clinic.members[0];
    b.client
        .goto(&t.url(&format!("/admin/audit?client={member}")))
        .await
        .unwrap();
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
        clients
            .iter()
            .all(|c| c.split(", ").any(|id| id == member.to_string())),
        "{clients:?}"
    );

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
