//! The REST surface: URL routing, list and watch, subresources, errors as
//! `Status` objects, and the fault switches applied to every request.

use crate::error::ApiError;
use crate::faults::Faults;
use crate::resources::{self, ResourceType};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{EventType, Part, PatchKind, Store, WatchEvent};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

/// How often an idle watch that asked for bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);
/// A watch without `timeoutSeconds` ends after this, as kube-apiserver's
/// `--min-request-timeout` range does; clients re-watch.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) faults: Arc<Faults>,
    pub(crate) audit: Arc<crate::audit::AuditLog>,
}

/// RBAC's verb for a request.
fn verb(method: &Method, named: bool, watch: bool) -> &'static str {
    match (method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

struct Target {
    resource: &'static ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

enum Route {
    Document(Value),
    Object(Target),
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(code, &self.to_status())
    }
}

fn not_found_path(path: &str) -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: format!("the server could not find the requested resource ({path})"),
    }
}

fn route(path: &str) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Ok(Route::Document(resources::api_versions())),
        ["apis"] => return Ok(Route::Document(resources::api_group_list())),
        ["version"] => {
            return Ok(Route::Document(json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-wasm-scheduler-inmemory",
                "platform": "linux/amd64"
            })));
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found_path(path)),
    };
    if rest.is_empty() {
        return resources::resource_list(group, version)
            .map(Route::Document)
            .ok_or_else(|| not_found_path(path));
    }
    let namespaced = match rest {
        ["namespaces", ns, plural, tail @ ..] => resources::find(group, version, plural)
            .filter(|r| r.namespaced)
            .map(|r| (r, Some(ns.to_string()), tail)),
        _ => None,
    };
    let (resource, namespace, tail) = match namespaced {
        Some(found) => found,
        None => {
            let r = resources::find(group, version, rest[0]).ok_or_else(|| not_found_path(path))?;
            (r, None, &rest[1..])
        }
    };
    if tail.len() > 2 {
        return Err(not_found_path(path));
    }
    Ok(Route::Object(Target {
        resource,
        namespace,
        name: tail.first().map(|s| s.to_string()),
        sub: tail.get(1).map(|s| s.to_string()),
    }))
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// The single handler: every request goes through the fault switches first.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(code) = shared.faults.failing() {
        let reason = match code {
            410 => "Expired",
            503 => "ServiceUnavailable",
            429 => "TooManyRequests",
            _ => "InternalError",
        };
        let message = format!("injected fault: {code}");
        return ApiError {
            code,
            reason,
            message,
        }
        .into_response();
    }
    match serve(&shared, &method, uri.path(), &query, &headers, &body) {
        Ok(Served::Json(code, v)) => json_response(code, &v),
        Ok(Served::Watch(w)) => watch_response(&shared, *w),
        Err(e) => e.into_response(),
    }
}

enum Served {
    Json(StatusCode, Value),
    Watch(Box<WatchRequest>),
}

struct WatchRequest {
    resource: &'static ResourceType,
    namespace: Option<String>,
    rv: Option<u64>,
    labels: LabelSelector,
    fields: FieldSelector,
    bookmarks: bool,
    timeout: Duration,
}

