//! Liveness and readiness, as `/healthz` and `/readyz` report them: ready
//! once every watcher has listed the cluster (the plugin set in use is
//! loaded by then), live while the scheduling loop keeps turning.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A loop that has not turned for this long is reported as not live; it
/// turns at least once a second when idle.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(30);

/// A shared handle: the scheduler writes it, the endpoints read it.
#[derive(Debug, Clone)]
pub struct Health(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    started: Instant,
    synced: AtomicBool,
    /// Milliseconds after `started` of the loop's last turn.
    beat_ms: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health(Arc::new(Inner {
            started: Instant::now(),
            synced: AtomicBool::new(false),
            beat_ms: AtomicU64::new(0),
        }))
    }
}

impl Health {
    /// Whether the caches are synced and scheduling can happen.
    pub fn is_ready(&self) -> bool {
        self.0.synced.load(Ordering::Acquire)
    }

    /// Whether the scheduling loop turned within [`LIVENESS_TIMEOUT`].
    pub fn is_live(&self) -> bool {
        let last = Duration::from_millis(self.0.beat_ms.load(Ordering::Relaxed));
        self.0.started.elapsed().saturating_sub(last) < LIVENESS_TIMEOUT
    }

    /// Sets readiness: the scheduler clears it at start and sets it once its
    /// caches sync; a standby waiting for the Lease is ready too.
    pub fn set_ready(&self, ready: bool) {
        self.0.synced.store(ready, Ordering::Release);
    }

    pub(crate) fn beat(&self) {
        let now = self.0.started.elapsed().as_millis() as u64;
        self.0.beat_ms.store(now, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_once_set_and_live_after_a_beat() {
        let h = Health::default();
        assert!(!h.is_ready());
        assert!(h.is_live(), "a fresh process is live");
        h.set_ready(true);
        h.beat();
        assert!(h.is_ready() && h.is_live());
    }
}
