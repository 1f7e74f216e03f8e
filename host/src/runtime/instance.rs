//! A loaded plugin and its instances: every call under a deadline and a memory
//! cap, with failures turned into typed [`PluginError`]s.

use super::bindings::wit::{
    self, Code, Delta, FilterResult, NodeId, PluginInfo, Pod, SchedulerPlugin, SchedulerPluginPre,
};
use super::engine::EPOCH_TICK;
use super::error::{LoadError, PluginError};
use super::limits::Limits;
use super::spec::PluginSpec;
use super::stdio::LogStream;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// What a plugin's store holds: an empty WASI context, its limits, its name.
pub struct HostState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// The `types` interface has no functions; wasmtime still wants its (empty) Host trait.
impl super::bindings::wasm_scheduler::plugin::types::Host for HostState {}

impl super::bindings::wasm_scheduler::plugin::host::Host for HostState {
    fn log(&mut self, level: wit::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            wit::Level::Trace => tracing::trace!(plugin, "{message}"),
            wit::Level::Debug => tracing::debug!(plugin, "{message}"),
            wit::Level::Info => tracing::info!(plugin, "{message}"),
            wit::Level::Warn => tracing::warn!(plugin, "{message}"),
            wit::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// A compiled, pre-linked plugin: instances are made from it cheaply.
pub struct LoadedPlugin {
    spec: PluginSpec,
    name: Arc<str>,
    digest: String,
    pre: SchedulerPluginPre<HostState>,
}

impl LoadedPlugin {
    pub(crate) fn new(
        spec: PluginSpec,
        digest: String,
        pre: SchedulerPluginPre<HostState>,
    ) -> Self {
        LoadedPlugin {
            name: spec.name.as_str().into(),
            spec,
            digest,
            pre,
        }
    }

    /// The host's settings for this plugin.
    pub fn spec(&self) -> &PluginSpec {
        &self.spec
    }

    /// The plugin's name from its spec.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the module bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// A fresh instance with `init` called on the spec's config; a failure
    /// rejects the plugin (and the set it belongs to).
    pub fn instantiate(self: &Arc<Self>) -> Result<PluginInstance, LoadError> {
        self.start().map_err(|source| LoadError::Init {
            plugin: self.spec.name.clone(),
            source,
        })
    }

    /// Instantiates and runs `init`: the shared step of loading and of
    /// rebuilding an instance after a failure.
    pub(crate) fn start(self: &Arc<Self>) -> Result<PluginInstance, PluginError> {
        let wasi = WasiCtxBuilder::new()
            .stdout(LogStream::new(self.name.clone(), "stdout"))
            .stderr(LogStream::new(self.name.clone(), "stderr"))
            .build();
        let mut store = Store::new(
            self.pre.engine(),
            HostState {
                plugin: self.name.clone(),
                wasi,
                table: ResourceTable::new(),
                limits: Limits::new(self.spec.memory_limit),
            },
        );
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(ticks(self.spec.sync_timeout));
        let bindings =
            self.pre
                .instantiate(&mut store)
                .map_err(|source| PluginError::Instantiate {
                    plugin: self.spec.name.clone(),
                    source,
                })?;
        let mut instance = PluginInstance {
            plugin: self.clone(),
            store,
            bindings,
            info: None,
        };
        let config = self.spec.config.to_string();
        let info = instance.call("init", self.spec.sync_timeout, |b, s| {
            b.wasm_scheduler_plugin_plugin().call_init(s, &config)
        })?;
        instance.info = Some(info);
        Ok(instance)
    }
}

fn ticks(d: Duration) -> u64 {
    // +1: the first tick may come at once, so N ticks guarantee only N-1 periods.
    (d.as_micros() / EPOCH_TICK.as_micros()) as u64 + 1
}

/// One live instance of a plugin, owned by one worker.
pub struct PluginInstance {
    plugin: Arc<LoadedPlugin>,
    store: Store<HostState>,
    bindings: SchedulerPlugin,
    info: Option<PluginInfo>,
}

impl PluginInstance {
    /// What the plugin said about itself at `init`.
    pub fn info(&self) -> &PluginInfo {
        self.info
            .as_ref()
            .expect("instances are returned only after init")
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Runs one export under `deadline`, turning traps and refusals into typed errors.
    fn call<R>(
        &mut self,
        call: &'static str,
        deadline: Duration,
        f: impl FnOnce(&SchedulerPlugin, &mut Store<HostState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PluginError> {
        let plugin = || self.plugin.spec.name.clone();
        self.store.set_epoch_deadline(ticks(deadline));
        let outcome = f(&self.bindings, &mut self.store);
        match outcome {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(message)) => Err(PluginError::Returned {
                plugin: plugin(),
                call,
                message,
            }),
            Err(err) => {
                if let Some(requested) = self.store.data_mut().limits.breach.take() {
                    Err(PluginError::MemoryLimit {
                        plugin: plugin(),
                        call,
                        requested,
                        limit: self.plugin.spec.memory_limit,
                    })
                } else if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    Err(PluginError::Timeout {
                        plugin: plugin(),
                        call,
                        deadline,
                    })
                } else {
                    Err(PluginError::Trap {
                        plugin: plugin(),
                        call,
                        message: format!("{err:?}"),
                    })
                }
            }
        }
    }

    fn check_count<T>(
        &self,
        call: &'static str,
        expected: usize,
        got: Vec<T>,
    ) -> Result<Vec<T>, PluginError> {
        if got.len() == expected {
            Ok(got)
        } else {
            Err(PluginError::WrongResultCount {
                plugin: self.plugin.spec.name.clone(),
                call,
                expected,
                got: got.len(),
            })
        }
    }

    /// Applies cluster deltas to the plugin's copy of the cluster.
    pub fn apply(&mut self, deltas: &[Delta]) -> Result<(), PluginError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let deadline = self.plugin.spec.sync_timeout;
        self.call("apply", deadline, |b, s| {
            b.wasm_scheduler_plugin_plugin().call_apply(s, deltas)
        })
    }

    /// Starts a cycle: later filter/score/normalize calls are about `pod`.
    pub fn begin_cycle(&mut self, pod: &Pod) -> Result<(), PluginError> {
        let deadline = self.plugin.spec.timeout;
        self.call("begin-cycle", deadline, |b, s| {
            b.wasm_scheduler_plugin_plugin().call_begin_cycle(s, pod)
        })
    }

    /// The nodes that do not pass, by index into `nodes`, ascending; every
    /// node not listed passes. A result that names a node twice, out of
    /// order or out of range, lists a success, or points past its reason
    /// table is a contract error.
    pub fn filter(&mut self, nodes: &[NodeId]) -> Result<FilterResult, PluginError> {
        let deadline = self.plugin.spec.timeout;
        let out = self.call("filter", deadline, |b, s| {
            b.wasm_scheduler_plugin_plugin().call_filter(s, nodes)
        })?;
        let mut next = 0usize;
        for r in &out.rejections {
            let index = r.index as usize;
            let detail = if index >= nodes.len() {
                format!("rejected node index {index} of {} nodes", nodes.len())
            } else if index < next {
                format!("rejected node index {index} out of order or twice")
            } else if r.code == Code::Success {
                format!("listed node index {index} as a rejection with code success")
            } else if let Some(bad) = r
                .reasons
                .iter()
                .find(|&&id| id as usize >= out.reasons.len())
            {
                format!(
                    "node index {index} names reason {bad} of {}",
                    out.reasons.len()
                )
            } else {
                next = index + 1;
                continue;
            };
            return Err(PluginError::InvalidResult {
                plugin: self.plugin.spec.name.clone(),
                call: "filter",
                detail,
            });
        }
        Ok(out)
    }

    /// One raw score per node.
    pub fn score(&mut self, nodes: &[NodeId]) -> Result<Vec<i64>, PluginError> {
        let deadline = self.plugin.spec.timeout;
        let out = self.call("score", deadline, |b, s| {
            b.wasm_scheduler_plugin_plugin().call_score(s, nodes)
        })?;
        self.check_count("score", nodes.len(), out)
    }

    /// Normalized scores, one per input.
    pub fn normalize_score(
        &mut self,
        nodes: &[NodeId],
        scores: &[i64],
    ) -> Result<Vec<i64>, PluginError> {
        let deadline = self.plugin.spec.timeout;
        let out = self.call("normalize-score", deadline, |b, s| {
            b.wasm_scheduler_plugin_plugin()
                .call_normalize_score(s, nodes, scores)
        })?;
        self.check_count("normalize-score", nodes.len(), out)
    }
}
