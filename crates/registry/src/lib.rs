//! The registry's domain: pushing, pulling, mounting, tagging and deleting content.
//!
//! [`Registry`] joins blob storage and the metadata store and enforces the rules that make
//! the pair consistent: a blob is linked to a repository only after its bytes are durable
//! and verified; a manifest is committed only when everything it references is present in
//! its repository; a repository reads only what was pushed to or mounted into it. The
//! stored rules on content (locks, tag mutability, quotas) are enforced by the metadata
//! store inside the transactions they guard, and reported here as
//! [`RegistryError::Refused`]. Imports from other registries ([`Registry::import`]) go
//! through the same operations as a push. No HTTP types appear here, so the same rules
//! serve the OCI API, the management API and jobs.

mod blobs;
mod error;
mod images;
mod import;
mod maintenance;
mod manifests;
mod pulls;
mod repositories;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_blobs::BlobStore;
use berth_meta::MetaStore;

pub use berth_blobs::ByteStream;
pub use berth_meta::{ManifestInfo, Referrer, StoredManifest};
pub use blobs::Chunk;
pub use error::RegistryError;
pub use images::{ImageDescription, PlatformEntry};
pub use import::{
    ImageSource, ImportMode, ImportProgress, Imported, ProgressSnapshot, SourceBlob,
    SourceManifest, MAX_IMPORT_MANIFESTS, MAX_REFERRER_DEPTH,
};
pub use manifests::PushedManifest;

/// The registry over one blob store and one metadata store. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    meta: MetaStore,
    blobs: Arc<dyn BlobStore>,
    pulls: Arc<pulls::PullLog>,
    publishing: Arc<blobs::Publishing>,
}

impl Registry {
    /// Builds a registry over already opened stores.
    pub fn new(meta: MetaStore, blobs: Arc<dyn BlobStore>) -> Self {
        Registry {
            meta,
            blobs,
            pulls: Arc::default(),
            publishing: Arc::default(),
        }
    }

    /// The metadata store, for the parts of the server that report on it (readiness).
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }
}

/// Milliseconds since the Unix epoch, the unit the metadata store records times in.
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
