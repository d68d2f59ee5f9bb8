//! Outcome measures: clinic instruments, recorded responses, the safety alerts they raise
//! and the facts the due list is computed from. A response and its alert are written in one
//! transaction with the audit entry, so an item-9 answer is never stored without its alert.

use std::collections::BTreeMap;

use crate::access::{ClientAccess, Listing, RoleAccess, purpose};
use circle_domain::DomainError;
use circle_domain::Rule;
use circle_domain::audit::AuditAction;
use circle_domain::ids::{ClientId, UserId};
use circle_domain::measure::{
    AlertItem, AlertState, Instrument, MeasureResponse, SafetyAlert, Scored, is_built_in,
};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::audit::{Record, append};
use crate::codec::{LockTable, json, lock_row, read, ts, whole_second};
use crate::{Store, StoreError};

/// One client's latest episode and cadence, and when each instrument was last answered.
#[derive(Debug, Clone)]
pub struct DueFacts {
    pub client_id: ClientId,
    pub episode_start: Date,
    pub episode_end: Option<Date>,
    pub cadence_days: i64,
    /// Instrument code → the latest `administered_at`.
    pub last: BTreeMap<String, Timestamp>,
}

/// A response's fields before scoring is stored.
#[derive(Debug, Clone)]
pub struct NewResponse<'a> {
    pub instrument: &'a Instrument,
    pub answers: &'a BTreeMap<String, i64>,
    pub scored: &'a Scored,
    pub administered_at: Timestamp,
}

const RESPONSE_COLUMNS: &str = "r.id, r.client_id, r.instrument_code, r.answers, r.total, \
     r.severity, r.administered_at, a.id AS alert_id";
pub(crate) const ALERT_COLUMNS: &str = "id, client_id, response_id, instrument_code, items, raised_at, \
     acknowledged_at, acknowledged_by, action_taken, \
     (SELECT r.total FROM measure_responses r WHERE r.id = response_id) AS total";

fn alert_aad(id: i64) -> circle_vault::Aad {
    crate::sealed::ALERT_ACTION.aad(id)
}

/// A row of `RESPONSE_COLUMNS`.
#[derive(sqlx::FromRow)]
struct ResponseRow {
    id: i64,
    client_id: i64,
    instrument_code: String,
    answers: String,
    total: i64,
    severity: String,
    administered_at: String,
    alert_id: Option<i64>,
}

impl TryFrom<ResponseRow> for MeasureResponse {
    type Error = StoreError;
    fn try_from(r: ResponseRow) -> Result<Self, StoreError> {
        Ok(MeasureResponse {
            id: r.id,
            client_id: ClientId(r.client_id),
            instrument: r.instrument_code,
            answers: read::json(&r.answers, "answers")?,
            total: r.total,
            severity: r.severity,
            administered_at: read::ts(&r.administered_at, "administered_at")?,
            alert_id: r.alert_id,
        })
    }
}

/// A row of `ALERT_COLUMNS`; `action_taken` is sealed, so the alert is read through
/// `Store::alert_of`.
#[derive(sqlx::FromRow)]
pub(crate) struct AlertRow {
    id: i64,
    client_id: i64,
    response_id: i64,
    instrument_code: String,
    items: String,
    raised_at: String,
    acknowledged_at: Option<String>,
    acknowledged_by: Option<i64>,
    action_taken: Option<String>,
    total: i64,
}

/// The latest episode of a client and its program's measure cadence.
#[derive(sqlx::FromRow)]
struct DueRow {
    client_id: i64,
    started_on: String,
    ended_on: Option<String>,
    cadence: i64,
}

#[derive(sqlx::FromRow)]
struct LastAnsweredRow {
    client_id: i64,
    instrument_code: String,
    last: String,
}

