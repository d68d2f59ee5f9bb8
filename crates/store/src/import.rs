//! Onboarding by import (issue 15): a clinic's clinicians, rooms, programs, groups,
//! clients, episodes, separations and current memberships, read from its CSV files by the
//! app layer into typed rows, written here in one transaction.
//!
//! Every row goes through the code paths the clinic's own screens use (`insert_clinician`,
//! `insert_group` with `check_group_in`, `insert_client`, the episode order rule, the
//! enrollment rules over `pair_facts`), each inside a savepoint, so one refused row is
//! reported with its file, row and column and the rows after it are still checked. The
//! transaction commits only when no row was refused and this is not a dry run: all or
//! nothing. Rows whose `external_id` (the clinic's own id) is already in the database are
//! left as they are, so a second run of the same files changes nothing.
//!
//! Problems name the file, the row and the column, and say the rule; never a value.

use std::collections::{BTreeMap, HashMap, HashSet};

use circle_domain::DomainError;
use circle_domain::Rule;
use circle_domain::audit::AuditAction;
use circle_domain::care::LevelOfCare;
use circle_domain::client::{Client, Episode, NewClient, NewEpisode, check_episode_change};
use circle_domain::clinician::{Clinician, NewClinician};
use circle_domain::group::{Group, NewGroup};
use circle_domain::ids::{ClientId, ClinicianId, GroupId, ProgramId, RoomId};
use circle_domain::membership::{Membership, MembershipStatus, enrollment_conflicts};
use circle_domain::program::{NewProgram, NewRoom, Program, Room};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::access::{RoleAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::{LockTable, date, lock_row, ts};
use crate::groups::{GROUP_COLUMNS, GroupRow, MEMBERSHIP_COLUMNS, MembershipRow, Tx, program_in};
use crate::people::{CLIENT_COLUMNS, ClientRow, clinician_in};
use crate::programs::{PROGRAM_COLUMNS, ProgramRow};
use crate::{Store, StoreError};

/// Where a row came from: its file and its row number as a spreadsheet shows it (the
/// header is row 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub file: &'static str,
    pub row: usize,
}

/// One problem with one cell (or one row, when `column` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: &'static str,
    pub row: usize,
    pub column: String,
    pub message: String,
}

impl Problem {
    pub fn new(at: At, column: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: at.file,
            row: at.row,
            column: column.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.row == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else if self.column.is_empty() {
            write!(f, "{} row {}: {}", self.file, self.row, self.message)
        } else {
            write!(
                f,
                "{} row {}, column {}: {}",
                self.file, self.row, self.column, self.message
            )
        }
    }
}

/// A clinician with the rows of their licenses (in `new.licenses`' order).
#[derive(Debug, Clone)]
pub struct ClinicianIn {
    pub at: At,
    pub external_id: String,
    pub new: NewClinician,
    pub license_rows: Vec<At>,
}

#[derive(Debug, Clone)]
pub struct RoomIn {
    pub at: At,
    pub external_id: String,
    pub new: NewRoom,
}

#[derive(Debug, Clone)]
pub struct ProgramIn {
    pub at: At,
    pub external_id: String,
    pub new: NewProgram,
}

/// A group; its program, room and facilitators are named by external id (the ids in
/// `new` are filled in here).
#[derive(Debug, Clone)]
pub struct GroupIn {
    pub at: At,
    pub external_id: String,
    pub program: String,
    pub room: Option<String>,
    pub lead: String,
    pub co: Option<String>,
    pub new: NewGroup,
}

#[derive(Debug, Clone)]
pub struct ClientIn {
    pub at: At,
    pub external_id: String,
    pub new: NewClient,
}

/// One level-of-care episode of a client (history runs forward; at most the latest is
/// open).
#[derive(Debug, Clone)]
pub struct EpisodeIn {
    pub at: At,
    pub client: String,
    pub program: Option<String>,
    pub level_of_care: LevelOfCare,
    pub started_on: Date,
    pub ended_on: Option<Date>,
}

/// Two clients who must not share a group (the reason is not imported: it is clinical
/// text recorded in Circle by the care team).
#[derive(Debug, Clone)]
pub struct SeparationIn {
    pub at: At,
    pub client: String,
    pub other_client: String,
}

/// A current membership (active or on hold; an end date only when one is scheduled).
#[derive(Debug, Clone)]
pub struct MembershipIn {
    pub at: At,
    pub external_id: String,
    pub group: String,
    pub client: String,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub status: MembershipStatus,
}

