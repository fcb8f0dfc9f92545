//! The HTTP face of berth: the OCI Distribution API under `/v2/`, the token endpoint,
//! the management API under `/api/v1`, and the operational endpoints (`/healthz`,
//! `/readyz`, `/metrics`).
//!
//! Handlers parse the request, call the registry or the identity service, and shape the
//! response; they hold no rules of their own. Paths under `/v2/` are recognised by
//! [`route::parse`] rather than the router, because repository names contain slashes.
//! Access control happens once per request in [`auth::admit`]. Every failure leaves
//! through [`error::ApiError`], the one place that writes the spec's error body.

pub mod auth;
pub mod error;
mod manage;
pub mod metrics;
mod observe;
mod ops;
pub mod range;
pub mod route;
mod token;
mod v2;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use berth_auth::audit::AuditLog;
use berth_auth::authority::Authority;
use berth_registry::Registry;
use berth_remote::{Destinations, IpRanges};

pub use metrics::Metrics;

/// What every handler shares.
pub struct AppState {
    pub registry: Registry,
    pub metrics: Metrics,
    /// `None` when authentication is turned off.
    pub auth: Option<Authority>,
    pub audit: AuditLog,
    /// The URL clients use to reach the registry, when it differs from the `Host` they send.
    pub public_url: Option<String>,
    /// Whether the server speaks HTTPS, for URLs built from `Host`.
    pub tls: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: IpRanges,
    /// The addresses an import may fetch from.
    pub import_destinations: Destinations,
    /// Image imports started on this node.
    pub(crate) imports: manage::imports::Jobs,
}

/// How the application is put together.
pub struct AppConfig {
    pub registry: Registry,
    pub auth: Option<Authority>,
    pub audit: AuditLog,
    pub public_url: Option<String>,
    pub tls: bool,
    pub trusted_proxies: IpRanges,
    pub import_destinations: Destinations,
}

/// The whole HTTP application.
pub fn router(config: AppConfig) -> Router {
    let state = Arc::new(AppState {
        registry: config.registry,
        metrics: Metrics::new(),
        auth: config.auth,
        audit: config.audit,
        public_url: config.public_url,
        tls: config.tls,
        trusted_proxies: config.trusted_proxies,
        import_destinations: config.import_destinations,
        imports: manage::imports::Jobs::default(),
    });
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/token", get(token::token).post(token::token))
        .merge(manage::routes())
        .fallback(v2::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
