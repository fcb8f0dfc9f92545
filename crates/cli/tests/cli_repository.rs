//! `berth repository ...` and `berth registry show-usage|update --quota` against a real
//! server: images are pushed over `/v2/` with the HTTP helpers, the real client creates,
//! lists, shows, updates, tags, untags and deletes, and every answer is checked in the
//! format asked for (table cell by cell, JSON, TSV and text line by line), through
//! `--query` too. The effects are checked from outside the client, over `/v2/`: a lock
//! set by the client refuses a push with `DENIED`, an immutable tag refuses to move,
//! deleting an image takes its tags with it, and refused commands (no `--yes` without a
//! terminal, bad targets, bad queries, unknown repositories) exit 1 and change nothing.
//!
//! Each test logs in with its own home directory and a cleared environment; standard
//! input is a pipe, so the client has no terminal to ask on, except where a test runs it
//! on a pseudo-terminal to answer the delete confirmation.

mod support;
mod support_cli;
mod support_http;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::Server;
use support_cli::Run;
use support_http::{descriptor, digest, to_bytes, Client, Image, OCI_CONFIG, OCI_INDEX};
use support_http::{OCI_LAYER, OCI_MANIFEST};

/// A logged-in client with its own home directory.
struct Cli {
    home: tempfile::TempDir,
}

impl Cli {
    fn login(server: &Server) -> Cli {
        let cli = Cli {
            home: tempfile::tempdir().expect("home"),
        };
        let password = format!("{}\n", server.owner_password());
        let host = server.host();
        cli.run_with(
            &["login", &host, "-u", "owner", "--password-stdin"],
            &password,
        );
        cli
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let home = self.home.path();
        let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
        command
            .env_clear()
            .env("HOME", home)
            .env("DOCKER_CONFIG", home.join("docker"))
            .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
            .env("BERTH_CLIENT_CONFIG", home.join("berth.json"))
            .args(args);
        support_cli::run(command, stdin)
    }

    fn ok(&self, args: &[&str]) -> Run {
        self.run(args).quiet()
    }

    /// Runs berth on a pseudo-terminal (util-linux `script`, essential in Debian), typing
    /// `typed`; returns the exit status and everything the terminal showed.
    fn on_terminal(&self, args: &[&str], typed: &str) -> (Option<i32>, String) {
        let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_berth"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect();
        let home = self.home.path();
        let mut child = Command::new("script")
            .args(["-qec", &quoted.join(" "), "/dev/null"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home)
            .env("DOCKER_CONFIG", home.join("docker"))
            .env("REGISTRY_AUTH_FILE", home.join("auth.json"))
            .env("BERTH_CLIENT_CONFIG", home.join("berth.json"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn script");
        let mut input = child.stdin.take().expect("stdin");
        // Typed once the question is up; a terminal keeps early input anyway.
        std::thread::sleep(Duration::from_millis(300));
        input.write_all(typed.as_bytes()).expect("type");
        drop(input);
        let output = child.wait_with_output().expect("script runs");
        let shown = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), shown)
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        self.ok(&args).json()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Pushes a manifest (its config and one layer first) built from `config`; returns its
/// digest. `reference` is a tag or the digest itself.
async fn push_config(client: &Client, repo: &str, tag: Option<&str>, config: &Value) -> String {
    let config = to_bytes(config);
    let layer = [b"layer of ".as_slice(), &config].concat();
    client.push_blob(repo, &config).await;
    client.push_blob(repo, &layer).await;
    let manifest = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [descriptor(OCI_LAYER, &layer)],
    }));
    let d = digest(&manifest);
    let reference = tag.unwrap_or(&d);
    client
        .put_manifest(repo, reference, OCI_MANIFEST, &manifest)
        .await
        .expect(201);
    d
}

/// The digest a tag points at over `/v2/`, or `None` when it is unknown.
async fn tag_digest(client: &Client, repo: &str, tag: &str) -> Option<String> {
    let resp = client.get_manifest(repo, tag, OCI_MANIFEST).await;
    if resp.status == 404 {
        return None;
    }
    resp.expect(200);
    resp.header("docker-content-digest").map(str::to_string)
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("{v}")).to_string())
        .collect()
}

