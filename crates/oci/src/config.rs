//! What an image configuration says about its image: platform, creation time and labels.
//!
//! Only the fields listings report are read; everything else in the configuration is
//! ignored, and a configuration that is not a JSON object yields nothing rather than an
//! error, because a registry stores configurations it does not interpret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media_type;

/// The largest configuration read for a summary; larger ones are left unread.
pub const MAX_CONFIG_SUMMARY_BYTES: u64 = 1024 * 1024;

/// The parts of an image configuration that describe the image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The build time the image claims, as written (RFC 3339 by convention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `config.Labels`: `org.opencontainers.image.*`, `git.sha` and the like.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RawRuntimeConfig>,
}

#[derive(Deserialize)]
struct RawRuntimeConfig {
    #[serde(rename = "Labels", default)]
    labels: Option<BTreeMap<String, String>>,
}

impl ConfigSummary {
    /// Whether a blob of `media_type` is an image configuration worth summarising.
    pub fn applies_to(media_type: &str) -> bool {
        media_type == media_type::OCI_CONFIG || media_type == media_type::DOCKER_CONFIG
    }

    /// Reads the summary from configuration bytes; `None` when they are not a JSON
    /// object of the expected shape.
    pub fn parse(bytes: &[u8]) -> Option<ConfigSummary> {
        let raw: RawConfig = serde_json::from_slice(bytes).ok()?;
        Some(ConfigSummary {
            os: raw.os,
            architecture: raw.architecture,
            variant: raw.variant,
            created: raw.created,
            labels: raw.config.and_then(|c| c.labels).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_platform_time_and_labels() {
        let config = br#"{"architecture":"arm64","variant":"v8","os":"linux",
            "created":"2026-12-01T10:00:00Z",
            "config":{"Env":["PATH=/bin"],"Labels":{"git.sha":"abc123","build.date":"today"}},
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let summary = ConfigSummary::parse(config).expect("summary");
        assert_eq!(summary.os.as_deref(), Some("linux"));
        assert_eq!(summary.architecture.as_deref(), Some("arm64"));
        assert_eq!(summary.variant.as_deref(), Some("v8"));
        assert_eq!(summary.created.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert_eq!(summary.labels["git.sha"], "abc123");
        assert_eq!(summary.labels.len(), 2);
    }

    #[test]
    fn null_labels_and_missing_fields_are_empty() {
        let summary = ConfigSummary::parse(br#"{"config":{"Labels":null}}"#).expect("summary");
        assert_eq!(summary, ConfigSummary::default());
        assert_eq!(serde_json::to_string(&summary).unwrap(), "{}");
    }

    #[test]
    fn non_objects_yield_nothing() {
        assert_eq!(ConfigSummary::parse(b"[1,2]"), None);
        assert_eq!(ConfigSummary::parse(b"not json"), None);
        assert_eq!(ConfigSummary::parse(br#"{"os":7}"#), None);
    }

    #[test]
    fn only_image_configs_apply() {
        assert!(ConfigSummary::applies_to(media_type::OCI_CONFIG));
        assert!(ConfigSummary::applies_to(media_type::DOCKER_CONFIG));
        assert!(!ConfigSummary::applies_to(media_type::OCI_EMPTY));
    }
}
