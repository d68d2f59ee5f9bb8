//! Programs and rooms.

use circle_domain::DomainError;
use circle_domain::Rule;
use circle_domain::care::LevelOfCare;
use circle_domain::ids::{ProgramId, RoomId, UserId};
use circle_domain::program::{
    NewProgram, NewRoom, PerDiemCode, PlaceOfService, Program, ProgramPatch, Room, SessionCode,
};
use jiff::Timestamp;

use crate::codec::{page_of, read, ts};
use crate::{Page, PageRequest, Store, StoreError};

pub(crate) const PROGRAM_COLUMNS: &str = "id, name, site, level_of_care, time_zone, \
     weekly_required_minutes, max_group_size, newcomers_per_session, note_due_hours, \
     session_code, per_diem_code, daily_minimum_minutes, measure_cadence_days, \
     place_of_service, telehealth_place_of_service, sessions_billable_with_per_diem, version";

#[derive(sqlx::FromRow)]
pub(crate) struct ProgramRow {
    id: i64,
    name: String,
    site: String,
    level_of_care: String,
    time_zone: String,
    weekly_required_minutes: i64,
    max_group_size: i64,
    newcomers_per_session: i64,
    note_due_hours: i64,
    session_code: String,
    per_diem_code: Option<String>,
    daily_minimum_minutes: i64,
    measure_cadence_days: i64,
    place_of_service: String,
    telehealth_place_of_service: String,
    sessions_billable_with_per_diem: i64,
    version: i64,
}

