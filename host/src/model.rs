//! Kubernetes objects → the WIT records plugins see, with upstream's request
//! math (`resourcehelper.PodRequests`): containers summed, restartable init
//! containers (sidecars) running alongside, the largest init container, then
//! pod overhead; non-zero defaults for cpu and memory where a container sets
//! no request at all.

use crate::quantity::{self, QuantityError};
use crate::runtime::wit;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use std::collections::BTreeMap;

/// Upstream's cpu request assumed for scoring when a container sets none (100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's memory request assumed for scoring when a container sets none (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Why an object could not be turned into a plugin record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A resource quantity does not parse.
    #[error("{object}: {field}: {source}")]
    Quantity {
        /// `namespace/name` or node name.
        object: String,
        /// Where, e.g. `spec.containers[0].resources.requests[cpu]`.
        field: String,
        /// The bad quantity.
        #[source]
        source: QuantityError,
    },
}

/// Resource amounts keyed by name while they are being added up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Amounts(BTreeMap<String, i64>);

impl Amounts {
    fn parse(
        object: &str,
        field: &str,
        list: Option<&BTreeMap<String, Quantity>>,
    ) -> Result<Self, ModelError> {
        let mut out = BTreeMap::new();
        for (name, q) in list.into_iter().flatten() {
            let parsed = if name == "cpu" {
                quantity::milli_value(&q.0)
            } else {
                quantity::value(&q.0)
            };
            let amount = parsed.map_err(|source| ModelError::Quantity {
                object: object.to_string(),
                field: format!("{field}[{name}]"),
                source,
            })?;
            out.insert(name.clone(), amount);
        }
        Ok(Amounts(out))
    }

