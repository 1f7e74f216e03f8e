//! PodTopologySpread against upstream's `filtering_test.go`
//! (`TestSingleConstraint`) and `scoring_test.go` (`TestPodTopologySpreadScore`).

use super::instance_with_pods;
use wasm_scheduler::runtime::wit::{Code, ExtensionPoints};
use wasm_scheduler_sdk::fixtures::{node, pod};
use wasm_scheduler_sdk::types::{
    InclusionPolicy, LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, NodeAffinity,
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, Pod, TopologySpreadConstraint,
    UnsatisfiableAction,
};
use wasm_scheduler_tests::{FixtureNode, rejected};

const HOST: &str = "kubernetes.io/hostname";

/// `st.MakeLabelSelector().Exists(key)`.
fn exists(key: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Vec::new(),
        match_expressions: vec![LabelSelectorRequirement {
            key: key.into(),
            operator: LabelSelectorOperator::Exists,
            values: Vec::new(),
        }],
    })
}

/// A pod labelled with each of `labels` (value ""), spread by `constraints`:
/// `(maxSkew, topologyKey, whenUnsatisfiable, selector)`.
fn spread_pod(
    labels: &[&str],
    constraints: &[(i32, &str, UnsatisfiableAction, Option<LabelSelector>)],
) -> Pod {
    let mut p = labels.iter().fold(pod("p"), |p, l| p.with_label(l, ""));
    p.topology_spread_constraints = constraints
        .iter()
        .map(
            |(max_skew, key, action, selector)| TopologySpreadConstraint {
                max_skew: *max_skew,
                topology_key: key.to_string(),
                when_unsatisfiable: *action,
                label_selector: selector.clone(),
                min_domains: None,
                node_affinity_policy: InclusionPolicy::Honor,
                node_taints_policy: InclusionPolicy::Ignore,
                match_label_keys: Vec::new(),
            },
        )
        .collect();
    p
}

/// A node with labels.
fn labelled(name: &str, labels: &[(&str, &str)]) -> FixtureNode {
    labels
        .iter()
        .fold(node(name), |n, (k, v)| n.with_label(k, v))
        .into()
}

/// The usual four nodes of the filter tests: zone1 (a, b), zone2 (x, y),
/// each with a `node` label.
fn four_zoned() -> Vec<FixtureNode> {
    [
        ("node-a", "zone1"),
        ("node-b", "zone1"),
        ("node-x", "zone2"),
        ("node-y", "zone2"),
    ]
    .map(|(n, z)| labelled(n, &[("zone", z), ("node", n)]))
    .to_vec()
}

/// Existing pods: `(node index, namespace, labels)`.
type Existing<'a> = Vec<(usize, &'a str, &'a [&'a str])>;

fn existing(list: &Existing) -> Vec<(usize, Pod)> {
    list.iter()
        .enumerate()
        .map(|(i, (n, ns, labels))| {
            let mut p = labels
                .iter()
                .fold(pod(&format!("e{i}")), |p, l| p.with_label(l, ""));
            p.namespace = ns.to_string();
            (*n, p)
        })
        .collect()
}

/// `n` pods labelled `foo` on the node at `index`, in `default`.
fn foos(counts: &[usize]) -> Existing<'static> {
    counts
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| std::iter::repeat_n((i, "default", &["foo"][..]), n))
        .collect()
}

/// The filter's code for every node, in order.
fn codes(nodes: &[FixtureNode], pods: &Existing, p: &Pod) -> Vec<Code> {
    let ids: Vec<u32> = (0..nodes.len() as u32).collect();
    let result = instance_with_pods(
        "pod-topology-spread",
        "PodTopologySpread",
        nodes,
        &existing(pods),
        p,
    )
    .filter(&ids)
    .expect("filter");
    let mut codes = vec![Code::Success; nodes.len()];
    for (index, code, _) in rejected(&result) {
        codes[index as usize] = code;
    }
    codes
}

fn min_domains(mut p: Pod, n: i32) -> Pod {
    p.topology_spread_constraints[0].min_domains = Some(n);
    p
}

