//! Browser tests: the notes on the session screen (group note, progress notes with the
//! check for other members' names, co-signature, addenda, autosaved drafts that survive
//! an expired session) and the printable sign-in sheet.

use super::*;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use reqwest::Method;

/// Monday 4 May 2026, 11:45 in New York: the clinic's 10:00 session has ended.
const AFTER_SESSION: &str = "2026-05-04T15:45:00Z";

/// The clinic's session on Monday 4 May, after it ended, with each member's attendance
/// recorded through the API (`statuses[i]` for member `i`), and a director's token
/// issued at that time (moving the clock ended the earlier one's idle lifetime).
async fn session_with_attendance(t: &TestApp, clinic: &Clinic, statuses: &[&str]) -> (i64, String) {
    let session = clinic.sessions(t, "2026-05-04", "2026-05-05").await[0];
    t.clock.set(AFTER_SESSION.parse().unwrap());
    let dir = t
        .login("director@example.test", TEST_PASSWORD)
        .await
        .expect("the director signs in");
    for (c, status) in clinic.members.iter().zip(statuses) {
        let (s, a) = t
            .send(
                Method::PUT,
                &dir,
                &format!("/api/v1/sessions/{session}/attendance/{c}"),
                json!({"status": status, "minutes": if *status == "late" { json!(60) } else { Value::Null }}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "attendance: {a}");
    }
    (session, dir)
}

/// The session's progress note about `client`, read through the API.
async fn progress_note(t: &TestApp, token: &str, session: i64, client: i64) -> Option<Value> {
    let (s, notes) = t
        .get(token, &format!("/api/v1/sessions/{session}/notes"))
        .await;
    assert_eq!(s, StatusCode::OK, "{notes}");
    notes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["client_id"] == client)
        .cloned()
}

async fn value_of(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .prop("value")
        .await
        .expect("a value")
        .unwrap_or_default()
}

