//! The loader pipeline for one plugin set: parse the manifest → find each
//! module → verify its sha256 pin → compile (cached by digest) →
//! instantiate and `init` for every worker of every profile → full sync →
//! self-check. Any failure rejects the whole set, naming the plugin and step.
//! It runs on a blocking thread, never on the scheduling thread.

use super::manifest::{MANIFEST_FILE, Manifest};
use super::{Origin, RawSet};
use crate::config::ConfigError;
use crate::runtime::wit::{Delta, NodeId, Pod};
use crate::runtime::{LoadError, LoadedPlugin, PluginError, PluginRuntime};
use crate::workers::{WorkerThreads, Workers, WorkersError};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A manifest `module` with this prefix names a built-in plugin
/// (`builtin:NodeResourcesFit`) instead of a file of the set.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// The step of the pipeline at which a set was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Assembling the set from its source.
    Read,
    /// Parsing and checking the manifest.
    Manifest,
    /// Finding a module the manifest names.
    Module,
    /// Comparing a module with its sha256 pin.
    Pin,
    /// Compiling and checking the component against the WIT world.
    Compile,
    /// Instantiating and calling `init`.
    Init,
    /// The full sync of the cluster into each instance.
    Sync,
    /// The sample filter and score calls.
    SelfCheck,
}

impl Step {
    /// The step's name, as in Events and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Read => "read",
            Step::Manifest => "manifest",
            Step::Module => "module",
            Step::Pin => "pin",
            Step::Compile => "compile",
            Step::Init => "init",
            Step::Sync => "sync",
            Step::SelfCheck => "self-check",
        }
    }
}

/// Why a set was rejected. Every variant names the plugin where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The source holds no usable set (e.g. two ConfigMaps with one key).
    #[error("{0}")]
    Read(String),
    /// The manifest is missing, not YAML, or has an unknown or bad field.
    #[error("manifest {MANIFEST_FILE} refused")]
    Manifest(#[source] ConfigError),
    /// The manifest names a module the set does not hold.
    #[error("plugin {plugin}: module {module:?} is not in the set")]
    MissingModule {
        /// The plugin.
        plugin: String,
        /// The file it names.
        module: String,
    },
    /// The module's digest differs from its pin.
    #[error("plugin {plugin}: module sha256 is {actual}, the manifest pins {expected}")]
    PinMismatch {
        /// The plugin.
        plugin: String,
        /// The pin.
        expected: String,
        /// The module's digest.
        actual: String,
    },
    /// A plugin names a profile the scheduler does not have.
    #[error("plugin {plugin}: no profile is called {profile:?} (profiles: {known})")]
    UnknownProfile {
        /// The plugin.
        plugin: String,
        /// The profile it names.
        profile: String,
        /// The scheduler's profiles.
        known: String,
    },
    /// A profile would have no plugin at all.
    #[error("profile {0} gets no plugin from this set")]
    EmptyProfile(String),
    /// Not wasm, a core module, not compilable, or another world.
    #[error(transparent)]
    Compile(Box<LoadError>),
    /// Instantiation or `init` failed (the error names the plugin).
    #[error(transparent)]
    Init(Box<PluginError>),
    /// The full sync of the cluster failed.
    #[error("plugin {plugin}: full sync failed")]
    Sync {
        /// The plugin.
        plugin: String,
        /// Why.
        #[source]
        source: PluginError,
    },
    /// A sample filter or score call failed.
    #[error("plugin {plugin}: self-check failed")]
    SelfCheck {
        /// The plugin.
        plugin: String,
        /// Why.
        #[source]
        source: PluginError,
    },
}

impl SetError {
    /// The step it failed at.
    pub fn step(&self) -> Step {
        match self {
            SetError::Read(_) => Step::Read,
            SetError::Manifest(_) => Step::Manifest,
            SetError::MissingModule { .. } | SetError::UnknownProfile { .. } => Step::Module,
            SetError::EmptyProfile(_) => Step::Manifest,
            SetError::PinMismatch { .. } => Step::Pin,
            SetError::Compile(_) => Step::Compile,
            SetError::Init(_) => Step::Init,
            SetError::Sync { .. } => Step::Sync,
            SetError::SelfCheck { .. } => Step::SelfCheck,
        }
    }
}

/// One plugin of an active set, as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActivePlugin {
    /// Its name in the manifest.
    pub name: String,
    /// The version it reported at `init`.
    pub version: String,
    /// SHA-256 of its module.
    pub sha256: String,
    /// The profiles that use it.
    pub profiles: Vec<String>,
}

/// A set that passed every step, with its instances synced and checked,
/// waiting to be swapped in.
pub struct PreparedSet {
    /// Where it came from.
    pub origin: Origin,
    /// [`RawSet::digest`].
    pub digest: String,
    /// Its plugins.
    pub plugins: Vec<ActivePlugin>,
    /// Per profile (in the scheduler's order), the workers' instances.
    pub workers: Vec<Workers>,
}

/// What the loader needs from the scheduler.
pub struct LoadContext<'a> {
    /// Compiles (with the digest cache) and links.
    pub runtime: &'a PluginRuntime,
    /// The scheduler's profiles, by `schedulerName`, in order.
    pub profiles: &'a [String],
    /// The worker threads the instances will run on.
    pub threads: &'a WorkerThreads,
    /// The cluster, for the full sync.
    pub full_sync: &'a [Delta],
    /// Nodes for the self-check calls (a few are enough).
    pub sample_nodes: &'a [NodeId],
    /// The pod for the self-check calls.
    pub sample_pod: &'a Arc<Pod>,
}

