//! Kubernetes Events (core/v1) as the scheduler reports them: `Scheduled`
//! and `FailedScheduling` on pods, `PluginSetLoaded` and
//! `PluginSetRejected` on the ConfigMap that holds a plugin set's manifest.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// The object an Event is about.
#[derive(Debug, Clone)]
pub struct Involved {
    kind: &'static str,
    namespace: String,
    name: String,
    uid: Option<String>,
}

impl Involved {
    /// A pod.
    pub fn pod(pod: &Pod) -> Self {
        Involved {
            kind: "Pod",
            namespace: pod.namespace().unwrap_or_default(),
            name: pod.name_any(),
            uid: pod.uid(),
        }
    }

    /// A ConfigMap.
    pub fn config_map(namespace: &str, name: &str, uid: Option<String>) -> Self {
        Involved {
            kind: "ConfigMap",
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid,
        }
    }
}

/// `e` and its sources, `: `-separated, for a log line or an Event message.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text += &format!(": {s}");
        source = s.source();
    }
    text
}

/// Who reports an Event.
#[derive(Clone, Copy)]
pub struct Reporter<'a> {
    /// The client to write it with.
    pub client: &'a Client,
    /// `source.component` and `reportingComponent`: the profile's schedulerName.
    pub component: &'a str,
    /// `reportingInstance`: this replica.
    pub instance: &'a str,
}

/// Records an Event (`kind` is `Normal` or `Warning`); a failure is logged, never fatal.
pub async fn record(by: &Reporter<'_>, about: &Involved, kind: &str, reason: &str, message: &str) {
    let ns = &about.namespace;
    let event: Event = match serde_json::from_value(json!({
        "metadata": {"generateName": format!("{}.", about.name), "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": about.kind, "namespace": ns, "name": about.name,
            "uid": about.uid},
        "reason": reason, "message": message, "type": kind, "count": 1,
        "source": {"component": by.component},
        "reportingComponent": by.component,
        "reportingInstance": by.instance,
    })) {
        Ok(e) => e,
        Err(e) => return tracing::warn!(error = %e, "cannot build event"),
    };
    let api: Api<Event> = Api::namespaced(by.client.clone(), ns);
    if let Err(e) = api.create(&PostParams::default(), &event).await {
        tracing::warn!(error = %chain(&e), reason, "cannot record event");
    }
}
