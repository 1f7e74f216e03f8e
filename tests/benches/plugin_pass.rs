//! Per-node cost of one filter+score(+normalize) pass, wasm component vs the
//! same plugin logic compiled natively, measured side by side in one run.
//!
//! `cargo bench -p wasm-scheduler-tests --bench plugin_pass` prints a table.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};
use wasm_scheduler::runtime::{PluginInstance, PluginSpec};
use wasm_scheduler_sdk::fixtures::{pod, toleration};
use wasm_scheduler_sdk::types::{Pod, TaintEffect, TolerationOperator};
use wasm_scheduler_sdk::{Plugin, Runtime};
use wasm_scheduler_tests::{FixtureNode, full_sync, full_sync_native, load, perf_cluster};

const SIZES: [usize; 3] = [100, 1000, 5000];
/// Passes per measurement; the median of the rounds is reported.
const ROUNDS: usize = 41;

fn sample_pod() -> Pod {
    pod("bench")
        .with_requests(100, 500 << 20)
        .with_toleration(toleration(
            "spot",
            TolerationOperator::Exists,
            "",
            Some(TaintEffect::PreferNoSchedule),
        ))
}

fn wasm_pass(
    inst: &mut PluginInstance,
    p: &wasm_scheduler::runtime::wit::Pod,
    ids: &[u32],
    normalize: bool,
) {
    inst.begin_cycle(p).expect("begin-cycle");
    let verdicts = inst.filter(ids).expect("filter");
    let scores = inst.score(ids).expect("score");
    if normalize {
        inst.normalize_score(ids, &scores).expect("normalize");
    }
    std::hint::black_box(verdicts);
}

fn native_pass<P: Plugin>(rt: &mut Runtime<P>, p: &Pod, ids: &[u32], normalize: bool) {
    rt.begin_cycle(p.clone()).expect("begin-cycle");
    let verdicts = rt.filter(ids).expect("filter");
    let scores = rt.score(ids).expect("score");
    if normalize {
        rt.normalize_score(ids, scores).expect("normalize");
    }
    std::hint::black_box(verdicts);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench<P: Plugin>(
    crate_name: &str,
    name: &str,
    normalize: bool,
    nodes: &[FixtureNode],
) -> (f64, f64) {
    let ids: Vec<u32> = (0..nodes.len() as u32).collect();
    let p = sample_pod();
    let wp = wasm_scheduler_tests::pod(&p);
    let mut inst = load(crate_name, PluginSpec::new(name))
        .instantiate()
        .expect("init");
    inst.apply(&full_sync(nodes)).expect("sync");
    let mut native = Runtime::<P>::new("bench");
    native.init("null").expect("init");
    native.apply(full_sync_native(nodes)).expect("sync");
    // Warm up both, then alternate so that machine noise hits both alike.
    wasm_pass(&mut inst, &wp, &ids, normalize);
    native_pass(&mut native, &p, &ids, normalize);
    let (mut w, mut n) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        wasm_pass(&mut inst, &wp, &ids, normalize);
        w.push(t.elapsed());
        let t = Instant::now();
        native_pass(&mut native, &p, &ids, normalize);
        n.push(t.elapsed());
    }
    let per_node = |d: Duration| d.as_nanos() as f64 / nodes.len() as f64;
    (per_node(median(w)), per_node(median(n)))
}

fn main() {
    println!("one filter+score pass, median of {ROUNDS}, ns per node");
    println!(
        "{:<20} {:>6} {:>10} {:>10} {:>7}",
        "plugin", "nodes", "wasm", "native", "ratio"
    );
    for n in SIZES {
        let nodes = perf_cluster(n);
        let rows = [
            (
                "node-resources-fit",
                bench::<node_resources_fit::NodeResourcesFit>(
                    "node-resources-fit",
                    "NodeResourcesFit",
                    false,
                    &nodes,
                ),
            ),
            (
                "taint-toleration",
                bench::<taint_toleration::TaintToleration>(
                    "taint-toleration",
                    "TaintToleration",
                    true,
                    &nodes,
                ),
            ),
        ];
        for (name, (w, nat)) in rows {
            println!("{name:<20} {n:>6} {w:>10.1} {nat:>10.1} {:>6.2}x", w / nat);
        }
    }
    println!();
    println!("{:<20} {:>10}", "component", "bytes");
    for c in ["node-resources-fit", "taint-toleration", "node-label-gate"] {
        let size = wasm_scheduler_tests::wasm(c).len();
        println!("{c:<20} {size:>10} ({:.0} KiB)", size as f64 / 1024.0);
    }
}
