//! Page forms over HTTP (issue 14, typed page forms), on the database `TEST_DATABASE_URL`
//! names (SQLite when unset): one extractor checks every signed-in form's CSRF token and
//! parses it, so a form without the session's token is refused and writes nothing, and a
//! form with several bad fields comes back with every error next to its field and what was
//! typed kept (never a password). The public forms (join, refer) parse the same way behind
//! their pre-session token: every bad field at once, each named in the page's words.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "a-long-temporary-passphrase-42";

async fn admin(t: &TestApp) -> String {
    t.token_for("admin@example.test", Role::Admin, None, None)
        .await
}

/// The accounts, as the API lists them to an administrator.
async fn accounts(t: &TestApp, admin: &str) -> Vec<Value> {
    let (s, v) = t.get(admin, "/api/v1/users").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().clone()
}

async fn clinic(t: &TestApp) -> Clinic {
    t.clinic(ClinicSpec {
        members: 1,
        ..ClinicSpec::default()
    })
    .await
}

#[tokio::test]
async fn a_page_form_without_the_sessions_csrf_token_is_refused_and_writes_nothing() {
    let t = spawn_app().await;
    let clinic = clinic(&t).await;
    let admin = admin(&t).await;
    let before = accounts(&t, &admin).await.len();
    let wrong = circle_app::web_session::csrf_token("another session");
    let fields = [
        ("email", "new.person@example.test"),
        ("role", "intake"),
        ("password", PASSWORD),
    ];
    for csrf in [None, Some(""), Some(wrong.as_str())] {
        let mut sent = fields.to_vec();
        if let Some(c) = csrf {
            sent.push(("csrf", c));
        }
        let r = t.page_form(&admin, "/admin/users", &sent).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "csrf {csrf:?}");
        assert!(r.body.contains("Form expired"), "{}", r.body);
    }
    assert_eq!(accounts(&t, &admin).await.len(), before, "nothing written");
    assert!(
        !accounts(&t, &admin)
            .await
            .iter()
            .any(|a| a["email"] == "new.person@example.test")
    );

    // The same refusal on another area's form (a referral): nothing recorded.
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (_, listed) = t.get(&intake, "/api/v1/referrals").await;
    let r = t
        .page_form(
            &intake,
            "/intake/referrals",
            &[
                ("csrf", &wrong),
                ("path", "self_referral"),
                ("name", "Robin Formtest"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (_, after) = t.get(&intake, "/api/v1/referrals").await;
    assert_eq!(listed, after, "no referral recorded");

    // A form that is only a button (signing out) is refused the same way.
    let lead = t
        .login(&clinic.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let r = t.page_form(&lead, "/sign-out", &[("csrf", &wrong)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        t.page(&lead, "/today").await.status,
        StatusCode::OK,
        "still signed in"
    );

    // With the token, the account is made.
    let right = circle_app::web_session::csrf_token(&admin);
    let mut sent = fields.to_vec();
    sent.push(("csrf", &right));
    let r = t.page_form(&admin, "/admin/users", &sent).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/admin?done=created"));
    assert!(
        accounts(&t, &admin)
            .await
            .iter()
            .any(|a| a["email"] == "new.person@example.test")
    );
}

#[tokio::test]
async fn an_account_form_with_three_bad_fields_shows_each_error_by_its_field_and_keeps_the_values()
{
    let t = spawn_app().await;
    let _clinic = clinic(&t).await;
    let admin = admin(&t).await;
    let before = accounts(&t, &admin).await.len();
    let csrf = circle_app::web_session::csrf_token(&admin);
    let r = t
        .page_form(
            &admin,
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "not-an-address"),
                ("role", "wizard"),
                ("clinician_id", "Nobody Weknow"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let body = &r.body;
    // Each error sits by its field, and the field points at it for a screen reader.
    for (input, message) in [
        ("new-email", "must be an email address"),
        ("new-role", "must be one of the listed choices"),
        ("new-clinician", "must be one of the listed choices"),
    ] {
        let error = format!("id=\"{input}-error\">");
        let at = body
            .find(&error)
            .unwrap_or_else(|| panic!("no error for {input}: {body}"));
        assert!(
            body[at..].starts_with(&format!("{error}{message}")),
            "{input}: {}",
            &body[at..at + 120]
        );
        assert!(
            body.contains(&format!("{input}-error\"")) && body.contains("aria-invalid=\"true\""),
            "{input} is described by its error"
        );
    }
    assert!(body.contains("aria-describedby=\"new-email-error\""));
    assert!(body.contains("aria-describedby=\"new-role-error\""));
    assert!(body.contains("aria-describedby=\"new-clinician-hint new-clinician-error\""));
    // The summary names the fields in words, never the form's codes.
    assert!(body.contains("Email: must be an email address"), "{body}");
    assert!(!body.contains("clinician_id:"), "{body}");
    // What was typed is kept; the password and the values' rules never echo a value.
    assert!(body.contains("value=\"not-an-address\""));
    assert!(body.contains("value=\"Nobody Weknow\""));
    assert!(!body.contains(PASSWORD));
    assert!(!body.contains("wizard"));
    assert_eq!(accounts(&t, &admin).await.len(), before, "nothing written");
}

#[tokio::test]
async fn an_account_is_linked_to_a_clinician_picked_by_name_and_roles_read_as_words() {
    let t = spawn_app().await;
    let clinic = clinic(&t).await;
    let admin = admin(&t).await;
    let (s, morgan) = t
        .post(
            &clinic.director,
            "/api/v1/clinicians",
            json!({"given_name": "Morgan", "family_name": "Formtest", "email": "morgan@example.test",
                "licenses": [{"kind": "lmhc", "number": "L-201", "state": "MA",
                    "issued_on": "2020-01-01", "expires_on": "2030-01-01"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{morgan}");
    let morgan = morgan["id"].as_i64().unwrap();
    let page = t.page(&admin, "/admin").await;
    assert!(
        page.body.contains("<option value=\"Morgan Formtest\">"),
        "the picker offers the clinician by name: {}",
        page.body
    );
    // Roles are shown by their words, never their codes.
    assert!(page.body.contains("<td class=\"role\">Administrator</td>"));
    assert!(!page.body.contains("<td class=\"role\">admin</td>"));

    let csrf = circle_app::web_session::csrf_token(&admin);
    // A clinician without their record: the error is by the picker.
    let r = t
        .page_form(
            &admin,
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "morgan@example.test"),
                ("role", "clinician"),
                ("clinician_id", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("id=\"new-clinician-error\">choose the clinician")
    );
    let r = t
        .page_form(
            &admin,
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "morgan@example.test"),
                ("role", "clinician"),
                ("clinician_id", "Morgan Formtest"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let made = accounts(&t, &admin)
        .await
        .into_iter()
        .find(|a| a["email"] == "morgan@example.test")
        .unwrap();
    assert_eq!(made["clinician_id"].as_i64(), Some(morgan), "{made}");
    let page = t.page(&admin, "/admin").await;
    assert!(page.body.contains("<td class=\"role\">Clinician</td>"));
}

/// The attendance recorded for a session, by client, as the API lists it to `token`.
async fn attendance(t: &TestApp, token: &str, session: i64) -> Vec<(i64, String, i64)> {
    let (s, v) = t
        .get(token, &format!("/api/v1/sessions/{session}/attendance"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut rows: Vec<(i64, String, i64)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["client_id"].as_i64().unwrap(),
                a["status"].as_str().unwrap().to_owned(),
                a["minutes"].as_i64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn an_attendance_sheet_with_bad_rows_names_each_members_field_and_saves_nothing() {
    let t = spawn_app().await;
    let clinic = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let session = clinic.sessions(&t, "2026-05-04", "2026-05-05").await[0];
    t.clock.set("2026-05-04T15:45:00Z".parse().unwrap());
    let lead = t
        .login(&clinic.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .unwrap();
    let csrf = circle_app::web_session::csrf_token(&lead);
    let path = format!("/sessions/{session}/attendance");
    let [a, b, c] = [0, 1, 2].map(|i| clinic.members[i].to_string());
    let key = |name: &str, id: &str| format!("{name}_{id}");
    let (status_a, part_a, status_b, status_c, minutes_c) = (
        key("status", &a),
        key("part", &a),
        key("status", &b),
        key("status", &c),
        key("minutes", &c),
    );

    // Three rows with a value that is none of the sheet's choices: every one is named by
    // its member and field, what was typed stays, and nothing is saved, not even the
    // good part of a row.
    let r = t
        .page_form(
            &lead,
            &path,
            &[
                ("csrf", csrf.as_str()),
                (&status_a, "present"),
                (&part_a, "shared"),
                (&part_a, "dancing"),
                (&status_b, "asleep"),
                (&status_c, "late"),
                (&minutes_c, "soon"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let body = &r.body;
    for (id, rule) in [
        (&part_a, "must be one of the listed choices"),
        (&status_b, "must be one of the listed choices"),
        (&minutes_c, "must be a whole number, 0 or more"),
    ] {
        assert!(
            body.contains(&format!(
                r#"<span class="field-error" id="{id}-error">{rule}</span>"#
            )),
            "{id}: {body}"
        );
        assert!(
            body.contains(&format!(r#"aria-describedby="{id}-error""#)),
            "{id}"
        );
    }
    for summary in [
        "Nothing was saved",
        "Member1 C.: Participation: must be one of the listed choices",
        "Member2 C.: Attendance: must be one of the listed choices",
        "Member3 C.: Minutes: must be a whole number, 0 or more",
    ] {
        assert!(body.contains(summary), "{summary}: {body}");
    }
    for kept in [
        format!(r#"name="{status_a}" value="present" checked"#),
        format!(r#"name="{part_a}" value="shared" checked"#),
        format!(r#"name="{status_c}" value="late" checked"#),
        format!(r#"name="{minutes_c}" min="0" max="90" value="soon""#),
    ] {
        assert!(body.contains(&kept), "{kept}: {body}");
    }
    assert!(!body.contains("dancing") && !body.contains("asleep"));
    assert!(
        attendance(&t, &lead, session).await.is_empty(),
        "nothing saved"
    );

    // A sheet that reads but breaks the service's rule for one member: the others are
    // saved, the refused one is named by its field.
    let r = t
        .page_form(
            &lead,
            &path,
            &[
                ("csrf", csrf.as_str()),
                (&status_a, "present"),
                (&status_b, "absent_excused"),
                (&status_c, "late"),
                (&minutes_c, ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        r.body.contains("Attendance saved for 2 members."),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!(
            r#"<span class="field-error" id="{minutes_c}-error">is required for late arrival or early leave</span>"#
        )),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("Member3 C.: Minutes: is required for late arrival or early leave"),
        "{}",
        r.body
    );
    let ids: Vec<i64> = clinic.members.clone();
    assert_eq!(
        attendance(&t, &lead, session).await,
        [
            (ids[0], "present".to_owned(), 90),
            (ids[1], "absent_excused".to_owned(), 0),
        ]
    );

    // Fixed, the sheet is taken.
    let r = t
        .page_form(
            &lead,
            &path,
            &[
                ("csrf", csrf.as_str()),
                (&status_a, "present"),
                (&status_b, "absent_excused"),
                (&status_c, "late"),
                (&minutes_c, "60"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/sessions/{session}?saved=1").as_str())
    );
    assert_eq!(
        attendance(&t, &lead, session).await[2],
        (ids[2], "late".to_owned(), 60)
    );
}

/// A public page's form as a browser gets it: the pre-session cookie and its token.
async fn public_form(t: &TestApp, path: &str) -> (String, String) {
    let p = t.public_page(&t.url(path)).await;
    assert_eq!(p.page.status, StatusCode::OK, "{path}");
    (p.cookie, p.csrf)
}

async fn post_public(
    t: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = t.post_public(&t.url(path), cookie, fields).await;
    (r.status, r.body)
}

/// Each error is in the page's summary in its words and next to its field (`ID-error`).
fn refused_by_field(body: &str, errors: &[(&str, &str)]) {
    for (id, words) in errors {
        assert!(
            body.contains(&format!("<li>{words}</li>")),
            "{words}: {body}"
        );
        assert!(
            body.contains(&format!(r#"id="{id}-error""#)),
            "{id}: {body}"
        );
    }
}

async fn intake(t: &TestApp) -> String {
    t.token_for("intake@example.test", Role::Intake, None, None)
        .await
}

/// The referrals intake sees.
async fn referrals(t: &TestApp, intake: &str) -> usize {
    let (s, list) = t.get(intake, "/api/v1/referrals").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_join_request_with_four_bad_fields_names_each_in_the_pages_words_and_keeps_nothing() {
    let t = spawn_app().await;
    let intake = intake(&t).await;
    let (cookie, csrf) = public_form(&t, "/join").await;
    let (s, body) = post_public(
        &t,
        "/join",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "  "),
            ("email", "sam-at-home"),
            ("phone", ""),
            ("looking_for", ""),
            ("time", "tuesday/evening"),
            ("time", "someday/noon"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    refused_by_field(
        &body,
        &[
            ("name", "Your name: is required"),
            (
                "email",
                "Email: must be an email address such as name@example.org",
            ),
            (
                "looking_for",
                "What you are looking for: must say briefly what you are looking for",
            ),
            ("time", "When you could come: choose times from the grid"),
        ],
    );
    assert!(!body.contains("phone-error"), "{body}");
    assert!(
        body.contains(r#"aria-invalid="true" aria-describedby="email-error""#),
        "{body}"
    );
    // What was typed comes back in its fields (the tick kept), never in a message.
    assert!(body.contains(r#"value="sam-at-home""#), "{body}");
    assert!(
        body.contains(r#"id="t-tuesday-evening" name="time" value="tuesday/evening" checked"#),
        "{body}"
    );
    assert!(!body.contains("someday"), "{body}");
    assert_eq!(referrals(&t, &intake).await, 0);

    // Neither email nor phone is a rule across the form, named with the others.
    let (s, body) = post_public(
        &t,
        "/join",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "Sam Example"),
            ("looking_for", "A group"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("<li>Email: an email or a phone number is required to reply</li>"),
        "{body}"
    );

    // Without the page's token: the form again (403); a robot is thanked; neither is kept.
    let (s, body) = post_public(
        &t,
        "/join",
        "",
        &[
            ("csrf", &csrf),
            ("name", "Sam Example"),
            ("email", "sam@example.test"),
            ("looking_for", "A group"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("The form had expired"), "{body}");
    let (s, body) = post_public(
        &t,
        "/join",
        &cookie,
        &[
            ("csrf", &csrf),
            ("name", "Sam Example"),
            ("email", "sam@example.test"),
            ("looking_for", "A group"),
            ("website", "http://spam.example"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("We have your request"), "{body}");
    assert_eq!(referrals(&t, &intake).await, 0);
}

#[tokio::test]
async fn a_referral_with_six_bad_fields_names_each_in_the_pages_words_and_keeps_nothing() {
    let t = spawn_app().await;
    // The directory lists outpatient groups open to self-referral.
    let _clinic = t
        .clinic(ClinicSpec {
            members: 1,
            level: "outpatient",
            ..ClinicSpec::default()
        })
        .await;
    let intake = intake(&t).await;
    let (cookie, csrf) = public_form(&t, "/refer").await;
    let (s, body) = post_public(
        &t,
        "/refer",
        &cookie,
        &[
            ("csrf", &csrf),
            ("provider_name", ""),
            ("provider_email", "dana-at-harbor"),
            ("client_name", ""),
            ("client_phone", ""),
            ("client_email", ""),
            ("group", "Nowhere Group"),
            ("reason", "grief"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    refused_by_field(
        &body,
        &[
            ("provider_name", "Your name: is required"),
            (
                "provider_email",
                "Your email: must be an email address such as name@example.org",
            ),
            ("client_name", "Client&#39;s name: is required"),
            (
                "client_contact",
                "Client&#39;s phone or email: one is required so we can reach them",
            ),
            (
                "group",
                "Group: choose one from the list, or leave it blank for no preference",
            ),
            (
                "consent",
                "The client agrees: tick the box to confirm the client asked for or agreed to this referral",
            ),
        ],
    );
    assert!(
        body.contains(r#"aria-invalid="true" aria-describedby="group-hint group-error""#),
        "{body}"
    );
    assert!(body.contains(r#"value="Nowhere Group""#), "{body}");
    assert_eq!(referrals(&t, &intake).await, 0);

    // The group chosen by its name (any case): the referral is made, naming the group.
    let (s, body) = post_public(
        &t,
        "/refer",
        &cookie,
        &[
            ("csrf", &csrf),
            ("provider_name", "Dana Therapist"),
            ("provider_email", "dana@harbor.example"),
            ("client_name", "Robin Referred"),
            ("client_phone", "617-555-0199"),
            ("group", "monday PROCESS"),
            ("reason", "grief"),
            ("consent", "yes"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("We have your referral"), "{body}");
    let (_, list) = t.get(&intake, "/api/v1/referrals").await;
    let r = &list["items"][0];
    assert_eq!(r["path"], "therapist_referral", "{list}");
    assert_eq!(
        r["details"]["reason"], "Group asked about: Monday process. grief",
        "{list}"
    );
}
