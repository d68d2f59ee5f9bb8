//! Comparing the log with its witness: does the log still hold every entry the witness saw,
//! each with the MAC the witness recorded?
//!
//! Each record states "entry `seq` had MAC `mac`". Since every MAC covers the entry and the
//! MAC before it, a log that holds entry `seq` with that MAC holds, unchanged, everything up
//! to it. So it suffices to check, in each file, the records after which the next one did
//! not go higher, and the file's last record, plus every backup and restore record. A
//! server's checkpoints rise while the chain grows; when it sees the head go backwards it
//! records the lower head (entry 0 for an emptied log), and when it sees a different entry
//! where its last checkpoint was, it records that entry at the same number first — so the
//! record from before the break is always one that is checked.

use std::collections::HashMap;

use super::file::{BadLine, Located, RecordKind, WitnessLog};

/// How the log stands against the witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessState {
    /// The witness holds no records yet: nothing can be compared.
    Empty,
    /// Every record agrees with the log and the log reaches the latest of them;
    /// `unconfirmed` entries were appended after it.
    Current { unconfirmed: i64 },
    /// The log ends `missing` entries before the latest record. `backup` is the recorded
    /// backup the log ends at, when it ends exactly at one: an older copy put back, rather
    /// than entries cut off.
    Behind {
        missing: i64,
        backup: Option<Located>,
    },
    /// Entry `seq` of the log is not the entry the witness recorded there.
    Diverged { seq: i64, record: Located },
}

/// The comparison's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessFinding {
    pub state: WitnessState,
    /// The last entry the log holds (0 when empty).
    pub log_end: i64,
    /// Valid records read.
    pub records: usize,
    /// The record of the highest entry.
    pub latest: Option<Located>,
    /// The latest restore record, if the log was restored with `circle restore`.
    pub restored: Option<Located>,
    /// Lines that are not records signed with the audit key.
    pub bad: Vec<BadLine>,
}

impl WitnessFinding {
    /// Evidence of tampering with the log (or with the witness itself).
    pub fn is_broken(&self) -> bool {
        !self.bad.is_empty()
            || matches!(
                self.state,
                WitnessState::Diverged { .. } | WitnessState::Behind { backup: None, .. }
            )
    }

    /// An intact older copy of the log (a recorded backup) that no restore acknowledged.
    pub fn is_older_copy(&self) -> bool {
        self.bad.is_empty()
            && matches!(
                self.state,
                WitnessState::Behind {
                    backup: Some(_),
                    ..
                }
            )
    }
}

/// The records whose MACs must be looked up in the log (see the module comment).
pub fn check_set(log: &WitnessLog) -> Vec<&Located> {
    let mut out = vec![];
    for (_, records) in &log.files {
        for (i, r) in records.iter().enumerate() {
            let next_not_higher = records
                .get(i + 1)
                .is_none_or(|next| next.record.seq <= r.record.seq);
            if next_not_higher || r.record.kind != RecordKind::Checkpoint {
                out.push(r);
            }
        }
    }
    out
}

