//! Branch and bound over which groups run, on the network relaxation of [`crate::relax`]:
//! best bound first, each node's flow an upper bound on everything below it.
//!
//! A node's flow is a plan as it stands (integral, every client within their classes and
//! weekly cap) unless a group it uses holds fewer than `min_size` members or two
//! separated clients share a group. The first kind branches on the group (closed, or open
//! with its minimum enforced); the second on the pair (one of the two kept out). A node
//! whose flow breaks neither is solved: its flow is the best plan below it.
//!
//! Deterministic: the order of nodes depends only on their bounds and creation order, and
//! the node limit, not the clock, ends a search that the deadline does not cut.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::flow::Flow;
use crate::model::Model;
use crate::relax::{Change, Network, Relaxed, Run};
use crate::search::State;

/// What a search found.
pub(crate) struct Outcome {
    /// The best plan known (the incumbent if nothing better was found) and its value.
    pub x: Vec<bool>,
    pub value: i64,
    /// An upper bound on the component: the best open node, or `value` when the search
    /// finished (then `value` is optimal).
    pub bound: i64,
    pub complete: bool,
    /// The deadline, not the node limit, ended an unfinished search.
    pub timed_out: bool,
    pub nodes: u64,
}

struct Node {
    run: Vec<Run>,
    banned: Vec<u32>,
    relaxed: Relaxed,
    /// The node's optimal flow, kept while memory allows (its children start from it);
    /// otherwise rebuilt from the root's when the node is branched on.
    flow: Option<Flow>,
}

/// Flows kept in open nodes at most (a flow is a few hundred kilobytes on the largest
/// components of the sweep).
const KEPT_FLOWS: usize = 256;

/// Whether the plan `x` keeps every group at 0 or its minimum and every separation.
fn violation(m: &Model, x: &[bool]) -> Option<Branch> {
    let mut size = vec![0u32; m.n_groups()];
    for (p, &on) in x.iter().enumerate() {
        if on {
            size[m.p_group[p] as usize] += 1;
        }
    }
    // The group furthest from both ends (empty and its minimum) first.
    let worst = (0..m.n_groups())
        .filter(|&g| size[g] > 0 && size[g] < m.g_min[g])
        .max_by_key(|&g| (size[g].min(m.g_min[g] - size[g]), Reverse(g)));
    if let Some(g) = worst {
        return Some(Branch::Group(g));
    }
    for (p, &on) in x.iter().enumerate() {
        if on && let Some(&q) = m.p_sep[p].iter().find(|&&q| x[q as usize]) {
            return Some(Branch::Pair(p, q as usize));
        }
    }
    None
}

enum Branch {
    Group(usize),
    Pair(usize, usize),
}