/// The GET requests the server logged as completed for exactly this path.
fn requests_to(server: &Server, path: &str) -> usize {
    let field = format!("method=GET path={path}}}");
    server
        .log()
        .lines()
        .filter(|l| l.contains("request completed") && l.contains(&field))
        .count()
}

#[test]
fn repositories_are_created_listed_shown_updated_and_deleted_in_every_format() {
    let server = Server::start();
    let cli = Cli::login(&server);

    let created = cli.json(&[
        "repository",
        "create",
        "team/app",
        "--tag-mutability",
        "IMMUTABLE_WITH_EXCLUSION",
        "--mutability-exclusion",
        "dev-*",
        "--mutability-exclusion",
        "pr-*",
        "--scan-on-push",
        "true",
        "--encryption-type",
        "AES256",
        "--quota",
        "10MiB",
    ]);
    assert_eq!(created["name"], "team/app");
    assert_eq!(created["tag_mutability"], "IMMUTABLE_WITH_EXCLUSION");
    assert_eq!(created["mutability_exclusions"], json!(["dev-*", "pr-*"]));
    assert_eq!(created["scan_on_push"], true);
    assert_eq!(created["encryption"], "AES256");
    assert_eq!(created["quota_bytes"], 10 * 1024 * 1024);
    assert_eq!(created["tag_count"], 0);

    // TSV: exactly the table's columns, no header.
    let other = cli.ok(&["repository", "create", "other", "-o", "tsv"]);
    let cells: Vec<&str> = other.stdout.trim_end_matches('\n').split('\t').collect();
    assert_eq!(other.stdout.lines().count(), 1, "{other:#?}");
    assert_eq!(cells.len(), 15, "{other:#?}");
    assert_eq!(&cells[..4], ["other", "0", "0", "0"]);
    assert!(cells[4].ends_with('Z'), "created time: {other:#?}");
    assert_eq!(
        &cells[5..],
        ["", "MUTABLE", "false", "NONE", "", "false", "true", "true", "true", "true"]
    );
    let dup = cli.run(&["repository", "create", "other"]).failed();
    assert!(dup.stderr.contains("other"), "{dup:#?}");

    let rt = runtime();
    let client = Client::new(&server);
    let image = Image::new("lifecycle");
    rt.block_on(image.push(&client, "team/app", "dev-1"));

    // Table: cells under their headers, in name order.
    let shown = cli.json(&["repository", "show", "team/app"]);
    let size = shown["size_bytes"].as_u64().expect("size");
    assert_eq!(size, (image.config.len() + image.layer.len()) as u64);
    assert_eq!(shown["manifest_count"], 1);
    assert_eq!(shown["tag_count"], 1);
    let last_push = shown["last_push_at"].as_str().expect("pushed").to_string();
    assert!(shown["created_at"].as_str().unwrap() <= last_push.as_str());
    assert_eq!(
        shown["changeable_attributes"],
        json!({"write_enabled": true, "delete_enabled": true, "read_enabled": true, "list_enabled": true})
    );
    let table = cli.ok(&["repository", "list"]).table();
    assert_eq!(
        table,
        [
            vec![
                "Name",
                "Size",
                "Images",
                "Tags",
                "Last Push",
                "Tag Mutability"
            ],
            vec!["other", "0", "0", "0", "", "MUTABLE"],
            vec![
                "team/app",
                &size.to_string(),
                "1",
                "1",
                &last_push,
                "IMMUTABLE_WITH_EXCLUSION"
            ],
        ]
    );
    let text = cli.ok(&["repository", "list", "-o", "text"]);
    assert_eq!(
        text.stdout,
        format!("other\t0\t0\t0\t\tMUTABLE\nteam/app\t{size}\t1\t1\t{last_push}\tIMMUTABLE_WITH_EXCLUSION\n")
    );
    // Every page is followed: one repository per request still lists both.
    let paged = cli.json(&["repository", "list", "--page-size", "1"]);
    assert_eq!(paged.as_array().map(Vec::len), Some(2), "{paged}");
    assert!(requests_to(&server, "/api/v1/repositories") >= 3);

    // --query in every format, before rendering.
    let q = ["repository", "list", "--query"];
    let listed = cli.ok(&[&q[..], &["[].name", "-o", "text"]].concat());
    assert_eq!(listed.stdout, "other\nteam/app\n");
    let listed = cli.ok(&[&q[..], &["[].name", "-o", "tsv"]].concat());
    assert_eq!(listed.stdout, "other\nteam/app\n");
    let listed = cli.ok(&[&q[..], &["[].name"]].concat());
    assert_eq!(listed.stdout, "Result\n--------\nother\nteam/app\n");
    let count = cli.ok(&[&q[..], &["length(@)", "-o", "json"]].concat());
    assert_eq!(count.stdout, "2\n");
    let picked = cli.ok(&[&q[..], &["[?tag_count > `0`].{n: name, t: tag_count}"]].concat());
    assert_eq!(picked.table(), [vec!["N", "T"], vec!["team/app", "1"]]);
    let bad = cli
        .run(&[
            "repository",
            "delete",
            "other",
            "--yes",
            "--query",
            "[.name",
        ])
        .failed();
    assert!(
        bad.stderr
            .starts_with("berth: --query \"[.name\" is not a JMESPath expression"),
        "{bad:#?}"
    );
    let bad = cli
        .run(&["repository", "list", "--query", "length(`1`)"])
        .failed();
    assert!(bad.stderr.contains("cannot be applied"), "{bad:#?}");

    // Update: settings, locks, anonymous pull and the quota in one call.
    let updated = cli.json(&[
        "repository",
        "update",
        "team/app",
        "--tag-mutability",
        "MUTABLE",
        "--scan-on-push",
        "false",
        "--write-enabled",
        "false",
        "--list-enabled",
        "false",
        "--anonymous-pull",
        "true",
        "--quota",
        "none",
    ]);
    assert_eq!(updated["tag_mutability"], "MUTABLE");
    assert_eq!(updated["scan_on_push"], false);
    assert_eq!(updated["anonymous_pull"], true);
    assert_eq!(updated["quota_bytes"], Value::Null);
    assert_eq!(
        updated["changeable_attributes"],
        json!({"write_enabled": false, "delete_enabled": true, "read_enabled": true, "list_enabled": false})
    );
    let denied =
        rt.block_on(client.put_manifest("team/app", "dev-2", OCI_MANIFEST, &image.manifest));
    denied.expect_error(403, "DENIED");
    assert_eq!(rt.block_on(tag_digest(&client, "team/app", "dev-2")), None);
    let anonymous = Client::anonymous(&server);
    let pulled = rt.block_on(anonymous.get_manifest("team/app", "dev-1", OCI_MANIFEST));
    pulled.expect(200);
    // A write-locked repository cannot be deleted; lifting the lock is a change too.
    let locked = cli
        .run(&["repository", "delete", "team/app", "--yes"])
        .failed();
    assert_eq!(
        locked.stderr,
        "berth: repository team/app is locked: write-enabled is false, so it cannot be \
         changed or deleted; an owner can set write-enabled back to true (403)\n"
    );
    assert_eq!(
        cli.json(&["repository", "show", "team/app"])["tag_count"],
        1
    );
    let unlocked = cli.ok(&[
        "repository",
        "update",
        "team/app",
        "--write-enabled",
        "true",
        "--query",
        "changeable_attributes.write_enabled",
        "-o",
        "text",
    ]);
    assert_eq!(unlocked.stdout, "true\n");
    let quota = cli.ok(&[
        "repository",
        "update",
        "team/app",
        "--quota",
        "1.5 KiB",
        "--query",
        "quota_bytes",
        "-o",
        "text",
    ]);
    assert_eq!(quota.stdout, "1536\n");
    let nothing = cli.run(&["repository", "update", "team/app"]).failed();
    assert!(nothing.stderr.contains("nothing to update"), "{nothing:#?}");
    let bad_quota = cli.run(&["repository", "update", "team/app", "--quota", "lots"]);
    assert_eq!(
        bad_quota.code,
        Some(2),
        "clap refuses the value: {bad_quota:#?}"
    );
    assert!(bad_quota.stderr.contains("is not a size"), "{bad_quota:#?}");

    // Unknown repositories and bad names fail with the reason.
    let unknown = cli.run(&["repository", "show", "nope"]).failed();
    assert_eq!(
        unknown.stderr,
        "berth: repository nope is not known to this registry (404)\n"
    );
    let unknown = cli.run(&["repository", "delete", "nope", "--yes"]).failed();
    assert!(unknown.stderr.contains("(404)"), "{unknown:#?}");
    let bad = cli.run(&["repository", "show", "Team/App"]).failed();
    assert!(bad.stderr.contains("invalid repository name"), "{bad:#?}");
    let bad = cli.run(&["repository", "show", "team/app:v1"]).failed();
    assert!(bad.stderr.contains("only the repository name"), "{bad:#?}");

    // Delete: refused without --yes and a terminal, then done with --yes.
    let refused = cli.run(&["repository", "delete", "team/app"]).failed();
    assert!(refused.stderr.contains("pass --yes"), "{refused:#?}");
    assert_eq!(
        cli.json(&["repository", "show", "team/app"])["tag_count"],
        1
    );
    let still = rt.block_on(client.get_manifest("team/app", "dev-1", OCI_MANIFEST));
    still.expect(200);
    // On a terminal the question is asked: no keeps everything, yes deletes.
    let (code, shown) = cli.on_terminal(&["repository", "delete", "team/app"], "n\n");
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("Delete repository team/app with its 1 images and 1 tags? [y/N]"),
        "{shown}"
    );
    assert!(
        shown.contains("berth: cancelled; nothing was changed"),
        "{shown}"
    );
    assert_eq!(
        cli.json(&["repository", "show", "team/app"])["tag_count"],
        1
    );
    let (code, shown) = cli.on_terminal(&["repository", "delete", "team/app"], "y\n");
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains("Deleted repository team/app: 1 images, 1 tags."),
        "{shown}"
    );
    let gone = cli.run(&["repository", "show", "team/app"]).failed();
    assert!(gone.stderr.contains("(404)"), "{gone:#?}");
    let deleted = cli.json(&["repository", "delete", "other", "--yes"]);
    assert_eq!(
        deleted,
        json!({"repository": "other", "deleted_manifests": 0, "deleted_tags": 0})
    );
    assert_eq!(cli.json(&["repository", "list"]), json!([]));
    assert_eq!(rt.block_on(client.tags("team/app")), None);
}