fn policies(mut p: Pod, affinity: InclusionPolicy, taints: InclusionPolicy) -> Pod {
    for c in &mut p.topology_spread_constraints {
        c.node_affinity_policy = affinity;
        c.node_taints_policy = taints;
    }
    p
}

/// `NodeSelector(map[string]string{"foo": ""})`.
fn foo_selector(p: Pod) -> Pod {
    let mut p = p;
    p.node_selector = vec![wasm_scheduler_sdk::types::KeyValue {
        key: "foo".into(),
        value: String::new(),
    }];
    p
}

/// `NodeAffinityIn("foo", []string{""}, ...)`.
fn foo_affinity(p: Pod) -> Pod {
    let mut p = p;
    p.node_affinity = Some(NodeAffinity {
        required: Some(vec![NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: "foo".into(),
                operator: NodeSelectorOperator::In,
                values: vec![String::new()],
            }],
            match_fields: Vec::new(),
        }]),
        preferred: Vec::new(),
    });
    p
}

/// Nodes named and labelled `node=<name>`.
fn by_node(names: &[&str]) -> Vec<FixtureNode> {
    names.iter().map(|n| labelled(n, &[("node", n)])).collect()
}

/// Upstream's inclusion-policy nodes: a, b and x labelled `foo`, y not.
fn foo_labelled() -> Vec<FixtureNode> {
    ["node-a", "node-b", "node-x", "node-y"]
        .iter()
        .map(|n| {
            if *n == "node-y" {
                labelled(n, &[("node", n)])
            } else {
                labelled(n, &[("node", n), ("foo", "")])
            }
        })
        .collect()
}

/// As upstream's taint-policy nodes: all labelled `foo`, y tainted NoSchedule.
fn foo_labelled_tainted() -> Vec<FixtureNode> {
    let mut nodes: Vec<FixtureNode> = ["node-a", "node-b", "node-x", "node-y"]
        .iter()
        .map(|n| labelled(n, &[("node", n), ("foo", "")]))
        .collect();
    nodes[3].node = nodes[3]
        .node
        .clone()
        .with_taint(wasm_scheduler_sdk::fixtures::taint(
            "node.kubernetes.io/unschedulable",
            "",
            wasm_scheduler_sdk::types::TaintEffect::NoSchedule,
        ));
    nodes
}

