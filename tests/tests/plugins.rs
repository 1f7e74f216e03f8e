//! The default plugins as compiled wasm components give upstream's verdicts and
//! scores on fixture clusters.

use wasm_scheduler::runtime::wit::{Code, ExtensionPoints};
use wasm_scheduler::runtime::{PluginInstance, PluginSpec};
use wasm_scheduler_sdk::fixtures::{node, pod, taint, toleration};
use wasm_scheduler_sdk::types::{TaintEffect, TolerationOperator};
use wasm_scheduler_tests::{FixtureNode, full_sync, load, rejected};

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn instance(crate_name: &str, spec: PluginSpec, nodes: &[FixtureNode]) -> PluginInstance {
    let mut inst = load(crate_name, spec).instantiate().expect("init succeeds");
    inst.apply(&full_sync(nodes)).expect("sync succeeds");
    inst
}

fn ids(n: usize) -> Vec<u32> {
    (0..n as u32).collect()
}

#[test]
fn least_allocated_scores_37_and_50_as_upstream() {
    let nodes: Vec<FixtureNode> = vec![
        node("node1").with_allocatable(4000, 10000).into(),
        node("node2").with_allocatable(6000, 10000).into(),
    ];
    let mut fit = instance(
        "node-resources-fit",
        PluginSpec::new("NodeResourcesFit"),
        &nodes,
    );
    let p = wasm_scheduler_tests::pod(&pod("p").with_requests(3000, 5000));
    fit.begin_cycle(&p).unwrap();
    assert_eq!(fit.score(&ids(2)).unwrap(), [37, 50]);
    let info = fit.info();
    assert_eq!(info.name, "NodeResourcesFit");
    assert!(
        info.extension_points
            .contains(ExtensionPoints::FILTER | ExtensionPoints::SCORE)
    );
}

#[test]
fn node_resources_fit_filters_with_upstream_reasons() {
    let mut full: FixtureNode = node("full").with_allocatable(2000, 4 << 30).into();
    full.usage.requested.milli_cpu = 1500;
    full.usage.pod_count = 110;
    let nodes = vec![full, node("roomy").with_allocatable(8000, 32 << 30).into()];
    let mut fit = instance(
        "node-resources-fit",
        PluginSpec::new("NodeResourcesFit"),
        &nodes,
    );
    let p = wasm_scheduler_tests::pod(&pod("p").with_requests(1000, 1 << 30));
    fit.begin_cycle(&p).unwrap();
    // Only node 0 is rejected: node 1 passes by not being listed.
    assert_eq!(
        rejected(&fit.filter(&ids(2)).unwrap()),
        [(
            0,
            Code::Unschedulable,
            strings(&["Too many pods", "Insufficient cpu"])
        )]
    );
}

#[test]
fn node_resources_fit_takes_its_scoring_strategy_from_config() {
    let nodes: Vec<FixtureNode> = vec![
        node("node1").with_allocatable(4000, 10000).into(),
        node("node2").with_allocatable(6000, 10000).into(),
    ];
    let spec = PluginSpec::new("NodeResourcesFit")
        .with_config(serde_json::json!({"scoringStrategy": {"type": "MostAllocated"}}));
    let mut fit = instance("node-resources-fit", spec, &nodes);
    let p = wasm_scheduler_tests::pod(&pod("p").with_requests(3000, 5000));
    fit.begin_cycle(&p).unwrap();
    assert_eq!(fit.score(&ids(2)).unwrap(), [62, 50]);
}

#[test]
fn taint_toleration_scores_100_50_0_as_upstream() {
    let pref = TaintEffect::PreferNoSchedule;
    let nodes: Vec<FixtureNode> = vec![
        node("nodeA").into(),
        node("nodeB")
            .with_taint(taint("cpu-type", "arm64", pref))
            .into(),
        node("nodeC")
            .with_taint(taint("cpu-type", "arm64", pref))
            .with_taint(taint("disk-type", "ssd", pref))
            .into(),
    ];
    let mut tt = instance(
        "taint-toleration",
        PluginSpec::new("TaintToleration"),
        &nodes,
    );
    let p = wasm_scheduler_tests::pod(&pod("p").with_toleration(toleration(
        "foo",
        TolerationOperator::Equal,
        "bar",
        Some(pref),
    )));
    tt.begin_cycle(&p).unwrap();
    let raw = tt.score(&ids(3)).unwrap();
    assert_eq!(raw, [0, 1, 2]);
    assert_eq!(tt.normalize_score(&ids(3), &raw).unwrap(), [100, 50, 0]);
}

