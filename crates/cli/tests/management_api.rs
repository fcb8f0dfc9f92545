//! The management policies over HTTP against the real server: locks (ACR's changeable
//! attributes) set with `PATCH /api/v1/repositories/...`, ECR's four tag mutability
//! settings with exclusion filters, repository and registry quotas with the usage figure
//! checked against the blob files on disk, and the detailed tag and image listings
//! (time order, paging, labels, sizes, pull times, platforms, deleting an image with its
//! tags, tagging without a push).
//!
//! Every refusal is checked for its status, its OCI code and a message naming what
//! refused, and then that nothing stored changed: tags, images, the repository record,
//! usage and the files under `<data-dir>/blobs` and `<data-dir>/uploads` are compared
//! with a snapshot taken before the refused request.

mod support;
mod support_http;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::Server;
use support_http::*;

/// The message of the first error in a spec error body.
fn message(resp: &Resp) -> String {
    resp.json()["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Asserts 403 `DENIED` with a message that contains every one of `words`.
#[track_caller]
fn assert_denied(resp: &Resp, words: &[&str]) {
    resp.expect_error(403, "DENIED");
    let text = message(resp);
    for word in words {
        assert!(
            text.contains(word),
            "message {text:?} does not name {word:?}: {}",
            resp.describe()
        );
    }
}

/// A JSON request to the management API that must answer `status`; returns the body.
async fn api_ok(c: &Client, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
    let resp = c.api(method, path, body).await;
    resp.expect(status);
    if resp.body.is_empty() {
        Value::Null
    } else {
        resp.json()
    }
}

/// `PATCH` of a repository, tag (`<repo>/_tags/<tag>`) or image path; asserts 200.
async fn patch(c: &Client, path: &str, body: Value) -> Value {
    api_ok(
        c,
        "PATCH",
        &format!("/api/v1/repositories/{path}"),
        Some(body),
        200,
    )
    .await
}

/// The digest a tag points at, from the management API (read locks do not apply there).
async fn tag_target(c: &Client, repo: &str, tag: &str) -> Option<String> {
    let resp = c
        .get(&format!("/api/v1/repositories/{repo}/_tags/{tag}"))
        .await;
    if resp.status == 404 {
        return None;
    }
    resp.expect(200);
    resp.json()["digest"].as_str().map(str::to_string)
}

/// Names of the tags in a management listing page.
fn tag_names(page: &Value) -> Vec<String> {
    page["tags"]
        .as_array()
        .unwrap_or_else(|| panic!("no tags array: {page}"))
        .iter()
        .map(|t| t["name"].as_str().expect("tag name").to_string())
        .collect()
}

/// `GET /api/v1/repositories/<repo>/_tags?<query>`; asserts 200.
async fn api_tags(c: &Client, repo: &str, query: &str) -> Vec<String> {
    let page = api_ok(
        c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_tags?{query}"),
        None,
        200,
    )
    .await;
    tag_names(&page)
}

/// The registry's `Size` figure from `GET /api/v1/usage`.
async fn usage_figure(c: &Client, name: &str) -> u64 {
    let usage = api_ok(c, "GET", "/api/v1/usage", None, 200).await;
    usage["value"]
        .as_array()
        .and_then(|v| v.iter().find(|f| f["name"] == name))
        .and_then(|f| f["current_value"].as_u64())
        .unwrap_or_else(|| panic!("no {name} in usage: {usage}"))
}

/// The blob files under `<data>/blobs`: their count and total size.
fn disk_blobs(server: &Server) -> (u64, u64) {
    let files = blob_files(&server.data_dir);
    let bytes = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("blob file").len())
        .sum();
    (files.len() as u64, bytes)
}

/// Everything a refused request must leave as it was: the repository's record, tags
/// and images (without pull times, which a background flush writes), the usage figures,
/// and the files under `blobs/` and `uploads/`.
async fn snapshot(c: &Client, server: &Server, repo: &str) -> Value {
    let record = c.get(&format!("/api/v1/repositories/{repo}")).await;
    let tags = c
        .get(&format!("/api/v1/repositories/{repo}/_tags?n=1000"))
        .await;
    let mut images = c
        .get(&format!("/api/v1/repositories/{repo}/_manifests?n=1000"))
        .await
        .json();
    for image in images["manifests"].as_array_mut().into_iter().flatten() {
        image["last_pulled_at"] = Value::Null;
    }
    let files: BTreeSet<String> = blob_files(&server.data_dir)
        .iter()
        .chain(upload_files(&server.data_dir).iter())
        .map(|p| p.display().to_string())
        .collect();
    json!({
        "record": [record.status, record.json()],
        "tags": [tags.status, tags.json()],
        "images": images,
        "v2_tags": c.tags(repo).await,
        "usage": c.get("/api/v1/usage").await.json(),
        "files": files,
    })
}

/// Asserts that nothing stored changed since `before`.
async fn assert_unchanged(c: &Client, server: &Server, repo: &str, before: &Value, what: &str) {
    let after = snapshot(c, server, repo).await;
    assert_eq!(&after, before, "{what} changed what is stored");
}

/// An image whose config carries `labels` and a platform, with `layers` layers.
fn labelled_image(seed: &str, arch: &str, labels: Value, layers: usize) -> Image {
    let config = to_bytes(&json!({
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": []},
        "seed": seed,
    }));
    let layer_bytes: Vec<Vec<u8>> = (0..layers)
        .map(|n| format!("layer {n} of {seed}").into_bytes())
        .collect();
    let descriptors: Vec<Value> = layer_bytes
        .iter()
        .map(|l| descriptor(OCI_LAYER, l))
        .collect();
    let manifest = image_manifest(&descriptor(OCI_CONFIG, &config), &descriptors);
    Image {
        digest: digest(&manifest),
        config,
        layer: layer_bytes.concat(),
        manifest,
    }
}

/// Pushes every blob of an image built by [`labelled_image`] and its manifest.
async fn push_labelled(c: &Client, repo: &str, reference: &str, image: &Image, layers: usize) {
    c.push_blob(repo, &image.config).await;
    let seed = serde_json::from_slice::<Value>(&image.config).expect("config")["seed"]
        .as_str()
        .expect("seed")
        .to_string();
    for n in 0..layers {
        c.push_blob(repo, format!("layer {n} of {seed}").as_bytes())
            .await;
    }
    c.put_manifest(repo, reference, OCI_MANIFEST, &image.manifest)
        .await
        .expect(201);
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// An RFC 3339 time from the API as unix milliseconds.
fn millis(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    berth_auth::clock::parse_rfc3339(text).unwrap_or_else(|| panic!("not RFC 3339: {text}"))
}

#[tokio::test]
async fn tag_and_manifest_locks_refuse_moves_deletes_and_reads() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "locks/app";
    let a = Image::new("lock a");
    let b = Image::new("lock b");
    a.push(&c, repo, "v1").await;
    b.push(&c, repo, "other").await;

    // A write-locked tag: moving it is refused, pushing what it points at is not.
    let tag = patch(
        &c,
        &format!("{repo}/_tags/v1"),
        json!({"write_enabled": false}),
    )
    .await;
    assert_eq!(tag["changeable_attributes"]["write_enabled"], false);
    assert_eq!(tag["changeable_attributes"]["delete_enabled"], true);
    let before = snapshot(&c, &server, repo).await;
    let moved = c.put_manifest(repo, "v1", OCI_MANIFEST, &b.manifest).await;
    assert_denied(&moved, &["tag locks/app:v1", "write-enabled"]);
    let source = json!({"source_reference": b.digest});
    let moved = c
        .api(
            "PUT",
            &format!("/api/v1/repositories/{repo}/_tags/v1"),
            Some(source),
        )
        .await;
    assert_denied(&moved, &["tag locks/app:v1", "write-enabled"]);
    // Write-locked also means not deletable, by tag, by digest and through the API.
    let deleted = c.delete(&format!("/v2/{repo}/manifests/v1")).await;
    assert_denied(&deleted, &["tag locks/app:v1", "write-enabled"]);
    let deleted = c
        .delete(&format!("/v2/{repo}/manifests/{}", a.digest))
        .await;
    assert_denied(&deleted, &["tag locks/app:v1", "write-enabled"]);
    let untagged = c
        .delete(&format!("/api/v1/repositories/{repo}/_tags/v1"))
        .await;
    assert_denied(&untagged, &["tag locks/app:v1", "write-enabled"]);
    let image = c
        .delete(&format!(
            "/api/v1/repositories/{repo}/_manifests/{}",
            a.digest
        ))
        .await;
    assert_denied(&image, &["tag locks/app:v1"]);
    assert_unchanged(&c, &server, repo, &before, "refused writes to a locked tag").await;
    c.put_manifest(repo, "v1", OCI_MANIFEST, &a.manifest)
        .await
        .expect(201);
    assert_eq!(tag_target(&c, repo, "v1").await, Some(a.digest.clone()));

    // A delete-locked tag may move but not go.
    patch(
        &c,
        &format!("{repo}/_tags/other"),
        json!({"delete_enabled": false}),
    )
    .await;
    let before = snapshot(&c, &server, repo).await;
    let deleted = c.delete(&format!("/v2/{repo}/manifests/other")).await;
    assert_denied(&deleted, &["tag locks/app:other", "delete-enabled"]);
    let untagged = c
        .delete(&format!("/api/v1/repositories/{repo}/_tags/other"))
        .await;
    assert_denied(&untagged, &["tag locks/app:other", "delete-enabled"]);
    assert_unchanged(&c, &server, repo, &before, "refused deletes of a tag").await;
    c.put_manifest(repo, "other", OCI_MANIFEST, &a.manifest)
        .await
        .expect(201);
    assert_eq!(tag_target(&c, repo, "other").await, Some(a.digest.clone()));

    // A delete-locked manifest: no DELETE by digest on /v2/ or the API; a tag on it
    // that is not locked can still be removed.
    patch(
        &c,
        &format!("{repo}/_tags/v1"),
        json!({"write_enabled": true}),
    )
    .await;
    patch(
        &c,
        &format!("{repo}/_tags/other"),
        json!({"delete_enabled": true}),
    )
    .await;
    let image = patch(
        &c,
        &format!("{repo}/_manifests/{}", b.digest),
        json!({"delete_enabled": false}),
    )
    .await;
    assert_eq!(image["changeable_attributes"]["delete_enabled"], false);
    c.put_manifest(repo, "b", OCI_MANIFEST, &b.manifest)
        .await
        .expect(201);
    let before = snapshot(&c, &server, repo).await;
    let manifest = format!("locks/app@{}", b.digest);
    let deleted = c
        .delete(&format!("/v2/{repo}/manifests/{}", b.digest))
        .await;
    assert_denied(&deleted, &[&manifest, "delete-enabled"]);
    let deleted = c
        .delete(&format!(
            "/api/v1/repositories/{repo}/_manifests/{}",
            b.digest
        ))
        .await;
    assert_denied(&deleted, &[&manifest, "delete-enabled"]);
    let deleted = c
        .delete(&format!("/api/v1/repositories/{repo}/_manifests/b"))
        .await;
    assert_denied(&deleted, &[&manifest, "delete-enabled"]);
    assert_unchanged(&c, &server, repo, &before, "refused deletes of a manifest").await;
    c.delete(&format!("/v2/{repo}/manifests/b"))
        .await
        .expect(202);
    assert_eq!(tag_target(&c, repo, "b").await, None);

    // A read-locked manifest refuses GET and HEAD, by digest and by any tag on it.
    patch(
        &c,
        &format!("{repo}/_manifests/{}", a.digest),
        json!({"read_enabled": false}),
    )
    .await;
    let manifest = format!("locks/app@{}", a.digest);
    for reference in [a.digest.as_str(), "v1", "other"] {
        let got = c.get_manifest(repo, reference, ACCEPT_ALL).await;
        assert_denied(&got, &[&manifest, "read-enabled"]);
        let path = format!("/v2/{repo}/manifests/{reference}");
        c.send("HEAD", &path, &[("accept", ACCEPT_ALL)], None)
            .await
            .expect(403);
    }
    // A read-locked tag names the tag; the manifest under another name stays readable.
    patch(
        &c,
        &format!("{repo}/_manifests/{}", a.digest),
        json!({"read_enabled": true}),
    )
    .await;
    patch(
        &c,
        &format!("{repo}/_tags/other"),
        json!({"read_enabled": false}),
    )
    .await;
    let got = c.get_manifest(repo, "other", ACCEPT_ALL).await;
    assert_denied(&got, &["tag locks/app:other", "read-enabled"]);
    let got = c.get_manifest(repo, "v1", ACCEPT_ALL).await;
    assert_eq!(got.expect(200).body, a.manifest);

    // Unknown targets and attributes are refused without changing anything.
    c.api(
        "PATCH",
        &format!("/api/v1/repositories/{repo}/_tags/nope"),
        Some(json!({"write_enabled": false})),
    )
    .await
    .expect_error(404, "MANIFEST_UNKNOWN");
    c.api(
        "PATCH",
        &format!("/api/v1/repositories/{repo}/_tags/v1"),
        Some(json!({"writable": false})),
    )
    .await
    .expect_error(400, "UNSUPPORTED");
}

#[tokio::test]
async fn list_disabled_items_are_left_out_of_listings_but_stay_reachable() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "hidden/app";
    let a = Image::new("shown");
    let b = Image::new("unlisted");
    a.push(&c, repo, "shown").await;
    b.push(&c, repo, "quiet").await;
    c.put_manifest(repo, "also", OCI_MANIFEST, &a.manifest)
        .await
        .expect(201);
    Image::new("other repo")
        .push(&c, "hidden/other", "v1")
        .await;

    patch(
        &c,
        &format!("{repo}/_tags/quiet"),
        json!({"list_enabled": false}),
    )
    .await;
    assert_eq!(
        c.tags(repo).await,
        Some(vec!["also".to_string(), "shown".to_string()])
    );
    for order in ["name", "time_desc", "time_asc"] {
        let mut names = api_tags(&c, repo, &format!("orderby={order}")).await;
        names.sort();
        assert_eq!(names, ["also", "shown"], "orderby={order}");
    }
    // The tag itself is still there: shown by name and pullable.
    let quiet = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_tags/quiet"),
        None,
        200,
    )
    .await;
    assert_eq!(quiet["changeable_attributes"]["list_enabled"], false);
    assert_eq!(
        c.get_manifest(repo, "quiet", OCI_MANIFEST)
            .await
            .expect(200)
            .body,
        b.manifest
    );
    // An image lists only its listed tags; a list-disabled image leaves the listing.
    let images = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_manifests"),
        None,
        200,
    )
    .await;
    let by_digest = |d: &str| {
        images["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|m| m["digest"] == d)
            .cloned()
    };
    assert_eq!(
        by_digest(&a.digest).expect("a")["tags"],
        json!(["also", "shown"])
    );
    assert_eq!(by_digest(&b.digest).expect("b")["tags"], json!([]));
    let untagged = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_manifests?tag_status=untagged"),
        None,
        200,
    )
    .await;
    assert_eq!(untagged["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(untagged["manifests"][0]["digest"], b.digest.as_str());

    patch(
        &c,
        &format!("{repo}/_manifests/{}", b.digest),
        json!({"list_enabled": false}),
    )
    .await;
    let images = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_manifests"),
        None,
        200,
    )
    .await;
    let digests: Vec<&str> = images["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter_map(|m| m["digest"].as_str())
        .collect();
    assert_eq!(digests, [a.digest.as_str()]);
    c.get(&format!(
        "/api/v1/repositories/{repo}/_manifests/{}",
        b.digest
    ))
    .await
    .expect(200);

    // A list-disabled repository leaves the catalog and the repository listing.
    patch(&c, repo, json!({"list_enabled": false})).await;
    let catalog = c.get("/v2/_catalog").await.expect(200).json();
    assert_eq!(catalog["repositories"], json!(["hidden/other"]));
    let listed = api_ok(&c, "GET", "/api/v1/repositories", None, 200).await;
    let names: Vec<&str> = listed["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["hidden/other"]);
    assert_eq!(
        c.tags(repo).await,
        Some(vec!["also".to_string(), "shown".to_string()])
    );
}

#[tokio::test]
async fn repository_locks_refuse_pushes_and_deletes() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "locks/repo";
    let a = Image::new("repo lock a");
    let b = Image::new("repo lock b");
    a.push(&c, repo, "v1").await;
    b.push_blobs(&c, "locks/source").await;

    let record = patch(&c, repo, json!({"write_enabled": false})).await;
    assert_eq!(record["changeable_attributes"]["write_enabled"], false);
    let before = snapshot(&c, &server, repo).await;
    let words = ["repository locks/repo", "write-enabled"];
    let started = c
        .send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], None)
        .await;
    assert_denied(&started, &words);
    let monolithic = format!("/v2/{repo}/blobs/uploads/?digest={}", digest(&b.config));
    let len = b.config.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
    ];
    let pushed = c
        .send("POST", &monolithic, &headers, Some(b.config.clone()))
        .await;
    assert_denied(&pushed, &words);
    let mount = format!(
        "/v2/{repo}/blobs/uploads/?mount={}&from=locks/source",
        digest(&b.config)
    );
    assert_denied(&c.send("POST", &mount, &[], None).await, &words);
    // A new tag on a stored manifest, a new manifest, a moved tag: all refused.
    let tagged = c.put_manifest(repo, "v2", OCI_MANIFEST, &a.manifest).await;
    assert_denied(&tagged, &words);
    let source = json!({"source_reference": "v1"});
    let tagged = c
        .api(
            "PUT",
            &format!("/api/v1/repositories/{repo}/_tags/v2"),
            Some(source),
        )
        .await;
    assert_denied(&tagged, &words);
    let deleted = c.delete(&format!("/v2/{repo}/manifests/v1")).await;
    assert_denied(&deleted, &words);
    let blob = c
        .delete(&format!("/v2/{repo}/blobs/{}", digest(&a.layer)))
        .await;
    assert_denied(&blob, &words);
    let gone = c.delete(&format!("/api/v1/repositories/{repo}")).await;
    assert_denied(&gone, &words);
    assert_unchanged(
        &c,
        &server,
        repo,
        &before,
        "writes to a write-locked repository",
    )
    .await;
    // Pushing again what is stored changes nothing and passes.
    c.put_manifest(repo, "v1", OCI_MANIFEST, &a.manifest)
        .await
        .expect(201);
    c.get_manifest(repo, "v1", OCI_MANIFEST).await.expect(200);

    // Delete-locked: pushes pass, deletes of anything in it are refused.
    patch(
        &c,
        repo,
        json!({"write_enabled": true, "delete_enabled": false}),
    )
    .await;
    b.push(&c, repo, "v2").await;
    let before = snapshot(&c, &server, repo).await;
    let words = ["repository locks/repo", "delete-enabled"];
    assert_denied(
        &c.delete(&format!("/api/v1/repositories/{repo}")).await,
        &words,
    );
    assert_denied(&c.delete(&format!("/v2/{repo}/manifests/v2")).await, &words);
    let by_digest = format!("/v2/{repo}/manifests/{}", b.digest);
    assert_denied(&c.delete(&by_digest).await, &words);
    let untag = format!("/api/v1/repositories/{repo}/_tags/v2");
    assert_denied(&c.delete(&untag).await, &words);
    assert_unchanged(
        &c,
        &server,
        repo,
        &before,
        "deletes in a delete-locked repository",
    )
    .await;

    // A lock on one tag inside keeps the whole repository.
    patch(&c, repo, json!({"delete_enabled": true})).await;
    patch(
        &c,
        &format!("{repo}/_tags/v2"),
        json!({"delete_enabled": false}),
    )
    .await;
    let before = snapshot(&c, &server, repo).await;
    let gone = c.delete(&format!("/api/v1/repositories/{repo}")).await;
    assert_denied(&gone, &["tag locks/repo:v2", "delete-enabled"]);
    assert_unchanged(
        &c,
        &server,
        repo,
        &before,
        "deleting a repository with a locked tag",
    )
    .await;

    patch(
        &c,
        &format!("{repo}/_tags/v2"),
        json!({"delete_enabled": true}),
    )
    .await;
    let gone = api_ok(
        &c,
        "DELETE",
        &format!("/api/v1/repositories/{repo}"),
        None,
        200,
    )
    .await;
    assert_eq!(gone, json!({"deleted_tags": 2, "deleted_manifests": 2}));
    assert_eq!(c.tags(repo).await, None);
}

