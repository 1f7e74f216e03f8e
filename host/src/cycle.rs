//! One scheduling attempt for one pod: filter → score → normalize → weigh →
//! select, over the plugin slots of one profile, with upstream's semantics.

use crate::runtime::wit::{ExtensionPoints, NodeId, Pod};
use crate::runtime::{FailurePolicy, PluginError, PluginSlot};
use crate::workers::{FullSync, Phase, Workers};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The last attempt's extension points: name, status, duration.
    phases: Vec<(&'static str, &'static str, Duration)>,
}

impl Cycle {
    /// A cycle with `percentageOfNodesToScore` (`None`: adaptive).
    pub fn new(percentage_of_nodes_to_score: Option<u32>, seed: u64) -> Self {
        Cycle {
            percentage: percentage_of_nodes_to_score,
            next_start: 0,
            ties: TieBreaker::new(seed),
            phases: Vec::new(),
        }
    }

    /// The extension points the last attempt ran: name (`Filter`,
    /// `Score`), status (`Success`, `Unschedulable`, `Error`) and duration.
    pub fn take_phases(&mut self) -> Vec<(&'static str, &'static str, Duration)> {
        std::mem::take(&mut self.phases)
    }

    /// Runs one attempt for `pod` over `nodes`: filters from a rotating start
    /// until enough feasible nodes are found, then scores those. The nodes
    /// of a large cluster are split across `workers`. `full_sync` rebuilds
    /// the cluster for a plugin instance recreated after a failure.
    pub fn schedule_one(
        &mut self,
        workers: &mut Workers,
        pod: Arc<Pod>,
        nodes: &[NodeId],
        full_sync: FullSync<'_>,
    ) -> Outcome {
        let want = num_feasible_nodes_to_find(self.percentage, nodes.len());
        let begun = workers.begin_cycle(&pod, want.min(nodes.len()), full_sync);
        // A plugin with `Ignore` that cannot even start the cycle sits it out.
        let mut active = vec![true; workers.first().len()];
        for results in begun {
            for (i, result) in results.into_iter().enumerate() {
                if let Err(e) = result {
                    match workers.first()[i].plugin().spec().failure_policy {
                        FailurePolicy::Fail => return Outcome::PluginFailed(e),
                        FailurePolicy::Ignore => active[i] = false,
                    }
                }
            }
        }
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
        let filtering = Instant::now();
        // Nodes go through the filters in chunks, so that a large cluster
        // stops being searched once `want` nodes passed, as upstream does.
        for chunk in order.chunks(want.max(1)) {
            let results = workers.map_split(Phase::Filter, chunk, |slots, part| {
                let mut own = BTreeMap::new();
                filter_chunk(slots, &active, part, &mut own, full_sync).map(|p| (p, own))
            });
            for result in results {
                match result {
                    Ok((mut passed, own)) => {
                        feasible.append(&mut passed);
                        for (reason, n) in own {
                            *reasons.entry(reason).or_default() += n;
                        }
                    }
                    Err(e) => {
                        self.phases.push(("Filter", "Error", filtering.elapsed()));
                        return Outcome::PluginFailed(e);
                    }
                }
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
        let status = if feasible.is_empty() {
            "Unschedulable"
        } else {
            "Success"
        };
        self.phases.push(("Filter", status, filtering.elapsed()));
        if feasible.is_empty() {
            return Outcome::Unschedulable(FitError {
                num_all_nodes: nodes.len(),
                reasons,
            });
        }
        let scoring = Instant::now();
        let scored = score(workers, &active, &feasible, full_sync);
        let status = if scored.is_ok() { "Success" } else { "Error" };
        self.phases.push(("Score", status, scoring.elapsed()));
        match scored {
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
    full_sync: FullSync<'_>,
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

/// Weighted totals of every active scoring plugin over `feasible`: raw
/// scores on the workers' share of the nodes, then normalize over all of
/// them on the first worker (normalizing needs the whole list).
fn score(
    workers: &mut Workers,
    active: &[bool],
    feasible: &[NodeId],
    full_sync: FullSync<'_>,
) -> Result<Vec<i64>, PluginError> {
    let raw_parts = workers.map_split(Phase::Score, feasible, |slots, part| {
        slots
            .iter_mut()
            .zip(active)
            .map(|(slot, on)| {
                (*on && slot.extension_points().contains(ExtensionPoints::SCORE))
                    .then(|| slot.score(part, full_sync))
            })
            .collect::<Vec<_>>()
    });
    // Per plugin: the raw scores of all nodes, or its first failure.
    let mut raw: Vec<Option<Result<Vec<i64>, PluginError>>> =
        (0..active.len()).map(|_| None).collect();
    for part in raw_parts {
        for (i, result) in part.into_iter().enumerate() {
            let Some(result) = result else { continue };
            raw[i] = Some(match (raw[i].take(), result) {
                (None, r) => r,
                (Some(Ok(mut all)), Ok(mut more)) => {
                    all.append(&mut more);
                    Ok(all)
                }
                (Some(Err(e)), _) | (_, Err(e)) => Err(e),
            });
        }
    }
    let mut totals = vec![0i64; feasible.len()];
    for (slot, raw) in workers.first().iter_mut().zip(raw) {
        let Some(raw) = raw else { continue };
        let points = slot.extension_points();
        let weight = slot.plugin().spec().weight;
        let scored = raw.and_then(|raw| {
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
