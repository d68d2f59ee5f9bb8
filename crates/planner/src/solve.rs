//! The solver entry point. The problem is split into components (clients and groups that
//! share no eligible pair never interact), and each component goes through:
//!
//! 1. two constructions — the current placements kept where still feasible, and the best
//!    responses at the seat prices of a Lagrangian relaxation — and the better is kept;
//! 2. exhaustive branch and bound when the component is small (a finished search proves it
//!    optimal); otherwise, when every client has the network shape, the LP relaxation as a
//!    minimum-cost flow ([`crate::relax`]: the bound, and a third construction) and branch
//!    and bound over which groups run ([`crate::branch`]) on 60 % of the component's time;
//!    a finished search proves the component optimal and ends it;
//! 3. ejection chains (augmenting paths of the transportation problem underneath, checked
//!    against the side rules), reshaping (open/close a group, repair, keep if better),
//!    cold annealing, exact large-neighbourhood steps on a few groups, exact steps around
//!    every pair a separation blocks (the separated member moves on, the seats around
//!    them are reassigned), chains again, and as many reshaping rounds again from the
//!    improved state (components too large for the network relaxation skip the first
//!    reshaping pass, take larger and more exact steps, and a first pass of them before
//!    the annealing);
//! 4. the relaxation again against the final score, for the bound.
//!
//! Determinism: the work is fixed by a budget (`ITERATIONS_PER_SECOND` × seconds × threads,
//! spread over components by size; every phase stops early when it reaches the bound), and
//! each component draws from its own stream of the seed, so the same instance, seed,
//! thread count and time limit give the same solution. The wall clock is a cap: when a
//! component reaches its share of the time (or the limit) before its budget, it stops, the
//! report says `timed_out`, and only then can two runs differ. On the benchmark machine
//! (2 cores) medium instances finish their budget in about half the limit; large ones run
//! into the cap — there the result depends on the machine's speed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bound;
use crate::branch;
use crate::exact;
use crate::explain;
use crate::format::{Assignment, SOLUTION_FORMAT, Solution};
use crate::model::{Model, components};
use crate::relax::{self, Run};
use crate::rng::Rng;
use crate::score::{Evaluation, evaluate};
use crate::search::{Anneal, State, anneal, chains, lns, reshape, separations};
use crate::validate::Problem;

/// Annealing moves budgeted per second of time limit (calibrated so that a 2-core machine
/// spends the budget well within the limit).
pub const ITERATIONS_PER_SECOND: u64 = 400_000;

/// Components above this many eligible pairs skip the network relaxation and branch and
/// bound (the sweep's largest component has about 9,000; a 10,000-client network's
/// telehealth components have tens of thousands).
const MAX_FLOW_PAIRS: usize = 20_000;

/// Most free pairs in one exact large-neighbourhood step: on components the network
/// relaxation solves, and on larger ones.
const LNS_FREE: usize = 60;
const LNS_FREE_LARGE: usize = 250;

/// How much more wall-clock time per pair a component the network relaxation solves (at
/// most [`MAX_FLOW_PAIRS`] pairs) gets than a larger one, when a thread shares its time
/// among its components. Such components are proven optimal in a few tens of milliseconds
/// and hand back what they do not use to those after them; in proportion to pairs alone,
/// the 160 components of 500–1,100 pairs of a 20,000-client network got about 20 ms each,
/// and under load half of them stopped before the proof.
const FLOW_TIME_WEIGHT: u64 = 4;

/// A component's weight when a thread's wall clock is shared among its components.
fn time_weight(pairs: usize) -> u64 {
    let w = pairs as u64;
    if pairs <= MAX_FLOW_PAIRS {
        w * FLOW_TIME_WEIGHT
    } else {
        w
    }
}

