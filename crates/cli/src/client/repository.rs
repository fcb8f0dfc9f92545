//! `berth repository ...`: repositories, their tags and images over
//! `/api/v1/repositories`, in the manner of `az acr repository` and `aws ecr`.
//!
//! A target is written `NAME`, `NAME:TAG` or `NAME@DIGEST` and checked with the OCI
//! grammar before any request. Guarantees: flags that cannot apply to a target are
//! refused before any request; deleting asks on a terminal and, without one, refuses
//! unless `--yes` is given, after checking that the target exists; listings follow the
//! API's `next` cursor through every page, and `--top N` asks only for the pages needed
//! for N items; JSON output is the API's own objects (without `--detail`, tag names or
//! digests with their tags, as ACR shows them).

use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Map, Value};

use berth_oci::{Digest, RepositoryName, Tag};

use super::error::{ClientError, Result};
use super::manage::{confirm, set_opt, Session};
use super::output::{columns, Column, Format};

/// The largest page the API serves.
const MAX_PAGE: usize = 1000;

/// `berth repository ...`.
#[derive(Subcommand, Debug)]
pub enum RepositoryAction {
    /// Create an empty repository with its settings.
    Create {
        /// Its name, e.g. team/app.
        name: String,
        #[command(flatten)]
        settings: SettingsFlags,
        /// Encryption at rest.
        #[arg(long, value_enum, ignore_case = true)]
        encryption_type: Option<Encryption>,
        /// The key for `--encryption-type KMS`.
        #[arg(long, value_name = "KEY")]
        kms_key: Option<String>,
        /// Storage quota: bytes or a size such as 10GiB or 500MB.
        #[arg(long, value_name = "BYTES", value_parser = parse_quota)]
        quota: Option<Quota>,
    },
    /// List the repositories you may see, with their sizes and counts.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a repository: size, image and tag counts, times, settings and locks.
    Show {
        /// Its name.
        name: String,
    },
    /// Change a repository's settings and locks, or the locks of a tag or an image.
    Update {
        /// NAME, NAME:TAG or NAME@DIGEST.
        target: String,
        #[command(flatten)]
        settings: SettingsFlags,
        #[command(flatten)]
        locks: LockFlags,
        /// Whether anyone may pull without credentials (a repository only).
        #[arg(long, value_name = "true|false")]
        anonymous_pull: Option<bool>,
        /// Storage quota: bytes, a size such as 10GiB, or `none` (a repository only).
        #[arg(long, value_name = "BYTES|none", value_parser = parse_quota)]
        quota: Option<Quota>,
    },
    /// Delete a repository, or an image (NAME@DIGEST or NAME:TAG) with all its tags.
    Delete {
        /// NAME, NAME:TAG or NAME@DIGEST.
        target: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// List a repository's tags (names; with --detail, digests, times and locks).
    ShowTags {
        /// The repository.
        name: String,
        /// The order of the tags.
        #[arg(long, value_enum, default_value_t = TagOrder::Name)]
        orderby: TagOrder,
        /// Show at most this many.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        top: Option<u32>,
        /// Show digests, times and locks, not only names.
        #[arg(long)]
        detail: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// Remove a tag; the image stays.
    Untag {
        /// NAME:TAG.
        target: String,
    },
    /// Add a tag to an image that is already stored, without pushing it again.
    Tag {
        /// The image: NAME:TAG or NAME@DIGEST.
        source: String,
        /// The new tag: NAME:TAG (another repository is possible).
        target: String,
    },
    /// List a repository's images (digests and tags; with --detail, everything).
    ShowManifests {
        /// The repository.
        name: String,
        /// The order of the images, by push time.
        #[arg(long, value_enum, default_value_t = ImageOrder::TimeDesc)]
        orderby: ImageOrder,
        /// Show at most this many.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        top: Option<u32>,
        /// Show sizes, media types, times and locks too.
        #[arg(long)]
        detail: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// Describe images: digest, tags, size, push and pull times, media type, platforms
    /// and labels (like `aws ecr describe-images`).
    DescribeImages {
        /// The repository.
        name: String,
        /// Only these images, by tag or digest; repeat for more.
        #[arg(long = "image-id", value_name = "TAG_OR_DIGEST")]
        image_ids: Vec<String>,
        /// Only tagged or untagged images.
        #[arg(long, value_enum, ignore_case = true, conflicts_with = "image_ids")]
        tag_status: Option<TagStatus>,
        #[command(flatten)]
        paging: Paging,
    },
}

/// How many items each request of a listing asks for (as `aws --page-size`); it
/// changes the number of requests, never what is shown.
#[derive(Args, Debug, Default, Clone, Copy)]
pub struct Paging {
    /// Items per request [default: 1000, the most the registry serves].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: Option<u32>,
}

/// Tag mutability settings, for `create` and `update`.
#[derive(Args, Debug, Default)]
pub struct SettingsFlags {
    /// Whether tags may move once pushed.
    #[arg(long, value_enum, ignore_case = true)]
    tag_mutability: Option<Mutability>,
    /// A tag filter (`*` wildcards) excepted from the mutability rule; repeat for more.
    #[arg(long = "mutability-exclusion", value_name = "FILTER")]
    mutability_exclusions: Vec<String>,
    /// Whether images are scanned when pushed.
    #[arg(long, value_name = "true|false")]
    scan_on_push: Option<bool>,
}

/// Locks (ACR's changeable attributes) of a repository, a tag or an image.
#[derive(Args, Debug, Default)]
pub struct LockFlags {
    /// Whether pushes and tag moves are allowed.
    #[arg(long, value_name = "true|false")]
    write_enabled: Option<bool>,
    /// Whether deletes are allowed.
    #[arg(long, value_name = "true|false")]
    delete_enabled: Option<bool>,
    /// Whether pulls are allowed.
    #[arg(long, value_name = "true|false")]
    read_enabled: Option<bool>,
    /// Whether it shows in listings.
    #[arg(long, value_name = "true|false")]
    list_enabled: Option<bool>,
}

impl LockFlags {
    fn set(&self, body: &mut Value) {
        for (key, value) in [
            ("write_enabled", self.write_enabled),
            ("delete_enabled", self.delete_enabled),
            ("read_enabled", self.read_enabled),
            ("list_enabled", self.list_enabled),
        ] {
            set_opt(body, key, value.map(Value::from));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mutability {
    #[value(name = "MUTABLE")]
    Mutable,
    #[value(name = "IMMUTABLE")]
    Immutable,
    #[value(name = "IMMUTABLE_WITH_EXCLUSION")]
    ImmutableWithExclusion,
    #[value(name = "MUTABLE_WITH_EXCLUSION")]
    MutableWithExclusion,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Encryption {
    #[value(name = "NONE")]
    None,
    #[value(name = "AES256")]
    Aes256,
    #[value(name = "KMS")]
    Kms,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TagOrder {
    /// Most recently pushed or moved first.
    #[value(name = "time_desc")]
    TimeDesc,
    /// Least recently pushed or moved first.
    #[value(name = "time_asc")]
    TimeAsc,
    /// By name.
    #[value(name = "name")]
    Name,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImageOrder {
    /// Most recently pushed first.
    #[value(name = "time_desc")]
    TimeDesc,
    /// Least recently pushed first.
    #[value(name = "time_asc")]
    TimeAsc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TagStatus {
    #[value(name = "TAGGED")]
    Tagged,
    #[value(name = "UNTAGGED")]
    Untagged,
    #[value(name = "ANY")]
    Any,
}

/// The API's name of a value-enum choice (`time_desc`, `IMMUTABLE`).
fn api_name(value: impl ValueEnum) -> String {
    let possible = value.to_possible_value().expect("no choice is skipped");
    possible.get_name().to_string()
}

/// A storage quota: a number of bytes, or none at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quota {
    Bytes(u64),
    Unlimited,
}

impl Quota {
    pub fn to_json(self) -> Value {
        match self {
            Quota::Bytes(bytes) => Value::from(bytes),
            Quota::Unlimited => Value::Null,
        }
    }
}

/// `none`, a number of bytes, or a number with a unit: B, kB/KB, MB, GB, TB (powers of
/// 1000) or KiB, MiB, GiB, TiB (powers of 1024), in any case; a fraction such as 1.5GiB
/// is rounded down to whole bytes.
pub fn parse_quota(text: &str) -> std::result::Result<Quota, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Ok(Quota::Unlimited);
    }
    let bad = || {
        format!(
            "{text:?} is not a size; give bytes (1073741824), a size such as 10GiB or 500MB, \
             or none"
        )
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: u128 = match unit.as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "mb" | "m" => 1000u128.pow(2),
        "gb" | "g" => 1000u128.pow(3),
        "tb" | "t" => 1000u128.pow(4),
        "kib" | "ki" => 1 << 10,
        "mib" | "mi" => 1 << 20,
        "gib" | "gi" => 1 << 30,
        "tib" | "ti" => 1 << 40,
        _ => return Err(bad()),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || whole.len() > 20 || fraction.len() > 9 || fraction.contains('.') {
        return Err(bad());
    }
    let whole: u128 = whole.parse().map_err(|_| bad())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad())?
    };
    let bytes = (whole * scale + fraction) * multiplier / scale;
    u64::try_from(bytes)
        .map(Quota::Bytes)
        .map_err(|_| format!("{text:?} is more bytes than a quota can hold"))
}

/// What a command acts on: a repository, a tag in it, or an image by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Repository(RepositoryName),
    Tag(RepositoryName, Tag),
    Image(RepositoryName, Digest),
}

impl Target {
    /// Parses `NAME`, `NAME:TAG` or `NAME@DIGEST`.
    pub fn parse(text: &str) -> Result<Target> {
        let bad = |err: berth_oci::OciError| {
            ClientError::usage(format!(
                "{err}; write the target as NAME, NAME:TAG or NAME@sha256:DIGEST"
            ))
        };
        if let Some((name, digest)) = text.split_once('@') {
            return Ok(Target::Image(
                RepositoryName::parse(name).map_err(bad)?,
                Digest::parse(digest).map_err(bad)?,
            ));
        }
        match text.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => Ok(Target::Tag(
                RepositoryName::parse(name).map_err(bad)?,
                Tag::parse(tag).map_err(bad)?,
            )),
            _ => Ok(Target::Repository(
                RepositoryName::parse(text).map_err(bad)?,
            )),
        }
    }

    fn repository(&self) -> &RepositoryName {
        match self {
            Target::Repository(name) | Target::Tag(name, _) | Target::Image(name, _) => name,
        }
    }

    /// The reference after the name: a tag or a digest.
    fn reference(&self) -> Option<String> {
        match self {
            Target::Repository(_) => None,
            Target::Tag(_, tag) => Some(tag.to_string()),
            Target::Image(_, digest) => Some(digest.to_string()),
        }
    }

    /// The API path of this target (`repositories/<name...>[/_tags/t|/_manifests/d]`).
    fn segments(&self) -> Vec<String> {
        let mut segments = repository_segments(self.repository());
        match self {
            Target::Repository(_) => {}
            Target::Tag(_, tag) => segments.extend(["_tags".into(), tag.to_string()]),
            Target::Image(_, digest) => segments.extend(["_manifests".into(), digest.to_string()]),
        }
        segments
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Repository(name) => write!(f, "{name}"),
            Target::Tag(name, tag) => write!(f, "{name}:{tag}"),
            Target::Image(name, digest) => write!(f, "{name}@{digest}"),
        }
    }
}

/// `repositories` and each component of the name as its own path segment.
fn repository_segments(name: &RepositoryName) -> Vec<String> {
    std::iter::once("repositories".to_string())
        .chain(name.as_str().split('/').map(str::to_string))
        .collect()
}

fn repository_name(text: &str) -> Result<RepositoryName> {
    match Target::parse(text)? {
        Target::Repository(name) => Ok(name),
        other => Err(ClientError::usage(format!(
            "{other} names a tag or an image; give only the repository name, e.g. {}",
            other.repository()
        ))),
    }
}

fn strs(segments: &[String]) -> Vec<&str> {
    segments.iter().map(String::as_str).collect()
}

fn repository_columns() -> Vec<Column> {
    let mut cols = vec![
        Column::new("name"),
        Column::at("Size", "size_bytes"),
        Column::at("Images", "manifest_count"),
        Column::at("Tags", "tag_count"),
        Column::at("Created", "created_at"),
        Column::at("Last Push", "last_push_at"),
        Column::new("tag_mutability"),
        Column::new("scan_on_push"),
        Column::new("encryption"),
        Column::at("Quota", "quota_bytes"),
        Column::new("anonymous_pull"),
    ];
    cols.extend(lock_columns());
    cols
}

fn list_columns() -> Vec<Column> {
    vec![
        Column::new("name"),
        Column::at("Size", "size_bytes"),
        Column::at("Images", "manifest_count"),
        Column::at("Tags", "tag_count"),
        Column::at("Last Push", "last_push_at"),
        Column::new("tag_mutability"),
    ]
}

fn lock_columns() -> Vec<Column> {
    ["write", "delete", "read", "list"]
        .into_iter()
        .map(|lock| {
            let path = format!("changeable_attributes.{lock}_enabled");
            Column::at(&super::output::title_case(lock), &path)
        })
        .collect()
}

fn tag_columns() -> Vec<Column> {
    let mut cols = vec![
        Column::new("name"),
        Column::new("digest"),
        Column::at("Created", "created_at"),
        Column::at("Updated", "updated_at"),
    ];
    cols.extend(lock_columns());
    cols
}

fn image_columns() -> Vec<Column> {
    let mut cols = vec![
        Column::new("digest"),
        Column::new("tags"),
        Column::at("Size", "size_bytes"),
        Column::new("pushed_at"),
        Column::at("Last Pull", "last_pulled_at"),
        Column::new("media_type"),
    ];
    cols.extend(lock_columns());
    cols
}

fn description_columns() -> Vec<Column> {
    vec![
        Column::new("digest"),
        Column::new("tags"),
        Column::at("Size", "size_bytes"),
        Column::new("pushed_at"),
        Column::at("Last Pull", "last_pulled_at"),
        Column::new("media_type"),
        Column::whole("Platforms").shown_as(platforms),
        Column::new("labels").shown_as(labels),
    ]
}

/// `os/architecture[/variant]` of each platform of an index, or of the image itself.
fn platforms(image: &Value) -> Value {
    let one = |p: &Value| -> Option<String> {
        let os = p.get("os")?.as_str()?;
        let architecture = p.get("architecture")?.as_str()?;
        Some(match p.get("variant").and_then(Value::as_str) {
            Some(variant) => format!("{os}/{architecture}/{variant}"),
            None => format!("{os}/{architecture}"),
        })
    };
    let listed: Vec<String> = image
        .get("platforms")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(one).collect())
        .unwrap_or_default();
    if listed.is_empty() {
        one(image).map_or(Value::Null, Value::from)
    } else {
        Value::from(listed.join(" "))
    }
}

/// `key=value` pairs, comma-separated, in key order.
fn labels(value: &Value) -> Value {
    let Some(labels) = value.as_object() else {
        return Value::Null;
    };
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            )
        })
        .collect();
    Value::from(pairs.join(", "))
}

