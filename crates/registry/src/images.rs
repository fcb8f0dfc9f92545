//! Tags and images as the management API sees them: detailed listings, descriptions in
//! ECR's shape (sizes, platforms, labels), changeable attributes, untagging, deleting,
//! and tagging an existing image, within its repository or into another one.
//!
//! Copying into another repository links the source's blobs instead of copying bytes and
//! stores each manifest with the same checks as a push, children before their index, so
//! the copy is never visible half made.

use berth_meta::policy::AttributesPatch;
use berth_meta::{
    ImageOrder, ImagePosition, ImageRecord, TagOrder, TagPosition, TagRecord, TagStatus,
};
use berth_oci::{ConfigSummary, Digest, Manifest, ManifestKind, Reference, RepositoryName, Tag};

use crate::repositories::name_unknown;
use crate::{now_millis, Registry, RegistryError};

/// One platform of an index: the child manifest for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformEntry {
    pub digest: Digest,
    pub media_type: String,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// An image with what its manifest and configuration tell about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageDescription {
    pub record: ImageRecord,
    /// Platform, build time and labels from the image configuration, when it has one.
    pub config: Option<ConfigSummary>,
    /// The platforms of an index; empty for anything else.
    pub platforms: Vec<PlatformEntry>,
    /// The configuration's digest, when the manifest names one.
    pub config_digest: Option<Digest>,
    /// How many layers the manifest lists.
    pub layer_count: usize,
}

/// How deep indexes may nest in a copy; the spec sets no limit, a registry must.
const MAX_COPY_DEPTH: usize = 8;

impl Registry {
    /// Up to `limit` listed tags of `repository` in `order`, strictly after `after`.
    pub async fn tag_records(
        &self,
        repository: &RepositoryName,
        order: TagOrder,
        after: Option<&TagPosition>,
        limit: u32,
    ) -> Result<Vec<TagRecord>, RegistryError> {
        let tags = self
            .meta
            .list_tag_records(repository, order, after, limit)
            .await?;
        if tags.is_empty() && !self.meta.repository_exists(repository).await? {
            return Err(name_unknown(repository));
        }
        Ok(tags)
    }

    /// The tag `tag` of `repository`.
    pub async fn tag_record(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
    ) -> Result<TagRecord, RegistryError> {
        self.meta
            .tag_record(repository, tag)
            .await?
            .ok_or_else(|| tag_unknown(repository, tag))
    }

    /// Changes a tag's attributes and returns it as it now is.
    pub async fn update_tag_attributes(
        &self,
        repository: &RepositoryName,
        tag: &Tag,
        patch: AttributesPatch,
    ) -> Result<TagRecord, RegistryError> {
        self.tag_record(repository, tag).await?;
        Ok(self
            .meta
            .update_tag_attributes(repository, tag, patch)
            .await?)
    }

    /// Removes a tag; the image it pointed at stays.
    pub async fn untag(&self, repository: &RepositoryName, tag: &Tag) -> Result<(), RegistryError> {
        if self.meta.delete_tag(repository, tag, now_millis()).await? {
            Ok(())
        } else {
            Err(tag_unknown(repository, tag))
        }
    }

    /// Points `target` in `target_repository` at the image `source` names in
    /// `source_repository`, copying the image there first when the repositories differ.
    /// Returns the image's digest.
    ///
    /// Fails like a push by tag when a lock or the tag mutability refuses the move.
    pub async fn tag_image(
        &self,
        source_repository: &RepositoryName,
        source: &Reference,
        target_repository: &RepositoryName,
        target: &Tag,
    ) -> Result<Digest, RegistryError> {
        let digest = self.manifest_info(source_repository, source).await?.digest;
        if source_repository != target_repository {
            self.copy_image(source_repository, &digest, target_repository)
                .await?;
        }
        self.meta
            .set_tag(target_repository, target, &digest, now_millis())
            .await
            .map_err(|err| match err {
                berth_meta::MetaError::MissingManifest { digest } => {
                    RegistryError::ManifestUnknown {
                        repository: target_repository.to_string(),
                        reference: digest.to_string(),
                    }
                }
                other => other.into(),
            })?;
        Ok(digest)
    }

    /// Makes the manifest `digest` of `source` (with its children and blobs) present in
    /// `target`, without copying blob bytes.
    pub async fn copy_image(
        &self,
        source: &RepositoryName,
        digest: &Digest,
        target: &RepositoryName,
    ) -> Result<(), RegistryError> {
        self.copy_manifest(source, digest, target, 0).await
    }

