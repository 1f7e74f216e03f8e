//! NodeUnschedulable, as upstream: a cordoned node (`spec.unschedulable`)
//! takes only pods that tolerate the `node.kubernetes.io/unschedulable`
//! NoSchedule taint.

use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::taints::tolerated_by_any;

/// Upstream's `ErrReasonUnschedulable`.
pub const REASON: &str = "node(s) were unschedulable";
/// Upstream's `v1.TaintNodeUnschedulable`.
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

/// The plugin; it has no configuration.
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    const NAME: &'static str = "NodeUnschedulable";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER;
    type Config = ();

    fn init(_: ()) -> Result<Self, String> {
        Ok(NodeUnschedulable)
    }

    fn needs(&self) -> DataNeeds {
        // Labels, taints and names only: no call after every binding.
        DataNeeds::nodes_only().without_usage()
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if !node.node.unschedulable {
            return Status::success();
        }
        let taint = Taint {
            key: TAINT_KEY.to_string(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        };
        if tolerated_by_any(&pod.tolerations, &taint) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

export_plugin!(NodeUnschedulable);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod, toleration};
    use wasm_scheduler_sdk::types::TolerationOperator;

    #[test]
    fn a_cordoned_node_takes_only_tolerating_pods() {
        let mut n = node("n");
        assert!(
            NodeUnschedulable
                .filter(&pod("p"), &NodeInfo::new(0, n.clone()))
                .is_success()
        );
        n.unschedulable = true;
        let cordoned = NodeInfo::new(0, n);
        assert_eq!(
            NodeUnschedulable.filter(&pod("p"), &cordoned).reasons,
            [REASON]
        );
        let tolerating = pod("p").with_toleration(toleration(
            TAINT_KEY,
            TolerationOperator::Exists,
            "",
            Some(TaintEffect::NoSchedule),
        ));
        assert!(
            NodeUnschedulable
                .filter(&tolerating, &cordoned)
                .is_success()
        );
    }
}
