//! One worker's instance of one plugin, rebuilt from its pre-linked component
//! (with a full resync) after a trap, timeout or memory breach.

use super::bindings::wit::{
    AnnotationNeed, DataNeeds, Delta, ExtensionPoints, FilterResult, KeyValue, Node, NodeId, Pod,
};
use super::error::PluginError;
use super::instance::{LoadedPlugin, PluginInstance};
use std::sync::Arc;

/// A worker's handle on a plugin: an instance, or none until the next call.
pub struct PluginSlot {
    plugin: Arc<LoadedPlugin>,
    points: ExtensionPoints,
    /// The data the plugin asked for at `init`: the others never pay for
    /// lowering pod records, node images or annotations they would ignore.
    needs: DataNeeds,
    version: String,
    instance: Option<PluginInstance>,
    /// The current cycle's pod as this plugin sees it (annotations cut to
    /// what it asked for), given again to an instance rebuilt mid-cycle.
    pod: Option<Arc<Pod>>,
    rebuilds: u64,
    /// Calls since the last [`PluginSlot::take_calls`], for metrics.
    calls: Vec<CallRecord>,
}

/// One call to a plugin: where, how it ended, how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRecord {
    /// `PreFilter` (begin-cycle), `Filter`, `Score`, `NormalizeScore` or `Sync`.
    pub point: &'static str,
    /// `Success`, or the failure kind (`trap`, `timeout`, `memory`, `error`, `contract`).
    pub status: &'static str,
    /// Its duration.
    pub took: std::time::Duration,
    /// Whether the instance had to be rebuilt first.
    pub rebuilt: bool,
}

/// Whether a plugin with `need` receives the annotation `key`.
fn annotation_wanted(need: &AnnotationNeed, key: &str) -> bool {
    match need {
        AnnotationNeed::None => false,
        AnnotationNeed::Keys(keys) => keys.iter().any(|k| k == key),
        AnnotationNeed::All => true,
    }
}

/// Whether `annotations` hold one that `need` leaves out.
fn has_unwanted(annotations: &[KeyValue], need: &AnnotationNeed) -> bool {
    annotations.iter().any(|a| !annotation_wanted(need, &a.key))
}

/// `pod` with only the annotations `need` asks for (the others are never
/// copied).
fn cut_annotations(pod: &Pod, need: &AnnotationNeed) -> Pod {
    Pod {
        uid: pod.uid.clone(),
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        labels: pod.labels.clone(),
        annotations: pod
            .annotations
            .iter()
            .filter(|a| annotation_wanted(need, &a.key))
            .cloned()
            .collect(),
        priority: pod.priority,
        node_name: pod.node_name.clone(),
        scheduler_name: pod.scheduler_name.clone(),
        node_selector: pod.node_selector.clone(),
        node_affinity: pod.node_affinity.clone(),
        pod_affinity: pod.pod_affinity.clone(),
        pod_anti_affinity: pod.pod_anti_affinity.clone(),
        tolerations: pod.tolerations.clone(),
        requests: pod.requests.clone(),
        non_zero_requests: pod.non_zero_requests.clone(),
        host_ports: pod.host_ports.clone(),
        topology_spread_constraints: pod.topology_spread_constraints.clone(),
        images: pod.images.clone(),
        controller_kind: pod.controller_kind.clone(),
    }
}

impl PluginSlot {
    /// A slot around an initialized, synced instance.
    pub fn new(instance: PluginInstance) -> Self {
        PluginSlot {
            plugin: instance.plugin().clone(),
            points: instance.info().extension_points,
            version: instance.info().version.clone(),
            needs: instance.info().needs.clone(),
            instance: Some(instance),
            pod: None,
            rebuilds: 0,
            calls: Vec::new(),
        }
    }

    /// The plugin.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// The extension points the plugin declared at `init`.
    pub fn extension_points(&self) -> ExtensionPoints {
        self.points
    }

