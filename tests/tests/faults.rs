//! A plugin that traps, loops, hoards memory or breaks the contract fails only
//! its own call, with a typed error, and the host and other plugins go on.

use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_scheduler::runtime::wit::Delta;
use wasm_scheduler::runtime::{LoadError, PluginError, PluginSlot, PluginSpec};
use wasm_scheduler_sdk::fixtures::{node, pod};
use wasm_scheduler_tests::{FixtureNode, full_sync, load, runtime, wasm};

fn nodes() -> Vec<FixtureNode> {
    vec![
        node("a").with_allocatable(4000, 8 << 30).into(),
        node("b").with_allocatable(2000, 8 << 30).into(),
    ]
}

fn fault(mode: &str, at: &str) -> PluginSpec {
    PluginSpec::new(format!("fault-{mode}"))
        .with_config(serde_json::json!({"mode": mode, "at": at}))
        .with_timeout(Duration::from_millis(20))
        .with_memory_limit(16 << 20)
}

fn slot(crate_name: &str, spec: PluginSpec) -> PluginSlot {
    let mut inst = load(crate_name, spec).instantiate().expect("init succeeds");
    inst.apply(&full_sync(&nodes())).unwrap();
    PluginSlot::new(inst)
}

/// A well-behaved plugin next to the faulty one still answers, every time.
fn healthy_neighbour_answers(fit: &mut PluginSlot) {
    let p = wasm_scheduler_tests::pod(&pod("p").with_requests(1000, 1 << 30));
    let sync = || full_sync(&nodes());
    fit.begin_cycle(Arc::new(p), &sync).unwrap();
    assert_eq!(fit.score(&[0, 1], &sync).unwrap(), [81, 68]);
}

#[test]
fn trap_is_a_typed_error_and_the_instance_is_rebuilt() {
    let mut bad = slot("fault-plugin", fault("trap", "filter"));
    let mut fit = slot("node-resources-fit", PluginSpec::new("NodeResourcesFit"));
    let sync = || full_sync(&nodes());
    bad.begin_cycle(Arc::new(wasm_scheduler_tests::pod(&pod("p"))), &sync)
        .unwrap();
    for round in 1..=3 {
        let err = bad.filter(&[0, 1], &sync).unwrap_err();
        assert!(
            matches!(err, PluginError::Trap { ref plugin, call: "filter", .. } if plugin == "fault-trap"),
            "{err:?}"
        );
        // A Rust panic reaches the host as an `unreachable` trap; its message went to the plugin's stderr log.
        assert!(err.to_string().contains("unreachable"), "{err}");
        assert_eq!(
            bad.rebuilds(),
            round - 1,
            "rebuilt lazily, once per failure"
        );
        healthy_neighbour_answers(&mut fit);
    }
    // Calls that do not trap still work on the rebuilt instance, which was
    // given the cycle's pod again (the fault plugin refuses calls without one).
    assert_eq!(bad.score(&[0, 1], &sync).unwrap(), [1, 1]);
}

#[test]
fn endless_loop_is_interrupted_at_its_deadline() {
    let mut bad = slot("fault-plugin", fault("loop", "score"));
    let mut fit = slot("node-resources-fit", PluginSpec::new("NodeResourcesFit"));
    let sync = || full_sync(&nodes());
    bad.begin_cycle(Arc::new(wasm_scheduler_tests::pod(&pod("p"))), &sync)
        .unwrap();
    let started = Instant::now();
    let err = bad.score(&[0, 1], &sync).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, PluginError::Timeout { call: "score", deadline, .. } if deadline == Duration::from_millis(20)),
        "{err:?}"
    );
    // The deadline is enforced by epochs, not by luck: generous bound for a loaded CI machine.
    assert!(took < Duration::from_secs(5), "interrupted after {took:?}");
    healthy_neighbour_answers(&mut fit);
    assert!(
        bad.filter(&[0, 1], &sync).unwrap().rejections.is_empty(),
        "next call gets a fresh instance, on which every node passes"
    );
}

