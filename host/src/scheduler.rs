//! The scheduler: watches nodes and pods, queues the pending pods of our
//! profiles' `schedulerName`s, schedules them one at a time with their
//! profile's plugins (the nodes split across worker threads), and
//! binds them asynchronously through `pods/binding`.

use crate::cluster::ClusterState;
use crate::config::SchedulerConfig;
use crate::cycle::{Cycle, Outcome};
use crate::events::{self, Involved, Reporter, chain};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::model;
use crate::plugin_set::loader::{self, LoadContext, PreparedSet, SetError};
use crate::plugin_set::source::{configmap, dir};
use crate::plugin_set::status::{ActiveSet, SetStatus};
use crate::plugin_set::{Origin, SetUpdate};
use crate::profile::Profile;
use crate::queue::SchedulingQueue;
use crate::runtime::PluginRuntime;
use crate::workers::{WorkerThreads, Workers, WorkersError};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;

/// How the scheduler runs, besides its profiles.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads; each holds its own instance of every plugin.
    pub parallelism: usize,
    /// Backoff after a pod's first failed attempt; it doubles each time.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// Where the scheduler counts what it does (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// Where the scheduler reports readiness and liveness (`/readyz`, `/healthz`).
    pub health: Health,
    /// This replica's name in Events (`reportingInstance`) and on the Lease.
    pub identity: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            initial_backoff: crate::queue::INITIAL_BACKOFF,
            max_backoff: crate::queue::MAX_BACKOFF,
            metrics: Arc::default(),
            health: Health::default(),
            identity: crate::leader::identity(),
        }
    }
}

impl Options {
    /// The options a configuration file sets (its profiles are loaded apart).
    pub fn from_config(config: &SchedulerConfig) -> Self {
        Options {
            parallelism: config
                .parallelism
                .unwrap_or_else(|| Options::default().parallelism),
            initial_backoff: Duration::from_secs(config.pod_initial_backoff_seconds),
            max_backoff: Duration::from_secs(config.pod_max_backoff_seconds),
            ..Options::default()
        }
    }
}

/// Where plugin sets come from while the scheduler runs.
#[derive(Debug, Clone)]
pub enum SetSource {
    /// ConfigMaps in `namespace` labelled `wasm-scheduler.io/plugin-set=<set>`.
    ConfigMaps {
        /// Their namespace.
        namespace: String,
        /// The label's value.
        set: String,
    },
    /// A directory (a mounted ConfigMap, or edited by hand).
    Directory(std::path::PathBuf),
}

/// Hot swap: a source of plugin sets, the runtime that compiles them (its
/// digest cache means an unchanged module is never recompiled), and the
/// status the scheduler keeps of them.
pub struct SetFeed {
    /// Where sets come from.
    pub source: SetSource,
    /// The runtime the sets' modules are compiled in.
    pub runtime: Arc<PluginRuntime>,
    /// Written by the scheduler: the active set, loads and rejections.
    pub status: SetStatus,
}

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The worker threads or a profile's plugin instances could not start.
    #[error("cannot start the workers of profile {profile}")]
    Workers {
        /// The profile's schedulerName.
        profile: String,
        /// Why.
        #[source]
        source: WorkersError,
    },
    /// There is no profile to schedule with.
    #[error("no scheduling profile given")]
    NoProfiles,
}

struct State {
    cluster: ClusterState,
    queue: SchedulingQueue,
    /// The latest object of every queued pod.
    pending: HashMap<String, Pod>,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
    /// How many watchers have delivered their first complete list; pods are
    /// scheduled only once all have, as upstream waits for its informers.
    synced_watchers: AtomicUsize,
    client: Client,
    /// The `schedulerName`s of the profiles: the pods that are ours.
    names: HashSet<String>,
    metrics: Arc<Metrics>,
    health: Health,
    identity: String,
    /// A loaded set waiting to be swapped in, and who waits for the swap.
    swap: Mutex<Option<(PreparedSet, oneshot::Sender<Swapped>)>>,
    /// Caps the API writes (bindings, events, status patches) in flight, as
    /// upstream's client rate limit does: without it a burst of thousands of
    /// assumed pods opens thousands of connections at once and the API
    /// server (or the client's connection pool) starts refusing them.
    writes: Semaphore,
}

/// What the loop hands back after a swap: how long it paused, and the
/// instances it replaced, for the loader to drop.
type Swapped = (Duration, Vec<Workers>);

