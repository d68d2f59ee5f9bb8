//! Store calls as the operator (the system, no person), for tests that arrange data or
//! check the store's own rules below the services. Each is the store method of the same
//! name, with the operator's access value taken from the gate.

use circle_domain::audit::AuditEntry;
use circle_domain::client::{Client, Episode, NewClient, NewEpisode, NewSeparation, Separation};
use circle_domain::group::{Group, GroupPatch, NewGroup};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, MembershipId, SessionId, UserId};
use circle_domain::intake::{AgreementSignature, SignatureMethod};
use circle_domain::membership::{Membership, MembershipChange, NewMembership};
use circle_domain::note::{GroupNote, GroupNoteInput, ProgressNote, ProgressNoteInput};
use circle_domain::session::{
    Attendance, AttendanceInput, RosterEntry, Session, SessionCancellation,
};
use circle_store::access::purpose;
use circle_store::audit::AuditQuery;
use circle_store::{Page, PageRequest, Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;

/// The store's client-data methods as the operator.
#[allow(
    async_fn_in_trait,
    reason = "used by tests only, never as a trait object"
)]
pub trait SysStore {
    async fn sys_enroll(
        &self,
        group: GroupId,
        new: &NewMembership,
        at: Timestamp,
    ) -> Result<Membership, StoreError>;
    async fn sys_client(&self, client: ClientId, at: Timestamp) -> Result<Client, StoreError>;
    async fn sys_episodes(
        &self,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Vec<Episode>, StoreError>;
    async fn sys_separations(
        &self,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Vec<Separation>, StoreError>;
    async fn sys_client_memberships(
        &self,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Vec<Membership>, StoreError>;
    async fn sys_list_memberships(
        &self,
        group: GroupId,
        page: PageRequest,
        at: Timestamp,
    ) -> Result<Page<Membership>, StoreError>;
    async fn sys_change_membership(
        &self,
        id: MembershipId,
        change: &MembershipChange,
        at: Timestamp,
    ) -> Result<Membership, StoreError>;
    async fn sys_roster(
        &self,
        session: SessionId,
        at: Timestamp,
    ) -> Result<Vec<RosterEntry>, StoreError>;
    /// `recorded_by` is ignored: the operator records (the entry names no one).
    async fn sys_record_attendance(
        &self,
        session: SessionId,
        client: ClientId,
        input: &AttendanceInput,
        recorded_by: Option<UserId>,
        at: Timestamp,
    ) -> Result<Attendance, StoreError>;
    async fn sys_attendance(
        &self,
        session: SessionId,
        at: Timestamp,
    ) -> Result<Vec<Attendance>, StoreError>;
    async fn sys_sign_group_agreement(
        &self,
        client: ClientId,
        signed_on: Date,
        method: SignatureMethod,
        at: Timestamp,
    ) -> Result<AgreementSignature, StoreError>;
    async fn sys_audit_report(
        &self,
        q: &AuditQuery,
        at: Timestamp,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    async fn sys_create_client(
        &self,
        new: &NewClient,
        today: Date,
        at: Timestamp,
    ) -> Result<Client, StoreError>;
    async fn sys_create_group(
        &self,
        new: &NewGroup,
        today: Date,
        at: Timestamp,
    ) -> Result<Group, StoreError>;
    async fn sys_update_group(
        &self,
        group: GroupId,
        patch: &GroupPatch,
        today: Date,
        at: Timestamp,
    ) -> Result<Group, StoreError>;
    async fn sys_cancel_session(
        &self,
        session: SessionId,
        c: &SessionCancellation,
        at: Timestamp,
    ) -> Result<Session, StoreError>;
    async fn sys_change_level(
        &self,
        client: ClientId,
        next: &NewEpisode,
        at: Timestamp,
    ) -> Result<Episode, StoreError>;
    async fn sys_add_separation(
        &self,
        client: ClientId,
        new: &NewSeparation,
        at: Timestamp,
    ) -> Result<Separation, StoreError>;
    /// Written by `author` (the operator writing as that clinician).
    async fn sys_save_group_note(
        &self,
        session: SessionId,
        author: ClinicianId,
        input: &GroupNoteInput,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError>;
    async fn sys_save_progress_note(
        &self,
        session: SessionId,
        client: ClientId,
        author: ClinicianId,
        input: &ProgressNoteInput,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError>;
    /// Signs a progress note as its author (a licensed clinician's signature is final).
    async fn sys_sign_progress_note(
        &self,
        session: SessionId,
        client: ClientId,
        note: circle_domain::ids::NoteId,
        version: i64,
        author: ClinicianId,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError>;
}

impl SysStore for Store {
    async fn sys_enroll(
        &self,
        group: GroupId,
        new: &NewMembership,
        at: Timestamp,
    ) -> Result<Membership, StoreError> {
        let op = self.op();
        let g = op.group::<purpose::Enroll>(group).await?;
        let c = op.place::<purpose::Enroll>(new.client_id).await?;
        self.enroll(&g, &c, new, at).await
    }

    async fn sys_client(&self, client: ClientId, at: Timestamp) -> Result<Client, StoreError> {
        let a = self.op().client::<purpose::ClientRead>(client).await?;
        self.client(&a, at).await
    }

    async fn sys_episodes(
        &self,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Vec<Episode>, StoreError> {
        let a = self.op().client::<purpose::EpisodeRead>(client).await?;
        self.episodes(&a, at).await
    }

    async fn sys_separations(
        &self,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Vec<Separation>, StoreError> {
        let a = self.op().client::<purpose::SeparationRead>(client).await?;
        self.separations(&a, at).await
    }

    async fn sys_client_memberships(
        &self,
        client: ClientId,
        at: Timestamp,
    ) -> Result<Vec<Membership>, StoreError> {
        let a = self
            .op()
            .client::<purpose::ClientMemberships>(client)
            .await?;
        self.client_memberships(&a, at).await
    }

    async fn sys_list_memberships(
        &self,
        group: GroupId,
        page: PageRequest,
        at: Timestamp,
    ) -> Result<Page<Membership>, StoreError> {
        let a = self.op().group::<purpose::GroupMemberships>(group).await?;
        self.list_memberships(&a, page, at).await
    }

    async fn sys_change_membership(
        &self,
        id: MembershipId,
        change: &MembershipChange,
        at: Timestamp,
    ) -> Result<Membership, StoreError> {
        let group = self.membership(id).await?.group_id;
        let a = self.op().group::<purpose::MembershipUpdate>(group).await?;
        self.change_membership(&a, id, change, at).await
    }

    async fn sys_roster(
        &self,
        session: SessionId,
        at: Timestamp,
    ) -> Result<Vec<RosterEntry>, StoreError> {
        let a = self.op().session::<purpose::RosterRead>(session).await?;
        self.roster(&a, at).await
    }

    async fn sys_record_attendance(
        &self,
        session: SessionId,
        client: ClientId,
        input: &AttendanceInput,
        _recorded_by: Option<UserId>,
        at: Timestamp,
    ) -> Result<Attendance, StoreError> {
        let a = self
            .op()
            .session::<purpose::AttendanceWrite>(session)
            .await?;
        self.record_attendance(&a, client, input, at).await
    }

    async fn sys_attendance(
        &self,
        session: SessionId,
        at: Timestamp,
    ) -> Result<Vec<Attendance>, StoreError> {
        let a = self
            .op()
            .session::<purpose::AttendanceRead>(session)
            .await?;
        self.attendance(&a, at).await
    }

    async fn sys_sign_group_agreement(
        &self,
        client: ClientId,
        signed_on: Date,
        method: SignatureMethod,
        at: Timestamp,
    ) -> Result<AgreementSignature, StoreError> {
        let a = self.op().client::<purpose::AgreementSign>(client).await?;
        self.sign_group_agreement(&a, signed_on, method, at).await
    }

    async fn sys_audit_report(
        &self,
        q: &AuditQuery,
        at: Timestamp,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let who = self.op().role::<purpose::AuditReview>().await?;
        self.audit_report(&who, q, at).await
    }

    async fn sys_create_client(
        &self,
        new: &NewClient,
        today: Date,
        at: Timestamp,
    ) -> Result<Client, StoreError> {
        let who = self.op().role::<purpose::ClientCreate>().await?;
        self.create_client(&who, new, today, at).await
    }

    async fn sys_change_level(
        &self,
        client: ClientId,
        next: &NewEpisode,
        at: Timestamp,
    ) -> Result<Episode, StoreError> {
        let a = self.op().client::<purpose::EpisodeCreate>(client).await?;
        self.change_level(&a, next, at).await
    }

    async fn sys_add_separation(
        &self,
        client: ClientId,
        new: &NewSeparation,
        at: Timestamp,
    ) -> Result<Separation, StoreError> {
        let op = self.op();
        let a = op.client::<purpose::SeparationCreate>(client).await?;
        let other = op
            .client::<purpose::SeparationCreate>(new.other_client_id)
            .await?;
        self.add_separation(&a, &other, new, at).await
    }

    async fn sys_save_group_note(
        &self,
        session: SessionId,
        author: ClinicianId,
        input: &GroupNoteInput,
        at: Timestamp,
    ) -> Result<GroupNote, StoreError> {
        let a = self
            .op_as(author)
            .session::<purpose::NoteWrite>(session)
            .await?;
        self.save_group_note(&a, input, at).await
    }

    async fn sys_save_progress_note(
        &self,
        session: SessionId,
        client: ClientId,
        author: ClinicianId,
        input: &ProgressNoteInput,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        let a = self
            .op_as(author)
            .progress::<purpose::NoteWrite>(session, client)
            .await?;
        self.save_progress_note(&a, input, at).await
    }

    async fn sys_sign_progress_note(
        &self,
        session: SessionId,
        client: ClientId,
        note: circle_domain::ids::NoteId,
        version: i64,
        author: ClinicianId,
        at: Timestamp,
    ) -> Result<ProgressNote, StoreError> {
        let a = self
            .op_as(author)
            .progress::<purpose::NoteSign>(session, client)
            .await?;
        let req: circle_domain::note::SignNote = serde_json::from_value(serde_json::json!({
            "version": version, "confirm_names_checked": true,
        }))
        .map_err(|_| StoreError::Corrupt("sign request"))?;
        self.sign_progress_note(&a, note, &req, at).await
    }

    async fn sys_create_group(
        &self,
        new: &NewGroup,
        today: Date,
        at: Timestamp,
    ) -> Result<Group, StoreError> {
        let program = self
            .op()
            .program::<purpose::ProgramDesign>(new.program_id)
            .await?;
        self.create_group(&program, new, today, at).await
    }

    async fn sys_update_group(
        &self,
        group: GroupId,
        patch: &GroupPatch,
        today: Date,
        at: Timestamp,
    ) -> Result<Group, StoreError> {
        let a = self.op().group::<purpose::GroupDesign>(group).await?;
        self.update_group(&a, patch, today, at).await
    }

    async fn sys_cancel_session(
        &self,
        session: SessionId,
        c: &SessionCancellation,
        at: Timestamp,
    ) -> Result<Session, StoreError> {
        let a = self.op().session::<purpose::SessionRun>(session).await?;
        self.cancel_session(&a, c, at).await
    }
}
