//! Repository names, tags and references, parsed by hand against the
//! distribution spec's grammar.
//!
//! A value of these types is always valid, so code holding one can build
//! storage keys and URLs from it without escaping. Every rejection says which
//! rule was broken and where.

use std::fmt;
use std::str::FromStr;

use crate::{Digest, OciError};

/// Longest repository name accepted, in characters.
const MAX_NAME_LEN: usize = 255;
/// Longest tag accepted, in characters.
const MAX_TAG_LEN: usize = 128;

const NAME_RULE: &str =
    "components must be lower-case letters and digits separated by '.', '_', '__' or '-'";

/// A repository name such as `team/app/api`.
///
/// Grammar: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`,
/// at most 255 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Parses and validates a repository name.
    ///
    /// Fails with [`OciError::NameInvalid`] naming the broken rule: empty, too
    /// long, upper case, bad character, empty component, leading or trailing
    /// separator, or a separator such as `___` that the grammar does not allow.
    pub fn parse(s: &str) -> Result<RepositoryName, OciError> {
        if s.is_empty() {
            return Err(OciError::name(s, "the name must not be empty"));
        }
        check_name_characters(s)?;
        if s.len() > MAX_NAME_LEN {
            return Err(OciError::name(
                s,
                format!(
                    "the name is {} characters long; at most {MAX_NAME_LEN} are allowed",
                    s.len()
                ),
            ));
        }
        let mut start = 0;
        for component in s.split('/') {
            check_component(s, component, start)?;
            start += component.len() + 1;
        }
        Ok(RepositoryName(s.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_name_characters(s: &str) -> Result<(), OciError> {
    for (i, c) in s.chars().enumerate() {
        let position = i + 1;
        if c.is_ascii_uppercase() {
            return Err(OciError::name(
                s,
                format!("upper-case letter {c:?} at position {position}; {NAME_RULE}"),
            ));
        }
        let allowed = c.is_ascii_lowercase() || c.is_ascii_digit();
        if !allowed && !matches!(c, '.' | '_' | '-' | '/') {
            return Err(OciError::name(
                s,
                format!("character {c:?} at position {position} is not allowed; {NAME_RULE}"),
            ));
        }
    }
    Ok(())
}

/// Checks one path component; `start` is its byte offset in `full` (all ASCII here).
fn check_component(full: &str, component: &str, start: usize) -> Result<(), OciError> {
    if component.is_empty() {
        return Err(OciError::name(
            full,
            format!(
                "empty path component at position {}; remove the leading, trailing or \
                 doubled '/'",
                start + 1
            ),
        ));
    }
    let bytes = component.as_bytes();
    if !bytes[0].is_ascii_alphanumeric() || !bytes[bytes.len() - 1].is_ascii_alphanumeric() {
        return Err(OciError::name(
            full,
            format!(
                "component {component:?} starts or ends with a separator; each component must \
                 start and end with a lower-case letter or digit"
            ),
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let run = &component[run_start..i];
        let valid = matches!(run, "." | "_" | "__") || run.bytes().all(|b| b == b'-');
        if !valid {
            return Err(OciError::name(
                full,
                format!(
                    "separator {run:?} at position {} is not allowed; use '.', '_', '__' \
                     or one or more '-'",
                    start + run_start + 1
                ),
            ));
        }
    }
    Ok(())
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RepositoryName {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepositoryName::parse(s)
    }
}

/// A tag such as `latest` or `v1.2.3`: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Parses and validates a tag.
    ///
    /// Fails with [`OciError::TagInvalid`] when empty, longer than 128
    /// characters, not starting with a letter, digit or '_', or containing a
    /// character other than letters, digits, '.', '_' and '-'.
    pub fn parse(s: &str) -> Result<Tag, OciError> {
        const RULE: &str = "a tag is up to 128 letters, digits, '.', '_' or '-', \
                            not starting with '.' or '-'";
        let Some(first) = s.chars().next() else {
            return Err(OciError::tag(s, "the tag must not be empty"));
        };
        if !(first.is_ascii_alphanumeric() || first == '_') {
            return Err(OciError::tag(
                s,
                format!("the tag starts with {first:?}; {RULE}"),
            ));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if let Some((i, c)) = s.chars().enumerate().find(|&(_, c)| !allowed(c)) {
            return Err(OciError::tag(
                s,
                format!(
                    "character {c:?} at position {} is not allowed; {RULE}",
                    i + 1
                ),
            ));
        }
        if s.len() > MAX_TAG_LEN {
            return Err(OciError::tag(
                s,
                format!(
                    "the tag is {} characters long; at most {MAX_TAG_LEN} are allowed",
                    s.len()
                ),
            ));
        }
        Ok(Tag(s.to_owned()))
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Tag {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tag::parse(s)
    }
}

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A tag, e.g. `latest`.
    Tag(Tag),
    /// A digest, e.g. `sha256:...`.
    Digest(Digest),
}

impl Reference {
    /// Parses a reference: text containing ':' is a digest, anything else a tag.
    ///
    /// Fails with the digest's or the tag's error.
    pub fn parse(s: &str) -> Result<Reference, OciError> {
        if s.contains(':') {
            Digest::parse(s).map(Reference::Digest)
        } else {
            Tag::parse(s).map(Reference::Tag)
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => tag.fmt(f),
            Reference::Digest(digest) => digest.fmt(f),
        }
    }
}

impl FromStr for Reference {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_reason(input: &str) -> String {
        match RepositoryName::parse(input) {
            Err(OciError::NameInvalid { reason, .. }) => reason,
            other => panic!("expected NameInvalid for {input:?}, got {other:?}"),
        }
    }

    fn tag_reason(input: &str) -> String {
        match Tag::parse(input) {
            Err(OciError::TagInvalid { reason, .. }) => reason,
            other => panic!("expected TagInvalid for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn accepts_valid_names() {
        for name in [
            "a",
            "library/alpine",
            "team/app/api",
            "a__b",
            "a--b",
            "a---b",
            "a.b_c-d",
            "0/1/2",
            "my-org.io/sub_dir/img",
        ] {
            let parsed = RepositoryName::parse(name).expect(name);
            assert_eq!(parsed.as_str(), name);
            assert_eq!(parsed.to_string(), name);
        }
    }

    #[test]
    fn rejects_bad_separators() {
        assert!(name_reason("a___b").contains("\"___\""));
        assert!(name_reason("a..b").contains("\"..\""));
        assert!(name_reason("a._b").contains("position 2"));
        assert!(name_reason("a-_b").contains("not allowed"));
    }

    #[test]
    fn rejects_leading_and_trailing_separators() {
        for name in ["-a", "a-", "_a", "a.", "x/-a", "x/a_"] {
            assert!(name_reason(name).contains("starts or ends"), "{name}");
        }
    }

    #[test]
    fn rejects_empty_components() {
        assert!(name_reason("a//b").contains("position 3"));
        assert!(name_reason("/a").contains("empty path component"));
        assert!(name_reason("a/").contains("empty path component"));
    }

    #[test]
    fn rejects_upper_case_and_bad_characters() {
        let upper = RepositoryName::parse("Foo").expect_err("upper case");
        assert_eq!(
            upper.to_string(),
            format!(
                "invalid repository name \"Foo\": upper-case letter 'F' at position 1; {NAME_RULE}"
            )
        );
        assert!(name_reason("ab:c").contains("':' at position 3"));
        assert!(name_reason("a b").contains("' '"));
        assert!(name_reason("café").contains("'é'"));
        assert!(name_reason("").contains("empty"));
    }

    #[test]
    fn enforces_length_limit() {
        let ok = format!("{}/{}", "a".repeat(127), "b".repeat(127));
        assert_eq!(ok.len(), 255);
        assert!(RepositoryName::parse(&ok).is_ok());
        let long = "a".repeat(256);
        assert!(name_reason(&long).contains("256 characters"));
    }

    #[test]
    fn accepts_valid_tags() {
        for tag in ["latest", "v1.2.3", "_x", "A-b_C.d", "0"] {
            assert_eq!(Tag::parse(tag).expect(tag).as_str(), tag);
        }
        let max = "t".repeat(128);
        assert!(Tag::parse(&max).is_ok());
    }

    #[test]
    fn rejects_bad_tags() {
        assert!(tag_reason(&"t".repeat(129)).contains("129"));
        assert!(tag_reason(".a").contains("starts with '.'"));
        assert!(tag_reason("-a").contains("starts with '-'"));
        assert!(tag_reason("").contains("empty"));
        assert!(tag_reason("a/b").contains("'/' at position 2"));
        assert!(tag_reason("a+b").contains("not allowed"));
    }

    #[test]
    fn parses_references() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(
            Reference::parse(&digest),
            Ok(Reference::Digest(ref d)) if d.as_str() == digest
        ));
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
        assert_eq!(Reference::parse("v1").expect("tag").to_string(), "v1");
        assert_eq!(
            Reference::parse(&digest).expect("digest").to_string(),
            digest
        );
        assert!(matches!(
            Reference::parse("sha256:short"),
            Err(OciError::DigestInvalid { .. })
        ));
        assert!(matches!(
            Reference::parse(".x"),
            Err(OciError::TagInvalid { .. })
        ));
    }
}
