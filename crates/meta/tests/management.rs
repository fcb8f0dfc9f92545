//! The management layer of the metadata store: locks (changeable attributes), tag
//! mutability, repository and registry quotas, the counters kept by triggers, detailed
//! tag and image listings, pull times, and creating, updating and deleting repositories.
//! Every refused write is checked to have changed nothing: no row, count, setting or
//! event differs from before it.

mod common;

use berth_meta::policy::{
    Attributes, AttributesPatch, Encryption, Lock, Locked, MutabilityRule, QuotaScope, ReadLock,
    TagMutability,
};
use berth_meta::{
    BlobLink, DeletedRepository, Event, ImageOrder, ImageRecord, MetaError, NewManifest, Pull,
    PutManifestOutcome, RepositoryPatch, RepositoryRecord, RepositorySettings, TagOrder, TagRecord,
    TagStatus, Usage,
};
use berth_oci::{Digest, Reference, RepositoryName, Tag};
use common::{digest, manifest, repo, tag, Fixture, IMAGE, INDEX};

/// Links the blob made of `content` to `repository` and returns it with its size.
async fn link(
    fx: &Fixture,
    repository: &RepositoryName,
    content: &[u8],
    now: i64,
) -> (Digest, u64) {
    let blob = (digest(content), content.len() as u64);
    fx.store
        .link_blob(repository, &blob.0, blob.1, now)
        .await
        .expect("link");
    blob
}

/// Puts the image manifest `content` referencing `blobs`, under `tag` when given.
async fn try_push(
    fx: &Fixture,
    repository: &RepositoryName,
    content: &[u8],
    blobs: &[(Digest, u64)],
    tag: Option<&Tag>,
    now: i64,
) -> Result<PutManifestOutcome, MetaError> {
    let id = digest(content);
    fx.store
        .put_manifest(NewManifest {
            blobs,
            tag,
            now,
            ..manifest(repository, &id, content)
        })
        .await
}

/// Like [`try_push`], expecting success; returns the manifest's digest.
async fn push(
    fx: &Fixture,
    repository: &RepositoryName,
    content: &[u8],
    blobs: &[(Digest, u64)],
    tag: Option<&Tag>,
    now: i64,
) -> Digest {
    try_push(fx, repository, content, blobs, tag, now)
        .await
        .expect("push");
    digest(content)
}

/// Everything a refused write must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    usage: Usage,
    repositories: Vec<RepositoryRecord>,
    rows: Vec<String>,
    events: Vec<Event>,
}

/// Every row of the content tables, one string each, in a stable order.
const ROW_QUERIES: [&str; 6] = [
    "SELECT 'tag ' || repository_id || ' ' || name || ' ' || manifest_digest || ' ' || \
     created_at || ' ' || updated_at || ' ' || write_enabled || delete_enabled || \
     read_enabled || list_enabled FROM tags ORDER BY repository_id, name",
    "SELECT 'manifest ' || repository_id || ' ' || digest || ' ' || created_at || ' ' || \
     image_size || ' ' || COALESCE(last_pulled_at, '-') || ' ' || write_enabled || \
     delete_enabled || read_enabled || list_enabled FROM manifests \
     ORDER BY repository_id, digest",
    "SELECT 'reference ' || repository_id || ' ' || manifest_digest || ' ' || \
     target_digest || ' ' || kind FROM manifest_references ORDER BY 1",
    "SELECT 'link ' || repository_id || ' ' || digest FROM repository_blobs ORDER BY 1",
    "SELECT 'blob ' || digest || ' ' || size FROM blobs ORDER BY digest",
    "SELECT 'upload ' || id || ' ' || repository || ' ' || updated_at FROM uploads \
     ORDER BY id",
];

async fn snapshot(fx: &Fixture) -> Snapshot {
    let pool = fx.inspect().await;
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM repositories ORDER BY name")
        .fetch_all(&pool)
        .await
        .expect("repository names");
    let mut rows = Vec::new();
    for sql in ROW_QUERIES {
        let found: Vec<String> = sqlx::query_scalar(sql)
            .fetch_all(&pool)
            .await
            .expect("rows");
        rows.extend(found);
    }
    pool.close().await;
    let mut repositories = Vec::new();
    for name in names {
        let record = fx.store.repository(&repo(&name)).await.expect("repository");
        repositories.push(record.expect("repository row"));
    }
    Snapshot {
        usage: fx.store.usage().await.expect("usage"),
        repositories,
        rows,
        events: fx.store.events_after(0, 10_000).await.expect("events"),
    }
}

async fn assert_unchanged(fx: &Fixture, before: &Snapshot) {
    assert_eq!(&snapshot(fx).await, before, "a refused write changed state");
}

fn assert_locked(err: MetaError, item: Locked, lock: Lock) {
    match err {
        MetaError::Locked {
            item: found,
            lock: by,
        } => assert_eq!((found, by), (item, lock)),
        other => panic!("expected {item} to be locked by {lock:?}, got {other:?}"),
    }
}

fn assert_immutable(
    err: MetaError,
    repository: &str,
    tag: &str,
    mutability: TagMutability,
    current: &Digest,
) {
    match err {
        MetaError::TagImmutable {
            repository: r,
            tag: t,
            mutability: m,
            current: c,
        } => assert_eq!(
            (r.as_str(), t.as_str(), m, &c),
            (repository, tag, mutability, current)
        ),
        other => panic!("expected tag {tag} to be immutable, got {other:?}"),
    }
}

fn assert_quota(err: MetaError, scope: QuotaScope, quota: u64, used: u64, needed: u64) {
    match err {
        MetaError::QuotaExceeded {
            scope: s,
            quota: q,
            used: u,
            needed: n,
        } => assert_eq!((s, q, u, n), (scope, quota, used, needed)),
        other => panic!("expected the quota of {scope} to refuse, got {other:?}"),
    }
}

fn repository_item(repository: &str) -> Locked {
    Locked::Repository {
        repository: repository.to_string(),
    }
}

fn tag_item(repository: &str, tag: &str) -> Locked {
    Locked::Tag {
        repository: repository.to_string(),
        tag: tag.to_string(),
    }
}

fn manifest_item(repository: &str, digest: &Digest) -> Locked {
    Locked::Manifest {
        repository: repository.to_string(),
        digest: digest.clone(),
    }
}

fn write(enabled: bool) -> AttributesPatch {
    AttributesPatch {
        write_enabled: Some(enabled),
        ..AttributesPatch::default()
    }
}

fn delete(enabled: bool) -> AttributesPatch {
    AttributesPatch {
        delete_enabled: Some(enabled),
        ..AttributesPatch::default()
    }
}

fn read(enabled: bool) -> AttributesPatch {
    AttributesPatch {
        read_enabled: Some(enabled),
        ..AttributesPatch::default()
    }
}

fn list(enabled: bool) -> AttributesPatch {
    AttributesPatch {
        list_enabled: Some(enabled),
        ..AttributesPatch::default()
    }
}

async fn set_repository_attributes(
    fx: &Fixture,
    repository: &RepositoryName,
    attributes: AttributesPatch,
    now: i64,
) -> RepositoryRecord {
    let patch = RepositoryPatch {
        attributes,
        ..RepositoryPatch::default()
    };
    fx.store
        .update_repository(repository, &patch, now)
        .await
        .expect("update repository")
}

async fn set_mutability(
    fx: &Fixture,
    repository: &RepositoryName,
    mutability: TagMutability,
    exclusions: &[&str],
) -> RepositoryRecord {
    let rule = MutabilityRule {
        mutability,
        exclusions: exclusions.iter().map(|e| e.to_string()).collect(),
    };
    let patch = RepositoryPatch {
        mutability: Some(rule.clone()),
        ..RepositoryPatch::default()
    };
    let record = fx
        .store
        .update_repository(repository, &patch, 50)
        .await
        .expect("set mutability");
    assert_eq!(record.settings.mutability, rule);
    record
}

async fn set_quota(fx: &Fixture, repository: &RepositoryName, quota: Option<u64>) {
    let patch = RepositoryPatch {
        quota_bytes: Some(quota),
        ..RepositoryPatch::default()
    };
    let record = fx
        .store
        .update_repository(repository, &patch, 50)
        .await
        .expect("set quota");
    assert_eq!(record.settings.quota_bytes, quota);
}

/// What `name` points at in `repository`, if it exists.
async fn target(fx: &Fixture, repository: &RepositoryName, name: &str) -> Option<Digest> {
    let record = fx.store.tag_record(repository, &tag(name)).await;
    record.expect("tag record").map(|t| t.digest)
}

async fn record(fx: &Fixture, repository: &RepositoryName) -> RepositoryRecord {
    let found = fx.store.repository(repository).await.expect("repository");
    found.expect("repository exists")
}

/// Tag count, manifest count and linked bytes of `repository`.
async fn counts(fx: &Fixture, repository: &RepositoryName) -> (u64, u64, u64) {
    let r = record(fx, repository).await;
    (r.tag_count, r.manifest_count, r.size_bytes)
}

fn usage(blob_bytes: u64, blob_count: u64, repositories: u64, tags: u64, manifests: u64) -> Usage {
    Usage {
        blob_bytes,
        blob_count,
        repository_count: repositories,
        tag_count: tags,
        manifest_count: manifests,
        quota_bytes: None,
    }
}

