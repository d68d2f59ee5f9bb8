//! One vocabulary for the screen (issue 14): the words every page uses for a stored code,
//! an amount of time, a date and a form field. Stored values ("anxiety_panic", "iop",
//! "left_early") stay on the wire and in the database; people read only what is written
//! here, so two pages can never name the same thing two ways. The crawl test
//! `cli/tests/vocabulary.rs` reads every page as each demo role and fails on a raw code.

use circle_domain::audit::{AuditAction, AuditOutcome};
use circle_domain::care::{Concern, GroupKind, LevelOfCare, Modality};
use circle_domain::client::ReferralSource;
use circle_domain::compliance::ComplianceStatus;
use circle_domain::intake::{PartOfDay, ReferralState, ScreeningDecision};
use circle_domain::measure::{AlertState, ChangeFlag};
use circle_domain::membership::MembershipStatus;
use circle_domain::note::{NoteKind, NoteState};
use circle_domain::placement::{OfferState, WaitlistStatus};
use circle_domain::planning::RunState;
use circle_domain::schedule::Weekday;
use circle_domain::session::{AttendanceStatus, Participation, SessionStatus};
use circle_domain::timetabling::TimetableState;
use circle_domain::user::Role;

/// The one human label of a stored vocabulary value.
pub trait Label {
    fn label(&self) -> &'static str;
}

macro_rules! labels {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl Label for $ty {
            fn label(&self) -> &'static str {
                match self { $(<$ty>::$variant => $text),* }
            }
        }
    };
}

labels!(LevelOfCare {
    Residential => "Residential",
    Php => "Partial hospitalization (PHP)",
    Iop => "Intensive outpatient (IOP)",
    Outpatient => "Outpatient",
});

labels!(Concern {
    Depression => "Depression",
    AnxietyPanic => "Anxiety and panic",
    Bipolar => "Bipolar disorder",
    PtsdTrauma => "PTSD and trauma",
    SubstanceUse => "Substance use",
    GriefLoss => "Grief and loss",
    EmotionalDysregulation => "Emotional dysregulation",
    EatingDisorder => "Eating disorders",
    Psychosis => "Psychosis",
    Relationships => "Relationships",
});

labels!(GroupKind {
    Process => "Process group",
    Psychoeducation => "Psychoeducation",
    Skills => "Skills group",
    RelapsePrevention => "Relapse prevention",
    Transition => "Transition group",
});

labels!(Modality {
    Cbt => "CBT",
    Dbt => "DBT",
    Act => "ACT",
    Mindfulness => "Mindfulness",
    TraumaFocused => "Trauma-focused",
    Sud => "Substance use treatment",
});

labels!(ReferralState {
    Referred => "Referred",
    Screening => "Screening",
    Ready => "Ready",
    Placed => "Placed",
    Waitlisted => "Waitlisted",
    Active => "Active",
    SteppedDown => "Stepped down",
    Completed => "Completed",
    Discharged => "Discharged",
    Withdrawn => "Withdrawn",
});

labels!(ReferralSource {
    SelfReferral => "Self-referral",
    ProgramAdmission => "Program admission",
    TherapistReferral => "From an individual therapist",
});

labels!(ScreeningDecision {
    Ready => "Ready for group",
    NotReady => "Not ready yet",
    ReferElsewhere => "Refer elsewhere",
});

labels!(PartOfDay {
    Morning => "Morning",
    Afternoon => "Afternoon",
    Evening => "Evening",
});

labels!(Weekday {
    Monday => "Monday",
    Tuesday => "Tuesday",
    Wednesday => "Wednesday",
    Thursday => "Thursday",
    Friday => "Friday",
    Saturday => "Saturday",
    Sunday => "Sunday",
});

labels!(ComplianceStatus {
    Met => "Met",
    OnTrack => "On track",
    AtRisk => "At risk",
    Short => "Short",
});

labels!(MembershipStatus {
    Active => "Active",
    OnHold => "On hold",
    Completed => "Completed",
    Withdrawn => "Withdrew",
    Discharged => "Discharged",
});

