//! Staff calendar feeds, telehealth join URLs and the clinic's calendar settings (issue 15).
//!
//! A staff feed is reached by its secret alone, like a client's (`portal.rs`): 256 random
//! bits, only a digest stored (under its own prefix, so a client's secret never opens a
//! staff feed), revoked by deleting it. A clinician makes their own; intake and clinic-wide
//! directors make any clinician's or room's. Join URLs reach only a session's members (the
//! portal, their feed, their reminders) and its facilitators and directors (the session
//! page, their feed) — never intake or administrators, and never a room's feed.

use circle_domain::ids::{GroupId, SessionId};
use circle_domain::telehealth::{CalendarSettings, JoinUrl};
use circle_store::access::purpose;
use jiff::SignedDuration;
use sha2::{Digest, Sha256};

pub use circle_store::feeds::{FeedTarget, StaffFeedSession};

use crate::{Actor, App, AppResult, HORIZON_WEEKS, RequestMeta};

/// What a feed (a client's or a staff one) holds: the last two weeks, so a session just
/// past does not vanish from a phone mid-day, and every session materialised ahead — the
/// horizon, so the feed's window and the sessions that exist are the same span.
pub(crate) const FEED_PAST_DAYS: i64 = 14;
pub(crate) fn feed_ahead() -> SignedDuration {
    SignedDuration::from_hours(24 * 7 * i64::from(HORIZON_WEEKS))
}

/// The digest under which a staff feed secret is stored.
fn staff_digest(secret: &str) -> String {
    let d = Sha256::digest(format!("circle staff calendar feed v1\0{secret}").as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A staff feed as served: its sessions and whether titles name the group.
#[derive(Debug, Clone)]
pub struct StaffFeed {
    pub target: FeedTarget,
    pub sessions: Vec<StaffFeedSession>,
    pub settings: CalendarSettings,
}

impl App {
    /// Makes (or replaces) a staff feed; returns the secret, shown once.
    pub async fn create_staff_feed(&self, actor: &Actor, target: FeedTarget) -> AppResult<String> {
        let a = self
            .store
            .staff_feed_access(actor, target, self.now())
            .await?;
        let secret = crate::web_session::random_token();
        self.store
            .set_staff_feed(&a, target, &staff_digest(&secret), self.now())
            .await?;
        Ok(secret)
    }

    pub async fn revoke_staff_feed(&self, actor: &Actor, target: FeedTarget) -> AppResult<()> {
        let a = self
            .store
            .staff_feed_access(actor, target, self.now())
            .await?;
        Ok(self.store.revoke_staff_feed(&a, target, self.now()).await?)
    }

    /// When the target's feed was made, for a caller who may manage it (else `None`, so a
    /// page never hints at feeds it cannot touch).
    pub async fn staff_feed_created(
        &self,
        actor: &Actor,
        target: FeedTarget,
    ) -> AppResult<Option<jiff::Timestamp>> {
        if !self.may_manage_staff_feed(actor, target) {
            return Ok(None);
        }
        Ok(self.store.staff_feed_created(target).await?)
    }

    /// Whether the caller's role may make `target`'s feed (the same rule as the gate's,
    /// for pages deciding which forms to offer).
    pub fn may_manage_staff_feed(&self, actor: &Actor, target: FeedTarget) -> bool {
        actor.may::<purpose::StaffFeedWrite>()
            && (actor.role() != circle_domain::user::Role::Clinician
                || matches!(target, FeedTarget::Clinician(c) if actor.clinician_id() == Some(c)))
    }

    /// The feed a secret opens, or `None` for an unknown or revoked one.
    pub async fn staff_feed(
        &self,
        secret: &str,
        _request: &RequestMeta,
    ) -> AppResult<Option<StaffFeed>> {
        if !crate::portal::plausible_secret(secret) {
            return Ok(None);
        }
        let Some(target) = self.store.staff_feed_target(&staff_digest(secret)).await? else {
            return Ok(None);
        };
        let now = self.now();
        let from = now
            .checked_sub(SignedDuration::from_hours(24 * FEED_PAST_DAYS))
            .unwrap_or(now);
        let until = now.checked_add(feed_ahead()).unwrap_or(now);
        let sessions = self.store.staff_feed_sessions(target, from..until).await?;
        let settings = self.store.calendar_settings().await?;
        Ok(Some(StaffFeed {
            target,
            sessions,
            settings,
        }))
    }

    pub async fn calendar_settings(&self, actor: &Actor) -> AppResult<CalendarSettings> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self.store.calendar_settings().await?)
    }

    pub async fn set_calendar_settings(
        &self,
        actor: &Actor,
        settings: CalendarSettings,
    ) -> AppResult<CalendarSettings> {
        let a = self.access_role::<purpose::CalendarSettings>(actor).await?;
        Ok(self
            .store
            .set_calendar_settings(&a, settings, self.now())
            .await?)
    }

    /// A group's own join URL, for those who may set it (a group's directors); `None`
    /// for anyone else's page, refused for a group outside their reach.
    pub async fn group_join_url(&self, actor: &Actor, group: GroupId) -> AppResult<Option<String>> {
        let a = self
            .access_group::<purpose::GroupJoinUrl>(actor, group)
            .await?;
        Ok(self.store.group_join_url(&a).await?)
    }

    /// Sets (or with `None` removes) a telehealth group's join URL.
    pub async fn set_group_join_url(
        &self,
        actor: &Actor,
        group: GroupId,
        url: Option<&JoinUrl>,
    ) -> AppResult<Option<String>> {
        let a = self
            .access_group::<purpose::GroupJoinUrl>(actor, group)
            .await?;
        self.store.set_group_join_url(&a, url, self.now()).await?;
        Ok(self.store.group_join_url(&a).await?)
    }

    /// Sets (or removes) one session's own join URL; returns the one now in force.
    pub async fn set_session_join_url(
        &self,
        actor: &Actor,
        session: SessionId,
        url: Option<&JoinUrl>,
    ) -> AppResult<Option<String>> {
        let a = self
            .access_session::<purpose::SessionJoinUrl>(actor, session)
            .await?;
        Ok(self.store.set_session_join_url(&a, url, self.now()).await?)
    }

    /// The join URL in force for a session, for its facilitators and directors (anyone
    /// else is refused).
    pub async fn session_join_url_checked(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Option<String>> {
        let a = self
            .access_session::<purpose::SessionJoinUrl>(actor, session)
            .await?;
        Ok(self.store.session_join_url(&a).await?)
    }

    /// The join URL in force for a session, for its facilitators and directors; `None`
    /// for anyone else (the session page shows it only to them).
    pub async fn session_join_url(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Option<String>> {
        if !actor.may::<purpose::SessionJoinUrl>() {
            return Ok(None);
        }
        let a = self
            .access_session::<purpose::SessionJoinUrl>(actor, session)
            .await?;
        Ok(self.store.session_join_url(&a).await?)
    }
}
