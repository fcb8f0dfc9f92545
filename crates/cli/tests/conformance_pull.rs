//! OCI Distribution Spec v1.1 conformance, pull workflow (end-1, end-2, end-3): the API
//! version check, fetching manifests and blobs by tag and digest with GET and HEAD, range
//! reads, content negotiation, repository isolation, and the errors for unknown content,
//! invalid names and invalid digests. Each test runs its own `berth serve` process.

mod support;
mod support_http;

use support::Server;
use support_http::*;

const ZERO_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn api_version_check_answers_200_with_version_header() {
    let server = Server::start();
    let c = Client::new(&server);

    let resp = c.get("/v2/").await;
    resp.expect(200);
    assert_eq!(
        resp.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(resp.json(), serde_json::json!({}), "{}", resp.describe());

    // Clients rely on the header on errors too.
    let resp = c.get("/v2/nope/manifests/latest").await;
    resp.expect(404);
    assert_eq!(
        resp.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
}

#[tokio::test]
async fn pull_manifest_by_tag_and_digest_returns_exact_bytes() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("pull-manifest");
    image.push(&c, "pull/app", "v1").await;

    for reference in ["v1", image.digest.as_str()] {
        let resp = c.get_manifest("pull/app", reference, OCI_MANIFEST).await;
        resp.expect(200);
        assert_eq!(
            resp.body,
            image.manifest,
            "bytes differ: {}",
            resp.describe()
        );
        assert_eq!(resp.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(
            resp.header("docker-content-digest"),
            Some(image.digest.as_str())
        );
        let len = image.manifest.len().to_string();
        assert_eq!(resp.header("content-length"), Some(len.as_str()));

        let path = format!("/v2/pull/app/manifests/{reference}");
        let head = c
            .send("HEAD", &path, &[("accept", OCI_MANIFEST)], None)
            .await;
        head.expect(200);
        assert!(head.body.is_empty(), "HEAD has a body: {}", head.describe());
        assert_eq!(head.header("content-length"), Some(len.as_str()));
        assert_eq!(
            head.header("docker-content-digest"),
            Some(image.digest.as_str())
        );
        assert_eq!(head.header("content-type"), Some(OCI_MANIFEST));
    }

    // The ETag, when sent, names the content: a tag and its digest share it.
    let by_tag = c.get_manifest("pull/app", "v1", OCI_MANIFEST).await;
    let by_digest = c
        .get_manifest("pull/app", &image.digest, OCI_MANIFEST)
        .await;
    assert!(by_tag.header("etag").is_some(), "{}", by_tag.describe());
    assert_eq!(by_tag.header("etag"), by_digest.header("etag"));
}

#[tokio::test]
async fn pull_unknown_manifest_is_404_manifest_unknown() {
    let server = Server::start();
    let c = Client::new(&server);
    Image::new("known").push(&c, "pull/known", "v1").await;

    c.get_manifest("pull/known", "missing", OCI_MANIFEST)
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    c.get_manifest("pull/known", ZERO_DIGEST, OCI_MANIFEST)
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    c.head("/v2/pull/known/manifests/missing").await.expect(404);
    c.head(&format!("/v2/pull/known/manifests/{ZERO_DIGEST}"))
        .await
        .expect(404);
    // A repository that does not exist at all.
    let resp = c.get_manifest("pull/never", "v1", OCI_MANIFEST).await;
    resp.expect(404);
    let codes = resp.error_codes();
    assert!(
        codes
            .iter()
            .any(|c| c == "MANIFEST_UNKNOWN" || c == "NAME_UNKNOWN"),
        "{}",
        resp.describe()
    );
}

#[tokio::test]
async fn pull_blob_get_and_head() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(70_000, 1);
    let d = c.push_blob("pull/blob", &bytes).await;
    let path = format!("/v2/pull/blob/blobs/{d}");

    let resp = c.get(&path).await;
    resp.expect(200);
    assert_eq!(digest(&resp.body), d);
    assert_eq!(resp.body.len(), bytes.len());
    assert_eq!(resp.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(resp.header("content-length"), Some("70000"));
    assert_eq!(resp.header("etag"), Some(format!("\"{d}\"").as_str()));
    assert_eq!(resp.header("accept-ranges"), Some("bytes"));

    let head = c.head(&path).await;
    head.expect(200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("70000"));
    assert_eq!(head.header("docker-content-digest"), Some(d.as_str()));

    c.get(&format!("/v2/pull/blob/blobs/{ZERO_DIGEST}"))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    c.head(&format!("/v2/pull/blob/blobs/{ZERO_DIGEST}"))
        .await
        .expect(404);
}

#[tokio::test]
async fn pull_empty_blob() {
    let server = Server::start();
    let c = Client::new(&server);
    let d = c.push_blob("pull/empty", b"").await;
    assert_eq!(
        d,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let resp = c.get(&format!("/v2/pull/empty/blobs/{d}")).await;
    resp.expect(200);
    assert!(resp.body.is_empty());
    assert_eq!(resp.header("content-length"), Some("0"));
}

#[tokio::test]
async fn range_reads_return_206_and_416() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = pseudo_random(1000, 2);
    let d = c.push_blob("pull/range", &bytes).await;
    let path = format!("/v2/pull/range/blobs/{d}");

    let cases: [(&str, std::ops::Range<usize>, &str); 4] = [
        ("bytes=0-9", 0..10, "bytes 0-9/1000"),
        ("bytes=990-", 990..1000, "bytes 990-999/1000"),
        ("bytes=-4", 996..1000, "bytes 996-999/1000"),
        ("bytes=500-5000", 500..1000, "bytes 500-999/1000"),
    ];
    for (range, slice, content_range) in cases {
        let resp = c.send("GET", &path, &[("range", range)], None).await;
        resp.expect(206);
        assert_eq!(resp.body, bytes[slice], "{range}: {}", resp.describe());
        assert_eq!(resp.header("content-range"), Some(content_range), "{range}");
    }

    for bad in ["bytes=1000-", "bytes=2000-3000", "bytes=9-5", "bytes=abc"] {
        let resp = c.send("GET", &path, &[("range", bad)], None).await;
        resp.expect_error(416, "SIZE_INVALID");
        assert_eq!(resp.header("content-range"), Some("bytes */1000"), "{bad}");
    }

    // RFC 9110: a range unit the server does not know is ignored; the whole blob is served.
    let resp = c.send("GET", &path, &[("range", "items=0-1")], None).await;
    resp.expect(200);
    assert_eq!(resp.body, bytes);

    // A range on an unknown blob is still 404.
    let unknown = format!("/v2/pull/range/blobs/{ZERO_DIGEST}");
    c.send("GET", &unknown, &[("range", "bytes=0-1")], None)
        .await
        .expect_error(404, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn manifest_content_negotiation() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("negotiate");
    image.push(&c, "pull/neg", "v1").await;

    let accepted = [
        OCI_MANIFEST,
        "*/*",
        "application/*",
        ACCEPT_ALL,
        "application/vnd.oci.image.manifest.v1+json;q=0.5, text/html;q=0.1",
    ];
    for accept in accepted {
        let resp = c.get_manifest("pull/neg", "v1", accept).await;
        resp.expect(200);
        assert_eq!(resp.body, image.manifest, "accept {accept}");
        assert_eq!(
            resp.header("content-type"),
            Some(OCI_MANIFEST),
            "accept {accept}"
        );
    }
    let resp = c.get("/v2/pull/neg/manifests/v1").await;
    resp.expect(200);
    assert_eq!(resp.header("content-type"), Some(OCI_MANIFEST));

    let resp = c.get_manifest("pull/neg", "v1", DOCKER_MANIFEST).await;
    resp.expect_error(404, "MANIFEST_UNKNOWN");
    assert!(
        resp.text().contains(OCI_MANIFEST),
        "message should name the stored type: {}",
        resp.describe()
    );
    let resp = c.get_manifest("pull/neg", &image.digest, OCI_INDEX).await;
    resp.expect_error(404, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn repository_isolation() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("isolated");
    image.push(&c, "iso/a", "v1").await;
    // Repository B exists, with other content.
    Image::new("other").push(&c, "iso/b", "v1").await;

    for blob in [&image.config, &image.layer] {
        let d = digest(blob);
        c.get(&format!("/v2/iso/a/blobs/{d}")).await.expect(200);
        c.get(&format!("/v2/iso/b/blobs/{d}"))
            .await
            .expect_error(404, "BLOB_UNKNOWN");
        c.head(&format!("/v2/iso/b/blobs/{d}")).await.expect(404);
    }
    c.get_manifest("iso/b", &image.digest, OCI_MANIFEST)
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");

    // B cannot commit a manifest that names blobs only A holds.
    let resp = c
        .put_manifest("iso/b", "stolen", OCI_MANIFEST, &image.manifest)
        .await;
    resp.expect_error(400, "MANIFEST_BLOB_UNKNOWN");
    c.get_manifest("iso/b", "stolen", OCI_MANIFEST)
        .await
        .expect(404);
    assert_eq!(c.tags("iso/b").await, Some(vec!["v1".to_string()]));

    // A prefix of a name is a different repository.
    c.get(&format!("/v2/iso/blobs/{}", digest(&image.layer)))
        .await
        .expect(404);
}

#[tokio::test]
async fn multi_segment_repository_name() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("deep");
    let resp = image.push(&c, "team/app/api", "1.0").await;
    assert_eq!(
        resp.location(),
        format!("/v2/team/app/api/manifests/{}", image.digest),
        "{}",
        resp.describe()
    );

    let resp = c.get_manifest("team/app/api", "1.0", OCI_MANIFEST).await;
    resp.expect(200);
    assert_eq!(resp.body, image.manifest);
    let layer = c
        .get(&format!("/v2/team/app/api/blobs/{}", digest(&image.layer)))
        .await;
    layer.expect(200);
    assert_eq!(layer.body, image.layer);
    assert_eq!(c.tags("team/app/api").await, Some(vec!["1.0".to_string()]));
    let resp = c.get("/v2/_catalog").await;
    resp.expect(200);
    assert_eq!(
        string_list(&resp.json()["repositories"]),
        vec!["team/app/api".to_string()]
    );
    // The parents are not repositories.
    c.get("/v2/team/app/tags/list")
        .await
        .expect_error(404, "NAME_UNKNOWN");
}

#[tokio::test]
async fn invalid_names_are_400_name_invalid() {
    let server = Server::start();
    let c = Client::new(&server);
    let names = [
        "Upper", "a..b", "-lead", "trail-", "a___b", "a/-b", "a//b", "a/B/c",
    ];
    for name in names {
        for path in [
            format!("/v2/{name}/tags/list"),
            format!("/v2/{name}/manifests/latest"),
            format!("/v2/{name}/blobs/{ZERO_DIGEST}"),
        ] {
            c.get(&path).await.expect_error(400, "NAME_INVALID");
        }
        let resp = c
            .send("POST", &format!("/v2/{name}/blobs/uploads/"), &[], None)
            .await;
        resp.expect_error(400, "NAME_INVALID");
    }
    let resp = c.get("/v2/_catalog").await;
    resp.expect(200);
    assert!(
        string_list(&resp.json()["repositories"]).is_empty(),
        "{}",
        resp.describe()
    );
}

#[tokio::test]
async fn invalid_digests_are_400_digest_invalid() {
    let server = Server::start();
    let c = Client::new(&server);
    c.push_blob("pull/dig", b"x").await;
    let upper = format!("sha256:{}", "A".repeat(64));
    let bad = [
        "sha256:xyz",
        "sha256:abc",
        "sha256:",
        "sha256",
        upper.as_str(),
        "sha256:0000000000000000000000000000000000000000000000000000000000000000ff",
    ];
    for d in bad {
        c.get(&format!("/v2/pull/dig/blobs/{d}"))
            .await
            .expect_error(400, "DIGEST_INVALID");
        c.delete(&format!("/v2/pull/dig/blobs/{d}"))
            .await
            .expect_error(400, "DIGEST_INVALID");
    }
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let server = Server::start();
    let c = Client::new(&server);
    Image::new("routes").push(&c, "pull/routes", "v1").await;

    c.get("/v2/pull/routes/nonsense/x")
        .await
        .expect_error(404, "UNSUPPORTED");
    let resp = c
        .send(
            "PATCH",
            "/v2/pull/routes/manifests/v1",
            &[],
            Some(b"{}".to_vec()),
        )
        .await;
    resp.expect_error(405, "UNSUPPORTED");
    assert_eq!(resp.header("allow"), Some("GET, HEAD, PUT, DELETE"));
    let resp = c.send("POST", "/v2/pull/routes/tags/list", &[], None).await;
    resp.expect_error(405, "UNSUPPORTED");
    assert_eq!(resp.header("allow"), Some("GET"));
    // Nothing changed.
    c.get_manifest("pull/routes", "v1", OCI_MANIFEST)
        .await
        .expect(200);
}