    fn add(&mut self, other: &Amounts) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    fn max(&mut self, other: &Amounts) {
        for (k, v) in &other.0 {
            let e = self.0.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// With upstream's scoring defaults for a container that sets no cpu/memory request.
    fn non_zero(&self) -> Amounts {
        let mut out = self.clone();
        out.0
            .entry("cpu".into())
            .or_insert(DEFAULT_MILLI_CPU_REQUEST);
        out.0
            .entry("memory".into())
            .or_insert(DEFAULT_MEMORY_REQUEST);
        out
    }

    fn into_resources(self) -> wit::Resources {
        let mut r = wit::Resources {
            milli_cpu: 0,
            memory: 0,
            ephemeral_storage: 0,
            pods: 0,
            scalar: Vec::new(),
        };
        for (name, amount) in self.0 {
            match name.as_str() {
                "cpu" => r.milli_cpu = amount,
                "memory" => r.memory = amount,
                "ephemeral-storage" => r.ephemeral_storage = amount,
                "pods" => r.pods = amount,
                _ => r.scalar.push(wit::ScalarResource { name, amount }),
            }
        }
        r
    }
}

fn pairs(map: Option<&BTreeMap<String, String>>) -> Vec<wit::KeyValue> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| wit::KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

fn pod_key(pod: &core::Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// Effective requests of a pod and the same with non-zero defaults, as upstream computes them.
pub fn pod_requests(pod: &core::Pod) -> Result<(wit::Resources, wit::Resources), ModelError> {
    let key = pod_key(pod);
    let spec = pod.spec.as_ref();
    let requests = |field: &str, c: &core::Container| {
        Amounts::parse(
            &key,
            field,
            c.resources.as_ref().and_then(|r| r.requests.as_ref()),
        )
    };
    let (mut reqs, mut non_zero) = (Amounts::default(), Amounts::default());
    for (i, c) in spec
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let r = requests(&format!("spec.containers[{i}].resources.requests"), c)?;
        non_zero.add(&r.non_zero());
        reqs.add(&r);
    }
    // Sidecars (restartPolicy Always) run next to everything after them; a
    // plain init container runs alone, next to the sidecars started before it.
    let (mut sidecars, mut sidecars_nz) = (Amounts::default(), Amounts::default());
    let (mut init_max, mut init_max_nz) = (Amounts::default(), Amounts::default());
    let inits = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    for (i, c) in inits.iter().enumerate() {
        let r = requests(&format!("spec.initContainers[{i}].resources.requests"), c)?;
        let nz = r.non_zero();
        if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            non_zero.add(&nz);
            sidecars.add(&r);
            sidecars_nz.add(&nz);
            init_max.max(&sidecars);
            init_max_nz.max(&sidecars_nz);
        } else {
            let (mut peak, mut peak_nz) = (r, nz);
            peak.add(&sidecars);
            peak_nz.add(&sidecars_nz);
            init_max.max(&peak);
            init_max_nz.max(&peak_nz);
        }
    }
    reqs.max(&init_max);
    non_zero.max(&init_max_nz);
    let overhead = Amounts::parse(
        &key,
        "spec.overhead",
        spec.and_then(|s| s.overhead.as_ref()),
    )?;
    reqs.add(&overhead);
    non_zero.add(&overhead);
    Ok((reqs.into_resources(), non_zero.into_resources()))
}

fn taint_effect(effect: &str) -> Option<wit::TaintEffect> {
    match effect {
        "NoSchedule" => Some(wit::TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(wit::TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(wit::TaintEffect::NoExecute),
        _ => None,
    }
}

fn node_selector_term(t: &core::NodeSelectorTerm) -> wit::NodeSelectorTerm {
    let reqs = |list: Option<&Vec<core::NodeSelectorRequirement>>| {
        list.into_iter()
            .flatten()
            .map(|r| wit::NodeSelectorRequirement {
                key: r.key.clone(),
                operator: match r.operator.as_str() {
                    "In" => wit::NodeSelectorOperator::In,
                    "NotIn" => wit::NodeSelectorOperator::NotIn,
                    "Exists" => wit::NodeSelectorOperator::Exists,
                    "DoesNotExist" => wit::NodeSelectorOperator::DoesNotExist,
                    "Gt" => wit::NodeSelectorOperator::Gt,
                    // The API server validates operators; anything else is Lt.
                    _ => wit::NodeSelectorOperator::Lt,
                },
                values: r.values.clone().unwrap_or_default(),
            })
            .collect()
    };
    wit::NodeSelectorTerm {
        match_expressions: reqs(t.match_expressions.as_ref()),
        match_fields: reqs(t.match_fields.as_ref()),
    }
}

fn label_selector(s: &meta::LabelSelector) -> wit::LabelSelector {
    wit::LabelSelector {
        match_labels: pairs(s.match_labels.as_ref()),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .map(|r| wit::LabelSelectorRequirement {
                key: r.key.clone(),
                operator: match r.operator.as_str() {
                    "In" => wit::LabelSelectorOperator::In,
                    "NotIn" => wit::LabelSelectorOperator::NotIn,
                    "Exists" => wit::LabelSelectorOperator::Exists,
                    _ => wit::LabelSelectorOperator::DoesNotExist,
                },
                values: r.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn pod_affinity_term(t: &core::PodAffinityTerm) -> wit::PodAffinityTerm {
    wit::PodAffinityTerm {
        label_selector: t.label_selector.as_ref().map(label_selector),
        namespaces: t.namespaces.clone().unwrap_or_default(),
        namespace_selector: t.namespace_selector.as_ref().map(label_selector),
        topology_key: t.topology_key.clone(),
        match_label_keys: t.match_label_keys.clone().unwrap_or_default(),
        mismatch_label_keys: t.mismatch_label_keys.clone().unwrap_or_default(),
    }
}

fn pod_affinity(
    required: Option<&Vec<core::PodAffinityTerm>>,
    preferred: Option<&Vec<core::WeightedPodAffinityTerm>>,
) -> wit::PodAffinity {
    wit::PodAffinity {
        required: required
            .into_iter()
            .flatten()
            .map(pod_affinity_term)
            .collect(),
        preferred: preferred
            .into_iter()
            .flatten()
            .map(|w| wit::WeightedPodAffinityTerm {
                weight: w.weight,
                term: pod_affinity_term(&w.pod_affinity_term),
            })
            .collect(),
    }
}

fn policy(p: Option<&String>, default: wit::InclusionPolicy) -> wit::InclusionPolicy {
    match p.map(String::as_str) {
        Some("Honor") => wit::InclusionPolicy::Honor,
        Some("Ignore") => wit::InclusionPolicy::Ignore,
        _ => default,
    }
}

/// The pod as plugins see it.
pub fn pod(p: &core::Pod) -> Result<wit::Pod, ModelError> {
    let (requests, non_zero_requests) = pod_requests(p)?;
    let spec = p.spec.clone().unwrap_or_default();
    let affinity = spec.affinity.clone().unwrap_or_default();
    let all_containers = || {
        spec.init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
    };
    Ok(wit::Pod {
        uid: p.metadata.uid.clone().unwrap_or_default(),
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        labels: pairs(p.metadata.labels.as_ref()),
        annotations: pairs(p.metadata.annotations.as_ref()),
        priority: spec.priority.unwrap_or(0),
        node_name: spec.node_name.clone().unwrap_or_default(),
        scheduler_name: spec.scheduler_name.clone().unwrap_or_default(),
        node_selector: pairs(spec.node_selector.as_ref()),
        node_affinity: affinity.node_affinity.as_ref().map(|na| wit::NodeAffinity {
            required: na
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .map(|s| {
                    s.node_selector_terms
                        .iter()
                        .map(node_selector_term)
                        .collect()
                }),
            preferred: na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .map(|t| wit::PreferredSchedulingTerm {
                    weight: t.weight,
                    preference: node_selector_term(&t.preference),
                })
                .collect(),
        }),
        pod_affinity: affinity.pod_affinity.as_ref().map(|a| {
            pod_affinity(
                a.required_during_scheduling_ignored_during_execution
                    .as_ref(),
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            )
        }),
        pod_anti_affinity: affinity.pod_anti_affinity.as_ref().map(|a| {
            pod_affinity(
                a.required_during_scheduling_ignored_during_execution
                    .as_ref(),
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            )
        }),
        tolerations: spec
            .tolerations
            .iter()
            .flatten()
            .map(|t| wit::Toleration {
                key: t.key.clone().unwrap_or_default(),
                operator: if t.operator.as_deref() == Some("Exists") {
                    wit::TolerationOperator::Exists
                } else {
                    wit::TolerationOperator::Equal
                },
                value: t.value.clone().unwrap_or_default(),
                effect: t.effect.as_deref().and_then(taint_effect),
                toleration_seconds: t.toleration_seconds,
            })
            .collect(),
        requests,
        non_zero_requests,
        host_ports: all_containers()
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|port| {
                let host_port = u16::try_from(port.host_port?).ok().filter(|&p| p > 0)?;
                Some(wit::HostPort {
                    ip: port
                        .host_ip
                        .clone()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or_else(|| "0.0.0.0".into()),
                    protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port: host_port,
                })
            })
            .collect(),
        topology_spread_constraints: spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(|c| wit::TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                when_unsatisfiable: if c.when_unsatisfiable == "ScheduleAnyway" {
                    wit::UnsatisfiableAction::ScheduleAnyway
                } else {
                    wit::UnsatisfiableAction::DoNotSchedule
                },
                label_selector: c.label_selector.as_ref().map(label_selector),
                min_domains: c.min_domains,
                node_affinity_policy: policy(
                    c.node_affinity_policy.as_ref(),
                    wit::InclusionPolicy::Honor,
                ),
                node_taints_policy: policy(
                    c.node_taints_policy.as_ref(),
                    wit::InclusionPolicy::Ignore,
                ),
                match_label_keys: c.match_label_keys.clone().unwrap_or_default(),
            })
            .collect(),
        images: all_containers().filter_map(|c| c.image.clone()).collect(),
        controller_kind: p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.kind.clone())
            .unwrap_or_default(),
    })
}

/// Which node data a plugin receives besides labels, taints and capacity.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// Annotations: `None` for none, `Some(empty)` for all, else these keys.
    pub annotations: Option<Vec<String>>,
    /// `status.images`.
    pub images: bool,
}

impl NodeView {
    /// Everything: images and all annotations. The scheduler's cluster state
    /// keeps this; each plugin slot cuts it down to what its plugin asked for.
    pub fn all() -> Self {
        NodeView {
            annotations: Some(Vec::new()),
            images: true,
        }
    }
}

/// The node as plugins see it.
pub fn node(n: &core::Node, view: &NodeView) -> Result<wit::Node, ModelError> {
    let name = n.metadata.name.clone().unwrap_or_default();
    let status = n.status.as_ref();
    let allocatable = Amounts::parse(
        &name,
        "status.allocatable",
        status.and_then(|s| s.allocatable.as_ref()),
    )?;
    let spec = n.spec.as_ref();
    Ok(wit::Node {
        labels: pairs(n.metadata.labels.as_ref()),
        annotations: match &view.annotations {
            None => Vec::new(),
            Some(keys) => pairs(n.metadata.annotations.as_ref())
                .into_iter()
                .filter(|kv| keys.is_empty() || keys.contains(&kv.key))
                .collect(),
        },
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(wit::Taint {
                    key: t.key.clone(),
                    value: t.value.clone().unwrap_or_default(),
                    effect: taint_effect(&t.effect)?,
                })
            })
            .collect(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        allocatable: allocatable.into_resources(),
        images: if view.images {
            status
                .and_then(|s| s.images.as_ref())
                .into_iter()
                .flatten()
                .map(|i| wit::ContainerImage {
                    names: i.names.clone().unwrap_or_default(),
                    size_bytes: i.size_bytes.unwrap_or(0),
                })
                .collect()
        } else {
            Vec::new()
        },
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_from(spec: serde_json::Value) -> core::Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}))
            .unwrap()
    }

