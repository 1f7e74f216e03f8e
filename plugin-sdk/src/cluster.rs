//! The plugin's own copy of the cluster, kept in step by the host's deltas.

use crate::types::{Delta, Node, NodeId, NodeUsage, Pod, PodAffinity, PodId, Resources};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Pod changes remembered for [`Cluster::pod_changes_since`]; a reader
/// further behind than this rebuilds from scratch.
const POD_LOG: usize = 1 << 16;

/// A pod on a node, as a plugin that asked for pods sees it.
#[derive(Debug, Clone)]
pub struct PodEntry {
    /// The host's handle for the pod.
    pub id: PodId,
    /// The pod.
    pub pod: Pod,
}

/// A node with what runs on it: upstream's `NodeInfo`.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The host's handle for the node.
    pub id: NodeId,
    /// The node's metadata, capacity and taints.
    pub node: Node,
    /// What the pods on the node take from it.
    pub usage: NodeUsage,
    /// The pods on the node (only for plugins that asked for pods).
    pub pods: Vec<PodEntry>,
}

impl NodeInfo {
    /// A node with no pods on it.
    pub fn new(id: NodeId, node: Node) -> Self {
        NodeInfo {
            id,
            node,
            usage: NodeUsage::empty(),
            pods: Vec::new(),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// The value of a node label.
    pub fn label(&self, key: &str) -> Option<&str> {
        crate::selectors::lookup(&self.node.labels, key)
    }
}

impl NodeUsage {
    /// Nothing requested, no pods, no ports.
    pub fn empty() -> Self {
        NodeUsage {
            requested: Resources::zero(),
            non_zero_requested: Resources::zero(),
            pod_count: 0,
            host_ports: Vec::new(),
        }
    }
}

/// All nodes the plugin knows, indexed by [`NodeId`].
#[derive(Debug, Default)]
pub struct Cluster {
    nodes: Vec<Option<NodeInfo>>,
    pod_nodes: HashMap<PodId, NodeId>,
    len: usize,
    /// Bumped whenever a node record is added, changed or removed.
    node_generation: u64,
    /// Bumped whenever a pod is added to or removed from a node.
    pods_version: u64,
    /// The most recent pod changes: the version each made, and its node.
    pod_log: VecDeque<(u64, NodeId)>,
    /// Pods with any pod affinity or anti-affinity term, and their nodes:
    /// upstream's `PodsWithAffinity`, so that a pod without terms of its own
    /// looks only at these.
    affinity_pods: BTreeMap<PodId, NodeId>,
}

/// Whether a pod has any pod affinity or anti-affinity term, required or preferred.
pub fn has_pod_affinity(pod: &Pod) -> bool {
    let any = |a: &Option<PodAffinity>| {
        a.as_ref()
            .is_some_and(|a| !a.required.is_empty() || !a.preferred.is_empty())
    };
    any(&pod.pod_affinity) || any(&pod.pod_anti_affinity)
}

impl Cluster {
    /// An empty cluster.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node with this id.
    pub fn get(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.get(id as usize).and_then(Option::as_ref)
    }

    /// The nodes with these ids, in order; an unknown id is an error.
    pub fn infos(&self, ids: &[NodeId]) -> Result<Vec<&NodeInfo>, String> {
        ids.iter()
            .map(|&id| {
                self.get(id)
                    .ok_or_else(|| format!("node {id} is unknown to the plugin"))
            })
            .collect()
    }

    /// All nodes, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().flatten()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no node.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pods with pod affinity or anti-affinity terms, with their nodes, by pod id.
    pub fn pods_with_affinity(&self) -> impl Iterator<Item = (&NodeInfo, &PodEntry)> {
        self.affinity_pods.iter().filter_map(|(&pod, &node)| {
            let info = self.get(node)?;
            Some((info, info.pods.iter().find(|p| p.id == pod)?))
        })
    }

    /// A number that changes whenever a node record (not its usage or pods)
    /// is added, changed or removed: a plugin that indexes node data (images,
    /// labels) rebuilds its index only when this moves.
    pub fn node_generation(&self) -> u64 {
        self.node_generation
    }

    /// A number that grows whenever a pod is added to or removed from a
    /// node; see [`Cluster::pod_changes_since`].
    pub fn pods_version(&self) -> u64 {
        self.pods_version
    }

    /// The nodes whose pods changed after `version` (a node may repeat), or
    /// `None` when those changes are no longer all remembered: the caller
    /// then recounts from scratch.
    pub fn pod_changes_since(&self, version: u64) -> Option<impl Iterator<Item = NodeId> + '_> {
        let oldest = self
            .pod_log
            .front()
            .map_or(self.pods_version + 1, |&(v, _)| v);
        if version < self.pods_version && oldest > version + 1 {
            return None;
        }
        let start = self.pod_log.partition_point(|&(v, _)| v <= version);
        Some(self.pod_log.range(start..).map(|&(_, node)| node))
    }

    /// Records a change to the pods of `node`.
    fn pods_changed(&mut self, node: NodeId) {
        self.pods_version += 1;
        if self.pod_log.len() >= POD_LOG {
            self.pod_log.pop_front();
        }
        self.pod_log.push_back((self.pods_version, node));
    }

    /// Adds or replaces a node; its usage and pods are kept on replace.
    pub fn upsert_node(&mut self, id: NodeId, node: Node) {
        self.node_generation += 1;
        let slot = id as usize;
        if self.nodes.len() <= slot {
            self.nodes.resize_with(slot + 1, || None);
        }
        match &mut self.nodes[slot] {
            Some(info) => info.node = node,
            empty => {
                *empty = Some(NodeInfo::new(id, node));
                self.len += 1;
            }
        }
    }

    /// Applies one delta from the host.
    pub fn apply(&mut self, delta: Delta) -> Result<(), String> {
        match delta {
            Delta::NodeUpserted((id, node)) => self.upsert_node(id, node),
            Delta::NodeRemoved(id) => {
                if let Some(info) = self.nodes.get_mut(id as usize).and_then(Option::take) {
                    self.len -= 1;
                    self.node_generation += 1;
                    for p in info.pods {
                        self.pod_nodes.remove(&p.id);
                        self.affinity_pods.remove(&p.id);
                    }
                }
            }
            Delta::UsageChanged((id, usage)) => self.node_mut(id)?.usage = usage,
            Delta::PodAdded((pod_id, node_id, pod)) => {
                // A pod re-added (moved, or resent) replaces its earlier entry.
                if let Some(old) = self.pod_nodes.remove(&pod_id) {
                    self.remove_pod_from(old, pod_id);
                }
                if has_pod_affinity(&pod) {
                    self.affinity_pods.insert(pod_id, node_id);
                } else {
                    self.affinity_pods.remove(&pod_id);
                }
                self.node_mut(node_id)?
                    .pods
                    .push(PodEntry { id: pod_id, pod });
                self.pods_changed(node_id);
                self.pod_nodes.insert(pod_id, node_id);
            }
            Delta::PodRemoved(pod_id) => {
                self.affinity_pods.remove(&pod_id);
                if let Some(node_id) = self.pod_nodes.remove(&pod_id) {
                    self.remove_pod_from(node_id, pod_id);
                }
            }
            Delta::Reset => {
                *self = Cluster {
                    node_generation: self.node_generation + 1,
                    pods_version: self.pods_version + 1,
                    ..Cluster::new()
                }
            }
        }
        Ok(())
    }

    fn node_mut(&mut self, id: NodeId) -> Result<&mut NodeInfo, String> {
        self.nodes
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| format!("delta names node {id}, which the plugin does not know"))
    }

