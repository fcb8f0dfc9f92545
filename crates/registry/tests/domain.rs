//! The registry's domain rules, exercised directly over real stores in a temp directory:
//! repository isolation of blobs and uploads, mounts, refused manifest pushes that leave
//! nothing behind, deletes, and the sweep of idle uploads.

use std::sync::Arc;
use std::time::Duration;

use berth_blobs::FsBlobStore;
use berth_meta::MetaStore;
use berth_oci::{Digest, Reference, RepositoryName};
use berth_registry::{ByteStream, Chunk, Registry, RegistryError};
use bytes::Bytes;

async fn registry(dir: &tempfile::TempDir) -> Registry {
    let blobs = FsBlobStore::open(dir.path()).await.unwrap();
    let meta = MetaStore::open(&dir.path().join("berth.db")).await.unwrap();
    Registry::new(meta, Arc::new(blobs))
}

fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).unwrap()
}

fn body(data: &'static [u8]) -> ByteStream {
    Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(data))]))
}

fn whole(data: &'static [u8]) -> Chunk {
    Chunk {
        start: Some(0),
        length: Some(data.len() as u64),
        body: body(data),
    }
}

/// A chunk appended wherever the upload ends, with no declared length.
fn appended(data: &'static [u8]) -> Chunk {
    Chunk {
        start: None,
        length: None,
        body: body(data),
    }
}

async fn push(registry: &Registry, repository: &RepositoryName, data: &'static [u8]) -> Digest {
    let digest = Digest::sha256(data);
    registry
        .push_blob(repository, &digest, whole(data))
        .await
        .unwrap();
    digest
}

fn image_manifest(config: &Digest, config_size: usize, layer: &Digest, size: usize) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},
"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer}","size":{size}}}]}}"#
    )
}

#[tokio::test]
async fn blobs_are_readable_only_where_pushed_or_mounted() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let (a, b) = (repo("team/a"), repo("team/b"));
    let digest = push(&registry, &a, b"layer").await;

    assert_eq!(registry.blob_size(&a, &digest).await.unwrap(), 5);
    assert!(matches!(
        registry.blob_size(&b, &digest).await,
        Err(RegistryError::BlobUnknown { .. })
    ));

    assert!(!registry
        .mount_blob(&a, &digest, &repo("nowhere"))
        .await
        .unwrap());
    assert!(registry.mount_blob(&b, &digest, &a).await.unwrap());
    assert_eq!(registry.blob_size(&b, &digest).await.unwrap(), 5);

    registry.delete_blob(&a, &digest).await.unwrap();
    assert!(registry.blob_size(&a, &digest).await.is_err());
    assert_eq!(registry.blob_size(&b, &digest).await.unwrap(), 5);
}

#[tokio::test]
async fn an_upload_belongs_to_the_repository_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let (a, b) = (repo("a"), repo("b"));
    let id = registry.start_upload(&a).await.unwrap();

    let foreign = registry.upload_size(&b, &id).await;
    assert!(matches!(foreign, Err(RegistryError::UploadUnknown { .. })));
    let chunk = appended(b"abc");
    assert!(registry.append_upload(&b, &id, chunk).await.is_err());

    let chunk = appended(b"abc");
    assert_eq!(registry.append_upload(&a, &id, chunk).await.unwrap(), 3);
    let out_of_order = Chunk {
        start: Some(1),
        length: None,
        body: body(b"x"),
    };
    let refused = registry.append_upload(&a, &id, out_of_order).await;
    assert!(matches!(
        refused,
        Err(RegistryError::ChunkOutOfOrder {
            expected: 3,
            got: 1
        })
    ));
    assert_eq!(registry.upload_size(&a, &id).await.unwrap(), 3);
}

#[tokio::test]
async fn a_digest_mismatch_stores_nothing_and_ends_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let a = repo("a");
    let id = registry.start_upload(&a).await.unwrap();
    let wrong = Digest::sha256(b"something else");
    let last = appended(b"abc");
    let refused = registry.finish_upload(&a, &id, &wrong, Some(last)).await;
    assert!(matches!(refused, Err(RegistryError::DigestMismatch { .. })));
    assert!(registry.blob_size(&a, &wrong).await.is_err());
    assert!(registry
        .blob_size(&a, &Digest::sha256(b"abc"))
        .await
        .is_err());
    assert!(registry.upload_size(&a, &id).await.is_err());
}

