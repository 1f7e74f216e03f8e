//! NodeResourcesBalancedAllocation, as upstream: prefers nodes whose
//! utilization fractions of the configured resources (with the pod added) are
//! close to each other, scoring `(1 - standard deviation) × 100`.

use serde::Deserialize;
use wasm_scheduler_sdk::normalize::MAX_NODE_SCORE;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::resources::{Counted, ResourceName, allocation};

/// A resource that takes part in the balance. Upstream accepts a weight here
/// but does not use it; it is accepted for the same configs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// `cpu`, `memory`, `ephemeral-storage` or an extended resource name.
    pub name: String,
    /// Accepted and ignored, as upstream.
    #[serde(default)]
    pub weight: Option<i64>,
}

/// Upstream's `NodeResourcesBalancedAllocationArgs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancedAllocationArgs {
    /// The resources compared; default cpu and memory.
    #[serde(default = "default_resources")]
    pub resources: Vec<ResourceSpec>,
}

impl Default for BalancedAllocationArgs {
    fn default() -> Self {
        BalancedAllocationArgs {
            resources: default_resources(),
        }
    }
}

fn default_resources() -> Vec<ResourceSpec> {
    ["cpu", "memory"]
        .map(|name| ResourceSpec {
            name: name.to_string(),
            weight: None,
        })
        .to_vec()
}

/// The plugin: the compared resources, resolved.
#[derive(Debug, Clone)]
pub struct BalancedAllocation {
    resources: Vec<ResourceName>,
    /// Whether the cycle's pod requests none of the resources (upstream skips it).
    best_effort: bool,
}

/// Upstream's `balancedResourceScorer`: fractions capped at 1; the standard
/// deviation is `|a - b| / 2` for two resources, the population formula for more.
fn balanced_score(pairs: impl Iterator<Item = (i64, i64)>) -> i64 {
    // Most configs compare two or three resources: the fractions stay on
    // the stack (an allocation per node was most of this plugin's cost).
    let mut stack = [0.0f64; 8];
    let mut heap = Vec::new();
    let mut len = 0;
    for (allocatable, requested) in pairs.filter(|&(allocatable, _)| allocatable != 0) {
        let fraction = (requested as f64 / allocatable as f64).min(1.0);
        match stack.get_mut(len) {
            Some(slot) => *slot = fraction,
            None => {
                if heap.is_empty() {
                    heap.extend_from_slice(&stack);
                }
                heap.push(fraction);
            }
        }
        len += 1;
    }
    let fractions = if heap.is_empty() {
        &stack[..len]
    } else {
        &heap[..]
    };
    let std = match fractions {
        [a, b] => ((a - b) / 2.0).abs(),
        f if f.len() > 2 => {
            let mean = f.iter().sum::<f64>() / f.len() as f64;
            (f.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / f.len() as f64).sqrt()
        }
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl Plugin for BalancedAllocation {
    const NAME: &'static str = "NodeResourcesBalancedAllocation";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::SCORE;
    type Config = BalancedAllocationArgs;

    fn init(args: BalancedAllocationArgs) -> Result<Self, String> {
        if args.resources.is_empty() {
            return Err("resources: at least one resource is required".into());
        }
        Ok(BalancedAllocation {
            resources: args
                .resources
                .iter()
                .map(|r| ResourceName::parse(&r.name))
                .collect(),
            best_effort: true,
        })
    }

    fn prepare(&mut self, pod: &Pod, _cluster: &Cluster) {
        // Upstream's PreScore returns Skip for such pods so they do not all
        // pile onto the same node (kubernetes#129138); scoring 0 everywhere
        // adds the same nothing to every node's total.
        self.best_effort = self.resources.iter().all(|r| r.amount(&pod.requests) == 0);
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> i64 {
        if self.best_effort {
            return 0;
        }
        balanced_score(
            self.resources
                .iter()
                .map(|r| allocation(pod, node, r, Counted::Requested)),
        )
    }
}

export_plugin!(BalancedAllocation);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};

    #[test]
    fn two_resources_use_half_the_difference() {
        // cpu 3000/4000, memory 5000/10000: std 0.125 → 87 (upstream's comment).
        assert_eq!(
            balanced_score([(4000, 3000), (10000, 5000)].into_iter()),
            87
        );
        assert_eq!(
            balanced_score([(6000, 3000), (10000, 5000)].into_iter()),
            100
        );
    }

    #[test]
    fn more_resources_than_the_stack_holds_use_the_population_deviation() {
        // Ten resources, half full and half empty: std 0.5 → 50.
        let pairs = (0..10).map(|i| (10, if i % 2 == 0 { 10 } else { 0 }));
        assert_eq!(balanced_score(pairs), 50);
        let three = [(8, 4), (8, 4), (8, 4)].into_iter();
        assert_eq!(balanced_score(three), 100);
    }

    #[test]
    fn a_pod_requesting_nothing_scores_zero_everywhere() {
        let mut plugin = BalancedAllocation::init(BalancedAllocationArgs::default()).unwrap();
        let p = pod("p");
        plugin.prepare(&p, &Cluster::new());
        let n = NodeInfo::new(0, node("n").with_allocatable(4000, 10000));
        assert_eq!(plugin.score(&p, &n), 0);
    }
}
