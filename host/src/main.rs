//! The `wasm-scheduler` binary: parses flags, sets up logging, runs a command.

use anyhow::Context;
use clap::{Parser, Subcommand};

/// A Kubernetes scheduler whose placement logic runs as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Schedule a generated workload onto a generated 10-node cluster with the
    /// built-in wasm plugins, and print where each pod went.
    Playground,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Playground => {
            let placements =
                wasm_scheduler::playground::run(&wasm_scheduler::playground::workload())
                    .context("playground failed")?;
            let bound = placements.iter().filter(|p| p.result.is_ok()).count();
            tracing::info!(
                bound,
                unschedulable = placements.len() - bound,
                "playground done"
            );
        }
    }
    Ok(())
}
