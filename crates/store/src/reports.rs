//! What the reports read: diagnoses, each client's week of sessions for compliance, and the
//! attended, signed sessions a billing export is made of. Every read is audited with the
//! ids of the clients it covers.

use std::collections::{BTreeMap, HashMap};

use crate::access::{ClientAccess, ListScope, Listing, ProgramAccess, purpose};
use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::billing::{BillableSession, DiagnosisCode, Patient};
use circle_domain::care::LevelOfCare;
use circle_domain::compliance::WeekSession;
use circle_domain::ids::{ClientId, ProgramId, SessionId};
use circle_domain::program::{PerDiemCode, PlaceOfService, SessionCode};
use circle_domain::session::SessionStatus;
use jiff::Timestamp;
use jiff::civil::Date;

use crate::audit::{Record, append};
use crate::codec::{LockTable, date, lock_row, read, ts};
use crate::{Store, StoreError};

/// The seats memberships hold in sessions, with what was recorded for the member: a
/// membership holds its group's sessions from its start up to (not on) its end, unless it
/// is on hold. The weekly-hours rule, for the report and the chart alike; callers add
/// their own conditions after it.
pub(crate) const SEATS: &str = "FROM memberships m JOIN sessions s ON s.group_id = m.group_id \
     LEFT JOIN attendance a ON a.session_id = s.id AND a.client_id = m.client_id \
     WHERE m.start_date <= s.local_date \
     AND (m.end_date IS NULL OR m.end_date > s.local_date) AND m.status <> 'on_hold'";

/// A stored session as a week of hours counts it; `attended` is the member's recorded
/// minutes, if any.
pub(crate) fn week_session(
    id: i64,
    starts_at: &str,
    ends_at: &str,
    status: &str,
    attended: Option<i64>,
) -> Result<WeekSession, StoreError> {
    let starts_at = read::ts(starts_at, "starts_at")?;
    let minutes = read::ts(ends_at, "ends_at")?
        .duration_since(starts_at)
        .as_mins();
    Ok(WeekSession {
        session_id: SessionId(id),
        starts_at,
        minutes: u32::try_from(minutes).map_err(|_| StoreError::Corrupt("ends_at"))?,
        cancelled: read::vocab(status, "status", SessionStatus::parse)? == SessionStatus::Cancelled,
        attended_minutes: attended.map(|m| read::uint(m, "minutes")).transpose()?,
    })
}

/// One client's week as stored: their level and requirement, and every session their
/// memberships put them in.
#[derive(Debug, Clone)]
pub struct ClientWeekFacts {
    pub client_id: ClientId,
    pub program_id: Option<ProgramId>,
    pub level_of_care: LevelOfCare,
    /// The program's weekly requirement, or `None` when the episode names no program.
    pub program_required_minutes: Option<u32>,
    pub sessions: Vec<WeekSession>,
}

#[derive(sqlx::FromRow)]
struct ComplianceEpisodeRow {
    client_id: i64,
    weekly_required_minutes: Option<i64>,
    program_id: Option<i64>,
    level_of_care: String,
}

#[derive(sqlx::FromRow)]
struct ComplianceSessionRow {
    id: i64,
    starts_at: String,
    ends_at: String,
    status: String,
}

