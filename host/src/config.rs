//! The scheduler's configuration file, in the spirit of upstream's
//! `KubeSchedulerConfiguration`: profiles by `schedulerName`, each with its
//! plugins, weights and failure policies; the search width; parallelism;
//! backoff. Unknown fields are errors, so a typo never passes silently.

use crate::runtime::{FailurePolicy, PluginSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `apiVersion` this build reads.
pub const API_VERSION: &str = "wasm-scheduler.io/v1alpha1";
/// The `kind` of the document.
pub const KIND: &str = "SchedulerConfiguration";

/// Why a configuration was refused. Every variant names the file, and
/// `Invalid` the field at fault (`profiles[0].plugins[1].weight`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read scheduler configuration {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML, or a field is unknown or of the wrong type.
    #[error("{path} is not a valid scheduler configuration")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with the line and column.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A field holds a value the scheduler cannot use.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The field, as a path into the document.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The whole file. Every field but `apiVersion` and `kind` is optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// Worker threads, each with its own instance of every plugin; the nodes
    /// of one cycle are split across them. Default: the number of CPUs.
    #[serde(default)]
    pub parallelism: Option<usize>,
    /// Upstream's `percentageOfNodesToScore` (1–100; 0 or unset: adaptive).
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Backoff after the first failed attempt; doubles each time. Default 1.
    #[serde(default = "default_initial_backoff")]
    pub pod_initial_backoff_seconds: u64,
    /// The longest backoff. Default 10.
    #[serde(default = "default_max_backoff")]
    pub pod_max_backoff_seconds: u64,
    /// The profiles; default: one, `wasm-scheduler`, with the built-in plugins.
    #[serde(default = "default_profiles")]
    pub profiles: Vec<ProfileConfig>,
}

/// One profile: the pods whose `spec.schedulerName` is `schedulerName` are
/// scheduled with its plugins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileConfig {
    /// The `spec.schedulerName` this profile serves.
    pub scheduler_name: String,
    /// Overrides the top-level `percentageOfNodesToScore` for this profile.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<u32>,
    /// The plugins, in filter order (a node is reported under the first
    /// filter it fails). Unset: the built-in default set.
    #[serde(default)]
    pub plugins: Option<Vec<PluginConfig>>,
}

/// One plugin of a profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// The name in logs, events and metrics. Without `module`, the name of a
    /// built-in plugin (`NodeUnschedulable`, `NodeName`, `TaintToleration`,
    /// `NodeAffinity`, `NodePorts`, `NodeResourcesFit`).
    pub name: String,
    /// A `.wasm` component file; relative paths are read from the
    /// configuration file's directory.
    #[serde(default)]
    pub module: Option<PathBuf>,
    /// Score weight, 1–100. Default 1, or the built-in plugin's default weight.
    #[serde(default)]
    pub weight: Option<i64>,
    /// `Fail` (default): a failing plugin makes the attempt fail and the pod
    /// is retried with backoff. `Ignore`: its verdicts are skipped.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Deadline of one filter or score call: `50ms` (default), `1s`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Cap on the plugin's linear memory, as a quantity: `64Mi` (default).
    #[serde(default)]
    pub memory_limit: Option<String>,
    /// Handed to the plugin's `init` as JSON.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// Pins the module: its SHA-256, 64 hex digits. A module with another
    /// digest is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Only in a `plugins.yaml` manifest: the profiles (`schedulerName`s)
    /// that use this plugin. Unset: every profile.
    #[serde(default)]
    pub profiles: Option<Vec<String>>,
}

fn default_initial_backoff() -> u64 {
    1
}

fn default_max_backoff() -> u64 {
    10
}

fn default_profiles() -> Vec<ProfileConfig> {
    vec![ProfileConfig {
        scheduler_name: "wasm-scheduler".to_string(),
        percentage_of_nodes_to_score: None,
        plugins: None,
    }]
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            api_version: API_VERSION.to_string(),
            kind: KIND.to_string(),
            parallelism: None,
            percentage_of_nodes_to_score: None,
            pod_initial_backoff_seconds: default_initial_backoff(),
            pod_max_backoff_seconds: default_max_backoff(),
            profiles: default_profiles(),
        }
    }
}

