//! Where the audit witness lives, and what `audit verify`, `backup` and `restore` say about
//! a log compared with it.
//!
//! The directory is a setting (`audit_witness_dir`, `CIRCLE_AUDIT_WITNESS_DIR`,
//! `--audit-witness-dir`); by default it sits beside the audit key file, named after it
//! (`circle-audit.key` → `circle-audit.witness/`), so it lives wherever the key lives —
//! outside the database and its backups.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use circle_store::audit::VerifyReport;
use circle_store::witness::{Located, RecordKind, WitnessDir, WitnessFinding, WitnessState};

/// The configured witness directory, or the default beside the audit key file.
pub fn dir(configured: Option<&PathBuf>, audit_key_file: Option<&Path>) -> Result<WitnessDir> {
    if let Some(dir) = configured {
        return Ok(WitnessDir::new(dir));
    }
    match audit_key_file {
        Some(key) => Ok(WitnessDir::new(beside(key))),
        None => bail!(
            "no audit witness directory: the audit key came from CIRCLE_AUDIT_KEY, so there is \
             no key file to put it beside; pass --audit-witness-dir DIR (or set \
             audit_witness_dir, CIRCLE_AUDIT_WITNESS_DIR)"
        ),
    }
}

/// `DIR/NAME.key` → `DIR/NAME.witness`.
fn beside(key: &Path) -> PathBuf {
    let stem = key
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "circle-audit".to_owned());
    key.with_file_name(format!("{stem}.witness"))
}

/// How a verification ends: `audit verify` exits 0, 2 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Intact, and not behind the witness.
    Intact,
    /// Intact, and exactly a recorded backup that is behind the witness: a rollback that
    /// `circle restore` did not record.
    Older,
    /// Tampering found in the chain or against the witness.
    Broken,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Intact => 0,
            Self::Broken => 1,
            Self::Older => 2,
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "entry" } else { "entries" }
}

/// "checkpoint by web-1 at 2026-…Z"
fn source(r: &Located) -> String {
    let what = match r.record.kind {
        RecordKind::Checkpoint => "checkpoint",
        RecordKind::Backup => "backup",
        RecordKind::Restore => "restore",
    };
    format!(
        "{what} by {} at {}, {} line {}",
        r.record.by,
        r.record.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        r.file,
        r.line
    )
}

fn where_log_ends(end: i64) -> String {
    if end == 0 {
        "the log is empty".to_owned()
    } else {
        format!("the log ends at entry {end}")
    }
}

/// What the comparison found, in words: the lines that judge (tampering, an older copy)
/// and the lines that inform (consistent, restored).
pub struct Described {
    pub outcome: Outcome,
    pub judging: Vec<String>,
    pub informing: Vec<String>,
}

/// The lines `audit verify` prints for a chain and its witness, and how it ends.
pub fn verdict(chain: &VerifyReport, f: &WitnessFinding, dir: &Path) -> (Outcome, Vec<String>) {
    let d = describe(f, dir);
    let mut lines = vec![];
    let outcome = match &chain.first_broken {
        Some(b) => {
            lines.push(format!(
                "audit trail BROKEN at entry {}: {} ({} entries verified before it)",
                b.seq, b.reason, chain.entries
            ));
            lines.extend(d.judging);
            Outcome::Broken
        }
        None if d.outcome == Outcome::Intact => {
            lines.push(format!(
                "audit trail intact: {} entries verified",
                chain.entries
            ));
            Outcome::Intact
        }
        None => {
            lines.extend(d.judging);
            lines.push(format!(
                "  the {} {} the log holds link correctly: nothing before its end was changed",
                chain.entries,
                plural(chain.entries)
            ));
            d.outcome
        }
    };
    lines.extend(d.informing);
    (outcome, lines)
}

/// The witness's part of the verdict.
pub fn describe(f: &WitnessFinding, dir: &Path) -> Described {
    let log_end = f.log_end;
    let mut judging = vec![];
    let mut informing = vec![];
    let mut outcome = Outcome::Intact;
    for bad in f.bad.iter().take(5) {
        outcome = Outcome::Broken;
        judging.push(format!(
            "audit trail BROKEN: line {} of the witness file {} does not verify with the audit \
             key (altered, or written with another key)",
            bad.line,
            dir.join(&bad.file).display()
        ));
    }
    match &f.state {
        WitnessState::Empty => informing.push(format!(
            "witness: no records yet in {}: entries cut from the end cannot be detected until a \
             server has written a checkpoint",
            dir.display()
        )),
        WitnessState::Current { unconfirmed } => {
            if let Some(latest) = &f.latest {
                informing.push(format!(
                    "witness: consistent with {} {} in {}; the latest is entry {} ({}); {} \
                     {} after it not yet checkpointed",
                    f.records,
                    if f.records == 1 { "record" } else { "records" },
                    dir.display(),
                    latest.record.seq,
                    source(latest),
                    unconfirmed,
                    plural(*unconfirmed),
                ));
            }
        }
        WitnessState::Behind {
            missing,
            backup: None,
        } => {
            outcome = Outcome::Broken;
            let latest = f.latest.as_ref().map(|l| (l.record.seq, source(l)));
            let (seq, src) = latest.unwrap_or_default();
            judging.push(format!(
                "audit trail BROKEN: {missing} {} missing from the end relative to the \
                 witness: {}, but the witness recorded entry {seq} ({src})",
                plural(*missing),
                where_log_ends(log_end),
            ));
        }
        WitnessState::Behind {
            missing,
            backup: Some(b),
        } => {
            if outcome == Outcome::Intact {
                outcome = Outcome::Older;
            }
            let (seq, src) = f
                .latest
                .as_ref()
                .map(|l| (l.record.seq, source(l)))
                .unwrap_or_default();
            judging.push(format!(
                "audit trail is older than the witness ({missing} {} behind): it ends at entry \
                 {log_end}, where a backup was taken ({}); the witness recorded entry {seq} \
                 ({src})",
                plural(*missing),
                source(b),
            ));
            judging.push(
                "  an older copy was put back: if on purpose, restore the backup with `circle \
                 restore` so the witness records the rollback; if not, find out who rolled the \
                 database back"
                    .to_owned(),
            );
        }
        WitnessState::Diverged { seq, record } => {
            outcome = Outcome::Broken;
            judging.push(format!(
                "audit trail BROKEN: entry {seq} is not the entry the witness recorded there \
                 ({}): the log was replaced or rewritten, or an older copy was put back and \
                 served on, or the witness directory {} belongs to another database",
                source(record),
                dir.display()
            ));
        }
    }
    if let Some(r) = &f.restored {
        let before = r.record.superseded_seq.unwrap_or(r.record.seq);
        let behind = before - r.record.seq;
        informing.push(if behind > 0 {
            format!(
                "witness: restored with `circle restore` to a copy ending at entry {} ({}); it \
                 was older than the witness then ({behind} {} behind: the {behind} {} after \
                 entry {} that the witness had recorded are not in this database)",
                r.record.seq,
                source(r),
                plural(behind),
                plural(behind),
                r.record.seq,
            )
        } else {
            format!(
                "witness: restored with `circle restore` to a copy ending at entry {} ({}), as \
                 recent as the witness then",
                r.record.seq,
                source(r),
            )
        });
    }
    Described {
        outcome,
        judging,
        informing,
    }
}