/// Compares a log whose last entry is `log_end` (0 when empty), with `macs` the MACs of
/// its entries at the sequence numbers of `check_set(log)`, against `log`.
pub fn judge(log_end: i64, macs: &HashMap<i64, String>, log: &WitnessLog) -> WitnessFinding {
    let records = log.records().count();
    let latest = log
        .records()
        .max_by(|a, b| (a.record.seq, a.record.at).cmp(&(b.record.seq, b.record.at)))
        .cloned();
    let restored = log
        .records()
        .filter(|r| r.record.kind == RecordKind::Restore)
        .max_by_key(|r| r.record.at)
        .cloned();
    let mut diverged: Option<&Located> = None;
    for r in check_set(log) {
        if r.record.seq < 1 || r.record.seq > log_end {
            continue;
        }
        if macs.get(&r.record.seq) != Some(&r.record.mac)
            && diverged.is_none_or(|d| r.record.seq < d.record.seq)
        {
            diverged = Some(r);
        }
    }
    let state = match (&latest, diverged) {
        (None, _) => WitnessState::Empty,
        (_, Some(d)) => WitnessState::Diverged {
            seq: d.record.seq,
            record: d.clone(),
        },
        (Some(l), None) if l.record.seq > log_end => WitnessState::Behind {
            missing: l.record.seq - log_end,
            backup: log
                .records()
                .filter(|r| {
                    r.record.kind == RecordKind::Backup
                        && r.record.seq == log_end
                        && macs.get(&log_end) == Some(&r.record.mac)
                })
                .max_by_key(|r| r.record.at)
                .cloned(),
        },
        (Some(l), None) => WitnessState::Current {
            unconfirmed: log_end - l.record.seq,
        },
    };
    WitnessFinding {
        state,
        log_end,
        records,
        latest,
        restored,
        bad: log.bad.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness::file::WitnessRecord;

    fn mac(seq: i64, chain: u8) -> String {
        format!("{chain:02x}{seq:062x}")
    }

    fn at(seq: i64, kind: RecordKind, chain: u8, t: i64) -> Located {
        Located {
            record: WitnessRecord {
                kind,
                seq,
                mac: mac(seq, chain),
                at: jiff::Timestamp::from_second(1_800_000_000 + t).expect("a time"),
                by: "web-1".to_owned(),
                superseded_seq: None,
            },
            file: "web-1.witness".to_owned(),
            line: usize::try_from(t).expect("small"),
        }
    }

    fn log(records: Vec<Located>) -> WitnessLog {
        WitnessLog {
            files: vec![("web-1.witness".to_owned(), records)],
            bad: vec![],
        }
    }

    /// The MACs of a log of `end` entries on `chain`.
    fn macs(end: i64, chain: u8) -> HashMap<i64, String> {
        (1..=end).map(|s| (s, mac(s, chain))).collect()
    }

    use RecordKind::*;

    #[test]
    fn a_log_that_reaches_the_witness_is_current() {
        let w = log(vec![at(5, Checkpoint, 1, 1), at(9, Checkpoint, 1, 2)]);
        let f = judge(12, &macs(12, 1), &w);
        assert_eq!(f.state, WitnessState::Current { unconfirmed: 3 });
        assert!(!f.is_broken() && !f.is_older_copy());
    }

    #[test]
    fn a_cut_tail_and_a_wiped_log_are_behind_and_broken() {
        let w = log(vec![at(5, Checkpoint, 1, 1), at(9, Checkpoint, 1, 2)]);
        let f = judge(6, &macs(6, 1), &w);
        assert!(matches!(
            f.state,
            WitnessState::Behind {
                missing: 3,
                backup: None
            }
        ));
        assert!(f.is_broken());
        let f = judge(0, &HashMap::new(), &w);
        assert!(matches!(
            f.state,
            WitnessState::Behind {
                missing: 9,
                backup: None
            }
        ));
    }

    #[test]
    fn a_log_ending_at_a_recorded_backup_is_an_older_copy() {
        let w = log(vec![
            at(5, Checkpoint, 1, 1),
            at(7, Backup, 1, 2),
            at(9, Checkpoint, 1, 3),
        ]);
        let f = judge(7, &macs(7, 1), &w);
        assert!(f.is_older_copy() && !f.is_broken(), "{f:?}");
        assert!(matches!(f.state, WitnessState::Behind { missing: 2, .. }));
    }

    #[test]
    fn a_replaced_log_diverges_even_when_it_grew_past_the_witness() {
        let w = log(vec![at(5, Checkpoint, 1, 1), at(9, Checkpoint, 1, 2)]);
        let f = judge(20, &macs(20, 2), &w);
        assert!(
            matches!(f.state, WitnessState::Diverged { seq: 9, .. }),
            "{f:?}"
        );
        assert!(f.is_broken());
    }

    #[test]
    fn a_drop_inside_one_file_keeps_the_high_water_mark_as_evidence() {
        // The server saw entry 9, then (after a truncation to 4) entry 4 and on to 12 on
        // the regrown chain: entry 9 of the log is no longer the one it saw.
        let mut regrown = macs(12, 2);
        for s in 1..=4 {
            regrown.insert(s, mac(s, 1));
        }
        let w = log(vec![
            at(9, Checkpoint, 1, 1),
            at(4, Checkpoint, 1, 2),
            at(12, Checkpoint, 2, 3),
        ]);
        assert_eq!(check_set(&w).len(), 2);
        let f = judge(12, &regrown, &w);
        assert!(
            matches!(f.state, WitnessState::Diverged { seq: 9, .. }),
            "{f:?}"
        );
    }

    #[test]
    fn a_replacement_marked_at_the_same_number_is_checked() {
        // The server saw entry 9, then found another entry 9 there, then went on to 12.
        let w = log(vec![
            at(9, Checkpoint, 1, 1),
            at(9, Checkpoint, 2, 2),
            at(12, Checkpoint, 2, 3),
        ]);
        let f = judge(12, &macs(12, 2), &w);
        assert!(
            matches!(f.state, WitnessState::Diverged { seq: 9, .. }),
            "{f:?}"
        );
        // An emptied log recorded as entry 0 keeps the high-water mark before it checked.
        let w = log(vec![
            at(9, Checkpoint, 1, 1),
            at(0, Checkpoint, 2, 2),
            at(15, Checkpoint, 2, 3),
        ]);
        let f = judge(15, &macs(15, 2), &w);
        assert!(
            matches!(f.state, WitnessState::Diverged { seq: 9, .. }),
            "{f:?}"
        );
    }

    #[test]
    fn an_empty_witness_says_so_and_bad_lines_are_broken() {
        let mut w = log(vec![]);
        assert_eq!(judge(3, &macs(3, 1), &w).state, WitnessState::Empty);
        w.bad.push(BadLine {
            file: "web-1.witness".to_owned(),
            line: 1,
        });
        assert!(judge(3, &macs(3, 1), &w).is_broken());
    }
}
