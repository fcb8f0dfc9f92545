//! Manifest puts (accepted and refused), reads by tag and digest, tags and deletion.

mod common;

use berth_meta::{MetaError, NewManifest};
use berth_oci::{Digest, Reference, RepositoryName};
use common::{digest, manifest, repo, tag, Fixture, INDEX};

/// Links a config and a layer to `repository` and returns them with their sizes.
async fn linked_blobs(fx: &Fixture, repository: &RepositoryName) -> Vec<(Digest, u64)> {
    let blobs = vec![(digest(b"config"), 6), (digest(b"layer"), 5)];
    for (blob, size) in &blobs {
        fx.store
            .link_blob(repository, blob, *size, 1)
            .await
            .expect("link");
    }
    blobs
}

async fn tag_times(fx: &Fixture, name: &str) -> (i64, i64) {
    let pool = fx.inspect().await;
    let times = sqlx::query_as("SELECT created_at, updated_at FROM tags WHERE name = ?1")
        .bind(name)
        .fetch_one(&pool)
        .await
        .expect("tag row");
    pool.close().await;
    times
}

#[tokio::test]
async fn put_then_get_by_tag_and_digest() {
    let fx = Fixture::new().await;
    let app = repo("team/app");
    let blobs = linked_blobs(&fx, &app).await;
    let content = br#"{"schemaVersion":2}"#;
    let id = digest(content);
    let latest = tag("latest");

    let outcome = fx
        .store
        .put_manifest(NewManifest {
            blobs: &blobs,
            tag: Some(&latest),
            ..manifest(&app, &id, content)
        })
        .await
        .expect("put");

    assert!(outcome.created);
    assert_eq!(outcome.previous_tag_target, None);
    for reference in [
        Reference::Tag(latest.clone()),
        Reference::Digest(id.clone()),
    ] {
        let stored = fx.store.manifest(&app, &reference).await.expect("get");
        let stored = stored.expect("present");
        assert_eq!(stored.digest, id);
        assert_eq!(stored.media_type, common::IMAGE);
        assert_eq!(stored.content, content);
        let info = fx
            .store
            .manifest_info(&app, &reference)
            .await
            .expect("head");
        let info = info.expect("present");
        assert_eq!((info.digest, info.size), (id.clone(), content.len() as u64));
    }
    let kinds = fx.event_kinds().await;
    assert_eq!(kinds[2..], ["manifest.pushed", "tag.updated"]);
    assert_eq!(fx.count("manifest_references").await, 2);
}

#[tokio::test]
async fn unknown_references_read_as_none() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let content = b"{}";
    let id = digest(content);
    fx.store
        .put_manifest(manifest(&app, &id, content))
        .await
        .expect("put");

    let by_tag = Reference::Tag(tag("nope"));
    let by_digest = Reference::Digest(digest(b"other"));
    assert_eq!(fx.store.manifest(&app, &by_tag).await.expect("tag"), None);
    assert_eq!(
        fx.store.manifest(&app, &by_digest).await.expect("digest"),
        None
    );
    assert_eq!(
        fx.store.manifest_info(&app, &by_tag).await.expect("tag"),
        None
    );
    let elsewhere = Reference::Digest(id.clone());
    assert_eq!(
        fx.store
            .manifest(&repo("other"), &elsewhere)
            .await
            .expect("repo"),
        None
    );
    assert_eq!(
        fx.store
            .manifest_info(&repo("other"), &elsewhere)
            .await
            .expect("repo"),
        None
    );
}

#[tokio::test]
async fn repush_is_not_created_and_adds_no_event() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let content = b"{}";
    let id = digest(content);
    let v1 = tag("v1");
    let put = NewManifest {
        tag: Some(&v1),
        ..manifest(&app, &id, content)
    };
    fx.store.put_manifest(put).await.expect("first");

    let outcome = fx.store.put_manifest(put).await.expect("second");

    assert!(!outcome.created);
    assert_eq!(outcome.previous_tag_target, Some(id.clone()));
    assert_eq!(fx.event_kinds().await, ["manifest.pushed", "tag.updated"]);
}

