//! Referrers, tag and repository paging, upload sessions and the outbox.

mod common;

use std::collections::BTreeMap;

use berth_meta::{MetaError, NewManifest};
use common::{digest, manifest, repo, tag, Fixture};

#[tokio::test]
async fn referrers_by_subject_with_and_without_filter() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let subject = digest(b"subject, never pushed");
    let annotations = BTreeMap::from([("org.example.k".to_string(), "v".to_string())]);
    let referrers = [
        (b"sig".as_slice(), "application/sig"),
        (b"sbom", "application/sbom"),
    ];
    for (content, artifact_type) in referrers {
        let id = digest(content);
        let put = NewManifest {
            subject: Some(&subject),
            artifact_type: Some(artifact_type),
            annotations: &annotations,
            ..manifest(&app, &id, content)
        };
        fx.store.put_manifest(put).await.expect("referrer");
    }
    let unrelated = digest(b"plain");
    fx.store
        .put_manifest(manifest(&app, &unrelated, b"plain"))
        .await
        .expect("plain");

    let all = fx.store.referrers(&app, &subject, None).await.expect("all");
    let mut expected: Vec<_> = [digest(b"sig"), digest(b"sbom")].into();
    expected.sort();
    assert_eq!(
        all.iter().map(|r| r.digest.clone()).collect::<Vec<_>>(),
        expected
    );
    assert!(all.iter().all(|r| r.annotations == annotations));
    let sizes: Vec<_> = all.iter().map(|r| (r.digest.clone(), r.size)).collect();
    assert!(sizes.contains(&(digest(b"sig"), 3)) && sizes.contains(&(digest(b"sbom"), 4)));
    assert!(all.iter().all(|r| r.media_type == common::IMAGE));

    let sboms = fx
        .store
        .referrers(&app, &subject, Some("application/sbom"))
        .await;
    let sboms = sboms.expect("filtered");
    assert_eq!(sboms.len(), 1);
    assert_eq!(sboms[0].digest, digest(b"sbom"));
    assert_eq!(sboms[0].artifact_type.as_deref(), Some("application/sbom"));
    assert_eq!(sboms[0].size, 4);

    let none = fx
        .store
        .referrers(&app, &subject, Some("application/other"))
        .await;
    assert!(none.expect("no match").is_empty());
    let other_subject = fx.store.referrers(&app, &unrelated, None).await;
    assert!(other_subject.expect("no referrers").is_empty());
    let other_repo = fx.store.referrers(&repo("other"), &subject, None).await;
    assert!(other_repo.expect("other repo").is_empty());
}

#[tokio::test]
async fn referrer_without_annotations_has_empty_map() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let subject = digest(b"s");
    let id = digest(b"r");
    let put = NewManifest {
        subject: Some(&subject),
        ..manifest(&app, &id, b"r")
    };
    fx.store.put_manifest(put).await.expect("put");

    let found = fx
        .store
        .referrers(&app, &subject, None)
        .await
        .expect("referrers");

    assert_eq!(found.len(), 1);
    assert!(found[0].annotations.is_empty());
    assert_eq!(found[0].artifact_type, None);

    // Deleting the referrer removes it from the subject's list.
    fx.store
        .delete_manifest(&app, &id, 2)
        .await
        .expect("delete");
    assert!(fx
        .store
        .referrers(&app, &subject, None)
        .await
        .expect("after")
        .is_empty());
}

#[tokio::test]
async fn tags_page_in_byte_order() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let id = digest(b"m");
    // Upper case sorts before lower case in byte order.
    let names = ["b", "a", "B", "a1", "_x", "Z9"];
    for name in names {
        let t = tag(name);
        let put = NewManifest {
            tag: Some(&t),
            ..manifest(&app, &id, b"m")
        };
        fx.store.put_manifest(put).await.expect("put");
    }

    let all = fx.store.list_tags(&app, None, None).await.expect("all");
    assert_eq!(all, ["B", "Z9", "_x", "a", "a1", "b"]);

    let first = fx
        .store
        .list_tags(&app, None, Some(2))
        .await
        .expect("page 1");
    assert_eq!(first, ["B", "Z9"]);
    let second = fx
        .store
        .list_tags(&app, Some("Z9"), Some(2))
        .await
        .expect("page 2");
    assert_eq!(second, ["_x", "a"]);
    let last = fx
        .store
        .list_tags(&app, Some("a"), Some(10))
        .await
        .expect("page 3");
    assert_eq!(last, ["a1", "b"]);
    assert!(fx
        .store
        .list_tags(&app, Some("b"), None)
        .await
        .expect("end")
        .is_empty());
    assert!(fx
        .store
        .list_tags(&app, None, Some(0))
        .await
        .expect("zero")
        .is_empty());
    // `last` need not be an existing tag.
    assert_eq!(
        fx.store
            .list_tags(&app, Some("a0"), Some(1))
            .await
            .expect("gap"),
        ["a1"]
    );
    assert!(fx
        .store
        .list_tags(&repo("nope"), None, None)
        .await
        .expect("no repo")
        .is_empty());
}

