//! `circle demo`: seeds a realistic, deterministic and entirely synthetic demo clinic.
//!
//! Every person here is invented: names are fixed fictional combinations, emails end in
//! `@demo.circle.test`, telephone numbers use the 555-01xx range reserved for fiction and
//! record numbers read `DEMO-0001`. The clinic is built through the `Store` command
//! methods only, so every rule (size bounds and program caps, room capacity, licenses,
//! level-of-care eligibility, enrollment models, separations, double bookings, rosters,
//! attendance timing) holds for the demo exactly as for real data.
//!
//! All dates are relative to `today`: episodes and memberships started some weeks ago,
//! sessions run from the Monday eight weeks back to two weeks ahead, and attendance is on
//! record for every session held before `today`. The same `today` gives the same clinic.
//!
//! The clinic, at the Riverside site (and its Harbor satellite, America/New_York):
//! a residential unit, a PHP, an IOP with a morning track (capped at 8 by a Medicaid-style
//! program setting) and an evening track for people who work, and stand-alone outpatient
//! groups. Clients step down residential → PHP → IOP → outpatient, so episode and
//! membership histories are visible; the evening process group is exactly full.

use std::collections::HashMap;
use std::fmt;

use anyhow::{Context, Result, bail};
use circle_domain::care::{Concern, GroupKind, LevelOfCare, Modality};
use circle_domain::client::ReferralSource;
use circle_domain::clinician::LicenseKind;
use circle_domain::ids::{ClientId, ClinicianId, GroupId, ProgramId, RoomId};
use circle_domain::membership::{Membership, MembershipStatus};
use circle_domain::schedule::Weekday;
use circle_domain::session::{AttendanceStatus, Session, SessionStatus};
use circle_store::access::purpose;
use circle_store::{Backend, Store};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// What the demo seeded, with the ids the caller needs to create demo user accounts.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub programs: usize,
    pub clinicians: usize,
    pub clients: usize,
    pub groups: usize,
    /// Sessions materialised (past, today and the two weeks ahead, cancelled ones included).
    pub sessions: usize,
    /// Attendance rows recorded for the sessions held before `today`.
    pub attendance: usize,
    /// The program director (a licensed psychologist who leads the transition group).
    pub director_clinician: ClinicianId,
    /// A typical facilitator who leads several groups.
    pub clinician_clinician: ClinicianId,
    /// A client with a full step-down history (residential → PHP → IOP) and current groups.
    pub client_client: ClientId,
    /// The group that is exactly full (12 of 12), to show the size rule to a newcomer.
    pub full_group: GroupId,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} programs, {} clinicians, {} clients, {} groups, {} sessions, {} attendance records \
             (director clinician {}, facilitator clinician {}, client {}, full group {})",
            self.programs,
            self.clinicians,
            self.clients,
            self.groups,
            self.sessions,
            self.attendance,
            self.director_clinician,
            self.clinician_clinician,
            self.client_client,
            self.full_group
        )
    }
}

const TIME_ZONE: &str = "America/New_York";
/// Seeds of the two pseudo-random streams: people's details, and attendance.
const PEOPLE_SEED: u64 = 0x00C1_4C1E_DE30_0001;
const ATTENDANCE_SEED: u64 = 0x00C1_4C1E_DE30_0002;
/// Sessions run from the Monday this many weeks back…
const PAST_WEEKS: i64 = 8;
/// …for this many weeks (eight past, this week and next).
const SESSION_WEEKS: i64 = 10;

// ---------------------------------------------------------------------------------------
// Programs and rooms
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Prog {
    Residential,
    Php,
    IopMorning,
    IopEvening,
    Outpatient,
}

struct ProgramSpec {
    key: Prog,
    name: &'static str,
    site: &'static str,
    level: LevelOfCare,
    /// A payer or state cap below the CPT 90853 maximum of 12, set after creation.
    cap: Option<u32>,
}