/// A tag mutability setting, its exclusion filters, the tags it keeps from moving and
/// the tags it lets move.
type MutabilityCase = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

#[tokio::test]
async fn tag_mutability_in_each_mode_with_exclusions() {
    let server = Server::start();
    let c = Client::new(&server);

    // MUTABLE and IMMUTABLE take no exclusion filter; the refusal creates nothing.
    for mode in ["MUTABLE", "IMMUTABLE"] {
        let body = json!({
            "name": "imm/refused",
            "tag_mutability": mode,
            "mutability_exclusions": ["dev-*"],
        });
        let resp = c.api("POST", "/api/v1/repositories", Some(body)).await;
        resp.expect_error(400, "UNSUPPORTED");
        assert!(message(&resp).contains("exclusion"), "{}", resp.describe());
    }
    let body = json!({"name": "imm/refused", "tag_mutability": "IMMUTABLE_WITH_EXCLUSION"});
    let resp = c.api("POST", "/api/v1/repositories", Some(body)).await;
    resp.expect_error(400, "UNSUPPORTED");
    c.get("/api/v1/repositories/imm/refused")
        .await
        .expect_error(404, "NAME_UNKNOWN");

    // (mode, exclusions, tags that may not move, tags that move)
    let cases: [MutabilityCase; 4] = [
        ("MUTABLE", &[], &[], &["v1", "dev-1", "latest"]),
        ("IMMUTABLE", &[], &["v1", "dev-1", "latest"], &[]),
        (
            "IMMUTABLE_WITH_EXCLUSION",
            &["dev-*", "latest"],
            &["v1"],
            &["dev-1", "latest"],
        ),
        (
            "MUTABLE_WITH_EXCLUSION",
            &["dev-*", "latest"],
            &["dev-1", "latest"],
            &["v1"],
        ),
    ];
    let a = Image::new("mutability a");
    let b = Image::new("mutability b");
    for (mode, exclusions, fixed, moving) in cases {
        let repo = format!("imm/{}", mode.to_ascii_lowercase().replace('_', "-"));
        let body = json!({
            "name": repo,
            "tag_mutability": mode,
            "mutability_exclusions": exclusions,
        });
        let created = api_ok(&c, "POST", "/api/v1/repositories", Some(body), 201).await;
        assert_eq!(created["tag_mutability"], mode);
        assert_eq!(created["mutability_exclusions"], json!(exclusions));
        b.push(&c, &repo, &b.digest).await;
        for tag in fixed.iter().chain(moving.iter()) {
            a.push(&c, &repo, tag).await;
        }

        for tag in fixed {
            let before = snapshot(&c, &server, &repo).await;
            let pushed = c.put_manifest(&repo, tag, OCI_MANIFEST, &b.manifest).await;
            let words = [
                format!("tag {tag} of repository {repo} is immutable"),
                format!("tag mutability {mode})"),
                a.digest.clone(),
            ];
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            assert_denied(&pushed, &words);
            let source = json!({"source_reference": b.digest});
            let path = format!("/api/v1/repositories/{repo}/_tags/{tag}");
            assert_denied(&c.api("PUT", &path, Some(source)).await, &words);
            assert_unchanged(&c, &server, &repo, &before, "moving an immutable tag").await;
            // The same digest again is no move.
            c.put_manifest(&repo, tag, OCI_MANIFEST, &a.manifest)
                .await
                .expect(201);
            assert_eq!(tag_target(&c, &repo, tag).await, Some(a.digest.clone()));
        }
        for tag in moving {
            c.put_manifest(&repo, tag, OCI_MANIFEST, &b.manifest)
                .await
                .expect(201);
            assert_eq!(
                tag_target(&c, &repo, tag).await,
                Some(b.digest.clone()),
                "{mode}: {tag} should have moved"
            );
        }
        // New tags are always allowed, whatever the mode.
        c.put_manifest(&repo, "fresh", OCI_MANIFEST, &b.manifest)
            .await
            .expect(201);
    }

    // Changing the setting applies at once.
    let repo = "imm/immutable";
    patch(&c, repo, json!({"tag_mutability": "MUTABLE"})).await;
    c.put_manifest(repo, "v1", OCI_MANIFEST, &b.manifest)
        .await
        .expect(201);
    assert_eq!(tag_target(&c, repo, "v1").await, Some(b.digest.clone()));
}

