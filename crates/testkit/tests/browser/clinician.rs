//! A clinician's day through the pages: their groups (with members who have left), the
//! session screen (attendance, participation, a future session), progress notes.

use super::*;
use circle_testkit::clinic::ClinicSpec;

#[tokio::test]
async fn a_clinician_opens_their_own_group_whose_former_member_left_their_caseload() {
    let t = spawn_app().await;
    let clinic = t.clinic(ClinicSpec::default()).await;
    // One member completed the group in May; by July they are outside the lead's
    // caseload (memberships ended more than 30 days ago), but still a former member.
    let (_, memberships) = t
        .get(
            &clinic.director,
            &format!("/api/v1/groups/{}/memberships", clinic.group),
        )
        .await;
    let first = memberships["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["client_id"] == clinic.members[0])
        .unwrap()
        .clone();
    let (status, body) = t
        .send(
            reqwest::Method::PATCH,
            &clinic.director,
            &format!("/api/v1/memberships/{}", first["id"]),
            json!({"version": first["version"], "status": "completed", "end_date": "2026-05-18"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    t.clock.set("2026-07-06T14:00:00Z".parse().unwrap());

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/groups/{}", clinic.group)))
        .await
        .unwrap();
    assert_eq!(
        b.text("h1").await,
        "Monday process",
        "{}",
        b.text("main").await
    );
    let members = b.text("#members").await;
    assert!(members.contains("Member2 C."), "{members}");
    assert!(
        members.contains("Member1 C.") && members.contains("Completed"),
        "the former member, with a human status: {members}"
    );
    b.check_page("clinician-group-with-former-member").await;
    b.close().await;
}
