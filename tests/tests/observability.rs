//! The scheduler's HTTP endpoints against a running scheduler: `/readyz`
//! before and after the caches sync, `/healthz`, and `/metrics` scraped
//! after scheduling, with upstream's names, labels and counts.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use std::time::Duration;
use wasm_scheduler::endpoints::Endpoints;
use wasm_scheduler::profile::Profile;
use wasm_scheduler::scheduler::Options;
use wasm_scheduler_tests::e2e::{
    Harness, eventually, http_get, node, node_of, pod, serve_endpoints,
};
use wasm_scheduler_tests::runtime;

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_caches_and_metrics_count_what_happened() -> anyhow::Result<()> {
    let options = Options::default();
    let (addr, stop_http, server) = serve_endpoints(Endpoints {
        metrics: options.metrics.clone(),
        health: options.health.clone(),
        sets: None,
    })
    .await?;
    let (code, body) = http_get(addr, "/readyz").await?;
    assert_eq!(
        code, 503,
        "not ready before the scheduler has listed: {body}"
    );
    assert_eq!(http_get(addr, "/debug/plugin-set").await?.0, 404);

    let profile = Profile::builtin("wasm-scheduler", runtime())?;
    let h = Harness::start_with(&[node("a", "4"), node("b", "4")], options, vec![profile]).await?;
    eventually("/readyz to turn 200", || async {
        (http_get(addr, "/readyz").await.ok()?.0 == 200).then_some(())
    })
    .await;
    assert_eq!(http_get(addr, "/healthz").await?.0, 200);

    let pods: Api<Pod> = Api::namespaced(h.client.clone(), "default");
    for i in 0..5 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("p{i}"), "wasm-scheduler", "500m"),
        )
        .await?;
    }
    pods.create(&PostParams::default(), &pod("huge", "wasm-scheduler", "64"))
        .await?;
    for i in 0..5 {
        let name = format!("p{i}");
        eventually("bound", || node_of(&pods, &name)).await;
    }
    let text = eventually("the metrics to show every attempt", || async {
        let (_, text) = http_get(addr, "/metrics").await.ok()?;
        let done = sample(&text, "scheduler_pod_scheduling_attempts_count") == Some(5.0)
            && sample(&text, r#"scheduler_pending_pods{queue="unschedulable"}"#) == Some(1.0);
        done.then_some(text)
    })
    .await;
    let scheduled =
        r#"scheduler_schedule_attempts_total{result="scheduled",profile="wasm-scheduler"}"#;
    assert_eq!(sample(&text, scheduled), Some(5.0), "{text}");
    let unschedulable =
        r#"scheduler_schedule_attempts_total{result="unschedulable",profile="wasm-scheduler"}"#;
    assert!(sample(&text, unschedulable) >= Some(1.0), "{text}");
    assert!(
        sample(
            &text,
            r#"scheduler_scheduling_attempt_duration_seconds_count{result="scheduled",profile="wasm-scheduler"}"#
        ) == Some(5.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"scheduler_framework_extension_point_duration_seconds_count{extension_point="Filter",status="Unschedulable",profile="wasm-scheduler"}"#
        ) >= Some(1.0),
        "{text}"
    );
    for plugin in ["TaintToleration", "NodeResourcesFit"] {
        for point in ["Filter", "Score"] {
            let series = format!(
                r#"scheduler_plugin_execution_duration_seconds_count{{plugin="{plugin}",extension_point="{point}",status="Success"}}"#
            );
            assert!(sample(&text, &series) >= Some(5.0), "{series}\n{text}");
        }
    }
    assert!(
        !text.contains("wasm_scheduler_plugin_failures_total{"),
        "no plugin failed: {text}"
    );
    h.stop().await?;
    stop_http.send(true)?;
    tokio::time::timeout(Duration::from_secs(10), server).await???;
    Ok(())
}
