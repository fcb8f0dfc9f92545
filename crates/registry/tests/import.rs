//! Imports from another registry, exercised over real stores with an in-memory source:
//! the whole graph of a multi-platform index with its referrers arrives byte for byte,
//! blobs the repository holds are not fetched again, NoForce refuses a tag that points
//! elsewhere before anything is copied, Force moves it, and a source that serves content
//! which does not match its digests, or an import a quota or an immutable tag refuses,
//! leaves no tag behind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_blobs::FsBlobStore;
use berth_meta::policy::{MutabilityRule, TagMutability};
use berth_meta::{MetaError, MetaStore, RepositorySettings};
use berth_oci::{Descriptor, Digest, Reference, RepositoryName, Tag};
use berth_registry::{
    ByteStream, Chunk, ImageSource, ImportMode, ImportProgress, Registry, RegistryError,
    SourceBlob, SourceManifest,
};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const SBOM: &str = "application/vnd.example.sbom";

/// A registry held in memory: what a remote registry would serve for one repository.
#[derive(Default)]
struct MemorySource {
    manifests: HashMap<String, (String, Vec<u8>)>,
    tags: HashMap<String, String>,
    blobs: HashMap<String, Vec<u8>>,
    /// Blobs fetched, by digest, to see what the import asked for.
    fetched: Mutex<Vec<String>>,
    manifest_fetches: AtomicU64,
}

impl MemorySource {
    fn add_blob(&mut self, bytes: &[u8]) -> Value {
        let digest = Digest::sha256(bytes).to_string();
        self.blobs.insert(digest.clone(), bytes.to_vec());
        json!({"mediaType": OCI_LAYER, "digest": digest, "size": bytes.len()})
    }

    fn add_manifest(&mut self, media_type: &str, value: &Value) -> Value {
        let bytes = serde_json::to_vec(value).unwrap();
        let digest = Digest::sha256(&bytes).to_string();
        self.manifests
            .insert(digest.clone(), (media_type.to_string(), bytes.clone()));
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    fn image(&mut self, seed: &str) -> Value {
        let config = format!(r#"{{"architecture":"{seed}","os":"linux"}}"#);
        let mut config = self.add_blob(config.as_bytes());
        config["mediaType"] = json!(OCI_CONFIG);
        let layer = self.add_blob(format!("layer of {seed}").as_bytes());
        self.add_manifest(
            OCI_MANIFEST,
            &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": config, "layers": [layer]}),
        )
    }

    /// An SBOM artifact about `subject`.
    fn referrer(&mut self, subject: &Value, text: &str) -> Value {
        let mut empty = self.add_blob(b"{}");
        empty["mediaType"] = json!(OCI_EMPTY);
        let layer = self.add_blob(text.as_bytes());
        self.add_manifest(
            OCI_MANIFEST,
            &json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SBOM,
                    "config": empty, "layers": [layer], "subject": subject}),
        )
    }

    fn tag(&mut self, tag: &str, descriptor: &Value) {
        self.tags.insert(
            tag.to_string(),
            descriptor["digest"].as_str().unwrap().into(),
        );
    }

    fn fetched(&self) -> Vec<String> {
        self.fetched.lock().unwrap().clone()
    }

    fn not_found(&self, what: String) -> RegistryError {
        RegistryError::SourceNotFound {
            source_name: self.name(),
            what,
        }
    }
}

#[async_trait]
impl ImageSource for MemorySource {
    fn name(&self) -> String {
        "memory/source".into()
    }

    async fn manifest(&self, reference: &Reference) -> Result<SourceManifest, RegistryError> {
        self.manifest_fetches.fetch_add(1, Ordering::Relaxed);
        let digest = match reference {
            Reference::Tag(tag) => self.tags.get(tag.as_str()).cloned(),
            Reference::Digest(digest) => Some(digest.to_string()),
        };
        let (media_type, content) = digest
            .as_ref()
            .and_then(|d| self.manifests.get(d))
            .cloned()
            .ok_or_else(|| self.not_found(format!("manifest {reference}")))?;
        Ok(SourceManifest {
            digest: digest.map(|d| Digest::parse(&d).unwrap()),
            media_type,
            content,
        })
    }

