//! Blob records and the links that let a repository read a blob.
//!
//! A row in `blobs` says the bytes exist in blob storage; a row in `repository_blobs`
//! says a repository may read them. Unlinking removes only the latter: the bytes are
//! freed later by garbage collection.

use berth_oci::{Digest, RepositoryName};
use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::events::{self, NewEvent};
use crate::policy::QuotaScope;
use crate::repositories::{self, check_repository_deletable, check_repository_writable};
use crate::store::{self, MetaStore};

/// A blob as a repository sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLink {
    pub size: u64,
    /// False when the repository's `read_enabled` is off.
    pub readable: bool,
}

impl MetaStore {
    /// Records that `digest` (of `size` bytes) is readable in `repo`, creating the
    /// repository and the blob record when needed. Linking twice is a no-op.
    ///
    /// Appends a `blob.pushed` event only when the link is new. Fails with
    /// [`MetaError::SizeMismatch`] when the blob is already recorded with another size,
    /// and, when the link is new, with [`MetaError::Locked`] when the repository is
    /// write-locked and [`MetaError::QuotaExceeded`] when the blob would take the
    /// repository's or the registry's usage past its quota.
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

    /// The blob `digest` as `repo` sees it, if it is linked there.
    pub async fn blob_link(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<BlobLink>, MetaError> {
        let row: Option<(i64, bool)> = sqlx::query_as(
            "SELECT b.size, r.read_enabled FROM repositories r \
             JOIN repository_blobs rb ON rb.repository_id = r.id \
             JOIN blobs b ON b.digest = rb.digest WHERE r.name = ?1 AND rb.digest = ?2",
        )
        .bind(repo.as_str())
        .bind(digest.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|(size, readable)| {
            Ok(BlobLink {
                size: store::size_from_db(size)?,
                readable,
            })
        })
        .transpose()
    }

    /// Checks, without writing, whether `repo` would accept a new blob of `size` bytes
    /// (`None` when the size is not known yet): the repository is not write-locked and
    /// no quota would be exceeded. The commit checks again; this spares a client sending
    /// bytes that would be refused.
    pub async fn check_blob_admission(
        &self,
        repo: &RepositoryName,
        digest: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(), MetaError> {
        let mut conn = self.reader.acquire().await?;
        let Some(id) = store::repository_id(&mut conn, repo.as_str()).await? else {
            // A repository that does not exist has no quota or lock of its own yet.
            return match size {
                Some(size) => check_registry_quota(&mut conn, digest, size).await,
                None => Ok(()),
            };
        };
        if let Some(digest) = digest {
            if is_linked(&mut conn, id, digest).await? {
                return Ok(());
            }
        }
        check_repository_writable(&mut conn, id, repo.as_str()).await?;
        match size {
            Some(size) => check_quotas(&mut conn, id, repo, digest, size).await,
            None => Ok(()),
        }
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
    /// Fails with [`MetaError::Locked`] when the repository's content may not be
    /// deleted. Appends a `blob.deleted` event when a link was removed. Manifests that reference
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
    let existing = store::repository_id(conn, repo.as_str()).await?;
    if let Some(id) = existing {
        if is_linked(conn, id, digest).await? {
            // Relinking costs nothing, so neither a lock nor a full quota refuses it;
            // the blob record still has to agree on the size.
            return record_blob(conn, digest, size, now).await;
        }
        check_repository_writable(conn, id, repo.as_str()).await?;
        check_quotas(conn, id, repo, Some(digest), size).await?;
    } else {
        check_registry_quota(conn, Some(digest), size).await?;
    }
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

/// Whether `digest` is linked to repository `repository_id`.
async fn is_linked(
    conn: &mut SqliteConnection,
    repository_id: i64,
    digest: &Digest,
) -> Result<bool, MetaError> {
    let linked: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM repository_blobs WHERE repository_id = ?1 AND digest = ?2",
    )
    .bind(repository_id)
    .bind(digest.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(linked.is_some())
}

/// Refuses a new link of `size` bytes that would take the repository's linked bytes,
/// or (for a blob the registry does not hold yet) the registry's, past a quota.
async fn check_quotas(
    conn: &mut SqliteConnection,
    repository_id: i64,
    repo: &RepositoryName,
    digest: Option<&Digest>,
    size: u64,
) -> Result<(), MetaError> {
    let (quota, used): (Option<i64>, i64) =
        sqlx::query_as("SELECT quota_bytes, blob_bytes FROM repositories WHERE id = ?1")
            .bind(repository_id)
            .fetch_one(&mut *conn)
            .await?;
    if let Some(quota) = quota {
        let (quota, used) = (store::size_from_db(quota)?, store::size_from_db(used)?);
        if used.saturating_add(size) > quota {
            return Err(MetaError::QuotaExceeded {
                scope: QuotaScope::Repository(repo.to_string()),
                quota,
                used,
                needed: size,
            });
        }
    }
    check_registry_quota(conn, digest, size).await
}

/// Refuses a blob of `size` bytes new to the registry that would take the registry's
/// stored bytes past its quota; a blob it already holds costs nothing more.
async fn check_registry_quota(
    conn: &mut SqliteConnection,
    digest: Option<&Digest>,
    size: u64,
) -> Result<(), MetaError> {
    let Some(quota) = repositories::registry_quota(conn).await? else {
        return Ok(());
    };
    if let Some(digest) = digest {
        let held: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blobs WHERE digest = ?1")
            .bind(digest.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        if held.is_some() {
            return Ok(());
        }
    }
    let used: i64 = sqlx::query_scalar("SELECT blob_bytes FROM usage_totals WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let used = store::size_from_db(used)?;
    if used.saturating_add(size) > quota {
        return Err(MetaError::QuotaExceeded {
            scope: QuotaScope::Registry,
            quota,
            used,
            needed: size,
        });
    }
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
    // Checked after the delete it guards, which the transaction then rolls back, so
    // that an unknown blob is reported as unknown whatever the locks.
    let id = store::repository_id(conn, repo.as_str())
        .await?
        .ok_or_else(|| MetaError::Corrupt(format!("repository {repo} vanished")))?;
    check_repository_deletable(conn, id, repo.as_str()).await?;

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
