//! A scheduling cycle over the default wasm plugins: placements, and the
//! `FailedScheduling` message in upstream's format.

use wasm_scheduler::playground::{cluster, pod, run, workload};

#[test]
fn playground_binds_what_fits_and_explains_what_does_not() {
    let placements = run(&workload()).expect("playground runs");
    let (bound, failed): (Vec<_>, Vec<_>) = placements.iter().partition(|p| p.result.is_ok());
    assert_eq!(bound.len(), 12);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].pod, "default/batch-huge");
    // TaintToleration filters before NodeResourcesFit, as upstream, so the
    // tainted node is counted under its taint, not under cpu.
    assert_eq!(
        failed[0].result,
        Err("0/10 nodes are available: 1 node(s) had untolerated taint {dedicated: ml}, 9 Insufficient cpu."
            .to_string())
    );
    let tainted = cluster()[9].metadata.name.clone();
    assert!(
        bound
            .iter()
            .all(|p| p.result.as_ref().ok() != tainted.as_ref()),
        "no pod lands on the tainted node"
    );
}

#[test]
fn least_allocated_spreads_equal_pods_over_the_largest_nodes_first() {
    // Two pods of 1 cpu: LeastAllocated prefers the 8-cpu nodes (2, 5, 8) over smaller ones.
    let placements = run(&[pod("a", "1", "1Gi"), pod("b", "1", "1Gi")]).expect("runs");
    let big: Vec<String> = cluster()
        .iter()
        .filter(|n| n.status.as_ref().unwrap().allocatable.as_ref().unwrap()["cpu"].0 == "8")
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    for p in &placements {
        let node = p.result.as_ref().expect("fits");
        assert!(
            big.contains(node),
            "{} went to {node}, not one of {big:?}",
            p.pod
        );
    }
    assert_ne!(
        placements[0].result, placements[1].result,
        "the second pod avoids the first one's node"
    );
}
