//! The scheduler end to end: kube client → in-memory API server over HTTP,
//! with the built-in wasm plugins.

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use wasm_scheduler::config::SchedulerConfig;
use wasm_scheduler::profile::Profile;
use wasm_scheduler::scheduler::Options;
use wasm_scheduler_tests::e2e::{Harness, eventually, failed_scheduling, logs, node, node_of, pod};
use wasm_scheduler_tests::runtime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_where_the_plugins_choose_explains_misfits_and_leaves_other_pods_alone()
-> anyhow::Result<()> {
    let h = Harness::start(&[node("small", "2"), node("big", "8")]).await?;
    let client = h.client.clone();
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // LeastAllocated prefers the node with the most room left.
    pods.create(&PostParams::default(), &pod("fits", "wasm-scheduler", "1"))
        .await?;
    let placed = eventually("fits to be bound", || node_of(&pods, "fits")).await;
    assert_eq!(placed, "big");

    pods.create(
        &PostParams::default(),
        &pod("theirs", "default-scheduler", "1"),
    )
    .await?;
    pods.create(&PostParams::default(), &pod("huge", "wasm-scheduler", "16"))
        .await?;
    let message = "0/2 nodes are available: 2 Insufficient cpu.";
    let condition = eventually("the PodScheduled condition", || async {
        let p = pods.get("huge").await.ok()?;
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        Some(c)
    })
    .await;
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("False", Some("Unschedulable"))
    );
    assert_eq!(condition.message.as_deref(), Some(message));
    let failed = failed_scheduling(&client, "default").await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    assert_eq!(failed.message.as_deref(), Some(message));
    assert_eq!(failed.involved_object.name.as_deref(), Some("huge"));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    let scheduled = events.list(&ListParams::default()).await?.items;
    assert!(
        scheduled
            .iter()
            .any(|e| e.reason.as_deref() == Some("Scheduled")
                && e.message.as_deref() == Some("Successfully assigned default/fits to big"))
    );

    // A node that fits arrives: the unschedulable pod is retried on that event.
    nodes
        .create(&PostParams::default(), &node("giant", "32"))
        .await?;
    let placed = eventually("huge to be bound", || node_of(&pods, "huge")).await;
    assert_eq!(placed, "giant");

    assert_eq!(
        node_of(&pods, "theirs").await,
        None,
        "another scheduler's pod is never touched"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_places_its_demo_and_explains_what_does_not_fit() -> anyhow::Result<()> {
    logs();
    use wasm_scheduler::playground::{self, PlaygroundOptions, cluster};
    let kubeconfig = std::env::temp_dir().join(format!(
        "wasm-scheduler-playground-{}.yaml",
        std::process::id()
    ));
    let options = PlaygroundOptions {
        addr: "127.0.0.1:0".parse()?,
        kubeconfig: kubeconfig.clone(),
        once: true,
    };
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let placements = playground::run(options, stopped).await?;
    assert!(std::fs::read_to_string(&kubeconfig)?.contains("server: http://127.0.0.1:"));
    let (bound, failed): (Vec<_>, Vec<_>) = placements.iter().partition(|p| p.result.is_ok());
    assert_eq!((bound.len(), failed.len()), (12, 1));
    assert_eq!(failed[0].pod, "default/batch-huge");
    // TaintToleration filters before NodeResourcesFit, as upstream, so the
    // tainted node is counted under its taint, not under cpu.
    assert_eq!(
        failed[0].result,
        Err("0/10 nodes are available: 1 node(s) had untolerated taint {dedicated: ml}, 9 Insufficient cpu.".to_string())
    );
    let tainted = cluster()[9].metadata.name.clone();
    assert!(
        bound
            .iter()
            .all(|p| p.result.as_ref().ok() != tainted.as_ref()),
        "no pod on the tainted node"
    );
    // LeastAllocated sends the first pod to one of the 8-cpu nodes (2, 5, 8).
    let first = placements
        .iter()
        .find(|p| p.pod == "default/web-0")
        .unwrap();
    let big = ["node-2", "node-5", "node-8"].map(|n| Ok(n.to_string()));
    assert!(big.contains(&first.result), "{:?}", first.result);
    std::fs::remove_file(kubeconfig)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pods_on_a_hundred_nodes_all_bound_once_through_dropped_watches_and_410()
-> anyhow::Result<()> {
    // upstream scheduler_perf's SchedulingBasic shapes: 4 cpu / 32 GiB / 110 pods; 100m / 500 MiB.
    let shapes: Vec<Node> = (0..100).map(|i| node(&format!("n{i}"), "4")).collect();
    let h = Harness::start(&shapes).await?;
    let server = &h.server;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    for i in 0..1000 {
        let mut p = pod(&format!("p{i}"), "wasm-scheduler", "100m");
        p.spec.as_mut().unwrap().containers[0]
            .resources
            .as_mut()
            .unwrap()
            .requests
            .as_mut()
            .unwrap()
            .insert(
                "memory".into(),
                k8s_openapi::apimachinery::pkg::api::resource::Quantity("500Mi".into()),
            );
        pods.create(&PostParams::default(), &p).await?;
        if i == 300 {
            server.faults().drop_all_watches();
        }
        if i == 600 {
            // The scheduler resumes from a version the server no longer has: 410, relist.
            server.store().compact();
            server.faults().drop_all_watches();
        }
    }
    let bound = eventually("all 1000 pods to be bound", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        let bound = list
            .items
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .count();
        (bound == 1000).then_some(list)
    })
    .await;
    assert_eq!(
        server.store().bind_counts(),
        (1000, 0),
        "every pod bound exactly once, no bind refused"
    );
    let mut per_node = std::collections::HashMap::<String, usize>::new();
    for p in &bound.items {
        *per_node
            .entry(p.spec.as_ref().unwrap().node_name.clone().unwrap())
            .or_default() += 1;
    }
    assert!(
        per_node.values().all(|&n| n <= 110),
        "no node over its pod capacity"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_refused_with_409_is_dropped_not_retried_onto_another_node() -> anyhow::Result<()>
{
    let h = Harness::start(&[node("roomy", "8"), node("rival", "2")]).await?;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    // Someone else binds `contested` to `rival` just before our binding lands.
    h.server
        .faults()
        .race_binding("default", "contested", "rival");
    pods.create(
        &PostParams::default(),
        &pod("contested", "wasm-scheduler", "1"),
    )
    .await?;
    let placed = eventually("contested to be bound", || node_of(&pods, "contested")).await;
    assert_eq!(placed, "rival", "the rival's binding stands");
    // The scheduler goes on with the next pod, which needs all of `roomy`:
    // it fits only if the refused pod's assumption there was forgotten.
    pods.create(&PostParams::default(), &pod("after", "wasm-scheduler", "8"))
        .await?;
    assert_eq!(
        eventually("after to be bound", || node_of(&pods, "after")).await,
        "roomy"
    );
    assert_eq!(
        h.server.store().bind_counts(),
        (2, 1),
        "two bindings stand (the rival's and `after`); ours was refused once and never retried"
    );
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    assert!(
        !events
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("Scheduled")
                    && e.involved_object.name.as_deref() == Some("contested")
            }),
        "no Scheduled event claims a pod someone else bound"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_from_a_configuration_file_each_schedule_their_own_pods() -> anyhow::Result<()> {
    let config = SchedulerConfig::from_yaml(
        r#"
apiVersion: wasm-scheduler.io/v1alpha1
kind: SchedulerConfiguration
parallelism: 2
profiles:
- schedulerName: wasm-scheduler
- schedulerName: packing
  plugins:
  - name: NodeResourcesFit
    config:
      scoringStrategy:
        type: MostAllocated
"#,
        "e2e.yaml",
    )?;
    let profiles = Profile::load_all(&config, std::path::Path::new("."), runtime())?;
    let h = Harness::start_with(
        &[node("small", "2"), node("big", "8")],
        Options::from_config(&config),
        profiles,
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod("spread", "wasm-scheduler", "1"),
    )
    .await?;
    pods.create(&PostParams::default(), &pod("packed", "packing", "1"))
        .await?;
    // The default profile spreads (LeastAllocated); `packing` fills the fullest node.
    assert_eq!(
        eventually("spread", || node_of(&pods, "spread")).await,
        "big"
    );
    assert_eq!(
        eventually("packed", || node_of(&pods, "packed")).await,
        "small"
    );
    // Each profile signs its own events, as upstream's profiles do.
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    let packed = eventually("the Scheduled event of packed", || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Scheduled")
                    && e.involved_object.name.as_deref() == Some("packed")
            })
    })
    .await;
    assert_eq!(packed.reporting_component.as_deref(), Some("packing"));
    h.stop().await
}

