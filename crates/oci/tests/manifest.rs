//! Manifest and index validation through the public API: every supported type
//! accepted, and each rule rejected with a reason that names the field.

use berth_oci::{media_type, Digest, Manifest, ManifestKind, OciError};
use serde_json::{json, Value};

fn digest(seed: &str) -> String {
    Digest::sha256(seed.as_bytes()).to_string()
}

fn desc(media_type: &str, seed: &str, size: u64) -> Value {
    json!({ "mediaType": media_type, "digest": digest(seed), "size": size })
}

fn oci_image() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": desc(media_type::OCI_CONFIG, "config", 7023),
        "layers": [
            desc("application/vnd.oci.image.layer.v1.tar+gzip", "l0", 32654),
            desc("application/vnd.oci.image.layer.v1.tar+gzip", "l1", 16724),
        ],
        "annotations": { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
        "x-unknown-extension": [1, 2, 3]
    })
}

fn docker_image() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media_type::DOCKER_MANIFEST,
        "config": desc(media_type::DOCKER_CONFIG, "config", 1470),
        "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", "l0", 977)],
    })
}

fn index(media_type: &str) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [
            {
                "mediaType": media_type::OCI_MANIFEST,
                "digest": digest("amd64"),
                "size": 7143,
                "platform": { "architecture": "amd64", "os": "linux" }
            },
            {
                "mediaType": media_type::OCI_MANIFEST,
                "digest": digest("arm64"),
                "size": 7682,
                "platform": {
                    "architecture": "arm64", "os": "linux", "variant": "v8",
                    "os.version": "10.0", "os.features": ["win32k"]
                }
            }
        ]
    })
}

/// Sets the value at a JSON pointer, creating the last key if absent.
fn set(body: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    match body.pointer_mut(parent).expect("parent exists") {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().expect("index")] = value,
        other => panic!("cannot set inside {other}"),
    }
}

fn parse(content_type: Option<&str>, value: &Value) -> Result<Manifest, OciError> {
    Manifest::parse(content_type, value.to_string().as_bytes())
}

fn reason(content_type: Option<&str>, value: &Value) -> String {
    match parse(content_type, value) {
        Err(OciError::ManifestInvalid { reason }) => reason,
        other => panic!("expected ManifestInvalid, got {other:?}"),
    }
}

#[test]
fn accepts_oci_image_manifest() {
    let m = parse(Some(media_type::OCI_MANIFEST), &oci_image()).expect("valid");
    assert_eq!(m.kind, ManifestKind::Image);
    assert_eq!(m.media_type, media_type::OCI_MANIFEST);
    assert_eq!(m.layers.len(), 2);
    assert_eq!(m.layers[1].size, 16724);
    assert_eq!(m.layers[0].digest.to_string(), digest("l0"));
    assert_eq!(m.config.as_ref().map(|c| c.size), Some(7023));
    assert!(m.child_manifests().is_empty());
    assert_eq!(m.annotations.len(), 1);
    assert_eq!(m.referrer_artifact_type(), Some(media_type::OCI_CONFIG));
    let required: Vec<_> = m.required_blobs().iter().map(|d| d.size).collect();
    assert_eq!(required, [7023, 32654, 16724]);
}

#[test]
fn accepts_docker_image_manifest_with_content_type_parameters() {
    let ct = format!("{}; charset=utf-8", media_type::DOCKER_MANIFEST);
    let m = parse(Some(&ct), &docker_image()).expect("valid");
    assert_eq!(m.kind, ManifestKind::Image);
    assert_eq!(m.media_type, media_type::DOCKER_MANIFEST);
}

#[test]
fn accepts_both_index_types() {
    for mt in [media_type::OCI_INDEX, media_type::DOCKER_MANIFEST_LIST] {
        let m = parse(Some(mt), &index(mt)).expect("valid");
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.child_manifests().len(), 2);
        assert!(m.required_blobs().is_empty());
        assert_eq!(m.referrer_artifact_type(), None);
        let platform = m.manifests[1].platform.as_ref().expect("platform");
        assert_eq!(platform.variant.as_deref(), Some("v8"));
        assert_eq!(platform.os_version.as_deref(), Some("10.0"));
        assert_eq!(platform.os_features, ["win32k"]);
    }
}

#[test]
fn media_type_comes_from_body_when_content_type_is_generic() {
    for ct in [
        None,
        Some("application/json"),
        Some("application/octet-stream"),
    ] {
        let m = parse(ct, &oci_image()).expect("valid");
        assert_eq!(m.media_type, media_type::OCI_MANIFEST);
    }
}