/// Everything one import writes, in the order it is written.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub clinicians: Vec<ClinicianIn>,
    pub rooms: Vec<RoomIn>,
    pub programs: Vec<ProgramIn>,
    pub groups: Vec<GroupIn>,
    pub clients: Vec<ClientIn>,
    pub episodes: Vec<EpisodeIn>,
    pub separations: Vec<SeparationIn>,
    pub memberships: Vec<MembershipIn>,
    /// Rows refused before they reached the store (a cell that does not parse), by file
    /// and external id: a row naming one is told so, rather than that it names nothing.
    pub refused: HashSet<(&'static str, String)>,
}

/// The kinds an import writes, in order; the names are the files' stems.
pub const KINDS: [&str; 9] = [
    "clinicians",
    "licenses",
    "rooms",
    "programs",
    "groups",
    "clients",
    "episodes",
    "separations",
    "memberships",
];

/// How many rows of one kind were (or in a dry run, would be) created, and how many were
/// already in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCount {
    pub created: usize,
    pub unchanged: usize,
}

/// What an import did or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Per kind (see [`KINDS`]).
    pub counts: BTreeMap<&'static str, KindCount>,
    pub problems: Vec<Problem>,
    /// Whether the transaction committed (false for a dry run and whenever a row had a
    /// problem).
    pub written: bool,
}

impl ImportReport {
    pub fn created(&self) -> usize {
        self.counts.values().map(|c| c.created).sum()
    }
}

/// The id tables of the kinds named by external id.
#[derive(Clone, Copy)]
enum Kind {
    Clinician,
    Room,
    Program,
    Group,
    Client,
    Membership,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Clinician => "clinicians",
            Kind::Room => "rooms",
            Kind::Program => "programs",
            Kind::Group => "therapy_groups",
            Kind::Client => "clients",
            Kind::Membership => "memberships",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Kind::Clinician => "clinicians.csv",
            Kind::Room => "rooms.csv",
            Kind::Program => "programs.csv",
            Kind::Group => "groups.csv",
            Kind::Client => "clients.csv",
            Kind::Membership => "memberships.csv",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Clinician => "clinician",
            Kind::Room => "room",
            Kind::Program => "program",
            Kind::Group => "group",
            Kind::Client => "client",
            Kind::Membership => "membership",
        }
    }
}