/// Search for a plan better than `incumbent` (value `incumbent_value`), visiting at most
/// `node_limit` nodes. `root` is the relaxation at the root, already solved.
pub(crate) fn search(
    m: &Model,
    network: &Network,
    root: Relaxed,
    incumbent: &[bool],
    incumbent_value: i64,
    node_limit: u64,
    deadline: Instant,
) -> Outcome {
    let mut best_x = incumbent.to_vec();
    let mut best = incumbent_value;
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> = BinaryHeap::new();
    let mut nodes: Vec<Option<Node>> = Vec::new();
    let mut visited = 0u64;
    let mut kept = 1usize;
    let push = |node: Node,
                heap: &mut BinaryHeap<(i64, Reverse<u64>)>,
                nodes: &mut Vec<Option<Node>>,
                best: &mut i64,
                best_x: &mut Vec<bool>| {
        let v = node.relaxed.value;
        if v <= *best {
            return;
        }
        if violation(m, &node.relaxed.x).is_none() {
            *best = v;
            best_x.clone_from(&node.relaxed.x);
            return;
        }
        // A plan from the node's flow, repaired: a new incumbent now and then.
        let s = State::from_relaxation(m, &node.relaxed.x, &node.relaxed.price);
        if s.value > *best {
            *best = s.value;
            best_x.clone_from(&s.x);
        }
        if v > *best {
            heap.push((v, Reverse(nodes.len() as u64)));
            nodes.push(Some(node));
        }
    };
    push(
        Node {
            run: vec![Run::Free; m.n_groups()],
            banned: Vec::new(),
            relaxed: root,
            flow: Some(network.root_flow().clone()),
        },
        &mut heap,
        &mut nodes,
        &mut best,
        &mut best_x,
    );
    let mut cut = false;
    while let Some(&(v, Reverse(id))) = heap.peek() {
        if v <= best {
            heap.clear();
            break;
        }
        if visited >= node_limit || Instant::now() >= deadline {
            cut = true;
            break;
        }
        heap.pop();
        visited += 1;
        let Some(node) = nodes[id as usize].take() else {
            continue;
        };
        kept -= usize::from(node.flow.is_some());
        let Some(branch) = violation(m, &node.relaxed.x) else {
            continue;
        };
        let base = match node.flow {
            Some(f) => Some(f),
            None => network.node_flow(m, &node.run, &node.banned, deadline),
        };
        let Some(base) = base else {
            // Only the deadline stops a repair from the root: keep the node's bound.
            cut = true;
            heap.push((v, Reverse(u64::MAX)));
            break;
        };
        let changes: [Change; 2] = match branch {
            Branch::Group(g) => [Change::Close(g), Change::Open(g)],
            Branch::Pair(p, q) => [Change::Ban(p), Change::Ban(q)],
        };
        for change in changes {
            let mut run = node.run.clone();
            let mut ban = node.banned.clone();
            match change {
                Change::Close(g) => run[g] = Run::Closed,
                Change::Open(g) => run[g] = Run::Open,
                Change::Ban(p) => ban.push(p as u32),
            }
            let solved = network.child(m, &base, change, &run, deadline);
            if let Some((relaxed, flow)) = solved {
                let keep = kept < KEPT_FLOWS;
                let stored = nodes.len();
                push(
                    Node {
                        run,
                        banned: ban,
                        relaxed,
                        flow: keep.then_some(flow),
                    },
                    &mut heap,
                    &mut nodes,
                    &mut best,
                    &mut best_x,
                );
                kept += usize::from(keep && nodes.len() > stored);
            } else if Instant::now() >= deadline {
                // The child was not solved: keep its parent's bound in the answer.
                cut = true;
                heap.push((v, Reverse(u64::MAX)));
            }
        }
        if cut {
            break;
        }
    }
    let open = heap.peek().map_or(best, |&(v, _)| v.max(best));
    Outcome {
        x: best_x,
        value: best,
        bound: open,
        complete: !cut && heap.is_empty(),
        timed_out: cut && visited < node_limit,
        nodes: visited,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::search;
    use crate::format::{Assignment, SOLUTION_FORMAT, Solution};
    use crate::model::components;
    use crate::relax::{self, Run};
    use crate::rng::Rng;
    use crate::score::evaluate;
    use crate::search::State;
    use crate::validate::Problem;

    /// A random instance whose clients all have the network's shape: every group meets
    /// once for an hour on one of two days at one of three hours (so overlaps are classes).
    fn instance(rng: &mut Rng) -> Problem {
        let n_g = 1 + rng.below(4);
        let n_c = 1 + rng.below(5);
        let groups: Vec<_> = (0..n_g)
            .map(|g| {
                let min = rng.below(4);
                let start = [540, 600, 660][rng.below(3)];
                json!({"id": format!("g{g}"), "min_size": min, "max_size": min.max(1) + rng.below(3),
                       "meetings": [{"day": rng.below(2), "start": start,
                                     "minutes": 60}], "members": []})
            })
            .collect();
        let mut eligible = Vec::new();
        for c in 0..n_c {
            for g in 0..n_g {
                if eligible.len() < 12 && rng.below(3) > 0 {
                    eligible.push(json!({"client": format!("c{c}"), "group": format!("g{g}"),
                                         "fit": rng.below(101)}));
                }
            }
        }
        let clients: Vec<_> = (0..n_c)
            .map(|c| {
                json!({"id": format!("c{c}"), "required_minutes": 60 * rng.below(4),
                       "max_minutes": 60 + 30 * rng.below(6), "current": []})
            })
            .collect();
        let seps: Vec<_> = (0..rng.below(3))
            .map(|_| (rng.below(n_c), rng.below(n_c)))
            .filter(|(a, b)| a != b)
            .map(|(a, b)| json!([format!("c{a}"), format!("c{b}")]))
            .collect();
        let v = json!({"format": "circle-placement/1", "name": "shaped",
                       "weights": {"unmet_minute": 2, "continuity_break": 60},
                       "groups": groups, "clients": clients, "eligible": eligible,
                       "separations": seps});
        Problem::new(serde_json::from_value(v).unwrap()).unwrap()
    }

    fn solution(p: &Problem, pairs: &[usize]) -> Solution {
        Solution {
            format: SOLUTION_FORMAT.to_owned(),
            instance: "shaped".to_owned(),
            assignments: pairs
                .iter()
                .map(|&i| Assignment {
                    client: p.instance.clients[p.pairs[i].client].id.clone(),
                    group: p.instance.groups[p.pairs[i].group].id.clone(),
                })
                .collect(),
            shortfalls: Vec::new(),
        }
    }

    fn brute_force(p: &Problem) -> i64 {
        let n = p.pairs.len();
        (0u32..1 << n)
            .filter_map(|mask| {
                let on: Vec<usize> = (0..n).filter(|i| mask >> i & 1 == 1).collect();
                let e = evaluate(p, &solution(p, &on));
                e.feasible.then_some(e.score)
            })
            .max()
            .unwrap()
    }

    /// On random small instances, component by component from an empty plan: the root's
    /// dual bound is at least the optimum, and a finished search returns a feasible plan
    /// worth exactly the brute-force optimum.
    #[test]
    fn the_search_proves_the_brute_force_optimum_and_the_bound_is_never_below_it() {
        let mut rng = Rng::new(17, 0);
        let far = Instant::now() + Duration::from_secs(60);
        for _ in 0..400 {
            let p = instance(&mut rng);
            let best = brute_force(&p);
            let mut chosen = Vec::new();
            let mut bound_total = 0;
            for m in components(&p) {
                let shapes = relax::shapes(&m).unwrap();
                let (network, root) = relax::root(&m, &shapes, far).unwrap();
                let run = vec![Run::Free; m.n_groups()];
                let banned = vec![false; m.n_pairs()];
                let bound = relax::dual_bound(&m, &shapes, &run, &banned, &root.price);
                assert!(
                    bound >= root.value,
                    "the dual bound is at least the flow's value"
                );
                let empty = State::empty(&m);
                let found = search(&m, &network, root, &empty.x, empty.value, 100_000, far);
                assert!(found.complete);
                assert!(bound >= found.value);
                assert_eq!(State::from_pairs(&m, &found.x).value, found.value);
                bound_total += bound - found.value;
                chosen.extend(
                    (0..m.n_pairs())
                        .filter(|&q| found.x[q])
                        .map(|q| m.p_global[q]),
                );
            }
            let e = evaluate(&p, &solution(&p, &chosen));
            assert!(e.feasible, "{:?}", e.violations);
            assert_eq!(e.score, best, "{:?}", p.instance);
            assert!(e.score + bound_total >= best);
        }
    }
}
