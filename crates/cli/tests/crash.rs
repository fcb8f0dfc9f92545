//! Crash safety: `berth serve` is killed with SIGKILL while eight clients push blobs
//! (monolithic, POST+PUT and chunked) and tagged manifests. After a restart on the same data
//! directory, everything the server acknowledged with 201 before the kill is served intact:
//! each blob re-hashes to its digest and each manifest is byte-identical by tag and digest.
//! The blob tree on disk never shows a half-written blob: every file under
//! `<data>/blobs/sha256/<2 hex>/<hex>` hashes to its name, checked both right after the kill
//! and after the restart. Three rounds kill the server at different instants.
//!
//! SIGKILL leaves the kernel's page cache intact, so this proves atomic publication and the
//! order of writes (bytes before links, links before acknowledgements), not that data reached
//! the disk: the fsyncs that guard against power loss cannot be observed from here.

mod support;
mod support_http;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest as _, Sha256};
use support::Server;
use support_http::*;

const TASKS: usize = 8;
/// How long the pushers run before the kill, per round.
const KILL_AFTER_MS: [u64; 3] = [400, 1100, 1900];

#[derive(Default)]
struct Acked {
    /// (repository, digest, length)
    blobs: Vec<(String, String, usize)>,
    /// (repository, tag, manifest bytes)
    manifests: Vec<(String, String, Vec<u8>)>,
}

/// Why a pusher stopped: the server went away (expected), or it answered wrongly.
enum Stop {
    Gone,
    Bad(String),
}

async fn call(
    c: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
    want: u16,
) -> Result<Resp, Stop> {
    let resp = c
        .try_send(method, path, headers, body)
        .await
        .map_err(|_| Stop::Gone)?;
    if resp.status == want {
        Ok(resp)
    } else {
        Err(Stop::Bad(resp.describe()))
    }
}

/// Pushes one blob by one of three methods, chosen by `i`; returns once it is acknowledged.
async fn push_blob(c: &Client, repo: &str, bytes: &[u8], i: usize) -> Result<(), Stop> {
    let d = digest(bytes);
    let octet = [("content-type", "application/octet-stream")];
    match i % 3 {
        0 => {
            let path = format!("/v2/{repo}/blobs/uploads/?digest={d}");
            call(c, "POST", &path, &octet, Some(bytes.to_vec()), 201).await?;
        }
        1 => {
            let path = format!("/v2/{repo}/blobs/uploads/");
            let mut location = call(c, "POST", &path, &[], None, 202).await?.location();
            let third = bytes.len() / 3 + 1;
            for (n, chunk) in bytes.chunks(third).enumerate() {
                let start = n * third;
                let range = format!("{start}-{}", start + chunk.len() - 1);
                let headers = [
                    ("content-type", "application/octet-stream"),
                    ("content-range", &range),
                ];
                let resp = call(c, "PATCH", &location, &headers, Some(chunk.to_vec()), 202).await?;
                location = resp.location();
            }
            let url = with_query(&location, "digest", &d);
            call(c, "PUT", &url, &octet, Some(Vec::new()), 201).await?;
        }
        _ => {
            let path = format!("/v2/{repo}/blobs/uploads/");
            let location = call(c, "POST", &path, &[], None, 202).await?.location();
            let url = with_query(&location, "digest", &d);
            call(c, "PUT", &url, &octet, Some(bytes.to_vec()), 201).await?;
        }
    }
    Ok(())
}

/// Pushes images until the server goes away, recording every acknowledgement.
async fn pusher(
    c: Client,
    round: usize,
    task: usize,
    acked: Arc<Mutex<Acked>>,
) -> Result<(), Stop> {
    let repo = format!("crash/repo{}", task % 3);
    for i in 0.. {
        let seed = (round * 1_000_000 + task * 10_000 + i) as u64;
        let size = [600 * 1024, 40 * 1024, 250 * 1024][(i + task) % 3];
        let layer = pseudo_random(size, seed);
        let config = to_bytes(&json!({"architecture": "amd64", "os": "linux", "seed": seed}));
        for (n, blob) in [&layer, &config].into_iter().enumerate() {
            push_blob(&c, &repo, blob, i + n).await?;
            let entry = (repo.clone(), digest(blob), blob.len());
            acked.lock().expect("lock").blobs.push(entry);
        }

        let manifest = image_manifest(
            &descriptor(OCI_CONFIG, &config),
            &[descriptor(OCI_LAYER, &layer)],
        );
        let tag = format!("r{round}-t{task}-i{i}");
        let path = format!("/v2/{repo}/manifests/{tag}");
        let headers = [("content-type", OCI_MANIFEST)];
        call(&c, "PUT", &path, &headers, Some(manifest.clone()), 201).await?;
        acked
            .lock()
            .expect("lock")
            .manifests
            .push((repo.clone(), tag, manifest));
    }
    Ok(())
}

