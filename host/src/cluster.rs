//! Cluster state: nodes, the pods on them (bound and assumed), each node's
//! usage, and the deltas that keep plugin mirrors in step with it.

use crate::model::{self, ModelError, NodeView};
use crate::runtime::wit::{self, Delta, NodeId, NodeUsage, PodId, Resources};
use k8s_openapi::api::core::v1 as core;
use std::collections::{BTreeMap, HashMap};

/// A pod the cluster counts on a node.
#[derive(Debug, Clone)]
struct PodEntry {
    id: PodId,
    node: String,
    pod: wit::Pod,
    /// Placed by this scheduler, not yet confirmed by the API.
    assumed: bool,
}

#[derive(Debug, Clone)]
struct NodeEntry {
    id: NodeId,
    record: wit::Node,
    usage: NodeUsage,
}

/// Nodes and pods as the scheduler sees them.
#[derive(Debug, Default)]
pub struct ClusterState {
    view: NodeView,
    nodes: BTreeMap<String, NodeEntry>,
    names: Vec<Option<String>>,
    pods: HashMap<String, PodEntry>,
    next_pod_id: PodId,
    out: DeltaLog,
}

/// The deltas not yet taken, and the journal of a plugin set being loaded.
#[derive(Debug, Default)]
struct DeltaLog {
    pending: Vec<Delta>,
    /// The deltas since a plugin set being loaded took its full sync.
    journal: Option<Vec<Delta>>,
}

impl DeltaLog {
    fn emit(&mut self, delta: Delta) {
        if let Some(journal) = &mut self.journal {
            journal.push(delta.clone());
        }
        self.pending.push(delta);
    }
}

fn empty_resources() -> Resources {
    Resources {
        milli_cpu: 0,
        memory: 0,
        ephemeral_storage: 0,
        pods: 0,
        scalar: Vec::new(),
    }
}

fn empty_usage() -> NodeUsage {
    NodeUsage {
        requested: empty_resources(),
        non_zero_requested: empty_resources(),
        pod_count: 0,
        host_ports: Vec::new(),
    }
}

/// `total += sign × r`, scalars by name.
fn add(total: &mut Resources, r: &Resources, sign: i64) {
    total.milli_cpu += sign * r.milli_cpu;
    total.memory += sign * r.memory;
    total.ephemeral_storage += sign * r.ephemeral_storage;
    total.pods += sign * r.pods;
    for s in &r.scalar {
        match total.scalar.binary_search_by(|x| x.name.cmp(&s.name)) {
            Ok(i) => total.scalar[i].amount += sign * s.amount,
            Err(i) => total.scalar.insert(
                i,
                wit::ScalarResource {
                    name: s.name.clone(),
                    amount: sign * s.amount,
                },
            ),
        }
    }
}

impl ClusterState {
    /// An empty cluster whose node records carry what `view` asks for.
    pub fn new(view: NodeView) -> Self {
        ClusterState {
            view,
            ..Default::default()
        }
    }

    /// Adds or updates a node.
    pub fn upsert_node(&mut self, n: &core::Node) -> Result<NodeId, ModelError> {
        let record = model::node(n, &self.view)?;
        let name = record.name.clone();
        let id = match self.nodes.get_mut(&name) {
            Some(entry) => {
                if entry.record == record {
                    return Ok(entry.id);
                }
                entry.record = record.clone();
                entry.id
            }
            None => {
                let id = match self.names.iter().position(Option::is_none) {
                    Some(free) => free as NodeId,
                    None => {
                        self.names.push(None);
                        (self.names.len() - 1) as NodeId
                    }
                };
                self.names[id as usize] = Some(name.clone());
                let mut usage = empty_usage();
                // Pods may have been seen before their node.
                for p in self.pods.values().filter(|p| p.node == name) {
                    Self::account(&mut usage, &p.pod, 1);
                }
                self.nodes.insert(
                    name.clone(),
                    NodeEntry {
                        id,
                        record: record.clone(),
                        usage: usage.clone(),
                    },
                );
                self.out.emit(Delta::NodeUpserted((id, record)));
                self.out.emit(Delta::UsageChanged((id, usage)));
                for p in self.pods.values().filter(|p| p.node == name) {
                    self.out.emit(Delta::PodAdded((p.id, id, p.pod.clone())));
                }
                return Ok(id);
            }
        };
        self.out.emit(Delta::NodeUpserted((id, record)));
        Ok(id)
    }

    /// Removes a node; its pods stay known until they are deleted.
    pub fn remove_node(&mut self, name: &str) {
        if let Some(entry) = self.nodes.remove(name) {
            self.names[entry.id as usize] = None;
            self.out.emit(Delta::NodeRemoved(entry.id));
        }
    }