/// `berth repository ...`.
pub async fn repository(session: &Session, action: RepositoryAction) -> Result<()> {
    match action {
        RepositoryAction::Create {
            name,
            settings,
            encryption_type,
            kms_key,
            quota,
        } => {
            let name = repository_name(&name)?;
            if kms_key.is_some() && encryption_type != Some(Encryption::Kms) {
                return Err(ClientError::usage(
                    "--kms-key goes with --encryption-type KMS",
                ));
            }
            let mut body = json!({"name": name.as_str()});
            settings.set(&mut body);
            set_opt(
                &mut body,
                "encryption",
                encryption_type.map(|e| api_name(e).into()),
            );
            set_opt(&mut body, "kms_key", kms_key.map(Value::from));
            if let Some(Quota::Bytes(bytes)) = quota {
                body["quota_bytes"] = bytes.into();
            }
            let created = session.api.post(&["repositories"], &body).await?;
            session.print(&created, &repository_columns())
        }
        RepositoryAction::List { paging } => {
            let segments = vec!["repositories".into()];
            let all = collect(session, segments, &[], "repositories", None, paging).await?;
            session.print(&Value::Array(all), &list_columns())
        }
        RepositoryAction::Show { name } => {
            let name = repository_name(&name)?;
            let shown = session
                .api
                .get(&strs(&repository_segments(&name)), &[])
                .await?;
            session.print(&shown, &repository_columns())
        }
        RepositoryAction::Update {
            target,
            settings,
            locks,
            anonymous_pull,
            quota,
        } => update(session, &target, settings, locks, anonymous_pull, quota).await,
        RepositoryAction::Delete { target, yes } => delete(session, &target, yes).await,
        RepositoryAction::ShowTags {
            name,
            orderby,
            top,
            detail,
            paging,
        } => {
            let name = repository_name(&name)?;
            let mut segments = repository_segments(&name);
            segments.push("_tags".into());
            let order = api_name(orderby);
            let query = [("orderby", order.as_str())];
            let tags = collect(session, segments, &query, "tags", top, paging).await?;
            if detail {
                return session.print(&Value::Array(tags), &tag_columns());
            }
            let names: Vec<Value> = tags.iter().map(|t| t["name"].clone()).collect();
            session.print(&Value::Array(names), &[Column::whole("Result")])
        }
        RepositoryAction::Untag { target } => untag(session, &target).await,
        RepositoryAction::Tag { source, target } => tag(session, &source, &target).await,
        RepositoryAction::ShowManifests {
            name,
            orderby,
            top,
            detail,
            paging,
        } => {
            let name = repository_name(&name)?;
            let mut segments = repository_segments(&name);
            segments.push("_manifests".into());
            let order = api_name(orderby);
            let query = [("orderby", order.as_str())];
            let images = collect(session, segments, &query, "manifests", top, paging).await?;
            if detail {
                return session.print(&Value::Array(images), &image_columns());
            }
            let brief: Vec<Value> = images
                .iter()
                .map(|i| json!({"digest": i["digest"], "tags": i["tags"], "pushed_at": i["pushed_at"]}))
                .collect();
            session.print(
                &Value::Array(brief),
                &columns(&["digest", "tags", "pushed_at"]),
            )
        }
        RepositoryAction::DescribeImages {
            name,
            image_ids,
            tag_status,
            paging,
        } => describe_images(session, &name, &image_ids, tag_status, paging).await,
    }
}

