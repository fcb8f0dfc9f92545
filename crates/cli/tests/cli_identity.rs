//! The `berth` client against a real server: `berth login` writes docker's, podman's and
//! berth's own credential files, management commands create service principals and
//! assign roles in every output format, `get-login-password` and the credential helper
//! (run as `docker-credential-berth`) hand out login tokens the registry accepts, and
//! every failure exits 1 with `berth: <message>` while leaving the files as they were.
//!
//! Each test runs the client with its own home directory and a cleared environment, so
//! nothing of the developer's own docker or berth configuration is read or touched.

mod support;
mod support_cli;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{json, Value};
use support::Server;
use support_cli::Run;

const TOKEN_USER: &str = "00000000-0000-0000-0000-000000000000";
const NOT_FOUND: &str = "credentials not found in native keychain";

/// A client's home: docker's, podman's and berth's files live inside it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker").join("config.json")
    }

    fn podman_auth(&self) -> PathBuf {
        self.dir.path().join("containers").join("auth.json")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("berth").join("config.json")
    }

    /// `program` with only this home's environment.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("HOME", self.dir.path())
            .env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env("REGISTRY_AUTH_FILE", self.podman_auth())
            .env("BERTH_CLIENT_CONFIG", self.state());
        command
    }

    fn berth(&self, args: &[&str]) -> Run {
        self.run(berth_bin(), args, None, &[])
    }

    fn berth_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        self.run(berth_bin(), args, Some(stdin), env)
    }

    fn run(&self, program: &Path, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut command = self.command(program);
        command.args(args).envs(env.iter().copied());
        support_cli::run(command, stdin.unwrap_or_default())
    }

    fn login(&self, server: &Server, user: &str, password: &str) -> Run {
        let host = server.host();
        let args = ["login", host.as_str(), "-u", user, "--password-stdin"];
        self.berth_with(&args, &format!("{password}\n"), &[])
    }

    fn login_owner(&self, server: &Server) {
        self.login(server, "owner", &server.owner_password()).ok();
    }
}

fn berth_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_berth"))
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

/// The login token inside a docker/podman `auths` entry.
fn token_in(config: &Value, host: &str) -> String {
    let auth = config["auths"][host]["auth"]
        .as_str()
        .unwrap_or_else(|| panic!("no auths entry for {host}: {config}"));
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .expect("base64");
    let decoded = String::from_utf8(decoded).expect("utf-8");
    let (user, token) = decoded.split_once(':').expect("user:token");
    assert_eq!(user, TOKEN_USER);
    token.to_string()
}

/// The status of `GET /v2/_catalog` with Basic credentials, as docker would send them.
fn catalog_status(server: &Server, user: &str, password: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/v2/_catalog", server.base))
            .basic_auth(user, Some(password))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    })
}

#[test]
fn login_saves_credentials_for_docker_podman_and_berth() {
    let server = Server::start();
    let home = Home::new();
    std::fs::create_dir_all(home.docker_config().parent().unwrap()).unwrap();
    let existing = json!({
        "auths": {"other.example": {"auth": "b3RoZXI6cHc="}},
        "credHelpers": {"gcr.io": "gcloud"}
    });
    std::fs::write(home.docker_config(), existing.to_string()).unwrap();

    let run = home.login(&server, "owner", &server.owner_password()).ok();
    let expected = format!(
        "Login succeeded for {} as owner; docker and podman credentials expire at ",
        server.host()
    );
    assert!(run.stdout.starts_with(&expected), "{run:#?}");

    let docker = read_json(&home.docker_config());
    assert_eq!(docker["credHelpers"], existing["credHelpers"]);
    assert_eq!(
        docker["auths"]["other.example"],
        existing["auths"]["other.example"]
    );
    let token = token_in(&docker, &server.host());
    assert_eq!(catalog_status(&server, TOKEN_USER, &token), 200);

    let podman = read_json(&home.podman_auth());
    assert_eq!(token_in(&podman, &server.host()), token);
    assert_eq!(mode(&home.podman_auth()), 0o600);

    let state = read_json(&home.state());
    assert_eq!(state["current"], server.base.as_str());
    assert_eq!(state["registries"][&server.base]["username"], "owner");
    assert_eq!(mode(&home.state()), 0o600);
}