/// `explain` on a pod that fits nowhere counts, per reason, exactly what the
/// scheduler's `FailedScheduling` Event says; from the live API and from a
/// cluster file of the same objects alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_counts_the_reasons_of_failed_scheduling() -> anyhow::Result<()> {
    use serde_json::json;
    use wasm_scheduler::explain::{self, ClusterObjects};
    let with = |mut n: Node, extra: serde_json::Value| -> Node {
        let mut v = serde_json::to_value(&n).unwrap();
        json_patch(&mut v, extra);
        n = serde_json::from_value(v).unwrap();
        n
    };
    let zone_a = json!({"metadata": {"labels": {"zone": "a"}}});
    let nodes = [
        with(node("small", "2"), zone_a.clone()),
        with(node("busy", "4"), zone_a.clone()),
        with(
            with(node("cordoned", "64"), zone_a.clone()),
            json!({"spec": {"unschedulable": true}}),
        ),
        with(
            with(node("tainted", "64"), zone_a.clone()),
            json!({"spec": {"taints": [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}}),
        ),
        with(
            node("elsewhere", "64"),
            json!({"metadata": {"labels": {"zone": "b"}}}),
        ),
    ];
    let h = Harness::start(&nodes).await?;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    // Another scheduler's pod already runs on `busy` and takes 3 of its 4 cpus.
    let mut running = pod("running", "default-scheduler", "3");
    running.spec.as_mut().unwrap().node_name = Some("busy".into());
    pods.create(&PostParams::default(), &running).await?;
    let mut stuck = pod("stuck", "wasm-scheduler", "3");
    stuck.spec.as_mut().unwrap().node_selector =
        Some([("zone".to_string(), "a".to_string())].into());
    pods.create(&PostParams::default(), &stuck).await?;

    let failed = failed_scheduling(&h.client, "default").await;

    let plugins = Profile::builtin("wasm-scheduler", runtime())?.plugins;
    let live = ClusterObjects::from_api(&h.client).await?;
    let target = explain::resolve_pod("default/stuck", &live)?;
    let explained = explain::explain(&plugins, &live, &target)?;
    assert_eq!(explained.chosen, None);
    assert_eq!(
        explained.failed_scheduling.as_deref(),
        failed.message.as_deref(),
        "explain words the failure as the Event does"
    );
    // Two nodes short of cpu (one by an existing pod), one per other reason.
    assert_eq!(explained.reason_counts["Insufficient cpu"], 2);
    assert_eq!(explained.reason_counts.values().sum::<usize>(), nodes.len());
    let busy = explained.nodes.iter().find(|n| n.node == "busy").unwrap();
    let decisive: Vec<_> = busy.filters.iter().filter(|f| f.decisive).collect();
    assert_eq!(decisive.len(), 1);
    assert_eq!(decisive[0].plugin, "NodeResourcesFit");

    // The same objects as a cluster file, the pod as its own file.
    let dir = std::env::temp_dir().join(format!("ws-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cluster_file = dir.join("cluster.json");
    let items: Vec<serde_json::Value> = live
        .nodes
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Node"}).merged(n))
        .chain(
            live.pods
                .iter()
                .map(|p| json!({"apiVersion": "v1", "kind": "Pod"}).merged(p)),
        )
        .collect();
    std::fs::write(
        &cluster_file,
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": items}))?,
    )?;
    let pod_file = dir.join("stuck.yaml");
    std::fs::write(
        &pod_file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: stuck, namespace: default}\n\
         spec:\n  nodeSelector: {zone: a}\n  containers:\n  - name: c\n    image: pause\n    \
         resources: {requests: {cpu: 3, memory: 1Gi}}\n",
    )?;
    let from_file = ClusterObjects::from_file(&cluster_file)?;
    let target = explain::resolve_pod(pod_file.to_str().unwrap(), &from_file)?;
    assert_eq!(explain::explain(&plugins, &from_file, &target)?, explained);
    std::fs::remove_dir_all(&dir)?;
    h.stop().await
}

/// Merges `extra` into `base`, objects key by key.
fn json_patch(base: &mut serde_json::Value, extra: serde_json::Value) {
    match (base, extra) {
        (serde_json::Value::Object(b), serde_json::Value::Object(e)) => {
            for (k, v) in e {
                json_patch(b.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}

/// A JSON object with an API object's fields added.
trait Merged {
    fn merged<T: serde::Serialize>(self, object: &T) -> serde_json::Value;
}

impl Merged for serde_json::Value {
    fn merged<T: serde::Serialize>(mut self, object: &T) -> serde_json::Value {
        json_patch(
            &mut self,
            serde_json::to_value(object).expect("API objects serialize"),
        );
        self
    }
}
