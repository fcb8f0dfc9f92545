//! Repositories as records: creating one with its settings, reading, listing, updating
//! and deleting them, and the registry-wide usage and quota.
//!
//! Counts and sizes (tags, manifests, linked blob bytes, registry totals) are kept by
//! triggers in the same transaction as the rows they count, so reading them costs one
//! row whatever the repository's size. Deleting a repository removes its tags,
//! manifests and blob links in one transaction and refuses, changing nothing, while the
//! repository or anything in it is locked.

use berth_oci::RepositoryName;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::Row;

use crate::error::MetaError;
use crate::events::{self, NewEvent};
use crate::policy::{
    Attributes, AttributesPatch, Encryption, Lock, Locked, MutabilityRule, TagMutability,
};
use crate::store::{self, MetaStore};

/// The settings key of the registry-wide storage quota, in bytes.
const REGISTRY_QUOTA_SETTING: &str = "registry.quota_bytes";

/// Settings chosen when a repository is created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositorySettings {
    pub mutability: MutabilityRule,
    pub scan_on_push: bool,
    pub encryption: Encryption,
    /// The key a `KMS` encryption names; only with [`Encryption::Kms`].
    pub kms_key: Option<String>,
    /// Bytes of linked blobs the repository may hold; `None` for no quota of its own.
    pub quota_bytes: Option<u64>,
}

/// A repository with its settings, attributes, times, counts and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryRecord {
    pub name: String,
    pub created_at: i64,
    /// When a setting or attribute last changed.
    pub updated_at: i64,
    /// When a manifest was last pushed, if ever.
    pub last_push_at: Option<i64>,
    pub tag_count: u64,
    pub manifest_count: u64,
    /// Bytes of the blobs linked to the repository, each counted once.
    pub size_bytes: u64,
    pub anonymous_pull: bool,
    pub settings: RepositorySettings,
    pub attributes: Attributes,
}

/// A change to a repository; `None` keeps the current value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepositoryPatch {
    pub mutability: Option<MutabilityRule>,
    pub scan_on_push: Option<bool>,
    /// `Some(None)` removes the repository's quota.
    pub quota_bytes: Option<Option<u64>>,
    pub attributes: AttributesPatch,
}

/// What deleting a repository removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletedRepository {
    pub tags: u64,
    pub manifests: u64,
}

/// Registry-wide totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of every stored blob, each counted once however many repositories link it.
    pub blob_bytes: u64,
    pub blob_count: u64,
    pub repository_count: u64,
    pub tag_count: u64,
    pub manifest_count: u64,
    /// The registry-wide quota, if one is set.
    pub quota_bytes: Option<u64>,
}

const RECORD_COLUMNS: &str = "name, created_at, updated_at, last_push_at, tag_count, \
    manifest_count, blob_bytes, anonymous_pull, tag_mutability, mutability_exclusions, \
    scan_on_push, encryption, kms_key, quota_bytes, \
    write_enabled, delete_enabled, read_enabled, list_enabled";