/// `TestSingleConstraint`, every case but "terminating Pods should be
/// excluded" (the plugin contract carries no deletion timestamp), with its
/// minDomains and node-inclusion-policy cases; and the first two cases of
/// `TestMultipleConstraints`.
#[test]
fn pod_topology_spread_filter_as_upstream() {
    use Code::{Success as S, Unschedulable as U, UnschedulableAndUnresolvable as UU};
    use InclusionPolicy::{Honor, Ignore};
    use UnsatisfiableAction::DoNotSchedule as Hard;
    let foo_zone = spread_pod(&["foo"], &[(1, "zone", Hard, exists("foo"))]);
    let foo_node = |skew| spread_pod(&["foo"], &[(skew, "node", Hard, exists("foo"))]);
    let mut with_affinity = foo_node(1);
    with_affinity.node_affinity = Some(NodeAffinity {
        required: Some(vec![NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: "node".into(),
                operator: NodeSelectorOperator::In,
                values: vec!["node-a".into(), "node-y".into()],
            }],
            match_fields: Vec::new(),
        }]),
        preferred: Vec::new(),
    });
    let mut missing_zone = four_zoned();
    missing_zone[1] = labelled("node-b", &[("zon", "zone1"), ("node", "node-b")]);
    let two_by_rack = vec![
        labelled("node-a", &[("zone", "zone1"), ("node", "node-a")]),
        labelled("node-x", &[("zone", "zone2"), ("node", "node-x")]),
    ];
    type Case<'a> = (&'a str, Pod, Vec<FixtureNode>, Existing<'a>, Vec<Code>);
    let cases: Vec<Case> = vec![
        (
            "no existing pods",
            foo_zone.clone(),
            four_zoned(),
            vec![],
            vec![S, S, S, S],
        ),
        (
            "no existing pods, incoming pod doesn't match itself",
            spread_pod(&["foo"], &[(1, "zone", Hard, exists("bar"))]),
            four_zoned(),
            vec![],
            vec![S, S, S, S],
        ),
        (
            "existing pods in a different namespace do not count",
            foo_zone.clone(),
            four_zoned(),
            vec![
                (0, "ns1", &["foo"]),
                (0, "ns2", &["foo"]),
                (2, "default", &["foo"]),
                (3, "default", &["foo"]),
            ],
            vec![S, S, U, U],
        ),
        (
            "pods spread across zones as 3/3, all nodes fit",
            foo_zone.clone(),
            four_zoned(),
            foos(&[2, 1, 0, 3]),
            vec![S, S, S, S],
        ),
        (
            "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
            foo_zone.clone(),
            missing_zone,
            foos(&[1, 1, 1, 1]),
            vec![S, UU, U, U],
        ),
        (
            "pod cannot be scheduled as all nodes don't have label 'rack'",
            spread_pod(&["foo"], &[(1, "rack", Hard, exists("foo"))]),
            two_by_rack,
            vec![],
            vec![UU, UU],
        ),
        (
            "pods spread across nodes as 2/1/0/3, only node-x fits",
            foo_node(1),
            four_zoned(),
            foos(&[2, 1, 0, 3]),
            vec![U, U, S, U],
        ),
        (
            "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
            foo_node(2),
            four_zoned(),
            foos(&[2, 1, 0, 3]),
            vec![U, S, S, U],
        ),
        (
            "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
            spread_pod(&["bar"], &[(1, "node", Hard, exists("foo"))]),
            four_zoned(),
            foos(&[2, 1, 0, 3]),
            vec![U, S, S, U],
        ),
        (
            "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
            with_affinity,
            four_zoned(),
            foos(&[2, 1, 0, 3]),
            vec![S, S, S, U],
        ),
        (
            "existing pods do not match null selector",
            spread_pod(&["foo"], &[(1, "zone", Hard, None)]),
            four_zoned(),
            foos(&[0, 0, 1, 1]),
            vec![S, S, S, S],
        ),
        (
            "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains < minDomains, then the third node fits",
            min_domains(spread_pod(&["foo"], &[(2, "node", Hard, exists("foo"))]), 4),
            by_node(&["node-a", "node-b", "node-c"]),
            foos(&[2, 2, 1]),
            vec![U, U, S],
        ),
        (
            "pods spread across nodes as 2/2/1, maxSkew is 2, and the number of domains > minDomains, then the all nodes fit",
            min_domains(spread_pod(&["foo"], &[(2, "node", Hard, exists("foo"))]), 2),
            by_node(&["node-a", "node-b", "node-c"]),
            foos(&[2, 2, 1]),
            vec![S, S, S],
        ),
        (
            "pods spread across zone as 2/1, maxSkew is 2 and the number of domains < minDomains, then the third and fourth nodes fit",
            min_domains(spread_pod(&["foo"], &[(2, "zone", Hard, exists("foo"))]), 3),
            four_zoned(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, S],
        ),
        (
            "pods spread across zone as 2/1, maxSkew is 2 and the number of domains > minDomains, then the all nodes fit",
            min_domains(spread_pod(&["foo"], &[(2, "zone", Hard, exists("foo"))]), 1),
            four_zoned(),
            foos(&[1, 1, 0, 1]),
            vec![S, S, S, S],
        ),
        (
            "NodeAffinityPolicy honored with labelSelectors",
            foo_selector(spread_pod(&["foo"], &[(1, "node", Hard, exists("foo"))])),
            foo_labelled(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, S],
        ),
        (
            "NodeAffinityPolicy ignored with labelSelectors",
            policies(
                foo_selector(spread_pod(&["foo"], &[(1, "node", Hard, exists("foo"))])),
                Ignore,
                Ignore,
            ),
            foo_labelled(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, U],
        ),
        (
            "NodeAffinityPolicy honored with nodeAffinity",
            foo_affinity(spread_pod(&["foo"], &[(1, "node", Hard, exists("foo"))])),
            foo_labelled(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, S],
        ),
        (
            // Upstream names this one as the labelSelectors case above.
            "NodeAffinityPolicy ignored with labelSelectors",
            policies(
                foo_affinity(spread_pod(&["foo"], &[(1, "node", Hard, exists("foo"))])),
                Ignore,
                Ignore,
            ),
            foo_labelled(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, U],
        ),
        (
            "NodeTaintsPolicy honored",
            policies(
                spread_pod(&["foo"], &[(1, "node", Hard, exists("foo"))]),
                Honor,
                Honor,
            ),
            foo_labelled_tainted(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, S],
        ),
        (
            "NodeTaintsPolicy ignored",
            spread_pod(&["foo"], &[(1, "node", Hard, exists("foo"))]),
            foo_labelled_tainted(),
            foos(&[1, 1, 0, 1]),
            vec![U, U, S, U],
        ),
        (
            "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
            spread_pod(
                &["foo"],
                &[
                    (1, "zone", Hard, exists("foo")),
                    (1, "node", Hard, exists("foo")),
                ],
            ),
            four_zoned(),
            foos(&[2, 1, 0, 3]),
            vec![U, U, S, U],
        ),
        (
            "two Constraints on zone and node, spreads = [3/4, 2/1/0/4]",
            spread_pod(
                &["foo"],
                &[
                    (1, "zone", Hard, exists("foo")),
                    (1, "node", Hard, exists("foo")),
                ],
            ),
            four_zoned(),
            foos(&[2, 1, 0, 4]),
            vec![U, U, U, U],
        ),
    ];
    assert!(cases.len() >= 10);
    for (case, p, nodes, pods, want) in cases {
        assert_eq!(codes(&nodes, &pods, &p), want, "{case}");
    }
}

