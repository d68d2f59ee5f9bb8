//! Placement use cases: suggestions for a client, waitlists and seat offers, and the
//! transition plan after a change of level of care.
//!
//! Who may do what (DESIGN.md's role table): intake coordinators and directors run the
//! waitlist and see every client's suggestions; a clinician sees suggestions and transition
//! plans for clients in their caseload; a client sees and answers only their own offers.
//! Every refusal is audited.

use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, GroupId, OfferId, WaitlistEntryId};
use circle_domain::membership::Membership;
use circle_domain::placement::{
    NewWaitlistEntry, Offer, OfferState, Suggestion, TransitionPlan, WaitlistEntry,
};
use circle_domain::user::Role;
use jiff::civil::Date;

use crate::{Actor, App, AppResult};

/// Who runs waitlists and offers.
const PLACERS: &[Role] = &[Role::Director, Role::Intake];
/// Who may see a client's suggestions and transition plan (clinicians: caseload only).
const ADVISERS: &[Role] = &[Role::Director, Role::Intake, Role::Clinician];

impl App {
    /// Every group as a placement for a client from `start` (default today), ranked by
    /// fit, each eligible or excluded with its reasons.
    pub async fn placement_suggestions(
        &self,
        actor: &Actor,
        client: ClientId,
        start: Option<Date>,
    ) -> AppResult<Vec<Suggestion>> {
        self.require_audited(actor, ADVISERS, AuditAction::PlacementSuggest, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::PlacementSuggest)
            .await?;
        let start = start.unwrap_or_else(|| self.today());
        if start < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        let mut list = self
            .store
            .placement_suggestions(client, start, &ctx, self.now())
            .await?;
        // A scoped director places only in their programs' groups: the others are not
        // theirs to offer (nor to know the seats of).
        if let Some(crate::scope::DirectorScope::Programs(programs)) =
            self.director_scope(actor).await?
        {
            let mut kept = Vec::with_capacity(list.len());
            for s in list {
                if programs.contains(&self.store.group_program(s.group_id).await?) {
                    kept.push(s);
                }
            }
            list = kept;
        }
        Ok(list)
    }

    /// The memberships that no longer fit the client's level of care, with suggestions.
    pub async fn transition_plan(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<TransitionPlan> {
        self.require_audited(actor, ADVISERS, AuditAction::TransitionRead, &[client])
            .await?;
        let ctx = self
            .check_client_access(actor, client, AuditAction::TransitionRead)
            .await?;
        Ok(self.store.transition_plan(client, &ctx, self.now()).await?)
    }

    pub async fn add_to_waitlist(
        &self,
        actor: &Actor,
        group: GroupId,
        new: &NewWaitlistEntry,
    ) -> AppResult<WaitlistEntry> {
        self.require_audited(actor, PLACERS, AuditAction::WaitlistWrite, &[new.client_id])
            .await?;
        self.check_group_reach(actor, group, Some(AuditAction::WaitlistWrite))
            .await?;
        self.check_client_placeable(actor, new.client_id, AuditAction::WaitlistWrite)
            .await?;
        Ok(self
            .store
            .add_to_waitlist(group, new, &actor.audit(), self.now())
            .await?)
    }

    pub async fn waitlist(&self, actor: &Actor, group: GroupId) -> AppResult<Vec<WaitlistEntry>> {
        self.require_audited(actor, PLACERS, AuditAction::WaitlistRead, &[])
            .await?;
        self.check_group_reach(actor, group, Some(AuditAction::WaitlistRead))
            .await?;
        Ok(self
            .store
            .waitlist(group, &actor.audit(), self.now())
            .await?)
    }

    pub async fn remove_from_waitlist(
        &self,
        actor: &Actor,
        id: WaitlistEntryId,
    ) -> AppResult<WaitlistEntry> {
        self.require_audited(actor, PLACERS, AuditAction::WaitlistWrite, &[])
            .await?;
        if actor.role == Role::Director {
            let (group, _) = self.store.waitlist_entry_owner(id).await?;
            self.check_group_reach(actor, group, Some(AuditAction::WaitlistWrite))
                .await?;
        }
        Ok(self
            .store
            .remove_from_waitlist(id, &actor.audit(), self.now())
            .await?)
    }

    /// Offers: directors and intake see all; a client sees their own.
    pub async fn offers(&self, actor: &Actor, state: Option<OfferState>) -> AppResult<Vec<Offer>> {
        let client = match actor.role {
            Role::Director | Role::Intake => None,
            Role::Client if actor.client_id.is_some() => actor.client_id,
            _ => {
                self.deny(actor, AuditAction::OfferRead, &[], None).await?;
                return Err(DomainError::Forbidden.into());
            }
        };
        let director = self.scoped_director(actor).await?;
        Ok(self
            .store
            .offers_within(state, client, director, &actor.audit(), self.now())
            .await?)
    }

    /// Whether the actor may see and answer this offer: directors, intake, or the client
    /// it is for. Others are refused (audited) as if it did not exist.
    async fn check_offer_access(
        &self,
        actor: &Actor,
        id: OfferId,
        action: AuditAction,
    ) -> AppResult<()> {
        let client = self.store.offer_client(id).await?;
        if actor.role == Role::Director {
            // A scoped director: only offers of their programs' groups (404 otherwise).
            let group = self.store.offer_group(id).await?;
            return self.check_group_reach(actor, group, Some(action)).await;
        }
        let allowed = match actor.role {
            Role::Director | Role::Intake => true,
            Role::Client => actor.client_id == Some(client),
            Role::Clinician | Role::Admin => false,
        };
        if allowed {
            return Ok(());
        }
        self.deny(actor, action, &[client], Some(format!("offer:{}", id.0)))
            .await?;
        Err(match actor.role {
            Role::Client => DomainError::not_found("offer"),
            _ => DomainError::Forbidden,
        }
        .into())
    }

    pub async fn offer(&self, actor: &Actor, id: OfferId) -> AppResult<Offer> {
        self.check_offer_access(actor, id, AuditAction::OfferRead)
            .await?;
        Ok(self.store.offer(id, &actor.audit(), self.now()).await?)
    }

    /// Accepts an offer: the client is placed through every enrollment rule.
    pub async fn accept_offer(&self, actor: &Actor, id: OfferId) -> AppResult<(Offer, Membership)> {
        self.check_offer_access(actor, id, AuditAction::OfferWrite)
            .await?;
        Ok(self
            .store
            .accept_offer(id, &actor.audit(), self.now())
            .await?)
    }

    /// Declines an offer: the seat moves on to the next eligible waiting client.
    pub async fn decline_offer(&self, actor: &Actor, id: OfferId) -> AppResult<Offer> {
        self.check_offer_access(actor, id, AuditAction::OfferWrite)
            .await?;
        Ok(self
            .store
            .decline_offer(id, &actor.audit(), self.now())
            .await?)
    }

    /// Expires overdue offers and moves their seats on (called by `circle serve`'s keeper).
    pub async fn expire_offers(&self) -> AppResult<usize> {
        Ok(self.store.expire_offers(self.now()).await?)
    }
}

// --- intake ---
impl App {
    /// A group's seats and waitlist length, for staff (counts only: nobody is named).
    pub async fn group_seats(
        &self,
        actor: &Actor,
        group: GroupId,
    ) -> AppResult<circle_store::placement::GroupSeats> {
        actor.require(crate::STAFF)?;
        self.check_group_reach(actor, group, None).await?;
        Ok(self.store.group_seats(group, self.now()).await?)
    }
}
// --- end intake ---
