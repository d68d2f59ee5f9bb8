//! Onboarding by import (issue 15): a clinic's CSV files (UTF-8, RFC 4180) read into typed
//! rows, every cell parsed by the domain's own constructors, then written by the store in
//! one transaction through the same rules as the clinic's screens
//! (`circle_store::import`). The same files come back out of `export_clinic_csv`, so a
//! clinic's records make a round trip.
//!
//! Problems name the file, the row (as a spreadsheet numbers it: the header is row 1) and
//! the column, and say the rule in plain words; never a value, which may be a name.
//! README "Import" documents every column.

use std::collections::{HashMap, HashSet};

use circle_domain::care::{Concern, GroupKind, LevelOfCare, Modality};
use circle_domain::client::{NewClient, ReferralSource};
use circle_domain::clinician::{License, LicenseKind, NewClinician};
use circle_domain::group::{Enrollment, NewGroup};
use circle_domain::ids::{ClinicianId, ProgramId};
use circle_domain::membership::MembershipStatus;
use circle_domain::program::{NewProgram, NewRoom, PerDiemCode, SessionCode};
use circle_domain::schedule::{AvailabilityWindow, Weekday, WeeklyMeeting};
use circle_store::access::purpose;
use circle_store::import::{
    At, ClientIn, ClinicRecords, ClinicianIn, EpisodeIn, GroupIn, ImportBatch, ImportReport,
    MembershipIn, Problem, ProgramIn, RoomIn, SeparationIn,
};
use jiff::civil::{Date, Time};

use crate::{Actor, App, AppResult};

pub use circle_store::import::{KINDS, KindCount};

/// The files an import reads, in the order they are written.
pub const FILES: [&str; 9] = [
    "clinicians.csv",
    "licenses.csv",
    "rooms.csv",
    "programs.csv",
    "groups.csv",
    "clients.csv",
    "episodes.csv",
    "separations.csv",
    "memberships.csv",
];

/// Each file's columns: required ones first, then optional ones (may be absent or empty).
fn columns(file: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match file {
        "clinicians.csv" => (
            &["external_id", "given_name", "family_name", "email"],
            &["modalities"],
        ),
        "licenses.csv" => (
            &[
                "clinician",
                "kind",
                "number",
                "state",
                "issued_on",
                "expires_on",
            ],
            &[],
        ),
        "rooms.csv" => (&["external_id", "site", "name", "capacity"], &[]),
        "programs.csv" => (
            &["external_id", "name", "site", "level_of_care", "time_zone"],
            &[
                "weekly_required_minutes",
                "max_group_size",
                "newcomers_per_session",
                "note_due_hours",
                "session_code",
                "per_diem_code",
                "daily_minimum_minutes",
                "measure_cadence_days",
            ],
        ),
        "groups.csv" => (
            &[
                "external_id",
                "program",
                "name",
                "kind",
                "eligible_levels",
                "enrollment",
                "meetings",
                "lead_facilitator",
            ],
            &[
                "modality",
                "focus_concerns",
                "enrollment_start",
                "module_weeks",
                "min_size",
                "max_size",
                "room",
                "co_facilitator",
                "curriculum",
            ],
        ),
        "clients.csv" => (
            &[
                "external_id",
                "record_number",
                "given_name",
                "family_name",
                "date_of_birth",
                "referral_source",
            ],
            &[
                "preferred_name",
                "email",
                "phone",
                "concerns",
                "availability",
            ],
        ),
        "episodes.csv" => (
            &["client", "level_of_care", "started_on"],
            &["program", "ended_on"],
        ),
        "separations.csv" => (&["client", "other_client"], &[]),
        "memberships.csv" => (
            &["external_id", "group", "client", "start_date"],
            &["end_date", "status"],
        ),
        _ => (&[], &[]),
    }
}

/// Every column of a file in the order the export writes them.
pub fn all_columns(file: &str) -> Vec<&'static str> {
    let (required, optional) = columns(file);
    required.iter().chain(optional).copied().collect()
}

/// The static name of a known file.
fn known(file: &str) -> Option<&'static str> {
    FILES.iter().copied().find(|f| *f == file)
}

/// What a dry run or an import found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub report: ImportReport,
    pub dry_run: bool,
}

