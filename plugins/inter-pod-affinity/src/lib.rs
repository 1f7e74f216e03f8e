//! InterPodAffinity, as upstream: the filter enforces the pod's required
//! pod affinity and anti-affinity and the required anti-affinity of the pods
//! already running; the score adds the weights of preferred terms (the pod's
//! own, and running pods' terms that the pod matches, with their required
//! affinity counted at `hardPodAffinityWeight`) per topology domain, then
//! scales the totals to 0..=100.

use serde::Deserialize;
use std::collections::HashMap;
use wasm_scheduler_sdk::has_pod_affinity;
use wasm_scheduler_sdk::normalize::MAX_NODE_SCORE;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::selectors::label_selector_matches;
use wasm_scheduler_sdk::types::{DataNeeds, KeyValue, LabelSelector, PodAffinity, PodAffinityTerm};

/// Upstream's `ErrReasonAffinityRulesNotMatch`.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Upstream's `ErrReasonAntiAffinityRulesNotMatch`.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Upstream's `ErrReasonExistingAntiAffinityRulesNotMatch`.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
/// The one namespace label every namespace has, and the only one plugins can know.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Upstream's `InterPodAffinityArgs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InterPodAffinityArgs {
    /// The score weight of running pods' required affinity terms the pod matches (0..=100).
    #[serde(default = "one")]
    pub hard_pod_affinity_weight: i64,
    /// Score only by the pod's own preferred terms.
    #[serde(default)]
    pub ignore_preferred_terms_of_existing_pods: bool,
}

fn one() -> i64 {
    1
}

impl Default for InterPodAffinityArgs {
    fn default() -> Self {
        InterPodAffinityArgs {
            hard_pod_affinity_weight: 1,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

/// A pod (anti-)affinity term as upstream's `AffinityTerm`: which pods, in
/// which namespaces, and the topology key.
#[derive(Debug, Clone)]
struct Term {
    /// `None` matches no pod; an empty selector matches every pod.
    selector: Option<LabelSelector>,
    /// The listed namespaces, or the owner's own when none are listed and there is no selector.
    namespaces: Vec<String>,
    /// `None` matches no namespace; an empty selector matches all.
    namespace_selector: Option<LabelSelector>,
    key: String,
}

impl Term {
    fn new(owner_namespace: &str, t: &PodAffinityTerm) -> Self {
        let namespaces = if t.namespaces.is_empty() && t.namespace_selector.is_none() {
            vec![owner_namespace.to_string()]
        } else {
            t.namespaces.clone()
        };
        Term {
            selector: t.label_selector.clone(),
            namespaces,
            namespace_selector: t.namespace_selector.clone(),
            key: t.topology_key.clone(),
        }
    }

    /// Upstream's `AffinityTerm.Matches`. Namespace labels are not part of
    /// the plugin contract, so a namespace selector sees only the label
    /// `kubernetes.io/metadata.name` that every namespace carries.
    fn matches(&self, pod: &Pod) -> bool {
        let in_namespace = self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                label_selector_matches(
                    s,
                    &[KeyValue {
                        key: NAMESPACE_NAME_LABEL.to_string(),
                        value: pod.namespace.clone(),
                    }],
                )
            });
        in_namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| label_selector_matches(s, &pod.labels))
    }
}

/// The terms of one pod, by kind.
#[derive(Debug, Clone, Default)]
struct Terms {
    affinity: Vec<Term>,
    anti_affinity: Vec<Term>,
    preferred_affinity: Vec<(i64, Term)>,
    preferred_anti_affinity: Vec<(i64, Term)>,
}

impl Terms {
    fn of(pod: &Pod) -> Self {
        let required = |a: &Option<PodAffinity>| -> Vec<Term> {
            a.iter()
                .flat_map(|a| &a.required)
                .map(|t| Term::new(&pod.namespace, t))
                .collect()
        };
        let preferred = |a: &Option<PodAffinity>| -> Vec<(i64, Term)> {
            a.iter()
                .flat_map(|a| &a.preferred)
                .map(|w| (i64::from(w.weight), Term::new(&pod.namespace, &w.term)))
                .collect()
        };
        Terms {
            affinity: required(&pod.pod_affinity),
            anti_affinity: required(&pod.pod_anti_affinity),
            preferred_affinity: preferred(&pod.pod_affinity),
            preferred_anti_affinity: preferred(&pod.pod_anti_affinity),
        }
    }
}

/// Counts (or scores) per topology key, then value: looked up by `&str`
/// without building a key, since filter asks once per node and label.
type PairCounts = HashMap<String, HashMap<String, i64>>;

