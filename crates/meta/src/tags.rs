//! Tags as records: detailed listings in name or time order, pointing a tag at a stored
//! manifest, and their changeable attributes.
//!
//! Time order walks the `tags_by_time` index and pages by the position (update time,
//! name) of the last tag seen, so the newest ten of a hundred thousand tags cost ten
//! index steps. Tags whose `list_enabled` is off are left out of every listing.

use berth_oci::{Digest, RepositoryName, Tag};
use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::manifests::{self, TagChange};
use crate::policy::{Attributes, AttributesPatch, Locked};
use crate::store::{self, MetaStore};

/// The order of a tag listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagOrder {
    /// Most recently pushed or moved first.
    TimeDesc,
    /// Least recently pushed or moved first.
    TimeAsc,
    /// By name, in byte order.
    Name,
}

/// Where a listing stopped: the last tag returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagPosition {
    pub updated_at: i64,
    pub name: String,
}

/// A tag with its target, times and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagRecord {
    pub name: String,
    pub digest: Digest,
    pub created_at: i64,
    /// When it was last pushed or moved.
    pub updated_at: i64,
    pub attributes: Attributes,
    /// The media type of the manifest it points at.
    pub media_type: String,
    /// The image size of the manifest it points at.
    pub image_size: u64,
}

impl TagRecord {
    /// The position to continue a listing after this tag.
    pub fn position(&self) -> TagPosition {
        TagPosition {
            updated_at: self.updated_at,
            name: self.name.clone(),
        }
    }
}

type TagRow = (
    String,
    String,
    i64,
    i64,
    bool,
    bool,
    bool,
    bool,
    String,
    i64,
);

const TAG_COLUMNS: &str = "t.name, t.manifest_digest, t.created_at, t.updated_at, \
    t.write_enabled, t.delete_enabled, t.read_enabled, t.list_enabled, \
    m.media_type, m.image_size";

const TAG_FROM: &str = "FROM tags t JOIN manifests m \
    ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest \
    WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?1)";

impl MetaStore {
    /// Up to `limit` listed tags of `repo` in `order`, strictly after `after`.
    pub async fn list_tag_records(
        &self,
        repo: &RepositoryName,
        order: TagOrder,
        after: Option<&TagPosition>,
        limit: u32,
    ) -> Result<Vec<TagRecord>, MetaError> {
        let page = match order {
            TagOrder::Name => "AND t.name > ?3 ORDER BY t.name",
            TagOrder::TimeDesc => {
                "AND (t.updated_at, t.name) < (?2, ?3) ORDER BY t.updated_at DESC, t.name DESC"
            }
            TagOrder::TimeAsc => {
                "AND (t.updated_at, t.name) > (?2, ?3) ORDER BY t.updated_at, t.name"
            }
        };
        let (after_time, after_name) = match (after, order) {
            (Some(p), _) => (p.updated_at, p.name.as_str()),
            (None, TagOrder::TimeDesc) => (i64::MAX, ""),
            (None, _) => (i64::MIN, ""),
        };
        let sql = format!("SELECT {TAG_COLUMNS} {TAG_FROM} AND t.list_enabled = 1 {page} LIMIT ?4");
        let rows: Vec<TagRow> = sqlx::query_as(&sql)
            .bind(repo.as_str())
            .bind(after_time)
            .bind(after_name)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(tag_from_row).collect()
    }

    /// The tag `tag` of `repo`, listed or not.
    pub async fn tag_record(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<TagRecord>, MetaError> {
        let sql = format!("SELECT {TAG_COLUMNS} {TAG_FROM} AND t.name = ?2");
        let row: Option<TagRow> = sqlx::query_as(&sql)
            .bind(repo.as_str())
            .bind(tag.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.map(tag_from_row).transpose()
    }

    /// Points `tag` at the manifest `digest`, which must be stored in `repo`; returns the
    /// tag's previous target.
    ///
    /// Fails with [`MetaError::MissingManifest`] when the manifest is not there, and
    /// like a push by tag ([`MetaStore::put_manifest`]) when a lock or the tag
    /// mutability refuses the move. Appends `tag.updated` when the tag is created or
    /// moves.
    pub async fn set_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
        now: i64,
    ) -> Result<Option<Digest>, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = set_tag_tx(&mut tx, repo, tag, digest, now).await;
        store::finish(tx, result).await
    }

