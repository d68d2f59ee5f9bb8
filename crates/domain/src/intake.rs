//! Ways in and intake (issue 3) and Part 2 disclosures (issue 4): referrals by their three
//! paths, the intake state machine, group-readiness screening, the group agreement and
//! 42 CFR Part 2 consents.
//!
//! The intake states, as DESIGN.md's "Referral / intake" describes the way in:
//!
//! ```text
//! referred → screening → ready → placed | waitlisted
//! waitlisted → placed
//! placed → active → stepped_down | completed | discharged
//! any state before `active` → withdrawn (the person does not start: declined, unreachable,
//!                                       referred elsewhere after screening)
//! placed, active → discharged (care ends before completion)
//! ```
//!
//! `stepped_down`, `completed`, `discharged` and `withdrawn` are final: a step-down ends this
//! referral's way through this level, and the next level starts with its own admission
//! referral, so each level's intake history stays readable. A screening that finds someone
//! not ready leaves the referral in `screening` (they can be screened again); one that
//! refers them elsewhere withdraws it.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{LevelOfCare, vocab};
use crate::client::ReferralSource;
use crate::error::{DomainError, FieldErrors, Rule};
use crate::ids::{ClientId, ClinicianId, ProgramId, UserId};
use crate::schedule::Weekday;
use crate::text::{Email, Label, PersonName, Phone, ShortText};

vocab!(
    /// Where a referral is on its way in (see the module documentation for the moves).
    ReferralState {
        Referred = "referred",
        Screening = "screening",
        Ready = "ready",
        Placed = "placed",
        Waitlisted = "waitlisted",
        Active = "active",
        SteppedDown = "stepped_down",
        Completed = "completed",
        Discharged = "discharged",
        Withdrawn = "withdrawn",
    }
);

impl ReferralState {
    /// The states this one may move to.
    pub fn allowed_next(self) -> &'static [ReferralState] {
        use ReferralState::*;
        match self {
            Referred => &[Screening, Withdrawn],
            Screening => &[Ready, Withdrawn],
            Ready => &[Placed, Waitlisted, Withdrawn],
            Waitlisted => &[Placed, Withdrawn],
            Placed => &[Active, Withdrawn, Discharged],
            Active => &[SteppedDown, Completed, Discharged],
            SteppedDown | Completed | Discharged | Withdrawn => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.allowed_next().is_empty()
    }
}

/// Refuses a move the state machine does not allow, naming the rule and the allowed next
/// states (409 `illegal_transition`).
pub fn check_transition(from: ReferralState, to: ReferralState) -> Result<(), DomainError> {
    if from.allowed_next().contains(&to) {
        return Ok(());
    }
    let allowed: Vec<&str> = from.allowed_next().iter().map(|s| s.as_str()).collect();
    let next = if allowed.is_empty() {
        "none: it is a final state".to_owned()
    } else {
        allowed.join(", ")
    };
    Err(DomainError::conflict(
        Rule::IllegalTransition,
        format!(
            "a referral may not move from {from} to {to}; allowed next states from {from}: {next}"
        ),
    ))
}

vocab!(
    /// A part of the day someone can come.
    PartOfDay {
        Morning = "morning",
        Afternoon = "afternoon",
        Evening = "evening",
    }
);

/// When a self-referred person would like to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferredTime {
    pub weekday: Weekday,
    pub part_of_day: PartOfDay,
}

impl PreferredTime {
    /// The availability window a ticked box stands for when intake turns the request into
    /// a client record: morning 07:00–12:00, afternoon 12:00–17:00, evening 17:00–21:30
    /// (the evening IOP track runs 17:30–21:00, DESIGN.md).
    pub fn window(self) -> crate::schedule::AvailabilityWindow {
        let (start, end) = match self.part_of_day {
            PartOfDay::Morning => (
                jiff::civil::time(7, 0, 0, 0),
                jiff::civil::time(12, 0, 0, 0),
            ),
            PartOfDay::Afternoon => (
                jiff::civil::time(12, 0, 0, 0),
                jiff::civil::time(17, 0, 0, 0),
            ),
            PartOfDay::Evening => (
                jiff::civil::time(17, 0, 0, 0),
                jiff::civil::time(21, 30, 0, 0),
            ),
        };
        crate::schedule::AvailabilityWindow {
            weekday: self.weekday,
            start,
            end,
        }
    }
}