impl SettingsFlags {
    fn is_empty(&self) -> bool {
        self.tag_mutability.is_none()
            && self.mutability_exclusions.is_empty()
            && self.scan_on_push.is_none()
    }

    fn set(&self, body: &mut Value) {
        set_opt(
            body,
            "tag_mutability",
            self.tag_mutability.map(|m| api_name(m).into()),
        );
        if !self.mutability_exclusions.is_empty() {
            body["mutability_exclusions"] = json!(self.mutability_exclusions);
        }
        set_opt(body, "scan_on_push", self.scan_on_push.map(Value::from));
    }
}

async fn update(
    session: &Session,
    target: &str,
    settings: SettingsFlags,
    locks: LockFlags,
    anonymous_pull: Option<bool>,
    quota: Option<Quota>,
) -> Result<()> {
    let target = Target::parse(target)?;
    let mut body = json!({});
    locks.set(&mut body);
    let columns = match &target {
        Target::Repository(_) => {
            settings.set(&mut body);
            set_opt(&mut body, "anonymous_pull", anonymous_pull.map(Value::from));
            set_opt(&mut body, "quota_bytes", quota.map(Quota::to_json));
            repository_columns()
        }
        Target::Tag(..) | Target::Image(..) => {
            if !settings.is_empty() || anonymous_pull.is_some() || quota.is_some() {
                return Err(ClientError::usage(format!(
                    "{target} is a tag or an image: only --write-enabled, --delete-enabled, \
                     --read-enabled and --list-enabled apply; settings belong to the repository"
                )));
            }
            match target {
                Target::Tag(..) => tag_columns(),
                _ => image_columns(),
            }
        }
    };
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(ClientError::usage(
            "nothing to update; pass a setting such as --tag-mutability, a lock such as \
             --write-enabled false, --anonymous-pull or --quota",
        ));
    }
    let updated = session.api.patch(&strs(&target.segments()), &body).await?;
    session.print(&updated, &columns)
}

