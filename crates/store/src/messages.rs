//! Messages people receive (issue 18): consent to contact, the transactional outbox, and the
//! secrets of the links messages carry.
//!
//! A message is written by [`Store::enqueue`] inside the transaction of the event that causes
//! it (a seat offered, a session cancelled, a referral received), so it exists exactly when
//! the event does. A worker then claims due rows ([`Store::claim_messages`]): on PostgreSQL
//! with `FOR UPDATE SKIP LOCKED`, so several servers over one database each take different
//! rows; on SQLite under the single writer's lock. A claim is a lease: a worker that dies
//! leaves its rows `sending` until the lease ends, then another worker takes them again.
//!
//! No duplicates after a crash between sending and marking: every message has a
//! Message-ID fixed when it is enqueued (`smtp_message_id`, from the outbox id and a random
//! part) and sent unchanged on every attempt. A row found `sending` with an expired lease
//! may have been delivered; it is sent again with the same Message-ID, which makes the
//! second copy the same message to the receiving system (mail stores and clients keep one
//! message per Message-ID), never a second one. See SECURITY.md, "Messages".
//!
//! Minimum necessary: what a message says is a template (in `circle-mail`) filled with the
//! parameters stored here, which are only times, dates and link secrets — never a group's
//! name or topic, a level of care, a diagnosis or another member. The address and the
//! parameters are sealed at rest. Client messages need the client's consent to contact,
//! checked when the message is written and again when it is claimed, so a withdrawal stops
//! queued messages at once.

use base64::Engine as _;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, OfferId, ProgramId, UserId};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::access::{AuditContext, ClientAccess, RequestMeta, RoleAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::{read, ts};
use crate::groups::Tx;
use crate::sealed::{MESSAGE_ADDRESS, MESSAGE_PARAMS};
use crate::{Backend, Store, StoreError};

/// What a message is for. Each kind has one template pair (text and HTML) in `circle-mail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    SessionReminder,
    SessionCancelled,
    SeatOffer,
    CheckInDue,
    ReferralReceived,
    ReferralWaiting,
    SafetyAlert,
    StaffDigest,
}