#[test]
fn show_tags_orders_by_push_or_move_time_and_asks_only_for_what_it_shows() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let rt = runtime();
    let client = Client::new(&server);
    let old = Image::new("old");
    let new = Image::new("new");
    for n in 0..7 {
        let image = if n % 2 == 0 { &old } else { &new };
        rt.block_on(image.push(&client, "pager", &format!("t{n}")));
        // Tag times are milliseconds; keep every push in a millisecond of its own.
        std::thread::sleep(Duration::from_millis(5));
    }

    let top = ["repository", "show-tags", "pager", "--orderby", "time_desc"];
    let newest = cli.json(&[&top[..], &["--top", "5"]].concat());
    assert_eq!(names(&newest), ["t6", "t5", "t4", "t3", "t2"]);

    // Moving the oldest tag makes it the newest.
    rt.block_on(new.push(&client, "pager", "t0"));
    let newest = cli.json(&[&top[..], &["--top", "5"]].concat());
    assert_eq!(names(&newest), ["t0", "t6", "t5", "t4", "t3"]);
    let text = cli.ok(&[&top[..], &["--top", "3", "-o", "text"]].concat());
    assert_eq!(text.stdout, "t0\nt6\nt5\n");

    let detail = cli.json(&[&top[..], &["--top", "5", "--detail"]].concat());
    let detail = detail.as_array().expect("list");
    assert_eq!(detail.len(), 5);
    assert_eq!(detail[0]["name"], "t0");
    assert_eq!(detail[0]["digest"], new.digest.as_str());
    assert!(detail[0]["created_at"].as_str() <= detail[0]["updated_at"].as_str());
    for pair in detail.windows(2) {
        assert!(pair[0]["updated_at"].as_str() >= pair[1]["updated_at"].as_str());
    }
    assert_eq!(detail[1]["digest"], old.digest.as_str(), "t6 is old");
    assert_eq!(
        detail[0]["changeable_attributes"]["write_enabled"], true,
        "{detail:?}"
    );
    let table = cli
        .ok(&[&top[..], &["--top", "2", "--detail"]].concat())
        .table();
    assert_eq!(
        table[0],
        ["Name", "Digest", "Created", "Updated", "Write", "Delete", "Read", "List"]
    );
    assert_eq!(table[1][..2], ["t0".to_string(), new.digest.clone()]);
    assert_eq!(table[2][..2], ["t6".to_string(), old.digest.clone()]);
    assert_eq!(table[1][4..], ["true", "true", "true", "true"]);

    // --top stops after the pages it needs: 4 tags at 2 a page is two requests, though
    // more pages follow; all 8 at 3 a page is three.
    let path = "/api/v1/repositories/pager/_tags";
    let before = requests_to(&server, path);
    let four = cli.json(&[&top[..], &["--top", "4", "--page-size", "2"]].concat());
    assert_eq!(names(&four), ["t0", "t6", "t5", "t4"]);
    assert_eq!(requests_to(&server, path) - before, 2);
    let before = requests_to(&server, path);
    let all = cli.json(&["repository", "show-tags", "pager", "--page-size", "3"]);
    assert_eq!(names(&all), ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);
    assert_eq!(requests_to(&server, path) - before, 3);
    let oldest = cli.json(&[
        "repository",
        "show-tags",
        "pager",
        "--orderby",
        "time_asc",
        "--top",
        "2",
    ]);
    assert_eq!(names(&oldest), ["t1", "t2"]);

    let unknown = cli.run(&["repository", "show-tags", "nope"]).failed();
    assert!(unknown.stderr.contains("nope"), "{unknown:#?}");
    let zero = cli.run(&["repository", "show-tags", "pager", "--top", "0"]);
    assert_eq!(zero.code, Some(2), "{zero:#?}");
}