    async fn copy_manifest(
        &self,
        source: &RepositoryName,
        digest: &Digest,
        target: &RepositoryName,
        depth: usize,
    ) -> Result<(), RegistryError> {
        if depth > MAX_COPY_DEPTH {
            return Err(RegistryError::SettingInvalid(format!(
                "image {source}@{digest} nests indexes deeper than {MAX_COPY_DEPTH} levels"
            )));
        }
        let reference = Reference::Digest(digest.clone());
        let stored = self
            .meta
            .manifest(source, &reference)
            .await?
            .ok_or_else(|| RegistryError::ManifestUnknown {
                repository: source.to_string(),
                reference: digest.to_string(),
            })?;
        let manifest = Manifest::parse(Some(&stored.media_type), &stored.content)?;
        for child in manifest.child_manifests() {
            Box::pin(self.copy_manifest(source, &child.digest, target, depth + 1)).await?;
        }
        for blob in manifest.required_blobs() {
            if !self.mount_blob(target, &blob.digest, source).await? {
                return Err(RegistryError::BlobUnknown {
                    repository: source.to_string(),
                    digest: blob.digest.clone(),
                });
            }
        }
        self.put_manifest(
            target,
            &reference,
            Some(&stored.media_type),
            &stored.content,
        )
        .await?;
        Ok(())
    }

    /// Up to `limit` listed images of `repository` in `order`, strictly after `after`,
    /// keeping those of `status`, described.
    pub async fn image_descriptions(
        &self,
        repository: &RepositoryName,
        order: ImageOrder,
        after: Option<&ImagePosition>,
        status: TagStatus,
        limit: u32,
    ) -> Result<Vec<ImageDescription>, RegistryError> {
        let records = self
            .meta
            .list_image_records(repository, order, after, status, limit)
            .await?;
        if records.is_empty() && !self.meta.repository_exists(repository).await? {
            return Err(name_unknown(repository));
        }
        let mut described = Vec::with_capacity(records.len());
        for record in records {
            described.push(self.describe(repository, record).await);
        }
        Ok(described)
    }

    /// The image `reference` names in `repository`, described, whatever its attributes.
    pub async fn image_description(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<ImageDescription, RegistryError> {
        let digest = self.image_digest(repository, reference).await?;
        let record = self
            .meta
            .image_record(repository, &digest)
            .await?
            .ok_or_else(|| image_unknown(repository, reference))?;
        Ok(self.describe(repository, record).await)
    }

    /// Changes an image's attributes and returns it as it now is.
    pub async fn update_image_attributes(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        patch: AttributesPatch,
    ) -> Result<ImageDescription, RegistryError> {
        let digest = self.image_digest(repository, reference).await?;
        let record = self
            .meta
            .update_manifest_attributes(repository, &digest, patch)
            .await?;
        Ok(self.describe(repository, record).await)
    }

    /// Deletes the image `reference` names with every tag on it; returns its digest.
    pub async fn delete_image(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<Digest, RegistryError> {
        let digest = self.image_digest(repository, reference).await?;
        if self
            .meta
            .delete_manifest(repository, &digest, now_millis())
            .await?
        {
            Ok(digest)
        } else {
            Err(image_unknown(repository, reference))
        }
    }

    /// The digest `reference` stands for, read without regard to read locks: managing
    /// an image must work while its pulls are disabled.
    async fn image_digest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<Digest, RegistryError> {
        match reference {
            Reference::Digest(digest) => Ok(digest.clone()),
            Reference::Tag(tag) => Ok(self.tag_record(repository, tag).await?.digest),
        }
    }

    async fn describe(&self, repository: &RepositoryName, record: ImageRecord) -> ImageDescription {
        let manifest = Manifest::parse(Some(&record.media_type), &record.content).ok();
        let platforms = match &manifest {
            Some(m) if m.kind == ManifestKind::Index => m
                .manifests
                .iter()
                .filter_map(|child| {
                    let platform = child.platform.as_ref()?;
                    Some(PlatformEntry {
                        digest: child.digest.clone(),
                        media_type: child.media_type.clone(),
                        os: platform.os.clone(),
                        architecture: platform.architecture.clone(),
                        variant: platform.variant.clone(),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let stored = record
            .config_info
            .as_deref()
            .and_then(|json| serde_json::from_str::<ConfigSummary>(json).ok());
        // Images stored before summaries were kept at push have none; read it now.
        let config = match (stored, &manifest) {
            (Some(summary), _) => Some(summary),
            (None, Some(m)) => self
                .config_summary(repository, m)
                .await
                .and_then(|json| serde_json::from_str(&json).ok()),
            (None, None) => None,
        };
        ImageDescription {
            config_digest: manifest
                .as_ref()
                .and_then(|m| m.config.as_ref())
                .map(|c| c.digest.clone()),
            layer_count: manifest.as_ref().map_or(0, |m| m.layers.len()),
            record,
            config,
            platforms,
        }
    }
}

fn tag_unknown(repository: &RepositoryName, tag: &Tag) -> RegistryError {
    RegistryError::ManifestUnknown {
        repository: repository.to_string(),
        reference: tag.to_string(),
    }
}

fn image_unknown(repository: &RepositoryName, reference: &Reference) -> RegistryError {
    RegistryError::ManifestUnknown {
        repository: repository.to_string(),
        reference: reference.to_string(),
    }
}
