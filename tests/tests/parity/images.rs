//! ImageLocality against upstream's `image_locality_test.go`.

use super::scores;
use wasm_scheduler_sdk::fixtures::{node, pod};
use wasm_scheduler_sdk::types::{ContainerImage, Node};
use wasm_scheduler_tests::FixtureNode;

const MB: i64 = 1024 * 1024;

/// A node with these images: `(names, size in MB)`.
fn with_images(images: &[(&[&str], i64)]) -> FixtureNode {
    let mut n: Node = node("n");
    n.images = images
        .iter()
        .map(|(names, mb)| ContainerImage {
            names: names.iter().map(|s| s.to_string()).collect(),
            size_bytes: mb * MB,
        })
        .collect();
    n.into()
}

/// `TestImageLocalityPriority`, every case; pods name their images as
/// containers do (untagged), nodes as the kubelet reports them.
#[test]
fn image_locality_as_upstream() {
    let node_40_300_2000 = || {
        with_images(&[
            (&["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40),
            (&["gcr.io/300:latest", "gcr.io/300:v1"], 300),
            (&["gcr.io/2000:latest"], 2000),
        ])
    };
    let node_250_10 = || {
        with_images(&[
            (&["gcr.io/250:latest"], 250),
            (&["gcr.io/10:latest", "gcr.io/10:v1"], 10),
        ])
    };
    let node_600_40_900 = || {
        with_images(&[
            (&["gcr.io/600:latest"], 600),
            (&["gcr.io/40:latest"], 40),
            (&["gcr.io/900:latest"], 900),
        ])
    };
    let node_300_600_900 = || {
        with_images(&[
            (&["gcr.io/300:latest"], 300),
            (&["gcr.io/600:latest"], 600),
            (&["gcr.io/900:latest"], 900),
        ])
    };
    let node_4000_30 =
        || with_images(&[(&["gcr.io/4000:latest"], 4000), (&["gcr.io/30:latest"], 30)]);
    let node_20_30_40 = || {
        with_images(&[
            (&["gcr.io/20:latest"], 20),
            (&["gcr.io/30:latest"], 30),
            (&["gcr.io/40:latest"], 40),
        ])
    };
    let no_images = || with_images(&[]);
    let wants = |images: &[&str]| {
        let mut p = pod("p");
        p.images = images.iter().map(|s| s.to_string()).collect();
        p
    };
    let cases = [
        (
            "two images spread on two nodes, prefer the larger image one",
            wants(&["gcr.io/40", "gcr.io/250"]),
            vec![node_40_300_2000(), node_250_10()],
            vec![0, 5],
        ),
        (
            "two images on one node, prefer this node",
            wants(&["gcr.io/40", "gcr.io/300"]),
            vec![node_40_300_2000(), node_250_10()],
            vec![7, 0],
        ),
        (
            "if exceed limit, use limit",
            wants(&["gcr.io/10", "gcr.io/4000"]),
            vec![node_4000_30(), node_250_10()],
            vec![100, 0],
        ),
        (
            "if exceed limit, use limit (with node which has no images present)",
            wants(&["gcr.io/10", "gcr.io/4000"]),
            vec![node_4000_30(), node_250_10(), no_images()],
            vec![66, 0, 0],
        ),
        (
            "pod with multiple large images, node2 is preferred",
            wants(&["gcr.io/300", "gcr.io/600", "gcr.io/900"]),
            vec![node_600_40_900(), node_300_600_900(), no_images()],
            vec![32, 36, 0],
        ),
        (
            "pod with multiple small images",
            wants(&["gcr.io/30", "gcr.io/40"]),
            vec![node_20_30_40(), node_4000_30()],
            vec![1, 0],
        ),
        (
            // The host lists init containers' images with the containers'.
            "include InitContainers: two images spread on two nodes, prefer the larger image one",
            wants(&["gcr.io/300", "gcr.io/30"]),
            vec![node_40_300_2000(), node_20_30_40()],
            vec![6, 0],
        ),
    ];
    for (case, p, nodes, want) in cases {
        assert_eq!(
            scores(
                "image-locality",
                "ImageLocality",
                serde_json::Value::Null,
                &nodes,
                &p
            ),
            want,
            "{case}"
        );
    }
}
