//! The audit report and emergency ("break-glass") access.

use circle_domain::DomainError;
use circle_domain::audit::{
    AuditAction, AuditEntry, EMERGENCY_MINUTES, EmergencyAccess, NewEmergencyAccess,
};
use circle_domain::ids::{ClientId, UserId};
use circle_domain::user::Role;
use circle_store::audit::AuditQuery;

use crate::{Actor, App, AppResult};

/// Who reviews the audit and emergency accesses.
const REVIEWERS: &[Role] = &[Role::Admin, Role::Director];

impl App {
    /// Administrators and clinic-wide directors review the audit. A scoped director is
    /// refused (audited, 403): the trail names every program's clients, and filtering it
    /// by program would still show the ids of clients outside theirs.
    async fn require_reviewer(&self, actor: &Actor, action: AuditAction) -> AppResult<()> {
        self.require_audited(actor, REVIEWERS, action, &[]).await?;
        if self.scoped_director(actor).await?.is_some() {
            self.deny(actor, action, &[], None).await?;
            return Err(DomainError::Forbidden.into());
        }
        Ok(())
    }

    /// Audit entries by filter and sort; administrators (and clinic-wide directors, who
    /// review emergency access) only. Reading the audit is itself audited.
    pub async fn audit_report(&self, actor: &Actor, q: &AuditQuery) -> AppResult<Vec<AuditEntry>> {
        self.require_reviewer(actor, AuditAction::AuditRead).await?;
        Ok(self
            .store
            .audit_report(q, &actor.audit(), self.now())
            .await?)
    }

    /// Grants or revokes the emergency-access capability (administrators).
    pub async fn set_emergency_grant(
        &self,
        actor: &Actor,
        user: UserId,
        granted: bool,
    ) -> AppResult<()> {
        let action = if granted {
            AuditAction::PrivilegeGrant
        } else {
            AuditAction::PrivilegeRevoke
        };
        self.require_audited(actor, &[Role::Admin], action, &[])
            .await?;
        Ok(self
            .store
            .set_emergency_grant(user, granted, &actor.audit(), self.now())
            .await?)
    }

    /// Opens a chart outside the caller's caseload in an emergency, for
    /// `EMERGENCY_MINUTES`, with a reason; only for staff granted the capability.
    pub async fn open_emergency_access(
        &self,
        actor: &Actor,
        client: ClientId,
        new: &NewEmergencyAccess,
    ) -> AppResult<EmergencyAccess> {
        let staff = [Role::Admin, Role::Director, Role::Clinician, Role::Intake];
        self.require_audited(actor, &staff, AuditAction::EmergencyOpen, &[client])
            .await?;
        if new.reason.as_str().trim().is_empty() {
            return Err(DomainError::invalid("reason", "must say why the chart is needed").into());
        }
        let opened = self
            .store
            .open_emergency_access(
                actor.user_id,
                client,
                &new.reason,
                EMERGENCY_MINUTES,
                &actor.audit(),
                self.now(),
            )
            .await;
        if let Err(circle_store::StoreError::Domain(DomainError::Forbidden)) = opened {
            // No grant: refused, and the attempt is on record.
            self.deny(actor, AuditAction::EmergencyOpen, &[client], None)
                .await?;
            return Err(DomainError::Forbidden.into());
        }
        Ok(opened?)
    }

    /// Emergency accesses for review (clinic-wide directors and administrators).
    pub async fn emergency_accesses(&self, actor: &Actor) -> AppResult<Vec<EmergencyAccess>> {
        self.require_reviewer(actor, AuditAction::EmergencyList)
            .await?;
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
