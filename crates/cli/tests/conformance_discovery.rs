//! OCI Distribution Spec v1.1 conformance, content discovery workflow (end-8a/8b, end-12a/12b,
//! and the catalog): tag lists in lexical order with `n`/`last` paging and `Link` headers, the
//! repository catalog paged the same way, and the referrers API with and without the
//! `artifactType` filter, including referrers whose subject does not exist yet.

mod support;
mod support_http;

use serde_json::{json, Value};
use support::Server;
use support_http::*;

const SBOM: &str = "application/vnd.example.sbom.v1";
const SIG_CONFIG: &str = "application/vnd.example.signature.config.v1+json";
const EMPTY_JSON_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// The target of a `Link: <...>; rel="next"` header, if any.
fn next_link(resp: &Resp) -> Option<String> {
    let links = resp.header_all("link");
    let link = links.iter().find(|l| l.contains("rel=\"next\""))?;
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    Some(path_of(&link[start..end]))
}

#[tokio::test]
async fn tag_list_is_lexical_and_pages_with_link() {
    let server = Server::start();
    let c = Client::new(&server);
    let image = Image::new("tags");
    image.push_blobs(&c, "disc/tags").await;
    let pushed = ["v10", "latest", "1.0", "v2", "alpha", "v1"];
    for tag in pushed {
        c.put_manifest("disc/tags", tag, OCI_MANIFEST, &image.manifest)
            .await
            .expect(201);
    }
    let mut sorted: Vec<String> = pushed.iter().map(|t| t.to_string()).collect();
    sorted.sort();

    let resp = c.get("/v2/disc/tags/tags/list").await;
    resp.expect(200);
    let body = resp.json();
    assert_eq!(body["name"], json!("disc/tags"));
    assert_eq!(string_list(&body["tags"]), sorted);
    assert!(
        next_link(&resp).is_none(),
        "no Link without n: {}",
        resp.describe()
    );

    // Walk the pages through the Link headers.
    let mut collected = Vec::new();
    let mut path = Some("/v2/disc/tags/tags/list?n=4".to_string());
    let mut pages = 0;
    while let Some(p) = path {
        let resp = c.get(&p).await;
        resp.expect(200);
        let page = string_list(&resp.json()["tags"]);
        assert!(page.len() <= 4, "{}", resp.describe());
        collected.extend(page);
        path = next_link(&resp);
        if let Some(next) = &path {
            assert!(next.starts_with("/v2/disc/tags/tags/list?"), "{next}");
            assert!(next.contains("n=4"), "{next}");
        }
        pages += 1;
        assert!(pages <= 3, "paging does not end");
    }
    assert_eq!(collected, sorted);
    assert_eq!(pages, 2);

    let resp = c.get("/v2/disc/tags/tags/list?n=2").await;
    assert_eq!(string_list(&resp.json()["tags"]), sorted[..2]);
    let link = next_link(&resp).expect("Link when more tags remain");
    assert!(link.contains(&format!("last={}", sorted[1])), "{link}");

    let resp = c
        .get(&format!("/v2/disc/tags/tags/list?n=2&last={}", sorted[1]))
        .await;
    assert_eq!(string_list(&resp.json()["tags"]), sorted[2..4]);
    let resp = c.get("/v2/disc/tags/tags/list?last=v1").await;
    assert_eq!(string_list(&resp.json()["tags"]), vec!["v10", "v2"]);
    let resp = c.get("/v2/disc/tags/tags/list?n=6").await;
    assert_eq!(string_list(&resp.json()["tags"]), sorted);
    assert!(next_link(&resp).is_none(), "no Link when nothing remains");
    let resp = c.get("/v2/disc/tags/tags/list?n=0").await;
    resp.expect(200);
    assert!(
        string_list(&resp.json()["tags"]).is_empty(),
        "{}",
        resp.describe()
    );
    let resp = c.get("/v2/disc/tags/tags/list?last=zzz").await;
    assert!(string_list(&resp.json()["tags"]).is_empty());

    c.get("/v2/disc/tags/tags/list?n=abc")
        .await
        .expect_error(400, "UNSUPPORTED");
    c.get("/v2/disc/tags/tags/list?n=-1")
        .await
        .expect_error(400, "UNSUPPORTED");
    c.get("/v2/disc/nothing/tags/list")
        .await
        .expect_error(404, "NAME_UNKNOWN");
}

