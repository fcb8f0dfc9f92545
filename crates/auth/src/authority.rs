//! The identity service: who a request comes from and what it may do.
//!
//! [`Authority`] authenticates the three kinds of caller (anonymous, HTTP basic with a
//! principal's secret or login token, and a bearer token this registry signed), decides
//! each repository action, and issues tokens at the token endpoint.
//!
//! Guarantees:
//! - a token grants at most what its principal held when it was issued, and only for the
//!   service it names; bearer tokens are checked for signature, audience and expiry;
//! - login tokens die with the secret (or federation) that minted them;
//! - secrets are compared only through argon2 verification, off the async threads, and
//!   never logged;
//! - the hot path of an authenticated request is a cache lookup: verified bearer tokens,
//!   verified basic credentials and principals' grants are cached, and any change made
//!   through this service clears those caches at once (other nodes catch up within
//!   [`CACHE_TTL`]).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use berth_meta::{MetaStore, PrincipalKind, PrincipalRecord};
use serde::{Deserialize, Serialize};

use crate::access::{Action, ActionSet, Grants, RepoPattern, RequestedScope, Role, ScopeMapEntry};
use crate::audit::{outcome, AuditEntry, AuditLog};
use crate::clock::{now_millis, now_secs};
use crate::error::AuthError;
use crate::federation::FederationVerifier;
use crate::jwt::{self, KeyRing};
use crate::keys::generate_signing_key;
use crate::password::{generate_secret, hash_secret, verify_secret};
use crate::throttle::Throttle;

/// How long cached credentials and grants are trusted without asking the database.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
/// Entries per cache before it is cleared; bounds memory under a flood of new tokens.
const CACHE_LIMIT: usize = 8192;
/// Clock skew tolerated on the registry's own tokens, in seconds.
const LEEWAY: i64 = 30;
/// The username clients send with a login token as password, as ACR does.
pub const TOKEN_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
/// The scope that lets a token act for its principal on the management API.
pub const API_SCOPE: &str = "registry:api:*";
/// The least time between two key reloads forced by tokens with unknown key ids.
const KEY_RELOAD_INTERVAL_MS: i64 = 10_000;
/// The settings key for registry-wide anonymous pull.
const ANONYMOUS_PULL_SETTING: &str = "anonymous_pull";

/// Knobs of the identity service.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The service name tokens are bound to (their audience).
    pub service: String,
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
    /// Lifetime of login tokens when the request does not ask for one.
    pub login_ttl: Duration,
    /// The longest login token issued.
    pub login_ttl_max: Duration,
    /// Failed authentications per address within `failure_window` before it is blocked.
    pub failure_limit: u32,
    pub failure_window: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            service: "berth".into(),
            access_ttl: Duration::from_secs(300),
            login_ttl: Duration::from_secs(3 * 3600),
            login_ttl_max: Duration::from_secs(24 * 3600),
            failure_limit: 10,
            failure_window: Duration::from_secs(60),
        }
    }
}

/// A principal as requests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub id: i64,
    pub name: String,
    pub kind: PrincipalKind,
}

/// Who a request comes from.
#[derive(Clone, Debug)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// Basic credentials on the request itself: the principal's current grants apply.
    Principal {
        principal: Arc<Principal>,
        grants: Arc<Grants>,
    },
    /// A bearer token: exactly the access it carries applies.
    Token(Arc<VerifiedAccess>),
}

impl Caller {
    /// The principal's name, `None` for anonymous callers.
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::Anonymous => None,
            Caller::Principal { principal, .. } => Some(&principal.name),
            Caller::Token(access) => access.subject.as_deref(),
        }
    }
}

/// The verified content of an access token.
#[derive(Debug)]
pub struct VerifiedAccess {
    /// `None` for anonymous tokens.
    pub subject: Option<String>,
    pub principal_id: Option<i64>,
    pub expires_at: i64,
    repositories: Vec<(String, ActionSet)>,
    api: bool,
}

impl VerifiedAccess {
    fn actions_on(&self, repository: &str) -> ActionSet {
        self.repositories
            .iter()
            .filter(|(name, _)| name == repository)
            .fold(ActionSet::EMPTY, |acc, (_, actions)| acc.union(*actions))
    }
}

/// The answer to "may this caller do this here?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No (valid) identity: authenticate and try again.
    Unauthenticated,
    /// The token lacks the action but its principal holds it: fetch a token that asks.
    InsufficientScope,
    /// The identity is known and does not hold the action.
    Forbidden,
}

/// What a client presents at the token endpoint.
#[derive(Clone, Debug)]
pub enum Credentials {
    Anonymous,
    /// A principal's name and secret, or any of the accepted usernames with a login token.
    Password {
        username: String,
        password: String,
    },
    /// A login token (OAuth2's refresh token).
    RefreshToken(String),
    /// A JWT signed by an external OIDC issuer that a federation trusts.
    Federated(String),
}

/// A request to the token endpoint.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub credentials: Credentials,
    pub service: Option<String>,
    pub scopes: Vec<RequestedScope>,
    /// Whether a login token is wanted as well.
    pub offline: bool,
    pub login_ttl: Option<Duration>,
    pub source: IpAddr,
}

/// What the token endpoint hands out.
#[derive(Clone, Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: u64,
    pub issued_at: i64,
    pub login_token: Option<String>,
    pub login_expires_in: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct AccessClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    nbf: i64,
    iat: i64,
    jti: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid: Option<i64>,
    access: Vec<AccessClaim>,
}

#[derive(Serialize, Deserialize)]
struct AccessClaim {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    actions: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct LoginClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    jti: String,
    kind: String,
    pid: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fid: Option<i64>,
}

const ACCESS_KIND: &str = "access";
const LOGIN_KIND: &str = "login";

/// A cache entry that expires and belongs to one generation of identity data.
struct Cached<T> {
    value: T,
    until: Instant,
    generation: u64,
}

/// A verified bearer token and what it grants.
struct CachedToken {
    token: Box<str>,
    access: Cached<Arc<VerifiedAccess>>,
}

struct Caches {
    /// Keyed by the token's signature, which is short and unique per token; the entry
    /// keeps the whole token so that a lookup still compares it completely.
    tokens: HashMap<Box<str>, CachedToken>,
    basic: HashMap<[u8; 32], Cached<Arc<Principal>>>,
    grants: HashMap<i64, Cached<Option<Arc<Grants>>>>,
    registry_public: Option<Cached<bool>>,
}

