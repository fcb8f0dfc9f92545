//! `berth import` between two real servers: a multi-platform index with a referrer is
//! pushed to the first over HTTP, the real client has the second import it (the second
//! server fetches from the first with Docker token authentication), and everything
//! arrives byte for byte: the index, both platform manifests, every blob, the referrer
//! through the referrers API. NoForce refuses a tag that points elsewhere and changes
//! nothing, Force moves it, and a source that does not exist or refuses the password
//! fails with a message saying so and stores nothing.

mod support;
mod support_cli;
mod support_http;

use std::process::Command;

use serde_json::{json, Value};
use support::Server;
use support_cli::Run;
use support_http::{
    blob_files, descriptor, digest, to_bytes, Client, Image, ACCEPT_ALL, OCI_EMPTY, OCI_INDEX,
    OCI_MANIFEST,
};

const SBOM: &str = "application/vnd.example.sbom.v1";

/// The sources here listen on loopback, which imports may reach only when allowed.
const LOOPBACK_SOURCES: &[&str] = &["--import-allowed-networks", "127.0.0.1"];

/// Runs `berth import` against `target` as its owner, with `args` and the source
/// password on standard input (when given).
fn berth_import(target: &Server, args: &[&str], source_password: Option<&str>) -> Run {
    let home = tempfile::tempdir().expect("home");
    let (user, password) = target.credentials().expect("auth is on");
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .env_clear()
        .env("HOME", home.path())
        .env("BERTH_USERNAME", user)
        .env("BERTH_PASSWORD", password)
        .arg("import")
        .arg("--registry")
        .arg(&target.base)
        .args(args);
    if source_password.is_some() {
        command.arg("--password-stdin");
    }
    support_cli::run(command, source_password.unwrap_or_default())
}

/// What the source holds: two platform images under an index tagged `v1`, and an SBOM
/// whose subject is the index.
struct Pushed {
    images: [Image; 2],
    index: Vec<u8>,
    sbom: Vec<u8>,
    sbom_blobs: [Vec<u8>; 2],
}

impl Pushed {
    fn index_digest(&self) -> String {
        digest(&self.index)
    }

    fn blobs(&self) -> Vec<&[u8]> {
        let mut blobs: Vec<&[u8]> = Vec::new();
        for image in &self.images {
            blobs.push(&image.config);
            blobs.push(&image.layer);
        }
        blobs.extend(self.sbom_blobs.iter().map(Vec::as_slice));
        blobs
    }
}

async fn push_source(client: &Client, repo: &str) -> Pushed {
    let images = [Image::new("linux/amd64"), Image::new("linux/arm64")];
    let mut entries = Vec::new();
    for (image, arch) in images.iter().zip(["amd64", "arm64"]) {
        image.push(client, repo, &image.digest).await;
        let mut entry = descriptor(OCI_MANIFEST, &image.manifest);
        entry["platform"] = json!({"architecture": arch, "os": "linux"});
        entries.push(entry);
    }
    let index = to_bytes(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
    }));
    client
        .put_manifest(repo, "v1", OCI_INDEX, &index)
        .await
        .expect(201);

    let sbom_blobs = [b"{}".to_vec(), b"an sbom of the index".to_vec()];
    for blob in &sbom_blobs {
        client.push_blob(repo, blob).await;
    }
    let sbom = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM,
        "config": descriptor(OCI_EMPTY, &sbom_blobs[0]),
        "layers": [descriptor("application/spdx+json", &sbom_blobs[1])],
        "subject": descriptor(OCI_INDEX, &index),
    }));
    client
        .put_manifest(repo, &digest(&sbom), OCI_MANIFEST, &sbom)
        .await
        .expect(201);
    Pushed {
        images,
        index,
        sbom,
        sbom_blobs,
    }
}

