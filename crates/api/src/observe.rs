//! Request observation: one span, one log line and one set of metrics per request.
//!
//! Every request gets an id (the client's `X-Request-Id` when it sent a sane one) that is
//! echoed in the response and carried by every log line the request causes, so one line
//! in a client's error report finds the whole story in the server's log.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::{RequestLabels, RouteLabels};
use crate::AppState;

/// The endpoint label a handler attaches to its response for metrics and logs.
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");

/// Middleware wrapping every request.
pub async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| v.len() <= 128 && v.to_str().is_ok())
        .cloned()
        .unwrap_or_else(new_request_id);
    let method = request.method().clone();
    let is_v2 = request.uri().path().starts_with("/v2");
    let span = tracing::info_span!(
        "request",
        id = request_id.to_str().unwrap_or_default(),
        method = %method,
        path = %request.uri().path(),
    );

    let mut response = next.run(request).instrument(span.clone()).await;

    let elapsed = started.elapsed();
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or("other", |label| label.0);
    let status = response.status().as_u16();
    let sent = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);

    let metrics = &state.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method: method.as_str().to_owned(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    metrics.bytes_sent.inc_by(sent);
    span.in_scope(|| {
        tracing::info!(
            route,
            status,
            bytes_out = sent,
            micros = elapsed.as_micros() as u64,
            "request completed"
        );
    });

    let headers = response.headers_mut();
    headers.insert(REQUEST_ID.clone(), request_id);
    if is_v2 {
        headers.insert(
            API_VERSION.clone(),
            HeaderValue::from_static("registry/2.0"),
        );
    }
    response
}

fn new_request_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4().simple().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}