struct Inner {
    meta: MetaStore,
    settings: AuthSettings,
    keys: RwLock<Arc<KeyRing>>,
    caches: Mutex<Caches>,
    /// One lock per credential pair being verified right now.
    in_flight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    generation: AtomicU64,
    /// Unix milliseconds of the last key reload forced by an unknown key id.
    last_key_reload: std::sync::atomic::AtomicI64,
    throttle: Throttle,
    federation: FederationVerifier,
    audit: AuditLog,
}

/// The identity service. Cheap to clone.
#[derive(Clone)]
pub struct Authority {
    inner: Arc<Inner>,
}

impl Authority {
    /// Loads the signing keys (creating the first one on a new registry) and starts the
    /// service.
    pub async fn open(
        meta: MetaStore,
        settings: AuthSettings,
        audit: AuditLog,
    ) -> Result<Self, AuthError> {
        let keys = load_keys(&meta, settings.login_ttl_max).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                throttle: Throttle::new(settings.failure_limit, settings.failure_window),
                meta,
                settings,
                keys: RwLock::new(Arc::new(keys)),
                caches: Mutex::new(Caches {
                    tokens: HashMap::new(),
                    basic: HashMap::new(),
                    grants: HashMap::new(),
                    registry_public: None,
                }),
                in_flight: Mutex::new(HashMap::new()),
                generation: AtomicU64::new(0),
                last_key_reload: std::sync::atomic::AtomicI64::new(0),
                federation: FederationVerifier::new(),
                audit,
            }),
        })
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.inner.settings
    }

    pub fn meta(&self) -> &MetaStore {
        &self.inner.meta
    }

    pub fn audit(&self) -> &AuditLog {
        &self.inner.audit
    }

    /// On a registry without principals, creates `owner` with a random password written
    /// to `password_file` (mode 0600). Returns whether it did.
    ///
    /// The file is written and synced before the principal is stored: a crash in between
    /// leaves no principal, and the next start simply writes a new password.
    pub async fn bootstrap_owner(&self, password_file: &Path) -> Result<bool, AuthError> {
        if self.inner.meta.count_principals().await? > 0 {
            return Ok(false);
        }
        let password = generate_secret();
        write_private_file(password_file, password.as_bytes()).map_err(|err| {
            AuthError::Internal(format!("cannot write {}: {err}", password_file.display()))
        })?;
        let hash = hash_blocking(password).await?;
        let now = now_millis();
        let meta = &self.inner.meta;
        let owner = meta
            .create_principal(
                "owner",
                PrincipalKind::User,
                "created at first start",
                None,
                now,
            )
            .await?;
        meta.set_secret(owner.id, 1, &hash, None, now).await?;
        meta.assign_role(owner.id, Role::Owner.as_str(), "*", now)
            .await?;
        self.invalidate();
        tracing::warn!(
            password_file = %password_file.display(),
            "created the principal `owner`; its password is in the file"
        );
        Ok(true)
    }

    /// Forgets every cached credential and grant, after a change to identities.
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        let mut caches = self.caches();
        caches.tokens.clear();
        caches.basic.clear();
        caches.grants.clear();
        caches.registry_public = None;
    }

    fn caches(&self) -> std::sync::MutexGuard<'_, Caches> {
        self.inner.caches.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    fn key_ring(&self) -> Arc<KeyRing> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether enough time has passed since the last reload caused by an unknown key, so
    /// that tokens with made-up key ids cannot turn every request into a database read.
    fn may_reload_keys(&self) -> bool {
        let now = now_millis();
        let last = self.inner.last_key_reload.load(Ordering::Acquire);
        now - last >= KEY_RELOAD_INTERVAL_MS
            && self
                .inner
                .last_key_reload
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Reloads the key ring from the database (after a rotation here or on another node).
    pub async fn reload_keys(&self) -> Result<(), AuthError> {
        let keys = load_keys(&self.inner.meta, self.inner.settings.login_ttl_max).await?;
        *self.inner.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(())
    }

    /// Rotates the signing key: a new key signs from now on, the old ones keep verifying
    /// until every token they signed has expired. Returns (new kid, previous kid).
    pub async fn rotate_signing_key(&self) -> Result<(String, String), AuthError> {
        let previous = self.key_ring().active_kid().to_string();
        let (kid, pkcs8) = generate_signing_key()?;
        self.inner
            .meta
            .add_signing_key(&kid, &pkcs8, now_millis())
            .await?;
        self.reload_keys().await?;
        self.invalidate();
        tracing::info!(kid = %kid, previous = %previous, "signing key rotated");
        Ok((kid, previous))
    }

    /// The public keys, for anyone who wants to verify the registry's tokens.
    pub fn jwks(&self) -> serde_json::Value {
        self.key_ring().jwks()
    }

    // ---- authentication of requests -------------------------------------------------

    /// Identifies the caller from an `Authorization` header value.
    ///
    /// Bad credentials are an error (so the client hears 401 rather than being treated
    /// as anonymous); so is an address that failed too often.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        source: IpAddr,
    ) -> Result<Caller, AuthError> {
        let Some(header) = authorization.map(str::trim) else {
            return Ok(Caller::Anonymous);
        };
        if let Some(token) = strip_scheme(header, "Bearer") {
            return match self.verify_access_token(token) {
                // Another node may have rotated the key; learn the new one, once in a while.
                Err(AuthError::UnknownKey) if self.may_reload_keys() => {
                    self.reload_keys().await?;
                    self.verify_access_token(token).map(Caller::Token)
                }
                other => other.map(Caller::Token),
            };
        }
        if let Some(encoded) = strip_scheme(header, "Basic") {
            let (username, password) = decode_basic(encoded)?;
            let principal = self
                .authenticate_basic(&username, &password, source)
                .await?;
            let grants = self.grants_of(principal.id).await?;
            return Ok(Caller::Principal { principal, grants });
        }
        Err(AuthError::BadCredentials)
    }

    /// Verifies a bearer token this registry issued.
    pub fn verify_access_token(&self, token: &str) -> Result<Arc<VerifiedAccess>, AuthError> {
        let now = now_secs();
        let generation = self.generation();
        let signature = token.rsplit('.').next().unwrap_or(token);
        if let Some(CachedToken {
            token: whole,
            access,
        }) = self.caches().tokens.get(signature)
        {
            let fresh = access.value.expires_at + LEEWAY > now && access.generation == generation;
            if fresh && **whole == *token {
                return Ok(access.value.clone());
            }
        }
        let claims: AccessClaims = self.key_ring().verify(token)?;
        if claims.kind != ACCESS_KIND {
            return Err(AuthError::InvalidToken(
                "this is not an access token".into(),
            ));
        }
        self.check_audience(&claims.aud)?;
        jwt::check_times(claims.exp, Some(claims.nbf), now, LEEWAY)?;
        let mut repositories = Vec::new();
        let mut api = false;
        for entry in &claims.access {
            match entry.kind.as_str() {
                "repository" => repositories.push((
                    entry.name.clone(),
                    ActionSet::from_docker_actions(entry.actions.iter().map(String::as_str)),
                )),
                "registry" if entry.name == "api" => api = true,
                _ => {}
            }
        }
        let access = Arc::new(VerifiedAccess {
            subject: (!claims.sub.is_empty()).then_some(claims.sub),
            principal_id: claims.pid,
            expires_at: claims.exp,
            repositories,
            api,
        });
        let mut caches = self.caches();
        if caches.tokens.len() >= CACHE_LIMIT {
            caches.tokens.clear();
        }
        caches.tokens.insert(
            signature.into(),
            CachedToken {
                token: token.into(),
                access: Cached {
                    value: access.clone(),
                    until: Instant::now() + CACHE_TTL,
                    generation,
                },
            },
        );
        Ok(access)
    }

    fn check_audience(&self, audience: &str) -> Result<(), AuthError> {
        if audience == self.inner.settings.service {
            Ok(())
        } else {
            Err(AuthError::WrongAudience {
                expected: self.inner.settings.service.clone(),
                found: audience.to_string(),
            })
        }
    }

    /// Checks a username and password (a secret, or a login token), with throttling.
    async fn authenticate_basic(
        &self,
        username: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<Arc<Principal>, AuthError> {
        let key = credential_key(username, password);
        if let Some(principal) = self.cached_basic(&key) {
            return Ok(principal);
        }
        // Many connections of one client present the same credentials at once; one
        // argon2 check answers all of them instead of each paying for its own.
        let flight = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let _turn = flight.lock().await;
        let result = self
            .authenticate_basic_uncached(key, username, password, source)
            .await;
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        result
    }

    fn cached_basic(&self, key: &[u8; 32]) -> Option<Arc<Principal>> {
        let generation = self.generation();
        let caches = self.caches();
        let cached = caches.basic.get(key)?;
        (cached.until > Instant::now() && cached.generation == generation)
            .then(|| cached.value.clone())
    }

    async fn authenticate_basic_uncached(
        &self,
        key: [u8; 32],
        username: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<Arc<Principal>, AuthError> {
        if let Some(principal) = self.cached_basic(&key) {
            return Ok(principal);
        }
        let generation = self.generation();
        if let Some(retry_after) = self.inner.throttle.blocked(source) {
            return Err(AuthError::Throttled { retry_after });
        }
        let result = if looks_like_jwt(password) {
            self.verify_login_token(password)
                .await
                .and_then(|(principal, _)| {
                    if username == TOKEN_USERNAME || username == principal.name {
                        Ok(principal)
                    } else {
                        Err(AuthError::BadCredentials)
                    }
                })
        } else {
            self.verify_password(username, password)
                .await
                .map(|(p, _)| p)
        };
        match result {
            Ok(principal) => {
                let principal = Arc::new(principal);
                self.audit_authentication(Some(&principal.name), "basic", source, true, "");
                let mut caches = self.caches();
                if caches.basic.len() >= CACHE_LIMIT {
                    caches.basic.clear();
                }
                caches.basic.insert(
                    key,
                    Cached {
                        value: principal.clone(),
                        until: Instant::now() + CACHE_TTL,
                        generation,
                    },
                );
                Ok(principal)
            }
            Err(err) => {
                self.record_failure(username, "basic", source, &err);
                Err(err)
            }
        }
    }

    fn record_failure(&self, username: &str, method: &str, source: IpAddr, err: &AuthError) {
        if !err.is_internal() {
            self.inner.throttle.record_failure(source);
        }
        self.audit_authentication(Some(username), method, source, false, &err.to_string());
        tracing::info!(username, source = %source, method, "authentication failed");
    }

    fn audit_authentication(
        &self,
        principal: Option<&str>,
        method: &str,
        source: IpAddr,
        succeeded: bool,
        detail: &str,
    ) {
        let detail = if detail.is_empty() {
            format!("method={method}")
        } else {
            format!("method={method}: {detail}")
        };
        self.inner.audit.record(AuditEntry {
            principal: principal.map(str::to_string),
            action: "authenticate",
            source: Some(source),
            outcome: if succeeded {
                outcome::SUCCEEDED
            } else {
                outcome::FAILED
            },
            detail,
            ..AuditEntry::default()
        });
    }

    /// A principal's name and one of its unexpired secrets; returns the secret's id.
    async fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Principal, i64), AuthError> {
        let meta = &self.inner.meta;
        let Some(record) = meta.principal_by_name(username).await? else {
            // Spend the same time as a real check, so the answer does not reveal
            // whether the name exists.
            let _ = hash_blocking(password.to_string()).await;
            return Err(AuthError::BadCredentials);
        };
        if !record.enabled {
            return Err(AuthError::BadCredentials);
        }
        let now = now_millis();
        let secrets: Vec<_> = meta
            .secrets_of(record.id)
            .await?
            .into_iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| (s.id, s.hash))
            .collect();
        let password = password.to_string();
        let _turn = hashing_turn().await;
        let matched = tokio::task::spawn_blocking(move || {
            secrets
                .into_iter()
                .find(|(_, hash)| verify_secret(&password, hash))
                .map(|(id, _)| id)
        })
        .await
        .map_err(|err| AuthError::Internal(format!("password check failed: {err}")))?;
        match matched {
            Some(secret_id) => Ok((principal_of(&record), secret_id)),
            None => Err(AuthError::BadCredentials),
        }
    }

    /// Verifies a login token and that what minted it still stands.
    async fn verify_login_token(&self, token: &str) -> Result<(Principal, LoginClaims), AuthError> {
        let claims: LoginClaims = match self.key_ring().verify(token) {
            Err(AuthError::UnknownKey) => {
                self.reload_keys().await?;
                self.key_ring().verify(token)?
            }
            other => other?,
        };
        if claims.kind != LOGIN_KIND {
            return Err(AuthError::InvalidToken("this is not a login token".into()));
        }
        self.check_audience(&claims.aud)?;
        jwt::check_times(claims.exp, None, now_secs(), LEEWAY)?;
        let meta = &self.inner.meta;
        let record = meta
            .principal_by_id(claims.pid)
            .await?
            .filter(|p| p.enabled && p.name == claims.sub)
            .ok_or(AuthError::BadCredentials)?;
        if let Some(sid) = claims.sid {
            let now = now_millis();
            meta.secret_by_id(sid)
                .await?
                .filter(|s| s.principal_id == record.id && s.expires_at.is_none_or(|at| at > now))
                .ok_or_else(|| {
                    AuthError::InvalidToken(
                        "the secret this login token came from was removed".into(),
                    )
                })?;
        } else if let Some(fid) = claims.fid {
            let exists = meta
                .list_federations()
                .await?
                .iter()
                .any(|f| f.id == fid && f.principal_id == record.id);
            if !exists {
                return Err(AuthError::InvalidToken(
                    "the federation this login token came from was removed".into(),
                ));
            }
        } else {
            return Err(AuthError::InvalidToken(
                "the login token names no origin".into(),
            ));
        }
        Ok((principal_of(&record), claims))
    }

    // ---- authorization -----------------------------------------------------------------

    /// The grants a principal holds now (cached).
    pub async fn grants_of(&self, principal_id: i64) -> Result<Arc<Grants>, AuthError> {
        Ok(self
            .active_grants(principal_id)
            .await?
            .unwrap_or_else(|| Arc::new(Grants::new())))
    }

    /// The grants of a principal that exists and is enabled (cached); `None` otherwise.
    async fn active_grants(&self, principal_id: i64) -> Result<Option<Arc<Grants>>, AuthError> {
        let generation = self.generation();
        if let Some(cached) = self.caches().grants.get(&principal_id) {
            if cached.until > Instant::now() && cached.generation == generation {
                return Ok(cached.value.clone());
            }
        }
        let meta = &self.inner.meta;
        let grants = match meta.principal_by_id(principal_id).await? {
            Some(record) if record.enabled => {
                Some(Arc::new(grants_from_record(meta, &record).await?))
            }
            _ => None,
        };
        let mut caches = self.caches();
        if caches.grants.len() >= CACHE_LIMIT {
            caches.grants.clear();
        }
        caches.grants.insert(
            principal_id,
            Cached {
                value: grants.clone(),
                until: Instant::now() + CACHE_TTL,
                generation,
            },
        );
        Ok(grants)
    }

    /// Whether anyone may pull `repository` without credentials.
    pub async fn is_public(&self, repository: &str) -> Result<bool, AuthError> {
        if self.registry_public().await? {
            return Ok(true);
        }
        Ok(self.inner.meta.anonymous_pull(repository).await?)
    }

    async fn registry_public(&self) -> Result<bool, AuthError> {
        let generation = self.generation();
        if let Some(cached) = &self.caches().registry_public {
            if cached.until > Instant::now() && cached.generation == generation {
                return Ok(cached.value);
            }
        }
        let public = self
            .inner
            .meta
            .setting(ANONYMOUS_PULL_SETTING)
            .await?
            .is_some_and(|v| v == "true");
        self.caches().registry_public = Some(Cached {
            value: public,
            until: Instant::now() + CACHE_TTL,
            generation,
        });
        Ok(public)
    }

    /// Decides whether `caller` may perform any one of `actions` on `repository`.
    ///
    /// A token grants at most what it carries and, since principals change, at most what
    /// its principal holds now: a disabled or deleted principal's tokens stop working,
    /// and a removed role stops working for live tokens too.
    pub async fn authorize(
        &self,
        caller: &Caller,
        repository: &str,
        actions: ActionSet,
    ) -> Result<Decision, AuthError> {
        let (held, live) = match caller {
            Caller::Anonymous => (ActionSet::EMPTY, None),
            Caller::Principal { grants, .. } => (grants.actions_on(repository), None),
            Caller::Token(access) => match access.principal_id {
                None => (access.actions_on(repository), None),
                Some(pid) => match self.active_grants(pid).await? {
                    None => return Ok(Decision::Unauthenticated),
                    Some(grants) => {
                        let live = grants.actions_on(repository);
                        (access.actions_on(repository).intersect(live), Some(live))
                    }
                },
            },
        };
        if !held.intersect(actions).is_empty() {
            return Ok(Decision::Allow);
        }
        if actions.contains(Action::Pull) && self.is_public(repository).await? {
            return Ok(Decision::Allow);
        }
        Ok(match caller {
            Caller::Anonymous => Decision::Unauthenticated,
            Caller::Principal { .. } => Decision::Forbidden,
            Caller::Token(_) => match live {
                None => Decision::Unauthenticated,
                // Only actions a token can carry are worth asking a new token for;
                // metadata permissions have no Docker action, and a client told to
                // fetch a better token would loop.
                Some(live)
                    if !live
                        .intersect(actions)
                        .intersect(ActionSet::DOCKER)
                        .is_empty() =>
                {
                    Decision::InsufficientScope
                }
                Some(_) => Decision::Forbidden,
            },
        })
    }

    /// What a caller may see in the catalog.
    pub async fn catalog_view(&self, caller: &Caller) -> Result<CatalogView, AuthError> {
        let grants = match caller {
            Caller::Anonymous => None,
            Caller::Principal { grants, .. } => Some(grants.clone()),
            Caller::Token(access) => match access.principal_id {
                Some(pid) => Some(self.grants_of(pid).await?),
                None => None,
            },
        };
        if self.registry_public().await? || grants.as_ref().is_some_and(|g| g.sees_everything()) {
            return Ok(CatalogView { grants: None });
        }
        Ok(CatalogView {
            grants: Some(grants.unwrap_or_default()),
        })
    }

    /// The principal a management API request acts for, or why there is none.
    pub async fn api_principal(
        &self,
        caller: &Caller,
    ) -> Result<(Principal, Arc<Grants>), Decision> {
        match caller {
            Caller::Anonymous => Err(Decision::Unauthenticated),
            Caller::Principal { principal, grants } => Ok(((**principal).clone(), grants.clone())),
            Caller::Token(access) => {
                let Some(pid) = access.principal_id.filter(|_| access.api) else {
                    return Err(if access.principal_id.is_some() {
                        Decision::InsufficientScope
                    } else {
                        Decision::Unauthenticated
                    });
                };
                let record = self
                    .inner
                    .meta
                    .principal_by_id(pid)
                    .await
                    .ok()
                    .flatten()
                    .filter(|p| p.enabled)
                    .ok_or(Decision::Unauthenticated)?;
                let grants = self
                    .grants_of(pid)
                    .await
                    .map_err(|_| Decision::Unauthenticated)?;
                Ok((principal_of(&record), grants))
            }
        }
    }

    /// Records a refused authorization in the audit log.
    pub fn audit_denied(
        &self,
        caller: &Caller,
        action: &'static str,
        repository: Option<&str>,
        source: IpAddr,
        decision: Decision,
    ) {
        self.inner.audit.record(AuditEntry {
            principal: caller.name().map(str::to_string),
            action,
            repository: repository.map(str::to_string),
            source: Some(source),
            outcome: outcome::DENIED,
            detail: format!("{decision:?}"),
            ..AuditEntry::default()
        });
    }

    // ---- the token endpoint ------------------------------------------------------------

    /// Authenticates a token request and signs the tokens it may have.
    pub async fn issue(&self, request: TokenRequest) -> Result<IssuedTokens, AuthError> {
        let settings = &self.inner.settings;
        if let Some(service) = request.service.as_deref() {
            if service != settings.service {
                return Err(AuthError::WrongService {
                    requested: service.to_string(),
                    service: settings.service.clone(),
                });
            }
        }
        let source = request.source;
        let (method, username) = match &request.credentials {
            Credentials::Anonymous => ("anonymous", None),
            Credentials::Password { username, .. } => ("password", Some(username.clone())),
            Credentials::RefreshToken(_) => ("refresh_token", None),
            Credentials::Federated(_) => ("federated", None),
        };
        if !matches!(request.credentials, Credentials::Anonymous) {
            if let Some(retry_after) = self.inner.throttle.blocked(source) {
                return Err(AuthError::Throttled { retry_after });
            }
        }
        let origin = match self.authenticate_origin(&request.credentials).await {
            Ok(origin) => origin,
            Err(err) => {
                self.record_failure(username.as_deref().unwrap_or("-"), method, source, &err);
                return Err(err);
            }
        };
        if let Some((principal, _)) = &origin {
            self.audit_authentication(Some(&principal.name), method, source, true, "");
        }

        let now = now_secs();
        let grants = match &origin {
            Some((principal, _)) => Some(self.grants_of(principal.id).await?),
            None => None,
        };
        let mut access = Vec::new();
        for scope in &request.scopes {
            if let Some(claim) = self.grant_scope(scope, grants.as_deref()).await? {
                access.push(claim);
            }
        }
        let access_ttl = secs(settings.access_ttl);
        let claims = AccessClaims {
            iss: settings.service.clone(),
            sub: origin
                .as_ref()
                .map(|(p, _)| p.name.clone())
                .unwrap_or_default(),
            aud: settings.service.clone(),
            exp: now + access_ttl,
            nbf: now,
            iat: now,
            jti: new_token_id(),
            kind: ACCESS_KIND.into(),
            pid: origin.as_ref().map(|(p, _)| p.id),
            access,
        };
        let keys = self.key_ring();
        let access_token = keys.sign(&claims)?;

        let (login_token, login_expires_in) = match (&origin, request.offline) {
            (Some((principal, login_origin)), true) => {
                let ttl = request
                    .login_ttl
                    .unwrap_or(settings.login_ttl)
                    .min(settings.login_ttl_max)
                    .max(Duration::from_secs(60));
                let ttl = secs(ttl);
                let login = LoginClaims {
                    iss: settings.service.clone(),
                    sub: principal.name.clone(),
                    aud: settings.service.clone(),
                    exp: now + ttl,
                    iat: now,
                    jti: new_token_id(),
                    kind: LOGIN_KIND.into(),
                    pid: principal.id,
                    sid: login_origin.secret,
                    fid: login_origin.federation,
                };
                (Some(keys.sign(&login)?), Some(ttl as u64))
            }
            _ => (None, None),
        };
        Ok(IssuedTokens {
            access_token,
            expires_in: access_ttl as u64,
            issued_at: now,
            login_token,
            login_expires_in,
        })
    }

    /// Who the credentials name, and what a login token minted from them is bound to.
    async fn authenticate_origin(
        &self,
        credentials: &Credentials,
    ) -> Result<Option<(Principal, LoginOrigin)>, AuthError> {
        match credentials {
            Credentials::Anonymous => Ok(None),
            Credentials::Password { username, password } => {
                if looks_like_jwt(password) {
                    let (principal, claims) = self.verify_login_token(password).await?;
                    if username != TOKEN_USERNAME && *username != principal.name {
                        return Err(AuthError::BadCredentials);
                    }
                    Ok(Some((principal, LoginOrigin::of(&claims))))
                } else {
                    let (principal, secret) = self.verify_password(username, password).await?;
                    Ok(Some((
                        principal,
                        LoginOrigin {
                            secret: Some(secret),
                            federation: None,
                        },
                    )))
                }
            }
            Credentials::RefreshToken(token) => {
                let (principal, claims) = self.verify_login_token(token).await?;
                Ok(Some((principal, LoginOrigin::of(&claims))))
            }
            Credentials::Federated(token) => {
                let issuer = FederationVerifier::claimed_issuer(token)?;
                let federations = self.inner.meta.federations_for_issuer(&issuer).await?;
                let federation = self
                    .inner
                    .federation
                    .verify(token, &federations, now_secs())
                    .await?;
                let record = self
                    .inner
                    .meta
                    .principal_by_id(federation.principal_id)
                    .await?
                    .filter(|p| p.enabled)
                    .ok_or(AuthError::BadCredentials)?;
                tracing::info!(federation = %federation.name, principal = %record.name, "federated token accepted");
                Ok(Some((
                    principal_of(&record),
                    LoginOrigin {
                        secret: None,
                        federation: Some(federation.id),
                    },
                )))
            }
        }
    }

    /// The part of one requested scope the caller may have; `None` when nothing.
    async fn grant_scope(
        &self,
        scope: &RequestedScope,
        grants: Option<&Grants>,
    ) -> Result<Option<AccessClaim>, AuthError> {
        let requested = ActionSet::from_docker_actions(scope.actions.iter().map(String::as_str));
        let granted = match scope.kind.as_str() {
            "repository" => {
                let mut held = grants.map_or(ActionSet::EMPTY, |g| g.actions_on(&scope.name));
                if requested.contains(Action::Pull) && self.is_public(&scope.name).await? {
                    held.insert(Action::Pull);
                }
                requested.intersect(held).docker_actions()
            }
            "registry" if grants.is_some() && matches!(scope.name.as_str(), "catalog" | "api") => {
                vec!["*"]
            }
            _ => Vec::new(),
        };
        if granted.is_empty() {
            return Ok(None);
        }
        Ok(Some(AccessClaim {
            kind: scope.kind.clone(),
            name: scope.name.clone(),
            actions: granted.into_iter().map(str::to_string).collect(),
        }))
    }

    // ---- management --------------------------------------------------------------------

    /// Creates a principal with its first secret (slot 1) and roles. Returns the record
    /// and the plaintext secret, which is never stored.
    pub async fn create_principal(
        &self,
        new: NewPrincipal,
    ) -> Result<(PrincipalRecord, NewSecret), AuthError> {
        validate_principal_name(&new.name)?;
        let scope_map = match (new.kind, &new.scope_map) {
            (PrincipalKind::Token, Some(entries)) if !entries.is_empty() => {
                Some(normalize_scope_map(entries)?)
            }
            (PrincipalKind::Token, _) => {
                return Err(AuthError::Invalid(
                    "a token needs a scope map, e.g. repositories/app/content/read".into(),
                ))
            }
            (_, Some(entries)) if !entries.is_empty() => {
                return Err(AuthError::Invalid(
                    "only tokens carry a scope map; give users and service principals roles".into(),
                ))
            }
            _ => None,
        };
        let roles = new
            .roles
            .iter()
            .map(|(role, scope)| parse_assignment(role, scope))
            .collect::<Result<Vec<_>, _>>()?;
        let secret = generate_secret();
        let hash = hash_blocking(secret.clone()).await?;
        let now = now_millis();
        let expires_at = new.secret_ttl.map(|ttl| now + millis(ttl));
        let meta = &self.inner.meta;
        let record = meta
            .create_principal(
                &new.name,
                new.kind,
                &new.description,
                scope_map.as_deref(),
                now,
            )
            .await?;
        meta.set_secret(record.id, 1, &hash, expires_at, now)
            .await?;
        for (role, scope) in roles {
            meta.assign_role(record.id, role.as_str(), &scope, now)
                .await?;
        }
        self.invalidate();
        tracing::info!(principal = %record.name, kind = record.kind.as_str(), "principal created");
        Ok((
            record,
            NewSecret {
                slot: 1,
                secret,
                expires_at,
            },
        ))
    }

    /// Replaces the secret in `slot` (1 or 2) with a new random one.
    pub async fn reset_secret(
        &self,
        name: &str,
        slot: u8,
        ttl: Option<Duration>,
    ) -> Result<NewSecret, AuthError> {
        check_slot(slot)?;
        let record = self.principal_named(name).await?;
        let secret = generate_secret();
        let hash = hash_blocking(secret.clone()).await?;
        let now = now_millis();
        let expires_at = ttl.map(|ttl| now + millis(ttl));
        self.inner
            .meta
            .set_secret(record.id, slot, &hash, expires_at, now)
            .await?;
        self.invalidate();
        tracing::info!(principal = %record.name, slot, "secret replaced");
        Ok(NewSecret {
            slot,
            secret,
            expires_at,
        })
    }

    /// Deletes the secret in `slot`; login tokens minted with it stop working.
    pub async fn delete_secret(&self, name: &str, slot: u8) -> Result<(), AuthError> {
        check_slot(slot)?;
        let record = self.principal_named(name).await?;
        if !self.inner.meta.delete_secret(record.id, slot).await? {
            return Err(AuthError::NotFound(format!(
                "principal {name} has no secret in slot {slot}"
            )));
        }
        self.invalidate();
        tracing::info!(principal = %record.name, slot, "secret deleted");
        Ok(())
    }

    /// Changes a principal's description, enabled flag or (for tokens) scope map.
    pub async fn update_principal(
        &self,
        name: &str,
        description: Option<&str>,
        enabled: Option<bool>,
        scope_map: Option<&[String]>,
    ) -> Result<PrincipalRecord, AuthError> {
        let record = self.principal_named(name).await?;
        let scope_map = match scope_map {
            Some(_) if record.kind != PrincipalKind::Token => {
                return Err(AuthError::Invalid("only tokens carry a scope map".into()));
            }
            Some([]) => {
                return Err(AuthError::Invalid(
                    "a token's scope map cannot be empty".into(),
                ))
            }
            Some(entries) => Some(normalize_scope_map(entries)?),
            None => None,
        };
        if enabled == Some(false) {
            self.ensure_other_owner(&record).await?;
        }
        let updated = self
            .inner
            .meta
            .update_principal(
                name,
                description,
                enabled,
                scope_map.as_deref(),
                now_millis(),
            )
            .await?;
        self.invalidate();
        Ok(updated)
    }

    /// Deletes a principal with its secrets, roles and federations.
    pub async fn delete_principal(&self, name: &str) -> Result<(), AuthError> {
        let record = self.principal_named(name).await?;
        self.ensure_other_owner(&record).await?;
        self.inner.meta.delete_principal(name).await?;
        self.invalidate();
        tracing::info!(principal = name, "principal deleted");
        Ok(())
    }

    /// Refuses to remove the last enabled registry owner, which would lock everyone out.
    async fn ensure_other_owner(&self, record: &PrincipalRecord) -> Result<(), AuthError> {
        let meta = &self.inner.meta;
        let owners: HashSet<i64> = meta
            .list_role_assignments(None)
            .await?
            .into_iter()
            .filter(|a| a.scope == "*" && Role::parse(&a.role).ok() == Some(Role::Owner))
            .map(|a| a.principal_id)
            .collect();
        if !owners.contains(&record.id) {
            return Ok(());
        }
        let mut others = 0;
        for id in owners.iter().filter(|id| **id != record.id) {
            if meta.principal_by_id(*id).await?.is_some_and(|p| p.enabled) {
                others += 1;
            }
        }
        if others == 0 {
            return Err(AuthError::Forbidden(format!(
                "{} is the last registry owner; make another principal owner first",
                record.name
            )));
        }
        Ok(())
    }

    /// Assigns a role (any accepted spelling) on a scope (`*`, a name or `prefix/*`).
    pub async fn assign_role(
        &self,
        principal: &str,
        role: &str,
        scope: &str,
    ) -> Result<berth_meta::RoleAssignmentRecord, AuthError> {
        let (role, scope) = parse_assignment(role, scope)?;
        let record = self.principal_named(principal).await?;
        if record.kind == PrincipalKind::Token {
            return Err(AuthError::Invalid(
                "tokens get their permissions from their scope map, not from roles".into(),
            ));
        }
        let assignment = self
            .inner
            .meta
            .assign_role(record.id, role.as_str(), &scope, now_millis())
            .await?;
        self.invalidate();
        tracing::info!(principal, role = role.as_str(), scope = %scope, "role assigned");
        Ok(assignment)
    }

    /// Removes a role assignment.
    pub async fn remove_role(
        &self,
        principal: &str,
        role: &str,
        scope: &str,
    ) -> Result<(), AuthError> {
        let (role, scope) = parse_assignment(role, scope)?;
        let record = self.principal_named(principal).await?;
        if role == Role::Owner && scope == "*" {
            self.ensure_other_owner(&record).await?;
        }
        if !self
            .inner
            .meta
            .unassign_role(record.id, role.as_str(), &scope)
            .await?
        {
            return Err(AuthError::NotFound(format!(
                "{principal} has no role {} on {scope}",
                role.as_str()
            )));
        }
        self.invalidate();
        Ok(())
    }

    /// Creates a federation that lets `principal` be used by tokens of `issuer`.
    pub async fn create_federation(
        &self,
        name: &str,
        issuer: &str,
        audience: &str,
        claims: &std::collections::BTreeMap<String, String>,
        principal: &str,
    ) -> Result<berth_meta::FederationRecord, AuthError> {
        validate_principal_name(name)?;
        if !issuer_url_acceptable(issuer) {
            return Err(AuthError::Invalid(format!(
                "issuer {issuer:?} must be an https URL, exactly as in the tokens' `iss` claim \
                 (plain http only on a loopback address)"
            )));
        }
        if audience.is_empty() {
            return Err(AuthError::Invalid(
                "a federation needs the audience its tokens carry".into(),
            ));
        }
        if claims.is_empty() {
            return Err(AuthError::Invalid(
                "a federation needs at least one claim pattern, e.g. sub=repo:org/app:*".into(),
            ));
        }
        let record = self.principal_named(principal).await?;
        let federation = self
            .inner
            .meta
            .create_federation(name, issuer, audience, claims, record.id, now_millis())
            .await?;
        self.invalidate();
        Ok(federation)
    }

    /// Deletes a federation; login tokens minted through it stop working.
    pub async fn delete_federation(&self, name: &str) -> Result<(), AuthError> {
        if !self.inner.meta.delete_federation(name).await? {
            return Err(AuthError::NotFound(format!(
                "federation {name} does not exist"
            )));
        }
        self.invalidate();
        Ok(())
    }

    /// Turns registry-wide anonymous pull on or off.
    pub async fn set_registry_anonymous_pull(&self, enabled: bool) -> Result<(), AuthError> {
        self.inner
            .meta
            .set_setting(
                ANONYMOUS_PULL_SETTING,
                if enabled { "true" } else { "false" },
            )
            .await?;
        self.invalidate();
        Ok(())
    }

    /// Whether registry-wide anonymous pull is on.
    pub async fn registry_anonymous_pull(&self) -> Result<bool, AuthError> {
        self.registry_public().await
    }

    /// Turns anonymous pull of one repository on or off.
    pub async fn set_repository_anonymous_pull(
        &self,
        repository: &str,
        enabled: bool,
    ) -> Result<(), AuthError> {
        self.inner
            .meta
            .set_anonymous_pull(repository, enabled)
            .await?;
        self.invalidate();
        Ok(())
    }

    async fn principal_named(&self, name: &str) -> Result<PrincipalRecord, AuthError> {
        self.inner
            .meta
            .principal_by_name(name)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("principal {name} does not exist")))
    }
}

