//! The linear relaxation of one component, solved as a network, for the bound and for
//! branch and bound.
//!
//! When every client of the component has the shape of [`bound::shape`] (options fall into
//! classes of mutually overlapping groups, all of the same length — what every level of
//! the generator's programs gives), the relaxation without minimum sizes and separations
//! is a minimum-cost flow: source → client (one arc per step of the concave unmet-minutes
//! value: each option while the client is short of their required minutes is worth the
//! minutes it covers), client → class (one option per class), class → group (the pair's
//! fit and continuity), group → sink (the seats). Its optimum equals the LP relaxation's
//! (a continuous "group runs" variable makes minimum sizes free) less the separations,
//! and network optima are integral.
//!
//! A branch-and-bound node fixes groups closed (no seats) or open (the first `min_size`
//! seats must be filled: they carry a cost so large that the flow fills them whenever it
//! can, and a node where it cannot is infeasible), and may ban pairs (to resolve a
//! separation).
//!
//! The bound reported is not the flow's value but the Lagrangian function of
//! [`bound`] at the seat prices the flow's dual gives: valid for any prices whatever the
//! flow did, and equal to the flow's value when the flow is optimal.

use std::time::Instant;

use crate::bound::{self, ClientShape};
use crate::flow::Flow;
use crate::model::Model;

/// Cost of leaving a seat of an open group's minimum empty: more than any plan is worth.
const BIG: i64 = 1 << 40;

/// A group's state in a branch-and-bound node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    Free,
    Closed,
    Open,
}

/// The relaxation at one node.
#[derive(Debug, Clone)]
pub(crate) struct Relaxed {
    /// The flow's optimum (fit, continuity and unmet minutes, as the score counts them).
    pub value: i64,
    /// Pairs the flow takes (integral).
    pub x: Vec<bool>,
    /// Seat prices of the dual (per local group).
    pub price: Vec<f64>,
}

/// Whether the network form applies to every client of `m`.
pub(crate) fn shapes(m: &Model) -> Option<Vec<ClientShape>> {
    let shapes: Vec<ClientShape> = (0..m.n_clients()).map(|c| bound::shape(m, c)).collect();
    shapes.iter().all(|s| s.classes.is_some()).then_some(shapes)
}

/// The root relaxation, solved, kept as a circulation that nodes start from.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    net: Flow,
    /// Arc of each pair (`usize::MAX` for a client without the network's shape).
    pair_arc: Vec<usize>,
    /// Per group: the arc of the first `min_size` seats and the arc of the rest.
    seat_arcs: Vec<(usize, usize)>,
    group0: usize,
    t: usize,
    /// Σ unmet value at zero minutes: the value of sending nothing.
    base: i64,
}

/// Build and solve the root relaxation (every group free, nothing banned). `None` when a
/// client lacks the shape or the deadline passed.
pub(crate) fn root(
    m: &Model,
    shapes: &[ClientShape],
    deadline: Instant,
) -> Option<(Network, Relaxed)> {
    let n_c = m.n_clients();
    let class_start: Vec<usize> = {
        let mut v = Vec::with_capacity(n_c + 1);
        let mut at = 1 + n_c;
        for s in shapes {
            v.push(at);
            at += s.classes.as_ref().map_or(0, |c| c.1);
        }
        v.push(at);
        v
    };
    let group0 = class_start[n_c];
    let t = group0 + m.n_groups();
    let mut net = Flow::new(t + 1);
    let mut pair_arc = vec![usize::MAX; m.n_pairs()];
    let w = m.w_unmet;
    let mut base = 0i64;
    for (c, s) in shapes.iter().enumerate() {
        let (class, count, minutes) = s.classes.as_ref()?;
        base += m.unmet_value(c, 0);
        if *count == 0 {
            continue;
        }
        let k_max = if *minutes > 0 {
            ((m.c_max[c] / minutes) as usize).min(*count)
        } else {
            *count
        };
        // The concave value of holding k options, one arc per run of equal steps.
        let step =
            |i: i64| w * ((i * minutes).min(m.c_req[c]) - ((i - 1) * minutes).min(m.c_req[c]));
        let mut i = 1;
        while i <= k_max as i64 {
            let v = step(i);
            let mut j = i;
            while j < k_max as i64 && step(j + 1) == v {
                j += 1;
            }
            net.add(0, 1 + c, j - i + 1, -v);
            i = j + 1;
        }
        for k in 0..*count {
            net.add(1 + c, class_start[c] + k, 1, 0);
        }
        for (i, p) in m.pairs_of(c).enumerate() {
            let g = m.p_group[p] as usize;
            pair_arc[p] = net.add(
                class_start[c] + class[i] as usize,
                group0 + g,
                1,
                -m.p_gain[p],
            );
        }
    }
    let seat_arcs = (0..m.n_groups())
        .map(|g| {
            let (min, max) = (i64::from(m.g_min[g]), i64::from(m.g_max[g]));
            let first = net.add(group0 + g, t, min.min(max), 0);
            let rest = net.add(group0 + g, t, (max - min).max(0), 0);
            (first, rest)
        })
        .collect();
    net.solve(t, deadline)?;
    net.close_circulation(t);
    let network = Network {
        net,
        pair_arc,
        seat_arcs,
        group0,
        t,
        base,
    };
    let run = vec![Run::Free; m.n_groups()];
    let relaxed = network.read(m, &network.net, &run);
    Some((network, relaxed))
}

