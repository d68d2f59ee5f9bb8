//! Placement: which groups suit a client and why (suggestions ranked by clinical fit, with
//! every reason a group is excluded), the newcomer limit of open groups, waitlists and
//! seat offers, and the transition plan when a client changes level of care.
//!
//! Pure rules; the store gathers the facts inside its transactions and the app decides who
//! may see them. A separation is only ever shown as "not available for this client": never
//! who, never how many.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{Concern, GroupKind, LevelOfCare, Modality, vocab};
use crate::group::{Enrollment, Group};
use crate::ids::{ClientId, GroupId, MembershipId, OfferId, WaitlistEntryId};
use crate::membership::{EnrollmentFacts, enrollment_conflicts};
use crate::schedule::{AvailabilityWindow, Weekday, WeeklyMeeting};
use crate::text::{Label, ShortText};
use crate::{DomainError, FieldErrors, Rule};

/// How long a waitlisted client has to answer an offer, by default.
pub const OFFER_HOURS: i64 = 72;
/// Waitlist priorities: 1 is the most urgent.
pub const PRIORITIES: std::ops::RangeInclusive<u8> = 1..=5;
/// The taper a client stepping down from IOP may keep (ASAM: one or two weeks).
pub const TAPER_WEEKS: std::ops::RangeInclusive<u32> = 1..=2;

// Newcomers.

/// The date of the group's first meeting on or after `on` (within a week), if it meets.
pub fn first_meeting_on_or_after(meetings: &[WeeklyMeeting], on: Date) -> Option<Date> {
    let mut day = on;
    for _ in 0..7 {
        if meetings.iter().any(|m| m.weekday == Weekday::of(day)) {
            return Some(day);
        }
        day = day.tomorrow().ok()?;
    }
    None
}

/// Open groups take at most `limit` newcomers whose first session is the same session, so
/// an established group is never flooded with strangers in one meeting. A newcomer joins
/// members who were there before: the founding members of a new group (nobody started
/// earlier) are not newcomers. Closed and rolling groups admit their newcomers together by
/// design and are not limited here.
pub fn check_newcomers(
    group: &Group,
    start: Date,
    limit: u32,
    other_starts: &[Date],
) -> Result<(), DomainError> {
    if group.enrollment != Enrollment::Open || limit == 0 {
        return Ok(());
    }
    let count_for = |session: Date| {
        other_starts
            .iter()
            .filter(|s| first_meeting_on_or_after(&group.meetings, **s) == Some(session))
            .count()
    };
    let Some(first) = first_meeting_on_or_after(&group.meetings, start) else {
        return Ok(());
    };
    let established = other_starts
        .iter()
        .any(|s| first_meeting_on_or_after(&group.meetings, *s).is_some_and(|m| m < first));
    if !established {
        return Ok(());
    }
    let limit_n = usize::try_from(limit).unwrap_or(usize::MAX);
    let count = count_for(first);
    if count < limit_n {
        return Ok(());
    }
    // The next start date whose first session still has room: the day after a session,
    // so the following one is the newcomer's first.
    let mut previous = first;
    let mut next = None;
    for _ in 0..208 {
        let Some(day_after) = previous.tomorrow().ok() else {
            break;
        };
        let Some(session) = first_meeting_on_or_after(&group.meetings, day_after) else {
            break;
        };
        if count_for(session) < limit_n {
            next = Some(day_after);
            break;
        }
        previous = session;
    }
    Err(DomainError::conflict(
        Rule::NewcomerLimit,
        match next {
            Some(d) => format!(
                "this open group takes at most {limit} newcomers per session and the session on {first} already has {count}; the next start date with room is {d}"
            ),
            None => format!(
                "this open group takes at most {limit} newcomers per session and the session on {first} already has {count}"
            ),
        },
    ))
}