/// The read lock reported by `manifest` and by `manifest_info`, which must agree.
async fn read_lock(
    fx: &Fixture,
    repository: &RepositoryName,
    reference: Reference,
) -> Option<ReadLock> {
    let full = fx.store.manifest(repository, &reference).await;
    let full = full.expect("manifest").expect("manifest exists");
    let info = fx.store.manifest_info(repository, &reference).await;
    let info = info.expect("manifest info").expect("manifest exists");
    assert_eq!(full.read_lock, info.read_lock, "lookups disagree");
    full.read_lock
}

fn by_tag(name: &str) -> Reference {
    Reference::Tag(tag(name))
}

fn by_digest(id: &Digest) -> Reference {
    Reference::Digest(id.clone())
}

async fn tag_names(
    fx: &Fixture,
    repository: &RepositoryName,
    order: TagOrder,
    limit: u32,
) -> Vec<String> {
    let records = fx
        .store
        .list_tag_records(repository, order, None, limit)
        .await;
    records
        .expect("tag records")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

/// Every listed tag of `repository` in `order`, fetched `limit` at a time, continuing
/// from the position of the last tag of each page; also returns the page sizes.
async fn page_tags(
    fx: &Fixture,
    repository: &RepositoryName,
    order: TagOrder,
    limit: u32,
) -> (Vec<String>, Vec<usize>) {
    let (mut names, mut pages) = (Vec::new(), Vec::new());
    let mut after = None;
    loop {
        let page = fx
            .store
            .list_tag_records(repository, order, after.as_ref(), limit)
            .await
            .expect("tag page");
        let Some(last) = page.last() else {
            return (names, pages);
        };
        after = Some(last.position());
        pages.push(page.len());
        names.extend(page.into_iter().map(|t| t.name));
    }
}

/// Every listed image of `repository` in `order` and `status`, fetched `limit` at a
/// time through their positions.
async fn page_images(
    fx: &Fixture,
    repository: &RepositoryName,
    order: ImageOrder,
    status: TagStatus,
    limit: u32,
) -> (Vec<Digest>, Vec<usize>) {
    let (mut digests, mut pages) = (Vec::new(), Vec::new());
    let mut after = None;
    loop {
        let page = fx
            .store
            .list_image_records(repository, order, after.as_ref(), status, limit)
            .await
            .expect("image page");
        let Some(last) = page.last() else {
            return (digests, pages);
        };
        after = Some(last.position());
        pages.push(page.len());
        digests.extend(page.into_iter().map(|i| i.digest));
    }
}

async fn image_digests(
    fx: &Fixture,
    repository: &RepositoryName,
    order: ImageOrder,
    status: TagStatus,
) -> Vec<Digest> {
    let images = fx
        .store
        .list_image_records(repository, order, None, status, 100)
        .await;
    images
        .expect("images")
        .into_iter()
        .map(|i| i.digest)
        .collect()
}

async fn image(fx: &Fixture, repository: &RepositoryName, id: &Digest) -> ImageRecord {
    let found = fx.store.image_record(repository, id).await;
    found.expect("image record").expect("image exists")
}

// Locks.

#[tokio::test]
async fn write_locked_tag_refuses_moving_but_accepts_its_own_digest() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let v1 = tag("v1");
    let first = push(&fx, &app, b"first", &[], Some(&v1), 100).await;
    let second = push(&fx, &app, b"second", &[], None, 110).await;
    let locked = fx
        .store
        .update_tag_attributes(&app, &v1, write(false))
        .await;
    let locked = locked.expect("lock tag");
    let expected = Attributes {
        write_enabled: false,
        ..Attributes::default()
    };
    assert_eq!(locked.attributes, expected);
    let before = snapshot(&fx).await;

    let err = try_push(&fx, &app, b"second", &[], Some(&v1), 200).await;
    let err = err.expect_err("move to a stored manifest");
    assert_eq!(
        err.to_string(),
        "tag app:v1 is locked: write-enabled is false, so it cannot be changed or deleted; \
         an owner can set write-enabled back to true"
    );
    assert_locked(err, tag_item("app", "v1"), Lock::Write);
    let err = try_push(&fx, &app, b"third", &[], Some(&v1), 200).await;
    assert_locked(
        err.expect_err("move to a new manifest"),
        tag_item("app", "v1"),
        Lock::Write,
    );
    let err = fx.store.set_tag(&app, &v1, &second, 200).await;
    assert_locked(
        err.expect_err("set_tag"),
        tag_item("app", "v1"),
        Lock::Write,
    );
    let err = fx.store.delete_tag(&app, &v1, 200).await;
    assert_locked(err.expect_err("delete"), tag_item("app", "v1"), Lock::Write);

    assert_unchanged(&fx, &before).await;
    assert_eq!(target(&fx, &app, "v1").await, Some(first.clone()));
    let third = fx.store.image_record(&app, &digest(b"third")).await;
    assert_eq!(third.expect("image record"), None);

    let outcome = try_push(&fx, &app, b"first", &[], Some(&v1), 300).await;
    assert_eq!(
        outcome.expect("re-push of the same digest"),
        PutManifestOutcome {
            created: false,
            previous_tag_target: Some(first.clone()),
        }
    );
    let same = fx.store.set_tag(&app, &v1, &first, 300).await;
    assert_eq!(same.expect("set_tag to the same digest"), Some(first));
    assert_unchanged(&fx, &before).await;
}

#[tokio::test]
async fn delete_locked_tag_refuses_deletes_but_moves() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let v1 = tag("v1");
    let first = push(&fx, &app, b"first", &[], Some(&v1), 100).await;
    let second = push(&fx, &app, b"second", &[], None, 110).await;
    let locked = fx
        .store
        .update_tag_attributes(&app, &v1, delete(false))
        .await;
    assert!(!locked.expect("lock tag").attributes.delete_enabled);
    let before = snapshot(&fx).await;

    let err = fx.store.delete_tag(&app, &v1, 200).await;
    assert_locked(
        err.expect_err("delete"),
        tag_item("app", "v1"),
        Lock::Delete,
    );
    let err = fx.store.delete_manifest(&app, &first, 200).await;
    assert_locked(
        err.expect_err("delete of the tag's target"),
        tag_item("app", "v1"),
        Lock::Delete,
    );
    assert_unchanged(&fx, &before).await;
    assert_eq!(target(&fx, &app, "v1").await, Some(first.clone()));

    let moved = fx.store.set_tag(&app, &v1, &second, 200).await;
    assert_eq!(moved.expect("set_tag"), Some(first.clone()));
    let outcome = try_push(&fx, &app, b"third", &[], Some(&v1), 300).await;
    assert_eq!(
        outcome.expect("push by tag").previous_tag_target,
        Some(second)
    );
    let third = digest(b"third");
    assert_eq!(target(&fx, &app, "v1").await, Some(third.clone()));

    let before = snapshot(&fx).await;
    let err = fx.store.delete_manifest(&app, &third, 400).await;
    assert_locked(
        err.expect_err("new target"),
        tag_item("app", "v1"),
        Lock::Delete,
    );
    assert_unchanged(&fx, &before).await;
    let freed = fx.store.delete_manifest(&app, &first, 400).await;
    assert!(freed.expect("old target is no longer tagged"));
}

#[tokio::test]
async fn locked_manifest_refuses_delete() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let a = push(&fx, &app, b"a", &[], Some(&tag("a")), 100).await;
    let b = push(&fx, &app, b"b", &[], None, 110).await;
    let locked = fx
        .store
        .update_manifest_attributes(&app, &a, write(false))
        .await;
    assert!(!locked.expect("lock a").attributes.write_enabled);
    let locked = fx
        .store
        .update_manifest_attributes(&app, &b, delete(false))
        .await;
    let locked = locked.expect("lock b").attributes;
    assert_eq!((locked.write_enabled, locked.delete_enabled), (true, false));
    let before = snapshot(&fx).await;

    let err = fx.store.delete_manifest(&app, &a, 200).await;
    assert_locked(err.expect_err("a"), manifest_item("app", &a), Lock::Write);
    let err = fx.store.delete_manifest(&app, &b, 200).await;
    assert_locked(err.expect_err("b"), manifest_item("app", &b), Lock::Delete);
    assert_unchanged(&fx, &before).await;

    let unknown = digest(b"never pushed");
    let err = fx
        .store
        .update_manifest_attributes(&app, &unknown, write(false))
        .await;
    assert!(matches!(err, Err(MetaError::NotFound(_))), "{err:?}");
    let err = fx
        .store
        .update_tag_attributes(&app, &tag("absent"), write(false))
        .await;
    assert!(matches!(err, Err(MetaError::NotFound(_))), "{err:?}");
    let err = fx
        .store
        .update_tag_attributes(&repo("ghost"), &tag("a"), write(false))
        .await;
    assert!(matches!(err, Err(MetaError::NotFound(_))), "{err:?}");
    assert_unchanged(&fx, &before).await;

    let unlocked = fx
        .store
        .update_manifest_attributes(&app, &a, write(true))
        .await;
    assert_eq!(unlocked.expect("unlock").attributes, Attributes::default());
    assert!(fx.store.delete_manifest(&app, &a, 300).await.expect("a"));
}

