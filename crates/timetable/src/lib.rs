//! The timetable designer: which groups meet when, in which room, led by whom, over the
//! `circle-timetable/1` format (`shared/bench/FORMAT-timetable.md`).
//!
//! Pure and deterministic: no file or network access (the binary reads and writes), and
//! the same instance, seed and budget give the same timetable unless the wall-clock cap
//! cuts a run short (see [`solve`] and [`Report::timed_out`]).
//!
//! ```no_run
//! # fn demo(text: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let instance: circle_timetable::Instance = serde_json::from_str(text)?;
//! let problem = circle_timetable::Problem::new(instance)?;
//! let (solution, report) =
//!     circle_timetable::solve(&problem, &circle_timetable::SolveOptions::default());
//! assert_eq!(report.hard_violations, 0);
//! assert!(report.score <= report.bound);
//! # let _ = solution;
//! # Ok(()) }
//! ```

mod bound;
pub mod evaluate;
pub mod format;
mod pin;
mod rng;
mod solve;
mod state;
pub mod validate;

pub use evaluate::{Evaluation, Parts, evaluate};
pub use format::{Entry, Instance, Solution};
pub use pin::{Pin, PinError};
pub use solve::{CALLS_PER_SECOND, Report, SolveOptions, TrackHours, solve};
pub use validate::{Problem, ValidationError};