/// The next start date the newcomer limit allows, when it refuses `start`.
fn newcomer_next_start(f: &EnrollmentFacts<'_>, start: Date) -> Option<Date> {
    let mut day = start;
    for _ in 0..60 {
        match check_newcomers(f.group, day, f.newcomer_limit, f.other_starts) {
            Ok(()) => return Some(day),
            Err(_) => {
                let session = first_meeting_on_or_after(&f.group.meetings, day)?;
                day = session.tomorrow().ok()?;
            }
        }
    }
    None
}

// Suggestions.

/// Why a group is not open to a client now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Exclusion {
    /// The rule, as in a 409 problem's `code`.
    pub rule: Rule,
    pub message: String,
}

vocab!(
    /// What makes a group fit a client.
    FitKind {
        /// The group focuses on a concern the client has.
        SharedFocus = "shared_focus",
        /// The group's modality is suited to one of the client's concerns.
        ModalitySuits = "modality_suits",
        /// The group's kind is suited to one of the client's concerns.
        KindSuits = "kind_suits",
    }
);

/// One reason a group fits a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FitReason {
    pub kind: FitKind,
    pub concern: Concern,
    pub message: String,
}

/// One group as a placement for one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suggestion {
    pub group_id: GroupId,
    pub name: Label,
    pub group_kind: GroupKind,
    pub modality: Option<Modality>,
    /// Whether the client could be placed from the requested date.
    pub eligible: bool,
    /// Every rule that keeps the client out, in the order a coordinator can act on them.
    pub exclusions: Vec<Exclusion>,
    /// Seats neither taken by members nor held by open offers.
    pub open_seats: u32,
    /// The first date the enrollment model (and newcomer limit) lets a newcomer start,
    /// when it is not the requested date; none for a closed cohort that has started.
    pub next_joinable_date: Option<Date>,
    /// Clinical fit, 0–100: higher is better.
    pub fit: u32,
    pub fit_reasons: Vec<FitReason>,
}

/// What `suggest` needs about one (client, group) pair.
pub struct CandidateFacts<'a> {
    pub enrollment: EnrollmentFacts<'a>,
    pub availability: &'a [AvailabilityWindow],
    pub concerns: &'a [Concern],
}

/// Modalities with evidence for a concern in group format.
fn suited_modalities(c: Concern) -> &'static [Modality] {
    use Modality::*;
    match c {
        Concern::Depression => &[Cbt, Act, Mindfulness],
        Concern::AnxietyPanic => &[Cbt, Act, Mindfulness],
        Concern::Bipolar => &[Cbt],
        Concern::PtsdTrauma => &[TraumaFocused, Dbt],
        Concern::SubstanceUse => &[Sud, Cbt],
        Concern::GriefLoss => &[Act],
        Concern::EmotionalDysregulation => &[Dbt],
        Concern::EatingDisorder => &[Cbt, Dbt],
        Concern::Psychosis => &[Cbt],
        Concern::Relationships => &[Dbt],
    }
}

/// Group kinds suited to a concern.
fn suited_kinds(c: Concern) -> &'static [GroupKind] {
    use GroupKind::*;
    match c {
        Concern::Depression => &[Process, Skills],
        Concern::AnxietyPanic => &[Skills],
        Concern::Bipolar => &[Psychoeducation],
        Concern::PtsdTrauma => &[Skills],
        Concern::SubstanceUse => &[RelapsePrevention],
        Concern::GriefLoss => &[Process],
        Concern::EmotionalDysregulation => &[Skills],
        Concern::EatingDisorder => &[Skills],
        Concern::Psychosis => &[Psychoeducation],
        Concern::Relationships => &[Process],
    }
}

