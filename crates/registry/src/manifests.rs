//! Manifests, tags and the listings built on them: catalog, tag lists and referrers.
//!
//! A manifest push is validated here (grammar, size, digest) and committed by the metadata
//! store in one transaction that also checks every referenced blob and child manifest, so
//! a manifest is never visible while something it needs is missing.

use berth_meta::policy::{Lock, Locked, ReadLock};
use berth_meta::{MetaError, NewManifest};
use berth_oci::{
    ConfigSummary, Digest, Manifest, Reference, RepositoryName, MAX_CONFIG_SUMMARY_BYTES,
    MAX_MANIFEST_BYTES,
};

use crate::{now_millis, ManifestInfo, Referrer, Registry, RegistryError, StoredManifest};

/// What a successful manifest push tells the client.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    pub digest: Digest,
    /// The manifest's `subject`, echoed so clients know the referrers API indexed it.
    pub subject: Option<Digest>,
}

impl Registry {
    /// Validates and stores a manifest byte for byte, tagging it when `reference` is a tag.
    pub async fn put_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        content: &[u8],
    ) -> Result<PushedManifest, RegistryError> {
        if content.len() > MAX_MANIFEST_BYTES {
            return Err(RegistryError::ManifestTooLarge {
                size: content.len(),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), content);
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        expected: expected.clone(),
                        actual,
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256(content),
        };
        let manifest = Manifest::parse(content_type, content)?;

        let blobs: Vec<(Digest, u64)> = manifest
            .required_blobs()
            .into_iter()
            .map(|d| (d.digest.clone(), d.size))
            .collect();
        let children: Vec<(Digest, u64)> = manifest
            .child_manifests()
            .iter()
            .map(|d| (d.digest.clone(), d.size))
            .collect();
        let subject = manifest.subject.as_ref().map(|s| s.digest.clone());
        let tag = match reference {
            Reference::Tag(tag) => Some(tag),
            Reference::Digest(_) => None,
        };
        let config_info = self.config_summary(repository, &manifest).await;

        let stored = self
            .meta
            .put_manifest(NewManifest {
                repository,
                digest: &digest,
                media_type: &manifest.media_type,
                content,
                artifact_type: manifest.referrer_artifact_type(),
                subject: subject.as_ref(),
                annotations: &manifest.annotations,
                blobs: &blobs,
                manifests: &children,
                tag,
                config_info: config_info.as_deref(),
                now: now_millis(),
            })
            .await;
        match stored {
            Ok(_) => Ok(PushedManifest { digest, subject }),
            Err(err) => Err(manifest_error(repository, err)),
        }
    }

    /// A manifest's bytes and media type, by tag or digest, for a pull: the pull is
    /// noted for the image's last-pull time.
    ///
    /// Fails with [`RegistryError::Refused`] when a `read_enabled` attribute is off.
    pub async fn manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        let manifest = self
            .meta
            .manifest(repository, reference)
            .await?
            .ok_or_else(|| manifest_unknown(repository, reference))?;
        if let Some(lock) = manifest.read_lock {
            return Err(read_refused(repository, reference, &manifest.digest, lock));
        }
        self.pulls.note(repository, &manifest.digest);
        Ok(manifest)
    }

    /// A manifest's digest, media type and size, without its bytes; refused like
    /// [`Registry::manifest`] and not counted as a pull.
    pub async fn manifest_info(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<ManifestInfo, RegistryError> {
        let info = self
            .meta
            .manifest_info(repository, reference)
            .await?
            .ok_or_else(|| manifest_unknown(repository, reference))?;
        match info.read_lock {
            Some(lock) => Err(read_refused(repository, reference, &info.digest, lock)),
            None => Ok(info),
        }
    }

    /// The summary of an image's configuration as stored JSON, when the manifest has an
    /// image configuration small enough to read. Listings only report it, so a config
    /// that cannot be read leaves it out instead of failing the push; the manifest's own
    /// checks report a missing config.
    pub(crate) async fn config_summary(
        &self,
        repository: &RepositoryName,
        manifest: &Manifest,
    ) -> Option<String> {
        let config = manifest.config.as_ref()?;
        if !ConfigSummary::applies_to(&config.media_type) || config.size > MAX_CONFIG_SUMMARY_BYTES
        {
            return None;
        }
        let link = self
            .meta
            .blob_link(repository, &config.digest)
            .await
            .ok()??;
        if link.size != config.size {
            return None;
        }
        let bytes = self.read_small_blob(&config.digest, link.size).await.ok()?;
        let summary = ConfigSummary::parse(&bytes)?;
        serde_json::to_string(&summary).ok()
    }

    /// Deletes by digest (the manifest and every tag on it) or by tag (only the tag).
    pub async fn delete_manifest(
        &self,
        repository: &RepositoryName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let now = now_millis();
        let deleted = match reference {
            Reference::Digest(digest) => self.meta.delete_manifest(repository, digest, now).await?,
            Reference::Tag(tag) => self.meta.delete_tag(repository, tag, now).await?,
        };
        if deleted {
            Ok(())
        } else {
            Err(manifest_unknown(repository, reference))
        }
    }

    /// Tags of a repository in lexical order, strictly after `last`, at most `limit`.
    pub async fn list_tags(
        &self,
        repository: &RepositoryName,
        last: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>, RegistryError> {
        let tags = self.meta.list_tags(repository, last, limit).await?;
        // Only an empty page can hide an unknown repository, so the common case costs
        // one query.
        if tags.is_empty() && !self.meta.repository_exists(repository).await? {
            return Err(RegistryError::NameUnknown {
                repository: repository.to_string(),
            });
        }
        Ok(tags)
    }

    /// Repository names in lexical order, strictly after `last`, at most `limit`.
    pub async fn catalog(
        &self,
        last: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>, RegistryError> {
        Ok(self.meta.list_repositories(last, limit).await?)
    }

    /// Manifests of `repository` whose subject is `subject`, optionally of one artifact
    /// type. The subject itself need not exist.
    pub async fn referrers(
        &self,
        repository: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        Ok(self
            .meta
            .referrers(repository, subject, artifact_type)
            .await?)
    }
}

/// The refusal of a pull that a `read_enabled` attribute forbids, naming where it is off.
fn read_refused(
    repository: &RepositoryName,
    reference: &Reference,
    digest: &Digest,
    lock: ReadLock,
) -> RegistryError {
    let repository = repository.to_string();
    let item = match (lock, reference) {
        (ReadLock::Repository, _) => Locked::Repository { repository },
        (ReadLock::Tag, Reference::Tag(tag)) => Locked::Tag {
            repository,
            tag: tag.to_string(),
        },
        (ReadLock::Tag | ReadLock::Manifest, _) => Locked::Manifest {
            repository,
            digest: digest.clone(),
        },
    };
    RegistryError::Refused(MetaError::Locked {
        item,
        lock: Lock::Read,
    })
}

fn manifest_unknown(repository: &RepositoryName, reference: &Reference) -> RegistryError {
    RegistryError::ManifestUnknown {
        repository: repository.to_string(),
        reference: reference.to_string(),
    }
}

/// A refused manifest commit in the domain's terms.
fn manifest_error(repository: &RepositoryName, err: MetaError) -> RegistryError {
    match err {
        MetaError::MissingBlob { digest } | MetaError::MissingManifest { digest } => {
            RegistryError::ManifestBlobUnknown {
                repository: repository.to_string(),
                digest,
            }
        }
        MetaError::SizeMismatch {
            digest,
            declared,
            actual,
        } => RegistryError::ManifestSizeMismatch {
            digest,
            declared,
            actual,
        },
        other => other.into(),
    }
}
