//! A day's agenda: the sessions on a date, with their group and room names, for the
//! "Today" page.

use circle_domain::ids::{ClinicianId, SessionId};
use circle_domain::session::Session;
use jiff::civil::Date;

use crate::codec::{RowExt, date};
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
    /// only those of groups `clinician` leads or co-leads or facilitates that day.
    pub async fn agenda(
        &self,
        day: Date,
        clinician: Option<ClinicianId>,
    ) -> Result<Vec<AgendaItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, g.name AS group_name, r.name AS room_name FROM sessions s \
             JOIN therapy_groups g ON g.id = s.group_id LEFT JOIN rooms r ON r.id = g.room_id \
             WHERE s.local_date = $1 AND ($2 = -1 OR g.lead_facilitator_id = $2 \
             OR g.co_facilitator_id = $2 OR s.lead_facilitator_id = $2) \
             ORDER BY s.starts_at, s.id",
        )
        .bind(date(day))
        .bind(clinician.map_or(-1, |c| c.0))
        .fetch_all(self.pool())
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            items.push(AgendaItem {
                session: self.session(SessionId(r.int("id")?)).await?,
                group_name: r.text("group_name")?,
                room_name: r.opt_text("room_name")?,
            });
        }
        Ok(items)
    }
}
