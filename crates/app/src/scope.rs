//! Program directors' scope (DESIGN.md: a director sees "everything in their programs").
//!
//! A director whose account is linked to no program is clinic-wide — a medical director,
//! who sees every program as directors always did. A director linked to one or more
//! programs is scoped: they see and act only on those programs, their groups (and the
//! groups' memberships, waitlists, sessions, attendance and notes), and the clients reached
//! through them (an episode in the program, a membership in one of its groups, a referral
//! or a waitlist entry aimed at it). Every service asks the helpers here rather than
//! repeating the check; listings pass the director to the store, whose one SQL definition
//! of the scope (`circle_store::director_programs`) narrows them.
//!
//! An out-of-scope record is refused exactly like a clinician's client outside their
//! caseload: audited where the action has an audit vocabulary, and answered 404, so a
//! scoped director never learns whether another program's record exists.
//!
//! Only administrators link and unlink programs; each change is audited
//! (`user.programs_change`).

use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, GroupId, ProgramId, UserId};
use circle_domain::user::Role;

use crate::{Actor, App, AppResult};

/// What a director may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectorScope {
    /// No linked program: every program in the clinic.
    Clinic,
    /// Only these programs (never empty).
    Programs(Vec<ProgramId>),
}

impl DirectorScope {
    pub fn includes(&self, program: ProgramId) -> bool {
        match self {
            DirectorScope::Clinic => true,
            DirectorScope::Programs(list) => list.contains(&program),
        }
    }
}

impl App {
    /// The scope of a director (`None` for every other role: their own rules apply).
    pub async fn director_scope(&self, actor: &Actor) -> AppResult<Option<DirectorScope>> {
        if actor.role != Role::Director {
            return Ok(None);
        }
        let programs = self.store.director_programs(actor.user_id).await?;
        Ok(Some(if programs.is_empty() {
            DirectorScope::Clinic
        } else {
            DirectorScope::Programs(programs)
        }))
    }

    /// The director whose programs narrow a listing: `Some` only for a scoped director.
    pub(crate) async fn scoped_director(&self, actor: &Actor) -> AppResult<Option<UserId>> {
        Ok(match self.director_scope(actor).await? {
            Some(DirectorScope::Programs(_)) => Some(actor.user_id),
            _ => None,
        })
    }

    /// Whether the actor is a director who may not reach `program` (a scoped director
    /// outside their programs). Other roles are never held back here.
    pub(crate) async fn outside_programs(
        &self,
        actor: &Actor,
        program: ProgramId,
    ) -> AppResult<bool> {
        Ok(self
            .director_scope(actor)
            .await?
            .is_some_and(|s| !s.includes(program)))
    }

    /// Refuses a scoped director a program outside their programs: 404, as if it did not
    /// exist. Program settings are not clinical data and their reads are not audited, so
    /// neither is this refusal.
    pub(crate) async fn check_program_reach(
        &self,
        actor: &Actor,
        program: ProgramId,
    ) -> AppResult<()> {
        if self.outside_programs(actor, program).await? {
            return Err(DomainError::not_found("program").into());
        }
        Ok(())
    }

    /// Refuses a scoped director a group outside their programs: audited as `action` (when
    /// given) and answered 404, as if it did not exist.
    pub(crate) async fn check_group_reach(
        &self,
        actor: &Actor,
        group: GroupId,
        action: Option<AuditAction>,
    ) -> AppResult<()> {
        if actor.role != Role::Director {
            return Ok(());
        }
        let program = self.store.group_program(group).await?;
        if !self.outside_programs(actor, program).await? {
            return Ok(());
        }
        if let Some(action) = action {
            self.deny(actor, action, &[], Some(group.to_string()))
                .await?;
        }
        Err(DomainError::not_found("group").into())
    }

    /// Whether a director reaches this client: always when clinic-wide; when scoped, only a
    /// client reached through one of their programs.
    pub(crate) async fn director_reaches_client(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<bool> {
        Ok(match self.director_scope(actor).await? {
            Some(DirectorScope::Clinic) => true,
            Some(DirectorScope::Programs(_)) => {
                self.store
                    .director_reaches_client(actor.user_id, client)
                    .await?
            }
            None => false,
        })
    }

    /// Whether a scoped director may admit this client into `program` although they do
    /// not reach the client yet: the program is theirs and no program holds the client
    /// (a new record, with no episode in a program, membership, referral to a program or
    /// waitlist entry). A client another program holds stays out of reach: a scoped
    /// director cannot pull someone into their programs to read their chart.
    pub(crate) async fn admits_unattached(
        &self,
        actor: &Actor,
        client: ClientId,
        program: ProgramId,
    ) -> AppResult<bool> {
        if !matches!(
            self.director_scope(actor).await?,
            Some(DirectorScope::Programs(ref list)) if list.contains(&program)
        ) {
            return Ok(false);
        }
        Ok(self.store.client_exists(client).await? && !self.store.client_attached(client).await?)
    }

    /// Refuses a scoped director a placement (membership, waitlist entry, referral) of a
    /// client another program holds: placing them would bring their chart into reach, so a
    /// scoped director places only clients they already reach or new ones; moving someone
    /// in from another program is for intake or a clinic-wide director. Audited as
    /// `action` and answered 404, as for any client out of reach.
    pub(crate) async fn check_client_placeable(
        &self,
        actor: &Actor,
        client: ClientId,
        action: AuditAction,
    ) -> AppResult<()> {
        let Some(DirectorScope::Programs(_)) = self.director_scope(actor).await? else {
            return Ok(());
        };
        if self
            .store
            .director_reaches_client(actor.user_id, client)
            .await?
            || !self.store.client_attached(client).await?
        {
            return Ok(());
        }
        self.deny(actor, action, &[client], None).await?;
        Err(DomainError::not_found("client").into())
    }

    // Administration of the links.

    /// Every director's linked programs (administrators; the user page).
    pub async fn director_links(&self, actor: &Actor) -> AppResult<Vec<(UserId, ProgramId)>> {
        self.require_audited(actor, &[Role::Admin], AuditAction::UserList, &[])
            .await?;
        Ok(self.store.director_links().await?)
    }

    /// The programs linked to one account (administrators): empty for a clinic-wide
    /// director.
    pub async fn linked_programs(&self, actor: &Actor, user: UserId) -> AppResult<Vec<ProgramId>> {
        self.require_audited(actor, &[Role::Admin], AuditAction::UserList, &[])
            .await?;
        self.store.user(user).await?;
        Ok(self.store.director_programs(user).await?)
    }

    /// Replaces the programs a director's account is linked to (administrators); an empty
    /// list makes the director clinic-wide again. Audited as `user.programs_change`.
    pub async fn set_director_programs(
        &self,
        actor: &Actor,
        user: UserId,
        programs: &[ProgramId],
    ) -> AppResult<Vec<ProgramId>> {
        self.require_audited(actor, &[Role::Admin], AuditAction::UserProgramsChange, &[])
            .await?;
        Ok(self
            .store
            .set_director_programs(user, programs, &actor.audit(), self.now())
            .await?)
    }
}
