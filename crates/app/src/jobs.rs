//! Background work that several servers over one database share (issue 16): a periodic
//! job runs on whichever server claims its lease in the database first once the job is
//! due, once per period across all of them. The holder renews the lease while it works; a
//! server that dies mid-job keeps the lease only until it expires, and the next server
//! whose timer fires takes the job over. On SQLite (one server) the same path runs: the
//! lease is then always free when the timer fires.
//!
//! What each process did is counted in [`Counters`] for `/metrics` (job names are fixed
//! words; no ids).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::SignedDuration;

use crate::App;

/// A periodic job's name and timing.
#[derive(Debug, Clone, Copy)]
pub struct Periodic {
    /// The lease's name (a fixed word; also the `job` label in `/metrics` and the logs).
    pub name: &'static str,
    /// At most one run per period across all servers.
    pub every: Duration,
    /// How long a claimed lease lasts unless renewed; a dead holder's job waits this long
    /// before another server takes it over. Renewed every third of it while the job runs.
    pub lease: Duration,
}

impl Periodic {
    /// How often a server checks whether the job is due: often enough that a job whose
    /// holder died is taken over about one lease time later.
    fn poll(&self) -> Duration {
        self.every
            .min(self.lease / 2)
            .max(Duration::from_millis(100))
    }
}

/// What this process's background jobs and sign-ins did, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Failed sign-in attempts (bad password, unknown email, bad code, throttled...).
    pub sign_in_failures: AtomicU64,
    jobs: Mutex<BTreeMap<&'static str, JobCounts>>,
}

/// One job's counts in this process.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    /// Runs this process claimed (a due job whose lease it won).
    pub claimed: u64,
    /// Runs under way now (0 or 1).
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
}

impl Counters {
    fn job(&self, name: &'static str, change: impl FnOnce(&mut JobCounts)) {
        if let Ok(mut jobs) = self.jobs.lock() {
            change(jobs.entry(name).or_default());
        }
    }

    /// Every job's counts, by name.
    pub fn jobs(&self) -> Vec<(&'static str, JobCounts)> {
        self.jobs
            .lock()
            .map(|j| j.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }

    pub fn sign_in_failures(&self) -> u64 {
        self.sign_in_failures.load(Ordering::Relaxed)
    }
}

fn signed(d: Duration) -> SignedDuration {
    SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
}

impl App {
    /// Runs `job` every `spec.every` across all servers until `stop` turns true, claiming
    /// its lease as `holder` (a name unique to this process). A run under way when `stop`
    /// turns true is finished, never cut off. `job` returns how the run went; an error is
    /// logged with its cause and counted, and the job is due again a period later.
    pub async fn run_periodic<F, Fut>(
        &self,
        spec: Periodic,
        holder: String,
        mut stop: tokio::sync::watch::Receiver<bool>,
        job: F,
    ) where
        F: Fn(App) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut every = tokio::time::interval(spec.poll());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let claimed = self
                .store
                .claim_lease_if_due(
                    spec.name,
                    &holder,
                    self.now(),
                    signed(spec.lease),
                    signed(spec.every),
                )
                .await;
            let lease = match claimed {
                Ok(Some(lease)) => lease,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(job = spec.name, error = %e, "could not claim a background job's lease");
                    continue;
                }
            };
            self.counters.job(spec.name, |c| {
                c.claimed += 1;
                c.running += 1;
            });
            tracing::info!(
                job = spec.name,
                run = lease.generation,
                "background job started"
            );
            let renewer = {
                let (app, lease) = (self.clone(), lease.clone());
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(spec.lease / 3);
                    every.tick().await;
                    loop {
                        every.tick().await;
                        match app
                            .store
                            .renew_lease(&lease, app.now(), signed(spec.lease))
                            .await
                        {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!(
                                    job = spec.name,
                                    run = lease.generation,
                                    "a background job's lease was lost; another server may run it"
                                );
                                return;
                            }
                            Err(e) => {
                                tracing::warn!(job = spec.name, error = %e, "could not renew a background job's lease")
                            }
                        }
                    }
                })
            };
            let outcome = job(self.clone()).await;
            renewer.abort();
            let done = outcome.is_ok();
            match &outcome {
                Ok(()) => tracing::info!(
                    job = spec.name,
                    run = lease.generation,
                    "background job finished"
                ),
                Err(cause) => tracing::error!(
                    job = spec.name,
                    run = lease.generation,
                    cause = %cause,
                    "background job failed"
                ),
            }
            self.counters.job(spec.name, |c| {
                c.running = c.running.saturating_sub(1);
                if done {
                    c.succeeded += 1;
                } else {
                    c.failed += 1;
                }
            });
            // A failed run is released as done too: it is retried a period later, not in a
            // tight loop against a fault that is still there.
            if let Err(e) = self.store.release_lease(&lease, self.now(), true).await {
                tracing::warn!(job = spec.name, error = %e, "could not release a background job's lease; it expires by itself");
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// What this process's background jobs and sign-ins did (`/metrics`).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The database connection pool's use: (open, idle, maximum).
    pub fn pool_use(&self) -> (u32, u32, u32) {
        self.store.pool_use()
    }

    /// Write transactions begun and the seconds they waited in all to begin.
    pub fn write_waits(&self) -> (u64, f64) {
        self.store.write_waits()
    }

    /// Audit entries this process appended.
    pub fn audit_appended(&self) -> u64 {
        self.store.audit_appended()
    }
}