fn serve(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Served, ApiError> {
    let store = &shared.store;
    let t = match route(path)? {
        Route::Document(v) if method == Method::GET => return Ok(Served::Json(StatusCode::OK, v)),
        Route::Document(_) => return Err(method_not_allowed()),
        Route::Object(t) => t,
    };
    let r = t.resource;
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("anonymous");
    let watching = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    shared.audit.record(crate::audit::Access {
        user: user.to_string(),
        verb: verb(method, t.name.is_some(), watching),
        group: r.group,
        resource: match &t.sub {
            Some(sub) => format!("{}/{sub}", r.plural),
            None => r.plural.to_string(),
        },
        namespace: t.namespace.clone(),
    });
    if r.namespaced && t.name.is_some() && t.namespace.is_none() {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: use /namespaces/<ns>/{}",
            r.plural, r.plural
        )));
    }
    let ns = t.namespace.clone().unwrap_or_default();
    let ok = |v| Ok(Served::Json(StatusCode::OK, v));
    match (method.clone(), t.name.as_deref(), t.sub.as_deref()) {
        (Method::GET, None, None) => {
            let labels =
                LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
                    .map_err(ApiError::bad_request)?;
            let fields =
                FieldSelector::parse(query.get("fieldSelector").map_or("", String::as_str), |f| {
                    r.supports_field(f)
                })
                .map_err(ApiError::bad_request)?;
            let rv = match query.get("resourceVersion").map(String::as_str) {
                None | Some("") => None,
                Some(v) => Some(v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {v:?}"))
                })?),
            };
            if matches!(query.get("watch").map(String::as_str), Some("true" | "1")) {
                let timeout = query
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse().ok())
                    .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
                return Ok(Served::Watch(Box::new(WatchRequest {
                    resource: r,
                    namespace: t.namespace,
                    rv,
                    labels,
                    fields,
                    bookmarks: query
                        .get("allowWatchBookmarks")
                        .is_some_and(|v| v == "true"),
                    timeout,
                })));
            }
            let (items, rv) = store.list(r, t.namespace.as_deref(), &labels, &fields);
            ok(json!({
                "kind": format!("{}List", r.kind), "apiVersion": r.api_version(),
                "metadata": {"resourceVersion": rv.to_string()}, "items": items,
            }))
        }
        (Method::GET, Some(name), None | Some("status")) => ok(store.get(r, &ns, name)?),
        (Method::POST, None, None) => Ok(Served::Json(
            StatusCode::CREATED,
            store.create(r, &ns, parse_body(body)?)?,
        )),
        (Method::POST, Some(name), Some("binding")) if r.plural == "pods" => {
            let binding = parse_body(body)?;
            let node = binding["target"]["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiError::bad_request("binding target.name is required"))?;
            if let Some(rival) = shared.faults.rival_binding(&ns, name) {
                store.bind(&ns, name, &rival)?;
            }
            store.bind(&ns, name, node)?;
            Ok(Served::Json(
                StatusCode::CREATED,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        (Method::PUT, Some(name), sub @ (None | Some("status"))) => {
            ok(store.update(r, &ns, name, parse_body(body)?, part(sub))?)
        }
        (Method::PATCH, Some(name), sub @ (None | Some("status"))) => {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let kind = match content_type.split(';').next().unwrap_or("").trim() {
                "application/merge-patch+json" => PatchKind::Merge,
                "application/strategic-merge-patch+json" => PatchKind::Strategic,
                other => {
                    return Err(ApiError {
                        code: 415,
                        reason: "UnsupportedMediaType",
                        message: format!(
                            "the body of the request was in an unknown format: {other}"
                        ),
                    });
                }
            };
            ok(store.patch(r, &ns, name, &parse_body(body)?, kind, part(sub))?)
        }
        (Method::DELETE, Some(name), None) => ok(store.delete(r, &ns, name)?),
        _ => Err(method_not_allowed()),
    }
}

fn part(sub: Option<&str>) -> Part {
    if sub == Some("status") {
        Part::Status
    } else {
        Part::Main
    }
}

fn method_not_allowed() -> ApiError {
    ApiError {
        code: 405,
        reason: "MethodNotAllowed",
        message: "the server does not allow this method on the requested resource".to_string(),
    }
}

struct WatchState {
    req: WatchRequest,
    initial: VecDeque<Arc<WatchEvent>>,
    live: tokio::sync::broadcast::Receiver<Arc<WatchEvent>>,
    drops: tokio::sync::watch::Receiver<u64>,
    deadline: Instant,
    last_rv: u64,
}

impl WatchState {
    fn selected(&self, obj: &Value) -> bool {
        self.req
            .namespace
            .as_deref()
            .is_none_or(|ns| obj["metadata"]["namespace"].as_str() == Some(ns))
            && self.req.labels.matches(obj)
            && self.req.fields.matches(obj)
    }

    /// The line for an event, or none when the watch does not select it.
    fn render(&mut self, ev: &WatchEvent) -> Option<String> {
        if !std::ptr::eq(ev.resource, self.req.resource) {
            return None;
        }
        let now = self.selected(&ev.object);
        let before = ev.previous.as_deref().is_some_and(|p| self.selected(p));
        let kind = match (ev.kind, now, before) {
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, true, false) => "ADDED",
            (EventType::Modified, false, true) => "DELETED",
            (kind, true, _) if kind != EventType::Modified => kind.as_str(),
            _ => return None,
        };
        self.last_rv = self.last_rv.max(ev.rv);
        Some(format!(
            "{}\n",
            json!({"type": kind, "object": &*ev.object})
        ))
    }

    fn bookmark(&self) -> String {
        let r = self.req.resource;
        format!(
            "{}\n",
            json!({"type": "BOOKMARK", "object": {"kind": r.kind, "apiVersion": r.api_version(),
                "metadata": {"resourceVersion": self.last_rv.to_string()}}})
        )
    }
}

fn watch_response(shared: &Shared, req: WatchRequest) -> Response {
    let start = match shared
        .store
        .watch(req.resource, req.namespace.as_deref(), req.rv)
    {
        Ok(s) => s,
        // kube-apiserver answers a too-old watch with 200 and an ERROR event.
        Err(e) => {
            tracing::info!(
                resource = req.resource.plural,
                "watch from an expired version: {}",
                e.message
            );
            let line = format!("{}\n", json!({"type": "ERROR", "object": e.to_status()}));
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                line,
            )
                .into_response();
        }
    };
    let state = WatchState {
        deadline: Instant::now() + req.timeout,
        last_rv: req
            .rv
            .filter(|&v| v > 0)
            .unwrap_or_else(|| shared.store.resource_version()),
        req,
        initial: start.initial.into(),
        live: start.live,
        drops: shared.faults.watch_drops(),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        while let Some(ev) = st.initial.pop_front() {
            if let Some(line) = st.render(&ev) {
                return Some((Ok::<_, Infallible>(line), st));
            }
        }
        loop {
            let bookmark_at = tokio::time::sleep(BOOKMARK_EVERY);
            tokio::select! {
                _ = st.drops.changed() => return None,
                _ = tokio::time::sleep_until(st.deadline) => return None,
                _ = bookmark_at, if st.req.bookmarks => {
                    let line = st.bookmark();
                    return Some((Ok(line), st));
                }
                next = st.live.recv() => match next {
                    Ok(ev) => {
                        if let Some(line) = st.render(&ev) {
                            return Some((Ok(line), st));
                        }
                    }
                    // A watcher too slow to keep up is closed, as kube-apiserver does; it re-watches.
                    Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                },
            }
        }
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