#[tokio::test]
async fn delete_manifest_refuses_while_any_of_its_tags_is_locked() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (a, b) = (tag("a"), tag("b"));
    let m = push(&fx, &app, b"m", &[], Some(&a), 100).await;
    push(&fx, &app, b"m", &[], Some(&b), 110).await;
    let locked = fx.store.update_tag_attributes(&app, &b, write(false)).await;
    locked.expect("lock b");
    let before = snapshot(&fx).await;

    let err = fx.store.delete_manifest(&app, &m, 200).await;

    assert_locked(err.expect_err("delete"), tag_item("app", "b"), Lock::Write);
    assert_unchanged(&fx, &before).await;
    assert_eq!(target(&fx, &app, "a").await, Some(m.clone()));
    assert_eq!(target(&fx, &app, "b").await, Some(m));
}

#[tokio::test]
async fn write_locked_repository_refuses_new_blob_links() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (layer, size) = link(&fx, &app, b"layer", 10).await;
    let locked = set_repository_attributes(&fx, &app, write(false), 20).await;
    assert!(!locked.attributes.write_enabled);
    let before = snapshot(&fx).await;
    let fresh = digest(b"fresh");

    let err = fx.store.link_blob(&app, &fresh, 5, 30).await;

    assert_locked(
        err.expect_err("new link"),
        repository_item("app"),
        Lock::Write,
    );
    assert_unchanged(&fx, &before).await;
    let linked = fx.store.linked_blob_size(&app, &fresh).await;
    assert_eq!(linked.expect("linked size"), None);
    fx.store
        .link_blob(&app, &layer, size, 30)
        .await
        .expect("linking an already linked blob changes nothing");
    assert_unchanged(&fx, &before).await;
}

#[tokio::test]
async fn write_locked_repository_refuses_new_manifests_and_tags_but_not_repushes() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (v1, v2) = (tag("v1"), tag("v2"));
    let blobs = [link(&fx, &app, b"layer", 10).await];
    let m = push(&fx, &app, b"m", &blobs, Some(&v1), 100).await;
    let n = push(&fx, &app, b"n", &[], None, 110).await;
    let locked = set_repository_attributes(&fx, &app, write(false), 150).await;
    assert!(!locked.attributes.write_enabled);
    assert_eq!(locked.updated_at, 150);
    let before = snapshot(&fx).await;
    let refused = |err: Result<_, MetaError>, what: &str| match err {
        Ok(value) => panic!("{what} was accepted: {value:?}"),
        Err(err) => assert_locked(err, repository_item("app"), Lock::Write),
    };

    refused(
        try_push(&fx, &app, b"new", &blobs, None, 200)
            .await
            .map(drop),
        "a new manifest",
    );
    refused(
        try_push(&fx, &app, b"new", &blobs, Some(&v2), 200)
            .await
            .map(drop),
        "a new manifest by tag",
    );
    refused(
        try_push(&fx, &app, b"n", &[], Some(&v2), 200)
            .await
            .map(drop),
        "a new tag on a stored manifest",
    );
    refused(
        try_push(&fx, &app, b"n", &[], Some(&v1), 200)
            .await
            .map(drop),
        "a tag move by push",
    );
    refused(
        fx.store.set_tag(&app, &v2, &m, 200).await.map(drop),
        "set_tag creating a tag",
    );
    refused(
        fx.store.set_tag(&app, &v1, &n, 200).await.map(drop),
        "set_tag moving a tag",
    );
    refused(
        fx.store.delete_tag(&app, &v1, 200).await.map(drop),
        "delete_tag",
    );
    refused(
        fx.store.delete_manifest(&app, &n, 200).await.map(drop),
        "delete_manifest",
    );
    refused(
        fx.store.unlink_blob(&app, &blobs[0].0, 200).await.map(drop),
        "unlink_blob",
    );
    assert_unchanged(&fx, &before).await;

    let outcome = try_push(&fx, &app, b"m", &blobs, Some(&v1), 300).await;
    assert_eq!(
        outcome.expect("re-push by tag"),
        PutManifestOutcome {
            created: false,
            previous_tag_target: Some(m.clone()),
        }
    );
    let outcome = try_push(&fx, &app, b"n", &[], None, 300).await;
    assert_eq!(
        outcome.expect("re-push by digest"),
        PutManifestOutcome {
            created: false,
            previous_tag_target: None,
        }
    );
    let same = fx.store.set_tag(&app, &v1, &m, 300).await;
    assert_eq!(same.expect("set_tag to the same digest"), Some(m));
    assert_unchanged(&fx, &before).await;
}

#[tokio::test]
async fn delete_locked_repository_refuses_every_delete_but_accepts_pushes() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let v1 = tag("v1");
    let blobs = [link(&fx, &app, b"layer", 10).await];
    let m = push(&fx, &app, b"m", &blobs, Some(&v1), 100).await;
    let locked = set_repository_attributes(&fx, &app, delete(false), 150).await;
    assert_eq!(
        (
            locked.attributes.write_enabled,
            locked.attributes.delete_enabled
        ),
        (true, false)
    );
    let before = snapshot(&fx).await;

    let err = fx.store.delete_tag(&app, &v1, 200).await;
    assert_locked(err.expect_err("tag"), repository_item("app"), Lock::Delete);
    let err = fx.store.delete_manifest(&app, &m, 200).await;
    assert_locked(
        err.expect_err("manifest"),
        repository_item("app"),
        Lock::Delete,
    );
    let err = fx.store.unlink_blob(&app, &blobs[0].0, 200).await;
    assert_locked(err.expect_err("blob"), repository_item("app"), Lock::Delete);
    assert_unchanged(&fx, &before).await;
    let absent = fx
        .store
        .unlink_blob(&app, &digest(b"never linked"), 200)
        .await;
    assert!(!absent.expect("unknown blob"));
    let absent = fx.store.delete_tag(&app, &tag("absent"), 200).await;
    assert!(!absent.expect("unknown tag"));
    let absent = fx
        .store
        .delete_manifest(&app, &digest(b"absent"), 200)
        .await;
    assert!(!absent.expect("unknown manifest"));
    assert_unchanged(&fx, &before).await;

    let more = [link(&fx, &app, b"another layer", 300).await];
    let outcome = try_push(&fx, &app, b"n", &more, Some(&v1), 300).await;
    assert_eq!(outcome.expect("push").previous_tag_target, Some(m));
    assert_eq!(target(&fx, &app, "v1").await, Some(digest(b"n")));
}

#[tokio::test]
async fn read_locks_are_reported_by_every_lookup() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (layer, size) = link(&fx, &app, b"layer", 10).await;
    let blobs = [(layer.clone(), size)];
    let m = push(&fx, &app, b"m", &blobs, Some(&tag("t")), 100).await;
    push(&fx, &app, b"m", &blobs, Some(&tag("u")), 110).await;
    let readable = BlobLink {
        size,
        readable: true,
    };

    assert_eq!(read_lock(&fx, &app, by_tag("t")).await, None);
    assert_eq!(read_lock(&fx, &app, by_digest(&m)).await, None);
    let blob = fx.store.blob_link(&app, &layer).await.expect("blob link");
    assert_eq!(blob, Some(readable));

    let hidden = fx
        .store
        .update_manifest_attributes(&app, &m, read(false))
        .await;
    assert!(!hidden.expect("manifest read lock").attributes.read_enabled);
    assert_eq!(
        read_lock(&fx, &app, by_tag("t")).await,
        Some(ReadLock::Manifest)
    );
    assert_eq!(
        read_lock(&fx, &app, by_tag("u")).await,
        Some(ReadLock::Manifest)
    );
    assert_eq!(
        read_lock(&fx, &app, by_digest(&m)).await,
        Some(ReadLock::Manifest)
    );
    let shown = fx
        .store
        .update_manifest_attributes(&app, &m, read(true))
        .await;
    assert!(shown.expect("manifest read unlock").attributes.read_enabled);

    let hidden = fx
        .store
        .update_tag_attributes(&app, &tag("t"), read(false))
        .await;
    assert!(!hidden.expect("tag read lock").attributes.read_enabled);
    assert_eq!(read_lock(&fx, &app, by_tag("t")).await, Some(ReadLock::Tag));
    assert_eq!(read_lock(&fx, &app, by_tag("u")).await, None);
    assert_eq!(read_lock(&fx, &app, by_digest(&m)).await, None);
    let blob = fx.store.blob_link(&app, &layer).await.expect("blob link");
    assert_eq!(blob, Some(readable));

    let hidden = set_repository_attributes(&fx, &app, read(false), 200).await;
    assert!(!hidden.attributes.read_enabled);
    for reference in [by_tag("t"), by_tag("u"), by_digest(&m)] {
        assert_eq!(
            read_lock(&fx, &app, reference).await,
            Some(ReadLock::Repository)
        );
    }
    let blob = fx.store.blob_link(&app, &layer).await.expect("blob link");
    assert_eq!(
        blob,
        Some(BlobLink {
            size,
            readable: false
        })
    );
    let stored = fx.store.manifest(&app, &by_tag("t")).await.expect("get");
    let stored = stored.expect("a read lock does not hide the manifest");
    assert_eq!((stored.digest, stored.content), (m, b"m".to_vec()));

    let unknown = fx.store.blob_link(&app, &digest(b"other")).await;
    assert_eq!(unknown.expect("unknown blob"), None);
    let elsewhere = fx.store.blob_link(&repo("other"), &layer).await;
    assert_eq!(elsewhere.expect("other repository"), None);
}

