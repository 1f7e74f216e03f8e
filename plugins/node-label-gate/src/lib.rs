//! An example plugin: only nodes carrying the configured labels pass.
//!
//! Config: `{"required": {"disktype": ["ssd", "nvme"]}}`: a node passes when,
//! for every key, its label has one of the listed values.

use std::collections::BTreeMap;
use wasm_scheduler_sdk::prelude::*;

/// The plugin: the required label values, from config.
#[derive(serde::Deserialize, Default)]
pub struct NodeLabelGate {
    required: BTreeMap<String, Vec<String>>,
}

impl Plugin for NodeLabelGate {
    const NAME: &'static str = "NodeLabelGate";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER;
    type Config = Self;

    fn init(config: Self) -> Result<Self, String> {
        Ok(config)
    }

    fn needs(&self) -> DataNeeds {
        // Labels only: the host need not call it after every binding.
        DataNeeds::nodes_only().without_usage()
    }

    fn filter(&self, _pod: &Pod, node: &NodeInfo) -> Status {
        for (key, allowed) in &self.required {
            if !node
                .label(key)
                .is_some_and(|v| allowed.iter().any(|a| a == v))
            {
                return Status::unresolvable(format!(
                    "node(s) didn't have label {key} in {allowed:?}"
                ));
            }
        }
        Status::success()
    }
}

export_plugin!(NodeLabelGate);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};

    #[test]
    fn passes_only_nodes_with_an_allowed_value() {
        let gate = NodeLabelGate {
            required: [("disktype".to_string(), vec!["ssd".to_string()])].into(),
        };
        let ssd = NodeInfo::new(0, node("a").with_label("disktype", "ssd"));
        let hdd = NodeInfo::new(1, node("b").with_label("disktype", "hdd"));
        let none = NodeInfo::new(2, node("c"));
        assert!(gate.filter(&pod("p"), &ssd).is_success());
        let verdict = gate.filter(&pod("p"), &hdd);
        assert_eq!(verdict.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            verdict.reasons,
            ["node(s) didn't have label disktype in [\"ssd\"]"]
        );
        assert!(!gate.filter(&pod("p"), &none).is_success());
    }
}
