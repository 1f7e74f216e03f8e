//! Hot swap end to end: plugin sets from labelled ConfigMaps and from a
//! directory updated the way kubelet updates a mounted ConfigMap, replaced
//! while the scheduler runs; bad sets rejected whole with an Event while the
//! last good set keeps scheduling.

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use wasm_scheduler::endpoints::Endpoints;
use wasm_scheduler::plugin_set::status::SetStatus;
use wasm_scheduler::profile::Profile;
use wasm_scheduler::scheduler::{Options, SetFeed, SetSource};
use wasm_scheduler_tests::e2e::{Harness, eventually, http_get, node_of, pod, serve_endpoints};
use wasm_scheduler_tests::sets::{Set, configmaps, feed, gate, manifest, put_set, spread};
use wasm_scheduler_tests::{runtime, wasm};

/// A node with `cpu` cores and, if given, the label `pool`.
fn node(name: &str, cpu: &str, pool: Option<&str>) -> Node {
    let labels = pool.map_or(json!({}), |p| json!({ "pool": p }));
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
        "status": {"allocatable": {"cpu": cpu, "memory": "512Gi", "pods": "110"}}}))
    .unwrap()
}

async fn loads_reach(status: &SetStatus, n: u64) {
    eventually(&format!("{n} set loads"), || async {
        (status.report().loads >= n).then_some(())
    })
    .await
}

async fn start(nodes: &[Node], feed: SetFeed, first: Option<Set>) -> anyhow::Result<Harness> {
    let profile = Profile::builtin("wasm-scheduler", runtime())?;
    Harness::start_full(
        nodes,
        Options::default(),
        vec![profile],
        Some(feed),
        |client| async move {
            if let Some(set) = first {
                put_set(client, &set).await?;
            }
            Ok(())
        },
    )
    .await
}

/// Under the first set (spread) a pod goes to `big`; `swap` installs
/// `gate("b")`; once it is loaded the next pod goes to `small`.
async fn placement_follows_the_swap<F, Fut>(
    pods: &Api<Pod>,
    status: &SetStatus,
    swap: F,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    loads_reach(status, 1).await;
    pods.create(
        &PostParams::default(),
        &pod("under-a", "wasm-scheduler", "1"),
    )
    .await?;
    assert_eq!(
        eventually("under-a", || node_of(pods, "under-a")).await,
        "big"
    );
    swap().await?;
    loads_reach(status, 2).await;
    pods.create(
        &PostParams::default(),
        &pod("under-b", "wasm-scheduler", "1"),
    )
    .await?;
    assert_eq!(
        eventually("under-b", || node_of(pods, "under-b")).await,
        "small"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_update_changes_placement_without_a_restart() -> anyhow::Result<()> {
    let (feed, status) = feed(configmaps());
    let nodes = [node("big", "8", None), node("small", "2", Some("b"))];
    let h = start(&nodes, feed, Some(spread())).await?;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let client = h.client.clone();
    placement_follows_the_swap(&pods, &status, || async move {
        put_set(client, &gate("b")).await
    })
    .await?;

    // The same report is served as JSON on /debug/plugin-set.
    let (addr, stop_http, http) = serve_endpoints(Endpoints {
        metrics: Default::default(),
        health: Default::default(),
        sets: Some(status.clone()),
    })
    .await?;
    let (code, body) = http_get(addr, "/debug/plugin-set").await?;
    let served: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(code, 200);
    assert_eq!(served["loads"], 2);
    assert_eq!(served["active"]["plugins"][0]["name"], "Gate");
    stop_http.send(true)?;
    http.await??;

    let report = status.report();
    let active = report.active.expect("a set is active");
    let names: Vec<&str> = active.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Gate", "Fit"]);

    // Unschedulable under B (it needs 4 cpu; B admits only the 2-cpu node),
    // it is retried when a set that admits it is swapped in, with no other change.
    pods.create(
        &PostParams::default(),
        &pod("needs-a", "wasm-scheduler", "4"),
    )
    .await?;
    eventually("needs-a to be found unschedulable", || async {
        let conditions = pods.get("needs-a").await.ok()?.status?.conditions?;
        conditions
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "False")
            .then_some(())
    })
    .await;
    put_set(h.client.clone(), &spread()).await?;
    assert_eq!(
        eventually("needs-a", || node_of(&pods, "needs-a")).await,
        "big"
    );
    assert_eq!(active.plugins[0].sha256.len(), 64);
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    let loaded = eventually("three PluginSetLoaded events", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        let loaded: Vec<Event> = list
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("PluginSetLoaded"))
            .collect();
        (loaded.len() == 3).then_some(loaded)
    })
    .await;
    assert!(
        loaded
            .iter()
            .all(|e| e.involved_object.kind.as_deref() == Some("ConfigMap")
                && e.involved_object.name.as_deref() == Some("plugins"))
    );
    assert!(loaded.iter().any(|e| {
        e.message
            .as_deref()
            .is_some_and(|m| m.contains("Gate") && m.contains("sha256:"))
    }));
    h.stop().await
}

