//! Upstream kube-scheduler's own test tables, run on the compiled wasm
//! plugins: the same inputs, the same statuses and reasons. Each table names
//! the upstream test file it comes from; the case names are upstream's.

use wasm_scheduler::runtime::PluginSpec;
use wasm_scheduler::runtime::wit::Code;
use wasm_scheduler_sdk::fixtures::{node, pod, toleration};
use wasm_scheduler_sdk::types::{
    HostPort, KeyValue, Node, NodeAffinity, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, Pod, PreferredSchedulingTerm, TaintEffect, TolerationOperator,
};
use wasm_scheduler_tests::{FixtureNode, full_sync, load, rejected};

mod affinity;
mod images;
mod resources;
mod spread;
mod taints;

/// An instance of `plugin` (a workspace crate) synced with `nodes` and the
/// pods running on them (`(node index, pod)`), in a cycle for `p`.
pub(crate) fn instance_with_pods(
    plugin: &str,
    name: &str,
    nodes: &[FixtureNode],
    pods: &[(usize, Pod)],
    p: &Pod,
) -> wasm_scheduler::runtime::PluginInstance {
    let mut inst = load(plugin, PluginSpec::new(name))
        .instantiate()
        .expect("init");
    inst.apply(&wasm_scheduler_tests::full_sync_with_pods(nodes, pods))
        .expect("sync");
    inst.begin_cycle(&wasm_scheduler_tests::pod(p))
        .expect("begin-cycle");
    inst
}

/// The final scores of `plugin` (a workspace crate, configured with
/// `config`) for `p` on `nodes`, in order: raw, then normalized when the
/// plugin normalizes, as the scheduler would add them up.
pub(crate) fn scores(
    plugin: &str,
    name: &str,
    config: serde_json::Value,
    nodes: &[FixtureNode],
    p: &Pod,
) -> Vec<i64> {
    use wasm_scheduler::runtime::wit::ExtensionPoints;
    let mut inst = load(plugin, PluginSpec::new(name).with_config(config))
        .instantiate()
        .expect("init");
    inst.apply(&full_sync(nodes)).expect("sync");
    inst.begin_cycle(&wasm_scheduler_tests::pod(p))
        .expect("begin-cycle");
    let ids: Vec<u32> = (0..nodes.len() as u32).collect();
    let raw = inst.score(&ids).expect("score");
    if inst
        .info()
        .extension_points
        .contains(ExtensionPoints::NORMALIZE_SCORE)
    {
        inst.normalize_score(&ids, &raw).expect("normalize")
    } else {
        raw
    }
}

/// The verdict of `plugin` (a workspace crate) for `pod` on one node:
/// `None` when it passes, else the code and reasons.
pub(crate) fn verdict(plugin: &str, name: &str, n: FixtureNode, p: &Pod) -> Verdict {
    verdict_wit(
        plugin,
        name,
        serde_json::Value::Null,
        n,
        &wasm_scheduler_tests::pod(p),
    )
}

/// [`verdict`] with a plugin config, for a pod already in the host's form.
pub(crate) fn verdict_wit(
    plugin: &str,
    name: &str,
    config: serde_json::Value,
    n: FixtureNode,
    p: &wasm_scheduler::runtime::wit::Pod,
) -> Verdict {
    let mut inst = load(plugin, PluginSpec::new(name).with_config(config))
        .instantiate()
        .expect("init");
    inst.apply(&full_sync(&[n])).expect("sync");
    inst.begin_cycle(p).expect("begin-cycle");
    let result = inst.filter(&[0]).expect("filter");
    rejected(&result)
        .into_iter()
        .next()
        .map(|(_, code, reasons)| (code, reasons))
}

/// A filter's verdict on one node: `None` passes.
pub(crate) type Verdict = Option<(Code, Vec<String>)>;

pub(crate) fn fails(code: Code, reason: &str) -> Verdict {
    Some((code, vec![reason.to_string()]))
}

/// `pkg/scheduler/framework/plugins/nodename/node_name_test.go`, every case.
#[test]
fn node_name_as_upstream() {
    let reason = "node(s) didn't match the requested node name";
    let named = |n: &str| {
        let mut p = pod("p");
        p.node_name = n.into();
        p
    };
    let cases = [
        ("no host specified", pod("p"), None),
        ("host matches", named("foo"), None),
        (
            "host doesn't match",
            named("bar"),
            fails(Code::UnschedulableAndUnresolvable, reason),
        ),
    ];
    for (case, p, want) in cases {
        assert_eq!(
            verdict("node-name", "NodeName", node("foo").into(), &p),
            want,
            "{case}"
        );
    }
}