async fn delete(session: &Session, target: &str, yes: bool) -> Result<()> {
    let target = Target::parse(target)?;
    let segments = match &target {
        Target::Repository(_) => target.segments(),
        // A tag names its image here, as in `az acr repository delete --image`.
        Target::Tag(name, _) | Target::Image(name, _) => {
            let mut segments = repository_segments(name);
            segments.push("_manifests".into());
            segments.push(target.reference().expect("a tag or a digest"));
            segments
        }
    };
    // Looked up first, so that an unknown target fails before anyone is asked.
    let found = session.api.get(&strs(&segments), &[]).await?;
    if !yes {
        let question = match &target {
            Target::Repository(name) => format!(
                "Delete repository {name} with its {} images and {} tags?",
                found["manifest_count"], found["tag_count"]
            ),
            _ => format!(
                "Delete image {}@{} and its tags {}?",
                target.repository(),
                found["digest"].as_str().unwrap_or_default(),
                tag_list(&found["tags"])
            ),
        };
        confirm(&question)?;
    }
    let answer = session
        .api
        .call(Method::DELETE, &strs(&segments), &[], None)
        .await?
        .unwrap_or_default();
    let sentence = match &target {
        Target::Repository(name) => format!(
            "Deleted repository {name}: {} images, {} tags.",
            answer["deleted_manifests"], answer["deleted_tags"]
        ),
        _ => format!(
            "Deleted image {}@{} and its tags {}.",
            target.repository(),
            answer["digest"].as_str().unwrap_or_default(),
            tag_list(&found["tags"])
        ),
    };
    let mut result = answer;
    if let Some(object) = result.as_object_mut() {
        object.insert("repository".into(), target.repository().as_str().into());
        if !matches!(target, Target::Repository(_)) {
            object.insert("tags".into(), found["tags"].clone());
        }
    }
    report(session, &result, &sentence)
}