const PROGRAMS: &[ProgramSpec] = &[
    ProgramSpec {
        key: Prog::Residential,
        name: "Riverside House — adult residential",
        site: "Riverside",
        level: LevelOfCare::Residential,
        cap: None,
    },
    ProgramSpec {
        key: Prog::Php,
        name: "Adult PHP — day program",
        site: "Riverside",
        level: LevelOfCare::Php,
        cap: None,
    },
    ProgramSpec {
        key: Prog::IopMorning,
        name: "Adult IOP — morning track",
        site: "Riverside",
        level: LevelOfCare::Iop,
        // Medicaid-funded track: one state's IOP rule caps groups at 8.
        cap: Some(8),
    },
    ProgramSpec {
        key: Prog::IopEvening,
        name: "Adult IOP — evening track",
        site: "Riverside",
        level: LevelOfCare::Iop,
        cap: None,
    },
    ProgramSpec {
        key: Prog::Outpatient,
        name: "Community outpatient groups",
        site: "Harbor",
        level: LevelOfCare::Outpatient,
        cap: None,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rm {
    Willow,
    Birch,
    Cedar,
    Alder,
    Bay,
}

struct RoomSpec {
    key: Rm,
    site: &'static str,
    name: &'static str,
    capacity: u32,
}

const ROOMS: &[RoomSpec] = &[
    RoomSpec {
        key: Rm::Willow,
        site: "Riverside",
        name: "Willow Room",
        capacity: 14,
    },
    RoomSpec {
        key: Rm::Birch,
        site: "Riverside",
        name: "Birch Room",
        capacity: 14,
    },
    RoomSpec {
        key: Rm::Cedar,
        site: "Riverside",
        name: "Cedar Room",
        capacity: 14,
    },
    RoomSpec {
        key: Rm::Alder,
        site: "Riverside",
        name: "Alder Room (small)",
        capacity: 8,
    },
    RoomSpec {
        key: Rm::Bay,
        site: "Harbor",
        name: "Bay Room",
        capacity: 14,
    },
];

// ---------------------------------------------------------------------------------------
// Clinicians
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cl {
    Marsh,
    Whitfield,
    Amadi,
    Park,
    Fairchild,
    Delaney,
    Oduya,
    Varga,
    Rennick,
    Lindqvist,
    Quist,
    Marchetti,
}

struct LicenseSpec {
    kind: LicenseKind,
    number: &'static str,
    issued_years_ago: i64,
    /// Days from `today` to the expiry date.
    expires_in_days: i64,
}

struct ClinicianSpec {
    key: Cl,
    given: &'static str,
    family: &'static str,
    licenses: &'static [LicenseSpec],
    modalities: &'static [Modality],
}

const fn lic(
    kind: LicenseKind,
    number: &'static str,
    issued_years_ago: i64,
    expires_in_days: i64,
) -> LicenseSpec {
    LicenseSpec {
        kind,
        number,
        issued_years_ago,
        expires_in_days,
    }
}

/// A fictitious NPI for the `n`th demo clinician: nine digits and the check digit that
/// makes it valid (so the claim file carries well-formed rendering providers).
fn demo_npi(n: usize) -> String {
    let base = format!("17000{n:04}");
    (0..10)
        .map(|d| format!("{base}{d}"))
        .find(|npi| circle_domain::billing::Npi::is_valid(npi))
        .unwrap_or_default()
}

const CLINICIANS: &[ClinicianSpec] = &[
    // The program director.
    ClinicianSpec {
        key: Cl::Marsh,
        given: "Helena",
        family: "Marsh",
        licenses: &[lic(LicenseKind::Psyd, "PSY-DEMO-4471", 14, 540)],
        modalities: &[Modality::Cbt, Modality::Act],
    },
    // A typical facilitator: leads three groups.
    ClinicianSpec {
        key: Cl::Whitfield,
        given: "Jonah",
        family: "Whitfield",
        licenses: &[lic(LicenseKind::Licsw, "LICSW-DEMO-2286", 9, 402)],
        modalities: &[Modality::Cbt, Modality::Mindfulness, Modality::Sud],
    },
    ClinicianSpec {
        key: Cl::Amadi,
        given: "Rosalind",
        family: "Amadi",
        licenses: &[lic(LicenseKind::Lmhc, "LMHC-DEMO-3390", 7, 611)],
        modalities: &[Modality::Dbt, Modality::Mindfulness],
    },
    ClinicianSpec {
        key: Cl::Park,
        given: "Gideon",
        family: "Park",
        licenses: &[lic(LicenseKind::Phd, "PSY-DEMO-5120", 12, 250)],
        modalities: &[Modality::Cbt, Modality::Act],
    },
    ClinicianSpec {
        key: Cl::Fairchild,
        given: "Naomi",
        family: "Fairchild",
        licenses: &[
            lic(LicenseKind::Licsw, "LICSW-DEMO-3018", 6, 333),
            lic(LicenseKind::Lcadc, "LCADC-DEMO-7741", 5, 290),
        ],
        modalities: &[Modality::Sud, Modality::Mindfulness],
    },
    ClinicianSpec {
        key: Cl::Delaney,
        given: "Marcus",
        family: "Delaney",
        licenses: &[lic(LicenseKind::Lcadc, "LCADC-DEMO-1187", 8, 455)],
        modalities: &[Modality::Sud, Modality::Cbt],
    },
    // Psychiatrist: medication education and a co-facilitator in the PHP.
    ClinicianSpec {
        key: Cl::Oduya,
        given: "Samuel",
        family: "Oduya",
        licenses: &[lic(LicenseKind::Md, "MD-DEMO-60413", 16, 700)],
        modalities: &[],
    },
    ClinicianSpec {
        key: Cl::Varga,
        given: "Elena",
        family: "Varga",
        licenses: &[lic(LicenseKind::Lmft, "LMFT-DEMO-0952", 10, 380)],
        modalities: &[Modality::Act, Modality::TraumaFocused],
    },
    ClinicianSpec {
        key: Cl::Rennick,
        given: "Tobias",
        family: "Rennick",
        licenses: &[lic(LicenseKind::Licsw, "LICSW-DEMO-4125", 4, 520)],
        modalities: &[Modality::Cbt, Modality::Sud],
    },
    // License expires in 18 days: she only co-facilitates, so no session is ever led by
    // someone whose license has lapsed.
    ClinicianSpec {
        key: Cl::Lindqvist,
        given: "Priya",
        family: "Lindqvist",
        licenses: &[lic(LicenseKind::Licsw, "LICSW-DEMO-1764", 10, 18)],
        modalities: &[Modality::Dbt, Modality::Cbt],
    },
    ClinicianSpec {
        key: Cl::Quist,
        given: "Mara",
        family: "Quist",
        licenses: &[lic(LicenseKind::Lmhc, "LMHC-DEMO-2231", 3, 640)],
        modalities: &[Modality::TraumaFocused, Modality::Mindfulness],
    },
    // A supervised trainee: no license, co-facilitates only.
    ClinicianSpec {
        key: Cl::Marchetti,
        given: "Theo",
        family: "Marchetti",
        licenses: &[],
        modalities: &[Modality::Cbt],
    },
];

const DIRECTOR: Cl = Cl::Marsh;
const FACILITATOR: Cl = Cl::Whitfield;

// ---------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum G {
    ResProcess,
    ResMindfulness,
    ResWellness,
    PhpProcess,
    PhpCbt,
    PhpEducation,
    AmProcess,
    AmDbt,
    PmProcess,
    PmRelapse,
    PmCbt,
    OpAnxiety,
    OpGrief,
    OpMindful,
    OpTransition,
    OpTrauma,
}

/// The exactly-full group (12 of 12).
const FULL_GROUP: G = G::PmProcess;

#[derive(Debug, Clone, Copy)]
enum Model {
    Open,
    /// Curriculum started `start_week` weeks from this week's Monday (negative: before).
    Rolling {
        start_week: i64,
        module_weeks: u32,
    },
    /// Cohort starts on the Monday `cohort_week` weeks from this week's Monday.
    Closed {
        cohort_week: i64,
    },
}

struct GroupSpec {
    key: G,
    program: Prog,
    name: &'static str,
    kind: GroupKind,
    modality: Option<Modality>,
    focus: &'static [Concern],
    levels: &'static [LevelOfCare],
    model: Model,
    /// Size bounds; `None` takes the defaults (5 to the program's cap).
    size: Option<(u32, u32)>,
    days: &'static [Weekday],
    start: &'static str,
    minutes: u32,
    /// `None`: telehealth.
    room: Option<Rm>,
    lead: Cl,
    co: Option<Cl>,
}

const MON_FRI: &[Weekday] = &[
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
];
const MON_THU: &[Weekday] = &[
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
];
const MON_WED_FRI: &[Weekday] = &[Weekday::Monday, Weekday::Wednesday, Weekday::Friday];
const MON_WED_THU: &[Weekday] = &[Weekday::Monday, Weekday::Wednesday, Weekday::Thursday];
const MON_TUE_THU: &[Weekday] = &[Weekday::Monday, Weekday::Tuesday, Weekday::Thursday];

/// The weekly grid. No clinician leads or co-facilitates two overlapping groups and no
/// room is booked twice (the store refuses both); the meetings of each track do not
/// overlap, so a client can attend all of their track's groups.
const GROUPS: &[GroupSpec] = &[
    // Residential: 15.5 hours a week (default requirement 15).
    GroupSpec {
        key: G::ResProcess,
        program: Prog::Residential,
        name: "Residential — morning process group",
        kind: GroupKind::Process,
        modality: None,
        focus: &[Concern::SubstanceUse, Concern::Depression],
        levels: &[LevelOfCare::Residential],
        model: Model::Open,
        size: None,
        days: MON_FRI,
        start: "09:00",
        minutes: 90,
        room: Some(Rm::Willow),
        lead: Cl::Fairchild,
        co: None,
    },
    GroupSpec {
        key: G::ResMindfulness,
        program: Prog::Residential,
        name: "Residential — mindfulness skills",
        kind: GroupKind::Skills,
        modality: Some(Modality::Mindfulness),
        focus: &[Concern::AnxietyPanic, Concern::EmotionalDysregulation],
        levels: &[LevelOfCare::Residential],
        model: Model::Open,
        size: None,
        days: MON_FRI,
        start: "13:00",
        minutes: 60,
        room: Some(Rm::Willow),
        lead: Cl::Amadi,
        co: None,
    },
    GroupSpec {
        key: G::ResWellness,
        program: Prog::Residential,
        name: "Residential — medication and wellness education",
        kind: GroupKind::Psychoeducation,
        modality: None,
        focus: &[Concern::Bipolar, Concern::Psychosis, Concern::Depression],
        levels: &[LevelOfCare::Residential],
        model: Model::Open,
        size: None,
        days: MON_WED_FRI,
        start: "15:00",
        minutes: 60,
        room: Some(Rm::Willow),
        lead: Cl::Oduya,
        co: None,
    },
    // PHP: 22.5 hours a week (requirement 20).
    GroupSpec {
        key: G::PhpProcess,
        program: Prog::Php,
        name: "PHP — morning process group",
        kind: GroupKind::Process,
        modality: None,
        focus: &[Concern::Depression, Concern::AnxietyPanic],
        levels: &[LevelOfCare::Php],
        model: Model::Open,
        size: None,
        days: MON_FRI,
        start: "09:00",
        minutes: 90,
        room: Some(Rm::Birch),
        lead: Cl::Whitfield,
        co: None,
    },
    GroupSpec {
        key: G::PhpCbt,
        program: Prog::Php,
        name: "PHP — CBT skills",
        kind: GroupKind::Skills,
        modality: Some(Modality::Cbt),
        focus: &[Concern::Depression, Concern::AnxietyPanic],
        levels: &[LevelOfCare::Php],
        model: Model::Open,
        size: None,
        days: MON_FRI,
        start: "10:30",
        minutes: 90,
        room: Some(Rm::Birch),
        lead: Cl::Park,
        co: Some(Cl::Marchetti),
    },
    GroupSpec {
        key: G::PhpEducation,
        program: Prog::Php,
        name: "PHP — understanding mood and recovery",
        kind: GroupKind::Psychoeducation,
        modality: None,
        focus: &[Concern::Depression, Concern::Bipolar],
        levels: &[LevelOfCare::Php],
        model: Model::Open,
        size: None,
        days: MON_FRI,
        start: "13:00",
        minutes: 90,
        room: Some(Rm::Birch),
        lead: Cl::Whitfield,
        co: Some(Cl::Oduya),
    },
    // IOP morning track (capped at 8, small room): Mon/Wed/Thu 09:00–12:00, 9 hours.
    GroupSpec {
        key: G::AmProcess,
        program: Prog::IopMorning,
        name: "IOP morning — process group",
        kind: GroupKind::Process,
        modality: None,
        focus: &[Concern::Depression, Concern::PtsdTrauma],
        levels: &[LevelOfCare::Iop],
        model: Model::Open,
        size: None,
        days: MON_WED_THU,
        start: "09:00",
        minutes: 90,
        room: Some(Rm::Alder),
        lead: Cl::Varga,
        co: Some(Cl::Lindqvist),
    },
    GroupSpec {
        key: G::AmDbt,
        program: Prog::IopMorning,
        name: "IOP morning — DBT skills",
        kind: GroupKind::Skills,
        modality: Some(Modality::Dbt),
        focus: &[Concern::EmotionalDysregulation],
        levels: &[LevelOfCare::Iop],
        model: Model::Rolling {
            start_week: -12,
            module_weeks: 6,
        },
        size: None,
        days: MON_WED_THU,
        start: "10:30",
        minutes: 90,
        room: Some(Rm::Alder),
        lead: Cl::Amadi,
        co: None,
    },
    // IOP evening track, for people who work: Mon/Tue/Thu 18:00–21:00, 9 hours.
    GroupSpec {
        key: G::PmProcess,
        program: Prog::IopEvening,
        name: "IOP evening — process group",
        kind: GroupKind::Process,
        modality: None,
        focus: &[
            Concern::Depression,
            Concern::SubstanceUse,
            Concern::Relationships,
        ],
        levels: &[LevelOfCare::Iop],
        model: Model::Open,
        size: None,
        days: MON_TUE_THU,
        start: "18:00",
        minutes: 90,
        room: Some(Rm::Cedar),
        lead: Cl::Rennick,
        co: Some(Cl::Quist),
    },
    GroupSpec {
        key: G::PmRelapse,
        program: Prog::IopEvening,
        name: "IOP evening — relapse prevention",
        kind: GroupKind::RelapsePrevention,
        modality: None,
        focus: &[Concern::SubstanceUse],
        levels: &[LevelOfCare::Iop],
        model: Model::Open,
        size: None,
        days: MON_TUE_THU,
        start: "19:30",
        minutes: 90,
        room: Some(Rm::Cedar),
        lead: Cl::Delaney,
        co: None,
    },
    GroupSpec {
        key: G::PmCbt,
        program: Prog::IopEvening,
        name: "IOP evening — CBT skills (telehealth)",
        kind: GroupKind::Skills,
        modality: Some(Modality::Cbt),
        focus: &[Concern::Depression, Concern::AnxietyPanic],
        levels: &[LevelOfCare::Iop],
        model: Model::Open,
        size: None,
        days: MON_TUE_THU,
        start: "19:30",
        minutes: 90,
        room: None,
        lead: Cl::Rennick,
        co: None,
    },
    // Stand-alone outpatient groups: one 90-minute session a week.
    GroupSpec {
        key: G::OpAnxiety,
        program: Prog::Outpatient,
        name: "Managing anxiety — CBT skills group",
        kind: GroupKind::Skills,
        modality: Some(Modality::Cbt),
        focus: &[Concern::AnxietyPanic],
        levels: &[LevelOfCare::Outpatient],
        model: Model::Open,
        size: None,
        days: &[Weekday::Tuesday],
        start: "17:30",
        minutes: 90,
        room: Some(Rm::Bay),
        lead: Cl::Park,
        co: Some(Cl::Marchetti),
    },
    GroupSpec {
        key: G::OpGrief,
        program: Prog::Outpatient,
        name: "Grief and loss group (closed cohort)",
        kind: GroupKind::Process,
        modality: None,
        focus: &[Concern::GriefLoss],
        levels: &[LevelOfCare::Outpatient],
        model: Model::Closed { cohort_week: -8 },
        size: Some((5, 10)),
        days: &[Weekday::Wednesday],
        start: "18:00",
        minutes: 90,
        room: Some(Rm::Bay),
        lead: Cl::Whitfield,
        co: None,
    },
    GroupSpec {
        key: G::OpMindful,
        program: Prog::Outpatient,
        name: "Mindful living (telehealth)",
        kind: GroupKind::Skills,
        modality: Some(Modality::Mindfulness),
        focus: &[Concern::AnxietyPanic, Concern::Depression],
        levels: &[LevelOfCare::Outpatient],
        model: Model::Open,
        size: None,
        days: &[Weekday::Friday],
        start: "11:00",
        minutes: 90,
        room: None,
        lead: Cl::Amadi,
        co: None,
    },
    GroupSpec {
        key: G::OpTransition,
        program: Prog::Outpatient,
        name: "Stepping forward — transition group (telehealth)",
        kind: GroupKind::Transition,
        modality: None,
        focus: &[],
        levels: &[LevelOfCare::Iop, LevelOfCare::Outpatient],
        model: Model::Open,
        size: None,
        days: &[Weekday::Wednesday],
        start: "16:30",
        minutes: 90,
        room: None,
        lead: Cl::Marsh,
        co: None,
    },
    GroupSpec {
        key: G::OpTrauma,
        program: Prog::Outpatient,
        name: "Understanding trauma — next cohort (telehealth)",
        kind: GroupKind::Psychoeducation,
        modality: None,
        focus: &[Concern::PtsdTrauma],
        levels: &[LevelOfCare::Outpatient],
        model: Model::Closed { cohort_week: 1 },
        size: Some((5, 10)),
        days: &[Weekday::Tuesday],
        start: "12:00",
        minutes: 90,
        room: None,
        lead: Cl::Quist,
        co: None,
    },
];

/// Past sessions cancelled before attendance was taken: group, day (from this week's
/// Monday) and reason.
const CANCELLATIONS: &[(G, i64, &str)] = &[
    (G::PhpEducation, -38, "clinic closed for all-staff training"),
    (G::PmRelapse, -20, "facilitator ill"),
];

// ---------------------------------------------------------------------------------------
// Clients and their histories
// ---------------------------------------------------------------------------------------

/// Where a client is in care; each track is a level of care in one program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    Res,
    Php,
    IopAm,
    IopPm,
    Op,
}