impl MetaStore {
    /// Creates an empty repository with `settings`.
    ///
    /// Fails with [`MetaError::Conflict`] when it exists already.
    pub async fn create_repository(
        &self,
        name: &RepositoryName,
        settings: &RepositorySettings,
        now: i64,
    ) -> Result<RepositoryRecord, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = create_repository_tx(&mut tx, name, settings, now).await;
        store::finish(tx, result).await?;
        tracing::info!(repository = %name, "repository created");
        self.repository(name)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("repository {name} vanished")))
    }

    /// The repository `name`, if it exists.
    pub async fn repository(
        &self,
        name: &RepositoryName,
    ) -> Result<Option<RepositoryRecord>, MetaError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM repositories WHERE name = ?1");
        let row = sqlx::query(&sql)
            .bind(name.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Repositories in byte order of their names, strictly after `last`, at most `limit`,
    /// leaving out those whose `list_enabled` is off.
    pub async fn list_repository_records(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepositoryRecord>, MetaError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM repositories \
             WHERE name > ?1 AND list_enabled = 1 ORDER BY name LIMIT ?2"
        );
        let rows = sqlx::query(&sql)
            .bind(last.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Applies `patch` to the repository and returns it as it now is.
    ///
    /// Fails with [`MetaError::NotFound`] when it does not exist.
    pub async fn update_repository(
        &self,
        name: &RepositoryName,
        patch: &RepositoryPatch,
        now: i64,
    ) -> Result<RepositoryRecord, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = update_repository_tx(&mut tx, name, patch, now).await;
        store::finish(tx, result).await?;
        tracing::info!(repository = %name, "repository updated");
        self.repository(name)
            .await?
            .ok_or_else(|| MetaError::Corrupt(format!("repository {name} vanished")))
    }

    /// Deletes the repository with every tag, manifest and blob link in it, and its
    /// upload sessions; the blob bytes stay for garbage collection.
    ///
    /// Fails with [`MetaError::NotFound`] when it does not exist and with
    /// [`MetaError::Locked`] when the repository, or any tag or manifest in it, may not
    /// be deleted; then nothing changes. Appends one `repository.deleted` event.
    pub async fn delete_repository(
        &self,
        name: &RepositoryName,
        now: i64,
    ) -> Result<DeletedRepository, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = delete_repository_tx(&mut tx, name, now).await;
        let deleted = store::finish(tx, result).await?;
        tracing::info!(
            repository = %name,
            tags = deleted.tags,
            manifests = deleted.manifests,
            "repository deleted"
        );
        Ok(deleted)
    }

    /// Registry-wide totals and quota.
    pub async fn usage(&self) -> Result<Usage, MetaError> {
        let row: (i64, i64, i64, i64, i64, Option<String>) = sqlx::query_as(
            "SELECT blob_bytes, blob_count, repository_count, tag_count, manifest_count, \
             (SELECT value FROM settings WHERE key = ?1) FROM usage_totals WHERE id = 1",
        )
        .bind(REGISTRY_QUOTA_SETTING)
        .fetch_one(&self.reader)
        .await?;
        let (blob_bytes, blob_count, repositories, tags, manifests, quota) = row;
        Ok(Usage {
            blob_bytes: store::size_from_db(blob_bytes)?,
            blob_count: store::size_from_db(blob_count)?,
            repository_count: store::size_from_db(repositories)?,
            tag_count: store::size_from_db(tags)?,
            manifest_count: store::size_from_db(manifests)?,
            quota_bytes: quota.as_deref().map(quota_from_setting).transpose()?,
        })
    }

    /// Sets (or with `None` removes) the registry-wide storage quota.
    pub async fn set_registry_quota(&self, quota_bytes: Option<u64>) -> Result<(), MetaError> {
        match quota_bytes {
            Some(bytes) => {
                store::size_to_db(bytes)?;
                self.set_setting(REGISTRY_QUOTA_SETTING, &bytes.to_string())
                    .await
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = ?1")
                    .bind(REGISTRY_QUOTA_SETTING)
                    .execute(&self.writer)
                    .await?;
                tracing::info!(key = REGISTRY_QUOTA_SETTING, "setting removed");
                Ok(())
            }
        }
    }
}

/// The registry quota as stored in settings.
fn quota_from_setting(text: &str) -> Result<u64, MetaError> {
    text.parse()
        .map_err(|_| MetaError::Corrupt(format!("registry quota {text:?} is not a number")))
}

/// The registry-wide quota, read inside a write transaction.
pub(crate) async fn registry_quota(conn: &mut SqliteConnection) -> Result<Option<u64>, MetaError> {
    let text: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
        .bind(REGISTRY_QUOTA_SETTING)
        .fetch_optional(conn)
        .await?;
    text.as_deref().map(quota_from_setting).transpose()
}