/// How well a group fits a client's concerns, with the reasons: 15 per shared focus
/// concern, 10 when the modality suits one of the concerns, 5 when the kind does; at most
/// 100.
pub fn fit(group: &Group, concerns: &[Concern]) -> (u32, Vec<FitReason>) {
    let mut reasons = Vec::new();
    let mut score = 0u32;
    for c in concerns {
        if group.focus_concerns.contains(c) {
            score += 15;
            reasons.push(FitReason {
                kind: FitKind::SharedFocus,
                concern: *c,
                message: format!("the group focuses on {c}, one of the client's concerns"),
            });
        }
    }
    if let Some(m) = group.modality
        && let Some(c) = concerns
            .iter()
            .find(|c| suited_modalities(**c).contains(&m))
    {
        score += 10;
        reasons.push(FitReason {
            kind: FitKind::ModalitySuits,
            concern: *c,
            message: format!("{m} is suited to {c}"),
        });
    }
    if let Some(c) = concerns
        .iter()
        .find(|c| suited_kinds(**c).contains(&group.kind))
    {
        score += 5;
        reasons.push(FitReason {
            kind: FitKind::KindSuits,
            concern: *c,
            message: format!("a {} group is suited to {c}", group.kind),
        });
    }
    (score.min(100), reasons)
}

/// Whether every meeting lies inside one of the client's availability windows.
pub fn within_availability(meetings: &[WeeklyMeeting], windows: &[AvailabilityWindow]) -> bool {
    meetings.iter().all(|m| windows.iter().any(|w| w.covers(m)))
}

/// Every reason the client cannot be placed (enrollment rules plus availability). A
/// separation is worded "not available for this client" and listed once.
pub fn exclusions(f: &CandidateFacts<'_>) -> Vec<Exclusion> {
    let mut out: Vec<Exclusion> = enrollment_conflicts(&f.enrollment)
        .into_iter()
        .filter_map(|e| match e {
            DomainError::Conflict(c) => Some(Exclusion {
                rule: c.rule,
                message: if c.rule == Rule::Separation {
                    "not available for this client".to_owned()
                } else {
                    c.message
                },
            }),
            _ => None,
        })
        .collect();
    if !within_availability(&f.enrollment.group.meetings, f.availability) {
        out.push(Exclusion {
            rule: Rule::OutsideAvailability,
            message: "the group meets outside the client's availability windows".to_owned(),
        });
    }
    out
}

/// One group as a placement for one client, explained.
pub fn suggest(f: &CandidateFacts<'_>) -> Suggestion {
    let g = f.enrollment.group;
    let exclusions = exclusions(f);
    let (fit, fit_reasons) = fit(g, f.concerns);
    let start = f.enrollment.start_date;
    let next_joinable_date = g
        .enrollment
        .next_join_date(start)
        .and_then(|d| newcomer_next_start(&f.enrollment, d))
        .filter(|d| *d != start);
    let taken = f.enrollment.active_members + f.enrollment.held_by_offers;
    Suggestion {
        group_id: g.id,
        name: g.name.clone(),
        group_kind: g.kind,
        modality: g.modality,
        eligible: exclusions.is_empty(),
        exclusions,
        open_seats: g.max_size.saturating_sub(taken),
        next_joinable_date,
        fit,
        fit_reasons,
    }
}

/// Eligible groups first, then by fit (best first), then by id for a stable order.
pub fn rank(suggestions: &mut [Suggestion]) {
    suggestions.sort_by(|a, b| {
        b.eligible
            .cmp(&a.eligible)
            .then(b.fit.cmp(&a.fit))
            .then(a.group_id.cmp(&b.group_id))
    });
}

// Waitlists and offers.

vocab!(
    /// Where a waitlist entry stands.
    WaitlistStatus {
        Waiting = "waiting",
        Offered = "offered",
        Placed = "placed",
        Declined = "declined",
        Expired = "expired",
        Removed = "removed",
    }
);

vocab!(
    /// Where an offer stands.
    OfferState {
        Open = "open",
        Accepted = "accepted",
        Declined = "declined",
        Expired = "expired",
        Withdrawn = "withdrawn",
    }
);

/// Put a client on a group's waitlist.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWaitlistEntry {
    pub client_id: ClientId,
    /// 1 (most urgent) to 5.
    pub priority: u8,
    pub note: Option<ShortText>,
}

impl NewWaitlistEntry {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = FieldErrors::default();
        if !PRIORITIES.contains(&self.priority) {
            errors.push("priority", "must be 1 (most urgent) to 5");
        }
        errors.into_result()
    }
}

