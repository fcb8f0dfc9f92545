//! Content-addressed blob storage and resumable upload sessions.
//!
//! A blob is an immutable byte string named by its digest. Blobs enter storage only through
//! an upload session: the caller starts a session, appends chunks to it in order, then commits
//! it against the digest the client announced. The store checks the digest before the blob
//! becomes visible, so readers never see unverified or half-written bytes.
//!
//! [`BlobStore`] is the contract every backend implements; [`FsBlobStore`] is the local
//! filesystem backend.

use std::io;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_oci::Digest;
use bytes::Bytes;
use futures_util::Stream;

mod fs;

pub use fs::FsBlobStore;

/// A stream of body bytes, read from a client or sent to one.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// Everything that can go wrong in blob storage.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The upload id is malformed or no such upload session exists.
    #[error("upload {0} is unknown")]
    UploadUnknown(String),

    /// A chunk does not start where the upload currently ends.
    #[error("chunk starts at byte {got} but the upload holds {expected} bytes; resume from there")]
    OffsetMismatch {
        /// The upload's current size.
        expected: u64,
        /// The offset the chunk claimed.
        got: u64,
    },

    /// The uploaded bytes do not hash to the digest the client announced.
    #[error("uploaded content has digest {actual}, not the announced {expected}")]
    DigestMismatch {
        /// The digest the client announced.
        expected: Digest,
        /// The digest of the bytes actually received.
        actual: Digest,
    },

    /// The body was longer or shorter than announced.
    #[error("body has {actual} bytes but {expected} were announced")]
    SizeMismatch {
        /// The announced length.
        expected: u64,
        /// The bytes received (for a body that was too long: at least this many).
        actual: u64,
    },

    /// The client's body stream failed midway; the bytes received before it stay in the upload.
    #[error("the request body ended with an error before it was complete")]
    BodyInterrupted(#[source] io::Error),

    /// The storage itself failed.
    #[error("blob storage failed while {context}")]
    Io {
        /// What the store was doing, e.g. "opening upload file".
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A store of committed blobs plus the upload sessions that feed it.
///
/// Implementations must be safe to share between tasks. Upload ids are chosen by the caller
/// and must consist of 1 to 64 characters from `[a-zA-Z0-9_-]`; any other id is reported as
/// [`BlobError::UploadUnknown`] before storage is touched.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Size of a committed blob; `None` when absent. Never sees half-written data.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, BlobError>;

    /// Streams bytes `[start, start + len)` of a committed blob.
    ///
    /// The caller validates the range against [`BlobStore::stat`]. A blob that vanished in the
    /// meantime fails with [`BlobError::Io`] whose source has kind `NotFound`; a blob shorter
    /// than the range ends the stream with an `UnexpectedEof` error.
    async fn read(&self, digest: &Digest, start: u64, len: u64) -> Result<ByteStream, BlobError>;

    /// Removes a committed blob; returns `false` if it was absent.
    async fn delete(&self, digest: &Digest) -> Result<bool, BlobError>;

    /// Starts an empty upload session with this id (a uuid v4 "simple" string in practice).
    async fn start_upload(&self, id: &str) -> Result<(), BlobError>;

    /// Appends `body` at `offset` and returns the upload's new size.
    ///
    /// `offset` must equal the upload's current size, else [`BlobError::OffsetMismatch`] and
    /// nothing is written. With `limit = Some(n)` the body must be exactly `n` bytes; a longer
    /// or shorter body fails with [`BlobError::SizeMismatch`] and the upload is rolled back to
    /// `offset`. If the body stream fails midway, the bytes received so far stay (the client
    /// resumes from the size it asks for) and [`BlobError::BodyInterrupted`] is returned.
    /// Concurrent appends to one upload are serialized.
    async fn append_upload(
        &self,
        id: &str,
        offset: u64,
        limit: Option<u64>,
        body: ByteStream,
    ) -> Result<u64, BlobError>;

    /// Current size of an upload.
    async fn upload_size(&self, id: &str) -> Result<u64, BlobError>;

    /// Verifies the whole upload hashes to `expected`, makes it durable, publishes it under
    /// its digest and removes the session. Returns the blob size.
    ///
    /// On mismatch the session is removed too (nothing half-valid stays) and
    /// [`BlobError::DigestMismatch`] is returned. Committing a digest that already exists just
    /// drops the upload.
    async fn commit_upload(&self, id: &str, expected: &Digest) -> Result<u64, BlobError>;

    /// Drops an upload session; `Ok` even if it is already gone.
    async fn cancel_upload(&self, id: &str) -> Result<(), BlobError>;

    /// Drops an upload session unless a request is appending to or committing it right
    /// now; returns whether it was dropped (or already gone). For sweeps of abandoned
    /// uploads, which must never pull the file from under a slow client.
    async fn cancel_idle_upload(&self, id: &str) -> Result<bool, BlobError>;

    /// Upload ids present in storage with their last modification time, to purge orphans.
    async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>, BlobError>;

    /// Every committed blob digest, for garbage collection.
    async fn list_blobs(&self) -> Result<Vec<Digest>, BlobError>;
}

/// Whether `id` is an acceptable upload id: 1 to 64 characters from `[a-zA-Z0-9_-]`.
///
/// Checked before any path is built from the id, so an id can never escape the uploads
/// directory.
fn valid_upload_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