/// The most preferred times one referral may list (7 days × 3 parts).
pub const MAX_PREFERRED_TIMES: usize = 21;

/// The public self-referral form (no sign-in). Fields are short and bounded; the answer
/// echoes nothing.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfReferralForm {
    pub name: PersonName,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    /// What they are looking for, in their words (at most 500 characters).
    pub looking_for: ShortText,
    #[serde(default)]
    pub preferred_times: Vec<PreferredTime>,
}

impl std::fmt::Debug for SelfReferralForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfReferralForm(…)")
    }
}

impl SelfReferralForm {
    /// The rules that need no parsed value: a way to reply, and a word on what the person
    /// is looking for. The join page checks them on what was typed, so that they are
    /// reported together with every field's own rule.
    pub fn rules_of_what_was_written(has_contact: bool, looking_for: &str) -> FieldErrors {
        let mut e = FieldErrors::default();
        if !has_contact {
            e.push("email", "an email or a phone number is required to reply");
        }
        if looking_for.trim().is_empty() {
            e.push("looking_for", "must say briefly what you are looking for");
        }
        e
    }
}

/// The longest "what are you looking for" on the public form.
pub const MAX_LOOKING_FOR: usize = 500;

impl SelfReferralForm {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut e = Self::rules_of_what_was_written(
            self.email.is_some() || self.phone.is_some(),
            self.looking_for.as_str(),
        );
        if self.looking_for.as_str().chars().count() > MAX_LOOKING_FOR {
            e.push("looking_for", "must be at most 500 characters");
        }
        if self.preferred_times.len() > MAX_PREFERRED_TIMES {
            e.push("preferred_times", "must list at most 21 times");
        }
        e.into_result()
    }
}

/// A referral entered by staff: an admission to a program, a referral from an individual
/// therapist, or a self-referral taken by phone.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    pub path: ReferralSource,
    pub name: PersonName,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    /// Why they are referred or what they look for.
    pub reason: Option<ShortText>,
    #[serde(default)]
    pub preferred_times: Vec<PreferredTime>,
    /// Admissions: the program admitted to and its level of care.
    pub program_id: Option<ProgramId>,
    pub level_of_care: Option<LevelOfCare>,
    /// Therapist referrals: who referred.
    pub provider: Option<ReferringProviderDetails>,
    /// An existing client record this referral is about (a returning client).
    pub client_id: Option<ClientId>,
    /// The clinician who will screen for group readiness.
    pub screener_id: Option<ClinicianId>,
}

impl std::fmt::Debug for NewReferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewReferral({})", self.path)
    }
}

/// The referring individual therapist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferringProviderDetails {
    pub name: PersonName,
    pub practice: Option<Label>,
    pub contact: Option<Label>,
}

impl NewReferral {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut e = FieldErrors::default();
        if self.preferred_times.len() > MAX_PREFERRED_TIMES {
            e.push("preferred_times", "must list at most 21 times");
        }
        match self.path {
            ReferralSource::ProgramAdmission => {
                if self.program_id.is_none() {
                    e.push("program_id", "is required for a program admission");
                }
                match self.level_of_care {
                    None => e.push("level_of_care", "is required for a program admission"),
                    Some(LevelOfCare::Outpatient) => e.push(
                        "level_of_care",
                        "must be residential, php or iop for a program admission",
                    ),
                    Some(_) => {}
                }
            }
            ReferralSource::TherapistReferral => {
                if self.provider.is_none() {
                    e.push("provider", "is required for a referral from a therapist");
                }
                if self.reason.is_none() {
                    e.push("reason", "is required for a referral from a therapist");
                }
            }
            ReferralSource::SelfReferral => {
                if self.email.is_none() && self.phone.is_none() {
                    e.push("email", "an email or a phone number is required to reply");
                }
            }
        }
        if self.path != ReferralSource::TherapistReferral && self.provider.is_some() {
            e.push("provider", "is only for referrals from a therapist");
        }
        match self.path {
            ReferralSource::SelfReferral
                if self.program_id.is_some() || self.level_of_care.is_some() =>
            {
                e.push(
                    "program_id",
                    "is only for program admissions and referrals to one",
                );
            }
            // A therapist may refer to an admission (issue 14: only the self-referral
            // groups could be named): the program and its level go together.
            ReferralSource::TherapistReferral => match (self.program_id, self.level_of_care) {
                (None, None) => {}
                (Some(_), None) | (None, Some(_)) => e.push(
                    "program_id",
                    "and level_of_care go together in a referral to an admission",
                ),
                (Some(_), Some(LevelOfCare::Outpatient)) => e.push(
                    "level_of_care",
                    "must be residential, php or iop for a referral to an admission",
                ),
                (Some(_), Some(_)) => {}
            },
            _ => {}
        }
        e.into_result()
    }
}

