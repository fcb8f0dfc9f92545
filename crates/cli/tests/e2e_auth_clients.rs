//! Real clients against a registry with authentication on: skopeo, podman and buildah log
//! in as a service principal and push; a pull-only token pulls and is refused a push;
//! anonymous pulls work for a public repository only; podman finds credentials through
//! berth's docker credential helper (`docker-credential-berth`) backed by `berth login`.
//!
//! Like `e2e_clients.rs`, the clients are required (CI installs them), nothing comes from
//! the internet, and every tool gets a private configuration (storage, policy, auth file).

mod support;
mod support_containers;
mod support_http;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;
use support::Server;
use support_containers::ClientConfig;
use support_http::*;

/// skopeo, podman or buildah with a private configuration and auth file.
struct Tool<'a> {
    server: &'a Server,
    config: ClientConfig,
    env: Vec<(String, String)>,
}

impl<'a> Tool<'a> {
    fn new(server: &'a Server, program: &'static str) -> Tool<'a> {
        Tool {
            server,
            config: ClientConfig::new(program, &server.host()),
            env: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.config.path(name)
    }

    fn cmd(&self) -> Command {
        let mut cmd = self.config.command();
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs `args` (with `stdin` if given) and returns the output, whatever the exit.
    fn exec(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.cmd();
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}; .ci/run installs it",
                self.config.program
            )
        });
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let _ = pipe.write_all(input.as_bytes());
        }
        child.wait_with_output().expect("client output")
    }

    fn describe(&self, args: &[&str], out: &Output) -> String {
        let log = self.server.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!(
            "{} {args:?}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- berth log (tail) ---\n{}",
            self.config.program,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.exec(args, None);
        assert!(out.status.success(), "{}", self.describe(args, &out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Asserts that the client fails and returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.exec(args, None);
        assert!(
            !out.status.success(),
            "expected a failure\n{}",
            self.describe(args, &out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn login(&self, user: &str, password: &str) {
        let host = self.server.host();
        let args = [
            "login",
            "--tls-verify=false",
            "-u",
            user,
            "--password-stdin",
            &host,
        ];
        let out = self.exec(&args, Some(password));
        assert!(out.status.success(), "{}", self.describe(&args, &out));
    }

    /// podman/buildah subcommands that reach the registry over plain HTTP.
    fn remote(&self, subcommand: &str, args: &[&str]) -> String {
        let policy = self.path("policy.json");
        let mut all = vec![
            subcommand,
            "--tls-verify=false",
            "--signature-policy",
            policy.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.run(&all)
    }

    fn remote_fails(&self, subcommand: &str, args: &[&str]) -> String {
        let policy = self.path("policy.json");
        let mut all = vec![
            subcommand,
            "--tls-verify=false",
            "--signature-policy",
            policy.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.fails(&all)
    }
}

/// Builds `image` FROM scratch with one file, with podman.
fn podman_build(podman: &Tool, work: &Path, image: &str, text: &str) {
    let context = work.join(format!("ctx-{}", image.replace(['/', ':'], "_")));
    fs::create_dir_all(&context).unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY hi.txt /hi.txt\n",
    )
    .unwrap();
    fs::write(context.join("hi.txt"), text).unwrap();
    podman.run(&[
        "build",
        "--format",
        "oci",
        "-t",
        image,
        context.to_str().unwrap(),
    ]);
}

/// The manifest digest the owner sees for `repo:tag`, or `None` when it does not exist.
async fn manifest_digest(server: &Server, repo: &str, tag: &str) -> Option<String> {
    let resp = Client::new(server)
        .get_manifest(repo, tag, ACCEPT_ALL)
        .await;
    (resp.status == 200).then(|| digest(&resp.body))
}

fn mentions_refusal(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    [
        "denied",
        "unauthorized",
        "authentication required",
        "forbidden",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

#[tokio::test(flavor = "multi_thread")]
async fn service_principal_pushes_and_a_pull_token_cannot() {
    let server = Server::start();
    let owner = Client::new(&server);
    let ci = owner
        .create_principal(json!({"name": "ci", "kind": "service_principal",
            "roles": [{"role": "AcrPush", "scope": "e2e/*"}]}))
        .await;
    let puller = owner
        .create_principal(json!({"name": "puller", "kind": "token",
            "scope_map": ["repositories/e2e/*/content/read", "repositories/e2e/*/metadata/read"]}))
        .await;
    let host = server.host();
    let work = tempfile::tempdir().unwrap();

    // podman: login, build, push.
    let podman = Tool::new(&server, "podman");
    podman.login("ci", &ci);
    let image = format!("{host}/e2e/podman:v1");
    podman_build(&podman, work.path(), &image, "pushed by podman\n");
    let digest_file = work.path().join("podman.digest");
    podman.remote(
        "push",
        &["--digestfile", digest_file.to_str().unwrap(), &image],
    );
    let pushed = fs::read_to_string(&digest_file).unwrap();
    assert_eq!(
        manifest_digest(&server, "e2e/podman", "v1")
            .await
            .as_deref(),
        Some(pushed.trim())
    );

    // skopeo: login, copy registry to registry.
    let skopeo = Tool::new(&server, "skopeo");
    skopeo.login("ci", &ci);
    let tls = ["--src-tls-verify=false", "--dest-tls-verify=false"];
    let from = format!("docker://{host}/e2e/podman:v1");
    let to = format!("docker://{host}/e2e/skopeo:v1");
    skopeo.run(&[&["copy", "--preserve-digests"][..], &tls, &[&from, &to]].concat());
    assert_eq!(
        manifest_digest(&server, "e2e/skopeo", "v1")
            .await
            .as_deref(),
        Some(pushed.trim())
    );

    // buildah: --creds on each command.
    let buildah = Tool::new(&server, "buildah");
    let creds = format!("ci:{ci}");
    let container = buildah.remote("from", &["--creds", &creds, &image]);
    buildah.run(&["config", "--label", "by=buildah", &container]);
    let rebuilt = format!("{host}/e2e/buildah:v1");
    buildah.run(&["commit", &container, &rebuilt]);
    buildah.remote("push", &["--creds", &creds, &rebuilt]);
    assert!(manifest_digest(&server, "e2e/buildah", "v1")
        .await
        .is_some());
    // Outside its scope the service principal is refused.
    let outside = format!("{host}/elsewhere/app:v1");
    buildah.run(&["tag", &rebuilt, &outside]);
    let stderr = buildah.remote_fails("push", &["--creds", &creds, &outside]);
    assert!(mentions_refusal(&stderr), "{stderr}");
    assert_eq!(manifest_digest(&server, "elsewhere/app", "v1").await, None);

    // A pull-only token pulls, and its push fails without leaving anything.
    let reader = Tool::new(&server, "skopeo");
    let token_creds = format!("puller:{puller}");
    let inspected = reader.run(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &token_creds,
        &from,
    ]);
    assert!(inspected.contains(pushed.trim()), "{inspected}");
    let denied = format!("docker://{host}/e2e/denied:v1");
    let stderr = reader.fails(
        &[
            &[
                "copy",
                "--src-creds",
                &token_creds,
                "--dest-creds",
                &token_creds,
            ][..],
            &tls,
            &[&from, &denied],
        ]
        .concat(),
    );
    assert!(mentions_refusal(&stderr), "{stderr}");
    assert_eq!(manifest_digest(&server, "e2e/denied", "v1").await, None);
    let puller_podman = Tool::new(&server, "podman");
    puller_podman.login("puller", &puller);
    puller_podman.remote("pull", &[&image]);
    let stderr = puller_podman.remote_fails("push", &[&image, &format!("{host}/e2e/denied:v2")]);
    assert!(mentions_refusal(&stderr), "{stderr}");
    assert!(upload_files(&server.data_dir).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_pulls_only_public_repositories() {
    let server = Server::start();
    let owner = Client::new(&server);
    let host = server.host();
    let work = tempfile::tempdir().unwrap();
    let podman = Tool::new(&server, "podman");
    let (user, password) = server.credentials().unwrap();
    podman.login(&user, &password);
    for repo in ["pub/app", "priv/app"] {
        let image = format!("{host}/{repo}:v1");
        podman_build(&podman, work.path(), &image, &format!("{repo}\n"));
        podman.remote("push", &[&image]);
    }
    owner
        .api(
            "PATCH",
            "/api/v1/repositories/pub/app",
            Some(json!({"anonymous_pull": true})),
        )
        .await
        .expect(200);

    let skopeo = Tool::new(&server, "skopeo");
    let public = format!("docker://{host}/pub/app:v1");
    let private = format!("docker://{host}/priv/app:v1");
    let layout = work.path().join("layout");
    let dest = format!("oci:{}:pub", layout.display());
    skopeo.run(&[
        "copy",
        "--src-tls-verify=false",
        "--src-no-creds",
        &public,
        &dest,
    ]);
    let dest = format!("oci:{}:priv", layout.display());
    let stderr = skopeo.fails(&[
        "copy",
        "--src-tls-verify=false",
        "--src-no-creds",
        &private,
        &dest,
    ]);
    assert!(mentions_refusal(&stderr), "{stderr}");

    let anonymous = Tool::new(&server, "podman");
    anonymous.remote("pull", &[&format!("{host}/pub/app:v1")]);
    let stderr = anonymous.remote_fails("pull", &[&format!("{host}/priv/app:v1")]);
    assert!(mentions_refusal(&stderr), "{stderr}");
    // Anonymous callers never push, even to a public repository.
    let stderr = anonymous.remote_fails(
        "push",
        &[&format!("{host}/pub/app:v1"), &format!("{host}/pub/app:v2")],
    );
    assert!(mentions_refusal(&stderr), "{stderr}");
    assert_eq!(manifest_digest(&server, "pub/app", "v2").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn podman_uses_the_berth_credential_helper() {
    let server = Server::start();
    let owner = Client::new(&server);
    let secret = owner
        .create_principal(json!({"name": "helper-ci", "kind": "service_principal",
            "roles": [{"role": "push", "scope": "helped/*"}]}))
        .await;
    let host = server.host();
    let work = tempfile::tempdir().unwrap();

    // `berth login` saves the state the helper reads; docker's and podman's files it also
    // writes go to this test's directory.
    let state = work.path().join("berth-client.json");
    let bin = work.path().join("bin");
    fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_berth"),
        bin.join("docker-credential-berth"),
    )
    .unwrap();
    let mut login = Command::new(env!("CARGO_BIN_EXE_berth"));
    login
        .args(["login", &server.base, "-u", "helper-ci", "--password-stdin"])
        .env("BERTH_CLIENT_CONFIG", &state)
        .env("DOCKER_CONFIG", work.path().join("docker"))
        .env("REGISTRY_AUTH_FILE", work.path().join("login-auth.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = login.spawn().expect("berth login");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "berth login: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut podman = Tool::new(&server, "podman");
    let helpers = json!({"credHelpers": {host.clone(): "berth"}});
    fs::write(podman.path("auth.json"), helpers.to_string()).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    podman.env.push(("PATH".into(), path));
    podman
        .env
        .push(("BERTH_CLIENT_CONFIG".into(), state.display().to_string()));

    let image = format!("{host}/helped/app:v1");
    podman_build(&podman, work.path(), &image, "via the credential helper\n");
    podman.remote("push", &[&image]);
    assert!(manifest_digest(&server, "helped/app", "v1").await.is_some());
    podman.run(&["rmi", "-f", &image]);
    podman.remote("pull", &[&image]);
    // The helper hands out credentials on demand: the auth file still holds none.
    let auth = fs::read_to_string(podman.path("auth.json")).unwrap();
    assert!(!auth.contains(&secret) && !auth.contains("eyJ"), "{auth}");

    // Without berth's state the helper has nothing, and the push is refused.
    podman.env.retain(|(k, _)| k != "BERTH_CLIENT_CONFIG");
    podman.env.push((
        "BERTH_CLIENT_CONFIG".into(),
        work.path().join("none.json").display().to_string(),
    ));
    let other = format!("{host}/helped/app:v2");
    podman.run(&["tag", &image, &other]);
    let stderr = podman.remote_fails("push", &[&other]);
    assert!(mentions_refusal(&stderr), "{stderr}");
}
