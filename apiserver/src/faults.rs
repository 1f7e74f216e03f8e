//! Switches a test flips to make the server misbehave like a real one can.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The fault switches of one server.
#[derive(Debug)]
pub struct Faults {
    /// Bumped to end every open watch.
    watch_generation: watch::Sender<u64>,
    failing: Mutex<Option<(Instant, u16)>>,
    latency_ms: AtomicU64,
    /// Pods (`namespace/name`) that "another scheduler" binds, to the given
    /// node, the moment a binding for them arrives.
    contested: Mutex<HashMap<String, String>>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            watch_generation: watch::channel(0).0,
            failing: Mutex::new(None),
            latency_ms: AtomicU64::new(0),
            contested: Mutex::new(HashMap::new()),
        }
    }
}

impl Faults {
    /// Ends every open watch stream at once, as an API server restart or a
    /// load balancer timeout does. Clients must re-watch (or re-list).
    pub fn drop_all_watches(&self) {
        self.watch_generation.send_modify(|g| *g += 1);
    }

    /// A receiver that changes when watches are to be dropped.
    pub(crate) fn watch_drops(&self) -> watch::Receiver<u64> {
        self.watch_generation.subscribe()
    }

    /// Answers every request with `code` (e.g. 500, 503, 410) for `duration`.
    pub fn fail_requests(&self, code: u16, duration: Duration) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now() + duration, code));
    }

    /// The code to fail a request with now, if any.
    pub(crate) fn failing(&self) -> Option<u16> {
        let mut f = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match *f {
            Some((until, code)) if Instant::now() < until => Some(code),
            _ => {
                *f = None;
                None
            }
        }
    }

    /// Delays every request by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Makes the next binding of `namespace/pod` lose a race: just before the
    /// server handles it, someone else binds the pod to `node`, so the
    /// binding gets the real 409 Conflict of an already-assigned pod.
    pub fn race_binding(&self, namespace: &str, pod: &str, node: &str) {
        self.contested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{namespace}/{pod}"), node.to_string());
    }

    /// The node a rival binds `namespace/pod` to first, once.
    pub(crate) fn rival_binding(&self, namespace: &str, pod: &str) -> Option<String> {
        self.contested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("{namespace}/{pod}"))
    }
}
