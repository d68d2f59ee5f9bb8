//! The witness on disk: a directory of append-only files, one per writer, each line one
//! signed record.
//!
//! A line is JSON: `{"v":1,"kind":"checkpoint","seq":1234,"mac":"…","at":"…","by":"web-1",
//! "sig":"…"}` (restore records add `"superseded_seq"`). `sig` is HMAC-SHA-256 under the
//! audit key over the fields in a fixed order, with a label of its own so a signature can
//! never pass for a chain MAC or the other way round. Each writer holds an exclusive lock
//! on its file while it writes, so two processes never interleave in one file; a second
//! process with the same name takes `NAME-2.witness`, and so on.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::audit::{AuditKey, mac_of};

/// Files of the witness end in `.witness`; anything else in the directory is ignored.
pub const EXTENSION: &str = "witness";

/// Signatures are HMACs under the audit key with this label where a chain MAC has the
/// previous MAC ("genesis" or 64 hex digits): the two can never be confused.
const SIG_LABEL: &str = "circle audit witness v1";

/// How many files one writer name may spread over when others hold the lower ones.
const MAX_SIBLINGS: u32 = 32;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A server saw the chain end at this entry.
    Checkpoint,
    /// `circle backup` made a copy whose chain ends at this entry.
    Backup,
    /// `circle restore` restored a copy ending at this entry; earlier records were moved
    /// aside.
    Restore,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkpoint => "checkpoint",
            Self::Backup => "backup",
            Self::Restore => "restore",
        }
    }
}

/// One signed statement about the chain: its entry `seq` had MAC `mac` at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRecord {
    pub kind: RecordKind,
    pub seq: i64,
    pub mac: String,
    pub at: Timestamp,
    /// The writer: a server id, or the host that ran `circle backup`/`restore`.
    pub by: String,
    /// Restore records only: the last entry the witness had recorded before the restore.
    pub superseded_seq: Option<i64>,
}

impl WitnessRecord {
    /// The signed fields in a fixed order, with the time as the line spells it.
    fn canonical(&self, at: &str) -> String {
        serde_json::json!([
            1,
            self.kind.as_str(),
            self.seq,
            self.mac,
            at,
            self.by,
            self.superseded_seq,
        ])
        .to_string()
    }

    fn sign(&self, key: &AuditKey, at: &str) -> String {
        mac_of(key, SIG_LABEL, &self.canonical(at))
    }

    /// The record as one line of its file, newline included.
    pub fn to_line(&self, key: &AuditKey) -> String {
        let at = self.at.to_string();
        let line = Line {
            v: 1,
            kind: self.kind,
            seq: self.seq,
            mac: self.mac.clone(),
            sig: self.sign(key, &at),
            at,
            by: self.by.clone(),
            superseded_seq: self.superseded_seq,
        };
        // Plain strings and integers always serialize.
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses and checks one line; `None` if it is not a record signed with `key`.
    pub fn from_line(line: &str, key: &AuditKey) -> Option<Self> {
        let l: Line = serde_json::from_str(line).ok()?;
        if l.v != 1 {
            return None;
        }
        let record = Self {
            kind: l.kind,
            seq: l.seq,
            mac: l.mac,
            at: l.at.parse().ok()?,
            by: l.by,
            superseded_seq: l.superseded_seq,
        };
        constant_time_eq(record.sign(key, &l.at).as_bytes(), l.sig.as_bytes()).then_some(record)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Serialize, Deserialize)]
struct Line {
    v: u32,
    kind: RecordKind,
    seq: i64,
    mac: String,
    at: String,
    by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    superseded_seq: Option<i64>,
    sig: String,
}

/// A record and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub record: WitnessRecord,
    /// The file's name within the witness directory.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
}

/// A line that is not a record signed with the audit key: the file was altered, or written
/// with another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub file: String,
    pub line: usize,
}

/// Everything the witness directory holds, file by file in name order, each file's records
/// in the order they were written.
#[derive(Debug, Clone, Default)]
pub struct WitnessLog {
    pub files: Vec<(String, Vec<Located>)>,
    pub bad: Vec<BadLine>,
}

impl WitnessLog {
    pub fn records(&self) -> impl Iterator<Item = &Located> {
        self.files.iter().flat_map(|(_, r)| r.iter())
    }

    pub fn is_empty(&self) -> bool {
        self.records().next().is_none()
    }
}

/// The directory that holds the witness. It belongs to one database: a new database needs
/// an empty directory of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessDir {
    path: PathBuf,
}

