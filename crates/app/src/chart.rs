//! The client list and the client chart: one call each, with one access check and one
//! audit entry per kind of data shown (not one per row or per section's helper call).
//!
//! Who sees what (DESIGN.md's role table): directors every client and all of a chart; a
//! clinician the clients of their caseload, and of a chart only the notes of sessions they
//! facilitated (the ones they may open); intake demographics, levels of care, memberships
//! and consents, never attendance, notes, measures, alerts or compliance; an administrator
//! or a clinician outside the caseload only under an active emergency access (then the
//! whole chart but an administrator's has no safety alerts, every entry flagged with the
//! access); a client never (their portal is
//! `/me`). Refusals are audited and answered 404, so nobody learns whether a record exists.

use circle_domain::DomainError;
use circle_domain::client::{Client, Episode};
use circle_domain::compliance::{ClientWeek, week_start};
use circle_domain::ids::ClientId;
use circle_domain::intake::Consents;
use circle_domain::measure::{InstrumentView, MeasureResponse, SafetyAlert};
use circle_domain::membership::Membership;
use circle_domain::user::Role;
use circle_store::access::{ClientAccess, purpose};
use circle_store::chart::ActivityRequest;
pub use circle_store::chart::{AttendanceLine, NoteLine};

use crate::{Actor, App, AppError, AppResult, Page, PageRequest};

/// How many weeks of compliance a chart shows, the current one last.
pub const CHART_WEEKS: u32 = 8;

/// Everything a chart shows that the caller may see.
#[derive(Debug, Clone)]
pub struct Chart {
    pub client: Client,
    pub episodes: Vec<Episode>,
    pub memberships: Vec<Membership>,
    pub consents: Consents,
    /// `None` for intake: no clinical content.
    pub clinical: Option<ClinicalChart>,
    /// Set when the chart was opened under emergency access.
    pub emergency_access_id: Option<i64>,
}

/// The clinical part of a chart.
#[derive(Debug, Clone)]
pub struct ClinicalChart {
    pub attendance: Vec<AttendanceLine>,
    pub notes: Vec<NoteLine>,
    /// Oldest first, as `measures` returns them.
    pub measures: Vec<MeasureResponse>,
    /// The instruments the measures use (with their severity bands).
    pub instruments: Vec<InstrumentView>,
    pub alerts: Vec<SafetyAlert>,
    /// Oldest week first; only weeks an episode covers.
    pub weeks: Vec<ClientWeek>,
}

impl App {
    /// Clients the caller may list whose name or record number contains `needle` (all
    /// when empty): intake and clinic-wide directors every client, a scoped director the
    /// clients of their programs, a clinician their caseload.
    pub async fn search_clients(
        &self,
        actor: &Actor,
        needle: &str,
        page: PageRequest,
    ) -> AppResult<Page<Client>> {
        let listing = self.listing::<purpose::ClientList>(actor).await?;
        if needle.chars().count() > 100 {
            return Err(DomainError::invalid("q", "must be at most 100 characters").into());
        }
        Ok(self
            .store
            .search_clients(&listing, needle, page, self.now())
            .await?)
    }

    /// A client's chart, as much of it as the caller may see. Its reads are independent,
    /// so they run at once: each waits for its audit entry's group commit (see the store's
    /// `read_audit`), and waiting together they share one commit instead of six in a row.
    pub async fn chart(&self, actor: &Actor, id: ClientId) -> AppResult<Chart> {
        let a = self.access_client::<purpose::ChartRead>(actor, id).await?;
        let now = self.now();
        let emergency = a.emergency_access_id();
        let (client, episodes, memberships, consents, clinical) = tokio::try_join!(
            async { Ok::<_, AppError>(self.store.client(&a, now).await?) },
            async { Ok(self.store.episodes(&a, now).await?) },
            async { Ok(self.store.client_memberships(&a, now).await?) },
            async { Ok(self.store.consents(&a, now, self.today()).await?) },
            self.clinical_chart(actor, &a),
        )?;
        Ok(Chart {
            client,
            episodes,
            memberships,
            consents,
            clinical,
            emergency_access_id: emergency,
        })
    }

    /// The clinical part of a chart, for those who may see it (`None` for the others).
    async fn clinical_chart(
        &self,
        actor: &Actor,
        a: &ClientAccess<purpose::ChartRead>,
    ) -> AppResult<Option<ClinicalChart>> {
        let now = self.now();
        let emergency = a.emergency_access_id();
        match (actor.role(), emergency) {
            (Role::Director | Role::Clinician, _) | (Role::Admin, Some(_)) => {}
            _ => return Ok(None),
        }
        // A clinician lists the notes of sessions they facilitated; under emergency
        // access, and for a director, every note of the client.
        let notes_of = match (actor.role(), emergency) {
            (Role::Clinician, None) => actor.clinician_id(),
            _ => None,
        };
        // A scoped director lists the attendance and notes of their programs' sessions
        // only.
        let only_programs = actor.directed_programs();
        let this_monday = week_start(self.today());
        let first_monday = this_monday
            .checked_sub(jiff::Span::new().days(7 * i64::from(CHART_WEEKS - 1)))
            .unwrap_or(this_monday);
        let request = ActivityRequest {
            notes_of,
            only_programs,
            // Alerts are for the client's clinicians and directors; administrators never
            // see them (DESIGN.md role table).
            alerts: actor.role() != Role::Admin,
            first_monday,
            weeks: CHART_WEEKS,
        };
        let (activity, measures) = tokio::try_join!(
            self.store.client_activity(a, request, now),
            self.store.measures(a, now),
        )?;
        let mut instruments = Vec::new();
        for m in &measures {
            if instruments
                .iter()
                .any(|i: &InstrumentView| i.code == m.instrument)
            {
                continue;
            }
            if let Some(i) = self.find_instrument(&m.instrument).await? {
                instruments.push(InstrumentView::from(&i));
            }
        }
        let weeks = activity
            .weeks
            .into_iter()
            .filter_map(|(monday, facts)| facts.map(|f| self.client_week(monday, f)))
            .collect();
        Ok(Some(ClinicalChart {
            attendance: activity.attendance,
            notes: activity.notes,
            measures,
            instruments,
            alerts: activity.alerts,
            weeks,
        }))
    }
}
