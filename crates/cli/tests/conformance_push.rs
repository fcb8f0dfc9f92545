//! OCI Distribution Spec v1.1 conformance, push workflow (end-4a/4b, end-5, end-6, end-7,
//! end-11, end-13): monolithic, POST+PUT, chunked and streamed blob uploads, upload status and
//! resume on a new connection, cross-repository mounts, manifest pushes, and every refusal
//! with its status and code. For each refused request the test also proves that nothing was
//! stored: the blob stays unknown, the manifest stays 404, the tag keeps its old manifest.

mod support;
mod support_http;

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use support::Server;
use support_http::*;

const UNKNOWN_UPLOAD: &str = "/v2/push/x/blobs/uploads/5b0b0ed8-9a3f-4b86-9a66-000000000000";

/// Asserts that `digest` is not readable in `repo` and not on disk.
async fn assert_blob_absent(c: &Client, server: &Server, repo: &str, d: &str) {
    c.get(&format!("/v2/{repo}/blobs/{d}"))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    assert!(
        !blob_file_exists(&server.data_dir, d),
        "blob file written for {d}"
    );
}

#[tokio::test]
async fn post_then_put_upload() {
    let server = Server::start();
    let c = Client::new(&server);

    let resp = c
        .send("POST", "/v2/push/post/blobs/uploads/", &[], None)
        .await;
    resp.expect(202);
    let location = resp.location();
    assert!(
        location.starts_with("/v2/push/post/blobs/uploads/"),
        "{}",
        resp.describe()
    );
    assert!(
        resp.header("docker-upload-uuid").is_some(),
        "{}",
        resp.describe()
    );
    assert_eq!(resp.header("range"), Some("0-0"), "{}", resp.describe());

    let bytes = b"post then put".to_vec();
    let d = digest(&bytes);
    let resp = c.finish(&location, &d, &bytes).await;
    resp.expect(201);
    assert_eq!(resp.location(), format!("/v2/push/post/blobs/{d}"));
    assert_eq!(resp.header("docker-content-digest"), Some(d.as_str()));
    let got = c.get(&format!("/v2/push/post/blobs/{d}")).await;
    got.expect(200);
    assert_eq!(got.body, bytes);
    assert!(
        blob_file_exists(&server.data_dir, &d),
        "blob layout is not blobs/sha256/xx/hex"
    );

    // The session ends with the PUT.
    c.get(&location)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn monolithic_post_with_digest() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(5000, 3);
    let d = digest(&bytes);
    let path = format!("/v2/push/mono/blobs/uploads/?digest={d}");
    let headers = [("content-type", "application/octet-stream")];
    let resp = c.send("POST", &path, &headers, Some(bytes.clone())).await;
    resp.expect(201);
    assert_eq!(resp.location(), format!("/v2/push/mono/blobs/{d}"));
    assert_eq!(resp.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(c.get(&format!("/v2/push/mono/blobs/{d}")).await.body, bytes);

    // Pushing the same content again is idempotent.
    c.send("POST", &path, &headers, Some(bytes.clone()))
        .await
        .expect(201);

    // Mismatch: nothing stored under either digest.
    let other = b"not the bytes".to_vec();
    let claimed = digest(b"claimed");
    let path = format!("/v2/push/mono/blobs/uploads/?digest={claimed}");
    let resp = c.send("POST", &path, &headers, Some(other.clone())).await;
    resp.expect_error(400, "DIGEST_INVALID");
    assert_blob_absent(&c, &server, "push/mono", &claimed).await;
    assert_blob_absent(&c, &server, "push/mono", &digest(&other)).await;

    let path = "/v2/push/mono/blobs/uploads/?digest=sha256:nothex";
    let resp = c.send("POST", path, &headers, Some(other.clone())).await;
    resp.expect_error(400, "DIGEST_INVALID");
    assert_blob_absent(&c, &server, "push/mono", &digest(&other)).await;
}

#[tokio::test]
async fn chunked_upload_with_status_checks() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(3000, 4);
    let d = digest(&bytes);
    let mut location = c.start_upload("push/chunk").await;

    let status = c.get(&location).await;
    status.expect(204);
    assert_eq!(status.header("range"), Some("0-0"), "{}", status.describe());

    for (start, end) in [(0usize, 1000usize), (1000, 2000)] {
        let range = format!("{}-{}", start, end - 1);
        let resp = c.patch(&location, &bytes[start..end], Some(&range)).await;
        resp.expect(202);
        assert_eq!(
            resp.header("range"),
            Some(range_upto(end).as_str()),
            "{}",
            resp.describe()
        );
        assert!(resp.header("docker-upload-uuid").is_some());
        location = resp.location();

        let status = c.get(&location).await;
        status.expect(204);
        assert_eq!(status.header("range"), Some(range_upto(end).as_str()));
        assert!(status.header("docker-upload-uuid").is_some());
        assert!(status.header("location").is_some());
    }

    // The final chunk travels with the closing PUT.
    let resp = c.finish(&location, &d, &bytes[2000..]).await;
    resp.expect(201);
    assert_eq!(resp.header("docker-content-digest"), Some(d.as_str()));
    let got = c.get(&format!("/v2/push/chunk/blobs/{d}")).await;
    got.expect(200);
    assert_eq!(got.body, bytes);
}

