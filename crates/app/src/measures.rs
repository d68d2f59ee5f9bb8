//! Outcome measures and safety: instruments (built in and the clinic's own), responses,
//! change over time, safety alerts and the due list.
//!
//! Access (DESIGN.md's role table, deny by default): directors see every client's measures
//! and alerts; a clinician those of their caseload; a client records and reads their own
//! self-report check-ins and never sees an alert; intake never sees or records measures;
//! admin only through emergency access (and never alerts). Every read and change is audited
//! in the same transaction; every refusal is audited.

use std::collections::BTreeMap;

use circle_domain::DomainError;
use circle_domain::ids::ClientId;
use circle_domain::measure::{
    Acknowledgement, AlertState, DEFAULT_DUE, DueMeasure, DueReason, Instrument,
    InstrumentDefinition, InstrumentSummary, InstrumentView, MeasureResponse, NewMeasureResponse,
    Respondent, SafetyAlert, ScorePoint, built_in, due,
};
use circle_domain::user::Role;
use circle_store::access::purpose;
use circle_store::measures::NewResponse;
use jiff::civil::Date;

use crate::{Actor, App, AppResult};

/// How far back an ended episode still makes a discharge measure due.
const DISCHARGE_WINDOW_DAYS: i64 = 30;

impl App {
    /// An instrument by code: built in first, then the clinic's.
    pub(crate) async fn find_instrument(&self, code: &str) -> AppResult<Option<Instrument>> {
        if let Some(i) = built_in().into_iter().find(|i| i.code() == code) {
            return Ok(Some(i));
        }
        Ok(self.store.clinic_instrument(code).await?)
    }

    async fn all_instruments(&self) -> AppResult<Vec<Instrument>> {
        let mut list = built_in();
        list.extend(self.store.clinic_instruments().await?);
        Ok(list)
    }

    /// Adds a clinic instrument (directors). Invalid definitions are refused with every
    /// reason; built-in and existing codes cannot be replaced.
    pub async fn create_instrument(
        &self,
        actor: &Actor,
        def: InstrumentDefinition,
    ) -> AppResult<InstrumentView> {
        let who = self.access_role::<purpose::InstrumentCreate>(actor).await?;
        let instrument = Instrument::parse(def)?;
        self.store
            .create_instrument(&who, &instrument, self.now())
            .await?;
        Ok(InstrumentView::from(&instrument))
    }

    /// Instruments: staff see all; a client sees those they may answer themself.
    pub async fn list_instruments(&self, actor: &Actor) -> AppResult<Vec<InstrumentView>> {
        let list = self.all_instruments().await?;
        Ok(list
            .iter()
            .filter(|i| actor.is_staff() || i.answerable_by(Respondent::Client))
            .map(InstrumentView::from)
            .collect())
    }

    pub async fn instrument(&self, actor: &Actor, code: &str) -> AppResult<InstrumentView> {
        match self.find_instrument(code).await? {
            Some(i) if actor.is_staff() || i.answerable_by(Respondent::Client) => {
                Ok(InstrumentView::from(&i))
            }
            _ => Err(DomainError::not_found("instrument").into()),
        }
    }

    /// Records, scores and bands one administration; a safety answer raises an alert in the
    /// same transaction.
    pub async fn record_measure(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewMeasureResponse,
    ) -> AppResult<MeasureResponse> {
        let a = self
            .access_client::<purpose::MeasureCreate>(actor, client)
            .await?;
        let Some(instrument) = self.find_instrument(&new.instrument).await? else {
            return Err(DomainError::invalid("instrument", "names no instrument").into());
        };
        if actor.role() == Role::Client && !instrument.answerable_by(Respondent::Client) {
            self.store
                .record_refusal::<purpose::MeasureCreate>(actor, &[client], None, self.now())
                .await?;
            return Err(DomainError::Forbidden.into());
        }
        let now = self.now();
        let administered_at = new.administered_at.unwrap_or(now);
        // A few minutes of clock skew between devices is tolerated.
        if administered_at > now + jiff::SignedDuration::from_mins(5) {
            return Err(
                DomainError::invalid("administered_at", "must not be in the future").into(),
            );
        }
        if administered_at.as_second() < 946_684_800 {
            return Err(DomainError::invalid("administered_at", "must be in 2000 or later").into());
        }
        let scored = instrument.score(&new.answers)?;
        let mut response = self
            .store
            .record_measure(
                &a,
                &NewResponse {
                    instrument: &instrument,
                    answers: &new.answers,
                    scored: &scored,
                    administered_at,
                },
                now,
            )
            .await?;
        if actor.role() == Role::Client {
            response.alert_id = None;
        }
        Ok(response)
    }