#[tokio::test]
async fn quotas_refuse_blobs_before_storing_them_and_usage_matches_the_disk() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "quota/small";
    let body = json!({"name": repo, "quota_bytes": 1000});
    let created = api_ok(&c, "POST", "/api/v1/repositories", Some(body), 201).await;
    assert_eq!(created["quota_bytes"], 1000);
    let first = pseudo_random(600, 1);
    c.push_blob(repo, &first).await;
    let big = pseudo_random(500, 2);
    let big_digest = digest(&big);
    let quota_words = ["storage quota of repository quota/small", "600 of 1000"];

    // Completing an upload that would pass the quota: refused, nothing published.
    let before = snapshot(&c, &server, repo).await;
    let location = c.start_upload(repo).await;
    let finished = c.finish(&location, &big_digest, &big).await;
    assert_denied(&finished, &quota_words);
    c.get(&location)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    // A chunk that takes the upload past the quota is refused when it arrives.
    let location = c.start_upload(repo).await;
    c.patch(&location, &big[..300], Some("0-299"))
        .await
        .expect(202);
    let grown = c.patch(&location, &big[300..], Some("300-499")).await;
    assert_denied(&grown, &quota_words);
    c.get(&location)
        .await
        .expect_error(404, "BLOB_UPLOAD_UNKNOWN");
    // A monolithic push, and a mount of a blob another repository holds.
    let path = format!("/v2/{repo}/blobs/uploads/?digest={big_digest}");
    let len = big.len().to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("content-length", len.as_str()),
    ];
    let pushed = c.send("POST", &path, &headers, Some(big.clone())).await;
    assert_denied(&pushed, &quota_words);
    c.get(&format!("/v2/{repo}/blobs/{big_digest}"))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    assert_unchanged(
        &c,
        &server,
        repo,
        &before,
        "blobs over the repository quota",
    )
    .await;
    assert!(!blob_file_exists(&server.data_dir, &big_digest));

    c.push_blob("quota/other", &big).await;
    let before = snapshot(&c, &server, repo).await;
    let mount = format!("/v2/{repo}/blobs/uploads/?mount={big_digest}&from=quota/other");
    assert_denied(&c.send("POST", &mount, &[], None).await, &quota_words);
    assert_unchanged(
        &c,
        &server,
        repo,
        &before,
        "a mount over the repository quota",
    )
    .await;
    // What fits still goes in, and relinking what is there costs nothing.
    c.push_blob(repo, &pseudo_random(400, 3)).await;
    c.push_blob(repo, &first).await;
    let record = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}"),
        None,
        200,
    )
    .await;
    assert_eq!(record["size_bytes"], 1000);

    // The registry quota: a blob new to the registry that would pass it is refused, a
    // blob the registry already holds costs nothing.
    let used = usage_figure(&c, "Size").await;
    assert_eq!(used, 600 + 500 + 400);
    let settings = json!({"quota_bytes": used + 100});
    let shown = api_ok(&c, "PATCH", "/api/v1/settings", Some(settings), 200).await;
    assert_eq!(shown["quota_bytes"], used + 100);
    let usage = api_ok(&c, "GET", "/api/v1/usage", None, 200).await;
    assert_eq!(usage["value"][0]["limit"], used + 100);
    let before = snapshot(&c, &server, "quota/new").await;
    let blob = pseudo_random(200, 4);
    let location = c.start_upload("quota/new").await;
    let finished = c.finish(&location, &digest(&blob), &blob).await;
    let registry_words = [
        "storage quota of the registry",
        &format!("{used} of {}", used + 100),
    ];
    assert_denied(&finished, &registry_words);
    assert_unchanged(
        &c,
        &server,
        "quota/new",
        &before,
        "a blob over the registry quota",
    )
    .await;
    assert!(!blob_file_exists(&server.data_dir, &digest(&blob)));
    c.push_blob("quota/new", &big).await;
    c.push_blob("quota/new", &pseudo_random(100, 5)).await;
    assert_eq!(usage_figure(&c, "Size").await, used + 100);
    // A manifest needs no blob bytes; the full registry still takes one.
    let config = pseudo_random(100, 5);
    let manifest = image_manifest(
        &descriptor(OCI_CONFIG, &config),
        &[descriptor(OCI_LAYER, &big)],
    );
    c.put_manifest("quota/new", "v1", OCI_MANIFEST, &manifest)
        .await
        .expect(201);
    api_ok(
        &c,
        "PATCH",
        "/api/v1/settings",
        Some(json!({"quota_bytes": null})),
        200,
    )
    .await;
    c.push_blob("quota/new", &blob).await;

    let (count, bytes) = disk_blobs(&server);
    assert_eq!(usage_figure(&c, "Size").await, bytes);
    assert_eq!(usage_figure(&c, "Blobs").await, count);
}

