//! The gate: the one place that decides whether a caller may touch a record, and the only
//! place the proofs of that decision are made.
//!
//! Every store method that reads or writes client data takes an access value —
//! [`ClientAccess`], [`PlaceAccess`], [`GroupAccess`], [`SessionAccess`],
//! [`ProgramAccess`], [`ReferralAccess`], [`OfferAccess`], [`Listing`] or [`RoleAccess`] —
//! whose fields are private to this module. The only way to get one is to ask the gate
//! ([`Store::client_access`] and its siblings), which checks the caller's role against the
//! purpose's role list and the record against the caller's reach, audits a refusal, and
//! answers 403 (the role may never do this) or 404 (this record is out of reach, so its
//! existence is not confirmed). A store call without a checked access value does not
//! compile, so a forgotten check cannot ship (issue 13; the pattern is lldap's
//! access-control crate, which hands out backend handlers only from validated
//! permissions). Audit entries are built from the access values, so `AuditContext` is no
//! longer a struct anyone can fill in.
//!
//! Each access value is typed by its purpose (a marker type in [`purpose`]): a store method
//! states what the caller must have been checked for (`ClientAccess<purpose::SeparationRead>`),
//! so a proof obtained for one thing cannot be spent on another.
//!
//! Who the caller is and what they reach is resolved once per request, when the token is
//! checked ([`Store::actor_for_token`]): role, clinician or client record, a director's
//! programs (or the explicit clinic-wide setting), a clinician's groups and caseload, a
//! client's own record, and the emergency accesses open now. Every check after that is in
//! memory, except looking up which group or program a record belongs to.

use std::collections::{BTreeSet, HashSet};
use std::marker::PhantomData;
use std::sync::Arc;

use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{
    ClientId, ClinicianId, GroupId, NoteId, OfferId, ProgramId, SessionId, UserId, WaitlistEntryId,
};
use circle_domain::user::Role;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::codec::{date, ts};
use crate::people::ClientScope;
use crate::{Store, StoreError};

/// Request facts every audit entry carries. Built by the web layer from a request id it
/// has checked and the peer address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub source: Option<String>,
}

/// Who acted and from where: attached to every audit entry. Made only here — from an
/// actor, from an access value, for a public form, or for the operator — so no caller can
/// put another user's name on an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    actor_user_id: Option<UserId>,
    actor_role: Option<Role>,
    request_id: Option<String>,
    source: Option<String>,
    emergency_access_id: Option<i64>,
}

impl AuditContext {
    /// An action with no signed-in user: a public form (self-referral, a therapist's
    /// referral) or a calendar feed fetched by its secret.
    pub fn public(request: &RequestMeta) -> Self {
        Self {
            request_id: request.request_id.clone(),
            source: request.source.clone(),
            ..Self::nobody()
        }
    }

    /// No actor, no request: the system's own entries (seat offers moved on by the clock).
    pub(crate) fn nobody() -> Self {
        Self {
            actor_user_id: None,
            actor_role: None,
            request_id: None,
            source: None,
            emergency_access_id: None,
        }
    }

    pub fn actor_user_id(&self) -> Option<UserId> {
        self.actor_user_id
    }
    pub fn actor_role(&self) -> Option<Role> {
        self.actor_role
    }
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// Set when the action happens under emergency access to a chart.
    pub fn emergency_access_id(&self) -> Option<i64> {
        self.emergency_access_id
    }

    /// The same context, flagged with the emergency access it acts under.
    pub(crate) fn under_emergency(&self, id: i64) -> Self {
        Self {
            emergency_access_id: Some(id),
            ..self.clone()
        }
    }
}

/// What a caller reaches, resolved once per request.
#[derive(Debug, Clone)]
enum Reach {
    /// Every client and group: intake, and a director set clinic-wide.
    Clinic,
    /// A director linked to programs: those programs, their groups, and the clients
    /// reached through them (an episode in the program, a membership in one of its groups,
    /// a referral or a waitlist entry aimed at it). Empty for a director with neither
    /// programs nor the clinic-wide setting: they reach nothing (fail closed).
    Programs(Arc<ProgramReach>),
    /// A clinician: the groups they lead or co-lead, and the members of those groups whose
    /// membership is current or ended within the caseload window.
    Caseload(Arc<Caseload>),
    /// A client: their own record.
    Own(ClientId),
    /// Administrators, and accounts without the record their role needs.
    Nothing,
}

#[derive(Debug)]
struct ProgramReach {
    programs: BTreeSet<ProgramId>,
    groups: HashSet<GroupId>,
    clients: HashSet<ClientId>,
}

#[derive(Debug)]
struct Caseload {
    clinician: ClinicianId,
    since: Date,
    groups: HashSet<GroupId>,
    clients: HashSet<ClientId>,
}

/// The authenticated caller of one request, with everything the gate needs to decide. Made
/// only by [`Store::actor_for_token`] (and [`Store::operator`] for the binary's own
/// tasks); its fields cannot be set from outside, so nobody can claim a role or a reach.
#[derive(Debug, Clone)]
pub struct Actor {
    principal: Principal,
    request: RequestMeta,
    reach: Reach,
    /// Emergency accesses open at sign-in time: (client, access id).
    emergency: Arc<Vec<(ClientId, i64)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    User {
        id: UserId,
        role: Role,
        clinician: Option<ClinicianId>,
        client: Option<ClientId>,
    },
    /// The `circle` binary acting for the operator (seeding the demo, importing a clinic):
    /// no user, passes every check, and its audit entries name no actor. It may write as a
    /// clinician (a note's author) when seeding history. Built only with the `operator`
    /// feature, which the server's own crates never enable.
    #[cfg_attr(not(feature = "operator"), allow(dead_code))]
    Operator { clinician: Option<ClinicianId> },
}

impl Actor {
    /// The user behind the request (`UserId(0)` for the operator, which has no account).
    pub fn user_id(&self) -> UserId {
        match self.principal {
            Principal::User { id, .. } => id,
            Principal::Operator { .. } => UserId(0),
        }
    }

    /// The caller's role. The operator answers `Admin` for display only: the gate never
    /// decides by this answer for the operator.
    pub fn role(&self) -> Role {
        match self.principal {
            Principal::User { role, .. } => role,
            Principal::Operator { .. } => Role::Admin,
        }
    }

    pub fn clinician_id(&self) -> Option<ClinicianId> {
        match self.principal {
            Principal::User { clinician, .. } | Principal::Operator { clinician } => clinician,
        }
    }

    pub fn client_id(&self) -> Option<ClientId> {
        match self.principal {
            Principal::User { client, .. } => client,
            Principal::Operator { .. } => None,
        }
    }

    pub fn request(&self) -> &RequestMeta {
        &self.request
    }

    /// The same caller, with the facts of the request it made.
    pub fn with_request(mut self, request: RequestMeta) -> Self {
        self.request = request;
        self
    }

    pub fn is_staff(&self) -> bool {
        self.role() != Role::Client
    }

    fn is_operator(&self) -> bool {
        matches!(self.principal, Principal::Operator { .. })
    }