/// What may see which repositories in the catalog.
pub struct CatalogView {
    /// `None`: everything is visible.
    grants: Option<Arc<Grants>>,
}

impl CatalogView {
    /// Whether the caller sees every repository, so no filtering is needed.
    pub fn sees_everything(&self) -> bool {
        self.grants.is_none()
    }

    /// Whether a repository is visible given whether it is public.
    pub fn can_see(&self, repository: &str, public: bool) -> bool {
        match &self.grants {
            None => true,
            Some(grants) => public || !grants.actions_on(repository).is_empty(),
        }
    }
}

/// A principal to create.
#[derive(Clone, Debug)]
pub struct NewPrincipal {
    pub name: String,
    pub kind: PrincipalKind,
    pub description: String,
    pub scope_map: Option<Vec<String>>,
    /// (role, scope) pairs.
    pub roles: Vec<(String, String)>,
    pub secret_ttl: Option<Duration>,
}

/// A secret as shown once to its creator.
#[derive(Clone, Debug)]
pub struct NewSecret {
    pub slot: u8,
    pub secret: String,
    pub expires_at: Option<i64>,
}

/// What a login token is bound to.
struct LoginOrigin {
    secret: Option<i64>,
    federation: Option<i64>,
}

impl LoginOrigin {
    fn of(claims: &LoginClaims) -> Self {
        Self {
            secret: claims.sid,
            federation: claims.fid,
        }
    }
}

