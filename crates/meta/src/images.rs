//! Manifests as images: detailed listings in push order with their tags, sizes and pull
//! times, their changeable attributes, and the batched recording of pulls.
//!
//! Listings walk the `manifests_by_time` index and page by (push time, digest) of the
//! last image seen. Pull times are written in batches by the caller, never on the pull
//! itself, so a manifest GET stays a single read.

use berth_oci::{Digest, RepositoryName};

use crate::error::MetaError;
use crate::policy::{Attributes, AttributesPatch};
use crate::store::{self, MetaStore};

/// The order of an image listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageOrder {
    /// Most recently pushed first.
    TimeDesc,
    /// Least recently pushed first.
    TimeAsc,
}

/// Which images a listing keeps, by whether a listed tag points at them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TagStatus {
    #[default]
    Any,
    Tagged,
    Untagged,
}

/// Where a listing stopped: the last image returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePosition {
    pub pushed_at: i64,
    pub digest: String,
}

/// A manifest with what listings report of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    pub digest: Digest,
    pub media_type: String,
    /// Bytes of the manifest itself.
    pub manifest_size: u64,
    /// Config and layers (for an index, its children's), each distinct blob once.
    pub image_size: u64,
    pub pushed_at: i64,
    /// When it was last pulled, as recorded by the last flush of pull times.
    pub last_pulled_at: Option<i64>,
    pub artifact_type: Option<String>,
    pub subject: Option<Digest>,
    /// Its listed tags, by name.
    pub tags: Vec<String>,
    /// What the image config says (a JSON object), when it was read at push.
    pub config_info: Option<String>,
    pub attributes: Attributes,
    /// The manifest bytes, for what only they tell (an index's platforms).
    pub content: Vec<u8>,
}

impl ImageRecord {
    /// The position to continue a listing after this image.
    pub fn position(&self) -> ImagePosition {
        ImagePosition {
            pushed_at: self.pushed_at,
            digest: self.digest.to_string(),
        }
    }
}

/// A manifest pull to record: repository, digest, time.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pull {
    pub repository: String,
    pub digest: String,
    pub at: i64,
}

type ImageRow = (
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    bool,
    bool,
    bool,
    bool,
    Vec<u8>,
);

const IMAGE_COLUMNS: &str = "m.digest, m.media_type, m.size, m.image_size, m.created_at, \
    m.last_pulled_at, m.artifact_type, m.subject_digest, \
    (SELECT json_group_array(t.name ORDER BY t.name) FROM tags t \
      WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest \
      AND t.list_enabled = 1), \
    m.config_info, m.write_enabled, m.delete_enabled, m.read_enabled, m.list_enabled, \
    m.content";

const IMAGE_FROM: &str =
    "FROM manifests m WHERE m.repository_id = (SELECT id FROM repositories WHERE name = ?1)";

