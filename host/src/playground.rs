//! The playground: a generated cluster scheduled by the built-in wasm plugins,
//! in one process, with nothing to install.
//!
//! Today it drives the scheduling cycle directly over an in-memory cluster; the
//! in-memory API server (so `kubectl` can talk to it) replaces that next.

use crate::builtin::DEFAULT_SET;
use crate::cycle::{Outcome, TieBreaker, schedule_one};
use crate::runtime::wit::{Delta, KeyValue, Node, NodeUsage, Pod, Resources, Taint, TaintEffect};
use std::sync::Arc;

use crate::runtime::{LoadError, PluginError, PluginRuntime, PluginSlot, PluginSpec};

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
}

fn resources(milli_cpu: i64, memory: i64, pods: i64) -> Resources {
    Resources {
        milli_cpu,
        memory,
        ephemeral_storage: 0,
        pods,
        scalar: Vec::new(),
    }
}

/// 10 nodes in 3 zones, mixed sizes, one tainted for a dedicated team.
pub fn cluster() -> Vec<Node> {
    (0..10)
        .map(|i| {
            let (cpu, gib) = [(2000, 8), (4000, 16), (8000, 32)][i % 3];
            let taints = if i == 9 {
                vec![Taint {
                    key: "dedicated".into(),
                    value: "ml".into(),
                    effect: TaintEffect::NoSchedule,
                }]
            } else {
                Vec::new()
            };
            Node {
                name: format!("node-{i}"),
                labels: vec![KeyValue {
                    key: "topology.kubernetes.io/zone".into(),
                    value: format!("zone-{}", ["a", "b", "c"][i % 3]),
                }],
                annotations: Vec::new(),
                taints,
                unschedulable: false,
                allocatable: resources(cpu, gib << 30, 110),
                images: Vec::new(),
            }
        })
        .collect()
}

/// A pod requesting `milli_cpu` and `memory`.
pub fn pod(name: &str, milli_cpu: i64, memory: i64) -> Pod {
    Pod {
        uid: format!("uid-{name}"),
        namespace: "default".into(),
        name: name.into(),
        labels: Vec::new(),
        annotations: Vec::new(),
        priority: 0,
        node_name: String::new(),
        scheduler_name: "wasm-scheduler".into(),
        node_selector: Vec::new(),
        node_affinity: None,
        pod_affinity: None,
        pod_anti_affinity: None,
        tolerations: Vec::new(),
        requests: resources(milli_cpu, memory, 0),
        non_zero_requests: resources(
            milli_cpu.max(crate::model::DEFAULT_MILLI_CPU_REQUEST),
            memory.max(crate::model::DEFAULT_MEMORY_REQUEST),
            0,
        ),
        host_ports: Vec::new(),
        topology_spread_constraints: Vec::new(),
        images: Vec::new(),
    }
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
/// accounting each placement before the next pod, and returns the placements.
pub fn run(pods: &[Pod]) -> Result<Vec<Placement>, PlaygroundError> {
    let runtime = PluginRuntime::new()?;
    let nodes = cluster();
    let mut usage: Vec<NodeUsage> = nodes.iter().map(|_| empty_usage()).collect();
    let full_sync = |usage: &[NodeUsage]| -> Vec<Delta> {
        nodes
            .iter()
            .zip(usage)
            .enumerate()
            .flat_map(|(id, (n, u))| {
                [
                    Delta::NodeUpserted((id as u32, n.clone())),
                    Delta::UsageChanged((id as u32, u.clone())),
                ]
            })
            .collect()
    };
    let mut slots = Vec::new();
    for b in DEFAULT_SET {
        let loaded = runtime.load(PluginSpec::new(b.name).with_weight(b.weight), b.wasm)?;
        let mut instance = loaded.instantiate()?;
        instance.apply(&full_sync(&usage))?;
        tracing::info!(
            plugin = b.name,
            digest = &loaded.digest()[..12],
            "plugin loaded"
        );
        slots.push(PluginSlot::new(instance));
    }
    let ids: Vec<u32> = (0..nodes.len() as u32).collect();
    let mut ties = TieBreaker::new(0x5eed);
    let mut placements = Vec::new();
    for p in pods {
        let key = format!("{}/{}", p.namespace, p.name);
        let outcome = schedule_one(&mut slots, Arc::new(p.clone()), &ids, &mut ties, &|| {
            full_sync(&usage)
        });
        let result = match outcome {
            Outcome::Scheduled { node, score } => {
                let u = &mut usage[node as usize];
                add(&mut u.requested, &p.requests);
                add(&mut u.non_zero_requested, &p.non_zero_requests);
                u.pod_count += 1;
                let delta = [Delta::UsageChanged((node, u.clone()))];
                for s in &mut slots {
                    s.apply(&delta, &|| full_sync(&usage))?;
                }
                let name = nodes[node as usize].name.clone();
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

fn empty_usage() -> NodeUsage {
    NodeUsage {
        requested: resources(0, 0, 0),
        non_zero_requested: resources(0, 0, 0),
        pod_count: 0,
        host_ports: Vec::new(),
    }
}

fn add(total: &mut Resources, r: &Resources) {
    total.milli_cpu += r.milli_cpu;
    total.memory += r.memory;
    total.ephemeral_storage += r.ephemeral_storage;
}

/// The playground's default workload: a mix of small and large pods, the last
/// of which fits nowhere.
pub fn workload() -> Vec<Pod> {
    let mut pods: Vec<Pod> = (0..12)
        .map(|i| {
            pod(
                &format!("web-{i}"),
                [250, 500, 1000][i % 3],
                [256, 512, 1024][i % 3] << 20,
            )
        })
        .collect();
    pods.push(pod("batch-huge", 16_000, 8 << 30));
    pods
}
