//! `circle-timetable INSTANCE --time-limit S [--seed N] [--calls N] --out SOLUTION`
//!
//! Reads a `circle-timetable/1` instance, writes the timetable as a
//! `circle-timetable-solution/1` file, and prints the report as one JSON line.

use std::process::ExitCode;
use std::time::Duration;

use circle_timetable::{Instance, Problem, SolveOptions, solve};

const USAGE: &str =
    "usage: circle-timetable INSTANCE --time-limit SECONDS [--seed N] [--calls N] --out SOLUTION";

struct Args {
    instance: String,
    out: String,
    options: SolveOptions,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut instance = None;
    let mut out = None;
    let mut options = SolveOptions::default();
    let mut time_limit = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--time-limit" => {
                let v: f64 = value("--time-limit")?
                    .parse()
                    .map_err(|_| "--time-limit must be a number of seconds".to_string())?;
                if !(v.is_finite() && v > 0.0) {
                    return Err("--time-limit must be positive".into());
                }
                time_limit = Some(Duration::from_secs_f64(v));
            }
            "--seed" => {
                options.seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed must be a non-negative integer".to_string())?;
            }
            "--calls" => {
                options.calls = Some(
                    value("--calls")?
                        .parse()
                        .map_err(|_| "--calls must be a non-negative integer".to_string())?,
                );
            }
            "--out" => out = Some(value("--out")?),
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s if instance.is_none() => instance = Some(s.to_string()),
            _ => return Err(format!("more than one instance given\n{USAGE}")),
        }
    }
    options.time_limit = time_limit.ok_or_else(|| format!("--time-limit is required\n{USAGE}"))?;
    Ok(Args {
        instance: instance.ok_or_else(|| format!("no instance given\n{USAGE}"))?,
        out: out.ok_or_else(|| format!("--out is required\n{USAGE}"))?,
        options,
    })
}

fn run() -> Result<(), String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = parse(&argv)?;
    let text = std::fs::read_to_string(&args.instance)
        .map_err(|e| format!("cannot read {}: {e}", args.instance))?;
    let instance: Instance =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.instance))?;
    let problem = Problem::new(instance).map_err(|e| format!("{}: {e}", args.instance))?;
    let (solution, report) = solve(&problem, &args.options);
    let mut body = serde_json::to_string(&solution).map_err(|e| e.to_string())?;
    body.push('\n');
    std::fs::write(&args.out, body).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    println!(
        "{}",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("circle-timetable: {e}");
            ExitCode::from(2)
        }
    }
}