/// How many API writes may be in flight at once.
pub const MAX_WRITES_IN_FLIGHT: usize = 32;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Who signs an Event: the profile (`component`) and this replica.
    fn reporter<'a>(&'a self, component: &'a str) -> Reporter<'a> {
        Reporter {
            client: &self.client,
            component,
            instance: &self.identity,
        }
    }
}

/// A profile at work: its cycle state and its workers' plugin instances.
struct Running {
    name: String,
    cycle: Cycle,
    workers: Workers,
    /// Whether the workers' mirrors have had their first full sync.
    synced: bool,
}

/// What an attempt leaves for the async side to do.
enum Next {
    Bind { node: String },
    Report { message: String, retry: bool },
}

/// Runs until `stop` turns true, then finishes in-flight binds and returns.
pub async fn run(
    client: Client,
    options: Options,
    profiles: Vec<Profile>,
    stop: watch::Receiver<bool>,
) -> Result<(), SchedulerError> {
    run_with_sets(client, options, profiles, None, stop).await
}

/// As [`run`], and swaps in each plugin set `feed` delivers. Until the first
/// set loads, the profiles' own plugins schedule.
pub async fn run_with_sets(
    client: Client,
    options: Options,
    profiles: Vec<Profile>,
    feed: Option<SetFeed>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), SchedulerError> {
    if profiles.is_empty() {
        return Err(SchedulerError::NoProfiles);
    }
    let threads =
        WorkerThreads::new(options.parallelism).map_err(|source| SchedulerError::Workers {
            profile: profiles[0].scheduler_name.clone(),
            source,
        })?;
    let mut running = Vec::new();
    for (i, p) in profiles.iter().enumerate() {
        running.push(Running {
            name: p.scheduler_name.clone(),
            cycle: Cycle::new(p.percentage_of_nodes_to_score, 0x5eed_5eed + i as u64),
            workers: Workers::new(&p.plugins, threads.clone()).map_err(|source| {
                SchedulerError::Workers {
                    profile: p.scheduler_name.clone(),
                    source,
                }
            })?,
            synced: false,
        });
    }
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            cluster: ClusterState::new(crate::model::NodeView::all()),
            queue: SchedulingQueue::with_backoff(options.initial_backoff, options.max_backoff),
            pending: HashMap::new(),
        }),
        wake: Notify::new(),
        synced_watchers: AtomicUsize::new(0),
        client,
        names: profiles.iter().map(|p| p.scheduler_name.clone()).collect(),
        writes: Semaphore::new(MAX_WRITES_IN_FLIGHT),
        metrics: options.metrics.clone(),
        health: options.health.clone(),
        identity: options.identity.clone(),
        swap: Mutex::new(None),
    });
    shared.health.set_ready(false);
    let mut watchers = JoinSet::new();
    watchers.spawn(watch_nodes(shared.clone(), stop.clone()));
    watchers.spawn(watch_pods(shared.clone(), stop.clone()));
    let watcher_count = watchers.len();
    if let Some(feed) = feed {
        let (tx, rx) = mpsc::channel(4);
        match feed.source.clone() {
            SetSource::ConfigMaps { namespace, set } => watchers.spawn(configmap::watch(
                shared.client.clone(),
                namespace,
                set,
                tx,
                stop.clone(),
            )),
            SetSource::Directory(dir) => watchers.spawn(dir::watch(dir, tx, stop.clone())),
        };
        watchers.spawn(load_sets(
            shared.clone(),
            feed,
            rx,
            threads.clone(),
            running.iter().map(|r| r.name.clone()).collect(),
            stop.clone(),
        ));
    }
    let mut writes: JoinSet<()> = JoinSet::new();

    while !*stop.borrow() {
        shared.health.beat();
        while writes.try_join_next().is_some() {}
        swap_in(&shared, &mut running);
        if shared.synced_watchers.load(Ordering::Acquire) < watcher_count {
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        shared.health.set_ready(true);
        let (next, deadline) = {
            let mut st = shared.lock();
            let now = Instant::now();
            let next = st.queue.pop(now).map(|(uid, attempts)| {
                let pod = st.pending.get(&uid).cloned();
                (uid, attempts, pod)
            });
            record_pending(&shared.metrics, &st.queue);
            (next, st.queue.tick(now))
        };
        let Some((uid, attempts, Some(pod))) = next else {
            // At most a second, so that liveness sees the loop turn.
            let wait = deadline.map_or(Duration::from_secs(1), |d| {
                d.saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1))
            });
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            continue;
        };
        let scheduler_name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.clone())
            .unwrap_or_default();
        let Some(profile) = running.iter().position(|r| r.name == scheduler_name) else {
            // Not ours after all (the name is immutable, so this is a stale entry).
            shared.lock().queue.done(&uid);
            continue;
        };
        let key = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
        let span = tracing::info_span!("cycle", pod = %key, profile = %scheduler_name);
        let started = Instant::now();
        let next = span.in_scope(|| attempt(&shared, &mut running, profile, &pod));
        let result = match &next {
            Next::Bind { .. } => "scheduled",
            Next::Report { retry: false, .. } => "unschedulable",
            Next::Report { retry: true, .. } => "error",
        };
        shared
            .metrics
            .attempt(&scheduler_name, result, started.elapsed());
        record_cycle(&shared.metrics, &mut running[profile]);
        let component = scheduler_name;
        match next {
            Next::Bind { node } => {
                writes.spawn(bind(shared.clone(), component, pod, uid, node, attempts));
            }
            Next::Report { message, retry } => {
                {
                    let mut st = shared.lock();
                    if retry {
                        st.queue.retry(&uid, Instant::now());
                    } else {
                        st.queue.unschedulable(&uid, Instant::now());
                    }
                }
                writes.spawn(report_failure(shared.clone(), component, pod, message));
            }
        }
        // Attempts are synchronous: give the watchers and the binds on this
        // thread their turn between two pods.
        tokio::task::yield_now().await;
    }
    shared.health.set_ready(false);
    // Stop taking pods; finish what was started.
    while writes.join_next().await.is_some() {}
    watchers.shutdown().await;
    Ok(())
}

