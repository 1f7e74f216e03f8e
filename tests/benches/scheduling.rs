//! Scheduling throughput and attempt latency end to end: the in-memory API
//! server over HTTP, the scheduler with the built-in wasm plugins, in the
//! shapes of upstream scheduler_perf's SchedulingBasic (nodes: 4 cpu, 32 GiB,
//! 110 pods; pods: 100m, 500 MiB). Each shape runs with 1 worker and with 2,
//! side by side in one process.
//!
//! `cargo bench -p wasm-scheduler-tests --bench scheduling` prints a table;
//! pass shape names (`500x1000`, `5000x10000`, `5000x2000-busy`,
//! `5000x10000-owned`) to run only those. The `busy` shape adds a plugin
//! that costs ~1 µs per node (the test plugin `plugins/testing/busy`), where
//! splitting nodes across workers pays. In the `owned` shape every pod
//! belongs to one of 100 ReplicaSets, as in a real cluster, so
//! PodTopologySpread's default constraints (hostname and zone) score it.
//!
//! Pods/s counts from the first scheduling attempt to the last binding the
//! server accepted. The attempt latency is upstream's
//! `scheduling_attempt_duration`: syncing the plugins' mirrors, filter, score
//! and assume (the `cycle` span), not the asynchronous binding.

#![allow(clippy::print_stdout)]

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use kube::{Client, Config};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::span;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use wasm_scheduler::profile::Profile;
use wasm_scheduler::runtime::PluginSpec;
use wasm_scheduler::scheduler::{self, Options};
use wasm_scheduler_apiserver::ApiServer;
use wasm_scheduler_tests::{load, runtime};

/// One benchmark shape.
#[derive(Clone, Copy)]
struct Shape {
    nodes: usize,
    pods: usize,
    /// Rounds per node of an added `busy` plugin (0: none), which stands
    /// for an expensive plugin.
    busy: u32,
    /// Pods owned by ReplicaSets (100 of them, labelled per set), as in a
    /// real cluster: PodTopologySpread's default constraints then apply.
    owned: bool,
}

impl Shape {
    const fn new(nodes: usize, pods: usize) -> Self {
        Shape {
            nodes,
            pods,
            busy: 0,
            owned: false,
        }
    }

    fn name(&self) -> String {
        let mut name = format!("{}x{}", self.nodes, self.pods);
        if self.busy > 0 {
            name.push_str("-busy");
        }
        if self.owned {
            name.push_str("-owned");
        }
        name
    }
}

const SHAPES: [Shape; 4] = [
    Shape::new(500, 1000),
    Shape::new(5000, 10000),
    Shape {
        busy: 1000,
        ..Shape::new(5000, 2000)
    },
    Shape {
        owned: true,
        ..Shape::new(5000, 10000)
    },
];
/// ReplicaSets the pods of an `owned` shape belong to.
const REPLICA_SETS: usize = 100;
const PARALLELISM: [usize; 2] = [1, 2];

/// Start and length of every `cycle` span, as the scheduler opens and closes them.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<(Instant, Duration)>>>);

struct Opened(Instant);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Attempts {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() == "cycle"
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Opened(at)) = span.extensions().get::<Opened>()
        {
            self.0
                .lock()
                .expect("not poisoned")
                .push((*at, at.elapsed()));
        }
    }
}

impl Attempts {
    fn take(&self) -> Vec<(Instant, Duration)> {
        std::mem::take(&mut *self.0.lock().expect("not poisoned"))
    }
}

fn node(i: usize) -> Node {
    serde_json::from_value(json!({"metadata": {"name": format!("node-{i}"),
        "labels": {"topology.kubernetes.io/zone": format!("zone-{}", i % 3),
            "kubernetes.io/hostname": format!("node-{i}")}},
        "status": {"allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"}}}))
    .expect("valid node")
}