async fn grants_from_record(
    meta: &MetaStore,
    record: &PrincipalRecord,
) -> Result<Grants, AuthError> {
    if record.kind == PrincipalKind::Token {
        let entries = record
            .scope_map
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| ScopeMapEntry::parse(entry).ok())
            .collect::<Vec<_>>();
        return Ok(Grants::from_scope_map(&entries));
    }
    let mut grants = Grants::new();
    for assignment in meta.roles_of(record.id).await? {
        match (
            Role::parse(&assignment.role),
            RepoPattern::parse(&assignment.scope),
        ) {
            (Ok(role), Ok(pattern)) => grants.add_role(role, pattern),
            _ => tracing::warn!(
                principal = %record.name,
                role = %assignment.role,
                scope = %assignment.scope,
                "stored role assignment is unreadable; ignored"
            ),
        }
    }
    Ok(grants)
}

async fn load_keys(meta: &MetaStore, keep_for: Duration) -> Result<KeyRing, AuthError> {
    let now = now_millis();
    meta.prune_signing_keys(now - millis(keep_for) - millis(Duration::from_secs(3600)))
        .await?;
    let mut records = meta.signing_keys().await?;
    if !records.iter().any(|k| k.active) {
        let (kid, pkcs8) = generate_signing_key()?;
        meta.add_signing_key(&kid, &pkcs8, now).await?;
        tracing::info!(kid = %kid, "generated the token signing key");
        records = meta.signing_keys().await?;
    }
    let keys: Vec<(String, Vec<u8>, bool)> = records
        .into_iter()
        .map(|k| (k.kid, k.pkcs8, k.active))
        .collect();
    KeyRing::from_keys(&keys)
}

