//! Use cases for the clinic's structure and daily work: programs, rooms, clinicians,
//! clients and their episodes and separations, groups, memberships, sessions, attendance.
//!
//! Access follows DESIGN.md's role table at route level: directors design programs and
//! groups; intake registers clients and places them; clinicians run sessions; a client
//! reads only their own record. Finer, caseload-level narrowing comes with the security
//! issue (#4).

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
    Attendance, AttendanceInput, MaterializeRequest, RosterEntry, Session, SessionCancellation,
};
use circle_domain::user::Role;
use jiff::civil::Date;

use crate::{Actor, App, AppResult, CLINICAL, Page, PageRequest, STAFF};

const DESIGNERS: &[Role] = &[Role::Director];
/// How far ahead sessions are materialised from the weekly schedules.
pub const HORIZON_WEEKS: u32 = 4;
const REGISTRARS: &[Role] = &[Role::Director, Role::Intake];
const CONFIG: &[Role] = &[Role::Director, Role::Admin];

impl App {
    // Programs and rooms.

    pub async fn create_program(&self, actor: &Actor, new: &NewProgram) -> AppResult<Program> {
        actor.require(DESIGNERS)?;
        Ok(self.store.create_program(new, self.now()).await?)
    }

    pub async fn program(&self, actor: &Actor, id: ProgramId) -> AppResult<Program> {
        actor.require(STAFF)?;
        Ok(self.store.program(id).await?)
    }