#[tokio::test]
async fn failed_and_abandoned_uploads_are_never_charged() {
    let server = Server::start();
    let c = Client::new(&server);
    let shared = pseudo_random(3000, 7);
    c.push_blob("usage/a", &shared).await;
    let (count, bytes) = disk_blobs(&server);
    assert_eq!((count, bytes), (1, 3000));
    assert_eq!(usage_figure(&c, "Size").await, 3000);

    // Two repositories sharing a blob are charged once, each repository in full.
    c.push_blob("usage/b", &shared).await;
    let mount = format!(
        "/v2/usage/c/blobs/uploads/?mount={}&from=usage/a",
        digest(&shared)
    );
    c.send("POST", &mount, &[], None).await.expect(201);
    assert_eq!(disk_blobs(&server), (1, 3000));
    assert_eq!(usage_figure(&c, "Size").await, 3000);
    assert_eq!(usage_figure(&c, "Blobs").await, 1);
    for repo in ["usage/a", "usage/b", "usage/c"] {
        let record = api_ok(
            &c,
            "GET",
            &format!("/api/v1/repositories/{repo}"),
            None,
            200,
        )
        .await;
        assert_eq!(record["size_bytes"], 3000, "{repo}");
    }

    let before = snapshot(&c, &server, "usage/a").await;
    // An upload in progress is not charged, and neither is one that fails its digest.
    let partial = pseudo_random(2000, 8);
    let location = c.start_upload("usage/a").await;
    c.patch(&location, &partial[..1000], None).await.expect(202);
    assert_eq!(usage_figure(&c, "Size").await, 3000);
    let wrong = digest(b"something else");
    c.finish(&location, &wrong, &partial[1000..])
        .await
        .expect_error(400, "DIGEST_INVALID");
    // A cancelled upload, and one whose client vanished mid-body.
    let location = c.start_upload("usage/a").await;
    c.patch(&location, &partial, None).await.expect(202);
    c.delete(&location).await.expect(204);
    let location = c.start_upload("usage/a").await;
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 2000\r\n\r\n",
        with_query(&location, "digest", &digest(&partial))
    );
    raw_abandon(&server, &head, &partial[..700]);
    let monolithic = format!(
        "POST /v2/usage/a/blobs/uploads/?digest={} HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 2000\r\n\r\n",
        digest(&partial)
    );
    raw_abandon(&server, &monolithic, &partial[..900]);
    // Give the server a moment to see the connections go.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(usage_figure(&c, "Size").await, 3000);
    assert_eq!(disk_blobs(&server), (1, 3000));
    assert!(!blob_file_exists(&server.data_dir, &digest(&partial)));
    c.get(&format!("/v2/usage/a/blobs/{}", digest(&partial)))
        .await
        .expect_error(404, "BLOB_UNKNOWN");
    let mut after = snapshot(&c, &server, "usage/a").await;
    // The abandoned session's bytes may still sit in uploads/ until the sweep.
    after["files"] = before["files"].clone();
    assert_eq!(after, before, "failed uploads changed what is stored");

    // Usage is the bytes on disk: each blob file once.
    c.push_blob("usage/b", &partial).await;
    let (count, bytes) = disk_blobs(&server);
    assert_eq!((count, bytes), (2, 5000));
    assert_eq!(usage_figure(&c, "Size").await, bytes);
    assert_eq!(usage_figure(&c, "Blobs").await, count);
}

