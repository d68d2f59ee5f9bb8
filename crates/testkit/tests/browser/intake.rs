//! Browser tests: intake pages (referrals, screening, consents, placement from a
//! suggestion, waitlist offers) and the programs-and-groups pages (seats, members, a refused
//! enrollment explained inline).

use super::*;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use reqwest::Method;

/// Weekday availability 07:00–21:00: suggestions and offers need a client's windows.
fn weekdays() -> Value {
    Value::Array(
        ["monday", "tuesday", "wednesday", "thursday", "friday"]
            .iter()
            .map(|d| json!({"weekday": d, "start": "07:00", "end": "21:00"}))
            .collect(),
    )
}

/// A client with availability, concerns and an open episode at `level`; no agreement yet.
async fn client(
    t: &TestApp,
    k: &Clinic,
    record: &str,
    given: &str,
    level: &str,
    concerns: Value,
) -> i64 {
    let (s, c) = t
        .post(
            &k.director,
            "/api/v1/clients",
            json!({"record_number": record, "given_name": given, "family_name": "Intaketest",
                "date_of_birth": "1988-02-03", "referral_source": "therapist_referral",
                "concerns": concerns, "availability": weekdays()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id = c["id"].as_i64().unwrap();
    let (s, e) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{id}/episodes"),
            json!({"level_of_care": level, "started_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    id
}

/// The client's memberships as the API reports them: (group, status).
async fn memberships(t: &TestApp, token: &str, client: i64) -> Vec<(i64, String)> {
    let (s, list) = t
        .get(token, &format!("/api/v1/clients/{client}/memberships"))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["group_id"].as_i64().unwrap(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A Tuesday-evening group of at most three, full with three members from Monday 4 May;
/// returns the group and its membership ids.
async fn full_group(t: &TestApp, k: &Clinic) -> (i64, Vec<i64>) {
    let (s, g) = t
        .post(
            &k.director,
            "/api/v1/groups",
            json!({"program_id": k.program, "name": "Tuesday evening skills", "kind": "skills",
                "modality": "cbt", "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "min_size": 1, "max_size": 3, "room_id": k.room,
                "meetings": [{"weekday": "tuesday", "start": "18:00", "minutes": 90}],
                "lead_facilitator_id": k.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let group = g["id"].as_i64().unwrap();
    let mut ms = vec![];
    for n in 1..=3 {
        let c = k.admit(t, 100 + n).await;
        let (s, m) = t
            .post(
                &k.director,
                &format!("/api/v1/groups/{group}/memberships"),
                json!({"client_id": c, "start_date": "2026-05-04"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        ms.push(m["id"].as_i64().unwrap());
    }
    (group, ms)
}

async fn group_member_count(t: &TestApp, token: &str, group: i64) -> usize {
    let (s, list) = t
        .get(token, &format!("/api/v1/groups/{group}/memberships"))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn an_intake_coordinator_records_a_referral_and_places_the_client_from_a_suggestion() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let person = client(
        &t,
        &k,
        "R-0001",
        "Robin",
        "iop",
        json!(["depression", "substance_use"]),
    )
    .await;
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;

    // Intake records a referral from an individual therapist for a registered client.
    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/intake")).await.unwrap();
    b.check_page("intake").await;
    // Without the therapist and the reason, the form comes back with each rule by its
    // field and what was typed kept.
    b.click("#path-therapist_referral").await;
    b.fill("#name", "Robin Intaketest").await;
    b.click("#record-referral button[type=submit]").await;
    assert!(
        b.shows(
            "#provider_name-error",
            "is required for a referral from a therapist"
        )
        .await,
        "{}",
        b.text("main").await
    );
    assert!(b.shows("#reason-error", "is required").await);
    assert_eq!(b.value("#name").await, "Robin Intaketest");
    b.client
        .execute(
            "document.querySelector('label[for=reason]').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.check_page("intake-refused-by-field").await;
    b.click("#path-therapist_referral").await;
    b.fill("#name", "Robin Intaketest").await;
    b.fill("#reason", "Low mood and drinking more since a loss.")
        .await;
    b.fill("#provider_name", "Dana Therapist").await;
    b.fill("#provider_practice", "Harbor Counseling").await;
    // Searchable pickers: the person types and chooses the words the list offers.
    b.fill("#client_id", "Robin Intaketest (R-0001)").await;
    b.fill("#screener_id", "Lead Facilitator").await;
    b.click("#record-referral button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "The referral was recorded").await,
        "{}",
        b.text("main").await
    );
    let referral = b.path().await.trim_start_matches("/referrals/").to_owned();
    assert!(
        b.text("main")
            .await
            .contains("Dana Therapist, Harbor Counseling")
    );
    b.check_page("intake-referral").await;
    b.click("#to-screening").await;
    assert!(b.shows("#referral-state", "Screening").await);
    // Intake may screen, but without the clinical comments; here the assigned clinician
    // screens.
    assert!(b.try_text("#screening-form").await.is_some());
    assert!(b.try_text("#screen-reasons").await.is_none());
    b.close().await;

    // The assigned clinician screens for group readiness.
    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/referrals/{referral}")))
        .await
        .unwrap();
    b.check_page("intake-screening").await;
    b.click("#decision-ready").await;
    b.fill("#screen-reasons", "Motivated; suited to a process group.")
        .await;
    b.click("#screening-form button[type=submit]").await;
    assert!(b.shows("#referral-state", "Ready").await);
    b.close().await;

    // Intake records the consents and places the client from a suggestion.
    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/referrals/{referral}")))
        .await
        .unwrap();
    let screenings = b.text("#screenings").await;
    assert!(screenings.contains("Ready for group"), "{screenings}");
    assert!(
        !b.text("main").await.contains("Motivated"),
        "intake never reads screening comments"
    );
    assert!(b.text("#agreement-status").await.contains("Not signed"));
    b.click("#agreement-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "group agreement signature was recorded")
            .await
    );
    assert!(
        b.text("#agreement-status")
            .await
            .contains("signed 2026-05-04")
    );

    // Substance use applies: the Part 2 consent, every element named.
    b.click("#part2-details summary").await;
    b.fill("#p2-discloser", "Riverside IOP").await;
    b.fill("#p2-recipient", "Harbor Counseling").await;
    b.fill(
        "#p2-information",
        "Attendance and treatment progress, including substance use",
    )
    .await;
    b.fill("#p2-purpose", "coordination of care").await;
    b.fill("#p2-event", "discharge from the program").await;
    b.click("#p2-revoke").await;
    b.fill("#p2-signature", "Robin Intaketest").await;
    b.click("#part2-form button[type=submit]").await;
    assert!(
        b.shows("[role=status]", "Part 2 consent was recorded")
            .await
    );
    assert!(b.text("#part2-status").await.contains("Harbor Counseling"));

    // The suggestions are ranked with their reasons; the clinic's group is open to them.
    let suggestion = b.text(&format!("#suggestion-{}", k.group)).await;
    assert!(
        suggestion.contains("Open to this client now"),
        "{suggestion}"
    );
    assert!(
        suggestion.contains("a process group is suited to depression"),
        "{suggestion}"
    );
    b.check_page("intake-suggestions").await;
    b.click(&format!("#place-{}", k.group)).await;
    assert!(
        b.shows("[role=status]", "placed in the group").await,
        "{}",
        b.text("main").await
    );
    assert!(b.shows("#referral-state", "Placed").await);
    b.check_page("intake-placed").await;
    b.close().await;

    assert_eq!(
        memberships(&t, &k.director, person).await,
        vec![(k.group, "active".to_owned())],
        "the placement made the membership"
    );
    let (_, r) = t
        .get(&k.director, &format!("/api/v1/referrals/{referral}"))
        .await;
    assert_eq!(r["state"], "placed");
    assert_eq!(r["client_id"], person);
}

#[tokio::test]
async fn accepting_a_waitlist_offer_on_the_page_makes_the_membership() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 0,
            ..ClinicSpec::default()
        })
        .await;
    let (group, ms) = full_group(&t, &k).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let waiting = client(&t, &k, "W-0001", "Wren", "iop", json!(["anxiety_panic"])).await;
    let (s, e) = t
        .post(
            &intake,
            &format!("/api/v1/groups/{group}/waitlist"),
            json!({"client_id": waiting, "priority": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert_eq!(e["status"], "waiting", "a full group offers nothing");

    // A week later a member leaves: the services offer the seat to the one waiting.
    t.clock.set("2026-05-12T13:00:00Z".parse().unwrap());
    // Tokens last 12 hours: sign in again a week later.
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .unwrap();
    let (s, m) = t
        .send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/memberships/{}", ms[0]),
            json!({"version": 1, "status": "withdrawn", "end_date": "2026-05-12"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    let (_, offers) = t.get(&dir, "/api/v1/offers?state=open").await;
    let offers = offers.as_array().unwrap().clone();
    assert_eq!(offers.len(), 1, "{offers:?}");
    assert_eq!(offers[0]["client_id"], waiting);
    let offer = offers[0]["id"].as_i64().unwrap();
    assert!(memberships(&t, &dir, waiting).await.is_empty());

    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/waitlist")).await.unwrap();
    let open = b.text("#offers-open").await;
    assert!(
        open.contains("Wren I.") && open.contains("Tuesday evening skills"),
        "{open}"
    );
    assert!(
        b.text(&format!("#waitlist-{group}"))
            .await
            .contains("Offered a seat")
    );
    b.check_page("waitlist-offers").await;
    b.click(&format!("#accept-{offer}")).await;
    assert!(
        b.shows("[role=status]", "The offer was accepted").await,
        "{}",
        b.text("main").await
    );
    assert!(b.text("#offers-accepted").await.contains("Wren I."));
    b.check_page("waitlist-accepted").await;

    // The group's page shows the new member and the seats again full.
    b.client
        .goto(&t.url(&format!("/groups/{group}")))
        .await
        .unwrap();
    assert!(b.text("#members").await.contains("Wren I."));
    assert!(b.text("#group-seats").await.starts_with("3 / 3"));
    b.close().await;

    let mine = memberships(&t, &dir, waiting).await;
    assert_eq!(mine, vec![(group, "active".to_owned())]);
    let (_, o) = t.get(&dir, &format!("/api/v1/offers/{offer}")).await;
    assert_eq!(o["state"], "accepted");
}

#[tokio::test]
async fn a_refused_enrollment_shows_the_rule_inline_and_changes_nothing() {
    let t = spawn_app().await;
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let (full, _) = full_group(&t, &k).await;
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let newcomer = client(&t, &k, "N-0001", "Noor", "iop", json!(["depression"])).await;
    let outpatient = client(&t, &k, "O-0001", "Oak", "outpatient", json!(["depression"])).await;

    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url("/groups")).await.unwrap();
    let row = b.text(&format!("#group-{full}")).await;
    assert!(row.contains("3 / 3") && row.contains("full"), "{row}");
    assert!(row.contains("Tuesday 18:00 (90 min)") && row.contains("Lead Facilitator"));
    b.check_page("groups").await;

    // A full group: the rule is explained and nothing changes.
    b.click(&format!("#group-{full} a")).await;
    assert_eq!(
        b.wait_path(&format!("/groups/{full}")).await,
        format!("/groups/{full}")
    );
    b.check_page("group-detail").await;
    b.fill("#add-client", "Noor Intaketest (N-0001)").await;
    b.click("#add-member button[type=submit]").await;
    let alert = b.text("[role=alert]").await;
    assert!(alert.contains("the group is full"), "{alert}");
    assert!(alert.contains("maximum is 3"), "{alert}");
    b.check_page("group-refused-full").await;
    assert_eq!(group_member_count(&t, &k.director, full).await, 3);
    assert!(memberships(&t, &k.director, newcomer).await.is_empty());

    // The wrong level of care for the clinic's IOP group, which has seats.
    b.client
        .goto(&t.url(&format!("/groups/{}", k.group)))
        .await
        .unwrap();
    b.fill("#add-client", "Oak Intaketest (O-0001)").await;
    b.click("#add-member button[type=submit]").await;
    let alert = b.text("[role=alert]").await;
    assert!(
        alert.contains("does not accept clients at the outpatient level of care"),
        "{alert}"
    );
    assert!(memberships(&t, &k.director, outpatient).await.is_empty());
    assert_eq!(group_member_count(&t, &k.director, k.group).await, 2);

    // The rules allow the newcomer here: added, and shown among the members.
    b.fill("#add-client", "Noor Intaketest (N-0001)").await;
    b.click("#add-member button[type=submit]").await;
    assert!(b.shows("[role=status]", "The membership was added").await);
    assert!(b.text("#members").await.contains("Noor I."));
    assert_eq!(group_member_count(&t, &k.director, k.group).await, 3);
    b.close().await;

    // A clinician who does not lead the full group sees it but not who is in it.
    let (s, other) = t
        .post(
            &k.director,
            "/api/v1/clinicians",
            json!({"given_name": "Other", "family_name": "Clinician", "email": "other@example.test",
                "licenses": [{"kind": "lmhc", "number": "L-900", "state": "MA",
                    "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    t.token_for(
        "other@example.test",
        Role::Clinician,
        Some(ClinicianId(other["id"].as_i64().unwrap())),
        None,
    )
    .await;
    let b = Browser::start().await;
    sign_in(&b, &t, "other@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/groups/{full}")))
        .await
        .unwrap();
    let main = b.text("main").await;
    assert!(main.contains("shown to its facilitators"), "{main}");
    assert!(!main.contains("Member101"), "{main}");
    assert!(b.try_text("#add-member").await.is_none());
    b.check_page("group-detail-other-clinician").await;
    b.close().await;
}

#[tokio::test]
async fn a_join_request_shows_the_ticked_times_and_move_reasons_and_ready_comes_only_from_a_screening()
 {
    let t = spawn_app().await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let b = Browser::start().await;
    b.client.goto(&t.url("/join")).await.unwrap();
    b.fill("#name", "Sam Example").await;
    b.fill("#email", "sam@example.test").await;
    b.fill("#looking_for", "A weekly group for low mood, evenings.")
        .await;
    b.click("#t-tuesday-evening").await;
    b.click("#t-thursday-evening").await;
    b.click("form button[type=submit]").await;
    assert!(b.shows("[role=status]", "We have your request").await);
    b.close().await;
    let (_, referrals) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    let id = referrals["items"][0]["id"].as_i64().unwrap();

    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/referrals/{id}")))
        .await
        .unwrap();
    assert_eq!(
        b.text("#referral-availability").await,
        "Tuesday evening, Thursday evening"
    );
    b.fill("#move-reason", "Called back; prefers evenings.")
        .await;
    b.click("#to-screening").await;
    assert!(b.shows("#referral-state", "Screening").await);
    assert!(
        b.shows("#referral-history", "Called back; prefers evenings.")
            .await,
        "{}",
        b.text("main").await
    );
    assert!(
        b.client
            .find_all(Locator::Css("#to-ready"))
            .await
            .unwrap()
            .is_empty(),
        "no button skips the screening"
    );
    assert!(b.text("#ready-by-screening").await.contains("screening"));
    assert_eq!(b.text("#referral-screener").await, "not assigned yet");
    b.check_page("intake-referral-screening-availability").await;
    b.close().await;
}

#[tokio::test]
async fn a_second_join_request_from_someone_already_a_client_is_flagged_on_the_referral() {
    let t = spawn_app().await;
    let dir = t
        .token_for("director@example.test", Role::Director, None, None)
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, c) = t
        .post(
            &dir,
            "/api/v1/clients",
            json!({"record_number": "R-0077", "given_name": "Sam", "family_name": "Returning",
                "date_of_birth": "1985-05-05", "referral_source": "self_referral",
                "email": "sam@example.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let b = Browser::start().await;
    b.client.goto(&t.url("/join")).await.unwrap();
    b.fill("#name", "Sam Returning").await;
    b.fill("#email", "SAM@example.test").await;
    b.fill("#looking_for", "Back for a group again.").await;
    b.click("form button[type=submit]").await;
    assert!(b.shows("[role=status]", "We have your request").await);
    b.close().await;
    let (_, referrals) = t.get(&intake, "/api/v1/referrals?state=referred").await;
    let id = referrals["items"][0]["id"].as_i64().unwrap();

    let b = Browser::start().await;
    sign_in(&b, &t, "intake@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/referrals/{id}")))
        .await
        .unwrap();
    let flag = b.text("#already-client").await;
    assert!(
        flag.contains("may already be a client") && flag.contains("Sam Returning (R-0077)"),
        "{flag}"
    );
    b.check_page("intake-referral-already-client").await;
    b.close().await;
}