    /// Whether the caller's role may ever act for `P` (no record is looked at). Pages use
    /// this to decide which links and forms to show, so they offer exactly what the gate
    /// then allows.
    pub fn may<P: Purpose>(&self) -> bool {
        if self.is_operator() {
            return true;
        }
        let scoped_director = self.role() == Role::Director && !self.reaches_whole_clinic();
        P::ROLES.contains(&self.role()) && !(P::CLINIC_WIDE && scoped_director)
    }

    /// A director linked to programs (not clinic-wide): the programs they direct.
    pub fn directed_programs(&self) -> Option<Vec<ProgramId>> {
        match &self.reach {
            Reach::Programs(p) => Some(p.programs.iter().copied().collect()),
            _ => None,
        }
    }

    /// Whether the caller reaches every program (intake, a clinic-wide director, the
    /// operator).
    pub fn reaches_whole_clinic(&self) -> bool {
        self.is_operator() || matches!(self.reach, Reach::Clinic)
    }

    /// Whether a group is one the caller leads or co-leads (clinicians).
    pub fn leads(&self, group: GroupId) -> bool {
        matches!(&self.reach, Reach::Caseload(c) if c.groups.contains(&group))
    }

    /// Whether the gate would let the caller act for `P` on this group (its role and its
    /// reach; a substitute's reach to one session is not counted). The gate itself decides
    /// by this, so a page that shows a link or a form when this holds shows exactly what
    /// will then be allowed.
    pub fn reaches_group<P: Purpose>(&self, group: GroupId) -> bool {
        self.may::<P>()
            && (self.is_operator()
                || match &self.reach {
                    Reach::Clinic => true,
                    Reach::Programs(p) => p.groups.contains(&group),
                    Reach::Caseload(c) => P::ANY_GROUP || c.groups.contains(&group),
                    // Administrators read a group's design facts (the clinic's set-up).
                    Reach::Nothing => P::ANY_GROUP && self.role() == Role::Admin,
                    Reach::Own(_) => false,
                })
    }

    /// Whether the gate would let the caller act for `P` on this client's record (its role
    /// and its reach, or an open emergency access where `P` allows one).
    pub fn reaches<P: Purpose>(&self, client: ClientId) -> bool {
        self.may::<P>()
            && (self.is_operator()
                || self.reaches_client(client)
                || (P::EMERGENCY
                    && self.role() != Role::Client
                    && self.emergency_for(client).is_some()))
    }

    /// The audit context of this caller's own request.
    fn audit(&self) -> AuditContext {
        match self.principal {
            Principal::User { id, role, .. } => AuditContext {
                actor_user_id: Some(id),
                actor_role: Some(role),
                request_id: self.request.request_id.clone(),
                source: self.request.source.clone(),
                emergency_access_id: None,
            },
            Principal::Operator { .. } => AuditContext::nobody(),
        }
    }

    fn emergency_for(&self, client: ClientId) -> Option<i64> {
        self.emergency
            .iter()
            .filter(|(c, _)| *c == client)
            .map(|(_, id)| *id)
            .max()
    }

    /// Whether the caller reaches this client through their role's ordinary reach (not
    /// emergency access).
    fn reaches_client(&self, client: ClientId) -> bool {
        match &self.reach {
            Reach::Clinic => true,
            Reach::Programs(p) => p.clients.contains(&client),
            Reach::Caseload(c) => c.clients.contains(&client),
            Reach::Own(own) => *own == client,
            Reach::Nothing => false,
        }
    }
}

/// What an access is for: the action recorded when it is refused, and the roles that may
/// ever act for it. One marker type per purpose, listed in [`purpose`].
pub trait Purpose: Send + Sync + 'static {
    /// The audit action of a refusal (and, by convention, of the store method's entry).
    const ACTION: AuditAction;
    /// The roles that may act for this purpose at all.
    const ROLES: &'static [Role];
    /// Whether an open emergency access to the client's chart stands in for reach.
    const EMERGENCY: bool = false;
    /// Groups: whether a clinician may reach every group (not only those they lead) — for
    /// a group's design facts, never its members.
    const ANY_GROUP: bool = false;
    /// Whether refusals are audited (reads of non-clinical facts such as a group's
    /// schedule are not audited, and neither are their refusals).
    const AUDITED: bool = true;
    /// Whether a director must be clinic-wide for it (creating programs and clinic-wide
    /// instruments, reviewing the audit, granting emergency access): a director linked to
    /// programs is refused with 403.
    const CLINIC_WIDE: bool = false;
    /// Whether the caller must have a clinician record (a note's author and signer are
    /// clinicians: a director without one reads notes but does not write them).
    const NEEDS_CLINICIAN: bool = false;
}

/// The purposes, each with its refusal action and its roles. A store method names the one
/// it needs in its signature.
pub mod purpose {
    use super::Purpose;
    use circle_domain::audit::AuditAction;
    use circle_domain::user::Role;

