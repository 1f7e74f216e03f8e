//! The `wasm-scheduler` binary: parses flags, sets up logging, runs a command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use wasm_scheduler::config::SchedulerConfig;
use wasm_scheduler::endpoints::{self, Endpoints};
use wasm_scheduler::leader::{self, Ended, LeaseConfig};
use wasm_scheduler::playground::{self, PlaygroundOptions};
use wasm_scheduler::plugin_set::status::SetStatus;
use wasm_scheduler::profile::Profile;
use wasm_scheduler::runtime::PluginRuntime;
use wasm_scheduler::scheduler::{self, Options, SetFeed, SetSource};
use wasm_scheduler::telemetry::{self, LogFormat};

/// A Kubernetes scheduler whose placement logic runs as sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Log lines as text (default) or one JSON object per line; RUST_LOG filters.
    #[arg(
        long,
        global = true,
        env = "WASM_SCHEDULER_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: LogFormat,
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
    /// Schedule the pods of a real cluster (in-cluster config, --kubeconfig, or KUBECONFIG).
    Run(Box<RunArgs>),
    /// Show, for one pod, every plugin's filter verdict and score on every
    /// node, the totals and the node a cycle would choose. Nothing is bound.
    Explain(ExplainArgs),
}

/// The flags of `explain`.
#[derive(clap::Args)]
struct ExplainArgs {
    /// The pod: a YAML/JSON file holding it, or `namespace/name` of a pod in the cluster.
    #[arg(long)]
    pod: String,
    /// A YAML/JSON file of Nodes and Pods (e.g. `kubectl get nodes,pods -A -o yaml`);
    /// unset: the live cluster of --kubeconfig (or in-cluster config, KUBECONFIG, ~/.kube/config).
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// A kubeconfig file, for a live cluster.
    #[arg(long, env = "WASM_SCHEDULER_KUBECONFIG", conflicts_with = "cluster")]
    kubeconfig: Option<PathBuf>,
    /// Scheduler configuration; the profile is the one named by the pod's
    /// schedulerName (or --scheduler-name). Unset: the built-in plugins.
    #[arg(long, env = "WASM_SCHEDULER_CONFIG")]
    config: Option<PathBuf>,
    /// The profile to use instead of the pod's schedulerName.
    #[arg(long)]
    scheduler_name: Option<String>,
    /// `text` for people, `json` for tools.
    #[arg(long, short, value_enum, default_value_t)]
    output: ExplainOutput,
}

/// How `explain` prints.
#[derive(Clone, Copy, Default, clap::ValueEnum)]
enum ExplainOutput {
    /// A report per node.
    #[default]
    Text,
    /// The whole explanation as one JSON object.
    Json,
}

/// The flags of `run`.
#[derive(clap::Args)]
struct RunArgs {
    /// Scheduler configuration (YAML, `kind: SchedulerConfiguration`);
    /// unset: one profile, `wasm-scheduler`, with the built-in plugins.
    #[arg(long, env = "WASM_SCHEDULER_CONFIG")]
    config: Option<PathBuf>,
    /// A kubeconfig file; unset: in-cluster config, else KUBECONFIG or ~/.kube/config.
    #[arg(long, env = "WASM_SCHEDULER_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The schedulerName of the one profile (only without --config).
    #[arg(long, env = "WASM_SCHEDULER_NAME", conflicts_with = "config")]
    scheduler_name: Option<String>,
    /// percentageOfNodesToScore (0-100, 0: upstream's adaptive default);
    /// overrides the configuration file's top-level value.
    #[arg(long, env = "WASM_SCHEDULER_PERCENTAGE_OF_NODES_TO_SCORE",
          value_parser = clap::value_parser!(u32).range(0..=100))]
    percentage_of_nodes_to_score: Option<u32>,
    /// Worker threads, each with its own plugin instances (default: CPUs).
    #[arg(long, env = "WASM_SCHEDULER_PARALLELISM",
          value_parser = clap::value_parser!(u64).range(1..=256))]
    parallelism: Option<u64>,
    #[command(flatten)]
    sets: SetFlags,
    #[command(flatten)]
    election: ElectionFlags,
    /// Where /metrics, /healthz, /readyz and /debug/plugin-set are served.
    #[arg(
        long,
        env = "WASM_SCHEDULER_HTTP_ADDR",
        default_value = "0.0.0.0:10251"
    )]
    http_addr: SocketAddr,
}

