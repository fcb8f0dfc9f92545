//! Pure OCI types shared by every berth crate: digests, repository names, tags and
//! references (the distribution spec's grammar), media types, manifest and index
//! parsing and validation, summaries of image configurations, and the spec's error
//! codes.
//!
//! Guarantees: no I/O, no async, no HTTP types; every parser returns an
//! [`OciError`] on bad input and never panics.

mod config;
mod digest;
mod error;
mod manifest;
pub mod media_type;
mod name;

pub use config::{ConfigSummary, MAX_CONFIG_SUMMARY_BYTES};
pub use digest::{Algorithm, Digest, DigestHasher};
pub use error::{ErrorCode, OciError};
pub use manifest::{Descriptor, Manifest, ManifestKind, Platform, MAX_MANIFEST_BYTES};
pub use name::{Reference, RepositoryName, Tag};
