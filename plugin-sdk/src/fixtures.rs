//! Builders for nodes, pods, taints and tolerations in plugin unit tests.
//!
//! ```
//! use wasm_scheduler_sdk::fixtures::{node, pod};
//! let n = node("n1").with_allocatable(4000, 8 << 30).with_label("zone", "a");
//! let p = pod("web").with_requests(500, 1 << 30);
//! assert_eq!(n.allocatable.milli_cpu, 4000);
//! assert_eq!(p.requests.memory, 1 << 30);
//! ```

use crate::resources::{DEFAULT_MEMORY_REQUEST, DEFAULT_MILLI_CPU_REQUEST};
use crate::types::{
    HostPort, KeyValue, Node, Pod, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
};

/// A node with no labels, no taints, and room for 110 pods but no cpu or memory.
pub fn node(name: &str) -> Node {
    Node {
        name: name.to_string(),
        labels: Vec::new(),
        annotations: Vec::new(),
        taints: Vec::new(),
        unschedulable: false,
        allocatable: Resources {
            pods: 110,
            ..Resources::zero()
        },
        images: Vec::new(),
    }
}

/// A pod in namespace `default` that requests nothing.
pub fn pod(name: &str) -> Pod {
    Pod {
        uid: format!("uid-{name}"),
        namespace: "default".to_string(),
        name: name.to_string(),
        labels: Vec::new(),
        annotations: Vec::new(),
        priority: 0,
        node_name: String::new(),
        scheduler_name: "wasm-scheduler".to_string(),
        node_selector: Vec::new(),
        node_affinity: None,
        pod_affinity: None,
        pod_anti_affinity: None,
        tolerations: Vec::new(),
        requests: Resources::zero(),
        non_zero_requests: Resources {
            milli_cpu: DEFAULT_MILLI_CPU_REQUEST,
            memory: DEFAULT_MEMORY_REQUEST,
            ..Resources::zero()
        },
        host_ports: Vec::new(),
        topology_spread_constraints: Vec::new(),
        images: Vec::new(),
        controller_kind: String::new(),
    }
}

/// A taint.
pub fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_string(),
        value: value.to_string(),
        effect,
    }
}

/// A toleration.
pub fn toleration(
    key: &str,
    operator: TolerationOperator,
    value: &str,
    effect: Option<TaintEffect>,
) -> Toleration {
    Toleration {
        key: key.to_string(),
        operator,
        value: value.to_string(),
        effect,
        toleration_seconds: None,
    }
}

fn set(pairs: &mut Vec<KeyValue>, key: &str, value: &str) {
    pairs.retain(|kv| kv.key != key);
    pairs.push(KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    });
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
}

impl Node {
    /// Sets allocatable cpu (millicores) and memory (bytes).
    pub fn with_allocatable(mut self, milli_cpu: i64, memory: i64) -> Self {
        self.allocatable.milli_cpu = milli_cpu;
        self.allocatable.memory = memory;
        self
    }

    /// Sets the number of pods the node takes.
    pub fn with_max_pods(mut self, pods: i64) -> Self {
        self.allocatable.pods = pods;
        self
    }

    /// Sets allocatable of an extended resource.
    pub fn with_scalar(mut self, name: &str, amount: i64) -> Self {
        self.allocatable.set_scalar(name, amount);
        self
    }

    /// Sets a label.
    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        set(&mut self.labels, key, value);
        self
    }

    /// Adds a taint.
    pub fn with_taint(mut self, taint: Taint) -> Self {
        self.taints.push(taint);
        self
    }
}

impl Pod {
    /// Sets the requests of a single-container pod; the non-zero requests get
    /// upstream's defaults where a value is 0.
    pub fn with_requests(mut self, milli_cpu: i64, memory: i64) -> Self {
        self.requests.milli_cpu = milli_cpu;
        self.requests.memory = memory;
        self.non_zero_requests.milli_cpu = if milli_cpu == 0 {
            DEFAULT_MILLI_CPU_REQUEST
        } else {
            milli_cpu
        };
        self.non_zero_requests.memory = if memory == 0 {
            DEFAULT_MEMORY_REQUEST
        } else {
            memory
        };
        self
    }

    /// Sets a request of an extended resource.
    pub fn with_scalar(mut self, name: &str, amount: i64) -> Self {
        self.requests.set_scalar(name, amount);
        self.non_zero_requests.set_scalar(name, amount);
        self
    }

    /// Sets a label.
    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        set(&mut self.labels, key, value);
        self
    }

    /// Adds a toleration.
    pub fn with_toleration(mut self, toleration: Toleration) -> Self {
        self.tolerations.push(toleration);
        self
    }

    /// Adds a wanted host port (TCP, any IP).
    pub fn with_host_port(mut self, port: u16) -> Self {
        self.host_ports.push(HostPort {
            ip: "0.0.0.0".to_string(),
            protocol: "TCP".to_string(),
            port,
        });
        self
    }
}
