//! Blob reads and the upload protocol: sessions, chunks, completion, mounts.
//!
//! An upload's bytes live in blob storage; its ownership (which repository started it) lives
//! in the metadata store, so a session id is useless outside its repository. A blob becomes
//! readable in a repository only once the store has published it under its verified digest
//! and the link is committed. A blob whose link is refused after publishing (a quota or a
//! lock that a concurrent request changed since the check) is removed again unless some
//! repository links it, so racing uploads cannot fill the disk past a quota.

use berth_blobs::BlobError;
use berth_meta::policy::{Lock, Locked};
use berth_meta::{BlobLink, MetaError};
use berth_oci::{Digest, RepositoryName};
use futures_util::StreamExt;

use crate::{now_millis, ByteStream, Registry, RegistryError};

/// How many locks guard the publishing of blobs; a digest's lock is picked by its first
/// byte, so unrelated digests rarely wait for each other.
const PUBLISHING_STRIPES: usize = 64;

/// Locks held from publishing a blob's bytes until its link is committed or refused, so
/// that a refused upload can remove bytes it published without racing another upload of
/// the same digest.
pub(crate) struct Publishing {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Default for Publishing {
    fn default() -> Self {
        Publishing {
            stripes: (0..PUBLISHING_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }
}

impl Publishing {
    fn stripe(&self, digest: &Digest) -> &tokio::sync::Mutex<()> {
        let first = digest.hex().as_bytes().first().copied().unwrap_or(0);
        &self.stripes[usize::from(first) % PUBLISHING_STRIPES]
    }
}

/// A chunk of upload data as it arrives from a client.
pub struct Chunk {
    /// Where the client says the chunk starts; `None` appends at the current end.
    pub start: Option<u64>,
    /// How many bytes the client declared; the body must match exactly.
    pub length: Option<u64>,
    pub body: ByteStream,
}

impl Registry {
    /// Size of a blob readable in `repository`.
    ///
    /// Fails with [`RegistryError::Refused`] when the repository's `read_enabled` is off.
    pub async fn blob_size(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        let link = self
            .meta
            .blob_link(repository, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown {
                repository: repository.to_string(),
                digest: digest.clone(),
            })?;
        if !link.readable {
            return Err(RegistryError::Refused(MetaError::Locked {
                item: Locked::Repository {
                    repository: repository.to_string(),
                },
                lock: Lock::Read,
            }));
        }
        Ok(link.size)
    }

    /// Streams `length` bytes from `start` of a blob the caller has sized with
    /// [`Registry::blob_size`].
    pub async fn read_blob(
        &self,
        digest: &Digest,
        start: u64,
        length: u64,
    ) -> Result<ByteStream, RegistryError> {
        self.blobs
            .read(digest, start, length)
            .await
            .map_err(RegistryError::Storage)
    }

    /// Reads a whole blob of `size` bytes into memory; for small blobs such as image
    /// configurations.
    pub(crate) async fn read_small_blob(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut stream = self.read_blob(digest, 0, size).await?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| {
                RegistryError::Storage(BlobError::Io {
                    context: "reading a small blob",
                    source,
                })
            })?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Removes a blob from a repository. The bytes stay while other repositories link them;
    /// reclaiming unreferenced bytes is garbage collection's job.
    pub async fn delete_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if self
            .meta
            .unlink_blob(repository, digest, now_millis())
            .await?
        {
            Ok(())
        } else {
            Err(RegistryError::BlobUnknown {
                repository: repository.to_string(),
                digest: digest.clone(),
            })
        }
    }

    /// Opens an upload session in `repository` and returns its id.
    ///
    /// Fails with [`RegistryError::Refused`] when the repository is write-locked.
    pub async fn start_upload(&self, repository: &RepositoryName) -> Result<String, RegistryError> {
        self.meta
            .check_blob_admission(repository, None, None)
            .await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.blobs
            .start_upload(&id)
            .await
            .map_err(RegistryError::Storage)?;
        self.meta
            .create_upload(&id, repository, now_millis())
            .await?;
        Ok(id)
    }

    /// Bytes received so far by an upload of `repository`.
    pub async fn upload_size(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<u64, RegistryError> {
        self.owned_upload(repository, id).await?;
        self.blobs
            .upload_size(id)
            .await
            .map_err(|err| upload_error(repository, id, err))
    }

    /// Appends a chunk to an upload and returns the upload's new size.
    ///
    /// An upload grown past what a quota leaves room for is discarded and refused with
    /// [`RegistryError::Refused`] at once, rather than after the client sent the rest.
    pub async fn append_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
        chunk: Chunk,
    ) -> Result<u64, RegistryError> {
        self.owned_upload(repository, id).await?;
        // Touched before and after: the sweep of idle uploads judges by this time, and a
        // long chunk must count as activity from its first byte.
        self.meta.touch_upload(id, now_millis()).await?;
        let size = self.write_chunk(repository, id, chunk).await?;
        if let Err(refused) = self
            .meta
            .check_blob_admission(repository, None, Some(size))
            .await
        {
            self.discard_upload(id).await;
            return Err(refused.into());
        }
        self.meta.touch_upload(id, now_millis()).await?;
        Ok(size)
    }

    /// Completes an upload: appends the final chunk if any, verifies the digest, publishes
    /// the blob and links it to `repository`. Returns the blob's size.
    pub async fn finish_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
        digest: &Digest,
        last_chunk: Option<Chunk>,
    ) -> Result<u64, RegistryError> {
        self.owned_upload(repository, id).await?;
        self.meta.touch_upload(id, now_millis()).await?;
        if let Some(chunk) = last_chunk {
            self.write_chunk(repository, id, chunk).await?;
        }
        let committed = self.commit(repository, id, digest).await;
        self.meta.delete_upload(id).await?;
        committed
    }

