//! Placement use cases: suggestions for a client, waitlists and seat offers, and the
//! transition plan after a change of level of care.
//!
//! Who may do what (DESIGN.md's role table): intake coordinators and directors run the
//! waitlist and see every client's suggestions; a clinician sees suggestions and transition
//! plans for clients in their caseload; a client sees and answers only their own offers.
//! Every refusal is audited.

use circle_domain::DomainError;
use circle_domain::ids::{ClientId, GroupId, OfferId, WaitlistEntryId};
use circle_domain::membership::Membership;
use circle_domain::placement::{
    NewWaitlistEntry, Offer, OfferState, Suggestion, TransitionPlan, WaitlistEntry,
};
use circle_store::access::purpose;
use jiff::civil::Date;

use crate::{Actor, App, AppResult};

impl App {
    /// Every group as a placement for a client from `start` (default today), ranked by
    /// fit, each eligible or excluded with its reasons. A scoped director sees only their
    /// programs' groups: the others are not theirs to offer (nor to know the seats of).
    pub async fn placement_suggestions(
        &self,
        actor: &Actor,
        client: ClientId,
        start: Option<Date>,
    ) -> AppResult<Vec<Suggestion>> {
        let a = self
            .access_client::<purpose::PlacementSuggest>(actor, client)
            .await?;
        let start = start.unwrap_or_else(|| self.today());
        if start < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        let mut list = self
            .store
            .placement_suggestions(&a, start, self.now())
            .await?;
        if let Some(programs) = actor.directed_programs() {
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
        let a = self
            .access_client::<purpose::TransitionRead>(actor, client)
            .await?;
        Ok(self.store.transition_plan(&a, self.now()).await?)
    }

    pub async fn add_to_waitlist(
        &self,
        actor: &Actor,
        group: GroupId,
        new: &NewWaitlistEntry,
    ) -> AppResult<WaitlistEntry> {
        let g = self
            .access_group::<purpose::WaitlistWrite>(actor, group)
            .await?;
        let c = self
            .access_place::<purpose::Waitlist>(actor, new.client_id)
            .await?;
        Ok(self.store.add_to_waitlist(&g, &c, new, self.now()).await?)
    }

    pub async fn waitlist(&self, actor: &Actor, group: GroupId) -> AppResult<Vec<WaitlistEntry>> {
        let a = self
            .access_group::<purpose::WaitlistRead>(actor, group)
            .await?;
        Ok(self.store.waitlist(&a, self.now()).await?)
    }

    /// Every waitlist in the caller's reach (a scoped director's programs' groups), in one
    /// audited read: the waitlist page's listing.
    pub async fn waitlists(&self, actor: &Actor) -> AppResult<Vec<WaitlistEntry>> {
        let listing = self.listing::<purpose::WaitlistRead>(actor).await?;
        Ok(self.store.waitlists(&listing, self.now()).await?)
    }

    pub async fn remove_from_waitlist(
        &self,
        actor: &Actor,
        id: WaitlistEntryId,
    ) -> AppResult<WaitlistEntry> {
        let a = self
            .store
            .waitlist_entry_access::<purpose::WaitlistWrite>(actor, id, self.now())
            .await?;
        Ok(self.store.remove_from_waitlist(&a, id, self.now()).await?)
    }

    /// Offers: directors and intake see theirs; a client sees their own.
    pub async fn offers(&self, actor: &Actor, state: Option<OfferState>) -> AppResult<Vec<Offer>> {
        let listing = self.listing::<purpose::OfferList>(actor).await?;
        Ok(self.store.offers(&listing, state, self.now()).await?)
    }

    /// The open offers not yet past their time, without moving the waitlists on (Today's
    /// card: a plain read every staff page view can afford).
    pub async fn current_offers(&self, actor: &Actor) -> AppResult<Vec<Offer>> {
        let listing = self.listing::<purpose::OfferList>(actor).await?;
        Ok(self.store.current_offers(&listing, self.now()).await?)
    }

    pub async fn offer(&self, actor: &Actor, id: OfferId) -> AppResult<Offer> {
        let a = self.access_offer::<purpose::OfferRead>(actor, id).await?;
        Ok(self.store.offer(&a, self.now()).await?)
    }

    /// Accepts an offer: the client is placed through every enrollment rule.
    pub async fn accept_offer(&self, actor: &Actor, id: OfferId) -> AppResult<(Offer, Membership)> {
        let a = self.access_offer::<purpose::OfferWrite>(actor, id).await?;
        Ok(self.store.accept_offer(&a, self.now()).await?)
    }

    /// Declines an offer: the seat moves on to the next eligible waiting client.
    pub async fn decline_offer(&self, actor: &Actor, id: OfferId) -> AppResult<Offer> {
        let a = self.access_offer::<purpose::OfferWrite>(actor, id).await?;
        Ok(self.store.decline_offer(&a, self.now()).await?)
    }

    /// Expires overdue offers and moves their seats on (called by `circle serve`'s keeper).
    pub async fn expire_offers(&self) -> AppResult<usize> {
        Ok(self.store.expire_offers(self.now()).await?)
    }

    /// A group's seats and waitlist length, for staff (counts only: nobody is named).
    pub async fn group_seats(
        &self,
        actor: &Actor,
        group: GroupId,
    ) -> AppResult<circle_store::placement::GroupSeats> {
        let a = self
            .access_group::<purpose::GroupRead>(actor, group)
            .await?;
        Ok(self.store.group_seats(a.group(), self.now()).await?)
    }
}
