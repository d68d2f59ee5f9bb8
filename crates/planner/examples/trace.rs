//! Per-component figures of one solve, for tuning: which phase gains what, and where the
//! gap to the bound is.
//!
//! cargo run --release -p circle-planner --example trace -- INSTANCE.json SECONDS [THREADS]

use std::time::Duration;

use anyhow::{Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(secs)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: trace INSTANCE.json SECONDS [THREADS]");
    };
    let secs: f64 = secs.parse().context("SECONDS must be a number")?;
    let threads: usize = args
        .get(3)
        .map_or(Ok(1), |t| t.parse())
        .context("THREADS")?;
    let t0 = std::time::Instant::now();
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let problem = circle_planner::Problem::new(serde_json::from_str(&text)?)?;
    let t1 = std::time::Instant::now();
    let options = circle_planner::SolveOptions {
        seed: 1,
        threads,
        time_limit: Duration::from_secs_f64(secs),
        iterations: None,
        exhaustive: true,
    };
    let report = circle_planner::solve(&problem, &options);
    let t2 = std::time::Instant::now();
    let explained = circle_planner::explain(&problem, &report.solution);
    println!(
        "read+validate {:?}, setup {} us, solve {:?}, explain again {:?} ({} shortfalls)",
        t1 - t0,
        report.setup_micros,
        t2 - t1,
        t2.elapsed(),
        explained.len()
    );
    for (i, c) in report.components.iter().enumerate() {
        println!("{i:3} {}", serde_json::to_string(c)?);
    }
    println!(
        "score {} bound {:?} proven {} timed_out {}",
        report.evaluation.score, report.bound, report.proven_optimal, report.timed_out
    );
    Ok(())
}
