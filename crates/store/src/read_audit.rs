//! Audited reads: the data is read in a plain transaction, and the read's audit entry is
//! committed by group commit before the data is handed back (issue 16).
//!
//! Every read of clinical data writes an audit entry, and an entry written in the read's
//! own transaction made every read a writer: on SQLite each one took the database's single
//! write lock and paid a WAL fsync, so a page that reads five kinds of data waited five
//! times in the writers' queue, and readers that WAL would run side by side ran one by one.
//!
//! Now a read runs in a transaction that takes no write lock (on SQLite a WAL snapshot,
//! beside any writer), then [`Store::audit_read`] queues its entry and waits. The first
//! waiter to find the audit writer free appends every entry queued at that moment in one
//! transaction — one write lock and one fsync for all the reads that arrived meanwhile —
//! and each waiter returns only once its own entry is committed. So no read returns data
//! whose access is not on disk: an entry that cannot be committed (a full disk, a lost
//! database) fails every read of its batch, as an entry written in the read's transaction
//! did. The chain is unchanged: a batch's entries are chained one after another with the same
//! MACs as one-by-one appends, under the same head-row lock as every other audited action.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use circle_domain::audit::{AuditAction, AuditOutcome};
use circle_domain::ids::ClientId;
use jiff::Timestamp;
use tokio::sync::oneshot;

use crate::access::AuditContext;
use crate::audit::{Record, append_many};
use crate::{Store, StoreError};

/// The most reads one commit appends the entries of: a bound on how long one batch holds
/// the write lock (the rest wait for the next, which starts at once).
const BATCH: usize = 256;

/// The queue of entries waiting to be committed, and the writer's turn.
#[derive(Default)]
pub(crate) struct ReadAudit {
    queue: Mutex<Vec<Waiting>>,
    /// Held by the one waiter writing a batch, for as long as it writes.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// One read's entries and where to say whether they were committed.
struct Waiting {
    at: Timestamp,
    entries: Vec<Entry>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// An owned [`Record`]: it outlives the read that made it, until its batch is written.
struct Entry {
    ctx: AuditContext,
    action: AuditAction,
    client_ids: Vec<ClientId>,
    object_id: Option<String>,
    outcome: AuditOutcome,
}

impl ReadAudit {
    fn queue(&self) -> MutexGuard<'_, Vec<Waiting>> {
        // The queue is a plain Vec pushed and drained whole: a panic elsewhere cannot
        // leave it half-changed, so a poisoned lock is still sound to use.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Commits a read's audit entry (group commit, see the module) and returns once it is
    /// on disk. Call it after the read's transaction has ended and before handing back
    /// anything it read; an error means the read must not be shown.
    pub(crate) async fn audit_read(&self, at: Timestamp, r: Record<'_>) -> Result<(), StoreError> {
        self.audit_reads(at, [r]).await
    }

    /// [`Store::audit_read`] for a read that records several entries (one per kind of data
    /// it read): committed together, in this order.
    pub(crate) async fn audit_reads<'a>(
        &self,
        at: Timestamp,
        records: impl IntoIterator<Item = Record<'a>>,
    ) -> Result<(), StoreError> {
        let entries: Vec<Entry> = records
            .into_iter()
            .map(|r| Entry {
                ctx: r.ctx.clone(),
                action: r.action,
                client_ids: r.client_ids.to_vec(),
                object_id: r.object_id,
                outcome: r.outcome,
            })
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        let (done, mut committed) = oneshot::channel();
        self.read_audit.queue().push(Waiting { at, entries, done });
        loop {
            let turn = Arc::clone(&self.read_audit.writer).lock_owned().await;
            // A writer before us may have taken our entry: its answer is here by now, as a
            // writer answers every waiter of its batch before it gives up its turn.
            match committed.try_recv() {
                Ok(result) => return result,
                Err(oneshot::error::TryRecvError::Closed) => return Err(lost()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch: Vec<Waiting> = {
                let mut queue = self.read_audit.queue();
                let n = queue.len().min(BATCH);
                queue.drain(..n).collect()
            };
            // Written in a task of its own, holding the turn: if this request goes away
            // (its caller hung up), the batch — other reads' entries too — is still
            // written and answered, never dropped half-way.
            let store = self.clone();
            let writing = tokio::spawn(async move {
                let result = store.write_batch(&batch).await;
                if let Err(e) = &result {
                    // Ids and counts only: an entry holds no names or clinical text.
                    tracing::error!(error = %e, entries = batch.len(), "audit entries of reads were not committed; those reads were refused");
                }
                for w in batch {
                    let _ = w.done.send(result.as_ref().map(|_| ()).map_err(share));
                }
                drop(turn);
            });
            if writing.await.is_err() {
                return Err(lost());
            }
            // Our entry was in that batch unless the queue held more than one batch.
        }
    }

    async fn write_batch(&self, batch: &[Waiting]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let records: Vec<(Timestamp, Record<'_>)> = batch
            .iter()
            .flat_map(|w| {
                w.entries.iter().map(|e| {
                    (
                        w.at,
                        Record {
                            ctx: &e.ctx,
                            action: e.action,
                            client_ids: &e.client_ids,
                            object_id: e.object_id.clone(),
                            outcome: e.outcome,
                        },
                    )
                })
            })
            .collect();
        let mut tx = self.begin_write().await?;
        append_many(&mut tx, self.audit_key(), &records).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Begins a transaction that only reads. On SQLite it takes no lock (a WAL snapshot
    /// from its first read), so readers run beside each other and beside a writer; its
    /// audit entry goes through [`Store::audit_read`].
    pub(crate) async fn begin_read(&self) -> Result<sqlx::Transaction<'_, sqlx::Any>, StoreError> {
        Ok(self.pool().begin().await?)
    }
}

/// The batch's error for each of its waiters (a driver error cannot be cloned; what a
/// caller is told about it — storage, or a database error — can).
fn share(e: &StoreError) -> StoreError {
    match e {
        StoreError::Domain(d) => StoreError::Domain(d.clone()),
        StoreError::Config(m) => StoreError::Config(m.clone()),
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Storage { full } => StoreError::Storage { full: *full },
        StoreError::Corrupt(c) => StoreError::Corrupt(c),
        StoreError::Integrity(k) => StoreError::Integrity(k),
        StoreError::Witness(m) => StoreError::Witness(m.clone()),
        StoreError::Migration(m) => StoreError::Migration(m.clone()),
        StoreError::Database(_) => StoreError::Unavailable(
            "the audit entry of a read could not be written; the read was not shown".to_owned(),
        ),
    }
}

/// The writing task ended without answering (it panicked): the entry is not known to be
/// on disk, so the read is not shown.
fn lost() -> StoreError {
    StoreError::Unavailable(
        "the audit entry of a read could not be confirmed; the read was not shown".to_owned(),
    )
}
