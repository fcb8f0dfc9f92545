//! The stored rules that guard repository content: changeable attributes (locks), tag
//! mutability with its wildcard exclusions, and quotas.
//!
//! They live beside the data they guard because they are enforced inside the write
//! transaction that would break them, like a foreign key: a check made before the
//! transaction could be overtaken by a concurrent writer, one made inside cannot.
//! Guarantees: a refused write changes nothing, and its error names the rule that
//! refused it in words a person can act on.

use std::fmt;

use berth_oci::Digest;

/// ACR's changeable attributes of a repository, a tag or a manifest; all true by default.
///
/// `write_enabled = false` refuses moving and deleting (and, on a repository, every
/// push); `delete_enabled = false` refuses only deleting; `read_enabled = false` refuses
/// pulls; `list_enabled = false` hides the item from listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub write_enabled: bool,
    pub delete_enabled: bool,
    pub read_enabled: bool,
    pub list_enabled: bool,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            write_enabled: true,
            delete_enabled: true,
            read_enabled: true,
            list_enabled: true,
        }
    }
}

impl Attributes {
    pub(crate) fn from_db(write: bool, delete: bool, read: bool, list: bool) -> Self {
        Attributes {
            write_enabled: write,
            delete_enabled: delete,
            read_enabled: read,
            list_enabled: list,
        }
    }

    /// The first attribute that forbids deleting, if any.
    pub(crate) fn delete_lock(self) -> Option<Lock> {
        if !self.write_enabled {
            Some(Lock::Write)
        } else if !self.delete_enabled {
            Some(Lock::Delete)
        } else {
            None
        }
    }

    /// The attribute that forbids changing, if any.
    pub(crate) fn write_lock(self) -> Option<Lock> {
        (!self.write_enabled).then_some(Lock::Write)
    }

    /// These attributes with `patch` applied.
    pub fn patched(self, patch: AttributesPatch) -> Attributes {
        Attributes {
            write_enabled: patch.write_enabled.unwrap_or(self.write_enabled),
            delete_enabled: patch.delete_enabled.unwrap_or(self.delete_enabled),
            read_enabled: patch.read_enabled.unwrap_or(self.read_enabled),
            list_enabled: patch.list_enabled.unwrap_or(self.list_enabled),
        }
    }
}

/// A change to some of the [`Attributes`]; `None` keeps the current value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttributesPatch {
    pub write_enabled: Option<bool>,
    pub delete_enabled: Option<bool>,
    pub read_enabled: Option<bool>,
    pub list_enabled: Option<bool>,
}

impl AttributesPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == AttributesPatch::default()
    }
}

/// The attribute that refused an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    Write,
    Delete,
    Read,
}

impl Lock {
    /// The attribute's name as the CLI and API spell it.
    pub fn attribute(self) -> &'static str {
        match self {
            Lock::Write => "write-enabled",
            Lock::Delete => "delete-enabled",
            Lock::Read => "read-enabled",
        }
    }

    /// What the attribute being false forbids, completing "it cannot be …".
    pub fn refuses(self) -> &'static str {
        match self {
            Lock::Write => "changed or deleted",
            Lock::Delete => "deleted",
            Lock::Read => "pulled",
        }
    }
}

/// What a lock sits on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locked {
    Repository { repository: String },
    Tag { repository: String, tag: String },
    Manifest { repository: String, digest: Digest },
}

impl fmt::Display for Locked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locked::Repository { repository } => write!(f, "repository {repository}"),
            Locked::Tag { repository, tag } => write!(f, "tag {repository}:{tag}"),
            Locked::Manifest { repository, digest } => {
                write!(f, "manifest {repository}@{digest}")
            }
        }
    }
}

/// Which level's `read_enabled` forbids a pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadLock {
    Repository,
    Tag,
    Manifest,
}

impl ReadLock {
    /// Decodes the code the manifest lookups compute in SQL: 0 for readable, then
    /// repository, tag and manifest.
    pub(crate) fn from_code(code: i64) -> Option<ReadLock> {
        match code {
            1 => Some(ReadLock::Repository),
            2 => Some(ReadLock::Tag),
            3 => Some(ReadLock::Manifest),
            _ => None,
        }
    }
}

