//! Blob reads and the upload protocol: sessions, chunks, completion, mounts.
//!
//! An upload's bytes live in blob storage; its ownership (which repository started it) lives
//! in the metadata store, so a session id is useless outside its repository. A blob becomes
//! readable in a repository only once the store has published it under its verified digest
//! and the link is committed.

use berth_blobs::BlobError;
use berth_oci::{Digest, RepositoryName};

use crate::{now_millis, ByteStream, Registry, RegistryError};

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
    pub async fn blob_size(
        &self,
        repository: &RepositoryName,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        self.meta
            .linked_blob_size(repository, digest)
            .await?
            .ok_or_else(|| RegistryError::BlobUnknown {
                repository: repository.to_string(),
                digest: digest.clone(),
            })
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
    pub async fn start_upload(&self, repository: &RepositoryName) -> Result<String, RegistryError> {
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
        let Some(size) = self.meta.linked_blob_size(from, digest).await? else {
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
        let size = self
            .blobs
            .commit_upload(id, digest)
            .await
            .map_err(|err| upload_error(repository, id, err))?;

        // The link is written only after the store made the bytes durable, so a crash
        // between the two leaves an unlinked blob for garbage collection, never a link to
        // missing bytes.
        self.meta
            .link_blob(repository, digest, size, now_millis())
            .await?;
        Ok(size)
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
