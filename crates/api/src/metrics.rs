//! Prometheus metrics: request counts and latency by endpoint, bytes moved, uploads open.
//!
//! Labels are fixed, low-cardinality strings (endpoint label, method, status), never
//! repository names, so the series count stays bounded however the registry is used.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry as PromRegistry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// The server's metrics and the registry they are exposed from.
pub struct Metrics {
    registry: PromRegistry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub bytes_received: Counter<u64, AtomicU64>,
    pub bytes_sent: Counter<u64, AtomicU64>,
    pub uploads_in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = PromRegistry::with_prefix("berth");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by endpoint, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers, by endpoint",
            latency.clone(),
        );
        let bytes_received = Counter::<u64, AtomicU64>::default();
        registry.register(
            "http_bytes_received",
            "Request body bytes received",
            bytes_received.clone(),
        );
        let bytes_sent = Counter::<u64, AtomicU64>::default();
        registry.register(
            "http_bytes_sent",
            "Response body bytes sent, as declared by Content-Length",
            bytes_sent.clone(),
        );
        let uploads_in_flight = Gauge::default();
        registry.register(
            "uploads_in_flight",
            "Requests currently streaming blob data into the registry",
            uploads_in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            bytes_received,
            bytes_sent,
            uploads_in_flight,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
