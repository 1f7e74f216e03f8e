//! NodeResourcesFit (filter and the three scoring strategies) and
//! NodeResourcesBalancedAllocation against upstream's tables. Pods are real
//! Kubernetes objects turned into plugin input by the host's own model, so
//! init containers and overhead are summed as the scheduler sums them.

use super::{Verdict, fails, scores, verdict_wit};
use serde_json::{Value, json};
use wasm_scheduler::runtime::wit::{self, Code};
use wasm_scheduler_sdk::fixtures::node;
use wasm_scheduler_sdk::types::{self as sdk, Node, NodeUsage};
use wasm_scheduler_tests::{FixtureNode, convert};

/// One container's requests: cpu (millicores), memory (bytes), then any
/// other resources by name.
#[derive(Clone, Copy, Default)]
struct Req<'a> {
    cpu: i64,
    memory: i64,
    other: &'a [(&'a str, i64)],
}

fn req(cpu: i64, memory: i64) -> Req<'static> {
    Req {
        cpu,
        memory,
        other: &[],
    }
}

fn req_with<'a>(cpu: i64, memory: i64, other: &'a [(&'a str, i64)]) -> Req<'a> {
    Req { cpu, memory, other }
}

impl Req<'_> {
    /// As a `ResourceList`: every amount written out, zero included, as
    /// upstream's `Resource.ResourceList()` does.
    fn list(&self) -> Value {
        let mut list = serde_json::Map::new();
        list.insert("cpu".into(), json!(format!("{}m", self.cpu)));
        list.insert("memory".into(), json!(self.memory.to_string()));
        for (name, amount) in self.other {
            list.insert((*name).into(), json!(amount.to_string()));
        }
        Value::Object(list)
    }
}

/// A pod with these containers, init containers and overhead, as the host sees it.
fn k8s_pod(containers: &[Req], init: &[Req], overhead: Option<Req>) -> wit::Pod {
    let c = |r: &[Req]| -> Vec<Value> {
        r.iter()
            .enumerate()
            .map(|(i, r)| json!({"name": format!("c{i}"), "image": "app", "resources": {"requests": r.list()}}))
            .collect()
    };
    let mut spec = json!({"containers": c(containers), "initContainers": c(init)});
    if let Some(o) = overhead {
        spec["overhead"] = o.list();
    }
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
        "spec": spec,
    }))
    .expect("a valid pod");
    wasm_scheduler::model::pod(&pod).expect("the host models the pod")
}

/// A node whose pods already request `used` (one pod).
fn used_node(n: Node, used: &wit::Pod) -> FixtureNode {
    let mut usage = NodeUsage::empty();
    usage.requested = convert(&used.requests);
    usage.non_zero_requested = convert(&used.non_zero_requests);
    usage.pod_count = 1;
    FixtureNode { node: n, usage }
}

/// `makeAllocatableResources(10, 20, 32, 5, 20, 5)` of `fit_test.go`.
fn fit_test_node() -> Node {
    let mut n = node("node").with_allocatable(10, 20).with_max_pods(32);
    n.allocatable.ephemeral_storage = 20;
    n.with_scalar("example.com/aaa", 5)
        .with_scalar("hugepages-2Mi", 5)
}

fn insufficient(resource: &str) -> Verdict {
    fails(Code::Unschedulable, &format!("Insufficient {resource}"))
}