fn record_from_row(row: &SqliteRow) -> Result<RepositoryRecord, MetaError> {
    let mutability: String = row.try_get("tag_mutability")?;
    let exclusions: String = row.try_get("mutability_exclusions")?;
    let encryption: String = row.try_get("encryption")?;
    let created_at: i64 = row.try_get("created_at")?;
    let quota: Option<i64> = row.try_get("quota_bytes")?;
    Ok(RepositoryRecord {
        name: row.try_get("name")?,
        created_at,
        updated_at: row
            .try_get::<Option<i64>, _>("updated_at")?
            .unwrap_or(created_at),
        last_push_at: row.try_get("last_push_at")?,
        tag_count: store::size_from_db(row.try_get("tag_count")?)?,
        manifest_count: store::size_from_db(row.try_get("manifest_count")?)?,
        size_bytes: store::size_from_db(row.try_get("blob_bytes")?)?,
        anonymous_pull: row.try_get("anonymous_pull")?,
        settings: RepositorySettings {
            mutability: rule_from_db(&mutability, &exclusions)?,
            scan_on_push: row.try_get("scan_on_push")?,
            encryption: Encryption::parse(&encryption)
                .ok_or_else(|| MetaError::Corrupt(format!("encryption {encryption:?}")))?,
            kms_key: row.try_get("kms_key")?,
            quota_bytes: quota.map(store::size_from_db).transpose()?,
        },
        attributes: Attributes::from_db(
            row.try_get("write_enabled")?,
            row.try_get("delete_enabled")?,
            row.try_get("read_enabled")?,
            row.try_get("list_enabled")?,
        ),
    })
}

fn exclusions_to_db(rule: &MutabilityRule) -> Result<String, MetaError> {
    serde_json::to_string(&rule.exclusions)
        .map_err(|err| MetaError::Corrupt(format!("exclusions cannot be encoded: {err}")))
}