fn range_upto(end: usize) -> String {
    format!("0-{}", end - 1)
}

#[tokio::test]
async fn chunk_out_of_order_and_bad_content_range() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(30, 5);
    let d = digest(&bytes);
    let location = c.start_upload("push/order").await;
    let location = c
        .patch(&location, &bytes[..10], Some("0-9"))
        .await
        .expect(202)
        .location();

    let resp = c.patch(&location, &bytes[20..30], Some("20-29")).await;
    resp.expect_error(416, "BLOB_UPLOAD_INVALID");
    let resp = c.patch(&location, &bytes[..10], Some("0-9")).await;
    resp.expect_error(416, "BLOB_UPLOAD_INVALID");
    for bad in ["abc", "10-", "-19", "10-x", "ten-19"] {
        let resp = c.patch(&location, &bytes[10..20], Some(bad)).await;
        resp.expect_error(400, "BLOB_UPLOAD_INVALID");
    }
    let status = c.get(&location).await;
    status.expect(204);
    assert_eq!(
        status.header("range"),
        Some("0-9"),
        "nothing may be appended"
    );

    // A Content-Range whose length disagrees with the body, or that runs backwards, is
    // refused too.
    for (chunk, range) in [(&bytes[10..15], "10-19"), (&bytes[10..20], "19-10")] {
        let resp = c.patch(&location, chunk, Some(range)).await;
        assert!(
            matches!(resp.status, 400 | 416),
            "{range}: {}",
            resp.describe()
        );
        assert_eq!(
            c.get(&location).await.header("range"),
            Some("0-9"),
            "{range}"
        );
    }

    // The upload is still usable after the refusals.
    let location = c
        .patch(&location, &bytes[10..30], Some("10-29"))
        .await
        .expect(202)
        .location();
    c.finish(&location, &d, b"").await.expect(201);
    assert_eq!(
        c.get(&format!("/v2/push/order/blobs/{d}")).await.body,
        bytes
    );
}

#[tokio::test]
async fn streamed_upload_without_content_range() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(200_000, 6);
    let d = digest(&bytes);
    let location = c.start_upload("push/stream").await;

    // Chunked transfer encoding: no Content-Length, no Content-Range.
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for piece in bytes.chunks(65_536) {
        let mut part = format!("{:x}\r\n", piece.len()).into_bytes();
        part.extend_from_slice(piece);
        part.extend_from_slice(b"\r\n");
        parts.push(part);
    }
    parts.push(b"0\r\n\r\n".to_vec());
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.host()
    );
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let (status, text) = raw_request(&server, &head, &refs);
    assert_eq!(status, 202, "{text}");
    assert_eq!(
        raw_header(&text, "range").as_deref(),
        Some("0-199999"),
        "{text}"
    );
    let location = path_of(&raw_header(&text, "location").expect("location"));

    c.finish(&location, &d, b"").await.expect(201);
    assert_eq!(
        digest(&c.get(&format!("/v2/push/stream/blobs/{d}")).await.body),
        d
    );
}

