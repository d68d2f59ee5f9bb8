//! What the director's reports count: the census (clients, memberships and open seats per
//! program; clients per level of care), attendance per group over a date range, and
//! outcome measures per group. Each read is audited with the ids of the clients it counts.
//!
//! The queries fetch plain rows and the counting happens here in Rust: the two databases
//! disagree on the types of `SUM` and `AVG`, and a clinic's rows fit in memory easily.

use std::collections::{BTreeMap, BTreeSet};

use crate::access::{ListScope, Listing, Purpose, purpose};
use circle_domain::audit::AuditAction;
use circle_domain::care::LevelOfCare;
use circle_domain::ids::{ClientId, ClinicianId, GroupId, ProgramId, UserId};
use circle_domain::membership::MembershipStatus;
use circle_domain::session::AttendanceStatus;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::audit::Record;
use crate::codec::{date, read, ts};
use crate::{Store, StoreError};

/// One program's census on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramCensus {
    pub program_id: ProgramId,
    pub program: String,
    pub level_of_care: LevelOfCare,
    pub groups: u32,
    /// Distinct clients with an active membership in one of the program's groups.
    pub active_clients: u32,
    /// Active memberships that have started (a client in two groups counts twice).
    pub memberships: u32,
    /// The groups' maximum sizes added up.
    pub seats: u32,
    /// Seats no membership holds (active, on hold or starting later), as the waitlist
    /// counts them.
    pub open_seats: u32,
}

/// The census: per program, and clients per level of care (open episodes on the day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    pub programs: Vec<ProgramCensus>,
    /// Distinct clients with an active membership anywhere (a client in two programs'
    /// groups counts once here, once in each program).
    pub active_clients: u32,
    pub levels: Vec<(LevelOfCare, u32)>,
}

/// Which groups a report covers: every group, those a clinician leads or co-leads, or
/// those of the programs linked to a scoped director.
#[derive(Debug, Clone, Copy)]
enum GroupScope {
    All,
    LedBy(ClinicianId),
    /// The groups of the programs linked to this director's account.
    Programs(UserId),
}

impl GroupScope {
    /// The groups a listing covers: a clinician's own, a scoped director's programs', or
    /// every group.
    fn of<P: Purpose>(listing: &Listing<P>) -> Self {
        match listing.scope() {
            ListScope::All => GroupScope::All,
            ListScope::Programs { director, .. } => GroupScope::Programs(*director),
            ListScope::Caseload { clinician, .. } => GroupScope::LedBy(*clinician),
            ListScope::Own(_) => GroupScope::LedBy(ClinicianId(-2)),
        }
    }

    fn bind(self) -> i64 {
        match self {
            GroupScope::All => -1,
            GroupScope::LedBy(c) => c.0,
            GroupScope::Programs(u) => u.0,
        }
    }

    /// The condition on `g` (a `therapy_groups` alias) for this scope, bound at `p`.
    fn condition(self, p: &str) -> String {
        match self {
            GroupScope::All | GroupScope::LedBy(_) => {
                format!("({p} = -1 OR g.lead_facilitator_id = {p} OR g.co_facilitator_id = {p})")
            }
            GroupScope::Programs(_) => {
                crate::director_programs::director_program(p, "g.program_id")
            }
        }
    }
}

/// One group's attendance over a range: its held sessions and what was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAttendance {
    pub group_id: GroupId,
    pub group: String,
    pub program: String,
    pub held_sessions: u32,
    pub present: u32,
    pub late: u32,
    pub left_early: u32,
    pub absent_excused: u32,
    pub absent_unexcused: u32,
}

impl GroupAttendance {
    /// A group with nothing counted yet.
    pub fn new(group_id: GroupId, group: String, program: String) -> Self {
        Self {
            group_id,
            group,
            program,
            held_sessions: 0,
            present: 0,
            late: 0,
            left_early: 0,
            absent_excused: 0,
            absent_unexcused: 0,
        }
    }

