//! Minimum-cost flow of any amount (stop when no path of negative cost is left), by the
//! primal-dual method: Dijkstra on reduced costs for the next shortest distance, then a
//! blocking flow over the arcs whose reduced cost is zero, so one shortest-path search
//! serves every augmenting path of the same cost.
//!
//! Built for the placement relaxation ([`crate::relax`]): arcs are added so that every one
//! runs from a lower to a higher node index, which lets the first potentials come from one
//! pass in index order although costs are negative.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

const INF: i64 = i64::MAX / 4;

#[derive(Debug, Clone, Default)]
pub(crate) struct Flow {
    /// The arcs out of each node, and each arc's head: shared by clones (a branch-and-
    /// bound node copies only capacities, costs and potentials).
    adj: Arc<Vec<Vec<u32>>>,
    to: Arc<Vec<u32>>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    potential: Vec<i64>,
}

impl Flow {
    pub fn new(nodes: usize) -> Flow {
        Flow {
            adj: Arc::new(vec![Vec::new(); nodes]),
            ..Flow::default()
        }
    }

    /// Add an arc `u → v` (with `u < v`) and its residual twin; returns the arc's index.
    pub fn add(&mut self, u: usize, v: usize, cap: i64, cost: i64) -> usize {
        debug_assert!(u < v, "arcs run from lower to higher nodes");
        let a = self.to.len();
        Arc::make_mut(&mut self.to).extend([v as u32, u as u32]);
        self.cap.extend([cap, 0]);
        self.cost.extend([cost, -cost]);
        let adj = Arc::make_mut(&mut self.adj);
        adj[u].push(a as u32);
        adj[v].push(a as u32 + 1);
        a
    }

    /// Flow on arc `a` (as returned by [`Flow::add`]).
    pub fn flow(&self, a: usize) -> i64 {
        self.cap[a ^ 1]
    }

    fn reduced(&self, a: usize, u: usize) -> i64 {
        self.cost[a] + self.potential[u] - self.potential[self.to[a] as usize]
    }

    /// Send flow from `s = 0` to `t` while a path of negative cost exists. Returns the
    /// total cost, or `None` when `deadline` passed first.
    pub fn solve(&mut self, t: usize, deadline: Instant) -> Option<i64> {
        let n = self.adj.len();
        // Shortest distances on the acyclic start, in index order.
        self.potential = vec![INF; n];
        self.potential[0] = 0;
        for u in 0..n {
            let pu = self.potential[u];
            if pu == INF {
                continue;
            }
            for &a in &self.adj[u] {
                let a = a as usize;
                if self.cap[a] > 0 {
                    let v = self.to[a] as usize;
                    self.potential[v] = self.potential[v].min(pu + self.cost[a]);
                }
            }
        }
        // Nodes out of reach stay out of reach (flow only reverses arcs it used); any
        // potential will do for them.
        for p in &mut self.potential {
            if *p == INF {
                *p = 0;
            }
        }
        let mut total = 0i64;
        let mut dist = vec![INF; n];
        let mut level = vec![u32::MAX; n];
        let mut next = vec![0usize; n];
        let mut heap = BinaryHeap::new();
        let mut queue = Vec::new();
        let mut path = Vec::new();
        let mut phases = 0u32;
        loop {
            phases += 1;
            if phases.is_multiple_of(8) && Instant::now() >= deadline {
                return None;
            }
            self.dijkstra(&mut dist, &mut heap, Some(t));
            if dist[t] >= INF {
                break;
            }
            let path_cost = dist[t] + self.potential[t] - self.potential[0];
            if path_cost >= 0 {
                break;
            }
            let dt = dist[t];
            for (p, &d) in self.potential.iter_mut().zip(&dist) {
                *p += d.min(dt);
            }
            // Blocking flows on the zero-reduced-cost arcs until t is cut off from s.
            loop {
                for &v in &queue {
                    level[v] = u32::MAX;
                }
                level[0] = 0;
                queue.clear();
                queue.push(0usize);
                let mut head = 0;
                while head < queue.len() {
                    let u = queue[head];
                    head += 1;
                    for &a in &self.adj[u] {
                        let a = a as usize;
                        let v = self.to[a] as usize;
                        if self.cap[a] > 0 && level[v] == u32::MAX && self.reduced(a, u) == 0 {
                            level[v] = level[u] + 1;
                            queue.push(v);
                        }
                    }
                }
                if level[t] == u32::MAX {
                    break;
                }
                for &v in &queue {
                    next[v] = 0;
                }
                loop {
                    let f = self.augment(t, &level, &mut next, &mut path);
                    if f == 0 {
                        break;
                    }
                    total += f * path_cost;
                }
            }
        }
        Some(total)
    }