#[tokio::test]
async fn large_chunked_upload_over_several_patches() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(10 * 1024 * 1024 + 123_457, 7);
    let d = digest(&bytes);
    let mut location = c.start_upload("push/large").await;
    let mut offset = 0;
    for chunk in bytes.chunks(3 * 1024 * 1024) {
        let range = format!("{}-{}", offset, offset + chunk.len() - 1);
        let resp = c.patch(&location, chunk, Some(&range)).await;
        resp.expect(202);
        offset += chunk.len();
        assert_eq!(resp.header("range"), Some(range_upto(offset).as_str()));
        location = resp.location();
    }
    c.finish(&location, &d, b"").await.expect(201);
    let got = c.get(&format!("/v2/push/large/blobs/{d}")).await;
    got.expect(200);
    assert_eq!(got.body.len(), bytes.len());
    assert_eq!(digest(&got.body), d);
}

#[tokio::test]
async fn put_digest_mismatch_stores_nothing() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = b"the real bytes".to_vec();
    let claimed = digest(b"other bytes");
    let location = c.start_upload("push/mismatch").await;
    let location = c
        .patch(&location, &bytes, None)
        .await
        .expect(202)
        .location();

    c.finish(&location, &claimed, b"")
        .await
        .expect_error(400, "DIGEST_INVALID");
    assert_blob_absent(&c, &server, "push/mismatch", &claimed).await;
    assert_blob_absent(&c, &server, "push/mismatch", &digest(&bytes)).await;
    c.get(&location)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn put_missing_or_invalid_digest_param() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = b"some bytes".to_vec();
    let location = c.start_upload("push/noparam").await;
    let location = c
        .patch(&location, &bytes, None)
        .await
        .expect(202)
        .location();

    let resp = c.send("PUT", &location, &[], Some(Vec::new())).await;
    resp.expect_error(400, "DIGEST_INVALID");
    for bad in ["sha256:zz", "nothing", "sha256:abc"] {
        c.finish(&location, bad, b"")
            .await
            .expect_error(400, "DIGEST_INVALID");
    }
    assert_blob_absent(&c, &server, "push/noparam", &digest(&bytes)).await;
}

#[tokio::test]
async fn unknown_upload_is_404_everywhere() {
    let server = Server::start();
    let c = Client::new(&server);
    c.push_blob("push/x", b"make the repo exist").await;
    let d = digest(b"data");

    c.get(UNKNOWN_UPLOAD)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.patch(UNKNOWN_UPLOAD, b"data", None)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.finish(UNKNOWN_UPLOAD, &d, b"data")
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.delete(UNKNOWN_UPLOAD)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    assert_blob_absent(&c, &server, "push/x", &d).await;
}

#[tokio::test]
async fn upload_id_is_bound_to_its_repository() {
    let server = Server::start();
    let c = Client::new(&server);
    c.push_blob("push/b", b"repo b exists").await;
    let location = c.start_upload("push/a").await;
    let location = c
        .patch(&location, b"abc", None)
        .await
        .expect(202)
        .location();
    let foreign = location.replacen("/v2/push/a/", "/v2/push/b/", 1);
    assert_ne!(foreign, location);
    let d = digest(b"abc");

    c.get(&foreign)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.patch(&foreign, b"def", None)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.finish(&foreign, &d, b"")
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.delete(&foreign)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    c.get(&format!("/v2/push/b/blobs/{d}"))
        .await
        .expect_error(404, "BLOB_UNKNOWN");

    // The session in A is untouched by the attempts through B.
    assert_eq!(
        c.get(&location).await.expect(204).header("range"),
        Some("0-2")
    );
    c.finish(&location, &d, b"").await.expect(201);
}

#[tokio::test]
async fn cancel_upload_with_delete() {
    let server = Server::start();
    let c = Client::new(&server);
    let location = c.start_upload("push/cancel").await;
    let location = c
        .patch(&location, b"doomed", None)
        .await
        .expect(202)
        .location();
    c.delete(&location).await.expect(204);
    c.get(&location)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    let d = digest(b"doomed");
    c.finish(&location, &d, b"")
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    assert_blob_absent(&c, &server, "push/cancel", &d).await;
}