/// `fit_test.go` (`TestEnoughRequests`), every case (32): `(name, containers,
/// init containers, overhead, used on the node, ignored resources, verdict)`.
#[test]
fn node_resources_fit_filter_as_upstream() {
    const A: &str = "example.com/aaa";
    const B: &str = "example.com/bbb";
    const KA: &str = "kubernetes.io/something";
    const KB: &str = "subdomain.kubernetes.io/something";
    const HP: &str = "hugepages-2Mi";
    let none: &[Req] = &[];
    type Case<'a> = (
        &'a str,
        Vec<Req<'a>>,
        Vec<Req<'a>>,
        Option<Req<'a>>,
        Req<'a>,
        &'a [&'a str],
        Verdict,
    );
    let both = Some((
        Code::Unschedulable,
        vec![
            "Insufficient cpu".to_string(),
            "Insufficient memory".to_string(),
        ],
    ));
    let cases: Vec<Case> = vec![
        (
            "no resources requested always fits",
            vec![],
            vec![],
            None,
            req(10, 20),
            &[],
            None,
        ),
        (
            "too many resources fails",
            vec![req(1, 1)],
            vec![],
            None,
            req(10, 20),
            &[],
            both,
        ),
        (
            "too many resources fails due to init container cpu",
            vec![req(1, 1)],
            vec![req(3, 1)],
            None,
            req(8, 19),
            &[],
            insufficient("cpu"),
        ),
        (
            "too many resources fails due to highest init container cpu",
            vec![req(1, 1)],
            vec![req(3, 1), req(2, 1)],
            None,
            req(8, 19),
            &[],
            insufficient("cpu"),
        ),
        (
            "too many resources fails due to init container memory",
            vec![req(1, 1)],
            vec![req(1, 3)],
            None,
            req(9, 19),
            &[],
            insufficient("memory"),
        ),
        (
            "too many resources fails due to highest init container memory",
            vec![req(1, 1)],
            vec![req(1, 3), req(1, 2)],
            None,
            req(9, 19),
            &[],
            insufficient("memory"),
        ),
        (
            "init container fits because it's the max, not sum, of containers and init containers",
            vec![req(1, 1)],
            vec![req(1, 1)],
            None,
            req(9, 19),
            &[],
            None,
        ),
        (
            "multiple init containers fit because it's the max, not sum, of containers and init containers",
            vec![req(1, 1)],
            vec![req(1, 1), req(1, 1)],
            None,
            req(9, 19),
            &[],
            None,
        ),
        (
            "both resources fit",
            vec![req(1, 1)],
            vec![],
            None,
            req(5, 5),
            &[],
            None,
        ),
        (
            "one resource memory fits",
            vec![req(2, 1)],
            vec![],
            None,
            req(9, 5),
            &[],
            insufficient("cpu"),
        ),
        (
            "one resource cpu fits",
            vec![req(1, 2)],
            vec![],
            None,
            req(5, 19),
            &[],
            insufficient("memory"),
        ),
        (
            "equal edge case",
            vec![req(5, 1)],
            vec![],
            None,
            req(5, 19),
            &[],
            None,
        ),
        (
            "equal edge case for init container",
            vec![req(4, 1)],
            vec![req(5, 1)],
            None,
            req(5, 19),
            &[],
            None,
        ),
        (
            "extended resource fits",
            vec![req_with(0, 0, &[(A, 1)])],
            vec![],
            None,
            req(0, 0),
            &[],
            None,
        ),
        (
            "extended resource fits for init container",
            vec![req(0, 0)],
            vec![req_with(0, 0, &[(A, 1)])],
            None,
            req(0, 0),
            &[],
            None,
        ),
        (
            "extended resource capacity enforced",
            vec![req_with(1, 1, &[(A, 10)])],
            vec![],
            None,
            req_with(0, 0, &[(A, 0)]),
            &[],
            insufficient(A),
        ),
        (
            "extended resource capacity enforced for init container",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(A, 10)])],
            None,
            req_with(0, 0, &[(A, 0)]),
            &[],
            insufficient(A),
        ),
        (
            "extended resource allocatable enforced",
            vec![req_with(1, 1, &[(A, 1)])],
            vec![],
            None,
            req_with(0, 0, &[(A, 5)]),
            &[],
            insufficient(A),
        ),
        (
            "extended resource allocatable enforced for init container",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(A, 1)])],
            None,
            req_with(0, 0, &[(A, 5)]),
            &[],
            insufficient(A),
        ),
        (
            "extended resource allocatable enforced for multiple containers",
            vec![req_with(1, 1, &[(A, 3)]), req_with(1, 1, &[(A, 3)])],
            vec![],
            None,
            req_with(0, 0, &[(A, 2)]),
            &[],
            insufficient(A),
        ),
        (
            "extended resource allocatable admits multiple init containers",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(A, 3)]), req_with(1, 1, &[(A, 3)])],
            None,
            req_with(0, 0, &[(A, 2)]),
            &[],
            None,
        ),
        (
            "extended resource allocatable enforced for multiple init containers",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(A, 6)]), req_with(1, 1, &[(A, 3)])],
            None,
            req_with(0, 0, &[(A, 2)]),
            &[],
            insufficient(A),
        ),
        (
            "extended resource allocatable enforced for unknown resource",
            vec![req_with(1, 1, &[(B, 1)])],
            vec![],
            None,
            req(0, 0),
            &[],
            insufficient(B),
        ),
        (
            "extended resource allocatable enforced for unknown resource for init container",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(B, 1)])],
            None,
            req(0, 0),
            &[],
            insufficient(B),
        ),
        (
            "kubernetes.io resource capacity enforced",
            vec![req_with(1, 1, &[(KA, 10)])],
            vec![],
            None,
            req(0, 0),
            &[],
            insufficient(KA),
        ),
        (
            "kubernetes.io resource capacity enforced for init container",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(KB, 10)])],
            None,
            req(0, 0),
            &[],
            insufficient(KB),
        ),
        (
            "hugepages resource capacity enforced",
            vec![req_with(1, 1, &[(HP, 10)])],
            vec![],
            None,
            req_with(0, 0, &[(HP, 0)]),
            &[],
            insufficient(HP),
        ),
        (
            "hugepages resource capacity enforced for init container",
            vec![req(0, 0)],
            vec![req_with(1, 1, &[(HP, 10)])],
            None,
            req_with(0, 0, &[(HP, 0)]),
            &[],
            insufficient(HP),
        ),
        (
            "hugepages resource allocatable enforced for multiple containers",
            vec![req_with(1, 1, &[(HP, 3)]), req_with(1, 1, &[(HP, 3)])],
            vec![],
            None,
            req_with(0, 0, &[(HP, 2)]),
            &[],
            insufficient(HP),
        ),
        (
            "skip checking ignored extended resource",
            vec![req_with(1, 1, &[(B, 1)])],
            vec![],
            None,
            req(0, 0),
            &[B],
            None,
        ),
        (
            "resources + pod overhead fits",
            vec![req(1, 1)],
            vec![],
            Some(req(3, 13)),
            req(5, 5),
            &[],
            None,
        ),
        (
            "requests + overhead does not fit for memory",
            vec![req(1, 1)],
            vec![],
            Some(req(1, 15)),
            req(5, 5),
            &[],
            insufficient("memory"),
        ),
    ];
    assert!(cases.len() >= 30);
    for (case, containers, init, overhead, used, ignored, want) in cases {
        let p = k8s_pod(&containers, &init, overhead);
        let existing = k8s_pod(&[used], none, None);
        let n = used_node(fit_test_node(), &existing);
        let config = json!({"ignoredResources": ignored});
        assert_eq!(
            verdict_wit("node-resources-fit", "NodeResourcesFit", config, n, &p),
            want,
            "{case}"
        );
    }
}

