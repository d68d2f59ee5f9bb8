//! Use cases for the clinic's structure and daily work: programs, rooms, clinicians,
//! clients and their episodes and separations, groups, memberships, sessions, attendance.
//!
//! Access follows DESIGN.md's role table, deny by default: directors design programs and
//! groups and see every client; intake registers clients and places them; a clinician sees
//! the clients of the groups they lead or co-lead and runs those groups' sessions; a client
//! reads only their own record. Every read or change of client data is audited in the same
//! transaction, and every refusal is audited too.

use circle_domain::DomainError;
use circle_domain::client::{
    Client, ClientPatch, Episode, NewClient, NewEpisode, NewSeparation, Separation,
};
use circle_domain::clinician::{Clinician, NewClinician};
use circle_domain::group::{Group, GroupPatch, NewGroup};
use circle_domain::ids::{
    ClientId, ClinicianId, GroupId, MembershipId, ProgramId, RoomId, SessionId,
};
use circle_domain::membership::{Membership, MembershipChange, NewMembership};
use circle_domain::program::{NewProgram, NewRoom, Program, ProgramPatch, Room};
use circle_domain::session::{
    Attendance, AttendanceInput, CancelledSession, MaterializeRequest, RosterEntry, Session,
    SessionCancellation, SessionDetails,
};
use circle_domain::user::Role;
use jiff::civil::Date;

use crate::{Actor, App, AppResult, CLINICAL, Page, PageRequest, STAFF};
use circle_domain::audit::{AuditAction, AuditContext};
use circle_store::people::ClientScope;

const DESIGNERS: &[Role] = &[Role::Director];
/// How far ahead sessions are materialised from the weekly schedules.
pub const HORIZON_WEEKS: u32 = 4;
const REGISTRARS: &[Role] = &[Role::Director, Role::Intake];
const CONFIG: &[Role] = &[Role::Director, Role::Admin];

impl App {
    // Programs and rooms.

    /// Creates a program: clinic-wide directors only (a scoped director directs the
    /// programs an administrator linked to them, and a new one would be outside them).
    pub async fn create_program(&self, actor: &Actor, new: &NewProgram) -> AppResult<Program> {
        actor.require(DESIGNERS)?;
        if self.scoped_director(actor).await?.is_some() {
            return Err(DomainError::Forbidden.into());
        }
        Ok(self.store.create_program(new, self.now()).await?)
    }

    pub async fn program(&self, actor: &Actor, id: ProgramId) -> AppResult<Program> {
        actor.require(STAFF)?;
        self.check_program_reach(actor, id).await?;
        Ok(self.store.program(id).await?)
    }

