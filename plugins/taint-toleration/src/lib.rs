//! TaintToleration, as upstream: filter on untolerated NoSchedule/NoExecute
//! taints; score by the number of intolerable PreferNoSchedule taints, normalized
//! in reverse so the node with the fewest scores highest.

use wasm_scheduler_sdk::normalize::default_normalize;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::taints::{first_untolerated, tolerated_by_any};

/// The plugin; it has no configuration.
pub struct TaintToleration;

impl Plugin for TaintToleration {
    const NAME: &'static str = "TaintToleration";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER
        .union(ExtensionPoints::SCORE)
        .union(ExtensionPoints::NORMALIZE_SCORE);
    type Config = ();

    fn init(_: ()) -> Result<Self, String> {
        Ok(TaintToleration)
    }

    fn needs(&self) -> DataNeeds {
        // Labels, taints and names only: no call after every binding.
        DataNeeds::nodes_only().without_usage()
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let hard = [TaintEffect::NoSchedule, TaintEffect::NoExecute];
        match first_untolerated(&node.node.taints, &pod.tolerations, &hard) {
            None => Status::success(),
            Some(t) => Status::unresolvable(untolerated_reason(t)),
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> i64 {
        // A toleration with another effect never tolerates a PreferNoSchedule
        // taint, so upstream's pre-selection of tolerations is implied here.
        node.node
            .taints
            .iter()
            .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
            .filter(|t| !tolerated_by_any(&pod.tolerations, t))
            .count() as i64
    }

    fn normalize_score(&self, _pod: &Pod, _nodes: &[&NodeInfo], scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

/// Upstream's reason, `node(s) had untolerated taint {key: value}`. Built by
/// hand: `format!` costs several times more in wasm, on every rejected node.
fn untolerated_reason(t: &Taint) -> String {
    const PREFIX: &str = "node(s) had untolerated taint {";
    let mut reason = String::with_capacity(PREFIX.len() + t.key.len() + t.value.len() + 3);
    reason.push_str(PREFIX);
    reason.push_str(&t.key);
    reason.push_str(": ");
    reason.push_str(&t.value);
    reason.push('}');
    reason
}

export_plugin!(TaintToleration);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod, taint, toleration};
    use wasm_scheduler_sdk::types::TolerationOperator::{Equal, Exists};

    #[test]
    fn untolerated_no_schedule_is_unresolvable_with_upstream_reason() {
        let n = NodeInfo::new(
            0,
            node("n").with_taint(taint("dedicated", "gpu", TaintEffect::NoSchedule)),
        );
        let s = TaintToleration.filter(&pod("p"), &n);
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            s.reasons,
            ["node(s) had untolerated taint {dedicated: gpu}"]
        );
        let tolerant = pod("p").with_toleration(toleration("dedicated", Exists, "", None));
        assert!(TaintToleration.filter(&tolerant, &n).is_success());
    }

    #[test]
    fn prefer_no_schedule_does_not_filter_and_scores_reversed() {
        let p = pod("p").with_toleration(toleration(
            "foo",
            Equal,
            "bar",
            Some(TaintEffect::PreferNoSchedule),
        ));
        let nodes = [
            node("a"),
            node("b").with_taint(taint("cpu-type", "arm64", TaintEffect::PreferNoSchedule)),
            node("c")
                .with_taint(taint("cpu-type", "arm64", TaintEffect::PreferNoSchedule))
                .with_taint(taint("disk-type", "ssd", TaintEffect::PreferNoSchedule)),
        ];
        let mut scores: Vec<i64> = nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let info = NodeInfo::new(i as u32, n);
                assert!(TaintToleration.filter(&p, &info).is_success());
                TaintToleration.score(&p, &info)
            })
            .collect();
        TaintToleration.normalize_score(&p, &[], &mut scores);
        assert_eq!(scores, [100, 50, 0]);
    }
}
