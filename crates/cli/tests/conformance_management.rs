//! OCI Distribution Spec v1.1 conformance, content management workflow (end-9, end-10): deleting
//! manifests by digest and tags by tag, deleting blobs, and the errors for deleting what is not
//! there. Also the operational surface of `berth serve`: /healthz, /readyz, /metrics, graceful
//! shutdown on SIGTERM with data kept, and the purge of abandoned uploads.

mod support;
mod support_http;

use std::time::Duration;

use support::Server;
use support_http::*;

#[tokio::test]
async fn delete_manifest_by_digest_removes_it_and_its_tags() {
    let server = Server::start();
    let c = Client::new(&server);
    let keep = Image::new("keep");
    keep.push(&c, "mgmt/man", "keep").await;
    let image = Image::new("doomed");
    image.push(&c, "mgmt/man", "v1").await;
    c.put_manifest("mgmt/man", "v1-alias", OCI_MANIFEST, &image.manifest)
        .await
        .expect(201);

    let path = format!("/v2/mgmt/man/manifests/{}", image.digest);
    c.delete(&path).await.expect(202);
    c.get_manifest("mgmt/man", &image.digest, OCI_MANIFEST)
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    c.head(&path).await.expect(404);
    for tag in ["v1", "v1-alias"] {
        c.get_manifest("mgmt/man", tag, OCI_MANIFEST)
            .await
            .expect_error(404, "MANIFEST_UNKNOWN");
    }
    assert_eq!(c.tags("mgmt/man").await, Some(vec!["keep".to_string()]));
    assert_eq!(
        c.get_manifest("mgmt/man", "keep", OCI_MANIFEST).await.body,
        keep.manifest
    );

    // Deleting again, or deleting something never pushed.
    c.delete(&path).await.expect_error(404, "MANIFEST_UNKNOWN");
    let zero = format!("sha256:{}", "0".repeat(64));
    c.delete(&format!("/v2/mgmt/man/manifests/{zero}"))
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    c.delete("/v2/mgmt/man/manifests/sha256:nothex")
        .await
        .expect_error(400, "DIGEST_INVALID");

    // The same bytes can be pushed again.
    c.put_manifest("mgmt/man", "v1", OCI_MANIFEST, &image.manifest)
        .await
        .expect(201);
    assert_eq!(
        c.get_manifest("mgmt/man", "v1", OCI_MANIFEST).await.body,
        image.manifest
    );
}

#[tokio::test]
async fn delete_tag_keeps_the_manifest() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("tagged twice");
    image.push(&c, "mgmt/tag", "a").await;
    c.put_manifest("mgmt/tag", "b", OCI_MANIFEST, &image.manifest)
        .await
        .expect(201);

    c.delete("/v2/mgmt/tag/manifests/a").await.expect(202);
    c.get_manifest("mgmt/tag", "a", OCI_MANIFEST)
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(c.tags("mgmt/tag").await, Some(vec!["b".to_string()]));
    assert_eq!(
        c.get_manifest("mgmt/tag", "b", OCI_MANIFEST).await.body,
        image.manifest
    );
    c.get_manifest("mgmt/tag", &image.digest, OCI_MANIFEST)
        .await
        .expect(200);

    c.delete("/v2/mgmt/tag/manifests/a")
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    c.delete("/v2/mgmt/tag/manifests/never")
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(c.tags("mgmt/tag").await, Some(vec!["b".to_string()]));
}

