//! Demo diagnoses: each synthetic client gets ICD-10-CM codes that follow their presenting
//! concerns, so the billing export carries each member's own diagnoses as a real one would.

use anyhow::{Context, Result};
use circle_domain::billing::DiagnosisCode;
use circle_domain::care::Concern;
use circle_domain::ids::ClientId;
use circle_store::Store;
use circle_store::access::purpose;
use jiff::Timestamp;

/// A plausible code per concern (synthetic data: a clinic records what its clinicians
/// diagnose, not what a lookup table says).
fn code_for(concern: Concern) -> &'static str {
    match concern {
        Concern::Depression => "F33.1",
        Concern::AnxietyPanic => "F41.1",
        Concern::Bipolar => "F31.81",
        Concern::PtsdTrauma => "F43.10",
        Concern::SubstanceUse => "F10.20",
        Concern::GriefLoss => "F43.21",
        Concern::EmotionalDysregulation => "F60.3",
        Concern::EatingDisorder => "F50.9",
        Concern::Psychosis => "F29",
        Concern::Relationships => "Z63.0",
    }
}

pub(crate) async fn seed_diagnoses(
    store: &Store,
    clients: &[ClientId],
    now: Timestamp,
) -> Result<usize> {
    let mut total = 0;
    for &c in clients {
        let client = store
            .client(&store.op().client::<purpose::ClientRead>(c).await?, now)
            .await?;
        let mut codes: Vec<DiagnosisCode> = Vec::new();
        for &concern in &client.concerns {
            let code = DiagnosisCode::try_from(code_for(concern).to_owned())
                .map_err(|e| anyhow::anyhow!("demo diagnosis code: {e}"))?;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        total += codes.len();
        store
            .set_diagnoses(
                &store.op().client::<purpose::DiagnosisUpdate>(c).await?,
                &codes,
                now,
            )
            .await
            .context("recording demo diagnoses")?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_concern_maps_to_a_well_formed_code() {
        for &c in Concern::ALL {
            assert!(
                DiagnosisCode::try_from(code_for(c).to_owned()).is_ok(),
                "{c}"
            );
        }
    }
}

/// The reports pages read the demo clinic: each must have something to show, on a Monday
/// (the start of a compliance week) as on any other day.
#[cfg(test)]
mod every_report_has_figures {
    use circle_store::access::purpose;
    use jiff::civil::date;

    #[tokio::test]
    async fn on_the_demo_clinic() {
        let db = circle_testkit::TestDb::new().await;
        let today = date(2026, 5, 11);
        crate::demo::seed(&db.store, today)
            .await
            .expect("the demo seeds");
        let store = &db.store;
        let now: jiff::Timestamp = "2026-05-11T16:00:00Z".parse().expect("an instant");
        let back = |days: i64| today.saturating_sub(jiff::Span::new().days(days));

        let census = store
            .census(
                &store
                    .op()
                    .listing::<purpose::ReportCensus>()
                    .await
                    .expect("access"),
                today,
                now,
            )
            .await
            .expect("census");
        assert!(census.programs.len() >= 2, "{census:?}");
        assert!(
            census
                .programs
                .iter()
                .all(|p| p.groups > 0 && p.active_clients > 0 && p.memberships > 0),
            "{census:?}"
        );
        assert!(
            census.programs.iter().any(|p| p.open_seats > 0),
            "{census:?}"
        );
        assert!(
            census.levels.iter().filter(|(_, n)| *n > 0).count() >= 3,
            "{census:?}"
        );

        // The attendance page's default range: the last four weeks.
        let rates = store
            .attendance_rates(
                &store
                    .op()
                    .listing::<purpose::ReportAttendance>()
                    .await
                    .expect("access"),
                back(27),
                today,
                now,
            )
            .await
            .expect("attendance");
        assert!(rates.len() >= 5, "{rates:?}");
        assert!(
            rates
                .iter()
                .all(|g| g.held_sessions > 0 && g.recorded() > 0)
        );
        assert!(
            rates
                .iter()
                .any(|g| g.absent_excused + g.absent_unexcused > 0)
        );
        assert!(rates.iter().any(|g| g.late + g.left_early > 0));

        let week = store
            .compliance_week(
                &store
                    .op()
                    .listing::<purpose::ComplianceRead>()
                    .await
                    .expect("access"),
                today,
                None,
                now,
            )
            .await
            .expect("compliance");
        assert!(week.len() >= 10, "{} clients", week.len());

        let outcomes = store
            .outcomes(
                &store
                    .op()
                    .listing::<purpose::ReportOutcomes>()
                    .await
                    .expect("access"),
                today,
                now,
                now,
            )
            .await
            .expect("outcomes");
        for code in ["phq9", "gad7"] {
            assert!(
                outcomes
                    .iter()
                    .flat_map(|g| &g.instruments)
                    .filter(|i| i.instrument == code && i.measured > 0)
                    .count()
                    >= 3,
                "{code}: {outcomes:?}"
            );
        }

        // The billing page's default range: the last thirty days.
        let billable = store
            .billable_sessions(
                &store
                    .op()
                    .listing::<purpose::BillingExport>()
                    .await
                    .expect("access"),
                back(30),
                today,
                None,
                now,
            )
            .await
            .expect("billing");
        assert!(billable.len() >= 10, "{} lines", billable.len());
    }
}