/// `pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable_test.go`,
/// every case but the nil node (the host never passes one).
#[test]
fn node_unschedulable_as_upstream() {
    let reason = "node(s) were unschedulable";
    let cordoned = |flag: bool| -> Node {
        let mut n = node("n");
        n.unschedulable = flag;
        n
    };
    let tolerating = pod("p").with_toleration(toleration(
        "node.kubernetes.io/unschedulable",
        TolerationOperator::Exists,
        "",
        Some(TaintEffect::NoSchedule),
    ));
    let cases = [
        (
            "Does not schedule pod to unschedulable node (node.Spec.Unschedulable==true)",
            cordoned(true),
            pod("p"),
            fails(Code::UnschedulableAndUnresolvable, reason),
        ),
        (
            "Schedule pod to normal node",
            cordoned(false),
            pod("p"),
            None,
        ),
        (
            "Schedule pod with toleration to unschedulable node (node.Spec.Unschedulable==true)",
            cordoned(true),
            tolerating,
            None,
        ),
    ];
    for (case, n, p, want) in cases {
        assert_eq!(
            verdict("node-unschedulable", "NodeUnschedulable", n.into(), &p),
            want,
            "{case}"
        );
    }
}

fn ports(list: &[(&str, &str, u16)]) -> Vec<HostPort> {
    list.iter()
        .map(|(protocol, ip, port)| HostPort {
            ip: ip.to_string(),
            protocol: protocol.to_string(),
            port: *port,
        })
        .collect()
}

/// `pkg/scheduler/framework/plugins/nodeports/node_ports_test.go`
/// (`TestNodePorts`), every case: `(protocol, hostIP, hostPort)` wanted by
/// the pod and in use on the node.
#[test]
fn node_ports_as_upstream() {
    let reason = "node(s) didn't have free ports for the requested pod ports";
    let conflict = fails(Code::Unschedulable, reason);
    type Ports<'a> = &'a [(&'a str, &'a str, u16)];
    let cases: [(&str, Ports, Ports, Verdict); 13] = [
        ("nothing running", &[], &[], None),
        (
            "other port",
            &[("UDP", "127.0.0.1", 8080)],
            &[("UDP", "127.0.0.1", 9090)],
            None,
        ),
        (
            "same udp port",
            &[("UDP", "127.0.0.1", 8080)],
            &[("UDP", "127.0.0.1", 8080)],
            conflict.clone(),
        ),
        (
            "same tcp port",
            &[("TCP", "127.0.0.1", 8080)],
            &[("TCP", "127.0.0.1", 8080)],
            conflict.clone(),
        ),
        (
            "different host ip",
            &[("TCP", "127.0.0.1", 8080)],
            &[("TCP", "127.0.0.2", 8080)],
            None,
        ),
        (
            "different protocol",
            &[("UDP", "127.0.0.1", 8080)],
            &[("TCP", "127.0.0.1", 8080)],
            None,
        ),
        (
            "second udp port conflict",
            &[("UDP", "127.0.0.1", 8000), ("UDP", "127.0.0.1", 8080)],
            &[("UDP", "127.0.0.1", 8080)],
            conflict.clone(),
        ),
        (
            "first tcp port conflict",
            &[("TCP", "127.0.0.1", 8001), ("UDP", "127.0.0.1", 8080)],
            &[("TCP", "127.0.0.1", 8001), ("UDP", "127.0.0.1", 8081)],
            conflict.clone(),
        ),
        (
            "first tcp port conflict due to 0.0.0.0 hostIP",
            &[("TCP", "0.0.0.0", 8001)],
            &[("TCP", "127.0.0.1", 8001)],
            conflict.clone(),
        ),
        (
            "TCP hostPort conflict due to 0.0.0.0 hostIP",
            &[("TCP", "10.0.10.10", 8001), ("TCP", "0.0.0.0", 8001)],
            &[("TCP", "127.0.0.1", 8001)],
            conflict.clone(),
        ),
        (
            "second tcp port conflict to 0.0.0.0 hostIP",
            &[("TCP", "127.0.0.1", 8001)],
            &[("TCP", "0.0.0.0", 8001)],
            conflict.clone(),
        ),
        (
            "second different protocol",
            &[("UDP", "127.0.0.1", 8001)],
            &[("TCP", "0.0.0.0", 8001)],
            None,
        ),
        (
            "UDP hostPort conflict due to 0.0.0.0 hostIP",
            &[("UDP", "127.0.0.1", 8001), ("TCP", "0.0.0.0", 8001)],
            &[("UDP", "0.0.0.0", 8001)],
            conflict.clone(),
        ),
    ];
    for (case, wanted, used, want) in cases {
        let mut p = pod("p");
        p.host_ports = ports(wanted);
        let mut n: FixtureNode = node("n").into();
        n.usage.host_ports = ports(used);
        assert_eq!(verdict("node-ports", "NodePorts", n, &p), want, "{case}");
    }
}

