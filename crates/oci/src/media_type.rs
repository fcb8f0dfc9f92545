//! Media type constants and checks for manifests, configs and layers.
//!
//! Only string inspection happens here: no normalisation of case, since
//! registries and clients compare media types byte for byte.

use crate::ManifestKind;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (the Docker counterpart of an OCI index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema 1 manifest (unsupported).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Signed Docker schema 1 manifest (unsupported).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// The OCI empty descriptor's media type (`{}`), used as config of artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Layer types whose content may live outside the registry (fetched from `urls`).
const NON_DISTRIBUTABLE: [&str; 5] = [
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/// Longest type or subtype name allowed by RFC 6838.
const MAX_RESTRICTED_NAME: usize = 127;

/// The media type of a Content-Type header value: parameters after ';' and
/// surrounding whitespace removed. `"application/json; charset=utf-8"` gives
/// `"application/json"`.
pub fn essence(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
}

/// Whether `media_type` is `type/subtype` with both parts RFC 6838
/// restricted names (no parameters, no whitespace).
pub fn is_valid(media_type: &str) -> bool {
    match media_type.split_once('/') {
        Some((kind, subtype)) => is_restricted_name(kind) && is_restricted_name(subtype),
        None => false,
    }
}

fn is_restricted_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else {
        return false;
    };
    let rest_ok = bytes[1..].iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
            )
    });
    first.is_ascii_alphanumeric() && rest_ok && bytes.len() <= MAX_RESTRICTED_NAME
}

/// The kind of manifest for the four supported manifest media types, else `None`.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// Whether a layer of this type may be absent from the registry (Docker
/// foreign layers and OCI non-distributable layers).
pub fn is_non_distributable(media_type: &str) -> bool {
    NON_DISTRIBUTABLE.contains(&media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essence_strips_parameters_and_whitespace() {
        assert_eq!(
            essence("application/json; charset=utf-8"),
            "application/json"
        );
        assert_eq!(essence("  application/json  "), "application/json");
        assert_eq!(essence(OCI_MANIFEST), OCI_MANIFEST);
        assert_eq!(essence(""), "");
        assert_eq!(essence(";x=y"), "");
    }

    #[test]
    fn validates_media_types() {
        for ok in [
            OCI_MANIFEST,
            OCI_EMPTY,
            DOCKER_SCHEMA1_SIGNED,
            "text/plain",
            "a/b",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "application",
            "application/",
            "/json",
            "application/json; charset=utf-8",
            "application/js on",
            "application/json/extra",
            ".app/json",
            "app/+json",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(is_valid(&format!("a/{}", "b".repeat(127))));
        assert!(!is_valid(&format!("a/{}", "b".repeat(128))));
    }

    #[test]
    fn knows_the_manifest_kinds() {
        assert_eq!(manifest_kind(OCI_MANIFEST), Some(ManifestKind::Image));
        assert_eq!(manifest_kind(DOCKER_MANIFEST), Some(ManifestKind::Image));
        assert_eq!(manifest_kind(OCI_INDEX), Some(ManifestKind::Index));
        assert_eq!(
            manifest_kind(DOCKER_MANIFEST_LIST),
            Some(ManifestKind::Index)
        );
        assert_eq!(manifest_kind(DOCKER_SCHEMA1), None);
        assert_eq!(manifest_kind(OCI_CONFIG), None);
        assert_eq!(manifest_kind("application/json"), None);
    }

    #[test]
    fn knows_non_distributable_layers() {
        assert!(is_non_distributable(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
        ));
        assert!(is_non_distributable(
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        ));
        assert!(!is_non_distributable(
            "application/vnd.oci.image.layer.v1.tar+gzip"
        ));
        assert!(!is_non_distributable(
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        ));
    }
}
