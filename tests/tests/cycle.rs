//! The scheduling cycle over real wasm plugins: percentageOfNodesToScore and
//! the rotating start index.

use std::sync::Arc;
use wasm_scheduler::cycle::{Cycle, Outcome};
use wasm_scheduler::runtime::{PluginSlot, PluginSpec};
use wasm_scheduler_sdk::fixtures::{node, pod};
use wasm_scheduler_tests::{FixtureNode, full_sync, load};

fn slot(nodes: &[FixtureNode]) -> PluginSlot {
    let mut inst = load("node-resources-fit", PluginSpec::new("NodeResourcesFit"))
        .instantiate()
        .unwrap();
    inst.apply(&full_sync(nodes)).unwrap();
    PluginSlot::new(inst)
}

fn place(
    cycle: &mut Cycle,
    slots: &mut [PluginSlot],
    nodes: &[FixtureNode],
    ids: &[u32],
) -> Outcome {
    let p = Arc::new(wasm_scheduler_tests::pod(
        &pod("p").with_requests(1000, 1 << 30),
    ));
    cycle.schedule_one(slots, p, ids, &|| full_sync(nodes))
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
    let mut slots = [slot(&nodes)];
    let mut cycle = Cycle::new(None, 7);
    for expected in [0..100, 100..200, 0..100] {
        match place(&mut cycle, &mut slots, &nodes, &ids) {
            Outcome::Scheduled { node, .. } => {
                assert!(expected.contains(&node), "{node} not in {expected:?}")
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_search_goes_on_until_it_finds_the_only_fitting_node() {
    let mut nodes: Vec<FixtureNode> = (0..300)
        .map(|i| node(&format!("n{i}")).with_allocatable(500, 8 << 30).into())
        .collect();
    nodes[250] = node("roomy").with_allocatable(4000, 8 << 30).into();
    let ids: Vec<u32> = (0..300).collect();
    let mut slots = [slot(&nodes)];
    match place(&mut Cycle::new(None, 7), &mut slots, &nodes, &ids) {
        Outcome::Scheduled { node, .. } => assert_eq!(node, 250),
        other => panic!("{other:?}"),
    }
    nodes[250] = node("small").with_allocatable(500, 8 << 30).into();
    let mut slots = [slot(&nodes)];
    match place(&mut Cycle::new(None, 7), &mut slots, &nodes, &ids) {
        Outcome::Unschedulable(fit) => {
            assert_eq!(
                fit.to_string(),
                "0/300 nodes are available: 300 Insufficient cpu."
            )
        }
        other => panic!("{other:?}"),
    }
}
