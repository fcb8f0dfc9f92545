//! Permissions: what a principal may do to which repositories.
//!
//! Three vocabularies meet here and are translated into one: berth's roles
//! (`pull`, `push`, `delete`, `owner`, also under ACR's names), ACR-style
//! scope-map entries (`repositories/team/*/content/read`), and the scopes a
//! Docker client asks for at the token endpoint (`repository:team/app:pull`).
//! All of them become [`Grants`], a list of repository patterns with the
//! [`ActionSet`] each allows, which answers "what may be done to this
//! repository" by union over the matching patterns.
//!
//! Guarantees: every parser refuses what it does not understand with
//! [`AuthError::InvalidScope`] naming the accepted forms, never panics, and
//! `as_string` of a parsed value parses back to the same value. Patterns are
//! validated with the OCI repository-name grammar, so a grant can never name
//! a repository that cannot exist.

use berth_oci::RepositoryName;

use crate::AuthError;

/// One thing that can be done to a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read manifests and blobs.
    Pull,
    /// Upload blobs and manifests, move tags.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
    /// Read listings and repository metadata (tags list, referrers, settings).
    MetadataRead,
    /// Change repository metadata (settings, annotations).
    MetadataWrite,
}

impl Action {
    const fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 1 << 1,
            Action::Delete => 1 << 2,
            Action::MetadataRead => 1 << 3,
            Action::MetadataWrite => 1 << 4,
        }
    }
}

/// Every action with its name, in listing order; the first three are also
/// Docker's action names.
const ACTIONS: [(Action, &str); 5] = [
    (Action::Pull, "pull"),
    (Action::Push, "push"),
    (Action::Delete, "delete"),
    (Action::MetadataRead, "metadata_read"),
    (Action::MetadataWrite, "metadata_write"),
];

/// A set of [`Action`]s, small enough to copy.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct ActionSet(u8);

impl ActionSet {
    /// No action.
    pub const EMPTY: ActionSet = ActionSet(0);
    /// Every action.
    /// The actions a Docker token can carry (metadata actions have no Docker name).
    pub const DOCKER: ActionSet =
        ActionSet(Action::Pull.bit() | Action::Push.bit() | Action::Delete.bit());

    pub const ALL: ActionSet = ActionSet(
        Action::Pull.bit()
            | Action::Push.bit()
            | Action::Delete.bit()
            | Action::MetadataRead.bit()
            | Action::MetadataWrite.bit(),
    );

    /// The set holding exactly `actions`.
    pub fn of(actions: &[Action]) -> Self {
        let mut set = ActionSet::EMPTY;
        for &action in actions {
            set.insert(action);
        }
        set
    }

    /// Whether `action` is in the set.
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Actions in either set.
    pub fn union(self, other: ActionSet) -> Self {
        ActionSet(self.0 | other.0)
    }

    /// Actions in both sets.
    pub fn intersect(self, other: ActionSet) -> Self {
        ActionSet(self.0 & other.0)
    }

    /// Adds `action` to the set.
    pub fn insert(&mut self, action: Action) {
        self.0 |= action.bit();
    }

    /// Whether the set holds no action.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Docker token actions: `pull` → Pull, `push` → Push, `delete` → Delete,
    /// `*` → Pull, Push and Delete.
    ///
    /// Unknown strings are ignored, as Docker's token servers do, so a client
    /// asking for more than berth knows still gets what it may have.
    pub fn from_docker_actions<'a>(iter: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = ActionSet::EMPTY;
        for name in iter {
            match name {
                "pull" => set.insert(Action::Pull),
                "push" => set.insert(Action::Push),
                "delete" => set.insert(Action::Delete),
                "*" => {
                    set = set.union(ActionSet::of(&[Action::Pull, Action::Push, Action::Delete]))
                }
                _ => {}
            }
        }
        set
    }

    /// The Docker action names in the set, in the order pull, push, delete.
    ///
    /// Metadata actions have no Docker name and are left out.
    pub fn docker_actions(self) -> Vec<&'static str> {
        ACTIONS[..3]
            .iter()
            .filter(|(action, _)| self.contains(*action))
            .map(|(_, name)| *name)
            .collect()
    }

    /// Names for display and JSON, in the order pull, push, delete,
    /// metadata_read, metadata_write.
    pub fn names(self) -> Vec<&'static str> {
        ACTIONS
            .iter()
            .filter(|(action, _)| self.contains(*action))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// A named bundle of actions, assigned to a principal on a repository pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Read content and metadata.
    Pull,
    /// Read and write content and metadata.
    Push,
    /// Delete content and read metadata.
    Delete,
    /// Everything; at registry scope, also administration.
    Owner,
}