    /// Distances on reduced costs from `s = 0`; with `stop`, only up to that node's (the
    /// rest are at least as far, which is all the potential update needs).
    fn dijkstra(
        &self,
        dist: &mut [i64],
        heap: &mut BinaryHeap<Reverse<(i64, u32)>>,
        stop: Option<usize>,
    ) {
        dist.iter_mut().for_each(|d| *d = INF);
        dist[0] = 0;
        heap.clear();
        heap.push(Reverse((0, 0)));
        while let Some(Reverse((d, u))) = heap.pop() {
            let u = u as usize;
            if d > dist[u] {
                continue;
            }
            if stop == Some(u) {
                break;
            }
            for &a in &self.adj[u] {
                let a = a as usize;
                if self.cap[a] <= 0 {
                    continue;
                }
                let v = self.to[a] as usize;
                let nd = d + self.reduced(a, u);
                if nd < dist[v] {
                    dist[v] = nd;
                    heap.push(Reverse((nd, v as u32)));
                }
            }
        }
    }

    /// One augmenting path along the level graph, depth first without recursion (paths
    /// through reverse arcs can be long on a large component); returns the flow it carried.
    fn augment(
        &mut self,
        t: usize,
        level: &[u32],
        next: &mut [usize],
        path: &mut Vec<usize>,
    ) -> i64 {
        path.clear();
        let mut u = 0usize;
        loop {
            if u == t {
                let f = path.iter().map(|&a| self.cap[a]).min().unwrap_or(0);
                for &a in path.iter() {
                    self.cap[a] -= f;
                    self.cap[a ^ 1] += f;
                }
                return f;
            }
            let mut advanced = false;
            while next[u] < self.adj[u].len() {
                let a = self.adj[u][next[u]] as usize;
                let v = self.to[a] as usize;
                if self.cap[a] > 0 && level[v] == level[u] + 1 && self.reduced(a, u) == 0 {
                    path.push(a);
                    u = v;
                    advanced = true;
                    break;
                }
                next[u] += 1;
            }
            if !advanced {
                // A dead end: step back and skip the arc that led here.
                let Some(a) = path.pop() else {
                    return 0;
                };
                u = self.to[a ^ 1] as usize;
                next[u] += 1;
            }
        }
    }

    /// Close the flow into a circulation once [`Flow::solve`] has run: a free arc back
    /// from `t` to `s` carries what was sent, and the potentials become feasible for every
    /// residual arc (Bellman-Ford from the ones the solve left). After this, changes to
    /// arcs are repaired by [`Flow::repair`] instead of solving again.
    pub fn close_circulation(&mut self, t: usize) {
        let sent: i64 = self.adj[t]
            .iter()
            .filter(|&&a| a % 2 == 1)
            .map(|&a| self.cap[a as usize])
            .sum();
        let a = self.to.len();
        Arc::make_mut(&mut self.to).extend([0, t as u32]);
        self.cap.extend([INF - sent, sent]);
        self.cost.extend([0, 0]);
        let adj = Arc::make_mut(&mut self.adj);
        adj[t].push(a as u32);
        adj[0].push(a as u32 + 1);
        // The new arc back from t has reduced cost φ_t − φ_s = Δ ≥ 0 (no negative path
        // was left) and its twin −Δ. Lowering every node by max(0, Δ − δ_v), where δ is the
        // reduced distance from t, makes the twin's zero and keeps every other arc's
        // non-negative (δ_v ≤ δ_u + r_uv), in one Dijkstra instead of a Bellman-Ford.
        if sent > 0 {
            let n = self.adj.len();
            let mut delta = vec![INF; n];
            let mut heap = BinaryHeap::new();
            delta[t] = 0;
            heap.push(Reverse((0, t as u32)));
            while let Some(Reverse((d, u))) = heap.pop() {
                let u = u as usize;
                if d > delta[u] {
                    continue;
                }
                for &a in &self.adj[u] {
                    let a = a as usize;
                    if self.cap[a] <= 0 {
                        continue;
                    }
                    let v = self.to[a] as usize;
                    let nd = d + self.reduced(a, u);
                    if nd < delta[v] {
                        delta[v] = nd;
                        heap.push(Reverse((nd, v as u32)));
                    }
                }
            }
            let gap = self.potential[t] - self.potential[0];
            for (p, &d) in self.potential.iter_mut().zip(&delta) {
                if d < gap {
                    *p -= gap - d;
                }
            }
        }
    }

    /// Node potential (after [`Flow::close_circulation`], an optimal dual).
    pub fn potential(&self, v: usize) -> i64 {
        self.potential[v]
    }

    /// Cost of the flow on the arcs out of the source.
    pub fn source_cost(&self) -> i64 {
        self.adj[0]
            .iter()
            .map(|&a| a as usize)
            .filter(|&a| a % 2 == 0)
            .map(|a| self.cost[a] * self.flow(a))
            .sum()
    }

