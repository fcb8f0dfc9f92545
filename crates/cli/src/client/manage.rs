//! Management commands over `/api/v1`: principals (service principals, users, tokens),
//! role assignments, federations, registry settings and usage, signing keys, the audit
//! log and `whoami` (repositories, tags and images are in `repository`).
//!
//! Each command parses its flags into the API's JSON, makes one call (plus a lookup
//! first where the command is about one kind of principal), and prints the answer in the
//! chosen format. Guarantees: flag combinations that cannot be right are refused before
//! any request; `sp`, `user` and `token` commands never act on a principal of another
//! kind; deleting a principal asks for confirmation unless `--yes` is given.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::error::{ClientError, Result};
use super::files::CredentialPaths;
use super::http::{Api, Registry};
use super::login;
use super::output::{self, columns, Column, Format};
use super::repository::{parse_quota, Quota};
use super::state::LoginState;
use super::CommonOpts;

/// An authenticated API session and the output format.
pub struct Session {
    pub(super) api: Api,
    pub(super) format: Format,
    /// Whether `--query` reshapes what is printed, so sentences give way to results.
    pub(super) queried: bool,
}

impl Session {
    /// Resolves the registry and credentials and authenticates for `registry:api:*`.
    pub async fn open(common: &CommonOpts, paths: &CredentialPaths) -> Result<Session> {
        let state = LoginState::load(&paths.berth)?;
        let url = login::resolve_registry(common.registry.as_deref(), &state)?;
        let credentials = login::credentials_for(
            &url,
            &state,
            login::env_var("BERTH_USERNAME"),
            login::env_var("BERTH_PASSWORD"),
        );
        let api = Api::connect(Registry::new(url)?, credentials.as_ref()).await?;
        Ok(Session {
            api,
            format: common.output,
            queried: common.query.is_some(),
        })
    }

    pub(super) fn print(&self, value: &Value, columns: &[Column]) -> Result<()> {
        output::print(self.format, value, columns).map_err(ClientError::Stdout)
    }

    /// A one-line confirmation, shown only to people reading a table.
    pub(super) fn say(&self, sentence: &str) {
        if self.format == Format::Table && !self.queried {
            println!("{sentence}");
        }
    }
}

/// The kinds of principal, as the API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    ServicePrincipal,
    Token,
}

impl Kind {
    fn api_name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServicePrincipal => "service_principal",
            Kind::Token => "token",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServicePrincipal => "service principal",
            Kind::Token => "token",
        }
    }

    fn command(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::ServicePrincipal => "sp",
            Kind::Token => "token",
        }
    }

    fn from_api(name: &str) -> Option<Kind> {
        [Kind::User, Kind::ServicePrincipal, Kind::Token]
            .into_iter()
            .find(|k| k.api_name() == name)
    }
}