impl Track {
    fn level(self) -> LevelOfCare {
        match self {
            Self::Res => LevelOfCare::Residential,
            Self::Php => LevelOfCare::Php,
            Self::IopAm | Self::IopPm => LevelOfCare::Iop,
            Self::Op => LevelOfCare::Outpatient,
        }
    }

    fn program(self) -> Prog {
        match self {
            Self::Res => Prog::Residential,
            Self::Php => Prog::Php,
            Self::IopAm => Prog::IopMorning,
            Self::IopPm => Prog::IopEvening,
            Self::Op => Prog::Outpatient,
        }
    }

    /// Weekly availability typical of the track: residential and day-program clients are
    /// on site on weekdays, morning-track clients keep mornings free, evening-track
    /// clients work days, outpatient clients have weekday evenings. Every client's windows
    /// are widened to cover the groups they attend (see `availability`).
    fn availability(self) -> &'static [(&'static [Weekday], &'static str, &'static str)] {
        match self {
            Self::Res => &[(MON_FRI, "08:00", "17:00")],
            Self::Php => &[(MON_FRI, "08:30", "15:30")],
            Self::IopAm => &[(MON_FRI, "08:30", "12:30")],
            Self::IopPm => &[(MON_FRI, "17:30", "21:30")],
            Self::Op => &[(MON_THU, "17:00", "20:00")],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum End {
    Completed,
    Withdrawn,
}

/// A membership to create during a phase. `from` defaults to the phase start (a rolling
/// group takes the next module boundary, a closed group its cohort start); `end` closes it
/// early, otherwise it completes when the next phase starts or stays active.
#[derive(Debug, Clone, Copy)]
struct Join {
    group: G,
    from: Option<i64>,
    end: Option<(i64, End)>,
}

const fn j(group: G) -> Join {
    Join {
        group,
        from: None,
        end: None,
    }
}

const fn j_from(group: G, from: i64) -> Join {
    Join {
        group,
        from: Some(from),
        end: None,
    }
}

const fn j_until(group: G, from: Option<i64>, end: i64, how: End) -> Join {
    Join {
        group,
        from,
        end: Some((end, how)),
    }
}

/// One episode: a track from a day (relative to this week's Monday) with its groups.
#[derive(Debug, Clone, Copy)]
struct Phase {
    track: Track,
    start: i64,
    groups: &'static [Join],
}

const fn p(track: Track, start: i64, groups: &'static [Join]) -> Phase {
    Phase {
        track,
        start,
        groups,
    }
}

struct ClientSpec {
    given: &'static str,
    family: &'static str,
    preferred: Option<&'static str>,
    concerns: &'static [Concern],
    referral: ReferralSource,
    /// Successive episodes, earliest first; the last one is the current level.
    phases: &'static [Phase],
}

const RES: &[Join] = &[j(G::ResProcess), j(G::ResMindfulness), j(G::ResWellness)];
const PHP: &[Join] = &[j(G::PhpProcess), j(G::PhpCbt), j(G::PhpEducation)];
const AM: &[Join] = &[j(G::AmProcess), j(G::AmDbt)];
const AM_PROCESS: &[Join] = &[j(G::AmProcess)];
const PM_RELAPSE: &[Join] = &[j(G::PmProcess), j(G::PmRelapse)];
const PM_CBT: &[Join] = &[j(G::PmProcess), j(G::PmCbt)];

use Concern as C;
use ReferralSource::{
    ProgramAdmission as ADMIT, SelfReferral as SELF, TherapistReferral as THERAPIST,
};
use Track::{IopAm, IopPm, Op, Php as PhpT, Res as ResT};

/// The client index (0-based) used for the demo client account: a full step-down
/// history (residential → PHP → IOP morning) and current groups.
const CLIENT_ACCOUNT: usize = 35;

/// Pairs (1-based record numbers) who know each other outside the clinic, with the
/// restricted reason. Their groups never overlap; the store would refuse it anyway.
const SEPARATIONS: &[(usize, usize, &str)] = &[
    (25, 33, "coworkers"),
    (46, 57, "family members"),
    (7, 11, "neighbours"),
    (39, 48, "friends outside the program"),
];

/// Clients in the order they are seeded: those whose histories passed through groups that
/// are now full come first, so their old seats are free again when current members join.
/// Offsets are days from this week's Monday.
const CLIENTS: &[ClientSpec] = &[
    // --- Outpatient now (20): stepped down, or came straight to a stand-alone group.
    ClientSpec {
        given: "Marisol",
        family: "Quintero",
        preferred: None,
        concerns: &[C::SubstanceUse, C::Depression],
        referral: ADMIT,
        phases: &[p(IopPm, -70, PM_RELAPSE), p(Op, -21, &[j(G::OpTransition)])],
    },
    ClientSpec {
        given: "Declan",
        family: "Ashworth",
        preferred: Some("Dec"),
        concerns: &[C::Depression, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[
            p(IopPm, -63, PM_CBT),
            p(Op, -14, &[j(G::OpTransition), j(G::OpMindful)]),
        ],
    },
    ClientSpec {
        given: "Yusra",
        family: "Haddad",
        preferred: None,
        concerns: &[C::EmotionalDysregulation, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[
            p(IopAm, -84, AM),
            p(Op, -26, &[j(G::OpTransition), j(G::OpAnxiety)]),
        ],
    },
    ClientSpec {
        given: "Colm",
        family: "Brennan",
        preferred: None,
        concerns: &[C::Depression, C::EmotionalDysregulation],
        referral: ADMIT,
        phases: &[
            p(PhpT, -63, PHP),
            p(IopAm, -42, AM),
            p(Op, -7, &[j(G::OpTransition)]),
        ],
    },
    ClientSpec {
        given: "Annika",
        family: "Sorensen",
        preferred: None,
        concerns: &[C::SubstanceUse, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[
            p(ResT, -77, RES),
            p(PhpT, -63, PHP),
            p(IopPm, -42, PM_RELAPSE),
            p(Op, -7, &[j(G::OpTransition), j(G::OpAnxiety)]),
        ],
    },
    ClientSpec {
        given: "Tobiah",
        family: "Greer",
        preferred: None,
        concerns: &[C::AnxietyPanic, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[
            p(PhpT, -56, PHP),
            p(
                Op,
                -28,
                &[
                    j(G::OpAnxiety),
                    j(G::OpTrauma),
                    j_until(G::OpTransition, None, -7, End::Completed),
                ],
            ),
        ],
    },
    ClientSpec {
        given: "Lucinda",
        family: "Farrow",
        preferred: Some("Lucy"),
        concerns: &[C::AnxietyPanic, C::Depression],
        referral: THERAPIST,
        phases: &[
            p(PhpT, -49, PHP),
            p(Op, -26, &[j(G::OpAnxiety), j(G::OpMindful)]),
        ],
    },
    ClientSpec {
        given: "Rafferty",
        family: "Cole",
        preferred: Some("Raff"),
        concerns: &[C::SubstanceUse, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[
            p(ResT, -63, RES),
            p(PhpT, -42, PHP),
            p(Op, -14, &[j(G::OpAnxiety)]),
        ],
    },
    ClientSpec {
        given: "Ingrid",
        family: "Halvorsen",
        preferred: None,
        concerns: &[C::AnxietyPanic],
        referral: SELF,
        phases: &[p(
            Op,
            -70,
            &[
                j_until(G::OpAnxiety, None, -19, End::Withdrawn),
                j(G::OpMindful),
            ],
        )],
    },
    ClientSpec {
        given: "Desmond",
        family: "Achterberg",
        preferred: None,
        concerns: &[C::GriefLoss, C::Depression],
        referral: ADMIT,
        phases: &[
            p(PhpT, -77, PHP),
            p(
                Op,
                -56,
                &[
                    j(G::OpGrief),
                    j(G::OpMindful),
                    j_until(G::OpTransition, None, -14, End::Completed),
                ],
            ),
        ],
    },
    ClientSpec {
        given: "Philippa",
        family: "Nakamura",
        preferred: Some("Pippa"),
        concerns: &[C::GriefLoss],
        referral: THERAPIST,
        phases: &[
            p(PhpT, -84, PHP),
            p(
                Op,
                -63,
                &[
                    j(G::OpGrief),
                    j_until(G::OpTransition, None, -42, End::Withdrawn),
                ],
            ),
        ],
    },
    ClientSpec {
        given: "Augustin",
        family: "Mercier",
        preferred: None,
        concerns: &[C::GriefLoss, C::PtsdTrauma],
        referral: SELF,
        phases: &[p(Op, -60, &[j(G::OpGrief), j(G::OpTrauma)])],
    },
    ClientSpec {
        given: "Beatrix",
        family: "Olander",
        preferred: None,
        concerns: &[C::GriefLoss, C::Relationships],
        referral: ADMIT,
        phases: &[
            p(IopPm, -105, PM_CBT),
            p(
                Op,
                -70,
                &[
                    j(G::OpGrief),
                    j_until(G::OpTransition, Some(-63), -28, End::Completed),
                ],
            ),
        ],
    },
    ClientSpec {
        given: "Caspian",
        family: "Whitlock",
        preferred: None,
        concerns: &[C::GriefLoss, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[p(Op, -58, &[j(G::OpGrief), j(G::OpMindful)])],
    },
    ClientSpec {
        given: "Delphine",
        family: "Arkwright",
        preferred: None,
        concerns: &[C::GriefLoss],
        referral: SELF,
        phases: &[p(
            Op,
            -57,
            &[j_until(G::OpGrief, None, -26, End::Withdrawn)],
        )],
    },
    ClientSpec {
        given: "Emeric",
        family: "Sandoval",
        preferred: None,
        concerns: &[C::GriefLoss, C::PtsdTrauma],
        referral: SELF,
        phases: &[p(Op, -59, &[j(G::OpGrief), j(G::OpTrauma)])],
    },
    ClientSpec {
        given: "Fenella",
        family: "Ruiz",
        preferred: None,
        concerns: &[C::PtsdTrauma, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[p(Op, -35, &[j(G::OpMindful), j(G::OpTrauma)])],
    },
    ClientSpec {
        given: "Gareth",
        family: "Pemberton",
        preferred: None,
        concerns: &[C::PtsdTrauma],
        referral: THERAPIST,
        phases: &[p(Op, -9, &[j(G::OpTrauma)])],
    },
    ClientSpec {
        given: "Henrietta",
        family: "Vale",
        preferred: Some("Etta"),
        concerns: &[C::AnxietyPanic, C::PtsdTrauma],
        referral: SELF,
        phases: &[p(Op, -63, &[j(G::OpAnxiety), j(G::OpTrauma)])],
    },
    ClientSpec {
        given: "Isidore",
        family: "Blackwood",
        preferred: Some("Izzy"),
        concerns: &[C::AnxietyPanic, C::Depression],
        referral: SELF,
        phases: &[p(Op, -56, &[j(G::OpAnxiety), j(G::OpMindful)])],
    },
    // --- IOP evening track now (14): the process group fills to exactly 12.
    ClientSpec {
        given: "Jasper",
        family: "Lindgren",
        preferred: None,
        concerns: &[C::SubstanceUse, C::Depression],
        referral: ADMIT,
        phases: &[p(PhpT, -56, PHP), p(IopPm, -28, PM_RELAPSE)],
    },
    ClientSpec {
        given: "Keziah",
        family: "Monroe",
        preferred: None,
        concerns: &[C::Depression, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[p(PhpT, -49, PHP), p(IopPm, -21, PM_CBT)],
    },
    ClientSpec {
        given: "Leopold",
        family: "Kastner",
        preferred: Some("Leo"),
        concerns: &[C::SubstanceUse, C::Relationships],
        referral: ADMIT,
        phases: &[p(
            IopPm,
            -56,
            &[
                j(G::PmProcess),
                j(G::PmRelapse),
                j_from(G::OpTransition, -14),
            ],
        )],
    },
    ClientSpec {
        given: "Marguerite",
        family: "Ellison",
        preferred: Some("Maggie"),
        concerns: &[C::Depression, C::GriefLoss],
        referral: THERAPIST,
        phases: &[p(
            IopPm,
            -58,
            &[j(G::PmProcess), j(G::PmCbt), j_from(G::OpTransition, -14)],
        )],
    },
    ClientSpec {
        given: "Nikolai",
        family: "Brandt",
        preferred: None,
        concerns: &[C::SubstanceUse],
        referral: ADMIT,
        phases: &[p(IopPm, -56, PM_RELAPSE)],
    },
    ClientSpec {
        given: "Odette",
        family: "Villanueva",
        preferred: None,
        concerns: &[C::Depression, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[p(IopPm, -42, PM_CBT)],
    },
    ClientSpec {
        given: "Percival",
        family: "Dunmore",
        preferred: Some("Percy"),
        concerns: &[C::SubstanceUse, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[p(IopPm, -35, PM_RELAPSE)],
    },
    ClientSpec {
        given: "Quilla",
        family: "Hartmann",
        preferred: None,
        concerns: &[C::Bipolar, C::Depression],
        referral: ADMIT,
        phases: &[p(IopPm, -27, PM_CBT)],
    },
    ClientSpec {
        given: "Rowan",
        family: "Tremaine",
        preferred: None,
        concerns: &[C::SubstanceUse, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[p(IopPm, -21, PM_RELAPSE)],
    },
    ClientSpec {
        given: "Saoirse",
        family: "Kettering",
        preferred: None,
        concerns: &[C::Depression, C::Relationships],
        referral: THERAPIST,
        phases: &[p(IopPm, -14, PM_CBT)],
    },
    ClientSpec {
        given: "Thaddeus",
        family: "Moreau",
        preferred: Some("Tad"),
        concerns: &[C::SubstanceUse, C::Depression],
        referral: ADMIT,
        phases: &[p(IopPm, -7, PM_RELAPSE)],
    },
    ClientSpec {
        given: "Ulrike",
        family: "Fenwick",
        preferred: None,
        concerns: &[C::AnxietyPanic, C::Depression],
        referral: ADMIT,
        phases: &[p(IopPm, -5, PM_CBT)],
    },
    // Separated from Nikolai Brandt (coworkers): not in the process group he attends.
    ClientSpec {
        given: "Vikram",
        family: "Castellanos",
        preferred: None,
        concerns: &[C::Depression, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[p(IopPm, -35, &[j(G::PmCbt)])],
    },
    // Admitted after the process group filled: waiting for a seat there.
    ClientSpec {
        given: "Wilhelmina",
        family: "Drury",
        preferred: Some("Billie"),
        concerns: &[C::SubstanceUse],
        referral: ADMIT,
        phases: &[p(IopPm, -4, &[j(G::PmRelapse)])],
    },
    // --- IOP morning track now (8): the capped process group is at its cap of 8.
    ClientSpec {
        given: "Xavier",
        family: "Holloway",
        preferred: None,
        concerns: &[C::EmotionalDysregulation, C::Depression],
        referral: ADMIT,
        phases: &[p(PhpT, -49, PHP), p(IopAm, -21, AM)],
    },
    ClientSpec {
        given: "Yvette",
        family: "Marchand",
        preferred: None,
        concerns: &[C::EmotionalDysregulation, C::SubstanceUse],
        referral: ADMIT,
        phases: &[p(ResT, -70, RES), p(PhpT, -49, PHP), p(IopAm, -19, AM)],
    },
    ClientSpec {
        given: "Zachary",
        family: "Penhallow",
        preferred: Some("Zach"),
        concerns: &[C::EmotionalDysregulation, C::Bipolar],
        referral: THERAPIST,
        phases: &[p(
            IopAm,
            -91,
            &[j(G::AmProcess), j(G::AmDbt), j_from(G::OpTransition, -7)],
        )],
    },
    ClientSpec {
        given: "Adaeze",
        family: "Thornbury",
        preferred: None,
        concerns: &[C::EmotionalDysregulation, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[p(IopAm, -83, AM)],
    },
    ClientSpec {
        given: "Bertrand",
        family: "Oyelaran",
        preferred: None,
        concerns: &[C::Depression, C::EmotionalDysregulation],
        referral: ADMIT,
        phases: &[p(IopAm, -42, AM)],
    },
    ClientSpec {
        given: "Clementine",
        family: "Rasmussen",
        preferred: Some("Clem"),
        concerns: &[C::EmotionalDysregulation, C::EatingDisorder],
        referral: THERAPIST,
        phases: &[p(IopAm, -40, AM)],
    },
    ClientSpec {
        given: "Dorian",
        family: "Westergaard",
        preferred: None,
        concerns: &[C::EmotionalDysregulation, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[p(IopAm, -35, AM)],
    },
    ClientSpec {
        given: "Esperanza",
        family: "Lowell",
        preferred: None,
        concerns: &[C::Depression, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[p(IopAm, -7, AM_PROCESS)],
    },
    // --- PHP now (10).
    ClientSpec {
        given: "Fabian",
        family: "Cordero",
        preferred: None,
        concerns: &[C::SubstanceUse, C::Depression],
        referral: ADMIT,
        phases: &[p(ResT, -56, RES), p(PhpT, -21, PHP)],
    },
    ClientSpec {
        given: "Georgiana",
        family: "Pryce",
        preferred: Some("Gia"),
        concerns: &[C::Bipolar, C::SubstanceUse],
        referral: ADMIT,
        phases: &[p(ResT, -49, RES), p(PhpT, -14, PHP)],
    },
    ClientSpec {
        given: "Hamish",
        family: "Dunleavy",
        preferred: None,
        concerns: &[C::Depression, C::Psychosis],
        referral: ADMIT,
        phases: &[p(ResT, -42, RES), p(PhpT, -7, PHP)],
    },
    ClientSpec {
        given: "Imogen",
        family: "Raskin",
        preferred: None,
        concerns: &[C::Depression, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[p(PhpT, -28, PHP)],
    },
    ClientSpec {
        given: "Jules",
        family: "Abernathy",
        preferred: None,
        concerns: &[C::Bipolar],
        referral: ADMIT,
        phases: &[p(PhpT, -19, PHP)],
    },
    ClientSpec {
        given: "Kasimir",
        family: "Novak",
        preferred: None,
        concerns: &[C::Depression, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[p(PhpT, -14, PHP)],
    },
    ClientSpec {
        given: "Leocadia",
        family: "Ferris",
        preferred: Some("Leah"),
        concerns: &[C::EatingDisorder, C::AnxietyPanic],
        referral: THERAPIST,
        phases: &[p(PhpT, -11, PHP)],
    },
    ClientSpec {
        given: "Matthias",
        family: "Greaves",
        preferred: None,
        concerns: &[C::Depression, C::SubstanceUse],
        referral: ADMIT,
        phases: &[p(PhpT, -7, PHP)],
    },
    ClientSpec {
        given: "Nerissa",
        family: "Calloway",
        preferred: None,
        concerns: &[C::AnxietyPanic, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[p(PhpT, -6, PHP)],
    },
    ClientSpec {
        given: "Osric",
        family: "Hallam",
        preferred: None,
        concerns: &[C::Depression, C::GriefLoss],
        referral: ADMIT,
        phases: &[p(PhpT, -3, PHP)],
    },
    // --- Residential now (8).
    ClientSpec {
        given: "Pernille",
        family: "Strand",
        preferred: None,
        concerns: &[C::SubstanceUse, C::Depression],
        referral: ADMIT,
        phases: &[p(ResT, -38, RES)],
    },
    ClientSpec {
        given: "Quentin",
        family: "Aldridge",
        preferred: None,
        concerns: &[C::SubstanceUse, C::Bipolar],
        referral: ADMIT,
        phases: &[p(ResT, -30, RES)],
    },
    ClientSpec {
        given: "Rosamund",
        family: "Tierney",
        preferred: Some("Ros"),
        concerns: &[C::Depression, C::PtsdTrauma],
        referral: ADMIT,
        phases: &[p(ResT, -14, RES)],
    },
    ClientSpec {
        given: "Silas",
        family: "Bramwell",
        preferred: None,
        concerns: &[C::SubstanceUse, C::AnxietyPanic],
        referral: ADMIT,
        phases: &[p(ResT, -13, RES)],
    },
    ClientSpec {
        given: "Tamsin",
        family: "Rook",
        preferred: None,
        concerns: &[C::Depression, C::EatingDisorder],
        referral: ADMIT,
        phases: &[p(ResT, -11, RES)],
    },
    ClientSpec {
        given: "Ulysses",
        family: "Garnett",
        preferred: None,
        concerns: &[C::Psychosis, C::SubstanceUse],
        referral: ADMIT,
        phases: &[p(ResT, -7, RES)],
    },
    ClientSpec {
        given: "Verity",
        family: "Lockhart",
        preferred: None,
        concerns: &[C::Bipolar, C::Depression],
        referral: THERAPIST,
        phases: &[p(ResT, -5, RES)],
    },
    ClientSpec {
        given: "Wendell",
        family: "Pruitt",
        preferred: None,
        concerns: &[C::SubstanceUse, C::Depression],
        referral: ADMIT,
        phases: &[p(ResT, -4, RES)],
    },
];

// ---------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------

/// Dates relative to `today`.
struct Clock {
    today: Date,
    /// Monday of the week containing `today`.
    monday: Date,
    /// The instant creation calls are stamped with: `today` 12:00 UTC.
    now: Timestamp,
}

impl Clock {
    fn new(today: Date) -> Result<Self> {
        let back = i64::from(today.weekday().to_monday_zero_offset());
        let monday = today
            .checked_sub(back.days())
            .context("today is outside the supported calendar")?;
        let now = today
            .at(12, 0, 0, 0)
            .to_zoned(TimeZone::UTC)
            .context("today is outside the supported calendar")?
            .timestamp();
        Ok(Self { today, monday, now })
    }

    /// The date `offset` days from this week's Monday.
    fn day(&self, offset: i64) -> Result<Date> {
        self.monday
            .checked_add(offset.days())
            .context("a demo date is outside the supported calendar")
    }
}

/// Builds a domain input from JSON, as the API does.
fn input<T: DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).context("demo input does not match the domain's input schema")
}

/// Ids of what has been created so far.
#[derive(Default)]
struct Ids {
    programs: HashMap<Prog, ProgramId>,
    rooms: HashMap<Rm, RoomId>,
    clinicians: HashMap<Cl, ClinicianId>,
    groups: HashMap<G, GroupId>,
}

impl Ids {
    fn program(&self, key: Prog) -> Result<ProgramId> {
        self.programs
            .get(&key)
            .copied()
            .with_context(|| format!("demo program {key:?} was not created"))
    }
    fn room(&self, key: Rm) -> Result<RoomId> {
        self.rooms
            .get(&key)
            .copied()
            .with_context(|| format!("demo room {key:?} was not created"))
    }
    fn clinician(&self, key: Cl) -> Result<ClinicianId> {
        self.clinicians
            .get(&key)
            .copied()
            .with_context(|| format!("demo clinician {key:?} was not created"))
    }
    fn group(&self, key: G) -> Result<GroupId> {
        self.groups
            .get(&key)
            .copied()
            .with_context(|| format!("demo group {key:?} was not created"))
    }
}

fn group_spec(key: G) -> Result<&'static GroupSpec> {
    GROUPS
        .iter()
        .find(|g| g.key == key)
        .with_context(|| format!("demo group {key:?} has no definition"))
}

/// Seeds the demo clinic into an empty, migrated database. The same `today` always gives
/// the same clinic; everything is dated relative to it.
pub async fn seed(store: &Store, today: Date) -> Result<DemoSummary> {
    let clock = Clock::new(today)?;
    let now = clock.now;
    let mut ids = Ids::default();

    for spec in PROGRAMS {
        let new = input(json!({
            "name": spec.name, "site": spec.site, "level_of_care": spec.level,
            "time_zone": TIME_ZONE,
        }))?;
        let program = store
            .create_program(&new, now)
            .await
            .with_context(|| format!("creating demo program {:?}", spec.key))?;
        let program = match spec.cap {
            Some(cap) => {
                let patch = input(json!({"version": program.version, "max_group_size": cap}))?;
                store
                    .update_program(program.id, &patch, now)
                    .await
                    .with_context(|| format!("capping demo program {:?}", spec.key))?
            }
            None => program,
        };
        ids.programs.insert(spec.key, program.id);
    }

    for spec in ROOMS {
        let new = input(json!({"site": spec.site, "name": spec.name, "capacity": spec.capacity}))?;
        let room = store
            .create_room(&new, now)
            .await
            .with_context(|| format!("creating demo room {:?}", spec.key))?;
        ids.rooms.insert(spec.key, room.id);
    }

    for (n, spec) in CLINICIANS.iter().enumerate() {
        let mut licenses = Vec::new();
        for l in spec.licenses {
            let issued_on = today
                .checked_sub(l.issued_years_ago.years())
                .context("a license date is outside the supported calendar")?;
            let expires_on = today
                .checked_add(l.expires_in_days.days())
                .context("a license date is outside the supported calendar")?;
            licenses.push(json!({
                "kind": l.kind, "number": l.number, "state": "MA",
                "issued_on": issued_on, "expires_on": expires_on,
            }));
        }
        let new = input(json!({
            "given_name": spec.given, "family_name": spec.family,
            "email": format!("{}.{}@demo.circle.test", spec.given, spec.family).to_lowercase(),
            "licenses": licenses, "modalities": spec.modalities,
            // Licensed clinicians render services and hold an NPI; trainees bill none.
            "npi": (!spec.licenses.is_empty()).then(|| demo_npi(n)),
        }))?;
        let clinician = store
            .create_clinician(&new, now)
            .await
            .with_context(|| format!("creating demo clinician {:?}", spec.key))?;
        ids.clinicians.insert(spec.key, clinician.id);
    }

    for spec in GROUPS {
        let enrollment = match spec.model {
            Model::Open => json!({"model": "open"}),
            Model::Rolling {
                start_week,
                module_weeks,
            } => json!({
                "model": "rolling", "curriculum_start": clock.day(start_week * 7)?,
                "module_weeks": module_weeks,
            }),
            Model::Closed { cohort_week } => {
                json!({"model": "closed", "cohort_start": clock.day(cohort_week * 7)?})
            }
        };
        let meetings: Vec<Value> = spec
            .days
            .iter()
            .map(|d| json!({"weekday": d, "start": spec.start, "minutes": spec.minutes}))
            .collect();
        let new: circle_domain::group::NewGroup = input(json!({
            "program_id": ids.program(spec.program)?,
            "name": spec.name,
            "kind": spec.kind,
            "modality": spec.modality,
            "focus_concerns": spec.focus,
            "eligible_levels": spec.levels,
            "enrollment": enrollment,
            "min_size": spec.size.map(|s| s.0),
            "max_size": spec.size.map(|s| s.1),
            "meetings": meetings,
            "room_id": spec.room.map(|r| ids.room(r)).transpose()?,
            "lead_facilitator_id": ids.clinician(spec.lead)?,
            "co_facilitator_id": spec.co.map(|c| ids.clinician(c)).transpose()?,
            "curriculum": crate::demo_notes::curriculum(spec.kind, spec.modality),
        }))?;
        let program = store
            .op()
            .program::<purpose::ProgramDesign>(new.program_id)
            .await?;
        let group = store
            .create_group(&program, &new, today, now)
            .await
            .with_context(|| format!("creating demo group {:?}", spec.key))?;
        ids.groups.insert(spec.key, group.id);
    }

    // Clients first, then separations (so the store checks them on every placement), then
    // each client's history of episodes and memberships.
    let mut people = StdRng::seed_from_u64(PEOPLE_SEED);
    let mut clients = Vec::with_capacity(CLIENTS.len());
    let mut absence_rate = HashMap::new();
    for (i, spec) in CLIENTS.iter().enumerate() {
        let new = input(client_json(spec, i, &clock, &mut people)?)?;
        let client = store
            .create_client(
                &store.op().role::<purpose::ClientCreate>().await?,
                &new,
                today,
                now,
            )
            .await
            .with_context(|| format!("creating demo client DEMO-{:04}", i + 1))?;
        // Most people come nearly always; a few miss more often.
        let rate = [0.03, 0.05, 0.05, 0.08, 0.15][people.gen_range(0..5)];
        absence_rate.insert(client.id, rate);
        clients.push(client.id);
    }
    for &(a, b, reason) in SEPARATIONS {
        let (Some(&a_id), Some(&b_id)) = (clients.get(a - 1), clients.get(b - 1)) else {
            bail!("demo separation names a client that does not exist");
        };
        let new = input(json!({"other_client_id": b_id, "reason": reason}))?;
        store
            .add_separation(
                &store.op().client::<purpose::SeparationCreate>(a_id).await?,
                &store.op().client::<purpose::SeparationCreate>(b_id).await?,
                &new,
                now,
            )
            .await
            .with_context(|| format!("separating DEMO-{a:04} and DEMO-{b:04}"))?;
    }
    for (i, spec) in CLIENTS.iter().enumerate() {
        admit(store, &clock, &ids, spec, clients[i])
            .await
            .with_context(|| format!("placing demo client DEMO-{:04}", i + 1))?;
    }

    // --- intake --- group agreements (signed before anyone's first session, so the
    // attendance below is allowed), referrals, screenings, Part 2 consents, disclosures.
    crate::demo_intake::seed_intake(store, today, &clients).await?;

    // Sessions: eight weeks back to two weeks ahead (a future cohort from its start).
    let mut sessions_total = 0;
    let mut held = Vec::new();
    let window_start = -PAST_WEEKS * 7;
    let window_end = (SESSION_WEEKS - PAST_WEEKS) * 7;
    for spec in GROUPS {
        let group_id = ids.group(spec.key)?;
        let from = match spec.model {
            Model::Closed { cohort_week } => window_start.max(cohort_week * 7),
            _ => window_start,
        };
        let weeks = (window_end - from) / 7;
        let req = input(json!({"from": clock.day(from)?, "weeks": weeks}))?;
        let mut sessions = store
            .materialize_sessions(group_id, &req, now)
            .await
            .with_context(|| format!("scheduling sessions of demo group {:?}", spec.key))?;
        sessions_total += sessions.len();

        for &(group, offset, reason) in CANCELLATIONS.iter().filter(|c| c.0 == spec.key) {
            let date = clock.day(offset)?;
            let Some(session) = sessions.iter_mut().find(|s| s.local_date == date) else {
                bail!("demo group {group:?} does not meet on the day of its cancellation");
            };
            let cancel = input(json!({"version": session.version, "reason": reason}))?;
            *session = store
                .cancel_session(
                    &store
                        .op()
                        .session::<purpose::SessionRun>(session.id)
                        .await?,
                    &cancel,
                    now,
                )
                .await
                .with_context(|| format!("cancelling a session of demo group {group:?}"))?;
        }
        held.extend(
            sessions
                .into_iter()
                .filter(|s| s.local_date < clock.today && s.status != SessionStatus::Cancelled),
        );
    }
    // --- placement --- waitlists, offers and a taper (before attendance: rosters change).
    crate::demo_placement::seed_placement(
        store,
        clock.today,
        now,
        ids.group(FULL_GROUP)?,
        ids.group(G::PmRelapse)?,
        &mut clients,
    )
    .await
    .context("seeding waitlists and offers")?;
    // --- planner --- two residential admissions not yet in any group: the planner's work.
    seed_unplaced(store, &clock, &ids, &mut clients).await?;
    // --- end planner ---
    let attendance_total = take_attendance(store, held.clone(), &absence_rate).await?;
    // --- measures ---
    crate::demo_measures::seed_measures(store, today, now, &clients, ids.clinician(FACILITATOR)?)
        .await?;
    // --- reports --- each member's diagnoses, for the billing export.
    crate::demo_reports::seed_diagnoses(store, &clients, now).await?;
    // --- notes ---
    let notes_total = crate::demo_notes::seed_notes(
        store,
        &held,
        ids.clinician(FACILITATOR)?,
        ids.clinician(Cl::Marchetti)?,
        now,
    )
    .await?;
    tracing::debug!(notes = notes_total, "demo notes written");
    // --- end notes ---

    let summary = DemoSummary {
        programs: PROGRAMS.len(),
        clinicians: CLINICIANS.len(),
        clients: clients.len(),
        groups: GROUPS.len(),
        sessions: sessions_total,
        attendance: attendance_total,
        director_clinician: ids.clinician(DIRECTOR)?,
        clinician_clinician: ids.clinician(FACILITATOR)?,
        client_client: *clients
            .get(CLIENT_ACCOUNT)
            .context("the demo client account names no client")?,
        full_group: ids.group(FULL_GROUP)?,
    };
    tracing::info!(%summary, "demo clinic seeded");
    Ok(summary)
}

/// Records attendance for every member on the roster of each held session. Sessions are
/// shared out among a few concurrent workers (the slow part of seeding is one transaction
/// per attendance row); each mark comes from its own seed, so the result does not depend
/// on the order the workers run in.
async fn take_attendance(
    store: &Store,
    held: Vec<Session>,
    absence_rate: &HashMap<ClientId, f64>,
) -> Result<usize> {
    let workers = match store.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => 8,
    };
    let mut shares: Vec<Vec<(u64, Session)>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, session) in held.into_iter().enumerate() {
        shares[i % workers].push((i as u64, session));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for share in shares {
        let store = store.clone();
        let absence_rate = absence_rate.clone();
        tasks.spawn(async move {
            let mut recorded = 0;
            for (ordinal, session) in share {
                // Taken at the end of the session, as a facilitator does.
                let taken_at = session
                    .ends_at
                    .checked_add(SignedDuration::from_mins(10))
                    .context("a session ends outside the supported calendar")?;
                let full = session.minutes();
                let roster = store
                    .roster(
                        &store
                            .op()
                            .session::<purpose::RosterRead>(session.id)
                            .await?,
                        taken_at,
                    )
                    .await
                    .context("reading a demo session's roster")?;
                let marker = store
                    .op()
                    .session::<purpose::AttendanceWrite>(session.id)
                    .await?;
                for entry in roster {
                    let rate = absence_rate.get(&entry.client_id).copied().unwrap_or(0.05);
                    let mut rng = StdRng::seed_from_u64(
                        ATTENDANCE_SEED ^ (ordinal << 24) ^ entry.client_id.0.unsigned_abs(),
                    );
                    let (status, minutes) = attendance_mark(&mut rng, rate, full);
                    // --- notes ---
                    let participation = if status.attended() {
                        crate::demo_notes::participation(&mut rng)
                    } else {
                        vec![]
                    };
                    let mark = input(json!({"status": status, "minutes": minutes,
                        "participation": participation}))?;
                    // --- end notes ---
                    store
                        .record_attendance(&marker, entry.client_id, &mark, taken_at)
                        .await
                        .context("recording attendance for a demo session")?;
                    recorded += 1;
                }
            }
            anyhow::Ok(recorded)
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done.context("an attendance worker stopped")??;
    }
    Ok(total)
}

/// How one member attended: mostly present; sometimes late or leaving early with the
/// minutes actually attended; sometimes absent, usually with notice.
fn attendance_mark(
    rng: &mut StdRng,
    absence_rate: f64,
    full: u32,
) -> (AttendanceStatus, Option<u32>) {
    let r: f64 = rng.r#gen();
    if r < absence_rate {
        if rng.gen_bool(0.6) {
            (AttendanceStatus::AbsentExcused, None)
        } else {
            (AttendanceStatus::AbsentUnexcused, None)
        }
    } else if r < absence_rate + 0.06 {
        let missed = [10, 15, 20, 30][rng.gen_range(0..4)];
        partial(AttendanceStatus::Late, full, missed)
    } else if r < absence_rate + 0.10 {
        let missed = [15, 20, 30, 45][rng.gen_range(0..4)];
        partial(AttendanceStatus::LeftEarly, full, missed)
    } else {
        (AttendanceStatus::Present, None)
    }
}

fn partial(status: AttendanceStatus, full: u32, missed: u32) -> (AttendanceStatus, Option<u32>) {
    if missed < full {
        (status, Some(full - missed))
    } else {
        (AttendanceStatus::Present, None)
    }
}

/// The `NewClient` JSON of the `i`th client: synthetic identity and contact details, an
/// adult date of birth, and availability that fits their current track and groups.
fn client_json(spec: &ClientSpec, i: usize, clock: &Clock, rng: &mut StdRng) -> Result<Value> {
    let age: i64 = rng.gen_range(19..=70);
    let extra_days: i64 = rng.gen_range(1..=364);
    let date_of_birth = clock
        .today
        .checked_sub(age.years())
        .and_then(|d| d.checked_sub(extra_days.days()))
        .context("a date of birth is outside the supported calendar")?;
    let email = rng
        .gen_bool(0.85)
        .then(|| format!("{}.{}@demo.circle.test", spec.given, spec.family).to_lowercase());
    let phone = rng.gen_bool(0.9).then(|| {
        let area = ["617", "781", "508", "978"][i % 4];
        format!("({area}) 555-01{:02}", i % 100)
    });
    Ok(json!({
        "record_number": format!("DEMO-{:04}", i + 1),
        "given_name": spec.given,
        "family_name": spec.family,
        "preferred_name": spec.preferred,
        "date_of_birth": date_of_birth,
        "email": email,
        "phone": phone,
        "concerns": spec.concerns,
        "availability": availability(spec)?,
        "referral_source": spec.referral,
    }))
}

/// Weekly windows (minutes of the day) for the client's current track, widened to cover
/// each group they currently attend, merged per weekday.
fn availability(spec: &ClientSpec) -> Result<Vec<Value>> {
    let current = spec.phases.last().context("a demo client has no episode")?;
    let mut windows: Vec<(i8, Weekday, u32, u32)> = Vec::new();
    for (days, start, end) in current.track.availability() {
        for d in *days {
            windows.push((d.index(), *d, minutes_of(start)?, minutes_of(end)?));
        }
    }
    for join in current.groups.iter().filter(|j| j.end.is_none()) {
        let g = group_spec(join.group)?;
        let start = minutes_of(g.start)?;
        for d in g.days {
            windows.push((
                d.index(),
                *d,
                start.saturating_sub(30),
                (start + g.minutes + 30).min(23 * 60 + 59),
            ));
        }
    }
    windows.sort_by_key(|w| (w.0, w.2));
    let mut merged: Vec<(i8, Weekday, u32, u32)> = Vec::new();
    for w in windows {
        match merged.last_mut() {
            Some(last) if last.0 == w.0 && w.2 <= last.3 => last.3 = last.3.max(w.3),
            _ => merged.push(w),
        }
    }
    Ok(merged
        .into_iter()
        .map(|(_, d, s, e)| json!({"weekday": d, "start": hhmm(s), "end": hhmm(e)}))
        .collect())
}

fn minutes_of(hhmm: &str) -> Result<u32> {
    let (h, m) = hhmm.split_once(':').context("a demo time is not HH:MM")?;
    Ok(h.parse::<u32>().context("a demo time is not HH:MM")? * 60
        + m.parse::<u32>().context("a demo time is not HH:MM")?)
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The day (from this week's Monday) a client wanting to join on `wanted` can start: any
/// day for an open group, the next module boundary for a rolling group (`None` when that
/// is after this week: they wait), the cohort start for a closed group.
fn join_day(model: Model, wanted: i64) -> Result<Option<i64>> {
    Ok(match model {
        Model::Open => Some(wanted),
        Model::Rolling {
            start_week,
            module_weeks,
        } => {
            let start = start_week * 7;
            let module = i64::from(module_weeks) * 7;
            let day = if wanted <= start {
                start
            } else if (wanted - start) % module < 7 {
                wanted
            } else {
                start + ((wanted - start) / module + 1) * module
            };
            (day < 7).then_some(day)
        }
        Model::Closed { cohort_week } => {
            let cohort = cohort_week * 7;
            if wanted > cohort {
                bail!("a demo client joins a closed group after its cohort started");
            }
            Some(cohort)
        }
    })
}

/// Plays one client's history forward: each phase opens an episode at its level (closing
/// the previous one), completes the previous phase's memberships and places the client in
/// the phase's groups.
async fn admit(
    store: &Store,
    clock: &Clock,
    ids: &Ids,
    spec: &ClientSpec,
    client: ClientId,
) -> Result<()> {
    let now = clock.now;
    let mut active: Vec<Membership> = Vec::new();
    for (i, phase) in spec.phases.iter().enumerate() {
        let next_start = spec.phases.get(i + 1).map(|n| n.start);
        let started_on = clock.day(phase.start)?;
        for m in active.drain(..) {
            end_membership(store, &m, MembershipStatus::Completed, started_on, now).await?;
        }
        let episode = input(json!({
            "level_of_care": phase.track.level(),
            "program_id": ids.program(phase.track.program())?,
            "started_on": started_on,
        }))?;
        store
            .change_level(
                &store.op().client::<purpose::EpisodeCreate>(client).await?,
                &episode,
                now,
            )
            .await
            .context("opening an episode")?;
        for join in phase.groups {
            let model = group_spec(join.group)?.model;
            let Some(from) = join_day(model, join.from.unwrap_or(phase.start))? else {
                continue;
            };
            if next_start.is_some_and(|n| from >= n) {
                continue;
            }
            // --- placement --- an open group takes at most two newcomers a session: a
            // third joins a day later, as a coordinator told "the next date with room" would.
            let mut from = from;
            let membership = loop {
                let new = input(json!({"client_id": client, "start_date": clock.day(from)?}))?;
                let group = ids.group(join.group)?;
                match store
                    .enroll(
                        &store.op().group::<purpose::Enroll>(group).await?,
                        &store.op().place::<purpose::Enroll>(client).await?,
                        &new,
                        now,
                    )
                    .await
                {
                    Err(circle_store::StoreError::Domain(
                        circle_domain::DomainError::Conflict(c),
                    )) if c.rule == circle_domain::Rule::NewcomerLimit => from += 1,
                    other => {
                        break other.with_context(|| {
                            format!("enrolling in demo group {:?}", join.group)
                        })?;
                    }
                }
            };
            match join.end {
                Some((end, how)) => {
                    let status = match how {
                        End::Completed => MembershipStatus::Completed,
                        End::Withdrawn => MembershipStatus::Withdrawn,
                    };
                    end_membership(store, &membership, status, clock.day(end)?, now).await?;
                }
                None => active.push(membership),
            }
        }
    }
    Ok(())
}

async fn end_membership(
    store: &Store,
    m: &Membership,
    status: MembershipStatus,
    end_date: Date,
    now: Timestamp,
) -> Result<()> {
    let change = input(json!({"version": m.version, "status": status, "end_date": end_date}))?;
    store
        .change_membership(
            &store
                .op()
                .group::<purpose::MembershipUpdate>(m.group_id)
                .await?,
            m.id,
            &change,
            now,
        )
        .await
        .context("ending a membership")?;
    Ok(())
}

// --- planner ---
/// Two people admitted to residential this morning and placed in no group yet: available
/// all weekday, so the planner can place them in the residential groups (which have seats).
async fn seed_unplaced(
    store: &Store,
    clock: &Clock,
    ids: &Ids,
    clients: &mut Vec<ClientId>,
) -> Result<()> {
    let now = clock.now;
    let people = [
        (
            "Imani",
            "Okafor",
            "1979-03-14",
            json!(["substance_use", "depression"]),
        ),
        (
            "Tomasz",
            "Wierzbicki",
            "1991-11-02",
            json!(["anxiety_panic"]),
        ),
    ];
    for (i, (given, family, born, concerns)) in people.iter().enumerate() {
        let new = input(json!({
            "record_number": format!("DEMO-P{:03}", i + 1), "given_name": given,
            "family_name": family, "date_of_birth": born, "concerns": concerns,
            "availability": [{"weekday": "monday", "start": "08:00", "end": "17:00"},
                {"weekday": "tuesday", "start": "08:00", "end": "17:00"},
                {"weekday": "wednesday", "start": "08:00", "end": "17:00"},
                {"weekday": "thursday", "start": "08:00", "end": "17:00"},
                {"weekday": "friday", "start": "08:00", "end": "17:00"}],
            "referral_source": "program_admission",
        }))?;
        let client = store
            .create_client(
                &store.op().role::<purpose::ClientCreate>().await?,
                &new,
                clock.today,
                now,
            )
            .await
            .context("creating an unplaced demo client")?;
        let episode = input(json!({
            "level_of_care": "residential",
            "program_id": ids.program(Prog::Residential)?,
            "started_on": clock.today,
        }))?;
        store
            .change_level(
                &store
                    .op()
                    .client::<purpose::EpisodeCreate>(client.id)
                    .await?,
                &episode,
                now,
            )
            .await
            .context("admitting an unplaced demo client")?;
        clients.push(client.id);
    }
    Ok(())
}
// --- end planner ---

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use circle_domain::client::Client;
    use circle_domain::group::{Enrollment, Group};
    use circle_domain::{DomainError, Rule};
    use circle_store::{PageRequest, StoreError};
    use jiff::civil::date;

    use super::*;

    /// A fresh, migrated database with keys (SQLite, or PostgreSQL when
    /// `TEST_DATABASE_URL` is set), shared with the rest of the suite.
    type Db = circle_testkit::TestDb;

    async fn seeded(today: Date) -> (Db, DemoSummary) {
        let db = Db::new().await;
        let started = Instant::now();
        let summary = seed(&db.store, today).await.expect("the demo seeds");
        eprintln!(
            "demo seeded on {:?} in {:.2?}: {summary}",
            db.store.backend(),
            started.elapsed()
        );
        (db, summary)
    }

    const ALL: PageRequest = PageRequest {
        after: 0,
        limit: 200,
    };

    async fn clients(store: &Store) -> Vec<Client> {
        store
            .list_clients(
                &store
                    .op()
                    .listing::<purpose::ClientList>()
                    .await
                    .expect("listing"),
                ALL,
                jiff::Timestamp::now(),
            )
            .await
            .expect("list clients")
            .items
    }

    async fn groups(store: &Store) -> Vec<Group> {
        store
            .list_groups(None, ALL)
            .await
            .expect("list groups")
            .items
    }

    async fn active_groups(store: &Store, client: ClientId) -> BTreeSet<GroupId> {
        store
            .client_memberships(
                &store
                    .op()
                    .client::<purpose::ClientMemberships>(client)
                    .await
                    .expect("access"),
                jiff::Timestamp::now(),
            )
            .await
            .expect("memberships")
            .into_iter()
            .filter(|m| m.end_date.is_none())
            .map(|m| m.group_id)
            .collect()
    }

    fn rule_of<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Rule {
        match r {
            Err(StoreError::Domain(DomainError::Conflict(c))) => c.rule,
            other => panic!("expected a rule conflict, got {other:?}"),
        }
    }

    #[test]
    fn the_tables_are_consistent() {
        let mut keys = BTreeSet::new();
        for g in GROUPS {
            assert!(keys.insert(format!("{:?}", g.key)), "{:?} twice", g.key);
        }
        for spec in CLIENTS {
            assert!(spec.phases.windows(2).all(|w| w[0].start < w[1].start));
        }
        assert!(CLIENTS[CLIENT_ACCOUNT].phases.len() >= 3);
        for &(a, b, _) in SEPARATIONS {
            assert!(a != b && (1..=CLIENTS.len()).contains(&a) && b <= CLIENTS.len());
        }
        // A rolling group admits in a module's first week only, and waits past this week.
        let rolling = Model::Rolling {
            start_week: -12,
            module_weeks: 6,
        };
        assert_eq!(join_day(rolling, -90).expect("a day"), Some(-84));
        assert_eq!(join_day(rolling, -80).expect("a day"), Some(-80));
        assert_eq!(join_day(rolling, -77).expect("a day"), Some(-42));
        assert_eq!(join_day(rolling, -3).expect("a day"), Some(0));
        assert_eq!(join_day(rolling, 8).expect("a day"), None);
    }

    /// A Wednesday, so this week has held and upcoming sessions.
    const TODAY: Date = date(2026, 5, 6);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_clinic_is_realistic_and_keeps_every_rule() {
        let (db, summary) = seeded(TODAY).await;
        let store = &db.store;
        let now = Clock::new(TODAY).expect("a clock").now;

        // Counts.
        assert!((10..=14).contains(&summary.clinicians), "{summary}");
        // --- planner --- (two unplaced residential admissions for the planner)
        assert!((55..=67).contains(&summary.clients), "{summary}");
        // --- end planner ---
        let clients = clients(store).await;
        assert_eq!(clients.len(), summary.clients);
        assert_eq!(
            store
                .list_programs(ALL)
                .await
                .expect("programs")
                .items
                .len(),
            summary.programs
        );
        assert_eq!(
            store
                .list_clinicians(ALL)
                .await
                .expect("clinicians")
                .items
                .len(),
            summary.clinicians
        );
        let groups = groups(store).await;
        assert_eq!(groups.len(), summary.groups);
        assert!(summary.attendance > 1000, "{summary}");

        // Every kind and the skills modalities; every enrollment model; telehealth.
        let kinds: BTreeSet<(GroupKind, Option<Modality>)> =
            groups.iter().map(|g| (g.kind, g.modality)).collect();
        assert!(kinds.len() >= 6, "{kinds:?}");
        for kind in GroupKind::ALL {
            assert!(groups.iter().any(|g| g.kind == *kind), "no {kind} group");
        }
        for m in [Modality::Cbt, Modality::Dbt, Modality::Mindfulness] {
            assert!(
                kinds.contains(&(GroupKind::Skills, Some(m))),
                "no {m} skills"
            );
        }
        let models: BTreeSet<&str> = groups.iter().map(|g| g.enrollment.model()).collect();
        assert_eq!(models, BTreeSet::from(["closed", "open", "rolling"]));
        assert!(groups.iter().any(Group::is_telehealth));
        assert!(groups.iter().any(|g| matches!(
            g.enrollment,
            Enrollment::Closed { cohort_start } if cohort_start > TODAY
        )));

        // The Medicaid-style cap.
        let programs = store.list_programs(ALL).await.expect("programs").items;
        assert!(programs.iter().any(|p| p.max_group_size == 8));

        // Every client has a current level; some have a step-down history.
        assert!(clients.iter().all(|c| c.current_level.is_some()));
        let history = store
            .episodes(
                &store
                    .op()
                    .client::<purpose::EpisodeRead>(summary.client_client)
                    .await
                    .expect("access"),
                jiff::Timestamp::now(),
            )
            .await
            .expect("episodes");
        assert!(history.len() >= 3, "the demo client steps down");
        assert_eq!(history.iter().filter(|e| e.ended_on.is_none()).count(), 1);
        let mut levels = BTreeSet::new();
        for c in &clients {
            levels.insert(c.current_level);
        }
        assert_eq!(levels.len(), 4, "clients at every level of care");

        // Clinicians: the director and the facilitator lead groups; one trainee and one
        // license about to lapse, both only co-facilitating.
        let clinicians = store.list_clinicians(ALL).await.expect("clinicians").items;
        let leads = |id: ClinicianId| {
            groups
                .iter()
                .filter(|g| g.lead_facilitator_id == id)
                .count()
        };
        assert!(leads(summary.director_clinician) >= 1);
        assert!(leads(summary.clinician_clinician) >= 2);
        let trainee = clinicians
            .iter()
            .find(|c| c.is_trainee())
            .expect("a trainee");
        let soon = TODAY.checked_add(21.days()).expect("a date");
        let lapsing = clinicians
            .iter()
            .find(|c| !c.is_trainee() && c.licenses.iter().all(|l| l.expires_on <= soon))
            .expect("a license about to lapse");
        for c in [trainee, lapsing] {
            assert_eq!(leads(c.id), 0);
            assert!(groups.iter().any(|g| g.co_facilitator_id == Some(c.id)));
        }

        // The full group: 12 of 12, and a thirteenth eligible client is refused.
        let full = store.group(summary.full_group).await.expect("full group");
        assert_eq!(full.max_size, 12);
        let members = store
            .list_memberships(
                &store
                    .op()
                    .group::<purpose::GroupMemberships>(full.id)
                    .await
                    .expect("access"),
                ALL,
                jiff::Timestamp::now(),
            )
            .await
            .expect("memberships")
            .items;
        let active = members
            .iter()
            .filter(|m| m.status == MembershipStatus::Active && m.end_date.is_none())
            .count();
        assert_eq!(active, 12);
        assert!(
            members
                .iter()
                .any(|m| m.status == MembershipStatus::Completed)
        );
        let newcomer = store
            .create_client(
                &store
                    .op()
                    .role::<purpose::ClientCreate>()
                    .await
                    .expect("access"),
                &input(json!({
                    "record_number": "TEST-0001", "given_name": "Newcomer",
                    "family_name": "Example", "date_of_birth": "1990-01-01",
                    "referral_source": "program_admission",
                }))
                .expect("input"),
                TODAY,
                now,
            )
            .await
            .expect("newcomer");
        let level = *full.eligible_levels.first().expect("a level");
        store
            .change_level(
                &store
                    .op()
                    .client::<purpose::EpisodeCreate>(newcomer.id)
                    .await
                    .expect("access"),
                &input(json!({"level_of_care": level, "started_on": TODAY})).expect("input"),
                now,
            )
            .await
            .expect("episode");
        let join = input(json!({"client_id": newcomer.id, "start_date": TODAY})).expect("input");
        assert_eq!(
            rule_of(
                store
                    .enroll(
                        &store
                            .op()
                            .group::<purpose::Enroll>(full.id)
                            .await
                            .expect("access"),
                        &store
                            .op()
                            .place::<purpose::Enroll>(newcomer.id)
                            .await
                            .expect("access"),
                        &join,
                        now
                    )
                    .await
            ),
            Rule::GroupFull
        );

        // Separated clients share no active group.
        let mut pairs = BTreeSet::new();
        for c in &clients {
            for s in store
                .separations(
                    &store
                        .op()
                        .client::<purpose::SeparationRead>(c.id)
                        .await
                        .expect("access"),
                    jiff::Timestamp::now(),
                )
                .await
                .expect("separations")
            {
                pairs.insert(s.id);
                let mine = active_groups(store, c.id).await;
                let theirs = active_groups(store, s.other_client_id).await;
                assert!(mine.is_disjoint(&theirs), "a separated pair shares a group");
            }
        }
        assert!(pairs.len() >= 3);

        // Sessions: every past session was held (attendance taken) or cancelled; every
        // lead held an active license on the day; members stay within their group's size.
        let from = TODAY.checked_sub(70.days()).expect("a date");
        let until = TODAY.checked_add(21.days()).expect("a date");
        let mut cancelled = 0;
        let mut count = 0;
        for g in &groups {
            for s in store
                .list_sessions(g.id, from, until)
                .await
                .expect("sessions")
            {
                count += 1;
                let lead = clinicians
                    .iter()
                    .find(|c| c.id == s.lead_facilitator_id)
                    .expect("the lead");
                assert!(lead.licensed_on(s.local_date));
                if s.local_date < TODAY {
                    assert_ne!(
                        s.status,
                        SessionStatus::Scheduled,
                        "{} {}",
                        g.name,
                        s.local_date
                    );
                } else {
                    assert_eq!(s.status, SessionStatus::Scheduled);
                }
                if s.status == SessionStatus::Cancelled {
                    cancelled += 1;
                    assert!(s.cancel_reason.is_some());
                }
                let roster = store
                    .roster(
                        &store
                            .op()
                            .session::<purpose::RosterRead>(s.id)
                            .await
                            .expect("access"),
                        jiff::Timestamp::now(),
                    )
                    .await
                    .expect("roster");
                assert!(
                    roster.len() <= g.max_size as usize,
                    "{} {}",
                    g.name,
                    s.local_date
                );
            }
        }
        assert_eq!(count, summary.sessions);
        assert_eq!(cancelled, CANCELLATIONS.len());
    }

    #[tokio::test]
    async fn seeding_is_deterministic() {
        // A Sunday, and the day US clocks fall back.
        let today = date(2026, 11, 1);
        let (a, summary_a) = seeded(today).await;
        let (b, summary_b) = seeded(today).await;
        assert_eq!(summary_a, summary_b);

        let people = |cs: Vec<Client>| {
            cs.into_iter()
                .map(|c| {
                    (
                        c.record_number.to_string(),
                        c.roster_name(),
                        c.date_of_birth,
                        c.current_level,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            people(clients(&a.store).await),
            people(clients(&b.store).await)
        );

        let roster_of_first_group = |store: Store| async move {
            let group = groups(&store).await.into_iter().next().expect("a group");
            let from = today.checked_sub(60.days()).expect("a date");
            let mut out = Vec::new();
            for s in store
                .list_sessions(group.id, from, today)
                .await
                .expect("sessions")
            {
                for e in store
                    .roster(
                        &store
                            .op()
                            .session::<purpose::RosterRead>(s.id)
                            .await
                            .expect("access"),
                        jiff::Timestamp::now(),
                    )
                    .await
                    .expect("roster")
                {
                    out.push((
                        s.local_date,
                        e.display_name,
                        e.attendance.map(|a| (a.status, a.minutes)),
                    ));
                }
            }
            out
        };
        let ra = roster_of_first_group(a.store.clone()).await;
        assert!(!ra.is_empty());
        assert_eq!(ra, roster_of_first_group(b.store.clone()).await);
    }

    // --- portal ---
    /// The demo client's portal (client@demo.circle.test) shows real groups and upcoming
    /// sessions, and the public directory has stand-alone groups with open seats.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_client_has_groups_and_sessions_and_the_directory_has_groups() {
        let (db, summary) = seeded(TODAY).await;
        let store = &db.store;
        let now = Clock::new(TODAY).expect("a clock").now;
        let until = now
            .checked_add(jiff::SignedDuration::from_hours(24 * 7 * 4))
            .expect("a time");
        let (groups, sessions) = store
            .own_schedule(
                &store
                    .op()
                    .client::<purpose::ScheduleRead>(summary.client_client)
                    .await
                    .expect("access"),
                TODAY,
                now..until,
                "portal",
                now,
            )
            .await
            .expect("the demo client's schedule");
        assert!(!groups.is_empty(), "the demo client is in a group");
        assert!(
            sessions.len() >= 3,
            "and has sessions ahead: {}",
            sessions.len()
        );
        let directory = store.directory(TODAY).await.expect("the directory");
        assert!(
            directory.iter().any(|e| e.seats_open),
            "a group with open seats"
        );
    }
    // --- end portal ---
}
