//! ImageLocality, as upstream: prefers nodes that already have the pod's
//! container images, by their size scaled by how many nodes have them (an
//! image on every node does not make one node better than another).

use std::collections::HashMap;
use wasm_scheduler_sdk::normalize::MAX_NODE_SCORE;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::types::DataNeeds;

const MB: i64 = 1024 * 1024;
/// Below this, image sizes sum to a score of 0.
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container: above this, the score is the maximum.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// Adds `:latest` to an image reference without a tag, as the kubelet reports it.
pub fn normalized_image_name(name: &str) -> String {
    if name
        .rfind(':')
        .is_none_or(|c| name.rfind('/').is_some_and(|s| c <= s))
    {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// An image name's size and the number of nodes that have it.
#[derive(Debug, Clone, Copy)]
struct ImageState {
    size: i64,
    nodes: i64,
}

/// The plugin: the cycle's normalized image names and the cluster's image index.
#[derive(Debug, Default)]
pub struct ImageLocality {
    /// The cycle's pod images, normalized, one per container.
    wanted: Vec<String>,
    /// Every image name on any node; rebuilt when the nodes change.
    index: HashMap<String, ImageState>,
    indexed_generation: Option<u64>,
    total_nodes: i64,
}

impl ImageLocality {
    fn reindex(&mut self, cluster: &Cluster) {
        if self.indexed_generation == Some(cluster.node_generation()) {
            return;
        }
        self.index.clear();
        let mut on_node = std::collections::HashSet::new();
        for node in cluster.nodes() {
            on_node.clear();
            for image in &node.node.images {
                for name in &image.names {
                    // A name listed twice on one node counts the node once.
                    if !on_node.insert(name.as_str()) {
                        continue;
                    }
                    self.index
                        .entry(name.clone())
                        .and_modify(|s| s.nodes += 1)
                        .or_insert(ImageState {
                            size: image.size_bytes,
                            nodes: 1,
                        });
                }
            }
        }
        self.total_nodes = cluster.len() as i64;
        self.indexed_generation = Some(cluster.node_generation());
    }
}

impl Plugin for ImageLocality {
    const NAME: &'static str = "ImageLocality";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::SCORE;
    type Config = ();

    fn init(_: ()) -> Result<Self, String> {
        Ok(ImageLocality::default())
    }

    fn needs(&self) -> DataNeeds {
        DataNeeds::nodes_only().without_usage().with_images()
    }

    fn prepare(&mut self, pod: &Pod, cluster: &Cluster) {
        self.wanted = pod
            .images
            .iter()
            .map(|i| normalized_image_name(i))
            .collect();
        self.reindex(cluster);
    }

    fn score(&self, _pod: &Pod, node: &NodeInfo) -> i64 {
        let sum: i64 = self
            .wanted
            .iter()
            .filter(|want| {
                node.node
                    .images
                    .iter()
                    .any(|i| i.names.iter().any(|n| n == *want))
            })
            .filter_map(|want| self.index.get(want))
            .map(|state| {
                let spread = state.nodes as f64 / self.total_nodes.max(1) as f64;
                (state.size as f64 * spread) as i64
            })
            .sum();
        let max_threshold = MAX_CONTAINER_THRESHOLD * self.wanted.len() as i64;
        if max_threshold <= MIN_THRESHOLD {
            return 0;
        }
        let clamped = sum.clamp(MIN_THRESHOLD, max_threshold);
        MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max_threshold - MIN_THRESHOLD)
    }
}

export_plugin!(ImageLocality);

#[cfg(test)]
mod tests {
    use super::*;

    /// `TestNormalizedImageName`, every case.
    #[test]
    fn untagged_references_get_latest() {
        let digest = "root@sha256:4813494d137e1631bba301d5acab6e7bb7aa74ce1185d456565ef51d737677b2";
        for (input, output) in [
            ("root", "root:latest"),
            ("gcr.io:5000/root", "gcr.io:5000/root:latest"),
            ("root:tag", "root:tag"),
            (digest, digest),
        ] {
            assert_eq!(normalized_image_name(input), output, "{input}");
        }
    }
}
