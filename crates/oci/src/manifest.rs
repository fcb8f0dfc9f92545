//! Manifest and index parsing and validation.
//!
//! [`Manifest::parse`] accepts OCI image manifests and indexes and Docker
//! schema 2 manifests and manifest lists. It checks the structure the registry
//! relies on (media type, descriptors, digests, sizes) and ignores unknown
//! fields, because the registry stores the pushed bytes verbatim and serves
//! them back unchanged. Every rejection names the offending field, such as
//! `layers[2].digest`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::media_type::{self, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::{Digest, OciError};

/// Largest manifest accepted, in bytes (4 MiB, as the distribution spec suggests).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

const SCHEMA1_REJECTED: &str =
    "Docker schema 1 manifests are not supported; push with a current client";

/// A reference to content: its media type, digest and size, plus optional metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size of the referenced content in bytes.
    pub size: u64,
    /// Alternative download locations (non-distributable layers); empty if none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form annotations; empty if none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Artifact type of the referenced manifest, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Platform of the referenced manifest (index entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Base64-encoded embedded content, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// The platform an image of an index runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Operating system version (`os.version`).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features (`os.features`).
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Reserved by the spec; kept for round trips.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// Whether a manifest describes one image (or artifact) or lists other manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// OCI image manifest or Docker schema 2 manifest: config plus layers.
    Image,
    /// OCI index or Docker manifest list: a list of manifests.
    Index,
}