#[tokio::test]
async fn unlisted_items_are_hidden_from_listings_but_found_by_name() {
    let fx = Fixture::new().await;
    let (a, b, c) = (repo("a"), repo("b"), repo("c"));
    push(&fx, &a, b"a", &[], None, 10).await;
    push(&fx, &c, b"c", &[], None, 10).await;
    let one = push(&fx, &b, b"one", &[], Some(&tag("one")), 100).await;
    push(&fx, &b, b"one", &[], Some(&tag("two")), 110).await;
    let three = push(&fx, &b, b"three", &[], Some(&tag("three")), 200).await;

    let hidden = fx
        .store
        .update_tag_attributes(&b, &tag("two"), list(false))
        .await;
    let hidden = hidden.expect("hide tag");
    assert!(!hidden.attributes.list_enabled);
    let tags = fx.store.list_tags(&b, None, None).await.expect("tags");
    assert_eq!(tags, ["one", "three"]);
    assert_eq!(
        tag_names(&fx, &b, TagOrder::Name, 100).await,
        ["one", "three"]
    );
    assert_eq!(
        tag_names(&fx, &b, TagOrder::TimeDesc, 100).await,
        ["three", "one"]
    );
    assert_eq!(
        tag_names(&fx, &b, TagOrder::TimeAsc, 100).await,
        ["one", "three"]
    );
    let found = fx.store.tag_record(&b, &tag("two")).await.expect("tag");
    assert_eq!(found, Some(hidden));
    assert_eq!(image(&fx, &b, &one).await.tags, ["one"]);

    let hidden = fx
        .store
        .update_manifest_attributes(&b, &three, list(false))
        .await;
    let hidden = hidden.expect("hide manifest");
    assert!(!hidden.attributes.list_enabled);
    for order in [ImageOrder::TimeDesc, ImageOrder::TimeAsc] {
        let listed = image_digests(&fx, &b, order, TagStatus::Any).await;
        assert_eq!(listed, std::slice::from_ref(&one));
    }
    assert_eq!(image(&fx, &b, &three).await, hidden);
    assert_eq!(hidden.tags, ["three"]);

    let hidden = set_repository_attributes(&fx, &b, list(false), 300).await;
    assert!(!hidden.attributes.list_enabled);
    let names = fx.store.list_repositories(None, None).await.expect("names");
    assert_eq!(names, ["a", "c"]);
    let page = fx.store.list_repositories(Some("a"), Some(1)).await;
    assert_eq!(page.expect("page"), ["c"]);
    let records = fx.store.list_repository_records(None, 100).await;
    let records: Vec<_> = records
        .expect("records")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(records, ["a", "c"]);
    let page = fx.store.list_repository_records(Some("a"), 1).await;
    let page: Vec<_> = page.expect("page").into_iter().map(|r| r.name).collect();
    assert_eq!(page, ["c"]);
    assert_eq!(record(&fx, &b).await, hidden);
    assert!(fx.store.repository_exists(&b).await.expect("exists"));
    let stored = fx.store.manifest(&b, &by_tag("one")).await.expect("get");
    assert_eq!(stored.expect("still served").read_lock, None);
}

// Tag mutability.

#[tokio::test]
async fn mutable_repository_lets_every_tag_move() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let latest = tag("latest");
    let first = push(&fx, &app, b"first", &[], Some(&latest), 100).await;
    let second = push(&fx, &app, b"second", &[], None, 110).await;
    set_mutability(&fx, &app, TagMutability::Immutable, &[]).await;

    let back = set_mutability(&fx, &app, TagMutability::Mutable, &[]).await;

    assert_eq!(back.settings.mutability, MutabilityRule::default());
    let moved = fx.store.set_tag(&app, &latest, &second, 200).await;
    assert_eq!(moved.expect("set_tag"), Some(first.clone()));
    let outcome = try_push(&fx, &app, b"first", &[], Some(&latest), 300).await;
    assert_eq!(outcome.expect("push").previous_tag_target, Some(second));
    assert_eq!(target(&fx, &app, "latest").await, Some(first));
}

#[tokio::test]
async fn immutable_tags_refuse_moving_but_accept_their_digest_and_new_tags() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (v1, v2) = (tag("v1"), tag("v2"));
    let first = push(&fx, &app, b"first", &[], Some(&v1), 100).await;
    let second = push(&fx, &app, b"second", &[], None, 110).await;
    set_mutability(&fx, &app, TagMutability::Immutable, &[]).await;
    let before = snapshot(&fx).await;

    let err = try_push(&fx, &app, b"third", &[], Some(&v1), 200).await;
    let err = err.expect_err("push moving the tag");
    assert_eq!(
        err.to_string(),
        format!(
            "tag v1 of repository app is immutable (tag mutability IMMUTABLE) and points \
             at {first}; push under a new tag instead"
        )
    );
    assert_immutable(err, "app", "v1", TagMutability::Immutable, &first);
    let err = try_push(&fx, &app, b"second", &[], Some(&v1), 200).await;
    let err = err.expect_err("push of a stored manifest");
    assert_immutable(err, "app", "v1", TagMutability::Immutable, &first);
    let err = fx.store.set_tag(&app, &v1, &second, 200).await;
    let err = err.expect_err("set_tag");
    assert_immutable(err, "app", "v1", TagMutability::Immutable, &first);
    assert_unchanged(&fx, &before).await;
    assert_eq!(target(&fx, &app, "v1").await, Some(first.clone()));

    let outcome = try_push(&fx, &app, b"first", &[], Some(&v1), 300).await;
    assert_eq!(
        outcome.expect("same digest").previous_tag_target,
        Some(first.clone())
    );
    let same = fx.store.set_tag(&app, &v1, &first, 300).await;
    assert_eq!(same.expect("set_tag to the same digest"), Some(first));
    assert_unchanged(&fx, &before).await;

    let outcome = try_push(&fx, &app, b"third", &[], Some(&v2), 400).await;
    assert_eq!(outcome.expect("new tag").previous_tag_target, None);
    let created = fx.store.set_tag(&app, &tag("v3"), &second, 400).await;
    assert_eq!(created.expect("new tag by set_tag"), None);
    assert_eq!(target(&fx, &app, "v2").await, Some(digest(b"third")));
    assert_eq!(target(&fx, &app, "v3").await, Some(second));
}

#[tokio::test]
async fn immutable_with_exclusion_lets_only_matching_tags_move() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let first = digest(b"first");
    for name in ["latest", "dev-42", "v1"] {
        push(&fx, &app, b"first", &[], Some(&tag(name)), 100).await;
    }
    let second = push(&fx, &app, b"second", &[], None, 110).await;
    set_mutability(
        &fx,
        &app,
        TagMutability::ImmutableWithExclusion,
        &["latest", "dev-*"],
    )
    .await;
    let before = snapshot(&fx).await;

    let err = try_push(&fx, &app, b"second", &[], Some(&tag("v1")), 200).await;
    let err = err.expect_err("v1 is immutable");
    assert_immutable(
        err,
        "app",
        "v1",
        TagMutability::ImmutableWithExclusion,
        &first,
    );
    let err = fx.store.set_tag(&app, &tag("v1"), &second, 200).await;
    let err = err.expect_err("set_tag v1");
    assert_immutable(
        err,
        "app",
        "v1",
        TagMutability::ImmutableWithExclusion,
        &first,
    );
    assert_unchanged(&fx, &before).await;

    let moved = try_push(&fx, &app, b"second", &[], Some(&tag("latest")), 200).await;
    assert_eq!(
        moved.expect("latest").previous_tag_target,
        Some(first.clone())
    );
    let moved = fx.store.set_tag(&app, &tag("dev-42"), &second, 200).await;
    assert_eq!(moved.expect("dev-42"), Some(first.clone()));
    assert_eq!(target(&fx, &app, "latest").await, Some(second.clone()));
    assert_eq!(target(&fx, &app, "dev-42").await, Some(second));
    assert_eq!(target(&fx, &app, "v1").await, Some(first));
}

#[tokio::test]
async fn mutable_with_exclusion_freezes_only_matching_tags() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let first = digest(b"first");
    for name in ["latest", "v1.2"] {
        push(&fx, &app, b"first", &[], Some(&tag(name)), 100).await;
    }
    let second = push(&fx, &app, b"second", &[], None, 110).await;
    set_mutability(&fx, &app, TagMutability::MutableWithExclusion, &["v*"]).await;
    let before = snapshot(&fx).await;

    let err = try_push(&fx, &app, b"second", &[], Some(&tag("v1.2")), 200).await;
    let err = err.expect_err("v1.2 is frozen");
    assert_immutable(
        err,
        "app",
        "v1.2",
        TagMutability::MutableWithExclusion,
        &first,
    );
    let err = fx.store.set_tag(&app, &tag("v1.2"), &second, 200).await;
    let err = err.expect_err("set_tag v1.2");
    assert_immutable(
        err,
        "app",
        "v1.2",
        TagMutability::MutableWithExclusion,
        &first,
    );
    assert_unchanged(&fx, &before).await;

    let moved = fx.store.set_tag(&app, &tag("latest"), &second, 200).await;
    assert_eq!(moved.expect("latest"), Some(first.clone()));
    let created = fx.store.set_tag(&app, &tag("v2"), &second, 200).await;
    assert_eq!(created.expect("a new frozen tag"), None);
    assert_eq!(target(&fx, &app, "latest").await, Some(second.clone()));
    assert_eq!(target(&fx, &app, "v1.2").await, Some(first));
    assert_eq!(target(&fx, &app, "v2").await, Some(second));
}

