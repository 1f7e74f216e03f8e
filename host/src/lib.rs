//! wasm-scheduler: a Kubernetes scheduler whose placement logic runs as sandboxed
//! WebAssembly components.
//!
//! The library holds every stage; `main.rs` only parses flags and starts them.

pub mod builtin;
pub mod cluster;
pub mod config;
pub mod cycle;
pub mod endpoints;
pub mod events;
pub mod explain;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod model;
pub mod playground;
pub mod plugin_set;
pub mod profile;
pub mod quantity;
pub mod queue;
pub mod runtime;
pub mod scheduler;
pub mod telemetry;
pub mod workers;