    async fn blob(&self, digest: &Digest) -> Result<SourceBlob, RegistryError> {
        self.fetched.lock().unwrap().push(digest.to_string());
        let bytes = self
            .blobs
            .get(digest.as_str())
            .cloned()
            .ok_or_else(|| self.not_found(format!("blob {digest}")))?;
        // Served in small pieces, as a network would.
        let pieces: Vec<std::io::Result<Bytes>> = bytes
            .chunks(3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Ok(SourceBlob {
            size: Some(bytes.len() as u64),
            body: Box::pin(futures_util::stream::iter(pieces)),
        })
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, RegistryError> {
        let mut found = Vec::new();
        for (digest, (media_type, content)) in &self.manifests {
            let value: Value = serde_json::from_slice(content).unwrap();
            if value["subject"]["digest"].as_str() == Some(subject.as_str()) {
                found.push(Descriptor {
                    media_type: media_type.clone(),
                    digest: Digest::parse(digest).unwrap(),
                    size: content.len() as u64,
                    urls: Vec::new(),
                    annotations: Default::default(),
                    artifact_type: value["artifactType"].as_str().map(str::to_string),
                    platform: None,
                    data: None,
                });
            }
        }
        Ok(found)
    }
}

/// The source's graph: an index of two images, an SBOM on the index, a signature on
/// the SBOM and an SBOM on the first image.
struct Fixture {
    source: MemorySource,
    index: Value,
    images: [Value; 2],
    referrers: Vec<Value>,
}

fn fixture() -> Fixture {
    let mut source = MemorySource::default();
    let amd = source.image("amd64");
    let arm = source.image("arm64");
    let index = source.add_manifest(
        OCI_INDEX,
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd, arm]}),
    );
    source.tag("v1", &index);
    let sbom = source.referrer(&index, "sbom of the index");
    let signature = source.referrer(&sbom, "signature of the sbom");
    let image_sbom = source.referrer(&amd, "sbom of amd64");
    Fixture {
        source,
        index,
        images: [amd, arm],
        referrers: vec![sbom, signature, image_sbom],
    }
}

async fn registry(dir: &tempfile::TempDir) -> Registry {
    let blobs = FsBlobStore::open(dir.path()).await.unwrap();
    let meta = MetaStore::open(&dir.path().join("berth.db")).await.unwrap();
    Registry::new(meta, Arc::new(blobs))
}

fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).unwrap()
}

fn tag(name: &str) -> Tag {
    Tag::parse(name).unwrap()
}

fn reference(text: &str) -> Reference {
    Reference::parse(text).unwrap()
}

fn digest_of(descriptor: &Value) -> Digest {
    Digest::parse(descriptor["digest"].as_str().unwrap()).unwrap()
}

async fn read_all(registry: &Registry, repository: &RepositoryName, digest: &Digest) -> Vec<u8> {
    let size = registry.blob_size(repository, digest).await.unwrap();
    let mut stream = registry.read_blob(digest, 0, size).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    bytes
}

async fn import(
    registry: &Registry,
    source: &MemorySource,
    from: &str,
    target: &str,
    tags: &[&str],
    mode: ImportMode,
) -> Result<berth_registry::Imported, RegistryError> {
    let tags: Vec<Tag> = tags.iter().map(|t| tag(t)).collect();
    let progress = Arc::new(ImportProgress::default());
    registry
        .import(
            source,
            &reference(from),
            &repo(target),
            &tags,
            mode,
            &progress,
        )
        .await
}

