//! The scheduler's HTTP endpoints: `/metrics` (Prometheus text format),
//! `/healthz` (the loop is turning), `/readyz` (caches synced), and
//! `/debug/plugin-set` (the active plugin set and load counts, as JSON).

use crate::health::Health;
use crate::metrics::Metrics;
use crate::plugin_set::status::SetStatus;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the endpoints read.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// Served on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Served on `/healthz` and `/readyz`.
    pub health: Health,
    /// Served on `/debug/plugin-set`, when sets are hot-swapped.
    pub sets: Option<SetStatus>,
}

/// Serves `endpoints` on `listener` until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/livez", get(healthz))
        .route("/readyz", get(readyz))
        .route("/debug/plugin-set", get(plugin_set))
        .with_state(endpoints);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
}

async fn metrics(State(e): State<Endpoints>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        e.metrics.encode(),
    )
        .into_response()
}

/// 200 `ok` when `passing`, else 503 with why.
fn probe(passing: bool, why: &'static str) -> Response {
    if passing {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
    }
}

async fn healthz(State(e): State<Endpoints>) -> Response {
    probe(
        e.health.is_live(),
        "the scheduling loop has not turned for 30 s",
    )
}

async fn readyz(State(e): State<Endpoints>) -> Response {
    probe(
        e.health.is_ready(),
        "caches not synced: the node and pod watches have not listed yet",
    )
}

async fn plugin_set(State(e): State<Endpoints>) -> Response {
    match e.sets {
        Some(status) => axum::Json(status.report()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "plugin sets are not hot-swapped (no --plugin-set or --plugin-dir)",
        )
            .into_response(),
    }
}