    /// The version the plugin reported at `init`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many times the instance was rebuilt after a failure.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    /// The live instance, rebuilt (init + `full_sync` + the cycle's pod) if
    /// the last call poisoned it.
    fn live(
        &mut self,
        full_sync: &dyn Fn() -> Vec<Delta>,
    ) -> Result<&mut PluginInstance, PluginError> {
        if self.instance.is_none() {
            let mut fresh = self.plugin.start()?;
            fresh.apply(&self.wanted(&full_sync()))?;
            if let Some(pod) = &self.pod {
                fresh.begin_cycle(pod)?;
            }
            self.rebuilds += 1;
            tracing::info!(
                plugin = self.plugin.name(),
                rebuilds = self.rebuilds,
                "plugin instance rebuilt"
            );
            self.instance = Some(fresh);
        }
        Ok(self.instance.as_mut().expect("set above"))
    }

    /// The calls made since the last time, oldest first.
    pub fn take_calls(&mut self) -> Vec<CallRecord> {
        std::mem::take(&mut self.calls)
    }

    fn run<R>(
        &mut self,
        point: &'static str,
        full_sync: &dyn Fn() -> Vec<Delta>,
        f: impl FnOnce(&mut PluginInstance) -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        let started = std::time::Instant::now();
        let rebuilds = self.rebuilds;
        let result = self.live(full_sync).and_then(f);
        if let Err(e) = &result
            && e.poisons_instance()
        {
            tracing::warn!(plugin = self.plugin.name(), error = %e, "discarding plugin instance");
            self.instance = None;
        }
        // Bounded: a slot whose records nobody takes keeps only the latest.
        if self.calls.len() >= 1024 {
            self.calls.clear();
        }
        self.calls.push(CallRecord {
            point,
            status: result
                .as_ref()
                .map_or_else(PluginError::kind, |_| "Success"),
            took: started.elapsed(),
            rebuilt: self.rebuilds != rebuilds,
        });
        result
    }