#[tokio::test]
async fn set_tag_needs_a_manifest_stored_in_the_repository() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let elsewhere = push(&fx, &repo("other"), b"m", &[], None, 100).await;
    push(&fx, &app, b"n", &[], None, 100).await;
    let before = snapshot(&fx).await;

    let err = fx.store.set_tag(&app, &tag("v1"), &elsewhere, 200).await;
    assert!(
        matches!(&err, Err(MetaError::MissingManifest { digest }) if *digest == elsewhere),
        "{err:?}"
    );
    let err = fx
        .store
        .set_tag(&repo("ghost"), &tag("v1"), &elsewhere, 200)
        .await;
    assert!(
        matches!(err, Err(MetaError::MissingManifest { .. })),
        "{err:?}"
    );
    assert_unchanged(&fx, &before).await;
}

// Quotas.

#[tokio::test]
async fn repository_quota_refuses_a_link_past_it_and_charges_nothing() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (config, config_size) = link(&fx, &app, b"config", 1).await;
    set_quota(&fx, &app, Some(10)).await;
    let before = snapshot(&fx).await;
    let layer = digest(b"layer");

    let err = fx.store.link_blob(&app, &layer, 5, 2).await;

    let err = err.expect_err("6 + 5 > 10");
    assert_eq!(
        err.to_string(),
        "storing 5 more bytes would exceed the storage quota of repository app: 6 of 10 \
         bytes are used; delete images or raise the quota"
    );
    assert_quota(err, QuotaScope::Repository("app".into()), 10, 6, 5);
    assert_unchanged(&fx, &before).await;
    assert_eq!(
        fx.store.linked_blob_size(&app, &layer).await.expect("size"),
        None
    );
    let admission = fx
        .store
        .check_blob_admission(&app, Some(&layer), Some(5))
        .await;
    let err = admission.expect_err("admission agrees");
    assert_quota(err, QuotaScope::Repository("app".into()), 10, 6, 5);

    fx.store
        .link_blob(&app, &config, config_size, 3)
        .await
        .expect("relinking a linked blob is free");
    link(&fx, &app, b"four", 4).await;
    assert_eq!(counts(&fx, &app).await, (0, 0, 10));
    let err = fx.store.link_blob(&app, &digest(b"x"), 1, 5).await;
    assert_quota(
        err.expect_err("full"),
        QuotaScope::Repository("app".into()),
        10,
        10,
        1,
    );
    fx.store
        .link_blob(&app, &config, config_size, 6)
        .await
        .expect("relinking is free even when full");

    set_quota(&fx, &app, None).await;
    fx.store
        .link_blob(&app, &layer, 5, 7)
        .await
        .expect("no quota any more");
    assert_eq!(counts(&fx, &app).await, (0, 0, 15));
}

#[tokio::test]
async fn quota_chosen_at_creation_applies_from_the_first_blob() {
    let fx = Fixture::new().await;
    let small = repo("small");
    let settings = RepositorySettings {
        quota_bytes: Some(3),
        ..RepositorySettings::default()
    };
    fx.store
        .create_repository(&small, &settings, 1)
        .await
        .expect("create");
    let before = snapshot(&fx).await;

    let err = fx.store.link_blob(&small, &digest(b"four"), 4, 2).await;

    assert_quota(
        err.expect_err("4 > 3"),
        QuotaScope::Repository("small".into()),
        3,
        0,
        4,
    );
    assert_unchanged(&fx, &before).await;
    link(&fx, &small, b"abc", 3).await;
    assert_eq!(counts(&fx, &small).await, (0, 0, 3));
}

#[tokio::test]
async fn registry_quota_refuses_only_blobs_new_to_the_registry() {
    let fx = Fixture::new().await;
    let (a, b) = (repo("a"), repo("b"));
    fx.store.set_registry_quota(Some(10)).await.expect("quota");
    assert_eq!(fx.store.usage().await.expect("usage").quota_bytes, Some(10));
    let (held, held_size) = link(&fx, &a, b"shared", 1).await;
    let before = snapshot(&fx).await;
    let fresh = digest(b"fresh");

    let err = fx.store.link_blob(&b, &fresh, 5, 2).await;

    let err = err.expect_err("6 + 5 > 10");
    assert_eq!(
        err.to_string(),
        "storing 5 more bytes would exceed the storage quota of the registry: 6 of 10 \
         bytes are used; delete images or raise the quota"
    );
    assert_quota(err, QuotaScope::Registry, 10, 6, 5);
    assert_unchanged(&fx, &before).await;
    assert!(!fx.store.repository_exists(&b).await.expect("exists"));

    fx.store
        .link_blob(&b, &held, held_size, 3)
        .await
        .expect("a blob the registry holds costs nothing");
    assert_eq!(counts(&fx, &b).await, (0, 0, 6));
    let totals = fx.store.usage().await.expect("usage");
    assert_eq!((totals.blob_bytes, totals.blob_count), (6, 1));

    fx.store.set_registry_quota(None).await.expect("remove");
    assert_eq!(fx.store.usage().await.expect("usage").quota_bytes, None);
    fx.store
        .link_blob(&b, &fresh, 5, 4)
        .await
        .expect("no quota any more");
    assert_eq!(counts(&fx, &b).await, (0, 0, 11));
}

#[tokio::test]
async fn blob_admission_checks_without_writing() {
    let fx = Fixture::new().await;
    let (app, locked, ghost) = (repo("app"), repo("locked"), repo("ghost"));
    fx.store.set_registry_quota(Some(10)).await.expect("quota");
    let (held, held_size) = link(&fx, &app, b"shared", 1).await;
    link(&fx, &locked, b"l", 1).await;
    set_repository_attributes(&fx, &locked, write(false), 2).await;
    let fresh = digest(b"fresh");
    let before = snapshot(&fx).await;
    let store = &fx.store;

    store
        .check_blob_admission(&app, None, None)
        .await
        .expect("app");
    store
        .check_blob_admission(&app, Some(&fresh), Some(3))
        .await
        .expect("3 fit");
    store
        .check_blob_admission(&app, None, Some(3))
        .await
        .expect("3 fit whatever the digest");
    let err = store
        .check_blob_admission(&app, Some(&fresh), Some(4))
        .await;
    assert_quota(err.expect_err("4 do not"), QuotaScope::Registry, 10, 7, 4);
    let err = store.check_blob_admission(&locked, None, None).await;
    assert_locked(
        err.expect_err("locked"),
        repository_item("locked"),
        Lock::Write,
    );
    let err = store
        .check_blob_admission(&locked, Some(&fresh), Some(1))
        .await;
    assert_locked(
        err.expect_err("locked"),
        repository_item("locked"),
        Lock::Write,
    );

    store
        .check_blob_admission(&ghost, None, None)
        .await
        .expect("a repository that does not exist yet");
    store
        .check_blob_admission(&ghost, Some(&held), Some(held_size))
        .await
        .expect("a held blob costs nothing");
    let err = store
        .check_blob_admission(&ghost, Some(&fresh), Some(4))
        .await;
    assert_quota(
        err.expect_err("registry full"),
        QuotaScope::Registry,
        10,
        7,
        4,
    );
    let err = store.check_blob_admission(&ghost, None, Some(4)).await;
    assert_quota(
        err.expect_err("unknown digest"),
        QuotaScope::Registry,
        10,
        7,
        4,
    );

    assert_unchanged(&fx, &before).await;
    assert!(!store.repository_exists(&ghost).await.expect("exists"));
}

/// Admission and the link it predicts, each reduced to `Ok` or the error's debug text.
async fn admit_then_link(
    fx: &Fixture,
    repository: &RepositoryName,
    content: &[u8],
) -> (Result<(), String>, Result<(), String>) {
    let (id, size) = (digest(content), content.len() as u64);
    let admitted = fx
        .store
        .check_blob_admission(repository, Some(&id), Some(size))
        .await
        .map_err(|err| format!("{err:?}"));
    let linked = fx
        .store
        .link_blob(repository, &id, size, 10)
        .await
        .map_err(|err| format!("{err:?}"));
    (admitted, linked)
}

#[tokio::test]
async fn blob_admission_agrees_with_link_blob() {
    let fx = Fixture::new().await;
    let (app, other, ghost, locked) = (repo("app"), repo("other"), repo("ghost"), repo("locked"));
    fx.store.set_registry_quota(Some(20)).await.expect("quota");
    link(&fx, &locked, b"l", 1).await;
    set_repository_attributes(&fx, &locked, write(false), 2).await;
    fx.store
        .create_repository(
            &app,
            &RepositorySettings {
                quota_bytes: Some(10),
                ..RepositorySettings::default()
            },
            3,
        )
        .await
        .expect("create");

    let cases: [(&RepositoryName, &[u8], bool); 7] = [
        (&app, b"aaaaaa", true),
        (&app, b"bbbbb", false),
        (&other, b"ccccc", true),
        (&other, b"dddddddddd", false),
        (&ghost, b"aaaaaa", true),
        (&ghost, b"dddddddddd", false),
        (&locked, b"e", false),
    ];
    for (repository, content, accepted) in cases {
        let (admitted, linked) = admit_then_link(&fx, repository, content).await;
        let case = format!("{repository} {}", String::from_utf8_lossy(content));
        assert_eq!(admitted.is_ok(), accepted, "{case}: {admitted:?}");
        assert_eq!(admitted, linked, "{case}");
    }
    assert_eq!(counts(&fx, &app).await, (0, 0, 6));
    assert_eq!(counts(&fx, &other).await, (0, 0, 5));
    assert_eq!(counts(&fx, &ghost).await, (0, 0, 6));
    assert_eq!(counts(&fx, &locked).await, (0, 0, 1));
}