impl SchedulerConfig {
    /// Reads and checks a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and checks a configuration; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: SchedulerConfig =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
                path: origin.to_string(),
                source: Box::new(e),
            })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field: String, message: String| ConfigError::Invalid {
            path: origin.to_string(),
            field,
            message,
        };
        check_header(&self.api_version, &self.kind, KIND)
            .map_err(|(field, message)| invalid(field.into(), message))?;
        if let Some(p) = self.parallelism
            && !(1..=256).contains(&p)
        {
            return Err(invalid("parallelism".into(), format!("{p} is not 1–256")));
        }
        check_percentage(self.percentage_of_nodes_to_score)
            .map_err(|m| invalid("percentageOfNodesToScore".into(), m))?;
        if self.pod_initial_backoff_seconds == 0 {
            return Err(invalid(
                "podInitialBackoffSeconds".into(),
                "must be at least 1".into(),
            ));
        }
        if self.pod_max_backoff_seconds < self.pod_initial_backoff_seconds {
            return Err(invalid(
                "podMaxBackoffSeconds".into(),
                format!(
                    "{} is less than podInitialBackoffSeconds ({})",
                    self.pod_max_backoff_seconds, self.pod_initial_backoff_seconds
                ),
            ));
        }
        if self.profiles.is_empty() {
            return Err(invalid("profiles".into(), "at least one is needed".into()));
        }
        for (i, profile) in self.profiles.iter().enumerate() {
            let at = format!("profiles[{i}]");
            if profile.scheduler_name.is_empty() {
                return Err(invalid(format!("{at}.schedulerName"), "is empty".into()));
            }
            if self.profiles[..i]
                .iter()
                .any(|p| p.scheduler_name == profile.scheduler_name)
            {
                return Err(invalid(
                    format!("{at}.schedulerName"),
                    format!("{:?} is used by an earlier profile", profile.scheduler_name),
                ));
            }
            check_percentage(profile.percentage_of_nodes_to_score)
                .map_err(|m| invalid(format!("{at}.percentageOfNodesToScore"), m))?;
            let Some(plugins) = &profile.plugins else {
                continue;
            };
            if plugins.is_empty() {
                return Err(invalid(
                    format!("{at}.plugins"),
                    "is empty; leave it out for the built-in plugins".into(),
                ));
            }
            check_plugins(plugins, &format!("{at}.plugins"), Where::ConfigFile)
                .map_err(|(field, message)| invalid(field, message))?;
        }
        Ok(())
    }

    /// The `percentageOfNodesToScore` of a profile (its own, else the top-level one).
    pub fn percentage_for(&self, profile: &ProfileConfig) -> Option<u32> {
        profile
            .percentage_of_nodes_to_score
            .or(self.percentage_of_nodes_to_score)
            .filter(|&p| p > 0)
    }
}

/// `apiVersion` must be [`API_VERSION`] and `kind` must be `kind`; on error
/// the field and why.
pub(crate) fn check_header(
    api_version: &str,
    kind: &str,
    expected_kind: &str,
) -> Result<(), (&'static str, String)> {
    if api_version != API_VERSION {
        return Err((
            "apiVersion",
            format!("{api_version:?} is not {API_VERSION:?}"),
        ));
    }
    if kind != expected_kind {
        return Err(("kind", format!("{kind:?} is not {expected_kind:?}")));
    }
    Ok(())
}

/// Where a plugin list is written: the rules differ a little.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Where {
    /// A profile of the configuration file: built-ins need no module, and
    /// the profile is implied.
    ConfigFile,
    /// A `plugins.yaml` manifest: every plugin ships its module, and may name its profiles.
    Manifest,
}

