//! Circle's services: the use cases the web layer calls, and the only caller of the store.
//!
//! Every method takes the acting user, an [`Actor`] resolved once per request with what
//! they reach. Access is decided by one gate (`circle_store::access`), deny by default:
//! a service asks the gate for an access value — `ClientAccess<purpose::SeparationRead>`,
//! `GroupAccess<purpose::Enroll>`, a `Listing` — and every store method that reads or
//! writes client data takes one. Access values have private constructors, so a service
//! that forgets the check does not compile; audit entries are built from them, so nobody
//! can put another user's name on an entry. Each value is typed by its purpose (the roles
//! that may ever act for it, the action a refusal is audited as), so a proof obtained for
//! one thing cannot be spent on another. Pages ask the same purposes (`actor.may::<P>()`)
//! to decide what to show, so pages and API cannot disagree (`page_matrix` in the testkit
//! walks every page route as every principal and compares pages with the API). What the
//! store hands back is typed at its edge: instants are `jiff::Timestamp`, parsed once where
//! rows are read (a stored value that does not parse is a storage error naming its column,
//! never a panic), so nothing past the store parses times back out of strings.
//! SECURITY.md describes it.

pub mod accounts;
mod agenda;
mod audit;
pub mod auth;
mod clinic;
pub mod feeds;
pub mod fhir_export;
pub mod import;
pub mod intake;
mod measures;
pub mod messaging;
mod notes;
mod placement;
mod planning;
pub mod timetabling;
// --- portal ---
pub mod portal;
// --- end portal ---
mod gate;
pub mod jobs;
mod reports;
pub mod web_session;
// --- chart ---
pub mod chart;
// --- end chart ---
// --- reports ---
pub mod calendar;
pub mod figures;
// --- end reports ---

pub use clinic::HORIZON_WEEKS;

use std::sync::Arc;

use circle_domain::DomainError;

use circle_domain::user::Role;
use circle_store::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

pub use circle_store::{Page, PageRequest};
// --- planner ---
pub use circle_store::planner_runs::RunNames;
// --- end planner ---

/// Audit report parameters, re-exported so the web layer need not see the store.
pub mod audit_types {
    pub use circle_store::audit::{AuditClient, AuditPerson, AuditQuery, AuditSort};
}

/// The source of "now", so tests can move time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that stands still until moved (tests).
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::Mutex<Option<Timestamp>>);

impl FixedClock {
    pub fn new(at: Timestamp) -> Self {
        Self(std::sync::Mutex::new(Some(at)))
    }

    pub fn set(&self, at: Timestamp) {
        if let Ok(mut t) = self.0.lock() {
            *t = Some(at);
        }
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
            .lock()
            .ok()
            .and_then(|t| *t)
            .unwrap_or_else(Timestamp::now)
    }
}

/// Errors a service returns: a domain error the caller can act on, or an internal failure
/// whose cause is logged and never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => AppError::Domain(d),
            other => AppError::Internal(other),
        }
    }
}

impl AppError {
    /// `Some(true)` when the database could not write because its disk is full,
    /// `Some(false)` for another storage failure (presented as 503, not 500).
    pub fn storage(&self) -> Option<bool> {
        match self {
            AppError::Internal(e) => e.storage(),
            AppError::Domain(_) => None,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;

pub use circle_store::access::{Actor, Purpose, RequestMeta, purpose};
/// Roles that work inside the clinic (everyone but clients).
pub const STAFF: &[Role] = &[Role::Admin, Role::Director, Role::Clinician, Role::Intake];
/// Roles that see clinical context of clients (not admin, not intake).
pub const CLINICAL: &[Role] = &[Role::Director, Role::Clinician];

/// Settings the services need.
#[derive(Debug, Clone)]
pub struct AppSettings {
    /// The clinic's home time zone: what "today" means for rules dated by day.
    pub clinic_time_zone: TimeZone,
    /// Absolute lifetime of an API token.
    pub token_lifetime: jiff::SignedDuration,
    /// A token unused for this long stops working (HIPAA 164.312(a)(2)(iii) automatic
    /// logoff; the security issue asks 15 minutes).
    pub token_idle_timeout: jiff::SignedDuration,
    /// Who the clinic is to the outside world (FHIR `Organization`, claim files).
    pub clinic: ClinicIdentity,
}

/// The clinic's name and national identifiers, from the settings file (`clinic_name`,
/// `clinic_npi`, `clinic_tin`): the FHIR `Organization` and a claim's billing provider.
#[derive(Debug, Clone)]
pub struct ClinicIdentity {
    pub name: String,
    /// The organization's 10-digit National Provider Identifier (checked at startup).
    pub npi: Option<String>,
    /// The federal Taxpayer Identification Number (EIN, 9 digits).
    pub tin: Option<String>,
    /// The billing provider's address and telephone (`clinic_address`, `clinic_city`,
    /// `clinic_state`, `clinic_zip`, `clinic_phone`): an 837P claim file needs them.
    pub address: Option<circle_domain::claim837::ClinicAddress>,
}

impl Default for ClinicIdentity {
    fn default() -> Self {
        Self {
            name: "Circle clinic".to_owned(),
            npi: None,
            tin: None,
            address: None,
        }
    }
}

/// Whether `npi` is a valid National Provider Identifier: ten digits whose last is the
/// Luhn check digit over the prefix 80840 and the first nine (45 CFR 162.406).
pub fn npi_is_valid(npi: &str) -> bool {
    circle_domain::billing::Npi::is_valid(npi)
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            clinic_time_zone: TimeZone::get("America/New_York").unwrap_or(TimeZone::UTC),
            token_lifetime: jiff::SignedDuration::from_hours(12),
            token_idle_timeout: jiff::SignedDuration::from_mins(15),
            clinic: ClinicIdentity::default(),
        }
    }
}

/// The services, cheap to clone and share across requests.
#[derive(Clone)]
pub struct App {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: AppSettings,
    counters: Arc<jobs::Counters>,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: AppSettings) -> Self {
        Self {
            store,
            clock,
            settings,
            counters: Arc::default(),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Today's date in the clinic's time zone.
    pub fn today(&self) -> Date {
        self.now()
            .to_zoned(self.settings.clinic_time_zone.clone())
            .date()
    }

    /// The clinic's name and identifiers.
    pub fn clinic_identity(&self) -> &ClinicIdentity {
        &self.settings.clinic
    }

    /// The clinic's time zone, in which pages show times.
    pub fn clinic_time_zone(&self) -> &TimeZone {
        &self.settings.clinic_time_zone
    }

    /// Readiness: the database answers and is fully migrated.
    pub async fn ready(&self) -> AppResult<bool> {
        self.store.ping().await?;
        if !self.store.is_migrated().await? {
            return Ok(false);
        }
        // A database that answers but cannot write (a full disk) is not ready.
        self.store.write_probe().await?;
        Ok(true)
    }

    pub fn store_backend(&self) -> circle_store::Backend {
        self.store.backend()
    }
}

#[cfg(test)]
mod npi_tests {
    use super::npi_is_valid;

    #[test]
    fn an_npi_needs_ten_digits_and_its_check_digit() {
        // CMS's worked example of the check digit.
        assert!(npi_is_valid("1234567893"));
        assert!(!npi_is_valid("1234567890"));
        assert!(!npi_is_valid("123456789"));
        assert!(!npi_is_valid("12345678a3"));
    }
}