    macro_rules! purposes {
        ($(
            $(#[$meta:meta])*
            $name:ident = $action:ident [$($role:ident),*]
                $({ $($k:ident = $v:expr),* })? $(=> $($marker:ident),+)?;
        )*) => {$(
            $(#[$meta])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Purpose for $name {
                const ACTION: AuditAction = AuditAction::$action;
                const ROLES: &'static [Role] = &[$(Role::$role),*];
                $($(const $k: bool = $v;)*)?
            }
            $($(impl $marker for $name {})+)?
        )*};
    }

    /// Store methods that serve several purposes name a marker instead of one purpose: the
    /// purposes that implement it may call them. The chart page's one purpose reads every
    /// part of a chart; each part also has its own purpose for the API.
    pub trait ReadsClient: Purpose {}
    pub trait ReadsEpisodes: Purpose {}
    pub trait ReadsMemberships: Purpose {}
    pub trait ReadsConsents: Purpose {}
    pub trait ReadsMeasures: Purpose {}
    pub trait ReadsPlanRuns: Purpose {}
    /// Purposes a seat-offer link may be spent on (reading and answering that offer).
    pub trait ByOfferLink: Purpose {}
    impl ByOfferLink for OfferRead {}
    impl ByOfferLink for OfferWrite {}
    /// Account administration (each purpose its own audit action).
    pub trait AdministersUsers: Purpose {}
    /// Purposes that may read a session's join URL.
    pub trait ReadsJoinUrl: Purpose {}
    impl ReadsJoinUrl for SessionJoinUrl {}

    /// Purposes that set a password, with the audit action of the change.
    pub trait SetsPassword: Purpose {
        const PASSWORD_ACTION: AuditAction;
    }
    impl SetsPassword for UserPasswordReset {
        const PASSWORD_ACTION: AuditAction = AuditAction::UserPasswordReset;
    }
    impl SetsPassword for OwnAccount {
        const PASSWORD_ACTION: AuditAction = AuditAction::UserPasswordChange;
    }

    purposes! {
        // A client's record.
        /// The client's demographic record (the client their own).
        ClientRead = ClientRead [Director, Intake, Clinician, Client, Admin] { EMERGENCY = true }
            => ReadsClient;
        /// The chart page: staff only (a client's own view is the portal); it reads every
        /// part of the chart the caller's role may see.
        ChartRead = ClientRead [Director, Intake, Clinician, Admin] { EMERGENCY = true }
            => ReadsClient, ReadsEpisodes, ReadsMemberships, ReadsConsents, ReadsMeasures;
        ClientCreate = ClientCreate [Director, Intake];
        ClientUpdate = ClientUpdate [Director, Intake] { EMERGENCY = true };
        EpisodeRead = EpisodeRead [Director, Intake, Clinician, Client, Admin] { EMERGENCY = true }
            => ReadsEpisodes;
        /// Admission and step-down: intake admits, clinicians and directors move levels.
        EpisodeCreate = EpisodeCreate [Director, Intake, Clinician] { EMERGENCY = true };
        EpisodeEnd = EpisodeEnd [Director, Clinician] { EMERGENCY = true };
        SeparationRead = SeparationRead [Director, Clinician, Intake] { EMERGENCY = true };
        SeparationCreate = SeparationCreate [Director, Clinician, Intake] { EMERGENCY = true };
        /// Reading why two clients must be kept apart (clinical): not intake.
        SeparationReasons = SeparationRead [Director, Clinician] { AUDITED = false };
        ClientMemberships = MembershipRead [Director, Intake, Clinician, Client, Admin] { EMERGENCY = true }
            => ReadsMemberships;
        DiagnosisRead = DiagnosisRead [Director, Clinician] { EMERGENCY = true };
        DiagnosisUpdate = DiagnosisUpdate [Director, Clinician] { EMERGENCY = true };
        ConsentRead = ConsentRead [Director, Intake, Clinician, Client] { EMERGENCY = true }
            => ReadsConsents;
        /// The group agreement: the client signs, staff record a paper signature.
        AgreementSign = ConsentCreate [Director, Intake, Clinician, Client] { EMERGENCY = true };
        Part2ConsentCreate = ConsentCreate [Director, Intake, Clinician] { EMERGENCY = true };
        ConsentRevoke = ConsentRevoke [Director, Intake, Clinician, Client] { EMERGENCY = true };
        DisclosureCreate = DisclosureCreate [Director, Intake, Clinician] { EMERGENCY = true };
        DisclosureRead = DisclosureRead [Director, Intake, Clinician, Client] { EMERGENCY = true };
        PlacementSuggest = PlacementSuggest [Director, Intake, Clinician] { EMERGENCY = true };
        TransitionRead = TransitionRead [Director, Intake, Clinician] { EMERGENCY = true };
        MeasureCreate = MeasureCreate [Director, Clinician, Client, Admin] { EMERGENCY = true };
        MeasureRead = MeasureRead [Director, Clinician, Client, Admin] { EMERGENCY = true }
            => ReadsMeasures;
        /// Acknowledging a safety alert: the client's clinicians and directors, never under
        /// emergency access (alerts are for the care team).
        AlertAcknowledge = AlertAcknowledge [Director, Clinician];
        /// A client's own schedule (portal and calendar feed).
        ScheduleRead = ScheduleRead [Client];
        FeedWrite = FeedWrite [Client];
        OwnDue = MeasureDueList [Client];

        // Naming a client in a placement (membership, waitlist, referral, plan): the
        // client must be one the caller may place.
        Enroll = MembershipCreate [Director, Intake];
        Waitlist = WaitlistWrite [Director, Intake];
        Refer = ReferralCreate [Director, Intake];
        LinkReferral = ReferralTransition [Director, Intake];
        PlanPlace = PlanApprove [Director] => ReadsPlanRuns;

        // Groups.
        /// A group's design facts (name, schedule, seats, leads): every staff role, a
        /// clinician every group, a scoped director their programs' groups.
        GroupRead = RosterRead [Director, Intake, Clinician, Admin] { ANY_GROUP = true, AUDITED = false };
        GroupDesign = RosterRead [Director] { AUDITED = false };
        GroupMemberships = MembershipRead [Director, Intake, Clinician];
        MembershipUpdate = MembershipUpdate [Director, Intake, Clinician];
        WaitlistRead = WaitlistRead [Director, Intake];
        WaitlistWrite = WaitlistWrite [Director, Intake];

        // Sessions.
        SessionRead = RosterRead [Director, Intake, Clinician, Admin] { ANY_GROUP = true, AUDITED = false };
        RosterRead = RosterRead [Director, Intake, Clinician];
        SessionRun = RosterRead [Director, Clinician];
        AttendanceRead = AttendanceRead [Director, Clinician];
        AttendanceWrite = AttendanceWrite [Director, Clinician];
        NoteRead = NoteRead [Director, Clinician, Admin] { EMERGENCY = true };
        NoteList = NoteList [Director, Clinician];
        NoteWrite = NoteWrite [Director, Clinician] { NEEDS_CLINICIAN = true };
        NoteSign = NoteSign [Director, Clinician] { NEEDS_CLINICIAN = true };
        NoteCosign = NoteCosign [Director, Clinician] { NEEDS_CLINICIAN = true };
        NoteAddendum = NoteAddendum [Director, Clinician] { NEEDS_CLINICIAN = true };

        // Programs.
        ProgramRead = ClientList [Director, Intake, Clinician, Admin] { AUDITED = false };
        ProgramDesign = ClientList [Director] { AUDITED = false };
        ComplianceRead = ComplianceRead [Director, Clinician];
        BillingExport = BillingExport [Director];
        /// A FHIR Bulk Data export (issue 15): a disclosure out of the clinic, started by
        /// a director; its content is what the director reaches.
        BulkExport = DisclosureCreate [Director];
        PlanRun = PlanRunStart [Director];
        /// Building or re-solving a timetable proposal (issue 17): the week's design.
        TimetableBuild = TimetableBuild [Director];
        TimetableApprove = TimetableApprove [Director];

        // Referrals.
        ReferralRead = ReferralRead [Director, Intake, Clinician];
        ReferralTransition = ReferralTransition [Director, Intake];
        /// Intake screens too (DESIGN.md's role table); its comments stay clinical.
        ScreeningCreate = ScreeningCreate [Director, Clinician, Intake];
        /// A screening's comments are clinical: intake sees the decision only.
        ScreeningComments = ReferralRead [Director, Clinician] { AUDITED = false };

        // Offers.
        OfferRead = OfferRead [Director, Intake, Client];
        OfferWrite = OfferWrite [Director, Intake, Client];

        // Listings narrowed to the caller's reach.
        ClientList = ClientList [Director, Intake, Clinician];
        AlertList = AlertList [Director, Clinician];
        MeasureDueList = MeasureDueList [Director, Clinician];
        ReferralList = ReferralList [Director, Intake, Clinician];
        OfferList = OfferRead [Director, Intake, Client];
        OverdueNotes = NoteList [Director, Clinician];
        ReportCensus = ReportCensus [Director, Intake];
        ReportAttendance = ReportAttendance [Director, Clinician];
        ReportOutcomes = ReportOutcomes [Director, Clinician];
        Schedules = RosterRead [Director, Intake, Clinician] { AUDITED = false };
        PlanRead = PlanRunRead [Director] => ReadsPlanRuns;
        TimetableRead = TimetableRead [Director] { AUDITED = false };

        // Role-only actions (no client record).
        InstrumentCreate = InstrumentCreate [Director] { CLINIC_WIDE = true };
        ProgramCreate = ClientList [Director] { AUDITED = false, CLINIC_WIDE = true };
        UserAdmin = UserList [Admin] => AdministersUsers;
        UserCreate = UserCreate [Admin] => AdministersUsers;
        UserRoleChange = UserRoleChange [Admin] => AdministersUsers;
        UserDisable = UserDisable [Admin] => AdministersUsers;
        UserEnable = UserEnable [Admin] => AdministersUsers;
        UserMfaReset = UserMfaReset [Admin] => AdministersUsers;
        UserPasswordReset = UserPasswordReset [Admin] => AdministersUsers;
        UserProgramsChange = UserProgramsChange [Admin] => AdministersUsers;
        /// A signed-in user's own account (their password, their second factor).
        OwnAccount = UserPasswordChange [Admin, Director, Clinician, Intake, Client] { AUDITED = false };
        AuditReview = AuditRead [Admin, Director] { CLINIC_WIDE = true };
        /// Clients by name in the audit report: a clinic-wide director, who sees every
        /// client; an administrator sees their record numbers only (DESIGN.md's role table:
        /// no client content outside emergency access).
        AuditClientNames = ClientList [Director] { AUDITED = false, CLINIC_WIDE = true };
        /// The audit trail as FHIR `AuditEvent`s: administrators only (issue 15).
        AuditEvents = AuditRead [Admin];
        EmergencyReview = EmergencyList [Admin, Director] { CLINIC_WIDE = true };
        /// Granting or revoking the emergency capability: a clinic-wide director, never
        /// for themself (an administrator cannot grant it, so nobody opens a chart alone).
        EmergencyGrant = PrivilegeGrant [Director] { CLINIC_WIDE = true };
        EmergencyOpen = EmergencyOpen [Admin, Director, Clinician, Intake];
        ClinicSetup = ClientList [Director, Admin] { AUDITED = false };
        /// The outbox's dead letters (no address, no content): administrators.
        MessageAdmin = MessageList [Admin];
        /// Recording a client's consent to be contacted (or its withdrawal): intake and
        /// directors, and the client themself in the portal.
        ContactConsentWrite = ConsentCreate [Director, Intake, Client] { EMERGENCY = true };
        StaffRead = ClientList [Director, Intake, Clinician, Admin] { AUDITED = false };

        // Calendars and telehealth (issue 15).
        /// A staff calendar feed made, replaced or revoked: a clinician their own, intake
        /// and clinic-wide directors any clinician's or room's (schedules hold no client
        /// data, but a feed outlives the session that made it, so it is recorded).
        StaffFeedWrite = FeedWrite [Director, Intake, Clinician] { CLINIC_WIDE = true };
        /// Setting a group's join URL: whoever designs the group.
        GroupJoinUrl = RosterRead [Director] { AUDITED = false };
        /// Reading a session's join URL, or overriding it for one session: the session's
        /// facilitators and directors of its program — never intake or administrators,
        /// who have no part in the meeting.
        SessionJoinUrl = RosterRead [Director, Clinician] { AUDITED = false };
        /// The clinic's calendar settings (clinic-wide directors and administrators).
        CalendarSettings = ClientList [Director, Admin] { AUDITED = false, CLINIC_WIDE = true };

        // Onboarding (issue 15).
        /// Importing a clinic's CSV files: an administrator (or the binary's operator).
        ClinicImport = ClinicImport [Admin];
        /// Writing the clinic's records out as the import's CSV files: the binary's
        /// operator (no page or route offers it).
        ClinicExport = ClinicExport [Admin];
    }
}

macro_rules! access_value {
    ($(#[$meta:meta])* $name:ident, $id:ty, $getter:ident) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name<P: Purpose> {
            id: $id,
            ctx: AuditContext,
            role: Option<Role>,
            clinician: Option<ClinicianId>,
            _purpose: PhantomData<P>,
        }

        impl<P: Purpose> $name<P> {
            fn grant(actor: &Actor, id: $id, ctx: AuditContext) -> Self {
                Self {
                    id,
                    ctx,
                    role: (!actor.is_operator()).then(|| actor.role()),
                    clinician: actor.clinician_id(),
                    _purpose: PhantomData,
                }
            }

            pub fn $getter(&self) -> $id {
                self.id
            }

            /// The audit context its entries carry (with the emergency access, if that
            /// is what opened it).
            pub fn audit(&self) -> &AuditContext {
                &self.ctx
            }

            /// The caller's role (`None` for the operator).
            pub fn role(&self) -> Option<Role> {
                self.role
            }

            /// The caller's clinician record, if any.
            pub fn clinician(&self) -> Option<ClinicianId> {
                self.clinician
            }

            /// The emergency access that opened it, if any.
            pub fn emergency_access_id(&self) -> Option<i64> {
                self.ctx.emergency_access_id
            }
        }
    };
}

access_value!(
    /// Proof that the caller may act for `P` on one client's record.
    ClientAccess, ClientId, client
);
access_value!(
    /// Proof that the caller may name one client in a placement `P` (a membership, a
    /// waitlist entry, a referral, a plan): the client is in reach, or — for a director
    /// linked to programs — held by no program yet.
    PlaceAccess, ClientId, client
);
access_value!(
    /// Proof that the caller may act for `P` on one group.
    GroupAccess, GroupId, group
);
access_value!(
    /// Proof that the caller may act for `P` on one session (of a group in reach, or one
    /// the clinician was recorded as facilitating).
    SessionAccess, SessionId, session
);
access_value!(
    /// Proof that the caller may act for `P` on one member's progress note in one session
    /// (the session's facilitators and directors, or — to read — an emergency access to
    /// that member's chart).
    ProgressAccess, (SessionId, ClientId), subject
);
access_value!(
    /// Proof that the caller may act for `P` on one program.
    ProgramAccess, ProgramId, program
);
access_value!(
    /// Proof that the caller may act for `P` on one referral.
    ReferralAccess, i64, referral
);
access_value!(
    /// Proof that the caller may act for `P` on one seat offer.
    OfferAccess, OfferId, offer
);

/// Proof that the caller's role may act for `P`, for actions on no client record (a
/// clinic's set-up, account administration, the audit review).
#[derive(Debug)]
pub struct RoleAccess<P: Purpose> {
    ctx: AuditContext,
    user: UserId,
    _purpose: PhantomData<P>,
}

impl<P: Purpose> RoleAccess<P> {
    pub fn audit(&self) -> &AuditContext {
        &self.ctx
    }