fn req(key: &str, operator: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn term(
    exprs: Vec<NodeSelectorRequirement>,
    fields: Vec<NodeSelectorRequirement>,
) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: exprs,
        match_fields: fields,
    }
}

fn required(terms: Option<Vec<NodeSelectorTerm>>) -> Pod {
    let mut p = pod("p");
    p.node_affinity = Some(NodeAffinity {
        required: terms,
        preferred: Vec::new(),
    });
    p
}

fn selector(p: Pod, pairs: &[(&str, &str)]) -> Pod {
    let mut p = p;
    p.node_selector = pairs
        .iter()
        .map(|(k, v)| KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        })
        .collect();
    p
}

fn labelled(name: &str, labels: &[(&str, &str)]) -> Node {
    labels
        .iter()
        .fold(node(name), |n, (k, v)| n.with_label(k, v))
}

/// `pkg/scheduler/framework/plugins/nodeaffinity/node_affinity_test.go`
/// (`TestNodeAffinity`): the cases on `nodeSelector`, required terms and
/// `matchFields`. Left out: the invalid-label-value case (the API server
/// rejects such a pod before a scheduler sees it); the `addedAffinity`
/// cases are in [`node_affinity_added_affinity_as_upstream`].
#[test]
fn node_affinity_filter_as_upstream() {
    use NodeSelectorOperator::{Exists, Gt, In, NotIn};
    let fail = fails(
        Code::UnschedulableAndUnresolvable,
        "node(s) didn't match Pod's node affinity/selector",
    );
    let foo_bar = [("foo", "bar")];
    let cases: Vec<(&str, Pod, Node, Verdict)> = vec![
        (
            "missing labels",
            selector(pod("p"), &foo_bar),
            node("node1"),
            fail.clone(),
        ),
        (
            "same labels",
            selector(pod("p"), &foo_bar),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "node labels are superset",
            selector(pod("p"), &foo_bar),
            labelled("node1", &[("foo", "bar"), ("baz", "blah")]),
            None,
        ),
        (
            "node labels are subset",
            selector(pod("p"), &[("foo", "bar"), ("baz", "blah")]),
            labelled("node1", &foo_bar),
            fail.clone(),
        ),
        (
            "Pod with matchExpressions using In operator that matches the existing node",
            required(Some(vec![term(
                vec![req("foo", In, &["bar", "value2"])],
                vec![],
            )])),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "Pod with matchExpressions using Gt operator that matches the existing node",
            required(Some(vec![term(
                vec![req("kernel-version", Gt, &["0204"])],
                vec![],
            )])),
            labelled("node1", &[("kernel-version", "0206")]),
            None,
        ),
        (
            "Pod with matchExpressions using NotIn operator that matches the existing node",
            required(Some(vec![term(
                vec![req("mem-type", NotIn, &["DDR", "DDR2"])],
                vec![],
            )])),
            labelled("node1", &[("mem-type", "DDR3")]),
            None,
        ),
        (
            "Pod with matchExpressions using Exists operator that matches the existing node",
            required(Some(vec![term(vec![req("GPU", Exists, &[])], vec![])])),
            labelled("node1", &[("GPU", "NVIDIA-GRID-K1")]),
            None,
        ),
        (
            "Pod with affinity that don't match node's labels won't schedule onto the node",
            required(Some(vec![term(
                vec![req("foo", In, &["value1", "value2"])],
                vec![],
            )])),
            labelled("node1", &foo_bar),
            fail.clone(),
        ),
        (
            "Pod with an empty []NodeSelectorTerm in affinity, can't match the node's labels and won't schedule onto the node",
            required(Some(vec![])),
            labelled("node1", &foo_bar),
            fail.clone(),
        ),
        (
            "Pod with empty MatchExpressions is not a valid value will match no objects and won't schedule onto the node",
            required(Some(vec![term(vec![], vec![])])),
            labelled("node1", &foo_bar),
            fail.clone(),
        ),
        (
            "Pod with no Affinity will schedule onto a node",
            pod("p"),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "Pod with Affinity but nil NodeSelector will schedule onto a node",
            required(None),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "Pod with multiple matchExpressions ANDed that matches the existing node",
            required(Some(vec![term(
                vec![
                    req("GPU", Exists, &[]),
                    req("GPU", NotIn, &["AMD", "INTER"]),
                ],
                vec![],
            )])),
            labelled("node1", &[("GPU", "NVIDIA-GRID-K1")]),
            None,
        ),
        (
            "Pod with multiple matchExpressions ANDed that doesn't match the existing node",
            required(Some(vec![term(
                vec![req("GPU", Exists, &[]), req("GPU", In, &["AMD", "INTER"])],
                vec![],
            )])),
            labelled("node1", &[("GPU", "NVIDIA-GRID-K1")]),
            fail.clone(),
        ),
        (
            "Pod with multiple NodeSelectorTerms ORed in affinity, matches the node's labels and will schedule onto the node",
            required(Some(vec![
                term(vec![req("foo", In, &["bar", "value2"])], vec![]),
                term(vec![req("diffkey", In, &["wrong", "value2"])], vec![]),
            ])),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "Pod with an Affinity and a PodSpec.NodeSelector(the old thing that we are deprecating) both are satisfied, will schedule onto the node",
            selector(
                required(Some(vec![term(vec![req("foo", Exists, &[])], vec![])])),
                &foo_bar,
            ),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "Pod with an Affinity matches node's labels but the PodSpec.NodeSelector(the old thing that we are deprecating) is not satisfied, won't schedule onto the node",
            selector(
                required(Some(vec![term(vec![req("foo", Exists, &[])], vec![])])),
                &foo_bar,
            ),
            labelled("node1", &[("foo", "barrrrrr")]),
            fail.clone(),
        ),
        (
            "Pod with matchFields using In operator that matches the existing node",
            required(Some(vec![term(
                vec![],
                vec![req("metadata.name", In, &["node1"])],
            )])),
            node("node1"),
            None,
        ),
        (
            "Pod with matchFields using In operator that does not match the existing node",
            required(Some(vec![term(
                vec![],
                vec![req("metadata.name", In, &["node1"])],
            )])),
            node("node2"),
            fail.clone(),
        ),
        (
            "Pod with two terms: matchFields does not match, but matchExpressions matches",
            required(Some(vec![
                term(vec![], vec![req("metadata.name", In, &["node1"])]),
                term(vec![req("foo", In, &["bar"])], vec![]),
            ])),
            labelled("node2", &foo_bar),
            None,
        ),
        (
            "Pod with one term: matchFields does not match, but matchExpressions matches",
            required(Some(vec![term(
                vec![req("foo", In, &["bar"])],
                vec![req("metadata.name", In, &["node1"])],
            )])),
            labelled("node2", &foo_bar),
            fail.clone(),
        ),
        (
            "Pod with one term: both matchFields and matchExpressions match",
            required(Some(vec![term(
                vec![req("foo", In, &["bar"])],
                vec![req("metadata.name", In, &["node1"])],
            )])),
            labelled("node1", &foo_bar),
            None,
        ),
        (
            "Pod with two terms: both matchFields and matchExpressions do not match",
            required(Some(vec![
                term(vec![], vec![req("metadata.name", In, &["node1"])]),
                term(vec![req("foo", In, &["not-match-to-bar"])], vec![]),
            ])),
            labelled("node2", &foo_bar),
            fail.clone(),
        ),
    ];
    assert!(cases.len() >= 10);
    for (case, p, n, want) in cases {
        assert_eq!(
            verdict("node-affinity", "NodeAffinity", n.into(), &p),
            want,
            "{case}"
        );
    }
}