/// The personal details of a referral, sealed together at rest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReferralDetails {
    pub name: PersonName,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub reason: Option<ShortText>,
    pub provider: Option<ReferringProviderDetails>,
}

impl std::fmt::Debug for ReferralDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReferralDetails(…)")
    }
}

/// A referral as staff read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Referral {
    pub id: i64,
    pub path: ReferralSource,
    pub state: ReferralState,
    pub details: ReferralDetails,
    pub preferred_times: Vec<PreferredTime>,
    pub program_id: Option<ProgramId>,
    pub level_of_care: Option<LevelOfCare>,
    pub client_id: Option<ClientId>,
    pub screener_id: Option<ClinicianId>,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    pub version: i64,
    /// The dated, attributed history of states (on the single-referral read).
    pub transitions: Vec<Transition>,
    /// Group-readiness screenings (comments only for clinical staff).
    pub screenings: Vec<Screening>,
}

/// One move of a referral: from, to, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Transition {
    pub from: Option<ReferralState>,
    pub to: ReferralState,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub by_user_id: Option<UserId>,
    pub reason: Option<ShortText>,
}

/// Move a referral on.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransition {
    pub to: ReferralState,
    pub reason: Option<ShortText>,
    /// Links the referral to the client record intake registered (needed to place them).
    pub client_id: Option<ClientId>,
}

impl std::fmt::Debug for NewTransition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewTransition({})", self.to)
    }
}

vocab!(
    /// The outcome of a group-readiness screening.
    ScreeningDecision {
        Ready = "ready",
        NotReady = "not_ready",
        ReferElsewhere = "refer_elsewhere",
    }
);

impl ScreeningDecision {
    /// Where a referral in screening goes after this decision (`None`: it stays).
    pub fn next_state(self) -> Option<ReferralState> {
        match self {
            Self::Ready => Some(ReferralState::Ready),
            Self::NotReady => None,
            Self::ReferElsewhere => Some(ReferralState::Withdrawn),
        }
    }
}

/// Record a screening.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScreening {
    pub decision: ScreeningDecision,
    /// Clinical comments (sealed; never shown to intake).
    pub reasons: Option<ShortText>,
    /// A measure response (PHQ-9, GAD-7) taken at screening.
    pub measure_response_id: Option<i64>,
}

impl std::fmt::Debug for NewScreening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewScreening({})", self.decision)
    }
}

/// A recorded screening. `reasons` is `None` for callers who may not read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Screening {
    pub id: i64,
    pub referral_id: i64,
    pub decision: ScreeningDecision,
    pub reasons: Option<ShortText>,
    pub measure_response_id: Option<i64>,
    pub screened_by: Option<UserId>,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub screened_at: Timestamp,
}

// ---------------------------------------------------------------------------------------
// The group agreement.

/// The version of the agreement text below. A new text gets a new version; signatures name
/// the version signed.
pub const GROUP_AGREEMENT_VERSION: &str = "2026-1";

/// What every member agrees to before their first group (the article's ground rules).
pub const GROUP_AGREEMENT_TEXT: &str = "\
Group agreement (version 2026-1)

1. Confidentiality. What is shared in group stays in group. I will not repeat who was \
there or what anyone said. (Facilitators may have to break confidentiality when someone \
is at risk of harm, as the law requires; they will say so.)
2. Respectful communication. I speak for myself, one person at a time, and I listen \
without interrupting.
3. Non-judgment. I respect other members' experiences and choices even when they differ \
from mine.
4. Equal participation. I share the time so everyone who wishes can speak.
5. Sharing is encouraged, never forced. I may pass or listen; silence is welcome here.
6. Outside contact. If I know another member outside the group, I tell a facilitator.
7. I come on time, and tell the clinic when I cannot attend.";