/// Leader election, with kube-scheduler's flag names and defaults.
#[derive(clap::Args)]
struct ElectionFlags {
    /// Schedule only while holding the Lease; `--leader-elect=false` for a
    /// single replica.
    #[arg(long, env = "WASM_SCHEDULER_LEADER_ELECT", default_value_t = true,
          action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// The Lease's name.
    #[arg(long, default_value = "wasm-scheduler")]
    leader_elect_resource_name: String,
    /// The Lease's namespace (default: the kubeconfig's or service account's).
    #[arg(long)]
    leader_elect_resource_namespace: Option<String>,
    /// How long a Lease not renewed stays with its holder.
    #[arg(long, default_value = "15s", value_parser = duration)]
    leader_elect_lease_duration: std::time::Duration,
    /// How long a leader keeps leading without a successful renewal.
    #[arg(long, default_value = "10s", value_parser = duration)]
    leader_elect_renew_deadline: std::time::Duration,
    /// How often candidates try and the leader renews.
    #[arg(long, default_value = "2s", value_parser = duration)]
    leader_elect_retry_period: std::time::Duration,
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    wasm_scheduler::config::parse_duration(s)
}

/// Where hot-swapped plugin sets come from (at most one source).
#[derive(clap::Args)]
struct SetFlags {
    /// Watch the ConfigMaps labelled wasm-scheduler.io/plugin-set=NAME and
    /// swap in the plugin set they hold whenever it changes.
    #[arg(long, env = "WASM_SCHEDULER_PLUGIN_SET", conflicts_with = "plugin_dir")]
    plugin_set: Option<String>,
    /// The namespace of those ConfigMaps (default: the kubeconfig's or the
    /// service account's namespace).
    #[arg(long, env = "WASM_SCHEDULER_PLUGIN_SET_NAMESPACE")]
    plugin_set_namespace: Option<String>,
    /// Watch a directory (a mounted ConfigMap) holding plugins.yaml and its modules.
    #[arg(long, env = "WASM_SCHEDULER_PLUGIN_DIR")]
    plugin_dir: Option<PathBuf>,
}

impl SetFlags {
    fn source(self, client: &kube::Client) -> Option<SetSource> {
        match (self.plugin_set, self.plugin_dir) {
            (Some(set), _) => Some(SetSource::ConfigMaps {
                namespace: self
                    .plugin_set_namespace
                    .unwrap_or_else(|| client.default_namespace().to_string()),
                set,
            }),
            (None, Some(dir)) => Some(SetSource::Directory(dir)),
            (None, None) => None,
        }
    }
}

/// The configuration `run` uses: the file (or the default) with the flags applied.
fn configuration(
    file: Option<&std::path::Path>,
    scheduler_name: Option<String>,
    percentage: Option<u32>,
    parallelism: Option<u64>,
) -> anyhow::Result<SchedulerConfig> {
    let mut config = match file {
        Some(path) => SchedulerConfig::from_file(path)?,
        None => SchedulerConfig::default(),
    };
    if let Some(name) = scheduler_name {
        config.profiles[0].scheduler_name = name;
    }
    if percentage.is_some() {
        config.percentage_of_nodes_to_score = percentage;
    }
    if let Some(n) = parallelism {
        config.parallelism = Some(n as usize);
    }
    Ok(config)
}

