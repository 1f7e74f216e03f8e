//! Resource limits of one plugin instance's store, remembering a memory breach so
//! the failed call can be reported as such rather than as a bare trap.

use wasmtime::ResourceLimiter;

/// Table elements a plugin may have (function tables of Rust guests are small).
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Core instances, tables and memories per store: a wasip2 component
/// instantiates a handful of core modules (its own plus adapter shims).
const MAX_INSTANCES: usize = 32;
const MAX_TABLES: usize = 32;
const MAX_MEMORIES: usize = 4;

/// The limiter installed in every plugin store.
#[derive(Debug)]
pub(crate) struct Limits {
    memory_limit: usize,
    /// The size a refused `memory.grow` asked for, until the runtime reads it.
    pub(crate) breach: Option<usize>,
}

impl Limits {
    pub(crate) fn new(memory_limit: usize) -> Self {
        Limits {
            memory_limit,
            breach: None,
        }
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.breach = Some(desired);
            // Trapping (not returning -1 to the guest) stops a guest that would
            // otherwise retry or abort with a less telling message.
            wasmtime::bail!("memory limit of {} bytes reached", self.memory_limit);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
