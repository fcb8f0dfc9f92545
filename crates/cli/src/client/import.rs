//! `berth import`: has the registry copy an image from another registry, in the manner of
//! `az acr import`, and follows the job to its end with a progress bar.
//!
//! The registry does the copying, so this command never touches the image's bytes: it
//! posts the job to `/api/v1/imports`, polls it, and prints the result in the chosen
//! format. Guarantees: flags are checked before any request; the source password is read
//! from standard input or `BERTH_SOURCE_PASSWORD`, never from a flag, and sent only in
//! the request body; a failed import exits 1 with the registry's explanation.

use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use super::error::{ClientError, Result};
use super::files::CredentialPaths;
use super::login;
use super::manage::Session;
use super::output::columns;
use super::progress::{self, ProgressLine};
use super::CommonOpts;

/// How often the job is asked about.
const POLL_EVERY: Duration = Duration::from_millis(200);

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The image to copy: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@DIGEST
    /// (REGISTRY may start with http:// or https://).
    #[arg(long, value_name = "REGISTRY/REPO:TAG")]
    pub source: String,
    /// Where to put it, as REPOSITORY:TAG; repeat for more tags in the same repository
    /// [default: the source's repository and tag].
    #[arg(long = "image", value_name = "REPO:TAG")]
    pub images: Vec<String>,
    /// Username at the source registry.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the source password from standard input (or set BERTH_SOURCE_PASSWORD).
    #[arg(long)]
    pub password_stdin: bool,
    /// Move target tags that point at another image (default: refuse the import).
    #[arg(long)]
    pub force: bool,
    /// Reach the source over plain HTTP even if it is not a loopback address.
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub common: CommonOpts,
}

/// An image reference at another registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceImage {
    pub registry: String,
    pub repository: String,
    /// A tag or a digest.
    pub reference: String,
    pub by_digest: bool,
}

/// Splits `registry[:port]/repo[/...]:tag` or `...@sha256:...`; a scheme stays with the
/// registry.
pub fn parse_source(text: &str) -> Result<SourceImage> {
    let bad = |why: &str| {
        ClientError::usage(format!(
            "--source {text:?} {why}; give REGISTRY/REPOSITORY:TAG or \
             REGISTRY/REPOSITORY@DIGEST, e.g. registry.example.com/team/app:v1"
        ))
    };
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), text),
    };
    let (registry, path) = rest
        .split_once('/')
        .ok_or_else(|| bad("names no registry"))?;
    if registry.is_empty() {
        return Err(bad("names no registry"));
    }
    let (repository, reference, by_digest) = if let Some((repo, digest)) = path.split_once('@') {
        (repo, digest, true)
    } else {
        let slash = path.rfind('/').map_or(0, |i| i + 1);
        match path[slash..].rfind(':') {
            Some(colon) => (&path[..slash + colon], &path[slash + colon + 1..], false),
            None => return Err(bad("has no tag or digest")),
        }
    };
    if repository.is_empty() || reference.is_empty() {
        return Err(bad("is incomplete"));
    }
    Ok(SourceImage {
        registry: format!("{scheme}{registry}"),
        repository: repository.to_string(),
        reference: reference.to_string(),
        by_digest,
    })
}

/// The target repository and tags of `--image` flags (all in one repository), or the
/// source's own repository and tag when none is given.
pub fn parse_targets(images: &[String], source: &SourceImage) -> Result<(String, Vec<String>)> {
    if images.is_empty() {
        let tags = if source.by_digest {
            Vec::new()
        } else {
            vec![source.reference.clone()]
        };
        return Ok((source.repository.clone(), tags));
    }
    let mut repository: Option<&str> = None;
    let mut tags = Vec::new();
    for image in images {
        let (repo, tag) = image
            .rsplit_once(':')
            .filter(|(repo, tag)| !repo.is_empty() && !tag.is_empty() && !tag.contains('/'))
            .ok_or_else(|| {
                ClientError::usage(format!(
                    "--image {image:?} is not REPOSITORY:TAG, e.g. team/app:v1"
                ))
            })?;
        match repository {
            Some(first) if first != repo => {
                return Err(ClientError::usage(format!(
                    "--image names repositories {first} and {repo}; one import goes into \
                     one repository, so run one import per repository"
                )))
            }
            _ => repository = Some(repo),
        }
        tags.push(tag.to_string());
    }
    Ok((repository.unwrap_or_default().to_string(), tags))
}