    /// Drops an upload's bytes and session after a refusal. Failing to drop them only
    /// leaves work for the sweep of idle uploads, so the refusal is what the caller
    /// reports.
    async fn discard_upload(&self, id: &str) {
        if let Err(err) = self.blobs.cancel_upload(id).await {
            tracing::warn!(upload = id, err = %err, "discarding a refused upload failed");
        }
        if let Err(err) = self.meta.delete_upload(id).await {
            tracing::warn!(upload = id, err = %err, "forgetting a refused upload failed");
        }
    }

    /// Cancels an upload and discards its bytes.
    pub async fn cancel_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<(), RegistryError> {
        self.owned_upload(repository, id).await?;
        self.blobs
            .cancel_upload(id)
            .await
            .map_err(RegistryError::Storage)?;
        self.meta.delete_upload(id).await?;
        Ok(())
    }

    /// Pushes a whole blob in one request. The session is never recorded in the metadata
    /// store: if the process dies midway, the orphaned bytes are purged like any abandoned
    /// upload.
    pub async fn push_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        chunk: Chunk,
    ) -> Result<u64, RegistryError> {
        // A declared length lets a refusal come before the client sends the bytes.
        self.meta
            .check_blob_admission(repository, Some(digest), chunk.length)
            .await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.blobs
            .start_upload(&id)
            .await
            .map_err(RegistryError::Storage)?;
        let written = self.write_chunk(repository, &id, chunk).await;
        if let Err(err) = written {
            let _ = self.blobs.cancel_upload(&id).await;
            return Err(err);
        }
        self.commit(repository, &id, digest).await
    }

