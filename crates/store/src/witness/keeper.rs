//! The server's side of the witness: checkpoint the chain's head while serving.
//!
//! A checkpoint records the committed head (`audit_head`), never an entry still inside a
//! transaction that may roll back. One is written when the server starts, when 100 entries
//! were appended by this process since the last one, when 5 seconds have passed and the
//! head moved (appends by other servers on the same PostgreSQL included), and when it
//! stops. Each is fsynced before it counts.
//!
//! A failed write never goes silent: it is logged as an error with the file and the cause
//! on every attempt, and a line says when writes work again. Serving continues meanwhile —
//! the log itself is still written and chained in the database; only the window in which a
//! cut tail would go unnoticed grows until the witness can be written again. At start, by
//! contrast, a witness that cannot be written stops the server: that is a setting to fix.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

use super::file::{RecordKind, WitnessDir, WitnessRecord, WitnessWriter};
use super::judge::{WitnessFinding, WitnessState};
use crate::audit::ChainHead;
use crate::{Store, StoreError};

/// How often checkpoints are written.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// After this many entries appended by this process.
    pub entries: u64,
    /// After this much time, if the head moved.
    pub interval: Duration,
    /// How often the append count is looked at (no I/O).
    pub poll: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            entries: 100,
            interval: Duration::from_secs(5),
            poll: Duration::from_millis(250),
        }
    }
}

struct State {
    /// The head of the last checkpoint this process wrote.
    last: Option<ChainHead>,
    /// The append count when the head was last read.
    appended: u64,
    /// Whether the last write failed (so recovery is logged once).
    failing: bool,
}

struct Shared {
    store: Store,
    writer: Arc<std::sync::Mutex<WitnessWriter>>,
    state: Mutex<State>,
}

/// Writes checkpoints in the background until stopped.
pub struct Keeper {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    file: std::path::PathBuf,
    by: String,
}

impl Keeper {
    /// Opens this server's witness file in `dir` (creating the directory), compares the log
    /// with the witness and logs what does not agree, writes the first checkpoint, and
    /// starts checkpointing. Fails when the witness cannot be written.
    pub async fn start(
        store: Store,
        dir: WitnessDir,
        name: &str,
        cadence: Cadence,
    ) -> Result<Self, StoreError> {
        store.require_audit_key()?;
        let writer = {
            let (dir, name) = (dir.clone(), name.to_owned());
            tokio::task::spawn_blocking(move || dir.writer(&name))
                .await
                .map_err(|e| StoreError::Witness(format!("opening the witness failed: {e}")))??
        };
        let (file, by) = (writer.path().to_path_buf(), writer.by().to_owned());
        let log = store.read_witness(&dir).await?;
        let finding = store.compare_with_witness(&log).await?;
        log_finding_at_start(&finding, &dir);
        let shared = Arc::new(Shared {
            store,
            writer: Arc::new(std::sync::Mutex::new(writer)),
            state: Mutex::new(State {
                last: None,
                appended: 0,
                failing: false,
            }),
        });
        shared.tick().await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(shared.clone(), cadence, stopped));
        tracing::info!(file = %file.display(), "writing audit witness checkpoints");
        Ok(Self {
            shared,
            stop: Some(stop),
            task: Some(task),
            file,
            by,
        })
    }

    /// The file this server writes.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// The name its records carry.
    pub fn by(&self) -> &str {
        &self.by
    }

    /// Writes a checkpoint now if the head moved since the last one; returns the head
    /// written.
    pub async fn checkpoint(&self) -> Result<Option<ChainHead>, StoreError> {
        self.shared.tick().await
    }

    /// Stops checkpointing after a last checkpoint (at shutdown).
    pub async fn stop(mut self) -> Result<Option<ChainHead>, StoreError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.shared.tick().await
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(shared: Arc<Shared>, cadence: Cadence, mut stopped: oneshot::Receiver<()>) {
    let mut poll = tokio::time::interval(cadence.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_attempt = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = poll.tick() => {}
        }
        let appended = shared.store.require_audit_key().map_or(0, |k| k.appended());
        let since = appended.saturating_sub(shared.state.lock().await.appended);
        if since < cadence.entries && last_attempt.elapsed() < cadence.interval {
            continue;
        }
        last_attempt = tokio::time::Instant::now();
        // Errors are logged inside `tick`; the loop goes on.
        let _ = shared.tick().await;
    }
}

