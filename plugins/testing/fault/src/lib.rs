//! A misbehaving plugin for the host's fault tests; never deploy it.
//!
//! It is written against the raw bindings, not the SDK's `Plugin` trait, so it
//! can break the contract (wrong result counts). Config `{"mode": M, "at": P}`:
//! M is `trap`, `loop`, `grow`, `wrong-count`, `bad-reason` or `fail-init`; P is the call that
//! misbehaves (`filter`, `score` or `apply`; default `filter`). Every other call
//! behaves: filter passes every node, score gives 1. Two more modes report
//! what the host sent: `count-pods` (no pod data asked for at `init`) and
//! `count-pods-needed` (asked for) score every node with the number of
//! `pod-added` deltas received; `count-annotations` and
//! `count-annotations-needed` with the number of annotations the cycle's
//! pod arrived with.

use std::cell::RefCell;
use wasm_scheduler_sdk::types::{
    AnnotationNeed, Code, DataNeeds, Delta, ExtensionPoints, FilterResult, NodeId, PluginInfo, Pod,
    Rejection,
};

thread_local! {
    /// Whether `begin-cycle` was called, as the SDK requires before per-node calls.
    static IN_CYCLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static CONFIG: RefCell<(String, String)> = const { RefCell::new((String::new(), String::new())) };
    /// `pod-added` deltas received, for the `count-pods` modes.
    static POD_DELTAS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    /// Annotations of the cycle's pod, for the `count-annotations` modes.
    static POD_ANNOTATIONS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// The exported component.
pub struct Fault;

/// The fault plugin's config.
#[derive(serde::Deserialize)]
struct Config {
    #[serde(default)]
    mode: String,
    #[serde(default = "filter_call")]
    at: String,
}

fn filter_call() -> String {
    "filter".to_string()
}

fn misbehave(call: &str, n: usize) -> usize {
    let (mode, at) = CONFIG.with_borrow(Clone::clone);
    if at != call {
        return n;
    }
    match mode.as_str() {
        #[allow(clippy::panic)]
        "trap" => panic!("fault plugin: trap in {call}"),
        "loop" => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "wrong-count" => n + 1,
        _ => n,
    }
}

fn in_cycle() -> Result<(), String> {
    if IN_CYCLE.get() {
        Ok(())
    } else {
        Err("fault plugin: called before begin-cycle".to_string())
    }
}

impl wasm_scheduler_sdk::__private::Guest for Fault {
    fn init(config: String) -> Result<PluginInfo, String> {
        let Config { mode, at } = wasm_scheduler_sdk::config::from_str(&config)?;
        if mode == "fail-init" {
            return Err("fault plugin: init refused by config".to_string());
        }
        let pods = mode == "count-pods-needed";
        let annotations = mode == "count-annotations-needed";
        CONFIG.with_borrow_mut(|c| *c = (mode, at));
        Ok(PluginInfo {
            name: "Fault".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extension_points: ExtensionPoints::FILTER | ExtensionPoints::SCORE,
            needs: DataNeeds {
                usage: true,
                pods,
                node_annotations: AnnotationNeed::None,
                pod_annotations: if annotations {
                    AnnotationNeed::All
                } else {
                    AnnotationNeed::None
                },
                node_images: false,
            },
        })
    }

    fn apply(deltas: Vec<Delta>) -> Result<(), String> {
        misbehave("apply", deltas.len());
        let added = deltas
            .iter()
            .filter(|d| matches!(d, Delta::PodAdded(_)))
            .count();
        POD_DELTAS.set(POD_DELTAS.get() + added as i64);
        Ok(())
    }

    fn begin_cycle(pod: Pod) -> Result<(), String> {
        IN_CYCLE.set(true);
        POD_ANNOTATIONS.set(pod.annotations.len() as i64);
        Ok(())
    }

    fn filter(nodes: Vec<NodeId>) -> Result<FilterResult, String> {
        in_cycle()?;
        // Every node passes; `wrong-count` names a node past the end of the list.
        let n = misbehave("filter", nodes.len());
        let mut rejections: Vec<Rejection> = (nodes.len()..n)
            .map(|index| Rejection {
                index: index as u32,
                code: Code::Unschedulable,
                reasons: vec![0],
            })
            .collect();
        // `bad-reason` rejects the first node with a reason the table lacks.
        if CONFIG.with_borrow(|(mode, at)| mode == "bad-reason" && at == "filter") {
            rejections.push(Rejection {
                index: 0,
                code: Code::Unschedulable,
                reasons: vec![7],
            });
        }
        Ok(FilterResult {
            reasons: vec!["fault plugin: no such node".to_string()],
            rejections,
        })
    }

    fn score(nodes: Vec<NodeId>) -> Result<Vec<i64>, String> {
        in_cycle()?;
        let n = misbehave("score", nodes.len());
        // `count-pods[-needed]` scores every node with the pod deltas it was sent.
        if CONFIG.with_borrow(|(mode, _)| mode.starts_with("count-pods")) {
            return Ok(vec![POD_DELTAS.get(); n]);
        }
        if CONFIG.with_borrow(|(mode, _)| mode.starts_with("count-annotations")) {
            return Ok(vec![POD_ANNOTATIONS.get(); n]);
        }
        Ok(vec![1; n])
    }

    fn normalize_score(_nodes: Vec<NodeId>, scores: Vec<i64>) -> Result<Vec<i64>, String> {
        Ok(scores)
    }
}

#[cfg(target_arch = "wasm32")]
wasm_scheduler_sdk::__private::__export_scheduler_plugin!(Fault);
