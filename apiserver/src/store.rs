//! The object store: every object as JSON, one global resourceVersion, and an
//! event log that serves watches from a version and answers 410 once it has
//! been compacted past it.

use crate::error::ApiError;
use crate::patch;
use crate::resources::{RESOURCES, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct WatchEvent {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// The object's type.
    pub resource: &'static ResourceType,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (as it was, for a delete).
    pub object: Arc<Value>,
    /// The object before a modification: a watch with a selector turns a
    /// change that moves an object in or out of the selection into ADDED or
    /// DELETED, as kube-apiserver does.
    pub previous: Option<Arc<Value>>,
}

/// How a PATCH body is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object without its status (the main resource).
    Main,
    /// Only the status (the `status` subresource).
    Status,
}

/// Types whose status is written only through the `status` subresource.
fn has_status_subresource(r: &ResourceType) -> bool {
    matches!(r.plural, "pods" | "nodes" | "namespaces")
}

type Key = (usize, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    log: VecDeque<Arc<WatchEvent>>,
    /// A watch may resume from this version or later; older is 410.
    oldest: u64,
    serial: u64,
}

/// The store.
pub struct Store {
    /// Successful and refused (409) `pods/binding` calls, for tests that
    /// check no pod is ever bound twice.
    binds: (AtomicU64, AtomicU64),
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    log_capacity: usize,
}

/// A new watch: what to send first, then the live feed.
pub struct WatchStart {
    /// Events to replay (or synthetic ADDEDs for a watch without a version).
    pub initial: Vec<Arc<WatchEvent>>,
    /// Later events.
    pub live: broadcast::Receiver<Arc<WatchEvent>>,
}