#[tokio::test]
async fn an_index_arrives_whole_with_its_referrers() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let fixture = fixture();
    let target = repo("mirror/app");
    let progress = Arc::new(ImportProgress::default());

    let imported = registry
        .import(
            &fixture.source,
            &reference("v1"),
            &target,
            &[tag("v1"), tag("stable")],
            ImportMode::NoForce,
            &progress,
        )
        .await
        .unwrap();

    assert_eq!(imported.digest, digest_of(&fixture.index));
    assert_eq!(imported.manifests, 6);
    let blob_count = fixture.source.blobs.len() as u64;
    assert_eq!(imported.blobs_copied, blob_count);
    assert_eq!(imported.blobs_present, 0);

    for name in ["v1", "stable"] {
        let stored = registry.manifest(&target, &reference(name)).await.unwrap();
        assert_eq!(stored.digest, imported.digest);
        assert_eq!(stored.media_type, OCI_INDEX);
    }
    for (digest, (media_type, content)) in &fixture.source.manifests {
        let stored = registry
            .manifest(&target, &reference(digest))
            .await
            .unwrap();
        assert_eq!(&stored.content, content, "manifest {digest} byte for byte");
        assert_eq!(&stored.media_type, media_type);
    }
    for (digest, bytes) in &fixture.source.blobs {
        let digest = Digest::parse(digest).unwrap();
        assert_eq!(&read_all(&registry, &target, &digest).await, bytes);
    }

    let on_index = registry
        .referrers(&target, &imported.digest, None)
        .await
        .unwrap();
    assert_eq!(on_index.len(), 1);
    assert_eq!(on_index[0].digest, digest_of(&fixture.referrers[0]));
    assert_eq!(on_index[0].artifact_type.as_deref(), Some(SBOM));
    let on_sbom = registry
        .referrers(&target, &on_index[0].digest, None)
        .await
        .unwrap();
    assert_eq!(on_sbom[0].digest, digest_of(&fixture.referrers[1]));
    let on_image = registry
        .referrers(&target, &digest_of(&fixture.images[0]), None)
        .await
        .unwrap();
    assert_eq!(on_image[0].digest, digest_of(&fixture.referrers[2]));

    let total: u64 = fixture.source.blobs.values().map(|b| b.len() as u64).sum();
    let done = progress.snapshot();
    assert_eq!((done.manifests_total, done.manifests_done), (6, 6));
    assert_eq!(
        (done.blobs_total, done.blobs_done),
        (blob_count, blob_count)
    );
    assert_eq!((done.bytes_total, done.bytes_done), (total, total));
    assert_eq!(imported.bytes_copied, total);
}

#[tokio::test]
async fn blobs_the_repository_holds_are_not_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let fixture = fixture();
    let target = repo("mirror/app");
    let layer = b"layer of amd64";
    let layer_digest = Digest::sha256(layer);
    let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(layer))]));
    registry
        .push_blob(
            &target,
            &layer_digest,
            Chunk {
                start: Some(0),
                length: Some(layer.len() as u64),
                body,
            },
        )
        .await
        .unwrap();

    let imported = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/app",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap();
    assert_eq!(imported.blobs_present, 1);
    let fetched = fixture.source.fetched();
    assert!(!fetched.contains(&layer_digest.to_string()), "{fetched:?}");
    assert_eq!(fetched.len() as u64, imported.blobs_copied);

    // A second import of the same image copies nothing and keeps the tag where it is.
    let again = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/app",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap();
    assert_eq!(again.blobs_copied, 0);
    assert_eq!(fixture.source.fetched().len(), fetched.len());
}

