//! A day's agenda for the "Today" page: a clinician's own sessions; every session for
//! directors and intake (intake keeps schedules).

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
        Ok(self.store.agenda(day, clinician).await?)
    }
}