#[test]
fn memory_hog_hits_its_cap() {
    let mut bad = slot("fault-plugin", fault("grow", "filter"));
    let mut fit = slot("node-resources-fit", PluginSpec::new("NodeResourcesFit"));
    let sync = || full_sync(&nodes());
    bad.begin_cycle(Arc::new(wasm_scheduler_tests::pod(&pod("p"))), &sync)
        .unwrap();
    let err = bad.filter(&[0, 1], &sync).unwrap_err();
    match err {
        PluginError::MemoryLimit {
            ref plugin,
            call,
            requested,
            limit,
        } => {
            assert_eq!(
                (plugin.as_str(), call, limit),
                ("fault-grow", "filter", 16 << 20)
            );
            assert!(requested > limit);
        }
        other => panic!("expected a memory-limit error, got {other:?}"),
    }
    healthy_neighbour_answers(&mut fit);
}

#[test]
fn wrong_result_count_is_a_contract_error() {
    let mut bad = slot("fault-plugin", fault("wrong-count", "score"));
    let sync = || full_sync(&nodes());
    bad.begin_cycle(Arc::new(wasm_scheduler_tests::pod(&pod("p"))), &sync)
        .unwrap();
    let err = bad.score(&[0, 1], &sync).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::WrongResultCount {
                call: "score",
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.poisons_instance(), "the instance itself is fine");
}

#[test]
fn rejecting_a_node_it_was_not_given_is_a_contract_error() {
    let mut bad = slot("fault-plugin", fault("wrong-count", "filter"));
    let sync = || full_sync(&nodes());
    bad.begin_cycle(Arc::new(wasm_scheduler_tests::pod(&pod("p"))), &sync)
        .unwrap();
    let err = bad.filter(&[0, 1], &sync).unwrap_err();
    match &err {
        PluginError::InvalidResult {
            plugin,
            call,
            detail,
        } => {
            assert_eq!((plugin.as_str(), *call), ("fault-wrong-count", "filter"));
            assert_eq!(detail, "rejected node index 2 of 2 nodes");
        }
        other => panic!("expected a contract error, got {other:?}"),
    }
    assert!(!err.poisons_instance());
}

#[test]
fn rejection_reason_outside_the_table_is_a_contract_error() {
    let mut bad = slot("fault-plugin", fault("bad-reason", "filter"));
    let sync = || full_sync(&nodes());
    bad.begin_cycle(Arc::new(wasm_scheduler_tests::pod(&pod("p"))), &sync)
        .unwrap();
    let err = bad.filter(&[0, 1], &sync).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidResult { call: "filter", detail, .. }
            if detail == "node index 0 names reason 7 of 1"),
        "{err:?}"
    );
}

