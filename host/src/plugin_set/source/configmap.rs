//! The API source: the ConfigMaps in one namespace labelled
//! `wasm-scheduler.io/plugin-set=<set>`, watched with kube-runtime. One of
//! them holds `plugins.yaml` in `data`; the modules are in `binaryData`,
//! spread over several ConfigMaps if they exceed one ConfigMap's 1 MiB.

use super::super::loader::SetError;
use super::super::manifest::MANIFEST_FILE;
use super::super::{ObjectId, Origin, RawSet, SET_LABEL, SetUpdate};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Changes arriving closer together than this are read as one update, so
/// that `kubectl apply` of several ConfigMaps is loaded once.
pub const SETTLE: Duration = Duration::from_millis(50);

/// Assembles the set from its ConfigMaps; `None` when there are none.
pub fn assemble(namespace: &str, maps: &BTreeMap<String, ConfigMap>) -> Option<SetUpdate> {
    if maps.is_empty() {
        return None;
    }
    let holders: Vec<&ConfigMap> = maps
        .values()
        .filter(|c| {
            c.data
                .as_ref()
                .is_some_and(|d| d.contains_key(MANIFEST_FILE))
        })
        .collect();
    let origin = Origin::ConfigMaps {
        namespace: namespace.to_string(),
        manifest: holders.first().map(|c| ObjectId {
            name: c.name_any(),
            uid: c.uid(),
        }),
        names: maps.keys().cloned().collect(),
    };
    let fail = |message: String| Some(Err((origin.clone(), SetError::Read(message))));
    let manifest = match holders[..] {
        [one] => one
            .data
            .as_ref()
            .and_then(|d| d.get(MANIFEST_FILE))
            .cloned()
            .unwrap_or_default(),
        [] => {
            return fail(format!(
                "no ConfigMap of the set holds {MANIFEST_FILE} in data"
            ));
        }
        [a, b, ..] => {
            return fail(format!(
                "ConfigMaps {} and {} both hold {MANIFEST_FILE}",
                a.name_any(),
                b.name_any()
            ));
        }
    };
    let mut modules = BTreeMap::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for c in maps.values() {
        for (key, bytes) in c.binary_data.iter().flatten() {
            if let Some(other) = owner.insert(key.clone(), c.name_any()) {
                return fail(format!(
                    "ConfigMaps {other} and {} both hold {key}",
                    c.name_any()
                ));
            }
            modules.insert(key.clone(), bytes.0.clone());
        }
    }
    Some(Ok(RawSet {
        origin,
        manifest,
        modules,
    }))
}

/// Watches the set's ConfigMaps until `stop`, sending each new version.
pub async fn watch(
    client: Client,
    namespace: String,
    set: String,
    sets: mpsc::Sender<SetUpdate>,
    mut stop: watch::Receiver<bool>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().labels(&format!("{SET_LABEL}={set}"));
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut maps: BTreeMap<String, ConfigMap> = BTreeMap::new();
    let mut relist: Option<BTreeMap<String, ConfigMap>> = None;
    let mut listed = false;
    let mut dirty = false;
    loop {
        // Wait for an event; once something changed, only as long as it takes to settle.
        let next = if dirty {
            tokio::select! {
                e = tokio::time::timeout(SETTLE, stream.next()) => e.ok(),
                _ = stop.changed() => return,
            }
        } else {
            tokio::select! {
                e = stream.next() => Some(e),
                _ = stop.changed() => return,
            }
        };
        match next {
            None => {
                dirty = false;
                if let Some(update) = assemble(&namespace, &maps)
                    && sets.send(update).await.is_err()
                {
                    return;
                }
            }
            Some(None) => return,
            Some(Some(Ok(Event::Init))) => relist = Some(BTreeMap::new()),
            Some(Some(Ok(Event::InitApply(c)))) => {
                if let Some(r) = &mut relist {
                    r.insert(c.name_any(), c);
                }
            }
            Some(Some(Ok(Event::InitDone))) => {
                if let Some(r) = relist.take() {
                    maps = r;
                }
                listed = true;
                dirty = true;
            }
            Some(Some(Ok(Event::Apply(c)))) => {
                maps.insert(c.name_any(), c);
                dirty = listed;
            }
            Some(Some(Ok(Event::Delete(c)))) => {
                maps.remove(&c.name_any());
                dirty = listed;
            }
            Some(Some(Err(e))) => {
                tracing::warn!(set = %set, error = %e, "plugin-set ConfigMap watch failed; retrying");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn cm(name: &str, manifest: Option<&str>, modules: &[(&str, &[u8])]) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some(name.into());
        c.data = manifest.map(|m| [(MANIFEST_FILE.to_string(), m.to_string())].into());
        c.binary_data = Some(
            modules
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                .collect(),
        );
        c
    }

    fn maps(list: Vec<ConfigMap>) -> BTreeMap<String, ConfigMap> {
        list.into_iter().map(|c| (c.name_any(), c)).collect()
    }

    #[test]
    fn a_set_may_span_several_configmaps() {
        let set = maps(vec![
            cm("set-a", Some("m"), &[("a.wasm", b"A")]),
            cm("set-b", None, &[("b.wasm", b"B")]),
        ]);
        let raw = assemble("ns", &set).unwrap().unwrap();
        assert_eq!(raw.manifest, "m");
        assert_eq!(raw.modules.len(), 2);
        assert_eq!(raw.origin.to_string(), "ConfigMap ns/set-a,set-b");
    }

    #[test]
    fn ambiguous_sets_are_refused_by_name() {
        let two = maps(vec![cm("x", Some("m"), &[]), cm("y", Some("m"), &[])]);
        let e = assemble("ns", &two).unwrap().unwrap_err().1;
        assert_eq!(e.to_string(), "ConfigMaps x and y both hold plugins.yaml");
        let clash = maps(vec![
            cm("x", Some("m"), &[("a.wasm", b"1")]),
            cm("y", None, &[("a.wasm", b"2")]),
        ]);
        let e = assemble("ns", &clash).unwrap().unwrap_err().1;
        assert_eq!(e.to_string(), "ConfigMaps x and y both hold a.wasm");
        let none = maps(vec![cm("x", None, &[])]);
        assert!(assemble("ns", &none).unwrap().is_err());
        assert!(assemble("ns", &BTreeMap::new()).is_none());
    }
}
