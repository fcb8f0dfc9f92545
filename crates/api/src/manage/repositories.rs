//! Repository endpoints: `/api/v1/repositories[/<name>[/_tags[/<tag>]|/_manifests[/<ref>]]]`,
//! in the manner of ACR's own data-plane API.
//!
//! Repository names contain slashes, so the path after `/api/v1/repositories/` is parsed
//! here: the first segment that starts with `_` (which no name component can) marks the
//! sub-resource. Listings page with `n` (at most [`MAX_PAGE`]) and `last`, an opaque
//! cursor the previous page returned as `next`, also sent as a `Link` header.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::access::Action;
use berth_meta::policy::{AttributesPatch, Encryption, MutabilityRule, TagMutability};
use berth_meta::{
    ImageOrder, ImagePosition, RepositoryPatch, RepositoryRecord, RepositorySettings, TagOrder,
    TagPosition, TagRecord, TagStatus,
};
use berth_oci::{Digest, Reference, RepositoryName, Tag};
use berth_registry::ImageDescription;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    actor, json_reply, nullable, optional_time, parse_body, query, time, Actor, ApiResult, Shared,
};
use crate::error::ApiError;
use crate::AppState;

/// The default page size of every listing here.
const DEFAULT_PAGE: u32 = 100;
/// The largest page served, whatever `n` asks for.
const MAX_PAGE: u32 = 1000;

/// What a path under `/api/v1/repositories/` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target<'a> {
    Repository(&'a str),
    Tags(&'a str),
    Tag(&'a str, &'a str),
    Manifests(&'a str),
    Manifest(&'a str, &'a str),
}

/// Splits `team/app/_tags/v1` into its target; `None` for paths that name nothing.
fn parse_target(path: &str) -> Option<Target<'_>> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let Some(marker) = path.find("/_") else {
        return (!path.is_empty()).then_some(Target::Repository(path));
    };
    let (name, rest) = (&path[..marker], &path[marker + 1..]);
    if name.is_empty() {
        return None;
    }
    let (kind, item) = match rest.split_once('/') {
        Some((kind, item)) => (kind, Some(item)),
        None => (rest, None),
    };
    match (kind, item) {
        ("_tags", None) => Some(Target::Tags(name)),
        ("_manifests", None) => Some(Target::Manifests(name)),
        ("_tags", Some(tag)) if !tag.is_empty() && !tag.contains('/') => {
            Some(Target::Tag(name, tag))
        }
        ("_manifests", Some(reference)) if !reference.is_empty() && !reference.contains('/') => {
            Some(Target::Manifest(name, reference))
        }
        _ => None,
    }
}

fn target(path: &str) -> Result<Target<'_>, ApiError> {
    parse_target(path).ok_or_else(|| ApiError::NotFound {
        message: format!(
            "/api/v1/repositories/{path} names nothing; use <name>, <name>/_tags[/<tag>] \
             or <name>/_manifests[/<digest or tag>]"
        ),
    })
}

fn method_not_allowed(method: &str) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// `GET` on any repository path.
pub(super) async fn get(State(state): Shared, Path(path): Path<String>, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    match target(&path)? {
        Target::Repository(name) => show(&state, &actor, name).await,
        Target::Tags(name) => list_tags(&state, &actor, name, &parts).await,
        Target::Tag(name, tag) => show_tag(&state, &actor, name, tag).await,
        Target::Manifests(name) => list_images(&state, &actor, name, &parts).await,
        Target::Manifest(name, reference) => show_image(&state, &actor, name, reference).await,
    }
}

/// `PUT` on a tag: point it at an existing image.
pub(super) async fn put(
    State(state): Shared,
    Path(path): Path<String>,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    match target(&path)? {
        Target::Tag(name, tag) => put_tag(&state, &actor, name, tag, &body).await,
        _ => Err(method_not_allowed("PUT")),
    }
}