vocab!(
    /// How a signature was captured.
    SignatureMethod {
        /// The client signed in Circle themself.
        Electronic = "electronic",
        /// Staff recorded a signature on paper, with its date.
        Paper = "paper",
    }
);

/// Sign the group agreement: a client signs today; staff record a paper signature's date.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignAgreement {
    /// The date on the paper form (staff only; a client signs today).
    pub signed_on: Option<Date>,
    /// The version signed; must be the current one.
    pub version: Option<String>,
}

/// A signed group agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgreementSignature {
    pub id: i64,
    pub client_id: ClientId,
    pub version: String,
    #[schema(value_type = String, example = "2026-05-04")]
    pub signed_on: Date,
    pub method: SignatureMethod,
    pub recorded_by: Option<UserId>,
}

/// Attendance that counts as attending needs an agreement signed on or before the session.
pub fn check_agreement_for_attendance(
    attended: bool,
    signed_on: Option<Date>,
    session_date: Date,
) -> Result<(), DomainError> {
    if !attended || signed_on.is_some_and(|d| d <= session_date) {
        return Ok(());
    }
    Err(DomainError::conflict(
        Rule::GroupAgreementUnsigned,
        "the member has no group agreement signed on or before the session date; \
         record the signature first (absences may still be recorded)",
    ))
}

// ---------------------------------------------------------------------------------------
// 42 CFR Part 2 consent and disclosures.

/// A 42 CFR 2.31 consent as submitted. Every element is optional here so that each
/// missing one is named in the refusal, not only the first.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPart2Consent {
    /// The patient's name (§2.31(a)(1)).
    pub patient_name: Option<PersonName>,
    /// Who may disclose: the program or person (§2.31(a)(2)).
    pub discloser: Option<Label>,
    /// To whom: the recipient (§2.31(a)(4)).
    pub recipient: Option<Label>,
    /// How much and what kind of information, including SUD information (§2.31(a)(3)).
    pub information: Option<ShortText>,
    /// The purpose of the disclosure (§2.31(a)(5)).
    pub purpose: Option<ShortText>,
    /// Expiry date (§2.31(a)(7)); or `expiry_event`.
    pub expires_on: Option<Date>,
    /// Expiry event, e.g. "discharge from the program" (§2.31(a)(7)).
    pub expiry_event: Option<ShortText>,
    /// The patient was told of their right to revoke (§2.31(a)(6)); must be true.
    pub right_to_revoke_acknowledged: Option<bool>,
    /// The signature as signed (§2.31(a)(8)).
    pub signature: Option<PersonName>,
    /// The date signed (§2.31(a)(9)).
    pub signed_on: Option<Date>,
}

impl std::fmt::Debug for NewPart2Consent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPart2Consent(…)")
    }
}

const ELEMENT: &str = "is a required element of a 42 CFR 2.31 consent";