/// Checks a plugin list; on error the field (under `at`) and why.
pub(crate) fn check_plugins(
    plugins: &[PluginConfig],
    at: &str,
    place: Where,
) -> Result<(), (String, String)> {
    for (j, plugin) in plugins.iter().enumerate() {
        let at = format!("{at}[{j}]");
        if plugin.name.is_empty() {
            return Err((format!("{at}.name"), "is empty".into()));
        }
        if plugins[..j].iter().any(|p| p.name == plugin.name) {
            return Err((
                format!("{at}.name"),
                format!("{:?} appears twice", plugin.name),
            ));
        }
        match (place, &plugin.module) {
            (Where::Manifest, None) => {
                return Err((format!("{at}.module"), "is required".into()));
            }
            (Where::ConfigFile, None) if crate::builtin::find(&plugin.name).is_none() => {
                return Err((
                    format!("{at}.module"),
                    format!(
                        "is required: {:?} is not a built-in plugin (built in: {})",
                        plugin.name,
                        crate::builtin::names().join(", ")
                    ),
                ));
            }
            _ => {}
        }
        if place == Where::ConfigFile && plugin.profiles.is_some() {
            return Err((
                format!("{at}.profiles"),
                "belongs in a plugins.yaml manifest; here the enclosing profile applies".into(),
            ));
        }
        if let Some(pin) = &plugin.sha256
            && !(pin.len() == 64 && pin.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err((
                format!("{at}.sha256"),
                format!("{pin:?} is not 64 hex digits"),
            ));
        }
        plugin
            .spec()
            .map_err(|(field, m)| (format!("{at}.{field}"), m))?;
    }
    Ok(())
}

/// The first YAML block after `heading` in the README: the examples there
/// are checked by tests, so the documentation cannot drift from the parser.
#[cfg(test)]
pub(crate) fn readme_yaml(heading: &str) -> &'static str {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find(heading).expect("README section")..];
    let start = section.find("```yaml\n").expect("yaml block") + "```yaml\n".len();
    &section[start..start + section[start..].find("```").expect("block end")]
}

fn check_percentage(p: Option<u32>) -> Result<(), String> {
    match p {
        Some(p) if p > 100 => Err(format!("{p} is not 0–100")),
        _ => Ok(()),
    }
}

impl PluginConfig {
    /// The host's settings for this plugin; on error the field and why.
    pub fn spec(&self) -> Result<PluginSpec, (&'static str, String)> {
        let default_weight = crate::builtin::find(&self.name)
            .filter(|_| self.module.is_none())
            .map_or(1, |b| b.weight);
        let weight = self.weight.unwrap_or(default_weight);
        if !(1..=100).contains(&weight) {
            return Err(("weight", format!("{weight} is not 1–100")));
        }
        let mut spec = PluginSpec::new(&self.name).with_weight(weight);
        spec.failure_policy = self.failure_policy;
        if let Some(t) = &self.timeout {
            spec = spec.with_timeout(parse_duration(t).map_err(|m| ("timeout", m))?);
        }
        if let Some(m) = &self.memory_limit {
            let bytes = crate::quantity::value(m).ok().filter(|&b| b > 0).ok_or((
                "memoryLimit",
                format!("{m:?} is not a positive quantity like 64Mi"),
            ))?;
            spec = spec.with_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
        if let Some(config) = &self.config {
            spec = spec.with_config(config.clone());
        }
        Ok(spec)
    }
}

/// `250ms`, `2s`, `1m`: a positive whole number and a unit.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 50ms, 2s or 1m");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
apiVersion: wasm-scheduler.io/v1alpha1
kind: SchedulerConfiguration
parallelism: 2
percentageOfNodesToScore: 30
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 20
profiles:
- schedulerName: wasm-scheduler
- schedulerName: packing
  percentageOfNodesToScore: 100
  plugins:
  - name: TaintToleration
  - name: NodeResourcesFit
    weight: 2
    failurePolicy: Ignore
    timeout: 20ms
    memoryLimit: 32Mi
    config:
      scoringStrategy:
        type: MostAllocated
  - name: Gate
    module: gate.wasm
"#;

    /// The error and its causes, as `main` prints them.
    fn error(yaml: &str) -> String {
        let e = SchedulerConfig::from_yaml(yaml, "sched.yaml").expect_err("refused");
        crate::events::chain(&e)
    }