/// `a, b` for a JSON list of tags, `none` for an empty one.
fn tag_list(tags: &Value) -> String {
    let names: Vec<&str> = tags
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

/// A sentence for people reading a table; the result itself for every other format or
/// when a query asks for it.
fn report(session: &Session, result: &Value, sentence: &str) -> Result<()> {
    if session.format == Format::Table && !session.queried {
        println!("{sentence}");
        return Ok(());
    }
    let cols = super::output::columns_of(result);
    session.print(result, &cols)
}

async fn untag(session: &Session, target: &str) -> Result<()> {
    let target = Target::parse(target)?;
    if !matches!(target, Target::Tag(..)) {
        return Err(ClientError::usage(format!(
            "{target} is not NAME:TAG; untag removes one tag, e.g. team/app:v1"
        )));
    }
    let segments = target.segments();
    let before = session.api.get(&strs(&segments), &[]).await?;
    session.api.delete(&strs(&segments), &[]).await?;
    let result = json!({
        "repository": target.repository().as_str(),
        "tag": target.reference(),
        "digest": before["digest"],
    });
    let sentence = format!(
        "Untagged {target}; the image {} stays.",
        before["digest"].as_str().unwrap_or_default()
    );
    report(session, &result, &sentence)
}

async fn tag(session: &Session, source: &str, target: &str) -> Result<()> {
    let source = Target::parse(source)?;
    let target = Target::parse(target)?;
    if matches!(source, Target::Repository(_)) {
        return Err(ClientError::usage(format!(
            "the source {source} names no image; write it as NAME:TAG or NAME@DIGEST"
        )));
    }
    if !matches!(target, Target::Tag(..)) {
        return Err(ClientError::usage(format!(
            "the new tag {target} is not NAME:TAG, e.g. team/app:v2"
        )));
    }
    let body = json!({
        "source_repository": source.repository().as_str(),
        "source_reference": source.reference(),
    });
    let tagged = session
        .api
        .call(Method::PUT, &strs(&target.segments()), &[], Some(&body))
        .await?
        .unwrap_or_default();
    session.print(&tagged, &tag_columns())
}

async fn describe_images(
    session: &Session,
    name: &str,
    image_ids: &[String],
    tag_status: Option<TagStatus>,
    paging: Paging,
) -> Result<()> {
    let name = repository_name(name)?;
    let mut segments = repository_segments(&name);
    segments.push("_manifests".into());
    let mut images: Vec<Value> = Vec::new();
    if image_ids.is_empty() {
        let status = tag_status.map(api_name);
        let query: Vec<(&str, &str)> = status
            .as_deref()
            .map(|s| ("tag_status", s))
            .into_iter()
            .collect();
        images = collect(session, segments, &query, "manifests", None, paging).await?;
    } else {
        for id in image_ids {
            let target = Target::parse(&format!("{name}{}{id}", separator(id)))?;
            let mut path = segments.clone();
            path.push(target.reference().expect("a tag or a digest"));
            let image = session.api.get(&strs(&path), &[]).await?;
            // Two ids may name one image (a tag and its digest); ECR shows it once.
            if !images.iter().any(|i| i["digest"] == image["digest"]) {
                images.push(image);
            }
        }
    }
    for image in &mut images {
        if let Some(object) = image.as_object_mut() {
            object.insert("repository".into(), name.as_str().into());
        }
    }
    session.print(&Value::Array(images), &description_columns())
}

/// `@` before a digest, `:` before a tag.
fn separator(id: &str) -> &'static str {
    if id.contains(':') {
        "@"
    } else {
        ":"
    }
}