/// A client waiting for a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WaitlistEntry {
    pub id: WaitlistEntryId,
    pub group_id: GroupId,
    pub client_id: ClientId,
    pub priority: u8,
    pub note: Option<ShortText>,
    pub status: WaitlistStatus,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub added_at: Timestamp,
    /// The open offer to this client, if any.
    pub open_offer_id: Option<OfferId>,
}

/// A seat offered to a waitlisted client until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Offer {
    pub id: OfferId,
    pub waitlist_entry_id: WaitlistEntryId,
    pub group_id: GroupId,
    pub client_id: ClientId,
    /// The date the membership would start.
    pub start_date: Date,
    pub state: OfferState,
    /// UTC, RFC 3339.
    #[schema(value_type = String, format = DateTime)]
    pub offered_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub responded_at: Option<Timestamp>,
    pub membership_id: Option<MembershipId>,
}

impl Offer {
    /// Accept and decline need an open offer.
    pub fn check_open(&self) -> Result<(), DomainError> {
        if self.state == OfferState::Open {
            Ok(())
        } else {
            Err(DomainError::conflict(
                Rule::OfferClosed,
                format!("this offer is {} and can no longer be answered", self.state),
            ))
        }
    }
}

// Level-of-care transitions.

/// A change of level of care, optionally keeping the IOP groups for a taper.
#[derive(Debug, Clone, Copy)]
pub struct LevelChange {
    pub from: Option<LevelOfCare>,
    pub to: LevelOfCare,
    pub taper_weeks: Option<u32>,
}

impl LevelChange {
    /// A taper is only for stepping down from IOP, and lasts one or two weeks (ASAM).
    pub fn check(&self) -> Result<(), DomainError> {
        let Some(weeks) = self.taper_weeks else {
            return Ok(());
        };
        let stepping_down_from_iop = self.from == Some(LevelOfCare::Iop)
            && self.to.intensity() < LevelOfCare::Iop.intensity();
        if !stepping_down_from_iop {
            return Err(DomainError::invalid(
                "taper_weeks",
                "is only allowed when stepping down from iop",
            ));
        }
        if !TAPER_WEEKS.contains(&weeks) {
            return Err(DomainError::invalid("taper_weeks", "must be 1 or 2 weeks"));
        }
        Ok(())
    }
}

vocab!(
    /// The part of the day a group meets in: people who work keep to one track.
    Track {
        Morning = "morning",
        Afternoon = "afternoon",
        Evening = "evening",
    }
);

/// The track of a group: where its first meeting of the week starts (before 12:00
/// morning, before 17:00 afternoon, else evening).
pub fn track_of(meetings: &[WeeklyMeeting]) -> Option<Track> {
    let first = meetings
        .iter()
        .min_by_key(|m| (m.weekday.index(), m.start))?;
    Some(match first.start.hour() {
        h if h < 12 => Track::Morning,
        h if h < 17 => Track::Afternoon,
        _ => Track::Evening,
    })
}

vocab!(
    /// Why a group is suggested for a membership that no longer fits.
    TransitionReason {
        /// The same facilitator leads or co-leads it.
        SameFacilitator = "same_facilitator",
        /// It meets in the same part of the day.
        SameTrack = "same_track",
        /// A transition or relapse-prevention group, when nothing closer exists.
        TransitionGroup = "transition_group",
    }
);

/// One suggested next group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransitionOption {
    pub group_id: GroupId,
    pub name: Label,
    pub reasons: Vec<TransitionReason>,
    /// Whether the client could be placed there now (every rule checked).
    pub eligible: bool,
}

/// A membership that does not fit the client's current level of care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransitionItem {
    pub membership_id: MembershipId,
    pub group_id: GroupId,
    pub group_name: Label,
    /// When the membership ends (a taper), if an end is set.
    pub ends_on: Option<Date>,
    pub suggestions: Vec<TransitionOption>,
}

