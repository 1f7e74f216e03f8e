//! Resource arithmetic with upstream's defaults.

use crate::types::{Resources, ScalarResource};

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

    /// The amount of a resource by its Kubernetes name (`cpu` in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.pods,
            other => self.scalar(other),
        }
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
        assert_eq!(r.get("nvidia.com/gpu"), 4);
        assert_eq!(r.get("example.com/b"), 0);
        let names: Vec<_> = r.scalar.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["example.com/a", "nvidia.com/gpu"]);
    }
}
