//! The demo clinic's outcome measures: PHQ-9 and GAD-7 every two weeks from each client's
//! first episode, most clients improving and a few getting worse, with safety alerts and
//! gaps that make some clients due. Synthetic and deterministic like the rest of the demo;
//! written through the same `Store` command as the API, so scoring, bands and alerts follow
//! the same rules.
//!
//! - One client of the demo facilitator answered PHQ-9 item 9 above 0 on their latest
//!   check-in: the alert is open, for the facilitator to see and acknowledge.
//! - Another of the facilitator's clients raised one at their first check-in; it was
//!   acknowledged with the action taken.
//! - Every sixth client has no measures yet (due at intake); every sixth other client
//!   skipped the latest one (routinely due); clients who stepped down since their last
//!   check-in are due at the start of the new episode.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use circle_domain::ids::{ClientId, ClinicianId};
use circle_domain::measure::{Instrument, gad7, phq9};
use circle_store::Store;
use circle_store::access::purpose;
use circle_store::measures::NewResponse;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MEASURES_SEED: u64 = 0x00C1_4C1E_DE30_0007;
/// Days between routine check-ins (the programs' default cadence).
const EVERY_DAYS: i64 = 14;

/// What was seeded, for the log.
#[derive(Debug, Default)]
pub(crate) struct MeasuresSummary {
    pub responses: usize,
    pub open_alerts: usize,
    pub acknowledged_alerts: usize,
}

/// Seeds the measures of `clients` (in demo order). `facilitator` is the demo clinician
/// whose caseload gets the safety alerts.
pub(crate) async fn seed_measures(
    store: &Store,
    today: Date,
    now: Timestamp,
    clients: &[ClientId],
    facilitator: ClinicianId,
) -> Result<MeasuresSummary> {
    let mut rng = StdRng::seed_from_u64(MEASURES_SEED);
    let (phq, gad) = (phq9(), gad7());
    let since = today
        .checked_sub(30.days())
        .context("today is outside the supported calendar")?;
    let mut summary = MeasuresSummary::default();
    let mut alerts_planned = 0;

    for (i, &client) in clients.iter().enumerate() {
        // Draw for every client, so one client's plan never shifts another's numbers.
        let phq_start: i64 = rng.gen_range(11..=20);
        let gad_start: i64 = rng.gen_range(8..=16);
        let noise: Vec<i64> = (0..16).map(|_| rng.gen_range(-1..=1)).collect();
        if i % 6 == 1 {
            continue;
        }
        let episodes = store
            .episodes(
                &store.op().client::<purpose::EpisodeRead>(client).await?,
                now,
            )
            .await
            .context("reading a demo client's episodes")?;
        let Some(first) = episodes.iter().map(|e| e.started_on).min() else {
            continue;
        };
        let mut dates = vec![];
        let mut d = first;
        while d < today {
            dates.push(d);
            d = d
                .checked_add(EVERY_DAYS.days())
                .context("a demo date is outside the supported calendar")?;
        }
        if i % 6 == 4 && dates.len() > 1 {
            dates.pop();
        }
        let worsening = i % 13 == 8;
        let alert = if alerts_planned < 2 && dates.len() >= 2 {
            store
                .in_caseload(facilitator, client, since)
                .await
                .context("reading the demo facilitator's caseload")?
        } else {
            false
        };
        // The first such client raises an open alert at their latest check-in, the second
        // an acknowledged one at their first.
        let alert_at = alert.then(|| {
            alerts_planned += 1;
            if alerts_planned == 1 {
                dates.len() - 1
            } else {
                0
            }
        });
        for (k, date) in dates.iter().enumerate() {
            let step = i64::try_from(k).unwrap_or(0);
            let trend = if worsening { 2 * step } else { -2 * step };
            let jitter = noise.get(k).copied().unwrap_or(0);
            let phq_total = (phq_start + trend + jitter).clamp(1, 24);
            let gad_total = (gad_start + trend * 3 / 4 - jitter).clamp(0, 21);
            let at = date
                .at(16, 0, 0, 0)
                .to_zoned(TimeZone::UTC)
                .context("a demo date is outside the supported calendar")?
                .timestamp();
            let mut phq_answers = spread(9, phq_total, 8);
            if alert_at == Some(k) {
                phq_answers.insert("9".to_owned(), 1);
            }
            let response = record(store, now, client, &phq, &phq_answers, at).await?;
            summary.responses += 1;
            if let Some(alert) = response {
                if k == 0 {
                    store
                        .acknowledge_alert(
                            &store
                                .op()
                                .client::<purpose::AlertAcknowledge>(client)
                                .await?,
                            alert,
                            "Safety check the same day: no current plan or intent; safety plan \
                             reviewed and crisis line numbers given; follow-up call booked.",
                            now,
                        )
                        .await
                        .context("acknowledging a demo safety alert")?;
                    summary.acknowledged_alerts += 1;
                } else {
                    summary.open_alerts += 1;
                }
            }
            let gad_answers = spread(7, gad_total, 7);
            record(store, now, client, &gad, &gad_answers, at).await?;
            summary.responses += 1;
        }
    }
    tracing::info!(
        responses = summary.responses,
        open_alerts = summary.open_alerts,
        acknowledged_alerts = summary.acknowledged_alerts,
        "demo measures seeded"
    );
    Ok(summary)
}

/// Answers for items `1..=n` (0–3 each) summing to `total`, spread over the first `over`
/// items (PHQ-9 item 9 stays 0 unless an alert is planned).
fn spread(n: usize, total: i64, over: usize) -> BTreeMap<String, i64> {
    let mut values = vec![0i64; n];
    let mut left = total.clamp(0, 3 * i64::try_from(over).unwrap_or(0));
    let mut k = 0;
    while left > 0 {
        if values[k % over] < 3 {
            values[k % over] += 1;
            left -= 1;
        }
        k += 1;
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i + 1).to_string(), *v))
        .collect()
}

/// Records one response; returns the alert it raised, if any.
async fn record(
    store: &Store,
    now: Timestamp,
    client: ClientId,
    instrument: &Instrument,
    answers: &BTreeMap<String, i64>,
    administered_at: Timestamp,
) -> Result<Option<i64>> {
    let scored = instrument
        .score(answers)
        .context("a demo answer set does not fit its instrument")?;
    let response = store
        .record_measure(
            &store.op().client::<purpose::MeasureCreate>(client).await?,
            &NewResponse {
                instrument,
                answers,
                scored: &scored,
                administered_at,
            },
            now,
        )
        .await
        .context("recording a demo measure")?;
    Ok(response.alert_id)
}
