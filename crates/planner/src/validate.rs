//! Validation: an [`Instance`] becomes a [`Problem`] (ids resolved to indices, every rule of
//! FORMAT.md that a file can break checked once). A `Problem` that exists is valid; the
//! scorer and the solver take nothing else.

use std::collections::{HashMap, HashSet};

use crate::format::{INSTANCE_FORMAT, Instance};

/// Upper limit on minute counts and weights, so that no sum can overflow `i64`.
const MAX_QUANTITY: i64 = 1_000_000;

/// Why an instance was refused. Each variant names the offending item by id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("format is {found:?}, expected \"circle-placement/1\"")]
    WrongFormat { found: String },
    #[error("weight {name} must be between 0 and {MAX_QUANTITY}")]
    WeightOutOfRange { name: &'static str },
    #[error("group id {id:?} appears more than once")]
    DuplicateGroup { id: String },
    #[error("client id {id:?} appears more than once")]
    DuplicateClient { id: String },
    #[error("group {group:?}: {field} must not be negative")]
    NegativeSize { group: String, field: &'static str },
    #[error("group {group:?}: min_size {min_size} is larger than max_size {max_size}")]
    MinAboveMax {
        group: String,
        min_size: i64,
        max_size: i64,
    },
    #[error("group {group:?}, meeting {index}: {rule}")]
    BadMeeting {
        group: String,
        index: usize,
        rule: &'static str,
    },
    #[error("client {client:?}: {field} must be between 0 and {MAX_QUANTITY}")]
    MinutesOutOfRange { client: String, field: &'static str },
    #[error("{context} names unknown client {id:?}")]
    UnknownClient { context: String, id: String },
    #[error("{context} names unknown group {id:?}")]
    UnknownGroup { context: String, id: String },
    #[error("eligible pair ({client:?}, {group:?}) is listed more than once")]
    DuplicateEligible { client: String, group: String },
    #[error("eligible pair ({client:?}, {group:?}): fit {fit} is outside 0-100")]
    FitOutOfRange {
        client: String,
        group: String,
        fit: i64,
    },
    #[error("client {client:?} lists current group {group:?} more than once")]
    DuplicateCurrent { client: String, group: String },
    #[error("group {group:?} lists member {client:?} more than once")]
    DuplicateMember { group: String, client: String },
    #[error(
        "group {group:?} and client {client:?} disagree: the placement is listed on one side only (members vs current)"
    )]
    MembershipMismatch { group: String, client: String },
    #[error("separation pairs client {client:?} with themself")]
    SelfSeparation { client: String },
}

/// An eligible (client, group) pair by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub client: usize,
    pub group: usize,
    pub fit: i64,
}

/// A validated instance with ids resolved to indices.
#[derive(Debug, Clone)]
pub struct Problem {
    pub instance: Instance,
    pub client_index: HashMap<String, usize>,
    pub group_index: HashMap<String, usize>,
    /// Eligible pairs in input order.
    pub pairs: Vec<Pair>,
    /// Each client's eligible pairs as (group, pair index), sorted by group, client `c`'s
    /// at `client_pairs[client_start[c]..client_start[c + 1]]`: a lookup is a binary search
    /// among a client's few dozen options, and building it sorts instead of hashing
    /// (hashing half a million pairs was the largest single cost of reading an instance).
    client_start: Vec<usize>,
    client_pairs: Vec<(usize, usize)>,
    /// Total weekly minutes of each group (sum of its meetings).
    pub group_minutes: Vec<i64>,
    /// Current placements per client, as group indices (eligible or not).
    pub current: Vec<Vec<usize>>,
    /// Separation pairs by client index, deduplicated, smaller index first.
    pub separations: Vec<(usize, usize)>,
}