/// How to solve.
#[derive(Debug, Clone, Copy)]
pub struct SolveOptions {
    pub seed: u64,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Wall-clock cap; also sets the default iteration budget.
    pub time_limit: Duration,
    /// Search budget per thread, in annealing moves; `None` derives it from `time_limit`.
    pub iterations: Option<u64>,
    /// Search small components exhaustively (and prove them optimal). Off only to exercise
    /// the heuristics on small instances in tests.
    pub exhaustive: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            seed: 1,
            threads: 1,
            time_limit: Duration::from_secs(1),
            iterations: None,
            exhaustive: true,
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
    /// How far the score may be from the best possible, as a fraction of the bound's
    /// magnitude: `(bound − score) / max(|bound|, 1)`; `0.0` when proven optimal. The
    /// planner page can say "within X % of the best possible" from it.
    pub gap: Option<f64>,
    /// True when the wall-clock cap stopped the search before its budget was spent.
    pub timed_out: bool,
    /// Time spent splitting and indexing the problem before any search.
    pub setup_micros: u64,
    /// Per-component figures, in component order.
    pub components: Vec<ComponentStats>,
}

/// What happened in one component (for tuning and the benchmark notes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentStats {
    pub pairs: usize,
    pub clients: usize,
    pub groups: usize,
    /// Value (fit + continuity − unmet penalty of this component) after each phase.
    pub from_current: i64,
    pub from_relaxation: i64,
    pub after_chains: i64,
    pub after_reshape: i64,
    pub after_anneal: i64,
    pub after_lns: i64,
    pub bound: i64,
    pub proven: bool,
    pub iterations: u64,
    /// Branch-and-bound nodes visited.
    pub nodes: u64,
    /// Time to solve the root relaxation, and in the first branch and bound.
    pub root_micros: u64,
    pub bb_micros: u64,
    pub micros: u64,
}

struct ComponentResult {
    x: Vec<bool>,
    value: i64,
    bound: i64,
    proven: bool,
    timed_out: bool,
    stats: ComponentStats,
}