    #[test]
    fn reads_every_field() {
        let c = SchedulerConfig::from_yaml(FULL, "sched.yaml").unwrap();
        assert_eq!(c.parallelism, Some(2));
        assert_eq!(c.percentage_for(&c.profiles[0]), Some(30));
        assert_eq!(c.percentage_for(&c.profiles[1]), Some(100));
        assert_eq!(
            (c.pod_initial_backoff_seconds, c.pod_max_backoff_seconds),
            (2, 20)
        );
        assert_eq!(c.profiles[0].plugins, None);
        let plugins = c.profiles[1].plugins.as_ref().unwrap();
        // A built-in keeps its default weight unless the file sets one.
        assert_eq!(plugins[0].spec().unwrap().weight, 3);
        let fit = plugins[1].spec().unwrap();
        assert_eq!(fit.weight, 2);
        assert_eq!(fit.failure_policy, FailurePolicy::Ignore);
        assert_eq!(fit.timeout, Duration::from_millis(20));
        assert_eq!(fit.memory_limit, 32 << 20);
        assert_eq!(
            fit.config,
            serde_json::json!({"scoringStrategy": {"type": "MostAllocated"}})
        );
        assert_eq!(plugins[2].module.as_deref(), Some(Path::new("gate.wasm")));
        assert_eq!(plugins[2].spec().unwrap().weight, 1);
    }

    #[test]
    fn the_minimal_file_is_the_default() {
        let c = SchedulerConfig::from_yaml(
            "apiVersion: wasm-scheduler.io/v1alpha1\nkind: SchedulerConfiguration\n",
            "x",
        )
        .unwrap();
        assert_eq!(c, SchedulerConfig::default());
    }

    #[test]
    fn an_unknown_field_is_named() {
        let e = error(&FULL.replace("    weight: 2", "    wieght: 2"));
        assert!(
            e.starts_with("sched.yaml is not a valid scheduler configuration: "),
            "{e}"
        );
        assert!(e.contains("line 15 column 5"), "{e}");
        assert!(e.contains("unknown field `wieght`"), "{e}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                "    weight: 2",
                "    weight: 0",
                "profiles[1].plugins[1].weight: 0 is not 1–100",
            ),
            (
                "    timeout: 20ms",
                "    timeout: 20",
                "profiles[1].plugins[1].timeout: \"20\" is not a duration",
            ),
            (
                "    memoryLimit: 32Mi",
                "    memoryLimit: lots",
                "profiles[1].plugins[1].memoryLimit: \"lots\"",
            ),
            (
                "parallelism: 2",
                "parallelism: 0",
                "parallelism: 0 is not 1–256",
            ),
            (
                "percentageOfNodesToScore: 30",
                "percentageOfNodesToScore: 300",
                "percentageOfNodesToScore: 300 is not 0–100",
            ),
            (
                "podMaxBackoffSeconds: 20",
                "podMaxBackoffSeconds: 1",
                "podMaxBackoffSeconds: 1 is less than",
            ),
            (
                "- schedulerName: packing",
                "- schedulerName: wasm-scheduler",
                "profiles[1].schedulerName: \"wasm-scheduler\" is used",
            ),
            (
                "  - name: Gate\n    module: gate.wasm",
                "  - name: Gate",
                "profiles[1].plugins[2].module: is required: \"Gate\" is not a built-in",
            ),
            (
                "  - name: Gate",
                "  - name: TaintToleration",
                "profiles[1].plugins[2].name: \"TaintToleration\" appears twice",
            ),
            (
                "kind: SchedulerConfiguration",
                "kind: KubeSchedulerConfiguration",
                "kind: \"KubeSchedulerConfiguration\" is not",
            ),
        ];
        for (from, to, want) in cases {
            let e = error(&FULL.replace(from, to));
            assert!(e.contains(want), "{to:?}: {e}");
        }
    }

    #[test]
    fn the_readme_example_is_valid() {
        let yaml = readme_yaml("### The configuration file");
        let c = SchedulerConfig::from_yaml(yaml, "README.md").unwrap();
        assert_eq!(c.profiles.len(), 2);
        assert_eq!(c.percentage_for(&c.profiles[0]), None);
        assert_eq!(c.profiles[1].plugins.as_ref().map(Vec::len), Some(3));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("1h").is_err());
    }
}