labels!(NoteState {
    Draft => "Draft",
    AwaitingCosign => "Awaiting co-signature",
    Signed => "Signed",
});

labels!(NoteKind {
    Group => "Group note",
    Progress => "Progress note",
});

labels!(WaitlistStatus {
    Waiting => "Waiting",
    Offered => "Offered a seat",
    Placed => "Placed",
    Declined => "Declined",
    Expired => "Offer expired",
    Removed => "Removed",
});

labels!(OfferState {
    Open => "Open",
    Accepted => "Accepted",
    Declined => "Declined",
    Expired => "Expired",
    Withdrawn => "Withdrawn",
});

labels!(RunState {
    Queued => "Queued",
    Running => "Running",
    Done => "Done",
    Failed => "Failed",
});

labels!(TimetableState {
    Proposed => "Proposed",
    Approved => "Approved",
});

labels!(SessionStatus {
    Scheduled => "Scheduled",
    Held => "Held",
    Cancelled => "Cancelled",
});

labels!(AttendanceStatus {
    Present => "Present",
    Late => "Late",
    LeftEarly => "Left early",
    AbsentExcused => "Absent (excused)",
    AbsentUnexcused => "Absent",
});

labels!(Participation {
    Shared => "Shared",
    ListenedPassed => "Listened / passed",
    GaveFeedback => "Gave feedback",
    PractisedSkill => "Practised a skill",
    SupportedPeer => "Supported a peer",
    AskedQuestion => "Asked a question",
    CompletedHomework => "Completed homework",
});

labels!(AlertState {
    Open => "Open",
    Acknowledged => "Acknowledged",
});

labels!(ChangeFlag {
    ReliableImprovement => "Reliably improved",
    ReliableDeterioration => "Reliably worse",
    NoReliableChange => "No reliable change",
});

labels!(Role {
    Admin => "Administrator",
    Director => "Director",
    Clinician => "Clinician",
    Intake => "Intake coordinator",
    Client => "Client",
});

labels!(AuditOutcome {
    Success => "Allowed",
    Denied => "Denied",
});

/// An audit action in words (issue 14: the report showed codes such as "user.mfa_reset").
/// Every action is named here: a new one does not compile until it has its words.
pub fn action(a: AuditAction) -> &'static str {
    use AuditAction::*;
    match a {
        ClientRead => "Client record read",
        ClientList => "Client list read",
        ClientCreate => "Client record created",
        ClientUpdate => "Client record changed",
        EpisodeRead => "Episode of care read",
        EpisodeCreate => "Episode of care opened",
        EpisodeEnd => "Episode of care ended",
        SeparationRead => "Separations read",
        SeparationCreate => "Separation recorded",
        MembershipRead => "Group memberships read",
        MembershipCreate => "Placed in a group",
        MembershipUpdate => "Group membership changed",
        RosterRead => "Roster read",
        AttendanceRead => "Attendance read",
        AttendanceWrite => "Attendance recorded",
        AuditRead => "Audit report read",
        UserCreate => "Account created",
        EmergencyOpen => "Emergency access opened",
        EmergencyList => "Emergency accesses reviewed",
        PrivilegeGrant => "Privilege granted",
        PrivilegeRevoke => "Privilege revoked",
        DiagnosisRead => "Diagnoses read",
        DiagnosisUpdate => "Diagnoses changed",
        ComplianceRead => "Compliance report read",
        BillingExport => "Billing exported",
        InstrumentCreate => "Measure instrument added",
        MeasureCreate => "Check-in recorded",
        MeasureRead => "Check-ins read",
        MeasureDueList => "Check-ins due listed",
        AlertList => "Safety alerts listed",
        AlertAcknowledge => "Safety alert acknowledged",
        ReferralCreate => "Referral received",
        ReferralRead => "Referral read",
        ReferralList => "Referrals listed",
        ReferralTransition => "Referral moved on",
        ScreeningCreate => "Screening recorded",
        ConsentRead => "Consents read",
        ConsentCreate => "Consent recorded",
        ConsentRevoke => "Consent revoked",
        DisclosureCreate => "Disclosure recorded",
        DisclosureRead => "Disclosures read",
        PlacementSuggest => "Placement suggestions read",
        TransitionRead => "Referral history read",
        WaitlistRead => "Waitlist read",
        WaitlistWrite => "Waitlist changed",
        OfferRead => "Waitlist offers read",
        OfferWrite => "Waitlist offer changed",
        NoteRead => "Note read",
        NoteList => "Notes listed",
        NoteWrite => "Note written",
        NoteSign => "Note signed",
        NoteCosign => "Note co-signed",
        NoteAddendum => "Addendum added to a note",
        UserList => "Accounts listed",
        UserRoleChange => "Account role changed",
        UserDisable => "Account disabled",
        UserEnable => "Account enabled",
        UserMfaReset => "Second factor reset",
        UserPasswordReset => "Temporary password set",
        UserPasswordChange => "Password changed",
        UserProgramsChange => "Director's programs changed",
        ScheduleRead => "Schedule read",
        FeedWrite => "Calendar feed changed",
        ReportCensus => "Census report read",
        ReportAttendance => "Attendance report read",
        ReportOutcomes => "Outcomes report read",
        PlanRunStart => "Planner run started",
        PlanRunRead => "Planner run read",
        PlanApprove => "Planner proposal approved",
        TimetableBuild => "Timetable proposal built",
        TimetableRead => "Timetable proposal read",
        TimetableApprove => "Timetable proposal approved",
        MessageSend => "Message sent",
        MessageList => "Undelivered messages reviewed",
        ClinicImport => "Clinic files imported",
        ClinicExport => "Clinic files exported",
    }
}

