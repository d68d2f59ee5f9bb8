//! Calendars and telehealth (issue 15) over HTTP against the real server, on the database
//! `TEST_DATABASE_URL` names: staff calendar feeds (a clinician's, a room's) are secret,
//! revocable, discreet by default and recorded; join URLs are validated and reach only a
//! group's members and facilitators; and feeds look exactly as far ahead as sessions exist.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on an unexpected error"
)]

use circle_domain::ids::ClientId;
use circle_domain::text::Email;
use circle_domain::user::Role;
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::{TEST_PASSWORD, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const JOIN: &str = "https://video.example.org/j/wednesday-skills";
const MOVED: &str = "https://video.example.org/j/moved-online";

/// The fixture clinic (a Monday group in Room 3, two members) plus a telehealth group on
/// Wednesdays led by the same clinician, with member 1 in it. Returns the clinic, the
/// telehealth group's id and the lead's token.
async fn setup(t: &TestApp) -> (Clinic, i64, String) {
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    let (s, g) = t
        .post(
            &k.director,
            "/api/v1/groups",
            json!({"program_id": k.program, "name": "Wednesday skills", "kind": "skills",
                "modality": "dbt", "eligible_levels": ["iop"], "enrollment": {"model": "open"},
                "meetings": [{"weekday": "wednesday", "start": "18:00", "minutes": 60}],
                "lead_facilitator_id": k.lead}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let tele = g["id"].as_i64().unwrap();
    let (s, b) = t
        .post(
            &k.director,
            &format!("/api/v1/groups/{tele}/memberships"),
            json!({"client_id": k.members[0], "start_date": "2026-05-04"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let lead = t.login(&k.lead_email, TEST_PASSWORD).await.unwrap();
    (k, tele, lead)
}

fn csrf(token: &str) -> String {
    circle_app::web_session::csrf_token(token)
}

/// Posts a feed form; returns the status and the page.
async fn feed_form(t: &TestApp, token: &str, path: &str, target: &str) -> (StatusCode, String) {
    let c = csrf(token);
    let r = t
        .page_form(token, path, &[("csrf", c.as_str()), ("target", target)])
        .await;
    (r.status, r.body)
}

/// The feed path (`/staff-feed/….ics`) shown once on a page.
fn feed_path(body: &str) -> String {
    let start = body
        .find("/staff-feed/")
        .expect("a feed address on the page");
    let end = start + body[start..].find(".ics").unwrap();
    format!("{}.ics", &body[start..end])
}

/// A feed's status and body, fetched without any sign-in.
async fn fetch(t: &TestApp, path: &str) -> (StatusCode, String) {
    let r = t.http.get(t.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Content lines with folding undone (RFC 5545 §3.1).
fn unfolded(ics: &str) -> String {
    ics.replace("\r\n ", "")
}

async fn put(t: &TestApp, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    t.send(Method::PUT, token, path, body).await
}

/// The audit entries with `action` (newest first), as (object, actor role).
async fn audit(t: &TestApp, admin: &str, action: &str) -> Vec<(Value, Value)> {
    let (s, list) = t.get(admin, "/api/v1/audit?sort=-seq&limit=200").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| (e["object_id"].clone(), e["actor_role"].clone()))
        .collect()
}

#[tokio::test]
async fn staff_feeds_are_secret_revocable_discreet_by_default_and_recorded() {
    let t = spawn_app().await;
    let (k, tele, lead) = setup(&t).await;
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let (s, b) = put(
        &t,
        &k.director,
        &format!("/api/v1/groups/{tele}/join-url"),
        json!({"join_url": JOIN}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // The lead makes their own feed from their calendar; the page offers it.
    let me = format!("clinician:{}", k.lead);
    let r = t.page(&lead, "/calendar").await;
    assert!(r.body.contains("id=\"create-feed\""), "{}", r.body);
    let (s, body) = feed_form(&t, &lead, "/calendar/feed", &me).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mine = feed_path(&body);
    // Shown once: the calendar does not show it again.
    let r = t.page(&lead, "/calendar").await;
    assert!(!r.body.contains(&mine) && r.body.contains("id=\"revoke-feed\""));

    // A clinician reaches no room's feed and no colleague's; an administrator none.
    let room = format!("room:{}", k.room);
    let other = t.clinician_token("other@example.test").await;
    for (token, target) in [
        (&lead, room.as_str()),
        (&other, me.as_str()),
        (&admin, room.as_str()),
    ] {
        let (s, _) = feed_form(&t, token, "/calendar/feed", target).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{target}");
    }
    // Forged forms change nothing.
    let r = t
        .page_form(
            &lead,
            "/calendar/feed/revoke",
            &[("csrf", "forged"), ("target", me.as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Intake keeps schedules: it makes the room's feed.
    let (s, body) = feed_form(&t, &intake, "/calendar/feed", &room).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let room_feed = feed_path(&body);

    // The lead's feed: both groups' sessions, titled discreetly, rooms as locations, the
    // telehealth group's join URL; no member's name anywhere.
    let (s, ics) = fetch(&t, &mine).await;
    assert_eq!(s, StatusCode::OK);
    let ics = unfolded(&ics);
    assert!(ics.contains("SUMMARY:Group session — Room 3\r\n"), "{ics}");
    assert!(
        ics.contains("SUMMARY:Group session — Telehealth\r\n"),
        "{ics}"
    );
    assert!(!ics.contains("Monday process") && !ics.contains("Wednesday skills"));
    assert!(ics.contains(&format!("URL:{JOIN}\r\n")), "{ics}");
    assert!(!ics.contains("Member1") && !ics.contains("Clinictest"));
    // The room's feed: its sessions only, never a join URL.
    let (s, room_ics) = fetch(&t, &room_feed).await;
    assert_eq!(s, StatusCode::OK);
    assert!(room_ics.contains("SUMMARY:Group session — Room 3\r\n"));
    assert!(!room_ics.contains("Telehealth") && !room_ics.contains("URL:"));
    assert_eq!(
        room_ics.matches("BEGIN:VEVENT").count() * 2,
        ics.matches("BEGIN:VEVENT").count(),
        "the room holds half of the lead's sessions"
    );

    // The clinic may show group names to staff: a clinic-wide director or admin decides.
    let (s, _) = put(
        &t,
        &lead,
        "/api/v1/clinic/calendar-settings",
        json!({"staff_feed_group_names": true}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = put(
        &t,
        &k.director,
        "/api/v1/clinic/calendar-settings",
        json!({"staff_feed_group_names": "yes"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (_, ics) = fetch(&t, &mine).await;
    assert!(!ics.contains("Monday process"), "nothing changed");
    let (s, b) = put(
        &t,
        &k.director,
        "/api/v1/clinic/calendar-settings",
        json!({"staff_feed_group_names": true}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, b) = t.get(&lead, "/api/v1/clinic/calendar-settings").await;
    assert_eq!(b["staff_feed_group_names"], true);
    let (_, ics) = fetch(&t, &mine).await;
    assert!(
        ics.contains("SUMMARY:Monday process\r\n") && ics.contains("SUMMARY:Wednesday skills\r\n")
    );

    // Unknown secrets and odd shapes read nothing; a client's feed path is not a staff one.
    for p in [
        "/staff-feed/not-a-secret.ics".to_owned(),
        format!("/staff-feed/{}.ics", "A".repeat(43)),
        mine.trim_end_matches(".ics").to_owned(),
        mine.replace("/staff-feed/", "/feed/"),
    ] {
        assert_eq!(fetch(&t, &p).await.0, StatusCode::NOT_FOUND, "{p}");
    }

    // Replacing retires the old address; revoking retires the new one.
    let (_, body) = feed_form(&t, &lead, "/calendar/feed", &me).await;
    let replaced = feed_path(&body);
    assert_ne!(replaced, mine);
    assert_eq!(fetch(&t, &mine).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&t, &replaced).await.0, StatusCode::OK);
    let (s, _) = feed_form(&t, &lead, "/calendar/feed/revoke", &me).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(fetch(&t, &replaced).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        fetch(&t, &room_feed).await.0,
        StatusCode::OK,
        "other feeds stay"
    );

    // Each change is recorded with its target, never a secret; refusals too.
    let entries = audit(&t, &admin, "feed.write").await;
    let objects: Vec<&str> = entries.iter().filter_map(|(o, _)| o.as_str()).collect();
    assert_eq!(
        objects
            .iter()
            .filter(|o| **o == format!("create {me}"))
            .count(),
        2,
        "{entries:?}"
    );
    assert!(objects.contains(&format!("revoke {me}").as_str()));
    assert!(objects.contains(&format!("create {room}").as_str()));
    assert!(
        objects.contains(&room.as_str()),
        "the refused room feed: {entries:?}"
    );
}

#[tokio::test]
async fn join_urls_are_validated_and_reach_only_members_and_facilitators() {
    let t = spawn_app().await;
    let (k, tele, lead) = setup(&t).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let other = t.clinician_token("other@example.test").await;
    let path = format!("/api/v1/groups/{tele}/join-url");

    // Not https, not a URL, credentials inside, unknown fields: 422 naming the field.
    for bad in [
        json!({"join_url": "http://video.example.org/j/1"}),
        json!({"join_url": "video.example.org"}),
        json!({"join_url": "https://user:pw@video.example.org/j/1"}),
        json!({"join_url": 42}),
    ] {
        let (s, b) = put(&t, &k.director, &path, bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
        assert!(b.to_string().contains("join_url"), "{bad}: {b}");
        assert!(
            !b.to_string().contains("video.example.org"),
            "the value is not echoed: {b}"
        );
    }
    // A group that meets in a room has no group link (a session may move online).
    let (s, b) = put(
        &t,
        &k.director,
        &format!("/api/v1/groups/{}/join-url", k.group),
        json!({"join_url": JOIN}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b.to_string().contains("join_url"));
    // Only directors set a group's link.
    for token in [&lead, &intake] {
        let (s, _) = put(&t, token, &path, json!({"join_url": JOIN})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    let sessions_of = |g: i64| {
        let t = &t;
        let d = k.director.clone();
        async move {
            let (_, b) = t
                .get(
                    &d,
                    &format!("/api/v1/groups/{g}/sessions?from=2026-05-04&until=2026-05-20"),
                )
                .await;
            b.as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let tele_sessions = sessions_of(tele).await;
    let room_sessions = sessions_of(k.group).await;
    let (_, b) = t
        .get(
            &lead,
            &format!("/api/v1/sessions/{}/join-url", tele_sessions[0]),
        )
        .await;
    assert_eq!(b["join_url"], Value::Null, "nothing set yet");
    let (s, b) = put(&t, &k.director, &path, json!({"join_url": JOIN})).await;
    assert_eq!((s, b["join_url"].clone()), (StatusCode::OK, json!(JOIN)));

    // One room session moves online for a week: its facilitator overrides it.
    let (s, b) = put(
        &t,
        &lead,
        &format!("/api/v1/sessions/{}/join-url", room_sessions[1]),
        json!({"join_url": MOVED}),
    )
    .await;
    assert_eq!(
        (s, b["join_url"].clone()),
        (StatusCode::OK, json!(MOVED)),
        "{b}"
    );
    let (s, b) = put(
        &t,
        &lead,
        &format!("/api/v1/sessions/{}/join-url", room_sessions[1]),
        json!({"join_url": "ftp://x"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // Facilitators and directors read it; intake and other clinicians do not.
    let at = format!("/api/v1/sessions/{}/join-url", tele_sessions[0]);
    for token in [&lead, &k.director] {
        let (s, b) = t.get(token, &at).await;
        assert_eq!((s, b["join_url"].clone()), (StatusCode::OK, json!(JOIN)));
    }
    assert_eq!(t.get(&intake, &at).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.get(&other, &at).await.0, StatusCode::NOT_FOUND);
    // The session page shows it to the lead, not to intake.
    let page = format!("/sessions/{}", tele_sessions[0]);
    let r = t.page(&lead, &page).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(JOIN), "{}", r.body);
    let r = t.page(&intake, &page).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.body.contains(JOIN));

    // Member 1 (in both groups) sees the links in the portal and in their feed; member 2
    // (in the room group only) sees the moved session's link and never the group's.
    let mut portals = vec![];
    for (n, id) in k.members.iter().enumerate() {
        let email = format!("portal{n}@example.test");
        t.app
            .create_user(
                &Email::parse(&email).unwrap(),
                TEST_PASSWORD,
                Role::Client,
                None,
                Some(ClientId(*id)),
            )
            .await
            .unwrap();
        portals.push(t.login(&email, TEST_PASSWORD).await.unwrap());
    }
    let r = t.page(&portals[0], "/me").await;
    assert!(
        r.body.contains(JOIN) && r.body.contains(MOVED),
        "{}",
        r.body
    );
    let r = t.page(&portals[1], "/me").await;
    assert!(
        !r.body.contains(JOIN) && r.body.contains(MOVED),
        "{}",
        r.body
    );
    for (n, token) in portals.iter().enumerate() {
        let r = t
            .page_form(token, "/me/feed", &[("csrf", csrf(token).as_str())])
            .await;
        let start = r.body.find("/feed/").unwrap();
        let end = start + r.body[start..].find(".ics").unwrap();
        let (s, ics) = fetch(&t, &format!("{}.ics", &r.body[start..end])).await;
        assert_eq!(s, StatusCode::OK);
        let ics = unfolded(&ics);
        assert_eq!(
            ics.contains(&format!("URL:{JOIN}\r\n")),
            n == 0,
            "member {n}"
        );
        assert!(ics.contains(&format!("URL:{MOVED}\r\n")), "member {n}");
    }
    // Clearing the override returns the session to its room.
    let (s, b) = put(
        &t,
        &lead,
        &format!("/api/v1/sessions/{}/join-url", room_sessions[1]),
        json!({"join_url": null}),
    )
    .await;
    assert_eq!((s, b["join_url"].clone()), (StatusCode::OK, Value::Null));
    let r = t.page(&portals[1], "/me").await;
    assert!(!r.body.contains(MOVED));
}

#[tokio::test]
async fn feeds_look_exactly_as_far_ahead_as_sessions_exist() {
    let t = spawn_app().await;
    let (k, tele, lead) = setup(&t).await;
    let (_, body) = feed_form(
        &t,
        &lead,
        "/calendar/feed",
        &format!("clinician:{}", k.lead),
    )
    .await;
    let (_, ics) = fetch(&t, &feed_path(&body)).await;
    // Every session the lead has, as far ahead as any exists, is in the feed.
    let mut all = 0;
    let mut last = String::new();
    for g in [k.group, tele] {
        let (s, b) = t
            .get(
                &k.director,
                &format!("/api/v1/groups/{g}/sessions?from=2026-04-01&until=2027-03-31"),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let list = b.as_array().unwrap();
        all += list.len();
        let l = list.last().unwrap()["local_date"]
            .as_str()
            .unwrap()
            .to_owned();
        last = last.max(l);
    }
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), all, "{ics}");
    // Sessions exist a quarter ahead of today (4 May 2026), not four weeks.
    let weeks = i64::from(circle_app::HORIZON_WEEKS);
    assert!(weeks >= 13);
    assert!(
        last.as_str() >= "2026-07-27",
        "the last session is on {last}"
    );
}

#[tokio::test]
async fn join_url_forms_on_the_group_and_session_pages_follow_the_apis_rules() {
    let t = spawn_app().await;
    let (k, tele, lead) = setup(&t).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let other = t.clinician_token("other@example.test").await;
    let group_form = format!(r#"action="/groups/{tele}/join-url""#);

    // The group's form: its directors, on a telehealth group only.
    let page = t.page(&k.director, &format!("/groups/{tele}")).await;
    assert!(page.body.contains(&group_form), "{}", page.body);
    let page = t.page(&lead, &format!("/groups/{tele}")).await;
    assert!(
        !page.body.contains("join-url"),
        "a facilitator sets sessions' links only"
    );
    let page = t.page(&k.director, &format!("/groups/{}", k.group)).await;
    assert!(
        !page.body.contains("join-url"),
        "a group with a room has no link"
    );

    let path = format!("/groups/{tele}/join-url");
    let d = csrf(&k.director);
    let r = t
        .page_form(
            &k.director,
            &path,
            &[
                ("csrf", d.as_str()),
                ("join_url", "http://video.example.org/j/1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("must be an https:// address"), "{}", r.body);
    let r = t
        .page_form(
            &k.director,
            &path,
            &[("csrf", d.as_str()), ("join_url", JOIN)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let l = csrf(&lead);
    let r = t
        .page_form(&lead, &path, &[("csrf", l.as_str()), ("join_url", MOVED)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (_, b) = t
        .get(
            &k.director,
            &format!("/api/v1/groups/{tele}/sessions?from=2026-05-04&until=2026-05-20"),
        )
        .await;
    let session = b[0]["id"].as_i64().unwrap();
    let (_, b) = t
        .get(&lead, &format!("/api/v1/sessions/{session}/join-url"))
        .await;
    assert_eq!(b["join_url"], json!(JOIN), "the page set the group's link");

    // The session's form: its facilitators and directors; intake sees neither form nor link.
    let session_form = format!(r#"action="/sessions/{session}/join-url""#);
    let page = t.page(&lead, &format!("/sessions/{session}")).await;
    assert!(page.body.contains(&session_form), "{}", page.body);
    let page = t.page(&intake, &format!("/sessions/{session}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("join-url") && !page.body.contains(JOIN));
    let path = format!("/sessions/{session}/join-url");
    let r = t
        .page_form(
            &lead,
            &path,
            &[("csrf", l.as_str()), ("join_url", "ftp://x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("must be an https:// address"), "{}", r.body);
    let r = t
        .page_form(&lead, &path, &[("csrf", l.as_str()), ("join_url", MOVED)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (_, b) = t
        .get(&lead, &format!("/api/v1/sessions/{session}/join-url"))
        .await;
    assert_eq!(b["join_url"], json!(MOVED));
    // Intake may not; a clinician of another group is not told the session exists.
    let i = csrf(&intake);
    let r = t
        .page_form(&intake, &path, &[("csrf", i.as_str()), ("join_url", JOIN)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let o = csrf(&other);
    let r = t
        .page_form(&other, &path, &[("csrf", o.as_str()), ("join_url", JOIN)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Emptying the session's own link falls back to the group's.
    let r = t
        .page_form(&lead, &path, &[("csrf", l.as_str()), ("join_url", "")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (_, b) = t
        .get(&lead, &format!("/api/v1/sessions/{session}/join-url"))
        .await;
    assert_eq!(b["join_url"], json!(JOIN));
}