/// `TestNotEnoughRequests`: a node with room for one pod that already runs one.
#[test]
fn node_resources_fit_counts_pods_as_upstream() {
    let reason = fails(Code::Unschedulable, "Too many pods");
    let cases = [
        (
            "even without specified resources predicate fails when there's no space for additional pod",
            vec![],
            vec![],
            req(10, 20),
        ),
        (
            "even if both resources fit predicate fails when there's no space for additional pod",
            vec![req(1, 1)],
            vec![],
            req(5, 5),
        ),
        (
            "even for equal edge case predicate fails when there's no space for additional pod",
            vec![req(5, 1)],
            vec![],
            req(5, 19),
        ),
        (
            "even for equal edge case predicate fails when there's no space for additional pod due to init container",
            vec![req(5, 1)],
            vec![req(5, 1)],
            req(5, 19),
        ),
    ];
    for (case, containers, init, used) in cases {
        let n = used_node(
            node("node").with_allocatable(10, 20).with_max_pods(1),
            &k8s_pod(&[used], &[], None),
        );
        assert_eq!(
            verdict_wit(
                "node-resources-fit",
                "NodeResourcesFit",
                Value::Null,
                n,
                &k8s_pod(&containers, &init, None)
            ),
            reason,
            "{case}"
        );
    }
}