#[tokio::test]
async fn blob_admission_does_not_charge_a_blob_already_linked() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (config, size) = link(&fx, &app, b"config", 1).await;
    set_quota(&fx, &app, Some(6)).await;

    let admitted = fx
        .store
        .check_blob_admission(&app, Some(&config), Some(size))
        .await;
    let linked = fx.store.link_blob(&app, &config, size, 2).await;

    assert!(linked.is_ok(), "{linked:?}");
    assert!(
        admitted.is_ok(),
        "re-uploading a linked blob is free, as link_blob agrees: {admitted:?}"
    );
}

// Counters.

#[tokio::test]
async fn counters_follow_pushes_moves_deletes_and_unlinks() {
    let fx = Fixture::new().await;
    let (app, other) = (repo("app"), repo("other"));
    let config = link(&fx, &app, b"config", 1).await;
    let layer = link(&fx, &app, b"layer", 1).await;
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 0, 0)
    );
    assert_eq!(counts(&fx, &app).await, (0, 0, 11));
    assert_eq!(record(&fx, &app).await.last_push_at, None);

    let blobs = [config.clone(), layer.clone()];
    let m1 = push(&fx, &app, b"m1", &blobs, Some(&tag("a")), 100).await;
    push(&fx, &app, b"m1", &blobs, Some(&tag("b")), 110).await;
    let m2 = push(
        &fx,
        &app,
        b"m2",
        std::slice::from_ref(&config),
        Some(&tag("c")),
        120,
    )
    .await;
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 3, 2)
    );
    assert_eq!(counts(&fx, &app).await, (3, 2, 11));
    assert_eq!(record(&fx, &app).await.last_push_at, Some(120));

    let moved = fx.store.set_tag(&app, &tag("a"), &m2, 130).await;
    assert_eq!(moved.expect("move"), Some(m1.clone()));
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 3, 2)
    );
    assert_eq!(counts(&fx, &app).await, (3, 2, 11));

    assert!(fx.store.delete_tag(&app, &tag("b"), 140).await.expect("b"));
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 2, 2)
    );
    assert_eq!(counts(&fx, &app).await, (2, 2, 11));

    assert!(fx.store.delete_manifest(&app, &m2, 150).await.expect("m2"));
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 0, 1)
    );
    assert_eq!(counts(&fx, &app).await, (0, 1, 11));

    assert!(fx
        .store
        .unlink_blob(&app, &layer.0, 160)
        .await
        .expect("unlink"));
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 0, 1)
    );
    assert_eq!(counts(&fx, &app).await, (0, 1, 6));

    link(&fx, &other, b"config", 170).await;
    push(&fx, &other, b"o", &[config], Some(&tag("o")), 180).await;
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 2, 1, 2)
    );
    assert_eq!(counts(&fx, &other).await, (1, 1, 6));

    let deleted = fx.store.delete_repository(&app, 190).await.expect("delete");
    assert_eq!(
        deleted,
        DeletedRepository {
            tags: 0,
            manifests: 1
        }
    );
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 1, 1)
    );
    assert_eq!(counts(&fx, &other).await, (1, 1, 6));
    assert!(fx
        .store
        .delete_manifest(&other, &digest(b"o"), 200)
        .await
        .expect("o"));
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(11, 2, 1, 0, 0)
    );
    assert_eq!(counts(&fx, &other).await, (0, 0, 6));
}

#[tokio::test]
async fn shared_blob_counts_once_in_usage_and_in_each_repository() {
    let fx = Fixture::new().await;
    let (a, b) = (repo("a"), repo("b"));
    link(&fx, &a, b"shared", 1).await;
    link(&fx, &a, b"own", 1).await;
    link(&fx, &b, b"shared", 2).await;
    link(&fx, &b, b"mine", 2).await;
    link(&fx, &b, b"shared", 3).await;

    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(13, 3, 2, 0, 0)
    );
    assert_eq!(counts(&fx, &a).await, (0, 0, 9));
    assert_eq!(counts(&fx, &b).await, (0, 0, 10));

    assert!(fx
        .store
        .unlink_blob(&a, &digest(b"shared"), 4)
        .await
        .expect("a"));
    assert_eq!(
        fx.store.usage().await.expect("usage"),
        usage(13, 3, 2, 0, 0)
    );
    assert_eq!(counts(&fx, &a).await, (0, 0, 3));
    assert_eq!(counts(&fx, &b).await, (0, 0, 10));
}

// Listings.

/// Tags pointing at two manifests with update times e@50, a@100, c@200, d@200, b@300.
async fn timed_tags(fx: &Fixture, repository: &RepositoryName) -> (Digest, Digest) {
    let config = [link(fx, repository, b"config", 1).await];
    let (first, second): (&[u8], &[u8]) = (b"first", b"second");
    for (name, content, now) in [
        ("e", first, 50),
        ("a", first, 100),
        ("c", second, 200),
        ("d", second, 200),
        ("b", first, 300),
    ] {
        push(fx, repository, content, &config, Some(&tag(name)), now).await;
    }
    (digest(first), digest(second))
}

#[tokio::test]
async fn tag_records_page_in_time_and_name_order() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (first, _) = timed_tags(&fx, &app).await;

    let cases = [
        (TagOrder::TimeDesc, ["b", "d", "c", "a", "e"]),
        (TagOrder::TimeAsc, ["e", "a", "c", "d", "b"]),
        (TagOrder::Name, ["a", "b", "c", "d", "e"]),
    ];
    for (order, expected) in cases {
        assert_eq!(
            tag_names(&fx, &app, order, 100).await,
            expected,
            "{order:?}"
        );
        assert_eq!(
            tag_names(&fx, &app, order, 2).await,
            expected[..2],
            "{order:?}"
        );
        let (names, pages) = page_tags(&fx, &app, order, 2).await;
        assert_eq!(names, expected, "{order:?}");
        assert_eq!(pages, [2, 2, 1], "{order:?}");
        let (names, pages) = page_tags(&fx, &app, order, 5).await;
        assert_eq!(names, expected, "{order:?}");
        assert_eq!(pages, [5], "{order:?}");
    }

    let a = fx.store.tag_record(&app, &tag("a")).await.expect("tag a");
    assert_eq!(
        a,
        Some(TagRecord {
            name: "a".into(),
            digest: first,
            created_at: 100,
            updated_at: 100,
            attributes: Attributes::default(),
            media_type: IMAGE.into(),
            image_size: 6,
        })
    );
    let position = a.expect("tag a").position();
    assert_eq!((position.updated_at, position.name.as_str()), (100, "a"));
    let after_a = fx
        .store
        .list_tag_records(&app, TagOrder::TimeDesc, Some(&position), 100)
        .await
        .expect("after a");
    let names: Vec<_> = after_a.into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["e"]);
    let none = fx.store.tag_record(&app, &tag("zz")).await.expect("absent");
    assert_eq!(none, None);
    let empty = tag_names(&fx, &repo("ghost"), TagOrder::TimeDesc, 100).await;
    assert!(empty.is_empty());
}

#[tokio::test]
async fn repointing_a_tag_moves_it_to_the_front_of_time_order() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let (first, second) = timed_tags(&fx, &app).await;

    let previous = fx.store.set_tag(&app, &tag("e"), &second, 400).await;
    assert_eq!(previous.expect("set_tag"), Some(first.clone()));
    assert_eq!(
        tag_names(&fx, &app, TagOrder::TimeDesc, 100).await,
        ["e", "b", "d", "c", "a"]
    );
    let e = fx.store.tag_record(&app, &tag("e")).await.expect("e");
    let e = e.expect("tag e");
    assert_eq!(
        (e.digest, e.created_at, e.updated_at),
        (second.clone(), 50, 400)
    );

    let outcome = try_push(&fx, &app, b"third", &[], Some(&tag("a")), 500).await;
    assert_eq!(outcome.expect("push").previous_tag_target, Some(first));
    assert_eq!(
        tag_names(&fx, &app, TagOrder::TimeDesc, 100).await,
        ["a", "e", "b", "d", "c"]
    );
    assert_eq!(
        tag_names(&fx, &app, TagOrder::TimeAsc, 100).await,
        ["c", "d", "b", "e", "a"]
    );

    let same = fx
        .store
        .set_tag(&app, &tag("a"), &digest(b"third"), 600)
        .await;
    assert_eq!(same.expect("not a move"), Some(digest(b"third")));
    let a = fx.store.tag_record(&app, &tag("a")).await.expect("a");
    assert_eq!(a.expect("tag a").updated_at, 500);
}

