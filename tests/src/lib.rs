//! Shared pieces of the integration tests and benchmarks: loading the real wasm
//! plugins, and turning SDK fixtures into the host's WIT types.

pub mod e2e;
pub mod sets;

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::{Arc, OnceLock};
use wasm_scheduler::runtime::wit::{self, Delta};
use wasm_scheduler::runtime::{LoadedPlugin, PluginRuntime, PluginSpec};
use wasm_scheduler_sdk::types as sdk;

/// One runtime per test process: the engine and its ticker thread are shared,
/// as in the scheduler.
pub fn runtime() -> &'static PluginRuntime {
    static RUNTIME: OnceLock<PluginRuntime> = OnceLock::new();
    RUNTIME.get_or_init(|| PluginRuntime::new().expect("wasm runtime starts"))
}

/// The compiled `.wasm` of a workspace plugin crate, as built by the host's build script.
pub fn wasm(crate_name: &str) -> Vec<u8> {
    let path = wasm_scheduler::builtin::artifact(crate_name);
    std::fs::read(&path)
        .with_context(|| format!("reading {}", path.display()))
        .expect("plugin artifact exists")
}

/// Loads a workspace plugin crate under `spec`.
pub fn load(crate_name: &str, spec: PluginSpec) -> Arc<LoadedPlugin> {
    runtime()
        .load(spec, &wasm(crate_name))
        .unwrap_or_else(|e| panic!("loading {crate_name}: {e:?}"))
}

/// Converts between the SDK's and the host's generated types of the same WIT type.
pub fn convert<T: Serialize, U: DeserializeOwned>(value: &T) -> U {
    serde_json::from_value(serde_json::to_value(value).expect("WIT types serialize"))
        .expect("both sides generate the same shape from one WIT")
}

/// The host-side pod for an SDK fixture pod.
pub fn pod(p: &sdk::Pod) -> wit::Pod {
    convert(p)
}

/// A node with its usage, as the host syncs it.
#[derive(Clone)]
pub struct FixtureNode {
    /// The node.
    pub node: sdk::Node,
    /// What is already requested on it.
    pub usage: sdk::NodeUsage,
}

impl From<sdk::Node> for FixtureNode {
    fn from(node: sdk::Node) -> Self {
        FixtureNode {
            node,
            usage: sdk::NodeUsage::empty(),
        }
    }
}

/// The deltas that give a fresh plugin instance these nodes, with ids 0..n.
pub fn full_sync(nodes: &[FixtureNode]) -> Vec<Delta> {
    full_sync_native(nodes).iter().map(convert).collect()
}

/// [`full_sync`] plus the pods already running: `(index of their node, pod)`,
/// with pod ids in order.
pub fn full_sync_with_pods(nodes: &[FixtureNode], pods: &[(usize, sdk::Pod)]) -> Vec<Delta> {
    let mut deltas = full_sync_native(nodes);
    deltas.extend(
        pods.iter()
            .enumerate()
            .map(|(id, (node, p))| sdk::Delta::PodAdded((id as u32, *node as u32, p.clone()))),
    );
    deltas.iter().map(convert).collect()
}

/// The same deltas as the SDK sees them, for running plugin logic natively.
pub fn full_sync_native(nodes: &[FixtureNode]) -> Vec<sdk::Delta> {
    nodes
        .iter()
        .enumerate()
        .flat_map(|(id, n)| {
            let id = id as u32;
            [
                sdk::Delta::NodeUpserted((id, n.node.clone())),
                sdk::Delta::UsageChanged((id, n.usage.clone())),
            ]
        })
        .collect()
}

/// A synthetic cluster of `n` nodes in the shape of upstream's scheduler_perf
/// (4 cpu, 32 GiB, 110 pods), some partly used and some with taints, so that
/// filter and score do real work.
pub fn perf_cluster(n: usize) -> Vec<FixtureNode> {
    use wasm_scheduler_sdk::fixtures::{node, taint};
    (0..n)
        .map(|i| {
            let mut nd = node(&format!("node-{i}"))
                .with_allocatable(4000, 32 << 30)
                .with_label("topology.kubernetes.io/zone", &format!("zone-{}", i % 3));
            if i % 10 == 0 {
                nd = nd.with_taint(taint("dedicated", "infra", sdk::TaintEffect::NoSchedule));
            }
            if i % 4 == 0 {
                nd = nd.with_taint(taint("spot", "true", sdk::TaintEffect::PreferNoSchedule));
            }
            let mut usage = sdk::NodeUsage::empty();
            usage.requested.milli_cpu = (i as i64 * 37) % 3500;
            usage.requested.memory = ((i as i64 * 7919) % 28) << 30;
            usage.non_zero_requested = usage.requested.clone();
            usage.pod_count = (i % 50) as u32;
            FixtureNode { node: nd, usage }
        })
        .collect()
}

/// A filter's rejections as `(index, code, reasons)` with the reasons spelled
/// out, for exact comparison.
pub fn rejected(result: &wit::FilterResult) -> Vec<(u32, wit::Code, Vec<String>)> {
    result
        .rejections
        .iter()
        .map(|r| {
            let reasons = r
                .reasons
                .iter()
                .map(|&id| result.reasons[id as usize].clone())
                .collect();
            (r.index, r.code, reasons)
        })
        .collect()
}