/// Ids by external id: those already stored (looked up once) and those this run created
/// or refused.
#[derive(Default)]
struct Ids {
    known: HashMap<(&'static str, String), Option<i64>>,
    refused: HashSet<(&'static str, String)>,
    created: HashSet<(&'static str, String)>,
}

impl Ids {
    async fn stored(
        &mut self,
        tx: &mut Tx<'_>,
        kind: Kind,
        ext: &str,
    ) -> Result<Option<i64>, StoreError> {
        let key = (kind.table(), ext.to_owned());
        if let Some(id) = self.known.get(&key) {
            return Ok(*id);
        }
        let id: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM {} WHERE external_id = $1",
            kind.table()
        ))
        .bind(ext)
        .fetch_optional(&mut **tx)
        .await?;
        self.known.insert(key, id);
        Ok(id)
    }

    fn created(&mut self, kind: Kind, ext: &str, id: i64) {
        self.known.insert((kind.table(), ext.to_owned()), Some(id));
        self.created.insert((kind.table(), ext.to_owned()));
    }

    fn was_created(&self, kind: Kind, ext: &str) -> bool {
        self.created.contains(&(kind.table(), ext.to_owned()))
    }

    fn refuse(&mut self, kind: Kind, ext: &str) {
        self.refused.insert((kind.file(), ext.to_owned()));
    }

    /// The id a reference names, or the problem with it.
    async fn resolve(
        &mut self,
        tx: &mut Tx<'_>,
        kind: Kind,
        ext: &str,
        at: At,
        column: &str,
    ) -> Result<Result<i64, Problem>, StoreError> {
        if self.refused.contains(&(kind.file(), ext.to_owned())) {
            return Ok(Err(Problem::new(
                at,
                column,
                format!(
                    "names a {} whose row in {} has problems",
                    kind.noun(),
                    kind.file()
                ),
            )));
        }
        Ok(match self.stored(tx, kind, ext).await? {
            Some(id) => Ok(id),
            None => Err(Problem::new(
                at,
                column,
                format!(
                    "names no {} (no row of {} and none in Circle has this external_id)",
                    kind.noun(),
                    kind.file()
                ),
            )),
        })
    }
}

/// The problems a refused row becomes: field errors each in its column, a conflict in the
/// column its rule is about. Anything else is not the row's fault and stops the import.
fn problems_of(
    e: StoreError,
    at: At,
    rule_column: impl Fn(Rule) -> &'static str,
) -> Result<Vec<Problem>, StoreError> {
    Ok(raw_problems(e, at, rule_column)?
        .into_iter()
        .map(|p| Problem {
            column: column(&p.column),
            ..p
        })
        .collect())
}

/// As `problems_of`, with the domain's field names (`licenses/1/expires_on`) as columns.
fn raw_problems(
    e: StoreError,
    at: At,
    rule_column: impl Fn(Rule) -> &'static str,
) -> Result<Vec<Problem>, StoreError> {
    match e {
        StoreError::Domain(DomainError::Invalid(fields)) => Ok(fields
            .0
            .into_iter()
            .map(|f| Problem::new(at, f.field, f.message))
            .collect()),
        StoreError::Domain(DomainError::Conflict(c)) if c.rule == Rule::Duplicate => {
            // "email is already in use and must be unique": the field leads the sentence.
            let field = c.message.split(' ').next().unwrap_or_default();
            Ok(vec![Problem::new(
                at,
                field,
                "is already in use in Circle and must be unique",
            )])
        }
        StoreError::Domain(DomainError::Conflict(c)) => {
            Ok(vec![Problem::new(at, rule_column(c.rule), c.message)])
        }
        StoreError::Domain(DomainError::NotFound { entity }) => Ok(vec![Problem::new(
            at,
            "",
            format!("names a {entity} that does not exist"),
        )]),
        other => Err(other),
    }
}

/// A domain field name as the files' column: ids are named without `_id`
/// (`lead_facilitator_id` is the column `lead_facilitator`), nested fields by their last
/// part (`enrollment/module_weeks` is `module_weeks`).
fn column(field: &str) -> String {
    let last = field.rsplit('/').next().unwrap_or(field);
    last.strip_suffix("_id").unwrap_or(last).to_owned()
}

/// Runs `f` inside a savepoint: kept when it succeeds, rolled back when it fails.
macro_rules! in_savepoint {
    ($tx:expr, |$sp:ident| $body:expr) => {{
        let mut $sp = sqlx::Acquire::begin(&mut *$tx).await?;
        let result = $body;
        match result {
            Ok(v) => {
                $sp.commit().await?;
                Ok(v)
            }
            Err(e) => {
                $sp.rollback().await?;
                Err(e)
            }
        }
    }};
}

impl Store {
    /// Imports a clinic's rows in one transaction (see the module). A dry run checks every
    /// row the same way and rolls back.
    pub async fn import_clinic(
        &self,
        a: &RoleAccess<purpose::ClinicImport>,
        batch: &ImportBatch,
        dry_run: bool,
        today: Date,
        at: Timestamp,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport::default();
        for k in KINDS {
            report.counts.insert(k, KindCount::default());
        }
        let mut ids = Ids {
            refused: batch.refused.clone(),
            ..Ids::default()
        };
        let mut touched: Vec<ClientId> = Vec::new();
        let mut tx = self.begin_write().await?;

        // Clinicians with their licenses.
        for c in &batch.clinicians {
            if ids
                .stored(&mut tx, Kind::Clinician, &c.external_id)
                .await?
                .is_some()
            {
                bump(&mut report, "clinicians", false);
                report.counts.entry("licenses").or_default().unchanged += c.new.licenses.len();
                continue;
            }
            let r: Result<ClinicianId, StoreError> = in_savepoint!(tx, |sp| {
                crate::people::insert_clinician(&mut sp, &c.new, Some(&c.external_id), at).await
            });
            match r {
                Ok(id) => {
                    ids.created(Kind::Clinician, &c.external_id, id.0);
                    bump(&mut report, "clinicians", true);
                    report.counts.entry("licenses").or_default().created += c.new.licenses.len();
                }
                Err(e) => {
                    ids.refuse(Kind::Clinician, &c.external_id);
                    for p in raw_problems(e, c.at, |_| "")? {
                        report.problems.push(license_problem(p, c));
                    }
                }
            }
        }

        for r in &batch.rooms {
            if ids
                .stored(&mut tx, Kind::Room, &r.external_id)
                .await?
                .is_some()
            {
                bump(&mut report, "rooms", false);
                continue;
            }
            let res: Result<Room, StoreError> = in_savepoint!(tx, |sp| {
                crate::programs::insert_room(&mut sp, &r.new, Some(&r.external_id), at).await
            });
            match res {
                Ok(room) => {
                    ids.created(Kind::Room, &r.external_id, room.id.0);
                    bump(&mut report, "rooms", true);
                }
                Err(e) => {
                    ids.refuse(Kind::Room, &r.external_id);
                    report.problems.extend(problems_of(e, r.at, |_| "name")?);
                }
            }
        }

        for p in &batch.programs {
            if ids
                .stored(&mut tx, Kind::Program, &p.external_id)
                .await?
                .is_some()
            {
                bump(&mut report, "programs", false);
                continue;
            }
            let res: Result<Program, StoreError> = in_savepoint!(tx, |sp| {
                crate::programs::insert_program(&mut sp, &p.new, Some(&p.external_id), at).await
            });
            match res {
                Ok(program) => {
                    ids.created(Kind::Program, &p.external_id, program.id.0);
                    bump(&mut report, "programs", true);
                }
                Err(e) => {
                    ids.refuse(Kind::Program, &p.external_id);
                    report.problems.extend(problems_of(e, p.at, |_| "name")?);
                }
            }
        }

        for g in &batch.groups {
            if ids
                .stored(&mut tx, Kind::Group, &g.external_id)
                .await?
                .is_some()
            {
                bump(&mut report, "groups", false);
                continue;
            }
            let mut problems = Vec::new();
            let mut new = g.new.clone();
            match ids
                .resolve(&mut tx, Kind::Program, &g.program, g.at, "program")
                .await?
            {
                Ok(id) => new.program_id = ProgramId(id),
                Err(p) => problems.push(p),
            }
            if let Some(room) = &g.room {
                match ids.resolve(&mut tx, Kind::Room, room, g.at, "room").await? {
                    Ok(id) => new.room_id = Some(RoomId(id)),
                    Err(p) => problems.push(p),
                }
            }
            match ids
                .resolve(&mut tx, Kind::Clinician, &g.lead, g.at, "lead_facilitator")
                .await?
            {
                Ok(id) => new.lead_facilitator_id = ClinicianId(id),
                Err(p) => problems.push(p),
            }
            if let Some(co) = &g.co {
                match ids
                    .resolve(&mut tx, Kind::Clinician, co, g.at, "co_facilitator")
                    .await?
                {
                    Ok(id) => new.co_facilitator_id = Some(ClinicianId(id)),
                    Err(p) => problems.push(p),
                }
            }
            if !problems.is_empty() {
                ids.refuse(Kind::Group, &g.external_id);
                report.problems.extend(problems);
                continue;
            }
            let res: Result<Group, StoreError> = in_savepoint!(tx, |sp| {
                async {
                    lock_row(&mut sp, LockTable::Programs, new.program_id.0).await?;
                    let program = program_in(&mut sp, new.program_id)
                        .await?
                        .ok_or(DomainError::not_found("program"))?;
                    crate::groups::insert_group(
                        &mut sp,
                        &program,
                        &new,
                        Some(&g.external_id),
                        today,
                        at,
                    )
                    .await
                }
                .await
            });
            match res {
                Ok(group) => {
                    ids.created(Kind::Group, &g.external_id, group.id.0);
                    bump(&mut report, "groups", true);
                }
                Err(e) => {
                    ids.refuse(Kind::Group, &g.external_id);
                    report
                        .problems
                        .extend(problems_of(e, g.at, group_rule_column)?);
                }
            }
        }

        for c in &batch.clients {
            if ids
                .stored(&mut tx, Kind::Client, &c.external_id)
                .await?
                .is_some()
            {
                bump(&mut report, "clients", false);
                continue;
            }
            let res: Result<ClientId, StoreError> = in_savepoint!(tx, |sp| {
                crate::people::insert_client(&mut sp, &c.new, today, Some(&c.external_id), at).await
            });
            match res {
                Ok(id) => {
                    ids.created(Kind::Client, &c.external_id, id.0);
                    touched.push(id);
                    bump(&mut report, "clients", true);
                }
                Err(e) => {
                    ids.refuse(Kind::Client, &c.external_id);
                    report.problems.extend(problems_of(e, c.at, |_| "")?);
                }
            }
        }

        self.import_episodes(&mut tx, &mut ids, batch, &mut report, at)
            .await?;
        self.import_separations(&mut tx, &mut ids, batch, &mut report, &mut touched, at)
            .await?;
        self.import_memberships(
            &mut tx,
            &mut ids,
            batch,
            &mut report,
            &mut touched,
            today,
            at,
        )
        .await?;

        if !report.problems.is_empty() || dry_run || report.created() == 0 {
            tx.rollback().await?;
            return Ok(report);
        }
        touched.sort_by_key(|c| c.0);
        touched.dedup();
        let counts: Vec<String> = report
            .counts
            .iter()
            .filter(|(_, c)| c.created > 0)
            .map(|(k, c)| format!("{k}={}", c.created))
            .collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(a.audit(), AuditAction::ClinicImport, &touched)
                .object(counts.join(",")),
        )
        .await?;
        tx.commit().await?;
        report.written = true;
        Ok(report)
    }