impl Store {
    /// Stores a clinic's instrument. Built-in codes and codes already in use are refused:
    /// a definition is never replaced, so every stored response keeps its meaning.
    pub async fn create_instrument(
        &self,
        who: &RoleAccess<purpose::InstrumentCreate>,
        instrument: &Instrument,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let ctx = who.audit();
        if is_built_in(instrument.code()) {
            return Err(DomainError::conflict(
                Rule::Duplicate,
                "code names a built-in instrument, which cannot be replaced",
            )
            .into());
        }
        let mut tx = self.begin_write().await?;
        let taken: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instruments WHERE code = $1")
            .bind(instrument.code())
            .fetch_one(&mut *tx)
            .await?;
        if taken > 0 {
            return Err(DomainError::conflict(
                Rule::Duplicate,
                "code is already in use by another instrument and must be unique",
            )
            .into());
        }
        let now = ts(at);
        sqlx::query(
            "INSERT INTO instruments (code, definition, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(instrument.code())
        .bind(json(instrument))
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::InstrumentCreate, &[]).object(instrument.code()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The clinic's own instruments, by code.
    pub async fn clinic_instruments(&self) -> Result<Vec<Instrument>, StoreError> {
        sqlx::query_scalar::<_, String>("SELECT definition FROM instruments ORDER BY code")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|d| read::json::<Instrument>(d, "definition"))
            .collect()
    }

    pub async fn clinic_instrument(&self, code: &str) -> Result<Option<Instrument>, StoreError> {
        sqlx::query_scalar::<_, String>("SELECT definition FROM instruments WHERE code = $1")
            .bind(code)
            .fetch_optional(self.pool())
            .await?
            .map(|d| read::json::<Instrument>(&d, "definition"))
            .transpose()
    }

    /// Records a scored response and, when a safety item was answered above 0, its alert —
    /// in one transaction with the audit entry.
    pub async fn record_measure(
        &self,
        a: &ClientAccess<purpose::MeasureCreate>,
        new: &NewResponse<'_>,
        at: Timestamp,
    ) -> Result<MeasureResponse, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let recorded_by = ctx.actor_user_id();
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        if !lock_row(&mut tx, LockTable::Clients, client.0).await? {
            return Err(DomainError::not_found("client").into());
        }
        let administered = ts(new.administered_at);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO measure_responses (client_id, instrument_code, answers, total, severity, \
             administered_at, recorded_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(client.0)
        .bind(new.instrument.code())
        .bind(json(new.answers))
        .bind(new.scored.total)
        .bind(&new.scored.severity)
        .bind(&administered)
        .bind(recorded_by.map(|u| u.0))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let clients = [client];
        let mut alert_id = None;
        if !new.scored.safety_items.is_empty() {
            let items: Vec<AlertItem> = new
                .scored
                .safety_items
                .iter()
                .map(|i| AlertItem {
                    item_id: i.clone(),
                    value: new.answers.get(i).copied().unwrap_or(0),
                })
                .collect();
            let aid: i64 = sqlx::query_scalar(
                "INSERT INTO safety_alerts (client_id, response_id, instrument_code, items, raised_at, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING id",
            )
            .bind(client.0)
            .bind(id)
            .bind(new.instrument.code())
            .bind(json(&items))
            .bind(&now)
            .fetch_one(&mut *tx)
            .await?;
            // The client's clinicians are told at once, without clinical detail (issue 18).
            self.queue_alert_notice(&mut tx, client, aid, at).await?;
            alert_id = Some(aid);
        }
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::MeasureCreate, &clients).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(MeasureResponse {
            id,
            client_id: client,
            instrument: new.instrument.code().to_owned(),
            answers: new.answers.clone(),
            total: new.scored.total,
            severity: new.scored.severity.clone(),
            administered_at: whole_second(new.administered_at),
            alert_id,
        })
    }

