//! Messaging (issue 18) against a real SMTP server (aiosmtpd, started per test) and the
//! real HTTP server, on the database `TEST_DATABASE_URL` names: each kind of message
//! arrives once, to the right person, with nothing clinical in it; a worker cut off between
//! the server's acceptance and the marking neither duplicates nor loses a message; a
//! refusing or silent server leads to retries and a dead letter; withdrawing consent stops
//! messages at once; the offer link answers the offer without an account.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use circle_domain::user::Role;
use circle_mail::{MailSettings, TlsMode, TransportKind, Worker};
use circle_testkit::clinic::{Clinic, ClinicSpec};
use circle_testkit::smtp::{Received, SmtpSink};
use circle_testkit::{TestApp, spawn_app};
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn settings(t: &TestApp, sink: &SmtpSink) -> MailSettings {
    MailSettings {
        mail_transport: TransportKind::Smtp,
        smtp_host: "127.0.0.1".to_owned(),
        smtp_port: sink.port,
        smtp_tls: TlsMode::None,
        smtp_timeout_secs: 2,
        mail_from: "care@clinic.example".to_owned(),
        mail_sender_name: "Riverside Wellness".to_owned(),
        public_url: t.base.clone(),
        mail_batch: 50,
        mail_lease_secs: 60,
        mail_max_attempts: 3,
        mail_retry_secs: 5,
        ..MailSettings::default()
    }
}

fn worker(t: &TestApp, s: MailSettings, id: &str) -> Worker {
    Worker::new(t.app.clone(), s, id.to_owned())
        .expect("mail settings")
        .expect("a transport")
}