    fn account(usage: &mut NodeUsage, pod: &wit::Pod, sign: i64) {
        add(&mut usage.requested, &pod.requests, sign);
        add(&mut usage.non_zero_requested, &pod.non_zero_requests, sign);
        usage.pod_count = usage.pod_count.saturating_add_signed(sign as i32);
        if sign > 0 {
            usage.host_ports.extend(pod.host_ports.iter().cloned());
        } else {
            for hp in &pod.host_ports {
                if let Some(i) = usage.host_ports.iter().position(|x| x == hp) {
                    usage.host_ports.swap_remove(i);
                }
            }
        }
    }

    fn place(&mut self, uid: String, node: String, pod: wit::Pod, assumed: bool) {
        self.unplace(&uid);
        let id = self.next_pod_id;
        self.next_pod_id = self.next_pod_id.wrapping_add(1);
        if let Some(n) = self.nodes.get_mut(&node) {
            Self::account(&mut n.usage, &pod, 1);
            self.out.emit(Delta::UsageChanged((n.id, n.usage.clone())));
            self.out.emit(Delta::PodAdded((id, n.id, pod.clone())));
        }
        self.pods.insert(
            uid,
            PodEntry {
                id,
                node,
                pod,
                assumed,
            },
        );
    }

    fn unplace(&mut self, uid: &str) -> Option<PodEntry> {
        let entry = self.pods.remove(uid)?;
        if let Some(n) = self.nodes.get_mut(&entry.node) {
            Self::account(&mut n.usage, &entry.pod, -1);
            self.out.emit(Delta::UsageChanged((n.id, n.usage.clone())));
            self.out.emit(Delta::PodRemoved(entry.id));
        }
        Some(entry)
    }

    /// Records a pod from the API. A bound pod counts on its node (confirming
    /// an assumption); an unbound or finished one does not.
    pub fn upsert_pod(&mut self, p: &core::Pod) -> Result<(), ModelError> {
        let uid = p.metadata.uid.clone().unwrap_or_default();
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
        if node.is_empty() || matches!(phase, Some("Succeeded" | "Failed")) {
            // Unbound (an assumption of ours is kept until it is confirmed or forgotten) or done.
            if !node.is_empty() || !self.pods.get(&uid).is_some_and(|e| e.assumed) {
                self.unplace(&uid);
            }
            return Ok(());
        }
        let record = model::pod(p)?;
        match self.pods.get_mut(&uid) {
            Some(e) if e.node == node && e.pod == record => e.assumed = false,
            _ => self.place(uid, node, record, false),
        }
        Ok(())
    }

    /// Forgets a deleted pod.
    pub fn remove_pod(&mut self, uid: &str) {
        self.unplace(uid);
    }

    /// Counts `pod` on `node` before the API confirms the binding, so the next
    /// cycle sees the node as taken.
    pub fn assume(&mut self, pod: &wit::Pod, node: &str) {
        self.place(pod.uid.clone(), node.to_string(), pod.clone(), true);
    }

