//! The HTTP face of berth: the OCI Distribution API under `/v2/` and the operational
//! endpoints (`/healthz`, `/readyz`, `/metrics`).
//!
//! Handlers parse the request, call the registry, and shape the response; they hold no
//! rules of their own. Paths under `/v2/` are recognised by [`route::parse`] rather than
//! the router, because repository names contain slashes. Every failure leaves through
//! [`error::ApiError`], the one place that writes the spec's error body.

pub mod error;
pub mod metrics;
mod observe;
mod ops;
pub mod range;
pub mod route;
mod v2;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use berth_registry::Registry;

pub use metrics::Metrics;

/// What every handler shares.
pub struct AppState {
    pub registry: Registry,
    pub metrics: Metrics,
}

/// The whole HTTP application.
pub fn router(registry: Registry) -> Router {
    let state = Arc::new(AppState {
        registry,
        metrics: Metrics::new(),
    });
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(v2::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