async fn create_repository_tx(
    conn: &mut SqliteConnection,
    name: &RepositoryName,
    settings: &RepositorySettings,
    now: i64,
) -> Result<(), MetaError> {
    if store::repository_id(conn, name.as_str()).await?.is_some() {
        return Err(MetaError::Conflict(format!(
            "repository {name} already exists"
        )));
    }
    sqlx::query(
        "INSERT INTO repositories (name, created_at, updated_at, tag_mutability, \
         mutability_exclusions, scan_on_push, encryption, kms_key, quota_bytes) \
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(name.as_str())
    .bind(now)
    .bind(settings.mutability.mutability.as_str())
    .bind(exclusions_to_db(&settings.mutability)?)
    .bind(settings.scan_on_push)
    .bind(settings.encryption.as_str())
    .bind(settings.kms_key.as_deref())
    .bind(settings.quota_bytes.map(store::size_to_db).transpose()?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn update_repository_tx(
    conn: &mut SqliteConnection,
    name: &RepositoryName,
    patch: &RepositoryPatch,
    now: i64,
) -> Result<(), MetaError> {
    let Some(id) = store::repository_id(conn, name.as_str()).await? else {
        return Err(MetaError::NotFound(format!(
            "repository {name} does not exist"
        )));
    };
    if let Some(rule) = &patch.mutability {
        sqlx::query(
            "UPDATE repositories SET tag_mutability = ?2, mutability_exclusions = ?3 \
             WHERE id = ?1",
        )
        .bind(id)
        .bind(rule.mutability.as_str())
        .bind(exclusions_to_db(rule)?)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(scan) = patch.scan_on_push {
        sqlx::query("UPDATE repositories SET scan_on_push = ?2 WHERE id = ?1")
            .bind(id)
            .bind(scan)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(quota) = patch.quota_bytes {
        sqlx::query("UPDATE repositories SET quota_bytes = ?2 WHERE id = ?1")
            .bind(id)
            .bind(quota.map(store::size_to_db).transpose()?)
            .execute(&mut *conn)
            .await?;
    }
    let a = patch.attributes;
    sqlx::query(
        "UPDATE repositories SET write_enabled = COALESCE(?2, write_enabled), \
         delete_enabled = COALESCE(?3, delete_enabled), \
         read_enabled = COALESCE(?4, read_enabled), \
         list_enabled = COALESCE(?5, list_enabled), updated_at = ?6 WHERE id = ?1",
    )
    .bind(id)
    .bind(a.write_enabled)
    .bind(a.delete_enabled)
    .bind(a.read_enabled)
    .bind(a.list_enabled)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The tag mutability of repository `id`, read inside a write transaction.
pub(crate) async fn mutability_rule(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<MutabilityRule, MetaError> {
    let (name, exclusions): (String, String) = sqlx::query_as(
        "SELECT tag_mutability, mutability_exclusions FROM repositories WHERE id = ?1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    rule_from_db(&name, &exclusions)
}

fn rule_from_db(mutability: &str, exclusions: &str) -> Result<MutabilityRule, MetaError> {
    Ok(MutabilityRule {
        mutability: TagMutability::parse(mutability)
            .ok_or_else(|| MetaError::Corrupt(format!("tag mutability {mutability:?}")))?,
        exclusions: serde_json::from_str(exclusions)
            .map_err(|err| MetaError::Corrupt(format!("mutability exclusions: {err}")))?,
    })
}

/// The attributes of repository `id`, read inside a write transaction.
pub(crate) async fn repository_attributes(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Attributes, MetaError> {
    let (w, d, r, l): (bool, bool, bool, bool) = sqlx::query_as(
        "SELECT write_enabled, delete_enabled, read_enabled, list_enabled \
         FROM repositories WHERE id = ?1",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(Attributes::from_db(w, d, r, l))
}

/// Refuses with [`MetaError::Locked`] when repository `id` may not be written to.
pub(crate) async fn check_repository_writable(
    conn: &mut SqliteConnection,
    id: i64,
    name: &str,
) -> Result<(), MetaError> {
    match repository_attributes(conn, id).await?.write_lock() {
        None => Ok(()),
        Some(lock) => Err(MetaError::Locked {
            item: Locked::Repository {
                repository: name.to_string(),
            },
            lock,
        }),
    }
}

/// Refuses with [`MetaError::Locked`] when content of repository `id` may not be deleted.
pub(crate) async fn check_repository_deletable(
    conn: &mut SqliteConnection,
    id: i64,
    name: &str,
) -> Result<(), MetaError> {
    match repository_attributes(conn, id).await?.delete_lock() {
        None => Ok(()),
        Some(lock) => Err(MetaError::Locked {
            item: Locked::Repository {
                repository: name.to_string(),
            },
            lock,
        }),
    }
}

async fn delete_repository_tx(
    conn: &mut SqliteConnection,
    name: &RepositoryName,
    now: i64,
) -> Result<DeletedRepository, MetaError> {
    let Some(id) = store::repository_id(conn, name.as_str()).await? else {
        return Err(MetaError::NotFound(format!(
            "repository {name} does not exist"
        )));
    };
    check_repository_deletable(conn, id, name.as_str()).await?;
    check_nothing_locked(conn, id, name).await?;

    let tags = sqlx::query("DELETE FROM tags WHERE repository_id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    // References go with their manifests (ON DELETE CASCADE).
    let manifests = sqlx::query("DELETE FROM manifests WHERE repository_id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM repository_blobs WHERE repository_id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM uploads WHERE repository = ?1")
        .bind(name.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM repositories WHERE id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await?;

    let detail = format!("tags={tags} manifests={manifests}");
    let event = NewEvent {
        at: now,
        kind: events::REPOSITORY_DELETED,
        repository: name.as_str(),
        digest: None,
        tag: None,
        detail: Some(&detail),
    };
    events::append(conn, event).await?;
    Ok(DeletedRepository { tags, manifests })
}

/// Refuses when any tag or manifest of repository `id` may not be deleted, naming the
/// first one found.
async fn check_nothing_locked(
    conn: &mut SqliteConnection,
    id: i64,
    name: &RepositoryName,
) -> Result<(), MetaError> {
    let tag: Option<(String, bool)> = sqlx::query_as(
        "SELECT name, write_enabled FROM tags \
         WHERE repository_id = ?1 AND (write_enabled = 0 OR delete_enabled = 0) LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((tag, writable)) = tag {
        return Err(MetaError::Locked {
            item: Locked::Tag {
                repository: name.to_string(),
                tag,
            },
            lock: if writable { Lock::Delete } else { Lock::Write },
        });
    }
    let manifest: Option<(String, bool)> = sqlx::query_as(
        "SELECT digest, write_enabled FROM manifests \
         WHERE repository_id = ?1 AND (write_enabled = 0 OR delete_enabled = 0) LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((digest, writable)) = manifest {
        return Err(MetaError::Locked {
            item: Locked::Manifest {
                repository: name.to_string(),
                digest: store::digest_from_db(&digest)?,
            },
            lock: if writable { Lock::Delete } else { Lock::Write },
        });
    }
    Ok(())
}