    /// Episodes of the clients this run creates, per client in date order: history runs
    /// forward (`check_episode_change`), episodes do not overlap, only the latest is open,
    /// and a program named must be at the episode's level (as `change_level` requires).
    async fn import_episodes(
        &self,
        tx: &mut Tx<'_>,
        ids: &mut Ids,
        batch: &ImportBatch,
        report: &mut ImportReport,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut by_client: BTreeMap<&str, Vec<&EpisodeIn>> = BTreeMap::new();
        for e in &batch.episodes {
            by_client.entry(e.client.as_str()).or_default().push(e);
        }
        for (client, mut episodes) in by_client {
            episodes.sort_by_key(|e| e.started_on);
            let first = episodes[0].at;
            let client_id = match ids
                .resolve(tx, Kind::Client, client, first, "client")
                .await?
            {
                Ok(id) => id,
                Err(p) => {
                    for e in &episodes {
                        report.problems.push(Problem {
                            row: e.at.row,
                            ..p.clone()
                        });
                    }
                    continue;
                }
            };
            if !ids.was_created(Kind::Client, client) {
                // A client already in Circle keeps the history recorded there.
                report.counts.entry("episodes").or_default().unchanged += episodes.len();
                continue;
            }
            let mut previous: Option<Episode> = None;
            for (i, e) in episodes.iter().enumerate() {
                let mut problems = Vec::new();
                let program_id = match &e.program {
                    Some(p) => match ids.resolve(tx, Kind::Program, p, e.at, "program").await? {
                        Ok(id) => {
                            let level: Option<String> = sqlx::query_scalar(
                                "SELECT level_of_care FROM programs WHERE id = $1",
                            )
                            .bind(id)
                            .fetch_optional(&mut **tx)
                            .await?;
                            if level.as_deref() != Some(e.level_of_care.as_str()) {
                                problems.push(Problem::new(
                                    e.at,
                                    "program",
                                    "must be a program at the episode's level of care",
                                ));
                            }
                            Some(ProgramId(id))
                        }
                        Err(p) => {
                            problems.push(p);
                            None
                        }
                    },
                    None => None,
                };
                let next = NewEpisode {
                    level_of_care: e.level_of_care,
                    program_id,
                    started_on: e.started_on,
                    taper_weeks: None,
                };
                if let Some(prev) = &previous {
                    let open = Episode {
                        ended_on: None,
                        ..prev.clone()
                    };
                    if let Err(err) = check_episode_change(Some(&open), &next) {
                        problems.push(Problem::new(e.at, "started_on", err.to_string()));
                    } else if prev.ended_on.is_some_and(|end| end > e.started_on) {
                        problems.push(Problem::new(
                            e.at,
                            "started_on",
                            "overlaps the client's previous episode",
                        ));
                    }
                }
                match e.ended_on {
                    Some(end) if end <= e.started_on => {
                        problems.push(Problem::new(e.at, "ended_on", "must be after started_on"));
                    }
                    None if i + 1 < episodes.len() => problems.push(Problem::new(
                        e.at,
                        "ended_on",
                        "is required: only the client's latest episode may be open",
                    )),
                    _ => {}
                }
                if !problems.is_empty() {
                    report.problems.extend(problems);
                    previous = None;
                    continue;
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO episodes (client_id, program_id, level_of_care, started_on, \
                     ended_on, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     RETURNING id",
                )
                .bind(client_id)
                .bind(program_id.map(|p| p.0))
                .bind(e.level_of_care.as_str())
                .bind(date(e.started_on))
                .bind(e.ended_on.map(date))
                .bind(ts(at))
                .fetch_one(&mut **tx)
                .await?;
                previous = Some(Episode {
                    id: circle_domain::ids::EpisodeId(id),
                    client_id: ClientId(client_id),
                    program_id,
                    level_of_care: e.level_of_care,
                    started_on: e.started_on,
                    ended_on: e.ended_on,
                });
                bump(report, "episodes", true);
            }
        }
        Ok(())
    }

    async fn import_separations(
        &self,
        tx: &mut Tx<'_>,
        ids: &mut Ids,
        batch: &ImportBatch,
        report: &mut ImportReport,
        touched: &mut Vec<ClientId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        for s in &batch.separations {
            let a = ids
                .resolve(tx, Kind::Client, &s.client, s.at, "client")
                .await?;
            let b = ids
                .resolve(tx, Kind::Client, &s.other_client, s.at, "other_client")
                .await?;
            let (a, b) = match (a, b) {
                (Ok(a), Ok(b)) => (a, b),
                (a, b) => {
                    report.problems.extend(a.err());
                    report.problems.extend(b.err());
                    continue;
                }
            };
            if a == b {
                report
                    .problems
                    .push(Problem::new(s.at, "other_client", "must be another client"));
                continue;
            }
            let (low, high) = (a.min(b), a.max(b));
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM separations WHERE client_low = $1 AND client_high = $2",
            )
            .bind(low)
            .bind(high)
            .fetch_one(&mut **tx)
            .await?;
            if exists > 0 {
                bump(report, "separations", false);
                continue;
            }
            sqlx::query(
                "INSERT INTO separations (client_low, client_high, reason, created_at, updated_at) \
                 VALUES ($1, $2, NULL, $3, $3)",
            )
            .bind(low)
            .bind(high)
            .bind(ts(at))
            .execute(&mut **tx)
            .await?;
            touched.extend([ClientId(low), ClientId(high)]);
            bump(report, "separations", true);
        }
        Ok(())
    }

