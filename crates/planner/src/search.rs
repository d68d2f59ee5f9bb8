//! Construction and local search on one component.
//!
//! The state is always feasible between moves (every group empty or within its sizes, no
//! overlap, cap or separation broken). A move is applied through a journal and undone if
//! the annealing rule rejects it, so each move's score change is computed by the same code
//! that maintains the state rather than by a second, separately written formula.
//!
//! Moves: insert a pair (removing the client's own overlapping pairs, and if the group is
//! full evicting one member who then takes their best free option — an ejection chain of
//! length two), drop a pair (and take the best other option), open an empty group by
//! filling it to its minimum with the clients who gain most, and close a group (its
//! members re-placed greedily).

use crate::model::Model;
use crate::rng::Rng;

#[derive(Debug, Clone)]
pub(crate) struct State<'m> {
    m: &'m Model,
    pub x: Vec<bool>,
    pub g_size: Vec<u32>,
    g_members: Vec<Vec<u32>>,
    pos: Vec<u32>,
    pub c_minutes: Vec<i64>,
    /// Each client's pairs in the state, in increasing order (a handful per client): the
    /// overlap test runs against these instead of a per-pair counter that every move would
    /// have to update across all of the client's overlapping options.
    held: Vec<Vec<u32>>,
    cnt_sep: Vec<u32>,
    pub value: i64,
    journal: Vec<(u32, bool)>,
}

/// How an ejection chain ends in the last group it frees a seat in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// The seat stays free.
    Free,
    /// The best client able to take it enters.
    Enter,
    /// The last move takes out a member whose separation kept a client out; that client
    /// (or a better one) enters.
    Separated,
}

impl<'m> State<'m> {
    pub fn empty(m: &'m Model) -> State<'m> {
        let value = (0..m.n_clients()).map(|c| m.unmet_value(c, 0)).sum();
        State {
            m,
            x: vec![false; m.n_pairs()],
            g_size: vec![0; m.n_groups()],
            g_members: vec![Vec::new(); m.n_groups()],
            pos: vec![0; m.n_pairs()],
            c_minutes: vec![0; m.n_clients()],
            held: vec![Vec::new(); m.n_clients()],
            cnt_sep: vec![0; m.n_pairs()],
            value,
            journal: Vec::new(),
        }
    }

    /// Build the state holding exactly the pairs marked in `x` (which must be feasible).
    pub fn from_pairs(m: &'m Model, x: &[bool]) -> State<'m> {
        let mut s = State::empty(m);
        for (p, &on) in x.iter().enumerate() {
            if on {
                s.add(p);
            }
        }
        s.journal.clear();
        s
    }

    fn add(&mut self, p: usize) {
        let m = self.m;
        debug_assert!(!self.x[p]);
        let c = m.p_client[p] as usize;
        let g = m.p_group[p] as usize;
        self.x[p] = true;
        self.g_size[g] += 1;
        self.pos[p] = self.g_members[g].len() as u32;
        self.g_members[g].push(p as u32);
        let before = m.unmet_value(c, self.c_minutes[c]);
        self.c_minutes[c] += m.p_minutes[p];
        self.value += m.p_gain[p] + m.unmet_value(c, self.c_minutes[c]) - before;
        let held = &mut self.held[c];
        let at = held.partition_point(|&q| (q as usize) < p);
        held.insert(at, p as u32);
        for &q in &m.p_sep[p] {
            self.cnt_sep[q as usize] += 1;
        }
        self.journal.push((p as u32, true));
    }

    fn remove(&mut self, p: usize) {
        let m = self.m;
        debug_assert!(self.x[p]);
        let c = m.p_client[p] as usize;
        let g = m.p_group[p] as usize;
        self.x[p] = false;
        self.g_size[g] -= 1;
        let i = self.pos[p] as usize;
        let members = &mut self.g_members[g];
        members.swap_remove(i);
        if let Some(&moved) = members.get(i) {
            self.pos[moved as usize] = i as u32;
        }
        let before = m.unmet_value(c, self.c_minutes[c]);
        self.c_minutes[c] -= m.p_minutes[p];
        self.value += m.unmet_value(c, self.c_minutes[c]) - before - m.p_gain[p];
        let held = &mut self.held[c];
        if let Ok(at) = held.binary_search(&(p as u32)) {
            held.remove(at);
        }
        for &q in &m.p_sep[p] {
            self.cnt_sep[q as usize] -= 1;
        }
        self.journal.push((p as u32, false));
    }

    fn undo_to(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let Some((p, added)) = self.journal.pop() else {
                break;
            };
            if added {
                self.remove(p as usize);
            } else {
                self.add(p as usize);
            }
            self.journal.pop();
        }
    }

    /// How many of the client's pairs in the state overlap `p` (not counting `p`).
    fn clashes(&self, p: usize) -> u32 {
        self.held_overlapping(p).count() as u32
    }

    /// The client's pairs in the state that overlap `p`, in increasing order.
    fn held_overlapping(&self, p: usize) -> impl Iterator<Item = usize> + '_ {
        let c = self.m.p_client[p] as usize;
        self.held[c]
            .iter()
            .map(|&q| q as usize)
            .filter(move |&q| self.m.overlaps(p, q))
    }

    /// Take out the client's pairs that overlap `p`, in increasing order; false (with those
    /// before it already taken out) at the first that may not leave its group.
    fn clear_overlaps(&mut self, p: usize) -> bool {
        let c = self.m.p_client[p] as usize;
        let mut i = 0;
        while let Some(&r) = self.held[c].get(i) {
            let r = r as usize;
            if !self.m.overlaps(p, r) {
                i += 1;
                continue;
            }
            if !self.removable(r) {
                return false;
            }
            // Removing `r` shifts the later pairs down into position `i`.
            self.remove(r);
        }
        true
    }