    /// `deltas` cut down to what the plugin asked for: no pod deltas unless
    /// it needs pods, no usage deltas unless it needs usage, node images and
    /// annotations only if it needs them.
    fn wanted<'d>(&self, deltas: &'d [Delta]) -> std::borrow::Cow<'d, [Delta]> {
        let needs = &self.needs;
        let is_pod = |d: &Delta| matches!(d, Delta::PodAdded(_) | Delta::PodRemoved(_));
        let node_extra = |n: &Node| {
            (!needs.node_images && !n.images.is_empty())
                || has_unwanted(&n.annotations, &needs.node_annotations)
        };
        let pod_extra = |p: &Pod| has_unwanted(&p.annotations, &needs.pod_annotations);
        let is_usage = |d: &Delta| matches!(d, Delta::UsageChanged(_));
        let trims = |d: &Delta| match d {
            Delta::NodeUpserted((_, n)) => node_extra(n),
            Delta::PodAdded((_, _, p)) => !needs.pods || pod_extra(p),
            d => (!needs.pods && is_pod(d)) || (!needs.usage && is_usage(d)),
        };
        if !deltas.iter().any(trims) {
            return std::borrow::Cow::Borrowed(deltas);
        }
        std::borrow::Cow::Owned(
            deltas
                .iter()
                .filter(|d| (needs.pods || !is_pod(d)) && (needs.usage || !is_usage(d)))
                .map(|d| match d {
                    Delta::NodeUpserted((id, n)) if node_extra(n) => {
                        let mut n = n.clone();
                        if !needs.node_images {
                            n.images.clear();
                        }
                        n.annotations
                            .retain(|a| annotation_wanted(&needs.node_annotations, &a.key));
                        Delta::NodeUpserted((*id, n))
                    }
                    Delta::PodAdded((pod_id, node_id, p)) if pod_extra(p) => Delta::PodAdded((
                        *pod_id,
                        *node_id,
                        cut_annotations(p, &needs.pod_annotations),
                    )),
                    d => d.clone(),
                })
                .collect(),
        )
    }

    /// Applies deltas; on failure the instance is dropped and resynced in full next time.
    pub fn apply(
        &mut self,
        deltas: &[Delta],
        full_sync: &dyn Fn() -> Vec<Delta>,
    ) -> Result<(), PluginError> {
        let wanted = self.wanted(deltas);
        if wanted.is_empty() {
            // Nothing this plugin asked for changed: no call at all.
            return Ok(());
        }
        let result = self.run("Sync", full_sync, |i| i.apply(&wanted));
        if result.is_err() {
            // Its mirror may have taken half the deltas: only a full resync is safe.
            self.instance = None;
        }
        result
    }

    /// The cycle's pod as this plugin asked to see it: without the
    /// annotations it did not ask for, which in real clusters can be
    /// kilobytes lowered into every plugin on every cycle.
    fn view(&self, pod: Arc<Pod>) -> Arc<Pod> {
        if has_unwanted(&pod.annotations, &self.needs.pod_annotations) {
            Arc::new(cut_annotations(&pod, &self.needs.pod_annotations))
        } else {
            pod
        }
    }

    /// Starts a cycle for `pod` (see [`PluginInstance::begin_cycle`]).
    pub fn begin_cycle(
        &mut self,
        pod: Arc<Pod>,
        full_sync: &dyn Fn() -> Vec<Delta>,
    ) -> Result<(), PluginError> {
        let pod = self.view(pod);
        // Kept before the call: if this very call poisons the instance, the
        // rebuilt one still needs the pod.
        self.pod = Some(pod.clone());
        self.run("PreFilter", full_sync, |i| i.begin_cycle(&pod))
    }

    /// See [`PluginInstance::filter`].
    pub fn filter(
        &mut self,
        nodes: &[NodeId],
        full_sync: &dyn Fn() -> Vec<Delta>,
    ) -> Result<FilterResult, PluginError> {
        self.run("Filter", full_sync, |i| i.filter(nodes))
    }

    /// See [`PluginInstance::score`].
    pub fn score(
        &mut self,
        nodes: &[NodeId],
        full_sync: &dyn Fn() -> Vec<Delta>,
    ) -> Result<Vec<i64>, PluginError> {
        self.run("Score", full_sync, |i| i.score(nodes))
    }

    /// See [`PluginInstance::normalize_score`].
    pub fn normalize_score(
        &mut self,
        nodes: &[NodeId],
        scores: &[i64],
        full_sync: &dyn Fn() -> Vec<Delta>,
    ) -> Result<Vec<i64>, PluginError> {
        self.run("NormalizeScore", full_sync, |i| {
            i.normalize_score(nodes, scores)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with(annotations: &[&str]) -> Pod {
        let json = serde_json::json!({"metadata": {"name": "p", "namespace": "ns",
            "annotations": annotations.iter().map(|k| (k.to_string(), "v")).collect::<std::collections::BTreeMap<_, _>>()},
            "spec": {"containers": [{"name": "c", "image": "app"}]}});
        crate::model::pod(&serde_json::from_value(json).unwrap()).unwrap()
    }

    #[test]
    fn annotations_are_cut_to_the_need_and_nothing_else_changes() {
        let p = pod_with(&["a", "b", "c"]);
        let keys = AnnotationNeed::Keys(vec!["b".into()]);
        assert!(has_unwanted(&p.annotations, &keys));
        assert!(!has_unwanted(&p.annotations, &AnnotationNeed::All));
        let cut = cut_annotations(&p, &keys);
        assert_eq!(
            cut.annotations
                .iter()
                .map(|a| a.key.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(
            Pod {
                annotations: p.annotations.clone(),
                ..cut
            },
            p,
            "every other field is copied"
        );
        assert!(
            cut_annotations(&p, &AnnotationNeed::None)
                .annotations
                .is_empty()
        );
    }
}
