//! The solver's view of a [`Problem`]: it is split into components (clients and groups that
//! interact only through shared eligible pairs; a separation can only bind inside a shared
//! group, so it never joins two components), each re-indexed densely with its pair
//! conflicts precomputed.
//!
//! Overlaps are kept per *time slot* rather than per pair: groups with the same meetings
//! share a slot, and a bit matrix says which slots overlap. A network's telehealth groups
//! make every client eligible for dozens of groups meeting at a handful of times, so a list
//! of overlapping pairs per pair grows with the square of a client's options (15 million
//! entries at 20,000 clients, most of the setup time and memory), while the slots stay few
//! (38 in that instance) and one bit answers whether two pairs clash.

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
    /// Time slot of each pair's group (groups with identical meetings share one).
    pub p_slot: Vec<u32>,
    /// Bit matrix over slots, `slot_words` words per row: bit `b` of row `a` is set when
    /// slot `a` has a meeting overlapping one of slot `b`.
    pub slot_overlap: Vec<u64>,
    pub slot_words: usize,
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

    /// Whether pairs `p` and `q` are two different options of one client whose groups meet
    /// at overlapping times (so the client cannot hold both).
    pub fn overlaps(&self, p: usize, q: usize) -> bool {
        p != q
            && self.p_client[p] == self.p_client[q]
            && self.slot_overlaps(self.p_slot[p] as usize, self.p_slot[q] as usize)
    }

    /// Whether slots `a` and `b` have overlapping meetings.
    pub fn slot_overlaps(&self, a: usize, b: usize) -> bool {
        self.slot_overlap[a * self.slot_words + b / 64] >> (b % 64) & 1 == 1
    }

    /// The client's other pairs that overlap `p`, in increasing order.
    pub fn overlapping(&self, p: usize) -> impl Iterator<Item = usize> + '_ {
        let c = self.p_client[p] as usize;
        self.pairs_of(c).filter(move |&q| self.overlaps(p, q))
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
    // Each group's time slot: groups with the same meetings (in any order) share one.
    let mut slot_ids: std::collections::HashMap<Vec<(i64, i64, i64)>, u32> =
        std::collections::HashMap::new();
    let mut slot_group: Vec<usize> = Vec::new();
    let group_slot: Vec<u32> = (0..n_g)
        .map(|g| {
            let mut key: Vec<(i64, i64, i64)> = problem.instance.groups[g]
                .meetings
                .iter()
                .map(|m| (m.day, m.start, m.minutes))
                .collect();
            key.sort_unstable();
            key.dedup();
            *slot_ids.entry(key).or_insert_with(|| {
                slot_group.push(g);
                (slot_group.len() - 1) as u32
            })
        })
        .collect();
    let mut local_slot = vec![u32::MAX; slot_group.len()];
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
            p_slot: Vec::new(),
            slot_overlap: Vec::new(),
            slot_words: 0,
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
        // The component's slots, numbered in order of first use, and their overlap matrix.
        let mut slots: Vec<usize> = Vec::new();
        let g_slot: Vec<u32> = groups
            .iter()
            .map(|&g| {
                let s = group_slot[g] as usize;
                if local_slot[s] == u32::MAX {
                    local_slot[s] = slots.len() as u32;
                    slots.push(s);
                }
                local_slot[s]
            })
            .collect();
        m.p_slot = m.p_group.iter().map(|&g| g_slot[g as usize]).collect();
        m.slot_words = slots.len().div_ceil(64);
        m.slot_overlap = vec![0; slots.len() * m.slot_words];
        for (a, &sa) in slots.iter().enumerate() {
            for (b, &sb) in slots.iter().enumerate() {
                if problem.groups_overlap(slot_group[sa], slot_group[sb]) {
                    m.slot_overlap[a * m.slot_words + b / 64] |= 1 << (b % 64);
                }
            }
        }
        for &s in &slots {
            local_slot[s] = u32::MAX;
        }
        m.groups = groups;
        m.p_sep = vec![Vec::new(); n_p];
        for c in 0..m.clients.len() {
            let range = m.pairs_of(c);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

    use serde_json::json;

    use super::components;
    use crate::validate::Problem;

    /// The slot matrix answers exactly what the meeting-by-meeting rule answers, for every
    /// two options of a client: same meetings listed in another order, back-to-back
    /// meetings (no overlap), and more than 64 slots (a second word per row).
    #[test]
    fn slot_overlaps_agree_with_the_meetings() {
        let mut groups = vec![
            json!([{"day": 0, "start": 600, "minutes": 60}, {"day": 2, "start": 600, "minutes": 60}]),
            json!([{"day": 2, "start": 600, "minutes": 60}, {"day": 0, "start": 600, "minutes": 60}]),
            json!([{"day": 0, "start": 660, "minutes": 30}]),
            json!([{"day": 2, "start": 660, "minutes": 1}]),
            json!([{"day": 2, "start": 659, "minutes": 5}]),
            json!([{"day": 3, "start": 600, "minutes": 60}]),
        ];
        // Seventy more slots, ten minutes apart on one day: each overlaps its
        // neighbours only.
        groups.extend((0..70).map(|i| json!([{"day": 5, "start": 300 + 10 * i, "minutes": 15}])));
        let n = groups.len();
        let v = json!({
            "format": "circle-placement/1", "name": "slots",
            "weights": {"unmet_minute": 2, "continuity_break": 60},
            "groups": groups.iter().enumerate().map(|(i, m)| json!({
                "id": format!("g{i:03}"), "program": "p", "min_size": 0, "max_size": 12,
                "meetings": m, "members": []})).collect::<Vec<_>>(),
            "clients": [{"id": "c", "level": "iop", "required_minutes": 0,
                         "max_minutes": 100_000, "current": []},
                        {"id": "d", "level": "iop", "required_minutes": 0,
                         "max_minutes": 100_000, "current": []}],
            "eligible": (0..n).flat_map(|i| ["c", "d"].map(|c| json!(
                {"client": c, "group": format!("g{i:03}"), "fit": 1}))).collect::<Vec<_>>(),
            "separations": [],
        });
        let problem = Problem::new(serde_json::from_value(v).unwrap()).unwrap();
        let models = components(&problem);
        assert_eq!(models.len(), 1);
        let m = &models[0];
        assert_eq!(m.slot_words, 2, "75 slots take two words per row");
        let mut clashes = 0;
        for p in 0..m.n_pairs() {
            let listed: Vec<usize> = m.overlapping(p).collect();
            for q in 0..m.n_pairs() {
                let expected = p != q
                    && m.p_client[p] == m.p_client[q]
                    && problem.groups_overlap(
                        m.groups[m.p_group[p] as usize],
                        m.groups[m.p_group[q] as usize],
                    );
                assert_eq!(m.overlaps(p, q), expected, "pairs {p} and {q}");
                assert_eq!(listed.contains(&q), expected, "pairs {p} and {q}");
                clashes += usize::from(expected);
            }
        }
        // Per client, unordered: g000–g001, g000–g004, g001–g004, g003–g004 (g002 and g003
        // only touch g000 and g001 end to end), and 69 neighbours among the seventy; each
        // counted in both directions, for two clients.
        assert_eq!(clashes, (4 + 69) * 2 * 2);
    }
}
