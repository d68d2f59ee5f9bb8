//! One domain error for every layer. The web layer presents it as problem+json on the API;
//! the doc comment on each variant names the HTTP status it becomes.

use serde::Serialize;
use utoipa::ToSchema;

/// What went wrong, in domain terms. Messages name the field and the rule and never echo
/// a submitted value: values may be protected health information.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// 404: the thing does not exist, or the caller may not know that it does.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// 422: the request is well-formed but fields break their rules.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// 409: the request conflicts with a rule about the current state.
    #[error("{}", .0.message)]
    Conflict(Conflict),
    /// 401: no valid credentials.
    #[error("authentication required")]
    Unauthenticated,
    /// 403: authenticated, but the role may not do this.
    #[error("not permitted for this role")]
    Forbidden,
    /// 429: too many recent failed attempts; nothing was checked. Try again after the
    /// given number of seconds.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: i64 },
}

impl DomainError {
    pub fn not_found(entity: &'static str) -> Self {
        Self::NotFound { entity }
    }

    pub fn conflict(rule: Rule, message: impl Into<String>) -> Self {
        Self::Conflict(Conflict {
            rule,
            message: message.into(),
        })
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(FieldErrors(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }]))
    }

    /// The rule a conflict broke, if this is one.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Self::Conflict(c) => Some(c.rule),
            _ => None,
        }
    }
}

/// A state conflict: which rule, and a sentence a coordinator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub rule: Rule,
    pub message: String,
}

/// The rules a request can break against current state; serialized as the problem `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Discharge needs an open episode of care.
    NoOpenEpisode,
    /// Discharge needs the client's group memberships ended first.
    OpenMemberships,
    /// The group already has its maximum number of active members.
    GroupFull,
    /// The client's current level of care is not one the group accepts.
    LevelOfCareNotEligible,
    /// The client has no open episode, so no level of care to check.
    NoCurrentLevelOfCare,
    /// A closed group's cohort has already started.
    ClosedCohortStarted,
    /// A rolling group admits newcomers only in the first week of a module.
    BetweenModuleBoundaries,
    /// The facilitator holds no license active on the date in question.
    LicenseNotActive,
    /// A client, clinician or room would be in two overlapping sessions.
    ScheduleOverlap,
    /// The client is separated from someone in the group (who is never said).
    Separation,
    /// A value that must be unique is already in use.
    Duplicate,
    /// The record changed since it was read; re-read and retry.
    StaleVersion,
    /// The client already has an active membership in this group.
    AlreadyMember,
    /// The room holds fewer people than the group's maximum.
    RoomCapacity,
    /// The group maximum exceeds the program's cap without a recorded override.
    SizeCapExceeded,
    /// The session is cancelled.
    SessionCancelled,
    /// The session has not started yet.
    SessionNotStarted,
    /// The client is not on this session's roster.
    NotOnRoster,
    /// The membership has already ended.
    MembershipEnded,
    /// A new episode must start on or after the current one.
    EpisodeOrder,
    /// The referenced record is in use and cannot be changed this way.
    InUse,
    // --- measures ---
    /// The safety alert has already been acknowledged.
    AlreadyAcknowledged,
    /// A referral may not move between these intake states (the message lists the allowed
    /// next states).
    IllegalTransition,
    /// Attending a group needs a group agreement signed on or before the session.
    GroupAgreementUnsigned,
    /// A Part 2 client's information may be disclosed only under a consent in force for
    /// that recipient (42 CFR 2.31, 2.33).
    NoConsentInForce,
    /// The consent was already revoked.
    ConsentRevoked,
    /// The referral must be linked to a client record first.
    ReferralNeedsClient,
    /// A referral becomes ready for placement only through a screening that found the
    /// person ready for group (issue 14: screening could be skipped).
    ScreeningNeeded,
    /// An open group already takes its newcomers for that session (program setting
    /// `newcomers_per_session`).
    NewcomerLimit,
    /// Every meeting of the group must lie inside one of the client's availability windows.
    OutsideAvailability,
    /// The offer is no longer open (accepted, declined, expired or withdrawn).
    OfferClosed,
    /// A signed note is locked: it changes only by an addendum.
    NoteSigned,
    /// The note is waiting for a licensed clinician's co-signature.
    NoteAwaitingCosign,
    /// Addenda and co-signatures need a note in another state (signed, or awaiting one).
    NoteState,
    /// Only the note's author may sign it; nobody co-signs their own note.
    NoteAuthor,
    /// The individual note names other members of the session (names never echoed).
    OtherMembersNamed,
    /// The member did not attend this session, so there is no progress note to write.
    NotAttending,
    /// The clinician is not a facilitator of the session and holds no active license.
    NotAFacilitator,
    /// The change would leave no enabled administrator.
    LastAdmin,
    /// An administrator cannot disable their own account.
    SelfDisable,
    /// An administrator resets another account's password or second factor, never their
    /// own (their own password changes with the current one, at `/api/v1/me/password`).
    OwnAccount,
}

/// One field's broken rule. `field` is a JSON-pointer-like path such as `size.max`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// All the fields that broke their rules in one request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when no field broke a rule, else `DomainError::Invalid`.
    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self))
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}
