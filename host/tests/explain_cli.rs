//! `wasm-scheduler explain` as a user runs it: the binary on a cluster file,
//! text and JSON output, and a malformed file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CLUSTER: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: small, labels: {zone: a}}
  status: {allocatable: {cpu: 2, memory: 8Gi, pods: 110}}
- apiVersion: v1
  kind: Node
  metadata: {name: gpu, labels: {zone: a}}
  spec: {taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]}
  status: {allocatable: {cpu: 64, memory: 256Gi, pods: 110}}
- apiVersion: v1
  kind: Node
  metadata: {name: other-zone, labels: {zone: b}}
  status: {allocatable: {cpu: 64, memory: 256Gi, pods: 110}}
---
apiVersion: v1
kind: Pod
metadata: {name: big, namespace: shop}
spec:
  nodeSelector: {zone: a}
  containers: [{name: c, image: app, resources: {requests: {cpu: 8, memory: 1Gi}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: small-one, namespace: shop}
spec:
  containers: [{name: c, image: app, resources: {requests: {cpu: 1, memory: 1Gi}}}]
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ws-explain-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn explain(cluster: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasm-scheduler"))
        .arg("explain")
        .arg("--cluster")
        .arg(cluster)
        .args(args)
        .env_remove("WASM_SCHEDULER_CONFIG")
        .output()
        .expect("the binary runs")
}

#[test]
fn a_pod_that_fits_nowhere_gets_the_failed_scheduling_counts() {
    let dir = scratch("nowhere");
    let cluster = dir.join("cluster.yaml");
    std::fs::write(&cluster, CLUSTER).unwrap();

    let out = explain(&cluster, &["--pod", "shop/big", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["pod"], "shop/big");
    assert_eq!(json["chosen"], serde_json::Value::Null);
    assert_eq!(
        json["failed_scheduling"],
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) had untolerated taint {nvidia.com/gpu: true}."
    );
    let counts = json["reason_counts"].as_object().expect("counts");
    assert_eq!(counts.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 3);
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    // Every filter ran on every node; exactly one verdict per node is the reported one.
    for n in nodes {
        let filters = n["filters"].as_array().unwrap();
        assert!(filters.len() >= 6);
        assert_eq!(filters.iter().filter(|f| f["decisive"] == true).count(), 1);
    }

    let text = explain(&cluster, &["--pod", "shop/big"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.ends_with(
            "FailedScheduling: 0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, \
             1 node(s) had untolerated taint {nvidia.com/gpu: true}.\n"
        ),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pod_that_fits_shows_every_score_and_the_choice() {
    let dir = scratch("fits");
    let cluster = dir.join("cluster.yaml");
    std::fs::write(&cluster, CLUSTER).unwrap();
    let out = explain(&cluster, &["--pod", "shop/small-one", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let feasible: Vec<&serde_json::Value> = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["feasible"] == true)
        .collect();
    assert_eq!(feasible.len(), 2, "the tainted node is out");
    for n in &feasible {
        let scores = n["scores"].as_array().unwrap();
        let total: i64 = scores.iter().map(|s| s["weighted"].as_i64().unwrap()).sum();
        assert_eq!(n["total"].as_i64(), Some(total));
        for s in scores {
            assert_eq!(
                s["weighted"].as_i64(),
                Some(s["normalized"].as_i64().unwrap() * s["weight"].as_i64().unwrap())
            );
        }
    }
    // LeastAllocated and BalancedAllocation prefer the large empty node.
    assert_eq!(json["chosen"], "other-zone");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_malformed_cluster_file_is_named_in_the_error() {
    let dir = scratch("bad");
    let cluster = dir.join("broken.yaml");
    std::fs::write(&cluster, "kind: Node\nmetadata: [unclosed\n").unwrap();
    let out = explain(&cluster, &["--pod", "shop/big"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.yaml"), "{stderr}");

    std::fs::write(&cluster, CLUSTER).unwrap();
    let out = explain(&cluster, &["--pod", "shop/missing"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pod shop/missing is not in the cluster"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