    /// Attended in part or whole: present, late or left early.
    pub fn attended(&self) -> u32 {
        self.present + self.late + self.left_early
    }

    pub fn recorded(&self) -> u32 {
        self.attended() + self.absent_excused + self.absent_unexcused
    }

    /// Attended records per hundred recorded, rounded to the nearest whole; `None` when
    /// nothing was recorded.
    pub fn rate_percent(&self) -> Option<u32> {
        let r = self.recorded();
        (r > 0).then(|| (self.attended() * 200 + r) / (2 * r))
    }
}

/// One instrument's change in one group: members' first and latest totals.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentOutcome {
    pub instrument: String,
    /// Members with at least two scores (a change needs two).
    pub measured: u32,
    pub mean_first: Option<f64>,
    pub mean_latest: Option<f64>,
}

impl InstrumentOutcome {
    pub fn mean_change(&self) -> Option<f64> {
        Some(self.mean_latest? - self.mean_first?)
    }
}

/// One group's outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOutcome {
    pub group_id: GroupId,
    pub group: String,
    pub program: String,
    /// Everyone who has been a member up to the day.
    pub members: u32,
    pub instruments: Vec<InstrumentOutcome>,
}

/// The instruments the outcome report compares (the built-in, free ones).
pub const OUTCOME_INSTRUMENTS: [&str; 2] = ["phq9", "gad7"];

/// Means of the first and latest totals of each client with two or more, given each
/// client's totals oldest first.
pub fn outcome_of(instrument: &str, totals: &[&[i64]]) -> InstrumentOutcome {
    let pairs: Vec<(i64, i64)> = totals
        .iter()
        .filter(|t| t.len() >= 2)
        .filter_map(|t| Some((*t.first()?, *t.last()?)))
        .collect();
    let n = pairs.len();
    let mean = |f: fn(&(i64, i64)) -> i64| {
        (n > 0).then(|| {
            let sum: i64 = pairs.iter().map(f).sum();
            #[allow(
                clippy::cast_precision_loss,
                reason = "score sums are small integers, exact in f64"
            )]
            let mean = sum as f64 / n as f64;
            mean
        })
    };
    InstrumentOutcome {
        instrument: instrument.to_owned(),
        measured: u32::try_from(n).unwrap_or(u32::MAX),
        mean_first: mean(|p| p.0),
        mean_latest: mean(|p| p.1),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(sqlx::FromRow)]
