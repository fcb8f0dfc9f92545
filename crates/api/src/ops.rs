//! Operational endpoints for load balancers and monitoring.
//!
//! `/healthz` answers while the process serves HTTP at all; `/readyz` answers only when
//! the metadata store answers too, so a balancer stops sending traffic to a node that
//! cannot serve it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.registry.meta().schema_version().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(err) => {
            tracing::warn!(err = %err, "metadata store not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata store unavailable\n",
            )
                .into_response()
        }
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
