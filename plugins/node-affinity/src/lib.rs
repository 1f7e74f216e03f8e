//! NodeAffinity, as upstream: the filter requires the pod's `nodeSelector`
//! and its required node affinity (terms ORed; a term's expressions and
//! `matchFields` on `metadata.name` ANDed); the score sums the weights of
//! the preferred terms a node matches, normalized so the best node gets 100.

use wasm_scheduler_sdk::normalize::default_normalize;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::selectors::{pod_matches_node_selector_and_affinity, term_matches};

/// Upstream's `ErrReasonPod`.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

/// The plugin; upstream's `addedAffinity` argument is not supported yet.
pub struct NodeAffinity;

impl Plugin for NodeAffinity {
    const NAME: &'static str = "NodeAffinity";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER
        .union(ExtensionPoints::SCORE)
        .union(ExtensionPoints::NORMALIZE_SCORE);
    type Config = ();

    fn init(_: ()) -> Result<Self, String> {
        Ok(NodeAffinity)
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if pod_matches_node_selector_and_affinity(pod, &node.node) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> i64 {
        pod.node_affinity.as_ref().map_or(0, |a| {
            a.preferred
                .iter()
                .filter(|t| t.weight != 0 && term_matches(&t.preference, &node.node))
                .map(|t| i64::from(t.weight))
                .sum()
        })
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
    fn node_selector_must_match() {
        let mut p = pod("p");
        p.node_selector = vec![KeyValue {
            key: "foo".into(),
            value: "bar".into(),
        }];
        let labelled = NodeInfo::new(0, node("a").with_label("foo", "bar"));
        assert!(NodeAffinity.filter(&p, &labelled).is_success());
        assert_eq!(
            NodeAffinity
                .filter(&p, &NodeInfo::new(1, node("b")))
                .reasons,
            [REASON]
        );
    }
}