#[test]
fn tag_and_untag_change_only_tags_and_deleting_an_image_takes_its_tags() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let rt = runtime();
    let client = Client::new(&server);
    let kept = Image::new("kept");
    let gone = Image::new("gone");
    rt.block_on(kept.push(&client, "app", "v1"));
    rt.block_on(gone.push(&client, "app", "a"));
    rt.block_on(gone.push(&client, "app", "b"));

    // tag SRC DST: a new tag on a stored image, in this repository and another.
    let tagged = cli.json(&["repository", "tag", "app:v1", "app:v2"]);
    assert_eq!(tagged["name"], "v2");
    assert_eq!(tagged["digest"], kept.digest.as_str());
    let by_digest = format!("app@{}", kept.digest);
    let copied = cli.ok(&[
        "repository",
        "tag",
        &by_digest,
        "mirror/app:stable",
        "-o",
        "tsv",
    ]);
    assert!(
        copied
            .stdout
            .starts_with(&format!("stable\t{}\t", kept.digest)),
        "{copied:#?}"
    );
    let copy = rt.block_on(tag_digest(&client, "mirror/app", "stable"));
    assert_eq!(copy.as_deref(), Some(kept.digest.as_str()));
    let blob = format!("/v2/mirror/app/blobs/{}", digest(&kept.layer));
    rt.block_on(client.get(&blob)).expect(200);
    let bad = cli.run(&["repository", "tag", "app", "app:v3"]).failed();
    assert!(bad.stderr.contains("NAME:TAG or NAME@DIGEST"), "{bad:#?}");
    let bad = cli.run(&["repository", "tag", "app:v1", "other"]).failed();
    assert!(bad.stderr.contains("is not NAME:TAG"), "{bad:#?}");
    let missing = cli
        .run(&["repository", "tag", "app:nope", "app:v3"])
        .failed();
    assert!(missing.stderr.contains("(404)"), "{missing:#?}");
    assert_eq!(rt.block_on(tag_digest(&client, "app", "v3")), None);

    // untag removes the tag only.
    let untagged = cli.ok(&["repository", "untag", "app:v1"]);
    assert_eq!(
        untagged.stdout,
        format!("Untagged app:v1; the image {} stays.\n", kept.digest)
    );
    assert_eq!(rt.block_on(tag_digest(&client, "app", "v1")), None);
    let kept_manifest = rt.block_on(client.get_manifest("app", &kept.digest, OCI_MANIFEST));
    kept_manifest.expect(200);
    let mut tags = rt.block_on(client.tags("app")).expect("app exists");
    tags.sort();
    assert_eq!(tags, ["a", "b", "v2"]);
    let again = cli.run(&["repository", "untag", "app:v1"]).failed();
    assert!(again.stderr.contains("(404)"), "{again:#?}");
    let bad = cli.run(&["repository", "untag", "app"]).failed();
    assert!(bad.stderr.contains("is not NAME:TAG"), "{bad:#?}");
    let bad = cli.run(&["repository", "untag", "app:bad/tag"]).failed();
    assert!(bad.stderr.contains("invalid"), "{bad:#?}");
    let bad = cli.run(&["repository", "untag", "app:.hidden"]).failed();
    assert!(bad.stderr.contains("invalid tag \".hidden\""), "{bad:#?}");

    // Deleting by a tag deletes the image and every tag on it, after confirmation.
    let refused = cli.run(&["repository", "delete", "app:a"]).failed();
    assert!(refused.stderr.contains("pass --yes"), "{refused:#?}");
    assert_eq!(
        rt.block_on(tag_digest(&client, "app", "b")).as_deref(),
        Some(gone.digest.as_str())
    );
    let deleted = cli.json(&["repository", "delete", "app:a", "--yes"]);
    assert_eq!(deleted["digest"], gone.digest.as_str());
    assert_eq!(deleted["tags"], json!(["a", "b"]));
    assert_eq!(rt.block_on(tag_digest(&client, "app", "a")), None);
    assert_eq!(rt.block_on(tag_digest(&client, "app", "b")), None);
    let gone_manifest = rt.block_on(client.get_manifest("app", &gone.digest, OCI_MANIFEST));
    gone_manifest.expect_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(rt.block_on(client.tags("app")).expect("app"), ["v2"]);

    let by_digest_delete = cli
        .ok(&["repository", "delete", &by_digest, "--yes"])
        .stdout;
    assert_eq!(
        by_digest_delete,
        format!("Deleted image app@{} and its tags v2.\n", kept.digest)
    );
    assert_eq!(
        rt.block_on(client.tags("app")).expect("app"),
        Vec::<String>::new()
    );
    let unknown = cli
        .run(&["repository", "delete", &by_digest, "--yes"])
        .failed();
    assert!(unknown.stderr.contains("(404)"), "{unknown:#?}");
    let copy = rt.block_on(tag_digest(&client, "mirror/app", "stable"));
    assert_eq!(
        copy.as_deref(),
        Some(kept.digest.as_str()),
        "other repositories keep theirs"
    );
}