    /// Current memberships, through the enrollment rules (`enrollment_conflicts` over
    /// `pair_facts`): size, level of care, separations, schedule clashes, one membership
    /// per group. The rules about when a newcomer may join (module boundaries, a closed
    /// cohort's start, newcomers per session) are about joining, and an imported
    /// membership has already joined; a membership with a scheduled end is a taper, kept
    /// after a step down, so the level rule does not apply to it either.
    #[allow(
        clippy::too_many_arguments,
        reason = "the import's shared state, passed down one step"
    )]
    async fn import_memberships(
        &self,
        tx: &mut Tx<'_>,
        ids: &mut Ids,
        batch: &ImportBatch,
        report: &mut ImportReport,
        touched: &mut Vec<ClientId>,
        today: Date,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        for m in &batch.memberships {
            if ids
                .stored(tx, Kind::Membership, &m.external_id)
                .await?
                .is_some()
            {
                bump(report, "memberships", false);
                continue;
            }
            let g = ids
                .resolve(tx, Kind::Group, &m.group, m.at, "group")
                .await?;
            let c = ids
                .resolve(tx, Kind::Client, &m.client, m.at, "client")
                .await?;
            let (group_id, client_id) = match (g, c) {
                (Ok(g), Ok(c)) => (GroupId(g), ClientId(c)),
                (g, c) => {
                    report.problems.extend(g.err());
                    report.problems.extend(c.err());
                    continue;
                }
            };
            if m.status.is_ended() {
                report.problems.push(Problem::new(
                    m.at,
                    "status",
                    "must be active or on_hold: only current memberships are imported",
                ));
                continue;
            }
            if let Some(end) = m.end_date
                && (end <= m.start_date || end <= today)
            {
                report.problems.push(Problem::new(
                    m.at,
                    "end_date",
                    "must be after start_date and after today (only current memberships are imported)",
                ));
                continue;
            }
            let res: Result<Membership, StoreError> = in_savepoint!(tx, |sp| {
                async {
                    lock_row(&mut sp, LockTable::Groups, group_id.0).await?;
                    let group = crate::groups::group_in(&mut sp, group_id).await?;
                    let client = crate::people::client_in(&mut sp, client_id).await?;
                    let facts = crate::placement::pair_facts(
                        &mut sp,
                        &group,
                        client_id,
                        client.current_level,
                        m.start_date,
                        today,
                    )
                    .await?;
                    let conflict = enrollment_conflicts(&facts.enrollment(&group, m.start_date))
                        .into_iter()
                        .find(|e| match e.rule() {
                            Some(
                                Rule::ClosedCohortStarted
                                | Rule::BetweenModuleBoundaries
                                | Rule::NewcomerLimit,
                            ) => false,
                            Some(Rule::LevelOfCareNotEligible) => m.end_date.is_none(),
                            _ => true,
                        });
                    if let Some(e) = conflict {
                        return Err(StoreError::Domain(e));
                    }
                    let membership = crate::placement::insert_membership(
                        &mut sp,
                        group_id,
                        client_id,
                        m.start_date,
                        at,
                    )
                    .await?;
                    sqlx::query(
                        "UPDATE memberships SET external_id = $1, status = $2, end_date = $3 \
                         WHERE id = $4",
                    )
                    .bind(&m.external_id)
                    .bind(m.status.as_str())
                    .bind(m.end_date.map(date))
                    .bind(membership.id.0)
                    .execute(&mut *sp)
                    .await?;
                    Ok(membership)
                }
                .await
            });
            match res {
                Ok(membership) => {
                    ids.created(Kind::Membership, &m.external_id, membership.id.0);
                    touched.push(client_id);
                    bump(report, "memberships", true);
                }
                Err(e) => report
                    .problems
                    .extend(problems_of(e, m.at, membership_rule_column)?),
            }
        }
        Ok(())
    }
}

