//! PodTopologySpread, as upstream: `DoNotSchedule` constraints filter nodes
//! whose domain would exceed `maxSkew` (with `minDomains` and the node
//! inclusion policies); `ScheduleAnyway` constraints score nodes by the
//! matching pods in their domains, fewer is better. A pod without
//! constraints gets the default constraints (upstream's system defaults:
//! hostname maxSkew 3, zone maxSkew 5, both ScheduleAnyway).

mod counts;

use counts::{CountCache, Query, Selector};
use serde::Deserialize;
use wasm_scheduler_sdk::hash::{FastMap, FastSet};
use wasm_scheduler_sdk::normalize::MAX_NODE_SCORE;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::selectors::{lookup, pod_matches_node_selector_and_affinity};
use wasm_scheduler_sdk::taints::first_untolerated;
use wasm_scheduler_sdk::types::{
    DataNeeds, InclusionPolicy, KeyValue, LabelSelector, NodeId, UnsatisfiableAction,
};

/// Upstream's `ErrReasonConstraintsNotMatch`.
pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
/// Upstream's `ErrReasonNodeLabelNotMatch`.
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
/// `kubernetes.io/hostname`: per-node domains are counted on the node itself.
const HOSTNAME: &str = "kubernetes.io/hostname";
/// `topology.kubernetes.io/zone`.
const ZONE: &str = "topology.kubernetes.io/zone";
/// Labels a StatefulSet sets per pod or per revision: not part of its selector.
const PER_POD_LABELS: [&str; 3] = [
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "controller-revision-hash",
];

/// `whenUnsatisfiable` in the plugin's config.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    /// A filter.
    DoNotSchedule,
    /// A score.
    ScheduleAnyway,
}

/// A default constraint (upstream's `defaultConstraints` entries; no selector).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultConstraint {
    /// The largest allowed skew.
    pub max_skew: i32,
    /// The node label naming a domain.
    pub topology_key: String,
    /// Filter or score.
    pub when_unsatisfiable: WhenUnsatisfiable,
}

/// Where the default constraints come from.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum DefaultingType {
    /// Upstream's built-in defaults.
    #[default]
    System,
    /// `defaultConstraints`.
    List,
}

/// Upstream's `PodTopologySpreadArgs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodTopologySpreadArgs {
    /// Constraints for pods that have none (with `defaultingType: List`).
    #[serde(default)]
    pub default_constraints: Vec<DefaultConstraint>,
    /// `System` (default) or `List`.
    #[serde(default)]
    pub defaulting_type: DefaultingType,
}

/// One constraint as upstream's `topologySpreadConstraint`.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selector: Selector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    /// Whether the inclusion policies let every node take part for `pod`,
    /// so that its counts can be kept across cycles.
    fn includes_every_node(&self, pod: &Pod) -> bool {
        let unrestricted = pod.node_selector.is_empty()
            && pod
                .node_affinity
                .as_ref()
                .is_none_or(|a| a.required.is_none());
        (!self.honor_affinity || unrestricted) && !self.honor_taints
    }

    /// Upstream's `matchNodeInclusionPolicies`.
    fn includes(&self, pod: &Pod, node: &NodeInfo) -> bool {
        (!self.honor_affinity || pod_matches_node_selector_and_affinity(pod, &node.node))
            && (!self.honor_taints
                || first_untolerated(
                    &node.node.taints,
                    &pod.tolerations,
                    &[TaintEffect::NoSchedule, TaintEffect::NoExecute],
                )
                .is_none())
    }
}

/// Whether a node has every constraint's topology key.
fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| node.label(&c.key).is_some())
}

/// The filter's per-cycle state (upstream's `preFilterState`).
#[derive(Debug, Default)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: matching pods per domain value.
    counts: Vec<FastMap<String, i64>>,
}

/// The score's per-cycle state (upstream's `preScoreState`, less the parts
/// that depend on the scored nodes).
#[derive(Debug, Default)]
struct ScoreState {
    constraints: Vec<Constraint>,
    /// Whether nodes missing a topology key are left out (not for system defaults).
    require_all: bool,
    /// Per constraint (not hostname): matching pods per domain value.
    counts: Vec<FastMap<String, i64>>,
    /// Per hostname constraint: matching pods per node (nodes without any
    /// are absent), kept across cycles like the domain counts.
    node_counts: Vec<FastMap<NodeId, i64>>,
    /// From the last `pre_score` batch: normalizing weights and left-out nodes.
    weights: Vec<f64>,
    ignored: FastSet<NodeId>,
    /// The nodes of the last `pre_score` batch.
    batch: Vec<NodeId>,
}

