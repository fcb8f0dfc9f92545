//! Manifests: `GET`, `HEAD`, `PUT`, `DELETE /v2/<name>/manifests/<reference>`.
//!
//! Manifests are served byte for byte as pushed, with the media type they were pushed
//! under; the `Accept` header is honoured so a client never receives a type it did not
//! ask for.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::{Reference, RepositoryName, MAX_MANIFEST_BYTES};
use berth_registry::RegistryError;
use http_body_util::{BodyExt, Limited};

use super::blobs::DOCKER_CONTENT_DIGEST;
use super::{content_length, header_str, method_not_allowed, repository, value};
use crate::error::ApiError;
use crate::AppState;

static OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");

pub async fn handle(
    state: &AppState,
    method: Method,
    name: &str,
    reference_text: &str,
    parts: Parts,
    body: Body,
) -> Result<Response, ApiError> {
    let repository = repository(name)?;
    let reference = Reference::parse(reference_text)?;
    match method {
        Method::GET => get(state, &repository, &reference, &parts.headers).await,
        Method::HEAD => head(state, &repository, &reference, &parts.headers).await,
        Method::PUT => put(state, &repository, &reference, &parts.headers, body).await,
        Method::DELETE => {
            state
                .registry
                .delete_manifest(&repository, &reference)
                .await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(method_not_allowed(&other)),
    }
}

async fn get(
    state: &AppState,
    repository: &RepositoryName,
    reference: &Reference,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let manifest = state.registry.manifest(repository, reference).await?;
    check_acceptable(headers, &manifest.media_type)?;
    let size = manifest.content.len() as u64;
    let mut response = (StatusCode::OK, Body::from(manifest.content)).into_response();
    describe(
        response.headers_mut(),
        &manifest.media_type,
        manifest.digest.as_str(),
        size,
    );
    Ok(response)
}

async fn head(
    state: &AppState,
    repository: &RepositoryName,
    reference: &Reference,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let info = state.registry.manifest_info(repository, reference).await?;
    check_acceptable(headers, &info.media_type)?;
    let mut response = StatusCode::OK.into_response();
    describe(
        response.headers_mut(),
        &info.media_type,
        info.digest.as_str(),
        info.size,
    );
    Ok(response)
}

async fn put(
    state: &AppState,
    repository: &RepositoryName,
    reference: &Reference,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let too_large = |size: usize| {
        ApiError::Registry(RegistryError::ManifestTooLarge {
            size,
            limit: MAX_MANIFEST_BYTES,
        })
    };
    if let Some(declared) = content_length(headers) {
        if declared > MAX_MANIFEST_BYTES as u64 {
            return Err(too_large(declared as usize));
        }
    }
    // The limit guards memory against a body that lies about (or omits) its length.
    let content = Limited::new(body, MAX_MANIFEST_BYTES)
        .collect()
        .await
        .map_err(|err| {
            if err.is::<http_body_util::LengthLimitError>() {
                too_large(MAX_MANIFEST_BYTES + 1)
            } else {
                ApiError::ManifestBodyUnreadable
            }
        })?
        .to_bytes();

    let content_type = header_str(headers, header::CONTENT_TYPE);
    let pushed = state
        .registry
        .put_manifest(repository, reference, content_type, &content)
        .await?;

    let mut response = StatusCode::CREATED.into_response();
    let headers = response.headers_mut();
    let location = format!("/v2/{repository}/manifests/{}", pushed.digest);
    headers.insert(header::LOCATION, value(location));
    headers.insert(DOCKER_CONTENT_DIGEST.clone(), value(pushed.digest.as_str()));
    headers.insert(header::CONTENT_LENGTH, value("0"));
    if let Some(subject) = &pushed.subject {
        headers.insert(OCI_SUBJECT.clone(), value(subject.as_str()));
    }
    Ok(response)
}

fn describe(headers: &mut HeaderMap, media_type: &str, digest: &str, size: u64) {
    headers.insert(header::CONTENT_TYPE, value(media_type));
    headers.insert(header::CONTENT_LENGTH, value(size.to_string()));
    headers.insert(DOCKER_CONTENT_DIGEST.clone(), value(digest));
    headers.insert(header::ETAG, value(format!("\"{digest}\"")));
}

/// Refuses when the client listed the types it accepts and the stored one is not among
/// them. No `Accept`, or a wildcard, accepts anything.
fn check_acceptable(headers: &HeaderMap, media_type: &str) -> Result<(), ApiError> {
    let mut listed = Vec::new();
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let essence = item.split(';').next().unwrap_or("").trim();
            if essence.is_empty() {
                continue;
            }
            if essence == "*/*" || essence == "application/*" || essence == media_type {
                return Ok(());
            }
            listed.push(essence);
        }
    }
    if listed.is_empty() {
        return Ok(());
    }
    Err(ApiError::NotAcceptable {
        stored: media_type.to_string(),
        accepted: listed.join(", "),
    })
}
