//! NodeResourcesFit, as upstream: the filter checks that the pod's requests fit
//! in what the node has left (cpu, memory, ephemeral storage, pods, extended
//! resources); the score is LeastAllocated (default), MostAllocated or
//! RequestedToCapacityRatio over the configured resources with upstream's
//! integer math.

use serde::Deserialize;
use wasm_scheduler_sdk::normalize::MAX_NODE_SCORE;
use wasm_scheduler_sdk::prelude::*;
use wasm_scheduler_sdk::resources::{Counted, ResourceName, allocation};

/// Upstream's `MaxCustomPriorityScore`: shape scores run 0..=10.
const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
/// Utilization is in percent.
const MAX_UTILIZATION: i64 = 100;

/// A resource that takes part in the score, and its weight.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceSpec {
    /// `cpu`, `memory`, `ephemeral-storage` or an extended resource name.
    pub name: String,
    /// Its weight in the weighted mean (upstream default 1).
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// How nodes are scored.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum StrategyType {
    /// Prefer nodes with the most room left (spreads pods).
    #[default]
    LeastAllocated,
    /// Prefer nodes with the least room left (bin-packs pods).
    MostAllocated,
    /// Score by a piecewise-linear function of utilization (`shape`).
    RequestedToCapacityRatio,
}

/// One point of the RequestedToCapacityRatio function.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UtilizationShapePoint {
    /// Utilization in percent, 0..=100.
    pub utilization: i64,
    /// Score at that utilization, 0..=10.
    pub score: i64,
}

/// Upstream's `requestedToCapacityRatio` parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedToCapacityRatioParam {
    /// The points, by strictly increasing utilization.
    pub shape: Vec<UtilizationShapePoint>,
}

/// Upstream's `scoringStrategy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringStrategy {
    /// The strategy.
    #[serde(rename = "type", default)]
    pub kind: StrategyType,
    /// The resources that count; default cpu and memory with weight 1.
    #[serde(default = "default_resources")]
    pub resources: Vec<ResourceSpec>,
    /// The function for RequestedToCapacityRatio.
    #[serde(default)]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioParam>,
}

impl Default for ScoringStrategy {
    fn default() -> Self {
        ScoringStrategy {
            kind: StrategyType::default(),
            resources: default_resources(),
            requested_to_capacity_ratio: None,
        }
    }
}

/// Upstream's `BuildBrokenLinearFunction` over `shape` (scores already scaled
/// to 0..=100): linear between points, flat before the first and after the last.
fn broken_linear(shape: &[UtilizationShapePoint], p: i64) -> i64 {
    for (i, point) in shape.iter().enumerate() {
        if p <= point.utilization {
            if i == 0 {
                return point.score;
            }
            let prev = shape[i - 1];
            return prev.score
                + (point.score - prev.score) * (p - prev.utilization)
                    / (point.utilization - prev.utilization);
        }
    }
    shape.last().map_or(0, |p| p.score)
}

/// Checks a RequestedToCapacityRatio shape as upstream's validation does.
fn check_shape(shape: &[UtilizationShapePoint]) -> Result<(), String> {
    if shape.is_empty() {
        return Err("requestedToCapacityRatio.shape: at least one point is required".into());
    }
    for (i, p) in shape.iter().enumerate() {
        if !(0..=MAX_UTILIZATION).contains(&p.utilization) {
            return Err(format!(
                "requestedToCapacityRatio.shape[{i}].utilization {} must be in 0..=100",
                p.utilization
            ));
        }
        if !(0..=MAX_CUSTOM_PRIORITY_SCORE).contains(&p.score) {
            return Err(format!(
                "requestedToCapacityRatio.shape[{i}].score {} must be in 0..=10",
                p.score
            ));
        }
        if i > 0 && p.utilization <= shape[i - 1].utilization {
            return Err(format!(
                "requestedToCapacityRatio.shape[{i}].utilization must be greater than the previous point's"
            ));
        }
    }
    Ok(())
}

fn default_resources() -> Vec<ResourceSpec> {
    ["cpu", "memory"]
        .map(|name| ResourceSpec {
            name: name.to_string(),
            weight: 1,
        })
        .to_vec()
}

/// Upstream's `NodeResourcesFitArgs` (the parts that apply here): the plugin's config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesFitArgs {
    /// Extended resources the filter ignores.
    #[serde(default)]
    pub ignored_resources: Vec<String>,
    /// How nodes are scored.
    #[serde(default)]
    pub scoring_strategy: ScoringStrategy,
}

