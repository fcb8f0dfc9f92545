//! Importing an image from another registry: the whole graph under one reference (an
//! index's every platform manifest, each image's config and layers, and the referrers of
//! every manifest imported) copied into one repository and tagged there.
//!
//! The source is anything that implements [`ImageSource`]; the registry does the copying,
//! so whoever asks for an import never handles the bytes. Guarantees:
//!
//! - Everything enters through the same operations as a `/v2/` push ([`Registry::push_blob`]
//!   and [`Registry::put_manifest`]), so digests are verified, bytes are durable before
//!   they are linked, and locks, tag mutability and quotas apply exactly as for a push.
//! - Every manifest fetched is hashed and compared with the digest that named it (or that
//!   the source announced), and with the size its parent declared.
//! - Children are stored before the index that lists them, and the target tags move only
//!   after everything else is stored, so a failed import never leaves a tag pointing at
//!   an incomplete image.
//! - In [`ImportMode::NoForce`], a target tag that already points elsewhere refuses the
//!   import before anything is copied.
//! - Blobs the target repository already holds are not copied again. Blobs held only by
//!   other repositories are copied from the source rather than linked: linking them would
//!   let anyone who can name a digest (through a source they control) read a blob of a
//!   repository they have no access to.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use berth_meta::policy::{Lock, Locked};
use berth_meta::MetaError;
use berth_oci::{Descriptor, Digest, Manifest, Reference, RepositoryName, Tag, MAX_MANIFEST_BYTES};
use futures_util::{StreamExt, TryStreamExt};

use crate::{ByteStream, Chunk, Registry, RegistryError};

/// Most manifests one import copies (the top manifest, its children and referrers).
pub const MAX_IMPORT_MANIFESTS: usize = 1000;

/// How many levels of referrers are followed: the referrers of the imported manifests,
/// their referrers (a signature of an SBOM), and so on.
pub const MAX_REFERRER_DEPTH: usize = 4;

/// Blobs copied at the same time.
const PARALLEL_BLOBS: usize = 3;

/// A manifest as a source serves it.
#[derive(Clone, Debug)]
pub struct SourceManifest {
    /// The digest the source announced (`Docker-Content-Digest`), if it did.
    pub digest: Option<Digest>,
    /// The media type the source served it with.
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A blob's bytes as a source serves them.
pub struct SourceBlob {
    /// The length the source announced, if it did.
    pub size: Option<u64>,
    pub body: ByteStream,
}

/// Somewhere images can be imported from: another registry, in practice.
///
/// Failures are reported as [`RegistryError::SourceUnreachable`],
/// [`RegistryError::SourceNotFound`], [`RegistryError::SourceUnauthorized`] or
/// [`RegistryError::SourceInvalid`], each naming the source and what was asked, so the
/// person who started the import knows what to fix.
#[async_trait]
pub trait ImageSource: Send + Sync {
    /// The source for messages, e.g. `registry.example.com/team/app`.
    fn name(&self) -> String;

    /// The manifest `reference` names.
    async fn manifest(&self, reference: &Reference) -> Result<SourceManifest, RegistryError>;

    /// The bytes of a blob.
    async fn blob(&self, digest: &Digest) -> Result<SourceBlob, RegistryError>;

    /// Descriptors of the manifests whose subject is `subject`; empty when there are none.
    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, RegistryError>;
}

/// What happens to a target tag that already points at another manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMode {
    /// Move it.
    Force,
    /// Refuse the import before copying anything.
    NoForce,
}

/// Counters of an import in progress, shared with whoever watches it.
#[derive(Debug, Default)]
pub struct ImportProgress {
    manifests_total: AtomicU64,
    manifests_done: AtomicU64,
    blobs_total: AtomicU64,
    blobs_done: AtomicU64,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
}

/// The counters of an [`ImportProgress`] at one instant. Blobs the target already held
/// count as done at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    pub manifests_total: u64,
    pub manifests_done: u64,
    pub blobs_total: u64,
    pub blobs_done: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
}

impl ImportProgress {
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            manifests_total: self.manifests_total.load(Ordering::Relaxed),
            manifests_done: self.manifests_done.load(Ordering::Relaxed),
            blobs_total: self.blobs_total.load(Ordering::Relaxed),
            blobs_done: self.blobs_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
        }
    }
}