#[tokio::test]
async fn resume_upload_on_a_new_connection() {
    let server = Server::start();
    let bytes = pseudo_random(100_000, 8);
    let d = digest(&bytes);

    let first = Client::new(&server);
    let location = first.start_upload("push/resume").await;
    let resp = first
        .patch(&location, &bytes[..40_000], Some("0-39999"))
        .await;
    let location = resp.expect(202).location();
    drop(first);

    // A new client (new connection pool) asks where the upload stands and continues.
    let second = Client::new(&server);
    let status = second.get(&location).await;
    status.expect(204);
    assert_eq!(status.header("range"), Some("0-39999"));
    let location = status.location();
    let resp = second
        .patch(&location, &bytes[40_000..], Some("40000-99999"))
        .await;
    let location = resp.expect(202).location();
    second.finish(&location, &d, b"").await.expect(201);
    assert_eq!(
        digest(&second.get(&format!("/v2/push/resume/blobs/{d}")).await.body),
        d
    );
}

#[tokio::test]
async fn resume_after_connection_dropped_mid_chunk() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(300_000, 9);
    let d = digest(&bytes);
    let location = c.start_upload("push/dropped").await;
    let resp = c.patch(&location, &bytes[..50_000], Some("0-49999")).await;
    let location = resp.expect(202).location();

    // The client announces 100 000 bytes, sends 30 000 and loses its connection.
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 100000\r\nContent-Range: 50000-149999\r\n\r\n",
        server.host()
    );
    raw_abandon(&server, &head, &bytes[50_000..80_000]);

    // Wait until the server has settled the broken request, then resume where it says.
    let size = settled_upload_size(&c, &location).await;
    assert!(
        (50_000..=80_000).contains(&size),
        "after a dropped chunk the upload must hold the acknowledged prefix plus at most the \
         bytes actually sent, holds {size}"
    );
    let range = format!("{size}-{}", bytes.len() - 1);
    let resp = c.patch(&location, &bytes[size..], Some(&range)).await;
    let location = resp.expect(202).location();
    c.finish(&location, &d, b"").await.expect(201);
    let got = c.get(&format!("/v2/push/dropped/blobs/{d}")).await;
    assert_eq!(
        digest(&got.body),
        d,
        "resumed upload assembled the wrong bytes"
    );
}