impl MessageKind {
    pub const ALL: [MessageKind; 8] = [
        Self::SessionReminder,
        Self::SessionCancelled,
        Self::SeatOffer,
        Self::CheckInDue,
        Self::ReferralReceived,
        Self::ReferralWaiting,
        Self::SafetyAlert,
        Self::StaffDigest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionReminder => "session_reminder",
            Self::SessionCancelled => "session_cancelled",
            Self::SeatOffer => "seat_offer",
            Self::CheckInDue => "check_in_due",
            Self::ReferralReceived => "referral_received",
            Self::ReferralWaiting => "referral_waiting",
            Self::SafetyAlert => "safety_alert",
            Self::StaffDigest => "staff_digest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the message is one a client can do without (reminders, check-in nudges):
    /// such messages carry an unsubscribe link. Cancellations and seat offers are the
    /// answer to something the person is waiting for.
    pub fn optional(self) -> bool {
        matches!(self, Self::SessionReminder | Self::CheckInDue)
    }
}

/// Whom a message goes to.
#[derive(Debug, Clone)]
pub(crate) enum Recipient {
    /// A client, at the address on their record, if they consented to be contacted.
    Client(ClientId),
    /// The person behind a public referral, at the address they gave to be answered.
    Referral { id: i64, address: String },
    /// A staff account, at its sign-in address (work mail; no consent needed).
    User { id: UserId, address: String },
}

/// A message to write into the outbox.
pub(crate) struct NewMessage {
    pub kind: MessageKind,
    pub recipient: Recipient,
    pub program: Option<ProgramId>,
    /// What it is about (`session:12`), so a later event can stop it while queued.
    pub subject_ref: Option<String>,
    /// One message per key, ever: a second enqueue with the same key does nothing.
    pub dedupe_key: String,
    /// The template's parameters: times, dates, counts. Never names of groups or people.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// For seat offers: the offer the link answers, and when it closes.
    pub offer: Option<(OfferId, Timestamp)>,
}

/// How long an unsubscribe link works.
const UNSUBSCRIBE_DAYS: i64 = 60;

/// The SHA-256 digest under which a link's secret is stored and looked up.
pub fn link_digest(secret: &str) -> String {
    let d = Sha256::digest(format!("circle message link v1\0{secret}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SQL condition "client `col` has consented to email contact" (newest row decides).
fn consented(col: &str) -> String {
    format!(
        "(SELECT cc.state FROM contact_consents cc WHERE cc.client_id = {col} \
         AND cc.channel = 'email' ORDER BY cc.id DESC LIMIT 1) = 'granted'"
    )
}

/// The result of writing a message: why none was written, when none was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Written(i64),
    /// The same message (by its key) was written before.
    AlreadyWritten,
    /// The client has not consented to be contacted (or withdrew).
    NoConsent,
    /// The client has no address on record.
    NoAddress,
}

#[derive(sqlx::FromRow)]
struct ClientAddressRow {
    ok: i64,
    email: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DueMessageRow {
    id: i64,
    attempts: i64,
    status: String,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    recipient_address: String,
    params: String,
    program_id: Option<i64>,
    kind: String,
    recipient_kind: String,
    recipient_id: i64,
    client_id: Option<i64>,
    smtp_message_id: String,
    attempts: i64,
}

#[derive(sqlx::FromRow)]
struct SentRow {
    client_id: Option<i64>,
    kind: String,
    recipient_kind: String,
    recipient_id: i64,
}

#[derive(sqlx::FromRow)]
struct DeadLetterRow {
    id: i64,
    kind: String,
    recipient_kind: String,
    recipient_id: i64,
    attempts: i64,
    last_error: Option<String>,
    created_at: String,
    updated_at: String,
}

#[derive(sqlx::FromRow)]
struct ContactConsentRow {
    state: String,
    recorded_at: String,
    recorded_by: Option<i64>,
    recorded_via: String,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    used_at: Option<String>,
    expires_at: String,
    client_id: i64,
    id: i64,
}

#[derive(sqlx::FromRow)]
struct OfferLinkRow {
    offer_id: i64,
    state: String,
    used_at: Option<String>,
    expires_at: String,
}

#[derive(sqlx::FromRow)]
struct ReminderRow {
    starts_at: String,
    reminder_hours: i64,
    time_zone: String,
    id: i64,
    client_id: i64,
    program_id: i64,
    join_url: Option<String>,
}

impl Store {
    /// Writes one message in the caller's transaction (the event's own), with a fresh
    /// unsubscribe link for optional messages and the offer link for seat offers.
    pub(crate) async fn enqueue(
        &self,
        tx: &mut Tx<'_>,
        msg: NewMessage,
        at: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        let mut params = msg.params;
        let (recipient_kind, recipient_id, client, address) = match msg.recipient {
            Recipient::Client(c) => {
                let row = sqlx::query_as::<_, ClientAddressRow>(&format!(
                    "SELECT c.email, CASE WHEN {} THEN 1 ELSE 0 END AS ok FROM clients c WHERE c.id = $1",
                    consented("c.id")
                ))
                .bind(c.0)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(row) = row else {
                    return Ok(Enqueued::NoAddress);
                };
                if row.ok != 1 {
                    return Ok(Enqueued::NoConsent);
                }
                let Some(email) = row.email.filter(|e| !e.is_empty()) else {
                    return Ok(Enqueued::NoAddress);
                };
                ("client", c.0, Some(c), email)
            }
            Recipient::Referral { id, address } => ("referral", id, None, address),
            Recipient::User { id, address } => ("user", id.0, None, address),
        };
        let now = ts(at);
        if let Some(client) = client {
            if msg.kind.optional() {
                let secret = random_secret();
                let expires = at
                    .checked_add(SignedDuration::from_hours(24 * UNSUBSCRIBE_DAYS))
                    .map_err(|_| StoreError::Corrupt("expires_at"))?;
                insert_token(tx, "unsubscribe", &secret, client, None, expires, at).await?;
                params.insert("unsubscribe_token".into(), secret.into());
            }
            if let Some((offer, expires)) = msg.offer {
                let secret = random_secret();
                insert_token(tx, "offer", &secret, client, Some(offer), expires, at).await?;
                params.insert("offer_token".into(), secret.into());
            }
        }
        // The sealed columns are bound to the row id, so the row is written first with
        // placeholders and sealed in the same transaction.
        let Some(id) = sqlx::query_scalar::<_, i64>(
            "INSERT INTO messages (dedupe_key, kind, recipient_kind, recipient_id, client_id, \
             program_id, subject_ref, recipient_address, params, status, attempts, \
             next_attempt_at, smtp_message_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, '', '', 'queued', 0, $8, $9, $8, $8) \
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(&msg.dedupe_key)
        .bind(msg.kind.as_str())
        .bind(recipient_kind)
        .bind(recipient_id)
        .bind(client.map(|c| c.0))
        .bind(msg.program.map(|p| p.0))
        .bind(msg.subject_ref.as_deref())
        .bind(&now)
        .bind(format!("pending.{}", random_secret()))
        .fetch_optional(&mut **tx)
        .await?
        else {
            return Ok(Enqueued::AlreadyWritten);
        };
        let params = serde_json::Value::Object(params).to_string();
        let mut nonce = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        sqlx::query(
            "UPDATE messages SET recipient_address = $1, params = $2, smtp_message_id = $3 \
             WHERE id = $4",
        )
        .bind(self.seal(&address, &MESSAGE_ADDRESS.aad(id))?)
        .bind(self.seal(&params, &MESSAGE_PARAMS.aad(id))?)
        .bind(format!("circle.outbox.{id}.{nonce}"))
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(Enqueued::Written(id))
    }

    /// Stops queued messages about something that no longer holds (a session cancelled
    /// before its reminder went). Returns how many were stopped.
    pub(crate) async fn stop_messages_about(
        &self,
        tx: &mut Tx<'_>,
        subject_ref: &str,
        kind: MessageKind,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE messages SET status = 'cancelled', last_error = 'no longer applies', \
             updated_at = $1 WHERE subject_ref = $2 AND kind = $3 AND status = 'queued'",
        )
        .bind(ts(at))
        .bind(subject_ref)
        .bind(kind.as_str())
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected())
    }
}

async fn insert_token(
    tx: &mut Tx<'_>,
    purpose: &str,
    secret: &str,
    client: ClientId,
    offer: Option<OfferId>,
    expires: Timestamp,
    at: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO message_tokens (purpose, token_hash, client_id, offer_id, expires_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(purpose)
    .bind(link_digest(secret))
    .bind(client.0)
    .bind(offer.map(|o| o.0))
    .bind(ts(expires))
    .bind(ts(at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A message a worker has claimed, opened for sending.
pub struct ClaimedMessage {
    pub id: i64,
    pub kind: MessageKind,
    pub recipient_kind: String,
    pub recipient_id: i64,
    pub client_id: Option<ClientId>,
    pub address: circle_vault::Zeroizing<String>,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The left part of the Message-ID (`<{this}@{sender domain}>`), the same every attempt.
    pub smtp_message_id: String,
    /// Attempts including this one.
    pub attempts: u32,
    /// The previous attempt was cut off after it began sending: the message may already
    /// have been delivered (it is sent again with the same Message-ID).
    pub may_have_been_sent: bool,
    /// The program's discreet sender name, if set.
    pub sender_name: Option<String>,
}

impl std::fmt::Debug for ClaimedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How the worker claims and retries.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules {
    /// At most this many rows per claim.
    pub batch: u32,
    /// How long a claim holds before another worker may take the row again.
    pub lease: SignedDuration,
    /// A message tried this many times without success is dead-lettered.
    pub max_attempts: u32,
}

/// A failed attempt, as the worker classifies it. The text is the SMTP reply class or a
/// transport failure kind, never content.
#[derive(Debug, Clone)]
pub struct Failure {
    /// A permanent refusal (5xx): no retry.
    pub permanent: bool,
    pub reason: String,
    /// Wait before the next attempt.
    pub retry_in: SignedDuration,
}

/// An outbox row for administrators: no address, no content.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: i64,
    pub kind: MessageKind,
    pub recipient_kind: String,
    pub recipient_id: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Counts of the outbox by status (the health of messaging at a glance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub dead: i64,
    pub cancelled: i64,
}

impl Store {
    /// Claims due messages for `worker`: queued ones whose time has come and `sending` ones
    /// whose lease ran out (their worker died). Client messages whose consent is gone are
    /// stopped instead; messages out of attempts are dead-lettered.
    pub async fn claim_messages(
        &self,
        worker: &str,
        rules: ClaimRules,
        at: Timestamp,
    ) -> Result<Vec<ClaimedMessage>, StoreError> {
        let now = ts(at);
        let lease_end = ts(at
            .checked_add(rules.lease)
            .map_err(|_| StoreError::Corrupt("claim_expires_at"))?);
        let mut tx = self.begin_write().await?;
        // Consent withdrawn after the message was written: it is not sent.
        sqlx::query(&format!(
            "UPDATE messages SET status = 'cancelled', last_error = 'no consent to contact', \
             updated_at = $1 WHERE status = 'queued' AND client_id IS NOT NULL \
             AND NOT ({})",
            consented("messages.client_id")
        ))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let lock = match self.backend() {
            // Each server takes rows no other holds; a row another claims now is skipped.
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            // SQLite has one writer: `begin_write` holds the database's write lock.
            Backend::Sqlite => "",
        };
        let due = sqlx::query_as::<_, DueMessageRow>(&format!(
            "SELECT id, status, attempts FROM messages \
             WHERE (status = 'queued' AND next_attempt_at <= $1) \
                OR (status = 'sending' AND claim_expires_at <= $1) \
             ORDER BY next_attempt_at, id LIMIT $2{lock}"
        ))
        .bind(&now)
        .bind(i64::from(rules.batch))
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::new();
        for r in &due {
            let id = r.id;
            let attempts = r.attempts;
            let was_sending = r.status == "sending";
            if attempts >= i64::from(rules.max_attempts) {
                // Its last attempt was cut off: no more tries.
                sqlx::query(
                    "UPDATE messages SET status = 'dead', claimed_by = NULL, \
                     claim_expires_at = NULL, last_error = COALESCE(last_error, 'interrupted'), \
                     updated_at = $1 WHERE id = $2",
                )
                .bind(&now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            let row = sqlx::query_as::<_, ClaimedRow>(
                "UPDATE messages SET status = 'sending', attempts = attempts + 1, \
                 claimed_by = $1, claim_expires_at = $2, updated_at = $3 WHERE id = $4 \
                 RETURNING id, kind, recipient_kind, recipient_id, client_id, program_id, \
                 recipient_address, params, smtp_message_id, attempts",
            )
            .bind(worker)
            .bind(&lease_end)
            .bind(&now)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            claimed.push((row, was_sending));
        }
        tx.commit().await?;
        let mut out = Vec::with_capacity(claimed.len());
        for (row, was_sending) in claimed {
            out.push(self.open_claimed(row, was_sending).await?);
        }
        Ok(out)
    }

    async fn open_claimed(
        &self,
        row: ClaimedRow,
        may_have_been_sent: bool,
    ) -> Result<ClaimedMessage, StoreError> {
        let id = row.id;
        let address = self.open_sealed(
            &row.recipient_address,
            &MESSAGE_ADDRESS.aad(id),
            MESSAGE_ADDRESS.kind,
        )?;
        let params = self.open_sealed(&row.params, &MESSAGE_PARAMS.aad(id), MESSAGE_PARAMS.kind)?;
        let params = match serde_json::from_str::<serde_json::Value>(&params) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(StoreError::Corrupt(MESSAGE_PARAMS.kind)),
        };
        let sender_name = match row.program_id {
            Some(p) => sqlx::query_scalar::<_, Option<String>>(
                "SELECT sender_name FROM programs WHERE id = $1",
            )
            .bind(p)
            .fetch_optional(self.pool())
            .await?
            .flatten(),
            None => None,
        };
        Ok(ClaimedMessage {
            id,
            kind: read::vocab(&row.kind, "kind", MessageKind::parse)?,
            recipient_kind: row.recipient_kind,
            recipient_id: row.recipient_id,
            client_id: row.client_id.map(ClientId),
            address,
            params,
            smtp_message_id: row.smtp_message_id,
            attempts: read::uint(row.attempts, "attempts")?,
            may_have_been_sent,
            sender_name,
        })
    }

    /// Records that the SMTP server accepted a message (its reply, which names the queue id
    /// it gave), with the audit entry of the sending: the recipient's record, the kind and
    /// the time — never the address or the content. Returns false when this worker no
    /// longer held the claim (another took it after the lease ran out; it sends the same
    /// Message-ID).
    pub async fn mark_sent(
        &self,
        id: i64,
        worker: &str,
        reply: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, SentRow>(
            "UPDATE messages SET status = 'sent', sent_at = $1, smtp_reply = $2, \
             claimed_by = NULL, claim_expires_at = NULL, last_error = NULL, updated_at = $1 \
             WHERE id = $3 AND status = 'sending' AND claimed_by = $4 \
             RETURNING kind, recipient_kind, recipient_id, client_id",
        )
        .bind(&now)
        .bind(reply.chars().take(200).collect::<String>())
        .bind(id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let clients: Vec<ClientId> = row.client_id.map(ClientId).into_iter().collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(&AuditContext::nobody(), AuditAction::MessageSend, &clients).object(
                format!(
                    "message:{id}:{}:{}:{}",
                    row.kind, row.recipient_kind, row.recipient_id
                ),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt: queued again after `retry_in`, or dead-lettered when the
    /// refusal is permanent or the attempts are used up.
    pub async fn mark_failed(
        &self,
        id: i64,
        worker: &str,
        failure: &Failure,
        max_attempts: u32,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let now = ts(at);
        let next = ts(at
            .checked_add(failure.retry_in)
            .map_err(|_| StoreError::Corrupt("next_attempt_at"))?);
        let reason: String = failure.reason.chars().take(200).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE messages SET \
             status = CASE WHEN $1 = 1 OR attempts >= $2 THEN 'dead' ELSE 'queued' END, \
             next_attempt_at = $3, last_error = $4, claimed_by = NULL, claim_expires_at = NULL, \
             updated_at = $5 WHERE id = $6 AND status = 'sending' AND claimed_by = $7",
        )
        .bind(i64::from(failure.permanent))
        .bind(i64::from(max_attempts))
        .bind(&next)
        .bind(&reason)
        .bind(&now)
        .bind(id)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Dead letters, newest first: what failed and why, never the address or content.
    pub async fn dead_letters(
        &self,
        _a: &RoleAccess<purpose::MessageAdmin>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query_as::<_, DeadLetterRow>(
            "SELECT id, kind, recipient_kind, recipient_id, attempts, last_error, created_at, \
             updated_at FROM messages WHERE status = 'dead' ORDER BY id DESC LIMIT 500",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.id,
                    kind: read::vocab(&r.kind, "kind", MessageKind::parse)?,
                    recipient_kind: r.recipient_kind,
                    recipient_id: r.recipient_id,
                    attempts: read::uint(r.attempts, "attempts")?,
                    last_error: r.last_error,
                    created_at: read::ts(&r.created_at, "created_at")?,
                    updated_at: read::ts(&r.updated_at, "updated_at")?,
                })
            })
            .collect()
    }

    /// How many messages are in each status.
    pub async fn outbox_counts(
        &self,
        _a: &RoleAccess<purpose::MessageAdmin>,
    ) -> Result<OutboxCounts, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM messages GROUP BY status")
                .fetch_all(self.pool())
                .await?;
        let mut c = OutboxCounts::default();
        for (status, n) in rows {
            match status.as_str() {
                "queued" => c.queued = n,
                "sending" => c.sending = n,
                "sent" => c.sent = n,
                "dead" => c.dead = n,
                _ => c.cancelled += n,
            }
        }
        Ok(c)
    }
}

/// A client's consent to be contacted by email, as last recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactConsent {
    pub granted: bool,
    pub recorded_at: Timestamp,
    pub recorded_by: Option<UserId>,
    pub recorded_via: String,
}

/// What an unsubscribe link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Done,
    Used,
    Expired,
    Unknown,
}

impl Store {
    /// Records a client's consent to be contacted by email, or its withdrawal (which stops
    /// their queued messages in the same transaction).
    pub async fn set_contact_consent(
        &self,
        a: &ClientAccess<purpose::ContactConsentWrite>,
        granted: bool,
        at: Timestamp,
    ) -> Result<ContactConsent, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let via = if a.role() == Some(circle_domain::user::Role::Client) {
            "portal"
        } else {
            "staff"
        };
        let mut tx = self.begin_write().await?;
        insert_consent(&mut tx, client, granted, ctx.actor_user_id(), via, at).await?;
        let action = if granted {
            AuditAction::ConsentCreate
        } else {
            AuditAction::ConsentRevoke
        };
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, action, &[client]).object("contact:email"),
        )
        .await?;
        tx.commit().await?;
        Ok(ContactConsent {
            granted,
            recorded_at: at,
            recorded_by: ctx.actor_user_id(),
            recorded_via: via.to_owned(),
        })
    }

    /// A client's consent to email contact, if any was ever recorded.
    pub async fn contact_consent<P: purpose::ReadsConsents>(
        &self,
        a: &ClientAccess<P>,
        at: Timestamp,
    ) -> Result<Option<ContactConsent>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        let row = sqlx::query_as::<_, ContactConsentRow>(
            "SELECT state, recorded_at, recorded_by, recorded_via FROM contact_consents \
             WHERE client_id = $1 AND channel = 'email' ORDER BY id DESC LIMIT 1",
        )
        .bind(client.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ConsentRead, &[client]).object("contact:email"),
        )
        .await?;
        row.map(|r| {
            Ok(ContactConsent {
                granted: r.state == "granted",
                recorded_at: read::ts(&r.recorded_at, "recorded_at")?,
                recorded_by: r.recorded_by.map(UserId),
                recorded_via: r.recorded_via,
            })
        })
        .transpose()
    }

