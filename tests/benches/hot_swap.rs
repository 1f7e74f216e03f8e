//! Hot swap, measured in one run: the time from a ConfigMap update to the
//! first pod scheduled by the new set, the longest pause of the scheduling
//! loop while a set is swapped in, and the compile time the digest cache
//! saves on an unchanged module.
//!
//! `cargo bench -p wasm-scheduler-tests --bench hot_swap [-- NODES]` prints a
//! table (100 nodes unless NODES is given).
//!
//! Each round starts under set A (admits only `pool=a` nodes, 8 cpu) with a
//! probe pod of 12 cpu that A cannot place. Once the probe has failed and
//! its backoff has run out, the ConfigMap is updated to set B (only
//! `pool=b` nodes, 16 cpu); the round's latency ends when the probe is bound.

#![allow(clippy::print_stdout)]

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};
use wasm_scheduler::profile::Profile;
use wasm_scheduler::runtime::{PluginRuntime, PluginSpec};
use wasm_scheduler::scheduler::Options;
use wasm_scheduler_tests::e2e::{Harness, eventually, node_of, pod};
use wasm_scheduler_tests::sets::{configmaps, feed, gate, put_set};
use wasm_scheduler_tests::{runtime, wasm};

const ROUNDS: usize = 10;
/// Nodes per pool unless a node count is passed (`-- 5000`).
const NODES_PER_POOL: usize = 50;

fn node(name: &str, cpu: u32, pool: &str) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"pool": pool}},
        "status": {"allocatable": {"cpu": cpu.to_string(), "memory": "512Gi", "pods": "110"}}}))
    .expect("valid node")
}

fn quantiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Compiling a module the runtime has not seen, then the same bytes again.
fn compile_cache() -> (Duration, Duration) {
    let rt = PluginRuntime::new().expect("runtime");
    let bytes = wasm("node-resources-fit");
    let t = Instant::now();
    rt.load(PluginSpec::new("cold"), &bytes).expect("loads");
    let cold = t.elapsed();
    let t = Instant::now();
    rt.load(PluginSpec::new("cached"), &bytes).expect("loads");
    (cold, t.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (cold, cached) = compile_cache();
    let per_pool = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .map_or(NODES_PER_POOL, |n| (n / 2).max(1));
    let mut nodes = Vec::new();
    for i in 0..per_pool {
        nodes.push(node(&format!("a{i}"), 8, "a"));
        nodes.push(node(&format!("b{i}"), 16, "b"));
    }
    let (feed, status) = feed(configmaps());
    let profile = Profile::builtin("wasm-scheduler", runtime())?;
    let h = Harness::start_full(
        &nodes,
        Options::default(),
        vec![profile],
        Some(feed),
        |c| async move { put_set(c, &gate("a")).await },
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let loads = |n: u64| {
        let status = status.clone();
        async move {
            eventually("a set load", || async {
                (status.report().loads >= n).then_some(())
            })
            .await
        }
    };
    loads(1).await;
    let (mut to_swap, mut to_pod, mut stalls) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let name = format!("probe-{round}");
        pods.create(&PostParams::default(), &pod(&name, "wasm-scheduler", "12"))
            .await?;
        eventually("the probe to fail under set A", || async {
            let conditions = pods.get(&name).await.ok()?.status?.conditions?;
            conditions
                .iter()
                .any(|c| c.type_ == "PodScheduled" && c.status == "False")
                .then_some(())
        })
        .await;
        // Past the probe's 1 s backoff, so that the figure is the swap's alone.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = status.report().loads;
        let t0 = Instant::now();
        put_set(h.client.clone(), &gate("b")).await?;
        let mut swapped = None;
        loop {
            if swapped.is_none() && status.report().loads > before {
                swapped = Some(t0.elapsed());
            }
            if node_of(&pods, &name).await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        to_pod.push(t0.elapsed());
        loads(before + 1).await;
        to_swap.push(swapped.unwrap_or_else(|| t0.elapsed()));
        let report = status.report();
        stalls.push(Duration::from_micros(
            report.active.expect("active").swap_stall_micros,
        ));
        // Back to A for the next round.
        put_set(h.client.clone(), &gate("a")).await?;
        loads(before + 2).await;
        stalls.push(Duration::from_micros(
            status.report().active.expect("active").swap_stall_micros,
        ));
    }
    h.stop().await?;
    let (swap50, swap_max) = quantiles(to_swap);
    let (pod50, pod_max) = quantiles(to_pod);
    let (stall50, stall_max) = quantiles(stalls);
    println!("hot swap over {ROUNDS} rounds, {} nodes (ms)", 2 * per_pool);
    println!("{:<44} {:>9} {:>9}", "", "p50", "max");
    println!(
        "{:<44} {:>9.1} {:>9.1}",
        "ConfigMap update -> new set active",
        ms(swap50),
        ms(swap_max)
    );
    println!(
        "{:<44} {:>9.1} {:>9.1}",
        "ConfigMap update -> first pod bound by it",
        ms(pod50),
        ms(pod_max)
    );
    println!(
        "{:<44} {:>9.3} {:>9.3}",
        "scheduling loop stall during a swap",
        ms(stall50),
        ms(stall_max)
    );
    println!();
    println!(
        "compile node-resources-fit: {:.1} ms cold, {:.3} ms from the digest cache ({:.0}x)",
        ms(cold),
        ms(cached),
        cold.as_secs_f64() / cached.as_secs_f64()
    );
    Ok(())
}