#[test]
fn pod_topology_spread_filter_reasons_are_upstreams() {
    let p = spread_pod(
        &["foo"],
        &[(1, "zone", UnsatisfiableAction::DoNotSchedule, exists("foo"))],
    );
    let mut nodes = four_zoned();
    nodes[1] = labelled("node-b", &[("node", "node-b")]);
    let ids: Vec<u32> = (0..4).collect();
    let result = instance_with_pods(
        "pod-topology-spread",
        "PodTopologySpread",
        &nodes,
        &existing(&foos(&[1, 0, 1, 1])),
        &p,
    )
    .filter(&ids)
    .expect("filter");
    let reasons: Vec<(u32, Vec<String>)> = rejected(&result)
        .into_iter()
        .map(|(i, _, r)| (i, r))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                1,
                vec![
                    "node(s) didn't match pod topology spread constraints (missing required label)"
                        .to_string()
                ]
            ),
            (
                2,
                vec!["node(s) didn't match pod topology spread constraints".to_string()]
            ),
            (
                3,
                vec!["node(s) didn't match pod topology spread constraints".to_string()]
            ),
        ]
    );
}

/// Final scores of the candidate nodes (the first `candidates` of `nodes`;
/// the rest failed filtering but their pods still count).
fn spread_scores(nodes: &[FixtureNode], candidates: usize, pods: &Existing, p: &Pod) -> Vec<i64> {
    let mut inst = instance_with_pods(
        "pod-topology-spread",
        "PodTopologySpread",
        nodes,
        &existing(pods),
        p,
    );
    assert!(
        inst.info()
            .extension_points
            .contains(ExtensionPoints::NORMALIZE_SCORE)
    );
    let ids: Vec<u32> = (0..candidates as u32).collect();
    let raw = inst.score(&ids).expect("score");
    inst.normalize_score(&ids, &raw).expect("normalize")
}