/// `TestNodeAffinityPriority` in the same file: raw weights summed over the
/// matching preferred terms, normalized so the best node gets 100.
#[test]
fn node_affinity_score_as_upstream() {
    use NodeSelectorOperator::In;
    let preferred = |terms: Vec<(i32, NodeSelectorTerm)>| {
        let mut p = pod("p");
        p.node_affinity = Some(NodeAffinity {
            required: None,
            preferred: terms
                .into_iter()
                .map(|(weight, preference)| PreferredSchedulingTerm { weight, preference })
                .collect(),
        });
        p
    };
    let nodes: Vec<FixtureNode> = vec![
        labelled("node1", &[("foo", "bar")]).into(),
        labelled("node2", &[("foo", "bar"), ("key", "value"), ("az", "az1")]).into(),
        labelled("node3", &[("key", "value")]).into(),
    ];
    let affinity1 = preferred(vec![(2, term(vec![req("foo", In, &["bar"])], vec![]))]);
    let affinity3 = preferred(vec![
        (2, term(vec![req("foo", In, &["bar"])], vec![])),
        (4, term(vec![req("key", In, &["value"])], vec![])),
        (
            5,
            term(
                vec![
                    req("foo", In, &["bar"]),
                    req("key", In, &["value"]),
                    req("az", In, &["az1"]),
                ],
                vec![],
            ),
        ),
    ]);
    let mut inst = load("node-affinity", PluginSpec::new("NodeAffinity"))
        .instantiate()
        .expect("init");
    inst.apply(&full_sync(&nodes)).expect("sync");
    let scores = |inst: &mut wasm_scheduler::runtime::PluginInstance, p: &Pod| {
        inst.begin_cycle(&wasm_scheduler_tests::pod(p))
            .expect("begin");
        let raw = inst.score(&[0, 1, 2]).expect("score");
        inst.normalize_score(&[0, 1, 2], &raw).expect("normalize")
    };
    assert_eq!(
        scores(&mut inst, &pod("p")),
        [0, 0, 0],
        "all nodes are same priority as NodeAffinity is nil"
    );
    let only_first: Vec<FixtureNode> = vec![
        labelled("node1", &[("foo", "bar")]).into(),
        labelled("node2", &[("key", "value")]).into(),
        labelled("node3", &[("az", "az1")]).into(),
    ];
    let mut first = load("node-affinity", PluginSpec::new("NodeAffinity"))
        .instantiate()
        .expect("init");
    first.apply(&full_sync(&only_first)).expect("sync");
    assert_eq!(
        scores(&mut first, &affinity1),
        [100, 0, 0],
        "only node1 matches the preferred scheduling requirements of pod"
    );
    assert_eq!(
        scores(&mut inst, &affinity3),
        [18, 100, 36],
        "all nodes matches the preferred scheduling requirements of pod but with different priorities"
    );
}

