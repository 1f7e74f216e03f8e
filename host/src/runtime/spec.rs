//! What the host needs to know about one plugin besides its bytes.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What happens to a pod when a plugin fails (traps, times out, errs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailurePolicy {
    /// The pod is unschedulable this cycle and retried with backoff.
    #[default]
    Fail,
    /// The plugin's verdicts are skipped for this cycle.
    Ignore,
}

/// The host's settings for one plugin: name, limits and configuration.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The name used in logs, metrics and errors (the manifest's, not the plugin's own).
    pub name: String,
    /// Score weight.
    pub weight: i64,
    /// What a failure of this plugin does to the pod.
    pub failure_policy: FailurePolicy,
    /// Deadline of one filter/score/normalize call.
    pub timeout: Duration,
    /// Deadline of `init` and of applying deltas (a full resync lowers every node).
    pub sync_timeout: Duration,
    /// Cap on the instance's linear memory, in bytes.
    pub memory_limit: usize,
    /// The plugin's config as JSON, handed to `init`.
    pub config: serde_json::Value,
}

impl PluginSpec {
    /// Default deadline of a filter/score call.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
    /// Default deadline of `init` and delta application.
    pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(2);
    /// Default linear-memory cap: 64 MiB.
    pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

    /// A spec with default weight 1, policy `Fail`, default limits and no config.
    pub fn new(name: impl Into<String>) -> Self {
        PluginSpec {
            name: name.into(),
            weight: 1,
            failure_policy: FailurePolicy::Fail,
            timeout: Self::DEFAULT_TIMEOUT,
            sync_timeout: Self::DEFAULT_SYNC_TIMEOUT,
            memory_limit: Self::DEFAULT_MEMORY_LIMIT,
            config: serde_json::Value::Null,
        }
    }

    /// Sets the config handed to `init`.
    pub fn with_config(mut self, config: serde_json::Value) -> Self {
        self.config = config;
        self
    }

    /// Sets the per-call deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the memory cap.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: i64) -> Self {
        self.weight = weight;
        self
    }
}
