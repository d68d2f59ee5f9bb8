//! The audit report and emergency ("break-glass") access.

use circle_domain::DomainError;
use circle_domain::audit::{AuditEntry, EMERGENCY_MINUTES, EmergencyAccess, NewEmergencyAccess};
use circle_domain::ids::{ClientId, UserId};
use circle_domain::user::Role;
use circle_store::access::purpose;
use circle_store::audit::{AuditClient, AuditPerson, AuditQuery};

use crate::{Actor, App, AppResult};

impl App {
    /// Audit entries by filter and sort; administrators and clinic-wide directors (who
    /// review emergency access) only. A scoped director is refused (audited, 403): the
    /// trail names every program's clients. Reading the audit is itself audited.
    pub async fn audit_report(&self, actor: &Actor, q: &AuditQuery) -> AppResult<Vec<AuditEntry>> {
        let who = self.access_role::<purpose::AuditReview>(actor).await?;
        Ok(self.store.audit_report(&who, q, self.now()).await?)
    }

    /// The accounts an audit page names, every one (a trail outlives disabled accounts),
    /// for whoever reviews the audit; the read is audited.
    pub async fn audit_people(&self, actor: &Actor) -> AppResult<Vec<AuditPerson>> {
        let who = self.access_role::<purpose::AuditReview>(actor).await?;
        Ok(self.store.audit_people(&who, self.now()).await?)
    }

    /// The clients an audit page names, as its reviewer may read them: a clinic-wide
    /// director by name and record number, an administrator by record number only
    /// (minimum necessary). The read is audited, naming them.
    pub async fn audit_clients(
        &self,
        actor: &Actor,
        ids: &[ClientId],
    ) -> AppResult<Vec<AuditClient>> {
        let who = self.access_role::<purpose::AuditReview>(actor).await?;
        let names = if actor.may::<purpose::AuditClientNames>() {
            Some(self.access_role::<purpose::AuditClientNames>(actor).await?)
        } else {
            None
        };
        Ok(self
            .store
            .audit_clients(&who, names.as_ref(), ids, self.now())
            .await?)
    }

    /// The client with record number `record`, for filtering the audit report by what its
    /// table shows; for whoever reviews the audit, and the lookup is audited.
    pub async fn audit_client_by_record(
        &self,
        actor: &Actor,
        record: &str,
    ) -> AppResult<Option<ClientId>> {
        let who = self.access_role::<purpose::AuditReview>(actor).await?;
        Ok(self
            .store
            .audit_client_by_record(&who, record, self.now())
            .await?)
    }

    /// The audit trail for the FHIR API's `AuditEvent`: administrators only (a director
    /// is refused, audited); the read itself is audited like the report's.
    pub async fn audit_events(&self, actor: &Actor, q: &AuditQuery) -> AppResult<Vec<AuditEntry>> {
        self.access_role::<purpose::AuditEvents>(actor).await?;
        self.audit_report(actor, q).await
    }

    /// Grants or revokes the emergency-access capability: a clinic-wide director, for
    /// someone else (an administrator cannot grant it, so nobody opens a chart alone).
    /// Revoking ends the user's open accesses at once.
    pub async fn set_emergency_grant(
        &self,
        actor: &Actor,
        user: UserId,
        granted: bool,
    ) -> AppResult<()> {
        let who = self.access_role::<purpose::EmergencyGrant>(actor).await?;
        Ok(self
            .store
            .set_emergency_grant(&who, user, granted, self.now())
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
        let who = self.access_role::<purpose::EmergencyOpen>(actor).await?;
        if new.reason.as_str().trim().is_empty() {
            return Err(DomainError::invalid("reason", "must say why the chart is needed").into());
        }
        let opened = self
            .store
            .open_emergency_access(&who, client, &new.reason, EMERGENCY_MINUTES, self.now())
            .await;
        if let Err(circle_store::StoreError::Domain(DomainError::Forbidden)) = opened {
            // No grant: refused, and the attempt is on record.
            self.store
                .record_refusal::<purpose::EmergencyOpen>(actor, &[client], None, self.now())
                .await?;
            return Err(DomainError::Forbidden.into());
        }
        Ok(opened?)
    }

    /// Emergency accesses for review (clinic-wide directors and administrators).
    pub async fn emergency_accesses(&self, actor: &Actor) -> AppResult<Vec<EmergencyAccess>> {
        let who = self.access_role::<purpose::EmergencyReview>(actor).await?;
        let mut list = self.store.emergency_accesses(&who, self.now()).await?;
        if actor.role() != Role::Director {
            // The reason is clinical text: directors review it; administrators see the facts.
            for e in &mut list {
                e.reason = None;
            }
        }
        Ok(list)
    }
}