/// Adds `value` to the pair of `key` and `node`'s value for it, if it has one.
fn add(counts: &mut PairCounts, node: &NodeInfo, key: &str, value: i64) {
    if let Some(v) = node.label(key) {
        *counts
            .entry(key.to_string())
            .or_default()
            .entry(v.to_string())
            .or_insert(0) += value;
    }
}

fn count(counts: &PairCounts, key: &str, value: &str) -> i64 {
    counts
        .get(key)
        .and_then(|values| values.get(value))
        .copied()
        .unwrap_or(0)
}

/// The cycle's state: upstream's `preFilterState` and `preScoreState`.
#[derive(Debug, Default)]
struct CycleState {
    terms: Terms,
    /// Whether the pod matches all its own required affinity terms.
    matches_own_affinity: bool,
    affinity_counts: PairCounts,
    anti_affinity_counts: PairCounts,
    existing_anti_affinity_counts: PairCounts,
    /// Score per topology key and value.
    topology_score: PairCounts,
}

/// The plugin.
#[derive(Debug)]
pub struct InterPodAffinity {
    args: InterPodAffinityArgs,
    cycle: CycleState,
}

impl InterPodAffinity {
    /// One running pod `other` on `node`: upstream's PreFilter counts and
    /// PreScore `processExistingPod` for the incoming `pod`.
    fn visit(
        &self,
        state: &mut CycleState,
        terms: &Terms,
        pod: &Pod,
        node: &NodeInfo,
        other: &Pod,
        scoring: bool,
    ) {
        // The pod's required terms over running pods...
        if !terms.affinity.is_empty() && terms.affinity.iter().all(|t| t.matches(other)) {
            for t in &terms.affinity {
                add(&mut state.affinity_counts, node, &t.key, 1);
            }
        }
        for t in terms.anti_affinity.iter().filter(|t| t.matches(other)) {
            add(&mut state.anti_affinity_counts, node, &t.key, 1);
        }
        let scores = &mut state.topology_score;
        if !has_pod_affinity(other) {
            Self::score_terms(scores, &terms.preferred_affinity, other, node, 1);
            Self::score_terms(scores, &terms.preferred_anti_affinity, other, node, -1);
            return;
        }
        // ...and running pods' required anti-affinity over the pod.
        let theirs = Terms::of(other);
        for t in theirs.anti_affinity.iter().filter(|t| t.matches(pod)) {
            add(&mut state.existing_anti_affinity_counts, node, &t.key, 1);
        }
        if node.node.labels.is_empty() {
            return;
        }
        Self::score_terms(scores, &terms.preferred_affinity, other, node, 1);
        Self::score_terms(scores, &terms.preferred_anti_affinity, other, node, -1);
        if self.args.hard_pod_affinity_weight > 0 {
            for t in &theirs.affinity {
                Self::score_term(scores, t, self.args.hard_pod_affinity_weight, pod, node);
            }
        }
        if !self.args.ignore_preferred_terms_of_existing_pods || scoring {
            Self::score_terms(scores, &theirs.preferred_affinity, pod, node, 1);
            Self::score_terms(scores, &theirs.preferred_anti_affinity, pod, node, -1);
        }
    }

    fn score_terms(
        scores: &mut PairCounts,
        terms: &[(i64, Term)],
        target: &Pod,
        node: &NodeInfo,
        sign: i64,
    ) {
        for (weight, term) in terms {
            Self::score_term(scores, term, *weight * sign, target, node);
        }
    }

    fn score_term(
        scores: &mut PairCounts,
        term: &Term,
        weight: i64,
        target: &Pod,
        node: &NodeInfo,
    ) {
        if term.matches(target) {
            add(scores, node, &term.key, weight);
        }
    }
}

impl Plugin for InterPodAffinity {
    const NAME: &'static str = "InterPodAffinity";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER
        .union(ExtensionPoints::SCORE)
        .union(ExtensionPoints::NORMALIZE_SCORE);
    type Config = InterPodAffinityArgs;

    fn init(args: InterPodAffinityArgs) -> Result<Self, String> {
        if !(0..=100).contains(&args.hard_pod_affinity_weight) {
            return Err(format!(
                "hardPodAffinityWeight {} must be in 0..=100",
                args.hard_pod_affinity_weight
            ));
        }
        Ok(InterPodAffinity {
            args,
            cycle: CycleState::default(),
        })
    }

    fn needs(&self) -> DataNeeds {
        DataNeeds::nodes_only().without_usage().with_pods()
    }

