//! The trait a plugin implements.

use crate::cluster::{Cluster, NodeInfo};
use crate::status::Status;
use crate::types::{AnnotationNeed, DataNeeds, ExtensionPoints, Pod};
use serde::de::DeserializeOwned;

impl DataNeeds {
    /// Nodes (labels, taints, capacity) and their usage: what a plugin gets
    /// unless it asks for more or less.
    pub fn nodes_only() -> Self {
        DataNeeds {
            usage: true,
            pods: false,
            node_annotations: AnnotationNeed::None,
            pod_annotations: AnnotationNeed::None,
            node_images: false,
        }
    }

    /// Not the nodes' usage: for a plugin that judges nodes by labels,
    /// taints or pods alone, so that the host need not call it after every
    /// binding. [`NodeInfo::usage`] then stays empty.
    pub fn without_usage(self) -> Self {
        DataNeeds {
            usage: false,
            ..self
        }
    }

    /// Also the pods on each node (`pod-added` / `pod-removed` deltas).
    pub fn with_pods(self) -> Self {
        DataNeeds { pods: true, ..self }
    }

    /// Also these pod annotations (`AnnotationNeed::All` for every one).
    pub fn with_pod_annotations(self, need: AnnotationNeed) -> Self {
        DataNeeds {
            pod_annotations: need,
            ..self
        }
    }

    /// Also the images on each node (`status.images`).
    pub fn with_images(self) -> Self {
        DataNeeds {
            node_images: true,
            ..self
        }
    }
}

/// A scheduling plugin: filter and/or score nodes for a pod.
///
/// Methods get one node at a time; the SDK batches them. All methods but
/// [`Plugin::init`] have defaults, so a filter-only plugin writes `filter` and a
/// score-only plugin writes `score`.
pub trait Plugin: Sized + 'static {
    /// The name the host reports in logs, metrics and `FailedScheduling` messages.
    const NAME: &'static str;
    /// The extension points the host calls. Points not listed here are never called.
    const EXTENSION_POINTS: ExtensionPoints;
    /// The plugin's configuration, deserialized from the manifest's `config`
    /// (JSON `null` or `{}` when none is given).
    type Config: DeserializeOwned;

    /// Builds the plugin from its configuration. An error rejects the plugin set.
    fn init(config: Self::Config) -> Result<Self, String>;

    /// The cluster data this plugin needs. Default: nodes and usage only.
    fn needs(&self) -> DataNeeds {
        DataNeeds::nodes_only()
    }

    /// Called once per scheduling cycle with the pod and the whole cluster,
    /// before any per-node call: the place for upstream's PreFilter work.
    fn prepare(&mut self, _pod: &Pod, _cluster: &Cluster) {}

    /// Whether `node` can run `pod`.
    fn filter(&self, _pod: &Pod, _node: &NodeInfo) -> Status {
        Status::success()
    }

    /// Called at the start of each `score` batch with the batch's nodes
    /// (upstream's PreScore). The host may split a cycle's feasible nodes
    /// into several batches on several workers; [`Plugin::normalize_score`]
    /// is the one call that always sees them all.
    fn pre_score(&mut self, _pod: &Pod, _cluster: &Cluster, _nodes: &[&NodeInfo]) {}

    /// How much this plugin likes `node` for `pod`; 0..=100 unless the plugin normalizes.
    fn score(&self, _pod: &Pod, _node: &NodeInfo) -> i64 {
        0
    }

    /// Maps the raw scores of all scored nodes into 0..=100, in place;
    /// `nodes[i]` is the node of `scores[i]`. This is the one call that sees
    /// every feasible node at once (upstream's PreScore + NormalizeScore).
    fn normalize_score(&self, _pod: &Pod, _nodes: &[&NodeInfo], _scores: &mut [i64]) {}
}
