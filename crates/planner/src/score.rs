//! Feasibility and score of a solution, written to agree exactly with
//! `shared/bench/check_solution.py` (same rules, same counting of duplicates, ineligible
//! pairs and breaks).

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::format::Solution;
use crate::validate::Problem;

/// The checker's verdict on one solution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub feasible: bool,
    pub violation_count: usize,
    /// Every violation found, in the checker's order.
    pub violations: Vec<String>,
    pub score: i64,
    pub fit: i64,
    pub unmet_minutes: i64,
    pub breaks: i64,
    /// Distinct (client, group) pairs in the solution.
    pub assignments: usize,
}

/// Check `solution` against `problem` and score it.
pub fn evaluate(problem: &Problem, solution: &Solution) -> Evaluation {
    let inst = &problem.instance;
    let mut violations = Vec::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut of_client: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut of_group: BTreeMap<usize, usize> = BTreeMap::new();
    let mut fit = 0;
    for a in &solution.assignments {
        if !seen.insert((a.client.as_str(), a.group.as_str())) {
            violations.push(format!("duplicate assignment ({}, {})", a.client, a.group));
            continue;
        }
        let pair = match (
            problem.client_index.get(&a.client),
            problem.group_index.get(&a.group),
        ) {
            (Some(&c), Some(&g)) => problem.pair(c, g).map(|p| (c, g, p)),
            _ => None,
        };
        let Some((c, g, p)) = pair else {
            violations.push(format!("not eligible: ({}, {})", a.client, a.group));
            continue;
        };
        fit += problem.pairs[p].fit;
        of_client.entry(c).or_default().push(g);
        *of_group.entry(g).or_default() += 1;
    }
    for (&g, &n) in &of_group {
        let group = &inst.groups[g];
        let n = n as i64;
        if n < group.min_size || n > group.max_size {
            violations.push(format!(
                "group {} has {} members, allowed 0 or {}-{}",
                group.id, n, group.min_size, group.max_size
            ));
        }
    }
    let mut unmet = 0;
    for (c, client) in inst.clients.iter().enumerate() {
        let gids = of_client.get(&c).map(Vec::as_slice).unwrap_or(&[]);
        let total: i64 = gids.iter().map(|&g| problem.group_minutes[g]).sum();
        unmet += (client.required_minutes - total).max(0);
        if total > client.max_minutes {
            violations.push(format!(
                "client {} has {} minutes, max {}",
                client.id, total, client.max_minutes
            ));
        }
        for (i, &g1) in gids.iter().enumerate() {
            for &g2 in &gids[i + 1..] {
                if problem.groups_overlap(g1, g2) {
                    violations.push(format!(
                        "client {} double-booked in {} and {}",
                        client.id, inst.groups[g1].id, inst.groups[g2].id
                    ));
                }
            }
        }
    }
    for [a, b] in &inst.separations {
        let empty = Vec::new();
        let ga = problem
            .client_index
            .get(a)
            .and_then(|c| of_client.get(c))
            .unwrap_or(&empty);
        let gb = problem
            .client_index
            .get(b)
            .and_then(|c| of_client.get(c))
            .unwrap_or(&empty);
        let mut shared: Vec<&str> = ga
            .iter()
            .filter(|g| gb.contains(g))
            .map(|&g| inst.groups[g].id.as_str())
            .collect();
        shared.sort_unstable();
        shared.dedup();
        for gid in shared {
            violations.push(format!("separated pair {a},{b} both in {gid}"));
        }
    }
    let breaks = inst
        .clients
        .iter()
        .flat_map(|c| c.current.iter().map(move |g| (c.id.as_str(), g.as_str())))
        .filter(|p| !seen.contains(p))
        .count() as i64;
    let w = inst.weights;
    Evaluation {
        feasible: violations.is_empty(),
        violation_count: violations.len(),
        violations,
        score: fit - w.unmet_minute * unmet - w.continuity_break * breaks,
        fit,
        unmet_minutes: unmet,
        breaks,
        assignments: seen.len(),
    }
}