#[tokio::test]
async fn image_records_page_in_push_order_with_tags_and_status() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let config = [link(&fx, &app, b"config", 1).await];
    let m1 = push(&fx, &app, b"m1", &config, Some(&tag("z")), 100).await;
    push(&fx, &app, b"m1", &config, Some(&tag("a")), 150).await;
    let m2 = push(&fx, &app, b"m2", &[], None, 200).await;
    let m3 = push(&fx, &app, b"m3", &[], Some(&tag("m")), 200).await;
    let m4 = push(&fx, &app, b"m4", &[], None, 300).await;
    // Images pushed at the same time are ordered by digest.
    let (low, high) = if m2 < m3 { (&m2, &m3) } else { (&m3, &m2) };
    let ascending = vec![m1.clone(), low.clone(), high.clone(), m4.clone()];
    let descending: Vec<_> = ascending.iter().rev().cloned().collect();

    let cases = [
        (ImageOrder::TimeAsc, TagStatus::Any, ascending.clone()),
        (ImageOrder::TimeDesc, TagStatus::Any, descending),
        (
            ImageOrder::TimeDesc,
            TagStatus::Tagged,
            vec![m3.clone(), m1.clone()],
        ),
        (
            ImageOrder::TimeAsc,
            TagStatus::Tagged,
            vec![m1.clone(), m3.clone()],
        ),
        (
            ImageOrder::TimeAsc,
            TagStatus::Untagged,
            vec![m2.clone(), m4.clone()],
        ),
        (
            ImageOrder::TimeDesc,
            TagStatus::Untagged,
            vec![m4.clone(), m2.clone()],
        ),
    ];
    for (order, status, expected) in cases {
        let all = image_digests(&fx, &app, order, status).await;
        assert_eq!(all, expected, "{order:?} {status:?}");
        let (paged, pages) = page_images(&fx, &app, order, status, 1).await;
        assert_eq!(paged, expected, "{order:?} {status:?}");
        assert_eq!(pages, vec![1; expected.len()], "{order:?} {status:?}");
    }
    let (paged, pages) = page_images(&fx, &app, ImageOrder::TimeAsc, TagStatus::Any, 3).await;
    assert_eq!((paged, pages), (ascending, vec![3, 1]));

    let first = image(&fx, &app, &m1).await;
    assert_eq!(
        first,
        ImageRecord {
            digest: m1.clone(),
            media_type: IMAGE.into(),
            manifest_size: 2,
            image_size: 6,
            pushed_at: 100,
            last_pulled_at: None,
            artifact_type: None,
            subject: None,
            tags: vec!["a".into(), "z".into()],
            config_info: None,
            attributes: Attributes::default(),
            content: b"m1".to_vec(),
        }
    );
    let position = first.position();
    assert_eq!((position.pushed_at, position.digest), (100, m1.to_string()));
    assert_eq!(image(&fx, &app, &m3).await.tags, ["m"]);
    assert!(image(&fx, &app, &m2).await.tags.is_empty());
    let absent = fx.store.image_record(&app, &digest(b"absent")).await;
    assert_eq!(absent.expect("absent"), None);
    let elsewhere = fx.store.image_record(&repo("ghost"), &m1).await;
    assert_eq!(elsewhere.expect("ghost"), None);
}

#[tokio::test]
async fn image_record_reports_artifact_type_and_subject() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let subject = push(&fx, &app, b"subject", &[], None, 100).await;
    let id = digest(b"signature");
    let put = NewManifest {
        artifact_type: Some("application/vnd.example.sig"),
        subject: Some(&subject),
        now: 200,
        ..manifest(&app, &id, b"signature")
    };
    fx.store.put_manifest(put).await.expect("referrer");

    let found = image(&fx, &app, &id).await;

    assert_eq!(
        found.artifact_type.as_deref(),
        Some("application/vnd.example.sig")
    );
    assert_eq!(found.subject, Some(subject));
    assert_eq!(found.pushed_at, 200);
}

#[tokio::test]
async fn image_size_sums_distinct_blobs_and_index_children() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let config = link(&fx, &app, b"config", 1).await;
    let layer = link(&fx, &app, b"layer", 1).await;
    let other_layer = link(&fx, &app, b"layer-2", 1).await;
    let info = r#"{"os":"linux","architecture":"amd64","labels":{"a":"b"}}"#;
    let one_blobs = [config.clone(), layer.clone(), layer];
    let one = digest(b"one");
    let put = NewManifest {
        blobs: &one_blobs,
        config_info: Some(info),
        now: 100,
        ..manifest(&app, &one, b"one")
    };
    fx.store.put_manifest(put).await.expect("one");
    let two = push(&fx, &app, b"two", &[config, other_layer], None, 110).await;
    let index = digest(b"index");
    let children = [(one.clone(), 3), (two.clone(), 3)];
    let multi = tag("multi");
    let put = NewManifest {
        media_type: INDEX,
        manifests: &children,
        tag: Some(&multi),
        now: 120,
        ..manifest(&app, &index, b"index")
    };
    fx.store.put_manifest(put).await.expect("index");

    let one = image(&fx, &app, &one).await;
    assert_eq!(
        (one.image_size, one.config_info.as_deref()),
        (11, Some(info))
    );
    let two = image(&fx, &app, &two).await;
    assert_eq!((two.image_size, two.config_info), (13, None));
    let index = image(&fx, &app, &index).await;
    assert_eq!(
        (
            index.image_size,
            index.media_type.as_str(),
            index.manifest_size
        ),
        (24, INDEX, 5)
    );
    let tagged = fx.store.tag_record(&app, &multi).await.expect("tag");
    let tagged = tagged.expect("tag multi");
    assert_eq!((tagged.image_size, tagged.media_type.as_str()), (24, INDEX));
}

#[tokio::test]
async fn record_pulls_keeps_the_latest_time_and_ignores_unknown_manifests() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let m1 = push(&fx, &app, b"m1", &[], None, 100).await;
    let m2 = push(&fx, &app, b"m2", &[], None, 100).await;
    let pull = |repository: &str, id: &Digest, at| Pull {
        repository: repository.into(),
        digest: id.to_string(),
        at,
    };
    let events = fx.store.events_after(0, 100).await.expect("events");

    fx.store.record_pulls(&[]).await.expect("nothing");
    fx.store
        .record_pulls(&[
            pull("app", &m1, 500),
            pull("app", &m1, 300),
            pull("app", &digest(b"gone"), 900),
            pull("ghost", &m1, 900),
        ])
        .await
        .expect("pulls");
    assert_eq!(image(&fx, &app, &m1).await.last_pulled_at, Some(500));
    assert_eq!(image(&fx, &app, &m2).await.last_pulled_at, None);

    fx.store
        .record_pulls(&[pull("app", &m1, 400)])
        .await
        .expect("older");
    assert_eq!(image(&fx, &app, &m1).await.last_pulled_at, Some(500));

    fx.store
        .record_pulls(&[pull("app", &m1, 800), pull("app", &m2, 100)])
        .await
        .expect("newer");
    assert_eq!(image(&fx, &app, &m1).await.last_pulled_at, Some(800));
    assert_eq!(image(&fx, &app, &m2).await.last_pulled_at, Some(100));
    assert!(!fx
        .store
        .repository_exists(&repo("ghost"))
        .await
        .expect("ghost"));
    let after = fx.store.events_after(0, 100).await.expect("events");
    assert_eq!(after, events, "pulls are not state changes");
}

// Creating, updating and deleting repositories.