/// What an import stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The digest of the top manifest, now under every target tag.
    pub digest: Digest,
    pub media_type: String,
    /// Manifests stored, the top one, children and referrers included.
    pub manifests: u64,
    /// Blobs copied from the source.
    pub blobs_copied: u64,
    /// Blobs the repository already held.
    pub blobs_present: u64,
    /// Bytes copied from the source.
    pub bytes_copied: u64,
}

/// A manifest fetched and verified, with what it needs stored before it.
struct Fetched {
    digest: Digest,
    media_type: String,
    content: Vec<u8>,
    manifest: Manifest,
}

impl Registry {
    /// Imports the image `reference` names in `source` into `repository` under every
    /// tag of `tags` (none: stored by digest only).
    ///
    /// Fails before copying anything when the source cannot serve the graph, when
    /// `mode` is [`ImportMode::NoForce`] and a target tag points at another manifest
    /// ([`RegistryError::Conflict`]), and when a lock or the tag mutability would refuse
    /// the tags ([`RegistryError::Refused`]). A failure while copying (a quota, a broken
    /// connection) leaves blobs and untagged manifests, never a moved tag.
    pub async fn import(
        &self,
        source: &dyn ImageSource,
        reference: &Reference,
        repository: &RepositoryName,
        tags: &[Tag],
        mode: ImportMode,
        progress: &Arc<ImportProgress>,
    ) -> Result<Imported, RegistryError> {
        let top = fetch_manifest(source, reference, None).await?;
        self.preflight(repository, tags, &top.digest, mode).await?;

        let graph = self.fetch_graph(source, top).await?;
        let (top_digest, top_type, top_content) = {
            let top = &graph.manifests[0];
            (
                top.digest.clone(),
                top.media_type.clone(),
                top.content.clone(),
            )
        };
        progress
            .manifests_total
            .store(graph.manifests.len() as u64, Ordering::Relaxed);

        let (copied, present, bytes) = self
            .import_blobs(source, repository, &graph.blobs, progress)
            .await?;

        for fetched in graph.in_push_order() {
            self.put_manifest(
                repository,
                &Reference::Digest(fetched.digest.clone()),
                Some(&fetched.media_type),
                &fetched.content,
            )
            .await?;
            progress.manifests_done.fetch_add(1, Ordering::Relaxed);
        }
        for tag in tags {
            self.put_manifest(
                repository,
                &Reference::Tag(tag.clone()),
                Some(&top_type),
                &top_content,
            )
            .await?;
        }
        tracing::info!(
            repository = repository.as_str(),
            digest = top_digest.as_str(),
            manifests = graph.manifests.len(),
            blobs_copied = copied,
            bytes_copied = bytes,
            "import completed"
        );
        Ok(Imported {
            digest: top_digest,
            media_type: top_type,
            manifests: graph.manifests.len() as u64,
            blobs_copied: copied,
            blobs_present: present,
            bytes_copied: bytes,
        })
    }

    /// Refuses, before anything is copied, what the final tag moves would refuse: a
    /// write-locked repository or tag, an immutable tag, or (without force) a tag that
    /// points elsewhere. The commits check again; this only spares copying in vain.
    async fn preflight(
        &self,
        repository: &RepositoryName,
        tags: &[Tag],
        digest: &Digest,
        mode: ImportMode,
    ) -> Result<(), RegistryError> {
        self.meta
            .check_blob_admission(repository, None, None)
            .await?;
        let mut rule = None;
        for tag in tags {
            let Some(current) = self.meta.tag_record(repository, tag).await? else {
                continue;
            };
            if &current.digest == digest {
                continue;
            }
            if mode == ImportMode::NoForce {
                return Err(RegistryError::Conflict(format!(
                    "tag {tag} of repository {repository} exists and points at {}; \
                     import with force to move it, or choose another tag",
                    current.digest
                )));
            }
            if !current.attributes.write_enabled {
                return Err(RegistryError::Refused(MetaError::Locked {
                    item: Locked::Tag {
                        repository: repository.to_string(),
                        tag: tag.to_string(),
                    },
                    lock: Lock::Write,
                }));
            }
            if rule.is_none() {
                rule = self
                    .meta
                    .repository(repository)
                    .await?
                    .map(|r| r.settings.mutability);
            }
            if let Some(rule) = rule.as_ref().filter(|r| r.is_immutable(tag.as_str())) {
                return Err(RegistryError::Refused(MetaError::TagImmutable {
                    repository: repository.to_string(),
                    tag: tag.to_string(),
                    mutability: rule.mutability,
                    current: current.digest,
                }));
            }
        }
        Ok(())
    }