    /// Undoes an assumption whose binding failed; a confirmed pod stays.
    pub fn forget(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|e| e.assumed) {
            self.unplace(uid);
        }
    }

    /// Whether a pod is counted on a node (bound or assumed).
    pub fn is_placed(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// The ids of all nodes, in name order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.values().map(|n| n.id).collect()
    }

    /// The name of a node id.
    pub fn node_name(&self, id: NodeId) -> Option<&str> {
        self.names.get(id as usize).and_then(|n| n.as_deref())
    }

    /// The usage of a node.
    pub fn usage(&self, name: &str) -> Option<&NodeUsage> {
        self.nodes.get(name).map(|n| &n.usage)
    }

    /// The changes since the last call, in order.
    pub fn take_deltas(&mut self) -> Vec<Delta> {
        std::mem::take(&mut self.out.pending)
    }

    /// A full sync for a plugin set being loaded, and from now on a journal
    /// of every change, so the set can be brought up to date when it is
    /// swapped in without a second full sync.
    pub fn begin_journal(&mut self) -> Vec<Delta> {
        self.out.journal = Some(Vec::new());
        self.full_sync()
    }

    /// Ends the journal: the changes since [`ClusterState::begin_journal`].
    /// Pending deltas are dropped: they were meant for the instances being
    /// replaced, and the journal or the full sync already holds them.
    pub fn end_journal(&mut self) -> Vec<Delta> {
        self.out.pending.clear();
        self.out.journal.take().unwrap_or_default()
    }

    /// Stops journaling for a load that failed.
    pub fn abort_journal(&mut self) {
        self.out.journal = None;
    }

    /// Everything, for a plugin instance that starts from nothing.
    pub fn full_sync(&self) -> Vec<Delta> {
        let mut out = vec![Delta::Reset];
        for n in self.nodes.values() {
            out.push(Delta::NodeUpserted((n.id, n.record.clone())));
            out.push(Delta::UsageChanged((n.id, n.usage.clone())));
        }
        for p in self.pods.values() {
            if let Some(n) = self.nodes.get(&p.node) {
                out.push(Delta::PodAdded((p.id, n.id, p.pod.clone())));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> core::Node {
        serde_json::from_value(json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
        .unwrap()
    }

    fn pod(uid: &str, node: Option<&str>, cpu: &str) -> core::Pod {
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "ns", "uid": uid},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn bound_pods_count_on_their_node_and_leave_when_deleted() {
        let mut c = ClusterState::default();
        c.upsert_node(&node("n1")).unwrap();
        c.upsert_pod(&pod("a", Some("n1"), "500m")).unwrap();
        c.upsert_pod(&pod("b", None, "1")).unwrap();
        assert_eq!(c.usage("n1").unwrap().requested.milli_cpu, 500);
        assert_eq!(c.usage("n1").unwrap().pod_count, 1);
        c.remove_pod("a");
        assert_eq!(c.usage("n1").unwrap().requested.milli_cpu, 0);
    }

    #[test]
    fn an_assumed_pod_is_confirmed_or_forgotten_but_never_counted_twice() {
        let mut c = ClusterState::default();
        c.upsert_node(&node("n1")).unwrap();
        let p = pod("a", None, "1");
        let record = model::pod(&p).unwrap();
        c.assume(&record, "n1");
        // The watch still shows the pod unbound: the assumption stays.
        c.upsert_pod(&p).unwrap();
        assert_eq!(c.usage("n1").unwrap().requested.milli_cpu, 1000);
        // The binding is confirmed: still counted once.
        c.upsert_pod(&pod("a", Some("n1"), "1")).unwrap();
        assert_eq!(c.usage("n1").unwrap().pod_count, 1);
        c.forget("a");
        assert_eq!(
            c.usage("n1").unwrap().pod_count,
            1,
            "a confirmed pod is not forgotten"
        );

        c.assume(&model::pod(&pod("b", None, "1")).unwrap(), "n1");
        c.forget("b");
        assert_eq!(c.usage("n1").unwrap().requested.milli_cpu, 1000);
    }

    #[test]
    fn a_journal_holds_exactly_the_changes_after_its_full_sync() {
        let mut c = ClusterState::default();
        c.upsert_node(&node("n1")).unwrap();
        let full = c.begin_journal();
        assert!(
            full.iter()
                .any(|d| matches!(d, Delta::NodeUpserted((_, n)) if n.name == "n1"))
        );
        c.upsert_node(&node("n2")).unwrap();
        c.upsert_pod(&pod("a", Some("n1"), "1")).unwrap();
        let journal = c.end_journal();
        assert!(matches!(&journal[0], Delta::NodeUpserted((_, n)) if n.name == "n2"));
        assert!(journal.iter().any(|d| matches!(d, Delta::PodAdded(_))));
        assert!(
            !journal
                .iter()
                .any(|d| matches!(d, Delta::NodeUpserted((_, n)) if n.name == "n1"))
        );
        // The old instances' pending deltas are gone; new changes flow again.
        assert!(c.take_deltas().is_empty());
        c.remove_node("n2");
        assert_eq!(c.take_deltas().len(), 1);
        assert!(c.end_journal().is_empty(), "no journal is kept once ended");
    }

    #[test]
    fn deltas_and_full_sync_describe_the_same_cluster() {
        let mut c = ClusterState::default();
        c.upsert_pod(&pod("early", Some("n1"), "250m")).unwrap();
        let id = c.upsert_node(&node("n1")).unwrap();
        let deltas = c.take_deltas();
        assert!(matches!(&deltas[0], Delta::NodeUpserted((i, n)) if *i == id && n.name == "n1"));
        assert!(
            deltas
                .iter()
                .any(|d| matches!(d, Delta::UsageChanged((_, u)) if u.requested.milli_cpu == 250))
        );
        assert!(
            deltas
                .iter()
                .any(|d| matches!(d, Delta::PodAdded((_, n, p)) if *n == id && p.name == "early"))
        );
        let full = c.full_sync();
        assert!(matches!(full[0], Delta::Reset));
        assert_eq!(full.len(), 4);
        assert!(c.take_deltas().is_empty());
        c.remove_node("n1");
        assert!(matches!(c.take_deltas()[..], [Delta::NodeRemoved(i)] if i == id));
        assert_eq!(c.node_name(id), None);
    }
}