fn index(r: &'static ResourceType) -> usize {
    RESOURCES
        .iter()
        .position(|x| std::ptr::eq(x, r))
        .expect("resource types come from RESOURCES")
}

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// RFC 3339 UTC timestamp, as `metav1.Time` serializes.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Store {
    /// An empty store whose event log keeps the last `log_capacity` events.
    pub fn new(log_capacity: usize) -> Self {
        let (events, _) = broadcast::channel(16_384);
        Store {
            binds: (AtomicU64::new(0), AtomicU64::new(0)),
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                log: VecDeque::new(),
                oldest: 0,
                serial: 0,
            }),
            events,
            log_capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// How many bindings succeeded, and how many were refused because the pod
    /// was already bound.
    pub fn bind_counts(&self) -> (u64, u64) {
        (
            self.binds.0.load(Ordering::Relaxed),
            self.binds.1.load(Ordering::Relaxed),
        )
    }

    /// Forgets every logged event: watches from any earlier version get 410.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.log.clear();
        inner.oldest = inner.rv;
    }

    fn record(
        &self,
        inner: &mut Inner,
        resource: &'static ResourceType,
        kind: EventType,
        object: Value,
        previous: Option<Value>,
    ) -> Value {
        let event = Arc::new(WatchEvent {
            rv: inner.rv,
            resource,
            kind,
            object: Arc::new(object.clone()),
            previous: previous.map(Arc::new),
        });
        inner.log.push_back(event.clone());
        while inner.log.len() > self.log_capacity {
            if let Some(old) = inner.log.pop_front() {
                inner.oldest = old.rv;
            }
        }
        // No receiver is fine: nobody watches yet.
        let _ = self.events.send(event);
        object
    }

    fn key(r: &'static ResourceType, ns: &str, name: &str) -> Key {
        (
            index(r),
            if r.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    /// Creates an object (POST).
    pub fn create(
        &self,
        r: &'static ResourceType,
        ns: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        let mut inner = self.lock();
        inner.serial += 1;
        let serial = inner.serial;
        let meta = &mut obj["metadata"];
        if !meta.is_object() {
            *meta = json!({});
        }
        if r.namespaced {
            match meta["namespace"].as_str() {
                Some(given) if !given.is_empty() && given != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta["namespace"] = json!(ns),
            }
        }
        if meta["name"].as_str().unwrap_or("").is_empty() {
            match meta["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => {
                    meta["name"] = json!(format!("{prefix}{serial:05x}"))
                }
                _ => return Err(ApiError::bad_request("name or generateName is required")),
            }
        }
        let name = name_of(&obj).to_string();
        let key = Self::key(r, ns, &name);
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(r.plural, &name));
        }
        inner.rv += 1;
        let rv = inner.rv;
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(format!("00000000-0000-4000-8000-{serial:012x}"));
        meta["resourceVersion"] = json!(rv.to_string());
        meta["creationTimestamp"] = json!(now_rfc3339());
        obj["apiVersion"] = json!(r.api_version());
        obj["kind"] = json!(r.kind);
        if r.plural == "pods" {
            // kube-apiserver's defaults for what a scheduler reads.
            if obj["spec"]["schedulerName"]
                .as_str()
                .unwrap_or("")
                .is_empty()
            {
                obj["spec"]["schedulerName"] = json!("default-scheduler");
            }
            if obj["status"]["phase"].is_null() {
                obj["status"]["phase"] = json!("Pending");
            }
        }
        inner.objects.insert(key, obj.clone());
        Ok(self.record(&mut inner, r, EventType::Added, obj, None))
    }

    /// Reads an object.
    pub fn get(&self, r: &'static ResourceType, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .objects
            .get(&Self::key(r, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(r.plural, name))
    }

    /// Lists objects (in a namespace, or all), with the version of the list.
    pub fn list(
        &self,
        r: &'static ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let idx = index(r);
        let items = inner
            .objects
            .iter()
            .filter(|((i, n, _), o)| {
                *i == idx && ns.is_none_or(|ns| n == ns) && labels.matches(o) && fields.matches(o)
            })
            .map(|(_, o)| o.clone())
            .collect();
        (items, inner.rv)
    }

    /// Replaces an object (PUT) or its status, with optimistic concurrency.
    pub fn update(
        &self,
        r: &'static ResourceType,
        ns: &str,
        name: &str,
        obj: Value,
        part: Part,
    ) -> Result<Value, ApiError> {
        if name_of(&obj) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&obj)
            )));
        }
        self.write(r, ns, name, part, |_| Ok(obj))
    }

    /// Patches an object or its status.
    pub fn patch(
        &self,
        r: &'static ResourceType,
        ns: &str,
        name: &str,
        body: &Value,
        kind: PatchKind,
        part: Part,
    ) -> Result<Value, ApiError> {
        self.write(r, ns, name, part, |current| {
            let mut next = current.clone();
            match kind {
                PatchKind::Merge => patch::merge(&mut next, body),
                PatchKind::Strategic => patch::strategic(&mut next, body),
            }
            Ok(next)
        })
    }

    /// The shared path of every change to an existing object: the stale-write
    /// check, what the written part may change, a new version, the event.
    fn write(
        &self,
        r: &'static ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        change: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let key = Self::key(r, ns, name);
        let current = inner
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(r.plural, name))?;
        let mut next = change(&current)?;
        let stored_rv = &current["metadata"]["resourceVersion"];
        match next["metadata"]["resourceVersion"].as_str() {
            Some(given) if !given.is_empty() && Some(given) != stored_rv.as_str() => {
                return Err(ApiError::conflict(format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    r.plural
                )));
            }
            _ => {}
        }
        if has_status_subresource(r) {
            match part {
                Part::Main => next["status"] = current["status"].clone(),
                Part::Status => {
                    let status = next["status"].take();
                    next = current.clone();
                    next["status"] = status;
                }
            }
        }
        // Identity and bookkeeping are the server's, whatever the body says.
        for field in ["uid", "creationTimestamp", "namespace", "name"] {
            next["metadata"][field] = current["metadata"][field].clone();
        }
        next["apiVersion"] = current["apiVersion"].clone();
        next["kind"] = current["kind"].clone();
        if next == current {
            return Ok(current);
        }
        inner.rv += 1;
        next["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(key, next.clone());
        Ok(self.record(&mut inner, r, EventType::Modified, next, Some(current)))
    }

    /// Deletes an object and returns it.
    pub fn delete(
        &self,
        r: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let mut inner = self.lock();
        let mut obj = inner
            .objects
            .remove(&Self::key(r, ns, name))
            .ok_or_else(|| ApiError::not_found(r.plural, name))?;
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        Ok(self.record(&mut inner, r, EventType::Deleted, obj, None))
    }

    /// `POST pods/{name}/binding`: sets `spec.nodeName` and `PodScheduled=True`
    /// once; a bound pod answers 409, a missing pod or node 404.
    pub fn bind(&self, ns: &str, pod: &str, node: &str) -> Result<Value, ApiError> {
        let pods = crate::resources::find("", "v1", "pods").expect("served");
        let nodes = crate::resources::find("", "v1", "nodes").expect("served");
        if !self
            .lock()
            .objects
            .contains_key(&Self::key(nodes, "", node))
        {
            return Err(ApiError::not_found("nodes", node));
        }
        self.write(pods, ns, pod, Part::Main, |current| {
            if let Some(bound) = current["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                self.binds.1.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::conflict(format!(
                    "Operation cannot be fulfilled on pods/binding \"{pod}\": pod {pod} is already assigned to node \"{bound}\""
                )));
            }
            let mut next = current.clone();
            next["spec"]["nodeName"] = json!(node);
            Ok(next)
        })?;
        self.binds.0.fetch_add(1, Ordering::Relaxed);
        // The condition lives in status, which a Main write keeps: set it as the binding REST storage does.
        self.patch(
            pods,
            ns,
            pod,
            &json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True",
                "lastTransitionTime": now_rfc3339()}]}}),
            PatchKind::Strategic,
            Part::Status,
        )
    }

    /// Starts a watch of `r` (in `ns`, or all) from `rv`. Without a version
    /// (or "0") it begins with the current objects as ADDED events.
    pub fn watch(
        &self,
        r: &'static ResourceType,
        ns: Option<&str>,
        rv: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let live = self.events.subscribe();
        let initial = match rv {
            None | Some(0) => {
                let idx = index(r);
                inner
                    .objects
                    .iter()
                    .filter(|((i, n, _), _)| *i == idx && ns.is_none_or(|ns| n == ns))
                    .map(|(_, o)| {
                        let rv = o["metadata"]["resourceVersion"]
                            .as_str()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        Arc::new(WatchEvent {
                            rv,
                            resource: r,
                            kind: EventType::Added,
                            object: Arc::new(o.clone()),
                            previous: None,
                        })
                    })
                    .collect()
            }
            Some(from) if from < inner.oldest => return Err(ApiError::expired(from, inner.oldest)),
            Some(from) => inner.log.iter().filter(|e| e.rv > from).cloned().collect(),
        };
        Ok(WatchStart { initial, live })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;

    fn pods() -> &'static ResourceType {
        find("", "v1", "pods").unwrap()
    }

    #[test]
    fn log_capacity_turns_old_versions_into_410() {
        let store = Store::new(2);
        let all = LabelSelector::default();
        let none = FieldSelector::default();
        for i in 0..4 {
            store
                .create(
                    pods(),
                    "default",
                    json!({"metadata": {"name": format!("p{i}")}}),
                )
                .unwrap();
        }
        let (_, rv) = store.list(pods(), None, &all, &none);
        assert!(store.watch(pods(), None, Some(rv - 2)).is_ok());
        let err = store.watch(pods(), None, Some(rv - 3)).err().unwrap();
        assert_eq!((err.code, err.reason), (410, "Expired"));
    }

    #[test]
    fn status_subresource_and_main_resource_do_not_overwrite_each_other() {
        let store = Store::new(100);
        store
            .create(
                pods(),
                "ns",
                json!({"metadata": {"name": "p"}, "spec": {"a": 1}}),
            )
            .unwrap();
        let after = store
            .patch(
                pods(),
                "ns",
                "p",
                &json!({"spec": {"a": 2}, "status": {"phase": "Running"}}),
                PatchKind::Merge,
                Part::Main,
            )
            .unwrap();
        assert_eq!(
            (after["spec"]["a"].clone(), after["status"]["phase"].clone()),
            (json!(2), json!("Pending"))
        );
        let after = store
            .patch(
                pods(),
                "ns",
                "p",
                &json!({"spec": {"a": 3}, "status": {"phase": "Running"}}),
                PatchKind::Merge,
                Part::Status,
            )
            .unwrap();
        assert_eq!(
            (after["spec"]["a"].clone(), after["status"]["phase"].clone()),
            (json!(2), json!("Running"))
        );
    }
}
