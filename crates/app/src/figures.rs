//! The director's report figures: the census, attendance rates per group and outcomes per
//! group (DESIGN.md: directors watch "census, outcomes, compliance").
//!
//! Who sees what follows the role table: the census (counts of clients, memberships and
//! seats, no clinical content) is for directors and intake, who fills the seats; attendance
//! and outcomes are clinical, so directors see every group and a clinician the groups they
//! lead or co-lead; intake is refused them. Every read and every refusal is audited.

use circle_domain::DomainError;
use circle_domain::audit::AuditAction;
use circle_domain::user::Role;
use jiff::civil::Date;

use circle_store::figures::GroupScope;
pub use circle_store::figures::{
    Census, GroupAttendance, GroupOutcome, InstrumentOutcome, OUTCOME_INSTRUMENTS, ProgramCensus,
};

use crate::{Actor, App, AppResult, CLINICAL};

/// The longest range one attendance report may cover.
pub const MAX_REPORT_DAYS: i32 = 366;

impl App {
    /// Today's census: per program, and clients per level of care.
    pub async fn census(&self, actor: &Actor) -> AppResult<Census> {
        self.require_audited(
            actor,
            &[Role::Director, Role::Intake],
            AuditAction::ReportCensus,
            &[],
        )
        .await?;
        // A scoped director counts only their programs.
        let only = match self.director_scope(actor).await? {
            Some(crate::scope::DirectorScope::Programs(list)) => Some(list),
            _ => None,
        };
        Ok(self
            .store
            .census_of(self.today(), only.as_deref(), &actor.audit(), self.now())
            .await?)
    }

    /// Directors every group (a scoped director their programs' groups); a clinician the
    /// groups they lead or co-lead.
    async fn report_scope(&self, actor: &Actor, action: AuditAction) -> AppResult<GroupScope> {
        self.require_audited(actor, CLINICAL, action, &[]).await?;
        match (actor.role, actor.clinician_id) {
            (Role::Director, _) => Ok(match self.scoped_director(actor).await? {
                Some(director) => GroupScope::Programs(director),
                None => GroupScope::All,
            }),
            (Role::Clinician, Some(c)) => Ok(GroupScope::LedBy(c)),
            _ => {
                self.deny(actor, action, &[], None).await?;
                Err(DomainError::Forbidden.into())
            }
        }
    }

    /// Attendance per group at its held sessions from `from` to `until` inclusive.
    pub async fn attendance_rates(
        &self,
        actor: &Actor,
        from: Date,
        until: Date,
    ) -> AppResult<Vec<GroupAttendance>> {
        let scope = self
            .report_scope(actor, AuditAction::ReportAttendance)
            .await?;
        if until < from {
            return Err(DomainError::invalid("until", "must not be before from").into());
        }
        if (until - from).get_days() >= MAX_REPORT_DAYS {
            return Err(DomainError::invalid(
                "until",
                format!("must be less than {MAX_REPORT_DAYS} days after from"),
            )
            .into());
        }
        Ok(self
            .store
            .attendance_rates(from, until, scope, &actor.audit(), self.now())
            .await?)
    }

    /// Per group: members so far and the mean change of PHQ-9 and GAD-7 from each measured
    /// member's first score to their latest.
    pub async fn outcomes(&self, actor: &Actor) -> AppResult<Vec<GroupOutcome>> {
        let scope = self
            .report_scope(actor, AuditAction::ReportOutcomes)
            .await?;
        let now = self.now();
        Ok(self
            .store
            .outcomes(self.today(), now, scope, &actor.audit(), now)
            .await?)
    }
}