/// `PATCH` on a repository (settings, attributes), a tag or an image (attributes).
pub(super) async fn patch(
    State(state): Shared,
    Path(path): Path<String>,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    match target(&path)? {
        Target::Repository(name) => update(&state, &actor, name, &body).await,
        Target::Tag(name, tag) => update_tag(&state, &actor, name, tag, &body).await,
        Target::Manifest(name, reference) => {
            update_image(&state, &actor, name, reference, &body).await
        }
        _ => Err(method_not_allowed("PATCH")),
    }
}

/// `DELETE` of a repository, a tag (untag) or an image with its tags.
pub(super) async fn delete(
    State(state): Shared,
    Path(path): Path<String>,
    parts: Parts,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    match target(&path)? {
        Target::Repository(name) => delete_repository(&state, &actor, name).await,
        Target::Tag(name, tag) => untag(&state, &actor, name, tag).await,
        Target::Manifest(name, reference) => delete_image(&state, &actor, name, reference).await,
        _ => Err(method_not_allowed("DELETE")),
    }
}

fn attributes_json(a: berth_meta::policy::Attributes) -> Value {
    json!({
        "write_enabled": a.write_enabled,
        "delete_enabled": a.delete_enabled,
        "read_enabled": a.read_enabled,
        "list_enabled": a.list_enabled,
    })
}

fn repository_json(r: &RepositoryRecord) -> Value {
    json!({
        "name": r.name,
        "created_at": time(r.created_at),
        "updated_at": time(r.updated_at),
        "last_push_at": optional_time(r.last_push_at),
        "tag_count": r.tag_count,
        "manifest_count": r.manifest_count,
        "size_bytes": r.size_bytes,
        "quota_bytes": r.settings.quota_bytes,
        "anonymous_pull": r.anonymous_pull,
        "tag_mutability": r.settings.mutability.mutability.as_str(),
        "mutability_exclusions": r.settings.mutability.exclusions,
        "scan_on_push": r.settings.scan_on_push,
        "encryption": r.settings.encryption.as_str(),
        "kms_key": r.settings.kms_key,
        "changeable_attributes": attributes_json(r.attributes),
    })
}

fn tag_json(t: &TagRecord) -> Value {
    json!({
        "name": t.name,
        "digest": t.digest.as_str(),
        "created_at": time(t.created_at),
        "updated_at": time(t.updated_at),
        "media_type": t.media_type,
        "size_bytes": t.image_size,
        "changeable_attributes": attributes_json(t.attributes),
    })
}

fn image_json(d: &ImageDescription) -> Value {
    let r = &d.record;
    let config = d.config.as_ref();
    let platforms: Vec<Value> = d
        .platforms
        .iter()
        .map(|p| {
            json!({
                "digest": p.digest.as_str(),
                "media_type": p.media_type,
                "os": p.os,
                "architecture": p.architecture,
                "variant": p.variant,
            })
        })
        .collect();
    json!({
        "digest": r.digest.as_str(),
        "tags": r.tags,
        "media_type": r.media_type,
        "artifact_type": r.artifact_type,
        "size_bytes": r.image_size,
        "manifest_size_bytes": r.manifest_size,
        "pushed_at": time(r.pushed_at),
        "last_pulled_at": optional_time(r.last_pulled_at),
        "subject": r.subject.as_ref().map(Digest::as_str),
        "config_digest": d.config_digest.as_ref().map(Digest::as_str),
        "layer_count": d.layer_count,
        "os": config.and_then(|c| c.os.as_deref()),
        "architecture": config.and_then(|c| c.architecture.as_deref()),
        "variant": config.and_then(|c| c.variant.as_deref()),
        "created": config.and_then(|c| c.created.as_deref()),
        "labels": config.map(|c| json!(c.labels)).unwrap_or_else(|| json!({})),
        "platforms": platforms,
        "changeable_attributes": attributes_json(r.attributes),
    })
}

fn repository_name(name: &str) -> Result<RepositoryName, ApiError> {
    Ok(RepositoryName::parse(name)?)
}