impl ImportOutcome {
    /// The outcome in plain lines: each problem, or the counts.
    pub fn lines(&self) -> Vec<String> {
        let r = &self.report;
        if !r.problems.is_empty() {
            let mut out = vec![format!(
                "{} found; nothing was written:",
                count(r.problems.len(), "problem", "problems")
            )];
            out.extend(r.problems.iter().map(|p| format!("  {p}")));
            return out;
        }
        let created = r.created();
        let mut out = vec![if created == 0 {
            "Nothing to import: every row is already in Circle; nothing was changed.".to_owned()
        } else if self.dry_run {
            format!(
                "Dry run: no problems; {} would be created; nothing was written.",
                count(created, "record", "records")
            )
        } else {
            format!(
                "Imported: {} created in one transaction.",
                count(created, "record", "records")
            )
        }];
        for k in KINDS {
            let c = r.counts.get(k).copied().unwrap_or_default();
            if c.created + c.unchanged > 0 {
                let verb = if self.dry_run { "to create" } else { "created" };
                out.push(format!(
                    "  {k}: {} {verb}, {} already in Circle",
                    c.created, c.unchanged
                ));
            }
        }
        out
    }
}

/// A count with its noun: "1 record", "3 records".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl App {
    /// Imports a clinic's CSV files (`(file name, bytes)`; names from [`FILES`]): an
    /// administrator, or the binary's operator. A dry run — or any problem — writes
    /// nothing.
    pub async fn import_clinic(
        &self,
        actor: &Actor,
        files: &[(String, Vec<u8>)],
        dry_run: bool,
    ) -> AppResult<ImportOutcome> {
        let a = self.access_role::<purpose::ClinicImport>(actor).await?;
        let (batch, mut problems) = parse_files(files);
        let mut report = self
            .store
            .import_clinic(
                &a,
                &batch,
                dry_run || !problems.is_empty(),
                self.today(),
                self.now(),
            )
            .await?;
        problems.append(&mut report.problems);
        problems.sort_by_key(|p| {
            (
                FILES
                    .iter()
                    .position(|f| *f == p.file)
                    .unwrap_or(usize::MAX),
                p.row,
            )
        });
        report.problems = problems;
        if report.written {
            // The new groups' sessions, as creating a group on its page makes them.
            let short = self.extend_horizon().await?;
            if short > 0 {
                tracing::warn!(groups = short, "imported groups' session horizon is short");
            }
        }
        tracing::info!(
            dry_run,
            problems = report.problems.len(),
            created = report.created(),
            written = report.written,
            "clinic import"
        );
        Ok(ImportOutcome { report, dry_run })
    }

    /// Whether the caller may import (the import page's form): refused like the import.
    pub async fn may_import(&self, actor: &Actor) -> AppResult<()> {
        self.access_role::<purpose::ClinicImport>(actor).await?;
        Ok(())
    }

    /// The clinic's records as the import's CSV files (file name, text), audited as one
    /// `clinic.export` entry.
    pub async fn export_clinic_csv(&self, actor: &Actor) -> AppResult<Vec<(&'static str, String)>> {
        let a = self.access_role::<purpose::ClinicExport>(actor).await?;
        let records = self
            .store
            .export_clinic(&a, self.today(), self.now())
            .await?;
        Ok(write_files(&records))
    }
}

// Reading.

