//! Resource arithmetic with upstream's defaults.

use crate::cluster::NodeInfo;
use crate::types::{Pod, Resources, ScalarResource};

/// Upstream's cpu request assumed for scoring when a container sets none (100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's memory request assumed for scoring when a container sets none (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

impl Resources {
    /// No resources.
    pub fn zero() -> Self {
        Resources {
            milli_cpu: 0,
            memory: 0,
            ephemeral_storage: 0,
            pods: 0,
            scalar: Vec::new(),
        }
    }

    /// The amount of an extended resource (0 when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar
            .iter()
            .find(|s| s.name == name)
            .map_or(0, |s| s.amount)
    }

    /// Sets the amount of an extended resource, keeping the list sorted by name.
    pub fn set_scalar(&mut self, name: &str, amount: i64) {
        match self.scalar.binary_search_by(|s| s.name.as_str().cmp(name)) {
            Ok(i) => self.scalar[i].amount = amount,
            Err(i) => self.scalar.insert(
                i,
                ScalarResource {
                    name: name.to_string(),
                    amount,
                },
            ),
        }
    }
}

/// A resource name resolved once (at `init`), so that per-node lookups
/// compare no strings for the well-known resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceName {
    /// `cpu`, in millicores.
    Cpu,
    /// `memory`, in bytes.
    Memory,
    /// `ephemeral-storage`, in bytes.
    EphemeralStorage,
    /// `pods`.
    Pods,
    /// An extended resource.
    Scalar(String),
}

impl ResourceName {
    /// Resolves a Kubernetes resource name.
    pub fn parse(name: &str) -> Self {
        match name {
            "cpu" => ResourceName::Cpu,
            "memory" => ResourceName::Memory,
            "ephemeral-storage" => ResourceName::EphemeralStorage,
            "pods" => ResourceName::Pods,
            other => ResourceName::Scalar(other.to_string()),
        }
    }

    /// The amount of this resource in `r`.
    pub fn amount(&self, r: &Resources) -> i64 {
        match self {
            ResourceName::Cpu => r.milli_cpu,
            ResourceName::Memory => r.memory,
            ResourceName::EphemeralStorage => r.ephemeral_storage,
            ResourceName::Pods => r.pods,
            ResourceName::Scalar(name) => r.scalar(name),
        }
    }
}

/// Which requests a resource score counts for cpu and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The requests as written (upstream's BalancedAllocation).
    Requested,
    /// The requests with upstream's defaults for containers that set none
    /// (upstream's NodeResourcesFit scoring), so pods without requests still spread.
    NonZero,
}

/// Upstream's `calculateResourceAllocatableRequest`: the node's allocatable
/// of `resource` and what would be requested on it with `pod` added.
///
/// `(0, 0)`, which scorers skip, for an extended resource the pod does not
/// request or the node does not have.
pub fn allocation(
    pod: &Pod,
    node: &NodeInfo,
    resource: &ResourceName,
    counted: Counted,
) -> (i64, i64) {
    let (pod_requests, node_requested) = match counted {
        Counted::Requested => (&pod.requests, &node.usage.requested),
        Counted::NonZero => (&pod.non_zero_requests, &node.usage.non_zero_requested),
    };
    let allocatable = &node.node.allocatable;
    match resource {
        ResourceName::Cpu | ResourceName::Memory => (
            resource.amount(allocatable),
            resource.amount(node_requested) + resource.amount(pod_requests),
        ),
        ResourceName::Scalar(name) => {
            let wanted = pod.requests.scalar(name);
            if wanted == 0 || !allocatable.scalar.iter().any(|s| &s.name == name) {
                return (0, 0);
            }
            (
                allocatable.scalar(name),
                node.usage.requested.scalar(name) + wanted,
            )
        }
        other => (
            other.amount(allocatable),
            other.amount(&node.usage.requested) + other.amount(&pod.requests),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_stay_sorted_and_absent_is_zero() {
        let mut r = Resources::zero();
        r.set_scalar("nvidia.com/gpu", 2);
        r.set_scalar("example.com/a", 1);
        r.set_scalar("nvidia.com/gpu", 4);
        assert_eq!(ResourceName::parse("nvidia.com/gpu").amount(&r), 4);
        assert_eq!(ResourceName::parse("example.com/b").amount(&r), 0);
        r.milli_cpu = 250;
        assert_eq!(ResourceName::parse("cpu").amount(&r), 250);
        let names: Vec<_> = r.scalar.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["example.com/a", "nvidia.com/gpu"]);
    }
}