    fn remove_pod_from(&mut self, node_id: NodeId, pod_id: PodId) {
        if let Some(Some(info)) = self.nodes.get_mut(node_id as usize)
            && let Some(i) = info.pods.iter().position(|p| p.id == pod_id)
        {
            info.pods.swap_remove(i);
            self.pods_changed(node_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{node, pod};
    use crate::types::{PodAffinity, PodAffinityTerm};

    fn with_anti_affinity(name: &str) -> Pod {
        let mut p = pod(name);
        p.pod_anti_affinity = Some(PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: None,
                namespaces: Vec::new(),
                namespace_selector: None,
                topology_key: "zone".into(),
                match_label_keys: Vec::new(),
                mismatch_label_keys: Vec::new(),
            }],
            preferred: Vec::new(),
        });
        p
    }

    fn affinity_pod_names(c: &Cluster) -> Vec<(String, String)> {
        c.pods_with_affinity()
            .map(|(n, p)| (n.name().to_string(), p.pod.name.clone()))
            .collect()
    }

    #[test]
    fn pods_with_affinity_follow_adds_moves_and_removals() {
        let mut c = Cluster::new();
        for (id, name) in [(0, "a"), (1, "b")] {
            c.apply(Delta::NodeUpserted((id, node(name)))).unwrap();
        }
        c.apply(Delta::PodAdded((7, 0, with_anti_affinity("x"))))
            .unwrap();
        c.apply(Delta::PodAdded((8, 0, pod("plain")))).unwrap();
        assert_eq!(affinity_pod_names(&c), [("a".to_string(), "x".to_string())]);
        // Moved to node b.
        c.apply(Delta::PodAdded((7, 1, with_anti_affinity("x"))))
            .unwrap();
        assert_eq!(affinity_pod_names(&c), [("b".to_string(), "x".to_string())]);
        // Replaced by a version without terms.
        c.apply(Delta::PodAdded((7, 1, pod("x")))).unwrap();
        assert!(affinity_pod_names(&c).is_empty());
        c.apply(Delta::PodAdded((9, 1, with_anti_affinity("y"))))
            .unwrap();
        c.apply(Delta::NodeRemoved(1)).unwrap();
        assert!(affinity_pod_names(&c).is_empty(), "gone with its node");
        c.apply(Delta::PodAdded((10, 0, with_anti_affinity("z"))))
            .unwrap();
        c.apply(Delta::PodRemoved(10)).unwrap();
        assert!(affinity_pod_names(&c).is_empty());
    }

    #[test]
    fn pod_changes_since_names_changed_nodes_until_the_log_forgets() {
        let mut c = Cluster::new();
        for id in 0..3u32 {
            c.apply(Delta::NodeUpserted((id, node(&format!("n{id}")))))
                .unwrap();
        }
        let start = c.pods_version();
        c.apply(Delta::PodAdded((1, 2, pod("a")))).unwrap();
        c.apply(Delta::PodAdded((1, 0, pod("a")))).unwrap(); // moved: both nodes change
        let changed: Vec<NodeId> = c.pod_changes_since(start).unwrap().collect();
        assert_eq!(changed, [2, 2, 0]);
        let now = c.pods_version();
        assert_eq!(c.pod_changes_since(now).unwrap().count(), 0);
        for i in 0..POD_LOG as u32 {
            c.apply(Delta::PodAdded((100 + i, 1, pod("b")))).unwrap();
        }
        assert!(c.pod_changes_since(start).is_none(), "too old: recount");
        assert_eq!(
            c.pod_changes_since(c.pods_version() - 2).unwrap().count(),
            2
        );
        c.apply(Delta::Reset).unwrap();
        assert!(c.pod_changes_since(now).is_none());
    }
}
