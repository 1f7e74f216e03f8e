//! The worker instances of one profile: every worker holds its own instance
//! of every plugin (its own Store and cluster mirror), so the nodes of one
//! cycle can be split across threads without sharing a Store.

use crate::runtime::wit::Delta;
use crate::runtime::{LoadError, LoadedPlugin, PluginError, PluginSlot};
use rayon::prelude::*;
use std::sync::Arc;

/// Rebuilds a plugin's cluster mirror from scratch; shared by the workers.
pub type FullSync<'a> = &'a (dyn Fn() -> Vec<Delta> + Sync);

/// Why the worker threads could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    /// A plugin could not be instantiated for a worker.
    #[error("cannot instantiate plugin {plugin} for worker {worker}")]
    Instantiate {
        /// The plugin.
        plugin: String,
        /// The worker index.
        worker: usize,
        /// Why.
        #[source]
        source: Box<LoadError>,
    },
    /// The thread pool could not start.
    #[error("cannot start {0} worker threads")]
    Threads(usize, #[source] rayon::ThreadPoolBuildError),
}

/// The threads shared by every profile's workers.
#[derive(Clone)]
pub struct WorkerThreads(Option<Arc<rayon::ThreadPool>>);

impl WorkerThreads {
    /// `n` threads; with one, work runs on the caller's thread.
    pub fn new(n: usize) -> Result<Self, WorkersError> {
        if n <= 1 {
            return Ok(WorkerThreads(None));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("wasm-worker-{i}"))
            .build()
            .map(|p| WorkerThreads(Some(Arc::new(p))))
            .map_err(|e| WorkersError::Threads(n, e))
    }

    /// How many threads there are (at least one).
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// Never empty: there is always the caller's thread.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Below this many nodes per worker a split costs more than it saves: a
/// hand-off to a pool thread is a few microseconds, a node's filter ~0.1 µs
/// (see the scheduling bench, which runs 1 and 2 workers side by side).
pub const MIN_NODES_PER_WORKER: usize = 64;

/// One plugin slot per plugin per worker.
pub struct Workers {
    sets: Vec<Vec<PluginSlot>>,
    threads: WorkerThreads,
}

impl Workers {
    /// One instance of each of `plugins` for each of `threads`' workers.
    pub fn new(
        plugins: &[Arc<LoadedPlugin>],
        threads: WorkerThreads,
    ) -> Result<Self, WorkersError> {
        let sets = (0..threads.len())
            .map(|worker| {
                plugins
                    .iter()
                    .map(|p| {
                        p.instantiate().map(PluginSlot::new).map_err(|e| {
                            WorkersError::Instantiate {
                                plugin: p.name().to_string(),
                                worker,
                                source: Box::new(e),
                            }
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Workers { sets, threads })
    }

    /// The number of workers.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Never empty: there is at least one worker.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// The plugins' slots of the first worker (the one that normalizes scores).
    pub fn first(&mut self) -> &mut [PluginSlot] {
        &mut self.sets[0]
    }

    /// How many workers `nodes` nodes are worth splitting across.
    pub fn split_for(&self, nodes: usize) -> usize {
        (nodes / MIN_NODES_PER_WORKER).clamp(1, self.len())
    }

    /// Runs `f` on the first `n` workers at once; results in worker order.
    pub fn each<R: Send>(
        &mut self,
        n: usize,
        f: impl Fn(usize, &mut [PluginSlot]) -> R + Sync,
    ) -> Vec<R> {
        let n = n.clamp(1, self.sets.len());
        match &self.threads.0 {
            Some(pool) if n > 1 => pool.install(|| {
                self.sets[..n]
                    .par_iter_mut()
                    .enumerate()
                    .map(|(i, s)| f(i, s))
                    .collect()
            }),
            _ => vec![f(0, &mut self.sets[0])],
        }
    }

    /// Brings every worker's mirrors up to date; a plugin that fails is
    /// logged and resynced in full on its next use.
    pub fn apply(&mut self, deltas: &[Delta], full_sync: FullSync<'_>) {
        if deltas.is_empty() {
            return;
        }
        let all = self.len();
        self.each(all, |_, slots| {
            for slot in slots {
                if let Err(e) = slot.apply(deltas, full_sync) {
                    log_sync_failure(slot, &e);
                }
            }
        });
    }
}

fn log_sync_failure(slot: &PluginSlot, e: &PluginError) {
    tracing::warn!(plugin = slot.plugin().name(), error = %e, "plugin sync failed; it resyncs on next use");
}
