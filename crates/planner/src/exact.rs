//! Exhaustive branch and bound over a set of "free" pairs, the rest held fixed: client by
//! client, each client takes one of its feasible schedules (sets of free pairs that overlap
//! neither each other nor the client's fixed pairs, under the weekly cap). Pruned by group
//! capacities, separations, minimum sizes that can no longer be reached, and an optimistic
//! bound (every remaining client gets their best schedule).
//!
//! Used on a whole small component (all pairs free; a finished search proves the component
//! optimal), and as the exact step of large-neighbourhood search (the pairs of a few groups,
//! or of those groups' members within them, free; everything else fixed, and the members
//! held in place count towards the groups' sizes).

use std::time::Instant;

use crate::model::Model;

/// Above this many schedules for one client the search is not attempted.
const MAX_SCHEDULES: usize = 512;

/// A client's free pairs and the fixed context they must fit around.
pub(crate) struct FreeClient {
    pub client: usize,
    pub pairs: Vec<usize>,
    /// Minutes the client already holds in fixed pairs.
    pub fixed_minutes: i64,
}

struct Search<'a> {
    m: &'a Model,
    schedules: Vec<Vec<(i64, Vec<u32>)>>,
    optimistic: Vec<i64>,
    groups: Vec<usize>,
    /// reach[d][k]: clients at depth ≥ d who could join `groups[k]`.
    reach: Vec<Vec<u32>>,
    group_slot: Vec<u32>,
    size: Vec<u32>,
    x: Vec<bool>,
    chosen: Vec<u32>,
    best: i64,
    best_set: Option<Vec<u32>>,
    nodes: u64,
    node_limit: u64,
    deadline: Instant,
    aborted: bool,
}

fn schedules_of(m: &Model, f: &FreeClient, fixed: &[bool]) -> Option<Vec<(i64, Vec<u32>)>> {
    let c = f.client;
    // Free pairs that clash with a fixed pair of the same client can never be taken.
    let usable: Vec<usize> = f
        .pairs
        .iter()
        .copied()
        .filter(|&p| !m.overlapping(p).any(|q| fixed[q]))
        .collect();
    let mut out = Vec::new();
    let mut set = Vec::new();
    #[allow(clippy::too_many_arguments, reason = "a local recursive helper")]
    fn rec(
        m: &Model,
        c: usize,
        pairs: &[usize],
        i: usize,
        minutes: i64,
        gain: i64,
        set: &mut Vec<u32>,
        out: &mut Vec<(i64, Vec<u32>)>,
    ) -> bool {
        if i == pairs.len() {
            if out.len() >= MAX_SCHEDULES {
                return false;
            }
            out.push((gain + m.unmet_value(c, minutes), set.clone()));
            return true;
        }
        let p = pairs[i];
        if minutes + m.p_minutes[p] <= m.c_max[c] && !set.iter().any(|&q| m.overlaps(p, q as usize))
        {
            set.push(p as u32);
            let ok = rec(
                m,
                c,
                pairs,
                i + 1,
                minutes + m.p_minutes[p],
                gain + m.p_gain[p],
                set,
                out,
            );
            set.pop();
            if !ok {
                return false;
            }
        }
        rec(m, c, pairs, i + 1, minutes, gain, set, out)
    }
    if !rec(m, c, &usable, 0, f.fixed_minutes, 0, &mut set, &mut out) {
        return None;
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Some(out)
}

impl Search<'_> {
    fn dfs(&mut self, depth: usize, value: i64) {
        if self.aborted {
            return;
        }
        self.nodes += 1;
        if self.nodes > self.node_limit
            || (self.nodes.is_multiple_of(65_536) && Instant::now() >= self.deadline)
        {
            self.aborted = true;
            return;
        }
        if value + self.optimistic[depth] <= self.best {
            return;
        }
        // A group started but unable to reach its minimum with the clients left.
        for (k, &g) in self.groups.iter().enumerate() {
            let s = self.size[k];
            if s > 0 && s < self.m.g_min[g] && s + self.reach[depth][k] < self.m.g_min[g] {
                return;
            }
        }
        if depth == self.schedules.len() {
            self.best = value;
            self.best_set = Some(self.chosen.clone());
            return;
        }
        for k in 0..self.schedules[depth].len() {
            let v = self.schedules[depth][k].0;
            if value + v + self.optimistic[depth + 1] <= self.best {
                break; // schedules are sorted by value
            }
            let ok = self.schedules[depth][k].1.iter().all(|&p| {
                let p = p as usize;
                let slot = self.group_slot[self.m.p_group[p] as usize] as usize;
                self.size[slot] < self.m.g_max[self.groups[slot]]
                    && !self.m.p_sep[p].iter().any(|&q| self.x[q as usize])
            });
            if !ok {
                continue;
            }
            let n = self.schedules[depth][k].1.len();
            for i in 0..n {
                let p = self.schedules[depth][k].1[i] as usize;
                self.x[p] = true;
                self.chosen.push(p as u32);
                self.size[self.group_slot[self.m.p_group[p] as usize] as usize] += 1;
            }
            self.dfs(depth + 1, value + v);
            for _ in 0..n {
                if let Some(p) = self.chosen.pop() {
                    let p = p as usize;
                    self.x[p] = false;
                    self.size[self.group_slot[self.m.p_group[p] as usize] as usize] -= 1;
                }
            }
            if self.aborted {
                return;
            }
        }
    }
}