    /// Fetches every manifest under `top`: an index's children and the referrers of
    /// every manifest, breadth first, each once.
    async fn fetch_graph(
        &self,
        source: &dyn ImageSource,
        top: Fetched,
    ) -> Result<Graph, RegistryError> {
        let mut graph = Graph::default();
        let mut seen = HashSet::from([top.digest.clone()]);
        let mut queue: VecDeque<(Fetched, usize)> = VecDeque::from([(top, 0)]);
        while let Some((fetched, depth)) = queue.pop_front() {
            let manifest = &fetched.manifest;
            for blob in manifest.required_blobs() {
                graph.blobs.entry(blob.digest.clone()).or_insert(blob.size);
            }
            let mut next: Vec<(Descriptor, usize)> = manifest
                .child_manifests()
                .iter()
                .map(|child| (child.clone(), depth))
                .collect();
            if depth < MAX_REFERRER_DEPTH {
                let referrers = source.referrers(&fetched.digest).await?;
                next.extend(referrers.into_iter().map(|r| (r, depth + 1)));
            }
            graph.manifests.push(fetched);
            for (descriptor, depth) in next {
                if !seen.insert(descriptor.digest.clone()) {
                    continue;
                }
                if seen.len() > MAX_IMPORT_MANIFESTS {
                    return Err(RegistryError::SourceInvalid {
                        source_name: source.name(),
                        reason: format!(
                            "the image has more than {MAX_IMPORT_MANIFESTS} manifests \
                             with its referrers; import its parts separately"
                        ),
                    });
                }
                let child = fetch_manifest(
                    source,
                    &Reference::Digest(descriptor.digest.clone()),
                    Some(descriptor.size),
                )
                .await?;
                queue.push_back((child, depth));
            }
        }
        Ok(graph)
    }