#[tokio::test]
async fn missing_blob_is_refused_and_changes_nothing() {
    let fx = Fixture::new().await;
    let app = repo("fresh");
    let blobs = [(digest(b"absent"), 3)];
    let content = b"{}";
    let id = digest(content);
    let latest = tag("latest");

    let err = fx
        .store
        .put_manifest(NewManifest {
            blobs: &blobs,
            tag: Some(&latest),
            ..manifest(&app, &id, content)
        })
        .await
        .expect_err("missing blob");

    assert!(
        matches!(&err, MetaError::MissingBlob { digest } if *digest == blobs[0].0),
        "{err:?}"
    );
    assert!(!fx.store.repository_exists(&app).await.expect("exists"));
    for table in ["manifests", "tags", "events", "manifest_references"] {
        assert_eq!(fx.count(table).await, 0, "table {table}");
    }
}

#[tokio::test]
async fn blob_linked_elsewhere_is_missing() {
    let fx = Fixture::new().await;
    let blobs = linked_blobs(&fx, &repo("other")).await;
    fx.store
        .link_blob(&repo("app"), &digest(b"unrelated"), 1, 1)
        .await
        .expect("link");
    let app = repo("app");
    let id = digest(b"{}");

    let put = NewManifest {
        blobs: &blobs,
        ..manifest(&app, &id, b"{}")
    };
    let err = fx
        .store
        .put_manifest(put)
        .await
        .expect_err("not linked here");

    assert!(matches!(err, MetaError::MissingBlob { .. }), "{err:?}");
    assert_eq!(fx.count("manifests").await, 0);
}

#[tokio::test]
async fn blob_size_mismatch_is_refused_and_changes_nothing() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let mut blobs = linked_blobs(&fx, &app).await;
    blobs[1].1 = 999;
    let events_before = fx.event_kinds().await.len();
    let latest = tag("latest");
    let id = digest(b"{}");

    let put = NewManifest {
        blobs: &blobs,
        tag: Some(&latest),
        ..manifest(&app, &id, b"{}")
    };
    let err = fx.store.put_manifest(put).await.expect_err("size mismatch");

    match err {
        MetaError::SizeMismatch {
            digest: d,
            declared,
            actual,
        } => {
            assert_eq!(d, blobs[1].0);
            assert_eq!((declared, actual), (999, 5));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(fx.count("manifests").await, 0);
    assert_eq!(fx.count("tags").await, 0);
    assert_eq!(fx.event_kinds().await.len(), events_before);
}

#[tokio::test]
async fn index_requires_its_children_with_their_sizes() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let child_content = b"{\"child\":1}";
    let child = digest(child_content);
    let index_content = b"{\"index\":1}";
    let index = digest(index_content);
    let children = [(child.clone(), child_content.len() as u64)];
    let put_index = NewManifest {
        media_type: INDEX,
        manifests: &children,
        ..manifest(&app, &index, index_content)
    };

    let err = fx
        .store
        .put_manifest(put_index)
        .await
        .expect_err("child missing");
    assert!(
        matches!(&err, MetaError::MissingManifest { digest } if *digest == child),
        "{err:?}"
    );

    fx.store
        .put_manifest(manifest(&app, &child, child_content))
        .await
        .expect("child");
    let wrong = [(child.clone(), 1)];
    let put_wrong = NewManifest {
        manifests: &wrong,
        ..put_index
    };
    let err = fx
        .store
        .put_manifest(put_wrong)
        .await
        .expect_err("child size");
    assert!(
        matches!(err, MetaError::SizeMismatch { declared: 1, .. }),
        "{err:?}"
    );

    let outcome = fx.store.put_manifest(put_index).await.expect("index");
    assert!(outcome.created);
    let stored = fx
        .store
        .manifest(&app, &Reference::Digest(index))
        .await
        .expect("get");
    assert_eq!(stored.expect("present").media_type, INDEX);
    assert_eq!(fx.count("manifest_references").await, 1);
}