/// Every client gets an address and is free on Mondays (the group's day: a seat can be
/// offered to them); `consenting` ones also consent to email contact.
async fn addresses(t: &TestApp, k: &Clinic, clients: &[i64], consenting: &[i64]) {
    for c in clients {
        t.db.store
            .execute_admin(&format!(
                "UPDATE clients SET email = 'client{c}@people.example', availability = \
                 '[{{\"weekday\":\"monday\",\"start\":\"07:00\",\"end\":\"21:00\"}}]' WHERE id = {c}"
            ))
            .await
            .expect("set an address");
    }
    for c in consenting {
        let (s, b) = t
            .send(
                reqwest::Method::PUT,
                &k.director,
                &format!("/api/v1/clients/{c}/contact-consent"),
                json!({"granted": true}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["state"], "granted");
    }
}

async fn cancel(t: &TestApp, k: &Clinic, session: i64) {
    let (s, sess) = t
        .get(&k.director, &format!("/api/v1/sessions/{session}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{sess}");
    let (s, b) = t
        .post(
            &k.director,
            &format!("/api/v1/sessions/{session}/cancel"),
            json!({"version": sess["version"], "reason": "facilitator unwell"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// The words no message may contain: the group's name and kind, the level of care, the
/// presenting concerns and diagnoses of the demo data, other members' names, the
/// cancellation's reason.
fn forbidden(k: &Clinic) -> Vec<String> {
    let mut words: Vec<String> = [
        "Monday process",
        "process group",
        "IOP",
        "intensive outpatient",
        "Adult",
        "depress",
        "anxiety",
        "PHQ",
        "GAD",
        "suicid",
        "F32",
        "Clinictest",
        "facilitator unwell",
        "Riverside IOP",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for n in 1..=k.members.len() + 2 {
        words.push(format!("Member{n} "));
    }
    words
}

/// The text with every long run of token characters blanked out: message ids, MIME
/// boundaries, base64 lines and link secrets are random, and a random run may spell "F32" or
/// "IOP" by chance (CI once failed on exactly that); no forbidden word is 16 characters of
/// letters and digits without a break, so nothing that matters is hidden.
fn without_random_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let token = |c: char| c.is_ascii_alphanumeric() || "+/=_-".contains(c);
    for c in text.chars().chain(std::iter::once('\n')) {
        if token(c) {
            run.push(c);
            continue;
        }
        if run.len() < 16 {
            out.push_str(&run);
        } else {
            out.push(' ');
        }
        run.clear();
        out.push(c);
    }
    out
}

fn assert_clean(m: &Received, words: &[String]) {
    let text = without_random_runs(&format!("{}\n{}\n{}", m.subject, m.body, m.raw));
    for w in words {
        assert!(
            !text.to_lowercase().contains(&w.to_lowercase()),
            "a {:?} message contains {w:?}",
            m.subject
        );
    }
}

/// `http://…/offers/SECRET` or `…/unsubscribe/SECRET` from a message.
fn link(m: &Received, path: &str) -> String {
    let at = m
        .body
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {:?}", m.body));
    let start = m.body[..at].rfind("http").expect("an absolute link");
    m.body[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .expect("a link")
        .to_owned()
}

/// The outbox id a Message-ID names (`<circle.outbox.ID.NONCE@domain>`).
fn outbox_id(m: &Received) -> i64 {
    m.message_id
        .trim_start_matches("<circle.outbox.")
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an outbox Message-ID: {}", m.message_id))
}

async fn count(t: &TestApp, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&t.db.url)
        .await
        .expect("a raw connection");
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    n
}

async fn run_until_idle(w: &Worker) {
    for _ in 0..20 {
        let pass = w.run_once().await.expect("a pass");
        if pass.sent == 0 && pass.failed == 0 {
            return;
        }
    }
    panic!("the outbox never emptied");
}

#[tokio::test]
async fn each_kind_of_message_arrives_once_to_its_recipient_with_nothing_clinical() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t.clinic(ClinicSpec::default()).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    // A seventh client waits for the group: a seat is free, so the offer goes at once.
    let waiting = k.admit(&t, 7).await;
    let mut everyone = k.members.clone();
    everyone.push(waiting);
    // Member 6 never consented: nothing goes to them.
    let consenting: Vec<i64> = everyone
        .iter()
        .copied()
        .filter(|c| *c != k.members[5])
        .collect();
    addresses(&t, &k, &everyone, &consenting).await;
    let sessions = k.sessions(&t, "2026-05-04", "2026-05-12").await;
    assert_eq!(sessions.len(), 2, "Mondays 4 and 11 May");

    // Next week's session is cancelled: its members are told.
    cancel(&t, &k, sessions[1]).await;
    // The waiting client is offered the free seat.
    let (s, b) = t
        .post(
            &intake,
            &format!("/api/v1/groups/{}/waitlist", k.group),
            json!({"client_id": waiting, "priority": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Someone asks to join: they and intake hear of it.
    let r = t
        .http
        .post(t.url("/api/v1/self-referrals"))
        .json(
            &json!({"name": "Synthetic Person", "email": "asker@people.example",
            "looking_for": "a group for my depression, evenings",
            "preferred_times": [{"weekday": "tuesday", "part_of_day": "evening"}]}),
        )
        .send()
        .await
        .expect("self-referral");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // A PHQ-9 with item 9 above 0: the group's lead is told, without detail.
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(if i == 9 { 2 } else { 1 })))
        .collect();
    let (s, b) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{}/measures", k.members[0]),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // Today's 10:00 session is within the 24 hours: the worker writes its reminders.
    let w = worker(&t, settings(&t, &sink), "w1");
    run_until_idle(&w).await;
    let got = sink.received();
    let words = forbidden(&k);
    for m in &got {
        assert_clean(m, &words);
        assert!(
            m.raw.contains("Riverside Wellness"),
            "the sender name is the clinic's discreet one"
        );
    }
    let by_subject = |prefix: &str| -> Vec<&Received> {
        got.iter()
            .filter(|m| m.subject.starts_with(prefix))
            .collect()
    };
    let to_members = |list: &[&Received]| -> BTreeSet<String> {
        list.iter().map(|m| m.envelope_to.clone()).collect()
    };
    let members_consenting: BTreeSet<String> = k.members[..5]
        .iter()
        .map(|c| format!("client{c}@people.example"))
        .collect();

    let reminders = by_subject("Reminder: group session");
    assert_eq!(
        reminders.len(),
        5,
        "{:#?}",
        got.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    assert_eq!(to_members(&reminders), members_consenting);
    assert!(reminders[0].subject.contains("Monday 4 May at 10:00"));
    assert!(
        reminders[0].body.contains("/unsubscribe/"),
        "reminders can be stopped"
    );

    let cancellations = by_subject("Session cancelled");
    assert_eq!(cancellations.len(), 5);
    assert_eq!(to_members(&cancellations), members_consenting);
    assert!(cancellations[0].subject.contains("Monday 11 May at 10:00"));

    let offers = by_subject("A seat is available");
    assert_eq!(offers.len(), 1);
    assert_eq!(
        offers[0].envelope_to,
        format!("client{waiting}@people.example")
    );
    assert!(offers[0].body.contains("/offers/"));

    let acks = by_subject("We have your request");
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].envelope_to, "asker@people.example");
    let waiting_notes = by_subject("A new referral is waiting");
    assert_eq!(waiting_notes.len(), 1);
    assert_eq!(waiting_notes[0].envelope_to, "intake@example.test");

    let alerts = by_subject("A safety alert needs your attention");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].envelope_to, k.lead_email);

    // The lead's daily digest (09:00 in New York, after 07:00): counts and a link only.
    let digests = by_subject("Your daily summary");
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].envelope_to, k.lead_email);
    assert!(
        digests[0]
            .body
            .contains("open safety alerts in your groups: 1"),
        "{}",
        digests[0].body
    );

    assert_eq!(
        got.len(),
        5 + 5 + 1 + 1 + 1 + 1 + 1,
        "nothing else, nothing twice"
    );
    let ids: BTreeSet<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), got.len());
    // Nothing went to the member who never consented.
    let silent = format!("client{}@people.example", k.members[5]);
    assert!(got.iter().all(|m| m.envelope_to != silent));

    // Every sending is audited: recipient's record, kind, time; never the address.
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send'"
        )
        .await,
        got.len() as i64
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send' AND object_id LIKE '%@%'"
        )
        .await,
        0
    );
    // At rest, the address is sealed.
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM messages WHERE recipient_address LIKE '%@%' OR params LIKE '%when%'"
        )
        .await,
        0
    );
    // A second pass writes no reminder twice and sends nothing more.
    let again = w.run_once().await.expect("a pass");
    assert_eq!((again.reminders_written, again.sent), (0, 0));
}

