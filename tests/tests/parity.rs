//! Upstream kube-scheduler's own test tables, run on the compiled wasm
//! plugins: the same inputs, the same statuses and reasons. Each table names
//! the upstream test file it comes from; the case names are upstream's.

use wasm_scheduler::runtime::PluginSpec;
use wasm_scheduler::runtime::wit::Code;
use wasm_scheduler_sdk::fixtures::{node, pod, toleration};
use wasm_scheduler_sdk::types::{HostPort, Node, Pod, TaintEffect, TolerationOperator};
use wasm_scheduler_tests::{FixtureNode, full_sync, load, rejected};

/// The verdict of `plugin` (a workspace crate) for `pod` on one node:
/// `None` when it passes, else the code and reasons.
fn verdict(plugin: &str, name: &str, n: FixtureNode, p: &Pod) -> Verdict {
    let mut inst = load(plugin, PluginSpec::new(name))
        .instantiate()
        .expect("init");
    inst.apply(&full_sync(&[n])).expect("sync");
    inst.begin_cycle(&wasm_scheduler_tests::pod(p))
        .expect("begin-cycle");
    let result = inst.filter(&[0]).expect("filter");
    rejected(&result)
        .into_iter()
        .next()
        .map(|(_, code, reasons)| (code, reasons))
}

/// A filter's verdict on one node: `None` passes.
type Verdict = Option<(Code, Vec<String>)>;

fn fails(code: Code, reason: &str) -> Verdict {
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
