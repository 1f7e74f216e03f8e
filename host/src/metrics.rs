//! Prometheus metrics. Where kube-scheduler has a metric with the same
//! meaning, it has the same name, labels and buckets here, so dashboards
//! and alerts carry over; the wasm-specific ones are prefixed `wasm_scheduler_`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// `result` and `profile`, as upstream's attempt metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    /// `scheduled`, `unschedulable` or `error`.
    pub result: &'static str,
    /// The profile's schedulerName.
    pub profile: String,
}

/// `queue` of `scheduler_pending_pods`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `active`, `backoff`, `unschedulable` or `gated`.
    pub queue: &'static str,
}

/// Labels of `scheduler_framework_extension_point_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExtensionPointLabels {
    /// `Filter` or `Score`.
    pub extension_point: &'static str,
    /// `Success`, `Unschedulable` or `Error`.
    pub status: &'static str,
    /// The profile's schedulerName.
    pub profile: String,
}

/// Labels of `scheduler_plugin_execution_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    /// The plugin's name.
    pub plugin: String,
    /// `Filter`, `Score`, `NormalizeScore`, `PreFilter` (begin-cycle) or `Sync`.
    pub extension_point: &'static str,
    /// `Success` or the failure kind (`trap`, `timeout`, `memory`, `error`, `contract`).
    pub status: &'static str,
}

/// Labels of the per-plugin failure and rebuild counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The plugin's name.
    pub plugin: String,
    /// `trap`, `timeout`, `memory`, `error` or `contract`.
    pub kind: &'static str,
}

/// One label, the plugin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginName {
    /// The plugin's name.
    pub plugin: String,
}

/// The step a set was rejected at.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `read`, `manifest`, `module`, `pin`, `compile`, `init`, `sync` or `self-check`.
    pub step: &'static str,
}

/// The active set, as an info metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SetLabels {
    /// SHA-256 of the set.
    pub digest: String,
    /// Where it came from.
    pub origin: String,
}

/// Histograms with fixed buckets in a family.
#[derive(Clone)]
pub struct Buckets(fn() -> Histogram);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        (self.0)()
    }
}