/// Parses every file into the batch, with the problems of cells that do not parse.
pub fn parse_files(files: &[(String, Vec<u8>)]) -> (ImportBatch, Vec<Problem>) {
    let mut batch = ImportBatch::default();
    let mut problems = Vec::new();
    let mut sheets: HashMap<&'static str, Vec<Cells>> = HashMap::new();
    for (name, bytes) in files {
        let Some(file) = known(name) else {
            problems.push(Problem {
                file: "(upload)",
                row: 0,
                column: String::new(),
                message: format!(
                    "a file has a name Circle does not know; the files are {}",
                    FILES.join(", ")
                ),
            });
            continue;
        };
        match read_sheet(file, bytes) {
            Ok(rows) => {
                sheets.insert(file, rows);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    let mut take = |file: &'static str| sheets.remove(file).unwrap_or_default();

    // Licenses first, gathered by clinician.
    let mut licenses: HashMap<String, Vec<(At, License)>> = HashMap::new();
    for mut r in take("licenses.csv") {
        let clinician = r.req_text("clinician");
        let kind = r.vocab("kind", LicenseKind::parse, LicenseKind::ALL, |k| k.as_str());
        let number = r.req("number");
        let state = r.req("state");
        let issued_on = r.req_date("issued_on");
        let expires_on = r.req_date("expires_on");
        if let (Some(c), Some(kind), Some(number), Some(state), Some(issued_on), Some(expires_on)) =
            (clinician, kind, number, state, issued_on, expires_on)
            && r.ok()
        {
            licenses.entry(c).or_default().push((
                r.at,
                License {
                    kind,
                    number,
                    state,
                    issued_on,
                    expires_on,
                },
            ));
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("clinicians.csv") {
        let ext = r.external_id(&mut seen);
        let given_name = r.req("given_name");
        let family_name = r.req("family_name");
        let email = r.req("email");
        let modalities = r.list("modalities", Modality::parse, Modality::ALL, |m| m.as_str());
        let mine = ext
            .as_ref()
            .and_then(|e| licenses.remove(e))
            .unwrap_or_default();
        match (ext, given_name, family_name, email) {
            (Some(ext), Some(given_name), Some(family_name), Some(email)) if r.ok() => {
                batch.clinicians.push(ClinicianIn {
                    at: r.at,
                    external_id: ext,
                    new: NewClinician {
                        given_name,
                        family_name,
                        email,
                        licenses: mine.iter().map(|(_, l)| l.clone()).collect(),
                        modalities,
                        // Not a column of clinicians.csv yet: recorded afterwards with
                        // `PUT /api/v1/clinicians/{id}/npi` (README "Import").
                        npi: None,
                    },
                    license_rows: mine.iter().map(|(at, _)| *at).collect(),
                });
            }
            (ext, ..) => r.refuse(&mut batch, ext),
        }
        problems.append(&mut r.problems);
    }
    for (_, orphans) in licenses {
        for (at, _) in orphans {
            problems.push(Problem::new(
                at,
                "clinician",
                "names no clinician of clinicians.csv (licenses are imported with a new clinician)",
            ));
        }
    }

    for mut r in take("rooms.csv") {
        let ext = r.external_id(&mut seen);
        let site = r.req("site");
        let name = r.req("name");
        let capacity = r.req_uint("capacity");
        match (ext, site, name, capacity) {
            (Some(ext), Some(site), Some(name), Some(capacity)) if r.ok() => {
                batch.rooms.push(RoomIn {
                    at: r.at,
                    external_id: ext,
                    new: NewRoom {
                        site,
                        name,
                        capacity,
                    },
                })
            }
            (ext, ..) => r.refuse(&mut batch, ext),
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("programs.csv") {
        let ext = r.external_id(&mut seen);
        let name = r.req("name");
        let site = r.req("site");
        let level = r.vocab("level_of_care", LevelOfCare::parse, LevelOfCare::ALL, |l| {
            l.as_str()
        });
        let time_zone = r.req("time_zone");
        let new = NewProgram {
            name: name.clone().unwrap_or_else(placeholder_label),
            site: site.clone().unwrap_or_else(placeholder_label),
            level_of_care: level.unwrap_or(LevelOfCare::Outpatient),
            time_zone: time_zone
                .clone()
                .unwrap_or_else(|| placeholder("America/New_York")),
            weekly_required_minutes: r.opt_uint("weekly_required_minutes"),
            max_group_size: r.opt_uint("max_group_size"),
            newcomers_per_session: r.opt_uint("newcomers_per_session"),
            note_due_hours: r.opt_uint("note_due_hours"),
            session_code: r.opt_vocab("session_code", SessionCode::parse, SessionCode::ALL, |c| {
                c.as_str()
            }),
            per_diem_code: r.opt_vocab(
                "per_diem_code",
                PerDiemCode::parse,
                PerDiemCode::ALL,
                |c| c.as_str(),
            ),
            daily_minimum_minutes: r.opt_uint("daily_minimum_minutes"),
            measure_cadence_days: r.opt_uint("measure_cadence_days"),
            // Billing's place of service and per-diem rule are not columns of programs.csv
            // yet: the level of care's defaults, changed afterwards by `PATCH
            // /api/v1/programs/{id}` (README "Import").
            place_of_service: None,
            telehealth_place_of_service: None,
            sessions_billable_with_per_diem: None,
        };
        match (ext, name, site, level, time_zone) {
            (Some(ext), Some(_), Some(_), Some(_), Some(_)) if r.ok() => {
                batch.programs.push(ProgramIn {
                    at: r.at,
                    external_id: ext,
                    new,
                })
            }
            (ext, ..) => r.refuse(&mut batch, ext),
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("groups.csv") {
        let ext = r.external_id(&mut seen);
        let program = r.req_text("program");
        let name = r.req("name");
        let kind = r.vocab("kind", GroupKind::parse, GroupKind::ALL, |k| k.as_str());
        let modality = r.opt_vocab("modality", Modality::parse, Modality::ALL, |m| m.as_str());
        let focus = r.list("focus_concerns", Concern::parse, Concern::ALL, |c| {
            c.as_str()
        });
        let levels = r.list(
            "eligible_levels",
            LevelOfCare::parse,
            LevelOfCare::ALL,
            |l| l.as_str(),
        );
        if levels.is_empty() && r.text("eligible_levels").is_none() {
            r.problem("eligible_levels", "is required");
        }
        let enrollment = r.enrollment();
        let meetings = r.meetings();
        let lead = r.req_text("lead_facilitator");
        let new = NewGroup {
            program_id: ProgramId(0),
            name: name.clone().unwrap_or_else(placeholder_label),
            kind: kind.unwrap_or(GroupKind::Process),
            modality,
            focus_concerns: focus,
            eligible_levels: levels,
            enrollment: enrollment.unwrap_or(Enrollment::Open),
            min_size: r.opt_uint("min_size"),
            max_size: r.opt_uint("max_size"),
            // An administrator's import never overrides a program's size cap: that is a
            // director's decision, made in Circle with its reason.
            size_override_reason: None,
            meetings,
            room_id: None,
            lead_facilitator_id: ClinicianId(0),
            co_facilitator_id: None,
            curriculum: r.labels("curriculum"),
        };
        let room = r.text("room");
        let co = r.text("co_facilitator");
        match (ext, program, name, kind, enrollment, lead) {
            (Some(ext), Some(program), Some(_), Some(_), Some(_), Some(lead)) if r.ok() => {
                batch.groups.push(GroupIn {
                    at: r.at,
                    external_id: ext,
                    program,
                    room,
                    lead,
                    co,
                    new,
                })
            }
            (ext, ..) => r.refuse(&mut batch, ext),
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("clients.csv") {
        let ext = r.external_id(&mut seen);
        let record_number = r.req("record_number");
        let given_name = r.req("given_name");
        let family_name = r.req("family_name");
        let preferred_name = r.opt("preferred_name");
        let date_of_birth = r.req_date("date_of_birth");
        let email = r.opt("email");
        let phone = r.opt("phone");
        let concerns = r.list("concerns", Concern::parse, Concern::ALL, |c| c.as_str());
        let availability = r.availability();
        let referral_source = r.vocab(
            "referral_source",
            ReferralSource::parse,
            ReferralSource::ALL,
            |s| s.as_str(),
        );
        match (
            ext,
            record_number,
            given_name,
            family_name,
            date_of_birth,
            referral_source,
        ) {
            (
                Some(ext),
                Some(record_number),
                Some(given_name),
                Some(family_name),
                Some(date_of_birth),
                Some(referral_source),
            ) if r.ok() => batch.clients.push(ClientIn {
                at: r.at,
                external_id: ext,
                new: NewClient {
                    record_number,
                    given_name,
                    family_name,
                    preferred_name,
                    date_of_birth,
                    email,
                    phone,
                    concerns,
                    availability,
                    referral_source,
                },
            }),
            (ext, ..) => r.refuse(&mut batch, ext),
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("episodes.csv") {
        let client = r.req_text("client");
        let level = r.vocab("level_of_care", LevelOfCare::parse, LevelOfCare::ALL, |l| {
            l.as_str()
        });
        let program = r.text("program");
        let started_on = r.req_date("started_on");
        let ended_on = r.opt_date("ended_on");
        if let (Some(client), Some(level_of_care), Some(started_on)) = (client, level, started_on)
            && r.ok()
        {
            batch.episodes.push(EpisodeIn {
                at: r.at,
                client,
                program,
                level_of_care,
                started_on,
                ended_on,
            });
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("separations.csv") {
        let client = r.req_text("client");
        let other = r.req_text("other_client");
        if let (Some(client), Some(other_client)) = (client, other)
            && r.ok()
        {
            batch.separations.push(SeparationIn {
                at: r.at,
                client,
                other_client,
            });
        }
        problems.append(&mut r.problems);
    }

    for mut r in take("memberships.csv") {
        let ext = r.external_id(&mut seen);
        let group = r.req_text("group");
        let client = r.req_text("client");
        let start_date = r.req_date("start_date");
        let end_date = r.opt_date("end_date");
        let status = r
            .opt_vocab(
                "status",
                MembershipStatus::parse,
                MembershipStatus::ALL,
                |s| s.as_str(),
            )
            .unwrap_or(MembershipStatus::Active);
        match (ext, group, client, start_date) {
            (Some(ext), Some(group), Some(client), Some(start_date)) if r.ok() => {
                batch.memberships.push(MembershipIn {
                    at: r.at,
                    external_id: ext,
                    group,
                    client,
                    start_date,
                    end_date,
                    status,
                })
            }
            (ext, ..) => r.refuse(&mut batch, ext),
        }
        problems.append(&mut r.problems);
    }
    (batch, problems)
}

/// Stand-ins for values a row lacks (the row is refused; they are never written).
fn placeholder_label<T: TryFrom<String>>() -> T {
    placeholder("-")
}

fn placeholder<T: TryFrom<String>>(s: &str) -> T {
    match T::try_from(s.to_owned()) {
        Ok(v) => v,
        Err(_) => unreachable!("placeholders are valid values"),
    }
}

/// One data row's cells by column, with the problems found in it.
struct Cells {
    at: At,
    values: HashMap<String, String>,
    problems: Vec<Problem>,
}

/// Reads one file: its header (every required column present, no unknown column) and its
/// rows. A file that is not UTF-8 or not RFC 4180 is one problem.
fn read_sheet(file: &'static str, bytes: &[u8]) -> Result<Vec<Cells>, Vec<Problem>> {
    let header_problem = |message: String| Problem {
        file,
        row: 1,
        column: String::new(),
        message,
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(vec![Problem {
            file,
            row: 0,
            column: String::new(),
            message: "is not UTF-8 text (save it as \"CSV UTF-8\")".to_owned(),
        }]);
    };
    // Spreadsheets often start a UTF-8 file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        Err(_) => {
            return Err(vec![header_problem(
                "the header row cannot be read".to_owned(),
            )]);
        }
    };
    let (required, optional) = columns(file);
    let mut problems = Vec::new();
    for c in required {
        if !headers.iter().any(|h| h == c) {
            problems.push(Problem {
                column: (*c).to_owned(),
                ..header_problem("this required column is missing".to_owned())
            });
        }
    }
    for (i, h) in headers.iter().enumerate() {
        if !required.contains(&h.as_str()) && !optional.contains(&h.as_str()) {
            problems.push(header_problem(format!(
                "column {} has a name Circle does not know; the columns are {}",
                i + 1,
                all_columns(file).join(", ")
            )));
        } else if headers[..i].contains(h) {
            problems.push(Problem {
                column: h.clone(),
                ..header_problem("this column appears twice".to_owned())
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let at = At { file, row: i + 2 };
        match record {
            Ok(record) => {
                if record.iter().all(|c| c.trim().is_empty()) {
                    continue;
                }
                let values = headers
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| (h.clone(), unescape(v).to_owned()))
                    .collect();
                rows.push(Cells {
                    at,
                    values,
                    problems: Vec::new(),
                });
            }
            Err(e) => {
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("has {len} fields where the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "is not UTF-8 text".to_owned(),
                    _ => "cannot be read as RFC 4180 CSV".to_owned(),
                };
                problems.push(Problem::new(at, "", message));
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// The export writes a cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`
/// first) after an apostrophe, as spreadsheets themselves mark text; reading drops it.
fn unescape(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => v,
    }
}

fn escape(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    }
}

impl Cells {
    fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, column: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(self.at, column, message));
    }

    /// The cell's text, trimmed; `None` when absent or empty.
    fn text(&self, column: &str) -> Option<String> {
        self.values
            .get(column)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    fn req_text(&mut self, column: &str) -> Option<String> {
        let v = self.text(column);
        if v.is_none() {
            self.problem(column, "is required");
        }
        v
    }

    fn parse<T: TryFrom<String, Error = String>>(&mut self, column: &str, v: String) -> Option<T> {
        match T::try_from(v) {
            Ok(v) => Some(v),
            Err(rule) => {
                self.problem(column, rule);
                None
            }
        }
    }

    fn req<T: TryFrom<String, Error = String>>(&mut self, column: &str) -> Option<T> {
        let v = self.req_text(column)?;
        self.parse(column, v)
    }

    fn opt<T: TryFrom<String, Error = String>>(&mut self, column: &str) -> Option<T> {
        let v = self.text(column)?;
        self.parse(column, v)
    }

    /// The row's external id, unique within its file.
    fn external_id(&mut self, seen: &mut HashSet<(&'static str, String)>) -> Option<String> {
        let v = self.req_text("external_id")?;
        if v.chars().count() > 64 || v.chars().any(char::is_control) {
            self.problem(
                "external_id",
                "must be 1–64 characters without control characters",
            );
            return None;
        }
        if !seen.insert((self.at.file, v.clone())) {
            self.problem("external_id", "appears on an earlier row of this file");
            return None;
        }
        Some(v)
    }

    fn refuse(&self, batch: &mut ImportBatch, ext: Option<String>) {
        if let Some(ext) = ext {
            batch.refused.insert((self.at.file, ext));
        }
    }

    fn date_of(&mut self, column: &str, v: &str) -> Option<Date> {
        match Date::strptime("%Y-%m-%d", v) {
            Ok(d) => Some(d),
            Err(_) => {
                self.problem(column, "must be a date written YYYY-MM-DD");
                None
            }
        }
    }

    fn req_date(&mut self, column: &str) -> Option<Date> {
        let v = self.req_text(column)?;
        self.date_of(column, &v)
    }

    fn opt_date(&mut self, column: &str) -> Option<Date> {
        let v = self.text(column)?;
        self.date_of(column, &v)
    }

    fn uint_of(&mut self, column: &str, v: &str) -> Option<u32> {
        match v.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.problem(column, "must be a whole number");
                None
            }
        }
    }

    fn req_uint(&mut self, column: &str) -> Option<u32> {
        let v = self.req_text(column)?;
        self.uint_of(column, &v)
    }

    fn opt_uint(&mut self, column: &str) -> Option<u32> {
        let v = self.text(column)?;
        self.uint_of(column, &v)
    }

    fn vocab_of<T: Copy>(
        &mut self,
        column: &str,
        v: &str,
        parse: fn(&str) -> Option<T>,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        let found = parse(&v.to_ascii_lowercase()).or_else(|| parse(v));
        if found.is_none() {
            let choices: Vec<&str> = all.iter().map(|t| name(*t)).collect();
            self.problem(column, format!("must be one of {}", choices.join(", ")));
        }
        found
    }

    fn vocab<T: Copy>(
        &mut self,
        column: &str,
        parse: fn(&str) -> Option<T>,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        let v = self.req_text(column)?;
        self.vocab_of(column, &v, parse, all, name)
    }

    fn opt_vocab<T: Copy>(
        &mut self,
        column: &str,
        parse: fn(&str) -> Option<T>,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Option<T> {
        let v = self.text(column)?;
        self.vocab_of(column, &v, parse, all, name)
    }

    /// A `;`-separated list of vocabulary words.
    fn list<T: Copy>(
        &mut self,
        column: &str,
        parse: fn(&str) -> Option<T>,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Vec<T> {
        let Some(v) = self.text(column) else {
            return Vec::new();
        };
        items(&v)
            .filter_map(|item| self.vocab_of(column, item, parse, all, name))
            .collect()
    }

    /// A `;`-separated list of labels (a curriculum's topics).
    fn labels<T: TryFrom<String, Error = String>>(&mut self, column: &str) -> Vec<T> {
        let Some(v) = self.text(column) else {
            return Vec::new();
        };
        items(&v)
            .filter_map(|item| self.parse(column, item.to_owned()))
            .collect()
    }

    fn weekday(&mut self, column: &str, v: &str) -> Option<Weekday> {
        self.vocab_of(column, v, Weekday::parse, Weekday::ALL, |d| d.as_str())
    }

    fn time(&mut self, column: &str, v: &str) -> Option<Time> {
        match Time::strptime("%H:%M", v) {
            Ok(t) => Some(t),
            Err(_) => {
                self.problem(column, "must give times as HH:MM (24-hour)");
                None
            }
        }
    }

    /// `tuesday 18:00 90; thursday 18:00 90`: weekday, local start, minutes.
    fn meetings(&mut self) -> Vec<WeeklyMeeting> {
        let column = "meetings";
        let Some(v) = self.req_text(column) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items(&v) {
            let parts: Vec<&str> = item.split_whitespace().collect();
            let [day, start, minutes] = parts[..] else {
                self.problem(
                    column,
                    "must list meetings as weekday HH:MM minutes, separated by ; (for example tuesday 18:00 90)",
                );
                continue;
            };
            let (day, start, minutes) = (
                self.weekday(column, day),
                self.time(column, start),
                self.uint_of(column, minutes),
            );
            if let (Some(weekday), Some(start), Some(minutes)) = (day, start, minutes) {
                out.push(WeeklyMeeting {
                    weekday,
                    start,
                    minutes,
                });
            }
        }
        out
    }

    /// `monday 09:00-12:30; wednesday 17:00-21:00`.
    fn availability(&mut self) -> Vec<AvailabilityWindow> {
        let column = "availability";
        let Some(v) = self.text(column) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items(&v) {
            let parsed = item
                .split_once(char::is_whitespace)
                .and_then(|(day, span)| span.trim().split_once('-').map(|(a, b)| (day, a, b)));
            let Some((day, start, end)) = parsed else {
                self.problem(
                    column,
                    "must list windows as weekday HH:MM-HH:MM, separated by ; (for example monday 09:00-12:30)",
                );
                continue;
            };
            let (day, start, end) = (
                self.weekday(column, day),
                self.time(column, start.trim()),
                self.time(column, end.trim()),
            );
            if let (Some(weekday), Some(start), Some(end)) = (day, start, end) {
                out.push(AvailabilityWindow {
                    weekday,
                    start,
                    end,
                });
            }
        }
        out
    }

    /// `enrollment` (open, rolling, closed) with `enrollment_start` (a rolling group's
    /// curriculum start, a closed group's cohort start) and `module_weeks` (rolling).
    fn enrollment(&mut self) -> Option<Enrollment> {
        let model = self.req_text("enrollment")?;
        match model.to_ascii_lowercase().as_str() {
            "open" => Some(Enrollment::Open),
            "rolling" => {
                let start = self.req_date("enrollment_start");
                let weeks = self.req_uint("module_weeks");
                Some(Enrollment::Rolling {
                    curriculum_start: start?,
                    module_weeks: weeks?,
                })
            }
            "closed" => Some(Enrollment::Closed {
                cohort_start: self.req_date("enrollment_start")?,
            }),
            _ => {
                self.problem("enrollment", "must be one of open, rolling, closed");
                None
            }
        }
    }
}

/// The items of a `;`-separated cell.
fn items(v: &str) -> impl Iterator<Item = &str> {
    v.split(';').map(str::trim).filter(|s| !s.is_empty())
}

// Writing.

fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn joined<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join("; ")
}

/// The clinic's records as the import's files, RFC 4180 with CRLF line ends.
pub fn write_files(r: &ClinicRecords) -> Vec<(&'static str, String)> {
    let clinician: HashMap<i64, &str> = r
        .clinicians
        .iter()
        .map(|c| (c.item.id.0, c.external_id.as_str()))
        .collect();
    let room: HashMap<i64, &str> = r
        .rooms
        .iter()
        .map(|x| (x.item.id.0, x.external_id.as_str()))
        .collect();
    let program: HashMap<i64, &str> = r
        .programs
        .iter()
        .map(|x| (x.item.id.0, x.external_id.as_str()))
        .collect();
    let group: HashMap<i64, &str> = r
        .groups
        .iter()
        .map(|x| (x.item.id.0, x.external_id.as_str()))
        .collect();
    let client: HashMap<i64, &str> = r
        .clients
        .iter()
        .map(|x| (x.item.id.0, x.external_id.as_str()))
        .collect();
    let name = |m: &HashMap<i64, &str>, id: i64| m.get(&id).copied().unwrap_or("").to_owned();
    let opt = |v: Option<String>| v.unwrap_or_default();

    let mut out = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for c in &r.clinicians {
        let x = &c.item;
        rows.push(vec![
            c.external_id.clone(),
            x.given_name.to_string(),
            x.family_name.to_string(),
            x.email.to_string(),
            joined(&x.modalities, |m| m.as_str().to_owned()),
        ]);
    }
    out.push(("clinicians.csv", sheet("clinicians.csv", &rows)));

    rows.clear();
    for c in &r.clinicians {
        for l in &c.item.licenses {
            rows.push(vec![
                c.external_id.clone(),
                l.kind.as_str().to_owned(),
                l.number.to_string(),
                l.state.to_string(),
                l.issued_on.to_string(),
                l.expires_on.to_string(),
            ]);
        }
    }
    out.push(("licenses.csv", sheet("licenses.csv", &rows)));

    rows.clear();
    for x in &r.rooms {
        rows.push(vec![
            x.external_id.clone(),
            x.item.site.to_string(),
            x.item.name.to_string(),
            x.item.capacity.to_string(),
        ]);
    }
    out.push(("rooms.csv", sheet("rooms.csv", &rows)));

    rows.clear();
    for x in &r.programs {
        let p = &x.item;
        rows.push(vec![
            x.external_id.clone(),
            p.name.to_string(),
            p.site.to_string(),
            p.level_of_care.as_str().to_owned(),
            p.time_zone.to_string(),
            p.weekly_required_minutes.to_string(),
            p.max_group_size.to_string(),
            p.newcomers_per_session.to_string(),
            p.note_due_hours.to_string(),
            p.session_code.as_str().to_owned(),
            opt(p.per_diem_code.map(|c| c.as_str().to_owned())),
            p.daily_minimum_minutes.to_string(),
            p.measure_cadence_days.to_string(),
        ]);
    }
    out.push(("programs.csv", sheet("programs.csv", &rows)));

    rows.clear();
    for x in &r.groups {
        let g = &x.item;
        let (model, start, weeks) = match g.enrollment {
            Enrollment::Open => ("open", String::new(), String::new()),
            Enrollment::Rolling {
                curriculum_start,
                module_weeks,
            } => (
                "rolling",
                curriculum_start.to_string(),
                module_weeks.to_string(),
            ),
            Enrollment::Closed { cohort_start } => {
                ("closed", cohort_start.to_string(), String::new())
            }
        };
        rows.push(vec![
            x.external_id.clone(),
            name(&program, g.program_id.0),
            g.name.to_string(),
            g.kind.as_str().to_owned(),
            joined(&g.eligible_levels, |l| l.as_str().to_owned()),
            model.to_owned(),
            joined(&g.meetings, |m| {
                format!("{} {} {}", m.weekday.as_str(), hhmm(m.start), m.minutes)
            }),
            name(&clinician, g.lead_facilitator_id.0),
            opt(g.modality.map(|m| m.as_str().to_owned())),
            joined(&g.focus_concerns, |c| c.as_str().to_owned()),
            start,
            weeks,
            g.min_size.to_string(),
            g.max_size.to_string(),
            opt(g.room_id.map(|r| name(&room, r.0))),
            opt(g.co_facilitator_id.map(|c| name(&clinician, c.0))),
            joined(&g.curriculum, ToString::to_string),
        ]);
    }
    out.push(("groups.csv", sheet("groups.csv", &rows)));

    rows.clear();
    for x in &r.clients {
        let c = &x.item;
        rows.push(vec![
            x.external_id.clone(),
            c.record_number.to_string(),
            c.given_name.to_string(),
            c.family_name.to_string(),
            c.date_of_birth.to_string(),
            c.referral_source.as_str().to_owned(),
            opt(c.preferred_name.as_ref().map(ToString::to_string)),
            opt(c.email.as_ref().map(ToString::to_string)),
            opt(c.phone.as_ref().map(ToString::to_string)),
            joined(&c.concerns, |c| c.as_str().to_owned()),
            joined(&c.availability, |w| {
                format!("{} {}-{}", w.weekday.as_str(), hhmm(w.start), hhmm(w.end))
            }),
        ]);
    }
    out.push(("clients.csv", sheet("clients.csv", &rows)));

    rows.clear();
    for e in &r.episodes {
        rows.push(vec![
            name(&client, e.client_id.0),
            e.level_of_care.as_str().to_owned(),
            e.started_on.to_string(),
            opt(e.program_id.map(|p| name(&program, p.0))),
            opt(e.ended_on.map(|d| d.to_string())),
        ]);
    }
    out.push(("episodes.csv", sheet("episodes.csv", &rows)));

    rows.clear();
    for (a, b) in &r.separations {
        rows.push(vec![name(&client, a.0), name(&client, b.0)]);
    }
    out.push(("separations.csv", sheet("separations.csv", &rows)));

    rows.clear();
    for x in &r.memberships {
        let m = &x.item;
        rows.push(vec![
            x.external_id.clone(),
            name(&group, m.group_id.0),
            name(&client, m.client_id.0),
            m.start_date.to_string(),
            opt(m.end_date.map(|d| d.to_string())),
            m.status.as_str().to_owned(),
        ]);
    }
    out.push(("memberships.csv", sheet("memberships.csv", &rows)));
    out
}

/// One file: the header, then the rows, each cell escaped for spreadsheets.
fn sheet(file: &str, rows: &[Vec<String>]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to memory cannot fail; a failure would only drop the file's rows.
    let _ = w.write_record(all_columns(file));
    for r in rows {
        let _ = w.write_record(r.iter().map(|c| escape(c)));
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn a_count_takes_the_singular_for_one_only() {
        assert_eq!(count(0, "record", "records"), "0 records");
        assert_eq!(count(1, "record", "records"), "1 record");
        assert_eq!(count(3, "problem", "problems"), "3 problems");
    }
}
