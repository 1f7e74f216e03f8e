//! Label-selector and node-selector matching with upstream's semantics.

use crate::types::{
    KeyValue, LabelSelector, LabelSelectorOperator, Node, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, Pod,
};

/// The value of `key` in a key/value list (labels, annotations, node selector).
pub fn lookup<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| kv.value.as_str())
}

/// Whether `labels` satisfy a label selector (all `match-labels` and all expressions).
pub fn label_selector_matches(selector: &LabelSelector, labels: &[KeyValue]) -> bool {
    selector
        .match_labels
        .iter()
        .all(|kv| lookup(labels, &kv.key) == Some(kv.value.as_str()))
        && selector.match_expressions.iter().all(|req| {
            let value = lookup(labels, &req.key);
            match req.operator {
                LabelSelectorOperator::In => {
                    value.is_some_and(|v| req.values.iter().any(|x| x == v))
                }
                LabelSelectorOperator::NotIn => {
                    !value.is_some_and(|v| req.values.iter().any(|x| x == v))
                }
                LabelSelectorOperator::Exists => value.is_some(),
                LabelSelectorOperator::DoesNotExist => value.is_none(),
            }
        })
}

/// Whether a value satisfies one node-selector requirement (`None`: key absent).
///
/// `Gt`/`Lt` compare integers and fail when either side is not one, as upstream.
pub fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let in_values = |v: &str| req.values.iter().any(|x| x == v);
    let compare = |want: fn(i64, i64) -> bool| {
        let [bound] = req.values.as_slice() else {
            return false;
        };
        match (value.map(str::parse::<i64>), bound.parse::<i64>()) {
            (Some(Ok(v)), Ok(b)) => want(v, b),
            _ => false,
        }
    };
    match req.operator {
        NodeSelectorOperator::In => value.is_some_and(in_values),
        NodeSelectorOperator::NotIn => !value.is_some_and(in_values),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt => compare(|v, b| v > b),
        NodeSelectorOperator::Lt => compare(|v, b| v < b),
    }
}

/// Whether a node satisfies a node-selector term: every expression on labels and
/// every field requirement (only `metadata.name` exists). A term with neither
/// matches no node, as upstream.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions
        .iter()
        .all(|req| requirement_matches(req, lookup(&node.labels, &req.key)))
        && term.match_fields.iter().all(|req| {
            req.key == "metadata.name" && requirement_matches(req, Some(node.name.as_str()))
        })
}

/// Whether a node satisfies any of the terms (terms are ORed).
pub fn any_term_matches(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms.iter().any(|t| term_matches(t, node))
}

/// Whether a node satisfies the pod's `nodeSelector` and its required node affinity.
pub fn pod_matches_node_selector_and_affinity(pod: &Pod, node: &Node) -> bool {
    pod.node_selector
        .iter()
        .all(|kv| lookup(&node.labels, &kv.key) == Some(kv.value.as_str()))
        && pod
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
            .is_none_or(|terms| any_term_matches(terms, node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::node;

    fn req(key: &str, operator: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn gt_and_lt_compare_integers_and_reject_non_integers() {
        let gt = req("k", NodeSelectorOperator::Gt, &["5"]);
        assert!(requirement_matches(&gt, Some("6")));
        assert!(!requirement_matches(&gt, Some("5")));
        assert!(!requirement_matches(&gt, Some("six")));
        assert!(!requirement_matches(&gt, None));
        let lt = req("k", NodeSelectorOperator::Lt, &["5"]);
        assert!(requirement_matches(&lt, Some("-1")));
    }

    #[test]
    fn not_in_and_does_not_exist_match_an_absent_key() {
        assert!(requirement_matches(
            &req("k", NodeSelectorOperator::NotIn, &["a"]),
            None
        ));
        assert!(requirement_matches(
            &req("k", NodeSelectorOperator::DoesNotExist, &[]),
            None
        ));
        assert!(!requirement_matches(
            &req("k", NodeSelectorOperator::In, &["a"]),
            None
        ));
    }

    #[test]
    fn empty_term_matches_nothing_and_fields_match_node_name() {
        let n = node("n1").with_label("zone", "a");
        let empty = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![],
        };
        assert!(!term_matches(&empty, &n));
        let by_name = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![req("metadata.name", NodeSelectorOperator::In, &["n1"])],
        };
        assert!(term_matches(&by_name, &n));
        let both = NodeSelectorTerm {
            match_expressions: vec![req("zone", NodeSelectorOperator::In, &["b"])],
            match_fields: by_name.match_fields.clone(),
        };
        assert!(!term_matches(&both, &n), "expressions and fields are ANDed");
        assert!(any_term_matches(&[both, by_name], &n), "terms are ORed");
    }

    #[test]
    fn label_selector_ands_labels_and_expressions() {
        let labels = vec![KeyValue {
            key: "app".into(),
            value: "web".into(),
        }];
        let mut sel = LabelSelector {
            match_labels: labels.clone(),
            match_expressions: vec![],
        };
        assert!(label_selector_matches(&sel, &labels));
        sel.match_expressions
            .push(crate::types::LabelSelectorRequirement {
                key: "tier".into(),
                operator: LabelSelectorOperator::Exists,
                values: vec![],
            });
        assert!(!label_selector_matches(&sel, &labels));
    }
}