/// Polls an upload's status until its size is the same twice in a row 200 ms apart.
async fn settled_upload_size(c: &Client, location: &str) -> usize {
    let mut last = None;
    for _ in 0..50 {
        let status = c.get(location).await;
        status.expect(204);
        let range = status.header("range").expect("range").to_string();
        if last.as_deref() == Some(range.as_str()) {
            let end: usize = range
                .split('-')
                .nth(1)
                .and_then(|e| e.parse().ok())
                .expect("end");
            return end + 1;
        }
        last = Some(range);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("upload size did not settle: {last:?}");
}

#[tokio::test]
async fn cross_repository_mount() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = b"shared layer".to_vec();
    let d = c.push_blob("mount/src", &bytes).await;
    c.push_blob("mount/empty", b"nothing shared").await;

    let path = format!("/v2/mount/dst/blobs/uploads/?mount={d}&from=mount/src");
    let resp = c.send("POST", &path, &[], None).await;
    resp.expect(201);
    assert_eq!(resp.location(), format!("/v2/mount/dst/blobs/{d}"));
    assert_eq!(resp.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(
        c.get(&format!("/v2/mount/dst/blobs/{d}"))
            .await
            .expect(200)
            .body,
        bytes
    );

    // Source lacks the blob, or does not exist: fall back to a plain upload session.
    for from in ["mount/empty", "mount/nowhere"] {
        let target = format!("mount/fallback-{}", from.len());
        let path = format!("/v2/{target}/blobs/uploads/?mount={d}&from={from}");
        let resp = c.send("POST", &path, &[], None).await;
        resp.expect(202);
        let location = resp.location();
        assert!(
            location.starts_with(&format!("/v2/{target}/blobs/uploads/")),
            "{location}"
        );
        c.get(&format!("/v2/{target}/blobs/{d}"))
            .await
            .expect_error(404, "BLOB_UNKNOWN");
        c.finish(&location, &d, &bytes).await.expect(201);
        c.get(&format!("/v2/{target}/blobs/{d}")).await.expect(200);
    }
}

/// Sets up `repo` with a valid manifest under `latest`, returning it.
async fn baseline(c: &Client, repo: &str) -> Image {
    let image = Image::new(repo);
    image.push(c, repo, "latest").await;
    image
}

/// Asserts that `latest` still serves `image`, the tags are only `latest`, and the refused
/// manifest bytes are not stored under their digest.
async fn assert_unchanged(c: &Client, repo: &str, image: &Image, refused: &[u8]) {
    let resp = c.get_manifest(repo, "latest", ACCEPT_ALL).await;
    resp.expect(200);
    assert_eq!(
        resp.body, image.manifest,
        "the tag moved to a refused manifest"
    );
    assert_eq!(c.tags(repo).await, Some(vec!["latest".to_string()]));
    let refused_digest = digest(refused);
    let resp = c.get_manifest(repo, &refused_digest, "*/*").await;
    resp.expect_error(404, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn push_manifest_by_tag_and_by_digest() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("manifest-push");
    image.push_blobs(&c, "push/man").await;

    let resp = c
        .put_manifest("push/man", "v1", OCI_MANIFEST, &image.manifest)
        .await;
    resp.expect(201);
    assert_eq!(
        resp.location(),
        format!("/v2/push/man/manifests/{}", image.digest)
    );
    assert_eq!(
        resp.header("docker-content-digest"),
        Some(image.digest.as_str())
    );
    assert!(
        resp.header("oci-subject").is_none(),
        "no subject, no OCI-Subject"
    );

    let resp = c
        .put_manifest("push/man", &image.digest, OCI_MANIFEST, &image.manifest)
        .await;
    resp.expect(201);
    assert_eq!(
        resp.header("docker-content-digest"),
        Some(image.digest.as_str())
    );

    // Moving a tag to a new manifest.
    let second = Image::new("manifest-push-2");
    second.push(&c, "push/man", "v1").await;
    let resp = c.get_manifest("push/man", "v1", OCI_MANIFEST).await;
    assert_eq!(resp.body, second.manifest);
    c.get_manifest("push/man", &image.digest, OCI_MANIFEST)
        .await
        .expect(200);
}

#[tokio::test]
async fn push_index_and_docker_manifest() {
    let server = Server::start();
    let c = Client::new(&server);
    let (a, b) = (Image::new("arch-a"), Image::new("arch-b"));
    a.push(&c, "push/idx", &a.digest).await;
    b.push(&c, "push/idx", &b.digest).await;
    let index = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &a.manifest), descriptor(OCI_MANIFEST, &b.manifest)],
    }));
    c.put_manifest("push/idx", "multi", OCI_INDEX, &index)
        .await
        .expect(201);
    let resp = c.get_manifest("push/idx", "multi", ACCEPT_ALL).await;
    resp.expect(200);
    assert_eq!(resp.header("content-type"), Some(OCI_INDEX));
    assert_eq!(resp.body, index);

    // The image spec makes `mediaType` optional: the Content-Type names the type then.
    let mut bare = serde_json::from_slice::<serde_json::Value>(&a.manifest).expect("json");
    bare.as_object_mut().expect("object").remove("mediaType");
    let bare = to_bytes(&bare);
    c.put_manifest("push/idx", "bare", OCI_MANIFEST, &bare)
        .await
        .expect(201);
    let resp = c.get_manifest("push/idx", "bare", ACCEPT_ALL).await;
    assert_eq!(
        resp.header("content-type"),
        Some(OCI_MANIFEST),
        "{}",
        resp.describe()
    );
    assert_eq!(resp.body, bare);

    // A Docker schema 2 manifest keeps its media type.
    let docker = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor("application/vnd.docker.container.image.v1+json", &a.config),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", &a.layer)],
    }));
    c.put_manifest("push/idx", "docker", DOCKER_MANIFEST, &docker)
        .await
        .expect(201);
    let resp = c.get_manifest("push/idx", "docker", DOCKER_MANIFEST).await;
    resp.expect(200);
    assert_eq!(resp.header("content-type"), Some(DOCKER_MANIFEST));
    assert_eq!(resp.body, docker);
}