    /// Take arc `a` out (capacity 0): the flow it carried leaves an excess at its tail and
    /// a deficit at its head.
    pub fn close_arc(&mut self, a: usize, excess: &mut [i64]) {
        let f = self.cap[a ^ 1];
        let (u, v) = (self.to[a ^ 1] as usize, self.to[a] as usize);
        self.cap[a] = 0;
        self.cap[a ^ 1] = 0;
        excess[u] += f;
        excess[v] -= f;
    }

    /// Change arc `a`'s cost; a residual arc left with a negative reduced cost is
    /// saturated (moving the imbalance to its ends).
    pub fn set_cost(&mut self, a: usize, cost: i64, excess: &mut [i64]) {
        self.cost[a] = cost;
        self.cost[a ^ 1] = -cost;
        for b in [a, a ^ 1] {
            let u = self.to[b ^ 1] as usize;
            if self.cap[b] > 0 && self.reduced(b, u) < 0 {
                let c = self.cap[b];
                let v = self.to[b] as usize;
                self.cap[b] = 0;
                self.cap[b ^ 1] += c;
                excess[u] -= c;
                excess[v] += c;
            }
        }
    }

    /// Route every excess to a deficit along shortest paths (all reduced costs stay
    /// non-negative, so the circulation is optimal again at the end). False when the
    /// deadline passed first or an excess cannot reach a deficit.
    pub fn repair(&mut self, excess: &mut [i64], deadline: Instant) -> bool {
        let n = self.adj.len();
        let mut dist = vec![INF; n];
        let mut via = vec![u32::MAX; n];
        let mut heap = BinaryHeap::new();
        // Nodes whose distance was set this round: reset from this list, not all of them.
        let mut touched: Vec<usize> = Vec::new();
        let mut sources: Vec<usize> = (0..n).filter(|&v| excess[v] > 0).collect();
        let mut rounds = 0u32;
        loop {
            rounds += 1;
            if rounds.is_multiple_of(32) && Instant::now() >= deadline {
                return false;
            }
            for &v in &touched {
                dist[v] = INF;
            }
            touched.clear();
            heap.clear();
            sources.retain(|&v| excess[v] > 0);
            for &v in &sources {
                dist[v] = 0;
                via[v] = u32::MAX;
                touched.push(v);
                heap.push(Reverse((0, v as u32)));
            }
            if heap.is_empty() {
                return true;
            }
            let mut target = None;
            while let Some(Reverse((d, u))) = heap.pop() {
                let u = u as usize;
                if d > dist[u] {
                    continue;
                }
                if excess[u] < 0 {
                    target = Some(u);
                    break;
                }
                for &a in &self.adj[u] {
                    let a = a as usize;
                    if self.cap[a] <= 0 {
                        continue;
                    }
                    let v = self.to[a] as usize;
                    let nd = d + self.reduced(a, u);
                    if nd < dist[v] {
                        if dist[v] == INF {
                            touched.push(v);
                        }
                        dist[v] = nd;
                        via[v] = a as u32;
                        heap.push(Reverse((nd, v as u32)));
                    }
                }
            }
            let Some(t) = target else {
                return false;
            };
            // φ += min(d, d_t) − d_t: the same reduced costs as φ += min(d, d_t), touching
            // only the nodes nearer than t.
            let dt = dist[t];
            for &v in &touched {
                if dist[v] < dt {
                    self.potential[v] += dist[v] - dt;
                }
            }
            let mut f = -excess[t];
            let mut v = t;
            while via[v] != u32::MAX {
                let a = via[v] as usize;
                f = f.min(self.cap[a]);
                v = self.to[a ^ 1] as usize;
            }
            f = f.min(excess[v]);
            let source = v;
            let mut v = t;
            while via[v] != u32::MAX {
                let a = via[v] as usize;
                self.cap[a] -= f;
                self.cap[a ^ 1] += f;
                v = self.to[a ^ 1] as usize;
            }
            excess[source] -= f;
            excess[t] += f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Flow;

    /// Two sources of value into one seat: the better path wins, the worse one is left.
    #[test]
    fn only_paths_of_negative_cost_carry_flow() {
        // 0 → 1 (−5), 0 → 2 (−3), 1 → 3, 2 → 3 (cost 1 each), 3 → 4 cap 1.
        let mut f = Flow::new(5);
        let a = f.add(0, 1, 1, -5);
        let b = f.add(0, 2, 1, -3);
        f.add(1, 3, 1, 1);
        f.add(2, 3, 1, 1);
        f.add(3, 4, 1, 0);
        let far = std::time::Instant::now() + std::time::Duration::from_secs(5);
        assert_eq!(f.solve(4, far), Some(-4));
        assert_eq!((f.flow(a), f.flow(b)), (1, 0));
        // Closing the better arc reroutes the seat to the worse source.
        f.close_circulation(4);
        let mut excess = vec![0; 5];
        f.close_arc(a, &mut excess);
        assert!(f.repair(&mut excess, far));
        assert_eq!((f.flow(a), f.flow(b)), (0, 1));
        assert_eq!(f.source_cost(), -3);
    }
}