#[test]
fn a_wrong_password_is_refused_and_writes_nothing() {
    let server = Server::start();
    let home = Home::new();

    let run = home.login(&server, "owner", "not-the-password").failed();
    assert!(run.stderr.contains("(401)"), "{run:#?}");
    let run = home.login(&server, "nobody", "whatever").failed();
    assert!(run.stderr.contains("(401)"), "{run:#?}");

    assert!(!home.docker_config().exists());
    assert!(!home.podman_auth().exists());
    assert!(!home.state().exists());
}

#[test]
fn service_principals_and_roles_in_every_output_format() {
    let server = Server::start();
    let owner = Home::new();
    owner.login_owner(&server);

    let created = owner.berth(&["sp", "create", "ci", "--role", "push", "--scope", "team/*"]);
    let created = created.ok();
    let lines: Vec<&str> = created.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{created:#?}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Name", "Secret", "Expires"]
    );
    assert!(
        lines[1].chars().all(|c| c == '-' || c == ' '),
        "{created:#?}"
    );
    let cells: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(cells[0], "ci");
    let secret = cells[1].to_string();

    let run = owner.berth(&["sp", "create", "ci"]).failed();
    assert!(run.stderr.contains("already exists (409)"), "{run:#?}");

    let assigned = owner.berth(&[
        "role",
        "assign",
        "--principal",
        "ci",
        "--role",
        "pull",
        "--scope",
        "app",
        "-o",
        "json",
    ]);
    let assigned = assigned.ok().json();
    assert_eq!(assigned["principal"], "ci");
    assert_eq!(assigned["role"], "pull");
    assert_eq!(assigned["scope"], "app");

    let roles = owner
        .berth(&["role", "list", "--principal", "ci", "-o", "tsv"])
        .ok();
    let mut rows: Vec<Vec<&str>> = roles
        .stdout
        .lines()
        .map(|l| l.split('\t').take(3).collect())
        .collect();
    rows.sort();
    assert_eq!(rows, [["ci", "pull", "app"], ["ci", "push", "team/*"]]);

    let shown = owner.berth(&["sp", "show", "ci", "-o", "json"]).ok().json();
    assert_eq!(shown["name"], "ci");
    assert_eq!(shown["kind"], "service_principal");
    assert_eq!(shown["roles"].as_array().map(Vec::len), Some(2), "{shown}");

    let listed = owner.berth(&["sp", "list", "-o", "tsv"]).ok();
    let listed: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(listed.len(), 1, "owner is a user, not listed: {listed:?}");
    assert!(
        listed[0].starts_with("ci\tservice_principal\ttrue\t"),
        "{listed:?}"
    );

    let table = owner.berth(&["sp", "list"]).ok();
    let header: Vec<&str> = table
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header[..3], ["Name", "Kind", "Enabled"]);

    // The secret printed once is a working credential, with only the roles given.
    let ci = Home::new();
    ci.login(&server, "ci", &secret).ok();
    let me = ci.berth(&["whoami", "-o", "json"]).ok().json();
    assert_eq!(me["name"], "ci");
    assert_eq!(me["kind"], "service_principal");
    let run = ci.berth(&["sp", "list"]).failed();
    assert!(run.stderr.contains("(403)"), "{run:#?}");
}

#[test]
fn failures_exit_1_with_the_servers_message_and_change_nothing() {
    let server = Server::start();
    let owner = Home::new();
    owner.login_owner(&server);

    let run = owner.berth(&["sp", "show", "nobody"]).failed();
    assert!(
        run.stderr.contains("nobody") && run.stderr.contains("(404)"),
        "{run:#?}"
    );

    let run = owner
        .berth(&["sp", "create", "bad", "--role", "pull", "--scope", "/x"])
        .failed();
    assert!(run.stderr.contains("(400)"), "{run:#?}");
    let run = owner
        .berth(&["sp", "create", "bad", "--role", "nosuchrole"])
        .failed();
    assert!(run.stderr.contains("(400)"), "{run:#?}");
    let listed = owner.berth(&["sp", "list", "-o", "tsv"]).ok();
    assert_eq!(listed.stdout, "", "refused creations leave nothing behind");

    let run = owner.berth(&["sp", "show", "owner"]).failed();
    assert!(run.stderr.contains("is a user"), "{run:#?}");
    owner.berth(&["user", "show", "owner"]).ok();

    let run = owner.berth(&["sp", "delete", "owner", "--yes"]).failed();
    assert!(run.stderr.contains("is a user"), "{run:#?}");
    owner.berth(&["whoami"]).ok();

    let fresh = Home::new();
    let run = fresh.berth(&["whoami"]).failed();
    assert!(run.stderr.contains("no registry given"), "{run:#?}");
    let host = server.host();
    let run = fresh.berth(&["whoami", "--registry", &host]).failed();
    assert!(run.stderr.contains("not logged in"), "{run:#?}");
    let run = fresh
        .berth(&["whoami", "--registry", "127.0.0.1:1"])
        .failed();
    assert!(run.stderr.contains("cannot reach"), "{run:#?}");
}

