//! Manifests: storing them with their references and tag, reading them back, deleting
//! them, and listing the referrers of a subject.
//!
//! A manifest is stored only if every blob and child manifest it references is present
//! in its repository with the declared size; the check and the insert happen in one
//! transaction, so a refused put changes nothing. Bytes are stored exactly as given.

use std::collections::BTreeMap;

use berth_oci::{Digest, Reference, RepositoryName, Tag};
use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::events::{self, NewEvent};
use crate::policy::{Attributes, Lock, Locked, ReadLock};
use crate::repositories;
use crate::store::{self, MetaStore};

/// A manifest to store, with everything the store must check and record about it.
#[derive(Clone, Copy, Debug)]
pub struct NewManifest<'a> {
    /// The repository the manifest is pushed to; created if it does not exist.
    pub repository: &'a RepositoryName,
    /// The digest of `content`; the caller has verified it.
    pub digest: &'a Digest,
    /// The manifest's media type, served back as its Content-Type.
    pub media_type: &'a str,
    /// The manifest bytes exactly as pushed.
    pub content: &'a [u8],
    /// The artifact type the referrers API reports, if any.
    pub artifact_type: Option<&'a str>,
    /// The manifest this one refers to, if any (it need not exist).
    pub subject: Option<&'a Digest>,
    /// The manifest's annotations, reported by the referrers API.
    pub annotations: &'a BTreeMap<String, String>,
    /// Blobs (config and layers) with their declared sizes; each must be linked to the
    /// repository with that size.
    pub blobs: &'a [(Digest, u64)],
    /// Child manifests with their declared sizes; each must be stored in the repository
    /// with that size.
    pub manifests: &'a [(Digest, u64)],
    /// The tag to point at this manifest, if the push was by tag.
    pub tag: Option<&'a Tag>,
    /// What the image config says of the image (a JSON object), for listings.
    pub config_info: Option<&'a str>,
    /// The time of the push, unix milliseconds.
    pub now: i64,
}

/// What a successful [`MetaStore::put_manifest`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutManifestOutcome {
    /// Whether the manifest was new to the repository (false when re-pushed).
    pub created: bool,
    /// What the tag pointed at before the put, when a tag was given and already existed
    /// (equal to the pushed digest when the tag did not move).
    pub previous_tag_target: Option<Digest>,
}

/// A manifest as stored, ready to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredManifest {
    /// The manifest's digest.
    pub digest: Digest,
    /// The media type it was pushed with.
    pub media_type: String,
    /// The bytes exactly as pushed.
    pub content: Vec<u8>,
    /// Set when a `read_enabled` attribute forbids pulling it.
    pub read_lock: Option<ReadLock>,
}

/// A manifest's identity and size, without its bytes (for HEAD requests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestInfo {
    /// The manifest's digest.
    pub digest: Digest,
    /// The media type it was pushed with.
    pub media_type: String,
    /// The length of its bytes.
    pub size: u64,
    /// Set when a `read_enabled` attribute forbids pulling it.
    pub read_lock: Option<ReadLock>,
}

/// A manifest that names a subject, as the referrers API describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The referring manifest's digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The length of its bytes.
    pub size: u64,
    /// Its artifact type, if it has one.
    pub artifact_type: Option<String>,
    /// Its annotations (empty when it has none).
    pub annotations: BTreeMap<String, String>,
}

impl MetaStore {
    /// Stores a manifest, its references and optionally its tag, in one transaction.
    ///
    /// Fails with [`MetaError::MissingBlob`] or [`MetaError::MissingManifest`] when a
    /// reference is not present in the repository, and [`MetaError::SizeMismatch`] when
    /// one is present with another size; with [`MetaError::Locked`] when the repository
    /// or the tag is write-locked and [`MetaError::TagImmutable`] when the tag may not
    /// move; a refused put changes nothing. Re-pushing a stored digest keeps the stored
    /// row (same digest, same bytes) and is allowed whatever the locks, since it changes
    /// nothing. Appends `manifest.pushed` when the manifest is new and `tag.updated`
    /// when the tag is created or moves; a tag that moves keeps its `created_at`.
    pub async fn put_manifest(&self, m: NewManifest<'_>) -> Result<PutManifestOutcome, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = put_manifest_tx(&mut tx, &m).await;
        store::finish(tx, result).await
    }