impl TryFrom<ProgramRow> for Program {
    type Error = StoreError;
    fn try_from(r: ProgramRow) -> Result<Self, StoreError> {
        Ok(Program {
            id: ProgramId(r.id),
            name: read::parsed(r.name, "name")?,
            site: read::parsed(r.site, "site")?,
            level_of_care: read::vocab(&r.level_of_care, "level_of_care", LevelOfCare::parse)?,
            time_zone: read::parsed(r.time_zone, "time_zone")?,
            weekly_required_minutes: read::uint(
                r.weekly_required_minutes,
                "weekly_required_minutes",
            )?,
            max_group_size: read::uint(r.max_group_size, "max_group_size")?,
            newcomers_per_session: read::uint(r.newcomers_per_session, "newcomers_per_session")?,
            note_due_hours: read::uint(r.note_due_hours, "note_due_hours")?,
            session_code: read::vocab(&r.session_code, "session_code", SessionCode::parse)?,
            per_diem_code: read::opt_vocab(
                r.per_diem_code.as_deref(),
                "per_diem_code",
                PerDiemCode::parse,
            )?,
            daily_minimum_minutes: read::uint(r.daily_minimum_minutes, "daily_minimum_minutes")?,
            measure_cadence_days: read::uint(r.measure_cadence_days, "measure_cadence_days")?,
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
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RoomRow {
    id: i64,
    site: String,
    name: String,
    capacity: i64,
    version: i64,
}

impl TryFrom<RoomRow> for Room {
    type Error = StoreError;
    fn try_from(r: RoomRow) -> Result<Self, StoreError> {
        Ok(Room {
            id: RoomId(r.id),
            site: read::parsed(r.site, "site")?,
            name: read::parsed(r.name, "name")?,
            capacity: read::uint(r.capacity, "capacity")?,
            version: r.version,
        })
    }
}

impl Store {
    pub async fn create_program(
        &self,
        new: &NewProgram,
        now: Timestamp,
    ) -> Result<Program, StoreError> {
        new.settings()?;
        // In a transaction, not autocommit: see `create_room`.
        let mut tx = self.pool().begin().await?;
        let program = insert_program(&mut tx, new, None, now).await?;
        tx.commit().await?;
        Ok(program)
    }

    pub async fn program(&self, id: ProgramId) -> Result<Program, StoreError> {
        let row = sqlx::query_as::<_, ProgramRow>(&format!(
            "SELECT {PROGRAM_COLUMNS} FROM programs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("program"))?;
        Program::try_from(row)
    }

    pub async fn list_programs(&self, page: PageRequest) -> Result<Page<Program>, StoreError> {
        self.list_programs_within(None, page).await
    }

    /// Programs in a stable order: all, or only those linked to `director` (a scoped
    /// director's).
    pub async fn list_programs_within(
        &self,
        director: Option<UserId>,
        page: PageRequest,
    ) -> Result<Page<Program>, StoreError> {
        let rows = sqlx::query_as::<_, ProgramRow>(&format!(
            "SELECT {PROGRAM_COLUMNS} FROM programs WHERE id > $1 AND ($3 = -1 OR {}) \
             ORDER BY id LIMIT $2",
            crate::director_programs::director_program("$3", "programs.id")
        ))
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .bind(director.map_or(-1, |d| d.0))
        .fetch_all(self.pool())
        .await?;
        let items = rows
            .into_iter()
            .map(Program::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, page.limit, |p| p.id.0))
    }

    /// Changes a program's settings if `patch.version` is still current (else 409).
    pub async fn update_program(
        &self,
        id: ProgramId,
        patch: &ProgramPatch,
        now: Timestamp,
    ) -> Result<Program, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, ProgramRow>(&format!(
            "SELECT {PROGRAM_COLUMNS} FROM programs WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(DomainError::not_found("program"))?;
        let current = Program::try_from(row)?;
        let settings = patch.apply(&current)?;
        let name = patch.name.as_ref().unwrap_or(&current.name);
        let row = sqlx::query_as::<_, ProgramRow>(&format!(
            "UPDATE programs SET name = $1, weekly_required_minutes = $2, max_group_size = $3, \
             newcomers_per_session = $4, note_due_hours = $5, session_code = $6, \
             per_diem_code = $7, daily_minimum_minutes = $8, measure_cadence_days = $9, \
             place_of_service = $13, telehealth_place_of_service = $14, \
             sessions_billable_with_per_diem = $15, \
             version = version + 1, updated_at = $10 WHERE id = $11 AND version = $12 \
             RETURNING {PROGRAM_COLUMNS}"
        ))
        .bind(name.as_str())
        .bind(i64::from(settings.weekly_required_minutes))
        .bind(i64::from(settings.max_group_size))
        .bind(i64::from(settings.newcomers_per_session))
        .bind(i64::from(settings.note_due_hours))
        .bind(settings.session_code.as_str())
        .bind(settings.per_diem_code.map(PerDiemCode::as_str))
        .bind(i64::from(settings.daily_minimum_minutes))
        .bind(i64::from(settings.measure_cadence_days))
        .bind(ts(now))
        .bind(id.0)
        .bind(patch.version)
        .bind(settings.place_of_service.as_str())
        .bind(settings.telehealth_place_of_service.as_str())
        .bind(i64::from(settings.sessions_billable_with_per_diem))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(stale)?;
        let program = Program::try_from(row)?;
        tx.commit().await?;
        Ok(program)
    }

    pub async fn create_room(&self, new: &NewRoom, now: Timestamp) -> Result<Room, StoreError> {
        // In a transaction, not autocommit: on SQLite an autocommit `… RETURNING` read with
        // fetch_one/fetch_optional commits when the statement is reset, after the row was
        // handed back, and sqlx drops the reset's error — a failed commit (a full disk)
        // would be reported as success (issue 16, item 1).
        let mut tx = self.pool().begin().await?;
        let room = insert_room(&mut tx, new, None, now).await?;
        tx.commit().await?;
        Ok(room)
    }

    pub async fn room(&self, id: RoomId) -> Result<Room, StoreError> {
        let row = sqlx::query_as::<_, RoomRow>(
            "SELECT id, site, name, capacity, version FROM rooms WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("room"))?;
        Room::try_from(row)
    }

    pub async fn list_rooms(&self, page: PageRequest) -> Result<Page<Room>, StoreError> {
        let rows = sqlx::query_as::<_, RoomRow>(
            "SELECT id, site, name, capacity, version FROM rooms WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.pool())
        .await?;
        let items = rows
            .into_iter()
            .map(Room::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(items, page.limit, |r| r.id.0))
    }
}

/// The error for an update whose version no longer matches.
pub(crate) fn stale() -> StoreError {
    StoreError::Domain(DomainError::conflict(
        Rule::StaleVersion,
        "the record was changed by someone else since you read it; reload and try again",
    ))
}

/// Inserts a program after checking its settings (creation and the clinic import share
/// it); `external_id` is the clinic's own id of an imported one.
pub(crate) async fn insert_program(
    tx: &mut crate::groups::Tx<'_>,
    new: &NewProgram,
    external_id: Option<&str>,
    now: Timestamp,
) -> Result<Program, StoreError> {
    let settings = new.settings()?;
    let now = ts(now);
    let row = sqlx::query_as::<_, ProgramRow>(&format!(
        "INSERT INTO programs (name, site, level_of_care, time_zone, weekly_required_minutes, \
         max_group_size, newcomers_per_session, note_due_hours, session_code, per_diem_code, \
         daily_minimum_minutes, measure_cadence_days, external_id, place_of_service, \
         telehealth_place_of_service, sessions_billable_with_per_diem, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $15, $16, $17, $13, $13) \
         RETURNING {PROGRAM_COLUMNS}"
    ))
    .bind(new.name.as_str())
    .bind(new.site.as_str())
    .bind(new.level_of_care.as_str())
    .bind(new.time_zone.as_str())
    .bind(i64::from(settings.weekly_required_minutes))
    .bind(i64::from(settings.max_group_size))
    .bind(i64::from(settings.newcomers_per_session))
    .bind(i64::from(settings.note_due_hours))
    .bind(settings.session_code.as_str())
    .bind(settings.per_diem_code.map(PerDiemCode::as_str))
    .bind(i64::from(settings.daily_minimum_minutes))
    .bind(i64::from(settings.measure_cadence_days))
    .bind(&now)
    .bind(external_id)
    .bind(settings.place_of_service.as_str())
    .bind(settings.telehealth_place_of_service.as_str())
    .bind(i64::from(settings.sessions_billable_with_per_diem))
    .fetch_one(&mut **tx)
    .await?;
    Program::try_from(row)
}

/// Inserts a room after checking it (creation and the clinic import share it).
pub(crate) async fn insert_room(
    tx: &mut crate::groups::Tx<'_>,
    new: &NewRoom,
    external_id: Option<&str>,
    now: Timestamp,
) -> Result<Room, StoreError> {
    new.validate()?;
    let row = sqlx::query_as::<_, RoomRow>(
        "INSERT INTO rooms (site, name, capacity, external_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $5, $4, $4) RETURNING id, site, name, capacity, version",
    )
    .bind(new.site.as_str())
    .bind(new.name.as_str())
    .bind(i64::from(new.capacity))
    .bind(ts(now))
    .bind(external_id)
    .fetch_one(&mut **tx)
    .await?;
    Room::try_from(row)
}
