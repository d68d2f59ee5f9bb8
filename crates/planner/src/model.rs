//! The solver's view of a [`Problem`]: it is split into components (clients and groups that
//! interact only through shared eligible pairs; a separation can only bind inside a shared
//! group, so it never joins two components), each re-indexed densely with its pair
//! conflicts precomputed.

use crate::validate::Problem;

/// One component, with local indices. Pairs of client `c` are `c_start[c]..c_start[c + 1]`.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Global client index of each local client.
    pub clients: Vec<usize>,
    /// Global group index of each local group.
    pub groups: Vec<usize>,
    pub g_min: Vec<u32>,
    pub g_max: Vec<u32>,
    /// Local pairs eligible for each group.
    pub g_pairs: Vec<Vec<u32>>,
    pub c_req: Vec<i64>,
    pub c_max: Vec<i64>,
    pub c_start: Vec<u32>,
    pub p_client: Vec<u32>,
    pub p_group: Vec<u32>,
    pub p_minutes: Vec<i64>,
    /// Fit plus the continuity weight when the pair is a current placement.
    pub p_gain: Vec<i64>,
    /// Index of the pair in `Problem::pairs`.
    pub p_global: Vec<usize>,
    /// Pairs of the same client whose groups overlap in time.
    pub p_overlap: Vec<Vec<u32>>,
    /// Pairs of separated clients in the same group.
    pub p_sep: Vec<Vec<u32>>,
    pub w_unmet: i64,
}

impl Model {
    pub fn n_pairs(&self) -> usize {
        self.p_client.len()
    }

    pub fn n_clients(&self) -> usize {
        self.clients.len()
    }

    pub fn n_groups(&self) -> usize {
        self.groups.len()
    }

    pub fn pairs_of(&self, c: usize) -> std::ops::Range<usize> {
        self.c_start[c] as usize..self.c_start[c + 1] as usize
    }

    /// The (non-positive) value of client `c` holding `minutes` minutes.
    pub fn unmet_value(&self, c: usize, minutes: i64) -> i64 {
        -self.w_unmet * (self.c_req[c] - minutes).max(0)
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Split `problem` into components, ordered by their first client.
pub(crate) fn components(problem: &Problem) -> Vec<Model> {
    let n_c = problem.instance.clients.len();
    let n_g = problem.instance.groups.len();
    let mut uf = UnionFind((0..n_c + n_g).collect());
    for p in &problem.pairs {
        uf.union(p.client, n_c + p.group);
    }
    // Pairs per client, in group order, so a client's options are contiguous.
    let mut by_client: Vec<Vec<usize>> = vec![Vec::new(); n_c];
    for (i, p) in problem.pairs.iter().enumerate() {
        by_client[p.client].push(i);
    }
    for list in &mut by_client {
        list.sort_by_key(|&i| problem.pairs[i].group);
    }
    let mut comp_of_root = vec![usize::MAX; n_c + n_g];
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (c, list) in by_client.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let r = uf.find(c);
        if comp_of_root[r] == usize::MAX {
            comp_of_root[r] = members.len();
            members.push(Vec::new());
        }
        members[comp_of_root[r]].push(c);
    }
    let mut seps_of: Vec<Vec<usize>> = vec![Vec::new(); n_c];
    for &(a, b) in &problem.separations {
        seps_of[a].push(b);
        seps_of[b].push(a);
    }
    let w = problem.instance.weights;
    // Days each group meets on: groups with no day in common cannot overlap, which settles
    // most pairs without looking at the meetings.
    let day_mask: Vec<u8> = problem
        .instance
        .groups
        .iter()
        .map(|g| g.meetings.iter().fold(0u8, |acc, m| acc | 1 << (m.day & 7)))
        .collect();
    // Global → local indices, reset after each component (plain vectors: this runs once per
    // pair on instances of 10^5 pairs, where hashing showed up in profiles).
    let mut local_group = vec![u32::MAX; n_g];
    let mut local_client = vec![u32::MAX; n_c];
    let mut models = Vec::with_capacity(members.len());
    for clients in members {
        let mut groups: Vec<usize> = Vec::new();
        let mut m = Model {
            clients: Vec::with_capacity(clients.len()),
            groups: Vec::new(),
            g_min: Vec::new(),
            g_max: Vec::new(),
            g_pairs: Vec::new(),
            c_req: Vec::new(),
            c_max: Vec::new(),
            c_start: vec![0],
            p_client: Vec::new(),
            p_group: Vec::new(),
            p_minutes: Vec::new(),
            p_gain: Vec::new(),
            p_global: Vec::new(),
            p_overlap: Vec::new(),
            p_sep: Vec::new(),
            w_unmet: w.unmet_minute,
        };
        for (lc, &c) in clients.iter().enumerate() {
            local_client[c] = lc as u32;
            let client = &problem.instance.clients[c];
            m.clients.push(c);
            m.c_req.push(client.required_minutes);
            m.c_max.push(client.max_minutes);
            for &pi in &by_client[c] {
                let pair = problem.pairs[pi];
                if local_group[pair.group] == u32::MAX {
                    local_group[pair.group] = groups.len() as u32;
                    groups.push(pair.group);
                }
                let lg = local_group[pair.group];
                m.p_client.push(lc as u32);
                m.p_group.push(lg as u32);
                m.p_minutes.push(problem.group_minutes[pair.group]);
                let kept = if problem.current[c].contains(&pair.group) {
                    w.continuity_break
                } else {
                    0
                };
                m.p_gain.push(pair.fit + kept);
                m.p_global.push(pi);
            }
            m.c_start.push(m.p_client.len() as u32);
        }
        let n_p = m.p_client.len();
        m.g_pairs = vec![Vec::new(); groups.len()];
        for p in 0..n_p {
            m.g_pairs[m.p_group[p] as usize].push(p as u32);
        }
        for &g in &groups {
            let group = &problem.instance.groups[g];
            // Sizes are validated non-negative; clamp absurd sizes instead of wrapping.
            m.g_min
                .push(u32::try_from(group.min_size).unwrap_or(u32::MAX));
            m.g_max
                .push(u32::try_from(group.max_size).unwrap_or(u32::MAX));
        }
        m.groups = groups;
        m.p_overlap = vec![Vec::new(); n_p];
        m.p_sep = vec![Vec::new(); n_p];
        for c in 0..m.clients.len() {
            let range = m.pairs_of(c);
            for p in range.clone() {
                for q in p + 1..range.end {
                    let ga = m.groups[m.p_group[p] as usize];
                    let gb = m.groups[m.p_group[q] as usize];
                    let hit = day_mask[ga] & day_mask[gb] != 0 && problem.groups_overlap(ga, gb);
                    if hit {
                        m.p_overlap[p].push(q as u32);
                        m.p_overlap[q].push(p as u32);
                    }
                }
            }
            let gc = m.clients[c];
            for &other in &seps_of[gc] {
                // Both in this component (a shared group would put them there).
                let lo = local_client[other];
                if lo == u32::MAX {
                    continue;
                }
                let theirs = m.pairs_of(lo as usize);
                for p in range.clone() {
                    if let Some(q) = theirs.clone().find(|&q| m.p_group[q] == m.p_group[p]) {
                        m.p_sep[p].push(q as u32);
                    }
                }
            }
        }
        for &g in &m.groups {
            local_group[g] = u32::MAX;
        }
        for &c in &m.clients {
            local_client[c] = u32::MAX;
        }
        models.push(m);
    }
    models
}
