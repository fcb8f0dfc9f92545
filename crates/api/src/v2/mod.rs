//! Handlers of the OCI Distribution API, dispatched by [`crate::route::parse`].
//!
//! Each handler reads parse → act → respond: it validates names, digests and references
//! with the spec's grammar, calls the registry, and builds the response headers the spec
//! requires. Errors return as [`ApiError`] and are rendered in one place.

mod blobs;
mod listing;
mod manifests;
mod uploads;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::audit::{outcome, AuditEntry};
use berth_auth::authority::Caller;
use berth_oci::{Digest, RepositoryName};
use berth_registry::ByteStream;
use futures_util::StreamExt;

use crate::auth;
use crate::error::ApiError;
use crate::observe::RouteLabel;
use crate::route::{self, Endpoint};
use crate::AppState;

/// Entry point for every path the router does not know itself.
pub async fn dispatch(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let Some(endpoint) = route::parse(&path) else {
        let mut response = ApiError::NoSuchEndpoint { path: path.clone() }.into_response();
        response.extensions_mut().insert(RouteLabel("other"));
        return response;
    };
    let label = endpoint.label();
    let allowed = endpoint.allowed_methods();
    let carries_body = http_body::Body::size_hint(&body).exact() != Some(0);
    let audited = audited_write(&endpoint, &parts.method);
    let admitted = auth::admit(&state, &endpoint, &mut parts).await;
    // Only writes are audited here, so only they need the caller's name.
    let principal = audited.and_then(|_| {
        parts
            .extensions
            .get::<Caller>()
            .and_then(|caller| caller.name().map(str::to_string))
    });
    let source = auth::source(&state, &parts);
    let result = match admitted {
        Ok(()) => handle(&state, endpoint, parts, body).await,
        Err(err) => Err(err),
    };
    let mut response = match result {
        Ok(response) => response,
        Err(err) => {
            let method_refused = matches!(err, ApiError::MethodNotAllowed { .. });
            let mut response = err.into_response();
            if method_refused {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allowed));
            }
            // A refused request's body may be partly unread, and the server will not
            // read the rest; saying so lets the client open a fresh connection instead
            // of sending its next request into one that is about to close.
            if carries_body {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            response
        }
    };
    if let (Some((action, repository)), true) = (audited, admitted_ok(&response)) {
        record_write(&state, &response, action, repository, principal, source);
    }
    response.extensions_mut().insert(RouteLabel(label));
    response
}

/// Refusals by access control are audited where they happen; everything else that
/// reached a handler is audited here.
fn admitted_ok(response: &Response) -> bool {
    !matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    )
}

/// The writes the audit log records, with the repository they touch. Chunk uploads and
/// session starts are steps of a push, recorded once when the blob is complete.
fn audited_write<'a>(endpoint: &Endpoint<'a>, method: &Method) -> Option<(&'static str, &'a str)> {
    match (endpoint, method) {
        (Endpoint::Manifest { name, .. }, &Method::PUT) => Some(("push", name)),
        (Endpoint::Manifest { name, .. }, &Method::DELETE) => Some(("delete", name)),
        (Endpoint::Blob { name, .. }, &Method::DELETE) => Some(("delete-blob", name)),
        (Endpoint::Uploads { name }, &Method::POST) => Some(("push-blob", name)),
        (Endpoint::Upload { name, .. }, &Method::PUT) => Some(("push-blob", name)),
        _ => None,
    }
}

fn record_write(
    state: &AppState,
    response: &Response,
    action: &'static str,
    repository: &str,
    principal: Option<String>,
    source: std::net::IpAddr,
) {
    let status = response.status();
    // Starting an upload session (202) is not a write yet.
    if action == "push-blob" && status == StatusCode::ACCEPTED {
        return;
    }
    let digest = response
        .headers()
        .get(&blobs::DOCKER_CONTENT_DIGEST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let succeeded = status.is_success();
    state.audit.record(AuditEntry {
        principal,
        action,
        repository: Some(repository.to_string()),
        digest,
        source: Some(source),
        outcome: if succeeded {
            outcome::SUCCEEDED
        } else {
            outcome::FAILED
        },
        detail: if succeeded {
            String::new()
        } else {
            format!("status {}", status.as_u16())
        },
    });
}

async fn handle(
    state: &AppState,
    endpoint: Endpoint<'_>,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let method = parts.method.clone();
    match (endpoint, method) {
        (Endpoint::Base, Method::GET | Method::HEAD) => Ok(json_response(StatusCode::OK, b"{}")),
        (Endpoint::Catalog, Method::GET) => listing::catalog(state, &parts).await,
        (Endpoint::Tags { name }, Method::GET) => listing::tags(state, name, &parts).await,
        (Endpoint::Referrers { name, digest }, Method::GET) => {
            listing::referrers(state, name, digest, &parts).await
        }
        (Endpoint::Manifest { name, reference }, method) => {
            manifests::handle(state, method, name, reference, parts, body).await
        }
        (Endpoint::Blob { name, digest }, method) => {
            blobs::handle(state, method, name, digest, &parts).await
        }
        (Endpoint::Uploads { name }, Method::POST) => {
            uploads::start(state, name, parts, body).await
        }
        (Endpoint::Upload { name, id }, method) => {
            uploads::handle(state, method, name, id, parts, body).await
        }
        (_, method) => Err(method_not_allowed(&method)),
    }
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

fn repository(name: &str) -> Result<RepositoryName, ApiError> {
    Ok(RepositoryName::parse(name)?)
}

fn digest(value: &str) -> Result<Digest, ApiError> {
    Ok(Digest::parse(value)?)
}

/// A header's value as text, when present and readable.
fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The request's declared body length, if any.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

/// Turns a request body into the byte stream the registry consumes, counting bytes and
/// marking the transfer as an upload in flight while it lasts.
fn body_stream(state: &AppState, body: Body) -> ByteStream {
    let received = state.metrics.bytes_received.clone();
    let in_flight = state.metrics.uploads_in_flight.clone();
    in_flight.inc();
    let guard = InFlight(in_flight);
    Box::pin(body.into_data_stream().map(move |chunk| {
        let _ = &guard;
        match chunk {
            Ok(bytes) => {
                received.inc_by(bytes.len() as u64);
                Ok(bytes)
            }
            Err(err) => Err(std::io::Error::other(err)),
        }
    }))
}

struct InFlight(prometheus_client::metrics::gauge::Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn json_response(status: StatusCode, body: &'static [u8]) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// A header value built from text the server produced itself (digests, paths, numbers).
fn value(text: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(text.as_ref()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Parses an optional query parameter `n` (page size).
fn page_size(n: Option<&str>) -> Result<Option<u32>, ApiError> {
    match n {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| ApiError::QueryInvalid {
            name: "n",
            reason: format!("{text:?} is not a non-negative integer"),
        }),
    }
}