fn pod(i: usize) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": format!("pod-{i}"), "namespace": "default"},
        "spec": {"schedulerName": "wasm-scheduler", "containers": [{"name": "c", "image": "pause",
            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}}),
    )
    .expect("valid pod")
}

/// [`pod`], owned by one of [`REPLICA_SETS`] ReplicaSets and labelled for it.
fn owned_pod(i: usize) -> Pod {
    let set = i % REPLICA_SETS;
    let mut p = pod(i);
    p.metadata.labels = Some([("app".to_string(), format!("web-{set}"))].into());
    p.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": format!("web-{set}"), "uid": format!("uid-rs-{set}"), "controller": true}))
        .expect("valid owner reference"),
    ]);
    p
}

/// Creates `n` objects over HTTP, 16 requests in flight.
async fn create_all<K, F>(api: Api<K>, n: usize, make: F) -> anyhow::Result<()>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    K: Send + Sync + 'static,
    F: Fn(usize) -> K,
{
    let mut inflight = JoinSet::new();
    for i in 0..n {
        if inflight.len() >= 16 {
            inflight.join_next().await.expect("one in flight")??;
        }
        let (api, object) = (api.clone(), make(i));
        inflight.spawn(async move { api.create(&PostParams::default(), &object).await });
    }
    while let Some(r) = inflight.join_next().await {
        r??;
    }
    Ok(())
}

struct Row {
    shape: Shape,
    workers: usize,
    pods_per_sec: f64,
    attempts: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Time in each plugin (all its calls, every extension point), largest first.
    plugins: Vec<PluginTime>,
    /// The sum of all attempt lengths.
    attempt_time: Duration,
}

/// The extension points whose time the table breaks out, in call order.
const POINTS: [&str; 5] = ["Sync", "PreFilter", "Filter", "Score", "NormalizeScore"];

/// One plugin's time: in all, and per extension point (in [`POINTS`] order).
struct PluginTime {
    plugin: String,
    total: Duration,
    points: [Duration; POINTS.len()],
}

/// Time spent per plugin, from the sums of
/// `scheduler_plugin_execution_duration_seconds` in the text exposition.
fn plugin_time(exposition: &str) -> Vec<PluginTime> {
    let mut per_plugin: std::collections::BTreeMap<String, [f64; POINTS.len()]> =
        Default::default();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("scheduler_plugin_execution_duration_seconds_sum{")
        else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").expect("a sample line");
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(name)?.strip_prefix("=\"")?.strip_suffix('"'))
        };
        let plugin = label("plugin").expect("a plugin label");
        let point = label("extension_point").expect("an extension_point label");
        let Some(i) = POINTS.iter().position(|p| *p == point) else {
            continue;
        };
        per_plugin.entry(plugin.to_string()).or_default()[i] +=
            value.parse::<f64>().expect("a number");
    }
    let mut list: Vec<PluginTime> = per_plugin
        .into_iter()
        .map(|(plugin, secs)| PluginTime {
            plugin,
            total: Duration::from_secs_f64(secs.iter().sum()),
            points: secs.map(Duration::from_secs_f64),
        })
        .collect();
    list.sort_by_key(|t| std::cmp::Reverse(t.total));
    list
}

