//! The upload protocol: `POST /v2/<name>/blobs/uploads/` and the session endpoints
//! `GET`, `PATCH`, `PUT`, `DELETE /v2/<name>/blobs/uploads/<id>`.
//!
//! A session's state lives in the server, so its `Location` carries only the id: a client
//! that loses its connection asks for the status and resumes from the reported range.

use axum::body::Body;
use axum::extract::Query;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::{Digest, RepositoryName};
use berth_registry::Chunk;
use serde::Deserialize;

use super::blobs::DOCKER_CONTENT_DIGEST;
use super::{
    body_stream, content_length, digest, header_str, method_not_allowed, repository, value,
};
use crate::auth;
use crate::error::ApiError;
use crate::range::parse_content_range;
use crate::AppState;

static UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");

#[derive(Deserialize, Default)]
struct UploadQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

fn query(parts: &Parts) -> Result<UploadQuery, ApiError> {
    Query::<UploadQuery>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .map_err(|err| ApiError::QueryInvalid {
            name: "query",
            reason: err.body_text(),
        })
}

/// `POST`: a monolithic push (`?digest=`), a mount (`?mount=&from=`), or a new session.
pub async fn start(
    state: &AppState,
    name: &str,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let query = query(&parts)?;
    let registry = &state.registry;

    if let Some(mount) = query.mount.as_deref() {
        let digest = digest(mount)?;
        // A source that is missing, malformed or lacks the blob is not an error: the spec
        // asks the registry to fall back to an ordinary upload session.
        let from = query
            .from
            .as_deref()
            .and_then(|f| RepositoryName::parse(f).ok());
        // Mounting from a repository the caller may not pull from would leak its
        // blobs; the spec's fallback applies, so the client simply uploads.
        let from = match from {
            Some(from) if auth::may_pull(state, &parts, from.as_str()).await => Some(from),
            _ => None,
        };
        if let Some(from) = from {
            if registry.mount_blob(&repository, &digest, &from).await? {
                return Ok(blob_created(&repository, &digest));
            }
        }
    } else if let Some(expected) = query.digest.as_deref() {
        let digest = digest(expected)?;
        let chunk = Chunk {
            start: Some(0),
            length: content_length(&parts.headers),
            body: body_stream(state, body),
        };
        registry.push_blob(&repository, &digest, chunk).await?;
        return Ok(blob_created(&repository, &digest));
    }

    let id = registry.start_upload(&repository).await?;
    Ok(upload_status(StatusCode::ACCEPTED, &repository, &id, 0))
}

/// The session endpoints.
pub async fn handle(
    state: &AppState,
    method: Method,
    name: &str,
    id: &str,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let registry = &state.registry;
    match method {
        Method::GET => {
            let size = registry.upload_size(&repository, id).await?;
            Ok(upload_status(StatusCode::NO_CONTENT, &repository, id, size))
        }
        Method::PATCH => {
            let chunk = chunk(state, &parts.headers, body)?;
            let size = registry.append_upload(&repository, id, chunk).await?;
            Ok(upload_status(StatusCode::ACCEPTED, &repository, id, size))
        }
        Method::PUT => {
            let expected = query(&parts)?.digest.ok_or(ApiError::DigestMissing)?;
            let digest = digest(&expected)?;
            let last_chunk = if http_body::Body::size_hint(&body).exact() == Some(0) {
                None
            } else {
                Some(chunk(state, &parts.headers, body)?)
            };
            registry
                .finish_upload(&repository, id, &digest, last_chunk)
                .await?;
            Ok(blob_created(&repository, &digest))
        }
        Method::DELETE => {
            registry.cancel_upload(&repository, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        other => Err(method_not_allowed(&other)),
    }
}

/// Reads a chunk's position and length from `Content-Range` or `Content-Length`.
fn chunk(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Chunk, ApiError> {
    let (start, length) = match header_str(headers, header::CONTENT_RANGE) {
        Some(text) => {
            let slice = parse_content_range(text).ok_or_else(|| ApiError::ContentRangeInvalid {
                value: text.to_string(),
            })?;
            (Some(slice.start), Some(slice.length))
        }
        None => (None, content_length(headers)),
    };
    Ok(Chunk {
        start,
        length,
        body: body_stream(state, body),
    })
}

/// 202 or 204 describing a session: where to send the next chunk and what is stored.
fn upload_status(status: StatusCode, repository: &RepositoryName, id: &str, size: u64) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    let location = format!("/v2/{repository}/blobs/uploads/{id}");
    headers.insert(header::LOCATION, value(location));
    // An empty session reports "0-0", as Distribution does and clients expect.
    headers.insert(
        header::RANGE,
        value(format!("0-{}", size.saturating_sub(1))),
    );
    headers.insert(UPLOAD_UUID.clone(), value(id));
    if status != StatusCode::NO_CONTENT {
        headers.insert(header::CONTENT_LENGTH, value("0"));
    }
    response
}

/// 201 for a blob that is now readable in `repository`.
fn blob_created(repository: &RepositoryName, digest: &Digest) -> Response {
    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        value(format!("/v2/{repository}/blobs/{digest}")),
    );
    headers.insert(DOCKER_CONTENT_DIGEST.clone(), value(digest.as_str()));
    headers.insert(header::CONTENT_LENGTH, value("0"));
    response
}
