//! Use cases for the clinic's structure and daily work: programs, rooms, clinicians,
//! clients and their episodes and separations, groups, memberships, sessions, attendance.
//!
//! Access follows DESIGN.md's role table, deny by default, decided by the gate for each
//! purpose (`circle_store::access::purpose`): directors design programs and groups and see
//! the clients of their programs (every client when clinic-wide); intake registers clients,
//! admits and places them; a clinician sees the clients of the groups they lead or co-lead
//! and runs those groups' sessions; a client reads only their own record. Every read or
//! change of client data is audited in the same transaction, and every refusal is audited
//! too.

use circle_domain::DomainError;
use circle_domain::client::{
    Client, ClientPatch, Episode, NewClient, NewEpisode, NewSeparation, Separation,
};
use circle_domain::clinician::{Clinician, NewClinician};
use circle_domain::group::{Group, GroupPatch, NewGroup};
use circle_domain::ids::{
    ClientId, ClinicianId, GroupId, MembershipId, ProgramId, RoomId, SessionId,
};
use circle_domain::membership::{GroupMember, Membership, MembershipChange, NewMembership};
use circle_domain::program::{NewProgram, NewRoom, Program, ProgramPatch, Room};
use circle_domain::session::{
    Attendance, AttendanceInput, CancelledSession, MaterializeRequest, RosterEntry, Session,
    SessionCancellation, SessionDetails,
};
use jiff::civil::Date;

use crate::{Actor, App, AppResult, Page, PageRequest};
use circle_store::access::purpose;

/// How far ahead sessions are materialised from the weekly schedules: a quarter. Calendar
/// feeds (clients' and staff's) look exactly this far ahead (`feeds::feed_ahead`), so a
/// feed never promises more than exists (issue 15: the feed looked a year ahead over four
/// weeks of sessions). Not a year: each session is a row whose roster, reminders and
/// cancellations follow it, schedule edits rewrite the ones to come, and a lead's licence
/// renewal is rarely on file a year early (the horizon stops at an expiry).
pub const HORIZON_WEEKS: u32 = 13;

impl App {
    // Programs and rooms.

    /// Creates a program: clinic-wide directors only (a scoped director directs the
    /// programs an administrator linked to them, and a new one would be outside them).
    pub async fn create_program(&self, actor: &Actor, new: &NewProgram) -> AppResult<Program> {
        self.access_role::<purpose::ProgramCreate>(actor).await?;
        Ok(self.store.create_program(new, self.now()).await?)
    }

    pub async fn program(&self, actor: &Actor, id: ProgramId) -> AppResult<Program> {
        let a = self
            .access_program::<purpose::ProgramRead>(actor, id)
            .await?;
        Ok(self.store.program(a.program()).await?)
    }

