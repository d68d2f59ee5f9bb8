//! Exhaustive branch and bound for small components: client by client, each client takes
//! one of its feasible schedules (sets of non-overlapping eligible groups under the weekly
//! cap). Pruned by group capacities, separations, minimum sizes that can no longer be
//! reached, and an optimistic bound (every remaining client gets their best schedule).
//! When the search finishes, the component's optimum is proven.

use std::time::Instant;

use crate::model::Model;

/// Components above these sizes are not searched exhaustively.
const MAX_PAIRS: usize = 120;
const MAX_SCHEDULES: usize = 512;
const MAX_NODES: u64 = 3_000_000;

struct Search<'a> {
    m: &'a Model,
    /// Feasible schedules of each client (in search order), best value first.
    schedules: Vec<Vec<(i64, Vec<u32>)>>,
    order: Vec<usize>,
    /// Sum of the best schedule values of clients at depth ≥ d.
    optimistic: Vec<i64>,
    /// How many clients at depth ≥ d could join group g.
    reach: Vec<Vec<u32>>,
    size: Vec<u32>,
    x: Vec<bool>,
    best: i64,
    best_x: Option<Vec<bool>>,
    nodes: u64,
    deadline: Instant,
    aborted: bool,
}

fn schedules_of(m: &Model, c: usize) -> Option<Vec<(i64, Vec<u32>)>> {
    let pairs: Vec<usize> = m.pairs_of(c).collect();
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
        if minutes + m.p_minutes[p] <= m.c_max[c]
            && !set.iter().any(|&q| m.p_overlap[p].contains(&q))
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
    if !rec(m, c, &pairs, 0, 0, 0, &mut set, &mut out) {
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
        if self.nodes > MAX_NODES
            || (self.nodes.is_multiple_of(65_536) && Instant::now() >= self.deadline)
        {
            self.aborted = true;
            return;
        }
        if value + self.optimistic[depth] <= self.best {
            return;
        }
        // A group started but unable to reach its minimum with the clients left.
        for g in 0..self.m.n_groups() {
            let s = self.size[g];
            if s > 0 && s < self.m.g_min[g] && s + self.reach[depth][g] < self.m.g_min[g] {
                return;
            }
        }
        if depth == self.order.len() {
            self.best = value;
            self.best_x = Some(self.x.clone());
            return;
        }
        let c = self.order[depth];
        for k in 0..self.schedules[depth].len() {
            let (v, ref set) = self.schedules[depth][k];
            if value + v + self.optimistic[depth + 1] <= self.best {
                break; // schedules are sorted by value
            }
            let ok = set.iter().all(|&p| {
                let p = p as usize;
                let g = self.m.p_group[p] as usize;
                self.size[g] < self.m.g_max[g]
                    && !self.m.p_sep[p].iter().any(|&q| self.x[q as usize])
            });
            if !ok {
                continue;
            }
            let set = set.clone();
            for &p in &set {
                self.x[p as usize] = true;
                self.size[self.m.p_group[p as usize] as usize] += 1;
            }
            self.dfs(depth + 1, value + v);
            for &p in &set {
                self.x[p as usize] = false;
                self.size[self.m.p_group[p as usize] as usize] -= 1;
            }
            if self.aborted {
                return;
            }
        }
        let _ = c;
    }
}

/// Search the component exhaustively for something better than `incumbent_value`.
/// Returns `None` when the component is too large to try; otherwise the best solution
/// found (the incumbent if nothing better), its value, and whether the search finished
/// (then that value is optimal).
pub(crate) fn branch_and_bound(
    m: &Model,
    incumbent: &[bool],
    incumbent_value: i64,
    deadline: Instant,
) -> Option<(Vec<bool>, i64, bool)> {
    if m.n_pairs() > MAX_PAIRS {
        return None;
    }
    // Most constrained clients (fewest schedules) first.
    let mut per_client = Vec::with_capacity(m.n_clients());
    for c in 0..m.n_clients() {
        per_client.push((c, schedules_of(m, c)?));
    }
    per_client.sort_by_key(|(c, s)| (s.len(), *c));
    let order: Vec<usize> = per_client.iter().map(|(c, _)| *c).collect();
    let schedules: Vec<Vec<(i64, Vec<u32>)>> = per_client.into_iter().map(|(_, s)| s).collect();
    let n = order.len();
    let mut optimistic = vec![0i64; n + 1];
    let mut reach = vec![vec![0u32; m.n_groups()]; n + 1];
    for d in (0..n).rev() {
        optimistic[d] = optimistic[d + 1] + schedules[d].first().map_or(0, |s| s.0);
        reach[d] = reach[d + 1].clone();
        for p in m.pairs_of(order[d]) {
            reach[d][m.p_group[p] as usize] += 1;
        }
    }
    let mut search = Search {
        m,
        schedules,
        order,
        optimistic,
        reach,
        size: vec![0; m.n_groups()],
        x: vec![false; m.n_pairs()],
        best: incumbent_value,
        best_x: None,
        nodes: 0,
        deadline,
        aborted: false,
    };
    search.dfs(0, 0);
    let done = !search.aborted;
    match search.best_x {
        Some(x) => Some((x, search.best, done)),
        None => Some((incumbent.to_vec(), incumbent_value, done)),
    }
}