#[test]
fn media_type_comes_from_content_type_when_body_has_none() {
    let mut body = oci_image();
    body.as_object_mut().expect("object").remove("mediaType");
    let m = parse(Some(media_type::OCI_MANIFEST), &body).expect("valid");
    assert_eq!(m.media_type, media_type::OCI_MANIFEST);
    let r = reason(None, &body);
    assert!(r.starts_with("mediaType: missing"), "{r}");
    assert!(r.contains(media_type::DOCKER_MANIFEST_LIST), "{r}");
}

#[test]
fn rejects_content_type_and_body_mismatch() {
    let r = reason(Some(media_type::DOCKER_MANIFEST), &oci_image());
    assert!(
        r.starts_with("mediaType:") && r.contains("must match"),
        "{r}"
    );
}

#[test]
fn rejects_unknown_media_type() {
    let mut body = oci_image();
    body["mediaType"] = json!("application/vnd.example+json");
    let r = reason(None, &body);
    assert!(r.contains("not a supported manifest type"), "{r}");
    body["mediaType"] = json!(42);
    assert!(reason(None, &body).starts_with("mediaType: must be a string"));
}

#[test]
fn rejects_docker_schema1() {
    let body = json!({ "schemaVersion": 1, "name": "x", "tag": "y", "fsLayers": [] });
    let expected = "Docker schema 1 manifests are not supported; push with a current client";
    assert_eq!(reason(None, &body), expected);
    assert_eq!(
        reason(Some(media_type::DOCKER_SCHEMA1_SIGNED), &body),
        expected
    );
    assert_eq!(reason(Some(media_type::DOCKER_SCHEMA1), &body), expected);
}

#[test]
fn rejects_bad_schema_version() {
    let mut body = oci_image();
    body["schemaVersion"] = json!(3);
    assert_eq!(reason(None, &body), "schemaVersion: must be 2, found 3");
    body["schemaVersion"] = json!("2");
    assert!(reason(None, &body).starts_with("schemaVersion: must be 2"));
    body.as_object_mut()
        .expect("object")
        .remove("schemaVersion");
    assert_eq!(reason(None, &body), "schemaVersion: missing; must be 2");
}

#[test]
fn rejects_non_objects_and_bad_bytes() {
    for bytes in [
        &b"[]"[..],
        b"\"x\"",
        b"null",
        b"",
        b"{",
        b"\xff\xfe{}",
        b"{} {}",
    ] {
        let r = Manifest::parse(None, bytes).expect_err("invalid");
        assert!(matches!(r, OciError::ManifestInvalid { .. }), "{r:?}");
    }
    let r = Manifest::parse(None, b"[1]").expect_err("array");
    assert_eq!(
        r.to_string(),
        "invalid manifest: the manifest must be a JSON object, found an array"
    );
}

#[test]
fn rejects_oversized_manifest() {
    let big = vec![b' '; berth_oci::MAX_MANIFEST_BYTES + 1];
    let r = Manifest::parse(None, &big).expect_err("too big");
    assert!(r.to_string().contains("at most 4194304"), "{r}");
}

#[test]
fn image_requires_config_and_layers() {
    let mut body = oci_image();
    body.as_object_mut().expect("object").remove("config");
    assert!(reason(None, &body).starts_with("config: missing"));
    let mut body = oci_image();
    body.as_object_mut().expect("object").remove("layers");
    assert!(reason(None, &body).starts_with("layers: missing"));
    let mut body = oci_image();
    body["layers"] = json!({});
    assert_eq!(
        reason(None, &body),
        "layers: must be an array, found an object"
    );
}

#[test]
fn image_and_index_fields_do_not_mix() {
    let mut image = oci_image();
    image["manifests"] = json!([]);
    assert!(reason(None, &image).starts_with("manifests: not allowed in an image manifest"));
    let mut idx = index(media_type::OCI_INDEX);
    idx["layers"] = json!([]);
    assert!(reason(None, &idx).starts_with("layers: not allowed in an index"));
    let mut idx = index(media_type::OCI_INDEX);
    idx["config"] = desc(media_type::OCI_CONFIG, "c", 1);
    assert!(reason(None, &idx).starts_with("config: not allowed in an index"));
    let mut idx = index(media_type::OCI_INDEX);
    idx.as_object_mut().expect("object").remove("manifests");
    assert!(reason(None, &idx).starts_with("manifests: missing"));
}

