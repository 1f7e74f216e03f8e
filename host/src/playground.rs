//! The playground: a generated cluster scheduled by the built-in wasm plugins,
//! in one process, with nothing to install.
//!
//! Today it drives the scheduling cycle over an in-process [`ClusterState`];
//! the in-memory API server (so `kubectl` can talk to it) replaces that next.

use crate::builtin::DEFAULT_SET;
use crate::cluster::ClusterState;
use crate::cycle::{Cycle, Outcome};
use crate::model::{self, ModelError};
use crate::runtime::{LoadError, PluginError, PluginRuntime, PluginSlot, PluginSpec};
use k8s_openapi::api::core::v1 as core;
use serde_json::json;
use std::sync::Arc;

/// Why the playground stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlaygroundError {
    /// The wasm runtime did not start.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// A built-in plugin did not load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A built-in plugin failed while syncing the cluster.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// A generated object did not convert.
    #[error(transparent)]
    Model(#[from] ModelError),
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

/// Schedules `pods` one by one onto [`cluster`] with the default plugin set,
/// assuming each placement before the next pod, and returns the placements.
pub fn run(pods: &[core::Pod]) -> Result<Vec<Placement>, PlaygroundError> {
    let runtime = PluginRuntime::new()?;
    let mut state = ClusterState::default();
    for n in cluster() {
        state.upsert_node(&n)?;
    }
    state.take_deltas();
    let mut slots = Vec::new();
    for b in DEFAULT_SET {
        let loaded = runtime.load(PluginSpec::new(b.name).with_weight(b.weight), b.wasm)?;
        let mut instance = loaded.instantiate()?;
        instance.apply(&state.full_sync())?;
        tracing::info!(
            plugin = b.name,
            digest = &loaded.digest()[..12],
            "plugin loaded"
        );
        slots.push(PluginSlot::new(instance));
    }
    let ids = state.node_ids();
    let mut cycle = Cycle::new(None, 0x5eed);
    let mut placements = Vec::new();
    for p in pods {
        let record = Arc::new(model::pod(p)?);
        let key = format!("{}/{}", record.namespace, record.name);
        let outcome = cycle.schedule_one(&mut slots, record.clone(), &ids, &|| state.full_sync());
        let result = match outcome {
            Outcome::Scheduled { node, score } => {
                let name = state.node_name(node).unwrap_or_default().to_string();
                state.assume(&record, &name);
                let deltas = state.take_deltas();
                for s in &mut slots {
                    s.apply(&deltas, &|| state.full_sync())?;
                }
                tracing::info!(pod = %key, node = %name, score, "Successfully assigned {key} to {name}");
                Ok(name)
            }
            Outcome::Unschedulable(fit) => {
                tracing::warn!(pod = %key, "FailedScheduling: {fit}");
                Err(fit.to_string())
            }
            Outcome::PluginFailed(e) => {
                tracing::warn!(pod = %key, error = %e, "FailedScheduling: plugin failed");
                Err(e.to_string())
            }
        };
        placements.push(Placement { pod: key, result });
    }
    Ok(placements)
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
    pods.push(pod("batch-huge", "16", "8Gi"));
    pods
}