    pub async fn list_programs(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> AppResult<Page<Program>> {
        actor.require(STAFF)?;
        Ok(self.store.list_programs(page).await?)
    }

    pub async fn update_program(
        &self,
        actor: &Actor,
        id: ProgramId,
        patch: &ProgramPatch,
    ) -> AppResult<Program> {
        actor.require(DESIGNERS)?;
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

    /// A client may read their own record; staff other than admin may read any.
    fn may_read_client(actor: &Actor, id: ClientId) -> Result<(), DomainError> {
        match actor.role {
            Role::Director | Role::Clinician | Role::Intake => Ok(()),
            // Not 403: a client must not learn whether another record exists.
            Role::Client if actor.client_id == Some(id) => Ok(()),
            Role::Client => Err(DomainError::not_found("client")),
            Role::Admin => Err(DomainError::Forbidden),
        }
    }

    pub async fn create_client(&self, actor: &Actor, new: &NewClient) -> AppResult<Client> {
        actor.require(REGISTRARS)?;
        Ok(self
            .store
            .create_client(new, self.today(), self.now())
            .await?)
    }

    pub async fn client(&self, actor: &Actor, id: ClientId) -> AppResult<Client> {
        Self::may_read_client(actor, id)?;
        Ok(self.store.client(id).await?)
    }

    pub async fn list_clients(&self, actor: &Actor, page: PageRequest) -> AppResult<Page<Client>> {
        actor.require(&[Role::Director, Role::Clinician, Role::Intake])?;
        Ok(self.store.list_clients(page).await?)
    }

    pub async fn update_client(
        &self,
        actor: &Actor,
        id: ClientId,
        patch: &ClientPatch,
    ) -> AppResult<Client> {
        actor.require(REGISTRARS)?;
        Ok(self.store.update_client(id, patch, self.now()).await?)
    }

    pub async fn episodes(&self, actor: &Actor, id: ClientId) -> AppResult<Vec<Episode>> {
        Self::may_read_client(actor, id)?;
        Ok(self.store.episodes(id).await?)
    }

    /// Steps a client up or down: closes the open episode, opens the next.
    pub async fn change_level(
        &self,
        actor: &Actor,
        id: ClientId,
        next: &NewEpisode,
    ) -> AppResult<Episode> {
        actor.require(CLINICAL)?;
        Ok(self.store.change_level(id, next, self.now()).await?)
    }

    /// Records a separation. Intake may record one (they hear it at intake) but not read
    /// reasons back.
    pub async fn add_separation(
        &self,
        actor: &Actor,
        id: ClientId,
        new: &NewSeparation,
    ) -> AppResult<Separation> {
        actor.require(&[Role::Director, Role::Clinician, Role::Intake])?;
        let mut s = self.store.add_separation(id, new, self.now()).await?;
        if !CLINICAL.contains(&actor.role) {
            s.reason = None;
        }
        Ok(s)
    }

    /// A client's separations; the reason only for directors and clinicians.
    pub async fn separations(&self, actor: &Actor, id: ClientId) -> AppResult<Vec<Separation>> {
        actor.require(&[Role::Director, Role::Clinician, Role::Intake])?;
        self.store.client(id).await?;
        let mut list = self.store.separations(id).await?;
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
        Self::may_read_client(actor, id)?;
        self.store.client(id).await?;
        Ok(self.store.client_memberships(id).await?)
    }

    // Groups and memberships.

    /// Creates a group and materialises its sessions for the rolling horizon, so the new
    /// group is on the calendar at once.
    pub async fn create_group(&self, actor: &Actor, new: &NewGroup) -> AppResult<Group> {
        actor.require(DESIGNERS)?;
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
        Ok(self.store.group(id).await?)
    }

    pub async fn list_groups(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
        page: PageRequest,
    ) -> AppResult<Page<Group>> {
        actor.require(STAFF)?;
        Ok(self.store.list_groups(program, page).await?)
    }

    pub async fn update_group(
        &self,
        actor: &Actor,
        id: GroupId,
        patch: &GroupPatch,
    ) -> AppResult<Group> {
        actor.require(DESIGNERS)?;
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
        actor.require(REGISTRARS)?;
        if new.start_date < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        Ok(self.store.enroll(group, new, self.now()).await?)
    }

    pub async fn memberships(
        &self,
        actor: &Actor,
        group: GroupId,
        page: PageRequest,
    ) -> AppResult<Page<Membership>> {
        actor.require(&[Role::Director, Role::Clinician, Role::Intake])?;
        Ok(self.store.list_memberships(group, page).await?)
    }

    pub async fn change_membership(
        &self,
        actor: &Actor,
        id: MembershipId,
        change: &MembershipChange,
    ) -> AppResult<Membership> {
        actor.require(&[Role::Director, Role::Clinician, Role::Intake])?;
        Ok(self.store.change_membership(id, change, self.now()).await?)
    }

    // Sessions and attendance.

    pub async fn materialize_sessions(
        &self,
        actor: &Actor,
        group: GroupId,
        req: &MaterializeRequest,
    ) -> AppResult<Vec<Session>> {
        actor.require(DESIGNERS)?;
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
        Ok(self.store.session(id).await?)
    }

    /// The roster shows who is expected: clinical and intake staff only.
    pub async fn roster(&self, actor: &Actor, id: SessionId) -> AppResult<Vec<RosterEntry>> {
        actor.require(&[Role::Director, Role::Clinician, Role::Intake])?;
        let mut roster = self.store.roster(id).await?;
        if actor.role == Role::Intake {
            // Intake sees schedules, not how someone attended.
            for r in &mut roster {
                r.attendance = None;
            }
        }
        Ok(roster)
    }

    pub async fn cancel_session(
        &self,
        actor: &Actor,
        id: SessionId,
        c: &SessionCancellation,
    ) -> AppResult<Session> {
        actor.require(CLINICAL)?;
        Ok(self.store.cancel_session(id, c, self.now()).await?)
    }

    pub async fn record_attendance(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
        input: &AttendanceInput,
    ) -> AppResult<Attendance> {
        actor.require(CLINICAL)?;
        Ok(self
            .store
            .record_attendance(session, client, input, Some(actor.user_id), self.now())
            .await?)
    }

    pub async fn attendance(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Vec<Attendance>> {
        actor.require(CLINICAL)?;
        Ok(self.store.attendance(session).await?)
    }
}