#[test]
fn get_login_password_gives_a_token_docker_accepts() {
    let server = Server::start();
    let home = Home::new();
    home.login_owner(&server);

    let run = home.berth(&["get-login-password"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token: {run:#?}");
    let token = lines[0];
    assert_eq!(catalog_status(&server, TOKEN_USER, token), 200);
    assert_eq!(
        catalog_status(&server, TOKEN_USER, &format!("{token}x")),
        401
    );

    // Environment credentials work without any saved state.
    let bare = Home::new();
    let password = server.owner_password();
    let env = [
        ("BERTH_USERNAME", "owner"),
        ("BERTH_PASSWORD", password.as_str()),
    ];
    let host = server.host();
    let args = ["get-login-password", "--registry", host.as_str()];
    let run = bare.berth_with(&args, "", &env).ok();
    assert_eq!(catalog_status(&server, TOKEN_USER, run.stdout.trim()), 200);
}

#[test]
fn credential_helper_speaks_dockers_protocol() {
    let server = Server::start();
    let home = Home::new();
    let helper = home.dir.path().join("bin").join("docker-credential-berth");
    std::fs::create_dir_all(helper.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(berth_bin(), &helper).unwrap();
    let host = server.host();
    let call = |op: &str, input: &str| home.run(&helper, &[op], Some(input), &[]);

    let run = call("get", &host);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.stdout.trim(), NOT_FOUND);

    let request =
        json!({"ServerURL": host, "Username": "owner", "Secret": server.owner_password()});
    let run = call("store", &request.to_string());
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), ""), "{run:#?}");
    let listed: Value = serde_json::from_str(&call("list", "").ok().stdout).unwrap();
    assert_eq!(listed, json!({ server.base.clone(): "owner" }));
    let same = home.berth(&["credential-helper", "list"]).ok();
    assert_eq!(serde_json::from_str::<Value>(&same.stdout).unwrap(), listed);

    let got = call("get", &format!("{host}\n")).ok().json();
    assert_eq!(got["ServerURL"], host.as_str());
    assert_eq!(got["Username"], TOKEN_USER);
    let secret = got["Secret"].as_str().expect("secret");
    assert_eq!(catalog_status(&server, TOKEN_USER, secret), 200);

    let run = call("get", "127.0.0.1:1");
    assert_eq!((run.code, run.stdout.trim()), (Some(1), NOT_FOUND));

    call("erase", &host).ok();
    assert_eq!(call("list", "").ok().stdout.trim(), "{}");
    let run = call("get", &host);
    assert_eq!((run.code, run.stdout.trim()), (Some(1), NOT_FOUND));
    call("erase", &host).ok();

    // Saved credentials the registry refuses are an error docker shows, not "not found".
    let wrong = json!({"ServerURL": host, "Username": "owner", "Secret": "wrong"});
    call("store", &wrong.to_string()).ok();
    let run = call("get", &host);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stdout.contains("(401)"), "{run:#?}");
}

#[test]
fn logout_removes_the_registry_from_every_file() {
    let server = Server::start();
    let home = Home::new();
    std::fs::create_dir_all(home.docker_config().parent().unwrap()).unwrap();
    std::fs::write(
        home.docker_config(),
        r#"{"credHelpers":{"gcr.io":"gcloud"}}"#,
    )
    .unwrap();
    home.login_owner(&server);

    let run = home.berth(&["logout"]).ok();
    assert!(run.stdout.contains("Removed"), "{run:#?}");
    let docker = read_json(&home.docker_config());
    assert_eq!(docker["credHelpers"], json!({"gcr.io": "gcloud"}));
    assert!(docker["auths"].get(server.host()).is_none(), "{docker}");
    let podman = read_json(&home.podman_auth());
    assert!(podman["auths"].get(server.host()).is_none(), "{podman}");
    let state = read_json(&home.state());
    assert!(state.get("current").is_none(), "{state}");
    assert_eq!(state["registries"], json!({}));

    let run = home.berth(&["whoami"]).failed();
    assert!(run.stderr.contains("no registry given"), "{run:#?}");
}
