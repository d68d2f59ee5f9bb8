//! FHIR Bulk Data export jobs (issue 15): kicked off by a director, worked on in the
//! background by whichever server claims them, polled, downloaded and cancelled by the
//! requester only.
//!
//! A job's content is read through the gate as its requester (the worker asks for an
//! actor by [`Store::actor_for_user`]), so an export holds exactly what its requester may
//! read. The files are sealed at rest like every other clinical text. A running job keeps
//! a heartbeat; one whose heartbeat went stale (its server stopped) is claimed again and
//! re-run from the start, so an export survives a restart.

use circle_domain::DomainError;
use circle_domain::ids::{GroupId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::access::{RoleAccess, purpose};
use crate::audit::{Record, append};
use crate::codec::ts;
use crate::sealed::{FHIR_EXPORT_FILE, FHIR_EXPORT_PARAMS};
use crate::{Store, StoreError};

/// To whom and for what an export is made (a disclosure's terms).
#[derive(Clone, Serialize, Deserialize)]
pub struct ExportTerms {
    pub recipient: String,
    pub purpose: String,
    /// Bulk Data `_since`: only resources changed at or after it (jobs queued before it
    /// existed have none).
    #[serde(default)]
    pub since: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for ExportTerms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExportTerms(…)")
    }
}

/// A job as its requester sees it.
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub id: i64,
    pub requested_by: UserId,
    pub group_id: Option<GroupId>,
    pub types: Vec<String>,
    pub request_url: String,
    pub state: String,
    pub progress: i64,
    pub error: Option<String>,
    pub withheld: i64,
    pub transaction_time: Option<String>,
    pub files: Vec<ExportFile>,
}

/// One NDJSON file of a finished job.
#[derive(Debug, Clone)]
pub struct ExportFile {
    pub id: i64,
    pub resource_type: String,
    pub resources: i64,
}

/// What the worker needs to run a claimed job.
#[derive(Debug, Clone)]
pub struct ClaimedExport {
    pub id: i64,
    pub requested_by: UserId,
    pub group_id: Option<GroupId>,
    pub types: Vec<String>,
    pub terms: ExportTerms,
}

fn types_of(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(sqlx::FromRow)]
struct ExportFileRow {
    id: i64,
    resource_type: String,
    resources: i64,
}

#[derive(sqlx::FromRow)]
struct ExportFileBodyRow {
    body: String,
    resource_type: String,
}

#[derive(sqlx::FromRow)]
struct ClaimedExportRow {
    /// Sealed.
    params: Option<String>,
    requested_by: i64,
    group_id: Option<i64>,
    types: String,
}

/// An export job as its owner sees it.
#[derive(sqlx::FromRow)]
struct ExportJobRow {
    requested_by: i64,
    group_id: Option<i64>,
    types: String,
    request_url: String,
    state: String,
    progress: i64,
    error: Option<String>,
    withheld: i64,
    transaction_time: Option<String>,
}