/// Runs `berth import`.
pub async fn import(args: ImportArgs, paths: &CredentialPaths) -> Result<()> {
    let source = parse_source(&args.source)?;
    let (repository, tags) = parse_targets(&args.images, &source)?;
    let password = match (&args.username, args.password_stdin) {
        (None, true) => {
            return Err(ClientError::usage(
                "--password-stdin needs --username, the source principal it belongs to",
            ))
        }
        (None, false) => None,
        (Some(_), true) => Some(login::read_password_stdin(std::io::stdin().lock())?),
        (Some(_), false) => Some(login::env_var("BERTH_SOURCE_PASSWORD").ok_or_else(|| {
            ClientError::usage(
                "--username needs a password: pass --password-stdin or set BERTH_SOURCE_PASSWORD",
            )
        })?),
    };

    let mut body = json!({
        "source": {
            "registry": source.registry,
            "repository": source.repository,
            "reference": source.reference,
            "plain_http": args.plain_http,
        },
        "target": { "repository": repository, "tags": tags },
        "mode": if args.force { "Force" } else { "NoForce" },
    });
    if let (Some(username), Some(password)) = (&args.username, password) {
        body["source"]["username"] = json!(username);
        body["source"]["password"] = json!(password);
    }

    let session = Session::open(&args.common, paths).await?;
    let api = &session.api;
    let started = api.post(&["imports"], &body).await?;
    let id = started["id"]
        .as_str()
        .ok_or_else(|| ClientError::Protocol {
            url: api.url(&["imports"]),
            reason: "the answer names no import id".into(),
        })?
        .to_string();

    let mut bar = ProgressLine::on_stderr();
    let job = loop {
        let job = api.get(&["imports", &id], &[]).await?;
        let p = &job["progress"];
        let number = |key: &str| p[key].as_u64().unwrap_or(0);
        bar.update(
            "importing",
            number("bytes_done"),
            number("bytes_total"),
            &format!(
                "{}/{} blobs  {}/{} manifests",
                number("blobs_done"),
                number("blobs_total"),
                number("manifests_done"),
                number("manifests_total")
            ),
        );
        if job["status"] != "running" {
            break job;
        }
        tokio::time::sleep(POLL_EVERY).await;
    };

    if job["status"] != "succeeded" {
        bar.clear();
        let message = job["error"]["message"]
            .as_str()
            .unwrap_or("the registry gave no reason");
        // A finished sentence from the registry; Usage prints it as it is.
        return Err(ClientError::Usage(format!(
            "the import of {} into {repository} failed: {message}",
            args.source
        )));
    }
    let targets = if tags.is_empty() {
        repository.clone()
    } else {
        tags.iter()
            .map(|t| format!("{repository}:{t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    bar.finish(&format!(
        "imported {} as {targets}: {} manifests, {} blobs copied ({}), {} already present",
        args.source,
        job["manifests"],
        job["blobs_copied"],
        progress::bytes(job["bytes_copied"].as_u64().unwrap_or(0)),
        job["blobs_present"],
    ));
    print_result(&session, &job)
}

fn print_result(session: &Session, job: &Value) -> Result<()> {
    let cols = columns(&[
        "target_repository",
        "target_tags",
        "digest",
        "manifests",
        "blobs_copied",
        "bytes_copied",
    ]);
    session.print(job, &cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> SourceImage {
        parse_source(text).unwrap()
    }

    #[test]
    fn sources_split_into_registry_repository_and_reference() {
        assert_eq!(
            source("registry.example.com:5000/team/app:v1"),
            SourceImage {
                registry: "registry.example.com:5000".into(),
                repository: "team/app".into(),
                reference: "v1".into(),
                by_digest: false,
            }
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        let by_digest = source(&format!("127.0.0.1:5000/app@{digest}"));
        assert_eq!(by_digest.repository, "app");
        assert_eq!(by_digest.reference, digest);
        assert!(by_digest.by_digest);
        let with_scheme = source("http://host.example:80/a/b:latest");
        assert_eq!(with_scheme.registry, "http://host.example:80");
        assert_eq!(with_scheme.repository, "a/b");
        for bad in [
            "app:v1",
            "host/app",
            "/app:v1",
            "host/:v1",
            "host/app:",
            "host/app@",
        ] {
            assert!(parse_source(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_are_one_repository_with_its_tags() {
        let from = source("r.example/team/app:v1");
        let images = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_targets(&images(&["mirror/app:v1", "mirror/app:stable"]), &from).unwrap(),
            (
                "mirror/app".to_string(),
                vec!["v1".to_string(), "stable".to_string()]
            )
        );
        assert_eq!(
            parse_targets(&[], &from).unwrap(),
            ("team/app".to_string(), vec!["v1".to_string()])
        );
        let pinned = source(&format!("r.example/app@sha256:{}", "b".repeat(64)));
        assert_eq!(parse_targets(&[], &pinned).unwrap().1, Vec::<String>::new());
        assert!(parse_targets(&images(&["a:v1", "b:v1"]), &from).is_err());
        assert!(parse_targets(&images(&["mirror/app"]), &from).is_err());
        assert!(parse_targets(&images(&["host:5000/app"]), &from).is_err());
    }
}
