//! The solver entry point: split into components, construct from current placements,
//! anneal each component (exactly search the small ones), bound, explain.
//!
//! Determinism: the work done is fixed by an iteration budget derived from the time limit
//! (`ITERATIONS_PER_SECOND` × seconds, spread over components by size), and each component
//! draws from its own stream of the seed. The wall clock is only a safety cap: if a slow
//! machine reaches the time limit before the budget is spent, the run stops early, the
//! report says `timed_out`, and only then can the result differ between runs. The thread
//! count only changes how components are spread over threads, never their results.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::bound;
use crate::exact;
use crate::explain;
use crate::format::{Assignment, SOLUTION_FORMAT, Solution};
use crate::model::{Model, components};
use crate::rng::Rng;
use crate::score::{Evaluation, evaluate};
use crate::search::{Anneal, State, anneal};
use crate::validate::Problem;

/// Annealing moves budgeted per second of time limit (calibrated so that a 2-core machine
/// spends the budget well within the limit).
pub const ITERATIONS_PER_SECOND: u64 = 4_000_000;

/// How to solve.
#[derive(Debug, Clone, Copy)]
pub struct SolveOptions {
    pub seed: u64,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Wall-clock cap; also sets the default iteration budget.
    pub time_limit: Duration,
    /// Total annealing moves; `None` derives it from `time_limit`.
    pub iterations: Option<u64>,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            seed: 1,
            threads: 1,
            time_limit: Duration::from_secs(1),
            iterations: None,
        }
    }
}

/// The result of [`solve`].
#[derive(Debug, Clone)]
pub struct SolveReport {
    pub solution: Solution,
    /// The solution scored by [`evaluate`] (the checker's rules).
    pub evaluation: Evaluation,
    /// An upper bound on the best possible score, when one was computed.
    pub bound: Option<i64>,
    /// True when the score is proven to be the best possible.
    pub proven_optimal: bool,
    /// True when the wall-clock cap stopped the search before its budget was spent.
    pub timed_out: bool,
    pub components: usize,
}

struct ComponentResult {
    x: Vec<bool>,
    value: i64,
    bound: i64,
    proven: bool,
    timed_out: bool,
}

fn solve_component(
    m: &Model,
    current: &[bool],
    iterations: u64,
    seed: u64,
    index: usize,
    deadline: Instant,
) -> ComponentResult {
    let mut rng = Rng::new(seed, index as u64 + 1);
    let start = State::construct(m, current);
    let (s, timed_out) = anneal(
        start,
        Anneal {
            iterations,
            t_start: 40.0,
            t_end: 1.0,
        },
        &mut rng,
        Some(deadline),
    );
    let mut x = s.x.clone();
    let mut value = s.value;
    let mut proven = false;
    let mut upper = bound::lagrangian(m, value, deadline);
    if upper <= value {
        proven = true;
        upper = value;
    } else if let Some((ex, ev, done)) = exact::branch_and_bound(m, &x, value, deadline) {
        if ev > value {
            x = ex;
            value = ev;
        }
        if done {
            proven = true;
            upper = value;
        }
    }
    ComponentResult {
        x,
        value,
        bound: upper,
        proven,
        timed_out,
    }
}

/// Solve `problem`. Pure apart from reading the clock for the time cap.
pub fn solve(problem: &Problem, options: &SolveOptions) -> SolveReport {
    let started = Instant::now();
    let deadline = started + options.time_limit;
    let models = components(problem);
    let total_pairs: usize = models.iter().map(Model::n_pairs).sum::<usize>().max(1);
    let budget = options
        .iterations
        .unwrap_or((options.time_limit.as_secs_f64() * ITERATIONS_PER_SECOND as f64) as u64);
    let currents: Vec<Vec<bool>> = models
        .iter()
        .map(|m| {
            (0..m.n_pairs())
                .map(|p| {
                    let pair = problem.pairs[m.p_global[p]];
                    problem.current[pair.client].contains(&pair.group)
                })
                .collect()
        })
        .collect();
    let results: Vec<Mutex<Option<ComponentResult>>> =
        models.iter().map(|_| Mutex::new(None)).collect();
    // Largest components first so the threads finish together.
    let mut order: Vec<usize> = (0..models.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(models[i].n_pairs()));
    let next = AtomicUsize::new(0);
    let worker = || {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            let m = &models[i];
            let iterations = (budget as u128 * m.n_pairs() as u128 / total_pairs as u128) as u64;
            let r = solve_component(m, &currents[i], iterations, options.seed, i, deadline);
            if let Ok(mut slot) = results[i].lock() {
                *slot = Some(r);
            }
        }
    };
    let threads = options.threads.clamp(1, models.len().max(1));
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(worker);
            }
        });
    }

    let mut assignments = Vec::new();
    let mut bound_total: i64 = 0;
    let mut proven = true;
    let mut timed_out = false;
    for (i, m) in models.iter().enumerate() {
        let r = results[i]
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .expect("every component is solved by exactly one worker");
        for (p, &on) in r.x.iter().enumerate() {
            if on {
                let pair = problem.pairs[m.p_global[p]];
                assignments.push((pair.client, pair.group));
            }
        }
        bound_total += r.bound - r.value;
        proven &= r.proven;
        timed_out |= r.timed_out;
    }
    assignments.sort_unstable();
    let inst = &problem.instance;
    let mut solution = Solution {
        format: SOLUTION_FORMAT.to_owned(),
        instance: inst.name.clone(),
        assignments: assignments
            .iter()
            .map(|&(c, g)| Assignment {
                client: inst.clients[c].id.clone(),
                group: inst.groups[g].id.clone(),
            })
            .collect(),
        shortfalls: Vec::new(),
    };
    solution.shortfalls = explain::shortfalls(problem, &assignments);
    let evaluation = evaluate(problem, &solution);
    let bound = evaluation.score + bound_total;
    SolveReport {
        proven_optimal: proven || bound <= evaluation.score,
        solution,
        evaluation,
        bound: Some(bound),
        timed_out,
        components: models.len(),
    }
}
