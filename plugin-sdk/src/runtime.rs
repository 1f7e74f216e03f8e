//! Drives a [`Plugin`] from the host's batched calls: the same code runs in the
//! wasm component (behind [`crate::export_plugin!`]) and natively in benchmarks.

use crate::cluster::Cluster;
use crate::plugin::Plugin;
use crate::status::Status;
use crate::types::{Delta, FilterResult, NodeId, PluginInfo, Pod, Rejection};
use std::collections::HashMap;

/// A plugin plus its copy of the cluster.
pub struct Runtime<P: Plugin> {
    version: &'static str,
    plugin: Option<P>,
    cluster: Cluster,
    /// The pod of the current cycle.
    pod: Option<Pod>,
}

/// The error of a call that came out of order.
fn called_before<P: Plugin>(step: &'static str) -> impl FnOnce() -> String {
    move || format!("{}: called before {step}", P::NAME)
}

impl<P: Plugin> Runtime<P> {
    /// A runtime whose plugin is not initialized yet; `version` is reported at `init`.
    pub fn new(version: &'static str) -> Self {
        Runtime {
            version,
            plugin: None,
            cluster: Cluster::new(),
            pod: None,
        }
    }

    /// The cluster as the plugin sees it.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Parses `config` (JSON) into the plugin's config type and builds the plugin.
    ///
    /// An absent config (`null`) is also tried as `{}`, so a config struct whose
    /// fields all have defaults needs no config in the manifest.
    pub fn init(&mut self, config: &str) -> Result<PluginInfo, String> {
        let parsed = crate::config::from_str::<P::Config>(config).or_else(|first| {
            if config.trim() == "null" {
                crate::config::from_str::<P::Config>("{}").map_err(|_| first)
            } else {
                Err(first)
            }
        });
        let config = parsed.map_err(|e| format!("{}: invalid config: {e}", P::NAME))?;
        let plugin = P::init(config)?;
        let info = PluginInfo {
            name: P::NAME.to_string(),
            version: self.version.to_string(),
            extension_points: P::EXTENSION_POINTS,
            needs: plugin.needs(),
        };
        self.plugin = Some(plugin);
        Ok(info)
    }

    /// Applies the host's deltas in order.
    pub fn apply(&mut self, deltas: Vec<Delta>) -> Result<(), String> {
        deltas.into_iter().try_for_each(|d| self.cluster.apply(d))
    }

    /// Starts a cycle for `pod`: runs the plugin's `prepare` once.
    pub fn begin_cycle(&mut self, pod: Pod) -> Result<(), String> {
        let plugin = self
            .plugin
            .as_mut()
            .ok_or_else(called_before::<P>("init"))?;
        plugin.prepare(&pod, &self.cluster);
        self.pod = Some(pod);
        Ok(())
    }

    /// The plugin, the cluster and the cycle's pod, for the per-node calls.
    fn in_cycle(&self) -> Result<(&P, &Cluster, &Pod), String> {
        let plugin = self
            .plugin
            .as_ref()
            .ok_or_else(called_before::<P>("init"))?;
        let pod = self
            .pod
            .as_ref()
            .ok_or_else(called_before::<P>("begin-cycle"))?;
        Ok((plugin, &self.cluster, pod))
    }

    /// [`Runtime::in_cycle`] with the plugin mutable, for `pre_score`.
    fn in_cycle_mut(&mut self) -> Result<(&mut P, &Cluster, &Pod), String> {
        let Runtime {
            plugin,
            cluster,
            pod,
            ..
        } = self;
        let plugin = plugin.as_mut().ok_or_else(called_before::<P>("init"))?;
        let pod = pod.as_ref().ok_or_else(called_before::<P>("begin-cycle"))?;
        Ok((plugin, cluster, pod))
    }

    /// The nodes that do not pass, by index into `nodes`, in order, with
    /// each distinct reason written once.
    pub fn filter(&self, nodes: &[NodeId]) -> Result<FilterResult, String> {
        let (plugin, cluster, pod) = self.in_cycle()?;
        let mut result = FilterResult {
            reasons: Vec::new(),
            rejections: Vec::new(),
        };
        let mut ids: HashMap<String, u32> = HashMap::new();
        for (index, &id) in nodes.iter().enumerate() {
            let status = match cluster.get(id) {
                Some(node) => plugin.filter(pod, node),
                None => Status::error(format!("node {id} is unknown to the plugin")),
            };
            if status.is_success() {
                continue;
            }
            let reasons = status
                .reasons
                .into_iter()
                .map(|r| {
                    *ids.entry(r).or_insert_with_key(|r| {
                        result.reasons.push(r.clone());
                        (result.reasons.len() - 1) as u32
                    })
                })
                .collect();
            result.rejections.push(Rejection {
                index: index as u32,
                code: status.code,
                reasons,
            });
        }
        Ok(result)
    }

    /// One score per node id, in order, after the plugin's `pre_score` on
    /// the batch; an unknown node is an error.
    pub fn score(&mut self, nodes: &[NodeId]) -> Result<Vec<i64>, String> {
        let (plugin, cluster, pod) = self.in_cycle_mut()?;
        let infos = cluster.infos(nodes)?;
        plugin.pre_score(pod, cluster, &infos);
        Ok(infos.iter().map(|node| plugin.score(pod, node)).collect())
    }

    /// Normalizes the scores of all scored nodes.
    pub fn normalize_score(
        &self,
        nodes: &[NodeId],
        mut scores: Vec<i64>,
    ) -> Result<Vec<i64>, String> {
        if nodes.len() != scores.len() {
            return Err(format!(
                "normalize-score got {} node ids and {} scores",
                nodes.len(),
                scores.len()
            ));
        }
        let (plugin, cluster, pod) = self.in_cycle()?;
        let infos = cluster.infos(nodes)?;
        plugin.normalize_score(pod, &infos, &mut scores);
        Ok(scores)
    }
}
