//! The distribution spec's error codes and this crate's error type.
//!
//! [`ErrorCode`] is the single table of code string, default HTTP status and the
//! spec's short description; every other crate maps its failures onto it.
//! [`OciError`] messages are written for a person: they say what is wrong and
//! what is expected.

/// The spec's error codes: the single table of code string, HTTP status and description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: the blob is not in the repository.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: the upload cannot proceed.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: the upload session does not exist.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: malformed digest, or content that does not match it.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: a manifest references a blob or manifest not present.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: the manifest failed validation.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: no such manifest in the repository.
    ManifestUnknown,
    /// `NAME_INVALID`: the repository name does not match the grammar.
    NameInvalid,
    /// `NAME_UNKNOWN`: the repository does not exist.
    NameUnknown,
    /// `SIZE_INVALID`: declared length and content length differ.
    SizeInvalid,
    /// `UNAUTHORIZED`: authentication required.
    Unauthorized,
    /// `DENIED`: authenticated but not allowed.
    Denied,
    /// `UNSUPPORTED`: the operation is not supported.
    Unsupported,
    /// `TOOMANYREQUESTS`: rate limited.
    TooManyRequests,
    /// `UNKNOWN`: an internal error (not in the spec's table; used as Distribution does).
    Unknown,
}

impl ErrorCode {
    /// Every code, in the spec's table order, `Unknown` last.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BlobUnknown,
        ErrorCode::BlobUploadInvalid,
        ErrorCode::BlobUploadUnknown,
        ErrorCode::DigestInvalid,
        ErrorCode::ManifestBlobUnknown,
        ErrorCode::ManifestInvalid,
        ErrorCode::ManifestUnknown,
        ErrorCode::NameInvalid,
        ErrorCode::NameUnknown,
        ErrorCode::SizeInvalid,
        ErrorCode::Unauthorized,
        ErrorCode::Denied,
        ErrorCode::Unsupported,
        ErrorCode::TooManyRequests,
        ErrorCode::Unknown,
    ];

    /// The `code` string of the spec's JSON error body, e.g. `"BLOB_UNKNOWN"`.
    pub fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The default HTTP status for this code (a handler may choose another).
    pub fn status(self) -> u16 {
        self.row().1
    }

    /// The spec's own short message, e.g. `"blob unknown to registry"`.
    pub fn description(self) -> &'static str {
        self.row().2
    }

    fn row(self) -> (&'static str, u16, &'static str) {
        match self {
            Self::BlobUnknown => ("BLOB_UNKNOWN", 404, "blob unknown to registry"),
            Self::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid"),
            Self::BlobUploadUnknown => (
                "BLOB_UPLOAD_UNKNOWN",
                404,
                "blob upload unknown to registry",
            ),
            Self::DigestInvalid => (
                "DIGEST_INVALID",
                400,
                "provided digest did not match uploaded content",
            ),
            Self::ManifestBlobUnknown => (
                "MANIFEST_BLOB_UNKNOWN",
                400,
                "manifest references a manifest or blob unknown to registry",
            ),
            Self::ManifestInvalid => ("MANIFEST_INVALID", 400, "manifest invalid"),
            Self::ManifestUnknown => ("MANIFEST_UNKNOWN", 404, "manifest unknown to registry"),
            Self::NameInvalid => ("NAME_INVALID", 400, "invalid repository name"),
            Self::NameUnknown => ("NAME_UNKNOWN", 404, "repository name not known to registry"),
            Self::SizeInvalid => (
                "SIZE_INVALID",
                400,
                "provided length did not match content length",
            ),
            Self::Unauthorized => ("UNAUTHORIZED", 401, "authentication required"),
            Self::Denied => ("DENIED", 403, "requested access to the resource is denied"),
            Self::Unsupported => ("UNSUPPORTED", 405, "the operation is unsupported"),
            Self::TooManyRequests => ("TOOMANYREQUESTS", 429, "too many requests"),
            Self::Unknown => ("UNKNOWN", 500, "unknown error"),
        }
    }
}