const ROLE_FORMS: &str = "pull, push, delete, owner (or AcrPull, AcrPush, AcrDelete, Owner)";

impl Role {
    /// Accepts `pull`, `push`, `delete`, `owner` and ACR's `AcrPull`,
    /// `AcrPush`, `AcrDelete`, `Owner`, in any case.
    ///
    /// Anything else is [`AuthError::InvalidScope`] naming the accepted values.
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "pull" | "acrpull" => Ok(Role::Pull),
            "push" | "acrpush" => Ok(Role::Push),
            "delete" | "acrdelete" => Ok(Role::Delete),
            "owner" => Ok(Role::Owner),
            _ => Err(AuthError::scope(format!(
                "unknown role {s:?}; accepted roles are {ROLE_FORMS}"
            ))),
        }
    }

    /// The role's name: `pull`, `push`, `delete` or `owner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pull => "pull",
            Role::Push => "push",
            Role::Delete => "delete",
            Role::Owner => "owner",
        }
    }

    /// What the role allows: Pull = {Pull, MetadataRead};
    /// Push = {Pull, Push, MetadataRead, MetadataWrite};
    /// Delete = {Delete, MetadataRead}; Owner = everything.
    pub fn actions(self) -> ActionSet {
        match self {
            Role::Pull => ActionSet::of(&[Action::Pull, Action::MetadataRead]),
            Role::Push => ActionSet::of(&[
                Action::Pull,
                Action::Push,
                Action::MetadataRead,
                Action::MetadataWrite,
            ]),
            Role::Delete => ActionSet::of(&[Action::Delete, Action::MetadataRead]),
            Role::Owner => ActionSet::ALL,
        }
    }
}

const PATTERN_FORMS: &str =
    "expected `*` (every repository), `<name>/*` (every repository under <name>) \
     or a repository name";

/// Which repositories a grant covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RepoPattern {
    /// Every repository (registry scope).
    Any,
    /// One repository.
    Exact(String),
    /// Every repository whose name starts with this prefix, which ends in `/`.
    Prefix(String),
}

impl RepoPattern {
    /// Parses `*` as [`RepoPattern::Any`]; `team/*` as `Prefix("team/")`,
    /// which covers every repository under `team/` at any depth but not
    /// `team` itself; anything else must be a valid repository name and
    /// becomes [`RepoPattern::Exact`].
    ///
    /// A `*` anywhere else (`team/*/x`, `*foo`) and the empty string are
    /// refused with [`AuthError::InvalidScope`].
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        if s == "*" {
            return Ok(RepoPattern::Any);
        }
        let (name, prefix) = match s.strip_suffix("/*") {
            Some(name) => (name, true),
            None => (s, false),
        };
        let name = RepositoryName::parse(name).map_err(|err| {
            AuthError::scope(format!("repository pattern {s:?}: {err}; {PATTERN_FORMS}"))
        })?;
        if prefix {
            Ok(RepoPattern::Prefix(format!("{}/", name.as_str())))
        } else {
            Ok(RepoPattern::Exact(name.as_str().to_owned()))
        }
    }

    /// Whether the pattern covers `repository`.
    pub fn matches(&self, repository: &str) -> bool {
        match self {
            RepoPattern::Any => true,
            RepoPattern::Exact(name) => name == repository,
            RepoPattern::Prefix(prefix) => {
                repository.len() > prefix.len() && repository.starts_with(prefix.as_str())
            }
        }
    }

    /// The pattern as text, in the form [`RepoPattern::parse`] reads.
    pub fn as_string(&self) -> String {
        match self {
            RepoPattern::Any => "*".to_owned(),
            RepoPattern::Exact(name) => name.clone(),
            RepoPattern::Prefix(prefix) => format!("{prefix}*"),
        }
    }
}

