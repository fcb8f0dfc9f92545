//! The one boundary where failures become HTTP responses.
//!
//! [`ApiError`] gathers the domain's errors and the few that only exist at the HTTP layer.
//! [`ApiError::status_and_code`] is the single table from each to the spec's error code
//! and status; `into_response` writes the spec's JSON body and logs the failure once. A
//! server-side failure tells the client only that it happened; the log keeps the cause.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::{ErrorCode, OciError};
use berth_registry::RegistryError;
use serde::Serialize;

/// Every way a request under `/v2/` can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),

    #[error("the requested range is not satisfiable: the blob is {size} bytes")]
    RangeNotSatisfiable { size: u64 },

    #[error(
        "Content-Range {value:?} is malformed; send `<start>-<end>` with inclusive byte offsets"
    )]
    ContentRangeInvalid { value: String },

    #[error("the request needs the query parameter `digest` naming the uploaded content, e.g. ?digest=sha256:<hex>")]
    DigestMissing,

    #[error("query parameter `{name}` is invalid: {reason}")]
    QueryInvalid { name: &'static str, reason: String },

    #[error("the manifest is stored as {stored}, which the request's Accept header ({accepted}) excludes")]
    NotAcceptable { stored: String, accepted: String },

    #[error("the manifest body could not be read completely; push it again")]
    ManifestBodyUnreadable,

    #[error("no endpoint of the registry API matches {path}")]
    NoSuchEndpoint { path: String },

    #[error("{method} is not supported on this endpoint")]
    MethodNotAllowed { method: String },
}

impl From<OciError> for ApiError {
    fn from(err: OciError) -> Self {
        ApiError::Registry(RegistryError::Invalid(err))
    }
}

impl ApiError {
    /// The table: each failure's HTTP status and spec error code.
    pub fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            ApiError::Registry(err) => registry_status(err),
            ApiError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, ErrorCode::SizeInvalid)
            }
            ApiError::ContentRangeInvalid { .. } => {
                (StatusCode::BAD_REQUEST, ErrorCode::BlobUploadInvalid)
            }
            ApiError::DigestMissing => (StatusCode::BAD_REQUEST, ErrorCode::DigestInvalid),
            ApiError::QueryInvalid { .. } => (StatusCode::BAD_REQUEST, ErrorCode::Unsupported),
            ApiError::NotAcceptable { .. } => (StatusCode::NOT_FOUND, ErrorCode::ManifestUnknown),
            ApiError::ManifestBodyUnreadable => {
                (StatusCode::BAD_REQUEST, ErrorCode::ManifestInvalid)
            }
            ApiError::NoSuchEndpoint { .. } => (StatusCode::NOT_FOUND, ErrorCode::Unsupported),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::Unsupported)
            }
        }
    }
}

fn registry_status(err: &RegistryError) -> (StatusCode, ErrorCode) {
    let code = err.code();
    let status = match err {
        RegistryError::ChunkOutOfOrder { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        RegistryError::ManifestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    (status, code)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    code: &'static str,
    message: &'a str,
    detail: serde_json::Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let internal = matches!(&self, ApiError::Registry(err) if err.is_internal());
        let message = if internal {
            tracing::error!(code = code.as_str(), err = ?self, "request failed");
            "the registry failed to complete the request; retry, and report it if it persists"
                .to_string()
        } else {
            tracing::info!(code = code.as_str(), err = %self, "request refused");
            self.to_string()
        };
        let body = ErrorBody {
            errors: [ErrorEntry {
                code: code.as_str(),
                message: &message,
                detail: serde_json::json!({ "description": code.description() }),
            }],
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let ApiError::RangeNotSatisfiable { size } = self {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
        }
        response
    }
}
