//! A day's agenda: the sessions on a date, with their group and room names, for the
//! "Today" page.

use std::collections::HashMap;

use circle_domain::ids::ClinicianId;
use circle_domain::session::Session;
use jiff::civil::Date;

use crate::codec::{RowExt, date};
use crate::sessions::{SESSION_COLUMNS, resolve_topics, session_from_row};
use crate::{Store, StoreError};

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
        let rows = sqlx::query(&format!(
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
            .iter()
            .map(session_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        resolve_topics(&mut conn, &mut sessions).await?;
        let names: HashMap<i64, (String, Option<String>)> = sqlx::query(
            "SELECT g.id, g.name AS group_name, r.name AS room_name FROM therapy_groups g \
             LEFT JOIN rooms r ON r.id = g.room_id WHERE g.id IN \
             (SELECT group_id FROM sessions WHERE local_date = $1)",
        )
        .bind(date(day))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.int("id")?,
                (r.text("group_name")?, r.opt_text("room_name")?),
            ))
        })
        .collect::<Result<_, StoreError>>()?;
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
