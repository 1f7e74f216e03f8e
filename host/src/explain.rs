//! `explain`: for one pod, every plugin's filter verdict and score on every
//! node, the total, and the node a cycle would choose — the plugin author's
//! view of a scheduling decision, from a cluster file or a live API server.

use crate::cluster::ClusterState;
use crate::cycle::FitError;
use crate::model::{self, ModelError, NodeView};
use crate::runtime::wit::{Code, ExtensionPoints, NodeId};
use crate::runtime::{LoadError, LoadedPlugin, PluginError, PluginSlot};
use k8s_openapi::api::core::v1 as core;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why an explanation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The cluster or pod file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML or JSON of Kubernetes objects.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the document's position where known.
        message: String,
    },
    /// The pod to explain is neither a file nor in the cluster.
    #[error("pod {0} is not in the cluster (give `namespace/name`, or a file holding the pod)")]
    NoPod(String),
    /// An object the scheduler could not model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A plugin could not be instantiated.
    #[error("plugin {plugin} could not start")]
    Load {
        /// The plugin.
        plugin: String,
        /// The cause.
        #[source]
        source: LoadError,
    },
    /// A plugin failed a call.
    #[error("plugin {plugin} failed")]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The cause.
        #[source]
        source: PluginError,
    },
    /// The API server could not be listed.
    #[error("listing {what} from the API server")]
    Api {
        /// `nodes` or `pods`.
        what: &'static str,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// The nodes and pods a decision is made over.
#[derive(Debug, Default, Clone)]
pub struct ClusterObjects {
    /// All nodes.
    pub nodes: Vec<core::Node>,
    /// All pods; those bound to a node (and not finished) count on it.
    pub pods: Vec<core::Pod>,
}

impl ClusterObjects {
    /// Reads a YAML (one or more documents) or JSON file of Kubernetes
    /// objects: Nodes, Pods, and `List`s of them. Other kinds are skipped.
    pub fn from_file(path: &Path) -> Result<Self, ExplainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExplainError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut objects = ClusterObjects::default();
        for doc in parse_documents(path, &text)? {
            objects.add(path, doc)?;
        }
        Ok(objects)
    }

    /// Lists the nodes and pods of a live cluster.
    pub async fn from_api(client: &kube::Client) -> Result<Self, ExplainError> {
        let list = kube::api::ListParams::default();
        let nodes = kube::Api::<core::Node>::all(client.clone())
            .list(&list)
            .await
            .map_err(|source| ExplainError::Api {
                what: "nodes",
                source,
            })?;
        let pods = kube::Api::<core::Pod>::all(client.clone())
            .list(&list)
            .await
            .map_err(|source| ExplainError::Api {
                what: "pods",
                source,
            })?;
        Ok(ClusterObjects {
            nodes: nodes.items,
            pods: pods.items,
        })
    }

    fn add(&mut self, path: &Path, doc: serde_json::Value) -> Result<(), ExplainError> {
        let kind = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("")
            .to_string();
        let bad = |e: serde_json::Error| ExplainError::Parse {
            path: path.to_path_buf(),
            message: format!("a {kind}: {e}"),
        };
        match kind.as_str() {
            "Node" => self.nodes.push(serde_json::from_value(doc).map_err(bad)?),
            "Pod" => self.pods.push(serde_json::from_value(doc).map_err(bad)?),
            k if k == "List" || k.ends_with("List") => {
                if let Some(serde_json::Value::Array(items)) = doc.get("items") {
                    for item in items.clone() {
                        self.add(path, item)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The pod `namespace/name` (or `name` in `default`).
    pub fn find_pod(&self, reference: &str) -> Option<&core::Pod> {
        let (namespace, name) = reference.split_once('/').unwrap_or(("default", reference));
        self.pods.iter().find(|p| {
            p.metadata.name.as_deref() == Some(name)
                && p.metadata.namespace.as_deref().unwrap_or("default") == namespace
        })
    }
}

/// The pod from `--pod`: a file holding one Pod, else `namespace/name` in `cluster`.
pub fn resolve_pod(reference: &str, cluster: &ClusterObjects) -> Result<core::Pod, ExplainError> {
    let path = Path::new(reference);
    if path.is_file() {
        let from_file = ClusterObjects::from_file(path)?;
        return from_file
            .pods
            .into_iter()
            .next()
            .ok_or_else(|| ExplainError::Parse {
                path: path.to_path_buf(),
                message: "holds no Pod".into(),
            });
    }
    cluster
        .find_pod(reference)
        .cloned()
        .ok_or_else(|| ExplainError::NoPod(reference.to_string()))
}

/// YAML documents (JSON is YAML) as JSON values, with quantities written as
/// numbers (`cpu: 4`) turned into the strings Kubernetes' types expect.
fn parse_documents(path: &Path, text: &str) -> Result<Vec<serde_json::Value>, ExplainError> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| ExplainError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|mut d| {
            quantities_as_strings(&mut d);
            d
        })
        .collect())
}

fn quantities_as_strings(value: &mut serde_json::Value) {
    const QUANTITY_MAPS: [&str; 5] = ["capacity", "allocatable", "requests", "limits", "overhead"];
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if let (true, serde_json::Value::Object(list)) =
                    (QUANTITY_MAPS.contains(&key.as_str()), &mut *v)
                {
                    for q in list.values_mut() {
                        if let serde_json::Value::Number(n) = q {
                            *q = serde_json::Value::String(n.to_string());
                        }
                    }
                } else {
                    quantities_as_strings(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(quantities_as_strings),
        _ => {}
    }
}

/// One plugin's filter verdict on one node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FilterVerdict {
    /// The plugin.
    pub plugin: String,
    /// `Success`, `Unschedulable`, `UnschedulableAndUnresolvable` or `Error`.
    pub code: String,
    /// Its reasons, in upstream's wording.
    pub reasons: Vec<String>,
    /// Whether this is the first failing filter, the one a cycle reports
    /// (later filters do not run on the node in a cycle).
    pub decisive: bool,
}

/// One plugin's score on one feasible node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ScoreDetail {
    /// The plugin.
    pub plugin: String,
    /// What `score` returned.
    pub raw: i64,
    /// After `normalize-score` (the raw score when the plugin does not
    /// normalize), clamped to 0..=100.
    pub normalized: i64,
    /// The plugin's weight.
    pub weight: i64,
    /// `normalized × weight`.
    pub weighted: i64,
}

/// Everything about one node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeReport {
    /// The node.
    pub node: String,
    /// Whether it passed every filter.
    pub feasible: bool,
    /// Every filter plugin's verdict, in filter order.
    pub filters: Vec<FilterVerdict>,
    /// Every score plugin's scores (feasible nodes only).
    pub scores: Vec<ScoreDetail>,
    /// The sum of the weighted scores (feasible nodes only).
    pub total: Option<i64>,
}