    /// Whether the client side allows `p`: no overlap, no separation, under the cap.
    pub fn client_ok(&self, p: usize) -> bool {
        let c = self.m.p_client[p] as usize;
        self.clashes(p) == 0
            && self.cnt_sep[p] == 0
            && self.c_minutes[c] + self.m.p_minutes[p] <= self.m.c_max[c]
    }

    /// Whether one more member keeps group `g` feasible.
    pub fn group_room(&self, g: usize) -> bool {
        let s = self.g_size[g];
        s < self.m.g_max[g] && (s > 0 || self.m.g_min[g] <= 1)
    }

    fn removable(&self, p: usize) -> bool {
        let g = self.m.p_group[p] as usize;
        let s = self.g_size[g] - 1;
        s == 0 || s >= self.m.g_min[g]
    }

    fn delta_add(&self, p: usize) -> i64 {
        let m = self.m;
        let c = m.p_client[p] as usize;
        let mins = self.c_minutes[c];
        m.p_gain[p] + m.unmet_value(c, mins + m.p_minutes[p]) - m.unmet_value(c, mins)
    }

    /// The feasible insertion of client `c` with the largest gain (not `except`).
    fn best_insert(&self, c: usize, except: usize) -> Option<(usize, i64)> {
        let mut best: Option<(usize, i64)> = None;
        for p in self.m.pairs_of(c) {
            if p == except || self.x[p] || !self.client_ok(p) {
                continue;
            }
            if !self.group_room(self.m.p_group[p] as usize) {
                continue;
            }
            let d = self.delta_add(p);
            if best.is_none_or(|(_, b)| d > b) {
                best = Some((p, d));
            }
        }
        best
    }