fn principal_of(record: &PrincipalRecord) -> Principal {
    Principal {
        id: record.id,
        name: record.name.clone(),
        kind: record.kind,
    }
}

fn parse_assignment(role: &str, scope: &str) -> Result<(Role, String), AuthError> {
    let role = Role::parse(role)?;
    let pattern = RepoPattern::parse(scope)?;
    Ok((role, pattern.as_string()))
}

fn normalize_scope_map(entries: &[String]) -> Result<Vec<String>, AuthError> {
    entries
        .iter()
        .map(|entry| ScopeMapEntry::parse(entry).map(|e| e.as_string()))
        .collect()
}

fn check_slot(slot: u8) -> Result<(), AuthError> {
    if matches!(slot, 1 | 2) {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "secret slot {slot} does not exist; use 1 or 2"
        )))
    }
}

/// Principal and federation names: 1–64 of `[A-Za-z0-9._-]`, starting alphanumeric.
fn validate_principal_name(name: &str) -> Result<(), AuthError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "name {name:?} is invalid; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )))
    }
}

/// Hashing runs one at a time (it shares one working buffer); callers queue here as
/// tasks rather than as parked threads of the blocking pool.
async fn hashing_turn() -> Option<tokio::sync::SemaphorePermit<'static>> {
    static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    // The semaphore is never closed, so this is always a permit.
    HASHING.acquire().await.ok()
}

