//! The SDK a wasm-scheduler plugin author depends on.
//!
//! A plugin is a struct that implements [`Plugin`] and one [`export_plugin!`] line.
//! The SDK owns the plugin's copy of the cluster (kept in step by the host's
//! deltas), turns the host's batched calls into one call per node, and gives the
//! matching helpers a scheduling plugin needs. Everything here is ordinary Rust:
//! plugin logic is unit-tested natively with `cargo test`; the wasm glue only
//! matters when the crate is built for `wasm32-wasip2`.
//!
//! ```
//! use wasm_scheduler_sdk::prelude::*;
//!
//! struct OnlyArm;
//! impl Plugin for OnlyArm {
//!     const NAME: &'static str = "OnlyArm";
//!     const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER;
//!     type Config = ();
//!     fn init(_: ()) -> Result<Self, String> { Ok(OnlyArm) }
//!     fn filter(&self, _pod: &Pod, node: &NodeInfo) -> Status {
//!         match node.label("kubernetes.io/arch") {
//!             Some("arm64") => Status::success(),
//!             _ => Status::unschedulable("node(s) are not arm64"),
//!         }
//!     }
//! }
//! export_plugin!(OnlyArm);
//! ```

mod cluster;
pub mod config;
pub mod fixtures;
pub mod hash;
mod log;
pub mod normalize;
mod plugin;
pub mod resources;
mod runtime;
pub mod selectors;
mod status;
pub mod taints;

/// Bindings generated from `wit/scheduler.wit`. Plugin code uses the re-exports
/// in [`types`]; the export glue is reached only through [`export_plugin!`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "scheduler-plugin",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_scheduler_plugin",
        default_bindings_module: "wasm_scheduler_sdk::bindings",
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

/// The cluster data types of the WIT contract, as plain Rust structs.
pub mod types {
    pub use crate::bindings::wasm_scheduler::plugin::types::*;
}

pub use cluster::{Cluster, NodeInfo, PodEntry, has_pod_affinity};
pub use log::{Level, log};
pub use plugin::Plugin;
pub use runtime::Runtime;
pub use status::Status;

/// Everything a plugin usually imports.
pub mod prelude {
    pub use crate::types::{
        Code, DataNeeds, ExtensionPoints, KeyValue, Node, NodeUsage, Pod, Resources, Taint,
        TaintEffect, Toleration,
    };
    pub use crate::{Cluster, NodeInfo, Plugin, Status, export_plugin};
}

/// Internals the [`export_plugin!`] macro expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::__export_scheduler_plugin;
    pub use crate::bindings::exports::wasm_scheduler::plugin::plugin::Guest;
}

/// Exports a [`Plugin`] implementation as the component's `plugin` interface.
///
/// Use it once per plugin crate, at the top level.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __WasmSchedulerExport;

        ::std::thread_local! {
            static __WASM_SCHEDULER_RUNTIME: ::std::cell::RefCell<$crate::Runtime<$plugin>> =
                ::std::cell::RefCell::new($crate::Runtime::new(env!("CARGO_PKG_VERSION")));
        }

        impl $crate::__private::Guest for __WasmSchedulerExport {
            fn init(config: String) -> Result<$crate::types::PluginInfo, String> {
                __WASM_SCHEDULER_RUNTIME.with_borrow_mut(|rt| rt.init(&config))
            }
            fn apply(deltas: Vec<$crate::types::Delta>) -> Result<(), String> {
                __WASM_SCHEDULER_RUNTIME.with_borrow_mut(|rt| rt.apply(deltas))
            }
            fn begin_cycle(pod: $crate::types::Pod) -> Result<(), String> {
                __WASM_SCHEDULER_RUNTIME.with_borrow_mut(|rt| rt.begin_cycle(pod))
            }
            fn filter(
                nodes: Vec<$crate::types::NodeId>,
            ) -> Result<$crate::types::FilterResult, String> {
                __WASM_SCHEDULER_RUNTIME.with_borrow(|rt| rt.filter(&nodes))
            }
            fn score(nodes: Vec<$crate::types::NodeId>) -> Result<Vec<i64>, String> {
                __WASM_SCHEDULER_RUNTIME.with_borrow_mut(|rt| rt.score(&nodes))
            }
            fn normalize_score(
                nodes: Vec<$crate::types::NodeId>,
                scores: Vec<i64>,
            ) -> Result<Vec<i64>, String> {
                __WASM_SCHEDULER_RUNTIME.with_borrow(|rt| rt.normalize_score(&nodes, scores))
            }
        }

        #[cfg(target_arch = "wasm32")]
        $crate::__private::__export_scheduler_plugin!(__WasmSchedulerExport);
    };
}