    /// The acting user (`UserId(0)` for the operator).
    pub fn user(&self) -> UserId {
        self.user
    }
}

/// Proof of which clients, groups and programs a listing for `P` may return, with the
/// audit context of its entry. Listings are narrowed in SQL by the scope it carries.
#[derive(Debug)]
pub struct Listing<P: Purpose> {
    ctx: AuditContext,
    scope: ListScope,
    _purpose: PhantomData<P>,
}

/// The rows a listing may return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Every row (intake, a clinic-wide director, the operator).
    All,
    /// A director linked to programs: rows of these programs (and the clients reached
    /// through them).
    Programs {
        director: UserId,
        programs: Vec<ProgramId>,
    },
    /// A clinician: their groups and caseload.
    Caseload { clinician: ClinicianId, since: Date },
    /// A client: their own rows.
    Own(ClientId),
}

impl<P: Purpose> Listing<P> {
    /// The system's own listing of every row (the mail worker's digests): audited with no
    /// actor, as the system.
    pub(crate) fn system() -> Self {
        Self {
            ctx: AuditContext::nobody(),
            scope: ListScope::All,
            _purpose: PhantomData,
        }
    }

    pub fn audit(&self) -> &AuditContext {
        &self.ctx
    }

    pub fn scope(&self) -> &ListScope {
        &self.scope
    }