/// The plugin: its config with the scored resource names resolved.
#[derive(Debug, Clone)]
pub struct NodeResourcesFit {
    ignored_resources: Vec<String>,
    strategy: StrategyType,
    /// Scored resources and their weights.
    resources: Vec<(ResourceName, i64)>,
    /// RequestedToCapacityRatio's function, scores scaled to 0..=100.
    shape: Vec<UtilizationShapePoint>,
}

impl Plugin for NodeResourcesFit {
    const NAME: &'static str = "NodeResourcesFit";
    const EXTENSION_POINTS: ExtensionPoints = ExtensionPoints::FILTER.union(ExtensionPoints::SCORE);
    type Config = NodeResourcesFitArgs;

    fn init(args: NodeResourcesFitArgs) -> Result<Self, String> {
        let strategy = args.scoring_strategy;
        if let Some(bad) = strategy
            .resources
            .iter()
            .find(|r| r.weight <= 0 || r.weight > 100)
        {
            return Err(format!(
                "resource {} has weight {}; it must be in 1..=100",
                bad.name, bad.weight
            ));
        }
        let shape = match (strategy.kind, &strategy.requested_to_capacity_ratio) {
            (StrategyType::RequestedToCapacityRatio, Some(param)) => {
                check_shape(&param.shape)?;
                param
                    .shape
                    .iter()
                    .map(|p| UtilizationShapePoint {
                        utilization: p.utilization,
                        score: p.score * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
                    })
                    .collect()
            }
            (StrategyType::RequestedToCapacityRatio, None) => {
                return Err(
                    "scoringStrategy RequestedToCapacityRatio needs requestedToCapacityRatio.shape"
                        .into(),
                );
            }
            _ => Vec::new(),
        };
        Ok(NodeResourcesFit {
            ignored_resources: args.ignored_resources,
            strategy: strategy.kind,
            shape,
            resources: strategy
                .resources
                .iter()
                .map(|r| (ResourceName::parse(&r.name), r.weight))
                .collect(),
        })
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let alloc = &node.node.allocatable;
        let used = &node.usage.requested;
        let want = &pod.requests;
        let mut reasons = Vec::new();
        if i64::from(node.usage.pod_count) + 1 > alloc.pods {
            reasons.push("Too many pods".to_string());
        }
        if want.milli_cpu > 0 && want.milli_cpu > alloc.milli_cpu - used.milli_cpu {
            reasons.push("Insufficient cpu".to_string());
        }
        if want.memory > 0 && want.memory > alloc.memory - used.memory {
            reasons.push("Insufficient memory".to_string());
        }
        if want.ephemeral_storage > 0
            && want.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage
        {
            reasons.push("Insufficient ephemeral-storage".to_string());
        }
        for s in &want.scalar {
            if s.amount > 0
                && !self.ignored_resources.contains(&s.name)
                && s.amount > alloc.scalar(&s.name) - used.scalar(&s.name)
            {
                reasons.push(format!("Insufficient {}", s.name));
            }
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status {
                code: Code::Unschedulable,
                reasons,
            }
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> i64 {
        let (mut total, mut weights) = (0, 0);
        for (resource, weight) in &self.resources {
            let (allocatable, requested) = allocation(pod, node, resource, Counted::NonZero);
            if allocatable == 0 {
                continue;
            }
            let score = match self.strategy {
                StrategyType::LeastAllocated if requested > allocatable => 0,
                StrategyType::LeastAllocated => {
                    (allocatable - requested) * MAX_NODE_SCORE / allocatable
                }
                // Upstream caps MostAllocated at a full node rather than scoring overcommit.
                StrategyType::MostAllocated => {
                    requested.min(allocatable) * MAX_NODE_SCORE / allocatable
                }
                StrategyType::RequestedToCapacityRatio => {
                    let utilization = if requested > allocatable {
                        MAX_UTILIZATION
                    } else {
                        requested * MAX_UTILIZATION / allocatable
                    };
                    let score = broken_linear(&self.shape, utilization);
                    // Upstream leaves resources that score 0 out of the mean.
                    if score <= 0 {
                        continue;
                    }
                    score
                }
            };
            total += score * weight;
            weights += weight;
        }
        match (weights, self.strategy) {
            (0, _) => 0,
            // Upstream rounds here, and truncates for the other strategies.
            (w, StrategyType::RequestedToCapacityRatio) => (total + w / 2) / w,
            (w, _) => total / w,
        }
    }
}

export_plugin!(NodeResourcesFit);

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_scheduler_sdk::fixtures::{node, pod};

    fn info(n: Node) -> NodeInfo {
        NodeInfo::new(0, n)
    }

    fn fit(args: NodeResourcesFitArgs) -> NodeResourcesFit {
        NodeResourcesFit::init(args).expect("valid args")
    }

    /// Upstream's fixture: a pod of 3000m/5000 on empty nodes of 4000m/10000 and 6000m/10000.
    fn upstream_pair_scores(fit: &NodeResourcesFit) -> [i64; 2] {
        let p = pod("p").with_requests(3000, 5000);
        [(4000, 10000), (6000, 10000)]
            .map(|(cpu, mem)| fit.score(&p, &info(node("n").with_allocatable(cpu, mem))))
    }

    #[test]
    fn least_allocated_matches_upstream_values() {
        assert_eq!(
            upstream_pair_scores(&fit(NodeResourcesFitArgs::default())),
            [37, 50]
        );
    }

    #[test]
    fn most_allocated_prefers_fuller_nodes() {
        let most = fit(NodeResourcesFitArgs {
            scoring_strategy: ScoringStrategy {
                kind: StrategyType::MostAllocated,
                ..Default::default()
            },
            ..Default::default()
        });
        // cpu 3000/4000 = 75, memory 5000/10000 = 50 → 62; cpu 50, memory 50 → 50.
        assert_eq!(upstream_pair_scores(&most), [62, 50]);
    }

    #[test]
    fn filter_lists_every_insufficient_resource() {
        let plain = fit(NodeResourcesFitArgs::default());
        let p = pod("p")
            .with_requests(5000, 20000)
            .with_scalar("example.com/gpu", 1);
        let s = plain.filter(
            &p,
            &info(node("a").with_allocatable(4000, 10000).with_max_pods(0)),
        );
        assert_eq!(s.code, Code::Unschedulable);
        assert_eq!(
            s.reasons,
            [
                "Too many pods",
                "Insufficient cpu",
                "Insufficient memory",
                "Insufficient example.com/gpu"
            ]
        );
        let ignoring = fit(NodeResourcesFitArgs {
            ignored_resources: vec!["example.com/gpu".into()],
            ..Default::default()
        });
        let roomy = info(node("b").with_allocatable(8000, 40000));
        assert!(ignoring.filter(&p, &roomy).is_success());
    }

    /// `TestBrokenLinearFunction` of upstream's `requested_to_capacity_ratio_test.go`.
    #[test]
    fn broken_linear_function_as_upstream() {
        let shape = |points: &[(i64, i64)]| -> Vec<UtilizationShapePoint> {
            points
                .iter()
                .map(|&(utilization, score)| UtilizationShapePoint { utilization, score })
                .collect()
        };
        /// `(utilization, expected score)` pairs.
        type Assertions<'a> = &'a [(i64, i64)];
        let tables: [(Vec<UtilizationShapePoint>, Assertions); 3] = [
            (
                shape(&[(10, 1), (90, 9)]),
                &[
                    (-10, 1),
                    (0, 1),
                    (9, 1),
                    (10, 1),
                    (15, 1),
                    (19, 1),
                    (20, 2),
                    (89, 8),
                    (90, 9),
                    (99, 9),
                    (100, 9),
                    (110, 9),
                ],
            ),
            (
                shape(&[(0, 2), (40, 10), (100, 0)]),
                &[
                    (-10, 2),
                    (0, 2),
                    (20, 6),
                    (30, 8),
                    (40, 10),
                    (70, 5),
                    (100, 0),
                    (110, 0),
                ],
            ),
            (
                shape(&[(0, 2), (40, 2), (100, 2)]),
                &[
                    (-10, 2),
                    (0, 2),
                    (20, 2),
                    (30, 2),
                    (40, 2),
                    (70, 2),
                    (100, 2),
                    (110, 2),
                ],
            ),
        ];
        for (points, assertions) in tables {
            for &(p, want) in assertions {
                assert_eq!(broken_linear(&points, p), want, "{points:?} at {p}");
            }
        }
    }

    #[test]
    fn a_shape_must_rise_in_utilization() {
        let args: NodeResourcesFitArgs = serde_json::from_str(
            r#"{"scoringStrategy": {"type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 1}, {"utilization": 50, "score": 2}]}}}"#,
        )
        .unwrap();
        assert!(
            NodeResourcesFit::init(args)
                .unwrap_err()
                .contains("shape[1]")
        );
    }

    #[test]
    fn zero_weight_is_rejected_at_init() {
        let mut bad = NodeResourcesFitArgs::default();
        bad.scoring_strategy.resources[0].weight = 0;
        assert!(
            NodeResourcesFit::init(bad)
                .unwrap_err()
                .contains("weight 0")
        );
    }
}
