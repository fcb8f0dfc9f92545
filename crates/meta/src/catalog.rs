//! Repositories and tags: existence, paged listings and tag deletion.
//!
//! Listings are in byte order (SQLite's BINARY collation) and paged by the last name
//! seen, which walks the primary-key index instead of counting skipped rows.

use berth_oci::{RepositoryName, Tag};
use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::events::{self, NewEvent};
use crate::repositories::check_repository_deletable;
use crate::store::{self, MetaStore};
use crate::tags::tag_delete_refused;

impl MetaStore {
    /// Removes `tag` from `repo`; returns whether it existed. The manifest it pointed at
    /// stays. Fails with [`MetaError::Locked`], changing nothing, when the repository or
    /// the tag may not be deleted. Appends a `tag.deleted` event when a tag was removed.
    pub async fn delete_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        now: i64,
    ) -> Result<bool, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = delete_tag_tx(&mut tx, repo, tag, now).await;
        store::finish(tx, result).await
    }

    /// Whether `repo` exists: something was linked or pushed to it.
    pub async fn repository_exists(&self, repo: &RepositoryName) -> Result<bool, MetaError> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM repositories WHERE name = ?1")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await?;
        Ok(found.is_some())
    }

    /// Listed tag names of `repo` in byte order, strictly after `last` when given, at
    /// most `limit` of them when given. An unknown repository has no tags.
    pub async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>, MetaError> {
        let page: String = sqlx::query_scalar(
            "SELECT json_group_array(name ORDER BY name) FROM ( \
               SELECT name FROM tags \
               WHERE repository_id = (SELECT id FROM repositories WHERE name = ?1) \
               AND name > ?2 AND list_enabled = 1 ORDER BY name LIMIT ?3)",
        )
        .bind(repo.as_str())
        .bind(last.unwrap_or(""))
        .bind(sql_limit(limit))
        .fetch_one(&self.reader)
        .await?;
        names_from_page(&page)
    }

    /// Listed repository names in byte order, strictly after `last` when given, at most
    /// `limit` of them when given.
    pub async fn list_repositories(
        &self,
        last: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>, MetaError> {
        let page: String = sqlx::query_scalar(
            "SELECT json_group_array(name ORDER BY name) FROM ( \
               SELECT name FROM repositories WHERE name > ?1 AND list_enabled = 1 \
               ORDER BY name LIMIT ?2)",
        )
        .bind(last.unwrap_or(""))
        .bind(sql_limit(limit))
        .fetch_one(&self.reader)
        .await?;
        names_from_page(&page)
    }
}

/// Unpacks a page of names that SQLite aggregated into one JSON array.
///
/// sqlx's SQLite driver hands each row from its worker thread to the caller separately;
/// a page of a hundred names as one row crosses that boundary once instead of a hundred
/// times, which is most of the cost of paging through a large repository.
fn names_from_page(page: &str) -> Result<Vec<String>, MetaError> {
    serde_json::from_str(page)
        .map_err(|err| MetaError::Corrupt(format!("listing page is not a JSON array: {err}")))
}

/// SQLite reads a negative LIMIT as "no limit".
fn sql_limit(limit: Option<u32>) -> i64 {
    limit.map_or(-1, i64::from)
}

async fn delete_tag_tx(
    conn: &mut SqliteConnection,
    repo: &RepositoryName,
    tag: &Tag,
    now: i64,
) -> Result<bool, MetaError> {
    let Some(repository_id) = store::repository_id(conn, repo.as_str()).await? else {
        return Ok(false);
    };
    let found: Option<(String, bool, bool)> = sqlx::query_as(
        "SELECT manifest_digest, write_enabled, delete_enabled FROM tags \
         WHERE repository_id = ?1 AND name = ?2",
    )
    .bind(repository_id)
    .bind(tag.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((target, write, delete)) = found else {
        return Ok(false);
    };
    check_repository_deletable(conn, repository_id, repo.as_str()).await?;
    if !(write && delete) {
        return Err(tag_delete_refused(repo, tag.to_string(), write, delete));
    }
    sqlx::query("DELETE FROM tags WHERE repository_id = ?1 AND name = ?2")
        .bind(repository_id)
        .bind(tag.as_str())
        .execute(&mut *conn)
        .await?;

    let event = NewEvent {
        at: now,
        kind: events::TAG_DELETED,
        repository: repo.as_str(),
        digest: Some(&target),
        tag: Some(tag.as_str()),
        detail: None,
    };
    events::append(conn, event).await?;
    tracing::debug!(repository = %repo, tag = %tag, "tag deleted");
    Ok(true)
}