    /// Withdraws consent through an unsubscribe link (no sign-in: the link's secret is the
    /// capability). Single use; stops the client's queued messages at once.
    pub async fn unsubscribe(
        &self,
        secret: &str,
        request: &RequestMeta,
        at: Timestamp,
    ) -> Result<LinkOutcome, StoreError> {
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let Some(row) = sqlx::query_as::<_, TokenRow>(
            "SELECT id, client_id, expires_at, used_at FROM message_tokens \
             WHERE token_hash = $1 AND purpose = 'unsubscribe'",
        )
        .bind(link_digest(secret))
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(LinkOutcome::Unknown);
        };
        if row.used_at.is_some() {
            return Ok(LinkOutcome::Used);
        }
        if row.expires_at <= now {
            return Ok(LinkOutcome::Expired);
        }
        let client = ClientId(row.client_id);
        let used =
            sqlx::query("UPDATE message_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(&now)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
        if used.rows_affected() != 1 {
            return Ok(LinkOutcome::Used);
        }
        insert_consent(&mut tx, client, false, None, "unsubscribe_link", at).await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(
                &AuditContext::public(request),
                AuditAction::ConsentRevoke,
                &[client],
            )
            .object("contact:email"),
        )
        .await?;
        tx.commit().await?;
        Ok(LinkOutcome::Done)
    }

    /// Marks an offer link used (after the offer was answered through it).
    pub async fn spend_offer_link(&self, secret: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE message_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = 'offer' \
             AND used_at IS NULL",
        )
        .bind(ts(at))
        .bind(link_digest(secret))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The offer a link names, and whether the link still works (`None`: no such link).
    pub(crate) async fn offer_link(
        &self,
        secret: &str,
        at: Timestamp,
    ) -> Result<Option<(OfferId, LinkOutcome)>, StoreError> {
        let row = sqlx::query_as::<_, OfferLinkRow>(
            "SELECT t.offer_id, t.expires_at, t.used_at, o.state FROM message_tokens t \
             JOIN offers o ON o.id = t.offer_id WHERE t.token_hash = $1 AND t.purpose = 'offer'",
        )
        .bind(link_digest(secret))
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let offer = OfferId(row.offer_id);
        let state = row.state;
        let outcome = if row.used_at.is_some()
            || matches!(state.as_str(), "accepted" | "declined" | "withdrawn")
        {
            LinkOutcome::Used
        } else if row.expires_at <= ts(at) || state == "expired" {
            LinkOutcome::Expired
        } else {
            LinkOutcome::Done
        };
        Ok(Some((offer, outcome)))
    }
}

