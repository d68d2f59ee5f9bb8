//! Demo diagnoses: each synthetic client gets ICD-10-CM codes that follow their presenting
//! concerns, so the billing export carries each member's own diagnoses as a real one would.

use anyhow::{Context, Result};
use circle_domain::audit::AuditContext;
use circle_domain::billing::DiagnosisCode;
use circle_domain::care::Concern;
use circle_domain::ids::ClientId;
use circle_store::Store;
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
    system: &AuditContext,
    clients: &[ClientId],
    now: Timestamp,
) -> Result<usize> {
    let mut total = 0;
    for &c in clients {
        let client = store.client(c, system, now).await?;
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
            .set_diagnoses(c, &codes, system, now)
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
