//! Reports: weekly hours compliance, diagnoses and the billing export.
//!
//! Compliance is attendance data (directors see every client, a clinician their caseload;
//! intake sees no attendance). Diagnoses are clinical: directors and the client's
//! clinicians. The billing export is a director's: it names every billed client, and its
//! one audit entry says so.

use circle_domain::DomainError;
use circle_domain::billing::{BillingLine, DiagnosesInput, DiagnosisCode, Npi, billing_lines};
use circle_domain::claim837::{BillingProvider, Envelope, claim_file};
use circle_domain::compliance::{ClientWeek, assess, week_start};
use circle_domain::ids::{ClientId, ProgramId};
use circle_store::access::purpose;
use jiff::civil::Date;

use crate::{Actor, App, AppResult};

/// The longest billing export one request may ask for.
pub const MAX_EXPORT_DAYS: i32 = 366;

impl App {
    /// Every client's week (the week holding `day`, Monday to Sunday), those needing
    /// attention first: at risk, short, on track, met.
    pub async fn compliance(
        &self,
        actor: &Actor,
        day: Option<Date>,
        program: Option<ProgramId>,
    ) -> AppResult<Vec<ClientWeek>> {
        let listing = self.listing::<purpose::ComplianceRead>(actor).await?;
        let program = self
            .access_program_opt::<purpose::ComplianceRead>(actor, program)
            .await?;
        let monday = week_start(day.unwrap_or_else(|| self.today()));
        let now = self.now();
        let facts = self
            .store
            .compliance_week(&listing, monday, program.as_ref(), now)
            .await?;
        let mut weeks: Vec<ClientWeek> = facts
            .into_iter()
            .map(|f| self.client_week(monday, f))
            .collect();
        weeks.sort_by_key(|w| (w.status.urgency(), w.program_id, w.client_id));
        Ok(weeks)
    }

    /// One client's week assessed from its facts (the compliance rule, shared by the report
    /// and the chart): required minutes from the program or else the level, and whether
    /// the week is over by the clinic's clock.
    pub(crate) fn client_week(
        &self,
        monday: Date,
        f: circle_store::reports::ClientWeekFacts,
    ) -> ClientWeek {
        let now = self.now();
        let week_over = monday
            .checked_add(jiff::Span::new().days(7))
            .ok()
            .and_then(|next| next.to_zoned(self.settings.clinic_time_zone.clone()).ok())
            .is_some_and(|z| now >= z.timestamp());
        let required = f
            .program_required_minutes
            .unwrap_or_else(|| f.level_of_care.default_weekly_minutes());
        let a = assess(required, &f.sessions, now, week_over);
        ClientWeek {
            client_id: f.client_id,
            program_id: f.program_id,
            level_of_care: f.level_of_care,
            week_start: monday,
            required_minutes: a.required_minutes,
            scheduled_minutes: a.scheduled_minutes,
            attended_minutes: a.attended_minutes,
            sessions_left: a.sessions_left,
            reachable_minutes: a.attended_minutes + a.left_minutes,
            unrecorded_sessions: a.unrecorded_sessions,
            status: a.status,
            summary: a.summary(),
        }
    }

    pub async fn diagnoses(
        &self,
        actor: &Actor,
        client: ClientId,
    ) -> AppResult<Vec<DiagnosisCode>> {
        let a = self
            .access_client::<purpose::DiagnosisRead>(actor, client)
            .await?;
        Ok(self.store.diagnoses(&a, self.now()).await?)
    }

    pub async fn set_diagnoses(
        &self,
        actor: &Actor,
        client: ClientId,
        input: &DiagnosesInput,
    ) -> AppResult<Vec<DiagnosisCode>> {
        let a = self
            .access_client::<purpose::DiagnosisUpdate>(actor, client)
            .await?;
        input.validate()?;
        Ok(self
            .store
            .set_diagnoses(&a, &input.codes, self.now())
            .await?)
    }

    /// The billing lines for service dates `from` to `until` inclusive: one per attending
    /// member per session with a signed progress note, plus per-diem days.
    pub async fn billing_export(
        &self,
        actor: &Actor,
        from: Date,
        until: Date,
        program: Option<ProgramId>,
    ) -> AppResult<Vec<BillingLine>> {
        let listing = self.listing::<purpose::BillingExport>(actor).await?;
        if until < from {
            return Err(DomainError::invalid("until", "must not be before from").into());
        }
        if (until - from).get_days() >= MAX_EXPORT_DAYS {
            return Err(DomainError::invalid(
                "until",
                format!("must be less than {MAX_EXPORT_DAYS} days after from"),
            )
            .into());
        }
        // A scoped director exports only their programs (a program outside them is 404).
        let program = self
            .access_program_opt::<purpose::BillingExport>(actor, program)
            .await?;
        let sessions = self
            .store
            .billable_sessions(&listing, from, until, program.as_ref(), self.now())
            .await?;
        Ok(billing_lines(&sessions))
    }

    /// The X12 837P claim file for service dates `from` to `until`: the billable lines of
    /// [`App::billing_export`] (the same access and the same one `billing.export` audit
    /// entry), with the clinic as billing provider. Refused (422, naming the setting)
    /// before anything is read when the clinic's NPI, EIN or address is not configured.
    pub async fn claim_file_837p(
        &self,
        actor: &Actor,
        from: Date,
        until: Date,
        program: Option<ProgramId>,
    ) -> AppResult<String> {
        // Only a director may learn which settings are missing.
        self.listing::<purpose::BillingExport>(actor).await?;
        let clinic = &self.settings.clinic;
        let mut errors = circle_domain::FieldErrors::default();
        let npi = clinic
            .npi
            .as_deref()
            .and_then(|n| Npi::parse_field("clinic_npi", n).ok());
        if npi.is_none() {
            errors.push("clinic_npi", "must be set in the settings to write claims");
        }
        if clinic.tin.is_none() {
            errors.push("clinic_tin", "must be set in the settings to write claims");
        }
        if clinic.address.is_none() {
            errors.push(
                "clinic_address",
                "the clinic's address, city, state, ZIP+4 and phone must be set in the \
                 settings to write claims",
            );
        }
        errors.into_result()?;
        let (Some(npi), Some(tin), Some(address)) =
            (npi, clinic.tin.clone(), clinic.address.clone())
        else {
            return Err(DomainError::invalid("clinic_npi", "must be set").into());
        };
        let provider = BillingProvider {
            name: clinic.name.clone(),
            npi,
            tin,
            address,
        };
        let lines = self.billing_export(actor, from, until, program).await?;
        let now = self.now();
        // ISA13/GS06: the second the file was made (modulo the nine digits), so two files
        // a clearinghouse receives from one clinic share a control number only 31 years
        // apart.
        let seconds = now.as_second().rem_euclid(999_999_999);
        let envelope = Envelope {
            control_number: u32::try_from(seconds + 1).unwrap_or(1),
            created: now
                .to_zoned(self.settings.clinic_time_zone.clone())
                .datetime(),
        };
        Ok(claim_file(&lines, &provider, envelope)?)
    }
}