impl MetaStore {
    /// Up to `limit` listed images of `repo` in `order`, strictly after `after`, keeping
    /// those of `status`.
    pub async fn list_image_records(
        &self,
        repo: &RepositoryName,
        order: ImageOrder,
        after: Option<&ImagePosition>,
        status: TagStatus,
        limit: u32,
    ) -> Result<Vec<ImageRecord>, MetaError> {
        let page = match order {
            ImageOrder::TimeDesc => {
                "AND (m.created_at, m.digest) < (?2, ?3) \
                 ORDER BY m.created_at DESC, m.digest DESC"
            }
            ImageOrder::TimeAsc => {
                "AND (m.created_at, m.digest) > (?2, ?3) ORDER BY m.created_at, m.digest"
            }
        };
        let tagged = "EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id \
                      AND t.manifest_digest = m.digest AND t.list_enabled = 1)";
        let filter = match status {
            TagStatus::Any => String::new(),
            TagStatus::Tagged => format!("AND {tagged}"),
            TagStatus::Untagged => format!("AND NOT {tagged}"),
        };
        let (after_time, after_digest) = match (after, order) {
            (Some(p), _) => (p.pushed_at, p.digest.as_str()),
            (None, ImageOrder::TimeDesc) => (i64::MAX, ""),
            (None, ImageOrder::TimeAsc) => (i64::MIN, ""),
        };
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} {IMAGE_FROM} AND m.list_enabled = 1 {filter} {page} \
             LIMIT ?4"
        );
        let rows: Vec<ImageRow> = sqlx::query_as(&sql)
            .bind(repo.as_str())
            .bind(after_time)
            .bind(after_digest)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(image_from_row).collect()
    }

    /// The manifest `digest` of `repo` as an image, listed or not.
    pub async fn image_record(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> Result<Option<ImageRecord>, MetaError> {
        let sql = format!("SELECT {IMAGE_COLUMNS} {IMAGE_FROM} AND m.digest = ?2");
        let row: Option<ImageRow> = sqlx::query_as(&sql)
            .bind(repo.as_str())
            .bind(digest.as_str())
            .fetch_optional(&self.reader)
            .await?;
        row.map(image_from_row).transpose()
    }

    /// Changes the attributes of a manifest and returns it as it now is.
    ///
    /// Fails with [`MetaError::NotFound`] when the manifest does not exist.
    pub async fn update_manifest_attributes(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        patch: AttributesPatch,
    ) -> Result<ImageRecord, MetaError> {
        let changed = sqlx::query(
            "UPDATE manifests SET write_enabled = COALESCE(?3, write_enabled), \
             delete_enabled = COALESCE(?4, delete_enabled), \
             read_enabled = COALESCE(?5, read_enabled), \
             list_enabled = COALESCE(?6, list_enabled) \
             WHERE repository_id = (SELECT id FROM repositories WHERE name = ?1) \
             AND digest = ?2",
        )
        .bind(repo.as_str())
        .bind(digest.as_str())
        .bind(patch.write_enabled)
        .bind(patch.delete_enabled)
        .bind(patch.read_enabled)
        .bind(patch.list_enabled)
        .execute(&self.writer)
        .await?
        .rows_affected();
        let not_found = || {
            MetaError::NotFound(format!(
                "manifest {digest} does not exist in repository {repo}"
            ))
        };
        if changed == 0 {
            return Err(not_found());
        }
        tracing::info!(repository = %repo, digest = %digest, "manifest attributes changed");
        self.image_record(repo, digest).await?.ok_or_else(not_found)
    }

    /// Records pulls in one transaction; a manifest keeps the latest time it was given.
    /// Pulls of manifests that no longer exist are ignored.
    pub async fn record_pulls(&self, pulls: &[Pull]) -> Result<(), MetaError> {
        if pulls.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut result = Ok(());
        for pull in pulls {
            let updated = sqlx::query(
                "UPDATE manifests SET last_pulled_at = MAX(COALESCE(last_pulled_at, 0), ?3) \
                 WHERE repository_id = (SELECT id FROM repositories WHERE name = ?1) \
                 AND digest = ?2",
            )
            .bind(&pull.repository)
            .bind(&pull.digest)
            .bind(pull.at)
            .execute(&mut *tx)
            .await;
            if let Err(err) = updated {
                result = Err(err.into());
                break;
            }
        }
        store::finish(tx, result).await
    }
}

fn image_from_row(row: ImageRow) -> Result<ImageRecord, MetaError> {
    let (
        digest,
        media_type,
        manifest_size,
        image_size,
        pushed_at,
        last_pulled_at,
        artifact_type,
        subject,
        tags,
        config_info,
        w,
        d,
        r,
        l,
        content,
    ) = row;
    Ok(ImageRecord {
        digest: store::digest_from_db(&digest)?,
        media_type,
        manifest_size: store::size_from_db(manifest_size)?,
        image_size: store::size_from_db(image_size)?,
        pushed_at,
        last_pulled_at,
        artifact_type,
        subject: subject.as_deref().map(store::digest_from_db).transpose()?,
        tags: serde_json::from_str(&tags)
            .map_err(|err| MetaError::Corrupt(format!("tags of {digest}: {err}")))?,
        config_info,
        attributes: Attributes::from_db(w, d, r, l),
        content,
    })
}
