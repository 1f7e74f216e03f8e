//! The sandboxed plugin runtime: one wasmtime [`Engine`] with epoch interruption,
//! components compiled and pre-linked once, and per-worker instances whose every
//! call runs under a deadline and a memory cap.
//!
//! The flow is [`PluginRuntime::load`] (bytes → [`LoadedPlugin`], rejecting
//! anything that is not a component of our world) → [`LoadedPlugin::instantiate`]
//! (a [`PluginInstance`] with `init` done) → calls. A [`PluginSlot`] owns one
//! worker's instance and rebuilds it after a trap.

mod bindings;
mod engine;
mod error;
mod instance;
mod limits;
mod slot;
mod spec;
mod stdio;

pub use bindings::wit;
pub use engine::{EpochTicker, PluginRuntime, RuntimeError};
pub use error::{LoadError, PluginError};
pub use instance::{LoadedPlugin, PluginInstance};
pub use slot::{CallRecord, PluginSlot};
pub use spec::{FailurePolicy, PluginSpec};
