//! Messages people receive (issue 18): consent to contact, the links messages carry (an
//! unsubscribe, a seat offer answered without an account), the dead letters administrators
//! review, and the outbox the mail worker (`circle-mail`) drains.

use circle_domain::ids::{ClientId, ProgramId};
use circle_domain::placement::Offer;
use circle_store::access::RequestMeta;
use circle_store::messages::{ClaimRules, ClaimedMessage, Failure, LinkOutcome};

pub use circle_store::messages::{
    ContactConsent, DeadLetter, LinkOutcome as LinkState, MessageKind, OutboxCounts,
};

use crate::{Actor, App, AppResult, purpose};

/// The hour (clinic time) from which the day's staff digests go.
pub const DIGEST_HOUR: i8 = 7;

/// What a seat-offer link shows.
#[derive(Debug, Clone)]
pub enum OfferLink {
    /// The offer is open and the link unused: it may be accepted or declined.
    Open(Offer),
    /// The link was used, or the offer was answered another way.
    Used,
    /// The offer's time ran out.
    Expired,
    /// No such link.
    Unknown,
}

/// What answering an offer through its link did.
#[derive(Debug, Clone)]
pub enum OfferAnswer {
    Accepted(Offer),
    Declined(Offer),
    /// The link no longer works (the page says why).
    Closed(OfferLink),
}

impl App {
    /// Records a client's consent to be contacted by email, or withdraws it (queued
    /// messages to them stop at once).
    pub async fn set_contact_consent(
        &self,
        actor: &Actor,
        client: ClientId,
        granted: bool,
    ) -> AppResult<ContactConsent> {
        let a = self
            .access_client::<purpose::ContactConsentWrite>(actor, client)
            .await?;
        Ok(self
            .store
            .set_contact_consent(&a, granted, self.now())
            .await?)
    }

    /// A client's consent to be contacted by email, as last recorded.
    pub async fn contact_consent(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<Option<ContactConsent>> {
        let a = self
            .access_client::<purpose::ConsentRead>(actor, client)
            .await?;
        Ok(self.store.contact_consent(&a, self.now()).await?)
    }

    /// Follows an unsubscribe link (no sign-in).
    pub async fn unsubscribe(&self, secret: &str, request: &RequestMeta) -> AppResult<LinkState> {
        Ok(self.store.unsubscribe(secret, request, self.now()).await?)
    }

    /// What a seat-offer link shows (no sign-in; the read is audited).
    pub async fn offer_by_link(&self, secret: &str, request: &RequestMeta) -> AppResult<OfferLink> {
        let now = self.now();
        Ok(
            match self
                .store
                .offer_link_access::<purpose::OfferRead>(secret, request, now)
                .await?
            {
                None => OfferLink::Unknown,
                Some(Err(state)) => closed(state),
                Some(Ok(a)) => {
                    let offer = self.store.offer(&a, now).await?;
                    // Reading moves offers past their time on: the link may just have
                    // expired.
                    if offer.state == circle_domain::placement::OfferState::Open {
                        OfferLink::Open(offer)
                    } else {
                        OfferLink::Expired
                    }
                }
            },
        )
    }

    /// Accepts or declines a seat offer through its link, by the same rules as at intake.
    /// The link is spent once the offer is answered.
    pub async fn answer_offer_by_link(
        &self,
        secret: &str,
        accept: bool,
        request: &RequestMeta,
    ) -> AppResult<OfferAnswer> {
        let now = self.now();
        let a = match self
            .store
            .offer_link_access::<purpose::OfferWrite>(secret, request, now)
            .await?
        {
            None => return Ok(OfferAnswer::Closed(OfferLink::Unknown)),
            Some(Err(state)) => return Ok(OfferAnswer::Closed(closed(state))),
            Some(Ok(a)) => a,
        };
        let answer = if accept {
            OfferAnswer::Accepted(self.store.accept_offer(&a, now).await?.0)
        } else {
            OfferAnswer::Declined(self.store.decline_offer(&a, now).await?)
        };
        self.store.spend_offer_link(secret, now).await?;
        Ok(answer)
    }

    /// The outbox's dead letters (administrators; no address, no content).
    pub async fn dead_letters(&self, actor: &Actor) -> AppResult<(OutboxCounts, Vec<DeadLetter>)> {
        let a = self.access_role::<purpose::MessageAdmin>(actor).await?;
        let counts = self.store.outbox_counts(&a).await?;
        Ok((counts, self.store.dead_letters(&a).await?))
    }

    /// Sets a program's reminder time and discreet sender name (directors).
    pub async fn set_program_messaging(
        &self,
        actor: &Actor,
        program: ProgramId,
        reminder_hours: u32,
        sender_name: Option<&str>,
    ) -> AppResult<()> {
        let a = self
            .access_program::<purpose::ProgramDesign>(actor, program)
            .await?;
        Ok(self
            .store
            .set_program_messaging(&a, reminder_hours, sender_name, self.now())
            .await?)
    }

    /// A program's reminder time and discreet sender name (directors).
    pub async fn program_messaging(
        &self,
        actor: &Actor,
        program: ProgramId,
    ) -> AppResult<(u32, Option<String>)> {
        let a = self
            .access_program::<purpose::ProgramDesign>(actor, program)
            .await?;
        Ok(self.store.program_messaging(&a).await?)
    }

    /// The outbox as the mail worker sees it (no actor: the worker is the system's own).
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { app: self }
    }
}

