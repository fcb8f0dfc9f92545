//! The one boundary where failures become HTTP responses.
//!
//! [`ApiError`] gathers the domain's errors and the few that only exist at the HTTP layer.
//! [`ApiError::status_and_code`] is the single table from each to the spec's error code
//! and status; `into_response` writes the spec's JSON body and logs the failure once. A
//! server-side failure tells the client only that it happened; the log keeps the cause.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::AuthError;
use berth_meta::MetaError;
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

    #[error(transparent)]
    Auth(#[from] AuthError),

    #[error(transparent)]
    Meta(#[from] MetaError),

    #[error("{message}")]
    Unauthenticated { challenge: String, message: String },

    #[error("{message}")]
    Denied { message: String },

    #[error("{message}")]
    NotFound { message: String },

    #[error("the request body is invalid: {reason}")]
    BodyInvalid { reason: String },

    #[error("authentication is turned off on this registry (--auth none); identities and tokens are not available")]
    AuthDisabled,
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
            ApiError::Auth(err) => auth_status(err),
            ApiError::Meta(err) => meta_status(err),
            ApiError::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Denied { .. } => (StatusCode::FORBIDDEN, ErrorCode::Denied),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, ErrorCode::NameUnknown),
            ApiError::BodyInvalid { .. } | ApiError::AuthDisabled => {
                (StatusCode::BAD_REQUEST, ErrorCode::Unsupported)
            }
        }
    }

    /// Whether the failure is the server's own, so the client learns only that it happened.
    fn is_internal(&self) -> bool {
        match self {
            ApiError::Registry(err) => err.is_internal(),
            ApiError::Auth(err) => err.is_internal(),
            ApiError::Meta(err) => meta_status(err).0 == StatusCode::INTERNAL_SERVER_ERROR,
            _ => false,
        }
    }
}

fn auth_status(err: &AuthError) -> (StatusCode, ErrorCode) {
    match err {
        AuthError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests),
        AuthError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Denied),
        AuthError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NameUnknown),
        AuthError::Invalid(_) | AuthError::InvalidScope(_) => {
            (StatusCode::BAD_REQUEST, ErrorCode::Unsupported)
        }
        AuthError::Meta(err) => meta_status(err),
        err if err.is_internal() => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Unknown),
        _ => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
    }
}

fn meta_status(err: &MetaError) -> (StatusCode, ErrorCode) {
    match err {
        MetaError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Denied),
        MetaError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NameUnknown),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Unknown),
    }
}

fn registry_status(err: &RegistryError) -> (StatusCode, ErrorCode) {
    let code = err.code();
    let status = match err {
        RegistryError::ChunkOutOfOrder { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        RegistryError::ManifestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        RegistryError::Conflict(_) => StatusCode::CONFLICT,
        RegistryError::SettingInvalid(_) => StatusCode::BAD_REQUEST,
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
        let internal = self.is_internal();
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
        match &self {
            ApiError::Unauthenticated { challenge, .. } => {
                if let Ok(value) = HeaderValue::from_str(challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
            }
            ApiError::Auth(AuthError::Throttled { retry_after }) => {
                let seconds = retry_after.as_secs().max(1).to_string();
                if let Ok(value) = HeaderValue::from_str(&seconds) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        if let ApiError::RangeNotSatisfiable { size } = self {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
        }
        response
    }
}