#[test]
fn describe_images_shows_labels_and_the_platforms_of_an_index() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let rt = runtime();
    let client = Client::new(&server);
    let platform_config = |architecture: &str, variant: Option<&str>| {
        json!({
            "architecture": architecture, "os": "linux", "variant": variant,
            "config": {"Labels": {"org.opencontainers.image.title": "multi"}},
            "rootfs": {"type": "layers", "diff_ids": []},
        })
    };
    let amd = rt.block_on(push_config(
        &client,
        "app",
        None,
        &platform_config("amd64", None),
    ));
    std::thread::sleep(Duration::from_millis(5));
    let arm = rt.block_on(push_config(
        &client,
        "app",
        None,
        &platform_config("arm64", Some("v8")),
    ));
    std::thread::sleep(Duration::from_millis(5));
    let child = |d: &str, architecture: &str, variant: Option<&str>| {
        let mut platform = json!({"os": "linux", "architecture": architecture});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 1, "platform": platform})
    };
    // The sizes must be right: fetch each child to learn its length.
    let sized = |d: &str, architecture: &str, variant: Option<&str>| {
        let body = rt
            .block_on(client.get_manifest("app", d, OCI_MANIFEST))
            .body;
        let mut c = child(d, architecture, variant);
        c["size"] = json!(body.len());
        c
    };
    let index = to_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [sized(&amd, "amd64", None), sized(&arm, "arm64", Some("v8"))],
    }));
    let index_digest = digest(&index);
    rt.block_on(client.put_manifest("app", "multi", OCI_INDEX, &index))
        .expect(201);
    std::thread::sleep(Duration::from_millis(5));
    let labelled = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"git.sha": "abc123", "team": "platform"}},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let single = rt.block_on(push_config(&client, "app", Some("single"), &labelled));

    let all = cli.json(&["repository", "describe-images", "app"]);
    let all = all.as_array().expect("list");
    assert_eq!(all.len(), 4, "{all:?}");
    let find = |d: &str| {
        all.iter()
            .find(|i| i["digest"] == d)
            .unwrap_or_else(|| panic!("{d} missing from {all:?}"))
    };
    let described = find(&index_digest);
    assert_eq!(described["media_type"], OCI_INDEX);
    assert_eq!(described["tags"], json!(["multi"]));
    assert_eq!(described["repository"], "app");
    let platforms: Vec<(Value, Value, Value)> = described["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .map(|p| {
            (
                p["digest"].clone(),
                p["architecture"].clone(),
                p["variant"].clone(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            (json!(amd), json!("amd64"), Value::Null),
            (json!(arm), json!("arm64"), json!("v8"))
        ]
    );
    let described = find(&single);
    assert_eq!(
        described["labels"],
        json!({"git.sha": "abc123", "team": "platform"})
    );
    assert_eq!(described["media_type"], OCI_MANIFEST);
    assert!(described["size_bytes"].as_u64().unwrap() > 0);
    assert!(described["pushed_at"].is_string());
    assert_eq!(described["last_pulled_at"], Value::Null);

    // --image-id by tag and by digest names one image once.
    let picked = cli.json(&[
        "repository",
        "describe-images",
        "app",
        "--image-id",
        "multi",
        "--image-id",
        &index_digest,
    ]);
    assert_eq!(picked.as_array().map(Vec::len), Some(1), "{picked}");
    assert_eq!(picked[0]["digest"], index_digest.as_str());
    let untagged = cli.json(&[
        "repository",
        "describe-images",
        "app",
        "--tag-status",
        "UNTAGGED",
        "--query",
        "sort([].digest)",
    ]);
    let mut children = vec![amd.clone(), arm.clone()];
    children.sort();
    assert_eq!(names(&untagged), children);
    let table = cli
        .ok(&[
            "repository",
            "describe-images",
            "app",
            "--image-id",
            "multi",
        ])
        .table();
    assert_eq!(
        table[0],
        [
            "Digest",
            "Tags",
            "Size",
            "Pushed At",
            "Last Pull",
            "Media Type",
            "Platforms",
            "Labels"
        ]
    );
    assert_eq!(table[1][6], "linux/amd64 linux/arm64/v8");
    let text = cli.ok(&[
        "repository",
        "describe-images",
        "app",
        "--image-id",
        "single",
        "-o",
        "text",
    ]);
    let cells: Vec<&str> = text.stdout.trim_end().split('\t').collect();
    assert_eq!(cells[0], single);
    assert_eq!(cells[1], "single");
    assert_eq!(cells[6], "linux/amd64");
    assert_eq!(cells[7], "git.sha=abc123, team=platform");
    let missing = cli
        .run(&["repository", "describe-images", "app", "--image-id", "nope"])
        .failed();
    assert!(missing.stderr.contains("(404)"), "{missing:#?}");

    // show-manifests: ACR's brief shape without --detail, oldest first with time_asc.
    let oldest = cli.json(&[
        "repository",
        "show-manifests",
        "app",
        "--orderby",
        "time_asc",
        "--top",
        "2",
    ]);
    let oldest = oldest.as_array().expect("list");
    assert_eq!(oldest.len(), 2);
    assert_eq!(oldest[0]["digest"], amd.as_str());
    assert_eq!(oldest[1]["digest"], arm.as_str());
    let keys: Vec<&String> = oldest[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["digest", "pushed_at", "tags"]);
    let newest = cli.json(&[
        "repository",
        "show-manifests",
        "app",
        "--top",
        "1",
        "--detail",
    ]);
    assert_eq!(newest[0]["digest"], single.as_str());
    assert_eq!(newest[0]["labels"]["team"], "platform");
}

