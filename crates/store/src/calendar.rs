//! A week of sessions for the calendar: per program, clinician or room, with each
//! session's group, program and room. Schedules hold no client data, so the read is not
//! audited (as the agenda is not).

use std::collections::HashMap;

use circle_domain::ids::{ClinicianId, ProgramId, RoomId};
use circle_domain::session::Session;
use jiff::civil::Date;

use crate::codec::date;
use crate::sessions::{SESSION_COLUMNS, SessionRow, resolve_topics};
use crate::{Store, StoreError};

/// Whose sessions a calendar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarFilter {
    All,
    Program(ProgramId),
    /// Sessions the clinician leads (the session's or the group's lead) or co-leads.
    Clinician(ClinicianId),
    Room(RoomId),
}

/// A group's name and program and its room's name.
#[derive(sqlx::FromRow)]
struct GroupNamesRow {
    id: i64,
    group_name: String,
    program_id: i64,
    room_name: Option<String>,
}

/// One session on the calendar.
#[derive(Debug, Clone)]
pub struct CalendarItem {
    pub session: Session,
    pub group_name: String,
    pub program_id: ProgramId,
    /// `None` for telehealth groups.
    pub room_name: Option<String>,
}

/// The clinician condition on `sessions` for the clinician id bound at `p` (-1: anyone).
fn led_by(p: &str) -> String {
    format!(
        "({p} = -1 OR sessions.lead_facilitator_id = {p} OR EXISTS (SELECT 1 FROM therapy_groups g \
         WHERE g.id = sessions.group_id AND (g.lead_facilitator_id = {p} OR g.co_facilitator_id = {p})))"
    )
}

impl Store {
    /// The sessions with a local date from `from` up to (not including) `until` that match
    /// `filter` and, when `only_for` is set, that clinician leads or co-leads; by start.
    pub async fn calendar(
        &self,
        from: Date,
        until: Date,
        filter: CalendarFilter,
        only_for: Option<ClinicianId>,
    ) -> Result<Vec<CalendarItem>, StoreError> {
        let (program, clinician, room) = match filter {
            CalendarFilter::All => (-1, -1, -1),
            CalendarFilter::Program(p) => (p.0, -1, -1),
            CalendarFilter::Clinician(c) => (-1, c.0, -1),
            CalendarFilter::Room(r) => (-1, -1, r.0),
        };
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE local_date >= $1 AND local_date < $2 \
             AND ($3 = -1 OR EXISTS (SELECT 1 FROM therapy_groups g WHERE g.id = sessions.group_id \
             AND g.program_id = $3)) \
             AND ($4 = -1 OR EXISTS (SELECT 1 FROM therapy_groups g WHERE g.id = sessions.group_id \
             AND g.room_id = $4)) AND {} AND {} ORDER BY starts_at, id",
            led_by("$5"),
            led_by("$6")
        ))
        .bind(date(from))
        .bind(date(until))
        .bind(program)
        .bind(room)
        .bind(clinician)
        .bind(only_for.map_or(-1, |c| c.0))
        .fetch_all(&mut *conn)
        .await?;
        let mut sessions = rows
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        resolve_topics(&mut conn, &mut sessions).await?;
        let names: HashMap<i64, (String, i64, Option<String>)> =
            sqlx::query_as::<_, GroupNamesRow>(
                "SELECT g.id, g.name AS group_name, g.program_id, r.name AS room_name \
                 FROM therapy_groups g LEFT JOIN rooms r ON r.id = g.room_id WHERE g.id IN \
                 (SELECT group_id FROM sessions WHERE local_date >= $1 AND local_date < $2)",
            )
            .bind(date(from))
            .bind(date(until))
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|r| (r.id, (r.group_name, r.program_id, r.room_name)))
            .collect();
        sessions
            .into_iter()
            .map(|session| {
                let (group_name, program, room_name) = names
                    .get(&session.group_id.0)
                    .cloned()
                    .ok_or(StoreError::Corrupt("sessions.group_id"))?;
                Ok(CalendarItem {
                    session,
                    group_name,
                    program_id: ProgramId(program),
                    room_name,
                })
            })
            .collect()
    }
}