    fn container(cpu: Option<&str>, mem: Option<&str>) -> serde_json::Value {
        let mut requests = serde_json::Map::new();
        if let Some(c) = cpu {
            requests.insert("cpu".into(), json!(c));
        }
        if let Some(m) = mem {
            requests.insert("memory".into(), json!(m));
        }
        json!({"name": "c", "image": "img", "resources": {"requests": requests}})
    }

    #[test]
    fn containers_sum_and_init_containers_take_the_max() {
        let p = pod_from(json!({
            "containers": [container(Some("500m"), Some("1Gi")), container(Some("250m"), None)],
            "initContainers": [container(Some("2"), Some("100Mi"))],
        }));
        let (r, nz) = pod_requests(&p).unwrap();
        assert_eq!((r.milli_cpu, r.memory), (2000, 1 << 30));
        // The second container sets no memory: 200 MiB counts for scoring only.
        assert_eq!(
            (nz.milli_cpu, nz.memory),
            (2000, (1 << 30) + DEFAULT_MEMORY_REQUEST)
        );
    }

    #[test]
    fn sidecars_run_alongside_and_overhead_is_added() {
        let mut sidecar = container(Some("1"), Some("1Gi"));
        sidecar["restartPolicy"] = json!("Always");
        let p = pod_from(json!({
            "containers": [container(Some("1"), Some("1Gi"))],
            "initContainers": [sidecar, container(Some("2"), Some("1Gi"))],
            "overhead": {"cpu": "100m", "memory": "10Mi"},
        }));
        let (r, _) = pod_requests(&p).unwrap();
        // Containers 1 + sidecar 1 = 2 cpu; the init container runs with the sidecar: 2 + 1 = 3.
        assert_eq!(r.milli_cpu, 3000 + 100);
        assert_eq!(r.memory, (2 << 30) + (10 << 20));
    }