    /// The client scope of SQL listings over clients.
    pub(crate) fn client_scope(&self) -> ClientScope {
        match &self.scope {
            ListScope::All => ClientScope::All,
            ListScope::Programs { director, .. } => ClientScope::Programs {
                director: *director,
            },
            ListScope::Caseload { clinician, since } => ClientScope::Caseload {
                clinician: *clinician,
                since: *since,
            },
            // A client's own listings go through their own paths; as a client scope,
            // nothing else is listed.
            ListScope::Own(_) => ClientScope::Caseload {
                clinician: ClinicianId(-1),
                since: Date::MAX,
            },
        }
    }

    /// The programs a director linked to programs may list; `None` for every other scope.
    pub fn only_programs(&self) -> Option<&[ProgramId]> {
        match &self.scope {
            ListScope::Programs { programs, .. } => Some(programs),
            _ => None,
        }
    }

    /// The clinician whose groups narrow the listing, for a clinician.
    pub fn only_clinician(&self) -> Option<ClinicianId> {
        match &self.scope {
            ListScope::Caseload { clinician, .. } => Some(*clinician),
            _ => None,
        }
    }
}

/// A lookup's row, or `None` when it found none (any other error passes on).
fn found<T>(r: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(x) => Ok(Some(x)),
        Err(StoreError::Domain(DomainError::NotFound { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why the gate refused.
enum Refusal {
    /// The role may never act for this purpose: 403.
    Role,
    /// The record is out of reach: 404, its existence not confirmed.
    Reach(&'static str),
}

impl Store {
    /// The caller a bearer token (by its digest) stands for, if valid now, with its reach
    /// resolved once for the whole request. `caseload_since` is the first day a clinician's
    /// ended memberships still count toward their caseload.
    pub async fn actor_for_token(
        &self,
        token_hash: &str,
        now: Timestamp,
        idle: jiff::SignedDuration,
        caseload_since: Date,
    ) -> Result<Option<Actor>, StoreError> {
        let Some(user) = self.user_for_token(token_hash, now, idle).await? else {
            return Ok(None);
        };
        let reach = self
            .reach_of(
                user.id,
                user.role,
                user.clinician_id,
                user.client_id,
                caseload_since,
            )
            .await?;
        let emergency: Vec<(i64, i64)> = if user.role == Role::Client {
            Vec::new()
        } else {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT ea.client_id, ea.id FROM emergency_accesses ea \
                 JOIN emergency_grants g ON g.user_id = ea.user_id \
                 WHERE ea.user_id = $1 AND ea.started_at <= $2 AND ea.expires_at > $2",
            )
            .bind(user.id.0)
            .bind(ts(now))
            .fetch_all(self.pool())
            .await?;
            rows
        };
        Ok(Some(Actor {
            principal: Principal::User {
                id: user.id,
                role: user.role,
                clinician: user.clinician_id,
                client: user.client_id,
            },
            request: RequestMeta::default(),
            reach,
            emergency: Arc::new(
                emergency
                    .into_iter()
                    .map(|(c, id)| (ClientId(c), id))
                    .collect(),
            ),
        }))
    }

    /// The actor a background job runs as: its requester's account as it stands now
    /// (role and reach resolved afresh, never an emergency access), or `None` when the
    /// account is gone or disabled. For jobs a signed-in user started (a FHIR export),
    /// so the job reads exactly what its requester may read today.
    pub async fn actor_for_user(
        &self,
        user: UserId,
        caseload_since: Date,
    ) -> Result<Option<Actor>, StoreError> {
        let Some(user) = found(self.user(user).await)? else {
            return Ok(None);
        };
        if user.disabled {
            return Ok(None);
        }
        let reach = self
            .reach_of(
                user.id,
                user.role,
                user.clinician_id,
                user.client_id,
                caseload_since,
            )
            .await?;
        Ok(Some(Actor {
            principal: Principal::User {
                id: user.id,
                role: user.role,
                clinician: user.clinician_id,
                client: user.client_id,
            },
            request: RequestMeta::default(),
            reach,
            emergency: Arc::new(Vec::new()),
        }))
    }

    /// The operator: the `circle` binary's own tasks (seeding the demo, importing a
    /// clinic's files), which pass every check and whose audit entries name no actor.
    /// Only the binary and the tests enable the `operator` feature; the services and the
    /// web layer are built without it (CI checks them alone), so no request can act as
    /// the operator.
    #[cfg(feature = "operator")]
    pub fn operator(&self) -> Actor {
        self.operator_as(None)
    }

    /// The operator writing as a clinician (a seeded note's author).
    #[cfg(feature = "operator")]
    pub fn operator_as(&self, clinician: Option<ClinicianId>) -> Actor {
        Actor {
            principal: Principal::Operator { clinician },
            request: RequestMeta::default(),
            reach: Reach::Clinic,
            emergency: Arc::new(Vec::new()),
        }
    }

    async fn reach_of(
        &self,
        user: UserId,
        role: Role,
        clinician: Option<ClinicianId>,
        client: Option<ClientId>,
        since: Date,
    ) -> Result<Reach, StoreError> {
        Ok(match role {
            Role::Intake => Reach::Clinic,
            Role::Director => {
                let clinic_wide: i64 =
                    sqlx::query_scalar("SELECT clinic_wide FROM users WHERE id = $1")
                        .bind(user.0)
                        .fetch_one(self.pool())
                        .await?;
                if clinic_wide != 0 {
                    Reach::Clinic
                } else {
                    let programs = self.director_programs(user).await?;
                    let groups: Vec<i64> = sqlx::query_scalar(
                        "SELECT g.id FROM therapy_groups g JOIN director_programs dp \
                         ON dp.program_id = g.program_id WHERE dp.user_id = $1",
                    )
                    .bind(user.0)
                    .fetch_all(self.pool())
                    .await?;
                    let clients: Vec<i64> = sqlx::query_scalar(&format!(
                        "SELECT c.id FROM clients c WHERE {}",
                        crate::director_programs::director_client("$1")
                    ))
                    .bind(user.0)
                    .fetch_all(self.pool())
                    .await?;
                    Reach::Programs(Arc::new(ProgramReach {
                        programs: programs.into_iter().collect(),
                        groups: groups.into_iter().map(GroupId).collect(),
                        clients: clients.into_iter().map(ClientId).collect(),
                    }))
                }
            }
            Role::Clinician => match clinician {
                Some(c) => {
                    let groups: Vec<i64> = sqlx::query_scalar(
                        "SELECT id FROM therapy_groups \
                         WHERE lead_facilitator_id = $1 OR co_facilitator_id = $1",
                    )
                    .bind(c.0)
                    .fetch_all(self.pool())
                    .await?;
                    let clients: Vec<i64> = sqlx::query_scalar(&format!(
                        "SELECT c.id FROM clients c WHERE EXISTS ({})",
                        crate::people::caseload("$1", "$2")
                    ))
                    .bind(c.0)
                    .bind(date(since))
                    .fetch_all(self.pool())
                    .await?;
                    Reach::Caseload(Arc::new(Caseload {
                        clinician: c,
                        since,
                        groups: groups.into_iter().map(GroupId).collect(),
                        clients: clients.into_iter().map(ClientId).collect(),
                    }))
                }
                None => Reach::Nothing,
            },
            Role::Client => client.map_or(Reach::Nothing, Reach::Own),
            Role::Admin => Reach::Nothing,
        })
    }

    /// Writes the audit entry of a refusal and returns the error to answer with.
    async fn refuse<P: Purpose>(
        &self,
        actor: &Actor,
        refusal: Refusal,
        clients: &[ClientId],
        object: Option<String>,
        at: Timestamp,
    ) -> StoreError {
        if P::AUDITED
            && let Err(e) = self
                .record_denied(&actor.audit(), P::ACTION, clients, object, at)
                .await
        {
            return e;
        }
        match refusal {
            Refusal::Role => DomainError::Forbidden.into(),
            // An administrator reaches no record but through emergency access: their
            // refusal says so (403) rather than hiding the record.
            Refusal::Reach(_) if actor.role() == Role::Admin && !actor.is_operator() => {
                DomainError::Forbidden.into()
            }
            Refusal::Reach(what) => DomainError::not_found(what).into(),
        }
    }

    /// Checks that the caller's role may act for `P` at all.
    ///
    /// `what` names the record an object gate guards: a client refused on one that is not
    /// their own record gets 404 like any record out of reach, so probing ids cannot tell
    /// other people's records from ids that do not exist.
    async fn check_role<P: Purpose>(
        &self,
        actor: &Actor,
        what: Option<&'static str>,
        clients: &[ClientId],
        object: Option<String>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        // (The operator passes: `may` holds for it, and it records nothing as a clinician.)
        let no_record =
            P::NEEDS_CLINICIAN && actor.clinician_id().is_none() && !actor.is_operator();
        if actor.may::<P>() && !no_record {
            Ok(())
        } else {
            // Their own record they know exists: for it a client hears "not allowed".
            let own = actor.client_id().is_some_and(|c| clients == [c]);
            let refusal = match what {
                Some(what) if actor.role() == Role::Client && !own => Refusal::Reach(what),
                _ => Refusal::Role,
            };
            Err(self.refuse::<P>(actor, refusal, clients, object, at).await)
        }
    }

    /// The gate to a client's record.
    pub async fn client_access<P: Purpose>(
        &self,
        actor: &Actor,
        client: ClientId,
        at: Timestamp,
    ) -> Result<ClientAccess<P>, StoreError> {
        self.check_role::<P>(actor, Some("client"), &[client], None, at)
            .await?;
        if actor.is_operator() || actor.reaches_client(client) {
            // A reach that is a list of ids holds only clients that exist; the operator's
            // and a clinic-wide reach hold any id, so existence is asked here, once, and a
            // write naming a missing client is 404 like a read of it (never a foreign-key
            // failure further down).
            let listed = !actor.is_operator() && !matches!(actor.reach, Reach::Clinic);
            if !listed && !self.client_exists(client).await? {
                return Err(DomainError::not_found("client").into());
            }
            return Ok(ClientAccess::grant(actor, client, actor.audit()));
        }
        if P::EMERGENCY
            && actor.role() != Role::Client
            && let Some(id) = actor.emergency_for(client)
        {
            let ctx = AuditContext {
                emergency_access_id: Some(id),
                ..actor.audit()
            };
            return Ok(ClientAccess::grant(actor, client, ctx));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("client"), &[client], None, at)
            .await)
    }

    /// The gate to naming a client in a placement: intake and clinic-wide directors place
    /// anyone; a director linked to programs places clients they reach and clients no
    /// program holds yet (a new record), never someone another program holds — placing
    /// them would bring that chart into reach.
    pub async fn place_access<P: Purpose>(
        &self,
        actor: &Actor,
        client: ClientId,
        at: Timestamp,
    ) -> Result<PlaceAccess<P>, StoreError> {
        self.check_role::<P>(actor, Some("client"), &[client], None, at)
            .await?;
        let allowed = actor.is_operator()
            || match &actor.reach {
                Reach::Clinic => true,
                Reach::Programs(p) => {
                    p.clients.contains(&client) || !self.client_attached(client).await?
                }
                _ => false,
            };
        if allowed && self.client_exists(client).await? {
            return Ok(PlaceAccess::grant(actor, client, actor.audit()));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("client"), &[client], None, at)
            .await)
    }

    /// The gate to a group.
    pub async fn group_access<P: Purpose>(
        &self,
        actor: &Actor,
        group: GroupId,
        at: Timestamp,
    ) -> Result<GroupAccess<P>, StoreError> {
        let object = Some(group.to_string());
        self.check_role::<P>(actor, Some("group"), &[], object.clone(), at)
            .await?;
        if !self.group_exists(group).await? {
            return Err(DomainError::not_found("group").into());
        }
        if actor.reaches_group::<P>(group) {
            return Ok(GroupAccess::grant(actor, group, actor.audit()));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("group"), &[], object, at)
            .await)
    }

    /// The gate to a session: its group's rule, and a clinician recorded as facilitating
    /// it (a substitute) passes too.
    pub async fn session_access<P: Purpose>(
        &self,
        actor: &Actor,
        session: SessionId,
        at: Timestamp,
    ) -> Result<SessionAccess<P>, StoreError> {
        let object = Some(session.to_string());
        self.check_role::<P>(actor, Some("session"), &[], object.clone(), at)
            .await?;
        let (group, present) = self.session_group(session).await?;
        let substitute = actor
            .clinician_id()
            .is_some_and(|c| actor.role() == Role::Clinician && present.contains(&c));
        if substitute || actor.reaches_group::<P>(group) {
            return Ok(SessionAccess::grant(actor, session, actor.audit()));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("session"), &[], object, at)
            .await)
    }

    /// The gate to one member's progress note in a session: the session's rule, or — to
    /// read it — an open emergency access to the member's chart.
    pub async fn progress_note_access<P: Purpose>(
        &self,
        actor: &Actor,
        session: SessionId,
        client: ClientId,
        at: Timestamp,
    ) -> Result<ProgressAccess<P>, StoreError> {
        let object = Some(session.to_string());
        self.check_role::<P>(actor, Some("note"), &[client], object.clone(), at)
            .await?;
        let (group, present) = self.session_group(session).await?;
        let substitute = actor
            .clinician_id()
            .is_some_and(|c| actor.role() == Role::Clinician && present.contains(&c));
        if substitute || actor.reaches_group::<P>(group) {
            return Ok(ProgressAccess::grant(
                actor,
                (session, client),
                actor.audit(),
            ));
        }
        if P::EMERGENCY
            && let Some(id) = actor.emergency_for(client)
        {
            let ctx = AuditContext {
                emergency_access_id: Some(id),
                ..actor.audit()
            };
            return Ok(ProgressAccess::grant(actor, (session, client), ctx));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("session"), &[client], object, at)
            .await)
    }

    /// The gate to a progress note by its id. The role is asked before anyone learns
    /// whether the note exists (a missing id and another's note get the same answer);
    /// then the note's session and member pass [`Store::progress_note_access`].
    pub async fn progress_note_access_by_id<P: Purpose>(
        &self,
        actor: &Actor,
        note: NoteId,
        at: Timestamp,
    ) -> Result<ProgressAccess<P>, StoreError> {
        let subject = found(self.progress_note_subject(note).await)?;
        let clients: Vec<ClientId> = subject.iter().map(|(_, c)| *c).collect();
        self.check_role::<P>(actor, Some("note"), &clients, Some(note.to_string()), at)
            .await?;
        let (session, client) = subject.ok_or_else(|| DomainError::not_found("note"))?;
        self.progress_note_access(actor, session, client, at).await
    }

    /// The gate to a waitlist entry by its id: the role first, as for a note; then the
    /// entry's group passes [`Store::group_access`].
    pub async fn waitlist_entry_access<P: Purpose>(
        &self,
        actor: &Actor,
        entry: WaitlistEntryId,
        at: Timestamp,
    ) -> Result<GroupAccess<P>, StoreError> {
        let owner = found(self.waitlist_entry_owner(entry).await)?;
        let clients: Vec<ClientId> = owner.iter().map(|(_, c)| *c).collect();
        self.check_role::<P>(
            actor,
            Some("waitlist entry"),
            &clients,
            Some(entry.to_string()),
            at,
        )
        .await?;
        let (group, _) = owner.ok_or_else(|| DomainError::not_found("waitlist entry"))?;
        self.group_access(actor, group, at).await
    }

    /// The gate to a program: every program for the clinic-wide, a director's linked
    /// programs for a scoped director.
    pub async fn program_access<P: Purpose>(
        &self,
        actor: &Actor,
        program: ProgramId,
        at: Timestamp,
    ) -> Result<ProgramAccess<P>, StoreError> {
        self.check_role::<P>(
            actor,
            Some("program"),
            &[],
            Some(format!("program:{}", program.0)),
            at,
        )
        .await?;
        if !self.program_exists(program).await? {
            return Err(DomainError::not_found("program").into());
        }
        let allowed = actor.is_operator()
            || match &actor.reach {
                Reach::Programs(p) => p.programs.contains(&program),
                // Clinicians and administrators read every program's settings (not
                // clinical); only directors are narrowed to theirs.
                _ => true,
            };
        if allowed {
            return Ok(ProgramAccess::grant(actor, program, actor.audit()));
        }
        Err(self
            .refuse::<P>(
                actor,
                Refusal::Reach("program"),
                &[],
                Some(format!("program:{}", program.0)),
                at,
            )
            .await)
    }

    /// The gate to a referral: intake and clinic-wide directors every referral, a scoped
    /// director those aimed at their programs, a clinician those they are assigned to
    /// screen.
    pub async fn referral_access<P: Purpose>(
        &self,
        actor: &Actor,
        referral: i64,
        at: Timestamp,
    ) -> Result<ReferralAccess<P>, StoreError> {
        let object = Some(referral.to_string());
        self.check_role::<P>(actor, Some("referral"), &[], object.clone(), at)
            .await?;
        let allowed = actor.is_operator()
            || match &actor.reach {
                Reach::Clinic => self.referral_exists(referral).await?,
                Reach::Programs(p) => self
                    .referral_program(referral)
                    .await?
                    .is_some_and(|prog| p.programs.contains(&prog)),
                Reach::Caseload(c) => self.referral_screener(referral).await? == Some(c.clinician),
                _ => false,
            };
        if allowed {
            return Ok(ReferralAccess::grant(actor, referral, actor.audit()));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("referral"), &[], object, at)
            .await)
    }

    /// The gate to a seat offer: intake every offer, a director the offers of their
    /// groups, a client their own.
    pub async fn offer_access<P: Purpose>(
        &self,
        actor: &Actor,
        offer: OfferId,
        at: Timestamp,
    ) -> Result<OfferAccess<P>, StoreError> {
        let object = Some(format!("offer:{}", offer.0));
        self.check_role::<P>(actor, Some("offer"), &[], object.clone(), at)
            .await?;
        let (client, group) = match self.offer_owner(offer).await? {
            Some(x) => x,
            None => return Err(DomainError::not_found("offer").into()),
        };
        let allowed = actor.is_operator()
            || match &actor.reach {
                Reach::Clinic => true,
                Reach::Programs(p) => p.groups.contains(&group),
                Reach::Own(own) => *own == client,
                _ => false,
            };
        if allowed {
            return Ok(OfferAccess::grant(actor, offer, actor.audit()));
        }
        Err(self
            .refuse::<P>(actor, Refusal::Reach("offer"), &[client], object, at)
            .await)
    }

    /// The gate to a listing: the scope of rows the caller may see.
    pub async fn listing<P: Purpose>(
        &self,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<Listing<P>, StoreError> {
        self.check_role::<P>(actor, None, &[], None, at).await?;
        let scope = if actor.is_operator() {
            ListScope::All
        } else {
            match &actor.reach {
                Reach::Clinic => ListScope::All,
                Reach::Programs(p) => ListScope::Programs {
                    director: actor.user_id(),
                    programs: p.programs.iter().copied().collect(),
                },
                Reach::Caseload(c) => ListScope::Caseload {
                    clinician: c.clinician,
                    since: c.since,
                },
                Reach::Own(c) => ListScope::Own(*c),
                Reach::Nothing => {
                    return Err(self.refuse::<P>(actor, Refusal::Role, &[], None, at).await);
                }
            }
        };
        Ok(Listing {
            ctx: actor.audit(),
            scope,
            _purpose: PhantomData,
        })
    }

    /// Admission of a client into a program by a director linked to programs: the
    /// placement rule (a client they reach, or one no program holds yet) is what lets them
    /// open the client's first episode in one of their programs.
    pub fn admission(
        &self,
        place: PlaceAccess<purpose::EpisodeCreate>,
    ) -> ClientAccess<purpose::EpisodeCreate> {
        ClientAccess {
            id: place.id,
            ctx: place.ctx,
            role: place.role,
            clinician: place.clinician,
            _purpose: PhantomData,
        }
    }

    /// The gate to a client's schedule by the secret of their calendar feed (by its
    /// digest): a calendar app cannot sign in, so the secret is the capability. An unknown
    /// or revoked secret reaches nothing.
    pub async fn feed_access(
        &self,
        secret_hash: &str,
        request: &RequestMeta,
    ) -> Result<Option<ClientAccess<purpose::ScheduleRead>>, StoreError> {
        Ok(self
            .calendar_feed_client(secret_hash)
            .await?
            .map(|client| ClientAccess {
                id: client,
                ctx: AuditContext::public(request),
                role: None,
                clinician: None,
                _purpose: PhantomData,
            }))
    }

    /// The gate to a staff calendar feed for `target`: the role must be one that may
    /// (StaffFeedWrite), and a clinician only reaches their own feed (a room's feed, or
    /// another clinician's, is refused with 403 and recorded).
    pub async fn staff_feed_access(
        &self,
        actor: &Actor,
        target: crate::feeds::FeedTarget,
        at: Timestamp,
    ) -> Result<RoleAccess<purpose::StaffFeedWrite>, StoreError> {
        self.check_role::<purpose::StaffFeedWrite>(actor, None, &[], None, at)
            .await?;
        let own = matches!(target, crate::feeds::FeedTarget::Clinician(c) if actor.clinician_id() == Some(c));
        if actor.role() == Role::Clinician && !actor.is_operator() && !own {
            return Err(self
                .refuse::<purpose::StaffFeedWrite>(
                    actor,
                    Refusal::Role,
                    &[],
                    Some(target.object()),
                    at,
                )
                .await);
        }
        Ok(RoleAccess {
            ctx: actor.audit(),
            user: actor.user_id(),
            _purpose: PhantomData,
        })
    }

    /// The gate to a seat offer by the secret of the link its message carried (issue 18):
    /// the person offered the seat has no account, so the link is the capability. It
    /// reaches that one offer, only while the link is unused and the offer open; otherwise
    /// it says why (used, expired), or `None` for a link that does not exist.
    pub async fn offer_link_access<P: purpose::ByOfferLink>(
        &self,
        secret: &str,
        request: &RequestMeta,
        at: Timestamp,
    ) -> Result<Option<Result<OfferAccess<P>, crate::messages::LinkOutcome>>, StoreError> {
        Ok(self
            .offer_link(secret, at)
            .await?
            .map(|(offer, outcome)| match outcome {
                crate::messages::LinkOutcome::Done => Ok(OfferAccess {
                    id: offer,
                    ctx: AuditContext::public(request),
                    role: None,
                    clinician: None,
                    _purpose: PhantomData,
                }),
                other => Err(other),
            }))
    }

    /// The gate to a role-only action.
    pub async fn role_access<P: Purpose>(
        &self,
        actor: &Actor,
        at: Timestamp,
    ) -> Result<RoleAccess<P>, StoreError> {
        self.check_role::<P>(actor, None, &[], None, at).await?;
        Ok(RoleAccess {
            ctx: actor.audit(),
            user: actor.user_id(),
            _purpose: PhantomData,
        })
    }

    /// Records a refusal decided outside the gate's own checks (a rule that needs the
    /// record itself, such as a client answering a staff-only instrument).
    pub async fn record_refusal<P: Purpose>(
        &self,
        actor: &Actor,
        clients: &[ClientId],
        object: Option<String>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if P::AUDITED {
            self.record_denied(&actor.audit(), P::ACTION, clients, object, at)
                .await?;
        }
        Ok(())
    }

    async fn group_exists(&self, group: GroupId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM therapy_groups WHERE id = $1")
            .bind(group.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    async fn program_exists(&self, program: ProgramId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM programs WHERE id = $1")
            .bind(program.0)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    async fn referral_exists(&self, referral: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM referrals WHERE id = $1")
            .bind(referral)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// A session's group and the clinicians recorded as facilitating it.
    async fn session_group(
        &self,
        session: SessionId,
    ) -> Result<(GroupId, Vec<ClinicianId>), StoreError> {
        let s = self.session(session).await?;
        Ok((s.group_id, s.facilitators_present))
    }

    /// An offer's client and group, if the offer exists.
    async fn offer_owner(&self, offer: OfferId) -> Result<Option<(ClientId, GroupId)>, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT client_id, group_id FROM offers WHERE id = $1")
                .bind(offer.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(c, g)| (ClientId(c), GroupId(g))))
    }
}

/// The operator's side of the gate, for the binary's own tasks and the tests: the same
/// gate calls, as the operator (`Store::op().client::<P>(id)`).
#[cfg(feature = "operator")]
pub struct Operator<'a> {
    store: &'a Store,
    actor: Actor,
}

#[cfg(feature = "operator")]
impl Store {
    /// The gate as the operator.
    pub fn op(&self) -> Operator<'_> {
        Operator {
            store: self,
            actor: self.operator(),
        }
    }

    /// Appends one refused-attempt entry as the operator (tests that grow the audit chain).
    pub async fn op_audit_entry(
        &self,
        action: AuditAction,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.record_denied(&AuditContext::nobody(), action, &[], None, at)
            .await
    }

    /// The gate as the operator writing as `clinician` (a seeded note's author).
    pub fn op_as(&self, clinician: ClinicianId) -> Operator<'_> {
        Operator {
            store: self,
            actor: self.operator_as(Some(clinician)),
        }
    }
}

