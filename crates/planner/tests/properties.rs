//! Properties on random small instances: every solution is feasible, its reported score is
//! the recomputed one, and it never beats (nor, when proven, misses) the brute-force optimum.
#![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

use std::time::Duration;

use circle_planner::{Instance, Problem, Solution, SolveOptions, evaluate, solve};
use proptest::prelude::*;
use serde_json::json;

/// (day, start, minutes)
type MeetingSpec = (i64, i64, i64);

#[derive(Debug, Clone)]
struct Spec {
    /// (min_size, max_size, meetings)
    groups: Vec<(i64, i64, Vec<MeetingSpec>)>,
    clients: Vec<(i64, i64)>,
    eligible: Vec<(usize, usize, i64, bool)>,
    seps: Vec<(usize, usize)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let meeting = (
        0i64..2,
        prop::sample::select(vec![540i64, 570, 600, 660]),
        prop::sample::select(vec![30i64, 60, 90]),
    );
    let group = (0i64..4, 1i64..5, prop::collection::vec(meeting, 1..3))
        .prop_map(|(min, extra, ms)| (min, min + extra - 1, ms));
    (
        prop::collection::vec(group, 1..5),
        prop::collection::vec((0i64..240, 0i64..300), 1..7),
    )
        .prop_flat_map(|(groups, clients)| {
            let (ng, nc) = (groups.len(), clients.len());
            let pairs =
                prop::collection::vec((0..nc, 0..ng, 0i64..=100, prop::bool::weighted(0.3)), 0..14);
            let seps = prop::collection::vec((0..nc, 0..nc), 0..3);
            (Just(groups), Just(clients), pairs, seps)
        })
        .prop_map(|(groups, clients, mut eligible, seps)| {
            eligible.sort_by_key(|e| (e.0, e.1));
            eligible.dedup_by_key(|e| (e.0, e.1));
            let seps = seps.into_iter().filter(|(a, b)| a != b).collect();
            Spec {
                groups,
                clients,
                eligible,
                seps,
            }
        })
}

fn to_problem(s: &Spec) -> Problem {
    let gid = |g: usize| format!("g{g}");
    let cid = |c: usize| format!("c{c}");
    let current = |c: usize| -> Vec<String> {
        s.eligible
            .iter()
            .filter(|e| e.0 == c && e.3)
            .map(|e| gid(e.1))
            .collect()
    };
    let members = |g: usize| -> Vec<String> {
        s.eligible
            .iter()
            .filter(|e| e.1 == g && e.3)
            .map(|e| cid(e.0))
            .collect()
    };
    let v = json!({
        "format": "circle-placement/1", "name": "prop",
        "weights": {"unmet_minute": 2, "continuity_break": 60},
        "groups": s.groups.iter().enumerate().map(|(g, (min, max, ms))| json!({
            "id": gid(g), "min_size": min, "max_size": max, "members": members(g),
            "meetings": ms.iter().map(|(d, st, m)| json!({"day": d, "start": st, "minutes": m})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "clients": s.clients.iter().enumerate().map(|(c, (req, max))| json!({
            "id": cid(c), "required_minutes": req, "max_minutes": max, "current": current(c),
        })).collect::<Vec<_>>(),
        "eligible": s.eligible.iter().map(|e| json!({"client": cid(e.0), "group": gid(e.1), "fit": e.2})).collect::<Vec<_>>(),
        "separations": s.seps.iter().map(|(a, b)| json!([cid(*a), cid(*b)])).collect::<Vec<_>>(),
    });
    Problem::new(serde_json::from_value::<Instance>(v).unwrap()).unwrap()
}

/// Best feasible score by enumerating every subset of eligible pairs.
fn brute_force(p: &Problem) -> i64 {
    let n = p.pairs.len();
    let mut best = i64::MIN;
    for mask in 0u32..(1 << n) {
        let sol: Solution = serde_json::from_value(json!({
            "format": "circle-placement-solution/1", "instance": "prop",
            "assignments": (0..n).filter(|i| mask >> i & 1 == 1).map(|i| {
                let pair = p.pairs[i];
                json!({"client": p.instance.clients[pair.client].id, "group": p.instance.groups[pair.group].id})
            }).collect::<Vec<_>>(),
        }))
        .unwrap();
        let e = evaluate(p, &sol);
        if e.feasible {
            best = best.max(e.score);
        }
    }
    best
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn solutions_are_feasible_scored_right_and_never_beat_the_optimum(
        s in spec(), seed in 0u64..1000, exhaustive in any::<bool>(),
    ) {
        let p = to_problem(&s);
        let r = solve(&p, &SolveOptions {
            seed, threads: 1 + (seed % 2) as usize, time_limit: Duration::from_secs(30), iterations: Some(3_000), exhaustive,
        });
        prop_assert!(r.evaluation.feasible, "{:?}", r.evaluation.violations);
        prop_assert_eq!(&evaluate(&p, &r.solution), &r.evaluation);
        let best = brute_force(&p);
        prop_assert!(r.evaluation.score <= best);
        if let Some(b) = r.bound {
            prop_assert!(b >= best, "bound {} below optimum {}", b, best);
            prop_assert!(b >= r.evaluation.score);
        }
        if r.proven_optimal {
            prop_assert_eq!(r.evaluation.score, best);
        }
    }
}

#[test]
fn the_same_seed_and_thread_count_give_the_same_solution() {
    let s = Spec {
        groups: vec![
            (2, 4, vec![(0, 540, 60)]),
            (2, 3, vec![(0, 570, 60)]),
            (1, 2, vec![(1, 540, 90)]),
        ],
        clients: vec![(120, 240); 6],
        eligible: (0..6)
            .flat_map(|c| (0..3).map(move |g| (c, g, (c * 17 + g * 29) as i64 % 101, c == g)))
            .collect(),
        seps: vec![(0, 1)],
    };
    let p = to_problem(&s);
    let opts = |threads| SolveOptions {
        seed: 3,
        threads,
        time_limit: Duration::from_secs(30),
        iterations: Some(5_000),
        exhaustive: true,
    };
    for threads in [1, 2] {
        let a = solve(&p, &opts(threads));
        let b = solve(&p, &opts(threads));
        assert_eq!(a.solution, b.solution);
        assert!(!a.timed_out);
    }
}