struct AttendanceRateRow {
    group_id: i64,
    group_name: String,
    program_name: String,
    session_id: i64,
    attendance: Option<String>,
    client_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct CensusProgramRow {
    id: i64,
    name: String,
    level_of_care: String,
}

#[derive(sqlx::FromRow)]
struct CensusGroupRow {
    id: i64,
    program_id: i64,
    max_size: i64,
}

#[derive(sqlx::FromRow)]
struct CensusMembershipRow {
    group_id: i64,
    client_id: i64,
    status: String,
    start_date: String,
}

#[derive(sqlx::FromRow)]
struct CensusEpisodeRow {
    client_id: i64,
    program_id: Option<i64>,
    level_of_care: String,
}

#[derive(sqlx::FromRow)]
struct OutcomeGroupRow {
    id: i64,
    name: String,
    program_name: String,
}

#[derive(sqlx::FromRow)]
struct OutcomeMemberRow {
    group_id: i64,
    client_id: i64,
}

#[derive(sqlx::FromRow)]
struct OutcomeScoreRow {
    client_id: i64,
    instrument_code: String,
    total: i64,
}

impl Store {
    /// The census on `day` of every program, or only of a scoped director's programs:
    /// their groups, memberships and seats, and the levels of the episodes in them.
    pub async fn census(
        &self,
        listing: &Listing<purpose::ReportCensus>,
        day: Date,
        at: Timestamp,
    ) -> Result<Census, StoreError> {
        let (only, ctx) = (listing.only_programs(), listing.audit());
        let wanted = |p: i64| only.is_none_or(|o| o.contains(&ProgramId(p)));
        let mut tx = self.begin_read().await?;
        let mut programs = sqlx::query_as::<_, CensusProgramRow>(
            "SELECT id, name, level_of_care FROM programs ORDER BY name, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut groups = sqlx::query_as::<_, CensusGroupRow>(
            "SELECT id, program_id, max_size FROM therapy_groups",
        )
        .fetch_all(&mut *tx)
        .await?;
        programs.retain(|r| wanted(r.id));
        groups.retain(|r| wanted(r.program_id));
        // Every membership holding a seat on the day (as the waitlist counts seats).
        let memberships = sqlx::query_as::<_, CensusMembershipRow>(
            "SELECT m.group_id, m.client_id, m.status, m.start_date FROM memberships m \
             WHERE m.end_date IS NULL OR m.end_date > $1",
        )
        .bind(date(day))
        .fetch_all(&mut *tx)
        .await?;
        let mut episodes = sqlx::query_as::<_, CensusEpisodeRow>(
            "SELECT client_id, program_id, level_of_care FROM episodes \
             WHERE started_on <= $1 AND (ended_on IS NULL OR ended_on > $1)",
        )
        .bind(date(day))
        .fetch_all(&mut *tx)
        .await?;
        if only.is_some() {
            episodes.retain(|r| r.program_id.is_some_and(wanted));
        }

        let mut group_program: BTreeMap<i64, i64> = BTreeMap::new();
        for g in &groups {
            group_program.insert(g.id, g.program_id);
        }
        let mut by_program: BTreeMap<i64, ProgramCensus> = BTreeMap::new();
        for r in programs {
            let id = r.id;
            by_program.insert(
                id,
                ProgramCensus {
                    program_id: ProgramId(id),
                    program: r.name,
                    level_of_care: read::vocab(
                        &r.level_of_care,
                        "level_of_care",
                        LevelOfCare::parse,
                    )?,
                    groups: 0,
                    active_clients: 0,
                    memberships: 0,
                    seats: 0,
                    open_seats: 0,
                },
            );
        }
        let mut held: BTreeMap<i64, u32> = BTreeMap::new();
        let mut clients: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        let mut counted: BTreeSet<ClientId> = BTreeSet::new();
        for r in &memberships {
            let group = r.group_id;
            if !group_program.contains_key(&group) {
                // A group outside the programs counted.
                continue;
            }
            *held.entry(group).or_default() += 1;
            let status = read::vocab(&r.status, "status", MembershipStatus::parse)?;
            if status == MembershipStatus::Active && read::date(&r.start_date, "start_date")? <= day
            {
                let client = r.client_id;
                counted.insert(ClientId(client));
                let program = *group_program
                    .get(&group)
                    .ok_or(StoreError::Corrupt("memberships.group_id"))?;
                clients.entry(program).or_default().insert(client);
                if let Some(p) = by_program.get_mut(&program) {
                    p.memberships += 1;
                }
            }
        }
        for g in &groups {
            let id = g.id;
            let program = g.program_id;
            let max = read::uint(g.max_size, "max_size")?;
            let taken = held.get(&id).copied().unwrap_or(0);
            if let Some(p) = by_program.get_mut(&program) {
                p.groups += 1;
                p.seats += max;
                p.open_seats += max.saturating_sub(taken);
            }
        }
        let active_clients = count(
            clients
                .values()
                .flat_map(|set| set.iter())
                .collect::<BTreeSet<_>>()
                .len(),
        );
        for (program, set) in clients {
            if let Some(p) = by_program.get_mut(&program) {
                p.active_clients = count(set.len());
            }
        }
        let mut levels: BTreeMap<LevelOfCare, u32> =
            LevelOfCare::ALL.iter().map(|l| (*l, 0)).collect();
        for r in &episodes {
            *levels
                .entry(read::vocab(
                    &r.level_of_care,
                    "level_of_care",
                    LevelOfCare::parse,
                )?)
                .or_default() += 1;
            counted.insert(ClientId(r.client_id));
        }
        let mut programs: Vec<ProgramCensus> = by_program.into_values().collect();
        programs.sort_by(|a, b| {
            a.program
                .cmp(&b.program)
                .then(a.program_id.cmp(&b.program_id))
        });
        let ids: Vec<ClientId> = counted.into_iter().collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ReportCensus, &ids).object(date(day)),
        )
        .await?;
        Ok(Census {
            programs,
            active_clients,
            levels: LevelOfCare::ALL
                .iter()
                .map(|l| (*l, levels.get(l).copied().unwrap_or(0)))
                .collect(),
        })
    }

    /// Per group in scope with a held session from `from` to `until` (inclusive): the held
    /// sessions and the attendance recorded at them.
    pub async fn attendance_rates(
        &self,
        listing: &Listing<purpose::ReportAttendance>,
        from: Date,
        until: Date,
        at: Timestamp,
    ) -> Result<Vec<GroupAttendance>, StoreError> {
        let (scope, ctx) = (GroupScope::of(listing), listing.audit());
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, AttendanceRateRow>(&format!(
            "SELECT g.id AS group_id, g.name AS group_name, p.name AS program_name, \
             s.id AS session_id, a.client_id, a.status AS attendance \
             FROM sessions s JOIN therapy_groups g ON g.id = s.group_id \
             JOIN programs p ON p.id = g.program_id \
             LEFT JOIN attendance a ON a.session_id = s.id \
             WHERE s.status = 'held' AND s.local_date >= $1 AND s.local_date <= $2 AND {} \
             ORDER BY p.name, g.name, g.id, s.id",
            scope.condition("$3")
        ))
        .bind(date(from))
        .bind(date(until))
        .bind(scope.bind())
        .fetch_all(&mut *tx)
        .await?;
        let mut out: Vec<GroupAttendance> = Vec::new();
        let mut sessions: BTreeSet<i64> = BTreeSet::new();
        let mut ids: BTreeSet<ClientId> = BTreeSet::new();
        for r in rows {
            let group = GroupId(r.group_id);
            if out.last().is_none_or(|g| g.group_id != group) {
                out.push(GroupAttendance::new(group, r.group_name, r.program_name));
            }
            let Some(g) = out.last_mut() else {
                continue;
            };
            if sessions.insert(r.session_id) {
                g.held_sessions += 1;
            }
            let Some(status) = read::opt_vocab(
                r.attendance.as_deref(),
                "attendance",
                AttendanceStatus::parse,
            )?
            else {
                continue;
            };
            if let Some(c) = r.client_id {
                ids.insert(ClientId(c));
            }
            match status {
                AttendanceStatus::Present => g.present += 1,
                AttendanceStatus::Late => g.late += 1,
                AttendanceStatus::LeftEarly => g.left_early += 1,
                AttendanceStatus::AbsentExcused => g.absent_excused += 1,
                AttendanceStatus::AbsentUnexcused => g.absent_unexcused += 1,
            }
        }
        let ids: Vec<ClientId> = ids.into_iter().collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ReportAttendance, &ids).object(format!(
                "{}..{}",
                date(from),
                date(until)
            )),
        )
        .await?;
        Ok(out)
    }

    /// Per group in scope (every group, measured or not): its members up to `day` and, for
    /// PHQ-9 and GAD-7, the mean first and latest totals of those measured twice or more
    /// (scores given before the end of `day`).
    pub async fn outcomes(
        &self,
        listing: &Listing<purpose::ReportOutcomes>,
        day: Date,
        until: Timestamp,
        at: Timestamp,
    ) -> Result<Vec<GroupOutcome>, StoreError> {
        let (scope, ctx) = (GroupScope::of(listing), listing.audit());
        let mut tx = self.begin_read().await?;
        let groups = sqlx::query_as::<_, OutcomeGroupRow>(&format!(
            "SELECT g.id, g.name, p.name AS program_name FROM therapy_groups g \
             JOIN programs p ON p.id = g.program_id WHERE {} ORDER BY p.name, g.name, g.id",
            scope.condition("$1")
        ))
        .bind(scope.bind())
        .fetch_all(&mut *tx)
        .await?;
        let members = sqlx::query_as::<_, OutcomeMemberRow>(&format!(
            "SELECT DISTINCT m.group_id, m.client_id FROM memberships m \
             JOIN therapy_groups g ON g.id = m.group_id WHERE m.start_date <= $1 AND {}",
            scope.condition("$2")
        ))
        .bind(date(day))
        .bind(scope.bind())
        .fetch_all(&mut *tx)
        .await?;
        let scores = sqlx::query_as::<_, OutcomeScoreRow>(&format!(
            "SELECT r.client_id, r.instrument_code, r.total FROM measure_responses r \
             WHERE r.instrument_code IN ('{}', '{}') AND r.administered_at < $1 \
             AND r.client_id IN (SELECT m.client_id FROM memberships m \
             JOIN therapy_groups g ON g.id = m.group_id WHERE m.start_date <= $2 AND {}) \
             ORDER BY r.client_id, r.instrument_code, r.administered_at, r.id",
            OUTCOME_INSTRUMENTS[0],
            OUTCOME_INSTRUMENTS[1],
            scope.condition("$3")
        ))
        .bind(ts(until))
        .bind(date(day))
        .bind(scope.bind())
        .fetch_all(&mut *tx)
        .await?;
        let mut totals: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
        for r in scores {
            totals
                .entry((r.client_id, r.instrument_code))
                .or_default()
                .push(r.total);
        }
        let mut by_group: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut ids: BTreeSet<ClientId> = BTreeSet::new();
        for r in &members {
            let client = r.client_id;
            by_group.entry(r.group_id).or_default().push(client);
            ids.insert(ClientId(client));
        }
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let id = g.id;
            let clients = by_group.get(&id).map(Vec::as_slice).unwrap_or_default();
            let instruments = OUTCOME_INSTRUMENTS
                .iter()
                .map(|code| {
                    let per_client: Vec<&[i64]> = clients
                        .iter()
                        .filter_map(|c| totals.get(&(*c, (*code).to_owned())))
                        .map(Vec::as_slice)
                        .collect();
                    outcome_of(code, &per_client)
                })
                .collect();
            out.push(GroupOutcome {
                group_id: GroupId(id),
                group: g.name,
                program: g.program_name,
                members: count(clients.len()),
                instruments,
            });
        }
        let ids: Vec<ClientId> = ids.into_iter().collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ReportOutcomes, &ids).object(date(day)),
        )
        .await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_averages_first_and_latest_of_those_measured_twice() {
        let a: &[i64] = &[20, 15, 10];
        let b: &[i64] = &[12, 8];
        let once: &[i64] = &[25];
        let o = outcome_of("phq9", &[a, b, once]);
        assert_eq!(o.measured, 2);
        assert_eq!(o.mean_first, Some(16.0));
        assert_eq!(o.mean_latest, Some(9.0));
        assert_eq!(o.mean_change(), Some(-7.0));
        let none = outcome_of("gad7", &[once]);
        assert_eq!((none.measured, none.mean_change()), (0, None));
    }

    #[test]
    fn an_attendance_rate_rounds_to_the_nearest_percent() {
        let mut g = GroupAttendance::new(GroupId(1), "g".into(), "p".into());
        assert_eq!(g.rate_percent(), None);
        g.present = 1;
        g.late = 1;
        g.absent_unexcused = 1;
        assert_eq!(g.rate_percent(), Some(67));
    }
}