impl ScoreState {
    /// Upstream's `initPreScoreState` over the nodes being scored.
    fn weigh(&self, nodes: &[&NodeInfo]) -> (Vec<f64>, FastSet<NodeId>) {
        let mut ignored = FastSet::default();
        let mut domains: Vec<FastSet<&str>> = vec![FastSet::default(); self.constraints.len()];
        for node in nodes {
            if self.require_all && !has_all_keys(node, &self.constraints) {
                ignored.insert(node.id);
                continue;
            }
            for (i, c) in self.constraints.iter().enumerate() {
                if c.key != HOSTNAME {
                    domains[i].insert(node.label(&c.key).unwrap_or(""));
                }
            }
        }
        let weights = self
            .constraints
            .iter()
            .zip(&domains)
            .map(|(c, d)| {
                let size = if c.key == HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    d.len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        (weights, ignored)
    }

    /// Upstream's `Score`: matching pods in the node's domains, weighted.
    fn raw(&self, node: &NodeInfo, weights: &[f64], ignored: &FastSet<NodeId>) -> i64 {
        if ignored.contains(&node.id) {
            return 0;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.key) else {
                continue;
            };
            let count = if c.key == HOSTNAME {
                self.node_counts[i].get(&node.id).copied().unwrap_or(0)
            } else {
                self.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * weights[i] + (c.max_skew - 1) as f64;
        }
        score.round() as i64
    }
}

/// The plugin: its default constraints and the cycle's state.
#[derive(Debug)]
pub struct PodTopologySpread {
    defaults: Vec<DefaultConstraint>,
    system_defaulted: bool,
    filter: FilterState,
    score: ScoreState,
    /// Domain counts kept across cycles.
    cache: CountCache,
}

impl PodTopologySpread {
    /// The pod's constraints with `action` (or the defaults when it has
    /// none), as upstream's `filterTopologySpreadConstraints` and
    /// `buildDefaultConstraints`.
    fn constraints(&self, pod: &Pod, action: UnsatisfiableAction) -> Vec<Constraint> {
        if !pod.topology_spread_constraints.is_empty() {
            return pod
                .topology_spread_constraints
                .iter()
                .filter(|c| c.when_unsatisfiable == action)
                .map(|c| {
                    let mut selector = c.label_selector.clone();
                    if let Some(s) = &mut selector {
                        for key in &c.match_label_keys {
                            if let Some(value) = lookup(&pod.labels, key) {
                                s.match_labels.push(KeyValue {
                                    key: key.clone(),
                                    value: value.to_string(),
                                });
                            }
                        }
                    }
                    Constraint {
                        max_skew: i64::from(c.max_skew),
                        key: c.topology_key.clone(),
                        selector: Selector(selector),
                        min_domains: i64::from(c.min_domains.unwrap_or(1)),
                        honor_affinity: c.node_affinity_policy == InclusionPolicy::Honor,
                        honor_taints: c.node_taints_policy == InclusionPolicy::Honor,
                    }
                })
                .collect();
        }
        let wanted = match action {
            UnsatisfiableAction::DoNotSchedule => WhenUnsatisfiable::DoNotSchedule,
            UnsatisfiableAction::ScheduleAnyway => WhenUnsatisfiable::ScheduleAnyway,
        };
        let defaults: Vec<&DefaultConstraint> = self
            .defaults
            .iter()
            .filter(|d| d.when_unsatisfiable == wanted)
            .collect();
        let Some(selector) = default_selector(pod).filter(|_| !defaults.is_empty()) else {
            return Vec::new();
        };
        defaults
            .into_iter()
            .map(|d| Constraint {
                max_skew: i64::from(d.max_skew),
                key: d.topology_key.clone(),
                selector: Selector(Some(selector.clone())),
                min_domains: 1,
                honor_affinity: true,
                honor_taints: false,
            })
            .collect()
    }
}

/// The selector default constraints spread by: upstream merges the selectors
/// of the Services, ReplicaSets, ReplicationControllers and StatefulSets that
/// select the pod. The plugin sees neither Services nor controllers, so a pod
/// owned by one of those controllers is spread with its siblings: the pods
/// with its labels (less a StatefulSet's per-pod ones). Other pods get none.
fn default_selector(pod: &Pod) -> Option<LabelSelector> {
    if !matches!(
        pod.controller_kind.as_str(),
        "ReplicaSet" | "ReplicationController" | "StatefulSet"
    ) {
        return None;
    }
    let match_labels: Vec<KeyValue> = pod
        .labels
        .iter()
        .filter(|kv| !PER_POD_LABELS.contains(&kv.key.as_str()))
        .cloned()
        .collect();
    (!match_labels.is_empty()).then_some(LabelSelector {
        match_labels,
        match_expressions: Vec::new(),
    })
}

/// Matching pods per domain of `c` for `pod`, over the nodes that have all
/// `required` keys and pass the inclusion policies. When the policies let
/// every node in, the counts come from `cache`, which revisits only nodes
/// whose pods changed since the last cycle.
fn domain_counts(
    cache: &mut CountCache,
    cluster: &Cluster,
    pod: &Pod,
    c: &Constraint,
    required: &[String],
) -> FastMap<String, i64> {
    let query = Query {
        key: &c.key,
        required,
        selector: &c.selector,
        namespace: &pod.namespace,
    };
    if c.includes_every_node(pod) {
        cache.counts(cluster, &query)
    } else {
        query.count_all(cluster, |n| c.includes(pod, n))
    }
}

impl Plugin for PodTopologySpread {
    const NAME: &'static str = "PodTopologySpread";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER
        .union(ExtensionPoints::SCORE)
        .union(ExtensionPoints::NORMALIZE_SCORE);
    type Config = PodTopologySpreadArgs;

    fn init(args: PodTopologySpreadArgs) -> Result<Self, String> {
        let (defaults, system_defaulted) = match args.defaulting_type {
            DefaultingType::System if !args.default_constraints.is_empty() => {
                return Err(
                    "defaultConstraints: must be empty with defaultingType System".to_string(),
                );
            }
            DefaultingType::System => (
                vec![
                    DefaultConstraint {
                        max_skew: 3,
                        topology_key: HOSTNAME.to_string(),
                        when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
                    },
                    DefaultConstraint {
                        max_skew: 5,
                        topology_key: ZONE.to_string(),
                        when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
                    },
                ],
                true,
            ),
            DefaultingType::List => (args.default_constraints, false),
        };
        if let Some(bad) = defaults.iter().find(|d| d.max_skew <= 0) {
            return Err(format!(
                "defaultConstraints: maxSkew of {} must be greater than 0",
                bad.topology_key
            ));
        }
        Ok(PodTopologySpread {
            defaults,
            system_defaulted,
            filter: FilterState::default(),
            score: ScoreState::default(),
            cache: CountCache::default(),
        })
    }

    fn needs(&self) -> DataNeeds {
        DataNeeds::nodes_only().without_usage().with_pods()
    }

    fn prepare(&mut self, pod: &Pod, cluster: &Cluster) {
        // Upstream's PreFilter: matching pods per domain over every node
        // that has all the keys and passes the inclusion policies.
        let hard = self.constraints(pod, UnsatisfiableAction::DoNotSchedule);
        let hard_keys: Vec<String> = hard.iter().map(|c| c.key.clone()).collect();
        let counts = hard
            .iter()
            .map(|c| domain_counts(&mut self.cache, cluster, pod, c, &hard_keys))
            .collect();
        self.filter = FilterState {
            constraints: hard,
            counts,
        };

        // Upstream's PreScore, for every domain (those of the scored nodes
        // get the same counts as upstream's). Per-node (hostname) counts are
        // taken when scoring.
        let soft = self.constraints(pod, UnsatisfiableAction::ScheduleAnyway);
        let require_all = !pod.topology_spread_constraints.is_empty() || !self.system_defaulted;
        let soft_keys: Vec<String> = soft.iter().map(|c| c.key.clone()).collect();
        let counts = soft
            .iter()
            .map(|c| {
                if c.key == HOSTNAME {
                    return FastMap::default();
                }
                let own_key = [c.key.clone()];
                let required = if require_all {
                    &soft_keys[..]
                } else {
                    &own_key[..]
                };
                domain_counts(&mut self.cache, cluster, pod, c, required)
            })
            .collect();
        // Upstream counts a node's own pods for hostname constraints with no
        // inclusion policy, so these are always kept across cycles.
        let hostname = [HOSTNAME.to_string()];
        let node_counts = soft
            .iter()
            .map(|c| {
                if c.key != HOSTNAME {
                    return FastMap::default();
                }
                let query = Query {
                    key: HOSTNAME,
                    required: &hostname,
                    selector: &c.selector,
                    namespace: &pod.namespace,
                };
                self.cache.per_node(cluster, &query)
            })
            .collect();
        self.score = ScoreState {
            constraints: soft,
            require_all,
            counts,
            node_counts,
            weights: Vec::new(),
            ignored: FastSet::default(),
            batch: Vec::new(),
        };
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        for (i, c) in self.filter.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.key) else {
                return Status {
                    code: Code::UnschedulableAndUnresolvable,
                    reasons: vec![REASON_MISSING_LABEL.to_string()],
                };
            };
            let domains = &self.filter.counts[i];
            // The global minimum is 0 while there are fewer eligible domains than minDomains.
            let min = if (domains.len() as i64) < c.min_domains {
                0
            } else {
                domains
                    .values()
                    .copied()
                    .min()
                    .unwrap_or(i64::from(i32::MAX))
            };
            let own = i64::from(c.selector.matches(&pod.labels));
            let skew = domains.get(value).copied().unwrap_or(0) + own - min;
            if skew > c.max_skew {
                return Status::unschedulable(REASON);
            }
        }
        Status::success()
    }