fn solve_component(
    m: &Model,
    current: &[bool],
    iterations: u64,
    options: &SolveOptions,
    index: usize,
    deadline: Instant,
) -> ComponentResult {
    let seed = options.seed;
    let started = Instant::now();
    let mut rng = Rng::new(seed, index as u64 + 1);
    let from_current = State::construct(m, current);
    // The network form of the LP relaxation, when every client has its shape: a bound at
    // the LP's strength, seat prices whose best responses are a second construction (the
    // flow's own plan, repaired), and the root of the branch and bound below.
    // Not on the networks' giant telehealth components: there the flow takes most of a
    // short run, branch and bound has no time to prove anything, and the local search from
    // the subgradient relaxation's prices does better with the time.
    let shapes = (m.n_pairs() <= MAX_FLOW_PAIRS)
        .then(|| relax::shapes(m))
        .flatten();
    let t_root = Instant::now();
    // The relaxation gets at most half of the component's time: on a large component in a
    // short run, chains from a rougher start beat an exact bound with no time left.
    let relax_until = started + deadline.saturating_duration_since(started) / 2;
    let root = shapes.as_ref().and_then(|sh| {
        let (network, r) = relax::root(m, sh, relax_until)?;
        let run = vec![Run::Free; m.n_groups()];
        let banned = vec![false; m.n_pairs()];
        let bound = relax::dual_bound(m, sh, &run, &banned, &r.price);
        Some((network, r, bound))
    });
    // Otherwise the Lagrangian relaxation by subgradient steps, on at most a third of the
    // component's time; when the flow did not finish in time, a few steps only (for a start
    // and a bound), on a tenth of what is left.
    let relaxation = root.is_none().then(|| {
        let now = Instant::now();
        let (steps, until) = if shapes.is_some() {
            (30, now + deadline.saturating_duration_since(now) / 10)
        } else {
            (
                300,
                started + deadline.saturating_duration_since(started) / 3,
            )
        };
        bound::lagrangian(m, from_current.value, None, steps, until)
    });
    let (mut upper, from_prices) = match (&root, &relaxation) {
        (Some((_, r, bound)), _) => {
            let from_flow = State::from_relaxation(m, &r.x, &r.price);
            let wanted = shapes
                .as_ref()
                .map(|sh| relax::best_responses(m, sh, &r.price))
                .unwrap_or_default();
            let from_wishes = State::from_relaxation(m, &wanted, &r.price);
            let better = if from_wishes.value > from_flow.value {
                from_wishes
            } else {
                from_flow
            };
            (*bound, better)
        }
        (None, Some(l)) => (l.bound, State::from_relaxation(m, &l.wanted, &l.price)),
        (None, None) => (i64::MAX, State::construct(m, current)),
    };
    let root = root.map(|(network, r, _)| (network, r));
    let root_micros = t_root.elapsed().as_micros() as u64;
    let mut stats = ComponentStats {
        pairs: m.n_pairs(),
        clients: m.n_clients(),
        groups: m.n_groups(),
        from_current: from_current.value,
        from_relaxation: from_prices.value,
        after_chains: 0,
        after_reshape: 0,
        after_anneal: 0,
        after_lns: 0,
        bound: 0,
        proven: false,
        iterations,
        nodes: 0,
        root_micros,
        bb_micros: 0,
        micros: 0,
    };
    let start = if from_prices.value > from_current.value {
        from_prices
    } else {
        from_current
    };
    let mut proven = false;
    let mut timed_out = false;
    let (mut x, mut value) = (start.x.clone(), start.value);
    if upper > value && options.exhaustive {
        // Small components: exhaustive search first; search further only if it cannot
        // finish.
        if let Some((ex, ev, done)) = exact::branch_and_bound(m, &x, value, deadline) {
            (x, value) = (ex, ev);
            proven = done;
        }
    }
    stats.after_chains = value;
    stats.after_reshape = value;
    stats.after_anneal = value;
    stats.after_lns = value;
    // Branch and bound first, on most of the component's time: where the gap closes it
    // proves the optimum before the local search would have spent its budget.
    if !proven
        && upper > value
        && options.exhaustive
        && let Some((network, root)) = &root
    {
        // Chains first, for a good incumbent; capped by the search's own deadline, so that
        // when they are cut the search has no time to prove anything, and a proof never
        // rests on an incumbent the clock chose.
        let half = started + deadline.saturating_duration_since(started).mul_f64(0.6);
        let mut s = State::from_pairs(m, &x);
        chains(&mut s, upper, iterations / 1000 + 100, half);
        if s.value > value {
            (x, value) = (s.x.clone(), s.value);
        }
        let t0 = Instant::now();
        let found = branch::search(
            m,
            network,
            root.clone(),
            &x,
            value,
            iterations / 200 + 100,
            half,
        );
        if found.value > value {
            (x, value) = (found.x, found.value);
        }
        upper = upper.min(found.bound);
        proven = found.complete;
        timed_out |= found.timed_out;
        stats.nodes = found.nodes;
        stats.bb_micros = t0.elapsed().as_micros() as u64;
    }
    if !proven && upper > value {
        let mut s = State::from_pairs(m, &x);
        // 1. Ejection chains until none improves: the assignment part, done exactly as a
        //    transportation problem would be.
        let chain_budget = iterations / 1000 + 100;
        chains(&mut s, upper, chain_budget, deadline);
        stats.after_chains = s.value;
        // 2. Which groups run: open or close one, repair with chains, keep if better.
        //    Not yet on components too large for the network relaxation: there each round
        //    repairs with chain steps over the whole component, and this pass spent the
        //    component's time without improving it (20,000-client networks); annealing and
        //    the exact steps below gain there, and the polish still reshapes.
        let large = m.n_pairs() > MAX_FLOW_PAIRS;
        let rounds = (iterations / 2000).min(4 * m.n_groups() as u64 + 50);
        let first_rounds = if large { 0 } else { rounds };
        let mut cut = reshape(&mut s, upper, first_rounds, &mut rng, deadline);
        stats.after_reshape = s.value;
        // Exact steps on a few groups at a time (each costs about 400 moves), then the
        // separation steps. On the large components, whose groups have 60–250 eligible
        // pairs each (a 60-pair limit left them one group per step, or none), steps of up
        // to 250 free pairs, four times as many, and a first pass before the annealing:
        // they are where those components gain, and annealing gains nothing on some of
        // them (outpatient networks) while taking a quarter of their time.
        let (lns_rounds, lns_free) = if large {
            (iterations / 100, LNS_FREE_LARGE)
        } else {
            (iterations / 400, LNS_FREE)
        };
        let exact_steps = |s: &mut State<'_>, rng: &mut Rng| {
            let mut cut = lns(s, upper, lns_rounds, lns_free, rng, deadline);
            chains(s, upper, chain_budget, deadline);
            cut |= separations(s, upper, deadline);
            chains(s, upper, chain_budget, deadline);
            cut
        };
        if large {
            cut |= exact_steps(&mut s, &mut rng);
        }
        // 3. Annealing, cold: the state is already good, and on large components a hot
        //    start spends the whole budget finding its way back.
        let (mut s, cut_anneal) = anneal(
            upper,
            s,
            Anneal {
                iterations: iterations / 2,
                t_start: 2.0,
                t_end: 0.2,
            },
            &mut rng,
            Some(deadline),
        );
        cut |= cut_anneal;
        chains(&mut s, upper, chain_budget, deadline);
        stats.after_anneal = s.value;
        // 4. The exact steps (again, on the large components).
        cut |= exact_steps(&mut s, &mut rng);
        // 5. Polish: as many reshaping rounds again, from the improved state.
        cut |= reshape(&mut s, upper, rounds, &mut rng, deadline);
        stats.after_lns = s.value;
        timed_out |= cut;
        if s.value > value {
            (x, value) = (s.x.clone(), s.value);
        }
    }
    if !proven
        && upper > value
        && options.exhaustive
        && let Some((network, root)) = root
    {
        // Prove it, or find what is missing: branch and bound on which groups run.
        let found = branch::search(
            m,
            &network,
            root,
            &x,
            value,
            iterations / 20 + 200,
            deadline,
        );
        if found.value > value {
            (x, value) = (found.x, found.value);
        }
        upper = upper.min(found.bound);
        proven = found.complete;
        timed_out |= found.timed_out && !proven;
        stats.nodes += found.nodes;
    }
    if !proven
        && upper > value
        && let Some(relaxation) = &relaxation
    {
        // Tighten the bound against the final incumbent, from the prices found before.
        let again = bound::lagrangian(m, value, Some(&relaxation.price), 300, deadline);
        upper = upper.min(again.bound);
    }
    if proven || upper <= value {
        proven = true;
        upper = value;
    }
    stats.bound = upper;
    stats.proven = proven;
    stats.micros = started.elapsed().as_micros() as u64;
    ComponentResult {
        x,
        value,
        bound: upper,
        proven,
        timed_out,
        stats,
    }
}

