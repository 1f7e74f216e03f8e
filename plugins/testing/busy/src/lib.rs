//! A stand-in for an expensive plugin (pod affinity over many pods, topology
//! spread): it burns a configured amount of arithmetic per node in filter and
//! score, and passes every node. The scheduling bench uses it to show when
//! splitting a cycle's nodes across workers pays.
//!
//! Config: `{"rounds": 2000}`: mixing rounds per node and call (default 1000).

use wasm_scheduler_sdk::prelude::*;

/// The plugin: how much work a node costs.
#[derive(serde::Deserialize)]
pub struct Busy {
    #[serde(default = "default_rounds")]
    rounds: u32,
}

fn default_rounds() -> u32 {
    1000
}

impl Busy {
    /// `rounds` of xorshift over the node id: work the optimizer cannot skip.
    fn burn(&self, node: &NodeInfo) -> u64 {
        let mut x = u64::from(node.id) | 1;
        for _ in 0..self.rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x)
    }
}

impl Plugin for Busy {
    const NAME: &'static str = "Busy";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER.union(ExtensionPoints::SCORE);
    type Config = Self;

    fn init(config: Self) -> Result<Self, String> {
        Ok(config)
    }

    fn filter(&self, _pod: &Pod, node: &NodeInfo) -> Status {
        // Never true (x is odd-seeded and never 0), but the compiler cannot know.
        if self.burn(node) == 0 {
            return Status::unresolvable("unreachable");
        }
        Status::success()
    }

    fn score(&self, _pod: &Pod, node: &NodeInfo) -> i64 {
        (self.burn(node) % 101) as i64
    }
}

export_plugin!(Busy);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};

    #[test]
    fn passes_every_node_and_scores_within_range() {
        let busy = Busy { rounds: 10 };
        for id in 0..50 {
            let n = NodeInfo::new(id, node(&format!("n{id}")));
            assert!(busy.filter(&pod("p"), &n).is_success());
            assert!((0..=100).contains(&busy.score(&pod("p"), &n)));
        }
    }
}