/// Scope-map action paths and the action each grants, in ACR's vocabulary.
const SCOPE_MAP_ACTIONS: [(&str, Action); 5] = [
    ("content/read", Action::Pull),
    ("content/write", Action::Push),
    ("content/delete", Action::Delete),
    ("metadata/read", Action::MetadataRead),
    ("metadata/write", Action::MetadataWrite),
];

const SCOPE_MAP_FORM: &str = "expected repositories/<name, <name>/* or *>/ followed by \
     content/read, content/write, content/delete, metadata/read or metadata/write";

/// One entry of a token's scope map in ACR's vocabulary:
/// `repositories/<name or pattern>/<action path>`.
///
/// `content/read` grants Pull, `content/write` Push, `content/delete` Delete,
/// `metadata/read` MetadataRead and `metadata/write` MetadataWrite. The
/// pattern may contain slashes and may be `*` or `prefix/*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScopeMapEntry {
    /// The repositories covered.
    pub pattern: RepoPattern,
    /// The action granted on them.
    pub action: Action,
}

impl ScopeMapEntry {
    /// Parses one entry; anything else is [`AuthError::InvalidScope`]
    /// describing the accepted form.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let refuse = || AuthError::scope(format!("scope map entry {s:?}: {SCOPE_MAP_FORM}"));
        let rest = s.strip_prefix("repositories/").ok_or_else(refuse)?;
        let (pattern, action) = SCOPE_MAP_ACTIONS
            .iter()
            .find_map(|(path, action)| {
                let pattern = rest.strip_suffix(path)?.strip_suffix('/')?;
                Some((pattern, *action))
            })
            .ok_or_else(refuse)?;
        let pattern = RepoPattern::parse(pattern)?;
        Ok(ScopeMapEntry { pattern, action })
    }

    /// The entry as text, in the form [`ScopeMapEntry::parse`] reads.
    pub fn as_string(&self) -> String {
        let path = SCOPE_MAP_ACTIONS
            .iter()
            .find(|(_, action)| *action == self.action)
            .map(|(path, _)| *path)
            .unwrap_or_default();
        format!("repositories/{}/{path}", self.pattern.as_string())
    }
}

/// Everything a principal may do, evaluated per repository.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    entries: Vec<(RepoPattern, ActionSet)>,
    owned: Vec<RepoPattern>,
    admin: bool,
}

impl Grants {
    /// Grants that allow nothing.
    pub fn new() -> Self {
        Grants::default()
    }

    /// Allows `actions` on the repositories `pattern` covers.
    pub fn add(&mut self, pattern: RepoPattern, actions: ActionSet) {
        match self.entries.iter_mut().find(|(p, _)| *p == pattern) {
            Some((_, existing)) => *existing = existing.union(actions),
            None => self.entries.push((pattern, actions)),
        }
    }

    /// Allows what `role` allows on `pattern`.
    ///
    /// Owner at registry scope (pattern Any) makes the principal an
    /// administrator: it may manage principals, roles and settings.
    pub fn add_role(&mut self, role: Role, pattern: RepoPattern) {
        if role == Role::Owner {
            if pattern == RepoPattern::Any {
                self.admin = true;
            }
            if !self.owned.contains(&pattern) {
                self.owned.push(pattern.clone());
            }
        }
        self.add(pattern, role.actions());
    }

    /// The grants of a token's scope map. A scope map never makes its token
    /// an owner or an administrator, whatever it lists.
    pub fn from_scope_map(entries: &[ScopeMapEntry]) -> Self {
        let mut grants = Grants::new();
        for entry in entries {
            grants.add(entry.pattern.clone(), ActionSet::of(&[entry.action]));
        }
        grants
    }

    /// What may be done to `repository`: the union over every grant whose
    /// pattern covers it.
    pub fn actions_on(&self, repository: &str) -> ActionSet {
        self.entries
            .iter()
            .filter(|(pattern, _)| pattern.matches(repository))
            .fold(ActionSet::EMPTY, |all, (_, actions)| all.union(*actions))
    }