#[tokio::test]
async fn tag_move_keeps_created_at_and_reports_previous_target() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (first, second) = (digest(b"1"), digest(b"2"));
    let latest = tag("latest");
    let put_first = NewManifest {
        tag: Some(&latest),
        config_info: None,
        now: 100,
        ..manifest(&app, &first, b"1")
    };
    fx.store.put_manifest(put_first).await.expect("first");
    assert_eq!(tag_times(&fx, "latest").await, (100, 100));

    let put_second = NewManifest {
        tag: Some(&latest),
        config_info: None,
        now: 200,
        ..manifest(&app, &second, b"2")
    };
    let outcome = fx.store.put_manifest(put_second).await.expect("second");

    assert_eq!(outcome.previous_tag_target, Some(first.clone()));
    assert_eq!(tag_times(&fx, "latest").await, (100, 200));
    let current = fx
        .store
        .manifest_info(&app, &Reference::Tag(latest.clone()))
        .await;
    assert_eq!(current.expect("head").expect("present").digest, second);
    let events = fx.store.events_after(0, 100).await.expect("events");
    let moved = events.last().expect("event");
    assert_eq!(moved.kind, "tag.updated");
    assert_eq!(moved.tag.as_deref(), Some("latest"));
    assert_eq!(moved.digest.as_deref(), Some(second.as_str()));
    assert_eq!(moved.detail.as_deref(), Some(first.as_str()));

    // Pointing the tag at the manifest it already names is not a move.
    let put_same = NewManifest {
        tag: Some(&latest),
        config_info: None,
        now: 300,
        ..manifest(&app, &second, b"2")
    };
    fx.store.put_manifest(put_same).await.expect("same");
    assert_eq!(tag_times(&fx, "latest").await, (100, 200));
    assert_eq!(
        fx.store.events_after(0, 100).await.expect("events").len(),
        events.len()
    );
}

#[tokio::test]
async fn delete_manifest_removes_its_tags_and_references() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let blobs = linked_blobs(&fx, &app).await;
    let id = digest(b"m");
    for name in ["a", "b"] {
        let t = tag(name);
        let put = NewManifest {
            blobs: &blobs,
            tag: Some(&t),
            ..manifest(&app, &id, b"m")
        };
        fx.store.put_manifest(put).await.expect("put");
    }
    let other = digest(b"other");
    let keep = tag("keep");
    let put_other = NewManifest {
        tag: Some(&keep),
        ..manifest(&app, &other, b"other")
    };
    fx.store.put_manifest(put_other).await.expect("other");
    let seen = fx.event_kinds().await.len();

    assert!(fx
        .store
        .delete_manifest(&app, &id, 50)
        .await
        .expect("delete"));
    assert!(!fx
        .store
        .delete_manifest(&app, &id, 51)
        .await
        .expect("again"));
    assert!(!fx
        .store
        .delete_manifest(&repo("nope"), &id, 51)
        .await
        .expect("no repo"));

    assert_eq!(
        fx.store
            .manifest(&app, &Reference::Digest(id))
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        fx.store.list_tags(&app, None, None).await.expect("tags"),
        ["keep"]
    );
    assert_eq!(fx.count("manifest_references").await, 0);
    let events = fx.store.events_after(0, 100).await.expect("events");
    let kinds: Vec<_> = events[seen..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["tag.deleted", "tag.deleted", "manifest.deleted"]);
    assert!(events[seen..].iter().all(|e| e.at == 50));
    // The blobs stay linked: deleting a manifest frees nothing by itself.
    assert_eq!(
        fx.store
            .linked_blob_size(&app, &blobs[0].0)
            .await
            .expect("blob"),
        Some(6)
    );
}

#[tokio::test]
async fn delete_tag_keeps_the_manifest() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let id = digest(b"m");
    let v1 = tag("v1");
    let put = NewManifest {
        tag: Some(&v1),
        ..manifest(&app, &id, b"m")
    };
    fx.store.put_manifest(put).await.expect("put");

    assert!(fx.store.delete_tag(&app, &v1, 9).await.expect("delete"));
    assert!(!fx.store.delete_tag(&app, &v1, 9).await.expect("again"));
    assert!(!fx
        .store
        .delete_tag(&repo("nope"), &v1, 9)
        .await
        .expect("no repo"));

    assert_eq!(
        fx.store
            .manifest(&app, &Reference::Tag(v1))
            .await
            .expect("tag"),
        None
    );
    assert!(fx
        .store
        .manifest(&app, &Reference::Digest(id.clone()))
        .await
        .expect("d")
        .is_some());
    let events = fx.store.events_after(0, 100).await.expect("events");
    let deleted = events.last().expect("event");
    assert_eq!(deleted.kind, "tag.deleted");
    assert_eq!(deleted.tag.as_deref(), Some("v1"));
    assert_eq!(deleted.digest.as_deref(), Some(id.as_str()));
}
