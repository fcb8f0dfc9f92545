//! The metadata store of berth: everything that is not blob bytes.
//!
//! [`MetaStore`] keeps repositories with their settings, blob links, manifests and their
//! references, tags, referrers, upload sessions and the event outbox in SQLite (through
//! sqlx). It also keeps identity: principals with their hashed secrets and roles, token
//! signing keys, settings, anonymous pull, federations and the audit log.
//!
//! Guarantees:
//! - an acknowledged write survives `kill -9` and power loss (WAL, `synchronous=FULL`);
//! - every write that changes repository state is one transaction that also appends its
//!   events to the outbox, so readers of [`MetaStore::events_after`] never miss a change;
//! - a refused write (for example a manifest whose blobs are missing) changes nothing;
//! - locks, tag mutability and quotas ([`policy`]) are checked inside the transaction
//!   that would break them, so no concurrent writer slips past a check;
//! - counts and sizes are kept by triggers in the transaction that changes them;
//! - writes are serialized in-process on one connection, so concurrent writers wait
//!   instead of failing with `SQLITE_BUSY`.
//!
//! Times are unix milliseconds supplied by the caller, which keeps tests deterministic.

mod audit;
mod blobs;
mod catalog;
mod error;
mod events;
mod identity;
mod images;
mod manifests;
mod migrate;
pub mod policy;
mod repositories;
mod store;
mod tags;
mod uploads;

pub use audit::{AuditEvent, AuditQuery, AuditRecord};
pub use blobs::BlobLink;
pub use error::MetaError;
pub use events::Event;
pub use identity::{
    FederationRecord, PrincipalKind, PrincipalRecord, RoleAssignmentRecord, SecretRecord,
    SigningKeyRecord,
};
pub use images::{ImageOrder, ImagePosition, ImageRecord, Pull, TagStatus};
pub use manifests::{ManifestInfo, NewManifest, PutManifestOutcome, Referrer, StoredManifest};
pub use repositories::{
    DeletedRepository, RepositoryPatch, RepositoryRecord, RepositorySettings, Usage,
};
pub use store::MetaStore;
pub use tags::{TagOrder, TagPosition, TagRecord};
pub use uploads::UploadRecord;
