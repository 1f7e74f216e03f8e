//! A scheduling profile: a `schedulerName` and the loaded plugins that
//! schedule its pods, built from the configuration file or the built-in set.

use crate::config::{ProfileConfig, SchedulerConfig};
use crate::runtime::{LoadError, LoadedPlugin, PluginRuntime};
use std::path::Path;
use std::sync::Arc;

/// Why a profile's plugins could not be loaded. Each names the profile and plugin.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The module file could not be read.
    #[error("profile {profile}: plugin {plugin}: cannot read module {path}")]
    Module {
        /// The profile's schedulerName.
        profile: String,
        /// The plugin.
        plugin: String,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A setting of the plugin is out of range.
    #[error("profile {profile}: plugin {plugin}: {field}: {message}")]
    Spec {
        /// The profile's schedulerName.
        profile: String,
        /// The plugin.
        plugin: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The module is not a plugin component, or its `init` failed.
    #[error("profile {profile}: plugin {plugin}: cannot load")]
    Load {
        /// The profile's schedulerName.
        profile: String,
        /// The plugin.
        plugin: String,
        /// Why.
        #[source]
        source: Box<LoadError>,
    },
}

/// One profile, ready to schedule.
#[derive(Clone)]
pub struct Profile {
    /// Pods with this `spec.schedulerName` are scheduled by this profile.
    pub scheduler_name: String,
    /// `percentageOfNodesToScore`; `None` is upstream's adaptive default.
    pub percentage_of_nodes_to_score: Option<u32>,
    /// The plugins, in filter order.
    pub plugins: Vec<Arc<LoadedPlugin>>,
}

impl Profile {
    /// The built-in default set under `scheduler_name`.
    pub fn builtin(scheduler_name: &str, runtime: &PluginRuntime) -> Result<Self, LoadError> {
        Ok(Profile {
            scheduler_name: scheduler_name.to_string(),
            percentage_of_nodes_to_score: None,
            plugins: crate::builtin::load_default_set(runtime)?,
        })
    }

    /// Loads every profile of `config`; module paths are relative to `base`.
    pub fn load_all(
        config: &SchedulerConfig,
        base: &Path,
        runtime: &PluginRuntime,
    ) -> Result<Vec<Profile>, ProfileError> {
        config
            .profiles
            .iter()
            .map(|p| Self::load(config, p, base, runtime))
            .collect()
    }

    fn load(
        config: &SchedulerConfig,
        profile: &ProfileConfig,
        base: &Path,
        runtime: &PluginRuntime,
    ) -> Result<Profile, ProfileError> {
        let name = &profile.scheduler_name;
        let plugins = match &profile.plugins {
            None => crate::builtin::load_default_set(runtime).map_err(|e| ProfileError::Load {
                profile: name.clone(),
                plugin: "built-in set".into(),
                source: Box::new(e),
            })?,
            Some(plugins) => plugins
                .iter()
                .map(|p| {
                    let spec = p.spec().map_err(|(field, message)| ProfileError::Spec {
                        profile: name.clone(),
                        plugin: p.name.clone(),
                        field,
                        message,
                    })?;
                    let bytes: std::borrow::Cow<'static, [u8]> = match &p.module {
                        Some(module) => {
                            let path = base.join(module);
                            std::fs::read(&path)
                                .map_err(|source| ProfileError::Module {
                                    profile: name.clone(),
                                    plugin: p.name.clone(),
                                    path: path.display().to_string(),
                                    source,
                                })?
                                .into()
                        }
                        None => crate::builtin::find(&p.name)
                            .map_or(&[][..], |b| b.wasm)
                            .into(),
                    };
                    runtime.load(spec, &bytes).map_err(|e| ProfileError::Load {
                        profile: name.clone(),
                        plugin: p.name.clone(),
                        source: Box::new(e),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        Ok(Profile {
            scheduler_name: name.clone(),
            percentage_of_nodes_to_score: config.percentage_for(profile),
            plugins,
        })
    }
}