impl NewPart2Consent {
    /// Names every missing or invalid element; on success returns the complete terms.
    pub fn validate(&self, today: Date) -> Result<Part2Terms, DomainError> {
        let mut e = FieldErrors::default();
        let blank = |t: Option<&str>| t.is_none_or(|s| s.trim().is_empty());
        if self.patient_name.is_none() {
            e.push("patient_name", ELEMENT);
        }
        if self.discloser.is_none() {
            e.push("discloser", ELEMENT);
        }
        if self.recipient.is_none() {
            e.push("recipient", ELEMENT);
        }
        if blank(self.information.as_ref().map(ShortText::as_str)) {
            e.push("information", ELEMENT);
        }
        if blank(self.purpose.as_ref().map(ShortText::as_str)) {
            e.push("purpose", ELEMENT);
        }
        let event = self
            .expiry_event
            .as_ref()
            .filter(|t| !t.as_str().trim().is_empty());
        if self.expires_on.is_none() && event.is_none() {
            e.push(
                "expiry",
                "an expiry date or event is a required element of a 42 CFR 2.31 consent",
            );
        }
        if self.right_to_revoke_acknowledged != Some(true) {
            e.push(
                "right_to_revoke_acknowledged",
                "must be true: the statement of the right to revoke is a required element of a 42 CFR 2.31 consent",
            );
        }
        if self.signature.is_none() {
            e.push("signature", ELEMENT);
        }
        match self.signed_on {
            None => e.push("signed_on", ELEMENT),
            Some(d) if d > today => e.push("signed_on", "must not be in the future"),
            Some(d) if d.year() < 1900 => e.push("signed_on", "must be in 1900 or later"),
            Some(d) => {
                if self.expires_on.is_some_and(|x| x <= d) {
                    e.push("expires_on", "must be after the date signed");
                }
            }
        }
        e.into_result()?;
        match (
            &self.patient_name,
            &self.discloser,
            &self.recipient,
            &self.information,
            &self.purpose,
            &self.signature,
            self.signed_on,
        ) {
            (Some(p), Some(d), Some(r), Some(i), Some(pu), Some(s), Some(on)) => Ok(Part2Terms {
                patient_name: p.clone(),
                discloser: d.clone(),
                recipient: r.clone(),
                information: i.clone(),
                purpose: pu.clone(),
                expiry_event: event.cloned(),
                signature: s.clone(),
                signed_on: on,
            }),
            _ => Err(DomainError::invalid("body", ELEMENT)),
        }
    }
}

/// The sealed terms of a Part 2 consent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Part2Terms {
    pub patient_name: PersonName,
    pub discloser: Label,
    pub recipient: Label,
    pub information: ShortText,
    pub purpose: ShortText,
    pub expiry_event: Option<ShortText>,
    pub signature: PersonName,
    #[schema(value_type = String, example = "2026-05-04")]
    pub signed_on: Date,
}

impl std::fmt::Debug for Part2Terms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Part2Terms(…)")
    }
}

vocab!(
    /// Why a consent stopped before its expiry date.
    RevocationReason {
        /// The patient revoked it (§2.31(a)(6)).
        RevokedByPatient = "revoked_by_patient",
        /// The expiry event named in the consent happened.
        ExpiryEventOccurred = "expiry_event_occurred",
    }
);

/// Revoke a consent (or record that its expiry event happened): effective at once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeConsent {
    pub reason: RevocationReason,
}

/// A Part 2 consent as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Part2Consent {
    pub id: i64,
    pub client_id: ClientId,
    pub terms: Part2Terms,
    #[schema(value_type = Option<String>, example = "2026-12-31")]
    pub expires_on: Option<Date>,
    /// UTC, RFC 3339.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    pub revocation_reason: Option<RevocationReason>,
    pub recorded_by: Option<UserId>,
    /// Whether it permits disclosures now.
    pub in_force: bool,
}

impl Part2Consent {
    /// In force at `at` (whose clinic-local date is `on`): not revoked at or before `at`
    /// and not expired. A consent expiring on a date permits nothing from the start of that
    /// date (clinic time).
    pub fn in_force(&self, revoked_at: Option<Timestamp>, at: Timestamp, on: Date) -> bool {
        revoked_at.is_none_or(|r| r > at) && self.expires_on.is_none_or(|x| on < x)
    }
}

/// Recipients compare without case or spacing differences.
pub fn same_recipient(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Whether a consent's purpose covers a disclosure's: the disclosure's purpose appears in
/// the consent's as whole words, ignoring case and spacing ("verification" is covered by
/// "court-ordered treatment verification"; "marketing" is not).
pub fn purpose_covered(consent_purpose: &str, disclosure_purpose: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let (consent, wanted) = (words(consent_purpose), words(disclosure_purpose));
    !wanted.is_empty()
        && consent
            .windows(wanted.len())
            .any(|w| w == wanted.as_slice())
}

/// Whether any consent in force at `at` permits disclosure to `recipient` for `purpose`
/// (42 CFR 2.31: a consent names to whom and for what); the one that does.
pub fn disclosure_permitted<'a>(
    consents: &'a [(Part2Consent, Option<Timestamp>)],
    recipient: &str,
    purpose: &str,
    at: Timestamp,
    on: Date,
) -> Option<&'a Part2Consent> {
    consents
        .iter()
        .find(|(c, revoked)| {
            c.in_force(*revoked, at, on)
                && same_recipient(c.terms.recipient.as_str(), recipient)
                && purpose_covered(c.terms.purpose.as_str(), purpose)
        })
        .map(|(c, _)| c)
}