    fn prepare(&mut self, pod: &Pod, cluster: &Cluster) {
        let terms = Terms::of(pod);
        let mut state = CycleState {
            matches_own_affinity: !terms.affinity.is_empty()
                && terms.affinity.iter().all(|t| t.matches(pod)),
            ..Default::default()
        };
        let scoring =
            !terms.preferred_affinity.is_empty() || !terms.preferred_anti_affinity.is_empty();
        let wanted = !terms.affinity.is_empty() || !terms.anti_affinity.is_empty();
        if wanted || scoring {
            for node in cluster.nodes() {
                for existing in &node.pods {
                    self.visit(&mut state, &terms, pod, node, &existing.pod, scoring);
                }
            }
        } else {
            // A pod without terms of its own is affected only by running
            // pods that have some (upstream's `PodsWithAffinity`).
            for (node, existing) in cluster.pods_with_affinity() {
                self.visit(&mut state, &terms, pod, node, &existing.pod, scoring);
            }
        }
        if self.args.ignore_preferred_terms_of_existing_pods && !scoring {
            state.topology_score.clear();
        }
        state.terms = terms;
        self.cycle = state;
    }

    fn filter(&self, _pod: &Pod, node: &NodeInfo) -> Status {
        let s = &self.cycle;
        // Upstream's satisfyPodAffinity.
        let mut pods_exist = true;
        for t in &s.terms.affinity {
            match node.label(&t.key) {
                Some(v) if count(&s.affinity_counts, &t.key, v) > 0 => {}
                Some(_) => pods_exist = false,
                // Every topology label must exist on the node.
                None => return Status::unresolvable(REASON_AFFINITY),
            }
        }
        // The first pod of a group with affinity to itself may go anywhere
        // its topology exists, as long as no pod matches its terms yet.
        let first_of_its_group = s.affinity_counts.is_empty() && s.matches_own_affinity;
        if !(pods_exist || first_of_its_group) {
            return Status::unresolvable(REASON_AFFINITY);
        }
        if s.terms.anti_affinity.iter().any(|t| {
            node.label(&t.key)
                .is_some_and(|v| count(&s.anti_affinity_counts, &t.key, v) > 0)
        }) {
            return Status::unschedulable(REASON_ANTI_AFFINITY);
        }
        if !s.existing_anti_affinity_counts.is_empty()
            && node
                .node
                .labels
                .iter()
                .any(|kv| count(&s.existing_anti_affinity_counts, &kv.key, &kv.value) > 0)
        {
            return Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY);
        }
        Status::success()
    }

    fn score(&self, _pod: &Pod, node: &NodeInfo) -> i64 {
        self.cycle
            .topology_score
            .iter()
            .filter_map(|(key, values)| node.label(key).and_then(|v| values.get(v)))
            .sum()
    }

    fn normalize_score(&self, _pod: &Pod, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        // Upstream skips the plugin when no term scored anywhere.
        if self.cycle.topology_score.is_empty() {
            scores.fill(0);
            return;
        }
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            *s = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((*s - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
    }
}

export_plugin!(InterPodAffinity);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::pod;

    fn term(
        selector: Option<LabelSelector>,
        namespaces: &[&str],
        ns_selector: Option<LabelSelector>,
    ) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: selector,
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            namespace_selector: ns_selector,
            topology_key: "zone".into(),
            match_label_keys: Vec::new(),
            mismatch_label_keys: Vec::new(),
        }
    }

    fn everything() -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: Vec::new(),
            match_expressions: Vec::new(),
        })
    }

    #[test]
    fn namespaces_default_to_the_owners_and_an_empty_selector_means_all() {
        let mut other = pod("o");
        other.namespace = "shop".into();
        let own = Term::new("default", &term(everything(), &[], None));
        assert!(
            !own.matches(&other),
            "only the owner's namespace by default"
        );
        let all = Term::new("default", &term(everything(), &[], everything()));
        assert!(all.matches(&other));
        let named = Term::new(
            "default",
            &term(
                everything(),
                &[],
                Some(LabelSelector {
                    match_labels: vec![KeyValue {
                        key: NAMESPACE_NAME_LABEL.into(),
                        value: "shop".into(),
                    }],
                    match_expressions: Vec::new(),
                }),
            ),
        );
        assert!(
            named.matches(&other),
            "a namespace is known by its name label"
        );
        let nothing = Term::new("shop", &term(None, &[], None));
        assert!(
            !nothing.matches(&other),
            "a term without a selector matches no pod"
        );
    }

    #[test]
    fn hard_weight_is_bounded() {
        let args = InterPodAffinityArgs {
            hard_pod_affinity_weight: 101,
            ..Default::default()
        };
        assert!(InterPodAffinity::init(args).is_err());
    }
}
