//! A day's agenda for the "Today" page: a clinician's own sessions; every session for
//! directors and intake (intake keeps schedules); a scoped director's programs' sessions.

use circle_store::access::{ListScope, purpose};
use jiff::civil::Date;

pub use circle_store::agenda::AgendaItem;

use crate::{Actor, App, AppResult};

impl App {
    pub async fn agenda(&self, actor: &Actor, day: Date) -> AppResult<Vec<AgendaItem>> {
        let listing = self.listing::<purpose::Schedules>(actor).await?;
        let mut items = self.store.agenda(day, listing.only_clinician()).await?;
        // A scoped director's day is their programs' sessions.
        if let ListScope::Programs { programs, .. } = listing.scope() {
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if programs.contains(&self.store.group_program(item.session.group_id).await?) {
                    kept.push(item);
                }
            }
            items = kept;
        }
        Ok(items)
    }
}
