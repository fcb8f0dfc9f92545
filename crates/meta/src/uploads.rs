//! Upload sessions: which repository an upload belongs to and when it was last active.
//!
//! Sessions are bookkeeping for blob uploads in flight, not repository state, so they
//! append no events and starting one does not create the repository. Idle sessions are
//! found by their last activity so a cleaner can abort them.

use berth_oci::RepositoryName;

use crate::error::MetaError;
use crate::store::MetaStore;

/// An upload session as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRecord {
    /// The session id handed to the client.
    pub id: String,
    /// The repository the upload targets.
    pub repository: String,
    /// When the session started, unix milliseconds.
    pub created_at: i64,
    /// When the session last received data, unix milliseconds.
    pub updated_at: i64,
}

impl MetaStore {
    /// Records a new upload session `id` for `repo`.
    ///
    /// Fails with [`MetaError::Database`] when a session with this id already exists.
    pub async fn create_upload(
        &self,
        id: &str,
        repo: &RepositoryName,
        now: i64,
    ) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        )
        .bind(id)
        .bind(repo.as_str())
        .bind(now)
        .execute(&self.writer)
        .await?;
        tracing::debug!(upload = id, repository = %repo, "upload started");
        Ok(())
    }

    /// The upload session `id`, if it exists.
    pub async fn upload(&self, id: &str) -> Result<Option<UploadRecord>, MetaError> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, repository, created_at, updated_at FROM uploads WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(
            row.map(|(id, repository, created_at, updated_at)| UploadRecord {
                id,
                repository,
                created_at,
                updated_at,
            }),
        )
    }

    /// Marks upload `id` active at `now`. An unknown id is left alone without error: the
    /// session may just have been cleaned up.
    pub async fn touch_upload(&self, id: &str, now: i64) -> Result<(), MetaError> {
        sqlx::query("UPDATE uploads SET updated_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Forgets upload `id`; returns whether it existed.
    pub async fn delete_upload(&self, id: &str) -> Result<bool, MetaError> {
        let removed = sqlx::query("DELETE FROM uploads WHERE id = ?1")
            .bind(id)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    /// Ids of the uploads last active strictly before `before`, least recently active
    /// first.
    pub async fn uploads_idle_since(&self, before: i64) -> Result<Vec<String>, MetaError> {
        let ids = sqlx::query_scalar(
            "SELECT id FROM uploads WHERE updated_at < ?1 ORDER BY updated_at, id",
        )
        .bind(before)
        .fetch_all(&self.reader)
        .await?;
        Ok(ids)
    }
}