/// A dotted or snake-case code in words, for the closed sets worded by rule: the first
/// letter capital, separators as spaces, known abbreviations in capitals.
fn code_words(code: &str) -> String {
    let mut out = Vec::new();
    for (i, w) in code.split(['.', '_']).enumerate() {
        let w = match w {
            "mfa" => "MFA".to_owned(),
            _ if i == 0 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_owned(),
        };
        out.push(w);
    }
    out.join(" ")
}

/// A message's kind in words ("session_reminder" → "Session reminder"); `None` for a
/// value that is not a message kind.
pub fn message_kind(code: &str) -> Option<&'static str> {
    Some(match code {
        "session_reminder" => "Session reminder",
        "session_cancelled" => "Session cancelled",
        "seat_offer" => "Seat offer",
        "check_in_due" => "Check-in due",
        "referral_received" => "Referral received",
        "referral_waiting" => "Referral waiting",
        "safety_alert" => "Safety alert",
        _ => return None,
    })
}

/// An audit entry's object id in words: "message:3:session_reminder:client:36" becomes
/// "message 3 Session reminder client 36" (the ids stay; the codes become words).
pub fn object(id: &str) -> String {
    id.split(':')
        .map(|part| message_kind(part).map_or_else(|| part.replace('_', " "), str::to_owned))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An instrument's name as clinicians write it ("PHQ-9", "GAD-7").
pub fn instrument(code: &str) -> String {
    match code {
        "phq9" => "PHQ-9".to_owned(),
        "gad7" => "GAD-7".to_owned(),
        "phq9_item9" => "PHQ-9 item 9".to_owned(),
        other => code_words(other).to_uppercase(),
    }
}

/// An amount of time the one way every page writes it: "18 h 15 min", "9 h", "45 min".
pub fn hours(minutes: i64) -> String {
    let sign = if minutes < 0 { "−" } else { "" };
    let m = minutes.unsigned_abs();
    match (m / 60, m % 60) {
        (0, 0) => "0 h".to_owned(),
        (0, r) => format!("{sign}{r} min"),
        (h, 0) => format!("{sign}{h} h"),
        (h, r) => format!("{sign}{h} h {r} min"),
    }
}

/// "1 offer", "3 offers": a count with its noun, never "offer(s)".
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A calendar day the one way pages write it: "Mon 4 May 2026".
pub fn day(d: jiff::civil::Date) -> String {
    d.strftime("%a %-d %b %Y").to_string()
}

/// An instant in the clinic's time zone: "Mon 4 May 2026, 14:05".
pub fn when(tz: &jiff::tz::TimeZone, t: jiff::Timestamp) -> String {
    t.to_zoned(tz.clone())
        .strftime("%a %-d %b %Y, %H:%M")
        .to_string()
}

/// The label of a form field as its page shows it, for messages that point at the field
/// ("Program: choose one of the listed choices", not "program_id: is required"). Known
/// fields have their page's label; any other is worded by rule (an `_id` suffix dropped).
pub fn field(name: &str) -> String {
    let known = match name {
        "program_id" => Some("Program"),
        "group_id" => Some("Group"),
        "client_id" => Some("Client"),
        "clinician_id" => Some("Clinician"),
        "facilitator_id" => Some("Facilitator"),
        "screener_id" => Some("Screener"),
        "level_of_care" => Some("Level of care"),
        "start_date" => Some("Start date"),
        "end_date" => Some("End date"),
        "date_of_birth" => Some("Date of birth"),
        "action_taken" => Some("Action taken"),
        "preferred_name" => Some("Preferred name"),
        "record_number" => Some("Record number"),
        "totp_code" | "code" => Some("Authenticator code"),
        "recovery_code" => Some("Recovery code"),
        "new_password" => Some("New password"),
        "focus_concerns" | "concerns" => Some("Concerns"),
        "weekly_minutes" => Some("Weekly hours"),
        "q" => Some("Search"),
        "confirm" => Some("Confirm"),
        "agree" => Some("I agree"),
        "from" => Some("From"),
        "to" => Some("To"),
        _ => None,
    };
    match known {
        Some(k) => k.to_owned(),
        None => {
            let base = name
                .rsplit('.')
                .next()
                .unwrap_or(name)
                .trim_end_matches("_id");
            let base = base.trim_start_matches('/').replace('/', " ");
            code_words(&base)
        }
    }
}

/// A field's rule pointing at the field by its label on the page: "program_id: is
/// required" becomes "Program: is required".
pub fn field_message(name: &str, message: &str) -> String {
    format!("{}: {message}", field(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_read_one_way() {
        assert_eq!(hours(18 * 60 + 15), "18 h 15 min");
        assert_eq!(hours(9 * 60), "9 h");
        assert_eq!(hours(45), "45 min");
        assert_eq!(hours(0), "0 h");
        assert_eq!(hours(-90), "−1 h 30 min");
    }

    #[test]
    fn every_stored_code_has_words_without_underscores() {
        for c in Concern::ALL {
            assert!(!c.label().contains('_'), "{c}");
        }
        for a in AuditAction::ALL {
            let l = action(*a);
            assert!(!l.contains('_') && !l.contains('.'), "{a}: {l}");
        }
        assert_eq!(action(AuditAction::UserMfaReset), "Second factor reset");
        assert_eq!(LevelOfCare::Iop.label(), "Intensive outpatient (IOP)");
    }

    #[test]
    fn every_action_has_words_of_its_own_for_the_audit_picker() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(
                seen.insert(action(*a).to_lowercase()),
                "{a}: {}",
                action(*a)
            );
        }
    }

    #[test]
    fn fields_are_named_as_the_page_names_them() {
        assert_eq!(field("program_id"), "Program");
        assert_eq!(field("weekday"), "Weekday");
        assert_eq!(field("members.3.status"), "Status");
        assert_eq!(
            field_message("program_id", "is required"),
            "Program: is required"
        );
        assert_eq!(count(1, "offer", "offers"), "1 offer");
        assert_eq!(
            object("message:3:session_reminder:client:36"),
            "message 3 Session reminder client 36"
        );
        assert_eq!(count(2, "offer", "offers"), "2 offers");
    }
}
