//! The RBAC in `deploy/rbac.yaml` against what the scheduler really does:
//! the in-memory API server records every call the scheduler's client makes
//! (authenticated by its bearer token) while it schedules, fails a pod,
//! loads the plugin set of `deploy/plugin-set.yaml` and holds and releases
//! its Lease. Every call must be allowed by a rule, every rule must be used,
//! and no rule may use `*`.

use http::{HeaderValue, header::AUTHORIZATION};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, PostParams};
use kube::{Client, Config};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use wasm_scheduler::leader::{self, Ended, LeaseConfig};
use wasm_scheduler::profile::Profile;
use wasm_scheduler::scheduler::{self, Options};
use wasm_scheduler_apiserver::ApiServer;
use wasm_scheduler_tests::e2e::{eventually, logs, node, node_of, pod};
use wasm_scheduler_tests::runtime;
use wasm_scheduler_tests::sets::feed;

const TOKEN: &str = "system:serviceaccount:wasm-scheduler:wasm-scheduler";
const NAMESPACE: &str = "wasm-scheduler";

fn deploy(file: &str) -> anyhow::Result<Vec<Value>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(file);
    Ok(serde_saphyr::from_multiple(&std::fs::read_to_string(
        path,
    )?)?)
}

/// `(group, resource, verb)` granted by the rules of the object of `kind`.
fn grants(objects: &[Value], kind: &str) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for o in objects.iter().filter(|o| o["kind"] == kind) {
        for rule in o["rules"].as_array().into_iter().flatten() {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            };
            for g in list("apiGroups") {
                for r in list("resources") {
                    for v in list("verbs") {
                        out.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_covers_every_call_and_grants_nothing_unused() -> anyhow::Result<()> {
    logs();
    let rbac = deploy("rbac.yaml")?;
    let cluster_wide = grants(&rbac, "ClusterRole");
    let in_namespace = grants(&rbac, "Role");
    for (g, r, v) in cluster_wide.iter().chain(&in_namespace) {
        assert!(
            !(g.contains('*') || r.contains('*') || v.contains('*')),
            "wildcard in rule {g}/{r}/{v}"
        );
    }

    let server = ApiServer::start("127.0.0.1:0").await?;
    let admin = Client::try_from(Config::new(server.url().parse()?))?;
    let nodes: Api<Node> = Api::all(admin.clone());
    nodes
        .create(&PostParams::default(), &node("n1", "4"))
        .await?;
    let set: ConfigMap = serde_json::from_value(deploy("plugin-set.yaml")?.remove(0))?;
    Api::<ConfigMap>::namespaced(admin.clone(), NAMESPACE)
        .create(&PostParams::default(), &set)
        .await?;

    let mut config = Config::new(server.url().parse()?);
    config.headers.push((
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {TOKEN}"))?,
    ));
    let client = Client::try_from(config)?;
    let (set_feed, status) = feed(wasm_scheduler::scheduler::SetSource::ConfigMaps {
        namespace: NAMESPACE.into(),
        set: "wasm-scheduler".into(),
    });
    let profile = Profile::builtin("wasm-scheduler", runtime())?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let lease = LeaseConfig::new(NAMESPACE, "wasm-scheduler", "rbac-test");
    let scheduler_client = client.clone();
    let replica = tokio::spawn(leader::lead(client, lease, stopped, move |leading| {
        scheduler::run_with_sets(
            scheduler_client,
            Options::default(),
            vec![profile],
            Some(set_feed),
            leading,
        )
    }));

    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    eventually("the plugin set of deploy/ to load", || async {
        (status.report().loads == 1).then_some(())
    })
    .await;
    pods.create(&PostParams::default(), &pod("fits", "wasm-scheduler", "1"))
        .await?;
    pods.create(
        &PostParams::default(),
        &pod("too-big", "wasm-scheduler", "64"),
    )
    .await?;
    eventually("fits to be bound", || node_of(&pods, "fits")).await;
    eventually("the scheduler's calls for both pods", || async {
        let seen = server.audit().of(TOKEN);
        let did = |verb: &str, resource: &str| {
            seen.iter()
                .any(|a| a.verb == verb && a.resource == resource)
        };
        (did("patch", "pods/status") && did("create", "events") && did("create", "pods/binding"))
            .then_some(())
    })
    .await;
    stop.send(true)?;
    let (ended, result) = replica.await?;
    assert_eq!(ended, Ended::Released);
    result.expect("the scheduler ran")?;

    let calls = server.audit().of(TOKEN);
    let mut used = BTreeSet::new();
    for call in &calls {
        let key = (
            call.group.to_string(),
            call.resource.clone(),
            call.verb.to_string(),
        );
        let allowed = if call.namespace.as_deref() == Some(NAMESPACE) && in_namespace.contains(&key)
        {
            used.insert(("Role", key.clone()));
            true
        } else if cluster_wide.contains(&key) {
            used.insert(("ClusterRole", key.clone()));
            true
        } else {
            false
        };
        assert!(allowed, "not allowed by deploy/rbac.yaml: {call:?}");
    }
    for (kind, granted) in [("ClusterRole", &cluster_wide), ("Role", &in_namespace)] {
        for key in granted {
            assert!(
                used.contains(&(kind, key.clone())),
                "{kind} grants {key:?} but the scheduler never used it: {calls:#?}"
            );
        }
    }
    server.shutdown().await;
    Ok(())
}