/// Expected scores, one per node.
type Scores = Vec<i64>;
/// `(upstream case name, pod, nodes, expected scores)`.
type ScoreCase<'a> = (&'a str, wit::Pod, Vec<FixtureNode>, Scores);

/// A pod spec with no containers: upstream's `st.MakePod().Obj()`, which
/// requests nothing, not even the non-zero defaults.
fn empty_pod() -> wit::Pod {
    k8s_pod(&[], &[], None)
}

fn sdk_pod(p: &wit::Pod) -> sdk::Pod {
    convert(p)
}

/// `requested_to_capacity_ratio_test.go`: `TestRequestedToCapacityRatioScoringStrategy`
/// (3 cases) and `TestResourceBinPackingSingleExtended` (4 cases).
#[test]
fn requested_to_capacity_ratio_as_upstream() {
    const CORES: i64 = 1000;
    let cpu_mem =
        |cpu_cores: i64, memory: i64| node("n").with_allocatable(cpu_cores * CORES, memory);
    let strategy = |resources: Value, shape: Value| {
        json!({"scoringStrategy": {
            "type": "RequestedToCapacityRatio",
            "resources": resources,
            "requestedToCapacityRatio": {"shape": shape},
        }})
    };
    let least = strategy(
        json!([{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]),
        json!([{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]),
    );
    let big = k8s_pod(
        &[req(1000 * CORES, 2000), req(2000 * CORES, 3000)],
        &[],
        None,
    );
    let used_by_empty = |n: Node| used_node(n, &empty_pod());
    let cases: Vec<ScoreCase> = vec![
        (
            "nothing scheduled, nothing requested (default - least requested nodes have priority)",
            empty_pod(),
            vec![
                used_by_empty(cpu_mem(4000, 10000)),
                cpu_mem(4000, 10000).into(),
            ],
            vec![100, 100],
        ),
        (
            "nothing scheduled, resources requested, differently sized nodes (default - least requested nodes have priority)",
            big.clone(),
            vec![
                used_by_empty(cpu_mem(4000, 10000)),
                cpu_mem(6000, 10000).into(),
            ],
            vec![38, 50],
        ),
        (
            "no resources requested, pods scheduled with resources (default - least requested nodes have priority)",
            empty_pod(),
            vec![
                used_node(
                    cpu_mem(4000, 10000),
                    &k8s_pod(&[req(3000 * CORES, 5000)], &[], None),
                ),
                used_node(
                    cpu_mem(6000, 10000),
                    &k8s_pod(&[req(3000 * CORES, 5000)], &[], None),
                ),
            ],
            vec![38, 50],
        ),
    ];
    for (case, p, nodes, want) in cases {
        assert_eq!(
            scores(
                "node-resources-fit",
                "NodeResourcesFit",
                least.clone(),
                &nodes,
                &sdk_pod(&p)
            ),
            want,
            "{case}"
        );
    }

    const FOO: &str = "intel.com/foo";
    let foo = strategy(
        json!([{"name": FOO, "weight": 1}]),
        json!([{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}]),
    );
    let mib = 1024 * 1024;
    let foo_node = |amount: i64| {
        node("n")
            .with_allocatable(4000, 10000 * mib)
            .with_scalar(FOO, amount)
    };
    let wants = |amount: i64| k8s_pod(&[req_with(0, 0, &[(FOO, amount)])], &[], None);
    let cases: Vec<ScoreCase> = vec![
        (
            "nothing scheduled, nothing requested",
            empty_pod(),
            vec![foo_node(8).into(), foo_node(4).into()],
            vec![0, 0],
        ),
        (
            "resources requested, pods scheduled with less resources",
            wants(2),
            vec![foo_node(8).into(), foo_node(4).into()],
            vec![2, 5],
        ),
        (
            "resources requested, pods scheduled with resources, on node with existing pod running ",
            wants(2),
            vec![foo_node(8).into(), used_node(foo_node(4), &wants(2))],
            vec![2, 10],
        ),
        (
            "resources requested, pods scheduled with more resources",
            wants(4),
            vec![foo_node(8).into(), foo_node(4).into()],
            vec![5, 10],
        ),
    ];
    for (case, p, nodes, want) in cases {
        assert_eq!(
            scores(
                "node-resources-fit",
                "NodeResourcesFit",
                foo.clone(),
                &nodes,
                &sdk_pod(&p)
            ),
            want,
            "{case}"
        );
    }
}

/// `balanced_allocation_test.go` (`TestNodeResourcesBalancedAllocation`):
/// the eight cases without DRA.
#[test]
fn balanced_allocation_as_upstream() {
    let cpu_and_memory = || k8s_pod(&[req(1000, 2000), req(2000, 3000)], &[], None);
    let cpu_only = || k8s_pod(&[req(1000, 0), req(2000, 0)], &[], None);
    let cpu_mem_gpu = || {
        k8s_pod(
            &[
                req(1000, 2000),
                req_with(2000, 3000, &[("nvidia.com/gpu", 3)]),
            ],
            &[],
            None,
        )
    };
    let make = |cpu: i64, mem: i64, gpu: bool| {
        let n = node("n").with_allocatable(cpu, mem);
        if gpu {
            n.with_scalar("nvidia.com/gpu", 8)
        } else {
            n
        }
    };
    let default =
        json!({"resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]});
    let with_gpu = json!({"resources": [
        {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}, {"name": "nvidia.com/gpu", "weight": 1}
    ]});
    let gpu_pod = k8s_pod(&[req_with(0, 0, &[("nvidia.com/gpu", 1)])], &[], None);
    let cases: Vec<(&str, wit::Pod, Vec<FixtureNode>, &Value, Scores)> = vec![
        (
            "nothing scheduled, nothing requested, skip in PreScore",
            empty_pod(),
            vec![
                make(4000, 10000, false).into(),
                make(4000, 10000, false).into(),
            ],
            &default,
            vec![0, 0],
        ),
        (
            "nothing scheduled, resources requested, differently sized nodes",
            cpu_and_memory(),
            vec![
                make(4000, 10000, false).into(),
                make(6000, 10000, false).into(),
            ],
            &default,
            vec![87, 100],
        ),
        (
            "resources requested, pods scheduled with resources",
            cpu_and_memory(),
            vec![
                used_node(make(10000, 20000, false), &cpu_only()),
                used_node(make(10000, 20000, false), &cpu_and_memory()),
            ],
            &default,
            vec![82, 95],
        ),
        (
            "resources requested, pods scheduled with resources, differently sized nodes",
            cpu_and_memory(),
            vec![
                used_node(make(10000, 20000, false), &cpu_only()),
                used_node(make(10000, 50000, false), &cpu_and_memory()),
            ],
            &default,
            vec![82, 80],
        ),
        (
            "requested resources at node capacity",
            cpu_only(),
            vec![
                used_node(make(6000, 10000, false), &cpu_only()),
                used_node(make(6000, 10000, false), &cpu_and_memory()),
            ],
            &default,
            vec![50, 75],
        ),
        (
            "include scalar resource on a node for balanced resource allocation",
            gpu_pod,
            vec![
                used_node(make(3500, 40000, true), &cpu_mem_gpu()),
                used_node(make(3500, 40000, true), &cpu_and_memory()),
            ],
            &with_gpu,
            vec![70, 65],
        ),
        (
            "node without the scalar resource should skip the scalar resource",
            cpu_and_memory(),
            vec![
                make(3500, 40000, true).into(),
                make(3500, 40000, false).into(),
            ],
            &with_gpu,
            vec![63, 63],
        ),
        (
            // Upstream runs this one without PreScore; here every cycle has
            // its begin-cycle, so it checks the same numbers again.
            "resources requested, pods scheduled with resources if PreScore not called",
            cpu_and_memory(),
            vec![
                used_node(make(10000, 20000, false), &cpu_only()),
                used_node(make(10000, 20000, false), &cpu_and_memory()),
            ],
            &default,
            vec![82, 95],
        ),
    ];
    for (case, p, nodes, config, want) in cases {
        assert_eq!(
            scores(
                "node-resources-balanced-allocation",
                "NodeResourcesBalancedAllocation",
                config.clone(),
                &nodes,
                &sdk_pod(&p)
            ),
            want,
            "{case}"
        );
    }
}

/// `least_allocated_test.go` (`TestLeastAllocatedScoringStrategy`): every
/// case but "Resources not set, pods scheduled with error" (this plugin's
/// config defaults the resources to cpu and memory, as upstream's v1 API
/// defaulting does). Quantities are upstream's: `"cpu": "4000"` is 4,000 cores.
#[test]
fn least_allocated_as_upstream() {
    let weights = |list: &[(&str, i64)]| strategy("LeastAllocated", list);
    let sized = sized_cores;
    let with_cpu_mem = cores_and_memory;
    let default = weights(&[("cpu", 1), ("memory", 1)]);
    let extended = weights(&[("cpu", 1), ("memory", 1), (EXT, 1)]);
    let cases: Vec<FitCase> = vec![
        (
            "nothing scheduled, nothing requested",
            empty_pod(),
            vec![sized(4000, 10000).into(), sized(4000, 10000).into()],
            default.clone(),
            vec![100, 100],
        ),
        (
            "nothing scheduled, resources requested, differently sized nodes",
            two_containers(),
            vec![sized(4000, 10000).into(), sized(6000, 10000).into()],
            default.clone(),
            vec![37, 50],
        ),
        (
            "no resources requested, pods scheduled",
            empty_pod(),
            vec![
                used_node(sized(4000, 10000), &empty_pod()),
                used_node(sized(4000, 10000), &empty_pod()),
            ],
            default.clone(),
            vec![100, 100],
        ),
        (
            "no resources requested, pods scheduled with resources",
            empty_pod(),
            vec![
                used_node(sized(10000, 20000), &with_cpu_mem(6000, 0)),
                used_node(sized(10000, 20000), &with_cpu_mem(6000, 5000)),
            ],
            default.clone(),
            vec![70, 57],
        ),
        (
            "resources requested, pods scheduled with resources",
            two_containers(),
            vec![
                used_node(sized(10000, 20000), &with_cpu_mem(3000, 0)),
                used_node(sized(10000, 20000), &with_cpu_mem(3000, 5000)),
            ],
            default.clone(),
            vec![57, 45],
        ),
        (
            "resources requested, pods scheduled with resources, differently sized nodes",
            two_containers(),
            vec![
                used_node(sized(10000, 20000), &with_cpu_mem(3000, 0)),
                used_node(sized(10000, 50000), &with_cpu_mem(3000, 5000)),
            ],
            default.clone(),
            vec![57, 60],
        ),
        (
            "requested resources exceed node capacity",
            with_cpu_mem(3000, 0),
            vec![
                used_node(sized(4000, 10000), &with_cpu_mem(3000, 0)),
                used_node(sized(4000, 10000), &with_cpu_mem(3000, 5000)),
            ],
            default.clone(),
            vec![50, 25],
        ),
        (
            "zero node resources, pods scheduled with resources",
            empty_pod(),
            vec![
                used_node(sized(0, 0), &with_cpu_mem(3000, 0)),
                used_node(sized(0, 0), &with_cpu_mem(3000, 5000)),
            ],
            default.clone(),
            vec![0, 0],
        ),
        (
            "nothing scheduled, resources requested with different weight on CPU and memory, differently sized nodes",
            two_containers(),
            vec![sized(4000, 10000).into(), sized(6000, 10000).into()],
            weights(&[("memory", 2), ("cpu", 1)]),
            vec![41, 50],
        ),
        (
            "bypass extended resource if the pod does not request",
            two_containers(),
            vec![
                sized(6000, 10000).into(),
                sized(6000, 10000).with_scalar(EXT, 4).into(),
            ],
            extended.clone(),
            vec![50, 50],
        ),
        (
            "honor extended resource if the pod requests",
            k8s_pod(&[req_with(3000 * CORES, 5000, &[(EXT, 2)])], &[], None),
            vec![
                sized(6000, 10000).with_scalar(EXT, 4).into(),
                sized(6000, 10000).with_scalar(EXT, 10).into(),
            ],
            extended,
            vec![50, 60],
        ),
        (
            "if the node doesn't have a resource",
            with_cpu_mem(3000, 4000),
            vec![
                sized(6000, 10000).into(),
                sized(6000, 10000).with_scalar(EXT, 4).into(),
            ],
            weights(&[(EXT, 2), ("cpu", 1), ("memory", 1)]),
            vec![55, 55],
        ),
    ];
    assert_fit_scores(cases);
    assert_weights_refused("LeastAllocated");
}

/// `"cpu": "4000"` in upstream's tables is 4,000 cores.
const CORES: i64 = 1000;
/// Upstream's `extendedRes`.
const EXT: &str = "abc.com/xyz";

/// A node of `cpu_cores` cores and `memory` bytes.
fn sized_cores(cpu_cores: i64, memory: i64) -> Node {
    node("n").with_allocatable(cpu_cores * CORES, memory)
}

/// A one-container pod requesting `cpu_cores` cores and `memory` bytes.
fn cores_and_memory(cpu_cores: i64, memory: i64) -> wit::Pod {
    k8s_pod(&[req(cpu_cores * CORES, memory)], &[], None)
}

/// Upstream's two-container pod: 1,000 + 2,000 cores, 2,000 + 3,000 bytes.
fn two_containers() -> wit::Pod {
    k8s_pod(
        &[req(1000 * CORES, 2000), req(2000 * CORES, 3000)],
        &[],
        None,
    )
}

/// A `scoringStrategy` of `kind` over `resources` (name, weight).
fn strategy(kind: &str, resources: &[(&str, i64)]) -> Value {
    json!({"scoringStrategy": {"type": kind,
        "resources": resources.iter().map(|(n, w)| json!({"name": n, "weight": w})).collect::<Vec<_>>()}})
}

/// `(upstream case name, pod, nodes, plugin config, expected scores)`.
type FitCase<'a> = (&'a str, wit::Pod, Vec<FixtureNode>, Value, Scores);

/// Runs NodeResourcesFit's scoring on every case.
fn assert_fit_scores(cases: Vec<FitCase>) {
    for (case, p, nodes, config, want) in cases {
        let got = scores(
            "node-resources-fit",
            "NodeResourcesFit",
            config,
            &nodes,
            &sdk_pod(&p),
        );
        assert_eq!(got, want, "{case}");
    }
}

/// "resource with negative weight", "... zero weight", "... weight larger
/// than MaxNodeScore": the config is refused when the plugin starts.
fn assert_weights_refused(kind: &str) {
    for (case, bad) in [
        (
            "resource with negative weight",
            strategy(kind, &[("memory", -1), ("cpu", 1)]),
        ),
        (
            "resource with zero weight",
            strategy(kind, &[("memory", 1), ("cpu", 0)]),
        ),
        (
            "resource weight larger than MaxNodeScore",
            strategy(kind, &[("memory", 101)]),
        ),
    ] {
        let err = wasm_scheduler_tests::load(
            "node-resources-fit",
            wasm_scheduler::runtime::PluginSpec::new("NodeResourcesFit").with_config(bad),
        )
        .instantiate()
        .err()
        .unwrap_or_else(|| panic!("{kind} {case}: the config is accepted"));
        assert!(format!("{err:?}").contains("weight"), "{case}: {err:?}");
    }
}

/// A pod with one container that requests nothing: upstream's
/// `st.MakePod().Container("container")`, which gets the non-zero defaults.
fn bare_container_pod() -> wit::Pod {
    let pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-p"},
        "spec": {"containers": [{"name": "container", "image": "app"}]},
    }))
    .expect("a valid pod");
    wasm_scheduler::model::pod(&pod).expect("the host models the pod")
}