/// `scheduler_pending_pods` by queue, from the queue's counts.
fn record_pending(metrics: &Metrics, queue: &SchedulingQueue) {
    use crate::metrics::QueueLabels;
    use crate::queue::Stage;
    let counts = queue.pending();
    for (stage, label) in [
        (Stage::Active, "active"),
        (Stage::Backoff, "backoff"),
        (Stage::Unschedulable, "unschedulable"),
        (Stage::Gated, "gated"),
    ] {
        let n = counts.get(&stage).copied().unwrap_or(0);
        metrics
            .pending_pods
            .get_or_create(&QueueLabels { queue: label })
            .set(n as i64);
    }
}

/// The extension points and plugin calls of the attempt just made.
fn record_cycle(metrics: &Metrics, r: &mut Running) {
    for (point, status, took) in r.cycle.take_phases() {
        metrics.extension_point(&r.name, point, status, took);
    }
    for (plugin, call) in r.workers.take_calls() {
        metrics.call(&plugin, &call);
    }
}

/// Swaps in a loaded set if one waits: brings its instances up to date with
/// the changes since its full sync, then replaces every profile's workers.
/// This runs between two attempts, so a cycle in flight always finishes on
/// the set it started with.
fn swap_in(shared: &Shared, running: &mut [Running]) {
    let Some((prepared, done)) = shared.swap.lock().unwrap_or_else(|e| e.into_inner()).take()
    else {
        return;
    };
    let started = Instant::now();
    let journal = {
        let mut st = shared.lock();
        // The new plugins may admit what the old ones refused: unschedulable
        // pods get another try, as after a cluster event.
        st.queue.cluster_changed(started);
        st.cluster.end_journal()
    };
    let full_sync = || shared.lock().cluster.full_sync();
    let mut retired = Vec::with_capacity(running.len());
    for (r, mut workers) in running.iter_mut().zip(prepared.workers) {
        workers.apply(&journal, &full_sync);
        retired.push(std::mem::replace(&mut r.workers, workers));
        r.synced = true;
    }
    // The old instances are dropped by the loader, not in this pause.
    let _ = done.send((started.elapsed(), retired));
}

