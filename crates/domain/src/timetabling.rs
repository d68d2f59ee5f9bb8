//! Timetable proposals (issue 17, part 2): the week's design for a program or the whole
//! clinic — each group's meetings, room or telehealth, lead and co-facilitator — with the
//! reasons for each choice, the hours each track reaches, and the parts a director pinned.
//! Plain data of ids and times (no client data); the app builds it from the
//! `circle-timetable` solver and the store applies it in one transaction.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::care::{Modality, vocab};
use crate::ids::{ClinicianId, GroupId, ProgramId, RoomId, UserId};
use crate::schedule::{Weekday, WeeklyMeeting};

vocab!(
    /// Where a timetable run stands: a proposal (re-solved as often as wanted, approved
    /// part by part) or approved (every change applied; never again).
    TimetableState {
        Proposed = "proposed",
        Approved = "approved",
    }
);

/// Where a group meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Venue {
    Room { room_id: RoomId },
    Telehealth,
}

impl Venue {
    pub fn of(room: Option<RoomId>) -> Self {
        room.map_or(Venue::Telehealth, |room_id| Venue::Room { room_id })
    }
    pub fn room(self) -> Option<RoomId> {
        match self {
            Venue::Room { room_id } => Some(room_id),
            Venue::Telehealth => None,
        }
    }
}

/// A group's weekly pattern: its meetings (one start, the same length, on each day), where
/// and with whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pattern {
    pub meetings: Vec<WeeklyMeeting>,
    pub venue: Venue,
    pub lead: ClinicianId,
    pub co: Option<ClinicianId>,
}

/// Days and start time of a pinned slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedSlot {
    pub days: Vec<Weekday>,
    pub start: jiff::civil::Time,
}

/// Parts of a group's pattern a director fixed; the solver works around them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimetablePin {
    pub group_id: GroupId,
    pub slot: Option<PinnedSlot>,
    pub venue: Option<Venue>,
    pub lead: Option<ClinicianId>,
}

/// Why the proposal gives a group the pattern it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryReason {
    /// The director pinned its days and time.
    PinnedSlot,
    PinnedVenue,
    PinnedLead,
    /// It keeps the days and time it meets at now (members keep their week).
    KeptTime,
    /// Its current days or time lie outside its program's timetable window.
    MovedOutOfWindow,
    /// Its current days and time clash with something the week needs more (another group
    /// of the same track, its lead's or room's other groups, the track's hours).
    MovedForTheWeek,
    /// It had no weekly meetings yet.
    NewlyScheduled,
    KeptLead,
    /// A new lead: the current one is not free or not licensed at the new time.
    NewLead,
    /// The lead is trained in the modality the group teaches.
    LeadModality {
        modality: Modality,
    },
    /// The room seats the group's maximum with the fewest empty seats free at that time.
    RoomSeats {
        capacity: u32,
        max_size: u32,
    },
    /// It meets by video, as it does now.
    Telehealth,
    /// A co-facilitator, as the group has now.
    CoFacilitator,
}

/// One group's place in the proposed week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimetableEntry {
    pub group_id: GroupId,
    pub program_id: ProgramId,
    /// The group's version the proposal was built from: approval refuses a group changed
    /// since.
    pub group_version: i64,
    pub pattern: Pattern,
    /// How the group runs now.
    pub was: Pattern,
    pub reasons: Vec<EntryReason>,
}

impl TimetableEntry {
    /// Whether approving changes the group.
    pub fn changes(&self) -> bool {
        self.pattern != self.was
    }
    /// Whether its days or times change.
    pub fn moves(&self) -> bool {
        self.pattern.meetings != self.was.meetings
    }
}

/// Why a group is left out of the proposed week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnscheduledReason {
    /// It has no weekly meetings to place.
    NoMeetings,
    /// It meets twice on a day or at different times on different days: the timetable
    /// keeps one pattern per group, so it keeps its week as it is.
    Irregular,
    /// No clinician holds an active licence, the group's modality and enough hours.
    NoLead,
    /// No room seats its maximum (and it does not meet by video).
    NoRoom,
    /// No co-facilitator is free for it.
    NoCoFacilitator,
    /// A room, a lead and the program's window never meet at one time.
    NoCommonTime,
    /// A pin cannot be kept: the part and the rule it breaks.
    Pin { part: String, rule: String },
    /// Placing it would cost the week more elsewhere (another group's hours, a clash).
    TradeOff,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unscheduled {
    pub group_id: GroupId,
    pub program_id: ProgramId,
    pub reason: UnscheduledReason,
}

/// The hours a track (a program's level of care at its site) reaches in the proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackHours {
    pub program_id: ProgramId,
    /// Whether its clients attend every group (a cohort: PHP, IOP, residential).
    pub cohort: bool,
    pub required_minutes: i64,
    pub scheduled_minutes: i64,
    pub max_minutes: Option<i64>,
    pub days_used: u32,
    pub days_target: Option<u32>,
    pub groups: u32,
    pub groups_scheduled: u32,
}

/// A proposed week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimetableProposal {
    pub entries: Vec<TimetableEntry>,
    pub unscheduled: Vec<Unscheduled>,
    pub tracks: Vec<TrackHours>,
    /// The solver's score, and a bound no timetable of these facts can beat.
    pub score: i64,
    pub bound: i64,
    pub timed_out: bool,
}

/// A timetable run: its pins and latest proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimetableRun {
    pub id: i64,
    /// The program designed; `None` for the whole clinic.
    pub program_id: Option<ProgramId>,
    pub state: TimetableState,
    pub time_limit_ms: u32,
    pub started_by: UserId,
    pub pins: Vec<TimetablePin>,
    pub proposal: TimetableProposal,
    /// Groups whose change has been applied (part approvals).
    pub applied: Vec<GroupId>,
    pub approved_by: Option<UserId>,
    pub approved_at: Option<Timestamp>,
    /// Counts the solves: a re-solve or approval names the version it saw.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What approving did: the groups changed and the sessions re-made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimetableApproval {
    pub groups_changed: Vec<GroupId>,
    pub sessions_removed: u32,
    pub sessions_created: u32,
}
