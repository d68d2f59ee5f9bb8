//! A day's agenda: the sessions on a date, with their group and room names, for the
//! "Today" page.

use std::collections::HashMap;

use circle_domain::ids::ClinicianId;
use circle_domain::session::Session;
use jiff::civil::Date;

use crate::codec::date;
use crate::sessions::{SESSION_COLUMNS, SessionRow, resolve_topics};
use crate::{Store, StoreError};

/// A group's and its room's names.
#[derive(sqlx::FromRow)]
struct GroupNamesRow {
    id: i64,
    group_name: String,
    room_name: Option<String>,
}

/// One session on the agenda.
#[derive(Debug, Clone)]
pub struct AgendaItem {
    pub session: Session,
    pub group_name: String,
    /// `None` for telehealth groups.
    pub room_name: Option<String>,
}

impl Store {
    /// The sessions on `day` (the program's local date), by start time: every group's, or
    /// only those of groups `clinician` leads or co-leads or facilitates that day. Two
    /// queries whatever the day holds: the sessions, then their groups' and rooms' names.
    pub async fn agenda(
        &self,
        day: Date,
        clinician: Option<ClinicianId>,
    ) -> Result<Vec<AgendaItem>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let rows = sqlx::query_as::<_, SessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE local_date = $1 AND ($2 = -1 \
             OR lead_facilitator_id = $2 OR EXISTS (SELECT 1 FROM therapy_groups g \
             WHERE g.id = sessions.group_id AND (g.lead_facilitator_id = $2 \
             OR g.co_facilitator_id = $2))) ORDER BY starts_at, id"
        ))
        .bind(date(day))
        .bind(clinician.map_or(-1, |c| c.0))
        .fetch_all(&mut *conn)
        .await?;
        let mut sessions = rows
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        resolve_topics(&mut conn, &mut sessions).await?;
        let names: HashMap<i64, (String, Option<String>)> = sqlx::query_as::<_, GroupNamesRow>(
            "SELECT g.id, g.name AS group_name, r.name AS room_name FROM therapy_groups g \
             LEFT JOIN rooms r ON r.id = g.room_id WHERE g.id IN \
             (SELECT group_id FROM sessions WHERE local_date = $1)",
        )
        .bind(date(day))
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.id, (r.group_name, r.room_name)))
        .collect();
        sessions
            .into_iter()
            .map(|session| {
                let (group_name, room_name) = names
                    .get(&session.group_id.0)
                    .cloned()
                    .ok_or(StoreError::Corrupt("sessions.group_id"))?;
                Ok(AgendaItem {
                    session,
                    group_name,
                    room_name,
                })
            })
            .collect()
    }
}