/// Every item of a listing under `key`, following `next` page by page; with `top`, only
/// as many pages as `top` items need, the last one asking only for what is missing.
async fn collect(
    session: &Session,
    segments: Vec<String>,
    query: &[(&str, &str)],
    key: &str,
    top: Option<u32>,
    paging: Paging,
) -> Result<Vec<Value>> {
    let page_size = paging.page_size.map_or(MAX_PAGE, |n| n as usize);
    let wanted = top.map(|n| n as usize);
    let mut items: Vec<Value> = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let remaining = wanted.map_or(page_size, |w| (w - items.len()).min(page_size));
        let n = remaining.to_string();
        let mut params: Vec<(&str, &str)> = query.to_vec();
        params.push(("n", &n));
        if let Some(cursor) = &last {
            params.push(("last", cursor));
        }
        let page = session.api.get(&strs(&segments), &params).await?;
        let batch =
            page.get(key)
                .and_then(Value::as_array)
                .ok_or_else(|| ClientError::Protocol {
                    url: session.api.url(&strs(&segments)),
                    reason: format!("the answer has no {key:?} list"),
                })?;
        items.extend(batch.iter().cloned());
        if let Some(w) = wanted {
            if items.len() >= w {
                items.truncate(w);
                return Ok(items);
            }
        }
        match page.get("next").and_then(Value::as_str) {
            Some(next) if !batch.is_empty() => last = Some(next.to_string()),
            _ => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_names_tags_or_digests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            Target::parse("team/app").unwrap(),
            Target::Repository(n) if n.as_str() == "team/app"
        ));
        let tagged = Target::parse("team/app:v1.0").unwrap();
        assert_eq!(tagged.to_string(), "team/app:v1.0");
        assert_eq!(
            tagged.segments(),
            ["repositories", "team", "app", "_tags", "v1.0"]
        );
        let image = Target::parse(&format!("app@{digest}")).unwrap();
        assert_eq!(
            image.segments(),
            [
                "repositories".to_string(),
                "app".into(),
                "_manifests".into(),
                digest
            ]
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        for bad in [
            "app:-x",
            "App",
            "app@sha256:short",
            "",
            "a//b",
            "app:",
            "app@",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert!(matches!(err, ClientError::Usage(_)), "{bad:?}: {err}");
            assert!(err.to_string().contains("NAME:TAG"), "{bad:?}: {err}");
        }
        let err = repository_name("app:v1").unwrap_err();
        assert!(
            err.to_string().contains("only the repository name"),
            "{err}"
        );
    }

    #[test]
    fn quotas_accept_bytes_sizes_and_none() {
        assert_eq!(parse_quota("1024"), Ok(Quota::Bytes(1024)));
        assert_eq!(parse_quota("10GiB"), Ok(Quota::Bytes(10 << 30)));
        assert_eq!(parse_quota("500MB"), Ok(Quota::Bytes(500_000_000)));
        assert_eq!(parse_quota("1.5 kib"), Ok(Quota::Bytes(1536)));
        assert_eq!(parse_quota("2T"), Ok(Quota::Bytes(2_000_000_000_000)));
        assert_eq!(parse_quota("none"), Ok(Quota::Unlimited));
        assert_eq!(parse_quota("NONE"), Ok(Quota::Unlimited));
        for bad in [
            "",
            "GiB",
            "-1",
            "1.2.3",
            "10 parsecs",
            "1e9",
            "99999999999TiB",
        ] {
            assert!(parse_quota(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn choices_have_the_api_names() {
        assert_eq!(api_name(TagOrder::TimeDesc), "time_desc");
        assert_eq!(
            api_name(Mutability::ImmutableWithExclusion),
            "IMMUTABLE_WITH_EXCLUSION"
        );
        assert_eq!(api_name(Encryption::Aes256), "AES256");
        assert_eq!(api_name(TagStatus::Untagged), "UNTAGGED");
    }

    #[test]
    fn platforms_and_labels_read_well() {
        let index = json!({"platforms": [
            {"os": "linux", "architecture": "amd64", "variant": null},
            {"os": "linux", "architecture": "arm64", "variant": "v8"}
        ]});
        assert_eq!(platforms(&index), json!("linux/amd64 linux/arm64/v8"));
        let image = json!({"platforms": [], "os": "linux", "architecture": "amd64"});
        assert_eq!(platforms(&image), json!("linux/amd64"));
        assert_eq!(platforms(&json!({"platforms": []})), Value::Null);
        assert_eq!(
            labels(&json!({"a": "1", "b": "two words"})),
            json!("a=1, b=two words")
        );
    }
}