impl WitnessDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    /// Creates the directory (owner-only) if it is missing.
    pub fn create(&self) -> Result<(), StoreError> {
        if self.exists() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&self.path)
            .map_err(|e| self.io_error("cannot create the audit witness directory", &e))
    }

    fn io_error(&self, what: &str, e: &std::io::Error) -> StoreError {
        StoreError::Witness(format!("{what} {}: {e}", self.path.display()))
    }

    fn witness_files(&self) -> Result<Vec<String>, StoreError> {
        let entries = fs::read_dir(&self.path)
            .map_err(|e| self.io_error("cannot read the audit witness directory", &e))?;
        let mut names = vec![];
        for entry in entries {
            let entry =
                entry.map_err(|e| self.io_error("cannot read the audit witness directory", &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            if is_file && Path::new(&name).extension().is_some_and(|x| x == EXTENSION) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Reads every record of every file. A last line without its newline is a write that a
    /// crash cut short: it was never a record, so it is skipped (the next writer removes it).
    /// Any other line that does not verify is reported in `bad`.
    pub fn read(&self, key: &AuditKey) -> Result<WitnessLog, StoreError> {
        if !self.exists() {
            return Err(StoreError::Witness(format!(
                "no audit witness directory at {}: servers create it at start (set \
                 audit_witness_dir, CIRCLE_AUDIT_WITNESS_DIR or --audit-witness-dir if it \
                 lives elsewhere)",
                self.path.display()
            )));
        }
        let mut log = WitnessLog::default();
        for name in self.witness_files()? {
            let path = self.path.join(&name);
            let text = fs::read(&path).map_err(|e| {
                StoreError::Witness(format!("cannot read witness file {}: {e}", path.display()))
            })?;
            let text = String::from_utf8_lossy(&text);
            let complete = match text.rfind('\n') {
                Some(i) => &text[..=i],
                None => "",
            };
            let mut records = vec![];
            for (i, line) in complete.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match WitnessRecord::from_line(line, key) {
                    Some(record) => records.push(Located {
                        record,
                        file: name.clone(),
                        line: i + 1,
                    }),
                    None => log.bad.push(BadLine {
                        file: name.clone(),
                        line: i + 1,
                    }),
                }
            }
            log.files.push((name, records));
        }
        Ok(log)
    }

    /// Opens this writer's file, locked for this process alone: `NAME.witness`, or
    /// `NAME-2.witness` (and so on) when another process holds it.
    pub fn writer(&self, name: &str) -> Result<WitnessWriter, StoreError> {
        if !valid_name(name) {
            return Err(StoreError::Config(
                "a server id is 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
                    .to_owned(),
            ));
        }
        self.create()?;
        for n in 1..=MAX_SIBLINGS {
            let by = if n == 1 {
                name.to_owned()
            } else {
                format!("{name}-{n}")
            };
            let path = self.path.join(format!("{by}.{EXTENSION}"));
            let file = open_append(&path)
                .map_err(|e| self.io_error("cannot open a witness file in", &e))?;
            match file.try_lock() {
                Ok(()) => {
                    let mut writer = WitnessWriter { file, path, by };
                    writer
                        .drop_torn_tail()
                        .and_then(|()| sync_dir(&self.path))
                        .map_err(|e| self.io_error("cannot prepare a witness file in", &e))?;
                    return Ok(writer);
                }
                Err(std::fs::TryLockError::WouldBlock) => continue,
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(self.io_error("cannot lock a witness file in", &e));
                }
            }
        }
        Err(StoreError::Witness(format!(
            "{MAX_SIBLINGS} processes already write witness files named {name} in {}",
            self.path.display()
        )))
    }

    /// Moves every witness file into `superseded-TIME/` inside the directory, so that the
    /// records of a history a restore abandoned stay readable but no longer count. Returns
    /// the new directory, or `None` when there was nothing to move.
    pub fn supersede(&self, now: Timestamp) -> Result<Option<PathBuf>, StoreError> {
        if !self.exists() {
            return Ok(None);
        }
        let names = self.witness_files()?;
        if names.is_empty() {
            return Ok(None);
        }
        let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let mut target = self.path.join(format!("superseded-{stamp}"));
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = self.path.join(format!("superseded-{stamp}-{n}"));
        }
        fs::create_dir(&target).map_err(|e| {
            self.io_error("cannot create a directory for superseded records in", &e)
        })?;
        for name in names {
            fs::rename(self.path.join(&name), target.join(&name))
                .map_err(|e| self.io_error("cannot move a superseded witness file in", &e))?;
        }
        sync_dir(&target)
            .and_then(|()| sync_dir(&self.path))
            .map_err(|e| self.io_error("cannot sync", &e))?;
        Ok(Some(target))
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A default writer name: this machine's host name, reduced to what a file name may hold.
pub fn default_writer_name() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let name = name.trim_start_matches('.').to_owned();
    if name.is_empty() {
        "circle".to_owned()
    } else {
        name
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(path)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// One writer's open, locked witness file.
#[derive(Debug)]
pub struct WitnessWriter {
    file: File,
    path: PathBuf,
    by: String,
}

impl WitnessWriter {
    /// The name records from this writer carry (`NAME` or `NAME-2`, …).
    pub fn by(&self) -> &str {
        &self.by
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes a last line that a crash cut short, so the next record starts a line of its
    /// own instead of being glued to the fragment.
    fn drop_torn_tail(&mut self) -> std::io::Result<()> {
        let len = self.file.metadata()?.len();
        if len == 0 {
            return Ok(());
        }
        let mut text = vec![];
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut text)?;
        if text.last() == Some(&b'\n') {
            return Ok(());
        }
        let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.file.set_len(keep as u64)?;
        self.file.sync_all()
    }

    /// Appends `record` and waits until it is on disk. If the file was moved away (an
    /// operator archived it, or a restore superseded it) a new one is started in its place.
    pub fn append(&mut self, key: &AuditKey, record: &WitnessRecord) -> std::io::Result<()> {
        if self.moved()? {
            let file = open_append(&self.path)?;
            file.try_lock().map_err(std::io::Error::other)?;
            self.file = file;
            if let Some(dir) = self.path.parent() {
                sync_dir(dir)?;
            }
        }
        self.file.write_all(record.to_line(key).as_bytes())?;
        self.file.sync_data()
    }

    #[cfg(unix)]
    fn moved(&self) -> std::io::Result<bool> {
        use std::os::unix::fs::MetadataExt;
        let open = self.file.metadata()?;
        Ok(match fs::metadata(&self.path) {
            Ok(now) => now.ino() != open.ino() || now.dev() != open.dev(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        })
    }

    #[cfg(not(unix))]
    fn moved(&self) -> std::io::Result<bool> {
        Ok(!self.path.exists())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuditKey {
        AuditKey::new([7; 32])
    }

    fn record(seq: i64) -> WitnessRecord {
        WitnessRecord {
            kind: RecordKind::Checkpoint,
            seq,
            mac: format!("{seq:064x}"),
            at: Timestamp::from_second(1_800_000_000 + seq).expect("a time"),
            by: "web-1".to_owned(),
            superseded_seq: None,
        }
    }

    #[test]
    fn a_record_survives_its_line_and_a_changed_or_foreign_line_does_not_verify() {
        let r = record(12);
        let line = r.to_line(&key());
        assert!(line.ends_with('\n'));
        assert_eq!(WitnessRecord::from_line(line.trim_end(), &key()), Some(r));
        let altered = line.replace("\"seq\":12", "\"seq\":13");
        assert_eq!(WitnessRecord::from_line(&altered, &key()), None);
        assert_eq!(
            WitnessRecord::from_line(&line, &AuditKey::new([8; 32])),
            None
        );
    }

    #[test]
    fn writers_append_lock_and_skip_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let witness = WitnessDir::new(dir.path().join("w"));
        let mut first = witness.writer("web-1").expect("a writer");
        first.append(&key(), &record(1)).expect("append");
        // A second process (here: a second writer) gets a file of its own.
        let mut second = witness.writer("web-1").expect("a second writer");
        assert_eq!(second.by(), "web-1-2");
        second.append(&key(), &record(2)).expect("append");
        drop(second);
        // A crash cut the next line short.
        fs::OpenOptions::new()
            .append(true)
            .open(first.path())
            .and_then(|mut f| f.write_all(b"{\"v\":1,\"kind\":\"chec"))
            .expect("write a fragment");
        let log = witness.read(&key()).expect("read");
        assert!(log.bad.is_empty(), "{:?}", log.bad);
        assert_eq!(log.records().count(), 2);
        drop(first);
        // The next writer removes the fragment, and its record starts a line of its own.
        let mut again = witness.writer("web-1").expect("reopen");
        again.append(&key(), &record(3)).expect("append");
        let log = witness.read(&key()).expect("read");
        assert!(log.bad.is_empty(), "{:?}", log.bad);
        // Files in name order ("web-1-2" sorts before "web-1"), each in written order.
        let seqs: Vec<i64> = log.records().map(|l| l.record.seq).collect();
        assert_eq!(seqs, vec![2, 1, 3]);
    }

    #[test]
    fn a_moved_file_is_started_again_and_superseded_files_no_longer_count() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let witness = WitnessDir::new(dir.path());
        let mut w = witness.writer("web-1").expect("a writer");
        w.append(&key(), &record(1)).expect("append");
        let moved = witness
            .supersede(Timestamp::from_second(1_800_000_000).expect("a time"))
            .expect("supersede")
            .expect("something moved");
        assert!(moved.join("web-1.witness").exists());
        assert!(witness.read(&key()).expect("read").is_empty());
        w.append(&key(), &record(2)).expect("append after the move");
        let log = witness.read(&key()).expect("read");
        let seqs: Vec<i64> = log.records().map(|l| l.record.seq).collect();
        assert_eq!(seqs, vec![2]);
    }

    #[test]
    fn default_writer_names_are_file_names() {
        assert!(valid_name(&default_writer_name()));
        assert!(!valid_name("../x"));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name(""));
    }
}
