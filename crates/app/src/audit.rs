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

impl App {
    /// Grants or revokes the emergency-access capability (administrators).
    pub async fn set_emergency_grant(
        &self,
        actor: &Actor,
        user: circle_domain::ids::UserId,
        granted: bool,
    ) -> AppResult<()> {
        if actor.role != Role::Admin {
            let action = if granted {
                circle_domain::audit::AuditAction::PrivilegeGrant
            } else {
                circle_domain::audit::AuditAction::PrivilegeRevoke
            };
            self.deny(actor, action, &[], Some(format!("user:{}", user.0)))
                .await?;
            return Err(DomainError::Forbidden.into());
        }
        Ok(self
            .store
            .set_emergency_grant(user, granted, &actor.audit(), self.now())
            .await?)
    }

    /// Opens a chart outside the caller's caseload in an emergency, for
    /// `EMERGENCY_MINUTES`, with a reason; only for users granted the capability.
    pub async fn open_emergency_access(
        &self,
        actor: &Actor,
        client: circle_domain::ids::ClientId,
        new: &circle_domain::audit::NewEmergencyAccess,
    ) -> AppResult<circle_domain::audit::EmergencyAccess> {
        if actor.role == Role::Client || new.reason.as_str().trim().is_empty() {
            if actor.role != Role::Client {
                return Err(
                    DomainError::invalid("reason", "must say why the chart is needed").into(),
                );
            }
            self.deny(
                actor,
                circle_domain::audit::AuditAction::EmergencyOpen,
                &[client],
                None,
            )
            .await?;
            return Err(DomainError::Forbidden.into());
        }
        match self
            .store
            .open_emergency_access(
                actor.user_id,
                client,
                &new.reason,
                circle_domain::audit::EMERGENCY_MINUTES,
                &actor.audit(),
                self.now(),
            )
            .await
        {
            Err(circle_store::StoreError::Domain(DomainError::Forbidden)) => {
                self.deny(
                    actor,
                    circle_domain::audit::AuditAction::EmergencyOpen,
                    &[client],
                    None,
                )
                .await?;
                Err(DomainError::Forbidden.into())
            }
            other => Ok(other?),
        }
    }

    /// Emergency accesses for review (directors and administrators).
    pub async fn emergency_accesses(
        &self,
        actor: &Actor,
    ) -> AppResult<Vec<circle_domain::audit::EmergencyAccess>> {
        if !matches!(actor.role, Role::Admin | Role::Director) {
            self.deny(
                actor,
                circle_domain::audit::AuditAction::EmergencyList,
                &[],
                None,
            )
            .await?;
            return Err(DomainError::Forbidden.into());
        }
        let mut list = self
            .store
            .emergency_accesses(&actor.audit(), self.now())
            .await?;
        if actor.role != Role::Director {
            // The reason is clinical text: directors review it; administrators see the facts.
            for e in &mut list {
                e.reason = None;
            }
        }
        Ok(list)
    }
}
