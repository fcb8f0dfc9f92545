//! Behaviour of the filesystem blob store through the public `BlobStore` contract.

use std::io;
use std::path::Path;

use berth_blobs::{BlobError, BlobStore, ByteStream, FsBlobStore};
use berth_oci::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::StreamExt;

fn body(chunks: &[&[u8]]) -> ByteStream {
    let items: Vec<io::Result<Bytes>> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(items))
}

fn failing_body(chunks: &[&[u8]]) -> ByteStream {
    let mut items: Vec<io::Result<Bytes>> = chunks
        .iter()
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    items.push(Err(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "peer reset",
    )));
    Box::pin(futures_util::stream::iter(items))
}

async fn collect(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

async fn store(dir: &Path) -> FsBlobStore {
    FsBlobStore::open(dir).await.expect("open store")
}

/// Pseudo-random but deterministic content, so a misplaced chunk changes the bytes.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

async fn push(store: &FsBlobStore, id: &str, data: &[u8]) -> Digest {
    let digest = Digest::sha256(data);
    store.start_upload(id).await.expect("start");
    let size = store
        .append_upload(id, 0, None, body(&[data]))
        .await
        .expect("append");
    assert_eq!(size, data.len() as u64);
    let committed = store.commit_upload(id, &digest).await.expect("commit");
    assert_eq!(committed, data.len() as u64);
    digest
}

#[tokio::test]
async fn commit_then_read_full_and_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let data = b"hello, registry world";
    let digest = push(&store, "u1", data).await;

    assert_eq!(
        store.stat(&digest).await.expect("stat"),
        Some(data.len() as u64)
    );
    let full = store
        .read(&digest, 0, data.len() as u64)
        .await
        .expect("read");
    assert_eq!(collect(full).await, data);
    let middle = store.read(&digest, 7, 8).await.expect("read");
    assert_eq!(collect(middle).await, b"registry");
    let empty = store.read(&digest, 3, 0).await.expect("read");
    assert!(collect(empty).await.is_empty());

    let hex = digest.hex();
    let on_disk = dir.path().join("blobs/sha256").join(&hex[..2]).join(hex);
    assert_eq!(std::fs::read(on_disk).expect("blob file"), data);
    assert!(store.list_uploads().await.expect("list").is_empty());
}

#[tokio::test]
async fn reading_past_the_end_reports_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let digest = push(&store, "u1", b"short").await;

    let mut stream = store.read(&digest, 2, 10).await.expect("read");
    let first = stream.next().await.expect("item");
    assert_eq!(first.expect_err("eof").kind(), io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn absent_blob_is_none_and_unreadable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let digest = Digest::sha256(b"never stored");

    assert_eq!(store.stat(&digest).await.expect("stat"), None);
    match store.read(&digest, 0, 1).await {
        Err(BlobError::Io { source, .. }) => assert_eq!(source.kind(), io::ErrorKind::NotFound),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("absent blob was readable"),
    }
    assert!(!store.delete(&digest).await.expect("delete"));
}

#[tokio::test]
async fn chunked_appends_concatenate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("chunky").await.expect("start");

    let size = store
        .append_upload("chunky", 0, Some(6), body(&[b"ab", b"", b"cdef"]))
        .await
        .expect("first");
    assert_eq!(size, 6);
    let size = store
        .append_upload("chunky", 6, None, body(&[b"gh", b"ij"]))
        .await
        .expect("second");
    assert_eq!(size, 10);
    assert_eq!(store.upload_size("chunky").await.expect("size"), 10);

    let digest = Digest::sha256(b"abcdefghij");
    assert_eq!(
        store
            .commit_upload("chunky", &digest)
            .await
            .expect("commit"),
        10
    );
    let read = store.read(&digest, 0, 10).await.expect("read");
    assert_eq!(collect(read).await, b"abcdefghij");
}

#[tokio::test]
async fn offset_mismatch_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("u").await.expect("start");
    store
        .append_upload("u", 0, None, body(&[b"abc"]))
        .await
        .expect("append");

    for offset in [0, 2, 4] {
        let err = store
            .append_upload("u", offset, None, body(&[b"zzz"]))
            .await
            .expect_err("bad offset");
        assert!(
            matches!(err, BlobError::OffsetMismatch { expected: 3, got } if got == offset),
            "{err:?}"
        );
    }
    assert_eq!(store.upload_size("u").await.expect("size"), 3);

    let digest = Digest::sha256(b"abc");
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 3);
}