    #[test]
    fn a_zero_request_is_not_defaulted_only_a_missing_one() {
        let p = pod_from(json!({"containers": [container(Some("0"), None)]}));
        let (r, nz) = pod_requests(&p).unwrap();
        assert_eq!((r.milli_cpu, r.memory), (0, 0));
        assert_eq!((nz.milli_cpu, nz.memory), (0, DEFAULT_MEMORY_REQUEST));
    }

    #[test]
    fn extended_resources_host_ports_tolerations_and_images() {
        let p = pod_from(json!({
            "containers": [{"name": "c", "image": "app:1",
                "resources": {"requests": {"nvidia.com/gpu": "2"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]}],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}, {"key": "j", "value": "v"}],
        }));
        let w = pod(&p).unwrap();
        assert_eq!(
            w.requests.scalar,
            [wit::ScalarResource {
                name: "nvidia.com/gpu".into(),
                amount: 2
            }]
        );
        assert_eq!(
            w.host_ports,
            [wit::HostPort {
                ip: "0.0.0.0".into(),
                protocol: "TCP".into(),
                port: 8080
            }]
        );
        assert_eq!(w.tolerations[0].operator, wit::TolerationOperator::Exists);
        assert_eq!(w.tolerations[0].effect, Some(wit::TaintEffect::NoSchedule));
        assert_eq!(
            (w.tolerations[1].operator, w.tolerations[1].effect),
            (wit::TolerationOperator::Equal, None)
        );
        assert_eq!(w.images, ["app:1"]);
    }

    #[test]
    fn a_bad_quantity_names_the_pod_and_field() {
        let p = pod_from(json!({"containers": [container(Some("lots"), None)]}));
        let err = pod(&p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ns/p: spec.containers[0].resources.requests[cpu]: invalid quantity \"lots\""
        );
    }

    #[test]
    fn node_capacity_taints_and_requested_annotations() {
        let n: core::Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"zone": "a"}, "annotations": {"a": "1", "b": "2"}},
            "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoExecute"}], "unschedulable": true},
            "status": {"allocatable": {"cpu": "3800m", "memory": "15Gi", "pods": "110", "example.com/fpga": "1"}},
        }))
        .unwrap();
        let view = NodeView {
            annotations: Some(vec!["b".into()]),
            images: false,
        };
        let w = node(&n, &view).unwrap();
        assert_eq!(
            (
                w.allocatable.milli_cpu,
                w.allocatable.memory,
                w.allocatable.pods
            ),
            (3800, 15 << 30, 110)
        );
        assert_eq!(w.allocatable.scalar[0].name, "example.com/fpga");
        assert_eq!(w.taints[0].effect, wit::TaintEffect::NoExecute);
        assert!(w.unschedulable);
        assert_eq!(
            w.annotations,
            [wit::KeyValue {
                key: "b".into(),
                value: "2".into()
            }]
        );
    }
}
