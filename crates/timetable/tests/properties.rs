//! Invariants on random small instances: every timetable keeps every hard rule (by our
//! evaluator and by the Python checker), the report's score is the checker's, the bound is
//! never below the score, and the search never ends below its greedy start.
#![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use circle_timetable::{Problem, SolveOptions, evaluate, solve};
use proptest::prelude::*;

const CHECKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/bench/check_timetable.py"
);

fn python_score(instance: &str, solution: &str, tag: u64) -> (bool, i64) {
    assert!(Path::new(CHECKER).is_file(), "missing {CHECKER}");
    let dir = std::env::temp_dir().join(format!("circle-timetable-prop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (i, s) = (
        dir.join(format!("{tag}.json")),
        dir.join(format!("{tag}.sol.json")),
    );
    std::fs::write(&i, instance).unwrap();
    std::fs::write(&s, solution).unwrap();
    let out = Command::new("python3")
        .arg(CHECKER)
        .arg(&i)
        .arg(&s)
        .output()
        .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        line["feasible"].as_bool().unwrap(),
        line["score"].as_i64().unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn timetables_of_random_instances_keep_every_hard_rule(seed in any::<u64>()) {
        let instance = common::random_instance(seed);
        let text = serde_json::to_string(&instance).unwrap();
        let problem = Problem::new(instance).unwrap();
        let options = SolveOptions { seed, time_limit: Duration::from_secs(600), calls: Some(400) };
        let (solution, report) = solve(&problem, &options);
        let ours = evaluate(&problem, &solution);
        prop_assert!(ours.feasible, "{:?}", ours.violations);
        prop_assert_eq!(report.hard_violations, 0);
        prop_assert_eq!(ours.score, report.score);
        prop_assert!(report.bound >= report.score);
        prop_assert!(report.score >= report.greedy_score);
        let (feasible, score) = python_score(&text, &serde_json::to_string(&solution).unwrap(), seed);
        prop_assert!(feasible);
        prop_assert_eq!(score, report.score);
    }
}

#[test]
fn random_instances_are_not_vacuous() {
    // The property above means little if nothing runs: most random groups must be placed,
    // some with clinicians at two sites, and some must be left out.
    let (mut placed, mut total, mut two_site_clinicians) = (0, 0, 0);
    for seed in 0..40 {
        let instance = common::random_instance(seed);
        let problem = Problem::new(instance.clone()).unwrap();
        let options = SolveOptions {
            seed,
            time_limit: Duration::from_secs(600),
            calls: Some(400),
        };
        let (solution, _) = solve(&problem, &options);
        placed += solution.groups.len();
        total += instance.groups.len();
        two_site_clinicians += solution
            .groups
            .iter()
            .filter(|e| {
                instance
                    .clinicians
                    .iter()
                    .any(|k| k.id == e.lead && k.sites.len() > 1)
            })
            .count();
    }
    assert!(placed * 3 > total, "only {placed} of {total} groups placed");
    assert!(
        placed < total,
        "every group placed: the instances are too easy"
    );
    assert!(
        two_site_clinicians > 0,
        "no two-site clinician leads anything"
    );
    eprintln!("{placed} of {total} placed, {two_site_clinicians} led by two-site clinicians");
}