#[test]
fn descriptor_errors_name_the_field() {
    let cases = [
        (
            "/layers/1/digest",
            json!("sha256:abc"),
            "layers[1].digest: invalid digest",
        ),
        (
            "/layers/1/digest",
            json!(null),
            "layers[1].digest: must be a string",
        ),
        (
            "/layers/0/size",
            json!(-1),
            "layers[0].size: must not be negative, found -1",
        ),
        (
            "/layers/0/size",
            json!(1.5),
            "layers[0].size: must be a whole number",
        ),
        (
            "/layers/0/size",
            json!("12"),
            "layers[0].size: must be a number of bytes",
        ),
        (
            "/layers/0/mediaType",
            json!("not a type"),
            "layers[0].mediaType: \"not a type\"",
        ),
        (
            "/config/urls",
            json!(["ok", 3]),
            "config.urls[1]: must be a string",
        ),
        (
            "/config/annotations",
            json!({"k": 1}),
            "config.annotations[\"k\"]: must be",
        ),
        (
            "/config/artifactType",
            json!("x"),
            "config.artifactType: \"x\" is not a valid",
        ),
        (
            "/config/data",
            json!(false),
            "config.data: must be a string",
        ),
        (
            "/layers/0",
            json!("sha256:x"),
            "layers[0]: must be a descriptor object",
        ),
        (
            "/annotations",
            json!(["a"]),
            "annotations: must be an object",
        ),
        (
            "/artifactType",
            json!("bad"),
            "artifactType: \"bad\" is not a valid media type",
        ),
        (
            "/subject",
            json!({"mediaType": "a/b"}),
            "subject.digest: missing",
        ),
    ];
    for (pointer, replacement, expected) in cases {
        let mut body = oci_image();
        set(&mut body, pointer, replacement);
        let r = reason(None, &body);
        assert!(r.starts_with(expected), "{pointer}: {r}");
    }
}

#[test]
fn missing_descriptor_fields_are_named() {
    for field in ["mediaType", "digest", "size"] {
        let mut body = docker_image();
        body["config"]
            .as_object_mut()
            .expect("object")
            .remove(field);
        assert_eq!(
            reason(None, &body),
            format!("config.{field}: missing; every descriptor needs it")
        );
    }
}

#[test]
fn index_entry_platform_is_checked() {
    let mut idx = index(media_type::OCI_INDEX);
    idx["manifests"][0]["platform"] = json!({ "architecture": "amd64" });
    let r = reason(None, &idx);
    assert!(
        r.starts_with("manifests[0].platform: missing field `os`"),
        "{r}"
    );
}

#[test]
fn artifact_with_empty_layers_subject_and_artifact_type() {
    let body = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1+json",
        "config": desc(media_type::OCI_EMPTY, "{}", 2),
        "layers": [],
        "subject": desc(media_type::OCI_MANIFEST, "target", 1234),
    });
    let m = parse(None, &body).expect("valid");
    assert_eq!(
        m.referrer_artifact_type(),
        Some("application/vnd.example.sbom.v1+json")
    );
    assert_eq!(m.subject.as_ref().map(|s| s.size), Some(1234));
    assert_eq!(m.required_blobs().len(), 1);
}

#[test]
fn null_optional_fields_count_as_absent() {
    let mut body = oci_image();
    body["subject"] = Value::Null;
    body["annotations"] = Value::Null;
    let m = parse(None, &body).expect("valid");
    assert!(m.subject.is_none());
    assert!(m.annotations.is_empty());
}

#[test]
fn non_distributable_layers_with_urls_are_not_required() {
    let foreign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    let mut body = docker_image();
    let mut with_urls = desc(foreign, "win", 100);
    with_urls["urls"] = json!(["https://example.invalid/layer"]);
    body["layers"] = json!([with_urls, desc(foreign, "no-urls", 200)]);
    let m = parse(None, &body).expect("valid");
    let required: Vec<_> = m.required_blobs().iter().map(|d| d.size).collect();
    assert_eq!(required, [1470, 200]);
    assert_eq!(m.layers[0].urls.len(), 1);
}

#[test]
fn descriptor_serde_round_trip_skips_empty_fields() {
    let m = parse(None, &oci_image()).expect("valid");
    let layer = &m.layers[0];
    let text = serde_json::to_string(layer).expect("serialize");
    assert!(
        !text.contains("urls") && !text.contains("platform"),
        "{text}"
    );
    let back: berth_oci::Descriptor = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(&back, layer);
    let idx = parse(None, &index(media_type::OCI_INDEX)).expect("valid");
    let text = serde_json::to_string(&idx.manifests[1]).expect("serialize");
    assert!(text.contains("\"os.version\":\"10.0\""), "{text}");
}
