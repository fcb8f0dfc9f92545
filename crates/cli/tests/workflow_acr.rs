//! The ACR workflow end to end, as a script a person or a pipeline would run
//! (`tests/scripts/acr-workflow.sh`): `berth login`, `docker build` with provenance
//! labels and two tags, `docker push` of both, then `berth repository show-tags` and
//! `describe-images`. The script runs the real `berth` binary and the real docker CLI
//! against a server started here; this file checks what berth answered.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::Server;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/acr-workflow.sh")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text}", path.display()))
}

/// A build context whose image differs from run to run, so every run pushes new bytes.
fn context(dir: &Path, run: &str) {
    fs::create_dir_all(dir).expect("context dir");
    fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .expect("Dockerfile");
    fs::write(dir.join("hello.txt"), format!("built by run {run}\n")).expect("file");
}

#[test]
fn login_build_push_then_show_tags_and_describe_images() {
    let server = Server::start();
    let home = tempfile::tempdir().expect("home");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let run = format!("{nanos:x}");
    let sha = format!("{:0>40}", run);
    let sha = &sha[sha.len() - 40..];
    let image = "team/web";
    let work = home.path().join("work");
    context(&work, &run);
    let out = home.path().join("out");
    fs::create_dir_all(&out).expect("out dir");

    let berth_dir = Path::new(env!("CARGO_BIN_EXE_berth"))
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        berth_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg(script())
        .env("PATH", path)
        .env("HOME", home.path())
        .env("DOCKER_CONFIG", home.path().join("docker"))
        .env(
            "REGISTRY_AUTH_FILE",
            home.path().join("containers/auth.json"),
        )
        .env("BERTH_CLIENT_CONFIG", home.path().join("berth/config.json"))
        .env("DOCKER_BUILDKIT", "0")
        .env("REGISTRY", server.host())
        .env("IMAGE", image)
        .env("CONTEXT", &work)
        .env("PASSWORD_FILE", server.owner_password_path())
        .env("OUT", &out)
        .env("GIT_SHA", sha)
        .env("GIT_BRANCH", "main")
        .env("BUILD_DATE", "2026-12-04T10:00:00Z")
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "the workflow failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );

    // Newest first: the branch tag was pushed after the commit tag.
    let tags = read_json(&out.join("tags.json"));
    assert_eq!(tags, serde_json::json!(["main-latest", sha]), "{tags}");

    let detail = read_json(&out.join("tags-detail.json"));
    let detail = detail.as_array().expect("an array of tags");
    assert_eq!(detail.len(), 2, "{detail:?}");
    assert_eq!(detail[0]["name"], "main-latest");
    assert_eq!(detail[1]["name"], sha);
    let digest = detail[0]["digest"].as_str().expect("digest").to_string();
    assert_eq!(detail[1]["digest"], digest, "both tags name one image");
    assert!(
        detail[0]["updated_at"].as_str() >= detail[1]["updated_at"].as_str(),
        "{detail:?}"
    );

    let images = read_json(&out.join("images.json"));
    let images = images.as_array().expect("an array of images");
    assert_eq!(images.len(), 1, "{images:?}");
    let described = &images[0];
    assert_eq!(described["digest"], digest);
    let mut tags: Vec<&str> = described["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .map(|t| t.as_str().expect("tag"))
        .collect();
    tags.sort_unstable();
    let mut expected = vec!["main-latest", sha];
    expected.sort_unstable();
    assert_eq!(tags, expected);
    let labels = &described["labels"];
    assert_eq!(labels["git.sha"], sha, "{described}");
    assert_eq!(labels["git.branch"], "main", "{described}");
    assert_eq!(labels["build.date"], "2026-12-04T10:00:00Z", "{described}");
    assert_eq!(
        described["media_type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(
        described["size_bytes"].as_u64().unwrap_or(0) > 0,
        "{described}"
    );
    assert!(described["pushed_at"].is_string(), "{described}");
}