#[cfg(feature = "operator")]
impl Operator<'_> {
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub async fn client<P: Purpose>(&self, id: ClientId) -> Result<ClientAccess<P>, StoreError> {
        self.store
            .client_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn place<P: Purpose>(&self, id: ClientId) -> Result<PlaceAccess<P>, StoreError> {
        self.store
            .place_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn group<P: Purpose>(&self, id: GroupId) -> Result<GroupAccess<P>, StoreError> {
        self.store
            .group_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn session<P: Purpose>(&self, id: SessionId) -> Result<SessionAccess<P>, StoreError> {
        self.store
            .session_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn progress<P: Purpose>(
        &self,
        session: SessionId,
        client: ClientId,
    ) -> Result<ProgressAccess<P>, StoreError> {
        self.store
            .progress_note_access(&self.actor, session, client, Timestamp::now())
            .await
    }

    pub async fn program<P: Purpose>(&self, id: ProgramId) -> Result<ProgramAccess<P>, StoreError> {
        self.store
            .program_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn referral<P: Purpose>(&self, id: i64) -> Result<ReferralAccess<P>, StoreError> {
        self.store
            .referral_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn offer<P: Purpose>(&self, id: OfferId) -> Result<OfferAccess<P>, StoreError> {
        self.store
            .offer_access(&self.actor, id, Timestamp::now())
            .await
    }

    pub async fn listing<P: Purpose>(&self) -> Result<Listing<P>, StoreError> {
        self.store.listing(&self.actor, Timestamp::now()).await
    }

    pub async fn role<P: Purpose>(&self) -> Result<RoleAccess<P>, StoreError> {
        self.store.role_access(&self.actor, Timestamp::now()).await
    }
}
