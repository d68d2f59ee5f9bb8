//! The messages people receive (issue 18): their templates, rendered with the same engine
//! as the pages (askama), plain text and HTML; and the worker that drains the outbox by
//! SMTP (or into a folder, for the demo).
//!
//! The worker claims due messages (each claimed by one worker, even with several servers
//! over one PostgreSQL), renders each, hands it to the mail server and marks it sent —
//! or, on failure, queues it again after a back-off, and dead-letters it after the last
//! attempt or a permanent refusal. Every message carries a Message-ID fixed when it was
//! written (see `circle_store::messages`): a crash between the server's acceptance and the
//! marking sends the same message again, never a different one.

use std::path::PathBuf;
use std::time::Duration;

use askama::Template;
use circle_app::App;
use circle_app::messaging::{MessageKind, OutboxClaimRules, OutboxMessage, SendFailure};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// How messages leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Not sent: the outbox keeps them (a server that only serves pages).
    #[default]
    Off,
    /// To an SMTP server.
    Smtp,
    /// Written as `.eml` files into `mail_dir` (the demo: `./circle-demo-mail/`).
    File,
}

/// TLS towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// STARTTLS on the submission port (587), required: the connection fails rather than
    /// send in clear.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same host or a test server.
    None,
}

/// Mail settings (TOML keys and `CIRCLE_…` variables of the same names, upper-cased). The
/// SMTP password is never a setting: it is read from `smtp_password_file` or from the
/// environment variable `CIRCLE_SMTP_PASSWORD`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MailSettings {
    pub mail_transport: TransportKind,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: TlsMode,
    pub smtp_username: Option<String>,
    pub smtp_password_file: Option<PathBuf>,
    /// Seconds an SMTP conversation may take before it counts as failed (and is retried).
    pub smtp_timeout_secs: u64,
    /// The folder the file transport writes to.
    pub mail_dir: PathBuf,
    /// The address messages come from.
    pub mail_from: String,
    /// The name they come from, unless the program sets its own discreet name.
    pub mail_sender_name: String,
    /// The address people reach this server at, for the links in messages.
    pub public_url: String,
    /// Messages claimed at a time.
    pub mail_batch: u32,
    /// Seconds a claim holds before another worker may take a message again.
    pub mail_lease_secs: u64,
    /// Attempts before a message is dead-lettered.
    pub mail_max_attempts: u32,
    /// The first retry's wait in seconds; each later one doubles it (at most an hour).
    pub mail_retry_secs: u64,
    /// Seconds between passes over the outbox.
    pub mail_poll_secs: u64,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            mail_transport: TransportKind::Off,
            smtp_host: "localhost".to_owned(),
            smtp_port: 587,
            smtp_tls: TlsMode::Starttls,
            smtp_username: None,
            smtp_password_file: None,
            smtp_timeout_secs: 30,
            mail_dir: PathBuf::from("circle-mail"),
            mail_from: "no-reply@circle.invalid".to_owned(),
            mail_sender_name: "Your clinic".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            mail_batch: 20,
            mail_lease_secs: 300,
            mail_max_attempts: 6,
            mail_retry_secs: 60,
            mail_poll_secs: 15,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail settings: {0}")]
    Settings(String),
    #[error("the outbox could not be read or written")]
    Outbox(#[source] circle_app::AppError),
}

impl MailSettings {
    /// The SMTP password: the file's first line, or `CIRCLE_SMTP_PASSWORD`.
    fn password(&self) -> Result<Option<String>, MailError> {
        if let Some(path) = &self.smtp_password_file {
            let text = std::fs::read_to_string(path).map_err(|_| {
                MailError::Settings(format!("cannot read smtp_password_file {}", path.display()))
            })?;
            return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
        }
        Ok(std::env::var("CIRCLE_SMTP_PASSWORD").ok())
    }

    fn sender_mailbox(&self, name: &str) -> Result<Mailbox, MailError> {
        let address = self
            .mail_from
            .parse()
            .map_err(|_| MailError::Settings("mail_from must be an email address".to_owned()))?;
        Ok(Mailbox::new(Some(name.to_owned()), address))
    }

