//! Logging to the host's `tracing`, tagged with the plugin's name by the host.

pub use crate::bindings::wasm_scheduler::plugin::host::Level;

/// Writes `message` to the host's log at `level`.
///
/// Natively (unit tests, benchmarks) the line goes to stderr instead.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::wasm_scheduler::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("[{level:?}] {message}");
        }
    }
}
