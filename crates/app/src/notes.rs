//! Clinical notes: who may read and write them. Notes are read and written by the
//! session's facilitators (the group's lead and co-facilitator, and anyone recorded as
//! present) and by directors; intake and clients never see them; an administrator — or a
//! clinician outside the group — reads a member's progress note only under audited
//! emergency access to that member's chart. Writing needs a clinician record: the note's
//! author and signer are clinicians. Every refusal is audited.

use circle_domain::ids::{ClientId, NoteId, SessionId};
use circle_domain::note::{
    CosignNote, GroupNote, GroupNoteInput, NewAddendum, OverdueForClinician, ProgressNote,
    ProgressNoteInput, SignNote,
};
use circle_store::access::{ProgressAccess, Purpose, purpose};

use crate::{Actor, App, AppResult};

impl App {
    // Group notes.

    pub async fn group_note(&self, actor: &Actor, session: SessionId) -> AppResult<GroupNote> {
        let a = self
            .access_session::<purpose::NoteRead>(actor, session)
            .await?;
        Ok(self.store.group_note(&a, self.now()).await?)
    }

    pub async fn save_group_note(
        &self,
        actor: &Actor,
        session: SessionId,
        input: &GroupNoteInput,
    ) -> AppResult<GroupNote> {
        let a = self
            .access_session::<purpose::NoteWrite>(actor, session)
            .await?;
        Ok(self.store.save_group_note(&a, input, self.now()).await?)
    }

    pub async fn sign_group_note(
        &self,
        actor: &Actor,
        session: SessionId,
        req: &SignNote,
    ) -> AppResult<GroupNote> {
        let a = self
            .access_session::<purpose::NoteSign>(actor, session)
            .await?;
        Ok(self.store.sign_group_note(&a, req, self.now()).await?)
    }

    pub async fn cosign_group_note(
        &self,
        actor: &Actor,
        session: SessionId,
        req: &CosignNote,
    ) -> AppResult<GroupNote> {
        let a = self
            .access_session::<purpose::NoteCosign>(actor, session)
            .await?;
        Ok(self.store.cosign_group_note(&a, req, self.now()).await?)
    }

    pub async fn add_group_addendum(
        &self,
        actor: &Actor,
        session: SessionId,
        new: &NewAddendum,
    ) -> AppResult<GroupNote> {
        let a = self
            .access_session::<purpose::NoteAddendum>(actor, session)
            .await?;
        Ok(self.store.add_group_addendum(&a, new, self.now()).await?)
    }

    // Progress notes.

    pub async fn progress_notes(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Vec<ProgressNote>> {
        let a = self
            .access_session::<purpose::NoteList>(actor, session)
            .await?;
        Ok(self.store.progress_notes(&a, self.now()).await?)
    }

    pub async fn save_progress_note(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
        input: &ProgressNoteInput,
    ) -> AppResult<ProgressNote> {
        let a = self
            .access_progress::<purpose::NoteWrite>(actor, session, client)
            .await?;
        Ok(self.store.save_progress_note(&a, input, self.now()).await?)
    }

    /// The access to a progress note by its id: its session and member, looked up first.
    /// Asking about a note that does not exist is refused (403, audited) for those who may
    /// never read notes, so its absence tells them nothing either.
    async fn progress_access<P: Purpose>(
        &self,
        actor: &Actor,
        id: NoteId,
    ) -> AppResult<ProgressAccess<P>> {
        Ok(self
            .store
            .progress_note_access_by_id(actor, id, self.now())
            .await?)
    }

    pub async fn progress_note(&self, actor: &Actor, id: NoteId) -> AppResult<ProgressNote> {
        let a = self.progress_access::<purpose::NoteRead>(actor, id).await?;
        Ok(self.store.progress_note(&a, id, self.now()).await?)
    }

    pub async fn sign_progress_note(
        &self,
        actor: &Actor,
        id: NoteId,
        req: &SignNote,
    ) -> AppResult<ProgressNote> {
        let a = self.progress_access::<purpose::NoteSign>(actor, id).await?;
        Ok(self
            .store
            .sign_progress_note(&a, id, req, self.now())
            .await?)
    }

    pub async fn cosign_progress_note(
        &self,
        actor: &Actor,
        id: NoteId,
        req: &CosignNote,
    ) -> AppResult<ProgressNote> {
        let a = self
            .progress_access::<purpose::NoteCosign>(actor, id)
            .await?;
        Ok(self
            .store
            .cosign_progress_note(&a, id, req, self.now())
            .await?)
    }

    pub async fn add_progress_addendum(
        &self,
        actor: &Actor,
        id: NoteId,
        new: &NewAddendum,
    ) -> AppResult<ProgressNote> {
        let a = self
            .progress_access::<purpose::NoteAddendum>(actor, id)
            .await?;
        Ok(self
            .store
            .add_progress_addendum(&a, id, new, self.now())
            .await?)
    }

    /// Overdue notes: a clinician sees their own, a director everyone's (a scoped director
    /// those of their programs' groups).
    pub async fn overdue_notes(&self, actor: &Actor) -> AppResult<Vec<OverdueForClinician>> {
        let listing = self.listing::<purpose::OverdueNotes>(actor).await?;
        Ok(self.store.overdue_notes(&listing, self.now()).await?)
    }
}