    fn domain(&self) -> &str {
        self.mail_from
            .rsplit_once('@')
            .map_or("circle.invalid", |(_, d)| d)
    }
}

/// A message ready to send.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "message.txt")]
struct TextBody<'a> {
    kind: &'a str,
    clinic: &'a str,
    when: &'a str,
    start_date: &'a str,
    reply_by: &'a str,
    offer_url: &'a str,
    portal_url: &'a str,
    intake_url: &'a str,
    alert_url: &'a str,
    notes_overdue: &'a str,
    alerts_open: &'a str,
    unsubscribe_url: Option<&'a str>,
    /// A telehealth session's join URL (reminders and cancellations, to members only).
    join_url: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct HtmlBody<'a> {
    subject: &'a str,
    kind: &'a str,
    clinic: &'a str,
    when: &'a str,
    start_date: &'a str,
    reply_by: &'a str,
    offer_url: &'a str,
    portal_url: &'a str,
    intake_url: &'a str,
    alert_url: &'a str,
    notes_overdue: &'a str,
    alerts_open: &'a str,
    unsubscribe_url: Option<&'a str>,
    /// A telehealth session's join URL (reminders and cancellations, to members only).
    join_url: Option<&'a str>,
}

/// Renders one message from its kind and parameters. What it can say is fixed by the
/// templates: times, dates and links, never a group, a level of care or a diagnosis.
pub fn render(
    kind: MessageKind,
    params: &serde_json::Map<String, serde_json::Value>,
    clinic: &str,
    public_url: &str,
) -> Result<Rendered, askama::Error> {
    let p = |k: &str| params.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let base = public_url.trim_end_matches('/');
    let offer_url = format!("{base}/offers/{}", p("offer_token"));
    let unsubscribe_url = params
        .get("unsubscribe_token")
        .and_then(|v| v.as_str())
        .map(|t| format!("{base}/unsubscribe/{t}"));
    let subject = match kind {
        MessageKind::SessionReminder => format!("Reminder: group session {}", p("when")),
        MessageKind::SessionCancelled => format!("Session cancelled: {}", p("when")),
        MessageKind::SeatOffer => format!("A seat is available — reply by {}", p("reply_by")),
        MessageKind::CheckInDue => "A short check-in is waiting for you".to_owned(),
        MessageKind::ReferralReceived => "We have your request".to_owned(),
        MessageKind::ReferralWaiting => "A new referral is waiting".to_owned(),
        MessageKind::SafetyAlert => "A safety alert needs your attention".to_owned(),
        MessageKind::StaffDigest => "Your daily summary".to_owned(),
    };
    let count = |k: &str| match p(k) {
        "" => "0",
        n => n,
    };
    // Only an https link is ever stored (JoinUrl); checked again, as the template puts
    // it in an href.
    let join_url = params
        .get("join_url")
        .and_then(|v| v.as_str())
        .filter(|u| u.starts_with("https://"))
        .filter(|_| {
            matches!(
                kind,
                MessageKind::SessionReminder | MessageKind::SessionCancelled
            )
        });
    let portal_url = format!("{base}/me");
    let intake_url = format!("{base}/intake");
    let alert_url = format!("{base}/today");
    let text = TextBody {
        kind: kind.as_str(),
        clinic,
        when: p("when"),
        start_date: p("start_date"),
        reply_by: p("reply_by"),
        offer_url: &offer_url,
        portal_url: &portal_url,
        intake_url: &intake_url,
        alert_url: &alert_url,
        notes_overdue: count("notes_overdue"),
        alerts_open: count("alerts_open"),
        unsubscribe_url: unsubscribe_url.as_deref(),
        join_url,
    }
    .render()?;
    let html = HtmlBody {
        subject: &subject,
        kind: kind.as_str(),
        clinic,
        when: p("when"),
        start_date: p("start_date"),
        reply_by: p("reply_by"),
        offer_url: &offer_url,
        portal_url: &portal_url,
        intake_url: &intake_url,
        alert_url: &alert_url,
        notes_overdue: count("notes_overdue"),
        alerts_open: count("alerts_open"),
        unsubscribe_url: unsubscribe_url.as_deref(),
        join_url,
    }
    .render()?;
    Ok(Rendered {
        subject,
        text,
        html,
    })
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// The outbox worker.
pub struct Worker {
    app: App,
    settings: MailSettings,
    transport: Transport,
    id: String,
    /// When this worker last looked for check-ins due (at most hourly: each look is an
    /// audited read of the consenting clients' due facts).
    checked_in: std::sync::Mutex<Option<jiff::Timestamp>>,
    /// The clinic day whose staff digests this worker has written (one digest pass a day).
    digested: std::sync::Mutex<Option<jiff::civil::Date>>,
}

/// How often a worker looks for check-ins due.
const CHECK_IN_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(3600);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub reminders_written: usize,
    pub check_ins_written: usize,
    pub digests_written: usize,
    pub sent: usize,
    pub failed: usize,
}

