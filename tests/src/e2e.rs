//! The end-to-end harness: the in-memory API server, a kube client of it,
//! and the scheduler running against it over HTTP; with fixture builders for
//! the Kubernetes objects the tests create.

use crate::runtime;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Config};
use serde_json::json;
use std::time::Duration;
use wasm_scheduler::profile::Profile;
use wasm_scheduler::scheduler::{self, Options, SetFeed};
use wasm_scheduler_apiserver::ApiServer;

/// A node with `cpu` cores, 32 GiB and room for 110 pods.
pub fn node(name: &str, cpu: &str) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name},
        "status": {"allocatable": {"cpu": cpu, "memory": "32Gi", "pods": "110"}}}))
    .unwrap()
}

/// A pod for `scheduler` with one container requesting `cpu` and 1 GiB.
pub fn pod(name: &str, scheduler: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"schedulerName": scheduler, "containers": [{"name": "c", "image": "pause",
            "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}]}}))
    .unwrap()
}

/// Scheduler and API server logs on stderr (shown with `--nocapture`).
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("wasm_scheduler=debug,wasm_scheduler_apiserver=info")
        .with_writer(std::io::stderr)
        .try_init();
}

/// An API server and a scheduler with the built-in plugins running against it.
pub struct Harness {
    /// The in-memory API server.
    pub server: ApiServer,
    /// A client of it.
    pub client: Client,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), scheduler::SchedulerError>>,
}

impl Harness {
    /// Starts the server, creates `nodes`, then starts the scheduler with
    /// the built-in profile.
    pub async fn start(nodes: &[Node]) -> anyhow::Result<Self> {
        let profile = Profile::builtin("wasm-scheduler", runtime())?;
        Self::start_with(nodes, Options::default(), vec![profile]).await
    }

    /// As [`Harness::start`], with the given options and profiles.
    pub async fn start_with(
        nodes: &[Node],
        options: Options,
        profiles: Vec<Profile>,
    ) -> anyhow::Result<Self> {
        Self::start_full(nodes, options, profiles, None, |_| async { Ok(()) }).await
    }

    /// As [`Harness::start_with`], with plugin sets from `feed`; `before`
    /// runs against the server once the nodes exist, before the scheduler starts.
    pub async fn start_full<F, Fut>(
        nodes: &[Node],
        options: Options,
        profiles: Vec<Profile>,
        feed: Option<SetFeed>,
        before: F,
    ) -> anyhow::Result<Self>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        logs();
        let server = ApiServer::start("127.0.0.1:0").await?;
        let client = Client::try_from(Config::new(server.url().parse()?))?;
        let api: Api<Node> = Api::all(client.clone());
        for n in nodes {
            api.create(&PostParams::default(), n).await?;
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        before(client.clone()).await?;
        let task = tokio::spawn(scheduler::run_with_sets(
            client.clone(),
            options,
            profiles,
            feed,
            stopped,
        ));
        Ok(Harness {
            server,
            client,
            stop,
            task,
        })
    }

    /// Stops the scheduler (it drains its binds) and the server.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.send(true)?;
        self.task.await??;
        self.server.shutdown().await;
        Ok(())
    }
}

/// Polls `f` until it returns `Some`, for at most 120 s.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..2400 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The first `FailedScheduling` Event in `namespace`, once there is one.
pub async fn failed_scheduling(client: &Client, namespace: &str) -> Event {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    eventually("a FailedScheduling event", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
    })
    .await
}

/// The node `name` is bound to, once it is.
pub async fn node_of(pods: &Api<Pod>, name: &str) -> Option<String> {
    pods.get(name).await.ok()?.spec?.node_name
}

/// `GET path` over HTTP/1.0: the status code and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let code = response
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_default();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// The scheduler's HTTP endpoints on a free local port, until the returned
/// sender sends `true`; the task returns how serving ended.
pub async fn serve_endpoints(
    endpoints: wasm_scheduler::endpoints::Endpoints,
) -> anyhow::Result<(
    std::net::SocketAddr,
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(wasm_scheduler::endpoints::serve(
        listener, endpoints, stopped,
    ));
    Ok((addr, stop, task))
}
