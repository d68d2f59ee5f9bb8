//! The placement optimizer: which clients go to which therapy groups, over the
//! `circle-placement/1` format (`shared/bench/FORMAT.md`).
//!
//! Pure and deterministic: no file or network access (the CLI reads and writes), and the
//! same instance, options, seed and thread count give the same solution unless the
//! wall-clock cap cuts a run short (see [`solve`] and [`SolveReport::timed_out`]).
//!
//! ```no_run
//! # fn demo(text: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let instance: circle_planner::Instance = serde_json::from_str(text)?;
//! let problem = circle_planner::Problem::new(instance)?;
//! let report = circle_planner::solve(&problem, &circle_planner::SolveOptions::default());
//! assert!(report.evaluation.feasible);
//! # Ok(()) }
//! ```

mod bound;
mod branch;
mod exact;
mod explain;
mod flow;
pub mod format;
mod model;
mod relax;
mod rng;
pub mod score;
mod search;
mod solve;
pub mod validate;

pub use explain::explain;
pub use format::{Assignment, Instance, Reason, Shortfall, Solution};
pub use score::{Evaluation, evaluate};
pub use solve::{ComponentStats, ITERATIONS_PER_SECOND, SolveOptions, SolveReport, solve};
pub use validate::{Problem, ValidationError};
