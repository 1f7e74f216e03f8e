//! NodeAffinity, as upstream: the filter requires the pod's `nodeSelector`
//! and its required node affinity (terms ORed; a term's expressions and
//! `matchFields` on `metadata.name` ANDed); the score sums the weights of
//! the preferred terms a node matches, normalized so the best node gets 100.
//! The config's `addedAffinity` adds required and preferred terms to every pod.

use serde::Deserialize;
use wasm_scheduler_sdk::normalize::default_normalize;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::selectors::{
    any_term_matches, pod_matches_node_selector_and_affinity, term_matches,
};
use wasm_scheduler_sdk::types::{
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm,
};

/// Upstream's `ErrReasonPod`.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream's `errReasonEnforced`: the node fails the configured `addedAffinity`.
pub const REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";

/// A node-selector requirement as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementConfig {
    /// The label key, or `metadata.name` in `matchFields`.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` or `Lt`.
    pub operator: String,
    /// The operand values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A node-selector term as written in the config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TermConfig {
    /// Requirements on labels.
    #[serde(default)]
    pub match_expressions: Vec<RequirementConfig>,
    /// Requirements on fields.
    #[serde(default)]
    pub match_fields: Vec<RequirementConfig>,
}

/// `requiredDuringSchedulingIgnoredDuringExecution`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorConfig {
    /// ORed terms.
    pub node_selector_terms: Vec<TermConfig>,
}

/// A preferred term with its weight.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferredConfig {
    /// 1..=100.
    pub weight: i32,
    /// The term.
    pub preference: TermConfig,
}

/// `addedAffinity`: node affinity the scheduler adds to every pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddedAffinity {
    /// Every pod must also satisfy these terms.
    #[serde(default)]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelectorConfig>,
    /// Every pod also prefers these.
    #[serde(default)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredConfig>,
}

/// Upstream's `NodeAffinityArgs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAffinityArgs {
    /// Affinity added to every pod of the profile.
    #[serde(default)]
    pub added_affinity: Option<AddedAffinity>,
}

fn requirement(r: &RequirementConfig) -> Result<NodeSelectorRequirement, String> {
    use NodeSelectorOperator::*;
    let operator = match r.operator.as_str() {
        "In" => In,
        "NotIn" => NotIn,
        "Exists" => Exists,
        "DoesNotExist" => DoesNotExist,
        "Gt" => Gt,
        "Lt" => Lt,
        other => {
            return Err(format!(
                "addedAffinity: unknown operator {other:?} for key {}",
                r.key
            ));
        }
    };
    Ok(NodeSelectorRequirement {
        key: r.key.clone(),
        operator,
        values: r.values.clone(),
    })
}

fn term(t: &TermConfig) -> Result<NodeSelectorTerm, String> {
    Ok(NodeSelectorTerm {
        match_expressions: t
            .match_expressions
            .iter()
            .map(requirement)
            .collect::<Result<_, _>>()?,
        match_fields: t
            .match_fields
            .iter()
            .map(requirement)
            .collect::<Result<_, _>>()?,
    })
}

/// The plugin: the configured `addedAffinity`, resolved.
#[derive(Debug, Default)]
pub struct NodeAffinity {
    /// Terms every pod must also satisfy (ORed); `None`: no added requirement.
    added_required: Option<Vec<NodeSelectorTerm>>,
    /// Preferred terms added to every pod's.
    added_preferred: Vec<PreferredSchedulingTerm>,
}

/// The summed weights of the terms `node` matches.
fn preferred_weight(terms: &[PreferredSchedulingTerm], node: &NodeInfo) -> i64 {
    terms
        .iter()
        .filter(|t| t.weight != 0 && term_matches(&t.preference, &node.node))
        .map(|t| i64::from(t.weight))
        .sum()
}

impl Plugin for NodeAffinity {
    const NAME: &'static str = "NodeAffinity";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER
        .union(ExtensionPoints::SCORE)
        .union(ExtensionPoints::NORMALIZE_SCORE);
    type Config = NodeAffinityArgs;

    fn init(args: NodeAffinityArgs) -> Result<Self, String> {
        let Some(added) = args.added_affinity else {
            return Ok(NodeAffinity::default());
        };
        let added_preferred = added
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .map(|p| {
                if !(1..=100).contains(&p.weight) {
                    return Err(format!(
                        "addedAffinity: preferred weight {} must be in 1..=100",
                        p.weight
                    ));
                }
                Ok(PreferredSchedulingTerm {
                    weight: p.weight,
                    preference: term(&p.preference)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(NodeAffinity {
            added_required: added
                .required_during_scheduling_ignored_during_execution
                .map(|r| r.node_selector_terms.iter().map(term).collect())
                .transpose()?,
            added_preferred,
        })
    }

    fn needs(&self) -> DataNeeds {
        // Labels, taints and names only: no call after every binding.
        DataNeeds::nodes_only().without_usage()
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if let Some(terms) = &self.added_required
            && !any_term_matches(terms, &node.node)
        {
            return Status::unresolvable(REASON_ENFORCED);
        }
        if pod_matches_node_selector_and_affinity(pod, &node.node) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> i64 {
        preferred_weight(&self.added_preferred, node)
            + pod
                .node_affinity
                .as_ref()
                .map_or(0, |a| preferred_weight(&a.preferred, node))
    }

    fn normalize_score(&self, _pod: &Pod, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

export_plugin!(NodeAffinity);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};

    #[test]
    fn a_bad_added_affinity_fails_init_with_its_field() {
        let args: NodeAffinityArgs = serde_json::from_str(
            r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "Near"}]}]}}}"#,
        )
        .unwrap();
        let err = NodeAffinity::init(args).unwrap_err();
        assert!(
            err.contains("unknown operator \"Near\" for key zone"),
            "{err}"
        );
        let args: NodeAffinityArgs = serde_json::from_str(
            r#"{"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                [{"weight": 0, "preference": {}}]}}"#,
        )
        .unwrap();
        assert!(NodeAffinity::init(args).unwrap_err().contains("weight 0"));
    }

    #[test]
    fn node_selector_must_match() {
        let mut p = pod("p");
        p.node_selector = vec![KeyValue {
            key: "foo".into(),
            value: "bar".into(),
        }];
        let labelled = NodeInfo::new(0, node("a").with_label("foo", "bar"));
        let plugin = NodeAffinity::default();
        assert!(plugin.filter(&p, &labelled).is_success());
        assert_eq!(
            plugin.filter(&p, &NodeInfo::new(1, node("b"))).reasons,
            [REASON]
        );
    }
}