#[test]
fn locks_and_immutable_tags_refuse_pushes_and_the_registry_quota_shows_in_usage() {
    let server = Server::start();
    let cli = Cli::login(&server);
    let rt = runtime();
    let client = Client::new(&server);
    let first = Image::new("first");
    let second = Image::new("second");
    rt.block_on(first.push(&client, "app", "locked"));

    let locked = cli.json(&[
        "repository",
        "update",
        "app:locked",
        "--write-enabled",
        "false",
    ]);
    assert_eq!(locked["name"], "locked");
    assert_eq!(locked["changeable_attributes"]["write_enabled"], false);
    rt.block_on(second.push_blobs(&client, "app"));
    let refused = rt.block_on(client.put_manifest("app", "locked", OCI_MANIFEST, &second.manifest));
    refused.expect_error(403, "DENIED");
    let message = refused.text();
    assert!(
        message.contains("tag app:locked is locked: write-enabled is false"),
        "{message}"
    );
    assert_eq!(
        rt.block_on(tag_digest(&client, "app", "locked")).as_deref(),
        Some(first.digest.as_str()),
        "the locked tag did not move"
    );
    rt.block_on(client.put_manifest("app", "free", OCI_MANIFEST, &second.manifest))
        .expect(201);
    cli.ok(&[
        "repository",
        "update",
        "app:locked",
        "--write-enabled",
        "true",
    ]);
    rt.block_on(client.put_manifest("app", "locked", OCI_MANIFEST, &second.manifest))
        .expect(201);

    // An image's delete lock refuses its deletion.
    let by_digest = format!("app@{}", second.digest);
    let image = cli.json(&[
        "repository",
        "update",
        &by_digest,
        "--delete-enabled",
        "false",
    ]);
    assert_eq!(image["changeable_attributes"]["delete_enabled"], false);
    assert_eq!(image["digest"], second.digest.as_str());
    let refused = cli
        .run(&["repository", "delete", &by_digest, "--yes"])
        .failed();
    assert!(
        refused
            .stderr
            .contains("is locked: delete-enabled is false"),
        "{refused:#?}"
    );
    assert!(!refused.stderr.contains("role assign"), "{refused:#?}");
    assert_eq!(
        rt.block_on(tag_digest(&client, "app", "free")).as_deref(),
        Some(second.digest.as_str())
    );
    let wrong = cli
        .run(&["repository", "update", "app:locked", "--quota", "1GB"])
        .failed();
    assert!(wrong.stderr.contains("only --write-enabled"), "{wrong:#?}");
    let unknown = cli
        .run(&[
            "repository",
            "update",
            "app:nope",
            "--read-enabled",
            "false",
        ])
        .failed();
    assert!(unknown.stderr.contains("(404)"), "{unknown:#?}");

    // Immutable tags: another digest is refused, the same digest is accepted.
    cli.ok(&[
        "repository",
        "create",
        "fixed",
        "--tag-mutability",
        "IMMUTABLE",
    ]);
    rt.block_on(first.push(&client, "fixed", "v1"));
    rt.block_on(second.push_blobs(&client, "fixed"));
    let moved = rt.block_on(client.put_manifest("fixed", "v1", OCI_MANIFEST, &second.manifest));
    assert!(moved.status >= 400, "{}", moved.describe());
    assert!(moved.text().contains("immutable"), "{}", moved.describe());
    assert_eq!(
        rt.block_on(tag_digest(&client, "fixed", "v1")).as_deref(),
        Some(first.digest.as_str())
    );
    rt.block_on(client.put_manifest("fixed", "v1", OCI_MANIFEST, &first.manifest))
        .expect(201);

    // The registry's quota and usage.
    let settings = cli.json(&["registry", "update", "--quota", "1GiB"]);
    assert_eq!(settings["quota_bytes"], 1u64 << 30);
    let usage = cli.json(&["registry", "show-usage"]);
    let size = &usage[0];
    assert_eq!(size["name"], "Size");
    assert_eq!(size["limit"], 1u64 << 30);
    assert_eq!(size["unit"], "Bytes");
    let stored = [&first.config, &first.layer, &second.config, &second.layer]
        .iter()
        .map(|b| b.len() as u64)
        .sum::<u64>();
    assert_eq!(size["current_value"], stored);
    let repositories = cli.ok(&[
        "registry",
        "show-usage",
        "--query",
        "[?name=='Repositories'].current_value | [0]",
        "-o",
        "text",
    ]);
    assert_eq!(repositories.stdout, "2\n");
    let table = cli.ok(&["registry", "show-usage"]).table();
    assert_eq!(table[0], ["Name", "Current Value", "Limit", "Unit"]);
    assert_eq!(
        table[1],
        ["Size", &stored.to_string(), "1073741824", "Bytes"]
    );
    let cleared = cli.json(&["registry", "update", "--quota", "none"]);
    assert_eq!(cleared["quota_bytes"], Value::Null);
    let nothing = cli.run(&["registry", "update"]).failed();
    assert!(nothing.stderr.contains("--quota"), "{nothing:#?}");
}