/// The loader: takes each set a source sends, prepares it on a blocking
/// thread, hands it to the loop, and reports the outcome.
async fn load_sets(
    shared: Arc<Shared>,
    feed: SetFeed,
    mut sets: mpsc::Receiver<SetUpdate>,
    threads: WorkerThreads,
    profiles: Vec<String>,
    mut stop: watch::Receiver<bool>,
) {
    let component = profiles[0].clone();
    let sample_pod = Arc::new(sample_pod());
    loop {
        let update = tokio::select! {
            u = sets.recv() => u,
            _ = stop.changed() => return,
        };
        let raw = match update {
            None => return,
            Some(Ok(raw)) => raw,
            Some(Err((origin, e))) => {
                reject(&shared, &feed.status, &component, &origin, &e).await;
                continue;
            }
        };
        let digest = raw.digest();
        if feed.status.active_digest().as_deref() == Some(digest.as_str()) {
            continue;
        }
        let (full_sync, sample_nodes) = {
            let mut st = shared.lock();
            let full = st.cluster.begin_journal();
            let mut nodes = st.cluster.node_ids();
            nodes.truncate(SELF_CHECK_NODES);
            (full, nodes)
        };
        let origin = raw.origin.clone();
        let (runtime, names, pool, pod) = (
            feed.runtime.clone(),
            profiles.clone(),
            threads.clone(),
            sample_pod.clone(),
        );
        let started = Instant::now();
        let prepared = tokio::task::spawn_blocking(move || {
            loader::prepare(
                &raw,
                &LoadContext {
                    runtime: &runtime,
                    profiles: &names,
                    threads: &pool,
                    full_sync: &full_sync,
                    sample_nodes: &sample_nodes,
                    sample_pod: &pod,
                },
            )
        })
        .await
        .unwrap_or_else(|e| Err(SetError::Read(format!("the loader panicked: {e}"))));
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                shared.lock().cluster.abort_journal();
                reject(&shared, &feed.status, &component, &origin, &e).await;
                continue;
            }
        };
        let plugins = prepared.plugins.clone();
        let (done, swapped) = oneshot::channel();
        *shared.swap.lock().unwrap_or_else(|e| e.into_inner()) = Some((prepared, done));
        shared.wake.notify_one();
        let (stall, retired) = tokio::select! {
            s = swapped => s.unwrap_or_default(),
            _ = stop.changed() => return,
        };
        let summary: Vec<String> = plugins
            .iter()
            .map(|p| format!("{} {} sha256:{}", p.name, p.version, &p.sha256[..12]))
            .collect();
        let message = format!(
            "plugin set {} from {origin} loaded in {} ms: {}",
            &digest[..12],
            started.elapsed().as_millis(),
            summary.join(", ")
        );
        tracing::info!(stall_us = stall.as_micros() as u64, "{message}");
        shared.metrics.set_loads.inc();
        shared.metrics.set_active(&digest, &origin.to_string());
        feed.status.loaded(ActiveSet {
            digest,
            origin: origin.to_string(),
            plugins,
            swap_stall_micros: stall.as_micros() as u64,
        });
        if let Some(about) = involved(&origin) {
            events::record(
                &shared.reporter(&component),
                &about,
                "Normal",
                "PluginSetLoaded",
                &message,
            )
            .await;
        }
        // Freeing the old instances' memories takes milliseconds on a large
        // cluster: off the async threads, after the set is reported.
        let _ = tokio::task::spawn_blocking(move || drop(retired)).await;
    }
}

/// How many nodes the self-check calls filter and score.
const SELF_CHECK_NODES: usize = 16;

/// The pod a new set's self-check schedules: one small container.
fn sample_pod() -> crate::runtime::wit::Pod {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "self-check", "namespace": "default", "uid": "self-check"},
        "spec": {"containers": [{"name": "c", "image": "pause",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}))
    .expect("a valid pod");
    model::pod(&pod).expect("a valid pod record")
}

/// The ConfigMap an Event about a set from `origin` goes to.
fn involved(origin: &Origin) -> Option<Involved> {
    match origin {
        Origin::ConfigMaps {
            namespace,
            manifest: Some(m),
            ..
        } => Some(Involved::config_map(namespace, &m.name, m.uid.clone())),
        _ => None,
    }
}

async fn reject(
    shared: &Shared,
    status: &SetStatus,
    component: &str,
    origin: &Origin,
    e: &SetError,
) {
    let message = format!(
        "plugin set from {origin} rejected at {}: {}",
        e.step().as_str(),
        chain(e)
    );
    tracing::warn!(
        step = e.step().as_str(),
        "{message}; the last good set keeps running"
    );
    status.rejected(message.clone());
    shared
        .metrics
        .set_rejections
        .get_or_create(&crate::metrics::StepLabels {
            step: e.step().as_str(),
        })
        .inc();
    if let Some(about) = involved(origin) {
        events::record(
            &shared.reporter(component),
            &about,
            "Warning",
            "PluginSetRejected",
            &message,
        )
        .await;
    }
}