/// The whole decision.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Explanation {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The plugins, in order.
    pub plugins: Vec<String>,
    /// One report per node, by node name.
    pub nodes: Vec<NodeReport>,
    /// The node with the highest total; among equal totals a cycle picks at
    /// random, so this is the first by name and `tied` lists the others.
    pub chosen: Option<String>,
    /// Other nodes with the chosen node's total.
    pub tied: Vec<String>,
    /// When no node fits: the `FailedScheduling` message, word for word.
    pub failed_scheduling: Option<String>,
    /// When no node fits: how many nodes failed with each reason.
    pub reason_counts: BTreeMap<String, usize>,
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Success => "Success",
        Code::Unschedulable => "Unschedulable",
        Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
        Code::Error => "Error",
    }
}

/// Runs `plugins` (in profile order) for `pod` over every node of
/// `cluster`, as one cycle with `percentageOfNodesToScore: 100`.
pub fn explain(
    plugins: &[Arc<LoadedPlugin>],
    cluster: &ClusterObjects,
    pod: &core::Pod,
) -> Result<Explanation, ExplainError> {
    let mut state = ClusterState::new(NodeView::all());
    for n in &cluster.nodes {
        state.upsert_node(n)?;
    }
    for p in &cluster.pods {
        state.upsert_pod(p)?;
    }
    let record = Arc::new(model::pod(pod)?);
    let mut ids: Vec<NodeId> = state.node_ids();
    ids.sort_by_key(|&id| state.node_name(id).unwrap_or("").to_string());
    let names: Vec<String> = ids
        .iter()
        .map(|&id| state.node_name(id).unwrap_or("").to_string())
        .collect();
    let sync = state.full_sync();
    let failed = |plugin: &LoadedPlugin| {
        let plugin = plugin.name().to_string();
        move |source| ExplainError::Plugin { plugin, source }
    };
    // Slots, as the scheduler uses them: each plugin sees only the data it
    // asked for (usage, pods, images, annotations).
    let full_sync = || sync.clone();
    let mut slots = Vec::with_capacity(plugins.len());
    for plugin in plugins {
        let inst = plugin.instantiate().map_err(|source| ExplainError::Load {
            plugin: plugin.name().to_string(),
            source,
        })?;
        let mut slot = PluginSlot::new(inst);
        slot.apply(&sync, &full_sync).map_err(failed(plugin))?;
        slot.begin_cycle(record.clone(), &full_sync)
            .map_err(failed(plugin))?;
        slots.push(slot);
    }

    let mut reports: Vec<NodeReport> = names
        .iter()
        .map(|name| NodeReport {
            node: name.clone(),
            feasible: true,
            filters: Vec::new(),
            scores: Vec::new(),
            total: None,
        })
        .collect();
    let mut reason_counts = BTreeMap::new();
    for slot in &mut slots {
        if !slot.extension_points().contains(ExtensionPoints::FILTER) {
            continue;
        }
        let plugin = slot.plugin().clone();
        let result = slot.filter(&ids, &full_sync).map_err(failed(&plugin))?;
        let mut verdicts: Vec<Option<(Code, Vec<String>)>> = vec![None; ids.len()];
        for r in &result.rejections {
            let reasons = r
                .reasons
                .iter()
                .map(|&i| result.reasons[i as usize].clone())
                .collect();
            verdicts[r.index as usize] = Some((r.code, reasons));
        }
        for (report, verdict) in reports.iter_mut().zip(verdicts) {
            let (code, reasons) = verdict.unwrap_or((Code::Success, Vec::new()));
            let decisive = code != Code::Success && report.feasible;
            if decisive {
                report.feasible = false;
                for reason in &reasons {
                    *reason_counts.entry(reason.clone()).or_insert(0) += 1;
                }
            }
            report.filters.push(FilterVerdict {
                plugin: plugin.name().to_string(),
                code: code_name(code).to_string(),
                reasons,
                decisive,
            });
        }
    }

    let feasible: Vec<usize> = (0..ids.len()).filter(|&i| reports[i].feasible).collect();
    let feasible_ids: Vec<NodeId> = feasible.iter().map(|&i| ids[i]).collect();
    if !feasible.is_empty() {
        for slot in &mut slots {
            let points = slot.extension_points();
            if !points.contains(ExtensionPoints::SCORE) {
                continue;
            }
            let plugin = slot.plugin().clone();
            let raw = slot
                .score(&feasible_ids, &full_sync)
                .map_err(failed(&plugin))?;
            let normalized = if points.contains(ExtensionPoints::NORMALIZE_SCORE) {
                slot.normalize_score(&feasible_ids, &raw, &full_sync)
                    .map_err(failed(&plugin))?
            } else {
                raw.clone()
            };
            let weight = plugin.spec().weight;
            for ((&i, raw), normalized) in feasible.iter().zip(raw).zip(normalized) {
                let normalized = normalized.clamp(0, 100);
                let report = &mut reports[i];
                report.scores.push(ScoreDetail {
                    plugin: plugin.name().to_string(),
                    raw,
                    normalized,
                    weight,
                    weighted: normalized * weight,
                });
                *report.total.get_or_insert(0) += normalized * weight;
            }
        }
        for &i in &feasible {
            reports[i].total.get_or_insert(0);
        }
    }

    let best = reports.iter().filter_map(|r| r.total).max();
    let mut winners = reports
        .iter()
        .filter(|r| r.total.is_some() && r.total == best)
        .map(|r| r.node.clone());
    let chosen = winners.next();
    let tied = winners.collect();
    let failed_scheduling = feasible.is_empty().then(|| {
        FitError {
            num_all_nodes: ids.len(),
            reasons: reason_counts.clone(),
        }
        .to_string()
    });
    Ok(Explanation {
        pod: format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            pod.metadata.name.as_deref().unwrap_or("")
        ),
        plugins: plugins.iter().map(|p| p.name().to_string()).collect(),
        nodes: reports,
        chosen,
        tied,
        failed_scheduling,
        reason_counts: if feasible.is_empty() {
            reason_counts
        } else {
            BTreeMap::new()
        },
    })
}