#[tokio::test]
async fn create_repository_stores_settings_and_refuses_existing_names() {
    let fx = Fixture::new().await;
    let app = repo("team/app");
    let settings = RepositorySettings {
        mutability: MutabilityRule {
            mutability: TagMutability::ImmutableWithExclusion,
            exclusions: vec!["latest".into(), "dev-*".into()],
        },
        scan_on_push: true,
        encryption: Encryption::Kms,
        kms_key: Some("arn:aws:kms:eu-west-1:111122223333:key/k".into()),
        quota_bytes: Some(1_000),
    };

    let created = fx
        .store
        .create_repository(&app, &settings, 42)
        .await
        .expect("create");

    let expected = RepositoryRecord {
        name: "team/app".into(),
        created_at: 42,
        updated_at: 42,
        last_push_at: None,
        tag_count: 0,
        manifest_count: 0,
        size_bytes: 0,
        anonymous_pull: false,
        settings: settings.clone(),
        attributes: Attributes::default(),
    };
    assert_eq!(created, expected);
    assert_eq!(record(&fx, &app).await, expected);
    let listed = fx.store.list_repository_records(None, 10).await;
    assert_eq!(listed.expect("records"), [expected]);
    let plain = fx
        .store
        .create_repository(&repo("plain"), &RepositorySettings::default(), 43)
        .await
        .expect("plain");
    assert_eq!(plain.settings, RepositorySettings::default());
    assert_eq!(plain.settings.encryption, Encryption::None);
    link(&fx, &repo("implicit"), b"blob", 44).await;
    let before = snapshot(&fx).await;

    let other = RepositorySettings::default();
    let err = fx.store.create_repository(&app, &other, 50).await;
    match err.expect_err("exists") {
        MetaError::Conflict(message) => assert!(message.contains("team/app"), "{message}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let err = fx
        .store
        .create_repository(&repo("implicit"), &other, 50)
        .await;
    assert!(matches!(err, Err(MetaError::Conflict(_))), "{err:?}");
    assert_unchanged(&fx, &before).await;
    assert_eq!(fx.store.usage().await.expect("usage").repository_count, 3);
}

#[tokio::test]
async fn update_repository_changes_only_what_the_patch_names() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let settings = RepositorySettings {
        quota_bytes: Some(1_000),
        encryption: Encryption::Aes256,
        ..RepositorySettings::default()
    };
    fx.store
        .create_repository(&app, &settings, 10)
        .await
        .expect("create");

    let patch = RepositoryPatch {
        scan_on_push: Some(true),
        ..RepositoryPatch::default()
    };
    let updated = fx.store.update_repository(&app, &patch, 20).await;
    let updated = updated.expect("scan on push");
    let expected = RepositorySettings {
        scan_on_push: true,
        ..settings.clone()
    };
    assert_eq!(updated.settings, expected);
    assert_eq!((updated.created_at, updated.updated_at), (10, 20));
    assert_eq!(updated.attributes, Attributes::default());

    let rule = MutabilityRule {
        mutability: TagMutability::Immutable,
        exclusions: vec![],
    };
    let patch = RepositoryPatch {
        mutability: Some(rule.clone()),
        quota_bytes: Some(None),
        attributes: AttributesPatch {
            read_enabled: Some(false),
            list_enabled: Some(false),
            ..AttributesPatch::default()
        },
        ..RepositoryPatch::default()
    };
    let updated = fx.store.update_repository(&app, &patch, 30).await;
    let updated = updated.expect("several");
    let expected = RepositorySettings {
        mutability: rule,
        scan_on_push: true,
        quota_bytes: None,
        ..settings
    };
    assert_eq!(updated.settings, expected);
    assert_eq!(
        updated.attributes,
        Attributes {
            write_enabled: true,
            delete_enabled: true,
            read_enabled: false,
            list_enabled: false,
        }
    );
    assert_eq!(updated.updated_at, 30);
    assert_eq!(record(&fx, &app).await, updated);
    let before = snapshot(&fx).await;

    let ghost = repo("ghost");
    let err = fx.store.update_repository(&ghost, &patch, 40).await;
    match err.expect_err("unknown") {
        MetaError::NotFound(message) => assert!(message.contains("ghost"), "{message}"),
        other => panic!("expected not found, got {other:?}"),
    }
    assert_unchanged(&fx, &before).await;
    assert_eq!(fx.store.repository(&ghost).await.expect("ghost"), None);
}

#[tokio::test]
async fn delete_repository_removes_everything_in_it() {
    let fx = Fixture::new().await;
    let (app, other) = (repo("app"), repo("other"));
    let shared = link(&fx, &app, b"shared", 1).await;
    let own = link(&fx, &app, b"own", 1).await;
    let m = push(
        &fx,
        &app,
        b"image",
        &[shared.clone(), own.clone()],
        Some(&tag("v1")),
        100,
    )
    .await;
    push(&fx, &app, b"image", &[], Some(&tag("v2")), 110).await;
    let index = digest(b"index");
    let children = [(m.clone(), 5)];
    let multi = tag("multi");
    let put = NewManifest {
        media_type: INDEX,
        manifests: &children,
        tag: Some(&multi),
        now: 120,
        ..manifest(&app, &index, b"index")
    };
    fx.store.put_manifest(put).await.expect("index");
    let loose = push(&fx, &app, b"loose", &[], None, 130).await;
    link(&fx, &other, b"shared", 140).await;
    let kept = push(
        &fx,
        &other,
        b"kept",
        std::slice::from_ref(&shared),
        Some(&tag("v1")),
        150,
    )
    .await;
    fx.store
        .create_upload("up-app", &app, 160)
        .await
        .expect("upload");
    fx.store
        .create_upload("up-other", &other, 160)
        .await
        .expect("upload");
    let events = fx.store.events_after(0, 1_000).await.expect("events");
    let other_before = record(&fx, &other).await;

    let deleted = fx.store.delete_repository(&app, 900).await.expect("delete");

    assert_eq!(
        deleted,
        DeletedRepository {
            tags: 3,
            manifests: 3
        }
    );
    assert_eq!(fx.store.repository(&app).await.expect("record"), None);
    assert!(!fx.store.repository_exists(&app).await.expect("exists"));
    assert!(fx
        .store
        .list_tags(&app, None, None)
        .await
        .expect("tags")
        .is_empty());
    assert!(tag_names(&fx, &app, TagOrder::Name, 100).await.is_empty());
    assert!(
        image_digests(&fx, &app, ImageOrder::TimeAsc, TagStatus::Any)
            .await
            .is_empty()
    );
    for reference in [
        by_tag("v1"),
        by_tag("multi"),
        by_digest(&m),
        by_digest(&loose),
    ] {
        let found = fx.store.manifest(&app, &reference).await.expect("manifest");
        assert_eq!(found, None, "{reference:?}");
    }
    for (blob, _) in [&shared, &own] {
        let linked = fx.store.linked_blob_size(&app, blob).await.expect("size");
        assert_eq!(linked, None);
        assert_eq!(fx.store.blob_link(&app, blob).await.expect("link"), None);
    }
    assert_eq!(
        fx.count("blobs").await,
        2,
        "blob rows stay for garbage collection"
    );
    assert_eq!(
        fx.store.blob_size(&shared.0).await.expect("shared"),
        Some(6)
    );
    assert_eq!(fx.store.blob_size(&own.0).await.expect("own"), None);
    assert_eq!(fx.count("manifest_references").await, 1);
    assert_eq!(fx.store.upload("up-app").await.expect("upload"), None);
    assert!(fx.store.upload("up-other").await.expect("upload").is_some());
    assert_eq!(fx.store.usage().await.expect("usage"), usage(9, 2, 1, 1, 1));
    assert_eq!(record(&fx, &other).await, other_before);
    let served = fx
        .store
        .manifest(&other, &by_tag("v1"))
        .await
        .expect("other");
    assert_eq!(served.expect("other keeps its tag").digest, kept);
    let names = fx.store.list_repositories(None, None).await.expect("names");
    assert_eq!(names, ["other"]);

    let after = fx.store.events_after(0, 1_000).await.expect("events");
    assert_eq!(after[..events.len()], events[..]);
    let added: Vec<_> = after[events.len()..]
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.repository.as_str(),
                e.at,
                e.digest.as_deref(),
                e.tag.as_deref(),
                e.detail.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        added,
        [(
            "repository.deleted",
            "app",
            900,
            None,
            None,
            Some("tags=3 manifests=3")
        )]
    );

    let before = snapshot(&fx).await;
    let err = fx.store.delete_repository(&app, 901).await;
    assert!(matches!(err, Err(MetaError::NotFound(_))), "{err:?}");
    let err = fx.store.delete_repository(&repo("ghost"), 901).await;
    assert!(matches!(err, Err(MetaError::NotFound(_))), "{err:?}");
    assert_unchanged(&fx, &before).await;

    link(&fx, &app, b"own", 1_000).await;
    assert_eq!(counts(&fx, &app).await, (0, 0, 3));
}

/// What carries the attributes a test changes.
#[derive(Clone, Copy, Debug)]
enum Level {
    Repository,
    Tag,
    Manifest,
}

async fn set_attributes(
    fx: &Fixture,
    level: Level,
    repository: &RepositoryName,
    id: &Digest,
    patch: AttributesPatch,
) {
    match level {
        Level::Repository => {
            set_repository_attributes(fx, repository, patch, 500).await;
        }
        Level::Tag => {
            let t = fx
                .store
                .update_tag_attributes(repository, &tag("v1"), patch)
                .await;
            t.expect("tag attributes");
        }
        Level::Manifest => {
            let m = fx
                .store
                .update_manifest_attributes(repository, id, patch)
                .await;
            m.expect("manifest attributes");
        }
    }
}

#[tokio::test]
async fn delete_repository_refuses_while_anything_is_locked() {
    let fx = Fixture::new().await;
    let app = repo("app");
    let blobs = [link(&fx, &app, b"layer", 1).await];
    let m = push(&fx, &app, b"m", &blobs, Some(&tag("v1")), 100).await;
    push(&fx, &app, b"n", &blobs, Some(&tag("v2")), 110).await;
    fx.store
        .create_upload("up", &app, 120)
        .await
        .expect("upload");
    let cases = [
        (
            Level::Repository,
            write(false),
            repository_item("app"),
            Lock::Write,
        ),
        (
            Level::Repository,
            delete(false),
            repository_item("app"),
            Lock::Delete,
        ),
        (Level::Tag, write(false), tag_item("app", "v1"), Lock::Write),
        (
            Level::Tag,
            delete(false),
            tag_item("app", "v1"),
            Lock::Delete,
        ),
        (
            Level::Manifest,
            write(false),
            manifest_item("app", &m),
            Lock::Write,
        ),
        (
            Level::Manifest,
            delete(false),
            manifest_item("app", &m),
            Lock::Delete,
        ),
    ];

    for (level, lock_patch, item, lock) in cases {
        set_attributes(&fx, level, &app, &m, lock_patch).await;
        let before = snapshot(&fx).await;

        let err = fx.store.delete_repository(&app, 600).await;

        assert_locked(err.expect_err("locked"), item, lock);
        assert_unchanged(&fx, &before).await;
        let unlock = AttributesPatch {
            write_enabled: lock_patch.write_enabled.map(|_| true),
            delete_enabled: lock_patch.delete_enabled.map(|_| true),
            ..AttributesPatch::default()
        };
        set_attributes(&fx, level, &app, &m, unlock).await;
    }

    for level in [Level::Repository, Level::Tag, Level::Manifest] {
        let hidden = AttributesPatch {
            read_enabled: Some(false),
            list_enabled: Some(false),
            ..AttributesPatch::default()
        };
        set_attributes(&fx, level, &app, &m, hidden).await;
    }
    let deleted = fx.store.delete_repository(&app, 700).await;
    assert_eq!(
        deleted.expect("read and list locks do not forbid deleting"),
        DeletedRepository {
            tags: 2,
            manifests: 2
        }
    );
    assert_eq!(fx.store.upload("up").await.expect("upload"), None);
}