/// Writes `files` as kubelet updates a ConfigMap volume: a new timestamped
/// directory, a `..data_tmp` link to it renamed over `..data`, and one
/// top-level link per file.
fn kubelet_write(dir: &Path, version: u32, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    let stamp = format!("..2026_11_27_10_00_{version:02}.{version:09}");
    std::fs::create_dir_all(dir.join(&stamp))?;
    for (name, bytes) in files {
        std::fs::write(dir.join(&stamp).join(name), bytes)?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&stamp, &tmp)?;
    std::fs::rename(&tmp, dir.join("..data"))?;
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{name}"), &link)?;
        }
    }
    Ok(())
}

fn as_files(set: Set) -> Vec<(&'static str, Vec<u8>)> {
    let mut files = set.1;
    files.push(("plugins.yaml", set.0.into_bytes()));
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mounted_directory_swapped_the_kubelet_way_changes_placement() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ws-hot-swap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    kubelet_write(&dir, 1, &as_files(spread()))?;
    let (feed, status) = feed(SetSource::Directory(dir.clone()));
    let nodes = [node("big", "8", None), node("small", "2", Some("b"))];
    let h = start(&nodes, feed, None).await?;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    placement_follows_the_swap(&pods, &status, || async {
        kubelet_write(&dir, 2, &as_files(gate("b")))
    })
    .await?;
    assert!(
        status
            .report()
            .active
            .unwrap()
            .origin
            .starts_with("directory ")
    );
    h.stop().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sets_are_rejected_with_an_event_and_the_last_good_set_keeps_scheduling()
-> anyhow::Result<()> {
    let (feed, status) = feed(configmaps());
    let nodes = [node("big", "8", None), node("small", "2", Some("b"))];
    let h = start(&nodes, feed, Some(gate("b"))).await?;
    loads_reach(&status, 1).await;
    let fault = |mode: &str, at: &str| {
        (
            manifest(&[("Fault", "fault.wasm", json!({"mode": mode, "at": at}))]),
            vec![("fault.wasm", wasm("fault-plugin"))],
        )
    };
    let one = |module: Vec<u8>| {
        (
            manifest(&[("Odd", "odd.wasm", Value::Null)]),
            vec![("odd.wasm", module)],
        )
    };
    let (fit_manifest, fit_modules) = spread();
    let pinned = fit_manifest.replace(
        r#""name":"Fit""#,
        &format!(r#""name":"Fit","sha256":"{}""#, "0".repeat(64)),
    );
    let cases = [
        (
            one(b"#!/bin/sh\n".to_vec()),
            "rejected at compile: plugin Odd: module is not a WebAssembly binary",
        ),
        (
            one(b"\0asm\x01\0\0\0".to_vec()),
            "rejected at compile: plugin Odd",
        ),
        (one(b"\0asm\x0d\0\x01\0".to_vec()), "scheduler-plugin@0.1.0"),
        (
            fault("fail-init", "filter"),
            "rejected at init: plugin Fault",
        ),
        (
            (
                fit_manifest.replace(r#""config""#, r#""wieght":2,"config""#),
                fit_modules.clone(),
            ),
            "unknown field `wieght`",
        ),
        (
            (
                manifest(&[("Fit", "nope.wasm", Value::Null)]),
                fit_modules.clone(),
            ),
            "rejected at module: plugin Fit: module \"nope.wasm\" is not in the set",
        ),
        (
            (pinned, fit_modules),
            "rejected at pin: plugin Fit: module sha256 is",
        ),
        (
            fault("trap", "filter"),
            "rejected at self-check: plugin Fault: self-check failed",
        ),
    ];
    let events: Api<Event> = Api::namespaced(h.client.clone(), "default");
    for (i, (set, want)) in cases.into_iter().enumerate() {
        put_set(h.client.clone(), &set).await?;
        let event = eventually(&format!("rejection {}", i + 1), || async {
            let list = events.list(&ListParams::default()).await.ok()?;
            let rejected: Vec<Event> = list
                .items
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("PluginSetRejected"))
                .collect();
            (rejected.len() > i).then(|| rejected[i].clone())
        })
        .await;
        let message = event.message.unwrap_or_default();
        assert!(message.contains(want), "case {}: {message}", i + 1);
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.involved_object.name.as_deref(), Some("plugins"));
    }
    let report = status.report();
    assert_eq!((report.loads, report.rejections), (1, 8));
    // The first set still decides: only the pool-b node is admitted.
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &pod("still-b", "wasm-scheduler", "1"),
    )
    .await?;
    assert_eq!(
        eventually("still-b", || node_of(&pods, "still-b")).await,
        "small"
    );
    h.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_swaps_under_load_bind_every_pod_once_and_never_by_a_half_loaded_set()
-> anyhow::Result<()> {
    let (feed, status) = feed(configmaps());
    // Pools a and b each admitted by one set; the c nodes by neither, so a
    // pod there would have been placed by something other than a whole set.
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(node(&format!("a{i}"), "8", Some("a")));
        nodes.push(node(&format!("b{i}"), "8", Some("b")));
        nodes.push(node(&format!("c{i}"), "64", None));
    }
    let h = start(&nodes, feed, Some(gate("a"))).await?;
    loads_reach(&status, 1).await;
    let creator = {
        let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
        tokio::spawn(async move {
            for i in 0..300 {
                pods.create(
                    &PostParams::default(),
                    &pod(&format!("p{i}"), "wasm-scheduler", "10m"),
                )
                .await?;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(())
        })
    };
    for swap in 1..=100u64 {
        let set = if swap % 2 == 1 { gate("b") } else { gate("a") };
        put_set(h.client.clone(), &set).await?;
        loads_reach(&status, swap + 1).await;
    }
    creator.await??;
    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    let all = eventually("all 300 pods bound", || async {
        let list = pods.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .then_some(list.items)
    })
    .await;
    assert_eq!(all.len(), 300);
    assert_eq!(
        h.server.store().bind_counts(),
        (300, 0),
        "each pod bound exactly once"
    );
    let on = |prefix: &str| {
        all.iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .unwrap()
                    .node_name
                    .as_ref()
                    .unwrap()
                    .starts_with(prefix)
            })
            .count()
    };
    assert_eq!(on("c"), 0, "no pod placed outside a whole set's rule");
    assert!(
        on("a") > 0 && on("b") > 0,
        "both sets placed pods: a {} b {}",
        on("a"),
        on("b")
    );
    assert_eq!(status.report().rejections, 0);
    h.stop().await
}