fn closed(state: LinkOutcome) -> OfferLink {
    match state {
        LinkOutcome::Expired => OfferLink::Expired,
        LinkOutcome::Unknown => OfferLink::Unknown,
        LinkOutcome::Used | LinkOutcome::Done => OfferLink::Used,
    }
}

/// The worker's side of the outbox.
pub struct Outbox<'a> {
    app: &'a App,
}

impl Outbox<'_> {
    pub fn now(&self) -> jiff::Timestamp {
        self.app.now()
    }

    /// Writes the session reminders now due.
    pub async fn queue_reminders(&self) -> AppResult<usize> {
        Ok(self
            .app
            .store
            .queue_session_reminders(self.app.now())
            .await?)
    }

    /// Writes the check-in notices now due: for each consenting client with a portal
    /// account whose PHQ-9 or GAD-7 is due by the same rule as the staff due list, one
    /// notice per due cycle (named by the day the earliest became due). Returns how many
    /// were written.
    pub async fn queue_check_ins(&self) -> AppResult<usize> {
        let now = self.app.now();
        let candidates = self.app.store.check_in_candidates(now).await?;
        let mut written = 0;
        for c in candidates {
            let due = self.app.due_from_facts(std::slice::from_ref(&c.facts));
            let Some(since) = due.iter().map(|d| d.since).min() else {
                continue;
            };
            if matches!(
                self.app
                    .store
                    .queue_check_in_notice(c.facts.client_id, c.program, since, now)
                    .await?,
                circle_store::messages::Enqueued::Written(_)
            ) {
                written += 1;
            }
        }
        Ok(written)
    }

    /// The clinic's day now, and whether its staff digests may go (from 07:00 in the
    /// clinic's time zone: a digest read at the start of the working day).
    pub fn digest_day(&self) -> (jiff::civil::Date, bool) {
        let local = self
            .app
            .now()
            .to_zoned(self.app.settings.clinic_time_zone.clone());
        (local.date(), local.hour() >= DIGEST_HOUR)
    }

    /// Writes today's staff digests: one per clinician with notes overdue or open safety
    /// alerts (counts and a link, no client named). Idempotent per clinician and day.
    pub async fn queue_staff_digests(&self, day: jiff::civil::Date) -> AppResult<usize> {
        let now = self.app.now();
        let mut written = 0;
        for counts in self.app.store.digest_counts(now).await? {
            if matches!(
                self.app.store.queue_staff_digest(&counts, day, now).await?,
                circle_store::messages::Enqueued::Written(_)
            ) {
                written += 1;
            }
        }
        Ok(written)
    }

    pub async fn claim(&self, worker: &str, rules: ClaimRules) -> AppResult<Vec<ClaimedMessage>> {
        Ok(self
            .app
            .store
            .claim_messages(worker, rules, self.app.now())
            .await?)
    }

    pub async fn mark_sent(&self, id: i64, worker: &str, reply: &str) -> AppResult<bool> {
        Ok(self
            .app
            .store
            .mark_sent(id, worker, reply, self.app.now())
            .await?)
    }

    pub async fn mark_failed(
        &self,
        id: i64,
        worker: &str,
        failure: &Failure,
        max_attempts: u32,
    ) -> AppResult<()> {
        Ok(self
            .app
            .store
            .mark_failed(id, worker, failure, max_attempts, self.app.now())
            .await?)
    }
}

pub use circle_store::messages::{
    ClaimRules as OutboxClaimRules, ClaimedMessage as OutboxMessage, Failure as SendFailure,
};
