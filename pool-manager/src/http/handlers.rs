//! The request handlers of the status service.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::manager::PoolManager;

/// The dashboard page: HTML, CSS and JavaScript in one file, no external asset.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The metrics, in the format the scraper asks for (see [`crate::metrics::Format`]).
pub(super) async fn metrics(State(manager): State<PoolManager>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = crate::metrics::Format::negotiate(accept);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        format.render(crate::metrics::encode(&manager)),
    )
        .into_response()
}

pub(super) async fn stats(State(manager): State<PoolManager>) -> Response {
    Json(manager.stats()).into_response()
}

pub(super) async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

/// The `/health` document.
#[derive(Serialize)]
struct Health {
    /// `ok`, or `critical` when any pool is critical.
    status: &'static str,
    pools: BTreeMap<String, PoolHealth>,
}

#[derive(Serialize)]
struct PoolHealth {
    state: pool_core::PoolState,
    circuit: pool_core::CircuitState,
    active: usize,
    idle: usize,
    waiting: usize,
    max_size: usize,
}

pub(super) async fn health(State(manager): State<PoolManager>) -> Response {
    let stats = manager.stats();
    let critical = stats.any_critical();
    let pools = stats
        .pools
        .into_iter()
        .map(|(name, s)| {
            (
                name,
                PoolHealth {
                    state: s.state,
                    circuit: s.circuit,
                    active: s.active,
                    idle: s.idle,
                    waiting: s.waiting,
                    max_size: s.max_size,
                },
            )
        })
        .collect();
    let body = Health {
        status: if critical { "critical" } else { "ok" },
        pools,
    };
    let code = if critical {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}