    /// A client's responses, oldest first.
    pub async fn measures<P: purpose::ReadsMeasures>(
        &self,
        a: &ClientAccess<P>,
        at: Timestamp,
    ) -> Result<Vec<MeasureResponse>, StoreError> {
        let (client, ctx) = (a.client(), a.audit());
        let mut tx = self.begin_read().await?;
        crate::people::client_in(&mut tx, client).await?;
        let rows = sqlx::query_as::<_, ResponseRow>(&format!(
            "SELECT {RESPONSE_COLUMNS} FROM measure_responses r \
             LEFT JOIN safety_alerts a ON a.response_id = r.id \
             WHERE r.client_id = $1 ORDER BY r.administered_at, r.id"
        ))
        .bind(client.0)
        .fetch_all(&mut *tx)
        .await?;
        let list = rows
            .into_iter()
            .map(MeasureResponse::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        self.audit_read(
            at,
            Record::success(ctx, AuditAction::MeasureRead, &[client]),
        )
        .await?;
        Ok(list)
    }

    pub(crate) fn alert_of(&self, r: AlertRow) -> Result<SafetyAlert, StoreError> {
        let id = r.id;
        let action_taken = match r.action_taken {
            Some(sealed) => Some(
                self.open_sealed(&sealed, &alert_aad(id), "safety_alerts.action_taken")?
                    .to_string(),
            ),
            None => None,
        };
        let acknowledged_at = read::opt_ts(r.acknowledged_at.as_deref(), "acknowledged_at")?;
        Ok(SafetyAlert {
            id,
            client_id: ClientId(r.client_id),
            response_id: r.response_id,
            instrument: r.instrument_code,
            items: read::json(&r.items, "items")?,
            total: r.total,
            raised_at: read::ts(&r.raised_at, "raised_at")?,
            state: if acknowledged_at.is_some() {
                AlertState::Acknowledged
            } else {
                AlertState::Open
            },
            acknowledged_at,
            acknowledged_by: r.acknowledged_by.map(UserId),
            action_taken,
        })
    }

    /// Alerts of the clients in `scope`: open ones first, oldest first; then acknowledged
    /// ones, oldest first. The read is audited with every client it shows.
    pub async fn alerts(
        &self,
        listing: &Listing<purpose::AlertList>,
        state: Option<AlertState>,
        at: Timestamp,
    ) -> Result<Vec<SafetyAlert>, StoreError> {
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let (clinician, since) = scope.binds();
        let state_filter = match state {
            None => "",
            Some(AlertState::Open) => "AND s.acknowledged_at IS NULL",
            Some(AlertState::Acknowledged) => "AND s.acknowledged_at IS NOT NULL",
        };
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, AlertRow>(&format!(
            "SELECT s.id, s.client_id, s.response_id, s.instrument_code, s.items, s.raised_at, \
             s.acknowledged_at, s.acknowledged_by, s.action_taken, r.total FROM safety_alerts s \
             JOIN clients c ON c.id = s.client_id \
             JOIN measure_responses r ON r.id = s.response_id \
             WHERE {} {state_filter} \
             ORDER BY CASE WHEN s.acknowledged_at IS NULL THEN 0 ELSE 1 END, s.raised_at, s.id",
            scope.condition("$1", "$2")
        ))
        .bind(clinician)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let alerts = rows
            .into_iter()
            .map(|r| self.alert_of(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids: Vec<ClientId> = alerts.iter().map(|a| a.client_id).collect();
        ids.sort();
        ids.dedup();
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::AlertList, &ids))
            .await?;
        Ok(alerts)
    }

    /// The client an alert is about, for the access check before acknowledging it.
    pub async fn alert_client(&self, id: i64) -> Result<Option<ClientId>, StoreError> {
        let c: Option<i64> =
            sqlx::query_scalar("SELECT client_id FROM safety_alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(c.map(ClientId))
    }

    /// Acknowledges an open alert: who, when and what was done (sealed). An alert is
    /// acknowledged once; a second attempt is a conflict.
    /// `a` is the access to the alert's client: an alert about anyone else is answered as
    /// not found.
    pub async fn acknowledge_alert(
        &self,
        a: &ClientAccess<purpose::AlertAcknowledge>,
        id: i64,
        action_taken: &str,
        at: Timestamp,
    ) -> Result<SafetyAlert, StoreError> {
        if self.alert_client(id).await? != Some(a.client()) {
            return Err(DomainError::not_found("alert").into());
        }
        let ctx = a.audit();
        let by = ctx.actor_user_id();
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let locked = sqlx::query("UPDATE safety_alerts SET version = version WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() != 1 {
            return Err(DomainError::not_found("alert").into());
        }
        let row = sqlx::query_as::<_, AlertRow>(&format!(
            "SELECT {ALERT_COLUMNS} FROM safety_alerts WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let client = ClientId(row.client_id);
        if row.acknowledged_at.is_some() {
            return Err(DomainError::conflict(
                Rule::AlreadyAcknowledged,
                "this safety alert has already been acknowledged",
            )
            .into());
        }
        let sealed = self.seal(action_taken.trim(), &alert_aad(id))?;
        sqlx::query(
            "UPDATE safety_alerts SET acknowledged_at = $1, acknowledged_by = $2, action_taken = $3, \
             version = version + 1, updated_at = $1 WHERE id = $4",
        )
        .bind(&now)
        .bind(by.map(|u| u.0))
        .bind(sealed)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query_as::<_, AlertRow>(&format!(
            "SELECT {ALERT_COLUMNS} FROM safety_alerts WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let alert = self.alert_of(row)?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(ctx, AuditAction::AlertAcknowledge, &[client]).object(id),
        )
        .await?;
        tx.commit().await?;
        Ok(alert)
    }

    /// For every client in `scope` with an episode: their latest episode, its program's
    /// measure cadence and when each instrument was last answered. Audited with the
    /// clients returned.
    pub async fn due_facts(
        &self,
        listing: &Listing<purpose::MeasureDueList>,
        at: Timestamp,
    ) -> Result<Vec<DueFacts>, StoreError> {
        let (scope, ctx) = (listing.client_scope(), listing.audit());
        let (clinician, since) = scope.binds();
        let mut tx = self.begin_read().await?;
        let rows = sqlx::query_as::<_, DueRow>(&format!(
            "SELECT c.id AS client_id, e.started_on, e.ended_on, \
             COALESCE(p.measure_cadence_days, 14) AS cadence \
             FROM clients c JOIN episodes e ON e.client_id = c.id \
             LEFT JOIN programs p ON p.id = e.program_id \
             WHERE e.id = (SELECT e2.id FROM episodes e2 WHERE e2.client_id = c.id \
                           ORDER BY e2.started_on DESC, e2.id DESC LIMIT 1) \
             AND {} ORDER BY c.id",
            scope.condition("$1", "$2")
        ))
        .bind(clinician)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let mut facts = Vec::with_capacity(rows.len());
        for r in rows {
            facts.push(DueFacts {
                client_id: ClientId(r.client_id),
                episode_start: read::date(&r.started_on, "started_on")?,
                episode_end: read::opt_date(r.ended_on.as_deref(), "ended_on")?,
                cadence_days: r.cadence,
                last: BTreeMap::new(),
            });
        }
        let last = sqlx::query_as::<_, LastAnsweredRow>(
            "SELECT client_id, instrument_code, MAX(administered_at) AS last \
             FROM measure_responses GROUP BY client_id, instrument_code",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut by_client: BTreeMap<i64, BTreeMap<String, Timestamp>> = BTreeMap::new();
        for r in last {
            let at = read::ts(&r.last, "last")?;
            by_client
                .entry(r.client_id)
                .or_default()
                .insert(r.instrument_code, at);
        }
        for f in &mut facts {
            if let Some(l) = by_client.remove(&f.client_id.0) {
                f.last = l;
            }
        }
        let ids: Vec<ClientId> = facts.iter().map(|f| f.client_id).collect();
        tx.commit().await?;
        self.audit_read(at, Record::success(ctx, AuditAction::MeasureDueList, &ids))
            .await?;
        Ok(facts)
    }
}