impl Worker {
    /// A worker named `id` (unique per process: the server id and a random part), or
    /// `None` when the transport is off.
    pub fn new(app: App, settings: MailSettings, id: String) -> Result<Option<Self>, MailError> {
        let transport = match settings.mail_transport {
            TransportKind::Off => return Ok(None),
            TransportKind::File => {
                std::fs::create_dir_all(&settings.mail_dir).map_err(|_| {
                    MailError::Settings(format!(
                        "cannot create mail_dir {}",
                        settings.mail_dir.display()
                    ))
                })?;
                Transport::File(AsyncFileTransport::new(&settings.mail_dir))
            }
            TransportKind::Smtp => {
                let host = settings.smtp_host.as_str();
                let bad = |_| MailError::Settings("smtp_host is not a usable host".to_owned());
                let builder = match settings.smtp_tls {
                    TlsMode::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(bad)?
                    }
                    TlsMode::Tls => {
                        AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(bad)?
                    }
                    TlsMode::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                };
                let mut builder = builder
                    .port(settings.smtp_port)
                    .timeout(Some(Duration::from_secs(settings.smtp_timeout_secs.max(1))));
                if let Some(user) = &settings.smtp_username {
                    let password = settings.password()?.ok_or_else(|| {
                        MailError::Settings(
                            "smtp_username is set but no password: set smtp_password_file or CIRCLE_SMTP_PASSWORD"
                                .to_owned(),
                        )
                    })?;
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Transport::Smtp(builder.build())
            }
        };
        settings.sender_mailbox(&settings.mail_sender_name)?;
        Ok(Some(Self {
            app,
            settings,
            transport,
            id,
            checked_in: std::sync::Mutex::new(None),
            digested: std::sync::Mutex::new(None),
        }))
    }

    fn rules(&self) -> OutboxClaimRules {
        OutboxClaimRules {
            batch: self.settings.mail_batch.max(1),
            lease: jiff::SignedDuration::from_secs(
                i64::try_from(self.settings.mail_lease_secs.max(1)).unwrap_or(300),
            ),
            max_attempts: self.settings.mail_max_attempts.max(1),
        }
    }