fn bump(report: &mut ImportReport, kind: &'static str, created: bool) {
    let c = report.counts.entry(kind).or_default();
    if created {
        c.created += 1;
    } else {
        c.unchanged += 1;
    }
}

/// A clinician's problem about one of their licenses (`licenses/1/expires_on`), moved to
/// that license's row of licenses.csv; any other in the clinician's own column.
fn license_problem(p: Problem, c: &ClinicianIn) -> Problem {
    let mut parts = p.column.split('/');
    if parts.next() == Some("licenses") {
        let index = parts.next().and_then(|i| i.parse::<usize>().ok());
        let field = parts.next();
        if let (Some(i), Some(field)) = (index, field)
            && let Some(at) = c.license_rows.get(i)
        {
            return Problem::new(*at, field, p.message);
        }
        // A license's state and number already held in Circle (no index is known).
        return Problem::new(
            c.at,
            "",
            "a license's state and number are already in use in Circle and must be unique",
        );
    }
    Problem {
        column: column(&p.column),
        ..p
    }
}

/// The column a group rule is about.
fn group_rule_column(rule: Rule) -> &'static str {
    match rule {
        Rule::SizeCapExceeded | Rule::RoomCapacity | Rule::GroupFull => "max_size",
        Rule::LicenseNotActive => "lead_facilitator",
        Rule::ScheduleOverlap => "meetings",
        _ => "",
    }
}