/// Solve `problem`. Pure apart from reading the clock for the time cap.
pub fn solve(problem: &Problem, options: &SolveOptions) -> SolveReport {
    let started = Instant::now();
    // Keep back time for what follows the search (explanations, scoring): about a
    // microsecond per eligible pair, measured on the large benchmark instances.
    let reserve =
        Duration::from_micros(20_000 + problem.pairs.len() as u64).min(options.time_limit / 4);
    let deadline = started + options.time_limit.saturating_sub(reserve);
    let models = components(problem);
    let setup_micros = started.elapsed().as_micros() as u64;
    let total_pairs: usize = models.iter().map(Model::n_pairs).sum::<usize>().max(1);
    let budget = options
        .iterations
        .unwrap_or((options.time_limit.as_secs_f64() * ITERATIONS_PER_SECOND as f64) as u64);
    // A component runs on one thread: its share never exceeds what one thread can do.
    let per_thread_cap = budget / 10 * 8;
    let budget = budget.saturating_mul(options.threads.max(1) as u64);
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
    // Components go to threads largest first, each to the thread with the least work so
    // far (so a giant component has a thread to itself from the start instead of waiting
    // behind the rest); each thread then runs its own smallest first: they finish (often
    // proven optimal) in a fraction of their share, and what they leave goes to the large
    // ones it runs last.
    let threads = options.threads.clamp(1, models.len().max(1));
    let mut by_size: Vec<usize> = (0..models.len()).collect();
    by_size.sort_by_key(|&i| (std::cmp::Reverse(models[i].n_pairs()), i));
    let mut queues: Vec<Vec<usize>> = vec![Vec::new(); threads];
    let mut load = vec![0usize; threads];
    for i in by_size {
        let t = (0..threads).min_by_key(|&t| (load[t], t)).unwrap_or(0);
        load[t] += models[i].n_pairs();
        queues[t].push(i);
    }
    for q in &mut queues {
        q.reverse();
    }
    let worker = |queue: &[usize]| {
        // Time weight of this thread's components not yet started.
        let mut weight_left: u64 = queue
            .iter()
            .map(|&i| time_weight(models[i].n_pairs()))
            .sum();
        for &i in queue {
            let m = &models[i];
            let share = (budget as u128 * m.n_pairs() as u128 / total_pairs as u128) as u64;
            let iterations = share.min(per_thread_cap);
            // The thread's wall clock is shared by time weight (pairs, more for components
            // the flow solves), from what is left of it when the component starts, so that
            // no component starves those queued after it.
            let now = Instant::now();
            let remaining = deadline.saturating_duration_since(now);
            let part = time_weight(m.n_pairs()) as f64 / weight_left.max(1) as f64;
            weight_left -= time_weight(m.n_pairs());
            let own = deadline.min(now + remaining.mul_f64(part));
            let r = solve_component(m, &currents[i], iterations, options, i, own);
            if let Ok(mut slot) = results[i].lock() {
                *slot = Some(r);
            }
        }
    };
    if let [queue] = queues.as_slice() {
        worker(queue);
    } else {
        std::thread::scope(|scope| {
            for queue in &queues {
                scope.spawn(|| worker(queue));
            }
        });
    }

    let mut assignments = Vec::new();
    let mut bound_total: i64 = 0;
    let mut proven = true;
    let mut timed_out = false;
    let mut stats = Vec::with_capacity(models.len());
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
        stats.push(r.stats);
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
    let proven = proven || bound <= evaluation.score;
    let gap = if proven {
        0.0
    } else {
        (bound - evaluation.score) as f64 / (bound.abs().max(1)) as f64
    };
    SolveReport {
        proven_optimal: proven,
        gap: Some(gap),
        solution,
        evaluation,
        bound: Some(bound),
        timed_out,
        setup_micros,
        components: stats,
    }
}

#[cfg(test)]
mod tests {
    use super::{FLOW_TIME_WEIGHT, MAX_FLOW_PAIRS, time_weight};

    #[test]
    fn components_the_flow_solves_weigh_more_per_pair_in_the_time_shares() {
        assert_eq!(time_weight(0), 0);
        assert_eq!(time_weight(500), 500 * FLOW_TIME_WEIGHT);
        assert_eq!(
            time_weight(MAX_FLOW_PAIRS),
            MAX_FLOW_PAIRS as u64 * FLOW_TIME_WEIGHT
        );
        assert_eq!(time_weight(MAX_FLOW_PAIRS + 1), MAX_FLOW_PAIRS as u64 + 1);
        // A 500-pair component beside a 100,000-pair one: four times its share by pairs.
        let (small, large) = (time_weight(500) as f64, time_weight(100_000) as f64);
        let by_pairs = 500.0 / 100_500.0;
        assert!((small / (small + large)) > 3.9 * by_pairs);
    }
}