/// Record a disclosure of a client's information.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDisclosure {
    pub recipient: Label,
    /// What was disclosed (kind and amount).
    pub information: ShortText,
    pub purpose: ShortText,
}

impl std::fmt::Debug for NewDisclosure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewDisclosure(…)")
    }
}

/// One line of the accounting of disclosures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Disclosure {
    pub id: i64,
    pub client_id: ClientId,
    pub recipient: Label,
    pub information: ShortText,
    pub purpose: ShortText,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub disclosed_at: Timestamp,
    pub disclosed_by: Option<UserId>,
    /// The Part 2 consent it was made under, if any.
    pub consent_id: Option<i64>,
    /// The notice that must accompany a disclosure of Part 2 records (42 CFR 2.32); set
    /// whenever the disclosure was made under a Part 2 consent.
    pub notice: Option<String>,
}

/// 42 CFR 2.32's short-form notice to accompany each disclosure of Part 2 records.
pub const PART2_NOTICE: &str = "42 CFR part 2 prohibits unauthorized disclosure of these records.";

/// The notice a disclosure made under `consent_id` carries.
pub fn disclosure_notice(consent_id: Option<i64>) -> Option<String> {
    consent_id.map(|_| PART2_NOTICE.to_owned())
}

/// A client's consents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Consents {
    pub group_agreements: Vec<AgreementSignature>,
    pub part2: Vec<Part2Consent>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn every_pair_of_states_is_allowed_exactly_as_the_table_says() {
        use ReferralState::*;
        let legal = [
            (Referred, Screening),
            (Referred, Withdrawn),
            (Screening, Ready),
            (Screening, Withdrawn),
            (Ready, Placed),
            (Ready, Waitlisted),
            (Ready, Withdrawn),
            (Waitlisted, Placed),
            (Waitlisted, Withdrawn),
            (Placed, Active),
            (Placed, Withdrawn),
            (Placed, Discharged),
            (Active, SteppedDown),
            (Active, Completed),
            (Active, Discharged),
        ];
        let mut checked = 0;
        for &from in ReferralState::ALL {
            for &to in ReferralState::ALL {
                checked += 1;
                let r = check_transition(from, to);
                if legal.contains(&(from, to)) {
                    assert!(r.is_ok(), "{from} → {to} should be legal");
                } else {
                    let err = r.expect_err("illegal transitions are refused");
                    assert_eq!(err.rule(), Some(Rule::IllegalTransition));
                    let DomainError::Conflict(c) = err else {
                        panic!("a conflict")
                    };
                    for next in from.allowed_next() {
                        assert!(c.message.contains(next.as_str()), "{}", c.message);
                    }
                }
            }
        }
        assert_eq!(checked, 100);
    }

    #[test]
    fn final_states_have_no_way_out() {
        use ReferralState::*;
        for s in [SteppedDown, Completed, Discharged, Withdrawn] {
            assert!(s.is_final());
        }
        assert!(!Waitlisted.is_final());
    }

    #[test]
    fn attendance_needs_an_agreement_signed_by_the_session_date() {
        let day = date(2026, 5, 5);
        let err = check_agreement_for_attendance(true, None, day).unwrap_err();
        assert_eq!(err.rule(), Some(Rule::GroupAgreementUnsigned));
        assert!(check_agreement_for_attendance(true, Some(date(2026, 5, 6)), day).is_err());
        assert!(check_agreement_for_attendance(true, Some(day), day).is_ok());
        assert!(check_agreement_for_attendance(false, None, day).is_ok());
    }

    #[test]
    fn a_consent_missing_elements_names_each() {
        let c: NewPart2Consent = serde_json::from_value(serde_json::json!({
            "recipient": "Dr. Example"
        }))
        .unwrap();
        let DomainError::Invalid(e) = c.validate(date(2026, 5, 4)).unwrap_err() else {
            panic!("invalid")
        };
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in [
            "patient_name",
            "discloser",
            "information",
            "purpose",
            "expiry",
            "right_to_revoke_acknowledged",
            "signature",
            "signed_on",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        assert!(!fields.contains(&"recipient"));
    }

    fn consent(expires_on: Option<Date>) -> Part2Consent {
        Part2Consent {
            id: 1,
            client_id: ClientId(1),
            terms: Part2Terms {
                patient_name: PersonName::parse("A").unwrap(),
                discloser: Label::parse("Clinic").unwrap(),
                recipient: Label::parse("Dr.  Example").unwrap(),
                information: ShortText::parse("attendance").unwrap(),
                purpose: ShortText::parse("coordination").unwrap(),
                expiry_event: None,
                signature: PersonName::parse("A").unwrap(),
                signed_on: date(2026, 1, 1),
            },
            expires_on,
            revoked_at: None,
            revocation_reason: None,
            recorded_by: None,
            in_force: true,
        }
    }

    #[test]
    fn a_consent_covers_only_the_purposes_it_names() {
        assert!(purpose_covered(
            "court-ordered treatment verification",
            "Verification"
        ));
        assert!(purpose_covered(
            "coordination of care",
            "coordination  of care"
        ));
        assert!(!purpose_covered("coordination of care", "marketing"));
        assert!(!purpose_covered("verification", "treatment verification"));
        assert!(!purpose_covered("verification", ""));
        let at: Timestamp = "2026-05-04T13:00:00Z".parse().unwrap();
        let list = vec![(consent(None), None)];
        assert!(
            disclosure_permitted(&list, "Dr. Example", "research", at, date(2026, 5, 4)).is_none()
        );
    }

    #[test]
    fn revocation_and_expiry_take_effect_at_once() {
        let at: Timestamp = "2026-05-04T13:00:00Z".parse().unwrap();
        let on = date(2026, 5, 4);
        let list = vec![(consent(None), None)];
        assert!(disclosure_permitted(&list, "dr. example", "coordination", at, on).is_some());
        assert!(disclosure_permitted(&list, "someone else", "coordination", at, on).is_none());
        let revoked = vec![(consent(None), Some(at))];
        assert!(disclosure_permitted(&revoked, "Dr. Example", "coordination", at, on).is_none());
        let before: Timestamp = "2026-05-04T12:59:59Z".parse().unwrap();
        assert!(
            disclosure_permitted(&revoked, "Dr. Example", "coordination", before, on).is_some()
        );
        let expiring = vec![(consent(Some(on)), None)];
        assert!(disclosure_permitted(&expiring, "Dr. Example", "coordination", at, on).is_none());
        assert!(
            disclosure_permitted(
                &expiring,
                "Dr. Example",
                "coordination",
                at,
                date(2026, 5, 3)
            )
            .is_some()
        );
    }

    #[test]
    fn referral_paths_require_their_own_details() {
        let r: NewReferral = serde_json::from_value(serde_json::json!({
            "path": "program_admission", "name": "A"
        }))
        .unwrap();
        let DomainError::Invalid(e) = r.validate().unwrap_err() else {
            panic!()
        };
        assert!(e.0.iter().any(|f| f.field == "program_id"));
        assert!(e.0.iter().any(|f| f.field == "level_of_care"));
        let r: NewReferral = serde_json::from_value(serde_json::json!({
            "path": "therapist_referral", "name": "A", "reason": "r",
            "provider": {"name": "Dr B"}
        }))
        .unwrap();
        assert!(r.validate().is_ok());
        // A therapist's referral may name an admission, with its level, never outpatient.
        let referral_to = |level: &str| -> NewReferral {
            serde_json::from_value(serde_json::json!({
                "path": "therapist_referral", "name": "A", "reason": "r",
                "provider": {"name": "Dr B"}, "program_id": 3, "level_of_care": level
            }))
            .unwrap()
        };
        assert!(referral_to("iop").validate().is_ok());
        assert!(referral_to("outpatient").validate().is_err());
        let r: NewReferral = serde_json::from_value(serde_json::json!({
            "path": "self_referral", "name": "A", "email": "a@example.test", "program_id": 3
        }))
        .unwrap();
        assert!(r.validate().is_err());
    }
}
