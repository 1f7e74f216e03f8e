//! The playground: a generated cluster scheduled by the built-in wasm plugins,
//! in one process, with nothing to install.
//!
//! The cluster lives in the in-memory API server, so `kubectl` works against
//! it; the scheduler talks to it over HTTP exactly as to a real cluster.

use crate::plugin_set::status::SetStatus;
use crate::profile::Profile;
use crate::runtime::{LoadError, PluginRuntime};
use crate::scheduler::{self, Options, SetFeed, SetSource};
use k8s_openapi::api::core::v1 as core;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::json;
use wasm_scheduler_apiserver::ApiServer;

/// Why the playground stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlaygroundError {
    /// The API server could not start or the kubeconfig could not be written.
    #[error("cannot serve the playground API")]
    Serve(#[source] std::io::Error),
    /// A call to the playground API failed.
    #[error("playground API call failed")]
    Api(#[source] kube::Error),
    /// The scheduler could not start.
    #[error(transparent)]
    Scheduler(#[from] scheduler::SchedulerError),
    /// The wasm runtime did not start.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// A built-in plugin did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// 10 nodes in 3 zones, mixed sizes, one tainted for a dedicated team.
pub fn cluster() -> Vec<core::Node> {
    (0..10)
        .map(|i| {
            let (cpu, gib) = [(2, 8), (4, 16), (8, 32)][i % 3];
            let taints = if i == 9 {
                json!([{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}])
            } else {
                json!([])
            };
            serde_json::from_value(json!({
                "metadata": {"name": format!("node-{i}"),
                    "labels": {"topology.kubernetes.io/zone": format!("zone-{}", ["a", "b", "c"][i % 3])}},
                "spec": {"taints": taints},
                "status": {"allocatable": {"cpu": cpu.to_string(), "memory": format!("{gib}Gi"), "pods": "110"}},
            }))
            .expect("generated nodes are valid")
        })
        .collect()
}

/// A pod with one container requesting `cpu` and `memory` (quantities).
pub fn pod(name: &str, cpu: &str, memory: &str) -> core::Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": {"schedulerName": "wasm-scheduler", "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
    }))
    .expect("generated pods are valid")
}

/// A placement the playground made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The node's name, or the `FailedScheduling` message.
    pub result: Result<String, String>,
}

/// How to run the playground.
#[derive(Debug, Clone)]
pub struct PlaygroundOptions {
    /// Where the API server listens (port 0: any free port).
    pub addr: std::net::SocketAddr,
    /// Where the kubeconfig for `kubectl` is written.
    pub kubeconfig: std::path::PathBuf,
    /// Exit after the demo workload is placed, instead of serving until stopped.
    pub once: bool,
}

/// Starts the in-memory API server with [`cluster`], the scheduler with the
/// built-in plugins, writes a kubeconfig, schedules [`workload`] and reports
/// where each pod went. Then serves `kubectl` until `stop` (unless `once`).
pub async fn run(
    options: PlaygroundOptions,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Vec<Placement>, PlaygroundError> {
    let server = ApiServer::start(options.addr)
        .await
        .map_err(PlaygroundError::Serve)?;
    std::fs::write(&options.kubeconfig, server.kubeconfig()).map_err(PlaygroundError::Serve)?;
    let client = Client::try_from(kube::Config::new(
        server.url().parse().expect("the server's URL parses"),
    ))
    .map_err(PlaygroundError::Api)?;
    let nodes: Api<core::Node> = Api::all(client.clone());
    for n in cluster() {
        nodes
            .create(&PostParams::default(), &n)
            .await
            .map_err(PlaygroundError::Api)?;
    }
    let runtime = std::sync::Arc::new(PluginRuntime::new()?);
    let profile = Profile::builtin("wasm-scheduler", &runtime)?;
    for p in &profile.plugins {
        tracing::info!(
            plugin = p.name(),
            digest = &p.digest()[..12],
            "plugin loaded"
        );
    }
    let (stop_scheduler, scheduler_stopped) = tokio::sync::watch::channel(false);
    // Plugin sets shipped as ConfigMaps (README, "Ship a plugin") are
    // hot-swapped in the playground too.
    let feed = SetFeed {
        source: SetSource::ConfigMaps {
            namespace: "default".into(),
            set: "wasm-scheduler".into(),
        },
        runtime,
        status: SetStatus::default(),
    };
    let scheduler = tokio::spawn(scheduler::run_with_sets(
        client.clone(),
        Options::default(),
        vec![profile],
        Some(feed),
        scheduler_stopped,
    ));

    let pods: Api<core::Pod> = Api::namespaced(client.clone(), "default");
    for p in workload() {
        pods.create(&PostParams::default(), &p)
            .await
            .map_err(PlaygroundError::Api)?;
    }
    let placements = settle(&pods, &workload()).await;
    for p in &placements {
        match &p.result {
            Ok(node) => tracing::info!(pod = %p.pod, %node, "placed"),
            Err(message) => tracing::warn!(pod = %p.pod, "FailedScheduling: {message}"),
        }
    }
    let config = options.kubeconfig.display();
    tracing::info!(
        "playground ready: kubectl --kubeconfig {config} get pods -o wide | \
         kubectl --kubeconfig {config} get events | \
         kubectl --kubeconfig {config} run web --image=nginx --overrides='{{\"spec\":{{\"schedulerName\":\"wasm-scheduler\"}}}}' | \
         wasm-scheduler explain --kubeconfig {config} --pod default/batch-huge"
    );
    if !options.once {
        tracing::info!("serving until Ctrl-C");
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    }
    let _ = stop_scheduler.send(true);
    match scheduler.await {
        Ok(result) => result?,
        Err(e) => tracing::error!(error = %e, "scheduler task failed"),
    }
    server.shutdown().await;
    Ok(placements)
}

/// Waits (up to 30 s) until every pod is bound or marked unschedulable.
async fn settle(pods: &Api<core::Pod>, workload: &[core::Pod]) -> Vec<Placement> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut placements = Vec::new();
        for w in workload {
            let name = w.metadata.name.clone().unwrap_or_default();
            let Ok(p) = pods.get(&name).await else {
                continue;
            };
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
            let failed = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| {
                    c.iter()
                        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
                })
                .and_then(|c| c.message.clone());
            let result = match (node, failed) {
                (Some(n), _) => Ok(n),
                (None, Some(m)) => Err(m),
                (None, None) => continue,
            };
            placements.push(Placement {
                pod: format!("default/{name}"),
                result,
            });
        }
        if placements.len() == workload.len() || tokio::time::Instant::now() > deadline {
            return placements;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The playground's default workload: a mix of small and large pods, the last
/// of which fits nowhere.
pub fn workload() -> Vec<core::Pod> {
    let mut pods: Vec<core::Pod> = (0..12)
        .map(|i| {
            pod(
                &format!("web-{i}"),
                ["250m", "500m", "1"][i % 3],
                ["256Mi", "512Mi", "1Gi"][i % 3],
            )
        })
        .collect();
    pods.push(pod("batch-huge", "16", "1Gi"));
    pods
}