#[test]
fn failing_init_rejects_the_plugin_at_load() {
    let err = load("fault-plugin", fault("fail-init", "filter"))
        .instantiate()
        .err()
        .expect("init fails");
    match err {
        LoadError::Init {
            plugin,
            source:
                PluginError::Returned {
                    message,
                    call: "init",
                    ..
                },
        } => {
            assert_eq!(plugin, "fault-fail-init");
            assert_eq!(message, "fault plugin: init refused by config");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn bytes_that_are_not_a_component_are_rejected_with_the_reason() {
    let rt = runtime();
    let not_wasm = rt
        .load(PluginSpec::new("junk"), b"#!/bin/sh\necho hi\n")
        .err()
        .unwrap();
    assert!(
        matches!(not_wasm, LoadError::NotWasm { ref plugin } if plugin == "junk"),
        "{not_wasm:?}"
    );

    // The smallest valid core module: a component is required.
    let core = rt
        .load(PluginSpec::new("core"), b"\0asm\x01\0\0\0")
        .err()
        .unwrap();
    assert!(matches!(core, LoadError::CoreModule { .. }), "{core:?}");
    assert!(core.to_string().contains("wasm32-wasip2"), "{core}");

    let mut truncated = wasm("taint-toleration");
    truncated.truncate(truncated.len() / 2);
    let bad = rt.load(PluginSpec::new("half"), &truncated).err().unwrap();
    assert!(matches!(bad, LoadError::Compile { .. }), "{bad:?}");
}

#[test]
fn component_of_another_world_is_rejected() {
    // A valid component that exports nothing: the plugin interface is missing.
    let empty_component = b"\0asm\x0d\0\x01\0";
    let err = runtime()
        .load(PluginSpec::new("empty"), empty_component)
        .err()
        .unwrap();
    assert!(
        matches!(err, LoadError::WrongWorld { ref plugin, .. } if plugin == "empty"),
        "{err:?}"
    );
    assert!(err.to_string().contains("scheduler-plugin@0.1.0"), "{err}");
}

#[test]
fn pod_deltas_reach_only_plugins_that_ask_for_them() {
    let nodes: Vec<FixtureNode> = vec![node("n").into()];
    let p = wasm_scheduler_tests::pod(&pod("p"));
    let sync = || full_sync(&nodes);
    let mut deltas = full_sync(&nodes);
    deltas.push(Delta::PodAdded((1, 0, p.clone())));
    let received = |mode: &str| {
        let mut s = slot(
            "fault-plugin",
            PluginSpec::new(mode).with_config(serde_json::json!({"mode": mode})),
        );
        s.apply(&deltas, &sync).unwrap();
        s.begin_cycle(Arc::new(p.clone()), &sync).unwrap();
        s.score(&[0], &sync).unwrap()[0]
    };
    assert_eq!(received("count-pods"), 0, "not asked for: not sent");
    assert_eq!(received("count-pods-needed"), 1);
}

#[test]
fn usage_deltas_reach_only_plugins_that_ask_for_them() {
    let usage_only: Vec<Delta> = full_sync(&nodes())
        .into_iter()
        .filter(|d| matches!(d, Delta::UsageChanged(_)))
        .collect();
    assert!(!usage_only.is_empty());
    let sync = || full_sync(&nodes());
    let syncs = |crate_name: &str, name: &str| {
        let mut s = slot(crate_name, PluginSpec::new(name));
        s.apply(&usage_only, &sync).unwrap();
        s.take_calls().iter().filter(|c| c.point == "Sync").count()
    };
    // NodeResourcesFit judges by usage; NodeName never looks at it, so a
    // binding (which changes only usage) costs it no call.
    assert_eq!(syncs("node-resources-fit", "NodeResourcesFit"), 1);
    assert_eq!(syncs("node-name", "NodeName"), 0);
    assert_eq!(syncs("taint-toleration", "TaintToleration"), 0);
}

#[test]
fn pod_annotations_reach_only_plugins_that_ask_for_them() {
    let mut annotated = pod("p");
    annotated.annotations = ["a", "b", "kubectl.kubernetes.io/last-applied-configuration"]
        .iter()
        .map(|k| wasm_scheduler_sdk::types::KeyValue {
            key: k.to_string(),
            value: "x".repeat(64),
        })
        .collect();
    let p = Arc::new(wasm_scheduler_tests::pod(&annotated));
    let sync = || full_sync(&nodes());
    let seen = |mode: &str| {
        let mut s = slot(
            "fault-plugin",
            PluginSpec::new(mode).with_config(serde_json::json!({"mode": mode})),
        );
        s.begin_cycle(p.clone(), &sync).unwrap();
        s.score(&[0], &sync).unwrap()[0]
    };
    assert_eq!(seen("count-annotations"), 0, "not asked for: cut off");
    assert_eq!(seen("count-annotations-needed"), 3);
    assert_eq!(
        p.annotations.len(),
        3,
        "the cycle's pod itself is untouched"
    );
}