    /// The manifest `reference` (a tag or a digest) names in `repo`, with its bytes.
    pub async fn manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<StoredManifest>, MetaError> {
        let row = self
            .lookup::<Vec<u8>>(repo, reference, ManifestColumn::Content)
            .await?;
        row.map(|(digest, media_type, content, lock)| {
            Ok(StoredManifest {
                digest: store::digest_from_db(&digest)?,
                media_type,
                content,
                read_lock: ReadLock::from_code(lock),
            })
        })
        .transpose()
    }

    /// Like [`MetaStore::manifest`] without reading the bytes.
    pub async fn manifest_info(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<Option<ManifestInfo>, MetaError> {
        let row = self
            .lookup::<i64>(repo, reference, ManifestColumn::Size)
            .await?;
        row.map(|(digest, media_type, size, lock)| {
            Ok(ManifestInfo {
                digest: store::digest_from_db(&digest)?,
                media_type,
                size: store::size_from_db(size)?,
                read_lock: ReadLock::from_code(lock),
            })
        })
        .transpose()
    }

    /// Digest, media type, one more column and the read lock of the manifest
    /// `reference` names: a single indexed query, the hot path of every pull.
    async fn lookup<T>(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        column: ManifestColumn,
    ) -> Result<Option<(String, String, T, i64)>, MetaError>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        let key = match reference {
            Reference::Tag(tag) => tag.as_str(),
            Reference::Digest(digest) => digest.as_str(),
        };
        let row = sqlx::query_as(column.sql(reference))
            .bind(repo.as_str())
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row)
    }

    /// Deletes a manifest, its references and every tag pointing at it; returns whether
    /// it existed.
    ///
    /// Fails with [`MetaError::Locked`], changing nothing, when the repository, the
    /// manifest or one of its tags may not be deleted. Appends `tag.deleted` per removed tag and `manifest.deleted`. Index manifests that
    /// list this one as a child are left alone and nothing refuses the delete, as the
    /// spec allows; such an index then names a child that is gone.
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        now: i64,
    ) -> Result<bool, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = delete_manifest_tx(&mut tx, repo, digest, now).await;
        store::finish(tx, result).await
    }

    /// The manifests of `repo` whose subject is `subject`, ordered by digest, keeping
    /// only those of `artifact_type` when one is given. The subject need not exist.
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, MetaError> {
        type Row = (String, String, i64, Option<String>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests \
             WHERE repository_id = (SELECT id FROM repositories WHERE name = ?1) \
             AND subject_digest = ?2 AND (?3 IS NULL OR artifact_type = ?3) \
             ORDER BY digest",
        )
        .bind(repo.as_str())
        .bind(subject.as_str())
        .bind(artifact_type)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(digest, media_type, size, artifact_type, annotations)| {
                Ok(Referrer {
                    digest: store::digest_from_db(&digest)?,
                    media_type,
                    size: store::size_from_db(size)?,
                    artifact_type,
                    annotations: annotations_from_db(annotations.as_deref())?,
                })
            })
            .collect()
    }
}