/// Why a digest, name, tag or manifest was rejected.
///
/// `input` holds the offending text, cut to a few hundred characters so that a
/// hostile input cannot blow up logs or error bodies.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OciError {
    /// A digest string does not match the grammar or uses an unsupported algorithm.
    #[error("invalid digest {input:?}: {reason}")]
    DigestInvalid {
        /// The rejected text (possibly shortened).
        input: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A repository name does not match the grammar.
    #[error("invalid repository name {input:?}: {reason}")]
    NameInvalid {
        /// The rejected text (possibly shortened).
        input: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A tag does not match the grammar.
    #[error("invalid tag {input:?}: {reason}")]
    TagInvalid {
        /// The rejected text (possibly shortened).
        input: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// A manifest or index failed validation; `reason` names the field.
    #[error("invalid manifest: {reason}")]
    ManifestInvalid {
        /// What is wrong, starting with the field path, e.g. `layers[2].digest: ...`.
        reason: String,
    },
}

impl OciError {
    /// The spec's code for this error. A bad tag maps to `MANIFEST_INVALID`
    /// because the spec has no tag code; a caller may pick another.
    pub fn code(&self) -> ErrorCode {
        match self {
            OciError::DigestInvalid { .. } => ErrorCode::DigestInvalid,
            OciError::NameInvalid { .. } => ErrorCode::NameInvalid,
            OciError::TagInvalid { .. } => ErrorCode::ManifestInvalid,
            OciError::ManifestInvalid { .. } => ErrorCode::ManifestInvalid,
        }
    }

    pub(crate) fn digest(input: &str, reason: impl Into<String>) -> OciError {
        OciError::DigestInvalid {
            input: clip(input),
            reason: reason.into(),
        }
    }

    pub(crate) fn name(input: &str, reason: impl Into<String>) -> OciError {
        OciError::NameInvalid {
            input: clip(input),
            reason: reason.into(),
        }
    }

    pub(crate) fn tag(input: &str, reason: impl Into<String>) -> OciError {
        OciError::TagInvalid {
            input: clip(input),
            reason: reason.into(),
        }
    }

    pub(crate) fn manifest(reason: impl Into<String>) -> OciError {
        OciError::ManifestInvalid {
            reason: reason.into(),
        }
    }
}

/// Longest input kept verbatim in an error; longer ones are shortened.
const MAX_ECHOED_CHARS: usize = 300;

fn clip(input: &str) -> String {
    match input.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((end, _)) => format!("{}...", &input[..end]),
        None => input.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_has_a_unique_upper_case_string() {
        let strings: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(strings.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            assert!(!code.description().is_empty());
        }
    }

    #[test]
    fn all_lists_every_variant_once() {
        let set: HashSet<_> = ErrorCode::ALL.iter().collect();
        assert_eq!(set.len(), 15);
    }

    #[test]
    fn statuses_match_the_table() {
        let expected = [
            ("BLOB_UNKNOWN", 404),
            ("BLOB_UPLOAD_INVALID", 400),
            ("BLOB_UPLOAD_UNKNOWN", 404),
            ("DIGEST_INVALID", 400),
            ("MANIFEST_BLOB_UNKNOWN", 400),
            ("MANIFEST_INVALID", 400),
            ("MANIFEST_UNKNOWN", 404),
            ("NAME_INVALID", 400),
            ("NAME_UNKNOWN", 404),
            ("SIZE_INVALID", 400),
            ("UNAUTHORIZED", 401),
            ("DENIED", 403),
            ("UNSUPPORTED", 405),
            ("TOOMANYREQUESTS", 429),
            ("UNKNOWN", 500),
        ];
        let actual: Vec<_> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), c.status()))
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn descriptions_are_the_specs() {
        assert_eq!(
            ErrorCode::BlobUnknown.description(),
            "blob unknown to registry"
        );
        assert_eq!(
            ErrorCode::NameInvalid.description(),
            "invalid repository name"
        );
        assert_eq!(
            ErrorCode::TooManyRequests.description(),
            "too many requests"
        );
    }

    #[test]
    fn error_codes_map_as_documented() {
        assert_eq!(OciError::digest("x", "r").code(), ErrorCode::DigestInvalid);
        assert_eq!(OciError::name("x", "r").code(), ErrorCode::NameInvalid);
        assert_eq!(OciError::tag("x", "r").code(), ErrorCode::ManifestInvalid);
        assert_eq!(OciError::manifest("r").code(), ErrorCode::ManifestInvalid);
    }

    #[test]
    fn long_inputs_are_shortened_in_errors() {
        let long = "a".repeat(10_000);
        let message = OciError::name(&long, "too long").to_string();
        assert!(message.len() < 400, "{}", message.len());
        assert!(message.contains("..."));
        let short = OciError::name("Foo", "upper case").to_string();
        assert_eq!(short, "invalid repository name \"Foo\": upper case");
    }
}