#[tokio::test]
async fn repositories_page_in_byte_order() {
    let fx = Fixture::new().await;
    for name in ["team/b", "team/a", "alpine", "team/a/sub"] {
        fx.store
            .link_blob(&repo(name), &digest(b"x"), 1, 1)
            .await
            .expect("link");
    }

    let all = fx.store.list_repositories(None, None).await.expect("all");
    assert_eq!(all, ["alpine", "team/a", "team/a/sub", "team/b"]);
    let page = fx
        .store
        .list_repositories(Some("alpine"), Some(2))
        .await
        .expect("page");
    assert_eq!(page, ["team/a", "team/a/sub"]);
    let rest = fx
        .store
        .list_repositories(Some("team/a/sub"), Some(2))
        .await
        .expect("rest");
    assert_eq!(rest, ["team/b"]);
}

#[tokio::test]
async fn uploads_lifecycle_and_idle_listing() {
    let fx = Fixture::new().await;
    let app = repo("app");
    fx.store.create_upload("u1", &app, 100).await.expect("u1");
    fx.store.create_upload("u2", &app, 200).await.expect("u2");
    fx.store
        .create_upload("u3", &repo("other"), 300)
        .await
        .expect("u3");

    let err = fx
        .store
        .create_upload("u1", &app, 400)
        .await
        .expect_err("duplicate id");
    assert!(matches!(err, MetaError::Database(_)), "{err:?}");
    assert!(!fx.store.repository_exists(&app).await.expect("exists"));
    assert!(fx.event_kinds().await.is_empty());

    fx.store.touch_upload("u1", 500).await.expect("touch");
    fx.store
        .touch_upload("missing", 500)
        .await
        .expect("touch unknown");
    let record = fx.store.upload("u1").await.expect("get").expect("present");
    assert_eq!(record.id, "u1");
    assert_eq!(record.repository, "app");
    assert_eq!((record.created_at, record.updated_at), (100, 500));
    assert_eq!(fx.store.upload("missing").await.expect("get"), None);

    assert_eq!(
        fx.store.uploads_idle_since(350).await.expect("idle"),
        ["u2", "u3"]
    );
    assert_eq!(
        fx.store.uploads_idle_since(200).await.expect("strict"),
        Vec::<String>::new()
    );

    assert!(fx.store.delete_upload("u2").await.expect("delete"));
    assert!(!fx.store.delete_upload("u2").await.expect("again"));
    assert_eq!(
        fx.store.uploads_idle_since(1_000).await.expect("idle"),
        ["u3", "u1"]
    );
}

#[tokio::test]
async fn events_page_by_id() {
    let fx = Fixture::new().await;
    let app = repo("app");
    for i in 0..5u8 {
        fx.store
            .link_blob(&app, &digest(&[i]), 1, i64::from(i))
            .await
            .expect("link");
    }
    let latest = tag("latest");
    let id = digest(b"m");
    let put = NewManifest {
        tag: Some(&latest),
        config_info: None,
        now: 9,
        ..manifest(&app, &id, b"m")
    };
    fx.store.put_manifest(put).await.expect("put");

    let first = fx.store.events_after(0, 3).await.expect("first");
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|w| w[0].id < w[1].id));
    let rest = fx.store.events_after(first[2].id, 100).await.expect("rest");
    let kinds: Vec<_> = rest.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "blob.pushed",
            "blob.pushed",
            "manifest.pushed",
            "tag.updated"
        ]
    );
    let tagged = &rest[3];
    assert_eq!(
        (tagged.at, tagged.tag.as_deref(), tagged.detail.as_deref()),
        (9, Some("latest"), None)
    );
    assert!(fx
        .store
        .events_after(rest[3].id, 10)
        .await
        .expect("end")
        .is_empty());
    assert!(fx.store.events_after(0, 0).await.expect("zero").is_empty());
}

#[tokio::test]
async fn concurrent_writers_all_succeed() {
    let fx = Fixture::new().await;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let store = fx.store.clone();
        tasks.push(tokio::spawn(async move {
            let app = repo(&format!("repo{}", i % 4));
            let layer = digest(&i.to_be_bytes());
            store.link_blob(&app, &layer, 4, 1).await?;
            let content = format!("manifest {i}");
            let id = digest(content.as_bytes());
            let blobs = [(layer, 4)];
            let t = tag(&format!("t{i}"));
            let put = NewManifest {
                blobs: &blobs,
                tag: Some(&t),
                ..manifest(&app, &id, content.as_bytes())
            };
            store.put_manifest(put).await?;
            store.list_tags(&app, None, None).await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("write");
    }

    assert_eq!(fx.count("manifests").await, 40);
    assert_eq!(fx.count("tags").await, 40);
    assert_eq!(fx.count("events").await, 120);
}

#[tokio::test]
async fn closed_store_fails_instead_of_hanging() {
    let fx = Fixture::new().await;
    fx.store.close().await;

    let err = fx
        .store
        .repository_exists(&repo("app"))
        .await
        .expect_err("closed");
    assert!(matches!(err, MetaError::Database(_)), "{err:?}");
    let err = fx
        .store
        .link_blob(&repo("app"), &digest(b"x"), 1, 1)
        .await
        .expect_err("closed");
    assert!(matches!(err, MetaError::Database(_)), "{err:?}");
}
