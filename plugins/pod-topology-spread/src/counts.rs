//! Matching pods per topology domain, kept across cycles: after the first
//! count for a (key, selector, namespace), a cycle revisits only the nodes
//! whose pods changed since (from the cluster's change log), instead of
//! every pod in the cluster.

use wasm_scheduler_sdk::hash::{FastMap, FastSet};
use wasm_scheduler_sdk::types::{KeyValue, LabelSelector, NodeId};
use wasm_scheduler_sdk::{Cluster, NodeInfo, selectors::label_selector_matches};

/// Entries kept before the cache starts over (each is small: a count per
/// node that has matching pods, and one per domain).
const MAX_ENTRIES: usize = 1024;

/// A label selector with upstream's three cases: `None` matches nothing;
/// an empty selector matches every pod but counts none (upstream's
/// `countPodsMatchSelector` skips empty selectors).
#[derive(Debug, Clone)]
pub(crate) struct Selector(pub(crate) Option<LabelSelector>);

impl Selector {
    pub(crate) fn matches(&self, labels: &[KeyValue]) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| label_selector_matches(s, labels))
    }

    fn is_empty(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.match_labels.is_empty() && s.match_expressions.is_empty())
    }

    /// Matching pods of `namespace` on `node`.
    pub(crate) fn count(&self, node: &NodeInfo, namespace: &str) -> i64 {
        if self.0.is_none() || self.is_empty() {
            return 0;
        }
        node.pods
            .iter()
            .filter(|p| p.pod.namespace == namespace && self.matches(&p.pod.labels))
            .count() as i64
    }
}

/// What a count is about: which nodes take part, and which pods count.
pub(crate) struct Query<'a> {
    /// The topology key naming a node's domain.
    pub key: &'a str,
    /// Keys a node must have all of to take part (always including `key`).
    pub required: &'a [String],
    pub selector: &'a Selector,
    pub namespace: &'a str,
}

impl Query<'_> {
    /// The node's domain, if it takes part.
    fn domain<'n>(&self, node: &'n NodeInfo) -> Option<&'n str> {
        if self.required.iter().all(|k| node.label(k).is_some()) {
            node.label(self.key)
        } else {
            None
        }
    }

    fn cache_key(&self) -> String {
        format!(
            "{}\u{0}{:?}\u{0}{:?}\u{0}{}",
            self.key, self.required, self.selector.0, self.namespace
        )
    }

    /// Matching pods per domain over every node that takes part and that
    /// `include` lets in, from scratch.
    pub(crate) fn count_all(
        &self,
        cluster: &Cluster,
        include: impl Fn(&NodeInfo) -> bool,
    ) -> FastMap<String, i64> {
        let mut counts: FastMap<&str, i64> = FastMap::default();
        for node in cluster.nodes().filter(|n| include(n)) {
            if let Some(domain) = self.domain(node) {
                *counts.entry(domain).or_insert(0) += self.selector.count(node, self.namespace);
            }
        }
        counts
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }
}

/// The counts of one query, as of a cluster version.
#[derive(Debug, Default)]
struct Entry {
    /// Whether per-domain totals are kept; per-node counts always are. A
    /// hostname query has a domain per node, and interning thousands of
    /// names costs more than the counts save.
    domains_wanted: bool,
    node_generation: u64,
    pods_version: u64,
    /// Domain values, interned.
    domains: Vec<String>,
    index: FastMap<String, usize>,
    /// Per domain: matching pods.
    totals: Vec<i64>,
    /// Nodes with matching pods, and how many.
    per_node: FastMap<NodeId, i64>,
}

impl Entry {
    fn domain_id(&mut self, domain: &str) -> usize {
        if let Some(&i) = self.index.get(domain) {
            return i;
        }
        self.domains.push(domain.to_string());
        self.totals.push(0);
        self.index
            .insert(domain.to_string(), self.domains.len() - 1);
        self.domains.len() - 1
    }

    fn rebuild(&mut self, cluster: &Cluster, query: &Query) {
        *self = Entry {
            domains_wanted: self.domains_wanted,
            ..Entry::default()
        };
        for node in cluster.nodes() {
            if let Some(domain) = query.domain(node) {
                let n = query.selector.count(node, query.namespace);
                if self.domains_wanted {
                    let id = self.domain_id(domain);
                    self.totals[id] += n;
                }
                if n != 0 {
                    self.per_node.insert(node.id, n);
                }
            }
        }
        self.node_generation = cluster.node_generation();
        self.pods_version = cluster.pods_version();
    }