    /// One pass: writes the reminders now due, then claims and sends what is due.
    pub async fn run_once(&self) -> Result<Pass, MailError> {
        let outbox = self.app.outbox();
        let mut pass = Pass {
            reminders_written: outbox.queue_reminders().await.map_err(MailError::Outbox)?,
            ..Pass::default()
        };
        let now = outbox.now();
        let look = self
            .checked_in
            .lock()
            .map(|last| last.is_none_or(|l| now.duration_since(l) >= CHECK_IN_EVERY))
            .unwrap_or(true);
        if look {
            pass.check_ins_written = outbox.queue_check_ins().await.map_err(MailError::Outbox)?;
            if let Ok(mut last) = self.checked_in.lock() {
                *last = Some(now);
            }
        }
        let (day, digest_time) = outbox.digest_day();
        let digested = self
            .digested
            .lock()
            .map(|d| *d == Some(day))
            .unwrap_or(false);
        if digest_time && !digested {
            pass.digests_written = outbox
                .queue_staff_digests(day)
                .await
                .map_err(MailError::Outbox)?;
            if let Ok(mut d) = self.digested.lock() {
                *d = Some(day);
            }
        }
        // One message claimed at a time, up to the batch: a claim counts as an attempt and
        // starts the lease, so claiming many at once would spend the attempts of messages
        // never tried when the process dies (a crash loop would dead-letter them) and let
        // leases run out on messages still waiting their turn behind a slow server.
        let rules = OutboxClaimRules {
            batch: 1,
            ..self.rules()
        };
        for _ in 0..self.rules().batch {
            let claimed = outbox
                .claim(&self.id, rules)
                .await
                .map_err(MailError::Outbox)?;
            let Some(m) = claimed.into_iter().next() else {
                break;
            };
            match self.send(&m).await {
                Ok(reply) => {
                    outbox
                        .mark_sent(m.id, &self.id, &reply)
                        .await
                        .map_err(MailError::Outbox)?;
                    pass.sent += 1;
                }
                Err(failure) => {
                    tracing::warn!(
                        message.id = m.id,
                        attempt = m.attempts,
                        permanent = failure.permanent,
                        reason = %failure.reason,
                        "a message was not accepted"
                    );
                    outbox
                        .mark_failed(m.id, &self.id, &failure, self.rules().max_attempts)
                        .await
                        .map_err(MailError::Outbox)?;
                    pass.failed += 1;
                }
            }
        }
        Ok(pass)
    }