/// Pushes `tags` one after another onto `image`, a few milliseconds apart so that their
/// times differ.
async fn push_tags(c: &Client, repo: &str, image: &Image, tags: &[&str]) {
    for tag in tags {
        c.put_manifest(repo, tag, OCI_MANIFEST, &image.manifest)
            .await
            .expect(201);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

/// Every tag of a management listing followed page by page: by the body's `next` when
/// `by_link` is false, else by the `Link` header.
async fn walk_api_tags(
    c: &Client,
    repo: &str,
    order: &str,
    n: usize,
    by_link: bool,
) -> Vec<String> {
    let mut path = format!("/api/v1/repositories/{repo}/_tags?orderby={order}&n={n}");
    let mut names = Vec::new();
    for _ in 0..100 {
        let resp = c.get(&path).await;
        resp.expect(200);
        let page = resp.json();
        let got = tag_names(&page);
        assert!(got.len() <= n, "page larger than n={n}: {page}");
        names.extend(got);
        let link = resp.header("link").map(str::to_string);
        match (&page["next"], link) {
            (Value::Null, None) => return names,
            (Value::String(next), Some(link)) => {
                assert_eq!(resp.json()["tags"].as_array().map(Vec::len), Some(n));
                path = if by_link {
                    let target = link
                        .strip_prefix('<')
                        .and_then(|l| l.split_once(">; rel=\"next\""))
                        .map(|(t, _)| t.to_string())
                        .unwrap_or_else(|| panic!("bad Link {link:?}"));
                    assert!(target.contains(&format!("orderby={order}")), "{target}");
                    target
                } else {
                    format!(
                        "/api/v1/repositories/{repo}/_tags?orderby={order}&n={n}&last={}",
                        form_encode(next)
                    )
                };
            }
            (next, link) => panic!("next {next} and Link {link:?} disagree"),
        }
    }
    panic!("paging did not end")
}

#[tokio::test]
async fn tag_listings_by_time_and_name_page_through_every_tag_once() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "list/tags";
    let a = Image::new("list a");
    let b = Image::new("list b");
    a.push_blobs(&c, repo).await;
    b.push(&c, repo, "b-only").await;
    let tags = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];
    push_tags(&c, repo, &a, &tags).await;

    let top = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        api_tags(&c, repo, "orderby=time_desc&n=5").await,
        top(&["t7", "t6", "t5", "t4", "t3"])
    );
    // Re-pointing an old tag, with a push or through the API, makes it the newest;
    // pushing the same digest again does not.
    c.put_manifest(repo, "t0", OCI_MANIFEST, &b.manifest)
        .await
        .expect(201);
    tokio::time::sleep(Duration::from_millis(3)).await;
    assert_eq!(
        api_tags(&c, repo, "orderby=time_desc&n=5").await,
        top(&["t0", "t7", "t6", "t5", "t4"])
    );
    let source = json!({"source_reference": b.digest});
    api_ok(
        &c,
        "PUT",
        &format!("/api/v1/repositories/{repo}/_tags/t1"),
        Some(source),
        200,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3)).await;
    c.put_manifest(repo, "t2", OCI_MANIFEST, &a.manifest)
        .await
        .expect(201);
    let newest = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_tags?orderby=time_desc&n=5"),
        None,
        200,
    )
    .await;
    assert_eq!(tag_names(&newest), top(&["t1", "t0", "t7", "t6", "t5"]));
    let t1 = &newest["tags"][0];
    assert_eq!(t1["digest"], b.digest.as_str());
    assert_eq!(t1["media_type"], OCI_MANIFEST);
    assert_eq!(t1["size_bytes"], b.config.len() + b.layer.len());
    assert!(millis(&t1["updated_at"]) >= millis(&t1["created_at"]));
    assert_eq!(
        api_tags(&c, repo, "orderby=time_asc&n=3").await,
        top(&["b-only", "t2", "t3"])
    );

    let all_by_name = api_tags(&c, repo, "n=1000").await;
    let mut expected: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
    expected.insert(0, "b-only".to_string());
    assert_eq!(all_by_name, expected);
    for order in ["name", "time_desc", "time_asc"] {
        let full = api_tags(&c, repo, &format!("orderby={order}&n=1000")).await;
        assert_eq!(full.len(), 9, "{order}");
        for n in [1, 2, 4, 9] {
            for by_link in [false, true] {
                let walked = walk_api_tags(&c, repo, order, n, by_link).await;
                assert_eq!(walked, full, "orderby={order} n={n} link={by_link}");
            }
        }
    }

    // /v2/ tags/list pages too, by `Link`.
    let mut path = format!("/v2/{repo}/tags/list?n=4");
    let mut walked = Vec::new();
    loop {
        let resp = c.get(&path).await;
        resp.expect(200);
        walked.extend(string_list(&resp.json()["tags"]));
        let Some(link) = resp.header("link") else {
            break;
        };
        path = link
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .map(|(t, _)| t.to_string())
            .expect("Link");
    }
    assert_eq!(walked, expected);

    // Bad paging parameters are refused.
    for query in [
        "n=0",
        "n=x",
        "orderby=size",
        "orderby=time_desc&last=garbage",
    ] {
        c.get(&format!("/api/v1/repositories/{repo}/_tags?{query}"))
            .await
            .expect_error(400, "UNSUPPORTED");
    }
    c.get("/api/v1/repositories/list/none/_tags")
        .await
        .expect_error(404, "NAME_UNKNOWN");
}