fn attempt_buckets() -> Histogram {
    // Upstream: ExponentialBuckets(0.001, 2, 15).
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

fn extension_point_buckets() -> Histogram {
    // Upstream: ExponentialBuckets(0.0001, 2, 12).
    Histogram::new(exponential_buckets(0.0001, 2.0, 12))
}

fn plugin_buckets() -> Histogram {
    // Upstream: ExponentialBuckets(0.00001, 1.5, 20).
    Histogram::new(exponential_buckets(0.00001, 1.5, 20))
}

/// Every metric of one scheduler process.
pub struct Metrics {
    registry: Registry,
    /// `scheduler_schedule_attempts_total{result,profile}`.
    pub schedule_attempts: Family<AttemptLabels, Counter>,
    /// `scheduler_scheduling_attempt_duration_seconds{result,profile}`.
    pub attempt_duration: Family<AttemptLabels, Histogram, Buckets>,
    /// `scheduler_pending_pods{queue}`.
    pub pending_pods: Family<QueueLabels, Gauge>,
    /// `scheduler_pod_scheduling_attempts`: attempts a pod took to be scheduled.
    pub pod_scheduling_attempts: Histogram,
    /// `scheduler_framework_extension_point_duration_seconds{extension_point,status,profile}`.
    pub extension_point_duration: Family<ExtensionPointLabels, Histogram, Buckets>,
    /// `scheduler_plugin_execution_duration_seconds{plugin,extension_point,status}`.
    pub plugin_duration: Family<PluginLabels, Histogram, Buckets>,
    /// `wasm_scheduler_plugin_failures_total{plugin,kind}`: traps, timeouts, memory breaches…
    pub plugin_failures: Family<FailureLabels, Counter>,
    /// `wasm_scheduler_plugin_instance_rebuilds_total{plugin}`.
    pub instance_rebuilds: Family<PluginName, Counter>,
    /// `wasm_scheduler_plugin_set_loads_total`.
    pub set_loads: Counter,
    /// `wasm_scheduler_plugin_set_rejections_total{step}`.
    pub set_rejections: Family<StepLabels, Counter>,
    /// `wasm_scheduler_plugin_set_info{digest,origin}`: 1 for the active set.
    pub set_info: Family<SetLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            schedule_attempts: Family::default(),
            attempt_duration: Family::new_with_constructor(Buckets(attempt_buckets)),
            pending_pods: Family::default(),
            pod_scheduling_attempts: Histogram::new(exponential_buckets(1.0, 2.0, 5)),
            extension_point_duration: Family::new_with_constructor(Buckets(
                extension_point_buckets,
            )),
            plugin_duration: Family::new_with_constructor(Buckets(plugin_buckets)),
            plugin_failures: Family::default(),
            instance_rebuilds: Family::default(),
            set_loads: Counter::default(),
            set_rejections: Family::default(),
            set_info: Family::default(),
        };
        registry.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result.",
            m.schedule_attempts.clone(),
        );
        registry.register(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding decision).",
            m.attempt_duration.clone(),
        );
        registry.register(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type.",
            m.pending_pods.clone(),
        );
        registry.register(
            "scheduler_pod_scheduling_attempts",
            "Number of attempts to successfully schedule a pod.",
            m.pod_scheduling_attempts.clone(),
        );
        registry.register(
            "scheduler_framework_extension_point_duration_seconds",
            "Latency for running all plugins of a specific extension point.",
            m.extension_point_duration.clone(),
        );
        registry.register(
            "scheduler_plugin_execution_duration_seconds",
            "Duration for running a plugin at a specific extension point.",
            m.plugin_duration.clone(),
        );
        registry.register(
            "wasm_scheduler_plugin_failures",
            "Plugin calls that trapped, timed out, breached memory, returned an error or broke the contract.",
            m.plugin_failures.clone(),
        );
        registry.register(
            "wasm_scheduler_plugin_instance_rebuilds",
            "Plugin instances rebuilt (with a full resync) after a failure.",
            m.instance_rebuilds.clone(),
        );
        registry.register(
            "wasm_scheduler_plugin_set_loads",
            "Plugin sets loaded and swapped in.",
            m.set_loads.clone(),
        );
        registry.register(
            "wasm_scheduler_plugin_set_rejections",
            "Plugin sets rejected, by the step that failed.",
            m.set_rejections.clone(),
        );
        registry.register(
            "wasm_scheduler_plugin_set_info",
            "The active plugin set: 1 for its digest and origin.",
            m.set_info.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records one scheduling attempt.
    pub fn attempt(&self, profile: &str, result: &'static str, took: Duration) {
        let labels = AttemptLabels {
            result,
            profile: profile.to_string(),
        };
        self.schedule_attempts.get_or_create(&labels).inc();
        self.attempt_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Records one plugin call: its duration, and a failure or rebuild.
    pub fn call(&self, plugin: &str, call: &crate::runtime::CallRecord) {
        self.plugin_duration
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
                extension_point: call.point,
                status: call.status,
            })
            .observe(call.took.as_secs_f64());
        if call.status != "Success" {
            self.plugin_failures
                .get_or_create(&FailureLabels {
                    plugin: plugin.to_string(),
                    kind: call.status,
                })
                .inc();
        }
        if call.rebuilt {
            self.instance_rebuilds
                .get_or_create(&PluginName {
                    plugin: plugin.to_string(),
                })
                .inc();
        }
    }

    /// Records how long an extension point took over all plugins.
    pub fn extension_point(
        &self,
        profile: &str,
        point: &'static str,
        status: &'static str,
        took: Duration,
    ) {
        self.extension_point_duration
            .get_or_create(&ExtensionPointLabels {
                extension_point: point,
                status,
                profile: profile.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Marks `digest` as the active set (and no other).
    pub fn set_active(&self, digest: &str, origin: &str) {
        self.set_info.clear();
        self.set_info
            .get_or_create(&SetLabels {
                digest: digest.to_string(),
                origin: origin.to_string(),
            })
            .set(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_and_labels_in_the_exposition() {
        let m = Metrics::new();
        m.attempt("wasm-scheduler", "scheduled", Duration::from_millis(3));
        m.pending_pods
            .get_or_create(&QueueLabels { queue: "active" })
            .set(2);
        let text = m.encode();
        assert!(text.contains(
            r#"scheduler_schedule_attempts_total{result="scheduled",profile="wasm-scheduler"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"scheduler_scheduling_attempt_duration_seconds_bucket{le="0.004",result="scheduled",profile="wasm-scheduler"} 1"#
        ), "{text}");
        assert!(
            text.contains(r#"scheduler_pending_pods{queue="active"} 2"#),
            "{text}"
        );
    }
}
