//! The director's report figures: the census, attendance rates per group and outcomes per
//! group (DESIGN.md: directors watch "census, outcomes, compliance").
//!
//! Who sees what follows the role table: the census (counts of clients, memberships and
//! seats, no clinical content) is for directors and intake, who fills the seats; attendance
//! and outcomes are clinical, so directors see every group and a clinician the groups they
//! lead or co-lead; intake is refused them. Every read and every refusal is audited.

use circle_domain::DomainError;
use circle_store::access::purpose;
use jiff::civil::Date;

pub use circle_store::figures::{
    Census, GroupAttendance, GroupOutcome, InstrumentOutcome, OUTCOME_INSTRUMENTS, ProgramCensus,
};

use crate::{Actor, App, AppResult};

/// The longest range one attendance report may cover.
pub const MAX_REPORT_DAYS: i32 = 366;

impl App {
    /// Today's census: per program (a scoped director's programs), and clients per level
    /// of care.
    pub async fn census(&self, actor: &Actor) -> AppResult<Census> {
        let listing = self.listing::<purpose::ReportCensus>(actor).await?;
        Ok(self
            .store
            .census(&listing, self.today(), self.now())
            .await?)
    }

    /// Attendance per group at its held sessions from `from` to `until` inclusive:
    /// directors every group (a scoped director their programs' groups), a clinician the
    /// groups they lead or co-lead.
    pub async fn attendance_rates(
        &self,
        actor: &Actor,
        from: Date,
        until: Date,
    ) -> AppResult<Vec<GroupAttendance>> {
        let listing = self.listing::<purpose::ReportAttendance>(actor).await?;
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
            .attendance_rates(&listing, from, until, self.now())
            .await?)
    }

    /// Per group: members so far and the mean change of PHQ-9 and GAD-7 from each measured
    /// member's first score to their latest.
    pub async fn outcomes(&self, actor: &Actor) -> AppResult<Vec<GroupOutcome>> {
        let listing = self.listing::<purpose::ReportOutcomes>(actor).await?;
        let now = self.now();
        Ok(self
            .store
            .outcomes(&listing, self.today(), now, now)
            .await?)
    }
}
