//! The planner: a director starts a run, watches it finish, reviews the proposal and
//! approves part of it, then the rest — and the memberships exist (checked via the API).

use super::*;
use circle_testkit::clinic::ClinicSpec;

/// A client available on Monday mornings at the clinic's level, with an episode and a
/// signed group agreement, in no group yet.
pub(super) async fn unplaced(t: &TestApp, director: &str, n: usize) -> i64 {
    let (s, c) = t
        .post(
            director,
            "/api/v1/clients",
            json!({"record_number": format!("PL-{n:04}"),
                "given_name": format!("Planned{n}"), "family_name": "Browsertest",
                "date_of_birth": "1988-02-02", "referral_source": "program_admission",
                "concerns": ["depression"],
                "availability": [{"weekday": "monday", "start": "09:00", "end": "12:00"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            director,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": "iop", "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, a) = t
        .post(
            director,
            &format!("/api/v1/clients/{id}/consents/group-agreement"),
            json!({"signed_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    id
}

pub(super) async fn members(t: &TestApp, director: &str, group: i64) -> Vec<i64> {
    let (s, page) = t
        .get(director, &format!("/api/v1/groups/{group}/memberships"))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let mut ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["end_date"].is_null())
        .map(|m| m["client_id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn a_director_runs_the_planner_and_approves_part_then_the_rest_of_its_proposal() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 0,
            ..ClinicSpec::default()
        })
        .await;
    let mut clients = vec![];
    for n in 1..=6 {
        clients.push(unplaced(&t, &clinic.director, n).await);
    }
    clients.sort_unstable();

    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    b.wait_path("/today").await;
    b.client.goto(&t.url("/planner")).await.unwrap();
    assert!(b.shows("#runs-h + p", "No runs yet").await);
    b.check_page("planner").await;

    // Start a run for the program with a one-second limit; the run's page follows it.
    let program = clinic.program.to_string();
    b.client
        .find(Locator::Css(&format!("#program option[value='{program}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.client
        .find(Locator::Css("#time_limit option[value='1']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.click("form.planner-start button[type=submit]").await;
    // The page refreshes itself until the proposal is there.
    let mut summary = None;
    for _ in 0..100 {
        if let Some(s) = b.try_text("#run-summary").await {
            summary = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let summary = summary.expect("the run finishes and shows its proposal");
    assert!(summary.contains("6 clients"), "{summary}");
    assert!(b.path().await.starts_with("/planner/runs/"));
    assert_eq!(b.text("#run-state").await, "Done");
    b.check_page("planner-proposal").await;

    // Six new placements into the Monday group; nothing moves; each is short of the
    // IOP's weekly hours, with the reason.
    let boxes = b
        .client
        .find_all(Locator::Css("#new-placements input[type=checkbox]"))
        .await
        .unwrap();
    assert_eq!(boxes.len(), 6);
    assert!(b.shows("#moves-h + p", "Nobody moves").await);
    let unmet = b.text("#unmet").await;
    assert!(
        unmet.contains("Planned1 B.") && unmet.contains("add up to only 1 h 30 min a week"),
        "{unmet}"
    );
    assert!(b.text("#new-placements").await.contains("Monday process"));

    // Approving with nothing ticked is refused with the reason; nothing changes.
    b.click("#approve-selected").await;
    assert!(b.shows("[role=alert]", "tick at least one item").await);
    b.check_page("planner-nothing-ticked").await;
    assert!(members(&t, &clinic.director, clinic.group).await.is_empty());

    // Approve two of them.
    let boxes = b
        .client
        .find_all(Locator::Css("#new-placements input[type=checkbox]"))
        .await
        .unwrap();
    let mut chosen = vec![];
    for cb in boxes.iter().take(2) {
        let value = cb.attr("value").await.unwrap().unwrap();
        let (client, group) = value.split_once('-').unwrap();
        assert_eq!(group, clinic.group.to_string());
        chosen.push(client.parse::<i64>().unwrap());
        cb.click().await.unwrap();
    }
    chosen.sort_unstable();
    b.click("#approve-selected").await;
    assert!(b.shows("#decisions", "Applied").await);
    assert_eq!(
        b.client
            .find_all(Locator::Css("#decisions tbody tr"))
            .await
            .unwrap()
            .len(),
        2
    );
    b.check_page("planner-approved-part").await;
    assert_eq!(members(&t, &clinic.director, clinic.group).await, chosen);

    // The two approved rows no longer offer a checkbox; approve all the others.
    assert_eq!(
        b.client
            .find_all(Locator::Css("#new-placements input[type=checkbox]"))
            .await
            .unwrap()
            .len(),
        4
    );
    b.click("#approve-all").await;
    let mut rows = 0;
    for _ in 0..50 {
        rows = b
            .client
            .find_all(Locator::Css("#decisions tbody tr"))
            .await
            .map(|r| r.len())
            .unwrap_or(0);
        if rows == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows, 6, "every item has its result");
    assert!(!b.text("#decisions").await.contains("Refused"));
    assert!(
        b.try_text("#approve-form").await.is_none(),
        "nothing left to approve"
    );
    b.check_page("planner-approved-all").await;
    assert_eq!(members(&t, &clinic.director, clinic.group).await, clients);

    // The run is listed on the planner's front page.
    b.client.goto(&t.url("/planner")).await.unwrap();
    assert!(b.shows("#recent-runs", "Adult IOP").await);
    b.check_page("planner-runs").await;

    // A run still being worked on refreshes itself (a `Refresh` header, no script) and
    // shows its progress. This one was recorded but no worker took it (the test clock
    // stands still, so its heartbeat never goes stale).
    let director = t.app.authenticate(&clinic.director).await.unwrap();
    let listing =
        t.db.store
            .listing::<circle_app::purpose::PlanRun>(&director, t.app.now())
            .await
            .unwrap();
    let queued =
        t.db.store
            .create_plan_run(&listing, None, 1000, t.app.now())
            .await
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
        .get(t.url(&format!("/planner/runs/{queued}")))
        .header("cookie", format!("circle_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["refresh"], "2");
    assert_eq!(r.headers()["cache-control"], "no-store");
    b.client
        .goto(&t.url(&format!("/planner/runs/{queued}")))
        .await
        .unwrap();
    assert_eq!(b.text("#run-state").await, "Queued");
    assert!(b.try_text("#run-progress").await.is_some());
    b.check_page("planner-progress").await;

    // A clinician is refused the planner.
    b.click("header form button").await;
    b.wait_path("/sign-in").await;
    sign_in(&b, &t, &clinic.lead_email).await;
    b.wait_path("/today").await;
    b.client.goto(&t.url("/planner")).await.unwrap();
    assert!(b.shows("h1", "Not available").await);
    b.check_page("planner-refused").await;
    b.close().await;
}