    /// Makes a blob of `from` readable in `repository` without copying bytes. Returns
    /// `false` when `from` cannot provide it, so the caller falls back to an upload.
    pub async fn mount_blob(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool, RegistryError> {
        let readable = self.meta.blob_link(from, digest).await?;
        let Some(BlobLink { size, .. }) = readable.filter(|link| link.readable) else {
            return Ok(false);
        };
        self.meta
            .link_blob(repository, digest, size, now_millis())
            .await?;
        Ok(true)
    }

    async fn owned_upload(
        &self,
        repository: &RepositoryName,
        id: &str,
    ) -> Result<(), RegistryError> {
        match self.meta.upload(id).await? {
            Some(record) if record.repository == repository.as_str() => Ok(()),
            _ => Err(RegistryError::UploadUnknown {
                repository: repository.to_string(),
                id: id.to_string(),
            }),
        }
    }

    async fn write_chunk(
        &self,
        repository: &RepositoryName,
        id: &str,
        chunk: Chunk,
    ) -> Result<u64, RegistryError> {
        let offset = match chunk.start {
            Some(start) => start,
            None => self
                .blobs
                .upload_size(id)
                .await
                .map_err(|err| upload_error(repository, id, err))?,
        };
        self.blobs
            .append_upload(id, offset, chunk.length, chunk.body)
            .await
            .map_err(|err| upload_error(repository, id, err))
    }

    async fn commit(
        &self,
        repository: &RepositoryName,
        id: &str,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        // Checked before the bytes are published so that a refused blob never reaches
        // blob storage; the link below checks again inside its transaction.
        let received = self
            .blobs
            .upload_size(id)
            .await
            .map_err(|err| upload_error(repository, id, err))?;
        if let Err(refused) = self
            .meta
            .check_blob_admission(repository, Some(digest), Some(received))
            .await
        {
            self.discard_upload(id).await;
            return Err(refused.into());
        }
        let _publishing = self.publishing.stripe(digest).lock().await;
        let size = self
            .blobs
            .commit_upload(id, digest)
            .await
            .map_err(|err| upload_error(repository, id, err))?;

        // The link is written only after the store made the bytes durable, so a crash
        // between the two leaves an unlinked blob for garbage collection, never a link to
        // missing bytes.
        if let Err(refused) = self
            .meta
            .link_blob(repository, digest, size, now_millis())
            .await
        {
            self.unpublish_unlinked(digest).await;
            return Err(refused.into());
        }
        Ok(size)
    }

    /// Removes the bytes of a blob whose link was refused, unless a repository links it.
    ///
    /// Concurrent uploads each pass the quota check before publishing and only the
    /// transaction that links them sees the others; without this, the losers' bytes
    /// would stay in blob storage, uncounted. The caller holds the digest's publishing
    /// lock, so no other upload of it can be between publishing and linking; a blob
    /// linked nowhere counts as unknown to every repository, so nothing reads it.
    async fn unpublish_unlinked(&self, digest: &Digest) {
        match self.meta.blob_size(digest).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                if let Err(err) = self.blobs.delete(digest).await {
                    tracing::warn!(digest = %digest, err = %err, "removing a refused blob failed");
                }
            }
            Err(err) => {
                tracing::warn!(digest = %digest, err = %err, "checking a refused blob's links failed");
            }
        }
    }
}

/// Translates a blob store failure during an upload into the domain's terms.
fn upload_error(repository: &RepositoryName, id: &str, err: BlobError) -> RegistryError {
    match err {
        BlobError::UploadUnknown(_) => RegistryError::UploadUnknown {
            repository: repository.to_string(),
            id: id.to_string(),
        },
        BlobError::OffsetMismatch { expected, got } => {
            RegistryError::ChunkOutOfOrder { expected, got }
        }
        BlobError::SizeMismatch { expected, actual } => RegistryError::ChunkSizeMismatch {
            declared: expected,
            actual,
        },
        BlobError::DigestMismatch { expected, actual } => {
            RegistryError::DigestMismatch { expected, actual }
        }
        BlobError::BodyInterrupted(_) => RegistryError::BodyInterrupted,
        other => RegistryError::Storage(other),
    }
}
