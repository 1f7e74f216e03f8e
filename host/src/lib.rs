//! wasm-scheduler: a Kubernetes scheduler whose placement logic runs as sandboxed
//! WebAssembly components.
//!
//! The library holds every stage; `main.rs` only parses flags and starts them.

pub mod builtin;
pub mod cycle;
pub mod playground;
pub mod runtime;