/// A validated manifest or index, reduced to what the registry needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest's media type (one of the four supported ones).
    pub media_type: String,
    /// Image or index.
    pub kind: ManifestKind,
    /// The config descriptor; always `Some` for images, `None` for indexes.
    pub config: Option<Descriptor>,
    /// Layer descriptors of an image; empty for indexes.
    pub layers: Vec<Descriptor>,
    /// Child manifests of an index; empty for images.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API), if any.
    pub subject: Option<Descriptor>,
    /// The top-level `artifactType`, if any.
    pub artifact_type: Option<String>,
    /// Top-level annotations; empty if none.
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses and validates a manifest.
    ///
    /// `content_type` is the request's Content-Type (may be `None`, may carry
    /// parameters). When it names a manifest type it decides the media type,
    /// and a different `mediaType` in the body is an error; otherwise the
    /// body's `mediaType` decides. Fails with [`OciError::ManifestInvalid`]
    /// whose reason starts with the offending field.
    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Manifest, OciError> {
        let object = parse_object(bytes)?;
        let media_type = resolve_media_type(content_type, &object)?;
        check_schema_version(&object)?;
        let Some(kind) = media_type::manifest_kind(&media_type) else {
            return Err(invalid(
                "mediaType",
                format!(
                    "{media_type:?} is not a supported manifest type; {}",
                    accepted_types()
                ),
            ));
        };

        let mut manifest = Manifest {
            media_type,
            kind,
            config: None,
            layers: Vec::new(),
            manifests: Vec::new(),
            subject: optional(&object, "", "subject", descriptor)?,
            artifact_type: optional(&object, "", "artifactType", media_type_value)?,
            annotations: optional(&object, "", "annotations", annotations)?.unwrap_or_default(),
        };
        match kind {
            ManifestKind::Image => manifest.read_image_fields(&object)?,
            ManifestKind::Index => manifest.read_index_fields(&object)?,
        }
        Ok(manifest)
    }

    /// Config and layers that must be present in the repository before this
    /// manifest is accepted; non-distributable layers that carry `urls` are
    /// skipped because clients fetch them from elsewhere. Empty for indexes.
    pub fn required_blobs(&self) -> Vec<&Descriptor> {
        // Foreign layers without urls have nowhere else to come from, so they must be pushed.
        let layers = self
            .layers
            .iter()
            .filter(|l| l.urls.is_empty() || !media_type::is_non_distributable(&l.media_type));
        self.config.iter().chain(layers).collect()
    }

    /// The child manifests of an index; empty for images.
    pub fn child_manifests(&self) -> &[Descriptor] {
        &self.manifests
    }

    /// The artifact type reported by the referrers API: `artifactType`, else
    /// (image manifests only) the config's media type.
    pub fn referrer_artifact_type(&self) -> Option<&str> {
        if let Some(artifact_type) = &self.artifact_type {
            return Some(artifact_type);
        }
        match (self.kind, &self.config) {
            (ManifestKind::Image, Some(config)) => Some(&config.media_type),
            _ => None,
        }
    }

    fn read_image_fields(&mut self, object: &Map<String, Value>) -> Result<(), OciError> {
        if object.contains_key("manifests") {
            return Err(invalid(
                "manifests",
                format!("not allowed in an image manifest; a list of manifests needs {OCI_INDEX}"),
            ));
        }
        let config = object
            .get("config")
            .ok_or_else(|| invalid("config", "missing; an image manifest needs a config"))?;
        self.config = Some(descriptor("config", config)?);
        let layers = object.get("layers").ok_or_else(|| {
            invalid(
                "layers",
                "missing; an image manifest needs an array (it may be empty)",
            )
        })?;
        self.layers = descriptors("layers", layers)?;
        Ok(())
    }

    fn read_index_fields(&mut self, object: &Map<String, Value>) -> Result<(), OciError> {
        for field in ["config", "layers"] {
            if object.contains_key(field) {
                return Err(invalid(
                    field,
                    format!("not allowed in an index; an image needs {OCI_MANIFEST}"),
                ));
            }
        }
        let manifests = object
            .get("manifests")
            .ok_or_else(|| invalid("manifests", "missing; an index needs an array"))?;
        self.manifests = descriptors("manifests", manifests)?;
        Ok(())
    }
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, OciError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(OciError::manifest(format!(
            "the manifest is {} bytes; at most {MAX_MANIFEST_BYTES} are accepted",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        OciError::manifest(format!(
            "the manifest is not UTF-8 text (bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| OciError::manifest(format!("the manifest is not valid JSON: {e}")))?;
    match value {
        Value::Object(object) => Ok(object),
        other => Err(OciError::manifest(format!(
            "the manifest must be a JSON object, found {}",
            describe(&other)
        ))),
    }
}

fn resolve_media_type(
    content_type: Option<&str>,
    object: &Map<String, Value>,
) -> Result<String, OciError> {
    let body = optional(object, "", "mediaType", string_value)?;
    let header = content_type
        .map(media_type::essence)
        .filter(|t| media_type::manifest_kind(t).is_some() || is_schema1(t));
    let chosen = match (header, body.as_deref()) {
        (Some(header), Some(body)) if header != body => {
            return Err(invalid(
                "mediaType",
                format!("{body:?} differs from the Content-Type {header:?}; they must match"),
            ));
        }
        (Some(header), _) => header.to_owned(),
        (None, Some(body)) => body.to_owned(),
        (None, None) if object.get("schemaVersion") == Some(&Value::from(1)) => {
            return Err(OciError::manifest(SCHEMA1_REJECTED));
        }
        (None, None) => {
            return Err(invalid(
                "mediaType",
                format!(
                    "missing, and the Content-Type names no manifest type; {}",
                    accepted_types()
                ),
            ));
        }
    };
    if is_schema1(&chosen) {
        return Err(OciError::manifest(SCHEMA1_REJECTED));
    }
    Ok(chosen)
}

fn check_schema_version(object: &Map<String, Value>) -> Result<(), OciError> {
    match object.get("schemaVersion") {
        Some(v) if v == &Value::from(2) => Ok(()),
        Some(v) if v == &Value::from(1) => Err(OciError::manifest(SCHEMA1_REJECTED)),
        Some(v) => Err(invalid("schemaVersion", format!("must be 2, found {v}"))),
        None => Err(invalid("schemaVersion", "missing; must be 2")),
    }
}

fn is_schema1(media_type: &str) -> bool {
    media_type == media_type::DOCKER_SCHEMA1 || media_type == media_type::DOCKER_SCHEMA1_SIGNED
}

fn accepted_types() -> String {
    format!(
        "accepted types are {OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST} \
         and {DOCKER_MANIFEST_LIST}"
    )
}

fn invalid(path: &str, problem: impl AsRef<str>) -> OciError {
    OciError::manifest(format!("{path}: {}", problem.as_ref()))
}

/// The path of `field` inside `path`; the top level has the empty path.
fn child(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads an optional field; JSON `null` counts as absent, as serde's `Option` treats it.
fn optional<T>(
    object: &Map<String, Value>,
    path: &str,
    field: &str,
    read: fn(&str, &Value) -> Result<T, OciError>,
) -> Result<Option<T>, OciError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => read(&child(path, field), value).map(Some),
    }
}

fn required<'a>(
    object: &'a Map<String, Value>,
    path: &str,
    field: &str,
) -> Result<&'a Value, OciError> {
    object
        .get(field)
        .ok_or_else(|| invalid(&child(path, field), "missing; every descriptor needs it"))
}

fn string_value(path: &str, value: &Value) -> Result<String, OciError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid(
            path,
            format!("must be a string, found {}", describe(other)),
        )),
    }
}