#[tokio::test]
async fn delete_blob_unlinks_it_from_one_repository() {
    let server = Server::start();
    let c = Client::new(&server);
    let bytes = b"blob to delete".to_vec();
    let d = c.push_blob("mgmt/blob-a", &bytes).await;
    c.push_blob("mgmt/blob-b", &bytes).await;
    let path = format!("/v2/mgmt/blob-a/blobs/{d}");

    c.delete(&path).await.expect(202);
    c.get(&path).await.expect_error(404, "BLOB_UNKNOWN");
    c.head(&path).await.expect(404);
    c.delete(&path).await.expect_error(404, "BLOB_UNKNOWN");
    // The other repository still holds its link to the same content.
    assert_eq!(
        c.get(&format!("/v2/mgmt/blob-b/blobs/{d}"))
            .await
            .expect(200)
            .body,
        bytes
    );
    // A mount from A no longer works; from B it does.
    let from_a = format!("/v2/mgmt/blob-c/blobs/uploads/?mount={d}&from=mgmt/blob-a");
    c.send("POST", &from_a, &[], None).await.expect(202);
    let from_b = format!("/v2/mgmt/blob-c/blobs/uploads/?mount={d}&from=mgmt/blob-b");
    c.send("POST", &from_b, &[], None).await.expect(201);

    // Pushing it again makes it readable again.
    c.push_blob("mgmt/blob-a", &bytes).await;
    assert_eq!(c.get(&path).await.expect(200).body, bytes);
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let server = Server::start();
    let c = Client::new(&server);
    c.get("/healthz").await.expect(200);
    c.get("/readyz").await.expect(200);

    // Traffic for the counters: a push, a pull, a 404 and an upload left open.
    let d = c.push_blob("ops/metrics", &pseudo_random(4096, 11)).await;
    c.get(&format!("/v2/ops/metrics/blobs/{d}"))
        .await
        .expect(200);
    c.get("/v2/ops/metrics/manifests/missing").await.expect(404);
    let _open = c.start_upload("ops/metrics").await;

    let resp = c.get("/metrics").await;
    resp.expect(200);
    let content_type = resp.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain")
            || content_type.starts_with("application/openmetrics-text"),
        "{}",
        resp.describe()
    );
    let text = resp.text();
    for name in [
        "berth_http_requests_total",
        "berth_http_request_duration_seconds_bucket",
        "berth_http_request_duration_seconds_count",
        "berth_http_bytes_received_total",
        "berth_http_bytes_sent_total",
        "berth_uploads_in_flight",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    let counted_404 = text.lines().any(|l| {
        l.starts_with("berth_http_requests_total{")
            && l.contains("status=\"404\"")
            && l.contains("method=\"GET\"")
            && l.contains("route=")
    });
    assert!(
        counted_404,
        "no requests_total sample for the GET that got 404:\n{text}"
    );
    let received = sample(&text, "berth_http_bytes_received_total");
    assert!(
        received >= 4096.0,
        "bytes received {received} < the 4096 pushed:\n{text}"
    );
    let sent = sample(&text, "berth_http_bytes_sent_total");
    assert!(
        sent >= 4096.0,
        "bytes sent {sent} < the 4096 pulled:\n{text}"
    );
}

/// The sum of all samples of a metric (over its label sets).
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_keeps_data() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_in(tmp.path(), &[]);
    let c = Client::new(&server);
    let image = Image::new("survives restart");
    image.push(&c, "ops/term", "v1").await;
    let location = c.start_upload("ops/term").await;
    c.patch(&location, b"half", None).await.expect(202);

    assert!(
        server.terminate(),
        "berth did not exit 0 on SIGTERM:\n{}",
        server.log()
    );

    server.restart();
    let c = Client::new(&server);
    assert_eq!(
        c.get_manifest("ops/term", "v1", OCI_MANIFEST).await.body,
        image.manifest
    );
    let layer = c
        .get(&format!("/v2/ops/term/blobs/{}", digest(&image.layer)))
        .await;
    assert_eq!(layer.expect(200).body, image.layer);
    // An upload session survives a restart too.
    let status = c.get(&location).await;
    status.expect(204);
    assert_eq!(status.header("range"), Some("0-3"));
}

#[tokio::test]
async fn abandoned_uploads_are_purged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let args = ["--upload-ttl", "1", "--upload-purge-interval", "1"];
    let server = Server::start_in(tmp.path(), &args);
    let c = Client::new(&server);
    let blob = c.push_blob("ops/purge", b"finished blob").await;
    let idle = c.start_upload("ops/purge").await;
    let idle = c
        .patch(&idle, b"abandoned bytes", None)
        .await
        .expect(202)
        .location();
    let empty = c.start_upload("ops/purge").await;

    tokio::time::sleep(Duration::from_secs(3)).await;

    for location in [&idle, &empty] {
        c.get(location)
            .await
            .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
        c.patch(location, b"more", None)
            .await
            .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    }
    let abandoned = digest(b"abandoned bytes");
    c.get(&format!("/v2/ops/purge/blobs/{abandoned}"))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    // Completed blobs are not touched by the purge.
    c.get(&format!("/v2/ops/purge/blobs/{blob}"))
        .await
        .expect(200);
    // New uploads still work.
    c.push_blob("ops/purge", b"after purge").await;
}