#[tokio::test]
async fn catalog_pages_with_link() {
    let server = Server::start();
    let c = Client::new(&server);
    let resp = c.get("/v2/_catalog").await;
    resp.expect(200);
    assert!(string_list(&resp.json()["repositories"]).is_empty());

    let repos = ["zeta", "alpha/one", "alpha", "team/app/api", "beta"];
    for repo in repos {
        c.push_blob(repo, repo.as_bytes()).await;
        Image::new(repo).push(&c, repo, "v1").await;
    }
    let mut sorted: Vec<String> = repos.iter().map(|r| r.to_string()).collect();
    sorted.sort();
    let resp = c.get("/v2/_catalog").await;
    assert_eq!(string_list(&resp.json()["repositories"]), sorted);

    let mut collected = Vec::new();
    let mut path = Some("/v2/_catalog?n=2".to_string());
    let mut pages = 0;
    while let Some(p) = path {
        let resp = c.get(&p).await;
        resp.expect(200);
        collected.extend(string_list(&resp.json()["repositories"]));
        path = next_link(&resp);
        pages += 1;
        assert!(pages <= 4, "paging does not end");
    }
    assert_eq!(collected, sorted);
    assert_eq!(pages, 3);
    let resp = c.get("/v2/_catalog?n=0").await;
    assert!(string_list(&resp.json()["repositories"]).is_empty());
    c.get("/v2/_catalog?n=abc")
        .await
        .expect_error(400, "UNSUPPORTED");
}

/// An artifact manifest with a subject; `artifact_type` goes in the field when given,
/// otherwise the config's media type carries it.
fn artifact(subject: &[u8], artifact_type: Option<&str>, config: Value, note: &str) -> Vec<u8> {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": [descriptor("application/octet-stream", note.as_bytes())],
        "subject": descriptor(OCI_MANIFEST, subject),
        "annotations": {"org.example.note": note},
    });
    if let Some(t) = artifact_type {
        manifest["artifactType"] = json!(t);
    }
    to_bytes(&manifest)
}

/// The referrers response for `subject`, checked for the spec's shape.
async fn referrers(c: &Client, repo: &str, subject: &str, filter: Option<&str>) -> (Resp, Value) {
    let mut path = format!("/v2/{repo}/referrers/{subject}");
    if let Some(t) = filter {
        path = with_query(&path, "artifactType", t);
    }
    let resp = c.get(&path).await;
    resp.expect(200);
    assert_eq!(
        resp.header("content-type"),
        Some(OCI_INDEX),
        "{}",
        resp.describe()
    );
    let body = resp.json();
    assert_eq!(body["schemaVersion"], json!(2));
    assert_eq!(body["mediaType"], json!(OCI_INDEX));
    assert!(body["manifests"].is_array(), "{}", resp.describe());
    (resp, body)
}

/// The referrer descriptors keyed by digest.
fn by_digest(index: &Value) -> std::collections::BTreeMap<String, Value> {
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|d| (d["digest"].as_str().expect("digest").to_string(), d.clone()))
        .collect()
}