    /// Brings the counts up to date with the nodes whose pods changed.
    fn refresh(&mut self, cluster: &Cluster, query: &Query) {
        if self.node_generation != cluster.node_generation() {
            // Nodes came, went or changed labels: domains may have moved.
            return self.rebuild(cluster, query);
        }
        if self.pods_version == cluster.pods_version() {
            return;
        }
        let Some(changed) = cluster.pod_changes_since(self.pods_version) else {
            // Too far behind for the cluster's change log.
            return self.rebuild(cluster, query);
        };
        let mut seen = FastSet::default();
        for id in changed {
            if !seen.insert(id) {
                continue;
            }
            let Some(node) = cluster.get(id) else {
                continue;
            };
            let Some(domain) = query.domain(node) else {
                continue;
            };
            let now = query.selector.count(node, query.namespace);
            let before = self.per_node.get(&node.id).copied().unwrap_or(0);
            if self.domains_wanted {
                let domain = self.domain_id(domain);
                self.totals[domain] += now - before;
            }
            if now == 0 {
                self.per_node.remove(&node.id);
            } else {
                self.per_node.insert(node.id, now);
            }
        }
        self.pods_version = cluster.pods_version();
    }
}

/// Counts per query, kept across cycles.
#[derive(Debug, Default)]
pub(crate) struct CountCache {
    entries: FastMap<String, Entry>,
}

impl CountCache {
    /// Matching pods per domain for `query`, every domain that has a node
    /// taking part (zero counts included).
    pub(crate) fn counts(&mut self, cluster: &Cluster, query: &Query) -> FastMap<String, i64> {
        let entry = self.entry(cluster, query, true);
        entry
            .domains
            .iter()
            .cloned()
            .zip(entry.totals.iter().copied())
            .collect()
    }

    /// Matching pods per node for `query`, for the nodes that have any.
    pub(crate) fn per_node(&mut self, cluster: &Cluster, query: &Query) -> FastMap<NodeId, i64> {
        self.entry(cluster, query, false).per_node.clone()
    }

    /// The entry of `query` (with per-domain totals or without), brought up
    /// to date.
    fn entry(&mut self, cluster: &Cluster, query: &Query, domains_wanted: bool) -> &Entry {
        let key = format!("{domains_wanted}\u{0}{}", query.cache_key());
        if !self.entries.contains_key(&key) && self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            domains_wanted,
            // Never built: the first refresh rebuilds.
            node_generation: u64::MAX,
            ..Entry::default()
        });
        entry.refresh(cluster, query);
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};
    use wasm_scheduler_sdk::types::Delta;

    fn app(value: &str) -> Selector {
        Selector(Some(LabelSelector {
            match_labels: vec![KeyValue {
                key: "app".into(),
                value: value.into(),
            }],
            match_expressions: Vec::new(),
        }))
    }

    /// A small xorshift: the same pseudo-random deltas on every run.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn kept_counts_equal_a_fresh_count_through_random_changes() {
        let mut cluster = Cluster::new();
        for id in 0..12u32 {
            let mut n = node(&format!("n{id}")).with_label("zone", &format!("z{}", id % 3));
            if id % 5 == 0 {
                n = n.with_label("rack", "r");
            }
            cluster.apply(Delta::NodeUpserted((id, n))).unwrap();
        }
        let selector = app("web");
        let required = vec!["zone".to_string()];
        let query = Query {
            key: "zone",
            required: &required,
            selector: &selector,
            namespace: "default",
        };
        let mut cache = CountCache::default();
        let mut seed = 0x9e3779b97f4a7c15u64;
        for step in 0..400u32 {
            let r = next(&mut seed);
            let pod_id = (r % 40) as u32;
            if step % 37 == 36 {
                // A node's labels change: its domain moves, or it leaves.
                let id = (r % 12) as u32;
                let zone = ["z0", "z-new", ""][(r % 3) as usize];
                let mut moved = node(&format!("n{id}"));
                if !zone.is_empty() {
                    moved = moved.with_label("zone", zone);
                }
                cluster.apply(Delta::NodeUpserted((id, moved))).unwrap();
            } else if r.is_multiple_of(7) {
                cluster.apply(Delta::PodRemoved(pod_id)).unwrap();
            } else {
                let label = if r.is_multiple_of(3) { "db" } else { "web" };
                let mut p = pod(&format!("p{pod_id}")).with_label("app", label);
                if r.is_multiple_of(11) {
                    p.namespace = "other".into();
                }
                let node_id = ((r >> 8) % 12) as u32;
                cluster
                    .apply(Delta::PodAdded((pod_id, node_id, p)))
                    .unwrap();
            }
            assert_eq!(
                cache.counts(&cluster, &query),
                query.count_all(&cluster, |_| true),
                "step {step}"
            );
            let fresh: FastMap<NodeId, i64> = cluster
                .nodes()
                .filter(|n| query.domain(n).is_some())
                .map(|n| (n.id, selector.count(n, "default")))
                .filter(|&(_, c)| c != 0)
                .collect();
            assert_eq!(cache.per_node(&cluster, &query), fresh, "step {step}");
        }
    }
}
