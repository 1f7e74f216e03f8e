//! The shared wasmtime engine, its epoch ticker, and loading plugins into it.

use super::bindings::wit::SchedulerPluginPre;
use super::error::LoadError;
use super::instance::{HostState, LoadedPlugin};
use super::spec::PluginSpec;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

/// How often the epoch advances: the granularity of plugin deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread it owns; stops
/// and joins that thread when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`. The thread holds only a weak reference, so it
    /// never keeps an engine alive.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let weak = engine.weak();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(EpochTicker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine and linker every plugin is compiled and linked with.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    /// Compiled components by SHA-256 of their bytes: an unchanged module is
    /// never compiled twice (compiling costs 60-90 ms, DESIGN.md).
    compiled: Mutex<HashMap<String, Component>>,
    _ticker: EpochTicker,
}

/// Why the runtime itself could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime rejected the engine configuration or the WASI linking.
    #[error("cannot set up the wasm engine")]
    Engine(#[source] wasmtime::Error),
    /// The epoch thread could not be spawned.
    #[error("cannot start the epoch ticker thread")]
    Ticker(#[source] std::io::Error),
}

impl PluginRuntime {
    /// An engine with the component model and epoch interruption, and a linker
    /// with the `host` interface and an empty WASI (no files, env, sockets).
    pub fn new() -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Concurrency support made every sync call ~5x slower (DESIGN.md); no call is async.
        config.concurrency_support(false);
        let engine = Engine::new(&config).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(RuntimeError::Engine)?;
        super::bindings::SchedulerPlugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(RuntimeError::Engine)?;
        let ticker = EpochTicker::start(&engine).map_err(RuntimeError::Ticker)?;
        Ok(PluginRuntime {
            engine,
            linker,
            compiled: Mutex::default(),
            _ticker: ticker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Checks, compiles and pre-links a plugin. Instances come from the result.
    pub fn load(&self, spec: PluginSpec, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        let plugin = spec.name.clone();
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(LoadError::CoreModule { plugin });
            }
            Some([0, b'a', b's', b'm', ..]) => {}
            _ => return Err(LoadError::NotWasm { plugin }),
        }
        let digest = hex::encode(Sha256::digest(bytes));
        let component = self
            .compile(&digest, bytes)
            .map_err(|source| LoadError::Compile {
                plugin: plugin.clone(),
                source,
            })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(SchedulerPluginPre::new)
            .map_err(|source| LoadError::WrongWorld {
                plugin: plugin.clone(),
                source,
            })?;
        Ok(Arc::new(LoadedPlugin::new(spec, digest, pre)))
    }

    /// The compiled component for these bytes, from the cache when it is there.
    fn compile(&self, digest: &str, bytes: &[u8]) -> wasmtime::Result<Component> {
        let cached = self.lock_cache().get(digest).cloned();
        if let Some(component) = cached {
            return Ok(component);
        }
        // Compile outside the lock: other loads need not wait for this one.
        let component = Component::new(&self.engine, bytes)?;
        self.lock_cache()
            .insert(digest.to_string(), component.clone());
        Ok(component)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Component>> {
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many distinct modules have been compiled.
    pub fn compiled_modules(&self) -> usize {
        self.lock_cache().len()
    }
}