/// One scheduling attempt, the part upstream times as
/// `scheduling_attempt_duration`: bring the plugins' mirrors up to date, run
/// the cycle, and assume the pod on the chosen node.
fn attempt(shared: &Shared, running: &mut [Running], profile: usize, pod: &Pod) -> Next {
    let full_sync = || shared.lock().cluster.full_sync();
    // Every profile's mirrors take the same deltas; the node list comes from
    // the same snapshot, so a node the plugins were not told about is never offered.
    let (deltas, nodes, needs_full) = {
        let mut st = shared.lock();
        let deltas = st.cluster.take_deltas();
        let needs_full = running.iter().any(|r| !r.synced);
        let full = needs_full.then(|| st.cluster.full_sync());
        (deltas, st.cluster.node_ids(), full)
    };
    for r in running.iter_mut() {
        match (&needs_full, r.synced) {
            (Some(full), false) => r.workers.apply(full, &full_sync),
            _ => r.workers.apply(&deltas, &full_sync),
        }
        r.synced = true;
    }
    let record = match model::pod(pod) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            return Next::Report {
                message: e.to_string(),
                retry: false,
            };
        }
    };
    let r = &mut running[profile];
    match r
        .cycle
        .schedule_one(&mut r.workers, record.clone(), &nodes, &full_sync)
    {
        Outcome::Scheduled { node, score } => {
            let mut st = shared.lock();
            let name = st.cluster.node_name(node).unwrap_or_default().to_string();
            st.cluster.assume(&record, &name);
            tracing::debug!(node = %name, score, "assumed");
            Next::Bind { node: name }
        }
        Outcome::Unschedulable(fit) => Next::Report {
            message: fit.to_string(),
            retry: false,
        },
        Outcome::PluginFailed(e) => Next::Report {
            message: e.to_string(),
            retry: true,
        },
    }
}

/// Binds an assumed pod; on failure forgets the assumption. A 409 (bound by
/// someone else) or 404 (deleted) drops the pod: it is never retried onto another node.
async fn bind(
    shared: Arc<Shared>,
    component: String,
    pod: Pod,
    uid: String,
    node: String,
    attempts: u32,
) {
    let _permit = shared.writes.acquire().await;
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &ns);
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": ns},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
    let result = api
        .create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &PostParams::default(),
            &binding,
        )
        .await;
    match result {
        Ok(_) => {
            shared.lock().queue.done(&uid);
            shared
                .metrics
                .pod_scheduling_attempts
                .observe(f64::from(attempts));
            let message = format!("Successfully assigned {ns}/{name} to {node}");
            tracing::info!(pod = %format!("{ns}/{name}"), %node, "{message}");
            events::record(
                &shared.reporter(&component),
                &Involved::pod(&pod),
                "Normal",
                "Scheduled",
                &message,
            )
            .await;
        }
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {
            tracing::info!(pod = %format!("{ns}/{name}"), code = s.code, "binding refused; dropping the pod: {}", s.message);
            let mut st = shared.lock();
            st.cluster.forget(&uid);
            st.queue.done(&uid);
        }
        Err(e) => {
            tracing::warn!(pod = %format!("{ns}/{name}"), error = %chain(&e), "binding failed; retrying with backoff");
            {
                let mut st = shared.lock();
                st.cluster.forget(&uid);
                st.queue.retry(&uid, Instant::now());
            }
            shared.wake.notify_one();
        }
    }
}

/// `FailedScheduling`: the Event and the `PodScheduled=False` condition.
async fn report_failure(shared: Arc<Shared>, component: String, pod: Pod, message: String) {
    let _permit = shared.writes.acquire().await;
    let key = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
    tracing::info!(pod = %key, "FailedScheduling: {message}");
    let api: Api<Pod> =
        Api::namespaced(shared.client.clone(), &pod.namespace().unwrap_or_default());
    let condition = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable", "message": message}]}});
    if let Err(e) = api
        .patch_status(
            &pod.name_any(),
            &PatchParams::default(),
            &Patch::Strategic(condition),
        )
        .await
    {
        tracing::warn!(pod = %key, error = %chain(&e), "cannot set the PodScheduled condition");
    }
    events::record(
        &shared.reporter(&component),
        &Involved::pod(&pod),
        "Warning",
        "FailedScheduling",
        &message,
    )
    .await;
}