/// `berth sp ...` and `berth user ...`.
#[derive(Subcommand, Debug)]
pub enum PrincipalAction {
    /// Create one; prints its secret once.
    Create {
        /// Its name.
        name: String,
        /// A role to assign (pull, push, delete, owner, AcrPull, AcrPush, AcrDelete, Owner);
        /// repeat, pairing each with a --scope.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Where the matching --role applies: `*`, a repository, or `prefix/*` [default: *].
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Free text shown in listings.
        #[arg(long)]
        description: Option<String>,
        /// Days until the first secret expires [default: never].
        #[arg(long, value_name = "DAYS")]
        secret_expires_in_days: Option<u32>,
    },
    /// List all of this kind.
    List,
    /// Show one.
    Show {
        /// Its name.
        name: String,
    },
    /// Change the description or enable/disable.
    Update {
        /// Its name.
        name: String,
        /// Free text shown in listings.
        #[arg(long)]
        description: Option<String>,
        /// Whether it may sign in.
        #[arg(long, value_name = "true|false")]
        enabled: Option<bool>,
    },
    /// Delete one; its secrets and login tokens stop working.
    Delete {
        /// Its name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Manage its two secret slots.
    #[command(subcommand)]
    Credential(CredentialAction),
}

/// `berth token ...`.
#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Create a token limited to its scope map; prints its secret once.
    Create {
        /// Its name.
        name: String,
        /// Allowed actions, e.g. `repositories/app/content/read`; repeat or separate
        /// with commas.
        #[arg(long, required = true, value_delimiter = ',', value_name = "ENTRY")]
        scope_map: Vec<String>,
        /// Free text shown in listings.
        #[arg(long)]
        description: Option<String>,
        /// Days until the first secret expires [default: never].
        #[arg(long, value_name = "DAYS")]
        secret_expires_in_days: Option<u32>,
    },
    /// List all tokens.
    List,
    /// Show one token.
    Show {
        /// Its name.
        name: String,
    },
    /// Replace the scope map, change the description, or enable/disable.
    Update {
        /// Its name.
        name: String,
        /// The new scope map (replaces the old one entirely).
        #[arg(long, value_delimiter = ',', value_name = "ENTRY")]
        scope_map: Vec<String>,
        /// Free text shown in listings.
        #[arg(long)]
        description: Option<String>,
        /// Whether it may sign in.
        #[arg(long, value_name = "true|false")]
        enabled: Option<bool>,
    },
    /// Delete a token.
    Delete {
        /// Its name.
        name: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
    /// Manage its two secret slots.
    #[command(subcommand)]
    Credential(CredentialAction),
}

/// `... credential ...`: the two secret slots of a principal.
#[derive(Subcommand, Debug)]
pub enum CredentialAction {
    /// Generate a new secret in a slot (replacing the old one); prints it once.
    Reset {
        /// Its name.
        name: String,
        /// Which of the two slots.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        slot: u8,
        /// Days until the secret expires [default: never].
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// Delete the secret in a slot; login tokens minted with it stop working.
    Delete {
        /// Its name.
        name: String,
        /// Which of the two slots.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        slot: u8,
    },
    /// List the slots in use.
    List {
        /// Its name.
        name: String,
    },
}

/// `berth role ...`.
#[derive(Subcommand, Debug)]
pub enum RoleAction {
    /// Assign a role to a principal.
    Assign {
        /// The principal's name.
        #[arg(long)]
        principal: String,
        /// pull, push, delete, owner, AcrPull, AcrPush, AcrDelete or Owner.
        #[arg(long)]
        role: String,
        /// `*`, a repository, or `prefix/*`.
        #[arg(long, default_value = "*")]
        scope: String,
    },
    /// List role assignments.
    List {
        /// Only this principal's assignments.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Remove a role assignment.
    Remove {
        /// The principal's name.
        #[arg(long)]
        principal: String,
        /// The assigned role.
        #[arg(long)]
        role: String,
        /// The scope it was assigned on.
        #[arg(long, default_value = "*")]
        scope: String,
    },
}

/// `berth federation ...`.
#[derive(Subcommand, Debug)]
pub enum FederationAction {
    /// Trust an external OIDC issuer's tokens as a principal.
    Create {
        /// Its name.
        name: String,
        /// The issuer URL (the `iss` claim).
        #[arg(long)]
        issuer: String,
        /// The audience the external token must carry (`aud`).
        #[arg(long)]
        audience: String,
        /// A claim the token must match, `name=glob` with `*`; repeat for more.
        #[arg(long = "claim", required = true, value_name = "NAME=GLOB")]
        claims: Vec<String>,
        /// The principal the external identity acts as.
        #[arg(long)]
        principal: String,
    },
    /// List federations.
    List,
    /// Delete a federation.
    Delete {
        /// Its name.
        name: String,
    },
}

/// `berth registry ...`.
#[derive(Subcommand, Debug)]
pub enum RegistryAction {
    /// Show the registry-wide settings.
    Show,
    /// Change the registry-wide settings.
    Update {
        /// Whether anyone may pull every repository without credentials.
        #[arg(long, value_name = "true|false")]
        anonymous_pull: Option<bool>,
        /// Storage quota of the whole registry: bytes, a size such as 500GB or 1TiB, or
        /// `none` to remove it.
        #[arg(long, value_name = "BYTES|none", value_parser = parse_quota)]
        quota: Option<Quota>,
    },
    /// Storage used against the quota, and the counts of what the registry holds.
    ShowUsage,
}

/// `berth signing-key ...`.
#[derive(Subcommand, Debug)]
pub enum SigningKeyAction {
    /// Make a new key sign tokens; the previous one still verifies until it is retired.
    Rotate,
    /// List the signing keys.
    List,
}

/// `berth audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only events of this principal.
    #[arg(long)]
    pub principal: Option<String>,
    /// Only events on this repository.
    #[arg(long)]
    pub repository: Option<String>,
    /// Only this action, e.g. push or login.
    #[arg(long)]
    pub action: Option<String>,
    /// e.g. success or denied.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only events at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many events [default: the server's, 100].
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only events older than this id (for the next page).
    #[arg(long, value_name = "ID")]
    pub before: Option<String>,
    #[command(flatten)]
    pub common: CommonOpts,
}

const PRINCIPAL_COLUMNS: &[&str] = &[
    "name",
    "kind",
    "enabled",
    "description",
    "roles",
    "created_at",
];
const TOKEN_COLUMNS: &[&str] = &["name", "enabled", "scope_map", "description", "created_at"];
const ROLE_COLUMNS: &[&str] = &["principal", "role", "scope", "created_at"];

fn principal_columns(kind: Kind) -> Vec<Column> {
    match kind {
        Kind::Token => columns(TOKEN_COLUMNS),
        _ => columns(PRINCIPAL_COLUMNS),
    }
}

fn created_columns() -> Vec<Column> {
    vec![
        Column::at("Name", "principal.name"),
        Column::at("Secret", "secret.secret"),
        Column::at("Expires", "secret.expires_at"),
    ]
}

/// `berth sp|user ...`.
pub async fn principal(session: &Session, kind: Kind, action: PrincipalAction) -> Result<()> {
    match action {
        PrincipalAction::Create {
            name,
            roles,
            scopes,
            description,
            secret_expires_in_days,
        } => {
            let mut body = json!({"name": name, "kind": kind.api_name()});
            let roles = pair_roles(&roles, &scopes)?;
            if !roles.is_empty() {
                body["roles"] = Value::Array(roles);
            }
            set_opt(&mut body, "description", description.map(Value::from));
            set_opt(
                &mut body,
                "secret_expires_in_days",
                secret_expires_in_days.map(Value::from),
            );
            create(session, &body).await
        }
        PrincipalAction::List => list_principals(session, kind).await,
        PrincipalAction::Show { name } => {
            let found = lookup(session, kind, &name).await?;
            session.print(&found, &principal_columns(kind))
        }
        PrincipalAction::Update {
            name,
            description,
            enabled,
        } => {
            let mut body = json!({});
            set_opt(&mut body, "description", description.map(Value::from));
            set_opt(&mut body, "enabled", enabled.map(Value::from));
            update(session, kind, &name, body, "--description or --enabled").await
        }
        PrincipalAction::Delete { name, yes } => delete_principal(session, kind, &name, yes).await,
        PrincipalAction::Credential(action) => credential(session, kind, action).await,
    }
}

/// `berth token ...`.
pub async fn token(session: &Session, action: TokenAction) -> Result<()> {
    let kind = Kind::Token;
    match action {
        TokenAction::Create {
            name,
            scope_map,
            description,
            secret_expires_in_days,
        } => {
            let scope_map = clean_scope_map(scope_map)?;
            let mut body = json!({"name": name, "kind": kind.api_name(), "scope_map": scope_map});
            set_opt(&mut body, "description", description.map(Value::from));
            set_opt(
                &mut body,
                "secret_expires_in_days",
                secret_expires_in_days.map(Value::from),
            );
            create(session, &body).await
        }
        TokenAction::List => list_principals(session, kind).await,
        TokenAction::Show { name } => {
            let found = lookup(session, kind, &name).await?;
            session.print(&found, &principal_columns(kind))
        }
        TokenAction::Update {
            name,
            scope_map,
            description,
            enabled,
        } => {
            let mut body = json!({});
            if !scope_map.is_empty() {
                body["scope_map"] = json!(clean_scope_map(scope_map)?);
            }
            set_opt(&mut body, "description", description.map(Value::from));
            set_opt(&mut body, "enabled", enabled.map(Value::from));
            let wanted = "--scope-map, --description or --enabled";
            update(session, kind, &name, body, wanted).await
        }
        TokenAction::Delete { name, yes } => delete_principal(session, kind, &name, yes).await,
        TokenAction::Credential(action) => credential(session, kind, action).await,
    }
}

async fn create(session: &Session, body: &Value) -> Result<()> {
    let created = session.api.post(&["principals"], body).await?;
    session.print(&created, &created_columns())?;
    if session.format == Format::Table {
        eprintln!("Save the secret now: it cannot be shown again.");
    }
    Ok(())
}

async fn list_principals(session: &Session, kind: Kind) -> Result<()> {
    let answer = session
        .api
        .get(&["principals"], &[("kind", kind.api_name())])
        .await?;
    let list = field(&answer, "principals")?;
    session.print(&list, &principal_columns(kind))
}

/// The principal `name`, refused when it is of another kind than the command is about.
async fn lookup(session: &Session, kind: Kind, name: &str) -> Result<Value> {
    check_name(name)?;
    let found = session.api.get(&["principals", name], &[]).await?;
    let actual = found
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match Kind::from_api(actual) {
        Some(k) if k == kind => Ok(found),
        Some(other) => Err(ClientError::usage(format!(
            "{name} is a {}, not a {}; use `berth {} ...` for it",
            other.noun(),
            kind.noun(),
            other.command()
        ))),
        None => Err(ClientError::Protocol {
            url: session.api_url(&["principals", name]),
            reason: format!("principal {name} has an unknown kind {actual:?}"),
        }),
    }
}

async fn update(
    session: &Session,
    kind: Kind,
    name: &str,
    body: Value,
    wanted: &str,
) -> Result<()> {
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(ClientError::usage(format!(
            "nothing to update; pass {wanted}"
        )));
    }
    lookup(session, kind, name).await?;
    let updated = session.api.patch(&["principals", name], &body).await?;
    session.print(&updated, &principal_columns(kind))
}

async fn delete_principal(session: &Session, kind: Kind, name: &str, yes: bool) -> Result<()> {
    lookup(session, kind, name).await?;
    if !yes {
        confirm(&format!(
            "Delete {} {name}? Its secrets and login tokens stop working at once.",
            kind.noun()
        ))?;
    }
    session.api.delete(&["principals", name], &[]).await?;
    session.say(&format!("Deleted {} {name}.", kind.noun()));
    Ok(())
}

async fn credential(session: &Session, kind: Kind, action: CredentialAction) -> Result<()> {
    match action {
        CredentialAction::Reset {
            name,
            slot,
            expires_in_days,
        } => {
            lookup(session, kind, &name).await?;
            let mut body = json!({"slot": slot});
            set_opt(
                &mut body,
                "expires_in_days",
                expires_in_days.map(Value::from),
            );
            let mut secret = session
                .api
                .post(&["principals", &name, "secrets"], &body)
                .await?;
            if let Some(object) = secret.as_object_mut() {
                object.insert("name".into(), Value::String(name));
            }
            session.print(&secret, &columns(&["name", "slot", "secret", "expires_at"]))?;
            if session.format == Format::Table {
                eprintln!("Save the secret now: it cannot be shown again.");
            }
            Ok(())
        }
        CredentialAction::Delete { name, slot } => {
            lookup(session, kind, &name).await?;
            let slot = slot.to_string();
            session
                .api
                .delete(&["principals", &name, "secrets", &slot], &[])
                .await?;
            session.say(&format!("Deleted secret {slot} of {} {name}.", kind.noun()));
            Ok(())
        }
        CredentialAction::List { name } => {
            let found = lookup(session, kind, &name).await?;
            let secrets = found.get("secrets").cloned().unwrap_or(json!([]));
            session.print(&secrets, &columns(&["slot", "created_at", "expires_at"]))
        }
    }
}

/// `berth role ...`.
pub async fn role(session: &Session, action: RoleAction) -> Result<()> {
    match action {
        RoleAction::Assign {
            principal,
            role,
            scope,
        } => {
            let body = json!({"principal": principal, "role": role, "scope": scope});
            let assigned = session.api.post(&["role-assignments"], &body).await?;
            session.print(&assigned, &columns(ROLE_COLUMNS))
        }
        RoleAction::List { principal } => {
            let query: Vec<(&str, &str)> = principal
                .as_deref()
                .map(|p| ("principal", p))
                .into_iter()
                .collect();
            let answer = session.api.get(&["role-assignments"], &query).await?;
            session.print(&field(&answer, "role_assignments")?, &columns(ROLE_COLUMNS))
        }
        RoleAction::Remove {
            principal,
            role,
            scope,
        } => {
            let query = [
                ("principal", principal.as_str()),
                ("role", role.as_str()),
                ("scope", scope.as_str()),
            ];
            session.api.delete(&["role-assignments"], &query).await?;
            session.say(&format!("Removed role {role} on {scope} from {principal}."));
            Ok(())
        }
    }
}

/// `berth federation ...`.
pub async fn federation(session: &Session, action: FederationAction) -> Result<()> {
    let federation_columns = columns(&["name", "issuer", "audience", "claims", "principal"]);
    match action {
        FederationAction::Create {
            name,
            issuer,
            audience,
            claims,
            principal,
        } => {
            let body = json!({
                "name": name,
                "issuer": issuer,
                "audience": audience,
                "claims": parse_claims(&claims)?,
                "principal": principal,
            });
            let created = session.api.post(&["federations"], &body).await?;
            session.print(&created, &federation_columns)
        }
        FederationAction::List => {
            let answer = session.api.get(&["federations"], &[]).await?;
            session.print(&field(&answer, "federations")?, &federation_columns)
        }
        FederationAction::Delete { name } => {
            check_name(&name)?;
            session.api.delete(&["federations", &name], &[]).await?;
            session.say(&format!("Deleted federation {name}."));
            Ok(())
        }
    }
}

/// `berth registry ...`.
pub async fn registry(session: &Session, action: RegistryAction) -> Result<()> {
    let settings = match action {
        RegistryAction::Show => session.api.get(&["settings"], &[]).await?,
        RegistryAction::Update {
            anonymous_pull,
            quota,
        } => {
            let mut body = json!({});
            set_opt(&mut body, "anonymous_pull", anonymous_pull.map(Value::from));
            set_opt(&mut body, "quota_bytes", quota.map(Quota::to_json));
            if body.as_object().is_some_and(Map::is_empty) {
                return Err(ClientError::usage(
                    "nothing to update; pass --anonymous-pull or --quota",
                ));
            }
            session.api.patch(&["settings"], &body).await?
        }
        RegistryAction::ShowUsage => {
            let usage = session.api.get(&["usage"], &[]).await?;
            let figures = field(&usage, "value")?;
            let usage_columns = columns(&["name", "current_value", "limit", "unit"]);
            return session.print(&figures, &usage_columns);
        }
    };
    let settings_columns = vec![
        Column::new("anonymous_pull"),
        Column::new("service"),
        Column::at("Quota", "quota_bytes"),
    ];
    session.print(&settings, &settings_columns)
}

/// `berth signing-key ...`.
pub async fn signing_key(session: &Session, action: SigningKeyAction) -> Result<()> {
    match action {
        SigningKeyAction::Rotate => {
            let rotated = session
                .api
                .post(&["signing-keys", "rotate"], &json!({}))
                .await?;
            session.print(&rotated, &columns(&["kid", "previous"]))
        }
        SigningKeyAction::List => {
            let answer = session.api.get(&["signing-keys"], &[]).await?;
            let keys = field(&answer, "keys")?;
            session.print(
                &keys,
                &columns(&["kid", "active", "created_at", "retired_at"]),
            )
        }
    }
}

/// `berth audit`.
pub async fn audit(session: &Session, args: AuditArgs) -> Result<()> {
    let limit = args.limit.map(|n| n.to_string());
    let filters = [
        ("principal", args.principal.as_deref()),
        ("repository", args.repository.as_deref()),
        ("action", args.action.as_deref()),
        ("outcome", args.outcome.as_deref()),
        ("since", args.since.as_deref()),
        ("until", args.until.as_deref()),
        ("limit", limit.as_deref()),
        ("before", args.before.as_deref()),
    ];
    let query: Vec<(&str, &str)> = filters
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let answer = session.api.get(&["audit"], &query).await?;
    let events = field(&answer, "events")?;
    let audit_columns = columns(&[
        "id",
        "at",
        "principal",
        "action",
        "repository",
        "digest",
        "source",
        "outcome",
        "detail",
    ]);
    session.print(&events, &audit_columns)?;
    if let Some(next) = answer.get("next_before").filter(|v| !v.is_null()) {
        if session.format == Format::Table {
            let next = next
                .as_str()
                .map_or_else(|| next.to_string(), str::to_string);
            eprintln!("More events are older; add --before {next} to see them.");
        }
    }
    Ok(())
}

/// `berth whoami`.
pub async fn whoami(session: &Session) -> Result<()> {
    let me = session.api.get(&["whoami"], &[]).await?;
    session.print(&me, &columns(&["name", "kind", "admin", "roles"]))
}

impl Session {
    fn api_url(&self, segments: &[&str]) -> String {
        self.api.url(segments)
    }
}

/// Pairs each `--role` with the `--scope` at the same position; no scopes at all means
/// `*` for every role.
pub fn pair_roles(roles: &[String], scopes: &[String]) -> Result<Vec<Value>> {
    if roles.is_empty() && !scopes.is_empty() {
        return Err(ClientError::usage("--scope needs a --role to go with it"));
    }
    if !scopes.is_empty() && scopes.len() != roles.len() {
        return Err(ClientError::usage(format!(
            "{} --role but {} --scope; give one --scope per --role, or none for `*`",
            roles.len(),
            scopes.len()
        )));
    }
    Ok(roles
        .iter()
        .enumerate()
        .map(|(i, role)| {
            let scope = scopes.get(i).map_or("*", String::as_str);
            json!({"role": role, "scope": scope})
        })
        .collect())
}

/// `--claim name=glob` flags as the API's claims object.
pub fn parse_claims(claims: &[String]) -> Result<Map<String, Value>> {
    let mut parsed = Map::new();
    for claim in claims {
        let Some((name, glob)) = claim.split_once('=') else {
            return Err(ClientError::usage(format!(
                "--claim {claim:?} has no `=`; write it as name=glob, e.g. sub=repo:org/app:*"
            )));
        };
        let name = name.trim();
        if name.is_empty() || glob.is_empty() {
            return Err(ClientError::usage(format!(
                "--claim {claim:?} needs both a claim name and a value, e.g. sub=repo:org/app:*"
            )));
        }
        if parsed.insert(name.to_string(), Value::from(glob)).is_some() {
            return Err(ClientError::usage(format!(
                "--claim {name} is given twice; a claim can have one pattern"
            )));
        }
    }
    Ok(parsed)
}

/// Scope map entries with blanks (from `a,,b` or a trailing comma) dropped.
pub fn clean_scope_map(entries: Vec<String>) -> Result<Vec<String>> {
    let cleaned: Vec<String> = entries
        .into_iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    if cleaned.is_empty() {
        return Err(ClientError::usage(
            "the scope map is empty; give entries such as repositories/app/content/read",
        ));
    }
    Ok(cleaned)
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(ClientError::usage(format!("{name:?} is not a valid name")));
    }
    Ok(())
}