impl Problem {
    /// Validate `instance` and index it.
    pub fn new(instance: Instance) -> Result<Problem, ValidationError> {
        use ValidationError as E;
        if instance.format != INSTANCE_FORMAT {
            return Err(E::WrongFormat {
                found: instance.format.clone(),
            });
        }
        let w = instance.weights;
        if !(0..=MAX_QUANTITY).contains(&w.unmet_minute) {
            return Err(E::WeightOutOfRange {
                name: "unmet_minute",
            });
        }
        if !(0..=MAX_QUANTITY).contains(&w.continuity_break) {
            return Err(E::WeightOutOfRange {
                name: "continuity_break",
            });
        }
        let mut group_index = HashMap::with_capacity(instance.groups.len());
        let mut group_minutes = Vec::with_capacity(instance.groups.len());
        for (i, g) in instance.groups.iter().enumerate() {
            if group_index.insert(g.id.clone(), i).is_some() {
                return Err(E::DuplicateGroup { id: g.id.clone() });
            }
            for (field, v) in [("min_size", g.min_size), ("max_size", g.max_size)] {
                if v < 0 {
                    return Err(E::NegativeSize {
                        group: g.id.clone(),
                        field,
                    });
                }
            }
            if g.min_size > g.max_size {
                return Err(E::MinAboveMax {
                    group: g.id.clone(),
                    min_size: g.min_size,
                    max_size: g.max_size,
                });
            }
            let mut total = 0;
            for (index, m) in g.meetings.iter().enumerate() {
                let rule = if !(0..=6).contains(&m.day) {
                    Some("day must be 0 (Monday) to 6")
                } else if !(0..1440).contains(&m.start) {
                    Some("start must be 0 to 1439 minutes after midnight")
                } else if m.minutes < 0 {
                    Some("minutes must not be negative")
                } else if m.minutes == 0 || m.minutes > 1440 {
                    Some("minutes must be 1 to 1440")
                } else {
                    None
                };
                if let Some(rule) = rule {
                    return Err(E::BadMeeting {
                        group: g.id.clone(),
                        index,
                        rule,
                    });
                }
                total += m.minutes;
            }
            group_minutes.push(total);
        }
        let mut client_index = HashMap::with_capacity(instance.clients.len());
        for (i, c) in instance.clients.iter().enumerate() {
            if client_index.insert(c.id.clone(), i).is_some() {
                return Err(E::DuplicateClient { id: c.id.clone() });
            }
            for (field, v) in [
                ("required_minutes", c.required_minutes),
                ("max_minutes", c.max_minutes),
            ] {
                if !(0..=MAX_QUANTITY).contains(&v) {
                    return Err(E::MinutesOutOfRange {
                        client: c.id.clone(),
                        field,
                    });
                }
            }
        }
        let find_client = |id: &str, context: &dyn Fn() -> String| {
            client_index
                .get(id)
                .copied()
                .ok_or_else(|| E::UnknownClient {
                    context: context(),
                    id: id.to_owned(),
                })
        };
        let find_group = |id: &str, context: &dyn Fn() -> String| {
            group_index.get(id).copied().ok_or_else(|| E::UnknownGroup {
                context: context(),
                id: id.to_owned(),
            })
        };

        let mut current = vec![Vec::new(); instance.clients.len()];
        let mut placed = HashSet::new();
        for (ci, c) in instance.clients.iter().enumerate() {
            for gid in &c.current {
                let gi = find_group(gid, &|| format!("current placements of client {:?}", c.id))?;
                if !placed.insert((ci, gi)) {
                    return Err(E::DuplicateCurrent {
                        client: c.id.clone(),
                        group: gid.clone(),
                    });
                }
                current[ci].push(gi);
            }
        }
        let mut listed = HashSet::new();
        for (gi, g) in instance.groups.iter().enumerate() {
            for cid in &g.members {
                let ci = find_client(cid, &|| format!("members of group {:?}", g.id))?;
                if !listed.insert((ci, gi)) {
                    return Err(E::DuplicateMember {
                        group: g.id.clone(),
                        client: cid.clone(),
                    });
                }
                if !placed.contains(&(ci, gi)) {
                    return Err(E::MembershipMismatch {
                        group: g.id.clone(),
                        client: cid.clone(),
                    });
                }
            }
        }
        if let Some(&(ci, gi)) = placed.iter().filter(|p| !listed.contains(p)).min() {
            return Err(E::MembershipMismatch {
                group: instance.groups[gi].id.clone(),
                client: instance.clients[ci].id.clone(),
            });
        }

        let mut pairs = Vec::with_capacity(instance.eligible.len());
        // The first bad entry ends the reading; a duplicate before it is reported instead,
        // so the error is always about the earliest entry at fault.
        let mut entry_error = None;
        for (i, e) in instance.eligible.iter().enumerate() {
            let context = || format!("eligible entry {i}");
            let found = find_client(&e.client, &context)
                .and_then(|client| find_group(&e.group, &context).map(|group| (client, group)));
            let (client, group) = match found {
                Ok(pair) => pair,
                Err(err) => {
                    entry_error = Some(err);
                    break;
                }
            };
            if !(0..=100).contains(&e.fit) {
                entry_error = Some(E::FitOutOfRange {
                    client: e.client.clone(),
                    group: e.group.clone(),
                    fit: e.fit,
                });
                break;
            }
            pairs.push(Pair {
                client,
                group,
                fit: e.fit,
            });
        }
        let mut client_start = vec![0usize; instance.clients.len() + 1];
        for p in &pairs {
            client_start[p.client + 1] += 1;
        }
        for c in 0..instance.clients.len() {
            client_start[c + 1] += client_start[c];
        }
        let mut client_pairs = vec![(0, 0); pairs.len()];
        let mut next = client_start.clone();
        for (i, p) in pairs.iter().enumerate() {
            client_pairs[next[p.client]] = (p.group, i);
            next[p.client] += 1;
        }
        // Sorted by group, then input order: a repeated pair's later entries follow its first.
        let mut repeated: Option<usize> = None;
        for c in 0..instance.clients.len() {
            let own = &mut client_pairs[client_start[c]..client_start[c + 1]];
            own.sort_unstable();
            for w in own.windows(2) {
                if w[0].0 == w[1].0 {
                    repeated = Some(repeated.map_or(w[1].1, |r| r.min(w[1].1)));
                }
            }
        }
        if let Some(i) = repeated {
            let e = &instance.eligible[i];
            return Err(E::DuplicateEligible {
                client: e.client.clone(),
                group: e.group.clone(),
            });
        }
        if let Some(err) = entry_error {
            return Err(err);
        }

        let mut separations = Vec::with_capacity(instance.separations.len());
        for (i, [a, b]) in instance.separations.iter().enumerate() {
            let context = || format!("separation {i}");
            let a = find_client(a, &context)?;
            let b = find_client(b, &context)?;
            if a == b {
                return Err(E::SelfSeparation {
                    client: instance.clients[a].id.clone(),
                });
            }
            separations.push((a.min(b), a.max(b)));
        }
        separations.sort_unstable();
        separations.dedup();

        Ok(Problem {
            instance,
            client_index,
            group_index,
            pairs,
            client_start,
            client_pairs,
            group_minutes,
            current,
            separations,
        })
    }

    /// The index in [`Problem::pairs`] of the eligible pair (`client`, `group`), if listed.
    pub fn pair(&self, client: usize, group: usize) -> Option<usize> {
        let (&from, &to) = (
            self.client_start.get(client)?,
            self.client_start.get(client + 1)?,
        );
        let own = &self.client_pairs[from..to];
        own.binary_search_by_key(&group, |&(g, _)| g)
            .ok()
            .map(|k| own[k].1)
    }

    /// Whether two groups have meetings that overlap in time.
    pub fn groups_overlap(&self, a: usize, b: usize) -> bool {
        let ga = &self.instance.groups[a].meetings;
        let gb = &self.instance.groups[b].meetings;
        ga.iter().any(|m| gb.iter().any(|n| m.overlaps(n)))
    }
}