/// `most_allocated_test.go` (`TestMostAllocatedScoringStrategy`): every
/// case but "Resources not set, pods scheduled with error" (see
/// [`least_allocated_as_upstream`]).
#[test]
fn most_allocated_as_upstream() {
    let weights = |list: &[(&str, i64)]| strategy("MostAllocated", list);
    let default = weights(&[("cpu", 1), ("memory", 1)]);
    let extended = weights(&[("cpu", 1), ("memory", 1), (EXT, 1)]);
    let two_bare = || {
        let mut p = bare_container_pod();
        let one = p.non_zero_requests.clone();
        p.non_zero_requests.milli_cpu += one.milli_cpu;
        p.non_zero_requests.memory += one.memory;
        p
    };
    let small = |mi: i64| node("n").with_allocatable(250, mi * 1024 * 1024);
    let cases: Vec<FitCase> = vec![
        (
            "nothing scheduled, nothing requested",
            empty_pod(),
            vec![
                sized_cores(4000, 10000).into(),
                sized_cores(4000, 10000).into(),
            ],
            default.clone(),
            vec![0, 0],
        ),
        (
            "nothing scheduled, resources requested, differently sized nodes",
            two_containers(),
            vec![
                sized_cores(4000, 10000).into(),
                sized_cores(6000, 10000).into(),
            ],
            default.clone(),
            vec![62, 50],
        ),
        (
            "no resources requested, pods scheduled with resources",
            empty_pod(),
            vec![
                used_node(sized_cores(10000, 20000), &cores_and_memory(6000, 0)),
                used_node(sized_cores(10000, 20000), &cores_and_memory(6000, 5000)),
            ],
            default.clone(),
            vec![30, 42],
        ),
        (
            "resources requested, pods scheduled with resources",
            two_containers(),
            vec![
                used_node(sized_cores(10000, 20000), &cores_and_memory(3000, 0)),
                used_node(sized_cores(10000, 20000), &cores_and_memory(3000, 5000)),
            ],
            default.clone(),
            vec![42, 55],
        ),
        (
            "resources requested equal node capacity",
            k8s_pod(
                &[req(2000 * CORES, 4000), req(3000 * CORES, 5000)],
                &[],
                None,
            ),
            vec![
                sized_cores(5000, 10000).into(),
                sized_cores(10000, 9000).into(),
            ],
            default.clone(),
            vec![95, 75],
        ),
        (
            "nothing scheduled, resources requested, differently sized nodes",
            two_containers(),
            vec![
                sized_cores(4000, 10000).into(),
                sized_cores(6000, 10000).into(),
            ],
            weights(&[("memory", 2), ("cpu", 1)]),
            vec![58, 50],
        ),
        (
            "no resources requested, pods scheduled, nonzero request for resource",
            bare_container_pod(),
            vec![used_node(small(1000), &two_bare()), small(1000).into()],
            default.clone(),
            vec![80, 30],
        ),
        (
            "bypass extended resource if the pod does not request",
            two_containers(),
            vec![
                sized_cores(6000, 10000).into(),
                sized_cores(6000, 10000).with_scalar(EXT, 4).into(),
            ],
            extended.clone(),
            vec![50, 50],
        ),
        (
            "honor extended resource if the pod request",
            k8s_pod(&[req_with(3000 * CORES, 5000, &[(EXT, 2)])], &[], None),
            vec![
                sized_cores(6000, 10000).with_scalar(EXT, 4).into(),
                sized_cores(6000, 10000).with_scalar(EXT, 10).into(),
            ],
            extended,
            vec![50, 40],
        ),
        (
            "if the node doesn't have a resource",
            cores_and_memory(3000, 4000),
            vec![
                sized_cores(6000, 10000).into(),
                sized_cores(6000, 10000).with_scalar(EXT, 4).into(),
            ],
            weights(&[(EXT, 2), ("cpu", 1), ("memory", 1)]),
            vec![45, 45],
        ),
    ];
    assert_fit_scores(cases);
    assert_weights_refused("MostAllocated");
}
