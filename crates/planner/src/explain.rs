//! Why each client left short of their required minutes is short, computed from the
//! instance and the final placements (issue 6, part 2).

use crate::format::{Reason, Shortfall};
use crate::validate::Problem;

/// Node limit for the "most minutes this client could ever attend" search.
const REACH_NODES: u32 = 200_000;

/// Most minutes the client could attend taking any non-overlapping eligible groups under
/// their cap; `None` if the search ran out of nodes.
fn reachable_minutes(problem: &Problem, groups: &[usize], cap: i64) -> Option<i64> {
    #[allow(clippy::too_many_arguments, reason = "a local recursive helper")]
    fn rec(
        problem: &Problem,
        groups: &[usize],
        cap: i64,
        i: usize,
        minutes: i64,
        set: &mut Vec<usize>,
        best: &mut i64,
        nodes: &mut u32,
        rest: &[i64],
    ) -> bool {
        *nodes += 1;
        if *nodes > REACH_NODES {
            return false;
        }
        *best = (*best).max(minutes);
        if i == groups.len() || (minutes + rest[i]).min(cap) <= *best {
            return true;
        }
        let g = groups[i];
        let mg = problem.group_minutes[g];
        if minutes + mg <= cap && !set.iter().any(|&h| problem.groups_overlap(g, h)) {
            set.push(g);
            let ok = rec(
                problem,
                groups,
                cap,
                i + 1,
                minutes + mg,
                set,
                best,
                nodes,
                rest,
            );
            set.pop();
            if !ok {
                return false;
            }
        }
        rec(problem, groups, cap, i + 1, minutes, set, best, nodes, rest)
    }
    let mut rest = vec![0; groups.len() + 1];
    for i in (0..groups.len()).rev() {
        rest[i] = rest[i + 1] + problem.group_minutes[groups[i]];
    }
    let mut best = 0;
    let mut nodes = 0;
    rec(
        problem,
        groups,
        cap,
        0,
        0,
        &mut Vec::new(),
        &mut best,
        &mut nodes,
        &rest,
    )
    .then_some(best)
}

/// Shortfalls for the placements `assignments` (client index, group index; sorted).
pub(crate) fn shortfalls(problem: &Problem, assignments: &[(usize, usize)]) -> Vec<Shortfall> {
    let inst = &problem.instance;
    let n_c = inst.clients.len();
    let mut of_client: Vec<Vec<usize>> = vec![Vec::new(); n_c];
    let mut size = vec![0i64; inst.groups.len()];
    for &(c, g) in assignments {
        of_client[c].push(g);
        size[g] += 1;
    }
    let mut eligible: Vec<Vec<usize>> = vec![Vec::new(); n_c];
    for p in &problem.pairs {
        eligible[p.client].push(p.group);
    }
    let mut separated: Vec<Vec<usize>> = vec![Vec::new(); n_c];
    for &(a, b) in &problem.separations {
        separated[a].push(b);
        separated[b].push(a);
    }
    let mut out = Vec::new();
    for (c, client) in inst.clients.iter().enumerate() {
        let minutes: i64 = of_client[c].iter().map(|&g| problem.group_minutes[g]).sum();
        let unmet = client.required_minutes - minutes;
        if unmet <= 0 {
            continue;
        }
        let mut reasons = Vec::new();
        if eligible[c].is_empty() {
            reasons.push(Reason::NoEligibleGroup);
        }
        if client.max_minutes < client.required_minutes {
            reasons.push(Reason::WeeklyCapBelowRequired {
                max_minutes: client.max_minutes,
            });
        }
        // The search recurses once per eligible group; past a few hundred it is skipped
        // (the reason is then simply not claimed).
        if !eligible[c].is_empty()
            && eligible[c].len() <= 256
            && let Some(reach) = reachable_minutes(problem, &eligible[c], client.max_minutes)
            && reach < client.required_minutes
        {
            reasons.push(Reason::NotEnoughEligibleTime {
                reachable_minutes: reach,
            });
        }
        let mut groups = eligible[c].clone();
        groups.sort_unstable();
        for g in groups {
            if of_client[c].contains(&g) {
                continue;
            }
            let gid = &inst.groups[g].id;
            let before = reasons.len();
            for &h in &of_client[c] {
                if problem.groups_overlap(g, h) {
                    reasons.push(Reason::Overlap {
                        group: gid.clone(),
                        with: inst.groups[h].id.clone(),
                    });
                }
            }
            for &o in &separated[c] {
                if of_client[o].contains(&g) {
                    reasons.push(Reason::Separation {
                        group: gid.clone(),
                        other: inst.clients[o].id.clone(),
                    });
                }
            }
            let group = &inst.groups[g];
            if size[g] >= group.max_size {
                reasons.push(Reason::GroupFull { group: gid.clone() });
            } else if size[g] == 0 && group.min_size > 1 {
                reasons.push(Reason::GroupBelowMinimum {
                    group: gid.clone(),
                    min_size: group.min_size,
                });
            }
            if minutes + problem.group_minutes[g] > client.max_minutes {
                reasons.push(Reason::WeeklyCap { group: gid.clone() });
            }
            if reasons.len() == before {
                reasons.push(Reason::TradeOff { group: gid.clone() });
            }
        }
        out.push(Shortfall {
            client: client.id.clone(),
            unmet_minutes: unmet,
            reasons,
        });
    }
    out
}

/// Shortfalls of any solution (its eligible assignments; others are ignored).
pub fn explain(problem: &Problem, solution: &crate::format::Solution) -> Vec<Shortfall> {
    let mut pairs: Vec<(usize, usize)> = solution
        .assignments
        .iter()
        .filter_map(|a| {
            let c = *problem.client_index.get(&a.client)?;
            let g = *problem.group_index.get(&a.group)?;
            problem.pair(c, g).map(|_| (c, g))
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    shortfalls(problem, &pairs)
}