/// One branching decision.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change {
    Close(usize),
    Open(usize),
    Ban(usize),
}

impl Network {
    fn apply(&self, m: &Model, net: &mut Flow, change: Change, excess: &mut [i64]) {
        match change {
            Change::Close(g) => {
                let (first, rest) = self.seat_arcs[g];
                net.close_arc(first, excess);
                net.close_arc(rest, excess);
                for &p in &m.g_pairs[g] {
                    net.close_arc(self.pair_arc[p as usize], excess);
                }
            }
            Change::Open(g) => net.set_cost(self.seat_arcs[g].0, -BIG, excess),
            Change::Ban(p) => net.close_arc(self.pair_arc[p], excess),
        }
    }

    /// The optimal flow of the node given by `run` and `banned`, from the root's.
    pub fn node_flow(
        &self,
        m: &Model,
        run: &[Run],
        banned: &[u32],
        deadline: Instant,
    ) -> Option<Flow> {
        let mut net = self.net.clone();
        let mut excess = vec![0i64; self.t + 1];
        for (g, &r) in run.iter().enumerate() {
            match r {
                Run::Free => {}
                Run::Closed => self.apply(m, &mut net, Change::Close(g), &mut excess),
                Run::Open => self.apply(m, &mut net, Change::Open(g), &mut excess),
            }
        }
        for &p in banned {
            self.apply(m, &mut net, Change::Ban(p as usize), &mut excess);
        }
        net.repair(&mut excess, deadline).then_some(net)
    }

    /// The relaxation of a child node: `parent`'s optimal flow with `change` made and
    /// repaired (`run` already includes the change). `None` when the child is infeasible
    /// (an open group's minimum cannot be filled) or the deadline passed.
    pub fn child(
        &self,
        m: &Model,
        parent: &Flow,
        change: Change,
        run: &[Run],
        deadline: Instant,
    ) -> Option<(Relaxed, Flow)> {
        let mut net = parent.clone();
        let mut excess = vec![0i64; self.t + 1];
        self.apply(m, &mut net, change, &mut excess);
        if !net.repair(&mut excess, deadline) {
            return None;
        }
        for (g, &r) in run.iter().enumerate() {
            if r == Run::Open && net.flow(self.seat_arcs[g].0) < i64::from(m.g_min[g]) {
                return None;
            }
        }
        let relaxed = self.read(m, &net, run);
        Some((relaxed, net))
    }

    /// The root's optimal flow.
    pub fn root_flow(&self) -> &Flow {
        &self.net
    }

    fn read(&self, m: &Model, net: &Flow, run: &[Run]) -> Relaxed {
        let x: Vec<bool> = self.pair_arc.iter().map(|&a| net.flow(a) > 0).collect();
        // Value: the base, plus every arc's value at its flow (seats carry none; the
        // source arcs carry the unmet minutes covered, the pair arcs fit and continuity).
        let mut value = self.base;
        value += (0..m.n_pairs())
            .filter(|&p| x[p])
            .map(|p| m.p_gain[p])
            .sum::<i64>();
        value -= net.source_cost();
        let pt = net.potential(self.t);
        let price = (0..m.n_groups())
            .map(|g| {
                let p = (pt - net.potential(self.group0 + g)) as f64;
                match run[g] {
                    Run::Open => p,
                    Run::Closed => f64::INFINITY,
                    Run::Free => p.max(0.0),
                }
            })
            .collect();
        Relaxed { value, x, price }
    }
}

/// The Lagrangian function at `price` for the node (`run`, `banned`): an upper bound on
/// every solution of the node whatever the prices (closed groups priced at infinity, open
/// ones at any sign). Rounded down to an integer.
pub(crate) fn dual_bound(
    m: &Model,
    shapes: &[ClientShape],
    run: &[Run],
    banned: &[bool],
    price: &[f64],
) -> i64 {
    let mut value = 0.0f64;
    let mut price = price.to_vec();
    for g in 0..m.n_groups() {
        let (min, max) = (f64::from(m.g_min[g]), f64::from(m.g_max[g]));
        match run[g] {
            Run::Closed => price[g] = f64::INFINITY,
            Run::Free => {
                price[g] = price[g].max(0.0);
                value += price[g] * max;
            }
            Run::Open => value += (price[g] * max).max(price[g] * min),
        }
    }
    let mut chosen = Vec::new();
    let mut scratch = Vec::new();
    for (c, s) in shapes.iter().enumerate() {
        value += bound::client_best(m, c, s, &price, Some(banned), &mut chosen, &mut scratch);
    }
    (value + 1e-6).floor() as i64
}

/// Each client's best options at seat prices `price`, capacities ignored (the Lagrangian's
/// best responses): a start for the local search that differs from the flow's own plan
/// where many clients want the same cheap seats.
pub(crate) fn best_responses(m: &Model, shapes: &[ClientShape], price: &[f64]) -> Vec<bool> {
    let mut wanted = vec![false; m.n_pairs()];
    let mut chosen = Vec::new();
    let mut scratch = Vec::new();
    for (c, s) in shapes.iter().enumerate() {
        bound::client_best(m, c, s, price, None, &mut chosen, &mut scratch);
        for &p in &chosen {
            wanted[p] = true;
        }
    }
    wanted
}