/// What to do with a client's groups after a change of level of care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransitionPlan {
    pub client_id: ClientId,
    pub level_of_care: Option<LevelOfCare>,
    pub items: Vec<TransitionItem>,
}

/// Suggestions for leaving `old`: groups at the new level with the same facilitator or the
/// same track; else transition or relapse-prevention groups. Eligible ones first; at most
/// three.
pub fn transition_options(old: &Group, candidates: &[(&Group, bool)]) -> Vec<TransitionOption> {
    let people = [Some(old.lead_facilitator_id), old.co_facilitator_id];
    let track = track_of(&old.meetings);
    let mut close: Vec<TransitionOption> = Vec::new();
    let mut fallback: Vec<TransitionOption> = Vec::new();
    for (g, eligible) in candidates {
        if g.id == old.id {
            continue;
        }
        let mut reasons = Vec::new();
        if people.contains(&Some(g.lead_facilitator_id))
            || (g.co_facilitator_id.is_some() && people.contains(&g.co_facilitator_id))
        {
            reasons.push(TransitionReason::SameFacilitator);
        }
        if track.is_some() && track_of(&g.meetings) == track {
            reasons.push(TransitionReason::SameTrack);
        }
        let option = |reasons| TransitionOption {
            group_id: g.id,
            name: g.name.clone(),
            reasons,
            eligible: *eligible,
        };
        if !reasons.is_empty() {
            close.push(option(reasons));
        } else if matches!(g.kind, GroupKind::Transition | GroupKind::RelapsePrevention) {
            fallback.push(option(vec![TransitionReason::TransitionGroup]));
        }
    }
    let mut out = if close.is_empty() { fallback } else { close };
    out.sort_by(|a, b| {
        b.eligible
            .cmp(&a.eligible)
            .then(b.reasons.len().cmp(&a.reasons.len()))
            .then(a.group_id.cmp(&b.group_id))
    });
    out.truncate(3);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClinicianId, ProgramId};
    use jiff::civil::{date, time};

    fn meeting(weekday: Weekday, hour: i8) -> WeeklyMeeting {
        WeeklyMeeting {
            weekday,
            start: time(hour, 0, 0, 0),
            minutes: 90,
        }
    }

    fn group(id: i64, kind: GroupKind, modality: Option<Modality>) -> Group {
        Group {
            id: GroupId(id),
            program_id: ProgramId(1),
            name: Label::parse(&format!("Group {id}")).unwrap(),
            kind,
            modality,
            focus_concerns: vec![],
            eligible_levels: vec![LevelOfCare::Iop],
            enrollment: Enrollment::Open,
            min_size: 5,
            max_size: 12,
            size_override_reason: None,
            meetings: vec![meeting(Weekday::Tuesday, 18)],
            room_id: None,
            lead_facilitator_id: ClinicianId(1),
            co_facilitator_id: None,
            curriculum: vec![],
            version: 1,
        }
    }

    fn facts<'a>(g: &'a Group, starts: &'a [Date]) -> EnrollmentFacts<'a> {
        EnrollmentFacts {
            group: g,
            start_date: date(2026, 5, 5),
            client_level: Some(LevelOfCare::Iop),
            active_members: 4,
            held_by_offers: 0,
            already_member: false,
            separated_from_a_member: false,
            schedule_clash: false,
            newcomer_limit: 2,
            other_starts: starts,
        }
    }

    fn evenings() -> Vec<AvailabilityWindow> {
        vec![AvailabilityWindow {
            weekday: Weekday::Tuesday,
            start: time(17, 0, 0, 0),
            end: time(21, 0, 0, 0),
        }]
    }

    #[test]
    fn groups_rank_by_fit_and_explain_why() {
        let mut dbt = group(1, GroupKind::Skills, Some(Modality::Dbt));
        dbt.focus_concerns = vec![Concern::EmotionalDysregulation];
        let process = group(2, GroupKind::Process, None);
        let mut cbt = group(3, GroupKind::Skills, Some(Modality::Cbt));
        cbt.focus_concerns = vec![Concern::Depression, Concern::EmotionalDysregulation];
        let concerns = [Concern::EmotionalDysregulation, Concern::Depression];
        let windows = evenings();
        let mut list: Vec<Suggestion> = [&dbt, &process, &cbt]
            .iter()
            .map(|g| {
                suggest(&CandidateFacts {
                    enrollment: facts(g, &[]),
                    availability: &windows,
                    concerns: &concerns,
                })
            })
            .collect();
        rank(&mut list);
        let order: Vec<i64> = list.iter().map(|s| s.group_id.0).collect();
        // CBT skills: two shared concerns (30) + modality (10) + kind (5) = 45;
        // DBT skills: one shared (15) + modality (10) + kind (5) = 30; process: kind 5.
        assert_eq!(order, vec![3, 1, 2]);
        assert_eq!(list[0].fit, 45);
        assert_eq!(list[1].fit, 30);
        assert!(
            list[1]
                .fit_reasons
                .iter()
                .any(|r| r.kind == FitKind::ModalitySuits
                    && r.concern == Concern::EmotionalDysregulation)
        );
        assert!(list.iter().all(|s| s.eligible && s.open_seats == 8));
    }

    #[test]
    fn an_ineligible_group_ranks_below_eligible_ones_whatever_its_fit() {
        let mut best = group(1, GroupKind::Skills, Some(Modality::Dbt));
        best.focus_concerns = vec![Concern::EmotionalDysregulation];
        best.eligible_levels = vec![LevelOfCare::Php];
        let plain = group(2, GroupKind::Psychoeducation, None);
        let concerns = [Concern::EmotionalDysregulation];
        let windows = evenings();
        let mut list: Vec<Suggestion> = [&best, &plain]
            .iter()
            .map(|g| {
                suggest(&CandidateFacts {
                    enrollment: facts(g, &[]),
                    availability: &windows,
                    concerns: &concerns,
                })
            })
            .collect();
        rank(&mut list);
        assert_eq!(list[0].group_id, GroupId(2));
        assert!(!list[1].eligible);
        assert_eq!(list[1].exclusions[0].rule, Rule::LevelOfCareNotEligible);
    }

    #[test]
    fn every_exclusion_is_listed_and_a_separation_names_no_one() {
        let mut g = group(1, GroupKind::Process, None);
        g.max_size = 4;
        g.meetings = vec![meeting(Weekday::Tuesday, 9)];
        let f = CandidateFacts {
            enrollment: EnrollmentFacts {
                separated_from_a_member: true,
                schedule_clash: true,
                ..facts(&g, &[])
            },
            availability: &evenings(),
            concerns: &[],
        };
        let s = suggest(&f);
        let rules: Vec<Rule> = s.exclusions.iter().map(|e| e.rule).collect();
        assert_eq!(
            rules,
            vec![
                Rule::GroupFull,
                Rule::Separation,
                Rule::ScheduleOverlap,
                Rule::OutsideAvailability
            ]
        );
        let sep = &s.exclusions[1];
        assert_eq!(sep.message, "not available for this client");
        assert_eq!(s.open_seats, 0);
    }

    #[test]
    fn a_rolling_group_between_modules_says_when_it_can_be_joined() {
        let mut g = group(1, GroupKind::Skills, Some(Modality::Dbt));
        g.enrollment = Enrollment::Rolling {
            curriculum_start: date(2026, 4, 6),
            module_weeks: 6,
        };
        let s = suggest(&CandidateFacts {
            enrollment: facts(&g, &[]),
            availability: &evenings(),
            concerns: &[],
        });
        assert!(!s.eligible);
        assert_eq!(s.exclusions[0].rule, Rule::BetweenModuleBoundaries);
        assert_eq!(s.next_joinable_date, Some(date(2026, 5, 18)));
    }

    #[test]
    fn the_third_newcomer_for_one_session_is_refused_with_the_next_start_date() {
        let g = group(1, GroupKind::Process, None);
        // An established member, and two newcomers starting Monday 4 and Tuesday 5 May:
        // both first attend Tuesday 5 May.
        let starts = [date(2026, 3, 3), date(2026, 5, 4), date(2026, 5, 5)];
        let err = check_newcomers(&g, date(2026, 5, 3), 2, &starts).unwrap_err();
        assert_eq!(err.rule(), Some(Rule::NewcomerLimit));
        assert!(err.to_string().contains("2026-05-05"), "{err}");
        assert!(err.to_string().contains("2026-05-06"), "{err}");
        // Starting the day after that session makes Tuesday 12 May the first session.
        assert!(check_newcomers(&g, date(2026, 5, 6), 2, &starts).is_ok());
        // A limit of three lets the third in.
        assert!(check_newcomers(&g, date(2026, 5, 5), 3, &starts).is_ok());
        // Founding members of a new group are not newcomers.
        assert!(check_newcomers(&g, date(2026, 5, 5), 2, &starts[1..]).is_ok());
        // Closed and rolling groups are not limited here.
        let mut closed = g.clone();
        closed.enrollment = Enrollment::Closed {
            cohort_start: date(2026, 5, 5),
        };
        assert!(check_newcomers(&closed, date(2026, 5, 5), 2, &starts).is_ok());
    }

    #[test]
    fn a_taper_is_one_or_two_weeks_and_only_down_from_iop() {
        let down = LevelChange {
            from: Some(LevelOfCare::Iop),
            to: LevelOfCare::Outpatient,
            taper_weeks: Some(2),
        };
        assert!(down.check().is_ok());
        assert!(
            LevelChange {
                taper_weeks: Some(1),
                ..down
            }
            .check()
            .is_ok()
        );
        for bad in [
            LevelChange {
                taper_weeks: Some(3),
                ..down
            },
            LevelChange {
                taper_weeks: Some(0),
                ..down
            },
            LevelChange {
                from: Some(LevelOfCare::Php),
                to: LevelOfCare::Iop,
                taper_weeks: Some(1),
            },
            LevelChange {
                from: Some(LevelOfCare::Outpatient),
                to: LevelOfCare::Iop,
                taper_weeks: Some(1),
            },
        ] {
            match bad.check() {
                Err(DomainError::Invalid(f)) => assert_eq!(f.0[0].field, "taper_weeks"),
                other => panic!("expected taper_weeks refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn transitions_prefer_the_same_facilitator_or_track_then_transition_groups() {
        let old = group(1, GroupKind::Process, None);
        let mut same_lead = group(2, GroupKind::Process, None);
        same_lead.meetings = vec![meeting(Weekday::Monday, 9)];
        let mut same_track = group(3, GroupKind::Skills, Some(Modality::Cbt));
        same_track.lead_facilitator_id = ClinicianId(9);
        let mut transition = group(4, GroupKind::Transition, None);
        transition.lead_facilitator_id = ClinicianId(9);
        transition.meetings = vec![meeting(Weekday::Monday, 10)];
        let opts = transition_options(
            &old,
            &[(&same_lead, true), (&same_track, true), (&transition, true)],
        );
        let ids: Vec<i64> = opts.iter().map(|o| o.group_id.0).collect();
        assert_eq!(ids, vec![2, 3]);
        assert_eq!(opts[0].reasons, vec![TransitionReason::SameFacilitator]);
        assert_eq!(opts[1].reasons, vec![TransitionReason::SameTrack]);
        let opts = transition_options(&old, &[(&transition, false)]);
        assert_eq!(opts[0].reasons, vec![TransitionReason::TransitionGroup]);
        assert_eq!(track_of(&old.meetings), Some(Track::Evening));
    }

    #[test]
    fn a_waitlist_priority_outside_one_to_five_is_refused() {
        let e = NewWaitlistEntry {
            client_id: ClientId(1),
            priority: 6,
            note: None,
        };
        assert!(e.validate().is_err());
        assert!(NewWaitlistEntry { priority: 1, ..e }.validate().is_ok());
    }
}