    fn pre_score(&mut self, _pod: &Pod, _cluster: &Cluster, nodes: &[&NodeInfo]) {
        let (weights, ignored) = self.score.weigh(nodes);
        self.score.weights = weights;
        self.score.ignored = ignored;
        self.score.batch = nodes.iter().map(|n| n.id).collect();
    }

    fn score(&self, _pod: &Pod, node: &NodeInfo) -> i64 {
        if self.score.constraints.is_empty() {
            return 0;
        }
        self.score
            .raw(node, &self.score.weights, &self.score.ignored)
    }

    fn normalize_score(&self, _pod: &Pod, nodes: &[&NodeInfo], scores: &mut [i64]) {
        // Upstream skips the plugin for a pod without soft constraints.
        if self.score.constraints.is_empty() {
            scores.fill(0);
            return;
        }
        // The weights depend on every scored node. When one `score` batch saw
        // them all, its raw scores stand; when the host split the nodes over
        // workers, they are recomputed over the whole set.
        let whole = self.score.batch.len() == nodes.len()
            && self
                .score
                .batch
                .iter()
                .zip(nodes)
                .all(|(&id, n)| id == n.id);
        let recomputed;
        let (raw, ignored): (Vec<i64>, &FastSet<NodeId>) = if whole {
            (scores.to_vec(), &self.score.ignored)
        } else {
            let (weights, ignored) = self.score.weigh(nodes);
            recomputed = ignored;
            (
                nodes
                    .iter()
                    .map(|n| self.score.raw(n, &weights, &recomputed))
                    .collect(),
                &recomputed,
            )
        };
        let counted = nodes
            .iter()
            .zip(&raw)
            .filter(|(n, _)| !ignored.contains(&n.id));
        let min = counted.clone().map(|(_, &s)| s).min().unwrap_or(i64::MAX);
        let max = counted.map(|(_, &s)| s).max().unwrap_or(0).max(0);
        for ((score, node), raw) in scores.iter_mut().zip(nodes).zip(raw) {
            *score = if ignored.contains(&node.id) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - raw) / max
            };
        }
    }
}

