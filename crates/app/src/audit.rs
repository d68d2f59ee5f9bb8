//! The audit report for administrators.

use circle_domain::DomainError;
use circle_domain::audit::AuditEntry;
use circle_domain::user::Role;
use circle_store::audit::AuditQuery;

use crate::{Actor, App, AppResult};

impl App {
    /// Audit entries by filter and sort; administrators (and directors, who review
    /// emergency access) only. Reading the audit is itself audited.
    pub async fn audit_report(&self, actor: &Actor, q: &AuditQuery) -> AppResult<Vec<AuditEntry>> {
        if !matches!(actor.role, Role::Admin | Role::Director) {
            self.deny(
                actor,
                circle_domain::audit::AuditAction::AuditRead,
                &[],
                None,
            )
            .await?;
            return Err(DomainError::Forbidden.into());
        }
        Ok(self
            .store
            .audit_report(q, &actor.audit(), self.now())
            .await?)
    }
}