#[tokio::test]
async fn a_worker_cut_off_between_acceptance_and_marking_neither_duplicates_nor_loses() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t.clinic(ClinicSpec::default()).await;
    addresses(&t, &k, &k.members, &k.members).await;
    // Four cancelled sessions, six members each: 24 messages.
    let sessions = k.sessions(&t, "2026-05-04", "2026-06-01").await;
    assert_eq!(sessions.len(), 4, "{sessions:?}");
    for s in &sessions {
        cancel(&t, &k, *s).await;
    }
    let total = 24;
    let mut s = settings(&t, &sink);
    s.mail_batch = 1;
    s.mail_max_attempts = 5;
    let loops = 20;
    for i in 0..loops {
        // The server stores the message, then waits before its 250: the worker is killed
        // in that wait, having sent but not marked.
        sink.set_mode("slow:5");
        let before = sink.received().len();
        let w = worker(&t, s.clone(), &format!("crashing-{i}"));
        let task = tokio::spawn(async move { w.run_once().await });
        sink.wait_for(before + 1, Duration::from_secs(10)).await;
        task.abort();
        assert!(task.await.is_err(), "the worker was killed mid-send");
        // Its claim runs out; the next worker takes the message again.
        t.clock.set(t.app.now() + SignedDuration::from_secs(61));
        sink.set_mode("ok");
        let w = worker(&t, s.clone(), &format!("recovering-{i}"));
        let pass = w.run_once().await.expect("a pass");
        assert_eq!(pass.sent, 1);
    }
    let w = worker(&t, s.clone(), "final");
    run_until_idle(&w).await;

    let got = sink.received();
    // Each outbox row reached the server under one Message-ID only: a message cut off was
    // sent again as the same message (a mailbox keeps one per Message-ID), never as a
    // second one.
    let mut ids_by_row: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for m in &got {
        ids_by_row
            .entry(outbox_id(m))
            .or_default()
            .insert(m.message_id.clone());
    }
    assert_eq!(ids_by_row.len(), total, "no loss: every message arrived");
    assert!(
        ids_by_row.values().all(|ids| ids.len() == 1),
        "one Message-ID per message"
    );
    let mailbox: BTreeSet<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(mailbox.len(), total, "the mailbox holds each message once");
    // Only the cut-off sendings were repeated, each once.
    assert_eq!(got.len(), total + loops);
    // Marked sent once each, audited once each.
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM messages WHERE status = 'sent'").await,
        total as i64
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send'"
        )
        .await,
        total as i64
    );
}