    pub async fn list_programs(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> AppResult<Page<Program>> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self
            .store
            .list_programs_within(actor.directed_programs().map(|_| actor.user_id()), page)
            .await?)
    }

    pub async fn update_program(
        &self,
        actor: &Actor,
        id: ProgramId,
        patch: &ProgramPatch,
    ) -> AppResult<Program> {
        let a = self
            .access_program::<purpose::ProgramDesign>(actor, id)
            .await?;
        Ok(self
            .store
            .update_program(a.program(), patch, self.now())
            .await?)
    }

    pub async fn create_room(&self, actor: &Actor, new: &NewRoom) -> AppResult<Room> {
        self.access_role::<purpose::ClinicSetup>(actor).await?;
        Ok(self.store.create_room(new, self.now()).await?)
    }

    pub async fn room(&self, actor: &Actor, id: RoomId) -> AppResult<Room> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self.store.room(id).await?)
    }

    pub async fn list_rooms(&self, actor: &Actor, page: PageRequest) -> AppResult<Page<Room>> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self.store.list_rooms(page).await?)
    }

    // Clinicians.

    pub async fn create_clinician(
        &self,
        actor: &Actor,
        new: &NewClinician,
    ) -> AppResult<Clinician> {
        self.access_role::<purpose::ClinicSetup>(actor).await?;
        Ok(self.store.create_clinician(new, self.now()).await?)
    }

    /// Records or removes a clinician's NPI (directors, admins: as adding a clinician).
    pub async fn set_clinician_npi(
        &self,
        actor: &Actor,
        id: ClinicianId,
        npi: Option<&circle_domain::billing::Npi>,
    ) -> AppResult<Clinician> {
        self.access_role::<purpose::ClinicSetup>(actor).await?;
        Ok(self.store.set_clinician_npi(id, npi, self.now()).await?)
    }

    pub async fn clinician(&self, actor: &Actor, id: ClinicianId) -> AppResult<Clinician> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self.store.clinician(id).await?)
    }

    pub async fn list_clinicians(
        &self,
        actor: &Actor,
        page: PageRequest,
    ) -> AppResult<Page<Clinician>> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self.store.list_clinicians(page).await?)
    }

    // Clients.

    /// Memberships that ended within this window still count toward a clinician's
    /// caseload, so notes and follow-up can be finished.
    pub(crate) fn caseload_since(&self) -> Date {
        self.today().saturating_sub(jiff::Span::new().days(30))
    }

    pub async fn create_client(&self, actor: &Actor, new: &NewClient) -> AppResult<Client> {
        let who = self.access_role::<purpose::ClientCreate>(actor).await?;
        Ok(self
            .store
            .create_client(&who, new, self.today(), self.now())
            .await?)
    }

    pub async fn client(&self, actor: &Actor, id: ClientId) -> AppResult<Client> {
        let a = self.access_client::<purpose::ClientRead>(actor, id).await?;
        Ok(self.store.client(&a, self.now()).await?)
    }

    /// The clients among `ids` in the caller's listing reach (as `list_clients` would list
    /// them; the others are left out), in one audited read.
    pub async fn clients_with_ids(
        &self,
        actor: &Actor,
        ids: &[ClientId],
    ) -> AppResult<Vec<Client>> {
        let listing = self.listing::<purpose::ClientList>(actor).await?;
        Ok(self
            .store
            .clients_with_ids(&listing, ids, self.now())
            .await?)
    }

    /// Intake and clinic-wide directors list every client; a scoped director the clients
    /// of their programs; a clinician their caseload.
    pub async fn list_clients(&self, actor: &Actor, page: PageRequest) -> AppResult<Page<Client>> {
        let listing = self.listing::<purpose::ClientList>(actor).await?;
        Ok(self.store.list_clients(&listing, page, self.now()).await?)
    }

    /// Clients in the caller's reach with this email address or phone number (every client
    /// is checked): a request from someone who may already be a client.
    pub async fn clients_with_contact(
        &self,
        actor: &Actor,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> AppResult<Vec<Client>> {
        let listing = self.listing::<purpose::ClientList>(actor).await?;
        Ok(self
            .store
            .clients_with_contact(&listing, email, phone, self.now())
            .await?)
    }

    pub async fn update_client(
        &self,
        actor: &Actor,
        id: ClientId,
        patch: &ClientPatch,
    ) -> AppResult<Client> {
        let a = self
            .access_client::<purpose::ClientUpdate>(actor, id)
            .await?;
        Ok(self.store.update_client(&a, patch, self.now()).await?)
    }

    pub async fn episodes(&self, actor: &Actor, id: ClientId) -> AppResult<Vec<Episode>> {
        let a = self
            .access_client::<purpose::EpisodeRead>(actor, id)
            .await?;
        Ok(self.store.episodes(&a, self.now()).await?)
    }

    /// Admits a client or steps them up or down: closes the open episode, opens the next.
    /// A program the episode names must be one the caller reaches; a scoped director also
    /// admits a client no program holds yet into one of theirs.
    pub async fn change_level(
        &self,
        actor: &Actor,
        id: ClientId,
        next: &NewEpisode,
    ) -> AppResult<Episode> {
        if let Some(p) = next.program_id {
            self.access_program::<purpose::EpisodeCreate>(actor, p)
                .await?;
        }
        let a = match (next.program_id, actor.directed_programs()) {
            // A scoped director admitting a client no program holds yet: the placement
            // rule (reach, or held by no program) stands in for reach.
            (Some(_), Some(_)) => {
                let place = self
                    .access_place::<purpose::EpisodeCreate>(actor, id)
                    .await?;
                self.store.admission(place)
            }
            _ => {
                self.access_client::<purpose::EpisodeCreate>(actor, id)
                    .await?
            }
        };
        Ok(self.store.change_level(&a, next, self.now()).await?)
    }

    /// Ends a client's care (discharge), by a director or one of the client's clinicians.
    pub async fn discharge(
        &self,
        actor: &Actor,
        id: ClientId,
        d: &circle_domain::client::NewDischarge,
    ) -> AppResult<Episode> {
        let a = self.access_client::<purpose::EpisodeEnd>(actor, id).await?;
        Ok(self.store.discharge(&a, d, self.now()).await?)
    }

    /// Records a separation between two clients the caller both reaches. Intake may record
    /// one (they hear it at intake) but not read reasons back.
    pub async fn add_separation(
        &self,
        actor: &Actor,
        id: ClientId,
        new: &NewSeparation,
    ) -> AppResult<Separation> {
        let a = self
            .access_client::<purpose::SeparationCreate>(actor, id)
            .await?;
        let other = match self
            .access_client::<purpose::SeparationCreate>(actor, new.other_client_id)
            .await
        {
            Ok(o) => o,
            Err(crate::AppError::Domain(DomainError::NotFound { .. })) => {
                return Err(DomainError::invalid("other_client_id", "names no client").into());
            }
            Err(e) => return Err(e),
        };
        let mut s = self
            .store
            .add_separation(&a, &other, new, self.now())
            .await?;
        if !actor.may::<purpose::SeparationReasons>() {
            s.reason = None;
        }
        Ok(s)
    }

    /// A client's separations; the reason only for directors and clinicians.
    pub async fn separations(&self, actor: &Actor, id: ClientId) -> AppResult<Vec<Separation>> {
        let a = self
            .access_client::<purpose::SeparationRead>(actor, id)
            .await?;
        let mut list = self.store.separations(&a, self.now()).await?;
        if !actor.may::<purpose::SeparationReasons>() {
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
        let a = self
            .access_client::<purpose::ClientMemberships>(actor, id)
            .await?;
        Ok(self.store.client_memberships(&a, self.now()).await?)
    }

    // Groups and memberships.

    /// Creates a group and materialises its sessions for the rolling horizon, so the new
    /// group is on the calendar at once.
    pub async fn create_group(&self, actor: &Actor, new: &NewGroup) -> AppResult<Group> {
        let program = self
            .access_program::<purpose::ProgramDesign>(actor, new.program_id)
            .await?;
        let group = self
            .store
            .create_group(&program, new, self.today(), self.now())
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
        let a = self.access_group::<purpose::GroupRead>(actor, id).await?;
        Ok(self.store.group(a.group()).await?)
    }

    pub async fn list_groups(
        &self,
        actor: &Actor,
        program: Option<ProgramId>,
        page: PageRequest,
    ) -> AppResult<Page<Group>> {
        self.access_role::<purpose::StaffRead>(actor).await?;
        Ok(self
            .store
            .list_groups_within(
                program,
                actor.directed_programs().map(|_| actor.user_id()),
                page,
            )
            .await?)
    }

    pub async fn update_group(
        &self,
        actor: &Actor,
        id: GroupId,
        patch: &GroupPatch,
    ) -> AppResult<Group> {
        let a = self.access_group::<purpose::GroupDesign>(actor, id).await?;
        Ok(self
            .store
            .update_group(&a, patch, self.today(), self.now())
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
        let g = self.access_group::<purpose::Enroll>(actor, group).await?;
        let c = self
            .access_place::<purpose::Enroll>(actor, new.client_id)
            .await?;
        if new.start_date < self.today() {
            return Err(DomainError::invalid("start_date", "must be today or later").into());
        }
        Ok(self.store.enroll(&g, &c, new, self.now()).await?)
    }

    pub async fn memberships(
        &self,
        actor: &Actor,
        group: GroupId,
        page: PageRequest,
    ) -> AppResult<Page<Membership>> {
        let a = self
            .access_group::<purpose::GroupMemberships>(actor, group)
            .await?;
        Ok(self.store.list_memberships(&a, page, self.now()).await?)
    }

    /// A group's members, current and past, with roster names (see
    /// `Store::list_members`).
    pub async fn group_members(
        &self,
        actor: &Actor,
        group: GroupId,
    ) -> AppResult<Vec<GroupMember>> {
        let a = self
            .access_group::<purpose::GroupMemberships>(actor, group)
            .await?;
        Ok(self.store.list_members(&a, self.now()).await?)
    }

    pub async fn change_membership(
        &self,
        actor: &Actor,
        id: MembershipId,
        change: &MembershipChange,
    ) -> AppResult<Membership> {
        let group = self.store.membership(id).await?.group_id;
        let a = self
            .access_group::<purpose::MembershipUpdate>(actor, group)
            .await?;
        Ok(self
            .store
            .change_membership(&a, id, change, self.now())
            .await?)
    }

    // Sessions and attendance.

    pub async fn materialize_sessions(
        &self,
        actor: &Actor,
        group: GroupId,
        req: &MaterializeRequest,
    ) -> AppResult<Vec<Session>> {
        let a = self
            .access_group::<purpose::GroupDesign>(actor, group)
            .await?;
        Ok(self
            .store
            .materialize_sessions(a.group(), req, self.now())
            .await?)
    }

    pub async fn sessions(
        &self,
        actor: &Actor,
        group: GroupId,
        from: Date,
        until: Date,
    ) -> AppResult<Vec<Session>> {
        let a = self
            .access_group::<purpose::GroupRead>(actor, group)
            .await?;
        if until <= from {
            return Err(DomainError::invalid("until", "must be after from").into());
        }
        if (until - from).get_days() > 366 {
            return Err(
                DomainError::invalid("until", "must be at most 366 days after from").into(),
            );
        }
        Ok(self.store.list_sessions(a.group(), from, until).await?)
    }

    pub async fn session(&self, actor: &Actor, id: SessionId) -> AppResult<Session> {
        let a = self
            .access_session::<purpose::SessionRead>(actor, id)
            .await?;
        Ok(self.store.session(a.session()).await?)
    }

    /// Each roster member's names, for saying which member a note names (see
    /// `Store::roster_name_words`).
    pub async fn roster_name_words(
        &self,
        actor: &Actor,
        id: SessionId,
    ) -> AppResult<Vec<(ClientId, Vec<String>)>> {
        let a = self
            .access_session::<purpose::RosterRead>(actor, id)
            .await?;
        Ok(self.store.roster_name_words(&a, self.now()).await?)
    }

    /// The roster shows who is expected: directors, intake (without attendance) and the
    /// group's own facilitators.
    pub async fn roster(&self, actor: &Actor, id: SessionId) -> AppResult<Vec<RosterEntry>> {
        let a = self
            .access_session::<purpose::RosterRead>(actor, id)
            .await?;
        let mut roster = self.store.roster(&a, self.now()).await?;
        if !actor.may::<purpose::AttendanceRead>() {
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
        let a = self
            .access_session::<purpose::SessionRun>(actor, id)
            .await?;
        let cancelled = self.store.cancel_session(&a, c, self.now()).await?;
        Ok(self
            .store
            .cancellation_notice(&a, cancelled, self.now())
            .await?)
    }

    /// Sets a session's topic or the facilitators present (its facilitators, directors).
    pub async fn update_session_details(
        &self,
        actor: &Actor,
        id: SessionId,
        details: &SessionDetails,
    ) -> AppResult<Session> {
        let a = self
            .access_session::<purpose::SessionRun>(actor, id)
            .await?;
        Ok(self
            .store
            .update_session_details(&a, details, self.now())
            .await?)
    }

    pub async fn record_attendance(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
        input: &AttendanceInput,
    ) -> AppResult<Attendance> {
        let a = self
            .access_session::<purpose::AttendanceWrite>(actor, session)
            .await?;
        Ok(self
            .store
            .record_attendance(&a, client, input, self.now())
            .await?)
    }

    pub async fn attendance(
        &self,
        actor: &Actor,
        session: SessionId,
    ) -> AppResult<Vec<Attendance>> {
        let a = self
            .access_session::<purpose::AttendanceRead>(actor, session)
            .await?;
        Ok(self.store.attendance(&a, self.now()).await?)
    }
}