async fn insert_consent(
    tx: &mut Tx<'_>,
    client: ClientId,
    granted: bool,
    by: Option<UserId>,
    via: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let now = ts(at);
    sqlx::query(
        "INSERT INTO contact_consents (client_id, channel, state, recorded_by, recorded_via, \
         recorded_at, created_at, updated_at) VALUES ($1, 'email', $2, $3, $4, $5, $5, $5)",
    )
    .bind(client.0)
    .bind(if granted { "granted" } else { "withdrawn" })
    .bind(by.map(|u| u.0))
    .bind(via)
    .bind(&now)
    .execute(&mut **tx)
    .await?;
    if !granted {
        // Withdrawal stops what is queued at once; a message a worker is sending this very
        // moment is the only one that can still go.
        sqlx::query(
            "UPDATE messages SET status = 'cancelled', last_error = 'no consent to contact', \
             updated_at = $1 WHERE client_id = $2 AND status = 'queued'",
        )
        .bind(&now)
        .bind(client.0)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A time as a message says it, in the program's zone: "Tuesday 8 December at 18:00".
fn spoken_time(at: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%A %-d %B at %H:%M")
        .to_string()
}

fn spoken_date(d: jiff::civil::Date) -> String {
    d.strftime("%A %-d %B").to_string()
}

fn params(pairs: &[(&str, String)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
        .collect()
}

/// Adds a telehealth session's join URL to a message's parameters (the message goes to a
/// member of the group only, who may see it).
fn with_join_url(
    mut p: serde_json::Map<String, serde_json::Value>,
    url: Option<String>,
) -> serde_json::Map<String, serde_json::Value> {
    if let Some(url) = url {
        p.insert("join_url".to_owned(), serde_json::Value::String(url));
    }
    p
}

/// A program's time zone (by id), read in the caller's transaction.
async fn program_zone(
    tx: &mut Tx<'_>,
    program: ProgramId,
) -> Result<jiff::tz::TimeZone, StoreError> {
    let p = crate::groups::program_in(tx, program)
        .await?
        .ok_or(StoreError::Corrupt("program_id"))?;
    Ok(p.time_zone.time_zone())
}

impl Store {
    /// The seat-offer message, in the transaction that made the offer.
    #[allow(
        clippy::too_many_arguments,
        reason = "one offer's parts, its transaction and its time"
    )]
    pub(crate) async fn queue_seat_offer(
        &self,
        tx: &mut Tx<'_>,
        offer: OfferId,
        client: ClientId,
        program: ProgramId,
        start: jiff::civil::Date,
        expires: Timestamp,
        at: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        let tz = program_zone(tx, program).await?;
        self.enqueue(
            tx,
            NewMessage {
                kind: MessageKind::SeatOffer,
                recipient: Recipient::Client(client),
                program: Some(program),
                subject_ref: Some(format!("offer:{}", offer.0)),
                dedupe_key: format!("offer:{}", offer.0),
                params: params(&[
                    ("start_date", spoken_date(start)),
                    ("reply_by", spoken_time(expires, &tz)),
                ]),
                offer: Some((offer, expires)),
            },
            at,
        )
        .await
    }

    /// Cancellation notices to the session's members, in the transaction that cancelled
    /// it; its reminders still queued are stopped.
    pub(crate) async fn queue_cancellation(
        &self,
        tx: &mut Tx<'_>,
        session: &circle_domain::session::Session,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let subject = format!("session:{}", session.id.0);
        self.stop_messages_about(tx, &subject, MessageKind::SessionReminder, at)
            .await?;
        let group = crate::groups::group_in(tx, session.group_id).await?;
        let tz = program_zone(tx, group.program_id).await?;
        // The sessions after it go ahead as usual, at the group's own link.
        let group_link: Option<String> =
            sqlx::query_scalar("SELECT join_url FROM therapy_groups WHERE id = $1")
                .bind(session.group_id.0)
                .fetch_optional(&mut **tx)
                .await?
                .flatten();
        let members: Vec<i64> = sqlx::query_scalar(
            "SELECT client_id FROM memberships WHERE group_id = $1 AND start_date <= $2 \
             AND (end_date IS NULL OR end_date > $2) AND status <> 'on_hold' ORDER BY client_id",
        )
        .bind(session.group_id.0)
        .bind(crate::codec::date(session.local_date))
        .fetch_all(&mut **tx)
        .await?;
        for client in members {
            self.enqueue(
                tx,
                NewMessage {
                    kind: MessageKind::SessionCancelled,
                    recipient: Recipient::Client(ClientId(client)),
                    program: Some(group.program_id),
                    subject_ref: Some(subject.clone()),
                    dedupe_key: format!("cancelled:{}:{client}", session.id.0),
                    params: with_join_url(
                        params(&[("when", spoken_time(session.starts_at, &tz))]),
                        group_link.clone(),
                    ),
                    offer: None,
                },
                at,
            )
            .await?;
        }
        Ok(())
    }

    /// The acknowledgement to the person who asked to join (when they gave an address),
    /// and a notice to every active intake account that a referral waits.
    pub(crate) async fn queue_referral_notices(
        &self,
        tx: &mut Tx<'_>,
        referral: i64,
        address: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(address) = address {
            self.enqueue(
                tx,
                NewMessage {
                    kind: MessageKind::ReferralReceived,
                    recipient: Recipient::Referral {
                        id: referral,
                        address: address.to_owned(),
                    },
                    program: None,
                    subject_ref: Some(format!("referral:{referral}")),
                    dedupe_key: format!("referral-received:{referral}"),
                    params: serde_json::Map::new(),
                    offer: None,
                },
                at,
            )
            .await?;
        }
        let intake: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, email FROM users WHERE role = 'intake' AND disabled_at IS NULL ORDER BY id",
        )
        .fetch_all(&mut **tx)
        .await?;
        for (user, email) in intake {
            self.enqueue(
                tx,
                NewMessage {
                    kind: MessageKind::ReferralWaiting,
                    recipient: Recipient::User {
                        id: UserId(user),
                        address: email,
                    },
                    program: None,
                    subject_ref: Some(format!("referral:{referral}")),
                    dedupe_key: format!("referral-waiting:{referral}:{user}"),
                    params: serde_json::Map::new(),
                    offer: None,
                },
                at,
            )
            .await?;
        }
        Ok(())
    }

    /// A notice, without clinical detail, to the clinicians who lead the client's current
    /// groups (and active directors when none does) that a safety alert is open.
    pub(crate) async fn queue_alert_notice(
        &self,
        tx: &mut Tx<'_>,
        client: ClientId,
        alert: i64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut staff: Vec<(i64, String)> = sqlx::query_as(
            "SELECT DISTINCT u.id, u.email FROM users u \
             JOIN therapy_groups g ON g.lead_facilitator_id = u.clinician_id \
                OR g.co_facilitator_id = u.clinician_id \
             JOIN memberships m ON m.group_id = g.id \
             WHERE m.client_id = $1 AND m.end_date IS NULL AND u.disabled_at IS NULL \
             AND u.role IN ('clinician','director') ORDER BY u.id",
        )
        .bind(client.0)
        .fetch_all(&mut **tx)
        .await?;
        if staff.is_empty() {
            staff = sqlx::query_as(
                "SELECT id, email FROM users WHERE role = 'director' AND clinic_wide <> 0 \
                 AND disabled_at IS NULL ORDER BY id",
            )
            .fetch_all(&mut **tx)
            .await?;
        }
        for (user, email) in staff {
            self.enqueue(
                tx,
                NewMessage {
                    kind: MessageKind::SafetyAlert,
                    recipient: Recipient::User {
                        id: UserId(user),
                        address: email,
                    },
                    program: None,
                    subject_ref: Some(format!("alert:{alert}")),
                    dedupe_key: format!("alert:{alert}:{user}"),
                    params: params(&[("alert_id", alert.to_string())]),
                    offer: None,
                },
                at,
            )
            .await?;
        }
        Ok(())
    }

    /// Writes the reminders now due: for every scheduled session starting within its
    /// program's reminder time (and not yet begun), one message per member. Idempotent (one
    /// reminder per session and member, ever), so every server may run it on its own clock.
    /// Returns how many were written.
    pub async fn queue_session_reminders(&self, at: Timestamp) -> Result<usize, StoreError> {
        let now = ts(at);
        let horizon = ts(at
            .checked_add(SignedDuration::from_hours(168))
            .map_err(|_| StoreError::Corrupt("starts_at"))?);
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query_as::<_, ReminderRow>(
            "SELECT s.id, s.starts_at, s.local_date, s.group_id, g.program_id, p.reminder_hours, \
             p.time_zone, m.client_id, COALESCE(s.join_url, g.join_url) AS join_url FROM sessions s \
             JOIN therapy_groups g ON g.id = s.group_id JOIN programs p ON p.id = g.program_id \
             JOIN memberships m ON m.group_id = s.group_id AND m.start_date <= s.local_date \
                AND (m.end_date IS NULL OR m.end_date > s.local_date) AND m.status <> 'on_hold' \
             WHERE s.status = 'scheduled' AND s.starts_at > $1 AND s.starts_at <= $2 \
             AND NOT EXISTS (SELECT 1 FROM messages x WHERE x.dedupe_key = \
                 'reminder:' || CAST(s.id AS TEXT) || ':' || CAST(m.client_id AS TEXT)) \
             ORDER BY s.starts_at, s.id, m.client_id",
        )
        .bind(&now)
        .bind(&horizon)
        .fetch_all(&mut *tx)
        .await?;
        let mut written = 0;
        for r in &rows {
            let starts = read::ts(&r.starts_at, "starts_at")?;
            let lead = SignedDuration::from_hours(r.reminder_hours);
            let send_from = starts
                .checked_sub(lead)
                .map_err(|_| StoreError::Corrupt("reminder_hours"))?;
            if send_from > at {
                continue;
            }
            let tz = jiff::tz::TimeZone::get(&r.time_zone)
                .map_err(|_| StoreError::Corrupt("time_zone"))?;
            let (session, client) = (r.id, r.client_id);
            let done = self
                .enqueue(
                    &mut tx,
                    NewMessage {
                        kind: MessageKind::SessionReminder,
                        recipient: Recipient::Client(ClientId(client)),
                        program: Some(ProgramId(r.program_id)),
                        subject_ref: Some(format!("session:{session}")),
                        dedupe_key: format!("reminder:{session}:{client}"),
                        params: with_join_url(
                            params(&[("when", spoken_time(starts, &tz))]),
                            r.join_url.clone(),
                        ),
                        offer: None,
                    },
                    at,
                )
                .await?;
            if matches!(done, Enqueued::Written(_)) {
                written += 1;
            }
        }
        tx.commit().await?;
        Ok(written)
    }

    /// A program's messaging settings: hours before a session its reminder goes, and the
    /// sender name its messages carry (`None`: the clinic's default).
    pub async fn program_messaging<P: crate::access::Purpose>(
        &self,
        a: &crate::access::ProgramAccess<P>,
    ) -> Result<(u32, Option<String>), StoreError> {
        let row = sqlx::query_as::<_, ProgramMessagingRow>(
            "SELECT reminder_hours, sender_name FROM programs WHERE id = $1",
        )
        .bind(a.program().0)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| circle_domain::DomainError::not_found("program"))?;
        Ok((
            read::uint(row.reminder_hours, "reminder_hours")?,
            row.sender_name,
        ))
    }

    /// Sets a program's messaging: how many hours before a session its reminder goes, and
    /// the sender name its messages carry (`None`: the clinic's default).
    pub async fn set_program_messaging(
        &self,
        a: &crate::access::ProgramAccess<purpose::ProgramDesign>,
        reminder_hours: u32,
        sender_name: Option<&str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if !(1..=168).contains(&reminder_hours) {
            return Err(circle_domain::DomainError::invalid(
                "reminder_hours",
                "must be between 1 and 168",
            )
            .into());
        }
        if sender_name.is_some_and(|n| n.chars().count() > 80 || n.chars().any(char::is_control)) {
            return Err(circle_domain::DomainError::invalid(
                "sender_name",
                "must be at most 80 characters on one line",
            )
            .into());
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE programs SET reminder_hours = $1, sender_name = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(i64::from(reminder_hours))
        .bind(sender_name.filter(|n| !n.trim().is_empty()))
        .bind(ts(at))
        .bind(a.program().0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A client the check-in notices consider: consenting to email, with an address and a
/// portal account (the notice links to the portal), and their latest episode's facts.
#[derive(Debug, Clone)]
pub struct CheckInCandidate {
    pub facts: crate::measures::DueFacts,
    pub program: Option<ProgramId>,
}

/// What a clinician's daily digest counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCounts {
    pub user: UserId,
    pub notes_overdue: usize,
    pub alerts_open: usize,
}

/// A program's messaging settings as stored.
#[derive(sqlx::FromRow)]
struct ProgramMessagingRow {
    reminder_hours: i64,
    sender_name: Option<String>,
}

/// A client a check-in notice could go to, with their latest episode.
#[derive(sqlx::FromRow)]
struct CheckInRow {
    client_id: i64,
    started_on: String,
    ended_on: Option<String>,
    program_id: Option<i64>,
    cadence: i64,
}

impl Store {
    /// The clients a check-in notice could go to, with their due facts (the same facts as
    /// the staff due list). Only consenting clients with an address and an active portal
    /// account are read; the read is audited, as the system, with the clients returned.
    pub async fn check_in_candidates(
        &self,
        at: Timestamp,
    ) -> Result<Vec<CheckInCandidate>, StoreError> {
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, CheckInRow>(&format!(
            "SELECT c.id AS client_id, e.started_on, e.ended_on, e.program_id, \
             COALESCE(p.measure_cadence_days, 14) AS cadence \
             FROM clients c JOIN episodes e ON e.client_id = c.id \
             LEFT JOIN programs p ON p.id = e.program_id \
             WHERE e.id = (SELECT e2.id FROM episodes e2 WHERE e2.client_id = c.id \
                           ORDER BY e2.started_on DESC, e2.id DESC LIMIT 1) \
             AND c.email IS NOT NULL AND c.email <> '' AND {} \
             AND EXISTS (SELECT 1 FROM users u WHERE u.client_id = c.id \
                         AND u.disabled_at IS NULL) \
             ORDER BY c.id",
            consented("c.id")
        ))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(vec![]);
        }
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let client = r.client_id;
            let last = sqlx::query_as::<_, crate::portal::LastAnsweredRow>(
                "SELECT instrument_code, MAX(administered_at) AS last FROM measure_responses \
                 WHERE client_id = $1 GROUP BY instrument_code",
            )
            .bind(client)
            .fetch_all(&mut *tx)
            .await?;
            let mut map = std::collections::BTreeMap::new();
            for l in last {
                map.insert(l.instrument_code, read::ts(&l.last, "last")?);
            }
            out.push(CheckInCandidate {
                facts: crate::measures::DueFacts {
                    client_id: ClientId(client),
                    episode_start: read::date(&r.started_on, "started_on")?,
                    episode_end: read::opt_date(r.ended_on.as_deref(), "ended_on")?,
                    cadence_days: r.cadence,
                    last: map,
                },
                program: r.program_id.map(ProgramId),
            });
        }
        let ids: Vec<ClientId> = out.iter().map(|c| c.facts.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(&AuditContext::nobody(), AuditAction::MeasureDueList, &ids)
                .object("check-in notices"),
        )
        .await?;
        Ok(out)
    }

    /// A check-in notice to a client whose check-in became due on `since`: one per client
    /// and due cycle (the cycle is named by the day it began), however often it is asked.
    /// It says only that a short check-in waits, never which.
    pub async fn queue_check_in_notice(
        &self,
        client: ClientId,
        program: Option<ProgramId>,
        since: jiff::civil::Date,
        at: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = self
            .enqueue(
                &mut tx,
                NewMessage {
                    kind: MessageKind::CheckInDue,
                    recipient: Recipient::Client(client),
                    program,
                    subject_ref: Some(format!("check-in:{}", client.0)),
                    dedupe_key: format!("check-in:{}:{since}", client.0),
                    params: serde_json::Map::new(),
                    offer: None,
                },
                at,
            )
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// What each active clinician's digest would count now: their overdue notes (the same
    /// rule as the overdue list) and the open safety alerts of the clients in the groups
    /// they lead or co-lead. Both reads are audited, as the system.
    pub async fn digest_counts(&self, at: Timestamp) -> Result<Vec<DigestCounts>, StoreError> {
        let overdue = self
            .overdue_notes(&crate::access::Listing::system(), at)
            .await?;
        let alerts = self
            .alerts(
                &crate::access::Listing::system(),
                Some(circle_domain::measure::AlertState::Open),
                at,
            )
            .await?;
        let users: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, clinician_id FROM users WHERE role = 'clinician' \
             AND clinician_id IS NOT NULL AND disabled_at IS NULL ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::new();
        for (user, clinician) in users {
            let notes_overdue = overdue
                .iter()
                .filter(|o| o.clinician_id.0 == clinician)
                .map(|o| o.notes.len())
                .sum();
            let mine: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT m.client_id FROM memberships m \
                 JOIN therapy_groups g ON g.id = m.group_id \
                 WHERE m.end_date IS NULL \
                 AND (g.lead_facilitator_id = $1 OR g.co_facilitator_id = $1)",
            )
            .bind(clinician)
            .fetch_all(self.pool())
            .await?;
            let alerts_open = alerts
                .iter()
                .filter(|a| mine.contains(&a.client_id.0))
                .count();
            out.push(DigestCounts {
                user: UserId(user),
                notes_overdue,
                alerts_open,
            });
        }
        Ok(out)
    }

    /// A clinician's digest for `day`: counts and a link, no client's name. One per
    /// clinician and day; nothing when there is nothing to count.
    pub async fn queue_staff_digest(
        &self,
        counts: &DigestCounts,
        day: jiff::civil::Date,
        at: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        if counts.notes_overdue == 0 && counts.alerts_open == 0 {
            return Ok(Enqueued::AlreadyWritten);
        }
        let mut tx = self.begin_write().await?;
        let address: Option<String> =
            sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND disabled_at IS NULL")
                .bind(counts.user.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(address) = address else {
            tx.rollback().await?;
            return Ok(Enqueued::NoAddress);
        };
        let done = self
            .enqueue(
                &mut tx,
                NewMessage {
                    kind: MessageKind::StaffDigest,
                    recipient: Recipient::User {
                        id: counts.user,
                        address,
                    },
                    program: None,
                    subject_ref: None,
                    dedupe_key: format!("digest:{}:{day}", counts.user.0),
                    params: params(&[
                        ("notes_overdue", counts.notes_overdue.to_string()),
                        ("alerts_open", counts.alerts_open.to_string()),
                    ]),
                    offer: None,
                },
                at,
            )
            .await?;
        tx.commit().await?;
        Ok(done)
    }
}
