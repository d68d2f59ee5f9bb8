//! The solver against the reference scripts in `shared/bench`: generate instances with
//! `gen_timetable.py`, solve, and require `check_timetable.py` to accept every timetable
//! with the score our report gives. Fails (never skips) when python3 or the scripts are
//! missing.
#![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use circle_timetable::{Instance, Problem, Solution, SolveOptions, evaluate, solve};

const BENCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/bench");

fn script(name: &str) -> PathBuf {
    let p = Path::new(BENCH).join(name);
    assert!(
        p.is_file(),
        "missing {} (shared/ must sit beside the repository)",
        p.display()
    );
    p
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("circle-timetable-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Generates an instance (and the generator's greedy baseline) into the scratch folder.
fn generate(size: &str, seed: u32, tightness: &str) -> (PathBuf, PathBuf, Problem) {
    let stem = format!("{size}-{seed}-t{tightness}");
    let inst = scratch(&format!("{stem}.json"));
    let base = scratch(&format!("{stem}.base.json"));
    let out = Command::new("python3")
        .arg(script("gen_timetable.py"))
        .args([
            "--size",
            size,
            "--seed",
            &seed.to_string(),
            "--tightness",
            tightness,
        ])
        .arg("-o")
        .arg(&inst)
        .arg("--baseline")
        .arg(&base)
        .output()
        .expect("python3 must be installed to run this test");
    assert!(
        out.status.success(),
        "gen_timetable.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let instance: Instance =
        serde_json::from_str(&std::fs::read_to_string(&inst).unwrap()).unwrap();
    (inst, base, Problem::new(instance).unwrap())
}

/// Runs the Python checker; returns (feasible, score, the JSON line).
fn python_check(instance: &Path, solution: &Path) -> (bool, i64, serde_json::Value) {
    let out = Command::new("python3")
        .arg(script("check_timetable.py"))
        .arg(instance)
        .arg(solution)
        .output()
        .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        line["feasible"].as_bool().unwrap(),
        line["score"].as_i64().unwrap(),
        line,
    )
}

fn options(calls: u64) -> SolveOptions {
    SolveOptions {
        seed: 7,
        // Generous: the budget, not the clock, ends the search, even in a debug build.
        time_limit: Duration::from_secs(600),
        calls: Some(calls),
    }
}

fn solves_and_the_checker_agrees(size: &str, seed: u32, tightness: &str, calls: u64) {
    let (inst, base, problem) = generate(size, seed, tightness);
    let (solution, report) = solve(&problem, &options(calls));
    let name = format!("{size}-{seed}-t{tightness}");
    assert!(!report.timed_out, "{name}: budget not spent in time");
    let path = scratch(&format!("{name}.sol.json"));
    std::fs::write(&path, serde_json::to_string(&solution).unwrap()).unwrap();
    let (feasible, score, line) = python_check(&inst, &path);
    assert!(
        feasible,
        "{name}: the checker refuses the timetable: {line}"
    );
    assert_eq!(
        score, report.score,
        "{name}: checker and report disagree: {line}"
    );
    assert_eq!(report.hard_violations, 0, "{name}: {:?}", report.violations);
    assert!(
        report.score >= report.greedy_score,
        "{name}: below the greedy"
    );
    assert!(
        report.bound >= report.score,
        "{name}: bound below the score"
    );
    // The generator's baseline scores the same with our evaluator as with the checker, and
    // the solver beats it.
    let baseline: Solution =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    let ours = evaluate(&problem, &baseline);
    let (base_ok, base_score, _) = python_check(&inst, &base);
    assert_eq!(
        (ours.feasible, ours.score),
        (base_ok, base_score),
        "{name}: baseline"
    );
    assert!(
        report.score >= base_score,
        "{name}: below the generator's baseline"
    );
}

#[test]
fn small_timetables_pass_the_checker() {
    for seed in 1..=3 {
        solves_and_the_checker_agrees("small", seed, "1.0", 3_000);
    }
}

#[test]
fn tight_small_timetables_pass_the_checker() {
    for seed in 1..=2 {
        solves_and_the_checker_agrees("small", seed, "1.25", 3_000);
    }
}

#[test]
fn a_medium_timetable_passes_the_checker() {
    solves_and_the_checker_agrees("medium", 1, "1.0", 2_000);
}

#[test]
fn small_instances_reach_the_anchor_optimum() {
    // CP-SAT proves these optima (FORMAT-timetable.md's anchor figures; the tight one in
    // bench/timetable-anchor.json). Our bound must never fall below them.
    for (seed, tightness, optimum) in [
        (1, "1.0", -1_860),
        (2, "1.0", -5_342),
        (3, "1.0", 1_424),
        (1, "1.25", -2_334),
    ] {
        let (_, _, problem) = generate("small", seed, tightness);
        // The budget of a 1 s run (`CALLS_PER_SECOND`).
        let (_, report) = solve(&problem, &options(50_000));
        assert!(
            report.bound >= optimum,
            "small-{seed}-t{tightness}: bound below the optimum"
        );
        if tightness == "1.0" {
            assert_eq!(report.score, optimum, "small-{seed}");
        } else {
            // Tight small-1 reaches the optimum on 6 of 8 seeds at this budget (the
            // others stop 40-80 short): the bound is what this row checks.
            assert!(report.score >= optimum - 100, "small-{seed}-t{tightness}");
        }
    }
}

#[test]
fn same_seed_and_budget_give_the_same_timetable() {
    let (_, _, problem) = generate("small", 2, "1.0");
    let a = solve(&problem, &options(2_000)).0;
    let b = solve(&problem, &options(2_000)).0;
    assert_eq!(a, b);
}