/// The `addedAffinity` cases of `TestNodeAffinity` (filter) and of
/// `TestNodeAffinityPriority` (score): the scheduler's own terms on top of
/// every pod's.
#[test]
fn node_affinity_added_affinity_as_upstream() {
    use NodeSelectorOperator::In;
    use serde_json::json;
    let zone_in = |v: &str| required(Some(vec![term(vec![req("zone", In, &[v])], vec![])]));
    let on_node2 = json!({"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node2"]}]}]}}});
    let in_zone_bar = json!({"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["bar"]}]}]}}});
    let cases = [
        (
            "Matches added affinity and Pod's node affinity",
            zone_in("foo"),
            on_node2.clone(),
            None,
        ),
        (
            "Matches added affinity but not Pod's node affinity",
            zone_in("bar"),
            on_node2,
            fails(
                Code::UnschedulableAndUnresolvable,
                "node(s) didn't match Pod's node affinity/selector",
            ),
        ),
        (
            "Doesn't match added affinity",
            pod("p"),
            in_zone_bar,
            fails(
                Code::UnschedulableAndUnresolvable,
                "node(s) didn't match scheduler-enforced node affinity",
            ),
        ),
    ];
    for (case, p, config, want) in cases {
        let n = labelled("node2", &[("zone", "foo")]).into();
        assert_eq!(
            verdict_wit(
                "node-affinity",
                "NodeAffinity",
                config,
                n,
                &wasm_scheduler_tests::pod(&p)
            ),
            want,
            "{case}"
        );
    }

    let prefer = |weight: i64, key: &str, value: &str| {
        json!({"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
            [{"weight": weight, "preference": {"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}}]}})
    };
    let mut with_preference = pod("p");
    with_preference.node_affinity = Some(NodeAffinity {
        required: None,
        preferred: vec![PreferredSchedulingTerm {
            weight: 2,
            preference: term(vec![req("foo", In, &["bar"])], vec![]),
        }],
    });
    let foo_bar = labelled("node1", &[("foo", "bar")]);
    let key_value = labelled("node2", &[("key", "value")]);
    let both = labelled("node3", &[("foo", "bar"), ("key", "value"), ("az", "az1")]);
    let nodes =
        |list: Vec<Node>| -> Vec<FixtureNode> { list.into_iter().map(Into::into).collect() };
    assert_eq!(
        scores(
            "node-affinity",
            "NodeAffinity",
            prefer(2, "foo", "bar"),
            &nodes(vec![foo_bar.clone(), key_value.clone()]),
            &pod("p")
        ),
        [100, 0],
        "Added affinity"
    );
    assert_eq!(
        scores(
            "node-affinity",
            "NodeAffinity",
            prefer(3, "key", "value"),
            &nodes(vec![foo_bar, key_value, both]),
            &with_preference
        ),
        [40, 60, 100],
        "Added affinity and pod has default affinity"
    );
}