#[tokio::test]
async fn images_are_described_deleted_with_their_tags_and_tagged_without_a_push() {
    let mut server = Server::start();
    let c = Client::new(&server);
    let repo = "list/images";
    let labels =
        json!({"org.opencontainers.image.source": "https://example.com/app", "git.sha": "abc123"});
    let image = labelled_image("described", "arm64", labels.clone(), 2);
    let before_push = now_millis() / 1000 * 1000;
    push_labelled(&c, repo, "v1", &image, 2).await;
    let after_push = now_millis();

    let path = format!("/api/v1/repositories/{repo}/_manifests/v1");
    let described = api_ok(&c, "GET", &path, None, 200).await;
    assert_eq!(described["digest"], image.digest.as_str());
    assert_eq!(described["tags"], json!(["v1"]));
    assert_eq!(described["media_type"], OCI_MANIFEST);
    assert_eq!(described["labels"], labels);
    assert_eq!(described["architecture"], "arm64");
    assert_eq!(described["os"], "linux");
    assert_eq!(described["created"], "2024-01-02T03:04:05Z");
    assert_eq!(described["layer_count"], 2);
    assert_eq!(described["config_digest"], digest(&image.config).as_str());
    assert_eq!(
        described["size_bytes"],
        image.config.len() + image.layer.len()
    );
    assert_eq!(described["manifest_size_bytes"], image.manifest.len());
    let pushed_at = millis(&described["pushed_at"]);
    assert!(
        (before_push..=after_push).contains(&pushed_at),
        "pushed_at {pushed_at} not in {before_push}..={after_push}"
    );
    assert_eq!(described["last_pulled_at"], Value::Null);
    let listed = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_manifests"),
        None,
        200,
    )
    .await;
    assert_eq!(listed["manifests"], json!([described]));

    // An index of two platforms: its size is its children's.
    let amd = labelled_image("amd", "amd64", json!({}), 1);
    let arm = labelled_image("arm", "arm64", json!({}), 1);
    push_labelled(&c, repo, &amd.digest, &amd, 1).await;
    push_labelled(&c, repo, &arm.digest, &arm, 1).await;
    let mut arm_entry = descriptor(OCI_MANIFEST, &arm.manifest);
    arm_entry["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    let mut amd_entry = descriptor(OCI_MANIFEST, &amd.manifest);
    amd_entry["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let index = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [amd_entry, arm_entry],
    }));
    c.put_manifest(repo, "multi", OCI_INDEX, &index)
        .await
        .expect(201);
    let multi = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_manifests/multi"),
        None,
        200,
    )
    .await;
    assert_eq!(multi["media_type"], OCI_INDEX);
    assert_eq!(
        multi["platforms"],
        json!([
            {"digest": amd.digest, "media_type": OCI_MANIFEST, "os": "linux",
             "architecture": "amd64", "variant": null},
            {"digest": arm.digest, "media_type": OCI_MANIFEST, "os": "linux",
             "architecture": "arm64", "variant": "v8"},
        ])
    );
    let children = amd.config.len() + amd.layer.len() + arm.config.len() + arm.layer.len();
    assert_eq!(multi["size_bytes"], children);

    // A pull sets the last pull time; it is written in batches, and at shutdown.
    let pulled_from = now_millis() / 1000 * 1000;
    c.get_manifest(repo, "v1", OCI_MANIFEST).await.expect(200);
    let pulled_to = now_millis();
    assert!(server.terminate(), "no graceful exit:\n{}", server.log());
    server.restart();
    let c = Client::new(&server);
    let described = api_ok(&c, "GET", &path, None, 200).await;
    let pulled = millis(&described["last_pulled_at"]);
    assert!(
        (pulled_from..=pulled_to).contains(&pulled),
        "last_pulled_at {pulled} not in {pulled_from}..={pulled_to}"
    );
    let multi = api_ok(
        &c,
        "GET",
        &format!("/api/v1/repositories/{repo}/_manifests/multi"),
        None,
        200,
    )
    .await;
    assert_eq!(multi["last_pulled_at"], Value::Null);

    // PUT of a tag points it at a stored image without a push.
    let files = disk_blobs(&server);
    let tagged = api_ok(
        &c,
        "PUT",
        &format!("/api/v1/repositories/{repo}/_tags/stable"),
        Some(json!({"source_reference": "v1"})),
        200,
    )
    .await;
    assert_eq!(tagged["digest"], image.digest.as_str());
    api_ok(
        &c,
        "PUT",
        &format!("/api/v1/repositories/{repo}/_tags/prod"),
        Some(json!({"source_reference": image.digest})),
        200,
    )
    .await;
    api_ok(
        &c,
        "PUT",
        "/api/v1/repositories/other/copy/_tags/v1",
        Some(json!({"source_repository": repo, "source_reference": "multi"})),
        200,
    )
    .await;
    assert_eq!(
        c.get_manifest("other/copy", "v1", ACCEPT_ALL)
            .await
            .expect(200)
            .body,
        index
    );
    c.get_manifest(repo, "stable", OCI_MANIFEST)
        .await
        .expect(200);
    assert_eq!(disk_blobs(&server), files, "tagging stored blob bytes");
    let before = snapshot(&c, &server, repo).await;
    let zero = format!("sha256:{}", "0".repeat(64));
    c.api(
        "PUT",
        &format!("/api/v1/repositories/{repo}/_tags/ghost"),
        Some(json!({"source_reference": zero})),
    )
    .await
    .expect_error(404, "MANIFEST_UNKNOWN");
    c.api(
        "PUT",
        &format!("/api/v1/repositories/{repo}/_tags/ghost"),
        Some(json!({"source_reference": "nope"})),
    )
    .await
    .expect_error(404, "MANIFEST_UNKNOWN");
    assert_unchanged(&c, &server, repo, &before, "tagging a missing image").await;

    // DELETE of an image takes every tag on it and nothing else.
    let gone = api_ok(
        &c,
        "DELETE",
        &format!("/api/v1/repositories/{repo}/_manifests/stable"),
        None,
        200,
    )
    .await;
    assert_eq!(gone["digest"], image.digest.as_str());
    assert_eq!(c.tags(repo).await, Some(vec!["multi".to_string()]));
    c.get_manifest(repo, &image.digest, OCI_MANIFEST)
        .await
        .expect_error(404, "MANIFEST_UNKNOWN");
    c.get(&path).await.expect_error(404, "MANIFEST_UNKNOWN");
    c.get_manifest(repo, "multi", OCI_INDEX).await.expect(200);
    c.delete(&format!(
        "/api/v1/repositories/{repo}/_manifests/{}",
        image.digest
    ))
    .await
    .expect_error(404, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn concurrent_uploads_racing_for_the_last_bytes_of_a_quota_store_only_the_winner() {
    let server = Server::start();
    let c = Client::new(&server);
    c.push_blob("race/base", &pseudo_random(1000, 20)).await;
    let settings = json!({"quota_bytes": 1000 + 1_500_000});
    api_ok(&c, "PATCH", "/api/v1/settings", Some(settings), 200).await;
    // Each fits alone, no two fit together.
    let blobs: Vec<Vec<u8>> = (0..4).map(|n| pseudo_random(1_000_000, 30 + n)).collect();
    let mut locations = Vec::new();
    for (n, blob) in blobs.iter().enumerate() {
        let repo = format!("race/r{n}");
        let location = c.start_upload(&repo).await;
        c.patch(&location, blob, None).await.expect(202);
        locations.push(location);
    }
    let finishes = blobs.iter().zip(&locations).map(|(blob, location)| {
        let (c, location, blob_digest) = (c.clone(), location.clone(), digest(blob));
        async move { c.finish(&location, &blob_digest, &[]).await }
    });
    let results = futures_join(finishes.collect()).await;
    let won: Vec<&Resp> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(won.len(), 1, "{results:#?}");
    for lost in results.iter().filter(|r| r.status != 201) {
        assert_denied(lost, &["storage quota of the registry"]);
    }
    let (count, bytes) = disk_blobs(&server);
    assert_eq!(
        (count, bytes),
        (2, 1_001_000),
        "blob files of refused uploads stayed"
    );
    assert_eq!(usage_figure(&c, "Size").await, bytes);
}

/// Runs the futures concurrently on the test's runtime and returns their outputs in order.
async fn futures_join<F: std::future::Future<Output = Resp> + Send + 'static>(
    futures: Vec<F>,
) -> Vec<Resp> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
