//! The calendar: a week of sessions per program, clinician or room. Directors and intake
//! (who keep schedules) see every session (a scoped director their programs' sessions); a clinician only the sessions they lead or
//! co-lead, whatever the view.

use circle_domain::DomainError;
use circle_domain::compliance::week_start;
use circle_store::access::{ListScope, purpose};
use jiff::civil::Date;

pub use circle_store::calendar::{CalendarFilter, CalendarItem};

use crate::{Actor, App, AppResult};

/// A week of sessions, Monday to Sunday in the clinic's time zone.
#[derive(Debug, Clone)]
pub struct CalendarWeek {
    pub monday: Date,
    /// Seven days, each with its sessions by start time.
    pub days: Vec<(Date, Vec<CalendarItem>)>,
}

impl App {
    /// The week holding `day` as `filter` selects it, narrowed to what the role may see.
    pub async fn calendar_week(
        &self,
        actor: &Actor,
        day: Date,
        filter: CalendarFilter,
    ) -> AppResult<CalendarWeek> {
        let listing = self.listing::<purpose::Schedules>(actor).await?;
        let only_for = listing.only_clinician();
        let monday = week_start(day);
        let span = |d: i64| {
            monday
                .checked_add(jiff::Span::new().days(d))
                .map_err(|_| DomainError::invalid("week", "must be a date between 0002 and 9998"))
        };
        // A program's local date may differ from the clinic's by a day at the edges.
        let from = span(-1)?;
        let until = span(8)?;
        let mut items = self.store.calendar(from, until, filter, only_for).await?;
        if let ListScope::Programs { programs, .. } = listing.scope() {
            items.retain(|i| programs.contains(&i.program_id));
        }
        let tz = self.clinic_time_zone().clone();
        let mut days: Vec<(Date, Vec<CalendarItem>)> = Vec::with_capacity(7);
        for d in 0..7 {
            days.push((span(d)?, Vec::new()));
        }
        for item in items {
            let local = item.session.starts_at.to_zoned(tz.clone()).date();
            if let Some((_, list)) = days.iter_mut().find(|(d, _)| *d == local) {
                list.push(item);
            }
        }
        Ok(CalendarWeek { monday, days })
    }
}
