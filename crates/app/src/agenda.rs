//! A day's agenda for the "Today" page: a clinician's own sessions; every session for
//! directors and intake (intake keeps schedules); a scoped director's programs' sessions.

use circle_domain::DomainError;
use circle_domain::user::Role;
use jiff::civil::Date;

pub use circle_store::agenda::AgendaItem;

use crate::{Actor, App, AppResult};

impl App {
    pub async fn agenda(&self, actor: &Actor, day: Date) -> AppResult<Vec<AgendaItem>> {
        let clinician = match actor.role {
            Role::Director | Role::Intake => None,
            Role::Clinician => Some(actor.clinician_id.ok_or(DomainError::Forbidden)?),
            Role::Admin | Role::Client => return Err(DomainError::Forbidden.into()),
        };
        let mut items = self.store.agenda(day, clinician).await?;
        // A scoped director's day is their programs' sessions.
        if let Some(crate::scope::DirectorScope::Programs(list)) =
            self.director_scope(actor).await?
        {
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if list.contains(&self.store.group_program(item.session.group_id).await?) {
                    kept.push(item);
                }
            }
            items = kept;
        }
        Ok(items)
    }
}
