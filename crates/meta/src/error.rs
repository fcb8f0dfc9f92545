//! The one error type of the metadata store.
//!
//! Variants that name a digest, `Conflict` and `NotFound` describe a request the store
//! refused; `Corrupt` and `Database` describe a fault of the store itself. The messages
//! of `Conflict` and `NotFound` are complete sentences naming the record concerned.

use berth_oci::Digest;

use crate::policy::{Lock, Locked, QuotaScope, TagMutability};

/// Everything that can go wrong in the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A manifest references a blob that is not linked to its repository.
    #[error("blob {digest} is not known in this repository")]
    MissingBlob {
        /// The blob the manifest references.
        digest: Digest,
    },

    /// An index references a child manifest that is not stored in its repository.
    #[error("manifest {digest} is not known in this repository")]
    MissingManifest {
        /// The child manifest the index references.
        digest: Digest,
    },

    /// A declared size disagrees with the size recorded for the same digest.
    #[error("size of {digest} is declared as {declared} bytes but is {actual} bytes")]
    SizeMismatch {
        /// The content whose size disagrees.
        digest: Digest,
        /// The size the caller declared.
        declared: u64,
        /// The size recorded in the store.
        actual: u64,
    },

    /// A changeable attribute forbids the write (or the read); nothing changed.
    #[error(
        "{item} is locked: {attribute} is false, so it cannot be {refused}; an owner can \
         set {attribute} back to true",
        attribute = .lock.attribute(),
        refused = .lock.refuses()
    )]
    Locked {
        /// What carries the lock.
        item: Locked,
        /// The attribute that is off.
        lock: Lock,
    },

    /// A tag that may not move was asked to point at another manifest.
    #[error(
        "tag {tag} of repository {repository} is immutable (tag mutability {}) and \
         points at {current}; push under a new tag instead",
        .mutability.as_str()
    )]
    TagImmutable {
        repository: String,
        tag: String,
        mutability: TagMutability,
        /// What the tag points at and keeps pointing at.
        current: Digest,
    },

    /// Storing a blob would take usage past a quota; nothing was stored or charged.
    #[error(
        "storing {needed} more bytes would exceed the storage quota of {scope}: \
         {used} of {quota} bytes are used; delete images or raise the quota"
    )]
    QuotaExceeded {
        scope: QuotaScope,
        quota: u64,
        used: u64,
        needed: u64,
    },

    /// A record with the same name already exists; the write changed nothing.
    #[error("{0}")]
    Conflict(String),

    /// The record a write names does not exist; the write changed nothing.
    #[error("{0}")]
    NotFound(String),

    /// The database was written by a newer berth; this one must not touch it.
    #[error(
        "database schema version {found} is newer than the {known} this berth knows; \
         upgrade berth"
    )]
    SchemaTooNew {
        /// The version recorded in the database.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },

    /// A row holds data the store cannot interpret, or a value cannot be stored.
    #[error("metadata is corrupt: {0}")]
    Corrupt(String),

    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