/// The column a membership rule is about.
fn membership_rule_column(rule: Rule) -> &'static str {
    match rule {
        Rule::GroupFull | Rule::Separation | Rule::AlreadyMember => "group",
        Rule::LevelOfCareNotEligible | Rule::NoCurrentLevelOfCare => "client",
        Rule::ScheduleOverlap => "group",
        _ => "",
    }
}

/// Every row `sql` reads as its domain type, each with its external id from `ids`.
async fn exported<R, T>(
    tx: &mut Tx<'_>,
    ids: &HashMap<i64, String>,
    sql: &str,
    id_of: fn(&T) -> i64,
) -> Result<Vec<Exported<T>>, StoreError>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    T: TryFrom<R>,
    StoreError: From<T::Error>,
{
    let rows = sqlx::query_as::<_, R>(sql).fetch_all(&mut **tx).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let item = T::try_from(r)?;
        let external_id = ids
            .get(&id_of(&item))
            .cloned()
            .ok_or(StoreError::Corrupt("external_id"))?;
        out.push(Exported { external_id, item });
    }
    Ok(out)
}

/// One record written out with the clinic's own id: its `external_id`, or for a record
/// made in Circle `<kind>-<id>` (so the files import into another database and name the
/// same records twice the same way).
#[derive(Debug, Clone)]
pub struct Exported<T> {
    pub external_id: String,
    pub item: T,
}