    /// Copies the blobs `repository` lacks; returns (copied, already present, bytes
    /// copied).
    async fn import_blobs(
        &self,
        source: &dyn ImageSource,
        repository: &RepositoryName,
        blobs: &BTreeMap<Digest, u64>,
        progress: &Arc<ImportProgress>,
    ) -> Result<(u64, u64, u64), RegistryError> {
        progress
            .blobs_total
            .store(blobs.len() as u64, Ordering::Relaxed);
        progress
            .bytes_total
            .store(blobs.values().sum(), Ordering::Relaxed);
        let mut missing = Vec::new();
        let mut present = 0;
        for (digest, &size) in blobs {
            // A link with another size is left to the manifest commit to report.
            if self.meta.blob_link(repository, digest).await?.is_some() {
                present += 1;
                progress.blobs_done.fetch_add(1, Ordering::Relaxed);
                progress.bytes_done.fetch_add(size, Ordering::Relaxed);
            } else {
                missing.push((digest, size));
            }
        }
        let copied = missing.len() as u64;
        let bytes: u64 = missing.iter().map(|(_, size)| size).sum();
        // The futures are built before they enter the stream: a closure in the stream's
        // type would keep the whole import from being provably `Send`.
        let copies: Vec<_> = missing
            .into_iter()
            .map(|(digest, size)| self.copy_blob(source, repository, digest, size, progress))
            .collect();
        futures_util::stream::iter(copies)
            .buffer_unordered(PARALLEL_BLOBS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok((copied, present, bytes))
    }

    /// Streams one blob from the source through the push path, which verifies its
    /// digest and size and makes it durable before linking it.
    async fn copy_blob(
        &self,
        source: &dyn ImageSource,
        repository: &RepositoryName,
        digest: &Digest,
        size: u64,
        progress: &Arc<ImportProgress>,
    ) -> Result<(), RegistryError> {
        let blob = source.blob(digest).await?;
        if let Some(announced) = blob.size.filter(|&announced| announced != size) {
            return Err(RegistryError::SourceInvalid {
                source_name: source.name(),
                reason: format!(
                    "blob {digest} is {announced} bytes there, but the manifest declares {size}"
                ),
            });
        }
        // Counted as the bytes arrive, so a watcher sees a large blob advance.
        let counted = Arc::clone(progress);
        let body: ByteStream = Box::pin(blob.body.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counted
                    .bytes_done
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }));
        let chunk = Chunk {
            start: Some(0),
            length: Some(size),
            body,
        };
        self.push_blob(repository, digest, chunk)
            .await
            .map_err(|err| blob_error(source, digest, size, err))?;
        progress.blobs_done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The manifests to store, the top one first, and the blobs they need with their sizes.
#[derive(Default)]
struct Graph {
    manifests: Vec<Fetched>,
    blobs: BTreeMap<Digest, u64>,
}

impl Graph {
    /// Every manifest after the children it lists (post-order over index children);
    /// referrers need not follow their subject, but do here because they were found
    /// after it.
    fn in_push_order(&self) -> Vec<&Fetched> {
        let by_digest: BTreeMap<&Digest, &Fetched> =
            self.manifests.iter().map(|m| (&m.digest, m)).collect();
        let mut done: HashSet<&Digest> = HashSet::new();
        let mut order = Vec::with_capacity(self.manifests.len());
        for root in &self.manifests {
            // (manifest, whether its children have been pushed onto the stack)
            let mut stack = vec![(root, false)];
            while let Some((fetched, expanded)) = stack.pop() {
                if done.contains(&fetched.digest) {
                    continue;
                }
                if expanded {
                    done.insert(&fetched.digest);
                    order.push(fetched);
                    continue;
                }
                stack.push((fetched, true));
                for child in fetched.manifest.child_manifests().iter().rev() {
                    let child = by_digest.get(&child.digest);
                    if let Some(child) = child.filter(|c| !done.contains(&c.digest)) {
                        stack.push((child, false));
                    }
                }
            }
        }
        order
    }
}

/// Fetches a manifest and checks it is what was asked for: its bytes hash to the digest
/// that named it (or that the source announced), and to `size` when a parent declared one.
async fn fetch_manifest(
    source: &dyn ImageSource,
    reference: &Reference,
    size: Option<u64>,
) -> Result<Fetched, RegistryError> {
    let served = source.manifest(reference).await?;
    let invalid = |reason: String| RegistryError::SourceInvalid {
        source_name: source.name(),
        reason,
    };
    if served.content.len() > MAX_MANIFEST_BYTES {
        return Err(invalid(format!(
            "manifest {reference} is {} bytes; manifests may be at most {MAX_MANIFEST_BYTES}",
            served.content.len()
        )));
    }
    let expected = match reference {
        Reference::Digest(digest) => Some(digest),
        Reference::Tag(_) => served.digest.as_ref(),
    };
    let digest = match expected {
        Some(expected) => {
            let actual = Digest::of(expected.algorithm(), &served.content);
            if &actual != expected {
                return Err(invalid(format!(
                    "manifest {reference} was announced as {expected} but its content hashes \
                     to {actual}"
                )));
            }
            actual
        }
        None => Digest::sha256(&served.content),
    };
    if let Some(size) = size.filter(|&size| size != served.content.len() as u64) {
        return Err(invalid(format!(
            "manifest {digest} is {} bytes, but its parent declares {size}",
            served.content.len()
        )));
    }
    let manifest = Manifest::parse(Some(&served.media_type), &served.content)
        .map_err(|err| invalid(format!("manifest {reference} cannot be imported: {err}")))?;
    Ok(Fetched {
        digest,
        media_type: manifest.media_type.clone(),
        content: served.content,
        manifest,
    })
}

/// A refused blob copy in terms of the source, when the source is to blame.
fn blob_error(
    source: &dyn ImageSource,
    digest: &Digest,
    size: u64,
    err: RegistryError,
) -> RegistryError {
    let reason = match err {
        RegistryError::DigestMismatch { actual, .. } => {
            format!("blob {digest} hashes to {actual}")
        }
        RegistryError::ChunkSizeMismatch { actual, .. } => {
            format!("blob {digest} is {actual} bytes there, but the manifest declares {size}")
        }
        RegistryError::BodyInterrupted => {
            return RegistryError::SourceUnreachable {
                source_name: source.name(),
                reason: format!("the connection broke while reading blob {digest}"),
            }
        }
        other => return other,
    };
    RegistryError::SourceInvalid {
        source_name: source.name(),
        reason,
    }
}
