//! Blob records and the links that let a repository read a blob.
//!
//! A row in `blobs` says the bytes exist in blob storage; a row in `repository_blobs`
//! says a repository may read them. Unlinking removes only the latter: the bytes are
//! freed later by garbage collection.

use berth_oci::{Digest, RepositoryName};
use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::events::{self, NewEvent};
use crate::store::{self, MetaStore};

impl MetaStore {
    /// Records that `digest` (of `size` bytes) is readable in `repo`, creating the
    /// repository and the blob record when needed. Linking twice is a no-op.
    ///
    /// Appends a `blob.pushed` event only when the link is new. Fails with
    /// [`MetaError::SizeMismatch`] when the blob is already recorded with another size.
    pub async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        now: i64,
    ) -> Result<(), MetaError> {
        let mut tx = self.begin_write().await?;
        let result = link_blob_tx(&mut tx, repo, digest, size, now).await;
        store::finish(tx, result).await
    }

    /// The size of `digest` if it is linked to `repo`.
    pub async fn linked_blob_size(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<u64>, MetaError> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
             WHERE rb.repository_id = (SELECT id FROM repositories WHERE name = ?1) \
             AND rb.digest = ?2",
        )
        .bind(repo.as_str())
        .bind(digest.as_str())
        .fetch_optional(&self.reader)
        .await?;
        size.map(store::size_from_db).transpose()
    }

    /// The size of `digest` if it is linked to at least one repository.
    ///
    /// A blob linked nowhere may be swept by garbage collection at any moment, so it
    /// counts as unknown.
    pub async fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, MetaError> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT size FROM blobs WHERE digest = ?1 \
             AND EXISTS (SELECT 1 FROM repository_blobs WHERE digest = ?1)",
        )
        .bind(digest.as_str())
        .fetch_optional(&self.reader)
        .await?;
        size.map(store::size_from_db).transpose()
    }

    /// Removes the link between `repo` and `digest`; returns whether there was one.
    ///
    /// Appends a `blob.deleted` event when a link was removed. Manifests that reference
    /// the blob are left alone and no check refuses the unlink: as in Distribution, a
    /// client that deletes a layer still in use breaks the images that use it.
    pub async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        now: i64,
    ) -> Result<bool, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = unlink_blob_tx(&mut tx, repo, digest, now).await;
        store::finish(tx, result).await
    }
}

async fn link_blob_tx(
    conn: &mut SqliteConnection,
    repo: &RepositoryName,
    digest: &Digest,
    size: u64,
    now: i64,
) -> Result<(), MetaError> {
    let repository_id = store::ensure_repository(conn, repo.as_str(), now).await?;
    record_blob(conn, digest, size, now).await?;

    let linked = sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(repository_id)
    .bind(digest.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if linked == 0 {
        return Ok(());
    }

    let detail = size.to_string();
    let event = NewEvent {
        at: now,
        kind: events::BLOB_PUSHED,
        repository: repo.as_str(),
        digest: Some(digest.as_str()),
        tag: None,
        detail: Some(&detail),
    };
    events::append(conn, event).await?;
    tracing::debug!(repository = %repo, digest = %digest, size, "blob linked");
    Ok(())
}

/// Inserts the blob record, or checks that the existing one agrees on the size: the
/// digest covers the bytes, so two sizes for one digest mean one of them is wrong.
async fn record_blob(
    conn: &mut SqliteConnection,
    digest: &Digest,
    size: u64,
    now: i64,
) -> Result<(), MetaError> {
    let stored: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = ?1")
        .bind(digest.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    match stored {
        Some(stored) => {
            let actual = store::size_from_db(stored)?;
            if actual != size {
                return Err(MetaError::SizeMismatch {
                    digest: digest.clone(),
                    declared: size,
                    actual,
                });
            }
        }
        None => {
            sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES (?1, ?2, ?3)")
                .bind(digest.as_str())
                .bind(store::size_to_db(size)?)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn unlink_blob_tx(
    conn: &mut SqliteConnection,
    repo: &RepositoryName,
    digest: &Digest,
    now: i64,
) -> Result<bool, MetaError> {
    let removed = sqlx::query(
        "DELETE FROM repository_blobs \
         WHERE repository_id = (SELECT id FROM repositories WHERE name = ?1) AND digest = ?2",
    )
    .bind(repo.as_str())
    .bind(digest.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if removed == 0 {
        return Ok(false);
    }

    let event = NewEvent {
        at: now,
        kind: events::BLOB_DELETED,
        repository: repo.as_str(),
        digest: Some(digest.as_str()),
        tag: None,
        detail: None,
    };
    events::append(conn, event).await?;
    tracing::debug!(repository = %repo, digest = %digest, "blob unlinked");
    Ok(true)
}
