//! FHIR Bulk Data exports (issue 15): the requester's side (kick-off, status, files,
//! cancel) and the worker's (claim, run as the requester, store files, finish).

use circle_domain::ids::{GroupId, UserId};
use circle_store::access::purpose;
pub use circle_store::fhir_export::{ClaimedExport, ExportFile, ExportJob, ExportTerms};

use crate::{Actor, App, AppResult};

/// A running job whose heartbeat is older than this is taken to have lost its server and
/// is claimed again (the worker beats far more often while it works).
pub const EXPORT_STALE_SECS: i64 = 60;

impl App {
    /// Queues an export of what the caller reaches (a director), of one group's members
    /// when `group` is given (a group they reach).
    pub async fn start_export(
        &self,
        actor: &Actor,
        group: Option<GroupId>,
        types: &[String],
        terms: &ExportTerms,
        request_url: &str,
    ) -> AppResult<i64> {
        let a = self.access_role::<purpose::BulkExport>(actor).await?;
        if let Some(g) = group {
            self.access_group::<purpose::GroupMemberships>(actor, g)
                .await?;
        }
        Ok(self
            .store
            .create_export_job(&a, group, types, terms, request_url, self.now())
            .await?)
    }

    /// The caller's own export job.
    pub async fn export_status(&self, actor: &Actor, id: i64) -> AppResult<ExportJob> {
        let a = self.access_role::<purpose::BulkExport>(actor).await?;
        Ok(self.store.export_job(&a, id).await?)
    }

    /// Cancels the caller's export (or deletes a finished one's files).
    pub async fn cancel_export(&self, actor: &Actor, id: i64) -> AppResult<()> {
        let a = self.access_role::<purpose::BulkExport>(actor).await?;
        Ok(self.store.cancel_export_job(&a, id, self.now()).await?)
    }

    /// One NDJSON file of the caller's finished export: (resource type, body).
    pub async fn export_file(
        &self,
        actor: &Actor,
        job: i64,
        file: i64,
    ) -> AppResult<(String, String)> {
        let a = self.access_role::<purpose::BulkExport>(actor).await?;
        Ok(self.store.export_file(&a, job, file).await?)
    }

    /// The worker: claims the next queued job, or one whose server stopped.
    pub async fn claim_export(&self) -> AppResult<Option<ClaimedExport>> {
        let now = self.now();
        let stale = now
            .checked_sub(jiff::SignedDuration::from_secs(EXPORT_STALE_SECS))
            .unwrap_or(now);
        Ok(self.store.claim_export_job(stale, now).await?)
    }

    /// The worker: the actor a job runs as (its requester, as their account stands now).
    pub async fn export_actor(&self, user: UserId) -> AppResult<Option<Actor>> {
        Ok(self
            .store
            .actor_for_user(user, self.caseload_since())
            .await?)
    }

    /// The worker: progress and heartbeat; false when the job was cancelled.
    pub async fn export_heartbeat(&self, id: i64, progress: u8) -> AppResult<bool> {
        Ok(self
            .store
            .export_heartbeat(id, progress, self.now())
            .await?)
    }

    pub async fn add_export_file(
        &self,
        job: i64,
        resource_type: &str,
        ndjson: &str,
        resources: i64,
    ) -> AppResult<()> {
        Ok(self
            .store
            .add_export_file(job, resource_type, ndjson, resources, self.now())
            .await?)
    }

    pub async fn finish_export(&self, id: i64, withheld: i64) -> AppResult<bool> {
        Ok(self
            .store
            .finish_export_job(id, withheld, self.now())
            .await?)
    }

    pub async fn fail_export(&self, id: i64, error: &str) -> AppResult<bool> {
        Ok(self.store.fail_export_job(id, error, self.now()).await?)
    }
}