/// Runs the whole pipeline for `raw`.
pub fn prepare(raw: &RawSet, cx: &LoadContext<'_>) -> Result<PreparedSet, SetError> {
    let manifest = Manifest::parse(&raw.manifest, &format!("{} {MANIFEST_FILE}", raw.origin))
        .map_err(SetError::Manifest)?;
    let mut per_profile: Vec<Vec<Arc<LoadedPlugin>>> = vec![Vec::new(); cx.profiles.len()];
    let mut plugins = Vec::new();
    for p in &manifest.plugins {
        let module = p
            .module
            .as_ref()
            .map(|m| m.display().to_string())
            .unwrap_or_default();
        // `builtin:<Name>` names a plugin compiled into the scheduler, so a
        // set can reweigh or reconfigure the defaults without shipping wasm.
        let builtin = module
            .strip_prefix(BUILTIN_PREFIX)
            .and_then(crate::builtin::find)
            .map(|b| b.wasm);
        let bytes: &[u8] = match builtin {
            Some(wasm) => wasm,
            None => raw
                .modules
                .get(&module)
                .ok_or_else(|| SetError::MissingModule {
                    plugin: p.name.clone(),
                    module: module.clone(),
                })?,
        };
        let actual = hex::encode(Sha256::digest(bytes));
        if let Some(pin) = &p.sha256
            && !pin.eq_ignore_ascii_case(&actual)
        {
            return Err(SetError::PinMismatch {
                plugin: p.name.clone(),
                expected: pin.clone(),
                actual,
            });
        }
        let targets: Vec<usize> = match &p.profiles {
            None => (0..cx.profiles.len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    cx.profiles.iter().position(|k| k == n).ok_or_else(|| {
                        SetError::UnknownProfile {
                            plugin: p.name.clone(),
                            profile: n.clone(),
                            known: cx.profiles.join(", "),
                        }
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        // Checked with the manifest, so `spec` cannot fail here.
        let spec = p.spec().map_err(|(field, message)| {
            SetError::Manifest(ConfigError::Invalid {
                path: raw.origin.to_string(),
                field: field.to_string(),
                message,
            })
        })?;
        let loaded = cx
            .runtime
            .load(spec, bytes)
            .map_err(|e| SetError::Compile(Box::new(e)))?;
        for &t in &targets {
            per_profile[t].push(loaded.clone());
        }
        plugins.push((loaded, targets));
    }
    if let Some(i) = per_profile.iter().position(Vec::is_empty) {
        return Err(SetError::EmptyProfile(cx.profiles[i].clone()));
    }
    let full_sync = || cx.full_sync.to_vec();
    let mut workers = Vec::new();
    for list in &per_profile {
        let mut w = Workers::new(list, cx.threads.clone()).map_err(|e| match e {
            WorkersError::Instantiate { source, .. } => match *source {
                LoadError::Init { source, .. } => SetError::Init(Box::new(source)),
                other => SetError::Compile(Box::new(other)),
            },
            other => SetError::Read(crate::events::chain(&other)),
        })?;
        w.apply_checked(cx.full_sync, &full_sync)
            .map_err(|source| SetError::Sync {
                plugin: source.plugin().to_string(),
                source,
            })?;
        self_check(&mut w, cx)?;
        workers.push(w);
    }
    let versions: Vec<(String, String)> = workers
        .iter_mut()
        .flat_map(|w| {
            w.first()
                .iter()
                .map(|s| (s.plugin().name().to_string(), s.version().to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(PreparedSet {
        origin: raw.origin.clone(),
        digest: raw.digest(),
        plugins: plugins
            .into_iter()
            .map(|(l, targets)| ActivePlugin {
                name: l.name().to_string(),
                version: versions
                    .iter()
                    .find(|(n, _)| n == l.name())
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                sha256: l.digest().to_string(),
                profiles: targets.iter().map(|&t| cx.profiles[t].clone()).collect(),
            })
            .collect(),
        workers,
    })
}

/// Every plugin answers a cycle on the sample: begin, filter, score,
/// normalize. A plugin that traps or times out here would fail real pods.
fn self_check(workers: &mut Workers, cx: &LoadContext<'_>) -> Result<(), SetError> {
    let full_sync = || cx.full_sync.to_vec();
    for slot in workers.first() {
        let plugin = slot.plugin().name().to_string();
        let fail = |source| SetError::SelfCheck {
            plugin: plugin.clone(),
            source,
        };
        slot.begin_cycle(cx.sample_pod.clone(), &full_sync)
            .map_err(fail)?;
        let points = slot.extension_points();
        use crate::runtime::wit::ExtensionPoints as E;
        if points.contains(E::FILTER) {
            slot.filter(cx.sample_nodes, &full_sync).map_err(fail)?;
        }
        if points.contains(E::SCORE) {
            let raw = slot.score(cx.sample_nodes, &full_sync).map_err(fail)?;
            if points.contains(E::NORMALIZE_SCORE) {
                slot.normalize_score(cx.sample_nodes, &raw, &full_sync)
                    .map_err(fail)?;
            }
        }
    }
    Ok(())
}