pub(super) fn set_opt(body: &mut Value, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        body[key] = value;
    }
}

/// The list inside an answer such as `{"principals": [...]}`.
pub(super) fn field(answer: &Value, key: &str) -> Result<Value> {
    answer
        .get(key)
        .cloned()
        .ok_or_else(|| ClientError::Protocol {
            url: "the management API".into(),
            reason: format!("the answer has no {key:?}"),
        })
}

/// Asks on the terminal; without one, refuses rather than deleting unasked.
pub(super) fn confirm(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(ClientError::usage(
            "deleting needs confirmation and there is no terminal to ask on; pass --yes",
        ));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{question} [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|source| ClientError::Input {
            what: "the confirmation",
            source,
        })?;
    match answer.trim() {
        "y" | "Y" | "yes" | "YES" | "Yes" => Ok(()),
        _ => Err(ClientError::Cancelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_pair_with_scopes_by_position() {
        let paired = pair_roles(&strings(&["push", "pull"]), &strings(&["team/*", "app"])).unwrap();
        assert_eq!(
            paired,
            vec![
                json!({"role": "push", "scope": "team/*"}),
                json!({"role": "pull", "scope": "app"})
            ]
        );
        let registry_wide = pair_roles(&strings(&["owner"]), &[]).unwrap();
        assert_eq!(registry_wide, vec![json!({"role": "owner", "scope": "*"})]);
        assert!(pair_roles(&[], &[]).unwrap().is_empty());
    }

    #[test]
    fn mismatched_roles_and_scopes_are_refused() {
        let err = pair_roles(&strings(&["push", "pull"]), &strings(&["a"])).unwrap_err();
        assert!(err.to_string().contains("one --scope per --role"), "{err}");
        let err = pair_roles(&[], &strings(&["a"])).unwrap_err();
        assert!(err.to_string().contains("--role"), "{err}");
    }

    #[test]
    fn claims_parse_as_name_glob_pairs() {
        let parsed =
            parse_claims(&strings(&["sub=repo:org/app:*", "ref=refs/heads/main"])).unwrap();
        assert_eq!(
            Value::Object(parsed),
            json!({"sub": "repo:org/app:*", "ref": "refs/heads/main"})
        );
        let with_equals = parse_claims(&strings(&["sub=a=b"])).unwrap();
        assert_eq!(with_equals["sub"], "a=b");
    }

    #[test]
    fn malformed_claims_are_refused() {
        for bad in [&["sub"][..], &["=x"], &["sub="], &["sub=a", "sub=b"]] {
            let err = parse_claims(&strings(bad)).unwrap_err();
            assert!(matches!(err, ClientError::Usage(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn scope_maps_drop_blanks_and_refuse_emptiness() {
        let cleaned =
            clean_scope_map(strings(&[" repositories/a/content/read", "", "x "])).unwrap();
        assert_eq!(cleaned, strings(&["repositories/a/content/read", "x"]));
        assert!(clean_scope_map(strings(&["", " "])).is_err());
    }

    #[test]
    fn names_that_would_change_the_path_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("ci-bot").is_ok());
    }
}