#[tokio::test]
async fn referrers_list_and_filter() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "disc/ref";
    let subject = Image::new("subject");
    subject.push(&c, repo, "v1").await;
    assert_eq!(c.push_blob(repo, b"{}").await, EMPTY_JSON_DIGEST);
    for note in ["a1", "a2", "a3"] {
        c.push_blob(repo, note.as_bytes()).await;
    }
    let sig_config = b"{\"signature\":true}".to_vec();
    c.push_blob(repo, &sig_config).await;

    let empty = json!({"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2});
    let a1 = artifact(&subject.manifest, Some(SBOM), empty.clone(), "a1");
    let a2 = artifact(
        &subject.manifest,
        None,
        descriptor(SIG_CONFIG, &sig_config),
        "a2",
    );
    let a3 = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": SBOM,
        "manifests": [],
        "subject": descriptor(OCI_MANIFEST, &subject.manifest),
        "annotations": {"org.example.note": "a3"},
    }));
    for (bytes, media_type) in [(&a1, OCI_MANIFEST), (&a2, OCI_MANIFEST), (&a3, OCI_INDEX)] {
        let resp = c
            .put_manifest(repo, &digest(bytes), media_type, bytes)
            .await;
        resp.expect(201);
        assert_eq!(
            resp.header("oci-subject"),
            Some(subject.digest.as_str()),
            "{}",
            resp.describe()
        );
    }

    let (resp, index) = referrers(&c, repo, &subject.digest, None).await;
    let found = by_digest(&index);
    assert_eq!(found.len(), 3, "{}", resp.describe());
    let expected = [
        (&a1, OCI_MANIFEST, SBOM, "a1"),
        (&a2, OCI_MANIFEST, SIG_CONFIG, "a2"),
        (&a3, OCI_INDEX, SBOM, "a3"),
    ];
    for (bytes, media_type, artifact_type, note) in expected {
        let d = &found[&digest(bytes)];
        assert_eq!(d["mediaType"], json!(media_type), "{d}");
        assert_eq!(d["size"], json!(bytes.len()), "{d}");
        assert_eq!(d["artifactType"], json!(artifact_type), "{d}");
        assert_eq!(d["annotations"], json!({"org.example.note": note}), "{d}");
    }

    let (resp, index) = referrers(&c, repo, &subject.digest, Some(SBOM)).await;
    assert_eq!(resp.header("oci-filters-applied"), Some("artifactType"));
    let found = by_digest(&index);
    let mut keys: Vec<_> = found.keys().cloned().collect();
    let mut want = vec![digest(&a1), digest(&a3)];
    keys.sort();
    want.sort();
    assert_eq!(keys, want, "{}", resp.describe());

    let (resp, index) = referrers(&c, repo, &subject.digest, Some("application/x-none")).await;
    assert_eq!(resp.header("oci-filters-applied"), Some("artifactType"));
    assert!(by_digest(&index).is_empty());

    // Deleting a referrer removes it from the list.
    c.delete(&format!("/v2/{repo}/manifests/{}", digest(&a2)))
        .await
        .expect(202);
    let (_, index) = referrers(&c, repo, &subject.digest, None).await;
    assert_eq!(by_digest(&index).len(), 2);

    // Referrers are scoped to the repository.
    Image::new("elsewhere").push(&c, "disc/other", "v1").await;
    let (_, index) = referrers(&c, "disc/other", &subject.digest, None).await;
    assert!(by_digest(&index).is_empty());
}

#[tokio::test]
async fn referrers_of_missing_subject_and_of_nothing() {
    let server = Server::start();
    let c = Client::new(&server);
    let repo = "disc/later";
    Image::new("present").push(&c, repo, "v1").await;
    c.push_blob(repo, b"{}").await;
    c.push_blob(repo, b"early").await;
    let subject = Image::new("arrives later");

    let empty = json!({"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2});
    let early = artifact(&subject.manifest, Some(SBOM), empty, "early");
    let resp = c
        .put_manifest(repo, &digest(&early), OCI_MANIFEST, &early)
        .await;
    resp.expect(201);
    assert_eq!(resp.header("oci-subject"), Some(subject.digest.as_str()));

    let (_, index) = referrers(&c, repo, &subject.digest, None).await;
    assert_eq!(
        by_digest(&index).keys().cloned().collect::<Vec<_>>(),
        vec![digest(&early)]
    );
    subject.push(&c, repo, "later").await;
    let (_, index) = referrers(&c, repo, &subject.digest, None).await;
    assert_eq!(by_digest(&index).len(), 1);

    let nothing = digest(b"nobody refers to this");
    let (resp, index) = referrers(&c, repo, &nothing, None).await;
    assert!(by_digest(&index).is_empty(), "{}", resp.describe());

    for bad in ["sha256:xyz", "nothex", "sha256:ABC"] {
        c.get(&format!("/v2/{repo}/referrers/{bad}"))
            .await
            .expect_error(400, "DIGEST_INVALID");
    }
}