async fn run(shape: Shape, workers: usize, attempts: &Attempts) -> anyhow::Result<Row> {
    let Shape {
        nodes,
        pods,
        busy,
        owned,
    } = shape;
    let server = ApiServer::start("127.0.0.1:0").await?;
    let client = Client::try_from(Config::new(server.url().parse()?))?;
    create_all(Api::<Node>::all(client.clone()), nodes, node).await?;
    // All pods wait before the scheduler starts: the figure is the
    // scheduler's pace, not the pace at which this harness creates pods.
    let make = if owned { owned_pod } else { pod };
    create_all(
        Api::<Pod>::namespaced(client.clone(), "default"),
        pods,
        make,
    )
    .await?;
    attempts.take();
    let mut profile = Profile::builtin("wasm-scheduler", runtime())?;
    if busy > 0 {
        profile.plugins.push(load(
            "busy-plugin",
            PluginSpec::new("Busy").with_config(json!({ "rounds": busy })),
        ));
    }
    let options = Options {
        parallelism: workers,
        ..Options::default()
    };
    let metrics = options.metrics.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler::run(client, options, vec![profile], stopped));
    let deadline = Instant::now() + Duration::from_secs(600);
    while (server.store().bind_counts().0 as usize) < pods {
        anyhow::ensure!(Instant::now() < deadline, "not all pods bound in 600 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let done = Instant::now();
    stop.send(true)?;
    task.await??;
    let binds = server.store().bind_counts();
    server.shutdown().await;
    anyhow::ensure!(binds == (pods as u64, 0), "every pod bound once");
    let mut seen = attempts.take();
    let first = seen.iter().map(|(at, _)| *at).min().expect("attempts ran");
    let mut lengths: Vec<Duration> = seen.drain(..).map(|(_, d)| d).collect();
    lengths.sort();
    let at = |q: f64| lengths[((lengths.len() - 1) as f64 * q).round() as usize];
    let attempt_time = lengths.iter().sum();
    Ok(Row {
        shape,
        workers,
        pods_per_sec: pods as f64 / (done - first).as_secs_f64(),
        attempts: lengths.len(),
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
        plugins: plugin_time(&metrics.encode()),
        attempt_time,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let attempts = Attempts::default();
    // RUST_LOG shows the scheduler's own logs on stderr as well.
    let logs = std::env::var("RUST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(attempts.clone())
            .with(logs),
    )?;
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    println!(
        "{:<18} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "shape", "workers", "pods/s", "attempts", "p50 ms", "p99 ms", "max ms"
    );
    let mut rows = Vec::new();
    for shape in SHAPES {
        if !wanted.is_empty() && !wanted.contains(&shape.name()) {
            continue;
        }
        for workers in PARALLELISM {
            let r = run(shape, workers, &attempts).await?;
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "{:<18} {:>7} {:>8.0} {:>8} {:>9.3} {:>9.3} {:>9.3}",
                r.shape.name(),
                r.workers,
                r.pods_per_sec,
                r.attempts,
                ms(r.p50),
                ms(r.p99),
                ms(r.max)
            );
            rows.push(r);
        }
    }
    // Where the attempt time goes: each plugin's calls (mirror sync,
    // begin-cycle, filter, score, normalize) as a share of all attempts.
    for r in &rows {
        println!(
            "\n{} workers {}: {:.0} ms in {} attempts",
            r.shape.name(),
            r.workers,
            r.attempt_time.as_secs_f64() * 1e3,
            r.attempts
        );
        println!(
            "  {:<32} {:>6} {:>7} {:>10} | per attempt, µs: {:>5} {:>9} {:>6} {:>6} {:>9}",
            "plugin",
            "ms",
            "share",
            "µs/attempt",
            POINTS[0],
            POINTS[1],
            POINTS[2],
            POINTS[3],
            "Normalize"
        );
        let per_attempt = |d: Duration| d.as_secs_f64() * 1e6 / r.attempts as f64;
        for t in &r.plugins {
            println!(
                "  {:<32} {:>6.0} {:>6.1}% {:>10.1} |                  {:>5.1} {:>9.1} {:>6.1} {:>6.1} {:>9.1}",
                t.plugin,
                t.total.as_secs_f64() * 1e3,
                100.0 * t.total.as_secs_f64() / r.attempt_time.as_secs_f64(),
                per_attempt(t.total),
                per_attempt(t.points[0]),
                per_attempt(t.points[1]),
                per_attempt(t.points[2]),
                per_attempt(t.points[3]),
                per_attempt(t.points[4]),
            );
        }
    }
    Ok(())
}
