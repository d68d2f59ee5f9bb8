//! `circle plan`: the placement optimizer from the command line. The planner crate is pure;
//! this module does its I/O (read the instance, write the solution, print a summary).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Place clients in groups: read a circle-placement/1 instance, write the solution
    /// (circle-placement-solution/1, with the reasons each client is left short) and print
    /// one JSON line with the score.
    Solve(SolveArgs),
    /// Design the week: read a circle-timetable/1 instance (groups, rooms, clinicians,
    /// tracks and their hours), write the timetable (circle-timetable-solution/1) and
    /// print one JSON line with its score, the bound and each track's hours.
    Timetable(TimetableArgs),
}

#[derive(Debug, clap::Args)]
pub struct TimetableArgs {
    /// The instance file (circle-timetable/1 JSON).
    #[arg(value_name = "INSTANCE.json")]
    pub instance: PathBuf,
    /// Wall-clock limit; it also sets the search budget, so the same limit and seed give
    /// the same timetable on any machine fast enough to finish within it.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: f64,
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the timetable.
    #[arg(long, value_name = "SOLUTION.json")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// The instance file (circle-placement/1 JSON).
    #[arg(value_name = "INSTANCE.json")]
    pub instance: PathBuf,
    /// Wall-clock limit; it also sets the search budget, so the same limit and seed give
    /// the same solution on any machine fast enough to finish within it.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: f64,
    /// Seed of the search.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Where to write the solution.
    #[arg(long, value_name = "SOLUTION.json")]
    pub out: PathBuf,
}

pub fn run(cmd: PlanCommand) -> Result<()> {
    match cmd {
        PlanCommand::Solve(args) => solve(args),
        PlanCommand::Timetable(args) => timetable(args),
    }
}

fn timetable(args: TimetableArgs) -> Result<()> {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0 && args.time_limit <= 86_400.0) {
        bail!("--time-limit must be a number of seconds above 0 and at most 86400");
    }
    let path = args.instance.display();
    let text = std::fs::read_to_string(&args.instance)
        .with_context(|| format!("cannot read instance {path}"))?;
    let instance: circle_timetable::Instance = serde_json::from_str(&text)
        .with_context(|| format!("instance {path} is not a circle-timetable/1 JSON document"))?;
    let problem = circle_timetable::Problem::new(instance)
        .with_context(|| format!("instance {path} is invalid"))?;
    let options = circle_timetable::SolveOptions {
        seed: args.seed,
        time_limit: Duration::from_secs_f64(args.time_limit),
        calls: None,
    };
    let (solution, report) = circle_timetable::solve(&problem, &options);
    let out = serde_json::to_string(&solution).context("cannot encode the timetable")?;
    std::fs::write(&args.out, out + "\n")
        .with_context(|| format!("cannot write timetable {}", args.out.display()))?;
    println!(
        "{}",
        serde_json::to_string(&report).context("cannot encode the report")?
    );
    if report.hard_violations > 0 {
        bail!(
            "the timetable breaks {} hard rules; this is a bug",
            report.hard_violations
        );
    }
    Ok(())
}

fn solve(args: SolveArgs) -> Result<()> {
    if !(args.time_limit.is_finite() && args.time_limit > 0.0 && args.time_limit <= 86_400.0) {
        bail!("--time-limit must be a number of seconds above 0 and at most 86400");
    }
    if args.threads == 0 || args.threads > 256 {
        bail!("--threads must be between 1 and 256");
    }
    let started = Instant::now();
    let path = args.instance.display();
    let text = std::fs::read_to_string(&args.instance)
        .with_context(|| format!("cannot read instance {path}"))?;
    let instance: circle_planner::Instance = serde_json::from_str(&text)
        .with_context(|| format!("instance {path} is not a circle-placement/1 JSON document"))?;
    let problem = circle_planner::Problem::new(instance)
        .with_context(|| format!("instance {path} is invalid"))?;
    // The limit covers the whole command: reading took part of it, and writing the
    // solution needs a little (about 0.1 µs per eligible pair, with a floor).
    let limit = Duration::from_secs_f64(args.time_limit);
    let writing = Duration::from_micros(5_000 + problem.pairs.len() as u64 / 10);
    let options = circle_planner::SolveOptions {
        seed: args.seed,
        threads: args.threads,
        time_limit: limit
            .saturating_sub(started.elapsed() + writing)
            .max(limit / 10),
        // The search budget follows the limit as given, so that the same limit and seed
        // give the same work however long reading took.
        iterations: Some((args.time_limit * circle_planner::ITERATIONS_PER_SECOND as f64) as u64),
        exhaustive: true,
    };
    let report = circle_planner::solve(&problem, &options);
    let out = serde_json::to_string(&report.solution).context("cannot encode the solution")?;
    std::fs::write(&args.out, out + "\n")
        .with_context(|| format!("cannot write solution {}", args.out.display()))?;
    let e = &report.evaluation;
    let mut line = serde_json::json!({
        "instance": problem.instance.name,
        "feasible": e.feasible,
        "score": e.score,
        "fit": e.fit,
        "unmet_minutes": e.unmet_minutes,
        "breaks": e.breaks,
        "assignments": e.assignments,
        "shortfalls": report.solution.shortfalls.len(),
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "timed_out": report.timed_out,
        "proven_optimal": report.proven_optimal,
    });
    if let (Some(bound), Some(map)) = (report.bound, line.as_object_mut()) {
        map.insert("bound".to_owned(), bound.into());
    }
    if let (Some(gap), Some(map)) = (report.gap, line.as_object_mut()) {
        // Percent, to three decimals: "within 0.012 % of the best possible".
        map.insert(
            "gap_percent".to_owned(),
            ((gap * 100_000.0).round() / 1000.0).into(),
        );
    }
    println!("{line}");
    if !e.feasible {
        bail!(
            "the planner produced an infeasible solution ({} violations, first: {}); this is a bug",
            e.violation_count,
            e.violations.first().map_or("", String::as_str)
        );
    }
    Ok(())
}