impl Shared {
    async fn tick(&self) -> Result<Option<ChainHead>, StoreError> {
        let mut state = self.state.lock().await;
        let result = self.checkpoint(&mut state).await;
        let file = self.writer.lock().map(|w| w.path().display().to_string());
        let file = file.unwrap_or_default();
        match &result {
            Ok(_) if state.failing => {
                state.failing = false;
                tracing::info!(file, "audit witness checkpoints are written again");
            }
            Ok(_) => {}
            Err(e) => {
                state.failing = true;
                tracing::error!(
                    file,
                    error = %e,
                    "cannot write an audit witness checkpoint: entries cut from the end of \
                     the audit log since the last checkpoint would go unnoticed until one is \
                     written; serving continues"
                );
            }
        }
        result
    }

    async fn checkpoint(&self, state: &mut State) -> Result<Option<ChainHead>, StoreError> {
        let key = self.store.require_audit_key()?;
        state.appended = key.appended();
        let head = self.store.audit_head().await?;
        // What to write: the head, and before it what now stands where the last checkpoint
        // was, when that changed — so the file itself shows the break (see `judge`).
        let mut records = vec![];
        if let Some(last) = state.last.as_ref().filter(|l| l.seq > 0) {
            if *last == head {
                return Ok(None);
            }
            if head.seq < last.seq {
                tracing::error!(
                    from = last.seq,
                    to = head.seq,
                    "the audit log's head went backwards: entries were removed from its end, \
                     or the database was rolled back; the witness keeps the evidence and \
                     `circle audit verify` reports it"
                );
            } else {
                let now = self.store.audit_mac_at(last.seq).await?;
                if now.as_deref() != Some(&last.mac) {
                    tracing::error!(
                        seq = last.seq,
                        "the audit log no longer holds the entry last checkpointed: it was \
                         replaced; the witness keeps the evidence and `circle audit verify` \
                         reports it"
                    );
                    if let Some(mac) = now {
                        records.push(ChainHead { seq: last.seq, mac });
                    }
                }
            }
        } else if head.seq == 0 {
            // Nothing to witness in an empty log.
            state.last = Some(head);
            return Ok(None);
        }
        if state.last.as_ref() == Some(&head) {
            return Ok(None);
        }
        // An emptied log is recorded as entry 0: the drop must show in the file.
        records.push(head.clone());
        let writer = self.writer.clone();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = writer
                .lock()
                .map_err(|_| StoreError::Witness("the witness writer was poisoned".to_owned()))?;
            for r in records {
                let r = WitnessRecord {
                    kind: RecordKind::Checkpoint,
                    seq: r.seq,
                    mac: r.mac,
                    at: Timestamp::now(),
                    by: w.by().to_owned(),
                    superseded_seq: None,
                };
                store.write_witness(&mut w, &r)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| StoreError::Witness(format!("writing the witness failed: {e}")))??;
        state.last = Some(head.clone());
        Ok(Some(head))
    }
}

fn log_finding_at_start(finding: &WitnessFinding, dir: &WitnessDir) {
    let dir = dir.path().display().to_string();
    for bad in &finding.bad {
        tracing::error!(
            dir,
            file = bad.file,
            line = bad.line,
            "a line of the audit witness does not verify with the audit key: it was altered, \
             or written with another key"
        );
    }
    match &finding.state {
        WitnessState::Empty | WitnessState::Current { .. } => {}
        WitnessState::Behind {
            missing,
            backup: None,
        } => {
            let latest = finding.latest.as_ref().map(|l| l.record.seq);
            tracing::error!(
                dir,
                missing,
                witness_seq = latest,
                "the audit log ends before its witness's latest record: entries were removed \
                 from its end, or an older copy of the database is served; `circle audit \
                 verify` reports it"
            );
        }
        WitnessState::Behind {
            missing,
            backup: Some(b),
        } => tracing::error!(
            dir,
            missing,
            backup_at = %b.record.at,
            "this database is an older copy (a recorded backup) that `circle restore` did not \
             restore: it is behind its witness; `circle audit verify` reports it"
        ),
        WitnessState::Diverged { seq, record } => tracing::error!(
            dir,
            seq,
            recorded_by = record.record.by,
            "the audit log differs from its witness: the log was replaced, or the witness \
             directory belongs to another database; `circle audit verify` reports it"
        ),
    }
}

/// Writes one checkpoint of the current head with a writer of its own (for commands that
/// append entries without serving: the demo seed). Returns the head written, if any.
pub async fn checkpoint_once(
    store: &Store,
    dir: &WitnessDir,
    name: &str,
) -> Result<Option<ChainHead>, StoreError> {
    let head = store.audit_head().await?;
    if head.seq == 0 {
        return Ok(None);
    }
    store
        .write_witness_record(dir, name, RecordKind::Checkpoint, &head, None)
        .await?;
    Ok(Some(head))
}