#[tokio::test]
async fn size_mismatch_rolls_back_to_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("u").await.expect("start");
    store
        .append_upload("u", 0, Some(3), body(&[b"abc"]))
        .await
        .expect("append");

    let short = store
        .append_upload("u", 3, Some(5), body(&[b"de"]))
        .await
        .expect_err("short body");
    assert!(
        matches!(
            short,
            BlobError::SizeMismatch {
                expected: 5,
                actual: 2
            }
        ),
        "{short:?}"
    );
    assert_eq!(store.upload_size("u").await.expect("size"), 3);

    let long = store
        .append_upload("u", 3, Some(2), body(&[b"d", b"efg"]))
        .await
        .expect_err("long body");
    assert!(
        matches!(
            long,
            BlobError::SizeMismatch {
                expected: 2,
                actual: 4
            }
        ),
        "{long:?}"
    );
    assert_eq!(store.upload_size("u").await.expect("size"), 3);

    // The running hash must have been rolled back with the file.
    store
        .append_upload("u", 3, Some(3), body(&[b"xyz"]))
        .await
        .expect("append after rollback");
    let digest = Digest::sha256(b"abcxyz");
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 6);
}

#[tokio::test]
async fn digest_mismatch_drops_session_and_publishes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("u").await.expect("start");
    store
        .append_upload("u", 0, None, body(&[b"real bytes"]))
        .await
        .expect("append");

    let claimed = Digest::sha256(b"other bytes");
    let err = store
        .commit_upload("u", &claimed)
        .await
        .expect_err("mismatch");
    match err {
        BlobError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::sha256(b"real bytes"));
        }
        other => panic!("unexpected error {other:?}"),
    }

    assert_eq!(store.stat(&claimed).await.expect("stat"), None);
    let actual = Digest::sha256(b"real bytes");
    assert_eq!(store.stat(&actual).await.expect("stat"), None);
    assert!(store.list_blobs().await.expect("list").is_empty());
    assert!(store.list_uploads().await.expect("list").is_empty());
    assert!(matches!(
        store.upload_size("u").await,
        Err(BlobError::UploadUnknown(id)) if id == "u"
    ));
}

#[tokio::test]
async fn committing_an_existing_digest_dedups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let first = push(&store, "first", b"same").await;
    let second = push(&store, "second", b"same").await;

    assert_eq!(first, second);
    assert_eq!(store.list_blobs().await.expect("list"), vec![first.clone()]);
    assert!(store.list_uploads().await.expect("list").is_empty());
    let read = store.read(&first, 0, 4).await.expect("read");
    assert_eq!(collect(read).await, b"same");
}

#[tokio::test]
async fn cancel_removes_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("u").await.expect("start");
    store
        .append_upload("u", 0, None, body(&[b"data"]))
        .await
        .expect("append");

    store.cancel_upload("u").await.expect("cancel");
    store.cancel_upload("u").await.expect("cancel again");
    store
        .cancel_upload("never-started")
        .await
        .expect("cancel absent");

    assert!(store.list_uploads().await.expect("list").is_empty());
    let err = store
        .append_upload("u", 4, None, body(&[b"more"]))
        .await
        .expect_err("cancelled");
    assert!(matches!(err, BlobError::UploadUnknown(_)), "{err:?}");
    let err = store
        .commit_upload("u", &Digest::sha256(b"data"))
        .await
        .expect_err("cancelled");
    assert!(matches!(err, BlobError::UploadUnknown(_)), "{err:?}");
}

#[tokio::test]
async fn invalid_upload_ids_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let long = "a".repeat(65);
    let digest = Digest::sha256(b"");

    for id in ["../x", "", "a/b", ".", "..", "a b", "é", long.as_str()] {
        let unknown = |r: Result<_, BlobError>| matches!(r, Err(BlobError::UploadUnknown(_)));
        assert!(
            unknown(store.start_upload(id).await.map(|_| ())),
            "start {id:?}"
        );
        assert!(
            unknown(store.upload_size(id).await.map(|_| ())),
            "size {id:?}"
        );
        let appended = store.append_upload(id, 0, None, body(&[b"x"])).await;
        assert!(unknown(appended.map(|_| ())), "append {id:?}");
        assert!(
            unknown(store.commit_upload(id, &digest).await.map(|_| ())),
            "commit {id:?}"
        );
        assert!(unknown(store.cancel_upload(id).await), "cancel {id:?}");
    }
    assert!(!dir.path().join("x").exists());
    assert!(store.list_uploads().await.expect("list").is_empty());

    let longest = "a".repeat(64);
    store
        .start_upload(&longest)
        .await
        .expect("64 chars is valid");
    store
        .start_upload("A-z_09")
        .await
        .expect("allowed characters");
}

#[tokio::test]
async fn upload_continues_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = store(dir.path()).await;
        store.start_upload("u").await.expect("start");
        store
            .append_upload("u", 0, None, body(&[b"before "]))
            .await
            .expect("append");
    }

    let store = store(dir.path()).await;
    assert_eq!(store.upload_size("u").await.expect("size"), 7);
    store
        .append_upload("u", 7, None, body(&[b"after"]))
        .await
        .expect("append after restart");
    let digest = Digest::sha256(b"before after");
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 12);
}

