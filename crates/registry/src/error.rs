//! The domain's errors: what went wrong in terms a registry user understands.
//!
//! Every variant names the spec error code it stands for through [`RegistryError::code`];
//! storage and database failures are kept whole for the log and reported to clients only as
//! internal errors.

use berth_blobs::BlobError;
use berth_meta::MetaError;
use berth_oci::{Digest, ErrorCode, OciError};

/// Why a registry operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A name, reference, digest or manifest that does not follow the spec's grammar.
    #[error(transparent)]
    Invalid(#[from] OciError),

    #[error("repository {repository} is not known to this registry")]
    NameUnknown { repository: String },

    #[error("blob {digest} is not known in repository {repository}")]
    BlobUnknown { repository: String, digest: Digest },

    #[error("upload {id} is not known in repository {repository}; it may have completed, been cancelled or expired: start a new upload")]
    UploadUnknown { repository: String, id: String },

    #[error("chunk starts at byte {got} but the upload holds {expected} bytes; send the chunk that starts at byte {expected}")]
    ChunkOutOfOrder { expected: u64, got: u64 },

    #[error("the request body was {actual} bytes but {declared} were declared; resend the chunk")]
    ChunkSizeMismatch { declared: u64, actual: u64 },

    #[error("the request body ended early; ask for the upload status and resume")]
    BodyInterrupted,

    #[error("the uploaded content hashes to {actual}, not {expected}; the upload was discarded")]
    DigestMismatch { expected: Digest, actual: Digest },

    #[error("manifest {reference} is not known in repository {repository}")]
    ManifestUnknown {
        repository: String,
        reference: String,
    },

    #[error(
        "the manifest references {digest}, which is not in repository {repository}; push it first"
    )]
    ManifestBlobUnknown { repository: String, digest: Digest },

    #[error("the manifest declares {declared} bytes for {digest}, but the stored content is {actual} bytes")]
    ManifestSizeMismatch {
        digest: Digest,
        declared: u64,
        actual: u64,
    },

    #[error("the manifest is {size} bytes; manifests may be at most {limit} bytes")]
    ManifestTooLarge { size: usize, limit: usize },

    /// A lock, the tag mutability or a quota refused the operation; nothing changed.
    #[error(transparent)]
    Refused(MetaError),

    /// The thing to create exists already.
    #[error("{0}")]
    Conflict(String),

    /// The repository, tag or image a management operation names does not exist.
    #[error("{0}")]
    NotFound(String),

    /// A setting that cannot be applied as given.
    #[error("{0}")]
    SettingInvalid(String),

    /// The registry an import copies from could not be reached or broke off.
    #[error("cannot import from {source_name}: {reason}")]
    SourceUnreachable { source_name: String, reason: String },

    /// The registry an import copies from does not have what was asked for.
    #[error("cannot import from {source_name}: {what} was not found there; check the repository and the tag or digest")]
    SourceNotFound { source_name: String, what: String },

    /// The registry an import copies from refused the credentials, or wants some.
    #[error("cannot import from {source_name}: {reason}; check the source username and password")]
    SourceUnauthorized { source_name: String, reason: String },

    /// The registry an import copies from served something that cannot be imported.
    #[error("cannot import from {source_name}: {reason}")]
    SourceInvalid { source_name: String, reason: String },

    #[error("blob storage failed")]
    Storage(#[source] BlobError),

    #[error("metadata store failed")]
    Meta(#[source] MetaError),
}

impl RegistryError {
    /// The spec's error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::Invalid(err) => err.code(),
            RegistryError::NameUnknown { .. } => ErrorCode::NameUnknown,
            RegistryError::BlobUnknown { .. } => ErrorCode::BlobUnknown,
            RegistryError::UploadUnknown { .. } => ErrorCode::BlobUploadUnknown,
            RegistryError::ChunkOutOfOrder { .. }
            | RegistryError::ChunkSizeMismatch { .. }
            | RegistryError::BodyInterrupted => ErrorCode::BlobUploadInvalid,
            RegistryError::DigestMismatch { .. } => ErrorCode::DigestInvalid,
            RegistryError::ManifestUnknown { .. } => ErrorCode::ManifestUnknown,
            RegistryError::ManifestBlobUnknown { .. } => ErrorCode::ManifestBlobUnknown,
            RegistryError::ManifestSizeMismatch { .. } => ErrorCode::ManifestInvalid,
            RegistryError::ManifestTooLarge { .. } => ErrorCode::SizeInvalid,
            RegistryError::Refused(_) | RegistryError::Conflict(_) => ErrorCode::Denied,
            RegistryError::NotFound(_) => ErrorCode::NameUnknown,
            RegistryError::SettingInvalid(_) => ErrorCode::Unsupported,
            RegistryError::SourceNotFound { .. } => ErrorCode::ManifestUnknown,
            RegistryError::SourceUnauthorized { .. } => ErrorCode::Unauthorized,
            RegistryError::SourceInvalid { .. } => ErrorCode::ManifestInvalid,
            RegistryError::SourceUnreachable { .. } => ErrorCode::Unknown,
            RegistryError::Storage(_) | RegistryError::Meta(_) => ErrorCode::Unknown,
        }
    }

    /// Whether the failure is the server's fault (logged in full, hidden from the client).
    pub fn is_internal(&self) -> bool {
        matches!(self, RegistryError::Storage(_) | RegistryError::Meta(_))
    }
}

impl From<MetaError> for RegistryError {
    fn from(err: MetaError) -> Self {
        match err {
            MetaError::Locked { .. }
            | MetaError::TagImmutable { .. }
            | MetaError::QuotaExceeded { .. } => RegistryError::Refused(err),
            MetaError::Conflict(message) => RegistryError::Conflict(message),
            MetaError::NotFound(message) => RegistryError::NotFound(message),
            other => RegistryError::Meta(other),
        }
    }
}
