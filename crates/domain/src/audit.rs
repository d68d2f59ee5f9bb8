//! The audit trail's vocabulary: what was done to which kind of clinical data, by whom, with
//! what outcome. Entries never hold names, notes or other content — only ids.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::vocab;
use crate::ids::{ClientId, UserId};
use crate::user::Role;

vocab!(
    /// What happened (create, read, update, delete or export, on one kind of record).
    AuditAction {
        ClientRead = "client.read",
        ClientList = "client.list",
        ClientCreate = "client.create",
        ClientUpdate = "client.update",
        EpisodeRead = "episode.read",
        EpisodeCreate = "episode.create",
        EpisodeEnd = "episode.end",
        SeparationRead = "separation.read",
        SeparationCreate = "separation.create",
        MembershipRead = "membership.read",
        MembershipCreate = "membership.create",
        MembershipUpdate = "membership.update",
        RosterRead = "roster.read",
        AttendanceRead = "attendance.read",
        AttendanceWrite = "attendance.write",
        AuditRead = "audit.read",
        UserCreate = "user.create",
        EmergencyOpen = "emergency.open",
        EmergencyList = "emergency.list",
        PrivilegeGrant = "privilege.grant",
        PrivilegeRevoke = "privilege.revoke",
        DiagnosisRead = "diagnosis.read",
        DiagnosisUpdate = "diagnosis.update",
        ComplianceRead = "compliance.read",
        BillingExport = "billing.export",
        // --- measures ---
        InstrumentCreate = "instrument.create",
        MeasureCreate = "measure.create",
        MeasureRead = "measure.read",
        MeasureDueList = "measure.due_list",
        AlertList = "alert.list",
        AlertAcknowledge = "alert.acknowledge",
        ReferralCreate = "referral.create",
        ReferralRead = "referral.read",
        ReferralList = "referral.list",
        ReferralTransition = "referral.transition",
        ScreeningCreate = "screening.create",
        ConsentRead = "consent.read",
        ConsentCreate = "consent.create",
        ConsentRevoke = "consent.revoke",
        DisclosureCreate = "disclosure.create",
        DisclosureRead = "disclosure.read",
        PlacementSuggest = "placement.suggest",
        TransitionRead = "transition.read",
        WaitlistRead = "waitlist.read",
        WaitlistWrite = "waitlist.write",
        OfferRead = "offer.read",
        OfferWrite = "offer.write",
        NoteRead = "note.read",
        NoteList = "note.list",
        NoteWrite = "note.write",
        NoteSign = "note.sign",
        NoteCosign = "note.cosign",
        NoteAddendum = "note.addendum",
        // --- security: account administration (issue 4) ---
        UserList = "user.list",
        UserRoleChange = "user.role_change",
        UserDisable = "user.disable",
        UserEnable = "user.enable",
        UserMfaReset = "user.mfa_reset",
        UserPasswordReset = "user.password_reset",
        UserPasswordChange = "user.password_change",
        /// A director's programs linked or unlinked (who they are scoped to).
        UserProgramsChange = "user.programs_change",
        // --- portal ---
        /// A client's own schedule read (the portal or their calendar feed).
        ScheduleRead = "schedule.read",
        /// A client's calendar feed created, replaced or revoked.
        FeedWrite = "feed.write",
        // --- end portal ---
        // --- reports ---
        ReportCensus = "report.census",
        ReportAttendance = "report.attendance",
        ReportOutcomes = "report.outcomes",
        // --- end reports ---
        // --- planner ---
        PlanRunStart = "plan.run_start",
        PlanRunRead = "plan.run_read",
        PlanApprove = "plan.approve",
        // --- end planner ---
        /// A timetable proposal built or re-solved (no client data).
        TimetableBuild = "timetable.build",
        TimetableRead = "timetable.read",
        /// A timetable proposal approved: groups' meetings, rooms and leads changed.
        TimetableApprove = "timetable.approve",
        /// A message handed to the mail server (recipient's record, kind, time; no content).
        MessageSend = "message.send",
        /// The outbox's dead letters reviewed.
        MessageList = "message.list",
        /// A clinic's CSV files imported (issue 15): one entry naming the counts created.
        ClinicImport = "clinic.import",
        /// A clinic's records written out as the import's CSV files.
        ClinicExport = "clinic.export",
    }
);

