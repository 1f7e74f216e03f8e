//! What the scheduler reports about its plugin sets: the active one (names,
//! versions, digests), and how many loads and rejections there were.

use super::loader::ActivePlugin;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The set in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveSet {
    /// SHA-256 over the manifest and modules.
    pub digest: String,
    /// Where it came from.
    pub origin: String,
    /// Its plugins.
    pub plugins: Vec<ActivePlugin>,
    /// How long the scheduling loop paused to swap it in, in microseconds.
    pub swap_stall_micros: u64,
}

/// The counters and the active set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetReport {
    /// The set in use; `None` while the profiles' own plugins are.
    pub active: Option<ActiveSet>,
    /// Sets loaded and swapped in.
    pub loads: u64,
    /// Sets rejected.
    pub rejections: u64,
    /// The last rejection's reason.
    pub last_rejection: Option<String>,
}

/// A shared handle on the report: the scheduler writes, anyone reads.
#[derive(Debug, Clone, Default)]
pub struct SetStatus(Arc<Mutex<SetReport>>);

impl SetStatus {
    /// A copy of the report now.
    pub fn report(&self) -> SetReport {
        self.lock().clone()
    }

    pub(crate) fn loaded(&self, active: ActiveSet) {
        let mut r = self.lock();
        r.loads += 1;
        r.active = Some(active);
    }

    pub(crate) fn rejected(&self, reason: String) {
        let mut r = self.lock();
        r.rejections += 1;
        r.last_rejection = Some(reason);
    }

    pub(crate) fn active_digest(&self) -> Option<String> {
        self.lock().active.as_ref().map(|a| a.digest.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SetReport> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