    /// Whether the principal is an administrator (Owner at registry scope).
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// Whether an Owner role covers `repository`, so the principal may change
    /// the repository's settings.
    pub fn owns(&self, repository: &str) -> bool {
        self.owned.iter().any(|pattern| pattern.matches(repository))
    }

    /// True when some grant covers every repository with Pull or
    /// MetadataRead, so a listing needs no filtering.
    pub fn sees_everything(&self) -> bool {
        let reading = ActionSet::of(&[Action::Pull, Action::MetadataRead]);
        self.entries.iter().any(|(pattern, actions)| {
            *pattern == RepoPattern::Any && !actions.intersect(reading).is_empty()
        })
    }
}

const REQUESTED_SCOPE_FORM: &str = "expected type:name:actions such as \
     repository:team/app:pull,push or registry:catalog:*";

/// A scope requested at the token endpoint, in Docker's grammar
/// `type:name:actions`: `repository:team/app:pull,push`, `repository:app:*`,
/// `registry:catalog:*`.
///
/// The type may carry a class, `repository(plugin)`, which is accepted and
/// read as `repository`. Repository names cannot contain `:`, so the text is
/// split on its first and its last `:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedScope {
    /// `repository` or `registry`.
    pub kind: String,
    /// A repository name, or for `registry` the resource (`catalog`).
    pub name: String,
    /// The actions asked for, as sent (`pull`, `push`, `delete`, `*`, ...).
    pub actions: Vec<String>,
}

impl RequestedScope {
    /// Parses one scope.
    ///
    /// Refused with [`AuthError::InvalidScope`]: fewer than three parts, a
    /// type other than `repository` (with or without a class) or `registry`,
    /// an empty name, or for `repository` a name outside the OCI grammar.
    /// Empty actions are dropped; unknown actions are kept for the caller to
    /// ignore.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let refuse = |why: &str| {
            AuthError::scope(format!(
                "requested scope {s:?}: {why}; {REQUESTED_SCOPE_FORM}"
            ))
        };
        let (kind, rest) = s.split_once(':').ok_or_else(|| refuse("missing ':'"))?;
        let (name, actions) = rest
            .rsplit_once(':')
            .ok_or_else(|| refuse("missing actions"))?;

        let kind = match kind {
            "registry" => "registry",
            "repository" => "repository",
            _ if is_classed_repository(kind) => "repository",
            _ => return Err(refuse("the type must be repository or registry")),
        };
        if name.is_empty() {
            return Err(refuse("the name is empty"));
        }
        if kind == "repository" {
            RepositoryName::parse(name).map_err(|err| refuse(&err.to_string()))?;
        }

        let actions = actions
            .split(',')
            .map(str::trim)
            .filter(|action| !action.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(RequestedScope {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions,
        })
    }

    /// Parses every scope of a request: the `scope` query parameter may
    /// repeat, and each value may hold several scopes separated by spaces.
    /// One bad scope refuses the whole request.
    pub fn parse_all<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Self>, AuthError> {
        values
            .into_iter()
            .flat_map(str::split_whitespace)
            .map(RequestedScope::parse)
            .collect()
    }
}