    /// Changes the attributes of a tag and returns it as it now is.
    ///
    /// Fails with [`MetaError::NotFound`] when the tag does not exist.
    pub async fn update_tag_attributes(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        patch: AttributesPatch,
    ) -> Result<TagRecord, MetaError> {
        let changed = sqlx::query(
            "UPDATE tags SET write_enabled = COALESCE(?3, write_enabled), \
             delete_enabled = COALESCE(?4, delete_enabled), \
             read_enabled = COALESCE(?5, read_enabled), \
             list_enabled = COALESCE(?6, list_enabled) \
             WHERE repository_id = (SELECT id FROM repositories WHERE name = ?1) AND name = ?2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .bind(patch.write_enabled)
        .bind(patch.delete_enabled)
        .bind(patch.read_enabled)
        .bind(patch.list_enabled)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(tag_not_found(repo, tag));
        }
        tracing::info!(repository = %repo, tag = %tag, "tag attributes changed");
        self.tag_record(repo, tag)
            .await?
            .ok_or_else(|| tag_not_found(repo, tag))
    }
}

fn tag_not_found(repo: &RepositoryName, tag: &Tag) -> MetaError {
    MetaError::NotFound(format!("tag {tag} does not exist in repository {repo}"))
}

fn tag_from_row(row: TagRow) -> Result<TagRecord, MetaError> {
    let (name, digest, created_at, updated_at, w, d, r, l, media_type, image_size) = row;
    Ok(TagRecord {
        name,
        digest: store::digest_from_db(&digest)?,
        created_at,
        updated_at,
        attributes: Attributes::from_db(w, d, r, l),
        media_type,
        image_size: store::size_from_db(image_size)?,
    })
}

async fn set_tag_tx(
    conn: &mut SqliteConnection,
    repo: &RepositoryName,
    tag: &Tag,
    digest: &Digest,
    now: i64,
) -> Result<Option<Digest>, MetaError> {
    let missing = || MetaError::MissingManifest {
        digest: digest.clone(),
    };
    let repository_id = store::repository_id(conn, repo.as_str())
        .await?
        .ok_or_else(missing)?;
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?2")
            .bind(repository_id)
            .bind(digest.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    stored.ok_or_else(missing)?;
    let change = TagChange {
        repository: repo,
        repository_id,
        tag,
        digest,
        now,
    };
    let previous = manifests::point_tag(conn, &change).await?;
    if previous.as_ref() != Some(digest) {
        crate::repositories::check_repository_writable(conn, repository_id, repo.as_str()).await?;
    }
    Ok(previous)
}

/// Refuses with [`MetaError::Locked`] when a tag pointing at `digest` may not be
/// deleted, naming the first such tag.
pub(crate) async fn check_tags_deletable(
    conn: &mut SqliteConnection,
    repository_id: i64,
    repo: &RepositoryName,
    digest: &Digest,
) -> Result<(), MetaError> {
    let locked: Option<(String, bool, bool)> = sqlx::query_as(
        "SELECT name, write_enabled, delete_enabled FROM tags \
         WHERE repository_id = ?1 AND manifest_digest = ?2 \
         AND (write_enabled = 0 OR delete_enabled = 0) ORDER BY name LIMIT 1",
    )
    .bind(repository_id)
    .bind(digest.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match locked {
        None => Ok(()),
        Some((tag, write, delete)) => Err(tag_delete_refused(repo, tag, write, delete)),
    }
}

/// The refusal to delete a tag whose attributes are `write` and `delete`.
pub(crate) fn tag_delete_refused(
    repo: &RepositoryName,
    tag: String,
    write: bool,
    delete: bool,
) -> MetaError {
    let lock = Attributes::from_db(write, delete, true, true)
        .delete_lock()
        .unwrap_or(crate::policy::Lock::Delete);
    MetaError::Locked {
        item: Locked::Tag {
            repository: repo.to_string(),
            tag,
        },
        lock,
    }
}
