//! The services' side of the gate: one short call per kind of access value (each a
//! pass-through to `circle_store::access`, which decides and audits refusals), and the
//! administration of directors' programs.

use circle_domain::ids::{ClientId, GroupId, OfferId, ProgramId, SessionId, UserId};
use circle_store::access::{
    ClientAccess, GroupAccess, Listing, OfferAccess, PlaceAccess, ProgramAccess, ProgressAccess,
    Purpose, ReferralAccess, RoleAccess, SessionAccess, purpose,
};

use crate::{Actor, App, AppResult};

impl App {
    /// Access to one client's record for `P`.
    pub(crate) async fn access_client<P: Purpose>(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<ClientAccess<P>> {
        Ok(self.store.client_access(actor, client, self.now()).await?)
    }

    /// Access to name one client in a placement `P`.
    pub(crate) async fn access_place<P: Purpose>(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<PlaceAccess<P>> {
        Ok(self.store.place_access(actor, client, self.now()).await?)
    }

    pub(crate) async fn access_group<P: Purpose>(
        &self,
        actor: &Actor,
        group: GroupId,
    ) -> AppResult<GroupAccess<P>> {
        Ok(self.store.group_access(actor, group, self.now()).await?)
    }

    pub(crate) async fn access_session<P: Purpose>(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<SessionAccess<P>> {
        Ok(self
            .store
            .session_access(actor, session, self.now())
            .await?)
    }

    pub(crate) async fn access_progress<P: Purpose>(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
    ) -> AppResult<ProgressAccess<P>> {
        Ok(self
            .store
            .progress_note_access(actor, session, client, self.now())
            .await?)
    }

    pub(crate) async fn access_program<P: Purpose>(
        &self,
        actor: &Actor,
        program: ProgramId,
    ) -> AppResult<ProgramAccess<P>> {
        Ok(self
            .store
            .program_access(actor, program, self.now())
            .await?)
    }

    pub(crate) async fn access_referral<P: Purpose>(
        &self,
        actor: &Actor,
        referral: i64,
    ) -> AppResult<ReferralAccess<P>> {
        Ok(self
            .store
            .referral_access(actor, referral, self.now())
            .await?)
    }

    pub(crate) async fn access_offer<P: Purpose>(
        &self,
        actor: &Actor,
        offer: OfferId,
    ) -> AppResult<OfferAccess<P>> {
        Ok(self.store.offer_access(actor, offer, self.now()).await?)
    }

    pub(crate) async fn listing<P: Purpose>(&self, actor: &Actor) -> AppResult<Listing<P>> {
        Ok(self.store.listing(actor, self.now()).await?)
    }

    pub(crate) async fn access_role<P: Purpose>(&self, actor: &Actor) -> AppResult<RoleAccess<P>> {
        Ok(self.store.role_access(actor, self.now()).await?)
    }

    /// An optional program's access (a filter a caller may leave out).
    pub(crate) async fn access_program_opt<P: Purpose>(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
    ) -> AppResult<Option<ProgramAccess<P>>> {
        Ok(match program {
            Some(p) => Some(self.access_program(actor, p).await?),
            None => None,
        })
    }

    // Administration of directors' programs.

    /// Every director's linked programs (administrators; the user page).
    pub async fn director_links(&self, actor: &Actor) -> AppResult<Vec<(UserId, ProgramId)>> {
        self.access_role::<purpose::UserAdmin>(actor).await?;
        Ok(self.store.director_links().await?)
    }

    /// The programs linked to one account and whether it is clinic-wide (administrators).
    pub async fn linked_programs(
        &self,
        actor: &Actor,
        user: UserId,
    ) -> AppResult<(Vec<ProgramId>, bool)> {
        self.access_role::<purpose::UserAdmin>(actor).await?;
        self.store.user(user).await?;
        Ok((
            self.store.director_programs(user).await?,
            self.store.clinic_wide(user).await?,
        ))
    }

    /// Sets what a director directs (administrators): the whole clinic (an explicit
    /// setting, with no programs), or these programs. A director with neither reaches
    /// nothing: removing the last program never widens a director's reach. Audited as
    /// `user.programs_change`.
    pub async fn set_director_programs(
        &self,
        actor: &Actor,
        user: UserId,
        programs: &[ProgramId],
        clinic_wide: bool,
    ) -> AppResult<Vec<ProgramId>> {
        let who = self
            .access_role::<purpose::UserProgramsChange>(actor)
            .await?;
        Ok(self
            .store
            .set_director_programs(&who, user, programs, clinic_wide, self.now())
            .await?)
    }
}
