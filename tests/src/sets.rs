//! Plugin sets for the hot-swap tests and benchmark: manifests, the
//! ConfigMap that carries them, and a scheduler feed.

use crate::wasm;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::sync::Arc;
use wasm_scheduler::plugin_set::SET_LABEL;
use wasm_scheduler::plugin_set::status::SetStatus;
use wasm_scheduler::runtime::PluginRuntime;
use wasm_scheduler::scheduler::{SetFeed, SetSource};

/// A set: its manifest and its modules by file name.
pub type Set = (String, Vec<(&'static str, Vec<u8>)>);

/// A manifest: `(name, module, config)` per plugin, every field else default.
pub fn manifest(plugins: &[(&str, &str, Value)]) -> String {
    let plugins: Vec<Value> = plugins
        .iter()
        .map(|(name, module, config)| json!({"name": name, "module": module, "config": config}))
        .collect();
    // JSON is YAML: the manifest parser reads it as is.
    json!({"apiVersion": "wasm-scheduler.io/v1alpha1", "kind": "PluginSet", "plugins": plugins})
        .to_string()
}

/// A set that spreads by LeastAllocated.
pub fn spread() -> Set {
    (
        manifest(&[("Fit", "fit.wasm", Value::Null)]),
        vec![("fit.wasm", wasm("node-resources-fit"))],
    )
}

/// A set that admits only nodes labelled `pool=<pool>`, then fits.
pub fn gate(pool: &str) -> Set {
    (
        manifest(&[
            ("Gate", "gate.wasm", json!({"required": {"pool": [pool]}})),
            ("Fit", "fit.wasm", Value::Null),
        ]),
        vec![
            ("gate.wasm", wasm("node-label-gate")),
            ("fit.wasm", wasm("node-resources-fit")),
        ],
    )
}

/// The merge patch that makes ConfigMap `plugins` hold this set.
pub fn set_patch(set: &Set) -> Value {
    use k8s_openapi::ByteString;
    let binary: serde_json::Map<String, Value> = set
        .1
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::to_value(ByteString(v.clone())).unwrap(),
            )
        })
        .collect();
    json!({"metadata": {"name": "plugins", "labels": {SET_LABEL: "wasm-scheduler"}},
        "data": {"plugins.yaml": set.0}, "binaryData": binary})
}

/// Creates or updates ConfigMap `default/plugins` to hold `set`.
pub async fn put_set(client: kube::Client, set: &Set) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let patch = set_patch(set);
    if api.get_opt("plugins").await?.is_some() {
        api.patch("plugins", &PatchParams::default(), &Patch::Merge(patch))
            .await?;
    } else {
        api.create(&PostParams::default(), &serde_json::from_value(patch)?)
            .await?;
    }
    Ok(())
}

/// A feed from `source` with a fresh runtime, and its status.
pub fn feed(source: SetSource) -> (SetFeed, SetStatus) {
    let status = SetStatus::default();
    let runtime = Arc::new(PluginRuntime::new().expect("runtime"));
    (
        SetFeed {
            source,
            runtime,
            status: status.clone(),
        },
        status,
    )
}

/// The set `wasm-scheduler` in ConfigMaps of namespace `default`.
pub fn configmaps() -> SetSource {
    SetSource::ConfigMaps {
        namespace: "default".into(),
        set: "wasm-scheduler".into(),
    }
}