/// Asserts the manifest `reference` of `repo` is `bytes`, with `media_type`.
async fn assert_manifest(
    client: &Client,
    repo: &str,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
) {
    let resp = client.get_manifest(repo, reference, ACCEPT_ALL).await;
    resp.expect(200);
    assert_eq!(resp.body, bytes, "{repo}:{reference} byte for byte");
    assert_eq!(resp.header("content-type"), Some(media_type));
}

async fn tag_digest(client: &Client, repo: &str, tag: &str) -> String {
    let resp = client.head(&format!("/v2/{repo}/manifests/{tag}")).await;
    resp.expect(200);
    resp.header("docker-content-digest")
        .expect("digest header")
        .to_string()
}

#[tokio::test]
async fn an_index_with_its_referrer_is_imported_whole_and_tags_follow_the_mode() {
    let source = Server::start();
    let target = Server::start_with(LOOPBACK_SOURCES);
    let (source_user, source_password) = source.credentials().unwrap();
    let pushed = push_source(&Client::new(&source), "team/app").await;
    let from = format!("{}/team/app:v1", source.host());

    let run = berth_import(
        &target,
        &[
            "--source",
            &from,
            "--image",
            "mirror/app:v1",
            "--image",
            "mirror/app:stable",
            "--username",
            &source_user,
            "-o",
            "json",
        ],
        Some(&source_password),
    );
    assert_eq!(run.code, Some(0), "{run:#?}\n{}", target.log());
    let result: Value = serde_json::from_str(&run.stdout).expect("JSON result");
    assert_eq!(result["status"], "succeeded", "{result}");
    assert_eq!(result["digest"], pushed.index_digest().as_str());
    assert_eq!(result["manifests"], 4, "index, two images, the sbom");
    assert_eq!(
        result["progress"]["bytes_done"],
        result["progress"]["bytes_total"]
    );
    assert!(run.stderr.contains("imported"), "{run:#?}");

    let client = Client::new(&target);
    for tag in ["v1", "stable"] {
        assert_manifest(&client, "mirror/app", tag, &pushed.index, OCI_INDEX).await;
    }
    for image in &pushed.images {
        assert_manifest(
            &client,
            "mirror/app",
            &image.digest,
            &image.manifest,
            OCI_MANIFEST,
        )
        .await;
    }
    assert_manifest(
        &client,
        "mirror/app",
        &digest(&pushed.sbom),
        &pushed.sbom,
        OCI_MANIFEST,
    )
    .await;
    for blob in pushed.blobs() {
        let resp = client
            .get(&format!("/v2/mirror/app/blobs/{}", digest(blob)))
            .await;
        resp.expect(200);
        assert_eq!(resp.body, blob, "blob {} byte for byte", digest(blob));
    }
    let referrers = client
        .get(&format!(
            "/v2/mirror/app/referrers/{}",
            pushed.index_digest()
        ))
        .await;
    referrers.expect(200);
    let manifests = referrers.json()["manifests"].clone();
    assert_eq!(manifests.as_array().map(Vec::len), Some(1), "{manifests}");
    assert_eq!(manifests[0]["digest"], digest(&pushed.sbom).as_str());
    assert_eq!(manifests[0]["artifactType"], SBOM);
    assert!(
        !target.log().contains(&source_password),
        "the source password reached the log"
    );

    // NoForce refuses a tag that points at another image, and changes nothing.
    let local = Image::new("local");
    local.push(&client, "mirror/app", "v2").await;
    let tags_before = client.tags("mirror/app").await;
    let files_before = blob_files(&target.data_dir);
    let import_v2 = |extra: &'static [&'static str]| {
        let mut args = vec![
            "--source",
            from.as_str(),
            "--image",
            "mirror/app:v2",
            "--image",
            "mirror/app:v3",
            "--username",
            source_user.as_str(),
        ];
        args.extend_from_slice(extra);
        berth_import(&target, &args, Some(&source_password))
    };
    let refused = import_v2(&[]);
    assert_eq!(refused.code, Some(1), "{refused:#?}");
    assert!(
        refused
            .stderr
            .contains("tag v2 of repository mirror/app exists")
            && refused.stderr.contains("force"),
        "{refused:#?}"
    );
    assert!(refused.stdout.is_empty(), "{refused:#?}");
    assert_eq!(tag_digest(&client, "mirror/app", "v2").await, local.digest);
    assert_eq!(client.tags("mirror/app").await, tags_before, "no v3");
    assert_eq!(blob_files(&target.data_dir), files_before);

    let forced = import_v2(&["--force", "-o", "tsv"]);
    assert_eq!(forced.code, Some(0), "{forced:#?}");
    assert!(
        forced.stdout.contains(&pushed.index_digest()),
        "{forced:#?}"
    );
    for tag in ["v2", "v3"] {
        assert_eq!(
            tag_digest(&client, "mirror/app", tag).await,
            pushed.index_digest()
        );
    }
}