async fn put_manifest_tx(
    conn: &mut SqliteConnection,
    m: &NewManifest<'_>,
) -> Result<PutManifestOutcome, MetaError> {
    let repository = m.repository.as_str();
    let existing = store::repository_id(conn, repository).await?;
    check_blobs(conn, existing, m.blobs).await?;
    check_manifests(conn, existing, m.manifests).await?;

    let repository_id = match existing {
        Some(id) => id,
        None => store::ensure_repository(conn, repository, m.now).await?,
    };
    let created = insert_manifest(conn, repository_id, m).await?;
    let previous_tag_target = match m.tag {
        Some(tag) => {
            let change = TagChange {
                repository: m.repository,
                repository_id,
                tag,
                digest: m.digest,
                now: m.now,
            };
            point_tag(conn, &change).await?
        }
        None => None,
    };
    let tag_moved = m.tag.is_some() && previous_tag_target.as_ref() != Some(m.digest);
    if created || tag_moved {
        // Checked after the writes it guards so that a no-op re-push, which changes
        // nothing, passes whatever the locks; the transaction rolls back otherwise.
        repositories::check_repository_writable(conn, repository_id, repository).await?;
        sqlx::query("UPDATE repositories SET last_push_at = ?2 WHERE id = ?1")
            .bind(repository_id)
            .bind(m.now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(PutManifestOutcome {
        created,
        previous_tag_target,
    })
}

/// Every blob must be linked to the repository with its declared size.
async fn check_blobs(
    conn: &mut SqliteConnection,
    repository_id: Option<i64>,
    blobs: &[(Digest, u64)],
) -> Result<(), MetaError> {
    for (digest, declared) in blobs {
        let stored: Option<i64> = match repository_id {
            Some(id) => {
                sqlx::query_scalar(
                    "SELECT b.size FROM repository_blobs rb \
                     JOIN blobs b ON b.digest = rb.digest \
                     WHERE rb.repository_id = ?1 AND rb.digest = ?2",
                )
                .bind(id)
                .bind(digest.as_str())
                .fetch_optional(&mut *conn)
                .await?
            }
            None => None,
        };
        let Some(stored) = stored else {
            return Err(MetaError::MissingBlob {
                digest: digest.clone(),
            });
        };
        check_size(digest, *declared, stored)?;
    }
    Ok(())
}

/// Every child manifest must be stored in the repository with its declared size.
async fn check_manifests(
    conn: &mut SqliteConnection,
    repository_id: Option<i64>,
    manifests: &[(Digest, u64)],
) -> Result<(), MetaError> {
    for (digest, declared) in manifests {
        let stored: Option<i64> = match repository_id {
            Some(id) => {
                sqlx::query_scalar(
                    "SELECT size FROM manifests WHERE repository_id = ?1 AND digest = ?2",
                )
                .bind(id)
                .bind(digest.as_str())
                .fetch_optional(&mut *conn)
                .await?
            }
            None => None,
        };
        let Some(stored) = stored else {
            return Err(MetaError::MissingManifest {
                digest: digest.clone(),
            });
        };
        check_size(digest, *declared, stored)?;
    }
    Ok(())
}

fn check_size(digest: &Digest, declared: u64, stored: i64) -> Result<(), MetaError> {
    let actual = store::size_from_db(stored)?;
    if actual == declared {
        Ok(())
    } else {
        Err(MetaError::SizeMismatch {
            digest: digest.clone(),
            declared,
            actual,
        })
    }
}

/// Inserts the manifest row and its references unless the digest is already stored;
/// returns whether it was new.
async fn insert_manifest(
    conn: &mut SqliteConnection,
    repository_id: i64,
    m: &NewManifest<'_>,
) -> Result<bool, MetaError> {
    let size = store::size_to_db(m.content.len() as u64)?;
    let image_size = image_size(conn, repository_id, m).await?;
    let inserted = sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, content, size, \
         artifact_type, subject_digest, annotations, created_at, image_size, config_info) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (repository_id, digest) DO NOTHING",
    )
    .bind(repository_id)
    .bind(m.digest.as_str())
    .bind(m.media_type)
    .bind(m.content)
    .bind(size)
    .bind(m.artifact_type)
    .bind(m.subject.map(Digest::as_str))
    .bind(annotations_to_db(m.annotations)?)
    .bind(m.now)
    .bind(image_size)
    .bind(m.config_info)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }

    let blobs = m.blobs.iter().map(|(digest, _)| (digest, "blob"));
    let children = m.manifests.iter().map(|(digest, _)| (digest, "manifest"));
    for (target, kind) in blobs.chain(children) {
        // A manifest may list the same blob twice (an empty layer, say): one row suffices.
        sqlx::query(
            "INSERT INTO manifest_references \
             (repository_id, manifest_digest, target_digest, kind) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(repository_id)
        .bind(m.digest.as_str())
        .bind(target.as_str())
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    }

    let event = NewEvent {
        at: m.now,
        kind: events::MANIFEST_PUSHED,
        repository: m.repository.as_str(),
        digest: Some(m.digest.as_str()),
        tag: None,
        detail: Some(m.media_type),
    };
    events::append(conn, event).await?;
    tracing::debug!(repository = %m.repository, digest = %m.digest, "manifest stored");
    Ok(true)
}