#[tokio::test]
async fn manifest_naming_missing_blob_or_child_is_refused() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = baseline(&c, "push/missing").await;

    let missing = image_manifest(
        &descriptor(OCI_CONFIG, &image.config),
        &[descriptor(OCI_LAYER, b"never pushed")],
    );
    let resp = c
        .put_manifest("push/missing", "latest", OCI_MANIFEST, &missing)
        .await;
    resp.expect_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert_unchanged(&c, "push/missing", &image, &missing).await;

    let missing_config = image_manifest(&descriptor(OCI_CONFIG, b"{\"no\":1}"), &[]);
    let resp = c
        .put_manifest("push/missing", "latest", OCI_MANIFEST, &missing_config)
        .await;
    resp.expect_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert_unchanged(&c, "push/missing", &image, &missing_config).await;

    let orphan_child = Image::new("never pushed child");
    let index = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &orphan_child.manifest)],
    }));
    let resp = c
        .put_manifest("push/missing", "latest", OCI_INDEX, &index)
        .await;
    resp.expect_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert_unchanged(&c, "push/missing", &image, &index).await;
}

#[tokio::test]
async fn manifest_digest_and_size_mismatches_are_refused() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = baseline(&c, "push/mism").await;
    let other = Image::new("other manifest");
    other.push_blobs(&c, "push/mism").await;

    let wrong = digest(b"not this manifest");
    let resp = c
        .put_manifest("push/mism", &wrong, OCI_MANIFEST, &other.manifest)
        .await;
    resp.expect_error(400, "DIGEST_INVALID");
    assert_unchanged(&c, "push/mism", &image, &other.manifest).await;
    c.get_manifest("push/mism", &wrong, "*/*")
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    let resp = c
        .put_manifest("push/mism", "sha256:zz", OCI_MANIFEST, &other.manifest)
        .await;
    resp.expect_error(400, "DIGEST_INVALID");
    assert_unchanged(&c, "push/mism", &image, &other.manifest).await;

    let mut layer = descriptor(OCI_LAYER, &image.layer);
    layer["size"] = json!(image.layer.len() + 1);
    let bad_size = image_manifest(&descriptor(OCI_CONFIG, &image.config), &[layer]);
    let resp = c
        .put_manifest("push/mism", "latest", OCI_MANIFEST, &bad_size)
        .await;
    resp.expect_error(400, "MANIFEST_INVALID");
    assert_unchanged(&c, "push/mism", &image, &bad_size).await;
}

#[tokio::test]
async fn malformed_manifests_are_manifest_invalid() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = baseline(&c, "push/bad").await;
    let config = descriptor(OCI_CONFIG, &image.config);
    let layers = [descriptor(OCI_LAYER, &image.layer)];

    let schema1 = to_bytes(&json!({
        "schemaVersion": 1, "name": "push/bad", "tag": "latest", "architecture": "amd64",
        "fsLayers": [{"blobSum": digest(&image.layer)}], "history": [], "signatures": [],
    }));
    let mut wrong_type =
        serde_json::from_slice::<serde_json::Value>(&image.manifest).expect("json");
    wrong_type["mediaType"] = json!(OCI_INDEX);
    let wrong_type = to_bytes(&wrong_type);
    let schema3 = to_bytes(&json!({
        "schemaVersion": 3, "mediaType": OCI_MANIFEST, "config": config, "layers": layers,
    }));
    let no_config = to_bytes(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": layers,
    }));
    let bad_digest_field = to_bytes(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": "sha256:zz", "size": 3},
        "layers": [],
    }));
    let mut no_media_type =
        serde_json::from_slice::<serde_json::Value>(&image.manifest).expect("json");
    no_media_type
        .as_object_mut()
        .expect("object")
        .remove("mediaType");
    let no_media_type = to_bytes(&no_media_type);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated json",
            image.manifest[..image.manifest.len() / 2].to_vec(),
            OCI_MANIFEST,
        ),
        ("not json", b"hello registry".to_vec(), OCI_MANIFEST),
        ("empty body", Vec::new(), OCI_MANIFEST),
        ("json array", b"[1,2,3]".to_vec(), OCI_MANIFEST),
        ("schema 1", schema1.clone(), DOCKER_SCHEMA1),
        ("schema 1 as oci", schema1, OCI_MANIFEST),
        (
            "mediaType differs from Content-Type",
            wrong_type,
            OCI_MANIFEST,
        ),
        (
            "no mediaType, unsupported Content-Type",
            no_media_type.clone(),
            "text/plain",
        ),
        ("schemaVersion 3", schema3, OCI_MANIFEST),
        ("no config", no_config, OCI_MANIFEST),
        ("invalid descriptor digest", bad_digest_field, OCI_MANIFEST),
    ];
    for (what, body, content_type) in cases {
        let resp = c
            .put_manifest("push/bad", "latest", content_type, &body)
            .await;
        assert_eq!(resp.status, 400, "{what}: {}", resp.describe());
        // The spec allows DIGEST_INVALID for a manifest naming a malformed digest.
        let code = resp.error_codes().into_iter().next().unwrap_or_default();
        if what == "invalid descriptor digest" && code == "DIGEST_INVALID" {
            resp.expect_error(400, "DIGEST_INVALID");
        } else {
            resp.expect_error(400, "MANIFEST_INVALID");
        }
        assert_unchanged(&c, "push/bad", &image, &body).await;
    }
}