#[tokio::test]
async fn a_facilitator_writes_and_signs_the_notes_after_the_name_warning_and_adds_an_addendum() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let m = clinic.members.clone();
    let (session, dir) =
        session_with_attendance(&t, &clinic, &["present", "late", "absent_excused"]).await;

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/sessions/{session}")))
        .await
        .unwrap();
    assert!(b.shows("#group-note .note-state", "Not started").await);
    assert!(
        b.text("section.notes").await.contains("Member3 C."),
        "the absent member is listed as having no note to write"
    );
    assert!(
        b.client
            .find(Locator::Css(&format!("#note-{}", m[2])))
            .await
            .is_err(),
        "no progress note form for a member who did not attend"
    );
    b.check_page("notes-session").await;

    // The group note: written and signed.
    b.fill("#group-note-themes", "Coping with weekend isolation.")
        .await;
    b.fill(
        "#group-note-interventions",
        "Validation; chain analysis on the whiteboard.",
    )
    .await;
    b.click("#group-note button[value=sign]").await;
    assert!(
        b.shows("#group-note .note-state", "Signed").await,
        "{}",
        b.text("main").await
    );
    assert!(b.text("#group-note").await.contains("chain analysis"));
    let (_, group_note) = t
        .get(&dir, &format!("/api/v1/sessions/{session}/group-note"))
        .await;
    assert_eq!(group_note["state"], "signed", "{group_note}");
    assert_eq!(group_note["themes"], "Coping with weekend isolation.");
    assert_eq!(group_note["facilitators"], json!([clinic.lead]));

    // A progress note naming another member is refused, saying which member.
    let first = format!("#note-{}", m[0]);
    b.fill(
        &format!("{first}-presentation"),
        "Engaged; responded warmly to Member2's feedback.",
    )
    .await;
    b.fill(&format!("{first}-plan"), "Continue the sleep diary.")
        .await;
    b.click(&format!("{first} button[value=sign]")).await;
    assert!(
        b.shows(&format!("{first} [role=alert]"), "Not signed")
            .await,
        "{}",
        b.text("main").await
    );
    let warning = b.text(&format!("{first} [role=alert]")).await;
    assert!(
        warning.contains("Member2 C. (in Presentation)"),
        "the name found and where: {warning}"
    );
    assert!(
        !warning.contains("Clinictest"),
        "nothing beyond the roster name: {warning}"
    );
    b.check_page("notes-name-warning").await;
    let note = progress_note(&t, &dir, session, m[0])
        .await
        .expect("the draft was kept");
    assert_eq!(note["state"], "draft", "nothing was signed: {note}");

    // Fixed, it signs.
    b.fill(
        &format!("{first}-presentation"),
        "Engaged; responded warmly to a peer's feedback.",
    )
    .await;
    b.click(&format!("{first} button[value=sign]")).await;
    assert!(
        b.shows(&format!("{first} .note-state"), "Signed").await,
        "{}",
        b.text("main").await
    );
    let note = progress_note(&t, &dir, session, m[0]).await.unwrap();
    assert_eq!(note["state"], "signed");
    assert_eq!(note["names_check_confirmed"], false);
    assert_eq!(
        note["presentation"],
        "Engaged; responded warmly to a peer's feedback."
    );
    assert!(
        b.client
            .find(Locator::Css(&format!("{first}-presentation")))
            .await
            .is_err(),
        "a signed note is locked: no field to edit"
    );

    // The late member's note, with markup that must show as text.
    let second = format!("#note-{}", m[1]);
    b.fill(
        &format!("{second}-participation"),
        "Arrived late; quoted <script>alert(1)</script> from a film.",
    )
    .await;
    b.click(&format!("{second} button[value=sign]")).await;
    assert!(b.shows(&format!("{second} .note-state"), "Signed").await);
    assert!(
        b.text(&second)
            .await
            .contains("quoted <script>alert(1)</script> from a film"),
        "markup is shown escaped"
    );
    b.check_page("notes-signed").await;

    // An addendum to the signed note.
    b.fill(
        &format!("{first}-addendum"),
        "Late entry: the member asked for a referral to a sleep clinic.",
    )
    .await;
    b.click(&format!("{first} .addendum-form button")).await;
    assert!(
        b.shows(&format!("{first} ul.addenda"), "referral to a sleep clinic")
            .await,
        "{}",
        b.text("main").await
    );
    b.check_page("notes-addendum").await;
    let note = progress_note(&t, &dir, session, m[0]).await.unwrap();
    assert_eq!(note["state"], "signed");
    assert_eq!(note["addenda"].as_array().unwrap().len(), 1, "{note}");
    assert_eq!(note["addenda"][0]["author_clinician_id"], clinic.lead);
    b.close().await;
}

