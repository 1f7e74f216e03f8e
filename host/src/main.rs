//! The `wasm-scheduler` binary: parses flags, sets up logging, runs a command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::watch;
use wasm_scheduler::builtin::load_default_set;
use wasm_scheduler::playground::{self, PlaygroundOptions};
use wasm_scheduler::runtime::PluginRuntime;
use wasm_scheduler::scheduler::{self, Options};

/// A Kubernetes scheduler whose placement logic runs as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start an in-memory API server with a generated 10-node cluster and the
    /// scheduler with the built-in wasm plugins; place a demo workload; then
    /// serve `kubectl` until Ctrl-C.
    Playground {
        /// Address of the in-memory API server.
        #[arg(
            long,
            env = "WASM_SCHEDULER_PLAYGROUND_ADDR",
            default_value = "127.0.0.1:8001"
        )]
        addr: SocketAddr,
        /// Where to write the kubeconfig for kubectl.
        #[arg(
            long,
            env = "WASM_SCHEDULER_PLAYGROUND_KUBECONFIG",
            default_value = "playground.kubeconfig"
        )]
        kubeconfig: PathBuf,
        /// Exit once the demo workload is placed.
        #[arg(long)]
        once: bool,
    },
    /// Schedule the pods of a real cluster (in-cluster config, or KUBECONFIG).
    Run {
        /// Pods with this spec.schedulerName are scheduled.
        #[arg(long, env = "WASM_SCHEDULER_NAME", default_value = "wasm-scheduler")]
        scheduler_name: String,
        /// percentageOfNodesToScore (1-100); unset: upstream's adaptive default.
        #[arg(long, env = "WASM_SCHEDULER_PERCENTAGE_OF_NODES_TO_SCORE")]
        percentage_of_nodes_to_score: Option<u32>,
    },
}

/// Turns Ctrl-C or SIGTERM into `true` on the returned channel.
fn stop_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("stopping: no new pods are taken; in-flight binds finish");
        let _ = tx.send(true);
    });
    rx
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let stop = stop_on_signal();
    match Cli::parse().command {
        Command::Playground {
            addr,
            kubeconfig,
            once,
        } => {
            let placements = playground::run(
                PlaygroundOptions {
                    addr,
                    kubeconfig,
                    once,
                },
                stop,
            )
            .await
            .context("playground failed")?;
            let bound = placements.iter().filter(|p| p.result.is_ok()).count();
            tracing::info!(
                bound,
                unschedulable = placements.len() - bound,
                "playground done"
            );
        }
        Command::Run {
            scheduler_name,
            percentage_of_nodes_to_score,
        } => {
            let client = kube::Client::try_default()
                .await
                .context("no Kubernetes client config")?;
            let runtime = PluginRuntime::new().context("wasm runtime")?;
            let plugins = load_default_set(&runtime).context("loading the built-in plugins")?;
            let options = Options {
                scheduler_name,
                percentage_of_nodes_to_score,
            };
            scheduler::run(client, options, plugins, stop)
                .await
                .context("scheduler failed")?;
        }
    }
    Ok(())
}