export_plugin!(PodTopologySpread);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::pod;

    #[test]
    fn system_defaults_spread_a_replica_set_pod_by_its_labels() {
        let plugin = PodTopologySpread::init(PodTopologySpreadArgs::default()).unwrap();
        let mut p = pod("web-1").with_label("app", "web");
        assert!(
            plugin
                .constraints(&p, UnsatisfiableAction::ScheduleAnyway)
                .is_empty(),
            "a pod without a controller has no default constraints"
        );
        p.controller_kind = "ReplicaSet".into();
        let soft = plugin.constraints(&p, UnsatisfiableAction::ScheduleAnyway);
        assert_eq!(
            soft.iter()
                .map(|c| (c.key.as_str(), c.max_skew))
                .collect::<Vec<_>>(),
            [(HOSTNAME, 3), (ZONE, 5)]
        );
        assert!(
            plugin
                .constraints(&p, UnsatisfiableAction::DoNotSchedule)
                .is_empty()
        );
    }

    #[test]
    fn a_stateful_set_pod_is_not_spread_against_itself_alone() {
        let mut p = pod("db-0")
            .with_label("app", "db")
            .with_label("statefulset.kubernetes.io/pod-name", "db-0");
        p.controller_kind = "StatefulSet".into();
        let s = default_selector(&p).unwrap();
        assert_eq!(s.match_labels.len(), 1);
        assert_eq!(s.match_labels[0].key, "app");
    }

    #[test]
    fn system_defaulting_refuses_listed_constraints() {
        let args: PodTopologySpreadArgs = serde_json::from_str(
            r#"{"defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]}"#,
        )
        .unwrap();
        assert!(PodTopologySpread::init(args).is_err());
    }
}