/// Applies watch events to the state; after a relist, forgets what is gone.
async fn follow<K, F, D>(
    shared: Arc<Shared>,
    api: Api<K>,
    mut stop: watch::Receiver<bool>,
    key: fn(&K) -> String,
    mut apply: F,
    mut delete: D,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    F: FnMut(&mut State, &K, Instant) + Send,
    D: FnMut(&mut State, &str, Instant) + Send,
    K::DynamicType: Default,
{
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: HashSet<String> = HashSet::new();
    let mut relist: Option<HashSet<String>> = None;
    let mut listed = false;
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return,
            e = stream.next() => e,
        };
        let Some(event) = event else { return };
        let now = Instant::now();
        match event {
            Ok(WatchEvent::Apply(o)) | Ok(WatchEvent::InitApply(o)) => {
                let k = key(&o);
                if let Some(seen) = &mut relist {
                    seen.insert(k.clone());
                }
                known.insert(k);
                apply(&mut shared.lock(), &o, now);
            }
            Ok(WatchEvent::Delete(o)) => {
                let k = key(&o);
                known.remove(&k);
                delete(&mut shared.lock(), &k, now);
            }
            Ok(WatchEvent::Init) => relist = Some(HashSet::new()),
            Ok(WatchEvent::InitDone) => {
                if !listed {
                    listed = true;
                    shared.synced_watchers.fetch_add(1, Ordering::Release);
                }
                if let Some(seen) = relist.take() {
                    let gone: Vec<String> = known.difference(&seen).cloned().collect();
                    let mut st = shared.lock();
                    for k in gone {
                        known.remove(&k);
                        delete(&mut st, &k, now);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %chain(&e), "watch failed; retrying with backoff"),
        }
        shared.wake.notify_one();
    }
}

async fn watch_nodes(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let api: Api<Node> = Api::all(shared.client.clone());
    follow(
        shared.clone(),
        api,
        stop,
        |n: &Node| n.name_any(),
        |st, n: &Node, now| {
            if let Err(e) = st.cluster.upsert_node(n) {
                tracing::warn!(node = %n.name_any(), error = %e, "node ignored");
            }
            st.queue.cluster_changed(now);
        },
        |st, name, _now| st.cluster.remove_node(name),
    )
    .await;
}

async fn watch_pods(shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let shared_names = shared.names.clone();
    follow(
        shared.clone(),
        api,
        stop,
        |p: &Pod| p.uid().unwrap_or_default(),
        move |st, p: &Pod, now| {
            let uid = p.uid().unwrap_or_default();
            let spec = p.spec.as_ref();
            let bound = spec
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| !n.is_empty());
            let finished = matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
            if let Err(e) = st.cluster.upsert_pod(p) {
                tracing::warn!(pod = %p.name_any(), error = %e, "pod not counted");
            }
            if bound || finished || p.metadata.deletion_timestamp.is_some() {
                st.pending.remove(&uid);
                st.queue.remove(&uid);
            } else if spec
                .and_then(|s| s.scheduler_name.as_deref())
                .is_some_and(|n| shared_names.contains(n))
            {
                let priority = spec.and_then(|s| s.priority).unwrap_or(0);
                let gated = spec
                    .and_then(|s| s.scheduling_gates.as_ref())
                    .is_some_and(|g| !g.is_empty());
                // Status-only changes (our own PodScheduled condition among
                // them) are not a reason to try again, as upstream.
                let changed = st.pending.get(&uid).is_none_or(|old| {
                    old.spec != p.spec
                        || old.metadata.labels != p.metadata.labels
                        || old.metadata.annotations != p.metadata.annotations
                });
                st.pending.insert(uid.clone(), p.clone());
                if changed {
                    st.queue.upsert(&uid, priority, gated, now);
                }
            }
        },
        |st, uid, now| {
            st.cluster.remove_pod(uid);
            st.pending.remove(uid);
            st.queue.remove(uid);
            st.queue.cluster_changed(now);
        },
    )
    .await;
}