/// The clinic's records in the import's shape: what `import_clinic` takes back.
#[derive(Debug, Clone, Default)]
pub struct ClinicRecords {
    pub clinicians: Vec<Exported<Clinician>>,
    pub rooms: Vec<Exported<Room>>,
    pub programs: Vec<Exported<Program>>,
    pub groups: Vec<Exported<Group>>,
    pub clients: Vec<Exported<Client>>,
    /// Every episode, in id order.
    pub episodes: Vec<Episode>,
    /// Pairs of clients (lower id first).
    pub separations: Vec<(ClientId, ClientId)>,
    /// Current memberships: no end, or an end after today.
    pub memberships: Vec<Exported<Membership>>,
}

#[derive(sqlx::FromRow)]
struct ExternalRow {
    id: i64,
    external_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PairRow {
    client_low: i64,
    client_high: i64,
}

impl Store {
    /// Reads the clinic's records for the import's CSV files, audited as one
    /// `clinic.export` entry naming every client written out.
    pub async fn export_clinic(
        &self,
        a: &RoleAccess<purpose::ClinicExport>,
        today: Date,
        at: Timestamp,
    ) -> Result<ClinicRecords, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut out = ClinicRecords::default();
        let externals = async |tx: &mut Tx<'_>, table: &str, prefix: &str| {
            let rows = sqlx::query_as::<_, ExternalRow>(&format!(
                "SELECT id, external_id FROM {table} ORDER BY id"
            ))
            .fetch_all(&mut **tx)
            .await?;
            Ok::<_, StoreError>(
                rows.into_iter()
                    .map(|r| {
                        let ext = r
                            .external_id
                            .unwrap_or_else(|| format!("{prefix}-{}", r.id));
                        (r.id, ext)
                    })
                    .collect::<HashMap<i64, String>>(),
            )
        };
        let ext_of = |map: &HashMap<i64, String>, id: i64| {
            map.get(&id)
                .cloned()
                .ok_or(StoreError::Corrupt("external_id"))
        };

        let map = externals(&mut tx, "clinicians", "clinician").await?;
        let mut cids: Vec<i64> = map.keys().copied().collect();
        cids.sort_unstable();
        for id in cids {
            out.clinicians.push(Exported {
                external_id: ext_of(&map, id)?,
                item: clinician_in(&mut tx, ClinicianId(id)).await?,
            });
        }

        let map = externals(&mut tx, "rooms", "room").await?;
        out.rooms = exported::<crate::programs::RoomRow, Room>(
            &mut tx,
            &map,
            "SELECT id, site, name, capacity, version FROM rooms ORDER BY id",
            |x| x.id.0,
        )
        .await?;

        let map = externals(&mut tx, "programs", "program").await?;
        out.programs = exported::<ProgramRow, Program>(
            &mut tx,
            &map,
            &format!("SELECT {PROGRAM_COLUMNS} FROM programs ORDER BY id"),
            |x| x.id.0,
        )
        .await?;

        let map = externals(&mut tx, "therapy_groups", "group").await?;
        out.groups = exported::<GroupRow, Group>(
            &mut tx,
            &map,
            &format!("SELECT {GROUP_COLUMNS} FROM therapy_groups ORDER BY id"),
            |x| x.id.0,
        )
        .await?;

        let map = externals(&mut tx, "clients", "client").await?;
        out.clients = exported::<ClientRow, Client>(
            &mut tx,
            &map,
            &format!("SELECT {CLIENT_COLUMNS} FROM clients c ORDER BY c.id"),
            |x| x.id.0,
        )
        .await?;

        let rows = sqlx::query_as::<_, crate::people::EpisodeRow>(&format!(
            "SELECT {} FROM episodes ORDER BY id",
            crate::people::EPISODE_COLUMNS
        ))
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            out.episodes.push(Episode::try_from(r)?);
        }

        let rows = sqlx::query_as::<_, PairRow>(
            "SELECT client_low, client_high FROM separations ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        out.separations = rows
            .into_iter()
            .map(|r| (ClientId(r.client_low), ClientId(r.client_high)))
            .collect();

        let map = externals(&mut tx, "memberships", "membership").await?;
        let rows = sqlx::query_as::<_, MembershipRow>(&format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships \
             WHERE end_date IS NULL OR end_date > $1 ORDER BY id"
        ))
        .bind(date(today))
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let m = Membership::try_from(r)?;
            out.memberships.push(Exported {
                external_id: ext_of(&map, m.id.0)?,
                item: m,
            });
        }

        let ids: Vec<ClientId> = out.clients.iter().map(|c| c.item.id).collect();
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(a.audit(), AuditAction::ClinicExport, &ids),
        )
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}