/// Which of a repository's tags may be moved once they exist, in ECR's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TagMutability {
    /// Every tag may move.
    #[default]
    Mutable,
    /// No tag may move.
    Immutable,
    /// No tag may move except those matching an exclusion filter.
    ImmutableWithExclusion,
    /// Every tag may move except those matching an exclusion filter.
    MutableWithExclusion,
}

const MUTABILITIES: [(TagMutability, &str); 4] = [
    (TagMutability::Mutable, "MUTABLE"),
    (TagMutability::Immutable, "IMMUTABLE"),
    (
        TagMutability::ImmutableWithExclusion,
        "IMMUTABLE_WITH_EXCLUSION",
    ),
    (
        TagMutability::MutableWithExclusion,
        "MUTABLE_WITH_EXCLUSION",
    ),
];

impl TagMutability {
    /// ECR's name: `MUTABLE`, `IMMUTABLE`, `IMMUTABLE_WITH_EXCLUSION`,
    /// `MUTABLE_WITH_EXCLUSION`.
    pub fn as_str(self) -> &'static str {
        MUTABILITIES
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("MUTABLE", |(_, name)| name)
    }

    /// Parses ECR's name, in any letter case.
    pub fn parse(text: &str) -> Option<TagMutability> {
        MUTABILITIES
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(text))
            .map(|(m, _)| *m)
    }

    fn uses_exclusions(self) -> bool {
        matches!(
            self,
            TagMutability::ImmutableWithExclusion | TagMutability::MutableWithExclusion
        )
    }
}

/// A repository's tag mutability with its exclusion filters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MutabilityRule {
    pub mutability: TagMutability,
    /// Wildcard filters (`*` matches any run of characters); used only by the
    /// `*_WITH_EXCLUSION` settings.
    pub exclusions: Vec<String>,
}

/// The most exclusion filters a repository may have, as in ECR.
pub const MAX_EXCLUSIONS: usize = 5;

impl MutabilityRule {
    /// Checks the rule: exclusions are required by, and only allowed with, the
    /// `*_WITH_EXCLUSION` settings, at most [`MAX_EXCLUSIONS`], each a tag pattern.
    pub fn validate(&self) -> Result<(), String> {
        let name = self.mutability.as_str();
        if self.mutability.uses_exclusions() && self.exclusions.is_empty() {
            return Err(format!("{name} needs at least one exclusion filter"));
        }
        if !self.mutability.uses_exclusions() && !self.exclusions.is_empty() {
            return Err(format!(
                "exclusion filters apply only to IMMUTABLE_WITH_EXCLUSION and \
                 MUTABLE_WITH_EXCLUSION, not {name}"
            ));
        }
        if self.exclusions.len() > MAX_EXCLUSIONS {
            return Err(format!(
                "at most {MAX_EXCLUSIONS} exclusion filters are allowed, not {}",
                self.exclusions.len()
            ));
        }
        for filter in &self.exclusions {
            validate_filter(filter)?;
        }
        Ok(())
    }

    /// Whether a tag, once it exists, may not be moved to another manifest.
    pub fn is_immutable(&self, tag: &str) -> bool {
        let excluded = || self.exclusions.iter().any(|f| wildcard_matches(f, tag));
        match self.mutability {
            TagMutability::Mutable => false,
            TagMutability::Immutable => true,
            TagMutability::ImmutableWithExclusion => !excluded(),
            TagMutability::MutableWithExclusion => excluded(),
        }
    }
}

/// A filter is a tag with `*` wildcards: at most 128 characters of
/// `[A-Za-z0-9_.*-]`.
fn validate_filter(filter: &str) -> Result<(), String> {
    let valid = !filter.is_empty()
        && filter.len() <= 128
        && filter
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'*'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "exclusion filter {filter:?} is not a tag pattern: use 1 to 128 of the \
             characters A-Z a-z 0-9 _ . - and * as a wildcard"
        ))
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters and
/// every other character for itself.
pub fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Greedy matching with one backtrack point, the last `*` seen: linear in practice
    // and never exponential, whatever the pattern.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// How a repository's content is encrypted at rest, in ECR's terms. Recorded as asked;
/// the blob store applies it where it has the means (the filesystem backend has none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    #[default]
    None,
    Aes256,
    Kms,
}