#[test]
fn taint_toleration_filters_untolerated_no_schedule_as_unresolvable() {
    let nodes: Vec<FixtureNode> = vec![
        node("tainted")
            .with_taint(taint("dedicated", "gpu", TaintEffect::NoSchedule))
            .into(),
        node("clean").into(),
    ];
    let mut tt = instance(
        "taint-toleration",
        PluginSpec::new("TaintToleration"),
        &nodes,
    );
    tt.begin_cycle(&wasm_scheduler_tests::pod(&pod("p")))
        .unwrap();
    assert_eq!(
        rejected(&tt.filter(&ids(2)).unwrap()),
        [(
            0,
            Code::UnschedulableAndUnresolvable,
            strings(&["node(s) had untolerated taint {dedicated: gpu}"])
        )]
    );
}

#[test]
fn node_label_gate_reads_its_config() {
    let nodes: Vec<FixtureNode> = vec![
        node("ssd").with_label("disktype", "ssd").into(),
        node("hdd").with_label("disktype", "hdd").into(),
    ];
    let spec =
        PluginSpec::new("gate").with_config(serde_json::json!({"required": {"disktype": ["ssd"]}}));
    let mut gate = instance("node-label-gate", spec, &nodes);
    gate.begin_cycle(&wasm_scheduler_tests::pod(&pod("p")))
        .unwrap();
    let v = gate.filter(&ids(2)).unwrap();
    assert_eq!(
        rejected(&v),
        [(
            1,
            Code::UnschedulableAndUnresolvable,
            strings(&["node(s) didn't have label disktype in [\"ssd\"]"])
        )]
    );
}

#[test]
fn usage_deltas_change_later_verdicts() {
    use wasm_scheduler::runtime::wit::Delta;
    let nodes: Vec<FixtureNode> = vec![node("n").with_allocatable(1000, 1 << 30).into()];
    let mut fit = instance(
        "node-resources-fit",
        PluginSpec::new("NodeResourcesFit"),
        &nodes,
    );
    let p = wasm_scheduler_tests::pod(&pod("p").with_requests(600, 0));
    fit.begin_cycle(&p).unwrap();
    assert_eq!(rejected(&fit.filter(&[0]).unwrap()), []);
    let mut used = wasm_scheduler_sdk::types::NodeUsage::empty();
    used.requested.milli_cpu = 600;
    fit.apply(&[Delta::UsageChanged((
        0,
        wasm_scheduler_tests::convert(&used),
    ))])
    .unwrap();
    assert_eq!(
        rejected(&fit.filter(&[0]).unwrap()),
        [(0, Code::Unschedulable, strings(&["Insufficient cpu"]))]
    );
}

#[test]
fn a_reason_shared_by_many_nodes_crosses_the_boundary_once() {
    let tainted = || node("t").with_taint(taint("dedicated", "gpu", TaintEffect::NoSchedule));
    let nodes: Vec<FixtureNode> = vec![tainted().into(), node("clean").into(), tainted().into()];
    let mut tt = instance(
        "taint-toleration",
        PluginSpec::new("TaintToleration"),
        &nodes,
    );
    tt.begin_cycle(&wasm_scheduler_tests::pod(&pod("p")))
        .unwrap();
    let result = tt.filter(&ids(3)).unwrap();
    assert_eq!(
        result.reasons,
        ["node(s) had untolerated taint {dedicated: gpu}"]
    );
    let refs: Vec<(u32, Vec<u32>)> = result
        .rejections
        .iter()
        .map(|r| (r.index, r.reasons.clone()))
        .collect();
    assert_eq!(refs, [(0, vec![0]), (2, vec![0])]);
}