    /// A client's responses, oldest first.
    pub async fn measures(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<Vec<MeasureResponse>> {
        let a = self
            .access_client::<purpose::MeasureRead>(actor, client)
            .await?;
        let mut list = self.store.measures(&a, self.now()).await?;
        if actor.role() == Role::Client {
            for r in &mut list {
                r.alert_id = None;
            }
        }
        Ok(list)
    }

    /// Change over time per instrument: first, latest, change and the reliable-change flag.
    pub async fn measure_summary(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<Vec<InstrumentSummary>> {
        let list = self.measures(actor, client).await?;
        let mut by: BTreeMap<&str, Vec<&MeasureResponse>> = BTreeMap::new();
        for r in &list {
            by.entry(r.instrument.as_str()).or_default().push(r);
        }
        let mut out = Vec::with_capacity(by.len());
        for (code, rs) in by {
            let (Some(first), Some(latest)) = (rs.first(), rs.last()) else {
                continue;
            };
            let Some(instrument) = self.find_instrument(code).await? else {
                continue;
            };
            let point = |r: &MeasureResponse| ScorePoint {
                response_id: r.id,
                administered_at: r.administered_at,
                total: r.total,
                severity: r.severity.clone(),
            };
            let def = instrument.definition();
            out.push(InstrumentSummary {
                instrument: code.to_owned(),
                responses: rs.len(),
                first: point(first),
                latest: point(latest),
                change: latest.total - first.total,
                flag: instrument.change_flag(first.total, latest.total),
                reliable_change: def.reliable_change,
                direction: def.direction,
            });
        }
        Ok(out)
    }

    /// Safety alerts the caller may see: open first (oldest first), then acknowledged.
    pub async fn alerts(
        &self,
        actor: &Actor,
        state: Option<AlertState>,
    ) -> AppResult<Vec<SafetyAlert>> {
        let listing = self.listing::<purpose::AlertList>(actor).await?;
        Ok(self.store.alerts(&listing, state, self.now()).await?)
    }

    /// Acknowledges an alert with what was done. Only the client's clinicians and directors.
    pub async fn acknowledge_alert(
        &self,
        actor: &Actor,
        id: i64,
        ack: &Acknowledgement,
    ) -> AppResult<SafetyAlert> {
        if !actor.may::<purpose::AlertAcknowledge>() {
            self.store
                .record_refusal::<purpose::AlertAcknowledge>(
                    actor,
                    &[],
                    Some(id.to_string()),
                    self.now(),
                )
                .await?;
            return Err(DomainError::Forbidden.into());
        }
        let Some(client) = self.store.alert_client(id).await? else {
            self.store
                .record_refusal::<purpose::AlertAcknowledge>(
                    actor,
                    &[],
                    Some(id.to_string()),
                    self.now(),
                )
                .await?;
            return Err(DomainError::not_found("alert").into());
        };
        let a = match self
            .access_client::<purpose::AlertAcknowledge>(actor, client)
            .await
        {
            Ok(a) => a,
            Err(crate::AppError::Domain(DomainError::NotFound { .. })) => {
                return Err(DomainError::not_found("alert").into());
            }
            Err(e) => return Err(e),
        };
        ack.validate()?;
        Ok(self
            .store
            .acknowledge_alert(&a, id, &ack.action_taken, self.now())
            .await?)
    }

    /// Clients due a measure (PHQ-9 and GAD-7): at intake, at the program's cadence, at
    /// discharge. Directors see all clients; a clinician their caseload. Longest due first.
    pub async fn measures_due(&self, actor: &Actor) -> AppResult<Vec<DueMeasure>> {
        let listing = self.listing::<purpose::MeasureDueList>(actor).await?;
        let facts = self.store.due_facts(&listing, self.now()).await?;
        Ok(self.due_from_facts(&facts))
    }

    /// The due rule over stored facts (shared by the staff due list and a client's own
    /// check-ins): at intake, at the program's cadence, at discharge; longest due first.
    pub(crate) fn due_from_facts(
        &self,
        facts: &[circle_store::measures::DueFacts],
    ) -> Vec<DueMeasure> {
        let today = self.today();
        let tz = self.settings.clinic_time_zone.clone();
        let window = today.saturating_sub(jiff::Span::new().days(DISCHARGE_WINDOW_DAYS));
        let mut out = Vec::new();
        for f in facts {
            if let Some(end) = f.episode_end
                && (end < window || end > today)
            {
                continue;
            }
            for code in DEFAULT_DUE {
                let last: Option<Date> = f.last.get(*code).map(|t| t.to_zoned(tz.clone()).date());
                if let Some((reason, since)) =
                    due(f.episode_start, f.episode_end, f.cadence_days, last, today)
                {
                    if reason == DueReason::Discharge && since > today {
                        continue;
                    }
                    out.push(DueMeasure {
                        client_id: f.client_id,
                        instrument: (*code).to_owned(),
                        reason,
                        since,
                    });
                }
            }
        }
        out.sort_by_key(|d| (d.since, d.client_id, d.instrument.clone()));
        out
    }
}