impl std::fmt::Display for Explanation {
    /// A report for people: per node, each filter's verdict (the decisive one
    /// marked) and each score as `raw → normalized × weight = weighted`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "pod {} on {} node(s), plugins: {}",
            self.pod,
            self.nodes.len(),
            self.plugins.join(", ")
        )?;
        let width = self
            .plugins
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(0)
            .max(6);
        for n in &self.nodes {
            match n.total {
                Some(total) => writeln!(f, "\nnode {}: feasible, total {total}", n.node)?,
                None => writeln!(f, "\nnode {}: unschedulable", n.node)?,
            }
            for v in &n.filters {
                let mark = if v.decisive { "  <- reported" } else { "" };
                if v.code == "Success" {
                    writeln!(f, "  filter {:width$}  pass", v.plugin)?;
                } else {
                    writeln!(
                        f,
                        "  filter {:width$}  {}: {}{mark}",
                        v.plugin,
                        v.code,
                        v.reasons.join(", ")
                    )?;
                }
            }
            for s in &n.scores {
                writeln!(
                    f,
                    "  score  {:width$}  {:>5} -> {:>3} x {:>3} = {:>5}",
                    s.plugin, s.raw, s.normalized, s.weight, s.weighted
                )?;
            }
        }
        writeln!(f)?;
        match (&self.chosen, &self.failed_scheduling) {
            (Some(node), _) => {
                let total = self
                    .nodes
                    .iter()
                    .find(|n| &n.node == node)
                    .and_then(|n| n.total)
                    .unwrap_or(0);
                write!(f, "chosen: {node} (total {total})")?;
                if !self.tied.is_empty() {
                    write!(
                        f,
                        "; tied with {} (a cycle picks one of them at random)",
                        self.tied.join(", ")
                    )?;
                }
                writeln!(f)
            }
            (None, Some(message)) => writeln!(f, "FailedScheduling: {message}"),
            (None, None) => writeln!(f, "no node"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_number_quantities_are_read() {
        let yaml = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: a}
  status: {allocatable: {cpu: 4, memory: 8Gi, pods: 110}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: c, image: nginx, resources: {requests: {cpu: 0.5}}}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
"#;
        let mut objects = ClusterObjects::default();
        for doc in parse_documents(Path::new("c.yaml"), yaml).unwrap() {
            objects.add(Path::new("c.yaml"), doc).unwrap();
        }
        assert_eq!(objects.nodes.len(), 1);
        let alloc = objects.nodes[0]
            .status
            .as_ref()
            .unwrap()
            .allocatable
            .as_ref()
            .unwrap();
        assert_eq!(alloc["cpu"].0, "4");
        assert!(objects.find_pod("shop/web").is_some());
        assert!(objects.find_pod("web").is_none(), "web is not in default");
    }

    #[test]
    fn a_malformed_file_names_itself() {
        let err = parse_documents(Path::new("cluster.yaml"), "kind: [unclosed").unwrap_err();
        assert!(err.to_string().starts_with("cluster.yaml: "), "{err}");
    }
}
