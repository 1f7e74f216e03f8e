//! The worker instances of one profile: every worker holds its own instance
//! of every plugin (its own Store and cluster mirror), so the nodes of one
//! cycle can be split across threads without sharing a Store.

use crate::runtime::wit::{Delta, Pod};
use crate::runtime::{LoadError, LoadedPlugin, PluginError, PluginSlot};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// A worker's share of a phase must be expected to take this long before the
/// phase is split: handing work to a pool thread and joining it costs tens of
/// microseconds on a busy machine (measured with the scheduling bench, which
/// runs 1 and 2 workers side by side), while the built-in plugins take about
/// 0.1 µs per node. So cheap plugins run on one worker and expensive ones
/// (pod affinity, topology spread, the bench's `busy` plugin) are split.
pub const SPLIT_WORTH: Duration = Duration::from_micros(200);

/// The phases of a cycle whose per-node cost is tracked apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Every filter over a chunk of nodes.
    Filter,
    /// Every raw score over the feasible nodes.
    Score,
}

/// One plugin slot per plugin per worker.
pub struct Workers {
    sets: Vec<Vec<PluginSlot>>,
    /// Per worker, the deltas it has not applied yet. Worker 0 is kept up
    /// to date; the others catch up when a cycle is split onto them, so a
    /// cycle that runs on one worker pays the sync once, not once per worker.
    pending: Vec<Vec<Delta>>,
    threads: WorkerThreads,
    /// How many workers have the current cycle's pod.
    begun: usize,
    /// Smoothed cost of one node through a phase on one worker, in ns.
    cost_ns: [f64; 2],
    split_worth: Duration,
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
        Ok(Workers {
            pending: vec![Vec::new(); sets.len()],
            sets,
            threads,
            begun: 1,
            cost_ns: [0.0; 2],
            split_worth: SPLIT_WORTH,
        })
    }

    /// Splits whenever a worker's share would take `worth` (default
    /// [`SPLIT_WORTH`]); zero splits every phase across all workers.
    pub fn with_split_worth(mut self, worth: Duration) -> Self {
        self.split_worth = worth;
        self
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

    /// How many workers `nodes` nodes of `phase` are worth splitting across,
    /// judged by what the phase cost per node in earlier cycles.
    pub fn split_for(&self, phase: Phase, nodes: usize) -> usize {
        if self.split_worth.is_zero() {
            return nodes.clamp(1, self.len());
        }
        let work = nodes as f64 * self.cost_ns[phase as usize];
        ((work / self.split_worth.as_nanos() as f64) as usize).clamp(1, self.len())
    }

    /// Starts a cycle for `pod` on as many workers as `nodes` nodes may be
    /// split across; per worker, each plugin's result.
    pub fn begin_cycle(
        &mut self,
        pod: &Arc<Pod>,
        nodes: usize,
        full_sync: FullSync<'_>,
    ) -> Vec<Vec<Result<(), PluginError>>> {
        let n = self
            .split_for(Phase::Filter, nodes)
            .max(self.split_for(Phase::Score, nodes));
        self.begun = n;
        self.catch_up(n, full_sync);
        self.each(n, |_, slots| {
            slots
                .iter_mut()
                .map(|slot| slot.begin_cycle(pod.clone(), full_sync))
                .collect()
        })
    }

    /// Applies the pending deltas of the first `n` workers, side by side.
    fn catch_up(&mut self, n: usize, full_sync: FullSync<'_>) {
        let n = n.clamp(1, self.sets.len());
        if self.pending[..n].iter().all(Vec::is_empty) {
            return;
        }
        let pending: Vec<Vec<Delta>> = self.pending[..n].iter_mut().map(std::mem::take).collect();
        let pending = &pending;
        self.each(n, |w, slots| {
            if !pending[w].is_empty() {
                for slot in slots {
                    if let Err(e) = slot.apply(&pending[w], full_sync) {
                        log_sync_failure(slot, &e);
                    }
                }
            }
        });
    }

    /// Runs `f` over `items` cut into contiguous parts, one per worker the
    /// work is worth (among those that began the cycle); results in order.
    pub fn map_split<T: Sync, R: Send>(
        &mut self,
        phase: Phase,
        items: &[T],
        f: impl Fn(&mut [PluginSlot], &[T]) -> R + Sync,
    ) -> Vec<R> {
        let parts = split_even(items, self.split_for(phase, items.len()).min(self.begun));
        let started = Instant::now();
        let out = self.each(parts.len(), |w, slots| f(slots, parts[w]));
        if !items.is_empty() {
            // Per node on one worker: the parts ran side by side.
            let observed =
                started.elapsed().as_nanos() as f64 * parts.len() as f64 / items.len() as f64;
            let cost = &mut self.cost_ns[phase as usize];
            *cost = if *cost == 0.0 {
                observed
            } else {
                0.8 * *cost + 0.2 * observed
            };
        }
        out
    }

    /// Runs `f` on the first `n` workers at once; results in worker order.
    fn each<R: Send>(
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

    /// Every plugin call of every worker since the last time, by plugin.
    pub fn take_calls(&mut self) -> Vec<(String, crate::runtime::CallRecord)> {
        self.sets
            .iter_mut()
            .flatten()
            .flat_map(|slot| {
                let name = slot.plugin().name().to_string();
                slot.take_calls()
                    .into_iter()
                    .map(move |c| (name.clone(), c))
            })
            .collect()
    }

    /// Brings every worker's mirrors up to date, or returns the first
    /// failure: a set being loaded is rejected whole if any plugin fails.
    pub fn apply_checked(
        &mut self,
        deltas: &[Delta],
        full_sync: FullSync<'_>,
    ) -> Result<(), PluginError> {
        let all = self.len();
        self.catch_up(all, full_sync);
        self.each(all, |_, slots| {
            slots
                .iter_mut()
                .try_for_each(|slot| slot.apply(deltas, full_sync))
        })
        .into_iter()
        .collect()
    }

    /// Brings the first worker's mirrors up to date now and queues the
    /// deltas for the others (see `pending`); a plugin that fails is logged
    /// and resynced in full on its next use.
    pub fn apply(&mut self, deltas: &[Delta], full_sync: FullSync<'_>) {
        if deltas.is_empty() {
            return;
        }
        for slot in &mut self.sets[0] {
            if let Err(e) = slot.apply(deltas, full_sync) {
                log_sync_failure(slot, &e);
            }
        }
        for queue in self.pending.iter_mut().skip(1) {
            queue.extend_from_slice(deltas);
        }
        // A worker idle for long would hold an ever larger queue: catch up.
        if self.pending.iter().any(|q| q.len() > MAX_PENDING) {
            let all = self.len();
            self.catch_up(all, full_sync);
        }
    }
}

/// Deltas a worker may owe before it is brought up to date anyway.
const MAX_PENDING: usize = 4096;

/// `items` cut into `n` contiguous parts of near-equal size, in order.
pub fn split_even<T>(items: &[T], n: usize) -> Vec<&[T]> {
    let n = n.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(n).max(1);
    let mut parts: Vec<&[T]> = items.chunks(size).collect();
    if parts.is_empty() {
        parts.push(items);
    }
    parts
}

fn log_sync_failure(slot: &PluginSlot, e: &PluginError) {
    tracing::warn!(plugin = slot.plugin().name(), error = %e, "plugin sync failed; it resyncs on next use");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_even_keeps_order_and_balances() {
        let items: Vec<u32> = (0..10).collect();
        let parts = split_even(&items, 3);
        assert_eq!(parts, vec![&items[0..4], &items[4..8], &items[8..10]]);
        assert_eq!(split_even(&items, 1), vec![&items[..]]);
        assert_eq!(split_even(&items[..1], 4), vec![&items[..1]]);
        assert_eq!(split_even::<u32>(&[], 2).len(), 1);
    }
}