/// Every acknowledged blob and manifest is served intact.
async fn verify_acked(c: &Client, acked: &Acked) {
    for (repo, d, len) in &acked.blobs {
        let resp = c.get(&format!("/v2/{repo}/blobs/{d}")).await;
        assert_eq!(
            resp.status,
            200,
            "acknowledged blob lost: {}",
            resp.describe()
        );
        assert_eq!(
            resp.body.len(),
            *len,
            "acknowledged blob {d} has the wrong length"
        );
        assert_eq!(&digest(&resp.body), d, "acknowledged blob {d} is corrupt");
    }
    for (repo, tag, bytes) in &acked.manifests {
        for reference in [tag.clone(), digest(bytes)] {
            let resp = c.get_manifest(repo, &reference, OCI_MANIFEST).await;
            assert_eq!(
                resp.status,
                200,
                "acknowledged manifest lost: {}",
                resp.describe()
            );
            assert_eq!(&resp.body, bytes, "manifest {repo}:{reference} changed");
        }
    }
}

/// Every file in the blob tree sits at `sha256/<2 hex>/<hex>` and hashes to its name.
fn verify_blob_tree(data_dir: &Path) -> usize {
    let files = blob_files(data_dir);
    let mut problems = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let parent = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        let algo = path
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name);
        let well_placed = name.len() == 64
            && name
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && parent == Some(&name[..2.min(name.len())])
            && algo.and_then(|a| a.to_str()) == Some("sha256");
        if !well_placed {
            problems.push(format!(
                "unexpected file in the blob tree: {}",
                path.display()
            ));
            continue;
        }
        match std::fs::read(path) {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == name => {}
            Ok(bytes) => problems.push(format!(
                "{} holds {} bytes that do not hash to its name",
                path.display(),
                bytes.len()
            )),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        problems.is_empty(),
        "blob tree is inconsistent:\n{}",
        problems.join("\n")
    );
    files.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_pushes_survive_sigkill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_in(tmp.path(), &[]);
    let acked = Arc::new(Mutex::new(Acked::default()));

    for (round, kill_after) in KILL_AFTER_MS.into_iter().enumerate() {
        let client = Client::new(&server);
        // One authenticated request first: the server then holds the owner's verified
        // credentials, so the kill lands among pushes rather than among eight concurrent
        // first password checks.
        client.get("/v2/").await.expect(200);
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| tokio::spawn(pusher(client.clone(), round, task, acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        server.kill9();

        for task in tasks {
            let outcome = tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("pusher hung after the kill")
                .expect("pusher panicked");
            if let Err(Stop::Bad(what)) = outcome {
                panic!("round {round}: server answered wrongly before the kill: {what}");
            }
        }
        let (blobs, manifests) = {
            let acked = acked.lock().expect("lock");
            (acked.blobs.len(), acked.manifests.len())
        };
        assert!(
            manifests > 0,
            "round {round}: nothing was acknowledged before the kill"
        );

        // Right after the kill, before any recovery could tidy up.
        let on_disk = verify_blob_tree(&server.data_dir);
        assert!(
            on_disk > 0,
            "no blob files under {}/blobs",
            server.data_dir.display()
        );

        server.restart();
        let snapshot = {
            let acked = acked.lock().expect("lock");
            Acked {
                blobs: acked.blobs.clone(),
                manifests: acked.manifests.clone(),
            }
        };
        verify_acked(&Client::new(&server), &snapshot).await;
        verify_blob_tree(&server.data_dir);
        eprintln!("round {round}: {blobs} blobs and {manifests} manifests verified");
    }
}
