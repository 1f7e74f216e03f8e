//! The scheduling cycle over real wasm plugins: percentageOfNodesToScore, the
//! rotating start index, and the same answers whether the nodes are split
//! across one worker or several.

use std::sync::Arc;
use std::time::Duration;
use wasm_scheduler::cycle::{Cycle, Outcome};
use wasm_scheduler::runtime::PluginSpec;
use wasm_scheduler::workers::{WorkerThreads, Workers};
use wasm_scheduler_sdk::fixtures::{node, pod, taint};
use wasm_scheduler_sdk::types::TaintEffect;
use wasm_scheduler_tests::{FixtureNode, full_sync, load};

/// Every test runs with one worker and with two, the nodes split across both
/// whatever the plugins cost: the split must not show.
const PARALLELISM: [usize; 2] = [1, 2];

fn workers(crate_name: &str, spec: PluginSpec, nodes: &[FixtureNode], n: usize) -> Workers {
    let mut w = Workers::new(
        &[load(crate_name, spec)],
        WorkerThreads::new(n).expect("threads"),
    )
    .expect("workers")
    .with_split_worth(Duration::ZERO);
    w.apply(&full_sync(nodes), &|| full_sync(nodes));
    w
}

fn fit(nodes: &[FixtureNode], n: usize) -> Workers {
    workers(
        "node-resources-fit",
        PluginSpec::new("NodeResourcesFit"),
        nodes,
        n,
    )
}

fn place(cycle: &mut Cycle, workers: &mut Workers, nodes: &[FixtureNode], ids: &[u32]) -> Outcome {
    let p = Arc::new(wasm_scheduler_tests::pod(
        &pod("p").with_requests(1000, 1 << 30),
    ));
    cycle.schedule_one(workers, p, ids, &|| full_sync(nodes))
}

#[test]
fn each_pod_searches_from_where_the_last_one_stopped() {
    // 200 equal nodes: the adaptive rule looks for 100 feasible nodes per pod.
    let nodes: Vec<FixtureNode> = (0..200)
        .map(|i| {
            node(&format!("n{i}"))
                .with_allocatable(4000, 8 << 30)
                .into()
        })
        .collect();
    let ids: Vec<u32> = (0..200).collect();
    for n in PARALLELISM {
        let mut w = fit(&nodes, n);
        let mut cycle = Cycle::new(None, 7);
        for expected in [0..100, 100..200, 0..100] {
            match place(&mut cycle, &mut w, &nodes, &ids) {
                Outcome::Scheduled { node, .. } => {
                    assert!(
                        expected.contains(&node),
                        "{n} workers: {node} not in {expected:?}"
                    )
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn the_search_goes_on_until_it_finds_the_only_fitting_node() {
    let mut nodes: Vec<FixtureNode> = (0..300)
        .map(|i| node(&format!("n{i}")).with_allocatable(500, 8 << 30).into())
        .collect();
    let ids: Vec<u32> = (0..300).collect();
    for n in PARALLELISM {
        nodes[250] = node("roomy").with_allocatable(4000, 8 << 30).into();
        match place(&mut Cycle::new(None, 7), &mut fit(&nodes, n), &nodes, &ids) {
            Outcome::Scheduled { node, .. } => assert_eq!(node, 250, "{n} workers"),
            other => panic!("{other:?}"),
        }
        // Every node's reason is counted once, whichever worker filtered it.
        nodes[250] = node("small").with_allocatable(500, 8 << 30).into();
        match place(&mut Cycle::new(None, 7), &mut fit(&nodes, n), &nodes, &ids) {
            Outcome::Unschedulable(fit) => assert_eq!(
                fit.to_string(),
                "0/300 nodes are available: 300 Insufficient cpu."
            ),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn scores_are_normalized_over_all_feasible_nodes_not_per_worker() {
    // The first half has one PreferNoSchedule taint, the second two. Over all
    // nodes TaintToleration gives the first half 50 and the second 0; a
    // worker normalizing only its own half would give everyone 0.
    let pref = TaintEffect::PreferNoSchedule;
    let nodes: Vec<FixtureNode> = (0..300)
        .map(|i| {
            let n = node(&format!("n{i}"))
                .with_allocatable(4000, 8 << 30)
                .with_taint(taint("a", "x", pref));
            if i < 150 {
                n
            } else {
                n.with_taint(taint("b", "y", pref))
            }
            .into()
        })
        .collect();
    let ids: Vec<u32> = (0..300).collect();
    for n in PARALLELISM {
        let mut w = workers(
            "taint-toleration",
            PluginSpec::new("TaintToleration"),
            &nodes,
            n,
        );
        // percentageOfNodesToScore 100: all 300 nodes are scored.
        match place(&mut Cycle::new(Some(100), 7), &mut w, &nodes, &ids) {
            Outcome::Scheduled { node, score } => {
                assert!(node < 150, "{n} workers chose {node}");
                assert_eq!(score, 50, "{n} workers");
            }
            other => panic!("{other:?}"),
        }
    }
}
