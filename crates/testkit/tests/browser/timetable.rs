//! The timetable (issue 17): a director builds a proposal for their program, reads the
//! week on the grid with the hours the track reaches, moves the Monday group to Wednesday
//! evening (a pin), solves again with the pin, approves — and the group's page shows the
//! new time.

use super::*;
use circle_testkit::clinic::ClinicSpec;

#[tokio::test]
async fn a_director_builds_pins_re_solves_and_approves_a_timetable_and_the_group_moves() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    let g = clinic.group;

    let b = Browser::start().await;
    sign_in(&b, &t, "director@example.test").await;
    b.wait_path("/today").await;
    b.client.goto(&t.url("/timetable")).await.unwrap();
    assert!(b.shows("#runs-h + p", "No proposals yet").await);
    b.check_page("timetable").await;

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
    b.click("#build-timetable").await;
    assert!(
        b.shows("#timetable-summary", "1 of 1 group scheduled")
            .await
    );
    assert!(b.path().await.starts_with("/timetable/"));
    assert_eq!(b.text("#timetable-state").await, "Proposed");
    // The IOP track: 9 h required, the one group's 1 h 30 min scheduled.
    let hours = b.text("#track-hours").await;
    assert!(
        hours.contains("Adult IOP") && hours.contains("9 h") && hours.contains("1 h 30 min"),
        "{hours}"
    );
    assert!(hours.contains("Short by 7 h 30 min"), "{hours}");
    assert!(b.text("#day-monday").await.contains("Monday process"));
    let why = b.text(&format!("#group-{g} .why")).await;
    assert!(why.contains("keeps its current days and time"), "{why}");
    b.check_page("timetable-proposal").await;

    // Move it to Wednesday 18:00: the move pins it and solves again.
    b.click(&format!("#group-{g} details summary")).await;
    b.click(&format!("#move-{g}-monday")).await;
    b.click(&format!("#move-{g}-wednesday")).await;
    b.set(&format!("#move-{g}-start"), "18:00").await;
    // The lead picker starts on the proposed lead by name; the lead is chosen by name.
    assert_eq!(
        b.value(&format!("#move-{g}-lead")).await,
        "Lead Facilitator"
    );
    b.fill(&format!("#move-{g}-lead"), "lead facilitator").await;
    b.click(&format!("#move-{g}")).await;
    assert!(
        b.shows(&format!("#group-{g} .meets"), "Wednesday 18:00–19:30")
            .await
    );
    let row = b.text(&format!("#group-{g}")).await;
    assert!(
        row.contains("Pinned")
            && row.contains("You pinned its days and time")
            && row.contains("You pinned its lead"),
        "{row}"
    );
    assert!(b.text("#day-wednesday").await.contains("Monday process"));
    b.check_page("timetable-pinned").await;

    // Solve again: the pin holds. The group's row said Wednesday before too, so wait for
    // the page of the run's next version (the old page's buttons go stale under a click).
    let before = b.value("input[name=version]").await;
    b.click("#resolve-timetable").await;
    let mut solved = false;
    for _ in 0..100 {
        if let Ok(el) = b.client.find(Locator::Css("input[name=version]")).await
            && let Ok(Some(v)) = el.prop("value").await
            && v != before
        {
            solved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(solved, "the proposal was solved again (version {before})");
    assert!(
        b.shows(&format!("#group-{g} .meets"), "Wednesday 18:00–19:30")
            .await
    );

    b.click("#approve-timetable").await;
    assert!(b.shows("#approval", "Approved on").await);
    assert_eq!(b.text("#timetable-state").await, "Approved");
    b.check_page("timetable-approved").await;

    b.client
        .goto(&t.url(&format!("/groups/{g}")))
        .await
        .unwrap();
    assert!(b.shows("main", "Wednesday 18:00 (90 min)").await);
    b.check_page("timetable-group-moved").await;
    b.close().await;
}