#[tokio::test]
async fn no_force_refuses_a_moved_tag_before_copying_and_force_moves_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let mut fixture = fixture();
    let other = fixture.source.image("riscv64");
    fixture.source.tag("other", &other);

    import(
        &registry,
        &fixture.source,
        "other",
        "mirror/app",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap();
    let fetched_before = fixture.source.fetched().len();

    let refused = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/app",
        &["latest", "v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap_err();
    assert!(matches!(refused, RegistryError::Conflict(_)), "{refused:?}");
    assert!(refused
        .to_string()
        .contains("tag v1 of repository mirror/app"));
    assert_eq!(
        fixture.source.fetched().len(),
        fetched_before,
        "no blob copied"
    );
    let target = repo("mirror/app");
    let index = digest_of(&fixture.index);
    assert!(matches!(
        registry
            .manifest(&target, &Reference::Digest(index.clone()))
            .await,
        Err(RegistryError::ManifestUnknown { .. })
    ));
    assert!(registry
        .manifest(&target, &reference("latest"))
        .await
        .is_err());
    assert_eq!(
        registry
            .manifest(&target, &reference("v1"))
            .await
            .unwrap()
            .digest,
        digest_of(&other)
    );

    let moved = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/app",
        &["v1"],
        ImportMode::Force,
    )
    .await
    .unwrap();
    assert_eq!(moved.digest, index);
    assert_eq!(
        registry
            .manifest(&target, &reference("v1"))
            .await
            .unwrap()
            .digest,
        index
    );
    // NoForce accepts a tag that already points at what it imports.
    import(
        &registry,
        &fixture.source,
        &index.to_string(),
        "mirror/app",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn content_that_does_not_match_its_digest_is_refused_and_leaves_no_tag() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;

    let mut fixture = fixture();
    let layer = Digest::sha256(b"layer of arm64").to_string();
    fixture
        .source
        .blobs
        .insert(layer.clone(), b"tampered bytes".to_vec());
    let err = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/a",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::SourceInvalid { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&layer), "{err}");
    let target = repo("mirror/a");
    assert!(registry.manifest(&target, &reference("v1")).await.is_err());
    assert!(matches!(
        registry
            .blob_size(&target, &Digest::parse(&layer).unwrap())
            .await,
        Err(RegistryError::BlobUnknown { .. })
    ));

    let mut fixture = self::fixture();
    let child = fixture.images[1]["digest"].as_str().unwrap().to_string();
    fixture.source.manifests.get_mut(&child).unwrap().1 = br#"{"schemaVersion":2}"#.to_vec();
    let err = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/b",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::SourceInvalid { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("hashes to"), "{err}");
    assert!(fixture.source.fetched().is_empty(), "no blob copied");
    assert!(matches!(
        registry.list_tags(&repo("mirror/b"), None, None).await,
        Err(RegistryError::NameUnknown { .. })
    ));

    let err = import(
        &registry,
        &fixture.source,
        "missing",
        "mirror/c",
        &["v1"],
        ImportMode::NoForce,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::SourceNotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn quotas_and_tag_mutability_apply_as_for_a_push() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let fixture = fixture();

    let small = RepositorySettings {
        quota_bytes: Some(20),
        ..RepositorySettings::default()
    };
    registry
        .create_repository(&repo("mirror/small"), &small)
        .await
        .unwrap();
    let err = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/small",
        &["v1"],
        ImportMode::Force,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::Refused(MetaError::QuotaExceeded { .. })),
        "{err:?}"
    );
    assert!(registry
        .manifest(&repo("mirror/small"), &reference("v1"))
        .await
        .is_err());

    let immutable = RepositorySettings {
        mutability: MutabilityRule {
            mutability: TagMutability::Immutable,
            exclusions: Vec::new(),
        },
        ..RepositorySettings::default()
    };
    let frozen = repo("mirror/frozen");
    registry
        .create_repository(&frozen, &immutable)
        .await
        .unwrap();
    let mut fixture = fixture;
    let other = fixture.source.image("s390x");
    fixture.source.tag("other", &other);
    import(
        &registry,
        &fixture.source,
        "other",
        "mirror/frozen",
        &["v1"],
        ImportMode::Force,
    )
    .await
    .unwrap();
    let fetched = fixture.source.fetched().len();
    let err = import(
        &registry,
        &fixture.source,
        "v1",
        "mirror/frozen",
        &["v1"],
        ImportMode::Force,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, RegistryError::Refused(MetaError::TagImmutable { .. })),
        "{err:?}"
    );
    assert_eq!(fixture.source.fetched().len(), fetched, "refused up front");
    assert_eq!(
        registry
            .manifest(&frozen, &reference("v1"))
            .await
            .unwrap()
            .digest,
        digest_of(&other)
    );
}