    /// Passes until `stop` turns true; a pass under way is finished first.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut every =
            tokio::time::interval(Duration::from_secs(self.settings.mail_poll_secs.max(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "a pass over the outbox failed");
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    fn retry_in(&self, attempt: u32) -> jiff::SignedDuration {
        let base = self.settings.mail_retry_secs.max(1);
        let secs = base
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(12))
            .min(3600);
        jiff::SignedDuration::from_secs(i64::try_from(secs).unwrap_or(3600))
    }

    /// Renders and hands over one message; the server's reply on success.
    async fn send(&self, m: &OutboxMessage) -> Result<String, SendFailure> {
        let fail = |permanent: bool, reason: &str| SendFailure {
            permanent,
            reason: reason.to_owned(),
            retry_in: self.retry_in(m.attempts),
        };
        if m.may_have_been_sent {
            // The last attempt was cut off after it began: the server may hold it. It goes
            // again with the same Message-ID, so the receiving side sees one message.
            tracing::info!(
                message.id = m.id,
                "resending a message whose last attempt was cut off (same Message-ID)"
            );
        }
        let clinic = m
            .sender_name
            .as_deref()
            .unwrap_or(&self.settings.mail_sender_name);
        let rendered = render(m.kind, &m.params, clinic, &self.settings.public_url)
            .map_err(|_| fail(true, "template failed"))?;
        let from = self
            .settings
            .sender_mailbox(clinic)
            .map_err(|_| fail(true, "bad sender"))?;
        let to: Mailbox = m
            .address
            .parse()
            .map_err(|_| fail(true, "bad recipient address"))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(format!(
                "<{}@{}>",
                m.smtp_message_id,
                self.settings.domain()
            )))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(rendered.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(rendered.html),
                    ),
            )
            .map_err(|_| fail(true, "message could not be built"))?;
        match &self.transport {
            Transport::File(t) => t
                .send(message)
                .await
                .map(|id| format!("file {id}"))
                .map_err(|_| fail(false, "mail_dir not writable")),
            // The whole conversation has a deadline (lettre's own timeout covers each
            // read, not a server that accepts the data and never answers).
            Transport::Smtp(t) => match tokio::time::timeout(
                Duration::from_secs(self.settings.smtp_timeout_secs.max(1)),
                t.send(message),
            )
            .await
            {
                Err(_) => Err(fail(false, "timed out")),
                Ok(Ok(reply)) => Ok(format!(
                    "{} {}",
                    reply.code(),
                    reply.message().collect::<Vec<_>>().join(" ")
                )),
                // Only the reply class goes to the log and the row: a server's text may
                // echo the address.
                Ok(Err(e)) if e.is_permanent() => Err(fail(
                    true,
                    &format!(
                        "refused ({})",
                        e.status().map_or("5xx".to_owned(), |c| c.to_string())
                    ),
                )),
                Ok(Err(e)) if e.is_transient() => Err(fail(
                    false,
                    &format!(
                        "deferred ({})",
                        e.status().map_or("4xx".to_owned(), |c| c.to_string())
                    ),
                )),
                Ok(Err(e)) if e.is_timeout() => Err(fail(false, "timed out")),
                Ok(Err(_)) => Err(fail(false, "connection failed")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_renders_in_text_and_html_with_only_what_the_person_needs() {
        let params: serde_json::Map<String, serde_json::Value> = [
            ("when", "Monday 4 May at 10:00"),
            ("start_date", "Monday 11 May"),
            ("reply_by", "Thursday 7 May at 09:00"),
            ("offer_token", "OFFER"),
            ("unsubscribe_token", "UNSUB"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
        for kind in MessageKind::ALL {
            let r =
                render(kind, &params, "Riverside Wellness", "https://c.example/").expect("renders");
            assert!(!r.subject.is_empty());
            assert!(r.text.contains("Riverside Wellness"), "{kind:?}");
            assert!(r.html.contains("Riverside Wellness"), "{kind:?}");
            // The unsubscribe link goes in optional messages (when the outbox gave one).
            assert!(r.text.contains("https://c.example/unsubscribe/UNSUB"));
            let needs = match kind {
                MessageKind::SeatOffer => "https://c.example/offers/OFFER",
                MessageKind::CheckInDue => "https://c.example/me",
                MessageKind::ReferralWaiting => "https://c.example/intake",
                MessageKind::SafetyAlert | MessageKind::StaffDigest => "https://c.example/today",
                MessageKind::SessionReminder | MessageKind::SessionCancelled => {
                    "Monday 4 May at 10:00"
                }
                MessageKind::ReferralReceived => "two working days",
            };
            assert!(r.text.contains(needs), "{kind:?}: {}", r.text);
            assert!(r.html.contains(needs), "{kind:?}: {}", r.html);
        }
    }

    #[test]
    fn a_join_url_goes_only_in_session_reminders_and_cancellations() {
        let params: serde_json::Map<String, serde_json::Value> = [
            ("when", "Monday 4 May at 10:00"),
            ("join_url", "https://video.example.org/j/42"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
        for kind in MessageKind::ALL {
            let r = render(kind, &params, "Clinic", "https://c.example/").expect("renders");
            let session = matches!(
                kind,
                MessageKind::SessionReminder | MessageKind::SessionCancelled
            );
            assert_eq!(
                r.text.contains("https://video.example.org/j/42"),
                session,
                "{kind:?}"
            );
            assert_eq!(
                r.html.contains("href=\"https://video.example.org/j/42\""),
                session,
                "{kind:?}"
            );
        }
        let plain: serde_json::Map<String, serde_json::Value> = [(
            "join_url".to_owned(),
            serde_json::Value::from("javascript:alert(1)"),
        )]
        .into_iter()
        .collect();
        let r = render(MessageKind::SessionReminder, &plain, "C", "https://c/").expect("renders");
        assert!(!r.html.contains("javascript:"), "{}", r.html);
    }

    #[test]
    fn html_escapes_what_it_is_given() {
        let params: serde_json::Map<String, serde_json::Value> =
            [("when".to_owned(), serde_json::Value::from("<b>x</b>"))]
                .into_iter()
                .collect();
        let r =
            render(MessageKind::SessionReminder, &params, "A & B", "http://h").expect("renders");
        assert!(!r.html.contains("<b>x</b>"), "{}", r.html);
        assert!(!r.html.contains("A & B"), "{}", r.html);
        assert!(
            r.text.contains("<b>x</b>"),
            "plain text is not HTML-escaped"
        );
    }
}
