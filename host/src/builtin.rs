//! The plugins built into the binary: the default plugin set used when no
//! manifest is given, embedded at build time from `plugins/`.

/// Where this build put every plugin component of the workspace (the default
/// set, the examples and the fault-injection plugin). Tests and benches load
/// the examples from here; a deployed scheduler only uses [`DEFAULT_SET`].
pub const ARTIFACT_DIR: &str = env!("WASM_SCHEDULER_PLUGIN_DIR");

/// A plugin compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPlugin {
    /// The name the default profile gives it.
    pub name: &'static str,
    /// Its score weight in the default profile.
    pub weight: i64,
    /// The component bytes.
    pub wasm: &'static [u8],
}

/// A [`BuiltinPlugin`] from the build script's artifact `$file.wasm`.
macro_rules! builtin {
    ($name:literal, $weight:literal, $file:literal) => {
        BuiltinPlugin {
            name: $name,
            weight: $weight,
            wasm: include_bytes!(concat!(
                env!("WASM_SCHEDULER_PLUGIN_DIR"),
                "/",
                $file,
                ".wasm"
            )),
        }
    };
}

/// The default plugin set, with upstream's weights, in upstream's filter order
/// (a node is reported by the first filter it fails). Weights matter only for
/// the plugins that score.
pub const DEFAULT_SET: &[BuiltinPlugin] = &[
    builtin!("NodeUnschedulable", 1, "node_unschedulable"),
    builtin!("NodeName", 1, "node_name"),
    builtin!("TaintToleration", 3, "taint_toleration"),
    builtin!("NodeAffinity", 2, "node_affinity"),
    builtin!("NodePorts", 1, "node_ports"),
    builtin!("NodeResourcesFit", 1, "node_resources_fit"),
    builtin!("PodTopologySpread", 2, "pod_topology_spread"),
    builtin!("InterPodAffinity", 2, "inter_pod_affinity"),
    builtin!(
        "NodeResourcesBalancedAllocation",
        1,
        "node_resources_balanced_allocation"
    ),
    builtin!("ImageLocality", 1, "image_locality"),
];

/// The built-in plugin called `name`, if any.
pub fn find(name: &str) -> Option<&'static BuiltinPlugin> {
    DEFAULT_SET.iter().find(|b| b.name == name)
}

/// The names of the built-in plugins.
pub fn names() -> Vec<&'static str> {
    DEFAULT_SET.iter().map(|b| b.name).collect()
}

/// Loads [`DEFAULT_SET`] into `runtime`, each plugin with its default-profile weight.
pub fn load_default_set(
    runtime: &crate::runtime::PluginRuntime,
) -> Result<Vec<std::sync::Arc<crate::runtime::LoadedPlugin>>, crate::runtime::LoadError> {
    DEFAULT_SET
        .iter()
        .map(|b| {
            runtime.load(
                crate::runtime::PluginSpec::new(b.name).with_weight(b.weight),
                b.wasm,
            )
        })
        .collect()
}

/// The path of a workspace plugin's component, by crate name (`node-label-gate`).
pub fn artifact(crate_name: &str) -> std::path::PathBuf {
    std::path::Path::new(ARTIFACT_DIR).join(format!("{}.wasm", crate_name.replace('-', "_")))
}
