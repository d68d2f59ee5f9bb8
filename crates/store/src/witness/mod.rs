//! The audit chain's witness outside the database (issue 13, hole 2).
//!
//! The chain proves that no entry was changed, inserted or removed *before* its head — but
//! the head (`audit_head`) lives in the same database, so cutting the last entries and
//! setting the head back to the last one left verifies as intact, and so does a whole
//! database put back from an older copy. The witness is what the database cannot rewrite:
//! signed records of where the chain stood, in files beside the audit key.
//!
//! - [`file`]: the directory, one append-only file per writer, one signed line per record;
//! - [`judge`]: the comparison of a log with the records;
//! - [`keeper`]: the server's checkpoints (at start, every 100 appends, every 5 s when the
//!   head moved, at shutdown).
//!
//! A witness directory belongs to one database (several servers of one PostgreSQL database
//! write their own files in it). `circle backup` records each backup in it, and
//! `circle restore` moves the records of the abandoned history aside and records the restore.

pub mod file;
pub mod judge;
pub mod keeper;

pub use file::{
    BadLine, EXTENSION, Located, RecordKind, WitnessDir, WitnessLog, WitnessRecord, WitnessWriter,
    default_writer_name,
};
pub use judge::{WitnessFinding, WitnessState, check_set, judge};
pub use keeper::{Cadence, Keeper, checkpoint_once};

use std::path::PathBuf;

use jiff::Timestamp;

use crate::audit::ChainHead;
use crate::{Store, StoreError};

impl Store {
    /// Reads every record in `dir`, checking each against this store's audit key.
    pub async fn read_witness(&self, dir: &WitnessDir) -> Result<WitnessLog, StoreError> {
        self.require_audit_key()?;
        let (store, dir) = (self.clone(), dir.clone());
        tokio::task::spawn_blocking(move || dir.read(store.require_audit_key()?))
            .await
            .map_err(|e| StoreError::Witness(format!("reading the witness failed: {e}")))?
    }

    /// Appends `record` to `writer`'s file, signed with this store's audit key, and waits
    /// until it is on disk. Blocking: call it off the async threads.
    pub fn write_witness(
        &self,
        writer: &mut WitnessWriter,
        record: &WitnessRecord,
    ) -> Result<(), StoreError> {
        let key = self.require_audit_key()?;
        writer.append(key, record).map_err(|e| {
            StoreError::Witness(format!(
                "cannot write witness file {}: {e}",
                writer.path().display()
            ))
        })
    }

    /// Writes one record about `head` with a writer of its own; returns the file written.
    pub async fn write_witness_record(
        &self,
        dir: &WitnessDir,
        name: &str,
        kind: RecordKind,
        head: &ChainHead,
        superseded_seq: Option<i64>,
    ) -> Result<PathBuf, StoreError> {
        self.require_audit_key()?;
        let (store, dir, name, head) = (self.clone(), dir.clone(), name.to_owned(), head.clone());
        tokio::task::spawn_blocking(move || {
            let mut writer = dir.writer(&name)?;
            let record = WitnessRecord {
                kind,
                seq: head.seq,
                mac: head.mac,
                at: Timestamp::now(),
                by: writer.by().to_owned(),
                superseded_seq,
            };
            store.write_witness(&mut writer, &record)?;
            Ok(writer.path().to_path_buf())
        })
        .await
        .map_err(|e| StoreError::Witness(format!("writing the witness failed: {e}")))?
    }
}
