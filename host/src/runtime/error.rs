//! Typed errors of the plugin runtime, each naming the plugin at fault.

use std::time::Duration;

/// Why a plugin could not be loaded: the set that contains it is rejected.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("plugin {plugin}: module is not a WebAssembly binary (no \\0asm header)")]
    NotWasm {
        /// The plugin.
        plugin: String,
    },
    /// The bytes are a core module, not a component.
    #[error(
        "plugin {plugin}: module is a core WebAssembly module, not a component; \
         build it with `cargo build --target wasm32-wasip2 --release`"
    )]
    CoreModule {
        /// The plugin.
        plugin: String,
    },
    /// wasmtime could not compile the component.
    #[error("plugin {plugin}: invalid component")]
    Compile {
        /// The plugin.
        plugin: String,
        /// What wasmtime said.
        #[source]
        source: wasmtime::Error,
    },
    /// The component imports something the host does not give, or does not
    /// export this world's `plugin` interface at this version.
    #[error(
        "plugin {plugin}: component does not match world wasm-scheduler:plugin/scheduler-plugin@0.1.0"
    )]
    WrongWorld {
        /// The plugin.
        plugin: String,
        /// What wasmtime said.
        #[source]
        source: wasmtime::Error,
    },
    /// Instantiation or `init` failed.
    #[error("plugin {plugin}: init failed")]
    Init {
        /// The plugin.
        plugin: String,
        /// The cause.
        #[source]
        source: PluginError,
    },
}

/// Why one call into a plugin failed. Only that call fails; the instance is
/// rebuilt on next use when [`PluginError::poisons_instance`] is true.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The guest trapped (panic, unreachable, out-of-bounds access...).
    #[error("plugin {plugin}: trapped in {call}: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The exported function.
        call: &'static str,
        /// The trap and its wasm backtrace.
        message: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error("plugin {plugin}: {call} exceeded its deadline of {deadline:?}")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The exported function.
        call: &'static str,
        /// The deadline.
        deadline: Duration,
    },
    /// The guest tried to grow its memory past the cap.
    #[error(
        "plugin {plugin}: {call} tried to grow memory to {requested} bytes, over the limit of {limit}"
    )]
    MemoryLimit {
        /// The plugin.
        plugin: String,
        /// The exported function.
        call: &'static str,
        /// The size asked for.
        requested: usize,
        /// The cap.
        limit: usize,
    },
    /// The plugin returned an error value.
    #[error("plugin {plugin}: {call} returned an error: {message}")]
    Returned {
        /// The plugin.
        plugin: String,
        /// The exported function.
        call: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin broke the contract, e.g. returned the wrong number of results.
    #[error("plugin {plugin}: {call} returned {got} results for {expected} nodes")]
    WrongResultCount {
        /// The plugin.
        plugin: String,
        /// The exported function.
        call: &'static str,
        /// How many nodes were passed.
        expected: usize,
        /// How many results came back.
        got: usize,
    },
    /// The plugin broke the contract in another way, e.g. a filter rejection
    /// naming a node index it was not given.
    #[error("plugin {plugin}: {call} broke the contract: {detail}")]
    InvalidResult {
        /// The plugin.
        plugin: String,
        /// The exported function.
        call: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A fresh instance could not be created.
    #[error("plugin {plugin}: could not instantiate")]
    Instantiate {
        /// The plugin.
        plugin: String,
        /// What wasmtime said.
        #[source]
        source: wasmtime::Error,
    },
}

impl PluginError {
    /// Whether the instance's state can no longer be trusted: after a trap,
    /// timeout or memory breach the instance is thrown away and rebuilt.
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            PluginError::Trap { .. }
                | PluginError::Timeout { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::Instantiate { .. }
        )
    }

    /// The plugin at fault.
    pub fn plugin(&self) -> &str {
        match self {
            PluginError::Trap { plugin, .. }
            | PluginError::Timeout { plugin, .. }
            | PluginError::MemoryLimit { plugin, .. }
            | PluginError::Returned { plugin, .. }
            | PluginError::WrongResultCount { plugin, .. }
            | PluginError::InvalidResult { plugin, .. }
            | PluginError::Instantiate { plugin, .. } => plugin,
        }
    }

    /// A short label for metrics: `trap`, `timeout`, `memory`, `error`, `contract`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Trap { .. } | PluginError::Instantiate { .. } => "trap",
            PluginError::Timeout { .. } => "timeout",
            PluginError::MemoryLimit { .. } => "memory",
            PluginError::Returned { .. } => "error",
            PluginError::WrongResultCount { .. } | PluginError::InvalidResult { .. } => "contract",
        }
    }
}