fn media_type_value(path: &str, value: &Value) -> Result<String, OciError> {
    let text = string_value(path, value)?;
    if !media_type::is_valid(&text) {
        return Err(invalid(
            path,
            format!(
                "{text:?} is not a valid media type; expected 'type/subtype' without parameters"
            ),
        ));
    }
    Ok(text)
}

fn digest_value(path: &str, value: &Value) -> Result<Digest, OciError> {
    let text = string_value(path, value)?;
    Digest::parse(&text).map_err(|e| invalid(path, e.to_string()))
}

fn size_value(path: &str, value: &Value) -> Result<u64, OciError> {
    let Value::Number(n) = value else {
        return Err(invalid(
            path,
            format!("must be a number of bytes, found {}", describe(value)),
        ));
    };
    if let Some(size) = n.as_u64() {
        Ok(size)
    } else if n.is_i64() {
        Err(invalid(path, format!("must not be negative, found {n}")))
    } else {
        Err(invalid(
            path,
            format!("must be a whole number of bytes, found {n}"),
        ))
    }
}

fn string_list(path: &str, value: &Value) -> Result<Vec<String>, OciError> {
    let Value::Array(items) = value else {
        return Err(invalid(
            path,
            format!("must be an array, found {}", describe(value)),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| string_value(&format!("{path}[{i}]"), item))
        .collect()
}

fn annotations(path: &str, value: &Value) -> Result<BTreeMap<String, String>, OciError> {
    let Value::Object(map) = value else {
        return Err(invalid(
            path,
            format!("must be an object, found {}", describe(value)),
        ));
    };
    map.iter()
        .map(|(key, v)| Ok((key.clone(), string_value(&format!("{path}[{key:?}]"), v)?)))
        .collect()
}

fn platform(path: &str, value: &Value) -> Result<Platform, OciError> {
    Platform::deserialize(value).map_err(|e| invalid(path, e.to_string()))
}

fn descriptors(path: &str, value: &Value) -> Result<Vec<Descriptor>, OciError> {
    let Value::Array(items) = value else {
        return Err(invalid(
            path,
            format!("must be an array, found {}", describe(value)),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| descriptor(&format!("{path}[{i}]"), item))
        .collect()
}

fn descriptor(path: &str, value: &Value) -> Result<Descriptor, OciError> {
    let Value::Object(object) = value else {
        return Err(invalid(
            path,
            format!("must be a descriptor object, found {}", describe(value)),
        ));
    };
    let field = |name: &str| child(path, name);
    Ok(Descriptor {
        media_type: media_type_value(&field("mediaType"), required(object, path, "mediaType")?)?,
        digest: digest_value(&field("digest"), required(object, path, "digest")?)?,
        size: size_value(&field("size"), required(object, path, "size")?)?,
        urls: optional(object, path, "urls", string_list)?.unwrap_or_default(),
        annotations: optional(object, path, "annotations", annotations)?.unwrap_or_default(),
        artifact_type: optional(object, path, "artifactType", media_type_value)?,
        platform: optional(object, path, "platform", platform)?,
        data: optional(object, path, "data", string_value)?,
    })
}
