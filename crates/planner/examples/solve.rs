//! `circle plan` without the rest of the `circle` binary: the same module
//! (`crates/cli/src/plan.rs`), mounted in a minimal command line, for the benchmark and
//! for trying the planner before the CLI is wired.
//!
//! cargo run --release -p circle-planner --example solve -- solve INSTANCE.json \
//!     --time-limit 1 --out SOLUTION.json

#[path = "../../cli/src/plan.rs"]
mod plan;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "circle-plan")]
struct Cli {
    #[command(subcommand)]
    command: plan::PlanCommand,
}

fn main() -> anyhow::Result<()> {
    plan::run(Cli::parse().command)
}
