//! The planner against the reference scripts in `shared/bench`: generate instances with
//! `gen_instance.py`, solve, and require `check_solution.py` to agree exactly with our own
//! scorer. Fails (never skips) when python3 or the scripts are missing.
#![allow(clippy::unwrap_used, reason = "tests unwrap their own fixtures")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use circle_planner::{Instance, Problem, SolveOptions, solve};

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

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("circle-planner-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check(size: &str, seed: u32, iterations: u64, must_prove: bool) {
    let out = Command::new("python3")
        .arg(script("gen_instance.py"))
        .args(["--size", size, "--seed", &seed.to_string()])
        .output()
        .expect("python3 must be installed to run this test");
    assert!(
        out.status.success(),
        "gen_instance.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let instance: Instance = serde_json::from_slice(&out.stdout).unwrap();
    let problem = Problem::new(instance).unwrap();
    let options = SolveOptions {
        seed: 1,
        threads: 2,
        // Generous: the budget, not the clock, must end the search for the determinism
        // check below to mean anything, even on a loaded machine in a debug build.
        time_limit: Duration::from_secs(600),
        iterations: Some(iterations),
        exhaustive: true,
    };
    let report = solve(&problem, &options);
    assert!(
        !report.timed_out,
        "{size}-{seed}: budget not spent within the time limit"
    );
    if size == "medium" && seed == 1 {
        // Same instance, seed, threads and budget: same solution.
        assert_eq!(solve(&problem, &options).solution, report.solution);
    }
    let dir = scratch_dir();
    let inst_path = dir.join(format!("{size}-{seed}.json"));
    let sol_path = dir.join(format!("{size}-{seed}.sol.json"));
    std::fs::write(&inst_path, &out.stdout).unwrap();
    std::fs::write(&sol_path, serde_json::to_vec(&report.solution).unwrap()).unwrap();
    let checked = Command::new("python3")
        .arg(script("check_solution.py"))
        .args([&inst_path, &sol_path])
        .output()
        .expect("python3 must be installed to run this test");
    let v: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    let e = &report.evaluation;
    assert_eq!(v["feasible"], true, "{size}-{seed}: {v}");
    assert!(checked.status.success());
    assert_eq!(v["feasible"].as_bool(), Some(e.feasible));
    assert_eq!(v["score"].as_i64(), Some(e.score), "{size}-{seed}");
    assert_eq!(v["fit"].as_i64(), Some(e.fit));
    assert_eq!(v["unmet_minutes"].as_i64(), Some(e.unmet_minutes));
    assert_eq!(v["breaks"].as_i64(), Some(e.breaks));
    assert_eq!(v["assignments"].as_u64(), Some(e.assignments as u64));
    if let Some(b) = report.bound {
        assert!(b >= e.score);
    }
    if must_prove {
        assert!(report.proven_optimal, "{size}-{seed}: not proven optimal");
    }
    // Every client the checker counts as short is explained, with at least one reason.
    let short = problem
        .instance
        .clients
        .iter()
        .filter(|c| {
            let got: i64 = report
                .solution
                .assignments
                .iter()
                .filter(|a| a.client == c.id)
                .map(|a| problem.group_minutes[problem.group_index[&a.group]])
                .sum();
            got < c.required_minutes
        })
        .count();
    assert_eq!(report.solution.shortfalls.len(), short);
    assert!(
        report
            .solution
            .shortfalls
            .iter()
            .all(|s| !s.reasons.is_empty() && s.unmet_minutes > 0)
    );
    let _ = std::fs::remove_file(&inst_path);
    let _ = std::fs::remove_file(&sol_path);
}

#[test]
fn small_instances_agree_with_the_checker_and_are_proven_optimal() {
    for seed in 1..=3 {
        check("small", seed, 50_000, true);
    }
}

#[test]
fn medium_instances_agree_with_the_checker() {
    for seed in 1..=2 {
        check("medium", seed, 40_000, false);
    }
}

/// A checker that rejects a broken solution is what makes the agreement above mean
/// something: feed it one and make sure it says so.
#[test]
fn the_checker_rejects_a_broken_solution() {
    let out = Command::new("python3")
        .arg(script("gen_instance.py"))
        .args(["--size", "small", "--seed", "9"])
        .output()
        .expect("python3 must be installed to run this test");
    let instance: Instance = serde_json::from_slice(&out.stdout).unwrap();
    let e = &instance.eligible[0];
    let dir = scratch_dir();
    let inst_path = dir.join("broken.json");
    let sol_path = dir.join("broken.sol.json");
    std::fs::write(&inst_path, &out.stdout).unwrap();
    let sol = serde_json::json!({"format": "circle-placement-solution/1", "instance": instance.name,
        "assignments": [{"client": e.client, "group": e.group}, {"client": e.client, "group": e.group}]});
    std::fs::write(&sol_path, sol.to_string()).unwrap();
    let status = Command::new("python3")
        .arg(script("check_solution.py"))
        .args([&inst_path, &sol_path])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let problem = Problem::new(instance).unwrap();
    let ours = circle_planner::evaluate(&problem, &serde_json::from_value(sol).unwrap());
    assert!(!ours.feasible);
}