/// The outcome of [`search`].
pub(crate) struct Found {
    /// The better set of free pairs to take, if one was found.
    pub pairs: Option<Vec<u32>>,
    /// Value of the free part of the best solution known (the incumbent's if none better).
    pub value: i64,
    /// The search finished: nothing better than `value` exists.
    pub complete: bool,
}

/// Look for a choice of free pairs worth more than `incumbent` (the value, in the same
/// terms, of the free pairs currently taken: Σ gain + each free client's unmet value).
/// `fixed` marks the pairs held (free pairs must be unmarked in it). Returns `None` when a
/// client has too many schedules to enumerate.
#[allow(clippy::too_many_arguments, reason = "the search's whole context")]
pub(crate) fn search(
    m: &Model,
    free: &[FreeClient],
    fixed: &[bool],
    groups: &[usize],
    incumbent: i64,
    node_limit: u64,
    deadline: Instant,
    group_slot: &mut Vec<u32>,
) -> Option<Found> {
    let mut per_client = Vec::with_capacity(free.len());
    for f in free {
        per_client.push((f.client, schedules_of(m, f, fixed)?));
    }
    // Most constrained clients (fewest schedules) first.
    per_client.sort_by_key(|(c, s)| (s.len(), *c));
    let schedules: Vec<Vec<(i64, Vec<u32>)>> = per_client.into_iter().map(|(_, s)| s).collect();
    group_slot.clear();
    group_slot.resize(m.n_groups(), u32::MAX);
    for (k, &g) in groups.iter().enumerate() {
        group_slot[g] = k as u32;
    }
    let n = schedules.len();
    let mut optimistic = vec![0i64; n + 1];
    let mut reach = vec![vec![0u32; groups.len()]; n + 1];
    for d in (0..n).rev() {
        optimistic[d] = optimistic[d + 1] + schedules[d].first().map_or(0, |s| s.0);
        reach[d] = reach[d + 1].clone();
        let mut seen = Vec::new();
        for (_, set) in &schedules[d] {
            for &p in set {
                let k = group_slot[m.p_group[p as usize] as usize] as usize;
                if !seen.contains(&k) {
                    seen.push(k);
                    reach[d][k] += 1;
                }
            }
        }
    }
    let mut s = Search {
        m,
        schedules,
        optimistic,
        groups: groups.to_vec(),
        reach,
        group_slot: std::mem::take(group_slot),
        // Members held in place count towards each group's sizes.
        size: groups
            .iter()
            .map(|&g| m.g_pairs[g].iter().filter(|&&q| fixed[q as usize]).count() as u32)
            .collect(),
        x: fixed.to_vec(),
        chosen: Vec::new(),
        best: incumbent,
        best_set: None,
        nodes: 0,
        node_limit,
        deadline,
        aborted: false,
    };
    s.dfs(0, 0);
    *group_slot = std::mem::take(&mut s.group_slot);
    Some(Found {
        pairs: s.best_set,
        value: s.best,
        complete: !s.aborted,
    })
}

/// Components above this many pairs are not searched exhaustively.
const MAX_PAIRS: usize = 120;

/// Search a whole component. Returns `None` when it is too large to try; otherwise the best
/// solution found (the incumbent if nothing better), its value, and whether the search
/// finished (then that value is optimal).
pub(crate) fn branch_and_bound(
    m: &Model,
    incumbent: &[bool],
    incumbent_value: i64,
    deadline: Instant,
) -> Option<(Vec<bool>, i64, bool)> {
    if m.n_pairs() > MAX_PAIRS {
        return None;
    }
    let free: Vec<FreeClient> = (0..m.n_clients())
        .map(|c| FreeClient {
            client: c,
            pairs: m.pairs_of(c).collect(),
            fixed_minutes: 0,
        })
        .collect();
    let fixed = vec![false; m.n_pairs()];
    let groups: Vec<usize> = (0..m.n_groups()).collect();
    let found = search(
        m,
        &free,
        &fixed,
        &groups,
        incumbent_value,
        3_000_000,
        deadline,
        &mut Vec::new(),
    )?;
    let x = match found.pairs {
        Some(pairs) => {
            let mut x = vec![false; m.n_pairs()];
            for p in pairs {
                x[p as usize] = true;
            }
            x
        }
        None => incumbent.to_vec(),
    };
    Some((x, found.value, found.complete))
}