/// The bytes an image is made of: its distinct blobs (config and layers) as declared
/// (and checked against the store), plus the image sizes of its children for an index.
async fn image_size(
    conn: &mut SqliteConnection,
    repository_id: i64,
    m: &NewManifest<'_>,
) -> Result<i64, MetaError> {
    let mut seen = std::collections::BTreeSet::new();
    let own: u64 = m
        .blobs
        .iter()
        .filter(|(digest, _)| seen.insert(digest))
        .map(|(_, size)| *size)
        .sum();
    let mut total = store::size_to_db(own)?;
    for (child, _) in m.manifests {
        let child_size: Option<i64> = sqlx::query_scalar(
            "SELECT image_size FROM manifests WHERE repository_id = ?1 AND digest = ?2",
        )
        .bind(repository_id)
        .bind(child.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        total = total.saturating_add(child_size.unwrap_or(0));
    }
    Ok(total)
}

/// A tag to create or move to a manifest already stored in its repository.
pub(crate) struct TagChange<'a> {
    pub(crate) repository: &'a RepositoryName,
    pub(crate) repository_id: i64,
    pub(crate) tag: &'a Tag,
    pub(crate) digest: &'a Digest,
    pub(crate) now: i64,
}

/// Creates the tag or moves it to the manifest; returns its previous target.
///
/// A tag that would move is refused when it is write-locked or immutable under its
/// repository's tag mutability; pointing it where it already points always passes.
pub(crate) async fn point_tag(
    conn: &mut SqliteConnection,
    change: &TagChange<'_>,
) -> Result<Option<Digest>, MetaError> {
    let TagChange {
        repository,
        repository_id,
        tag,
        digest,
        now,
    } = *change;
    let previous: Option<(String, bool)> = sqlx::query_as(
        "SELECT manifest_digest, write_enabled FROM tags WHERE repository_id = ?1 AND name = ?2",
    )
    .bind(repository_id)
    .bind(tag.as_str())
    .fetch_optional(&mut *conn)
    .await?;

    match &previous {
        Some((previous, _)) if previous == digest.as_str() => {}
        Some((previous, writable)) => {
            if !writable {
                return Err(MetaError::Locked {
                    item: Locked::Tag {
                        repository: repository.to_string(),
                        tag: tag.to_string(),
                    },
                    lock: Lock::Write,
                });
            }
            let rule = repositories::mutability_rule(conn, repository_id).await?;
            if rule.is_immutable(tag.as_str()) {
                return Err(MetaError::TagImmutable {
                    repository: repository.to_string(),
                    tag: tag.to_string(),
                    mutability: rule.mutability,
                    current: store::digest_from_db(previous)?,
                });
            }
            sqlx::query(
                "UPDATE tags SET manifest_digest = ?3, updated_at = ?4 \
                 WHERE repository_id = ?1 AND name = ?2",
            )
            .bind(repository_id)
            .bind(tag.as_str())
            .bind(digest.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query(
                "INSERT INTO tags (repository_id, name, manifest_digest, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )
            .bind(repository_id)
            .bind(tag.as_str())
            .bind(digest.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }

    let previous = previous.map(|(digest, _)| digest);
    if previous.as_deref() != Some(digest.as_str()) {
        let event = NewEvent {
            at: now,
            kind: events::TAG_UPDATED,
            repository: repository.as_str(),
            digest: Some(digest.as_str()),
            tag: Some(tag.as_str()),
            detail: previous.as_deref(),
        };
        events::append(conn, event).await?;
        tracing::debug!(repository = %repository, tag = %tag, digest = %digest, "tag set");
    }
    previous.as_deref().map(store::digest_from_db).transpose()
}

async fn delete_manifest_tx(
    conn: &mut SqliteConnection,
    repo: &RepositoryName,
    digest: &Digest,
    now: i64,
) -> Result<bool, MetaError> {
    let Some(repository_id) = store::repository_id(conn, repo.as_str()).await? else {
        return Ok(false);
    };
    let locks: Option<(bool, bool)> = sqlx::query_as(
        "SELECT write_enabled, delete_enabled FROM manifests \
         WHERE repository_id = ?1 AND digest = ?2",
    )
    .bind(repository_id)
    .bind(digest.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((write_enabled, delete_enabled)) = locks else {
        return Ok(false);
    };
    repositories::check_repository_deletable(conn, repository_id, repo.as_str()).await?;
    let manifest_lock = Attributes::from_db(write_enabled, delete_enabled, true, true);
    if let Some(lock) = manifest_lock.delete_lock() {
        return Err(MetaError::Locked {
            item: Locked::Manifest {
                repository: repo.to_string(),
                digest: digest.clone(),
            },
            lock,
        });
    }
    crate::tags::check_tags_deletable(conn, repository_id, repo, digest).await?;
    let tags: Vec<String> = sqlx::query_scalar(
        "DELETE FROM tags WHERE repository_id = ?1 AND manifest_digest = ?2 RETURNING name",
    )
    .bind(repository_id)
    .bind(digest.as_str())
    .fetch_all(&mut *conn)
    .await?;
    // References go with the row (ON DELETE CASCADE), and so does its subject index entry.
    let removed = sqlx::query("DELETE FROM manifests WHERE repository_id = ?1 AND digest = ?2")
        .bind(repository_id)
        .bind(digest.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if removed == 0 {
        return Ok(false);
    }

    for tag in &tags {
        let event = NewEvent {
            at: now,
            kind: events::TAG_DELETED,
            repository: repo.as_str(),
            digest: Some(digest.as_str()),
            tag: Some(tag),
            detail: None,
        };
        events::append(conn, event).await?;
    }
    let event = NewEvent {
        at: now,
        kind: events::MANIFEST_DELETED,
        repository: repo.as_str(),
        digest: Some(digest.as_str()),
        tag: None,
        detail: None,
    };
    events::append(conn, event).await?;
    tracing::debug!(repository = %repo, digest = %digest, tags = tags.len(), "manifest deleted");
    Ok(true)
}

/// Annotations are stored as a JSON object, or NULL when there are none.
fn annotations_to_db(annotations: &BTreeMap<String, String>) -> Result<Option<String>, MetaError> {
    if annotations.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(annotations)
        .map(Some)
        .map_err(|err| MetaError::Corrupt(format!("annotations cannot be encoded: {err}")))
}

fn annotations_from_db(text: Option<&str>) -> Result<BTreeMap<String, String>, MetaError> {
    match text {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|err| MetaError::Corrupt(format!("stored annotations: {err}"))),
    }
}

/// The column a manifest lookup reads besides digest and media type.
#[derive(Clone, Copy)]
enum ManifestColumn {
    Content,
    Size,
}

/// The lookup by tag, reading `m.<column>` besides digest and media type, and which
/// `read_enabled` is off (the [`ReadLock`] code).
macro_rules! by_tag {
    ($column:literal) => {
        concat!(
            "SELECT m.digest, m.media_type, m.",
            $column,
            ", CASE WHEN r.read_enabled = 0 THEN 1 WHEN t.read_enabled = 0 THEN 2 \
             WHEN m.read_enabled = 0 THEN 3 ELSE 0 END \
             FROM repositories r JOIN tags t ON t.repository_id = r.id JOIN manifests m \
             ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
             WHERE r.name = ?1 AND t.name = ?2"
        )
    };
}

/// The lookup by digest, reading `m.<column>` besides digest and media type, and which
/// `read_enabled` is off.
macro_rules! by_digest {
    ($column:literal) => {
        concat!(
            "SELECT m.digest, m.media_type, m.",
            $column,
            ", CASE WHEN r.read_enabled = 0 THEN 1 WHEN m.read_enabled = 0 THEN 3 ELSE 0 END \
             FROM repositories r JOIN manifests m ON m.repository_id = r.id \
             WHERE r.name = ?1 AND m.digest = ?2"
        )
    };
}

impl ManifestColumn {
    /// Static SQL per case, so sqlx's per-connection statement cache keeps each prepared.
    fn sql(self, reference: &Reference) -> &'static str {
        match (self, reference) {
            (ManifestColumn::Content, Reference::Tag(_)) => by_tag!("content"),
            (ManifestColumn::Size, Reference::Tag(_)) => by_tag!("size"),
            (ManifestColumn::Content, Reference::Digest(_)) => by_digest!("content"),
            (ManifestColumn::Size, Reference::Digest(_)) => by_digest!("size"),
        }
    }
}