#[tokio::test]
async fn a_trainees_note_is_cosigned_by_the_lead_and_the_sign_in_sheet_shows_only_roster_names() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let m = clinic.members.clone();
    let (session, dir) = session_with_attendance(&t, &clinic, &["present", "present"]).await;
    // A supervised trainee (no license) co-facilitates the group.
    let (s, trainee) = t
        .post(
            &dir,
            "/api/v1/clinicians",
            json!({"given_name": "Tess", "family_name": "Trainee", "email": "trainee@example.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{trainee}");
    let trainee_id = trainee["id"].as_i64().unwrap();
    let (_, group) = t
        .get(&dir, &format!("/api/v1/groups/{}", clinic.group))
        .await;
    let (s, patched) = t
        .send(
            Method::PATCH,
            &dir,
            &format!("/api/v1/groups/{}", clinic.group),
            json!({"version": group["version"], "co_facilitator_id": trainee_id}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    let trainee_token = t
        .token_for(
            "trainee@example.test",
            Role::Clinician,
            Some(ClinicianId(trainee_id)),
            None,
        )
        .await;
    let (s, note) = t
        .send(
            Method::PUT,
            &trainee_token,
            &format!("/api/v1/sessions/{session}/notes/{}", m[0]),
            json!({"presentation": "Calm and engaged.", "plan": "Review the coping card."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{note}");
    let (s, note) = t
        .post(
            &trainee_token,
            &format!("/api/v1/notes/{}/sign", note["id"]),
            json!({"version": note["version"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{note}");
    assert_eq!(note["state"], "awaiting_cosign");

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client
        .goto(&t.url(&format!("/sessions/{session}")))
        .await
        .unwrap();
    let card = format!("#note-{}", m[0]);
    assert!(
        b.shows(&format!("{card} .note-state"), "Awaiting co-signature")
            .await
    );
    assert!(b.text(&card).await.contains("Signed by Tess Trainee"));
    b.check_page("notes-awaiting-cosign").await;
    b.click(&format!("{card} button[value=cosign]")).await;
    assert!(
        b.shows(&format!("{card} .note-state"), "Signed").await,
        "{}",
        b.text("main").await
    );
    assert!(
        b.text(&card)
            .await
            .contains("Co-signed by Lead Facilitator")
    );
    b.check_page("notes-cosigned").await;
    let note = progress_note(&t, &dir, session, m[0]).await.unwrap();
    assert_eq!(note["state"], "signed");
    assert_eq!(note["cosigned_by"], clinic.lead);
    assert_eq!(note["author_clinician_id"], trainee_id);

    // The sign-in sheet: roster names and an empty signature column, nothing else.
    b.click("main a[href$='/sign-in-sheet']").await;
    assert_eq!(
        b.wait_path(&format!("/sessions/{session}/sign-in-sheet"))
            .await,
        format!("/sessions/{session}/sign-in-sheet")
    );
    let rows = b.client.find_all(Locator::Css("tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 2, "one line per member");
    let table = b.text("table").await;
    assert!(table.contains("Member1 C.") && table.contains("Member2 C."));
    for hidden in ["Clinictest", "C-0001", "1984", "Calm and engaged"] {
        assert!(!table.contains(hidden), "{hidden} on the sheet: {table}");
    }
    let headers = b
        .client
        .find_all(Locator::Css("thead th"))
        .await
        .unwrap()
        .len();
    assert_eq!(headers, 2, "name and signature only");
    for cell in b
        .client
        .find_all(Locator::Css("td.signature"))
        .await
        .unwrap()
    {
        assert_eq!(
            cell.text().await.unwrap(),
            "",
            "the signature column is blank"
        );
    }
    b.check_page("notes-sign-in-sheet").await;
    b.close().await;
}

#[tokio::test]
async fn a_draft_saves_itself_and_is_there_after_the_session_expires_and_the_clinician_signs_in_again()
 {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let m = clinic.members.clone();
    let (session, dir) = session_with_attendance(&t, &clinic, &["present", "present"]).await;

    let b = Browser::start().await;
    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    let page = format!("/sessions/{session}");
    b.client.goto(&t.url(&page)).await.unwrap();
    let field = format!("#note-{}-progress", m[0]);
    let text = "Half-written: practising the wind-down routine three nights";
    // Typing only: no button is pressed.
    b.fill(&field, text).await;

    // The script saves the draft on the server (polled through the API, not waited for).
    let mut saved = None;
    for _ in 0..100 {
        if let Some(n) = progress_note(&t, &dir, session, m[0]).await
            && n["progress"] == text
        {
            saved = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let saved = match saved {
        Some(n) => n,
        None => panic!(
            "the draft did not reach the server without a button press; the page says: {:?}",
            b.try_text(&format!("#note-{} .autosave", m[0])).await
        ),
    };
    assert_eq!(saved["state"], "draft");
    assert!(
        b.shows(&format!("#note-{} .autosave", m[0]), "Draft saved")
            .await,
        "the page says the draft was saved"
    );
    b.check_page("notes-autosaved").await;

    // Sixteen idle minutes later the session has expired: the page returns to sign-in.
    t.clock.set("2026-05-04T16:01:00Z".parse().unwrap());
    b.client.goto(&t.url(&page)).await.unwrap();
    assert_eq!(b.wait_path("/sign-in").await, "/sign-in");
    b.check_page("notes-session-expired").await;

    sign_in(&b, &t, "lead@example.test").await;
    assert_eq!(b.wait_path("/today").await, "/today");
    b.client.goto(&t.url(&page)).await.unwrap();
    assert_eq!(value_of(&b, &field).await, text, "the draft is still there");
    assert!(
        b.shows(&format!("#note-{} .note-state", m[0]), "Draft")
            .await
    );
    b.check_page("notes-draft-after-sign-in").await;
    b.close().await;
}