vocab!(
    /// The category of data touched (minimum-necessary reviews ask "who saw what kind").
    DataCategory {
        Demographics = "demographics",
        CareLevel = "care_level",
        Separation = "separation",
        Membership = "membership",
        Attendance = "attendance",
        Audit = "audit",
        Account = "account",
        Emergency = "emergency",
        Diagnosis = "diagnosis",
        Billing = "billing",
        // --- measures ---
        /// Outcome measures: instruments, responses, scores, due lists.
        Measure = "measure",
        /// Safety alerts raised by measure answers.
        SafetyAlert = "safety_alert",
        Referral = "referral",
        Screening = "screening",
        Consent = "consent",
        Disclosure = "disclosure",
        Waitlist = "waitlist",
        Note = "note",
        /// Messages sent to clients, referrers and staff (never their content).
        Message = "message",
    }
);

vocab!(
    /// Whether the action was done or refused by authorization.
    AuditOutcome {
        Success = "success",
        Denied = "denied",
    }
);

impl AuditAction {
    /// The data category this action touches.
    pub fn category(self) -> DataCategory {
        use AuditAction::*;
        match self {
            ClientRead | ClientList | ClientCreate | ClientUpdate => DataCategory::Demographics,
            EpisodeRead | EpisodeCreate | EpisodeEnd => DataCategory::CareLevel,
            SeparationRead | SeparationCreate => DataCategory::Separation,
            MembershipRead | MembershipCreate | MembershipUpdate | RosterRead
            | PlacementSuggest | TransitionRead => DataCategory::Membership,
            AttendanceRead | AttendanceWrite => DataCategory::Attendance,
            AuditRead => DataCategory::Audit,
            UserCreate | PrivilegeGrant | PrivilegeRevoke => DataCategory::Account,
            UserList | UserRoleChange | UserDisable | UserEnable | UserMfaReset
            | UserPasswordReset | UserPasswordChange | UserProgramsChange => DataCategory::Account,
            EmergencyOpen | EmergencyList => DataCategory::Emergency,
            DiagnosisRead | DiagnosisUpdate => DataCategory::Diagnosis,
            ComplianceRead => DataCategory::Attendance,
            BillingExport => DataCategory::Billing,
            // --- measures ---
            InstrumentCreate | MeasureCreate | MeasureRead | MeasureDueList => {
                DataCategory::Measure
            }
            AlertList | AlertAcknowledge => DataCategory::SafetyAlert,
            ReferralCreate | ReferralRead | ReferralList | ReferralTransition => {
                DataCategory::Referral
            }
            ScreeningCreate => DataCategory::Screening,
            ConsentRead | ConsentCreate | ConsentRevoke => DataCategory::Consent,
            DisclosureCreate | DisclosureRead => DataCategory::Disclosure,
            WaitlistRead | WaitlistWrite | OfferRead | OfferWrite => DataCategory::Waitlist,
            NoteRead | NoteList | NoteWrite | NoteSign | NoteCosign | NoteAddendum => {
                DataCategory::Note
            }
            // --- portal ---
            ScheduleRead | FeedWrite => DataCategory::Membership,
            // --- end portal ---
            // --- reports ---
            ReportCensus => DataCategory::Membership,
            ReportAttendance => DataCategory::Attendance,
            ReportOutcomes => DataCategory::Measure,
            // --- end reports ---
            // --- planner ---
            PlanRunStart | PlanRunRead | PlanApprove => DataCategory::Membership,
            // --- end planner ---
            TimetableBuild | TimetableRead | TimetableApprove => DataCategory::Membership,
            MessageSend | MessageList => DataCategory::Message,
            ClinicImport | ClinicExport => DataCategory::Demographics,
        }
    }
}

/// One audit entry as an administrator reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<Role>,
    pub action: AuditAction,
    pub category: DataCategory,
    pub client_ids: Vec<ClientId>,
    pub object_id: Option<String>,
    pub outcome: AuditOutcome,
    pub request_id: Option<String>,
    pub source: Option<String>,
    /// The emergency access this action happened under, if any.
    pub emergency_access_id: Option<i64>,
}

/// An emergency ("break-glass") access to one client's chart, for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmergencyAccess {
    pub id: i64,
    pub user_id: UserId,
    pub client_id: ClientId,
    /// Why the chart was opened (shown to reviewing directors only).
    pub reason: Option<crate::text::ShortText>,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// Open a chart outside one's caseload, saying why.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEmergencyAccess {
    pub reason: crate::text::ShortText,
}

/// How long an emergency access lasts.
pub const EMERGENCY_MINUTES: i64 = 60;
