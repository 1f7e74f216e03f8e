//! TaintToleration against upstream's `taint_toleration_test.go`
//! (`TestTaintTolerationScore` and `TestTaintTolerationFilter`), every case.

use super::{Verdict, fails, scores, verdict};
use wasm_scheduler::runtime::wit::Code;
use wasm_scheduler_sdk::fixtures::{node, pod, taint, toleration};
use wasm_scheduler_sdk::types::{Node, Pod, TaintEffect, TolerationOperator};
use wasm_scheduler_tests::FixtureNode;

use TaintEffect::{NoSchedule, PreferNoSchedule};
use TolerationOperator::{Equal, Exists};

fn tainted(name: &str, taints: &[(&str, &str, TaintEffect)]) -> Node {
    taints
        .iter()
        .fold(node(name), |n, (k, v, e)| n.with_taint(taint(k, v, *e)))
}

/// A pod with tolerations `(key, operator, value, effect)`; upstream's empty
/// operator is `Equal`, an empty effect is `None`.
fn tolerating(list: &[(&str, TolerationOperator, &str, Option<TaintEffect>)]) -> Pod {
    list.iter().fold(pod("pod1"), |p, (k, op, v, e)| {
        p.with_toleration(toleration(k, *op, v, *e))
    })
}

#[test]
fn taint_toleration_score_as_upstream() {
    let pref = Some(PreferNoSchedule);
    let arm = ("cpu-type", "arm64", PreferNoSchedule);
    let ssd = ("disk-type", "ssd", PreferNoSchedule);
    let cases: Vec<(&str, Pod, Vec<Node>, Vec<i64>)> = vec![
        (
            "node with taints tolerated by the pod, gets a higher score than those node with intolerable taints",
            tolerating(&[("foo", Equal, "bar", pref)]),
            vec![
                tainted("nodeA", &[("foo", "bar", PreferNoSchedule)]),
                tainted("nodeB", &[("foo", "blah", PreferNoSchedule)]),
            ],
            vec![100, 0],
        ),
        (
            "the nodes that all of their taints are tolerated by the pod, get the same score, no matter how many tolerable taints a node has",
            tolerating(&[
                ("cpu-type", Equal, "arm64", pref),
                ("disk-type", Equal, "ssd", pref),
            ]),
            vec![
                tainted("nodeA", &[]),
                tainted("nodeB", &[arm]),
                tainted("nodeC", &[arm, ssd]),
            ],
            vec![100, 100, 100],
        ),
        (
            "the more intolerable taints a node has, the lower score it gets.",
            tolerating(&[("foo", Equal, "bar", pref)]),
            vec![
                tainted("nodeA", &[]),
                tainted("nodeB", &[arm]),
                tainted("nodeC", &[arm, ssd]),
            ],
            vec![100, 50, 0],
        ),
        (
            "only taints and tolerations that have effect PreferNoSchedule are checked by taints-tolerations priority function",
            tolerating(&[
                ("cpu-type", Equal, "arm64", Some(NoSchedule)),
                ("disk-type", Equal, "ssd", Some(NoSchedule)),
            ]),
            vec![
                tainted("nodeA", &[]),
                tainted("nodeB", &[("cpu-type", "arm64", NoSchedule)]),
                tainted("nodeC", &[arm, ssd]),
            ],
            vec![100, 100, 0],
        ),
        (
            "Default behaviour No taints and tolerations, lands on node with no taints",
            tolerating(&[]),
            vec![tainted("nodeA", &[]), tainted("nodeB", &[arm])],
            vec![100, 0],
        ),
    ];
    for (case, p, nodes, want) in cases {
        let nodes: Vec<FixtureNode> = nodes.into_iter().map(Into::into).collect();
        assert_eq!(
            scores(
                "taint-toleration",
                "TaintToleration",
                serde_json::Value::Null,
                &nodes,
                &p
            ),
            want,
            "{case}"
        );
    }
}

#[test]
fn taint_toleration_filter_as_upstream() {
    let untolerated = |taint: &str| {
        fails(
            Code::UnschedulableAndUnresolvable,
            &format!("node(s) had untolerated taint {{{taint}}}"),
        )
    };
    let no_schedule = Some(NoSchedule);
    let cases: Vec<(&str, Pod, Node, Verdict)> = vec![
        (
            "A pod having no tolerations can't be scheduled onto a node with nonempty taints",
            tolerating(&[]),
            tainted("nodeA", &[("dedicated", "user1", NoSchedule)]),
            untolerated("dedicated: user1"),
        ),
        (
            "A pod which can be scheduled on a dedicated node assigned to user1 with effect NoSchedule",
            tolerating(&[("dedicated", Equal, "user1", no_schedule)]),
            tainted("nodeA", &[("dedicated", "user1", NoSchedule)]),
            None,
        ),
        (
            "A pod which can't be scheduled on a dedicated node assigned to user2 with effect NoSchedule",
            tolerating(&[("dedicated", Equal, "user2", no_schedule)]),
            tainted("nodeA", &[("dedicated", "user1", NoSchedule)]),
            untolerated("dedicated: user1"),
        ),
        (
            "A pod can be scheduled onto the node, with a toleration uses operator Exists that tolerates the taints on the node",
            tolerating(&[("foo", Exists, "", no_schedule)]),
            tainted("nodeA", &[("foo", "bar", NoSchedule)]),
            None,
        ),
        (
            "A pod has multiple tolerations, node has multiple taints, all the taints are tolerated, pod can be scheduled onto the node",
            tolerating(&[
                ("dedicated", Equal, "user2", no_schedule),
                ("foo", Exists, "", no_schedule),
            ]),
            tainted(
                "nodeA",
                &[
                    ("dedicated", "user2", NoSchedule),
                    ("foo", "bar", NoSchedule),
                ],
            ),
            None,
        ),
        (
            "A pod has a toleration that keys and values match the taint on the node, but (non-empty) effect doesn't match, can't be scheduled onto the node",
            tolerating(&[("foo", Equal, "bar", Some(PreferNoSchedule))]),
            tainted("nodeA", &[("foo", "bar", NoSchedule)]),
            untolerated("foo: bar"),
        ),
        (
            "The pod has a toleration that keys and values match the taint on the node, the effect of toleration is empty, and the effect of taint is NoSchedule. Pod can be scheduled onto the node",
            tolerating(&[("foo", Equal, "bar", None)]),
            tainted("nodeA", &[("foo", "bar", NoSchedule)]),
            None,
        ),
        (
            "The pod has a toleration that key and value don't match the taint on the node, but the effect of taint on node is PreferNoSchedule. Pod can be scheduled onto the node",
            tolerating(&[("dedicated", Equal, "user2", no_schedule)]),
            tainted("nodeA", &[("dedicated", "user1", PreferNoSchedule)]),
            None,
        ),
        (
            "The pod has no toleration, but the effect of taint on node is PreferNoSchedule. Pod can be scheduled onto the node",
            tolerating(&[]),
            tainted("nodeA", &[("dedicated", "user1", PreferNoSchedule)]),
            None,
        ),
    ];
    for (case, p, n, want) in cases {
        assert_eq!(
            verdict("taint-toleration", "TaintToleration", n.into(), &p),
            want,
            "{case}"
        );
    }
}