#[tokio::test]
async fn outside_change_to_an_upload_is_rehashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("u").await.expect("start");
    store
        .append_upload("u", 0, None, body(&[b"abc"]))
        .await
        .expect("append");

    // The cached running hash covers 3 bytes; the file now has 6, so it must be rebuilt.
    let path = dir.path().join("uploads/u");
    let mut content = std::fs::read(&path).expect("read upload");
    content.extend_from_slice(b"def");
    std::fs::write(&path, content).expect("grow upload");

    store
        .append_upload("u", 6, None, body(&[b"ghi"]))
        .await
        .expect("append");
    let digest = Digest::sha256(b"abcdefghi");
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 9);
}

#[tokio::test]
async fn sha512_digest_is_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let data = b"sha512 content";
    store.start_upload("u").await.expect("start");
    store
        .append_upload("u", 0, None, body(&[data]))
        .await
        .expect("append");

    let digest = Digest::of(Algorithm::Sha512, data);
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 14);
    assert_eq!(store.stat(&digest).await.expect("stat"), Some(14));
    let read = store.read(&digest, 0, 14).await.expect("read");
    assert_eq!(collect(read).await, data);
    assert_eq!(store.list_blobs().await.expect("list"), vec![digest]);

    store.start_upload("v").await.expect("start");
    store
        .append_upload("v", 0, None, body(&[data]))
        .await
        .expect("append");
    let wrong = Digest::of(Algorithm::Sha512, b"other");
    let err = store
        .commit_upload("v", &wrong)
        .await
        .expect_err("mismatch");
    assert!(matches!(err, BlobError::DigestMismatch { .. }), "{err:?}");
}

#[tokio::test]
async fn interrupted_body_keeps_received_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    store.start_upload("u").await.expect("start");

    let err = store
        .append_upload("u", 0, Some(10), failing_body(&[b"abc", b"de"]))
        .await
        .expect_err("interrupted");
    match err {
        BlobError::BodyInterrupted(source) => {
            assert_eq!(source.kind(), io::ErrorKind::ConnectionReset);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(store.upload_size("u").await.expect("size"), 5);

    store
        .append_upload("u", 5, Some(5), body(&[b"fghij"]))
        .await
        .expect("resume");
    let digest = Digest::sha256(b"abcdefghij");
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 10);
}

#[tokio::test]
async fn listings_show_uploads_and_blobs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let a = push(&store, "a", b"blob a").await;
    let b = push(&store, "b", b"blob b").await;
    store.start_upload("pending-1").await.expect("start");
    store.start_upload("pending-2").await.expect("start");
    std::fs::write(dir.path().join("blobs/sha256/stray"), b"x").expect("stray dir entry");

    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(store.list_blobs().await.expect("list"), expected);

    let mut ids: Vec<String> = store
        .list_uploads()
        .await
        .expect("list")
        .into_iter()
        .map(|(id, modified)| {
            assert!(modified.elapsed().map_or(true, |age| age.as_secs() < 600));
            id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["pending-1", "pending-2"]);

    assert!(store.delete(&a).await.expect("delete"));
    assert!(!store.delete(&a).await.expect("delete again"));
    assert_eq!(store.stat(&a).await.expect("stat"), None);
    assert_eq!(store.list_blobs().await.expect("list"), vec![b]);
}

#[tokio::test]
async fn large_blob_streams_in_bounded_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path()).await;
    let data = pattern(20 * 1024 * 1024 + 123);
    let digest = Digest::sha256(&data);

    store.start_upload("big").await.expect("start");
    let chunks: Vec<&[u8]> = data.chunks(64 * 1024 + 7).collect();
    let size = store
        .append_upload("big", 0, Some(data.len() as u64), body(&chunks))
        .await
        .expect("append");
    assert_eq!(size, data.len() as u64);
    store.commit_upload("big", &digest).await.expect("commit");

    let mut stream = store
        .read(&digest, 0, data.len() as u64)
        .await
        .expect("read");
    let mut out = Vec::with_capacity(data.len());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        assert!(
            !chunk.is_empty() && chunk.len() <= 256 * 1024,
            "{}",
            chunk.len()
        );
        out.extend_from_slice(&chunk);
    }
    assert!(out == data, "read back differs");

    let start = 256 * 1024 - 10;
    let range = store
        .read(&digest, start as u64, 100_000)
        .await
        .expect("read");
    assert!(collect(range).await == data[start..start + 100_000]);

    // Dropping a download early must not wedge the store.
    let mut partial = store
        .read(&digest, 0, data.len() as u64)
        .await
        .expect("read");
    assert!(partial.next().await.is_some());
    drop(partial);
    assert!(store.delete(&digest).await.expect("delete"));
}

#[tokio::test]
async fn concurrent_appends_to_one_upload_are_serialized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(store(dir.path()).await);
    store.start_upload("u").await.expect("start");

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_upload("u", 0, None, body(&[b"aaaa", b"bbbb"]))
                    .await
            })
        })
        .collect();
    let mut successes = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(size) => {
                assert_eq!(size, 8);
                successes += 1;
            }
            Err(BlobError::OffsetMismatch {
                expected: 8,
                got: 0,
            }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(successes, 1);
    let digest = Digest::sha256(b"aaaabbbb");
    assert_eq!(store.commit_upload("u", &digest).await.expect("commit"), 8);
}