impl Store {
    /// Queues an export for the caller. Audited as the start of a disclosure; the
    /// disclosures themselves are recorded per client as the job runs.
    pub async fn create_export_job(
        &self,
        a: &RoleAccess<purpose::BulkExport>,
        group: Option<GroupId>,
        types: &[String],
        terms: &ExportTerms,
        request_url: &str,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let ctx = a.audit();
        let by = ctx.actor_user_id().ok_or(DomainError::Unauthenticated)?;
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO fhir_export_jobs (requested_by, group_id, types, request_url, state, \
             heartbeat_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', $5, $5, $5) \
             RETURNING id",
        )
        .bind(by.0)
        .bind(group.map(|g| g.0))
        .bind(types.join(","))
        .bind(request_url)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let sealed = self.seal(
            &serde_json::to_string(terms).map_err(|_| StoreError::Corrupt("export terms"))?,
            &FHIR_EXPORT_PARAMS.aad(id),
        )?;
        sqlx::query("UPDATE fhir_export_jobs SET params = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            at,
            Record::success(
                ctx,
                circle_domain::audit::AuditAction::DisclosureCreate,
                &[],
            )
            .object(format!("fhir-export-{id}")),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The caller's own job (another user's answers 404, as one that does not exist).
    pub async fn export_job(
        &self,
        a: &RoleAccess<purpose::BulkExport>,
        id: i64,
    ) -> Result<ExportJob, StoreError> {
        let row = sqlx::query_as::<_, ExportJobRow>(
            "SELECT id, requested_by, group_id, types, request_url, state, progress, error, \
             withheld, transaction_time FROM fhir_export_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("export"))?;
        let requested_by = UserId(row.requested_by);
        if requested_by != a.user() {
            return Err(DomainError::not_found("export").into());
        }
        let files = sqlx::query_as::<_, ExportFileRow>(
            "SELECT id, resource_type, resources FROM fhir_export_files WHERE job_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|r| {
            Ok(ExportFile {
                id: r.id,
                resource_type: r.resource_type,
                resources: r.resources,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ExportJob {
            id,
            requested_by,
            group_id: row.group_id.map(GroupId),
            types: types_of(&row.types),
            request_url: row.request_url,
            state: row.state,
            progress: row.progress,
            error: row.error,
            withheld: row.withheld,
            transaction_time: row.transaction_time,
            files,
        })
    }

    /// Cancels the caller's job (or deletes a finished one's files): nothing of it can be
    /// downloaded afterwards.
    pub async fn cancel_export_job(
        &self,
        a: &RoleAccess<purpose::BulkExport>,
        id: i64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let job = self.export_job(a, id).await?;
        if job.state == "cancelled" {
            return Err(DomainError::not_found("export").into());
        }
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM fhir_export_files WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE fhir_export_jobs SET state = 'cancelled', updated_at = $1 WHERE id = $2",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One file of the caller's finished job: its resource type and NDJSON.
    pub async fn export_file(
        &self,
        a: &RoleAccess<purpose::BulkExport>,
        job: i64,
        file: i64,
    ) -> Result<(String, String), StoreError> {
        let j = self.export_job(a, job).await?;
        if j.state != "done" {
            return Err(DomainError::not_found("export file").into());
        }
        let row = sqlx::query_as::<_, ExportFileBodyRow>(
            "SELECT resource_type, body FROM fhir_export_files WHERE id = $1 AND job_id = $2",
        )
        .bind(file)
        .bind(job)
        .fetch_optional(self.pool())
        .await?
        .ok_or(DomainError::not_found("export file"))?;
        let body = self.open_sealed(
            &row.body,
            &FHIR_EXPORT_FILE.aad(file),
            "fhir_export_files.body",
        )?;
        Ok((row.resource_type, body.to_string()))
    }

    /// Claims the oldest job that is queued, or running with a heartbeat older than
    /// `stale_before` (its server stopped): marks it running and clears any files a
    /// previous attempt left, so the job runs again from the start.
    pub async fn claim_export_job(
        &self,
        stale_before: Timestamp,
        at: Timestamp,
    ) -> Result<Option<ClaimedExport>, StoreError> {
        let stale = ts(stale_before);
        let candidate: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM fhir_export_jobs WHERE state = 'queued' \
             OR (state = 'running' AND heartbeat_at < $1) ORDER BY id LIMIT 1",
        )
        .bind(&stale)
        .fetch_optional(self.pool())
        .await?;
        let Some(id) = candidate else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        // Compare and set: another server may have claimed it since the SELECT.
        let claimed = sqlx::query(
            "UPDATE fhir_export_jobs SET state = 'running', progress = 0, heartbeat_at = $1, \
             updated_at = $1, transaction_time = $1, withheld = 0 WHERE id = $2 AND \
             (state = 'queued' OR (state = 'running' AND heartbeat_at < $3))",
        )
        .bind(ts(at))
        .bind(id)
        .bind(&stale)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        sqlx::query("DELETE FROM fhir_export_files WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query_as::<_, ClaimedExportRow>(
            "SELECT requested_by, group_id, types, params FROM fhir_export_jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let params = row
            .params
            .ok_or(StoreError::Corrupt("fhir_export_jobs.params"))?;
        let opened = self.open_sealed(
            &params,
            &FHIR_EXPORT_PARAMS.aad(id),
            "fhir_export_jobs.params",
        )?;
        let terms: ExportTerms = serde_json::from_str(&opened)
            .map_err(|_| StoreError::Corrupt("fhir_export_jobs.params"))?;
        Ok(Some(ClaimedExport {
            id,
            requested_by: UserId(row.requested_by),
            group_id: row.group_id.map(GroupId),
            types: types_of(&row.types),
            terms,
        }))
    }

    /// Refreshes a running job's heartbeat and progress. False when it is no longer
    /// running (cancelled meanwhile): the worker stops.
    pub async fn export_heartbeat(
        &self,
        id: i64,
        progress: u8,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE fhir_export_jobs SET progress = $1, heartbeat_at = $2, updated_at = $2 \
             WHERE id = $3 AND state = 'running'",
        )
        .bind(i64::from(progress.min(99)))
        .bind(ts(at))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores one NDJSON file of a running job, sealed.
    pub async fn add_export_file(
        &self,
        job: i64,
        resource_type: &str,
        ndjson: &str,
        resources: i64,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let now = ts(at);
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO fhir_export_files (job_id, resource_type, resources, body, created_at, \
             updated_at) VALUES ($1, $2, $3, '', $4, $4) RETURNING id",
        )
        .bind(job)
        .bind(resource_type)
        .bind(resources)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let sealed = self.seal(ndjson, &FHIR_EXPORT_FILE.aad(id))?;
        sqlx::query("UPDATE fhir_export_files SET body = $1 WHERE id = $2")
            .bind(sealed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a running job done (`withheld`: clients left out for want of a consent).
    pub async fn finish_export_job(
        &self,
        id: i64,
        withheld: i64,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE fhir_export_jobs SET state = 'done', progress = 100, withheld = $1, \
             heartbeat_at = $2, updated_at = $2 WHERE id = $3 AND state = 'running'",
        )
        .bind(withheld)
        .bind(ts(at))
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a running job failed with a fixed phrase (never client data).
    pub async fn fail_export_job(
        &self,
        id: i64,
        error: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM fhir_export_files WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "UPDATE fhir_export_jobs SET state = 'failed', error = $1, heartbeat_at = $2, \
             updated_at = $2 WHERE id = $3 AND state = 'running'",
        )
        .bind(error)
        .bind(ts(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
