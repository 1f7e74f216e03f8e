//! The in-memory API server behaves like kube-apiserver for the calls a
//! scheduler makes, as seen through the real `kube` client over HTTP.

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, Config, Error};
use serde_json::json;
use std::time::Duration;
use wasm_scheduler_apiserver::ApiServer;

async fn server() -> anyhow::Result<(ApiServer, Client)> {
    let server = ApiServer::start("127.0.0.1:0").await?;
    let client = Client::try_from(Config::new(server.url().parse()?))?;
    Ok((server, client))
}

fn pod(name: &str, scheduler: &str, labels: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"schedulerName": scheduler, "containers": [{"name": "c", "image": "pause"}]},
    }))
    .expect("valid pod")
}

fn node(name: &str) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name}})).expect("valid node")
}

fn rv(p: &Pod) -> u64 {
    p.metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

fn api_error(e: Error) -> (u16, String) {
    match e {
        Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn resource_versions_increase_with_every_write() -> anyhow::Result<()> {
    let (_server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let a = pods
        .create(&PostParams::default(), &pod("a", "s", json!({})))
        .await?;
    let b = pods
        .create(&PostParams::default(), &pod("b", "s", json!({})))
        .await?;
    assert!(rv(&b) > rv(&a));
    let patched = pods
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
        )
        .await?;
    assert!(rv(&patched) > rv(&b));
    assert_eq!(patched.metadata.uid, a.metadata.uid, "identity is kept");
    let list = pods.list(&ListParams::default()).await?;
    let list_rv: u64 = list.metadata.resource_version.as_deref().unwrap().parse()?;
    assert!(list_rv >= rv(&patched));
    let dup = pods
        .create(&PostParams::default(), &pod("a", "s", json!({})))
        .await
        .unwrap_err();
    assert_eq!(api_error(dup), (409, "AlreadyExists".to_string()));
    Ok(())
}

#[tokio::test]
async fn watch_from_a_version_replays_what_came_after_it() -> anyhow::Result<()> {
    let (_server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let first = pods
        .create(&PostParams::default(), &pod("first", "s", json!({})))
        .await?;
    pods.create(&PostParams::default(), &pod("second", "s", json!({})))
        .await?;
    pods.delete("first", &Default::default()).await?;
    let events: Vec<WatchEvent<Pod>> = pods
        .watch(&WatchParams::default().timeout(1), &rv(&first).to_string())
        .await?
        .take(2)
        .try_collect()
        .await?;
    let seen: Vec<String> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(p) => format!("ADDED {}", p.metadata.name.as_deref().unwrap()),
            WatchEvent::Deleted(p) => format!("DELETED {}", p.metadata.name.as_deref().unwrap()),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(seen, ["ADDED second", "DELETED first"]);
    Ok(())
}

#[tokio::test]
async fn watch_from_a_compacted_version_gets_410() -> anyhow::Result<()> {
    let (server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let old = pods
        .create(&PostParams::default(), &pod("a", "s", json!({})))
        .await?;
    pods.create(&PostParams::default(), &pod("b", "s", json!({})))
        .await?;
    server.store().compact();
    let mut stream = pods
        .watch(&WatchParams::default().timeout(1), &rv(&old).to_string())
        .await?
        .boxed();
    match stream.try_next().await? {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn binding_sets_the_node_once_and_409s_after() -> anyhow::Result<()> {
    let (_server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client);
    nodes.create(&PostParams::default(), &node("n1")).await?;
    pods.create(&PostParams::default(), &pod("p", "s", json!({})))
        .await?;
    let binding = |target: &str| {
        json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "p"}, "target": {"kind": "Node", "name": target}})
    };

    let missing_node = pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            "p",
            &PostParams::default(),
            &binding("nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(missing_node).0, 404);
    pods.create_subresource::<_, serde_json::Value>(
        "binding",
        "p",
        &PostParams::default(),
        &binding("n1"),
    )
    .await?;
    let bound = pods.get("p").await?;
    assert_eq!(
        bound.spec.as_ref().unwrap().node_name.as_deref(),
        Some("n1")
    );
    let cond = bound.status.unwrap().conditions.unwrap();
    assert!(
        cond.iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );

    let again = pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            "p",
            &PostParams::default(),
            &binding("n1"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(again), (409, "Conflict".to_string()));
    assert_eq!(
        _server.store().bind_counts(),
        (1, 1),
        "one bind, one refused"
    );
    let missing_pod = pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            "ghost",
            &PostParams::default(),
            &binding("n1"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(missing_pod).0, 404);
    Ok(())
}

#[tokio::test]
async fn stale_update_is_a_conflict() -> anyhow::Result<()> {
    let (_server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let stale = pods
        .create(&PostParams::default(), &pod("p", "s", json!({"v": "1"})))
        .await?;
    let mut fresh = stale.clone();
    fresh
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("v".into(), "2".into());
    pods.replace("p", &PostParams::default(), &fresh).await?;
    let mut late = stale;
    late.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("v".into(), "3".into());
    let err = pods
        .replace("p", &PostParams::default(), &late)
        .await
        .unwrap_err();
    assert_eq!(api_error(err), (409, "Conflict".to_string()));
    assert_eq!(pods.get("p").await?.metadata.labels.unwrap()["v"], "2");
    Ok(())
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists_and_watches() -> anyhow::Result<()> {
    let (_server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    Api::<Node>::all(client)
        .create(&PostParams::default(), &node("n1"))
        .await?;
    pods.create(
        &PostParams::default(),
        &pod("ours", "wasm-scheduler", json!({"app": "web"})),
    )
    .await?;
    pods.create(
        &PostParams::default(),
        &pod("theirs", "default-scheduler", json!({"app": "db"})),
    )
    .await?;
    let names = |l: kube::core::ObjectList<Pod>| -> Vec<String> {
        l.items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect()
    };
    let pending_ours =
        ListParams::default().fields("spec.schedulerName=wasm-scheduler,spec.nodeName=");
    assert_eq!(names(pods.list(&pending_ours).await?), ["ours"]);
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app in (db,cache)"))
                .await?
        ),
        ["theirs"]
    );
    let bad = pods
        .list(&ListParams::default().fields("status.hostIP=1"))
        .await
        .unwrap_err();
    assert_eq!(api_error(bad).0, 400);

    // A watch on unbound pods sees a bound pod leave its selection as DELETED.
    let list_rv = pods
        .list(&pending_ours)
        .await?
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default()
        .fields("spec.schedulerName=wasm-scheduler,spec.nodeName=")
        .timeout(2);
    let mut stream = pods.watch(&wp, &list_rv).await?.boxed();
    pods.create_subresource::<_, serde_json::Value>(
        "binding",
        "ours",
        &PostParams::default(),
        &json!({"metadata": {"name": "ours"}, "target": {"name": "n1"}}),
    )
    .await?;
    match stream.try_next().await? {
        Some(WatchEvent::Deleted(p)) => assert_eq!(p.metadata.name.as_deref(), Some("ours")),
        other => panic!("expected DELETED, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn dropping_watches_ends_open_streams() -> anyhow::Result<()> {
    let (server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut stream = pods.watch(&WatchParams::default(), "0").await?.boxed();
    server.faults().drop_all_watches();
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next()).await?;
    assert!(
        ended.is_none(),
        "the stream ends instead of waiting for events"
    );
    Ok(())
}

#[tokio::test]
async fn injected_failures_answer_with_the_code_for_a_while() -> anyhow::Result<()> {
    let (server, client) = server().await?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    // 500: kube's client retries 429/503/504 on its own, so those would not surface here.
    server
        .faults()
        .fail_requests(500, Duration::from_millis(300));
    let err = pods.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(api_error(err), (500, "InternalError".to_string()));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(pods.list(&ListParams::default()).await.is_ok());
    Ok(())
}
