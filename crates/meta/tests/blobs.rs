//! Blob links: creation, idempotence, sizes, unlinking and their events.

mod common;

use berth_meta::MetaError;
use common::{digest, repo, Fixture};

#[tokio::test]
async fn link_creates_repository_blob_and_one_event() {
    let fx = Fixture::new().await;
    let alpine = repo("library/alpine");
    let layer = digest(b"layer");

    fx.store
        .link_blob(&alpine, &layer, 5, 10)
        .await
        .expect("link");
    fx.store
        .link_blob(&alpine, &layer, 5, 20)
        .await
        .expect("relink");

    assert!(fx.store.repository_exists(&alpine).await.expect("exists"));
    assert_eq!(
        fx.store
            .linked_blob_size(&alpine, &layer)
            .await
            .expect("size"),
        Some(5)
    );
    assert_eq!(fx.store.blob_size(&layer).await.expect("size"), Some(5));
    let events = fx.store.events_after(0, 10).await.expect("events");
    assert_eq!(events.len(), 1, "relinking must not add an event");
    assert_eq!(events[0].kind, "blob.pushed");
    assert_eq!(events[0].at, 10);
    assert_eq!(events[0].repository, "library/alpine");
    assert_eq!(events[0].digest.as_deref(), Some(layer.as_str()));
    assert_eq!(events[0].detail.as_deref(), Some("5"));
}

#[tokio::test]
async fn link_is_per_repository() {
    let fx = Fixture::new().await;
    let layer = digest(b"layer");
    fx.store
        .link_blob(&repo("a"), &layer, 5, 1)
        .await
        .expect("link");

    assert_eq!(
        fx.store
            .linked_blob_size(&repo("b"), &layer)
            .await
            .expect("size"),
        None
    );
    assert_eq!(
        fx.store
            .linked_blob_size(&repo("a"), &digest(b"other"))
            .await
            .expect("size"),
        None
    );
    assert_eq!(
        fx.store.blob_size(&digest(b"other")).await.expect("size"),
        None
    );
    assert!(!fx
        .store
        .repository_exists(&repo("b"))
        .await
        .expect("exists"));
}

#[tokio::test]
async fn link_with_another_size_is_refused_and_changes_nothing() {
    let fx = Fixture::new().await;
    let layer = digest(b"layer");
    fx.store
        .link_blob(&repo("a"), &layer, 5, 1)
        .await
        .expect("link");

    let err = fx
        .store
        .link_blob(&repo("b"), &layer, 6, 2)
        .await
        .expect_err("size");

    match err {
        MetaError::SizeMismatch {
            digest,
            declared,
            actual,
        } => {
            assert_eq!(digest, layer);
            assert_eq!((declared, actual), (6, 5));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!fx
        .store
        .repository_exists(&repo("b"))
        .await
        .expect("exists"));
    assert_eq!(fx.event_kinds().await, ["blob.pushed"]);
}

#[tokio::test]
async fn huge_size_is_refused() {
    let fx = Fixture::new().await;

    let err = fx
        .store
        .link_blob(&repo("a"), &digest(b"x"), u64::MAX, 1)
        .await
        .expect_err("too large");

    assert!(matches!(err, MetaError::Corrupt(_)), "{err:?}");
    assert_eq!(fx.count("blobs").await, 0);
}

#[tokio::test]
async fn unlink_removes_only_that_link() {
    let fx = Fixture::new().await;
    let layer = digest(b"layer");
    fx.store
        .link_blob(&repo("a"), &layer, 5, 1)
        .await
        .expect("link a");
    fx.store
        .link_blob(&repo("b"), &layer, 5, 1)
        .await
        .expect("link b");

    assert!(fx
        .store
        .unlink_blob(&repo("a"), &layer, 3)
        .await
        .expect("unlink"));
    assert!(!fx
        .store
        .unlink_blob(&repo("a"), &layer, 4)
        .await
        .expect("again"));
    assert!(!fx
        .store
        .unlink_blob(&repo("zzz"), &layer, 4)
        .await
        .expect("no repo"));

    assert_eq!(
        fx.store
            .linked_blob_size(&repo("a"), &layer)
            .await
            .expect("a"),
        None
    );
    assert_eq!(
        fx.store
            .linked_blob_size(&repo("b"), &layer)
            .await
            .expect("b"),
        Some(5)
    );
    assert_eq!(fx.store.blob_size(&layer).await.expect("any"), Some(5));

    assert!(fx
        .store
        .unlink_blob(&repo("b"), &layer, 5)
        .await
        .expect("unlink b"));
    assert_eq!(
        fx.store.blob_size(&layer).await.expect("linked nowhere"),
        None
    );
    let kinds = fx.event_kinds().await;
    assert_eq!(
        kinds,
        ["blob.pushed", "blob.pushed", "blob.deleted", "blob.deleted"]
    );
}
