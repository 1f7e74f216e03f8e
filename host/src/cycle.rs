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
        if self.num_all_nodes == 0 {
            // Upstream's ErrNoNodesAvailable.
            return f.write_str("no nodes available to schedule pods");
        }
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

/// Upstream's `minFeasibleNodesToFind`: below this many nodes, all are checked.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream's `minFeasibleNodesPercentageToFind`.
const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;
/// Upstream's `DefaultPercentageOfNodesToScore` base of the adaptive formula.
const BASE_PERCENTAGE: usize = 50;

/// How many feasible nodes to find before scoring (upstream's
/// `numFeasibleNodesToFind`). `percentage` is `percentageOfNodesToScore`;
/// `None` (or 0) uses the adaptive default: 50% minus 1% per 125 nodes, at
/// least 5%, and never fewer than 100 nodes.
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let pct = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => BASE_PERCENTAGE
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE),
    };
    (all * pct / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The scheduling cycle with the state kept between pods: where the next
/// search through the nodes starts, and the tie breaker.
#[derive(Debug, Clone)]
pub struct Cycle {
    percentage: Option<u32>,
    next_start: usize,
    ties: TieBreaker,
}

impl Cycle {
    /// A cycle with `percentageOfNodesToScore` (`None`: adaptive).
    pub fn new(percentage_of_nodes_to_score: Option<u32>, seed: u64) -> Self {
        Cycle {
            percentage: percentage_of_nodes_to_score,
            next_start: 0,
            ties: TieBreaker::new(seed),
        }
    }

    /// Runs one attempt for `pod` over `nodes`: filters from a rotating start
    /// until enough feasible nodes are found, then scores those. `full_sync`
    /// rebuilds the cluster for a plugin instance recreated after a failure.
    pub fn schedule_one(
        &mut self,
        slots: &mut [PluginSlot],
        pod: Arc<Pod>,
        nodes: &[NodeId],
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
        let want = num_feasible_nodes_to_find(self.percentage, nodes.len());
        let start = if nodes.is_empty() {
            0
        } else {
            self.next_start % nodes.len()
        };
        let order: Vec<NodeId> = nodes[start..]
            .iter()
            .chain(&nodes[..start])
            .copied()
            .collect();
        let mut feasible: Vec<NodeId> = Vec::with_capacity(want);
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut processed = 0;
        // Nodes go through the filters in chunks, so that a large cluster
        // stops being searched once `want` nodes passed, as upstream does.
        for chunk in order.chunks(want.max(1)) {
            match filter_chunk(slots, &active, chunk, &mut reasons, full_sync) {
                Ok(mut passed) => feasible.append(&mut passed),
                Err(e) => return Outcome::PluginFailed(e),
            }
            processed += chunk.len();
            if feasible.len() >= want {
                break;
            }
        }
        feasible.truncate(want);
        if !nodes.is_empty() {
            self.next_start = (start + processed) % nodes.len();
        }
        if feasible.is_empty() {
            return Outcome::Unschedulable(FitError {
                num_all_nodes: nodes.len(),
                reasons,
            });
        }
        match score(slots, &active, &feasible, full_sync) {
            Ok(totals) => {
                let best = totals.iter().copied().max().unwrap_or(0);
                let winners: Vec<usize> =
                    (0..totals.len()).filter(|&i| totals[i] == best).collect();
                let pick = winners[self.ties.next(winners.len())];
                Outcome::Scheduled {
                    node: feasible[pick],
                    score: best,
                }
            }
            Err(e) => Outcome::PluginFailed(e),
        }
    }
}

/// Runs every active filter over `chunk`; returns the nodes that pass all of
/// them and counts the reasons of those that do not.
fn filter_chunk(
    slots: &mut [PluginSlot],
    active: &[bool],
    chunk: &[NodeId],
    reasons: &mut BTreeMap<String, usize>,
    full_sync: &dyn Fn() -> Vec<Delta>,
) -> Result<Vec<NodeId>, PluginError> {
    let mut feasible = chunk.to_vec();
    for (slot, _) in slots.iter_mut().zip(active).filter(|(_, on)| **on) {
        if !slot.extension_points().contains(ExtensionPoints::FILTER) || feasible.is_empty() {
            continue;
        }
        let result = match slot.filter(&feasible, full_sync) {
            Ok(v) => v,
            Err(e) => match slot.plugin().spec().failure_policy {
                FailurePolicy::Fail => return Err(e),
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
        feasible = feasible
            .iter()
            .zip(&rejected)
            .filter(|(_, out)| !**out)
            .map(|(n, _)| *n)
            .collect();
    }
    Ok(feasible)
}

/// Weighted totals of every active scoring plugin over `feasible`.
fn score(
    slots: &mut [PluginSlot],
    active: &[bool],
    feasible: &[NodeId],
    full_sync: &dyn Fn() -> Vec<Delta>,
) -> Result<Vec<i64>, PluginError> {
    let mut totals = vec![0i64; feasible.len()];
    for (slot, _) in slots.iter_mut().zip(active).filter(|(_, on)| **on) {
        let points = slot.extension_points();
        if !points.contains(ExtensionPoints::SCORE) {
            continue;
        }
        let weight = slot.plugin().spec().weight;
        let scored = slot.score(feasible, full_sync).and_then(|raw| {
            if points.contains(ExtensionPoints::NORMALIZE_SCORE) {
                slot.normalize_score(feasible, &raw, full_sync)
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
                FailurePolicy::Fail => return Err(e),
                FailurePolicy::Ignore => {}
            },
        }
    }
    Ok(totals)
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
    fn no_nodes_at_all_is_worded_as_upstream() {
        let e = FitError {
            num_all_nodes: 0,
            reasons: BTreeMap::new(),
        };
        assert_eq!(e.to_string(), "no nodes available to schedule pods");
    }

    #[test]
    fn adaptive_percentage_matches_upstream() {
        // Below 100 nodes every node; 5000 nodes: 50 - 40 = 10% = 500;
        // 10000 nodes: the 5% floor; a small percentage never goes below 100.
        assert_eq!(num_feasible_nodes_to_find(None, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(None, 100), 100);
        assert_eq!(num_feasible_nodes_to_find(None, 1000), 420);
        assert_eq!(num_feasible_nodes_to_find(None, 5000), 500);
        assert_eq!(num_feasible_nodes_to_find(None, 10000), 500);
        assert_eq!(num_feasible_nodes_to_find(Some(1), 5000), 100);
        assert_eq!(num_feasible_nodes_to_find(Some(100), 5000), 5000);
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
