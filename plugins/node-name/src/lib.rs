//! NodeName, as upstream: a pod that names a node in `spec.nodeName` fits
//! only that node.

use wasm_scheduler_sdk::prelude::*;

/// Upstream's `ErrReason`.
pub const REASON: &str = "node(s) didn't match the requested node name";

/// The plugin; it has no configuration.
pub struct NodeName;

impl Plugin for NodeName {
    const NAME: &'static str = "NodeName";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER;
    type Config = ();

    fn init(_: ()) -> Result<Self, String> {
        Ok(NodeName)
    }

    fn needs(&self) -> DataNeeds {
        // Labels, taints and names only: no call after every binding.
        DataNeeds::nodes_only().without_usage()
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if pod.node_name.is_empty() || pod.node_name == node.name() {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }
}

export_plugin!(NodeName);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};

    #[test]
    fn only_the_named_node_fits() {
        let n = NodeInfo::new(0, node("foo"));
        let mut p = pod("p");
        assert!(NodeName.filter(&p, &n).is_success());
        p.node_name = "foo".into();
        assert!(NodeName.filter(&p, &n).is_success());
        p.node_name = "bar".into();
        assert_eq!(NodeName.filter(&p, &n).reasons, [REASON]);
    }
}