/// A member's seat in one of the week's sessions, with what was recorded for them.
#[derive(sqlx::FromRow)]
struct ComplianceSeatRow {
    client_id: i64,
    session_id: i64,
    attended: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DiagnosisRow {
    client_id: i64,
    code: String,
}

#[derive(sqlx::FromRow)]
struct BillableRow {
    client_id: i64,
    session_id: i64,
    record_number: String,
    local_date: String,
    program_id: i64,
    program_name: String,
    group_name: String,
    family_name: String,
    given_name: String,
    license: Option<String>,
    npi: Option<String>,
    telehealth: i64,
    place_of_service: String,
    telehealth_place_of_service: String,
    sessions_billable_with_per_diem: i64,
    client_given_name: String,
    client_family_name: String,
    date_of_birth: String,
    session_code: String,
    per_diem_code: Option<String>,
    daily_minimum_minutes: i64,
    minutes: i64,
}

impl Store {
    /// A client's diagnoses in billing order.
    pub async fn diagnoses(
        &self,
        a: &ClientAccess<purpose::DiagnosisRead>,
        at: Timestamp,
    ) -> Result<Vec<DiagnosisCode>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        if !lock_row(&mut tx, LockTable::Clients, client.0).await? {
            return Err(DomainError::not_found("client").into());
        }
        let codes = diagnoses_of(&mut tx, client).await?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::DiagnosisRead, &[client]),
        )
        .await?;
        Ok(codes)
    }

    /// Replaces a client's diagnoses (the list is short and ordered; replacing keeps the
    /// order exactly as given).
    pub async fn set_diagnoses(
        &self,
        a: &ClientAccess<purpose::DiagnosisUpdate>,
        codes: &[DiagnosisCode],
        at: Timestamp,
    ) -> Result<Vec<DiagnosisCode>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Clients, client.0).await? {
            return Err(DomainError::not_found("client").into());
        }
        sqlx::query("DELETE FROM client_diagnoses WHERE client_id = $1")
            .bind(client.0)
            .execute(&mut *tx)
            .await?;
        let now = ts(at);
        for (position, code) in (0_i64..).zip(codes) {
            sqlx::query(
                "INSERT INTO client_diagnoses (client_id, position, code, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(client.0)
            .bind(position)
            .bind(code.as_str())
            .bind(ctx.actor_user_id().map(|u| u.0))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::DiagnosisUpdate, &[client]),
        )
        .await?;
        let stored = diagnoses_of(&mut tx, client).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Every client with an episode in the week starting `monday` (optionally one program's,
    /// optionally only a clinician's caseload), with the sessions their memberships hold
    /// that week and what was recorded for them. The level is the one in force at the
    /// week's end.
    pub async fn compliance_week(
        &self,
        listing: &Listing<purpose::ComplianceRead>,
        monday: Date,
        program: Option<&ProgramAccess<purpose::ComplianceRead>>,
        at: Timestamp,
    ) -> Result<Vec<ClientWeekFacts>, StoreError> {
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let program = program.map(|p| p.program());
        let next_monday = monday
            .checked_add(jiff::Span::new().days(7))
            .map_err(|_| DomainError::invalid("week", "must be a date before 9999"))?;
        let (clinician, since) = scope.binds();
        let mut tx = self.begin_read().await?;
        let episodes = sqlx::query_as::<_, ComplianceEpisodeRow>(&format!(
            "SELECT e.client_id, e.program_id, e.level_of_care, p.weekly_required_minutes \
             FROM episodes e JOIN clients c ON c.id = e.client_id \
             LEFT JOIN programs p ON p.id = e.program_id \
             WHERE e.started_on < $1 AND (e.ended_on IS NULL OR e.ended_on > $2) \
             AND ($3 = -1 OR e.program_id = $3) AND {} \
             ORDER BY e.client_id, e.started_on",
            scope.condition("$4", "$5")
        ))
        .bind(date(next_monday))
        .bind(date(monday))
        .bind(program.map_or(-1, |p| p.0))
        .bind(clinician)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        // Ordered by start: the last row per client is the level in force at week's end.
        let mut facts: BTreeMap<i64, ClientWeekFacts> = BTreeMap::new();
        for r in episodes {
            let id = r.client_id;
            let required = r
                .weekly_required_minutes
                .map(|m| {
                    u32::try_from(m).map_err(|_| StoreError::Corrupt("weekly_required_minutes"))
                })
                .transpose()?;
            facts.insert(
                id,
                ClientWeekFacts {
                    client_id: ClientId(id),
                    program_id: r.program_id.map(ProgramId),
                    level_of_care: read::vocab(
                        &r.level_of_care,
                        "level_of_care",
                        LevelOfCare::parse,
                    )?,
                    program_required_minutes: required,
                    sessions: Vec::new(),
                },
            );
        }
        // The week's sessions once, then who holds a seat in each: a session's times are
        // read and parsed once, not once per member (the Today page reads this on every
        // view, for everyone the role may see).
        let mut week: HashMap<i64, WeekSession> = HashMap::new();
        for r in sqlx::query_as::<_, ComplianceSessionRow>(
            "SELECT id, starts_at, ends_at, status FROM sessions \
             WHERE local_date >= $1 AND local_date < $2",
        )
        .bind(date(monday))
        .bind(date(next_monday))
        .fetch_all(&mut *tx)
        .await?
        {
            week.insert(
                r.id,
                week_session(r.id, &r.starts_at, &r.ends_at, &r.status, None)?,
            );
        }
        let seats = sqlx::query_as::<_, ComplianceSeatRow>(&format!(
            "SELECT m.client_id, s.id AS session_id, a.minutes AS attended {SEATS} \
                 AND s.local_date >= $1 AND s.local_date < $2 \
                 ORDER BY m.client_id, s.starts_at, s.id"
        ))
        .bind(date(monday))
        .bind(date(next_monday))
        .fetch_all(&mut *tx)
        .await?;
        for r in seats {
            let Some(f) = facts.get_mut(&r.client_id) else {
                continue;
            };
            let session = week
                .get(&r.session_id)
                .ok_or(StoreError::Corrupt("sessions.id"))?;
            f.sessions.push(WeekSession {
                attended_minutes: r.attended.map(|m| read::uint(m, "minutes")).transpose()?,
                ..session.clone()
            });
        }
        let facts: Vec<ClientWeekFacts> = facts.into_values().collect();
        let ids: Vec<ClientId> = facts.iter().map(|f| f.client_id).collect();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::ComplianceRead, &ids).object(date(monday)),
        )
        .await?;
        Ok(facts)
    }

    /// Every attended session from `from` to `until` (inclusive) whose member's progress
    /// note is signed, with what a claim line needs. The export is audited as one
    /// `billing.export` entry naming every client in it.
    /// A scoped director's export holds only their programs.
    pub async fn billable_sessions(
        &self,
        listing: &Listing<purpose::BillingExport>,
        from: Date,
        until: Date,
        program: Option<&ProgramAccess<purpose::BillingExport>>,
        at: Timestamp,
    ) -> Result<Vec<BillableSession>, StoreError> {
        let ctx = listing.audit();
        let program = program.map(|p| p.program());
        let director = match listing.scope() {
            ListScope::Programs { director, .. } => director.0,
            _ => -1,
        };
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, BillableRow>(&format!(
            "SELECT s.id AS session_id, s.local_date, a.client_id, a.minutes, c.record_number, \
             g.name AS group_name, p.id AS program_id, p.name AS program_name, p.session_code, \
             p.per_diem_code, p.daily_minimum_minutes, k.given_name, k.family_name, k.npi, \
             CASE WHEN g.room_id IS NULL THEN 1 ELSE 0 END AS telehealth, p.place_of_service, \
             p.telehealth_place_of_service, p.sessions_billable_with_per_diem, \
             c.given_name AS client_given_name, c.family_name AS client_family_name, \
             c.date_of_birth, \
             (SELECT l.kind || ' ' || l.state || ' ' || l.number FROM licenses l \
              WHERE l.clinician_id = k.id AND l.issued_on <= s.local_date \
              AND l.expires_on >= s.local_date ORDER BY l.expires_on DESC, l.id LIMIT 1) AS license \
             FROM attendance a JOIN sessions s ON s.id = a.session_id \
             JOIN therapy_groups g ON g.id = s.group_id JOIN programs p ON p.id = g.program_id \
             JOIN clients c ON c.id = a.client_id JOIN clinicians k ON k.id = s.lead_facilitator_id \
             JOIN progress_notes n ON n.session_id = s.id AND n.client_id = a.client_id \
             WHERE n.state = 'signed' AND a.status IN ('present', 'late', 'left_early') \
             AND s.status <> 'cancelled' AND s.local_date >= $1 AND s.local_date <= $2 \
             AND ($3 = -1 OR p.id = $3) AND ($4 = -1 OR {}) \
             ORDER BY s.local_date, c.record_number, s.id",
            crate::director_programs::director_program("$4", "p.id")
        ))
        .bind(date(from))
        .bind(date(until))
        .bind(program.map_or(-1, |p| p.0))
        .bind(director)
        .fetch_all(&mut *tx)
        .await?;
        // Only the diagnoses of the clients in this export, in billing order.
        let mut diagnoses: HashMap<i64, Vec<DiagnosisCode>> = HashMap::new();
        for r in sqlx::query_as::<_, DiagnosisRow>(&format!(
            "SELECT d.client_id, d.code FROM client_diagnoses d WHERE d.client_id IN \
             (SELECT a.client_id FROM attendance a JOIN sessions s ON s.id = a.session_id \
              JOIN therapy_groups g ON g.id = s.group_id \
              WHERE s.local_date >= $1 AND s.local_date <= $2 AND ($3 = -1 OR g.program_id = $3) \
              AND ($4 = -1 OR {})) \
             ORDER BY d.client_id, d.position",
            crate::director_programs::director_program("$4", "g.program_id")
        ))
        .bind(date(from))
        .bind(date(until))
        .bind(program.map_or(-1, |p| p.0))
        .bind(director)
        .fetch_all(&mut *tx)
        .await?
        {
            diagnoses
                .entry(r.client_id)
                .or_default()
                .push(read::parsed(r.code, "code")?);
        }
        let mut lines = Vec::with_capacity(rows.len());
        for r in rows {
            let client = r.client_id;
            lines.push(BillableSession {
                session_id: SessionId(r.session_id),
                client_id: ClientId(client),
                record_number: r.record_number,
                date: read::date(&r.local_date, "local_date")?,
                program_id: ProgramId(r.program_id),
                program: r.program_name,
                group: r.group_name,
                rendering_clinician: format!("{}, {}", r.family_name, r.given_name),
                rendering_license: r.license.unwrap_or_default(),
                rendering_npi: read::opt_parsed(r.npi, "npi")?,
                telehealth: r.telehealth != 0,
                place_of_service: read::vocab(
                    &r.place_of_service,
                    "place_of_service",
                    PlaceOfService::parse,
                )?,
                telehealth_place_of_service: read::vocab(
                    &r.telehealth_place_of_service,
                    "telehealth_place_of_service",
                    PlaceOfService::parse,
                )?,
                sessions_billable_with_per_diem: r.sessions_billable_with_per_diem != 0,
                patient: Patient {
                    given_name: r.client_given_name,
                    family_name: r.client_family_name,
                    date_of_birth: read::date(&r.date_of_birth, "date_of_birth")?,
                },
                session_code: read::vocab(&r.session_code, "session_code", SessionCode::parse)?,
                per_diem_code: read::opt_vocab(
                    r.per_diem_code.as_deref(),
                    "per_diem_code",
                    PerDiemCode::parse,
                )?,
                daily_minimum_minutes: read::uint(
                    r.daily_minimum_minutes,
                    "daily_minimum_minutes",
                )?,
                minutes: read::uint(r.minutes, "minutes")?,
                diagnoses: diagnoses.get(&client).cloned().unwrap_or_default(),
            });
        }
        let mut ids: Vec<ClientId> = lines.iter().map(|l| l.client_id).collect();
        ids.sort();
        ids.dedup();
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::BillingExport, &ids).object(format!(
                "{}..{}",
                date(from),
                date(until)
            )),
        )
        .await?;
        Ok(lines)
    }
}

async fn diagnoses_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    client: ClientId,
) -> Result<Vec<DiagnosisCode>, StoreError> {
    sqlx::query_scalar::<_, String>(
        "SELECT code FROM client_diagnoses WHERE client_id = $1 ORDER BY position",
    )
    .bind(client.0)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|code| read::parsed(code, "code"))
    .collect()
}