async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes client config (in-cluster, KUBECONFIG or ~/.kube/config)")?,
    };
    Ok(kube::Client::try_from(config)?)
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
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let stop = stop_on_signal();
    match cli.command {
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
        Command::Run(args) => {
            let RunArgs {
                config,
                kubeconfig,
                scheduler_name,
                percentage_of_nodes_to_score,
                parallelism,
                sets,
                election,
                http_addr,
            } = *args;
            let settings = configuration(
                config.as_deref(),
                scheduler_name,
                percentage_of_nodes_to_score,
                parallelism,
            )?;
            let base = config
                .as_deref()
                .and_then(|p| p.parent())
                .unwrap_or(std::path::Path::new("."));
            let runtime = Arc::new(PluginRuntime::new().context("wasm runtime")?);
            let profiles = Profile::load_all(&settings, base, &runtime)?;
            let client = client(kubeconfig.as_deref()).await?;
            let feed = sets.source(&client).map(|source| {
                tracing::info!(?source, "plugin sets are hot-swapped from this source");
                SetFeed {
                    source,
                    runtime: runtime.clone(),
                    status: SetStatus::default(),
                }
            });
            for p in &profiles {
                let plugins: Vec<&str> = p.plugins.iter().map(|l| l.name()).collect();
                tracing::info!(profile = %p.scheduler_name, ?plugins, "profile loaded");
            }
            let options = Options::from_config(&settings);
            let listener = tokio::net::TcpListener::bind(http_addr)
                .await
                .with_context(|| format!("cannot listen on --http-addr {http_addr}"))?;
            tracing::info!(%http_addr, "serving /metrics, /healthz, /readyz, /debug/plugin-set");
            let endpoints = tokio::spawn(endpoints::serve(
                listener,
                Endpoints {
                    metrics: options.metrics.clone(),
                    health: options.health.clone(),
                    sets: feed.as_ref().map(|f| f.status.clone()),
                },
                stop.clone(),
            ));
            let scheduled = if election.leader_elect {
                let lease = LeaseConfig {
                    namespace: election
                        .leader_elect_resource_namespace
                        .unwrap_or_else(|| client.default_namespace().to_string()),
                    name: election.leader_elect_resource_name,
                    identity: options.identity.clone(),
                    lease_duration: election.leader_elect_lease_duration,
                    renew_deadline: election.leader_elect_renew_deadline,
                    retry_period: election.leader_elect_retry_period,
                };
                // A standby waiting for the Lease is healthy and ready.
                options.health.set_ready(true);
                let scheduler_client = client.clone();
                let (ended, result) = leader::lead(client, lease, stop.clone(), |leading| {
                    scheduler::run_with_sets(scheduler_client, options, profiles, feed, leading)
                })
                .await;
                match (ended, result) {
                    (Ended::Lost, _) => Err(anyhow::anyhow!(
                        "lost the leader election lease; exiting so that a standby takes over"
                    )),
                    (_, Some(r)) => r.context("scheduler failed"),
                    (_, None) => Ok(()),
                }
            } else {
                scheduler::run_with_sets(client, options, profiles, feed, stop)
                    .await
                    .context("scheduler failed")
            };
            endpoints.await?.context("endpoints failed")?;
            scheduled?;
        }
        Command::Explain(args) => explain(args).await?,
    }
    Ok(())
}

/// `explain`: loads the profile, reads the cluster, prints the decision.
async fn explain(args: ExplainArgs) -> anyhow::Result<()> {
    use std::io::Write;
    use wasm_scheduler::explain::{self, ClusterObjects};
    let cluster = match &args.cluster {
        Some(path) => ClusterObjects::from_file(path)?,
        None => ClusterObjects::from_api(&client(args.kubeconfig.as_deref()).await?).await?,
    };
    let pod = explain::resolve_pod(&args.pod, &cluster)?;
    let settings = configuration(args.config.as_deref(), None, None, None)?;
    let wanted = args
        .scheduler_name
        .clone()
        .or_else(|| pod.spec.as_ref().and_then(|s| s.scheduler_name.clone()));
    let profile = settings
        .profiles
        .iter()
        .position(|p| Some(&p.scheduler_name) == wanted.as_ref())
        .unwrap_or_else(|| {
            if let Some(name) = &wanted {
                tracing::warn!(scheduler_name = %name, using = %settings.profiles[0].scheduler_name,
                    "no profile has this schedulerName; explaining with the first profile");
            }
            0
        });
    let base = args
        .config
        .as_deref()
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new("."));
    let runtime = PluginRuntime::new().context("wasm runtime")?;
    let mut profiles = Profile::load_all(&settings, base, &runtime)?;
    let plugins = profiles.swap_remove(profile).plugins;
    let explanation = explain::explain(&plugins, &cluster, &pod)?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ExplainOutput::Text => write!(out, "{explanation}")?,
        ExplainOutput::Json => writeln!(out, "{}", serde_json::to_string_pretty(&explanation)?)?,
    }
    Ok(())
}