    /// Insert every positive-gain feasible pair, best first per client, until none is left.
    pub fn greedy_fill(&mut self) {
        loop {
            let mut changed = false;
            for c in 0..self.m.n_clients() {
                while let Some((p, d)) = self.best_insert(c, usize::MAX) {
                    if d <= 0 {
                        break;
                    }
                    self.add(p);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self.journal.clear();
    }

    /// Fill empty group `g` up to at least its minimum with the clients who gain most
    /// (each leaving their own overlapping groups when those stay feasible). Returns false,
    /// with nothing changed, when the minimum cannot be reached.
    fn open_group(&mut self, g: usize, rng: Option<&mut Rng>) -> bool {
        let m = self.m;
        let mark = self.journal.len();
        let mut cands: Vec<(i64, u32)> = Vec::with_capacity(m.g_pairs[g].len());
        for &q in &m.g_pairs[g] {
            let q = q as usize;
            if let Some(d) = self.join_estimate(q) {
                cands.push((d, q as u32));
            }
        }
        if let Some(rng) = rng {
            for c in &mut cands {
                c.0 += (rng.below(41) as i64) - 20;
            }
        }
        cands.sort_unstable_by(|a, b| b.cmp(a));
        let min = m.g_min[g].max(1);
        for &(_, q) in &cands {
            let q = q as usize;
            if self.g_size[g] >= m.g_max[g] {
                break;
            }
            let step = self.journal.len();
            let before = self.value;
            if !self.join(q) {
                self.undo_to(step);
                continue;
            }
            if self.g_size[g] > min && self.value < before {
                self.undo_to(step);
                break;
            }
        }
        if self.g_size[g] < min {
            self.undo_to(mark);
            return false;
        }
        true
    }

    /// Estimated gain of `q`'s client joining `q`'s group, leaving their overlapping pairs.
    fn join_estimate(&self, q: usize) -> Option<i64> {
        let m = self.m;
        if self.x[q] || self.cnt_sep[q] > 0 {
            return None;
        }
        let c = m.p_client[q] as usize;
        let mut mins = self.c_minutes[c];
        let mut gain = m.p_gain[q];
        for r in self.held_overlapping(q) {
            if !self.removable(r) {
                return None;
            }
            mins -= m.p_minutes[r];
            gain -= m.p_gain[r];
        }
        let new = mins + m.p_minutes[q];
        if new > m.c_max[c] {
            return None;
        }
        Some(gain + m.unmet_value(c, new) - m.unmet_value(c, self.c_minutes[c]))
    }

    /// Put `q` in, removing the client's overlapping pairs; ignores the group's minimum.
    fn join(&mut self, q: usize) -> bool {
        let m = self.m;
        if self.x[q] || self.cnt_sep[q] > 0 || !self.clear_overlaps(q) {
            return false;
        }
        let c = m.p_client[q] as usize;
        if self.c_minutes[c] + m.p_minutes[q] > m.c_max[c] {
            return false;
        }
        self.add(q);
        true
    }

    /// Start from current placements: keep the feasible ones, complete or close groups left
    /// under their minimum, then fill greedily and open groups that pay.
    pub fn construct(m: &'m Model, current: &[bool]) -> State<'m> {
        let mut s = State::empty(m);
        for (p, &was) in current.iter().enumerate() {
            let g = m.p_group[p] as usize;
            if was && s.client_ok(p) && s.g_size[g] < m.g_max[g] {
                s.add(p);
            }
        }
        s.journal.clear();
        s.settle_minimums();
        s
    }

    /// Start from the relaxation's wishes: pairs in order of value at the relaxation's
    /// seat prices, each taken if still feasible; groups left under their minimum are
    /// completed or emptied; then filled greedily.
    pub fn from_relaxation(m: &'m Model, wanted: &[bool], price: &[f64]) -> State<'m> {
        let mut s = State::empty(m);
        let mut order: Vec<(f64, usize)> = wanted
            .iter()
            .enumerate()
            .filter(|&(_, &w)| w)
            .map(|(p, _)| (m.p_gain[p] as f64 - price[m.p_group[p] as usize], p))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, p) in &order {
            let g = m.p_group[p] as usize;
            if s.client_ok(p) && s.g_size[g] < m.g_max[g] {
                s.add(p);
            }
        }
        s.journal.clear();
        s.settle_minimums();
        s
    }

    /// Complete or empty every group left under its minimum, then fill greedily and open
    /// groups that pay.
    fn settle_minimums(&mut self) {
        let m = self.m;
        for g in 0..m.n_groups() {
            let size = self.g_size[g];
            if size == 0 || size >= m.g_min[g] {
                continue;
            }
            let kept: Vec<u32> = self.g_members[g].clone();
            for &p in &kept {
                self.remove(p as usize);
            }
            self.journal.clear();
            let _ = self.open_group(g, None);
            self.journal.clear();
        }
        self.greedy_fill();
        for g in 0..m.n_groups() {
            if self.g_size[g] == 0 {
                let before = self.value;
                let mark = self.journal.len();
                if self.open_group(g, None) && self.value <= before {
                    self.undo_to(mark);
                }
                self.journal.clear();
            }
        }
        self.greedy_fill();
    }

    /// One large-neighbourhood step: free every pair of a few related groups (a random
    /// group and groups that share clients with it), search that part exhaustively with
    /// the rest held fixed, and take what it finds if strictly better. Returns whether the
    /// state improved.
    pub fn lns_step(
        &mut self,
        rng: &mut Rng,
        max_groups: usize,
        max_free: usize,
        node_limit: u64,
        deadline: std::time::Instant,
        scratch: &mut Vec<u32>,
    ) -> bool {
        let m = self.m;
        let g0 = m.p_group[rng.below(m.n_pairs())] as usize;
        let mut groups = vec![g0];
        let mut free_count = m.g_pairs[g0].len();
        if free_count > max_free {
            return false;
        }
        let mut cands: Vec<usize> = Vec::new();
        for &q in &m.g_pairs[g0] {
            for r in m.pairs_of(m.p_client[q as usize] as usize) {
                let h = m.p_group[r] as usize;
                if h != g0 && !cands.contains(&h) {
                    cands.push(h);
                }
            }
        }
        while groups.len() < max_groups && !cands.is_empty() {
            let h = cands.swap_remove(rng.below(cands.len()));
            if free_count + m.g_pairs[h].len() <= max_free {
                free_count += m.g_pairs[h].len();
                groups.push(h);
            }
        }
        let mut clients: Vec<usize> = groups
            .iter()
            .flat_map(|&g| {
                m.g_pairs[g]
                    .iter()
                    .map(|&q| m.p_client[q as usize] as usize)
            })
            .collect();
        clients.sort_unstable();
        clients.dedup();
        self.exact_step(&clients, &groups, node_limit, deadline, scratch)
    }

    /// Pairs kept out only by a separation: `(pair, the separated member's pair)` for every
    /// pair not taken whose group holds a member the client must be kept apart from.
    pub fn separation_blocks(&self) -> Vec<(usize, usize)> {
        let m = self.m;
        let mut out = Vec::new();
        for q in 0..m.n_pairs() {
            if self.x[q] || self.cnt_sep[q] == 0 {
                continue;
            }
            for &r in &m.p_sep[q] {
                if self.x[r as usize] {
                    out.push((q, r as usize));
                }
            }
        }
        out
    }

    /// One exact step around a separation: `q` (client a into group h) is blocked by `r`
    /// (b, whom a must be kept apart from, in h). Frees the members of h, of the groups a
    /// would leave to take h, and of the group b moves to along `b_to` (and those b would
    /// leave for it): "b moves on, a comes in, and the seats shuffle around them" — cycles
    /// that a chain, which enters each group once, cannot express.
    pub fn separation_step(
        &mut self,
        q: usize,
        r: usize,
        b_to: usize,
        node_limit: u64,
        deadline: std::time::Instant,
        scratch: &mut Vec<u32>,
    ) -> bool {
        let m = self.m;
        if self.x[q] || !self.x[r] || self.x[b_to] {
            return false;
        }
        let mut groups = vec![m.p_group[q] as usize];
        for t in [q, b_to] {
            let g = m.p_group[t] as usize;
            if !groups.contains(&g) {
                groups.push(g);
            }
            for o in self.held_overlapping(t) {
                let g = m.p_group[o] as usize;
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        }
        let mut clients: Vec<usize> = groups
            .iter()
            .flat_map(|&g| {
                self.g_members[g]
                    .iter()
                    .map(|&p| m.p_client[p as usize] as usize)
            })
            .chain([m.p_client[q] as usize])
            .collect();
        clients.sort_unstable();
        clients.dedup();
        self.exact_step(&clients, &groups, node_limit, deadline, scratch)
    }

    /// Free the pairs of `clients` in `groups`, search them exactly with every other pair
    /// held, and take what the search finds if strictly better.
    fn exact_step(
        &mut self,
        clients: &[usize],
        groups: &[usize],
        node_limit: u64,
        deadline: std::time::Instant,
        scratch: &mut Vec<u32>,
    ) -> bool {
        let m = self.m;
        let mut free: Vec<crate::exact::FreeClient> = Vec::new();
        let mut fixed = self.x.clone();
        let mut incumbent = 0;
        for &c in clients {
            let pairs: Vec<usize> = m
                .pairs_of(c)
                .filter(|&p| groups.contains(&(m.p_group[p] as usize)))
                .collect();
            let mut fixed_minutes = self.c_minutes[c];
            for &p in &pairs {
                if self.x[p] {
                    fixed[p] = false;
                    fixed_minutes -= m.p_minutes[p];
                    incumbent += m.p_gain[p];
                }
            }
            incumbent += m.unmet_value(c, self.c_minutes[c]);
            free.push(crate::exact::FreeClient {
                client: c,
                pairs,
                fixed_minutes,
            });
        }
        let Some(found) = crate::exact::search(
            m, &free, &fixed, groups, incumbent, node_limit, deadline, scratch,
        ) else {
            return false;
        };
        let Some(take) = found.pairs else {
            return false;
        };
        let before = self.value;
        for f in &free {
            for &p in &f.pairs {
                if self.x[p] {
                    self.remove(p);
                }
            }
        }
        for &p in &take {
            self.add(p as usize);
        }
        self.journal.clear();
        debug_assert_eq!(self.value - before, found.value - incumbent);
        self.value > before
    }

    /// One ejection-chain step (the augmenting paths of a transportation problem, with
    /// this problem's side rules checked on the real state): find the best chain "client 1
    /// moves from g1 into a group with a free seat, client 2 moves from g2 into the seat
    /// freed in g1, …, and a client enters the last freed seat (or it stays free)" of at
    /// most `max_hops` moves by dynamic programming over groups, then apply it. A client
    /// kept out of a group only by a separation may enter it, or move into it along the
    /// chain, when the chain's move out of that group takes the separated member. Returns
    /// false, with the state unchanged, when no improving chain exists or it fails to
    /// apply.
    pub fn chain_step(&mut self, max_hops: usize) -> bool {
        const NONE: i64 = i64::MIN / 4;
        let m = self.m;
        let n_g = m.n_groups();
        // Layer 0: a seat is free in h, either already or because a member drops out.
        let mut layer: Vec<i64> = (0..n_g)
            .map(|h| if self.group_room(h) { 0 } else { NONE })
            .collect();
        let mut origin = vec![u32::MAX; n_g];
        for h in 0..n_g {
            for &p in &self.g_members[h] {
                let p = p as usize;
                let c = m.p_client[p] as usize;
                let mins = self.c_minutes[c];
                let d =
                    m.unmet_value(c, mins - m.p_minutes[p]) - m.unmet_value(c, mins) - m.p_gain[p];
                if d > layer[h] {
                    layer[h] = d;
                    origin[h] = p as u32;
                }
            }
        }
        // Best client to enter each group when a seat there is vacated.
        let mut enter = vec![NONE; n_g];
        // Best client kept out of each group only by a separation from one member (the
        // blocker): a chain whose last move takes the blocker out of that group frees the
        // seat for them: (their gain, the blocker's pair).
        let mut sep_enter = vec![(NONE, u32::MAX); n_g];
        for p in 0..m.n_pairs() {
            if self.x[p] || self.cnt_sep[p] > 1 || self.clashes(p) != 0 {
                continue;
            }
            let c = m.p_client[p] as usize;
            if self.c_minutes[c] + m.p_minutes[p] > m.c_max[c] {
                continue;
            }
            let g = m.p_group[p] as usize;
            if self.g_size[g] == 0 {
                continue;
            }
            let d = self.delta_add(p);
            if self.cnt_sep[p] == 0 {
                enter[g] = enter[g].max(d);
            } else if d > sep_enter[g].0
                && let Some(&b) = m.p_sep[p].iter().find(|&&q| self.x[q as usize])
            {
                sep_enter[g] = (d, b);
            }
        }
        for g in 0..n_g {
            if sep_enter[g].0 <= enter[g] {
                sep_enter[g] = (NONE, u32::MAX);
            }
        }
        let mut preds: Vec<Vec<(u32, u32)>> = Vec::with_capacity(max_hops);
        let mut preds_sep: Vec<Vec<(u32, u32)>> = Vec::with_capacity(max_hops);
        // Improving chains found: (gain, hops, last group, End).
        let mut found: Vec<(i64, usize, usize, End)> = Vec::new();
        // Zero hops: one member drops out and another client takes the seat.
        for g in 0..n_g {
            if origin[g] != u32::MAX && enter[g] > NONE && layer[g] + enter[g] > 0 {
                found.push((layer[g] + enter[g], 0, g, End::Enter));
            }
            let (d, b) = sep_enter[g];
            if d > NONE {
                let b = b as usize;
                let c = m.p_client[b] as usize;
                let mins = self.c_minutes[c];
                let drop =
                    m.unmet_value(c, mins - m.p_minutes[b]) - m.unmet_value(c, mins) - m.p_gain[b];
                if drop + d > 0 {
                    found.push((drop + d, 0, g, End::Separated));
                }
            }
        }
        // The member leaving each group on the best chain that frees a seat there (none when
        // the seat was already free): a client separated from that member only may take it.
        let mut leaving: Vec<u32> = origin.clone();
        for hops in 1..=max_hops {
            let mut next = vec![NONE; n_g];
            let mut pred = vec![(u32::MAX, u32::MAX); n_g];
            let mut next_sep = vec![NONE; n_g];
            let mut pred_sep = vec![(u32::MAX, u32::MAX); n_g];
            for g in 0..n_g {
                for &p in &self.g_members[g] {
                    let p = p as usize;
                    let c = m.p_client[p] as usize;
                    let mins = self.c_minutes[c];
                    for q in m.pairs_of(c) {
                        if q == p || self.x[q] || self.cnt_sep[q] > 1 {
                            continue;
                        }
                        let h = m.p_group[q] as usize;
                        if layer[h] == NONE || h == g {
                            continue;
                        }
                        if self.cnt_sep[q] == 1
                            && (leaving[h] == u32::MAX || !m.p_sep[q].contains(&leaving[h]))
                        {
                            continue;
                        }
                        let clash = m.overlaps(q, p) as u32;
                        if self.clashes(q) != clash {
                            continue;
                        }
                        let after = mins - m.p_minutes[p] + m.p_minutes[q];
                        if after > m.c_max[c] {
                            continue;
                        }
                        let w = m.p_gain[q] - m.p_gain[p] + m.unmet_value(c, after)
                            - m.unmet_value(c, mins);
                        let v = layer[h] + w;
                        if v > next[g] {
                            next[g] = v;
                            pred[g] = (p as u32, q as u32);
                        }
                        if sep_enter[g].1 == p as u32 && v > next_sep[g] {
                            next_sep[g] = v;
                            pred_sep[g] = (p as u32, q as u32);
                        }
                    }
                }
            }
            for g in 0..n_g {
                if next[g] == NONE {
                    continue;
                }
                let s = self.g_size[g] - 1;
                if (s == 0 || s >= m.g_min[g]) && next[g] > 0 {
                    found.push((next[g], hops, g, End::Free));
                }
                if enter[g] > NONE && next[g] + enter[g] > 0 {
                    found.push((next[g] + enter[g], hops, g, End::Enter));
                }
                if next_sep[g] > NONE && next_sep[g] + sep_enter[g].0 > 0 {
                    found.push((next_sep[g] + sep_enter[g].0, hops, g, End::Separated));
                }
            }
            for g in 0..n_g {
                leaving[g] = pred[g].0;
            }
            preds.push(pred);
            preds_sep.push(pred_sep);
            layer = next;
        }
        // Apply every chain found, best first. Each is checked on the real state and kept
        // only if it still improves it, so chains made stale by an earlier one (a client
        // moved twice, a seat already taken) are skipped, and one search serves many
        // disjoint improvements on a large component.
        found.sort_unstable_by(|a, b| b.cmp(a));
        let mut applied = false;
        for &cand in &found {
            applied |= self.apply_chain(&preds, &preds_sep, &origin, &sep_enter, cand);
        }
        applied
    }

    fn apply_chain(
        &mut self,
        preds: &[Vec<(u32, u32)>],
        preds_sep: &[Vec<(u32, u32)>],
        origin: &[u32],
        sep_enter: &[(i64, u32)],
        (_, hops, last, end): (i64, usize, usize, End),
    ) -> bool {
        let m = self.m;
        let mut g = last;
        let mut moves = Vec::with_capacity(hops);
        let separated = end == End::Separated;
        for k in (0..hops).rev() {
            let (p, q) = if separated && k + 1 == hops {
                preds_sep[k][g]
            } else {
                preds[k][g]
            };
            if p == u32::MAX {
                return false;
            }
            moves.push((p as usize, q as usize));
            g = m.p_group[q as usize] as usize;
        }
        moves.reverse();
        let mark = self.journal.len();
        let before = self.value;
        let first = if separated && hops == 0 {
            sep_enter[g].1
        } else {
            origin[g]
        };
        if first != u32::MAX {
            if !self.x[first as usize] {
                return false;
            }
            self.remove(first as usize);
        }
        for &(p, q) in &moves {
            let h = m.p_group[q] as usize;
            if !self.x[p] || self.x[q] {
                self.undo_to(mark);
                return false;
            }
            self.remove(p);
            if !self.client_ok(q) || !self.group_room(h) {
                self.undo_to(mark);
                return false;
            }
            self.add(q);
        }
        if end != End::Free {
            // The best client to take the seat, on the state the chain left (the estimate's
            // client may be gone, or another one freed by the chain).
            let mut best: Option<(i64, usize)> = None;
            if self.group_room(last) {
                for &r in &m.g_pairs[last] {
                    let r = r as usize;
                    if self.x[r] || !self.client_ok(r) {
                        continue;
                    }
                    let d = self.delta_add(r);
                    if best.is_none_or(|(b, _)| d > b) {
                        best = Some((d, r));
                    }
                }
            }
            let Some((_, r)) = best else {
                self.undo_to(mark);
                return false;
            };
            self.add(r);
        }
        // Every group the chain touched must still be empty or within its sizes.
        let ok = moves
            .iter()
            .map(|&(p, _)| p)
            .chain((first != u32::MAX).then_some(first as usize))
            .all(|p| {
                let g = m.p_group[p] as usize;
                self.g_size[g] == 0 || self.g_size[g] >= m.g_min[g]
            });
        if !ok || self.value <= before {
            self.undo_to(mark);
            return false;
        }
        true
    }

    /// Open or close one group, repair with ejection chains, and keep the result only if
    /// it is better: the compound move that changes which groups run, which single moves
    /// cannot do without passing through much worse states.
    pub fn reshape_step(&mut self, rng: &mut Rng, chain_steps: usize) -> bool {
        let m = self.m;
        let g = m.p_group[rng.below(m.n_pairs())] as usize;
        let before = self.value;
        self.journal.clear();
        if self.g_size[g] == 0 {
            if !self.open_group(g, Some(rng)) {
                self.journal.clear();
                return false;
            }
            self.refill_touched();
        } else {
            let members = self.g_members[g].clone();
            for &p in &members {
                self.remove(p as usize);
            }
            for &p in &members {
                let c = m.p_client[p as usize] as usize;
                if let Some((q, d)) = self.best_insert(c, usize::MAX)
                    && d > 0
                {
                    self.add(q);
                }
            }
        }
        for _ in 0..chain_steps {
            if !self.chain_step(6) {
                break;
            }
        }
        if self.value > before {
            self.journal.clear();
            true
        } else {
            self.undo_to(0);
            false
        }
    }

    fn move_insert(&mut self, rng: &mut Rng) -> bool {
        let m = self.m;
        let p = rng.below(m.n_pairs());
        if self.x[p] || self.cnt_sep[p] > 0 {
            return false;
        }
        let c = m.p_client[p] as usize;
        let g = m.p_group[p] as usize;
        if self.g_size[g] == 0 && m.g_min[g] > 1 {
            return false;
        }
        if !self.clear_overlaps(p) {
            return false;
        }
        if self.c_minutes[c] + m.p_minutes[p] > m.c_max[c] {
            return false;
        }
        let mut evicted = None;
        if self.g_size[g] >= m.g_max[g] {
            let members = &self.g_members[g];
            if members.is_empty() {
                return false;
            }
            let r = members[rng.below(members.len())] as usize;
            self.remove(r);
            evicted = Some(r);
        }
        self.add(p);
        if let Some(r) = evicted {
            let d = m.p_client[r] as usize;
            if let Some((q, _)) = self.best_insert(d, r) {
                self.add(q);
            }
        }
        true
    }

    fn move_drop(&mut self, rng: &mut Rng) -> bool {
        let m = self.m;
        let p = rng.below(m.n_pairs());
        if !self.x[p] || !self.removable(p) {
            return false;
        }
        self.remove(p);
        let c = m.p_client[p] as usize;
        if let Some((q, _)) = self.best_insert(c, p) {
            self.add(q);
        }
        true
    }

    fn move_open(&mut self, rng: &mut Rng) -> bool {
        let m = self.m;
        let g = m.p_group[rng.below(m.n_pairs())] as usize;
        if self.g_size[g] != 0 {
            return false;
        }
        if !self.open_group(g, Some(rng)) {
            return false;
        }
        // Seats freed elsewhere by the clients who moved may now take someone else.
        self.refill_touched();
        true
    }

    fn move_close(&mut self, rng: &mut Rng) -> bool {
        let m = self.m;
        let g = m.p_group[rng.below(m.n_pairs())] as usize;
        if self.g_size[g] == 0 {
            return false;
        }
        let members = self.g_members[g].clone();
        for &p in &members {
            self.remove(p as usize);
        }
        for &p in &members {
            let c = m.p_client[p as usize] as usize;
            if let Some((q, d)) = self.best_insert(c, usize::MAX)
                && d > 0
                && m.p_group[q] as usize != g
            {
                self.add(q);
            }
        }
        true
    }

    /// After a move: give each client whose pair was removed their best free option.
    fn refill_touched(&mut self) {
        let removed: Vec<u32> = self
            .journal
            .iter()
            .filter(|(_, added)| !added)
            .map(|&(p, _)| p)
            .collect();
        for p in removed {
            let c = self.m.p_client[p as usize] as usize;
            if let Some((q, d)) = self.best_insert(c, usize::MAX)
                && d > 0
            {
                self.add(q);
            }
        }
    }

    /// Copy of `x` as it was before the moves still in the journal.
    fn snapshot_before_journal(&self, out: &mut Vec<bool>) {
        out.clear();
        out.extend_from_slice(&self.x);
        for &(p, added) in &self.journal {
            out[p as usize] = !added;
        }
    }
}

/// Parameters of one annealing run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anneal {
    pub iterations: u64,
    pub t_start: f64,
    pub t_end: f64,
}

/// Simulated annealing from `state`; returns the best state seen and whether the deadline
/// cut the run short.
pub(crate) fn anneal<'m>(
    upper: i64,
    mut s: State<'m>,
    params: Anneal,
    rng: &mut Rng,
    deadline: Option<std::time::Instant>,
) -> (State<'m>, bool) {
    let m = s.m;
    if m.n_pairs() == 0 || params.iterations == 0 || s.value >= upper {
        return (s, false);
    }
    let mut best_value = s.value;
    let mut best_x: Vec<bool> = Vec::new();
    let mut at_best = true;
    let mut timed_out = false;
    let ratio = (params.t_end / params.t_start).ln();
    let mut temp = params.t_start;
    s.journal.clear();
    for it in 0..params.iterations {
        if it % 1024 == 0 {
            temp = params.t_start * (ratio * it as f64 / params.iterations as f64).exp();
            if it % 8192 == 0 && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                timed_out = true;
                break;
            }
        }
        let before = s.value;
        let kind = rng.below(16);
        let applied = match kind {
            0..=10 => s.move_insert(rng),
            11..=13 => s.move_drop(rng),
            14 => s.move_open(rng),
            _ => s.move_close(rng),
        };
        if !applied {
            s.undo_to(0);
            continue;
        }
        let delta = s.value - before;
        let accept = delta >= 0 || rng.unit() < (delta as f64 / temp).exp();
        if !accept {
            s.undo_to(0);
            continue;
        }
        if s.value > best_value {
            best_value = s.value;
            at_best = true;
            if best_value >= upper {
                break; // proven optimal: nothing left to find
            }
        } else if delta < 0 && at_best {
            s.snapshot_before_journal(&mut best_x);
            at_best = false;
        }
        s.journal.clear();
    }
    if !at_best {
        s = State::from_pairs(m, &best_x);
    }
    s.greedy_fill();
    (s, timed_out)
}

/// Ejection chains until none improves (or `max_steps`). Returns the steps taken.
pub(crate) fn chains(
    s: &mut State<'_>,
    upper: i64,
    max_steps: u64,
    deadline: std::time::Instant,
) -> u64 {
    let mut steps = 0;
    while steps < max_steps && s.value < upper {
        if std::time::Instant::now() >= deadline {
            break;
        }
        if !s.chain_step(6) {
            break;
        }
        steps += 1;
    }
    s.journal.clear();
    steps
}

/// Reshaping moves (open or close a group, then chains) for `rounds`, hill climbing.
pub(crate) fn reshape(
    s: &mut State<'_>,
    upper: i64,
    rounds: u64,
    rng: &mut Rng,
    deadline: std::time::Instant,
) -> bool {
    for _ in 0..rounds {
        if s.value >= upper {
            break;
        }
        if std::time::Instant::now() >= deadline {
            return true;
        }
        let _ = s.reshape_step(rng, 8);
    }
    false
}

/// Large-neighbourhood search from `s` for `rounds` exact steps of at most `max_free` free
/// pairs (hill climbing: a step is taken only when it improves). Returns whether the
/// deadline cut it short.
pub(crate) fn lns(
    s: &mut State<'_>,
    upper: i64,
    rounds: u64,
    max_free: usize,
    rng: &mut Rng,
    deadline: std::time::Instant,
) -> bool {
    let mut scratch = Vec::new();
    for _ in 0..rounds {
        if s.value >= upper {
            break;
        }
        // Every round: a step of a few hundred free pairs can take milliseconds.
        if std::time::Instant::now() >= deadline {
            return true;
        }
        let size = 2 + rng.below(4);
        s.lns_step(rng, size, max_free, 20_000, deadline, &mut scratch);
    }
    s.greedy_fill();
    false
}

/// Separation steps (see [`State::separation_step`]) for every pair a separation blocks,
/// with the separated member moving to each of their three best other groups, until a
/// round over them improves nothing. Returns whether the deadline cut it short.
pub(crate) fn separations(s: &mut State<'_>, upper: i64, deadline: std::time::Instant) -> bool {
    let m = s.m;
    let mut scratch = Vec::new();
    for _ in 0..4 {
        let mut improved = false;
        for (q, r) in s.separation_blocks() {
            let b = m.p_client[r] as usize;
            let mut to: Vec<usize> = m.pairs_of(b).filter(|&t| t != r && !s.x[t]).collect();
            to.sort_by_key(|&t| (std::cmp::Reverse(m.p_gain[t]), t));
            to.truncate(3);
            for t in to {
                if s.value >= upper {
                    return false;
                }
                if std::time::Instant::now() >= deadline {
                    return true;
                }
                improved |= s.separation_step(q, r, t, 20_000, deadline, &mut scratch);
            }
        }
        if !improved {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

    use serde_json::json;

    use super::State;
    use crate::model::{Model, components};
    use crate::validate::Problem;

    /// Groups A, B and C meet at the same time and hold one member each (minimum 1);
    /// `b` and `s` are separated. `b` (fit 50 in A, 49 in B) sits in A; `s` wants A (fit 100)
    /// and may also take C (fit 10).
    fn problem() -> Problem {
        let meeting = json!([{"day": 0, "start": 600, "minutes": 60}]);
        let group = |id: &str| {
            json!({"id": id, "program": "p", "min_size": 1, "max_size": 1,
                   "meetings": meeting, "members": []})
        };
        let client = |id: &str| {
            json!({"id": id, "level": "iop", "required_minutes": 0, "max_minutes": 600,
                   "current": []})
        };
        let v = json!({
            "format": "circle-placement/1", "name": "chain",
            "weights": {"unmet_minute": 2, "continuity_break": 60},
            "groups": [group("A"), group("B"), group("C")],
            "clients": [client("b"), client("s")],
            "eligible": [
                {"client": "b", "group": "A", "fit": 50},
                {"client": "b", "group": "B", "fit": 49},
                {"client": "s", "group": "A", "fit": 100},
                {"client": "s", "group": "C", "fit": 10},
            ],
            "separations": [["b", "s"]],
        });
        Problem::new(serde_json::from_value(v).unwrap()).unwrap()
    }

    /// The component's pairs marked for the given (client, group) ids.
    fn pairs(p: &Problem, m: &Model, on: &[(&str, &str)]) -> Vec<bool> {
        (0..m.n_pairs())
            .map(|q| {
                let pair = p.pairs[m.p_global[q]];
                on.iter().any(|&(c, g)| {
                    p.client_index[c] == pair.client && p.group_index[g] == pair.group
                })
            })
            .collect()
    }

    #[test]
    fn a_chain_moving_the_separated_member_out_lets_the_client_in() {
        let p = problem();
        let models = components(&p);
        let m = &models[0];
        let mut s = State::from_pairs(m, &pairs(&p, m, &[("b", "A")]));
        assert!(s.chain_step(6));
        assert_eq!(s.x, pairs(&p, m, &[("b", "B"), ("s", "A")]));
        assert_eq!(s.value, 149);
    }

    #[test]
    fn a_chain_moves_a_client_into_the_seat_its_separated_partner_left() {
        let p = problem();
        let models = components(&p);
        let m = &models[0];
        let mut s = State::from_pairs(m, &pairs(&p, m, &[("b", "A"), ("s", "C")]));
        assert!(s.chain_step(6));
        assert_eq!(s.x, pairs(&p, m, &[("b", "B"), ("s", "A")]));
        assert_eq!(s.value, 149);
    }

    /// The cycle of medium-5 (`gen_instance.py --size medium --seed 5`), reduced to three
    /// groups meeting at the same time: `a` (in P, fit 33) would gain 6 in H but is
    /// separated from `b` (in H, fit 42); `b` would gain 28 in K (fit 70), which is full
    /// with `c` (fit 69), who may take H (fit 38) at a loss of 31. Together +3. (Here, alone,
    /// a chain finds it too; on medium-5 the chains' one best path per group drops it among
    /// the others, and the separation step is what finds it.)
    fn cycle() -> Problem {
        let meeting = json!([{"day": 0, "start": 615, "minutes": 60}]);
        let group = |id: &str, max: u32, members: &[&str]| {
            json!({"id": id, "program": "php", "min_size": 1, "max_size": max,
                   "meetings": meeting, "members": members})
        };
        let client = |id: &str| {
            json!({"id": id, "level": "php", "required_minutes": 0, "max_minutes": 600,
                   "current": []})
        };
        let v = json!({
            "format": "circle-placement/1", "name": "cycle",
            "weights": {"unmet_minute": 2, "continuity_break": 60},
            "groups": [group("H", 2, &[]), group("K", 1, &[]), group("P", 1, &[])],
            "clients": [client("a"), client("b"), client("c")],
            "eligible": [
                {"client": "a", "group": "P", "fit": 33},
                {"client": "a", "group": "H", "fit": 39},
                {"client": "b", "group": "H", "fit": 42},
                {"client": "b", "group": "K", "fit": 70},
                {"client": "c", "group": "K", "fit": 69},
                {"client": "c", "group": "H", "fit": 38},
            ],
            "separations": [["a", "b"]],
        });
        Problem::new(serde_json::from_value(v).unwrap()).unwrap()
    }

    /// Group A needs two members (minimum 2) and both clients gain most there; each sits
    /// alone in a group of its own at the same time (B, C). No single move or chain opens
    /// A; an exact step over A, B and C does, when it may free A's two pairs and the rest.
    fn closed_pair() -> Problem {
        let meeting = json!([{"day": 0, "start": 600, "minutes": 60}]);
        let group = |id: &str, min: u32, max: u32| {
            json!({"id": id, "program": "p", "min_size": min, "max_size": max,
                   "meetings": meeting, "members": []})
        };
        let client = |id: &str| {
            json!({"id": id, "level": "iop", "required_minutes": 0, "max_minutes": 600,
                   "current": []})
        };
        let v = json!({
            "format": "circle-placement/1", "name": "closed",
            "weights": {"unmet_minute": 2, "continuity_break": 60},
            "groups": [group("A", 2, 2), group("B", 1, 1), group("C", 1, 1)],
            "clients": [client("a"), client("b")],
            "eligible": [
                {"client": "a", "group": "A", "fit": 100},
                {"client": "a", "group": "B", "fit": 10},
                {"client": "b", "group": "A", "fit": 100},
                {"client": "b", "group": "C", "fit": 10},
            ],
            "separations": [],
        });
        Problem::new(serde_json::from_value(v).unwrap()).unwrap()
    }

    #[test]
    fn exact_steps_free_no_more_pairs_than_allowed() {
        let p = closed_pair();
        let models = components(&p);
        let m = &models[0];
        let start = pairs(&p, m, &[("a", "B"), ("b", "C")]);
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // A has two eligible pairs: with one free pair at most, no step can open it.
        let mut s = State::from_pairs(m, &start);
        let mut rng = crate::rng::Rng::new(1, 1);
        assert!(!super::lns(&mut s, i64::MAX, 200, 1, &mut rng, far));
        assert_eq!(s.x, start);
        // With room for A and the groups beside it, a step opens A with both clients.
        let mut s = State::from_pairs(m, &start);
        assert!(!super::lns(&mut s, i64::MAX, 200, 60, &mut rng, far));
        assert_eq!(s.x, pairs(&p, m, &[("a", "A"), ("b", "A")]));
        assert_eq!(s.value, 200);
    }

    #[test]
    fn the_separation_step_finds_medium_5s_three_move_cycle() {
        let p = cycle();
        let models = components(&p);
        let m = &models[0];
        let start = pairs(&p, m, &[("a", "P"), ("b", "H"), ("c", "K")]);
        let mut s = State::from_pairs(m, &start);
        assert_eq!(s.value, 33 + 42 + 69);

        let blocks = s.separation_blocks();
        assert_eq!(blocks.len(), 1);
        let (q, r) = blocks[0];
        let b_to_k = pairs(&p, m, &[("b", "K")])
            .iter()
            .position(|&on| on)
            .unwrap();
        let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
        assert!(s.separation_step(q, r, b_to_k, 10_000, far, &mut Vec::new()));
        assert_eq!(s.x, pairs(&p, m, &[("a", "H"), ("b", "K"), ("c", "H")]));
        assert_eq!(s.value, 39 + 70 + 38);

        // The driver finds it from the blocked pairs alone.
        let mut s = State::from_pairs(m, &start);
        assert!(!super::separations(&mut s, i64::MAX, far));
        assert_eq!(s.value, 147);
    }
}