#[tokio::test]
async fn a_refusing_or_silent_server_leads_to_retries_then_a_dead_letter_for_administrators() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    addresses(&t, &k, &k.members, &k.members).await;
    let sessions = k.sessions(&t, "2026-05-11", "2026-05-12").await;
    let mut s = settings(&t, &sink);
    s.mail_max_attempts = 3;
    s.smtp_timeout_secs = 1;

    // A permanent refusal (550): dead at once, no retry (today's three reminders and
    // next week's three cancellation notices).
    sink.set_mode("refuse");
    cancel(&t, &k, sessions[0]).await;
    let w = worker(&t, s.clone(), "w");
    let pass = w.run_once().await.expect("a pass");
    assert_eq!((pass.sent, pass.failed), (0, 6));
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM messages WHERE status = 'dead' AND attempts = 1"
        )
        .await,
        6
    );

    // A server that defers (451), then one that never answers: retried after the
    // back-off, dead after the third attempt.
    t.db.store
        .execute_admin("UPDATE messages SET status = 'cancelled' WHERE status = 'dead'")
        .await
        .expect("clear");
    let more = k.sessions(&t, "2026-05-18", "2026-05-19").await;
    cancel(&t, &k, more[0]).await;
    for (attempt, mode) in ["defer", "hang", "defer"].iter().enumerate() {
        sink.set_mode(mode);
        let pass = w.run_once().await.expect("a pass");
        assert_eq!(pass.failed, 3, "attempt {}", attempt + 1);
        // Not before its back-off:
        assert_eq!(w.run_once().await.expect("a pass").failed, 0);
        t.clock.set(t.app.now() + SignedDuration::from_secs(60));
    }
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM messages WHERE status = 'dead' AND attempts = 3"
        )
        .await,
        3
    );
    assert_eq!(sink.received().len(), 0);

    // Administrators see the dead letters, without address or content.
    let admin = t
        .token_for("admin@example.test", Role::Admin, None, None)
        .await;
    let page = t.page(&admin, "/admin/messages").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Session cancelled"));
    assert!(page.body.contains("deferred (451)") || page.body.contains("timed out"));
    assert!(!page.body.contains("@people.example"));
    assert!(!page.body.contains("Monday"));
    // Nobody else does.
    let page = t.page(&k.director, "/admin/messages").await;
    assert_ne!(page.status, StatusCode::OK);
}

/// A link page's CSRF cookie and token, as a browser would hold them.
async fn form_of(t: &TestApp, url: &str) -> (String, String, String) {
    let p = t.public_page(url).await;
    let status = p.page.status;
    assert!(status.is_success() || !p.csrf.is_empty() || status.is_client_error());
    (p.cookie, p.csrf, p.page.body)
}

async fn post_form(
    t: &TestApp,
    url: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = t.post_public(url, cookie, fields).await;
    (r.status, r.body)
}

#[tokio::test]
async fn withdrawing_consent_or_unsubscribing_stops_messages_at_once() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    addresses(&t, &k, &k.members, &k.members).await;
    let sessions = k.sessions(&t, "2026-05-04", "2026-05-26").await;
    cancel(&t, &k, sessions[1]).await;
    // Member 1 withdraws (recorded by intake at their request) while the notices wait.
    let (s, b) = t
        .send(
            reqwest::Method::PUT,
            &k.director,
            &format!("/api/v1/clients/{}/contact-consent", k.members[0]),
            json!({"granted": false}),
        )
        .await;
    assert_eq!(
        (s, b["state"].as_str()),
        (StatusCode::OK, Some("withdrawn"))
    );
    let w = worker(&t, settings(&t, &sink), "w");
    run_until_idle(&w).await;
    let first = format!("client{}@people.example", k.members[0]);
    let got = sink.received();
    assert!(
        got.iter().all(|m| m.envelope_to != first),
        "nothing to who withdrew"
    );
    let reminder = got
        .iter()
        .find(|m| {
            m.subject.starts_with("Reminder")
                && m.envelope_to == format!("client{}@people.example", k.members[1])
        })
        .expect("member 2's reminder");

    // Member 2 follows the unsubscribe link in the reminder: a GET changes nothing, the
    // form's POST stops messages, without signing in.
    let url = link(reminder, "/unsubscribe/");
    let (cookie, csrf, body) = form_of(&t, &url).await;
    assert!(body.contains("Stop messages by email"));
    let (s, _) = post_form(&t, &url, "", &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK, "without the cookie, the form comes back");
    let (s, page) = post_form(&t, &url, &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains("You will not get these messages any more"),
        "{page}"
    );
    let (_, csrf2, _) = form_of(&t, &url).await;
    let (s, page) = post_form(
        &t,
        &url,
        &cookie.replace(&csrf, &csrf2),
        &[("csrf", &csrf2)],
    )
    .await;
    assert_eq!(s, StatusCode::GONE, "{page}");
    let (s, _) = t
        .get(
            &k.director,
            &format!("/api/v1/clients/{}/contact-consent", k.members[1]),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = t
        .get(
            &k.director,
            &format!("/api/v1/clients/{}/contact-consent", k.members[1]),
        )
        .await;
    assert_eq!(
        (c["state"].as_str(), c["recorded_via"].as_str()),
        (Some("withdrawn"), Some("unsubscribe_link"))
    );

    // The next cancellation reaches member 3 only.
    let before = sink.received().len();
    cancel(&t, &k, sessions[2]).await;
    run_until_idle(&w).await;
    let after = sink.received();
    let new: Vec<&Received> = after[before..].iter().collect();
    assert_eq!(new.len(), 1);
    assert_eq!(
        new[0].envelope_to,
        format!("client{}@people.example", k.members[2])
    );
}