#[tokio::test]
async fn refused_manifests_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let a = repo("a");
    let config = push(&registry, &a, b"{}").await;
    let missing = Digest::sha256(b"never pushed");
    let tag = Reference::parse("v1").unwrap();
    let media = Some("application/vnd.oci.image.manifest.v1+json");

    let manifest = image_manifest(&config, 2, &missing, 12);
    let refused = registry
        .put_manifest(&a, &tag, media, manifest.as_bytes())
        .await;
    assert!(matches!(
        refused,
        Err(RegistryError::ManifestBlobUnknown { digest, .. }) if digest == missing
    ));

    let layer = push(&registry, &a, b"layer").await;
    let lying = image_manifest(&config, 2, &layer, 6);
    let refused = registry
        .put_manifest(&a, &tag, media, lying.as_bytes())
        .await;
    assert!(matches!(
        refused,
        Err(RegistryError::ManifestSizeMismatch {
            declared: 6,
            actual: 5,
            ..
        })
    ));
    assert!(registry.list_tags(&a, None, None).await.unwrap().is_empty());

    let good = image_manifest(&config, 2, &layer, 5);
    let pushed = registry
        .put_manifest(&a, &tag, media, good.as_bytes())
        .await
        .unwrap();
    let stored = registry.manifest(&a, &tag).await.unwrap();
    assert_eq!(stored.content, good.as_bytes());
    assert_eq!(stored.digest, pushed.digest);

    let wrong_digest = Reference::Digest(Digest::sha256(b"other"));
    let refused = registry
        .put_manifest(&a, &wrong_digest, media, good.as_bytes())
        .await;
    assert!(matches!(refused, Err(RegistryError::DigestMismatch { .. })));

    registry.delete_manifest(&a, &tag).await.unwrap();
    assert!(registry.list_tags(&a, None, None).await.unwrap().is_empty());
    let by_digest = Reference::Digest(pushed.digest);
    assert!(registry.manifest(&a, &by_digest).await.is_ok());
}

#[tokio::test]
async fn idle_uploads_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let a = repo("a");
    let id = registry.start_upload(&a).await.unwrap();
    assert_eq!(
        registry
            .purge_idle_uploads(Duration::from_secs(60))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        registry
            .purge_idle_uploads(Duration::from_millis(1))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        registry.upload_size(&a, &id).await,
        Err(RegistryError::UploadUnknown { .. })
    ));
    assert!(std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .next()
        .is_none());
}

#[tokio::test]
async fn the_sweep_leaves_an_upload_alone_while_a_request_streams_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(&dir).await;
    let a = repo("a");
    let id = registry.start_upload(&a).await.unwrap();

    // A body that sends one piece and then stalls until the test releases it, like a
    // slow client in the middle of a long PATCH.
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let slow: ByteStream = Box::pin(futures_util::stream::unfold(
        (0, Some(released)),
        |(step, gate)| async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"first")), (1, gate))),
                1 => {
                    let _ = gate?.await;
                    Some((Ok(Bytes::from_static(b"second")), (2, None)))
                }
                _ => None,
            }
        },
    ));
    let chunk = Chunk {
        start: None,
        length: None,
        body: slow,
    };
    let appending = {
        let registry = registry.clone();
        let (a, id) = (a.clone(), id.clone());
        tokio::spawn(async move { registry.append_upload(&a, &id, chunk).await })
    };

    tokio::time::sleep(Duration::from_millis(100)).await;
    let purged = registry.purge_idle_uploads(Duration::ZERO).await.unwrap();
    assert_eq!(purged, 0, "an upload in use was purged");

    release.send(()).unwrap();
    assert_eq!(appending.await.unwrap().unwrap(), 11);
    let digest = Digest::sha256(b"firstsecond");
    registry
        .finish_upload(&a, &id, &digest, None)
        .await
        .unwrap();
    assert_eq!(registry.blob_size(&a, &digest).await.unwrap(), 11);
}
