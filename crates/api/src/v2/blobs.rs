//! Blob reads and deletes: `GET`, `HEAD` and `DELETE /v2/<name>/blobs/<digest>`.
//!
//! Reads stream from storage in constant memory and honour single byte ranges; the
//! response always names the digest so clients can verify what they received.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{digest, header_str, method_not_allowed, repository, value};
use crate::error::ApiError;
use crate::range::{parse_range, RangeRequest, Slice};
use crate::AppState;

pub static DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

pub async fn handle(
    state: &AppState,
    method: Method,
    name: &str,
    digest_text: &str,
    parts: &Parts,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let digest = digest(digest_text)?;
    let registry = &state.registry;
    match method {
        Method::GET | Method::HEAD => {
            let size = registry.blob_size(&repository, &digest).await?;
            let range = parse_range(header_str(&parts.headers, header::RANGE), size);
            let (status, slice) = match range {
                RangeRequest::Full => (
                    StatusCode::OK,
                    Slice {
                        start: 0,
                        length: size,
                    },
                ),
                RangeRequest::Partial(slice) => (StatusCode::PARTIAL_CONTENT, slice),
                RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { size }),
            };
            let body = if method == Method::GET && slice.length > 0 {
                let stream = registry
                    .read_blob(&digest, slice.start, slice.length)
                    .await?;
                Body::from_stream(stream)
            } else {
                Body::empty()
            };
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, value(slice.length.to_string()));
            headers.insert(header::CONTENT_TYPE, value("application/octet-stream"));
            headers.insert(DOCKER_CONTENT_DIGEST.clone(), value(digest.as_str()));
            headers.insert(header::ETAG, value(format!("\"{digest}\"")));
            headers.insert(header::ACCEPT_RANGES, value("bytes"));
            if status == StatusCode::PARTIAL_CONTENT {
                let content_range =
                    format!("bytes {}-{}/{size}", slice.start, slice.end_inclusive());
                headers.insert(header::CONTENT_RANGE, value(content_range));
            }
            Ok(response)
        }
        Method::DELETE => {
            registry.delete_blob(&repository, &digest).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(method_not_allowed(&other)),
    }
}
