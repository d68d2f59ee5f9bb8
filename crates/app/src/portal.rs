//! The client portal and the public pages: a client's own groups, schedule, agreement and
//! due check-ins; their secret calendar feed; the public directory of groups open to
//! self-referral; referrals from outside therapists.
//!
//! Access: only a client whose account links to a client record reaches the portal, and
//! only their own record (DESIGN.md: "only their own record; never another member's
//! data"). The feed is reached by its secret alone (a calendar app cannot sign in): the
//! secret is 256 random bits, only its SHA-256 digest is stored, a revoked or unknown
//! secret reads nothing, and every fetch is audited as a read of the client's schedule.
//! The directory and the referral form need no account and never reveal a client.

use circle_domain::ids::{ClientId, GroupId};
use circle_domain::intake::{GROUP_AGREEMENT_VERSION, NewReferral};
use circle_domain::measure::DueMeasure;
use circle_store::access::{AuditContext, ClientAccess, Purpose, purpose};
use circle_store::intake::SelfReferralOutcome;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

pub use circle_store::portal::{DirectoryEntry, OwnGroup, OwnSession};

use crate::{Actor, App, AppResult, RequestMeta};

/// How far ahead the portal lists sessions.
const PORTAL_WEEKS: i64 = 8;
use crate::feeds::{FEED_PAST_DAYS, feed_ahead};

/// What the client's home page shows.
#[derive(Debug, Clone)]
pub struct Portal {
    pub client_id: ClientId,
    pub groups: Vec<OwnGroup>,
    pub sessions: Vec<OwnSession>,
    /// Whether the current version of the group agreement is signed.
    pub agreement_signed: Option<jiff::civil::Date>,
    pub due: Vec<DueMeasure>,
    /// When the calendar feed was made, if there is one.
    pub feed_created: Option<Timestamp>,
}

/// The digest under which a feed secret is stored.
fn feed_digest(secret: &str) -> String {
    let d = Sha256::digest(format!("circle calendar feed v1\0{secret}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a string could be a feed secret (43 URL-safe base64 characters); anything else
/// is refused before touching the database.
pub(crate) fn plausible_secret(secret: &str) -> bool {
    secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl App {
    /// The signed-in client's access to their own record for `P`; anyone else is refused
    /// (audited, 403).
    async fn own<P: Purpose>(&self, actor: &Actor) -> AppResult<ClientAccess<P>> {
        match actor.client_id() {
            Some(c) if actor.may::<P>() => self.access_client::<P>(actor, c).await,
            _ => {
                self.store
                    .record_refusal::<P>(actor, &[], None, self.now())
                    .await?;
                Err(circle_domain::DomainError::Forbidden.into())
            }
        }
    }

    /// The client's portal: their groups, upcoming sessions, agreement, due check-ins and
    /// feed. Each part is read through its audited path.
    pub async fn portal(&self, actor: &Actor) -> AppResult<Portal> {
        let a = self.own::<purpose::ScheduleRead>(actor).await?;
        let client = a.client();
        let now = self.now();
        let until = now
            .checked_add(SignedDuration::from_hours(24 * 7 * PORTAL_WEEKS))
            .unwrap_or(now);
        let (groups, sessions) = self
            .store
            .own_schedule(&a, self.today(), now..until, "portal", now)
            .await?;
        let consents = self.consents(actor, client).await?;
        let agreement_signed = consents
            .group_agreements
            .iter()
            .filter(|a| a.version == GROUP_AGREEMENT_VERSION)
            .map(|a| a.signed_on)
            .max();
        let due = self.own_due(actor).await?;
        let feed_created = self.store.calendar_feed_created(client).await?;
        Ok(Portal {
            client_id: client,
            groups,
            sessions,
            agreement_signed,
            due,
            feed_created,
        })
    }

    /// The check-ins (PHQ-9, GAD-7) due for the signed-in client now, by the same rule as
    /// the staff due list.
    pub async fn own_due(&self, actor: &Actor) -> AppResult<Vec<DueMeasure>> {
        let a = self.own::<purpose::OwnDue>(actor).await?;
        let facts = self.store.own_due_facts(&a, self.now()).await?;
        Ok(facts
            .map(|f| self.due_from_facts(std::slice::from_ref(&f)))
            .unwrap_or_default())
    }

    /// Makes (or replaces) the client's calendar feed; returns the secret, shown once.
    pub async fn create_calendar_feed(&self, actor: &Actor) -> AppResult<String> {
        let a = self.own::<purpose::FeedWrite>(actor).await?;
        let secret = crate::web_session::random_token();
        self.store
            .set_calendar_feed(&a, &feed_digest(&secret), self.now())
            .await?;
        Ok(secret)
    }

    pub async fn revoke_calendar_feed(&self, actor: &Actor) -> AppResult<()> {
        let a = self.own::<purpose::FeedWrite>(actor).await?;
        Ok(self.store.revoke_calendar_feed(&a, self.now()).await?)
    }

    /// The sessions a feed secret shows, or `None` for an unknown or revoked secret
    /// (which reads and changes nothing).
    pub async fn calendar_feed(
        &self,
        secret: &str,
        request: &RequestMeta,
    ) -> AppResult<Option<Vec<OwnSession>>> {
        if !plausible_secret(secret) {
            return Ok(None);
        }
        let Some(a) = self
            .store
            .feed_access(&feed_digest(secret), request)
            .await?
        else {
            return Ok(None);
        };
        let now = self.now();
        let from = now
            .checked_sub(SignedDuration::from_hours(24 * FEED_PAST_DAYS))
            .unwrap_or(now);
        let until = now.checked_add(feed_ahead()).unwrap_or(now);
        let (_, sessions) = self
            .store
            .own_schedule(&a, self.today(), from..until, "feed", now)
            .await?;
        Ok(Some(sessions))
    }

    /// The public directory of groups open to self-referral.
    pub async fn directory(&self) -> AppResult<Vec<DirectoryEntry>> {
        Ok(self.store.directory(self.today()).await?)
    }

    /// The programs a referring therapist may ask an admission to (public: no client
    /// data).
    pub async fn admission_programs(&self) -> AppResult<Vec<circle_domain::program::Program>> {
        Ok(self.store.admission_programs().await?)
    }

    /// A referral from an outside therapist through the public page (no sign-in), limited
    /// per source address together with self-referrals.
    pub async fn submit_therapist_referral(
        &self,
        new: &NewReferral,
        group: Option<GroupId>,
        request: &RequestMeta,
    ) -> AppResult<SelfReferralOutcome> {
        let ctx = AuditContext::public(request);
        let source = crate::intake::public_source(request, group);
        Ok(self
            .store
            .submit_therapist_referral(new, source, crate::intake::public_limit(), &ctx, self.now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_secrets_are_looked_up_and_digests_hide_them() {
        let s = crate::web_session::random_token();
        assert!(plausible_secret(&s));
        assert!(!plausible_secret("short"));
        assert!(!plausible_secret(&format!("{}!", &s[..42])));
        assert_ne!(feed_digest(&s), s);
        assert_eq!(feed_digest(&s).len(), 64);
        assert_ne!(
            feed_digest(&s),
            feed_digest(&crate::web_session::random_token())
        );
    }
}