    pub async fn list_programs(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> AppResult<Page<Program>> {
        actor.require(STAFF)?;
        let director = self.scoped_director(actor).await?;
        Ok(self.store.list_programs_within(director, page).await?)
    }

    pub async fn update_program(
        &self,
        actor: &Actor,
        id: ProgramId,
        patch: &ProgramPatch,
    ) -> AppResult<Program> {
        actor.require(DESIGNERS)?;
        self.check_program_reach(actor, id).await?;
        Ok(self.store.update_program(id, patch, self.now()).await?)
    }

    pub async fn create_room(&self, actor: &Actor, new: &NewRoom) -> AppResult<Room> {
        actor.require(CONFIG)?;
        Ok(self.store.create_room(new, self.now()).await?)
    }

    pub async fn room(&self, actor: &Actor, id: RoomId) -> AppResult<Room> {
        actor.require(STAFF)?;
        Ok(self.store.room(id).await?)
    }

    pub async fn list_rooms(&self, actor: &Actor, page: PageRequest) -> AppResult<Page<Room>> {
        actor.require(STAFF)?;
        Ok(self.store.list_rooms(page).await?)
    }

    // Clinicians.

    pub async fn create_clinician(
        &self,
        actor: &Actor,
        new: &NewClinician,
    ) -> AppResult<Clinician> {
        actor.require(CONFIG)?;
        Ok(self.store.create_clinician(new, self.now()).await?)
    }

    pub async fn clinician(&self, actor: &Actor, id: ClinicianId) -> AppResult<Clinician> {
        actor.require(STAFF)?;
        Ok(self.store.clinician(id).await?)
    }

    pub async fn list_clinicians(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> AppResult<Page<Clinician>> {
        actor.require(STAFF)?;
        Ok(self.store.list_clinicians(page).await?)
    }

    // Clients.

    /// Whether the actor may see this client's record: intake and clinic-wide directors
    /// always; a scoped director for clients reached through their programs; a clinician
    /// for clients in their caseload; a client for themself; anyone holding an
    /// active emergency access to this chart. Returns the audit context to act under
    /// (flagged with the emergency access when that is what allowed it). Refusals are
    /// audited and answered 404 (not 403), so nobody learns whether a record exists.
    pub(crate) async fn check_client_access(
        &self,
        actor: &Actor,
        id: ClientId,
        action: AuditAction,
    ) -> AppResult<AuditContext> {
        let allowed = match actor.role {
            Role::Intake => true,
            Role::Director => self.director_reaches_client(actor, id).await?,
            Role::Clinician => match actor.clinician_id {
                Some(c) => self.store.in_caseload(c, id, self.caseload_since()).await?,
                None => false,
            },
            Role::Client => actor.client_id == Some(id),
            Role::Admin => false,
        };
        if allowed {
            return Ok(actor.audit());
        }
        if actor.role != Role::Client
            && let Some(access) = self
                .store
                .active_emergency_access(actor.user_id, id, self.now())
                .await?
        {
            return Ok(AuditContext {
                emergency_access_id: Some(access),
                ..actor.audit()
            });
        }
        self.deny(actor, action, &[id], None).await?;
        Err(match actor.role {
            Role::Admin => DomainError::Forbidden,
            _ => DomainError::not_found("client"),
        }
        .into())
    }

    /// Writes the audit entry of a refused attempt. The caller then returns its refusal.
    pub(crate) async fn deny(
        &self,
        actor: &Actor,
        action: AuditAction,
        clients: &[ClientId],
        object: Option<String>,
    ) -> AppResult<()> {
        self.store
            .record_denied(&actor.audit(), action, clients, object, self.now())
            .await?;
        Ok(())
    }

    /// A role check whose refusal is audited.
    pub(crate) async fn require_audited(
        &self,
        actor: &Actor,
        roles: &[Role],
        action: AuditAction,
        clients: &[ClientId],
    ) -> AppResult<()> {
        if roles.contains(&actor.role) {
            return Ok(());
        }
        self.deny(actor, action, clients, None).await?;
        Err(DomainError::Forbidden.into())
    }

    /// Memberships that ended within this window still count toward a clinician's
    /// caseload, so notes and follow-up can be finished.
    pub(crate) fn caseload_since(&self) -> Date {
        self.today().saturating_sub(jiff::Span::new().days(30))
    }

    /// The clients a listing may show the actor (intake and clinic-wide directors every
    /// client, a scoped director the clients of their programs, a clinician their
    /// caseload); anyone else is refused, audited.
    pub(crate) async fn listing_scope(&self, actor: &Actor) -> AppResult<ClientScope> {
        match (actor.role, actor.clinician_id) {
            (Role::Intake, _) => Ok(ClientScope::All),
            (Role::Director, _) => Ok(self.director_client_scope(actor).await?),
            (Role::Clinician, Some(clinician)) => Ok(ClientScope::Caseload {
                clinician,
                since: self.caseload_since(),
            }),
            _ => {
                self.deny(actor, AuditAction::ClientList, &[], None).await?;
                Err(DomainError::Forbidden.into())
            }
        }
    }

    /// A director's client scope: every client when clinic-wide, else their programs'.
    pub(crate) async fn director_client_scope(&self, actor: &Actor) -> AppResult<ClientScope> {
        Ok(match self.scoped_director(actor).await? {
            Some(director) => ClientScope::Programs { director },
            None => ClientScope::All,
        })
    }

    pub async fn create_client(&self, actor: &Actor, new: &NewClient) -> AppResult<Client> {
        self.require_audited(actor, REGISTRARS, AuditAction::ClientCreate, &[])
            .await?;
        Ok(self
            .store
            .create_client(new, self.today(), &actor.audit(), self.now())
            .await?)
    }

    pub async fn client(&self, actor: &Actor, id: ClientId) -> AppResult<Client> {
        let ctx = self
            .check_client_access(actor, id, AuditAction::ClientRead)
            .await?;
        Ok(self.store.client(id, &ctx, self.now()).await?)
    }

    /// Intake and clinic-wide directors list every client; a scoped director the clients
    /// of their programs; a clinician their caseload.
    pub async fn list_clients(&self, actor: &Actor, page: PageRequest) -> AppResult<Page<Client>> {
        let scope = self.listing_scope(actor).await?;
        Ok(self
            .store
            .list_clients(scope, page, &actor.audit(), self.now())
            .await?)
    }

    pub async fn update_client(
        &self,
        actor: &Actor,
        id: ClientId,
        patch: &ClientPatch,
    ) -> AppResult<Client> {
        self.require_audited(actor, REGISTRARS, AuditAction::ClientUpdate, &[id])
            .await?;
        let ctx = self
            .check_client_access(actor, id, AuditAction::ClientUpdate)
            .await?;
        Ok(self
            .store
            .update_client(id, patch, &ctx, self.now())
            .await?)
    }

    pub async fn episodes(&self, actor: &Actor, id: ClientId) -> AppResult<Vec<Episode>> {
        let ctx = self
            .check_client_access(actor, id, AuditAction::EpisodeRead)
            .await?;
        Ok(self.store.episodes(id, &ctx, self.now()).await?)
    }

    /// Steps a client up or down: closes the open episode, opens the next. A scoped
    /// director also admits a client no program holds yet into one of theirs.
    pub async fn change_level(
        &self,
        actor: &Actor,
        id: ClientId,
        next: &NewEpisode,
    ) -> AppResult<Episode> {
        self.require_audited(actor, CLINICAL, AuditAction::EpisodeCreate, &[id])
            .await?;
        let ctx = match next.program_id {
            Some(p) if self.admits_unattached(actor, id, p).await? => actor.audit(),
            _ => {
                self.check_client_access(actor, id, AuditAction::EpisodeCreate)
                    .await?
            }
        };
        Ok(self.store.change_level(id, next, &ctx, self.now()).await?)
    }

    /// Ends a client's care (discharge), by a director or one of the client's clinicians.
    pub async fn discharge(
        &self,
        actor: &Actor,
        id: ClientId,
        d: &circle_domain::client::NewDischarge,
    ) -> AppResult<Episode> {
        self.require_audited(actor, CLINICAL, AuditAction::EpisodeEnd, &[id])
            .await?;
        let ctx = self
            .check_client_access(actor, id, AuditAction::EpisodeEnd)
            .await?;
        Ok(self.store.discharge(id, d, &ctx, self.now()).await?)
    }

    /// Records a separation. Intake may record one (they hear it at intake) but not read
    /// reasons back.
    pub async fn add_separation(
        &self,
        actor: &Actor,
        id: ClientId,
        new: &NewSeparation,
    ) -> AppResult<Separation> {
        let roles = [Role::Director, Role::Clinician, Role::Intake];
        self.require_audited(actor, &roles, AuditAction::SeparationCreate, &[id])
            .await?;
        let ctx = self
            .check_client_access(actor, id, AuditAction::SeparationCreate)
            .await?;
        let mut s = self.store.add_separation(id, new, &ctx, self.now()).await?;
        if !CLINICAL.contains(&actor.role) {
            s.reason = None;
        }
        Ok(s)
    }

    /// A client's separations; the reason only for directors and clinicians.
    pub async fn separations(&self, actor: &Actor, id: ClientId) -> AppResult<Vec<Separation>> {
        let roles = [Role::Director, Role::Clinician, Role::Intake];
        self.require_audited(actor, &roles, AuditAction::SeparationRead, &[id])
            .await?;
        let ctx = self
            .check_client_access(actor, id, AuditAction::SeparationRead)
            .await?;
        let mut list = self.store.separations(id, &ctx, self.now()).await?;
        if !CLINICAL.contains(&actor.role) {
            for s in &mut list {
                s.reason = None;
            }
        }
        Ok(list)
    }

    pub async fn client_memberships(
        &self,
        actor: &Actor,
        id: ClientId,
    ) -> AppResult<Vec<Membership>> {
        let ctx = self
            .check_client_access(actor, id, AuditAction::MembershipRead)
            .await?;
        Ok(self.store.client_memberships(id, &ctx, self.now()).await?)
    }

    // Groups and memberships.

    /// Creates a group and materialises its sessions for the rolling horizon, so the new
    /// group is on the calendar at once.
    pub async fn create_group(&self, actor: &Actor, new: &NewGroup) -> AppResult<Group> {
        actor.require(DESIGNERS)?;
        self.check_program_reach(actor, new.program_id).await?;
        let group = self
            .store
            .create_group(new, self.today(), self.now())
            .await?;
        if let Err(e) = self.extend_group_horizon(group.id).await {
            tracing::warn!(group.id = %group.id, error = %e, "new group's horizon is short");
        }
        Ok(group)
    }

    /// Keeps every group's sessions materialised `HORIZON_WEEKS` ahead (run at start-up and
    /// periodically by `circle serve`). Returns how many groups could not be extended; each
    /// is logged by id with the rule that stopped it (typically a lead's license expiring
    /// within the horizon: the weeks before the expiry are still scheduled).
    pub async fn extend_horizon(&self) -> AppResult<usize> {
        let mut failed = 0;
        let mut page = PageRequest {
            after: 0,
            limit: 200,
        };
        loop {
            let groups = self.store.list_groups(None, page).await?;
            for g in &groups.items {
                if let Err(e) = self.extend_group_horizon(g.id).await {
                    failed += 1;
                    tracing::warn!(group.id = %g.id, error = %e, "could not extend the session horizon");
                }
            }
            match groups.next_after {
                Some(after) => page.after = after,
                None => break,
            }
        }
        Ok(failed)
    }

    async fn extend_group_horizon(&self, group: GroupId) -> AppResult<()> {
        let req = MaterializeRequest {
            from: self.today(),
            weeks: HORIZON_WEEKS,
        };
        match self
            .store
            .materialize_sessions(group, &req, self.now())
            .await
        {
            Ok(_) => Ok(()),
            Err(circle_store::StoreError::Domain(DomainError::Conflict(c)))
                if c.rule == circle_domain::Rule::LicenseNotActive =>
            {
                // Week by week, so the weeks before an expiry are still scheduled.
                let mut from = self.today();
                for _ in 0..HORIZON_WEEKS {
                    let week = MaterializeRequest { from, weeks: 1 };
                    if self
                        .store
                        .materialize_sessions(group, &week, self.now())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    from = from.saturating_add(jiff::Span::new().days(7));
                }
                Err(DomainError::Conflict(c).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn group(&self, actor: &Actor, id: GroupId) -> AppResult<Group> {
        actor.require(STAFF)?;
        self.check_group_reach(actor, id, None).await?;
        Ok(self.store.group(id).await?)
    }

    pub async fn list_groups(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
        page: PageRequest,
    ) -> AppResult<Page<Group>> {
        actor.require(STAFF)?;
        let director = self.scoped_director(actor).await?;
        Ok(self
            .store
            .list_groups_within(program, director, page)
            .await?)
    }

    pub async fn update_group(
        &self,
        actor: &Actor,
        id: GroupId,
        patch: &GroupPatch,
    ) -> AppResult<Group> {
        actor.require(DESIGNERS)?;
        self.check_group_reach(actor, id, None).await?;
        Ok(self
            .store
            .update_group(id, patch, self.today(), self.now())
            .await?)
    }

    /// Places a client in a group. Memberships may not start in the past: attendance
    /// history is never rewritten by a late placement.
    pub async fn enroll(
        &self,
        actor: &Actor,
        group: GroupId,
        new: &NewMembership,
    ) -> AppResult<Membership> {
        self.require_audited(
            actor,
            REGISTRARS,
            AuditAction::MembershipCreate,
            &[new.client_id],
        )
        .await?;
        self.check_group_reach(actor, group, Some(AuditAction::MembershipCreate))
            .await?;
        self.check_client_placeable(actor, new.client_id, AuditAction::MembershipCreate)
            .await?;
        if new.start_date < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        Ok(self
            .store
            .enroll(group, new, &actor.audit(), self.now())
            .await?)
    }

    /// Like `check_group_access`, and a clinician recorded as present at the session (a
    /// substitute) passes too.
    async fn check_session_access(
        &self,
        actor: &Actor,
        session: &Session,
        action: AuditAction,
    ) -> AppResult<()> {
        if actor.role == Role::Clinician
            && actor
                .clinician_id
                .is_some_and(|c| session.facilitators_present.contains(&c))
        {
            return Ok(());
        }
        self.check_group_access(actor, session.group_id, action)
            .await
    }

    /// Whether a clinician leads or co-leads the group; intake passes, and so do directors
    /// (a scoped director only for a group of their programs, else 404).
    async fn check_group_access(
        &self,
        actor: &Actor,
        group: GroupId,
        action: AuditAction,
    ) -> AppResult<()> {
        let allowed = match actor.role {
            Role::Intake => true,
            Role::Director => {
                return self.check_group_reach(actor, group, Some(action)).await;
            }
            Role::Clinician => {
                let (lead, co) = self.store.group_leads(group).await?;
                actor
                    .clinician_id
                    .is_some_and(|c| c == lead || Some(c) == co)
            }
            Role::Admin | Role::Client => false,
        };
        if allowed {
            return Ok(());
        }
        self.deny(actor, action, &[], Some(group.to_string()))
            .await?;
        Err(DomainError::Forbidden.into())
    }

    pub async fn memberships(
        &self,
        actor: &Actor,
        group: GroupId,
        page: PageRequest,
    ) -> AppResult<Page<Membership>> {
        self.check_group_access(actor, group, AuditAction::MembershipRead)
            .await?;
        Ok(self
            .store
            .list_memberships(group, page, &actor.audit(), self.now())
            .await?)
    }

    pub async fn change_membership(
        &self,
        actor: &Actor,
        id: MembershipId,
        change: &MembershipChange,
    ) -> AppResult<Membership> {
        let roles = [Role::Director, Role::Clinician, Role::Intake];
        self.require_audited(actor, &roles, AuditAction::MembershipUpdate, &[])
            .await?;
        let m = self.store.membership(id).await?;
        self.check_group_access(actor, m.group_id, AuditAction::MembershipUpdate)
            .await?;
        Ok(self
            .store
            .change_membership(id, change, &actor.audit(), self.now())
            .await?)
    }

    // Sessions and attendance.

    pub async fn materialize_sessions(
        &self,
        actor: &Actor,
        group: GroupId,
        req: &MaterializeRequest,
    ) -> AppResult<Vec<Session>> {
        actor.require(DESIGNERS)?;
        self.check_group_reach(actor, group, None).await?;
        Ok(self
            .store
            .materialize_sessions(group, req, self.now())
            .await?)
    }

    pub async fn sessions(
        &self,
        actor: &Actor,
        group: GroupId,
        from: Date,
        until: Date,
    ) -> AppResult<Vec<Session>> {
        actor.require(STAFF)?;
        self.check_group_reach(actor, group, None).await?;
        if until <= from {
            return Err(DomainError::invalid("until", "must be after from").into());
        }
        if (until - from).get_days() > 366 {
            return Err(
                DomainError::invalid("until", "must be at most 366 days after from").into(),
            );
        }
        Ok(self.store.list_sessions(group, from, until).await?)
    }

    pub async fn session(&self, actor: &Actor, id: SessionId) -> AppResult<Session> {
        actor.require(STAFF)?;
        let session = self.store.session(id).await?;
        // Out of a scoped director's programs: the session "does not exist" either.
        match self.check_group_reach(actor, session.group_id, None).await {
            Err(crate::AppError::Domain(DomainError::NotFound { .. })) => {
                Err(DomainError::not_found("session").into())
            }
            other => other.map(|()| session),
        }
    }

    /// The roster shows who is expected: directors, intake (without attendance) and the
    /// group's own facilitators.
    pub async fn roster(&self, actor: &Actor, id: SessionId) -> AppResult<Vec<RosterEntry>> {
        let session = self.store.session(id).await?;
        self.check_session_access(actor, &session, AuditAction::RosterRead)
            .await?;
        let mut roster = self.store.roster(id, &actor.audit(), self.now()).await?;
        if actor.role == Role::Intake {
            // Intake sees schedules, not how someone attended.
            for r in &mut roster {
                r.attendance = None;
            }
        }
        Ok(roster)
    }

    /// Cancels a session with its reason; the answer lists whom to notify (the members
    /// on its roster and its facilitators).
    pub async fn cancel_session(
        &self,
        actor: &Actor,
        id: SessionId,
        c: &SessionCancellation,
    ) -> AppResult<CancelledSession> {
        actor.require(CLINICAL)?;
        let session = self.store.session(id).await?;
        self.check_group_access(actor, session.group_id, AuditAction::RosterRead)
            .await?;
        let cancelled = self.store.cancel_session(id, c, self.now()).await?;
        Ok(self
            .store
            .cancellation_notice(cancelled, &actor.audit(), self.now())
            .await?)
    }

    /// Sets a session's topic or the facilitators present (its facilitators, directors).
    pub async fn update_session_details(
        &self,
        actor: &Actor,
        id: SessionId,
        details: &SessionDetails,
    ) -> AppResult<Session> {
        actor.require(CLINICAL)?;
        let session = self.store.session(id).await?;
        self.check_group_access(actor, session.group_id, AuditAction::RosterRead)
            .await?;
        Ok(self
            .store
            .update_session_details(id, details, self.now())
            .await?)
    }

    pub async fn record_attendance(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
        input: &AttendanceInput,
    ) -> AppResult<Attendance> {
        self.require_audited(actor, CLINICAL, AuditAction::AttendanceWrite, &[client])
            .await?;
        let s = self.store.session(session).await?;
        self.check_session_access(actor, &s, AuditAction::AttendanceWrite)
            .await?;
        Ok(self
            .store
            .record_attendance(
                session,
                client,
                input,
                Some(actor.user_id),
                &actor.audit(),
                self.now(),
            )
            .await?)
    }

    pub async fn attendance(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Vec<Attendance>> {
        self.require_audited(actor, CLINICAL, AuditAction::AttendanceRead, &[])
            .await?;
        let s = self.store.session(session).await?;
        self.check_session_access(actor, &s, AuditAction::AttendanceRead)
            .await?;
        Ok(self
            .store
            .attendance(session, &actor.audit(), self.now())
            .await?)
    }
}