#[tokio::test]
async fn invalid_tag_is_refused() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = baseline(&c, "push/tag").await;
    let other = Image::new("other for tags");
    other.push_blobs(&c, "push/tag").await;
    let long = "t".repeat(129);
    for tag in ["-dash", ".dot", long.as_str(), "a+b"] {
        let resp = c
            .put_manifest("push/tag", tag, OCI_MANIFEST, &other.manifest)
            .await;
        resp.expect_error(400, "MANIFEST_INVALID");
    }
    // The longest valid tag is accepted.
    let max = "t".repeat(128);
    let third = Image::new("third for tags");
    third.push(&c, "push/tag", &max).await;
    c.delete(&format!("/v2/push/tag/manifests/{}", third.digest))
        .await
        .expect(202);
    assert_unchanged(&c, "push/tag", &image, &other.manifest).await;
}

#[tokio::test]
async fn manifest_size_limit_is_4_mib() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = baseline(&c, "push/size").await;

    let exact = padded_manifest(&image, 4 * 1024 * 1024);
    assert_eq!(exact.len(), 4 * 1024 * 1024);
    c.put_manifest("push/size", "big", OCI_MANIFEST, &exact)
        .await
        .expect(201);
    assert_eq!(
        c.get_manifest("push/size", "big", OCI_MANIFEST).await.body,
        exact
    );
    c.delete(&format!("/v2/push/size/manifests/{}", digest(&exact)))
        .await
        .expect(202);

    let over = padded_manifest(&image, 4 * 1024 * 1024 + 1);
    let head = format!(
        "PUT /v2/push/size/manifests/latest HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: {OCI_MANIFEST}\r\nContent-Length: {}\r\n\r\n",
        server.host(),
        over.len()
    );
    let (status, text, mut stream) =
        raw_early_response(&server, &head, &over, Duration::from_secs(2));
    assert_eq!(status, 413, "oversized manifest: {text}");
    assert!(text.contains("\"SIZE_INVALID\""), "{text}");

    // HTTP/1.1 keeps a connection open unless told otherwise: a server that closes it after
    // refusing the body must say `Connection: close`, or pooled clients fail their next request.
    let closes = raw_header(&text, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if !closes {
        let probe = format!("GET /v2/ HTTP/1.1\r\nHost: {}\r\n\r\n", server.host());
        let probe = owner_head(&server, &probe);
        // Without `close` the connection continues after the declared body.
        let _ = stream.write_all(&over);
        let _ = stream.write_all(probe.as_bytes());
        let (status, text) = read_one_response(&mut stream);
        assert_eq!(
            status, 200,
            "the 413 left the connection unusable without `Connection: close`: {text:?}"
        );
    }
    assert_unchanged(&c, "push/size", &image, &over).await;
}

/// A valid manifest for `image` padded with an annotation to exactly `len` bytes.
fn padded_manifest(image: &Image, len: usize) -> Vec<u8> {
    let build = |pad: usize| {
        to_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &image.config),
            "layers": [descriptor(OCI_LAYER, &image.layer)],
            "annotations": {"pad": "p".repeat(pad)},
        }))
    };
    let base = build(0).len();
    build(len - base)
}