async fn hash_blocking(secret: String) -> Result<String, AuthError> {
    let _turn = hashing_turn().await;
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .map_err(|err| AuthError::Internal(format!("password hashing failed: {err}")))?
}

/// An issuer's keys decide who may push, so they are fetched over TLS; plain HTTP is
/// accepted only from the same machine, where no one can sit in between.
fn issuer_url_acceptable(issuer: &str) -> bool {
    if issuer.starts_with("https://") {
        return true;
    }
    let Some(rest) = issuer.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn strip_scheme<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn decode_basic(encoded: &str) -> Result<(String, String), AuthError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| AuthError::BadCredentials)?;
    let text = String::from_utf8(bytes).map_err(|_| AuthError::BadCredentials)?;
    let (user, pass) = text.split_once(':').ok_or(AuthError::BadCredentials)?;
    Ok((user.to_string(), pass.to_string()))
}

fn looks_like_jwt(value: &str) -> bool {
    value.starts_with("eyJ") && value.bytes().filter(|b| *b == b'.').count() == 2
}

/// The cache key of a credential pair: a digest, so the cache holds no secret.
fn credential_key(username: &str, password: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(username.as_bytes());
    context.update(&[0]);
    context.update(password.as_bytes());
    let digest = context.finish();
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

fn new_token_id() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Writes a file only its owner can read, durably, replacing any old one atomically.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_decoding() {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode("ci:pa:ss");
        assert_eq!(
            decode_basic(&encoded).unwrap(),
            ("ci".to_string(), "pa:ss".to_string())
        );
        assert!(decode_basic("!!!").is_err());
        let no_colon = base64::engine::general_purpose::STANDARD.encode("nocolon");
        assert!(decode_basic(&no_colon).is_err());
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(strip_scheme("bearer abc", "Bearer"), Some("abc"));
        assert_eq!(strip_scheme("Basic  xyz ", "Basic"), Some("xyz"));
        assert_eq!(strip_scheme("Digest abc", "Basic"), None);
        assert_eq!(strip_scheme("Bearer", "Bearer"), None);
    }

    #[test]
    fn issuers_need_tls_unless_local() {
        for good in [
            "https://token.actions.githubusercontent.com",
            "http://127.0.0.1:8080",
            "http://localhost/realms/ci",
            "http://[::1]:9000",
        ] {
            assert!(issuer_url_acceptable(good), "{good}");
        }
        for bad in [
            "http://issuer.example",
            "http://10.0.0.1",
            "ftp://x",
            "issuer",
        ] {
            assert!(!issuer_url_acceptable(bad), "{bad}");
        }
    }

    #[test]
    fn principal_names() {
        assert!(validate_principal_name("ci-pipeline.1").is_ok());
        for bad in ["", "-x", "a b", "a/b", &"x".repeat(65)] {
            assert!(validate_principal_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credential_keys_differ_by_both_halves() {
        assert_ne!(credential_key("a", "bc"), credential_key("ab", "c"));
        assert_eq!(credential_key("a", "b"), credential_key("a", "b"));
    }
}