#[tokio::test]
async fn a_bad_source_fails_with_a_clear_message_and_stores_nothing() {
    let source = Server::start();
    let target = Server::start_with(LOOPBACK_SOURCES);
    let (source_user, source_password) = source.credentials().unwrap();
    push_source(&Client::new(&source), "team/app").await;
    let client = Client::new(&target);
    let files_before = blob_files(&target.data_dir);

    let unknown = berth_import(
        &target,
        &[
            "--source",
            &format!("{}/team/nope:v1", source.host()),
            "--image",
            "mirror/bad:v1",
            "--username",
            &source_user,
        ],
        Some(&source_password),
    );
    assert_eq!(unknown.code, Some(1), "{unknown:#?}");
    assert!(unknown.stderr.starts_with("berth: "), "{unknown:#?}");
    assert!(
        unknown.stderr.contains("team/nope") && unknown.stderr.contains("not found"),
        "{unknown:#?}"
    );

    let app_source = format!("{}/team/app:v1", source.host());
    let import_app = |into: &Server, password: &str| {
        let args = [
            "--source",
            app_source.as_str(),
            "--image",
            "mirror/bad:v1",
            "--username",
            source_user.as_str(),
        ];
        berth_import(into, &args, Some(password))
    };
    let wrong_password = import_app(&target, "not-the-password");
    assert_eq!(wrong_password.code, Some(1), "{wrong_password:#?}");
    assert!(
        wrong_password.stderr.contains(&source.host())
            && wrong_password.stderr.contains("username and password"),
        "{wrong_password:#?}"
    );

    let unreachable = berth_import(
        &target,
        &[
            "--source",
            &format!("{}/team/app:v1", support::free_addr()),
            "--image",
            "mirror/bad:v1",
        ],
        None,
    );
    assert_eq!(unreachable.code, Some(1), "{unreachable:#?}");
    assert!(
        unreachable.stderr.contains("cannot reach"),
        "{unreachable:#?}"
    );

    // A registry started without allowing loopback sources refuses to fetch from one
    // (from its own host, its metadata service or a private network likewise).
    let guarded = Server::start();
    let guarded_files = blob_files(&guarded.data_dir);
    let private = import_app(&guarded, &source_password);
    assert_eq!(private.code, Some(1), "{private:#?}");
    assert!(
        private.stderr.contains("127.0.0.1 is a loopback address")
            && private.stderr.contains("--import-allowed-networks"),
        "{private:#?}"
    );
    assert_eq!(Client::new(&guarded).tags("mirror/bad").await, None);
    assert_eq!(
        blob_files(&guarded.data_dir),
        guarded_files,
        "no blob stored"
    );

    let bad_flags = berth_import(&target, &["--source", "no-registry:v1"], None);
    assert_eq!(bad_flags.code, Some(1), "{bad_flags:#?}");
    assert!(
        bad_flags.stderr.contains("REGISTRY/REPOSITORY:TAG"),
        "{bad_flags:#?}"
    );

    assert_eq!(
        client.tags("mirror/bad").await,
        None,
        "no repository created"
    );
    assert_eq!(blob_files(&target.data_dir), files_before, "no blob stored");
    assert!(!target.log().contains("not-the-password"));
}