/// `repository(<class>)` with a non-empty class of letters, digits, `-`, `_`.
fn is_classed_repository(kind: &str) -> bool {
    let Some(class) = kind
        .strip_prefix("repository(")
        .and_then(|k| k.strip_suffix(')'))
    else {
        return false;
    };
    !class.is_empty()
        && class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(name: &str) -> RepoPattern {
        RepoPattern::Exact(name.to_owned())
    }

    #[test]
    fn action_set_operations() {
        let mut set = ActionSet::EMPTY;
        assert!(set.is_empty());
        set.insert(Action::Push);
        assert!(set.contains(Action::Push));
        assert!(!set.contains(Action::Pull));

        let pull = ActionSet::of(&[Action::Pull]);
        assert_eq!(
            set.union(pull),
            ActionSet::of(&[Action::Pull, Action::Push])
        );
        assert_eq!(set.intersect(pull), ActionSet::EMPTY);
        assert_eq!(ActionSet::ALL.intersect(pull), pull);
        assert_eq!(ActionSet::default(), ActionSet::EMPTY);
        for (action, _) in ACTIONS {
            assert!(ActionSet::ALL.contains(action));
            assert!(!ActionSet::EMPTY.contains(action));
        }
    }

    #[test]
    fn docker_actions_translate_both_ways() {
        let set = ActionSet::from_docker_actions(["push", "pull", "bogus", "PULL"]);
        assert_eq!(set, ActionSet::of(&[Action::Pull, Action::Push]));
        assert_eq!(set.docker_actions(), vec!["pull", "push"]);

        let star = ActionSet::from_docker_actions(["*"]);
        assert_eq!(star.docker_actions(), vec!["pull", "push", "delete"]);
        assert!(!star.contains(Action::MetadataRead));

        assert!(ActionSet::from_docker_actions(["", "all"]).is_empty());
        assert!(ActionSet::of(&[Action::MetadataRead])
            .docker_actions()
            .is_empty());
        assert_eq!(
            ActionSet::ALL.docker_actions(),
            vec!["pull", "push", "delete"],
            "metadata actions have no docker name"
        );
    }

    #[test]
    fn names_are_in_fixed_order() {
        assert_eq!(
            ActionSet::ALL.names(),
            vec!["pull", "push", "delete", "metadata_read", "metadata_write"]
        );
        let set = ActionSet::of(&[Action::MetadataWrite, Action::Delete]);
        assert_eq!(set.names(), vec!["delete", "metadata_write"]);
        assert!(ActionSet::EMPTY.names().is_empty());
    }

    #[test]
    fn roles_parse_berth_and_acr_names() {
        for (text, role) in [
            ("pull", Role::Pull),
            ("PUSH", Role::Push),
            ("delete", Role::Delete),
            ("owner", Role::Owner),
            ("AcrPull", Role::Pull),
            ("acrpush", Role::Push),
            ("AcrDelete", Role::Delete),
            ("Owner", Role::Owner),
        ] {
            assert_eq!(Role::parse(text).unwrap(), role, "{text}");
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
    }

    #[test]
    fn unknown_roles_are_refused_with_the_accepted_values() {
        for text in [
            "",
            "admin",
            "acrowner",
            " pull",
            "pull,push",
            "AcrImageSigner",
        ] {
            let err = Role::parse(text).unwrap_err();
            assert!(matches!(err, AuthError::InvalidScope(_)), "{text}");
            assert!(err.to_string().contains("AcrPull"), "{err}");
        }
    }

    #[test]
    fn role_actions() {
        let pull = Role::Pull.actions();
        assert_eq!(pull, ActionSet::of(&[Action::Pull, Action::MetadataRead]));
        let push = Role::Push.actions();
        assert!(push.contains(Action::Push) && push.contains(Action::MetadataWrite));
        assert!(!push.contains(Action::Delete));
        let delete = Role::Delete.actions();
        assert_eq!(
            delete,
            ActionSet::of(&[Action::Delete, Action::MetadataRead])
        );
        assert!(!delete.contains(Action::Pull));
        assert_eq!(Role::Owner.actions(), ActionSet::ALL);
    }

    #[test]
    fn patterns_parse_and_round_trip() {
        assert_eq!(RepoPattern::parse("*").unwrap(), RepoPattern::Any);
        assert_eq!(
            RepoPattern::parse("team/*").unwrap(),
            RepoPattern::Prefix("team/".to_owned())
        );
        assert_eq!(RepoPattern::parse("team/app").unwrap(), exact("team/app"));
        for text in ["*", "team/*", "a/b/*", "team/app", "app", "a.b/c-d/e__f"] {
            let pattern = RepoPattern::parse(text).unwrap();
            assert_eq!(pattern.as_string(), text);
            assert_eq!(RepoPattern::parse(&pattern.as_string()).unwrap(), pattern);
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for text in [
            "", "team/*/x", "*foo", "team*", "/*", "**", "*/*", "Team/app", "team/", "team//*",
            "team/**", " team",
        ] {
            let err = RepoPattern::parse(text).unwrap_err();
            assert!(matches!(err, AuthError::InvalidScope(_)), "{text:?}");
            assert!(err.to_string().contains("`*`"), "{err}");
        }
    }

    #[test]
    fn prefix_patterns_match_only_below_the_prefix() {
        let team = RepoPattern::parse("team/*").unwrap();
        assert!(team.matches("team/a"));
        assert!(team.matches("team/a/b"));
        assert!(!team.matches("team"));
        assert!(!team.matches("team/"));
        assert!(!team.matches("teamx/a"));
        assert!(!team.matches("other/team/a"));

        let exact = RepoPattern::parse("team").unwrap();
        assert!(exact.matches("team"));
        assert!(!exact.matches("team/a"));
        assert!(!exact.matches("teamx"));

        assert!(RepoPattern::Any.matches("anything/at/all"));
    }

    #[test]
    fn scope_map_entries_parse_acr_names() {
        for (text, pattern, action) in [
            ("repositories/app/content/read", exact("app"), Action::Pull),
            (
                "repositories/team/app/content/write",
                exact("team/app"),
                Action::Push,
            ),
            (
                "repositories/*/content/delete",
                RepoPattern::Any,
                Action::Delete,
            ),
            (
                "repositories/team/*/metadata/read",
                RepoPattern::Prefix("team/".to_owned()),
                Action::MetadataRead,
            ),
            (
                "repositories/a/b/c/metadata/write",
                exact("a/b/c"),
                Action::MetadataWrite,
            ),
            // A repository may itself be called `content`.
            (
                "repositories/content/content/read",
                exact("content"),
                Action::Pull,
            ),
        ] {
            let entry = ScopeMapEntry::parse(text).unwrap();
            assert_eq!(entry, ScopeMapEntry { pattern, action }, "{text}");
            assert_eq!(entry.as_string(), text);
        }
    }

    #[test]
    fn bad_scope_map_entries_are_refused() {
        for text in [
            "",
            "repositories/app",
            "repositories/app/content",
            "repositories/content/read",
            "repositories//content/read",
            "repository/app/content/read",
            "repositories/app/content/list",
            "repositories/app/metadata/delete",
            "repositories/app/Content/Read",
            "repositories/team/*/x/content/read",
            "repositories/APP/content/read",
            "repositories/app/content/read/",
        ] {
            let err = ScopeMapEntry::parse(text).unwrap_err();
            assert!(matches!(err, AuthError::InvalidScope(_)), "{text:?}");
        }
    }

    #[test]
    fn grants_union_over_matching_patterns() {
        let mut grants = Grants::new();
        assert!(grants.actions_on("team/app").is_empty());

        grants.add_role(Role::Pull, RepoPattern::parse("team/*").unwrap());
        grants.add_role(Role::Delete, exact("team/app"));
        let app = grants.actions_on("team/app");
        assert!(app.contains(Action::Pull) && app.contains(Action::Delete));
        assert!(!app.contains(Action::Push));
        assert_eq!(grants.actions_on("team/other"), Role::Pull.actions());
        assert!(grants.actions_on("team").is_empty());
        assert!(grants.actions_on("teamx/app").is_empty());

        assert!(!grants.is_admin());
        assert!(!grants.owns("team/app"));
        assert!(!grants.sees_everything());
    }

    #[test]
    fn owner_on_a_pattern_owns_it_but_is_not_admin() {
        let mut grants = Grants::new();
        grants.add_role(Role::Owner, RepoPattern::parse("team/*").unwrap());
        assert!(grants.owns("team/app"));
        assert!(grants.owns("team/a/b"));
        assert!(!grants.owns("team"));
        assert!(!grants.owns("other/app"));
        assert!(!grants.is_admin());
        assert_eq!(grants.actions_on("team/app"), ActionSet::ALL);
    }

    #[test]
    fn owner_at_registry_scope_is_admin() {
        let mut grants = Grants::new();
        grants.add_role(Role::Owner, RepoPattern::Any);
        assert!(grants.is_admin());
        assert!(grants.owns("any/repo"));
        assert!(grants.sees_everything());
    }

    #[test]
    fn every_action_on_everything_is_not_ownership() {
        let mut grants = Grants::new();
        grants.add(RepoPattern::Any, ActionSet::ALL);
        assert!(!grants.is_admin());
        assert!(!grants.owns("app"));
        assert!(grants.sees_everything());
    }

    #[test]
    fn sees_everything_needs_a_read_on_any() {
        let mut grants = Grants::new();
        grants.add(
            RepoPattern::Any,
            ActionSet::of(&[Action::Push, Action::Delete]),
        );
        grants.add_role(Role::Pull, exact("app"));
        assert!(!grants.sees_everything());

        let mut metadata = Grants::new();
        metadata.add(RepoPattern::Any, ActionSet::of(&[Action::MetadataRead]));
        assert!(metadata.sees_everything());
    }

    #[test]
    fn scope_map_grants_never_make_an_owner() {
        let entries: Vec<ScopeMapEntry> = [
            "repositories/*/content/read",
            "repositories/*/content/write",
            "repositories/*/content/delete",
            "repositories/*/metadata/read",
            "repositories/*/metadata/write",
            "repositories/team/app/content/read",
        ]
        .iter()
        .map(|text| ScopeMapEntry::parse(text).unwrap())
        .collect();
        let grants = Grants::from_scope_map(&entries);
        assert_eq!(grants.actions_on("x"), ActionSet::ALL);
        assert!(!grants.is_admin());
        assert!(!grants.owns("x"));

        let narrow = Grants::from_scope_map(&entries[5..]);
        assert_eq!(
            narrow.actions_on("team/app"),
            ActionSet::of(&[Action::Pull])
        );
        assert!(narrow.actions_on("team/other").is_empty());
        assert!(!narrow.sees_everything());
    }

    #[test]
    fn requested_scopes_parse() {
        let scope = RequestedScope::parse("repository:team/app:pull,push").unwrap();
        assert_eq!(
            scope,
            RequestedScope {
                kind: "repository".to_owned(),
                name: "team/app".to_owned(),
                actions: vec!["pull".to_owned(), "push".to_owned()],
            }
        );

        let star = RequestedScope::parse("repository:app:*").unwrap();
        assert_eq!(star.actions, vec!["*"]);

        let catalog = RequestedScope::parse("registry:catalog:*").unwrap();
        assert_eq!(
            (catalog.kind.as_str(), catalog.name.as_str()),
            ("registry", "catalog")
        );

        let plugin = RequestedScope::parse("repository(plugin):vieux/sshfs:pull").unwrap();
        assert_eq!(
            (plugin.kind.as_str(), plugin.name.as_str()),
            ("repository", "vieux/sshfs")
        );

        let none = RequestedScope::parse("repository:app:").unwrap();
        assert!(none.actions.is_empty());
        let odd = RequestedScope::parse("repository:app:pull,,unknown").unwrap();
        assert_eq!(odd.actions, vec!["pull", "unknown"]);
    }

    #[test]
    fn bad_requested_scopes_are_refused() {
        for text in [
            "",
            "repository",
            "repository:app",
            "repository::pull",
            "registry::*",
            "repository:App:pull",
            "repository:host:5000/app:pull",
            "image:app:pull",
            "repository():app:pull",
            "repository(plu gin):app:pull",
            "Repository:app:pull",
        ] {
            let err = RequestedScope::parse(text).unwrap_err();
            assert!(matches!(err, AuthError::InvalidScope(_)), "{text:?}");
            assert!(err.to_string().contains("type:name:actions"), "{err}");
        }
    }

    #[test]
    fn parse_all_splits_repeated_and_space_separated_values() {
        let scopes = RequestedScope::parse_all([
            "repository:a:pull repository:b:push",
            "",
            "  registry:catalog:*  ",
        ])
        .unwrap();
        let names: Vec<&str> = scopes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "catalog"]);

        assert!(RequestedScope::parse_all([]).unwrap().is_empty());
        assert!(RequestedScope::parse_all(["repository:a:pull bogus"]).is_err());
    }
}