#[tokio::test]
async fn the_offer_link_accepts_the_seat_once_without_an_account_and_explains_a_dead_link() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    let a = k.admit(&t, 10).await;
    let b = k.admit(&t, 11).await;
    addresses(&t, &k, &[a, b], &[a, b]).await;
    for c in [a, b] {
        let (s, e) = t
            .post(
                &intake,
                &format!("/api/v1/groups/{}/waitlist", k.group),
                json!({"client_id": c, "priority": 2}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
    }
    let w = worker(&t, settings(&t, &sink), "w");
    run_until_idle(&w).await;
    let got = sink.received();
    let offer_to = |c: i64| {
        got.iter()
            .find(|m| m.envelope_to == format!("client{c}@people.example"))
            .map(|m| link(m, "/offers/"))
            .expect("an offer message")
    };
    let (url_a, url_b) = (offer_to(a), offer_to(b));

    // A accepts through the link.
    let (cookie, csrf, body) = form_of(&t, &url_a).await;
    assert!(body.contains("A seat is available for you"), "{body}");
    assert!(!body.contains("Monday process"));
    // An answer that is not one of the two: the form again, the rule by its field, the
    // offer still open.
    let (s, page) = post_form(
        &t,
        &url_a,
        &cookie,
        &[("csrf", &csrf), ("answer", "perhaps")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        page.contains(
            r#"id="answer-error" role="alert">Your answer: must be one of the listed choices"#
        ),
        "{page}"
    );
    assert!(page.contains("A seat is available for you") && !page.contains("perhaps"));
    let (s, page) = post_form(
        &t,
        &url_a,
        &cookie,
        &[("csrf", &csrf), ("answer", "accept")],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(page.contains("Your seat is booked"));
    let (_, members) = t
        .get(
            &k.director,
            &format!("/api/v1/groups/{}/memberships", k.group),
        )
        .await;
    assert!(
        members["items"]
            .as_array()
            .is_some_and(|l| l.iter().any(|m| m["client_id"] == json!(a))),
        "{members}"
    );
    // The link is spent.
    let (_, _, body) = form_of(&t, &url_a).await;
    assert!(body.contains("This offer has been answered"), "{body}");
    let (s, _) = post_form(
        &t,
        &url_a,
        &cookie,
        &[("csrf", &csrf), ("answer", "decline")],
    )
    .await;
    assert_eq!(s, StatusCode::GONE);

    // B waits too long: the link explains that the offer expired.
    t.clock.set(t.app.now() + SignedDuration::from_hours(73));
    let (_, _, body) = form_of(&t, &url_b).await;
    assert!(body.contains("This offer has expired"), "{body}");
    // A made-up link is not valid.
    let (_, _, body) = form_of(&t, &t.url("/offers/not-a-real-secret")).await;
    assert!(body.contains("This link is not valid"));
}

/// Answers a check-in for `client` as staff would record it: every item 0 (no alert).
async fn answer_check_in(t: &TestApp, token: &str, client: i64, instrument: &str, items: usize) {
    let answers: serde_json::Map<String, Value> =
        (1..=items).map(|i| (i.to_string(), json!(0))).collect();
    let (s, b) = t
        .post(
            token,
            &format!("/api/v1/clients/{client}/measures"),
            json!({"instrument": instrument, "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

#[tokio::test]
async fn check_in_notices_go_once_per_due_cycle_to_consenting_clients_with_an_account_and_name_no_instrument()
 {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let m = k.members.clone();
    // Member 1 consents and has a portal account; member 2 consents but has no account
    // (the notice's link would lead nowhere); member 3 has an account but never consented.
    addresses(&t, &k, &m, &m[..2]).await;
    for c in [m[0], m[2]] {
        t.token_for(
            &format!("portal{c}@people.example"),
            Role::Client,
            None,
            Some(circle_domain::ids::ClientId(c)),
        )
        .await;
    }
    // Their episodes began before today and nothing was answered: PHQ-9 and GAD-7 are due
    // at intake.
    let w = worker(&t, settings(&t, &sink), "w1");
    run_until_idle(&w).await;
    let check_ins = |got: &[Received]| -> Vec<Received> {
        got.iter()
            .filter(|r| r.subject == "A short check-in is waiting for you")
            .cloned()
            .collect()
    };
    let got = check_ins(&sink.received());
    assert_eq!(got.len(), 1, "one notice for two instruments due");
    assert_eq!(got[0].envelope_to, format!("client{}@people.example", m[0]));
    assert!(
        got[0].body.contains(&format!("{}/me", t.base)),
        "{}",
        got[0].body
    );
    assert!(
        got[0].body.contains("/unsubscribe/"),
        "a nudge can be stopped"
    );
    let words = forbidden(&k);
    assert_clean(&got[0], &words);
    for w in ["phq", "gad", "depress", "anxi", "mood", "questionnaire"] {
        assert!(
            !without_random_runs(&got[0].raw).to_lowercase().contains(w),
            "the notice names no instrument: {w}"
        );
    }

    // Later the same day, and from another server: the same cycle, no second notice.
    t.clock.set(t.app.now() + SignedDuration::from_hours(3));
    run_until_idle(&worker(&t, settings(&t, &sink), "w2")).await;
    assert_eq!(check_ins(&sink.received()).len(), 1);

    // They check in; the next cycle (14 days later) brings one more notice, and only one.
    let director = t
        .login("director@example.test", circle_testkit::TEST_PASSWORD)
        .await
        .expect("the director signs in again");
    answer_check_in(&t, &director, m[0], "phq9", 9).await;
    answer_check_in(&t, &director, m[0], "gad7", 7).await;
    t.clock.set(t.app.now() + SignedDuration::from_hours(24));
    run_until_idle(&worker(&t, settings(&t, &sink), "w3")).await;
    assert_eq!(check_ins(&sink.received()).len(), 1, "nothing due yet");
    t.clock
        .set(t.app.now() + SignedDuration::from_hours(24 * 14));
    for i in 0..3 {
        run_until_idle(&worker(&t, settings(&t, &sink), &format!("w4-{i}"))).await;
    }
    let got = check_ins(&sink.received());
    assert_eq!(got.len(), 2, "one notice per due cycle");
    assert_eq!(got[1].envelope_to, format!("client{}@people.example", m[0]));

    // Every notice sent is audited with its recipient's record and kind; the look at who
    // is due is audited too, as the system's.
    assert_eq!(
        count(
            &t,
            &format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send' \
                 AND object_id LIKE 'message:%:check_in_due:client:{}'",
                m[0]
            )
        )
        .await,
        2
    );
    assert!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'measure.due_list' \
             AND actor_user_id IS NULL AND object_id = 'check-in notices'"
        )
        .await
            >= 1
    );
}

#[tokio::test]
async fn staff_digests_count_overdue_notes_and_open_alerts_once_a_day_without_names() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 3,
            ..ClinicSpec::default()
        })
        .await;
    let sessions = k.sessions(&t, "2026-05-04", "2026-05-05").await;
    assert_eq!(sessions.len(), 1);
    // Today's session (10:00 in New York) is held with all three present: a group note
    // and three progress notes fall due 24 hours after it ends (15:30 UTC).
    t.clock.set("2026-05-04T14:30:00Z".parse().expect("a time"));
    let director = t
        .login("director@example.test", circle_testkit::TEST_PASSWORD)
        .await
        .expect("the director signs in again");
    for c in &k.members {
        let (s, b) = t
            .send(
                reqwest::Method::PUT,
                &director,
                &format!("/api/v1/sessions/{}/attendance/{c}", sessions[0]),
                json!({"status": "present", "minutes": null}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    // An alert is raised: the lead hears of it at once, without detail.
    let answers: serde_json::Map<String, Value> = (1..=9)
        .map(|i| (i.to_string(), json!(if i == 9 { 1 } else { 0 })))
        .collect();
    let (s, b) = t
        .post(
            &director,
            &format!("/api/v1/clients/{}/measures", k.members[0]),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // 10:30 in New York: the alert at once, and today's digest (one open alert).
    run_until_idle(&worker(&t, settings(&t, &sink), "d1")).await;
    let digests = |got: &[Received]| -> Vec<Received> {
        got.iter()
            .filter(|r| r.subject == "Your daily summary")
            .cloned()
            .collect()
    };
    let got = sink.received();
    let alerts: Vec<&Received> = got
        .iter()
        .filter(|r| r.subject == "A safety alert needs your attention")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].envelope_to, k.lead_email);
    let d = digests(&got);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].envelope_to, k.lead_email);
    assert!(d[0].body.contains("notes overdue: 0"), "{}", d[0].body);
    assert!(d[0].body.contains("open safety alerts in your groups: 1"));
    assert!(d[0].body.contains(&format!("{}/today", t.base)));

    // Another server the same day: no second digest.
    run_until_idle(&worker(&t, settings(&t, &sink), "d2")).await;
    assert_eq!(digests(&sink.received()).len(), 1);

    // The next day before 07:00 in New York: none yet.
    t.clock.set("2026-05-05T10:30:00Z".parse().expect("a time"));
    run_until_idle(&worker(&t, settings(&t, &sink), "d3")).await;
    assert_eq!(digests(&sink.received()).len(), 1);
    // Past the notes' window (16:00 UTC): four notes overdue and the alert still open.
    t.clock.set("2026-05-05T16:00:00Z".parse().expect("a time"));
    run_until_idle(&worker(&t, settings(&t, &sink), "d4")).await;
    run_until_idle(&worker(&t, settings(&t, &sink), "d5")).await;
    let d = digests(&sink.received());
    assert_eq!(d.len(), 2, "one digest a day");
    assert_eq!(d[1].envelope_to, k.lead_email);
    assert!(d[1].body.contains("notes overdue: 4"), "{}", d[1].body);
    assert!(d[1].body.contains("open safety alerts in your groups: 1"));
    // The same count as the lead's own overdue list.
    let lead = t
        .login(&k.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .expect("the lead signs in");
    let (s, list) = t.get(&lead, "/api/v1/notes/overdue").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let listed: usize = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["notes"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(listed, 4);
    let words = forbidden(&k);
    for m in sink.received() {
        assert_clean(&m, &words);
    }
    // Each digest sent is audited (recipient's record, kind), never its counts or address.
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'message.send' \
             AND object_id LIKE 'message:%:staff_digest:user:%'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_director_sets_a_programs_reminder_time_and_sender_name_and_bad_values_are_422() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    addresses(&t, &k, &k.members, &k.members).await;
    let path = format!("/api/v1/programs/{}/messaging", k.program);
    let (s, b) = t.get(&k.director, &path).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"reminder_hours": 24, "sender_name": null}));
    for (body, field) in [
        (json!({"reminder_hours": 0}), "reminder_hours"),
        (json!({"reminder_hours": 169}), "reminder_hours"),
        (json!({"reminder_hours": -3}), "reminder_hours"),
        (
            json!({"reminder_hours": 24, "sender_name": "x".repeat(81)}),
            "sender_name",
        ),
        (
            json!({"reminder_hours": 24, "sender_name": "Two\nlines"}),
            "sender_name",
        ),
    ] {
        let (s, p) = t
            .send(reqwest::Method::PUT, &k.director, &path, body.clone())
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert!(p.to_string().contains(field), "{body}: {p}");
    }
    let (_, b) = t.get(&k.director, &path).await;
    assert_eq!(b["reminder_hours"], 24, "nothing changed");
    // A clinician may not change it.
    let lead = t
        .login(&k.lead_email, circle_testkit::TEST_PASSWORD)
        .await
        .expect("the lead signs in");
    let (s, _) = t
        .send(
            reqwest::Method::PUT,
            &lead,
            &path,
            json!({"reminder_hours": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The page: a bad value is refused with the field named and nothing changed; a good
    // one is saved.
    let page = format!("/programs/{}/messaging", k.program);
    let r = t.page(&k.director, &page).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("value=\"24\""), "{}", r.body);
    let csrf = circle_app::web_session::csrf_token(&k.director);
    let r = t
        .page_form(
            &k.director,
            &page,
            &[
                ("csrf", &csrf),
                ("reminder_hours", "soon"),
                ("sender_name", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("reminder_hours"), "{}", r.body);
    let r = t
        .page_form(
            &k.director,
            &page,
            &[
                ("csrf", &csrf),
                ("reminder_hours", "1"),
                ("sender_name", "RW Health"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (_, b) = t.get(&k.director, &path).await;
    assert_eq!(b, json!({"reminder_hours": 1, "sender_name": "RW Health"}));
    assert_eq!(
        t.page(&lead, &page).await.status,
        StatusCode::FORBIDDEN,
        "a clinician does not see the form"
    );

    // The settings take effect: a reminder one hour before the 10:00 (14:00 UTC) session,
    // not before, from the discreet name.
    k.sessions(&t, "2026-05-04", "2026-05-05").await;
    t.clock.set("2026-05-04T12:30:00Z".parse().expect("a time"));
    run_until_idle(&worker(&t, settings(&t, &sink), "p1")).await;
    let reminders = |got: Vec<Received>| -> Vec<Received> {
        got.into_iter()
            .filter(|m| m.subject.starts_with("Reminder"))
            .collect()
    };
    assert!(reminders(sink.received()).is_empty(), "too early");
    t.clock.set("2026-05-04T13:00:00Z".parse().expect("a time"));
    run_until_idle(&worker(&t, settings(&t, &sink), "p2")).await;
    let got = reminders(sink.received());
    assert_eq!(got.len(), 2);
    for m in &got {
        assert!(m.raw.contains("RW Health"), "{}", m.raw);
        assert!(!m.raw.contains("Riverside Wellness"));
    }
}

#[tokio::test]
async fn reminders_and_cancellations_of_an_online_group_carry_its_join_link_to_members() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 2,
            ..ClinicSpec::default()
        })
        .await;
    addresses(&t, &k, &k.members, &k.members).await;
    // The group moves online (made telehealth: no room), with its link.
    t.db.store
        .execute_admin(&format!(
            "UPDATE therapy_groups SET room_id = NULL WHERE id = {}",
            k.group
        ))
        .await
        .expect("make the group telehealth");
    let group_link = "https://video.example.org/j/monday-group";
    let (s, b) = t
        .send(
            reqwest::Method::PUT,
            &k.director,
            &format!("/api/v1/groups/{}/join-url", k.group),
            json!({"join_url": group_link}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let sessions = k.sessions(&t, "2026-05-04", "2026-05-12").await;
    // Today's session uses a link of its own; next week's is cancelled.
    let own_link = "https://video.example.org/j/today-only";
    let (s, b) = t
        .send(
            reqwest::Method::PUT,
            &k.director,
            &format!("/api/v1/sessions/{}/join-url", sessions[0]),
            json!({"join_url": own_link}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    cancel(&t, &k, sessions[1]).await;

    let w = worker(&t, settings(&t, &sink), "w1");
    run_until_idle(&w).await;
    let got = sink.received();
    let reminders: Vec<&Received> = got
        .iter()
        .filter(|m| m.subject.starts_with("Reminder: group session"))
        .collect();
    let cancellations: Vec<&Received> = got
        .iter()
        .filter(|m| m.subject.starts_with("Session cancelled"))
        .collect();
    assert_eq!((reminders.len(), cancellations.len()), (2, 2));
    for m in &reminders {
        assert!(m.body.contains(own_link), "{}", m.body);
        assert!(!m.body.contains(group_link), "the session's own link wins");
    }
    for m in &cancellations {
        assert!(
            m.body.contains(group_link),
            "the sessions after it meet at the group's link: {}",
            m.body
        );
    }
    // Only the group's members were written to.
    let to: BTreeSet<String> = got.iter().map(|m| m.envelope_to.clone()).collect();
    let members: BTreeSet<String> = k
        .members
        .iter()
        .map(|c| format!("client{c}@people.example"))
        .collect();
    assert_eq!(to, members);
}

/// Several servers over one database each run a worker: two workers passing over the same
/// outbox at the same moment (on PostgreSQL, `FOR UPDATE SKIP LOCKED`; on SQLite, the write
/// lock) send every message once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_at_once_send_each_message_once_between_them() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t
        .clinic(ClinicSpec {
            members: 6,
            ..ClinicSpec::default()
        })
        .await;
    addresses(&t, &k, &k.members, &k.members).await;
    let sessions = k.sessions(&t, "2026-05-11", "2026-06-01").await;
    for s in &sessions {
        cancel(&t, &k, *s).await;
    }
    let queued = count(&t, "SELECT COUNT(*) FROM messages WHERE status = 'queued'").await;
    assert!(queued >= 12, "{queued} messages to send");
    // A slow server keeps both workers busy at once.
    sink.set_mode("slow:0.05");
    let (w1, w2) = (
        worker(&t, settings(&t, &sink), "w1"),
        worker(&t, settings(&t, &sink), "w2"),
    );
    tokio::join!(run_until_idle(&w1), run_until_idle(&w2));
    let got = sink.received();
    let ids: BTreeSet<String> = got.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(got.len(), ids.len(), "no message sent twice");
    // The passes also write what is due on their own (reminders): every row counts.
    let total = count(&t, "SELECT COUNT(*) FROM messages").await;
    assert!(total >= queued);
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM messages WHERE status = 'sent'").await,
        total,
        "every message sent"
    );
    assert_eq!(
        i64::try_from(got.len()).unwrap(),
        total,
        "each received once"
    );
}