#[derive(Deserialize, Default)]
struct PageParams {
    n: Option<String>,
    last: Option<String>,
    orderby: Option<String>,
    tag_status: Option<String>,
}

impl PageParams {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.n.as_deref() {
            None | Some("") => Ok(DEFAULT_PAGE),
            Some(text) => match text.parse::<u32>() {
                Ok(n) if n > 0 => Ok(n.min(MAX_PAGE)),
                _ => Err(ApiError::QueryInvalid {
                    name: "n",
                    reason: format!("{text:?} is not a page size from 1 to {MAX_PAGE}"),
                }),
            },
        }
    }
}

/// A page of a listing as JSON under `key`, with `next` and a `Link` header when more
/// remain.
fn page_reply(parts: &Parts, key: &str, items: Vec<Value>, next: Option<String>) -> Response {
    let mut response = json_reply(StatusCode::OK, json!({ key: items, "next": next }));
    if let Some(cursor) = next {
        let mut query: Vec<(String, String)> =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
                .map(|q| q.0)
                .unwrap_or_default();
        query.retain(|(k, _)| k != "last");
        query.push(("last".into(), cursor));
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let link = format!("<{}?{encoded}>; rel=\"next\"", parts.uri.path());
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// A cursor of a time-ordered listing: `<unix millis>:<name or digest>`.
fn time_cursor(at: i64, key: &str) -> String {
    format!("{at}:{key}")
}

fn parse_time_cursor(text: &str) -> Result<(i64, String), ApiError> {
    text.split_once(':')
        .and_then(|(at, key)| Some((at.parse().ok()?, key.to_string())))
        .ok_or_else(|| ApiError::QueryInvalid {
            name: "last",
            reason: format!("{text:?} is not a cursor this listing returned as `next`"),
        })
}

async fn list_repositories_page(
    state: &AppState,
    actor: &Actor,
    last: Option<String>,
    limit: u32,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let mut items = Vec::new();
    let mut after = last;
    // Read in batches and keep what the caller may see until the page is full: one extra
    // row tells whether another page follows.
    loop {
        let batch = state
            .registry
            .repository_records(after.as_deref(), limit + 1)
            .await?;
        let exhausted = batch.len() <= limit as usize;
        after = batch.last().map(|r| r.name.clone());
        for record in batch.iter().filter(|r| actor.sees(&r.name)) {
            if items.len() == limit as usize {
                let next = items
                    .last()
                    .and_then(|v: &Value| v["name"].as_str())
                    .map(str::to_string);
                return Ok((items, next));
            }
            items.push(repository_json(record));
        }
        if exhausted {
            return Ok((items, None));
        }
    }
}

pub(super) async fn list(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    let params: PageParams = query(&parts)?;
    let (items, next) =
        list_repositories_page(&state, &actor, params.last.clone(), params.limit()?).await?;
    Ok(page_reply(&parts, "repositories", items, next))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    tag_mutability: Option<String>,
    #[serde(default)]
    mutability_exclusions: Vec<String>,
    #[serde(default)]
    scan_on_push: bool,
    encryption: Option<String>,
    kms_key: Option<String>,
    quota_bytes: Option<u64>,
}

fn parse_mutability(text: &str) -> Result<TagMutability, ApiError> {
    TagMutability::parse(text).ok_or_else(|| ApiError::BodyInvalid {
        reason: format!(
            "tag_mutability {text:?} is unknown; use MUTABLE, IMMUTABLE, \
             IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION"
        ),
    })
}

pub(super) async fn create(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    let body: CreateBody = parse_body(&body)?;
    let name = repository_name(&body.name)?;
    actor.require_owner_of(name.as_str())?;
    if body.quota_bytes.is_some() {
        actor.require_admin()?;
    }
    let encryption = match body.encryption.as_deref() {
        None => Encryption::None,
        Some(text) => Encryption::parse(text).ok_or_else(|| ApiError::BodyInvalid {
            reason: format!("encryption {text:?} is unknown; use NONE, AES256 or KMS"),
        })?,
    };
    let settings = RepositorySettings {
        mutability: MutabilityRule {
            mutability: match body.tag_mutability.as_deref() {
                None => TagMutability::Mutable,
                Some(text) => parse_mutability(text)?,
            },
            exclusions: body.mutability_exclusions,
        },
        scan_on_push: body.scan_on_push,
        encryption,
        kms_key: body.kms_key,
        quota_bytes: body.quota_bytes,
    };
    let record = state.registry.create_repository(&name, &settings).await?;
    actor.record(
        &state,
        "repository.create",
        Some(name.as_str()),
        format!(
            "tag_mutability={} encryption={}",
            settings.mutability.mutability.as_str(),
            settings.encryption.as_str()
        ),
    );
    Ok(json_reply(StatusCode::CREATED, repository_json(&record)))
}

async fn show(state: &AppState, actor: &Actor, name: &str) -> ApiResult {
    actor.require_read(name)?;
    let record = state.registry.repository(&repository_name(name)?).await?;
    Ok(json_reply(StatusCode::OK, repository_json(&record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    anonymous_pull: Option<bool>,
    tag_mutability: Option<String>,
    mutability_exclusions: Option<Vec<String>>,
    scan_on_push: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    quota_bytes: Option<Option<u64>>,
    #[serde(flatten)]
    attributes: AttributesBody,
}

/// Changeable attributes in a request body; absent ones stay as they are.
#[derive(Deserialize, Default)]
struct AttributesBody {
    write_enabled: Option<bool>,
    delete_enabled: Option<bool>,
    read_enabled: Option<bool>,
    list_enabled: Option<bool>,
}

impl AttributesBody {
    fn patch(&self) -> AttributesPatch {
        AttributesPatch {
            write_enabled: self.write_enabled,
            delete_enabled: self.delete_enabled,
            read_enabled: self.read_enabled,
            list_enabled: self.list_enabled,
        }
    }
}

/// The attributes a patch sets, for the audit log: `write_enabled=false ...`.
fn describe_patch(patch: &AttributesPatch) -> String {
    [
        ("write_enabled", patch.write_enabled),
        ("delete_enabled", patch.delete_enabled),
        ("read_enabled", patch.read_enabled),
        ("list_enabled", patch.list_enabled),
    ]
    .iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name}={v}")))
    .collect::<Vec<_>>()
    .join(" ")
}

async fn update(state: &AppState, actor: &Actor, name: &str, body: &Bytes) -> ApiResult {
    let body: UpdateBody = parse_body(body)?;
    let repository = repository_name(name)?;
    let changes_settings = body.anonymous_pull.is_some()
        || body.tag_mutability.is_some()
        || body.mutability_exclusions.is_some()
        || body.scan_on_push.is_some();
    if changes_settings {
        actor.require_owner_of(name)?;
    }
    if body.quota_bytes.is_some() {
        actor.require_admin()?;
    }
    let attributes = body.attributes.patch();
    if !attributes.is_empty() {
        actor.require(name, Action::MetadataWrite, "change attributes of")?;
    }
    let current = state.registry.repository(&repository).await?;

    let mutability = match (&body.tag_mutability, &body.mutability_exclusions) {
        (None, None) => None,
        (Some(text), exclusions) => Some(MutabilityRule {
            mutability: parse_mutability(text)?,
            exclusions: exclusions.clone().unwrap_or_default(),
        }),
        (None, Some(exclusions)) => Some(MutabilityRule {
            mutability: current.settings.mutability.mutability,
            exclusions: exclusions.clone(),
        }),
    };
    let patch = RepositoryPatch {
        mutability,
        scan_on_push: body.scan_on_push,
        quota_bytes: body.quota_bytes,
        attributes,
    };
    state
        .registry
        .update_repository(&repository, &patch)
        .await?;
    if let Some(enabled) = body.anonymous_pull {
        match state.auth.as_ref() {
            Some(authority) => {
                authority
                    .set_repository_anonymous_pull(name, enabled)
                    .await?
            }
            None => {
                state
                    .registry
                    .meta()
                    .set_anonymous_pull(name, enabled)
                    .await?
            }
        }
    }
    actor.record(
        state,
        "repository.update",
        Some(name),
        describe_update(&body, &patch),
    );
    let record = state.registry.repository(&repository).await?;
    Ok(json_reply(StatusCode::OK, repository_json(&record)))
}

fn describe_update(body: &UpdateBody, patch: &RepositoryPatch) -> String {
    let mut parts = Vec::new();
    if let Some(enabled) = body.anonymous_pull {
        parts.push(format!("anonymous_pull={enabled}"));
    }
    if let Some(rule) = &patch.mutability {
        parts.push(format!(
            "tag_mutability={} exclusions={}",
            rule.mutability.as_str(),
            rule.exclusions.join(",")
        ));
    }
    if let Some(scan) = patch.scan_on_push {
        parts.push(format!("scan_on_push={scan}"));
    }
    if let Some(quota) = patch.quota_bytes {
        parts.push(format!(
            "quota_bytes={}",
            quota.map_or_else(|| "none".to_string(), |q| q.to_string())
        ));
    }
    let attributes = describe_patch(&patch.attributes);
    if !attributes.is_empty() {
        parts.push(attributes);
    }
    parts.join(" ")
}

async fn delete_repository(state: &AppState, actor: &Actor, name: &str) -> ApiResult {
    actor.require(name, Action::Delete, "delete from")?;
    let deleted = state
        .registry
        .delete_repository(&repository_name(name)?)
        .await?;
    actor.record(
        state,
        "repository.delete",
        Some(name),
        format!("tags={} manifests={}", deleted.tags, deleted.manifests),
    );
    Ok(json_reply(
        StatusCode::OK,
        json!({ "deleted_tags": deleted.tags, "deleted_manifests": deleted.manifests }),
    ))
}

fn parse_tag_order(text: Option<&str>) -> Result<TagOrder, ApiError> {
    match text {
        None | Some("name") => Ok(TagOrder::Name),
        Some("time_desc") => Ok(TagOrder::TimeDesc),
        Some("time_asc") => Ok(TagOrder::TimeAsc),
        Some(other) => Err(ApiError::QueryInvalid {
            name: "orderby",
            reason: format!("{other:?} is unknown; use time_desc, time_asc or name"),
        }),
    }
}

async fn list_tags(state: &AppState, actor: &Actor, name: &str, parts: &Parts) -> ApiResult {
    actor.require_read(name)?;
    let params: PageParams = query(parts)?;
    let order = parse_tag_order(params.orderby.as_deref())?;
    let limit = params.limit()?;
    let after = match (&params.last, order) {
        (None, _) => None,
        (Some(name), TagOrder::Name) => Some(TagPosition {
            updated_at: 0,
            name: name.clone(),
        }),
        (Some(cursor), _) => {
            let (updated_at, name) = parse_time_cursor(cursor)?;
            Some(TagPosition { updated_at, name })
        }
    };
    let mut tags = state
        .registry
        .tag_records(&repository_name(name)?, order, after.as_ref(), limit + 1)
        .await?;
    let next = if tags.len() > limit as usize {
        tags.truncate(limit as usize);
        tags.last().map(|t| match order {
            TagOrder::Name => t.name.clone(),
            _ => time_cursor(t.updated_at, &t.name),
        })
    } else {
        None
    };
    let items = tags.iter().map(tag_json).collect();
    Ok(page_reply(parts, "tags", items, next))
}

fn tag_name(tag: &str) -> Result<Tag, ApiError> {
    Ok(Tag::parse(tag)?)
}

async fn show_tag(state: &AppState, actor: &Actor, name: &str, tag: &str) -> ApiResult {
    actor.require_read(name)?;
    let record = state
        .registry
        .tag_record(&repository_name(name)?, &tag_name(tag)?)
        .await?;
    Ok(json_reply(StatusCode::OK, tag_json(&record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutTagBody {
    /// The repository of the image to tag [default: the tag's own].
    source_repository: Option<String>,
    /// A tag or digest in the source repository.
    source_reference: String,
}

async fn put_tag(
    state: &AppState,
    actor: &Actor,
    name: &str,
    tag: &str,
    body: &Bytes,
) -> ApiResult {
    let body: PutTagBody = parse_body(body)?;
    let target = repository_name(name)?;
    let tag = tag_name(tag)?;
    let source = repository_name(body.source_repository.as_deref().unwrap_or(name))?;
    let reference = Reference::parse(&body.source_reference)?;
    actor.require(name, Action::Push, "push to")?;
    actor.require(source.as_str(), Action::Pull, "pull from")?;
    let digest = state
        .registry
        .tag_image(&source, &reference, &target, &tag)
        .await?;
    actor.record_content(
        state,
        "tag",
        name,
        &digest,
        format!("tag={tag} source={source}:{reference}"),
    );
    let record = state.registry.tag_record(&target, &tag).await?;
    Ok(json_reply(StatusCode::OK, tag_json(&record)))
}

async fn update_tag(
    state: &AppState,
    actor: &Actor,
    name: &str,
    tag: &str,
    body: &Bytes,
) -> ApiResult {
    let body: AttributesBody = parse_strict(body)?;
    actor.require(name, Action::MetadataWrite, "change attributes of")?;
    let patch = body.patch();
    let record = state
        .registry
        .update_tag_attributes(&repository_name(name)?, &tag_name(tag)?, patch)
        .await?;
    actor.record(
        state,
        "tag.update",
        Some(name),
        format!("tag={tag} {}", describe_patch(&patch)),
    );
    Ok(json_reply(StatusCode::OK, tag_json(&record)))
}

/// Attributes bodies name only known fields; `flatten` above rules out
/// `deny_unknown_fields`, so the check is made here.
fn parse_strict(body: &Bytes) -> Result<AttributesBody, ApiError> {
    let value: serde_json::Map<String, Value> = parse_body(body)?;
    const KNOWN: [&str; 4] = [
        "write_enabled",
        "delete_enabled",
        "read_enabled",
        "list_enabled",
    ];
    if let Some(unknown) = value.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::BodyInvalid {
            reason: format!(
                "unknown field `{unknown}`, expected one of {}",
                KNOWN.join(", ")
            ),
        });
    }
    serde_json::from_value(Value::Object(value)).map_err(|err| ApiError::BodyInvalid {
        reason: err.to_string(),
    })
}

async fn untag(state: &AppState, actor: &Actor, name: &str, tag: &str) -> ApiResult {
    actor.require(name, Action::Delete, "delete from")?;
    let repository = repository_name(name)?;
    let tag = tag_name(tag)?;
    state.registry.untag(&repository, &tag).await?;
    actor.record(state, "untag", Some(name), format!("tag={tag}"));
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn parse_image_order(text: Option<&str>) -> Result<ImageOrder, ApiError> {
    match text {
        None | Some("time_desc") => Ok(ImageOrder::TimeDesc),
        Some("time_asc") => Ok(ImageOrder::TimeAsc),
        Some(other) => Err(ApiError::QueryInvalid {
            name: "orderby",
            reason: format!("{other:?} is unknown; use time_desc or time_asc"),
        }),
    }
}

fn parse_tag_status(text: Option<&str>) -> Result<TagStatus, ApiError> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None | Some("any") => Ok(TagStatus::Any),
        Some("tagged") => Ok(TagStatus::Tagged),
        Some("untagged") => Ok(TagStatus::Untagged),
        Some(other) => Err(ApiError::QueryInvalid {
            name: "tag_status",
            reason: format!("{other:?} is unknown; use any, tagged or untagged"),
        }),
    }
}

async fn list_images(state: &AppState, actor: &Actor, name: &str, parts: &Parts) -> ApiResult {
    actor.require_read(name)?;
    let params: PageParams = query(parts)?;
    let order = parse_image_order(params.orderby.as_deref())?;
    let status = parse_tag_status(params.tag_status.as_deref())?;
    let limit = params.limit()?;
    let after = params
        .last
        .as_deref()
        .map(parse_time_cursor)
        .transpose()?
        .map(|(pushed_at, digest)| ImagePosition { pushed_at, digest });
    let mut images = state
        .registry
        .image_descriptions(
            &repository_name(name)?,
            order,
            after.as_ref(),
            status,
            limit + 1,
        )
        .await?;
    let next = if images.len() > limit as usize {
        images.truncate(limit as usize);
        images
            .last()
            .map(|d| time_cursor(d.record.pushed_at, d.record.digest.as_str()))
    } else {
        None
    };
    let items = images.iter().map(image_json).collect();
    Ok(page_reply(parts, "manifests", items, next))
}

async fn show_image(state: &AppState, actor: &Actor, name: &str, reference: &str) -> ApiResult {
    actor.require_read(name)?;
    let description = state
        .registry
        .image_description(&repository_name(name)?, &Reference::parse(reference)?)
        .await?;
    Ok(json_reply(StatusCode::OK, image_json(&description)))
}

async fn update_image(
    state: &AppState,
    actor: &Actor,
    name: &str,
    reference: &str,
    body: &Bytes,
) -> ApiResult {
    let body: AttributesBody = parse_strict(body)?;
    actor.require(name, Action::MetadataWrite, "change attributes of")?;
    let patch = body.patch();
    let description = state
        .registry
        .update_image_attributes(
            &repository_name(name)?,
            &Reference::parse(reference)?,
            patch,
        )
        .await?;
    actor.record_content(
        state,
        "manifest.update",
        name,
        &description.record.digest,
        describe_patch(&patch),
    );
    Ok(json_reply(StatusCode::OK, image_json(&description)))
}

async fn delete_image(state: &AppState, actor: &Actor, name: &str, reference: &str) -> ApiResult {
    actor.require(name, Action::Delete, "delete from")?;
    let digest = state
        .registry
        .delete_image(&repository_name(name)?, &Reference::parse(reference)?)
        .await?;
    actor.record_content(state, "delete", name, &digest, String::new());
    Ok(json_reply(
        StatusCode::OK,
        json!({ "digest": digest.as_str() }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_repositories_tags_and_manifests() {
        assert_eq!(
            parse_target("team/app"),
            Some(Target::Repository("team/app"))
        );
        assert_eq!(
            parse_target("team/app/"),
            Some(Target::Repository("team/app"))
        );
        assert_eq!(parse_target("a/b/c/_tags"), Some(Target::Tags("a/b/c")));
        assert_eq!(
            parse_target("team/app/_tags/v1.0"),
            Some(Target::Tag("team/app", "v1.0"))
        );
        assert_eq!(
            parse_target("app/_manifests"),
            Some(Target::Manifests("app"))
        );
        assert_eq!(
            parse_target("app/_manifests/sha256:abc"),
            Some(Target::Manifest("app", "sha256:abc"))
        );
        assert_eq!(parse_target(""), None);
        assert_eq!(parse_target("/_tags"), None);
        assert_eq!(parse_target("app/_tags/"), Some(Target::Tags("app")));
        assert_eq!(parse_target("app/_tags/a/b"), None);
        assert_eq!(parse_target("app/_other"), None);
        assert_eq!(
            parse_target("app/_manifests/"),
            Some(Target::Manifests("app"))
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = time_cursor(1_700_000_000_123, "sha256:abc");
        assert_eq!(
            parse_time_cursor(&cursor).unwrap(),
            (1_700_000_000_123, "sha256:abc".to_string())
        );
        assert!(parse_time_cursor("nonsense").is_err());
        assert!(parse_time_cursor("x:y").is_err());
    }
}
