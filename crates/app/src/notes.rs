//! Clinical notes: who may read and write them. Notes are read and written by the
//! session's facilitators (the group's lead and co-facilitator, and anyone recorded as
//! present) and by directors; intake and clients never see them; an administrator — or a
//! clinician outside the group — reads a member's progress note only under audited
//! emergency access to that member's chart. Writing needs a clinician record: the note's
//! author and signer are clinicians. Every refusal is audited.

use circle_domain::DomainError;
use circle_domain::audit::{AuditAction, AuditContext};
use circle_domain::ids::{ClientId, ClinicianId, NoteId, SessionId};
use circle_domain::note::{
    CosignNote, GroupNote, GroupNoteInput, NewAddendum, OverdueForClinician, ProgressNote,
    ProgressNoteInput, SignNote,
};
use circle_domain::session::Session;
use circle_domain::user::Role;

use crate::{Actor, App, AppResult};

/// Whether the caller reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl App {
    /// The audit context under which `actor` may touch the notes of `session` (about
    /// `client`, for a progress note); refusals are audited and answered 403.
    async fn note_access(
        &self,
        actor: &Actor,
        session: &Session,
        client: Option<ClientId>,
        action: AuditAction,
        access: Access,
    ) -> AppResult<AuditContext> {
        let clients: Vec<ClientId> = client.into_iter().collect();
        let allowed = match (actor.role, actor.clinician_id) {
            // A scoped director: only the notes of their programs' groups (404 otherwise,
            // audited, as for any out-of-scope record).
            (Role::Director, _) => {
                self.check_group_reach(actor, session.group_id, Some(action))
                    .await?;
                true
            }
            (Role::Clinician, Some(c)) => self.store.facilitates(session, c).await?,
            _ => false,
        };
        // An author is a clinician: a director without a clinician record reads only.
        let can_author = access == Access::Read || actor.clinician_id.is_some();
        if allowed && can_author {
            return Ok(actor.audit());
        }
        if access == Access::Read
            && matches!(actor.role, Role::Admin | Role::Clinician)
            && let Some(c) = client
            && let Some(grant) = self
                .store
                .active_emergency_access(actor.user_id, c, self.now())
                .await?
        {
            return Ok(AuditContext {
                emergency_access_id: Some(grant),
                ..actor.audit()
            });
        }
        self.deny(actor, action, &clients, Some(session.id.to_string()))
            .await?;
        Err(DomainError::Forbidden.into())
    }

    fn author(actor: &Actor) -> AppResult<ClinicianId> {
        actor
            .clinician_id
            .ok_or_else(|| DomainError::Forbidden.into())
    }

    // Group notes.

    pub async fn group_note(&self, actor: &Actor, session: SessionId) -> AppResult<GroupNote> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(actor, &s, None, AuditAction::NoteRead, Access::Read)
            .await?;
        Ok(self.store.group_note(session, &ctx, self.now()).await?)
    }

    pub async fn save_group_note(
        &self,
        actor: &Actor,
        session: SessionId,
        input: &GroupNoteInput,
    ) -> AppResult<GroupNote> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(actor, &s, None, AuditAction::NoteWrite, Access::Write)
            .await?;
        Ok(self
            .store
            .save_group_note(session, Self::author(actor)?, input, &ctx, self.now())
            .await?)
    }

    pub async fn sign_group_note(
        &self,
        actor: &Actor,
        session: SessionId,
        req: &SignNote,
    ) -> AppResult<GroupNote> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(actor, &s, None, AuditAction::NoteSign, Access::Write)
            .await?;
        Ok(self
            .store
            .sign_group_note(session, Self::author(actor)?, req, &ctx, self.now())
            .await?)
    }

    pub async fn cosign_group_note(
        &self,
        actor: &Actor,
        session: SessionId,
        req: &CosignNote,
    ) -> AppResult<GroupNote> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(actor, &s, None, AuditAction::NoteCosign, Access::Write)
            .await?;
        Ok(self
            .store
            .cosign_group_note(session, Self::author(actor)?, req, &ctx, self.now())
            .await?)
    }

    pub async fn add_group_addendum(
        &self,
        actor: &Actor,
        session: SessionId,
        new: &NewAddendum,
    ) -> AppResult<GroupNote> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(actor, &s, None, AuditAction::NoteAddendum, Access::Write)
            .await?;
        Ok(self
            .store
            .add_group_addendum(session, Self::author(actor)?, new, &ctx, self.now())
            .await?)
    }

    // Progress notes.

    pub async fn progress_notes(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Vec<ProgressNote>> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(actor, &s, None, AuditAction::NoteList, Access::Read)
            .await?;
        Ok(self.store.progress_notes(session, &ctx, self.now()).await?)
    }

    pub async fn save_progress_note(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
        input: &ProgressNoteInput,
    ) -> AppResult<ProgressNote> {
        let s = self.store.session(session).await?;
        let ctx = self
            .note_access(
                actor,
                &s,
                Some(client),
                AuditAction::NoteWrite,
                Access::Write,
            )
            .await?;
        Ok(self
            .store
            .save_progress_note(
                session,
                client,
                Self::author(actor)?,
                input,
                &ctx,
                self.now(),
            )
            .await?)
    }

    /// The session a progress note belongs to and the access to it.
    async fn progress_access(
        &self,
        actor: &Actor,
        id: NoteId,
        action: AuditAction,
        access: Access,
    ) -> AppResult<AuditContext> {
        let (session, client) = match self.store.progress_note_subject(id).await {
            Ok(x) => x,
            Err(e) => {
                // Asking about a note that does not exist is refused for those who may
                // never read notes, so its absence tells them nothing either.
                if !matches!(actor.role, Role::Director | Role::Clinician | Role::Admin) {
                    self.deny(actor, action, &[], Some(id.to_string())).await?;
                    return Err(DomainError::Forbidden.into());
                }
                return Err(e.into());
            }
        };
        let s = self.store.session(session).await?;
        self.note_access(actor, &s, Some(client), action, access)
            .await
    }

    pub async fn progress_note(&self, actor: &Actor, id: NoteId) -> AppResult<ProgressNote> {
        let ctx = self
            .progress_access(actor, id, AuditAction::NoteRead, Access::Read)
            .await?;
        Ok(self.store.progress_note(id, &ctx, self.now()).await?)
    }

    pub async fn sign_progress_note(
        &self,
        actor: &Actor,
        id: NoteId,
        req: &SignNote,
    ) -> AppResult<ProgressNote> {
        let ctx = self
            .progress_access(actor, id, AuditAction::NoteSign, Access::Write)
            .await?;
        Ok(self
            .store
            .sign_progress_note(id, Self::author(actor)?, req, &ctx, self.now())
            .await?)
    }

    pub async fn cosign_progress_note(
        &self,
        actor: &Actor,
        id: NoteId,
        req: &CosignNote,
    ) -> AppResult<ProgressNote> {
        let ctx = self
            .progress_access(actor, id, AuditAction::NoteCosign, Access::Write)
            .await?;
        Ok(self
            .store
            .cosign_progress_note(id, Self::author(actor)?, req, &ctx, self.now())
            .await?)
    }

    pub async fn add_progress_addendum(
        &self,
        actor: &Actor,
        id: NoteId,
        new: &NewAddendum,
    ) -> AppResult<ProgressNote> {
        let ctx = self
            .progress_access(actor, id, AuditAction::NoteAddendum, Access::Write)
            .await?;
        Ok(self
            .store
            .add_progress_addendum(id, Self::author(actor)?, new, &ctx, self.now())
            .await?)
    }

    /// Overdue notes: a clinician sees their own, a director everyone's (a scoped director
    /// those of their programs' groups).
    pub async fn overdue_notes(&self, actor: &Actor) -> AppResult<Vec<OverdueForClinician>> {
        let scope = match (actor.role, actor.clinician_id) {
            (Role::Director, _) => None,
            (Role::Clinician, Some(c)) => Some(c),
            _ => {
                self.deny(
                    actor,
                    AuditAction::NoteList,
                    &[],
                    Some("overdue".to_owned()),
                )
                .await?;
                return Err(DomainError::Forbidden.into());
            }
        };
        let director = self.scoped_director(actor).await?;
        Ok(self
            .store
            .overdue_notes_within(scope, director, &actor.audit(), self.now())
            .await?)
    }
}
