//! Messages in the browser (issue 18): a seat offer is answered by following the link in
//! the email a real SMTP server (aiosmtpd) received, without an account; a reminder as a
//! person sees it, rendered from the received message's HTML part — and so are a client's
//! check-in notice, a clinician's safety-alert notice and daily summary.

use circle_mail::{MailSettings, TlsMode, TransportKind, Worker};
use circle_testkit::clinic::ClinicSpec;
use circle_testkit::smtp::{Received, SmtpSink};

use super::*;

/// The HTML part of a received message, decoded.
fn html_part(m: &Received) -> String {
    let start = m
        .body
        .find("<!doctype html>")
        .expect("an HTML part in the message");
    let end = m.body[start..]
        .find("</html>")
        .map(|i| start + i + "</html>".len())
        .expect("the end of the HTML part");
    m.body[start..end].to_owned()
}

#[tokio::test]
async fn the_offer_link_in_a_received_email_accepts_the_seat_in_the_browser() {
    let t = spawn_app().await;
    let sink = SmtpSink::start();
    let k = t.clinic(ClinicSpec::default()).await;
    let intake = t
        .token_for("intake@example.test", Role::Intake, None, None)
        .await;
    // A seventh client waits for the group, which has a free seat: the offer goes at once.
    let waiting = k.admit(&t, 7).await;
    let mut everyone = k.members.clone();
    everyone.push(waiting);
    for c in &everyone {
        t.db.store
            .execute_admin(&format!(
                "UPDATE clients SET email = 'client{c}@people.example', availability = \
                 '[{{\"weekday\":\"monday\",\"start\":\"07:00\",\"end\":\"21:00\"}}]' WHERE id = {c}"
            ))
            .await
            .expect("an address");
        let (s, b) = t
            .send(
                reqwest::Method::PUT,
                &k.director,
                &format!("/api/v1/clients/{c}/contact-consent"),
                json!({"granted": true}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    k.sessions(&t, "2026-05-04", "2026-05-12").await;
    let (s, b) = t
        .post(
            &intake,
            &format!("/api/v1/groups/{}/waitlist", k.group),
            json!({"client_id": waiting, "priority": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // A member with a portal account is due a check-in (nothing answered since their
    // episode began); another raises a safety alert, so the lead hears of it at once and
    // finds it in the day's summary.
    t.token_for(
        "portal-member@people.example",
        Role::Client,
        None,
        Some(circle_domain::ids::ClientId(k.members[0])),
    )
    .await;
    let answers: serde_json::Map<String, serde_json::Value> = (1..=9)
        .map(|i| (i.to_string(), json!(i32::from(i == 9))))
        .collect();
    let (s, b) = t
        .post(
            &k.director,
            &format!("/api/v1/clients/{}/measures", k.members[1]),
            json!({"instrument": "phq9", "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    let worker = Worker::new(
        t.app.clone(),
        MailSettings {
            mail_transport: TransportKind::Smtp,
            smtp_host: "127.0.0.1".to_owned(),
            smtp_port: sink.port,
            smtp_tls: TlsMode::None,
            smtp_timeout_secs: 5,
            mail_from: "care@clinic.example".to_owned(),
            mail_sender_name: "Riverside Wellness".to_owned(),
            public_url: t.base.clone(),
            ..MailSettings::default()
        },
        "browser".to_owned(),
    )
    .expect("mail settings")
    .expect("a transport");
    for _ in 0..5 {
        if worker.run_once().await.expect("a pass").sent == 0 {
            break;
        }
    }
    let got = sink.received();
    let offer = got
        .iter()
        .find(|m| m.subject.starts_with("A seat is available"))
        .expect("the offer arrived");
    assert_eq!(offer.envelope_to, format!("client{waiting}@people.example"));
    let reminder = got
        .iter()
        .find(|m| m.subject.starts_with("Reminder: group session"))
        .expect("a reminder arrived");

    let b = Browser::start().await;
    // The reminder as its recipient sees it: the received HTML part, opened in the browser.
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    let file = dir.join("message-reminder.html");
    std::fs::write(&file, html_part(reminder)).expect("save the reminder");
    std::fs::write(dir.join("message-reminder.txt"), &reminder.body).expect("save its text");
    b.client
        .goto(&format!("file://{}", file.display()))
        .await
        .unwrap();
    assert!(b.shows("body", "You have a group session on").await);
    b.check_page("message-reminder").await;

    // The other kinds as their readers see them: what to do and where, nothing clinical.
    for (subject, name, says) in [
        (
            "A short check-in is waiting for you",
            "message-check-in",
            "check-in",
        ),
        (
            "A safety alert needs your attention",
            "message-alert",
            "safety alert",
        ),
        ("Your daily summary", "message-digest", "Open safety alerts"),
    ] {
        let m = got
            .iter()
            .find(|m| m.subject == subject)
            .unwrap_or_else(|| panic!("{subject}: not received"));
        let file = dir.join(format!("{name}.html"));
        std::fs::write(&file, html_part(m)).expect("save the message");
        b.client
            .goto(&format!("file://{}", file.display()))
            .await
            .unwrap();
        assert!(b.shows("body", says).await, "{subject}");
        b.check_page(name).await;
    }

    // The link from the offer's HTML part, as a mail program shows it.
    let html = html_part(offer);
    let at = html.find("/offers/").expect("an offer link");
    let start = html[..at].rfind("href=\"").expect("a link") + "href=\"".len();
    let end = start + html[start..].find('"').expect("the link's end");
    let link = html[start..end].replace("&#x2F;", "/");
    assert!(link.starts_with(&t.base), "{link}");
    b.client.goto(&link).await.unwrap();
    assert!(b.shows("h1", "A seat is available for you").await);
    b.check_page("message-offer").await;
    b.click("#answer").await;
    assert!(b.shows("h1", "Your seat is booked").await);
    b.check_page("message-offer-accepted").await;

    // The seat is theirs: they are a member of the group now.
    let (s, members) = t
        .get(
            &k.director,
            &format!("/api/v1/groups/{}/memberships", k.group),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{members}");
    assert!(
        members
            .to_string()
            .contains(&format!("\"client_id\":{waiting}")),
        "{members}"
    );
    // The link worked once.
    b.client.goto(&link).await.unwrap();
    assert!(b.shows("h1", "This offer has been answered").await);
    b.close().await;
}