impl Encryption {
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::None => "NONE",
            Encryption::Aes256 => "AES256",
            Encryption::Kms => "KMS",
        }
    }

    /// Parses `NONE`, `AES256` or `KMS`, in any letter case.
    pub fn parse(text: &str) -> Option<Encryption> {
        [Encryption::None, Encryption::Aes256, Encryption::Kms]
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(text))
    }
}

/// Whose quota refused a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuotaScope {
    Registry,
    Repository(String),
}

impl fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaScope::Registry => f.write_str("the registry"),
            QuotaScope::Repository(name) => write!(f, "repository {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_of_characters() {
        assert!(wildcard_matches("latest", "latest"));
        assert!(!wildcard_matches("latest", "latest2"));
        assert!(wildcard_matches("dev-*", "dev-"));
        assert!(wildcard_matches("dev-*", "dev-123"));
        assert!(!wildcard_matches("dev-*", "prod-1"));
        assert!(wildcard_matches("*-rc*", "1.0-rc3"));
        assert!(wildcard_matches("*", ""));
        assert!(wildcard_matches("a*b*c", "aXXbYYc"));
        assert!(!wildcard_matches("a*b*c", "aXXbYY"));
        assert!(wildcard_matches("**x", "abx"));
        assert!(!wildcard_matches("", "a"));
        // A pattern that would explode a naive backtracking matcher.
        let text = "a".repeat(200);
        assert!(!wildcard_matches("*a*a*a*a*a*a*a*b", &text));
    }

    #[test]
    fn mutability_follows_ecr() {
        let rule = |mutability, exclusions: &[&str]| MutabilityRule {
            mutability,
            exclusions: exclusions.iter().map(|s| s.to_string()).collect(),
        };
        assert!(!rule(TagMutability::Mutable, &[]).is_immutable("v1"));
        assert!(rule(TagMutability::Immutable, &[]).is_immutable("latest"));
        let immutable_but = rule(TagMutability::ImmutableWithExclusion, &["latest", "dev-*"]);
        assert!(immutable_but.is_immutable("v1"));
        assert!(!immutable_but.is_immutable("latest"));
        assert!(!immutable_but.is_immutable("dev-42"));
        let mutable_but = rule(TagMutability::MutableWithExclusion, &["v*"]);
        assert!(mutable_but.is_immutable("v1.2"));
        assert!(!mutable_but.is_immutable("latest"));
    }

    #[test]
    fn rules_are_validated() {
        let rule = |mutability, exclusions: &[&str]| MutabilityRule {
            mutability,
            exclusions: exclusions.iter().map(|s| s.to_string()).collect(),
        };
        assert!(rule(TagMutability::Immutable, &[]).validate().is_ok());
        assert!(rule(TagMutability::Immutable, &["x"]).validate().is_err());
        assert!(rule(TagMutability::MutableWithExclusion, &[])
            .validate()
            .is_err());
        assert!(rule(TagMutability::MutableWithExclusion, &["a b"])
            .validate()
            .is_err());
        let six = ["a", "b", "c", "d", "e", "f"];
        assert!(rule(TagMutability::ImmutableWithExclusion, &six)
            .validate()
            .is_err());
        assert!(rule(TagMutability::ImmutableWithExclusion, &six[..5])
            .validate()
            .is_ok());
    }

    #[test]
    fn names_round_trip() {
        for (m, name) in MUTABILITIES {
            assert_eq!(TagMutability::parse(name), Some(m));
            assert_eq!(m.as_str(), name);
        }
        assert_eq!(
            TagMutability::parse("immutable"),
            Some(TagMutability::Immutable)
        );
        assert_eq!(TagMutability::parse("sometimes"), None);
        assert_eq!(Encryption::parse("kms"), Some(Encryption::Kms));
        assert_eq!(Encryption::parse("rot13"), None);
    }

    #[test]
    fn write_lock_also_forbids_delete() {
        let locked = Attributes {
            write_enabled: false,
            ..Attributes::default()
        };
        assert_eq!(locked.delete_lock(), Some(Lock::Write));
        let no_delete = Attributes {
            delete_enabled: false,
            ..Attributes::default()
        };
        assert_eq!(no_delete.delete_lock(), Some(Lock::Delete));
        assert_eq!(no_delete.write_lock(), None);
        assert_eq!(Attributes::default().delete_lock(), None);
    }
}