/// `TestPodTopologySpreadScore`: the cases without DRA, matchLabelKeys or
/// inclusion-policy switches. "system defaulting, nodes don't have zone,
/// pods match service" is carried with a ReplicaSet owner in place of the
/// Service (the plugin sees controllers, not Services).
#[test]
fn pod_topology_spread_score_as_upstream() {
    use UnsatisfiableAction::ScheduleAnyway as Soft;
    let hosts = |names: &[&str]| -> Vec<FixtureNode> {
        names.iter().map(|n| labelled(n, &[(HOST, n)])).collect()
    };
    let zoned = |list: &[(&str, &str)]| -> Vec<FixtureNode> {
        list.iter()
            .map(|(n, z)| labelled(n, &[("zone", z), (HOST, n)]))
            .collect()
    };
    let on_host = |skew| spread_pod(&["foo"], &[(skew, HOST, Soft, exists("foo"))]);
    let mut system_defaulted = pod("p").with_label("foo", "");
    system_defaulted.controller_kind = "ReplicaSet".into();
    let mut missing_host = hosts(&["node-a", "node-b", "node-x", "node-y"]);
    missing_host[1] = labelled("node-b", &[("n", "node-b")]);
    let on_zone_and_host = spread_pod(
        &["foo"],
        &[
            (1, "zone", Soft, exists("foo")),
            (1, HOST, Soft, exists("foo")),
        ],
    );
    type Case<'a> = (
        &'a str,
        Pod,
        Vec<FixtureNode>,
        usize,
        Existing<'a>,
        Vec<i64>,
    );
    let cases: Vec<Case> = vec![
        (
            "one constraint on node, no existing pods",
            on_host(1),
            hosts(&["node-a", "node-b"]),
            2,
            vec![],
            vec![100, 100],
        ),
        (
            "one constraint on node, only one node is candidate",
            on_host(1),
            hosts(&["node-a", "node-b"]),
            1,
            foos(&[2, 1]),
            vec![100],
        ),
        (
            "one constraint on node, all nodes have the same number of matching pods",
            on_host(1),
            hosts(&["node-a", "node-b"]),
            2,
            foos(&[1, 1]),
            vec![100, 100],
        ),
        (
            "one constraint on node, all 4 nodes are candidates",
            on_host(1),
            hosts(&["node-a", "node-b", "node-c", "node-d"]),
            4,
            foos(&[2, 1, 0, 3]),
            vec![20, 60, 100, 0],
        ),
        (
            "one constraint on node, null selector",
            spread_pod(&["foo"], &[(1, HOST, Soft, None)]),
            hosts(&["node-a", "node-b", "node-c", "node-d"]),
            4,
            foos(&[2, 1, 0, 3]),
            vec![100, 100, 100, 100],
        ),
        (
            "one constraint on node, all 4 nodes are candidates, maxSkew=2",
            on_host(2),
            hosts(&["node-a", "node-b", "node-c", "node-d"]),
            4,
            foos(&[2, 1, 0, 3]),
            vec![33, 66, 100, 16],
        ),
        (
            "one constraint on node, all 4 nodes are candidates, maxSkew=3",
            on_host(3),
            hosts(&["node-a", "node-b", "node-c", "node-d"]),
            4,
            foos(&[4, 3, 2, 1]),
            vec![44, 66, 77, 100],
        ),
        (
            "system defaulting, nodes don't have zone, pods match service",
            system_defaulted,
            hosts(&["node-a", "node-b", "node-c", "node-d"]),
            4,
            foos(&[4, 3, 2, 1]),
            vec![44, 66, 77, 100],
        ),
        (
            "one constraint on node, 3 out of 4 nodes are candidates",
            on_host(1),
            hosts(&["node-a", "node-b", "node-x", "node-y"]),
            3,
            foos(&[4, 2, 1, 3]),
            vec![33, 83, 100],
        ),
        (
            "one constraint on node, 3 out of 4 nodes are candidates, one node doesn't match topology key",
            on_host(1),
            missing_host,
            3,
            foos(&[4, 2, 1, 3]),
            vec![16, 0, 100],
        ),
        (
            "one constraint on zone, 3 out of 4 nodes are candidates",
            spread_pod(&["foo"], &[(1, "zone", Soft, exists("foo"))]),
            zoned(&[
                ("node-a", "zone1"),
                ("node-b", "zone1"),
                ("node-x", "zone2"),
                ("node-y", "zone2"),
            ]),
            3,
            foos(&[4, 2, 1, 3]),
            vec![75, 75, 100],
        ),
        (
            "two Constraints on zone and node, 2 out of 4 nodes are candidates",
            on_zone_and_host,
            zoned(&[
                ("node-a", "zone1"),
                ("node-x", "zone2"),
                ("node-b", "zone1"),
                ("node-y", "zone2"),
            ]),
            2,
            foos(&[2, 2, 1, 4]),
            vec![100, 63],
        ),
        (
            "two Constraints on zone, 2 out of 4 nodes are candidates",
            spread_pod(
                &["foo", "bar"],
                &[
                    (1, "zone", Soft, exists("foo")),
                    (1, "zone", Soft, exists("bar")),
                ],
            ),
            [
                ("node-a", "zone1"),
                ("node-x", "zone2"),
                ("node-b", "zone1"),
                ("node-y", "zone2"),
            ]
            .map(|(n, z)| labelled(n, &[("zone", z)]))
            .to_vec(),
            2,
            vec![
                (0, "default", &["foo", "bar"]),
                (0, "default", &["foo"]),
                (2, "default", &["foo", "bar"]),
                (3, "default", &["foo"]),
                (3, "default", &["foo", "bar"]),
                (3, "default", &["foo"]),
            ],
            vec![85, 100],
        ),
        (
            "two Constraints on zone and node, with different labelSelectors",
            spread_pod(
                &["foo", "bar"],
                &[
                    (1, "zone", Soft, exists("foo")),
                    (1, HOST, Soft, exists("bar")),
                ],
            ),
            zoned(&[
                ("node-a", "zone1"),
                ("node-b", "zone1"),
                ("node-x", "zone2"),
                ("node-y", "zone2"),
            ]),
            4,
            vec![
                (0, "default", &["foo"]),
                (1, "default", &["foo", "bar"]),
                (3, "default", &["foo"]),
                (3, "default", &["bar"]),
            ],
            vec![60, 20, 100, 60],
        ),
    ];
    assert!(cases.len() >= 10);
    for (case, p, nodes, candidates, pods, want) in cases {
        assert_eq!(spread_scores(&nodes, candidates, &pods, &p), want, "{case}");
    }
}

