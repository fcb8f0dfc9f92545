//! The event outbox: an append-only log of state changes for background jobs.
//!
//! Events are appended in the same transaction as the change they describe, so the log
//! holds exactly the committed changes. Ids increase strictly and are never reused, so a
//! consumer that remembers the last id it handled resumes without gaps.

use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::store::MetaStore;

/// Kind of event: a blob became readable in a repository.
pub(crate) const BLOB_PUSHED: &str = "blob.pushed";
/// Kind of event: a blob stopped being readable in a repository.
pub(crate) const BLOB_DELETED: &str = "blob.deleted";
/// Kind of event: a manifest was stored.
pub(crate) const MANIFEST_PUSHED: &str = "manifest.pushed";
/// Kind of event: a manifest was removed.
pub(crate) const MANIFEST_DELETED: &str = "manifest.deleted";
/// Kind of event: a tag was created or moved to another manifest.
pub(crate) const TAG_UPDATED: &str = "tag.updated";
/// Kind of event: a tag was removed.
pub(crate) const TAG_DELETED: &str = "tag.deleted";
/// Kind of event: a repository was deleted with everything in it.
pub(crate) const REPOSITORY_DELETED: &str = "repository.deleted";

/// One entry of the outbox.
///
/// `kind` is one of `blob.pushed`, `blob.deleted`, `manifest.pushed`, `manifest.deleted`,
/// `tag.updated`, `tag.deleted` and `repository.deleted`. `digest` is the blob or manifest
/// concerned (for tag events, the manifest the tag points or pointed at). `detail` is, per
/// kind: the size in bytes for `blob.pushed`, the media type for `manifest.pushed`, the
/// previous target for a `tag.updated` that moved a tag, `tags=<n> manifests=<n>` for
/// `repository.deleted` (which stands for the deletion of everything in it), and absent
/// otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Position in the outbox; strictly increasing.
    pub id: i64,
    /// When the change happened, unix milliseconds.
    pub at: i64,
    /// What happened.
    pub kind: String,
    /// The repository concerned.
    pub repository: String,
    /// The blob or manifest concerned.
    pub digest: Option<String>,
    /// The tag concerned.
    pub tag: Option<String>,
    /// Kind-specific extra information.
    pub detail: Option<String>,
}

/// An event about to be appended.
pub(crate) struct NewEvent<'a> {
    pub(crate) at: i64,
    pub(crate) kind: &'static str,
    pub(crate) repository: &'a str,
    pub(crate) digest: Option<&'a str>,
    pub(crate) tag: Option<&'a str>,
    pub(crate) detail: Option<&'a str>,
}

/// Appends `event` inside the caller's transaction.
pub(crate) async fn append(
    conn: &mut SqliteConnection,
    event: NewEvent<'_>,
) -> Result<(), MetaError> {
    sqlx::query(
        "INSERT INTO events (at, kind, repository, digest, tag, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(event.at)
    .bind(event.kind)
    .bind(event.repository)
    .bind(event.digest)
    .bind(event.tag)
    .bind(event.detail)
    .execute(conn)
    .await?;
    Ok(())
}

type EventRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl MetaStore {
    /// Up to `limit` events with an id greater than `after_id`, oldest first.
    ///
    /// Start with `after_id = 0`; then pass the id of the last event handled.
    pub async fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<Event>, MetaError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, at, kind, repository, digest, tag, detail FROM events \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        let events = rows
            .into_iter()
            .map(|(id, at, kind, repository, digest, tag, detail)| Event {
                id,
                at,
                kind,
                repository,
                digest,
                tag,
                detail,
            })
            .collect();
        Ok(events)
    }
}
