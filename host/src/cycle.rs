//! One scheduling attempt for one pod: filter → score → normalize → weigh →
//! select, over the plugin slots of one profile, with upstream's semantics.

use crate::runtime::wit::{Delta, ExtensionPoints, NodeId, Pod};
use crate::runtime::{FailurePolicy, PluginError, PluginSlot};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The result of one attempt.
#[derive(Debug)]
pub enum Outcome {
    /// The chosen node and its weighted total score.
    Scheduled {
        /// The node.
        node: NodeId,
        /// Its total.
        score: i64,
    },
    /// No node passed every filter.
    Unschedulable(FitError),
    /// A plugin with `failurePolicy: Fail` failed; the pod is retried with backoff.
    PluginFailed(PluginError),
}

/// Why no node fits, counted per reason as upstream's `FitError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    /// The number of nodes considered.
    pub num_all_nodes: usize,
    /// How many nodes failed with each reason.
    pub reasons: BTreeMap<String, usize>,
}

impl std::fmt::Display for FitError {
    /// Upstream's wording: `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had ....`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Upstream sorts the formatted "<count> <reason>" strings, not the reasons.
        let mut parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        parts.sort();
        write!(
            f,
            "0/{} nodes are available: {}.",
            self.num_all_nodes,
            parts.join(", ")
        )
    }
}

/// Picks among equal best scores without bias: a small xorshift, seeded per call
/// site, is enough (no cryptographic need, and no extra dependency).
#[derive(Debug, Clone)]
pub struct TieBreaker(u64);

impl TieBreaker {
    /// A tie breaker with the given non-zero seed.
    pub fn new(seed: u64) -> Self {
        TieBreaker(seed | 1)
    }

    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Runs one attempt for `pod` over `nodes`. `full_sync` rebuilds the cluster
/// for a plugin instance that has to be recreated after a failure.
pub fn schedule_one(
    slots: &mut [PluginSlot],
    pod: Arc<Pod>,
    nodes: &[NodeId],
    ties: &mut TieBreaker,
    full_sync: &dyn Fn() -> Vec<Delta>,
) -> Outcome {
    // A plugin with `Ignore` that cannot even start the cycle sits it out.
    let mut active = vec![true; slots.len()];
    for (slot, on) in slots.iter_mut().zip(active.iter_mut()) {
        if let Err(e) = slot.begin_cycle(pod.clone(), full_sync) {
            match slot.plugin().spec().failure_policy {
                FailurePolicy::Fail => return Outcome::PluginFailed(e),
                FailurePolicy::Ignore => *on = false,
            }
        }
    }
    let mut feasible: Vec<NodeId> = nodes.to_vec();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (slot, _) in slots.iter_mut().zip(&active).filter(|(_, on)| **on) {
        if !slot.extension_points().contains(ExtensionPoints::FILTER) || feasible.is_empty() {
            continue;
        }
        let result = match slot.filter(&feasible, full_sync) {
            Ok(v) => v,
            Err(e) => match slot.plugin().spec().failure_policy {
                FailurePolicy::Fail => return Outcome::PluginFailed(e),
                FailurePolicy::Ignore => continue,
            },
        };
        if result.rejections.is_empty() {
            continue;
        }
        // Count by position in the batch's reason table; strings are touched
        // once per distinct reason, not once per rejected node.
        let mut counts = vec![0usize; result.reasons.len()];
        let mut rejected = vec![false; feasible.len()];
        for r in &result.rejections {
            rejected[r.index as usize] = true;
            for &id in &r.reasons {
                counts[id as usize] += 1;
            }
        }
        for (reason, n) in result.reasons.into_iter().zip(counts) {
            if n > 0 {
                *reasons.entry(reason).or_default() += n;
            }
        }
        let kept: Vec<NodeId> = feasible
            .iter()
            .zip(&rejected)
            .filter(|(_, out)| !**out)
            .map(|(n, _)| *n)
            .collect();
        feasible = kept;
    }
    if feasible.is_empty() {
        return Outcome::Unschedulable(FitError {
            num_all_nodes: nodes.len(),
            reasons,
        });
    }

    let mut totals = vec![0i64; feasible.len()];
    for (slot, _) in slots.iter_mut().zip(&active).filter(|(_, on)| **on) {
        let points = slot.extension_points();
        if !points.contains(ExtensionPoints::SCORE) {
            continue;
        }
        let weight = slot.plugin().spec().weight;
        let scored = slot.score(&feasible, full_sync).and_then(|raw| {
            if points.contains(ExtensionPoints::NORMALIZE_SCORE) {
                slot.normalize_score(&feasible, &raw, full_sync)
            } else {
                Ok(raw)
            }
        });
        match scored {
            Ok(scores) => {
                for (t, s) in totals.iter_mut().zip(scores) {
                    *t += s.clamp(0, 100) * weight;
                }
            }
            Err(e) => match slot.plugin().spec().failure_policy {
                FailurePolicy::Fail => return Outcome::PluginFailed(e),
                FailurePolicy::Ignore => {}
            },
        }
    }

    let best = totals.iter().copied().max().unwrap_or(0);
    let winners: Vec<usize> = (0..totals.len()).filter(|&i| totals[i] == best).collect();
    let pick = winners[ties.next(winners.len())];
    Outcome::Scheduled {
        node: feasible[pick],
        score: best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_error_sorts_formatted_counts_like_upstream() {
        let e = FitError {
            num_all_nodes: 5,
            reasons: [
                ("node(s) had untolerated taint {a: b}".to_string(), 2),
                ("Insufficient cpu".to_string(), 3),
            ]
            .into(),
        };
        assert_eq!(
            e.to_string(),
            "0/5 nodes are available: 2 node(s) had untolerated taint {a: b}, 3 Insufficient cpu."
        );
    }

    #[test]
    fn tie_breaker_reaches_every_candidate() {
        let mut t = TieBreaker::new(42);
        let mut seen = [false; 3];
        for _ in 0..100 {
            seen[t.next(3)] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