/// The host may split a cycle's scoring over workers: each `score` batch
/// then sees part of the nodes, and the final scores must not change.
#[test]
fn pod_topology_spread_scores_the_same_when_the_nodes_are_split() {
    let hosts: Vec<FixtureNode> = ["node-a", "node-b", "node-c", "node-d"]
        .iter()
        .map(|n| labelled(n, &[(HOST, n)]))
        .collect();
    let p = spread_pod(
        &["foo"],
        &[(1, HOST, UnsatisfiableAction::ScheduleAnyway, exists("foo"))],
    );
    let pods = existing(&foos(&[2, 1, 0, 3]));
    let mut whole = instance_with_pods(
        "pod-topology-spread",
        "PodTopologySpread",
        &hosts,
        &pods,
        &p,
    );
    let ids = [0, 1, 2, 3];
    let raw = whole.score(&ids).expect("score");
    assert_eq!(
        whole.normalize_score(&ids, &raw).expect("normalize"),
        [20, 60, 100, 0]
    );

    let mut split = instance_with_pods(
        "pod-topology-spread",
        "PodTopologySpread",
        &hosts,
        &pods,
        &p,
    );
    let mut raw = split.score(&ids[..2]).expect("score");
    raw.extend(split.score(&ids[2..]).expect("score"));
    assert_eq!(
        split.normalize_score(&ids, &raw).expect("normalize"),
        [20, 60, 100, 0]
    );
}
