//! An in-memory Kubernetes API server: the REST protocol a scheduler and
//! `kubectl` use, over plain HTTP on loopback, held to kube-apiserver's
//! behaviour (resourceVersion, watch from a version, 410 Gone, 409 on stale
//! writes and double binds, selectors, the `status` and `binding`
//! subresources). It backs the tests and the playground.

pub mod audit;
mod error;
mod faults;
mod http;
mod patch;
pub mod resources;
pub mod selectors;
mod store;

pub use audit::{Access, AuditLog};
pub use error::ApiError;
pub use faults::Faults;
pub use store::{EventType, Part, PatchKind, Store, WatchEvent};

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How many events the log keeps for watches that resume from a version.
pub const DEFAULT_EVENT_LOG: usize = 100_000;

/// A running server. Dropping it stops the server; [`ApiServer::shutdown`]
/// also waits for it.
pub struct ApiServer {
    addr: SocketAddr,
    store: Arc<Store>,
    faults: Arc<Faults>,
    audit: Arc<audit::AuditLog>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ApiServer {
    /// Binds `addr` (use port 0 for any free port) and serves until shut down.
    pub async fn start(addr: impl ToSocketAddrs) -> std::io::Result<Self> {
        Self::start_with(addr, Arc::new(Store::new(DEFAULT_EVENT_LOG))).await
    }

    /// Serves an existing store.
    pub async fn start_with(addr: impl ToSocketAddrs, store: Arc<Store>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults::default());
        let audit = Arc::new(audit::AuditLog::default());
        let shared = Arc::new(http::Shared {
            store: store.clone(),
            faults: faults.clone(),
            audit: audit.clone(),
        });
        let app = axum::Router::new()
            .fallback(http::handle)
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "in-memory API server listening");
        Ok(ApiServer {
            addr,
            store,
            faults,
            audit,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The objects.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Who asked for what (RBAC's verbs and resources), by bearer token.
    pub fn audit(&self) -> &audit::AuditLog {
        &self.audit
    }

    /// A kubeconfig for `kubectl --kubeconfig`.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: wasm-scheduler\n  cluster:\n    server: {}\n\
             contexts:\n- name: wasm-scheduler\n  context:\n    cluster: wasm-scheduler\n    user: wasm-scheduler\n    namespace: default\n\
             current-context: wasm-scheduler\nusers:\n- name: wasm-scheduler\n  user: {{}}\n",
            self.url()
        )
    }

    /// Ends open watches, stops accepting, and waits for the server task.
    pub async fn shutdown(mut self) {
        self.faults.drop_all_watches();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
