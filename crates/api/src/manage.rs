//! The management API under `/api/v1`: principals, secrets, roles, federations,
//! registry and repository access settings, signing keys and the audit log.
//!
//! Requests authenticate with basic credentials or with a bearer token that carries the
//! `registry:api:*` scope; what they may do is decided from the principal's current
//! roles, not from the token. Managing identities needs the `owner` role on the whole
//! registry; changing a repository's settings needs `owner` on that repository. Every
//! change is written to the audit log. Bodies are JSON; errors are the registry's error
//! body, so clients need one parser.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_auth::access::Grants;
use berth_auth::audit::{outcome, AuditEntry};
use berth_auth::authority::{Authority, Decision, NewPrincipal, API_SCOPE};
use berth_auth::clock::{format_rfc3339, parse_rfc3339};
use berth_meta::{AuditQuery, PrincipalKind, PrincipalRecord, RoleAssignmentRecord};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{challenge, source};
use crate::error::ApiError;
use crate::observe::RouteLabel;
use crate::AppState;

type Shared = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// The routes of the management API.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/whoami", get(whoami))
        .route(
            "/api/v1/principals",
            get(list_principals).post(create_principal),
        )
        .route(
            "/api/v1/principals/{name}",
            get(show_principal)
                .patch(update_principal)
                .delete(delete_principal),
        )
        .route("/api/v1/principals/{name}/secrets", post(reset_secret))
        .route(
            "/api/v1/principals/{name}/secrets/{slot}",
            delete(delete_secret),
        )
        .route(
            "/api/v1/role-assignments",
            get(list_roles).post(assign_role).delete(remove_role),
        )
        .route(
            "/api/v1/federations",
            get(list_federations).post(create_federation),
        )
        .route("/api/v1/federations/{name}", delete(delete_federation))
        .route(
            "/api/v1/settings",
            get(show_settings).patch(update_settings),
        )
        .route(
            "/api/v1/repositories/{*name}",
            get(show_repository).patch(update_repository),
        )
        .route("/api/v1/signing-keys", get(list_keys))
        .route("/api/v1/signing-keys/rotate", post(rotate_key))
        .route("/api/v1/audit", get(audit))
        .layer(axum::middleware::map_response(label))
}

async fn label(mut response: Response) -> Response {
    response.extensions_mut().insert(RouteLabel("api"));
    response
}

/// Who is calling and what they may do; `grants` is `None` when authentication is off.
struct Actor {
    name: Option<String>,
    grants: Option<Arc<Grants>>,
    source: IpAddr,
}

impl Actor {
    fn require_admin(&self) -> Result<(), ApiError> {
        match &self.grants {
            Some(grants) if !grants.is_admin() => Err(ApiError::Denied {
                message: format!(
                    "{} is not a registry owner; only owners manage identities and settings",
                    self.name.as_deref().unwrap_or("anonymous")
                ),
            }),
            _ => Ok(()),
        }
    }

    fn require_owner_of(&self, repository: &str) -> Result<(), ApiError> {
        match &self.grants {
            Some(grants) if !grants.owns(repository) => Err(ApiError::Denied {
                message: format!(
                    "{} does not own repository {repository}; an owner role on it is needed",
                    self.name.as_deref().unwrap_or("anonymous")
                ),
            }),
            _ => Ok(()),
        }
    }

    fn record(
        &self,
        state: &AppState,
        action: &'static str,
        repository: Option<&str>,
        detail: String,
    ) {
        state.audit.record(AuditEntry {
            principal: self.name.clone(),
            action,
            repository: repository.map(str::to_string),
            source: Some(self.source),
            outcome: outcome::SUCCEEDED,
            detail,
            ..AuditEntry::default()
        });
    }
}

async fn actor(state: &AppState, parts: &Parts) -> Result<Actor, ApiError> {
    let source = source(state, parts);
    let Some(authority) = state.auth.as_ref() else {
        return Ok(Actor {
            name: None,
            grants: None,
            source,
        });
    };
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let unauthenticated = |error: Option<&str>, message: String| ApiError::Unauthenticated {
        challenge: challenge(state, parts, Some(API_SCOPE), error),
        message,
    };
    let caller = match authority.authenticate(authorization, source).await {
        Ok(caller) => caller,
        Err(err) if err.is_internal() || matches!(err, berth_auth::AuthError::Throttled { .. }) => {
            return Err(ApiError::Auth(err))
        }
        Err(err) => {
            return Err(unauthenticated(
                Some("invalid_token"),
                format!("{err}; log in again"),
            ))
        }
    };
    match authority.api_principal(&caller).await {
        Ok((principal, grants)) => Ok(Actor {
            name: Some(principal.name),
            grants: Some(grants),
            source,
        }),
        Err(decision) => {
            authority.audit_denied(&caller, "api", None, source, decision);
            Err(match decision {
                Decision::InsufficientScope => unauthenticated(
                    Some("insufficient_scope"),
                    format!("the token lacks the scope {API_SCOPE} the management API needs"),
                ),
                _ => unauthenticated(
                    None,
                    "the management API needs credentials; run berth login".into(),
                ),
            })
        }
    }
}

fn authority(state: &AppState) -> Result<&Authority, ApiError> {
    state.auth.as_ref().ok_or(ApiError::AuthDisabled)
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|err| ApiError::BodyInvalid {
        reason: err.to_string(),
    })
}

fn json_reply(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn time(millis: i64) -> Value {
    json!(format_rfc3339(millis))
}

fn optional_time(millis: Option<i64>) -> Value {
    millis.map_or(Value::Null, time)
}

fn days(n: Option<u64>) -> Option<Duration> {
    n.map(|d| Duration::from_secs(d.saturating_mul(86_400)))
}

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

async fn whoami(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    let authority = authority(&state)?;
    let name = actor.name.unwrap_or_default();
    let record = authority
        .meta()
        .principal_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            message: format!("principal {name} does not exist"),
        })?;
    let mut body = principal_json(authority, &record).await?;
    body["admin"] = json!(actor.grants.is_some_and(|g| g.is_admin()));
    Ok(json_reply(StatusCode::OK, body))
}

async fn principal_json(
    authority: &Authority,
    record: &PrincipalRecord,
) -> Result<Value, ApiError> {
    let meta = authority.meta();
    let secrets: Vec<Value> = meta
        .secrets_of(record.id)
        .await?
        .iter()
        .map(|s| {
            json!({
                "slot": s.slot,
                "created_at": time(s.created_at),
                "expires_at": optional_time(s.expires_at),
            })
        })
        .collect();
    let roles: Vec<Value> = meta
        .roles_of(record.id)
        .await?
        .iter()
        .map(|r| json!({ "role": r.role, "scope": r.scope }))
        .collect();
    Ok(json!({
        "name": record.name,
        "kind": record.kind.as_str(),
        "description": record.description,
        "enabled": record.enabled,
        "scope_map": record.scope_map,
        "created_at": time(record.created_at),
        "updated_at": time(record.updated_at),
        "secrets": secrets,
        "roles": roles,
    }))
}

fn assignment_json(record: &RoleAssignmentRecord) -> Value {
    json!({
        "principal": record.principal,
        "role": record.role,
        "scope": record.scope,
        "created_at": time(record.created_at),
    })
}

#[derive(Deserialize, Default)]
struct KindQuery {
    kind: Option<String>,
}

fn parse_kind(kind: &str) -> Result<PrincipalKind, ApiError> {
    PrincipalKind::parse(kind).ok_or_else(|| ApiError::BodyInvalid {
        reason: format!("kind {kind:?} is unknown; use user, service_principal or token"),
    })
}

async fn list_principals(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let authority = authority(&state)?;
    let query: KindQuery = query(&parts)?;
    let kind = query.kind.as_deref().map(parse_kind).transpose()?;
    let mut principals = Vec::new();
    for record in authority.meta().list_principals(kind).await? {
        principals.push(principal_json(authority, &record).await?);
    }
    Ok(json_reply(
        StatusCode::OK,
        json!({ "principals": principals }),
    ))
}

fn query<T: DeserializeOwned + Default>(parts: &Parts) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .map_err(|err| ApiError::QueryInvalid {
            name: "query",
            reason: err.body_text(),
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
    #[serde(default = "registry_scope")]
    scope: String,
}

fn registry_scope() -> String {
    "*".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePrincipal {
    name: String,
    kind: String,
    #[serde(default)]
    description: String,
    scope_map: Option<Vec<String>>,
    #[serde(default)]
    roles: Vec<RoleBody>,
    secret_expires_in_days: Option<u64>,
}

async fn create_principal(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let authority = authority(&state)?;
    let body: CreatePrincipal = parse_body(&body)?;
    let (record, secret) = authority
        .create_principal(NewPrincipal {
            name: body.name,
            kind: parse_kind(&body.kind)?,
            description: body.description,
            scope_map: body.scope_map,
            roles: body.roles.into_iter().map(|r| (r.role, r.scope)).collect(),
            secret_ttl: days(body.secret_expires_in_days),
        })
        .await?;
    actor.record(
        &state,
        "principal.create",
        None,
        format!("name={} kind={}", record.name, record.kind.as_str()),
    );
    let principal = principal_json(authority, &record).await?;
    Ok(json_reply(
        StatusCode::CREATED,
        json!({
            "principal": principal,
            "secret": {
                "slot": secret.slot,
                "secret": secret.secret,
                "expires_at": optional_time(secret.expires_at),
            },
        }),
    ))
}

async fn show_principal(State(state): Shared, Path(name): Path<String>, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    let authority = authority(&state)?;
    if actor.name.as_deref() != Some(name.as_str()) {
        actor.require_admin()?;
    }
    let record = authority
        .meta()
        .principal_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            message: format!("principal {name} does not exist"),
        })?;
    Ok(json_reply(
        StatusCode::OK,
        principal_json(authority, &record).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePrincipal {
    description: Option<String>,
    enabled: Option<bool>,
    scope_map: Option<Vec<String>>,
}

async fn update_principal(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let authority = authority(&state)?;
    let body: UpdatePrincipal = parse_body(&body)?;
    let record = authority
        .update_principal(
            &name,
            body.description.as_deref(),
            body.enabled,
            body.scope_map.as_deref(),
        )
        .await?;
    actor.record(&state, "principal.update", None, format!("name={name}"));
    Ok(json_reply(
        StatusCode::OK,
        principal_json(authority, &record).await?,
    ))
}

async fn delete_principal(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    authority(&state)?.delete_principal(&name).await?;
    actor.record(&state, "principal.delete", None, format!("name={name}"));
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    slot: u8,
    expires_in_days: Option<u64>,
}

async fn reset_secret(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let body: SecretBody = parse_body(&body)?;
    let secret = authority(&state)?
        .reset_secret(&name, body.slot, days(body.expires_in_days))
        .await?;
    actor.record(
        &state,
        "secret.reset",
        None,
        format!("name={name} slot={}", secret.slot),
    );
    Ok(json_reply(
        StatusCode::CREATED,
        json!({
            "slot": secret.slot,
            "secret": secret.secret,
            "expires_at": optional_time(secret.expires_at),
        }),
    ))
}

async fn delete_secret(
    State(state): Shared,
    Path((name, slot)): Path<(String, String)>,
    parts: Parts,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let slot: u8 = slot.parse().map_err(|_| ApiError::BodyInvalid {
        reason: format!("secret slot {slot:?} does not exist; use 1 or 2"),
    })?;
    authority(&state)?.delete_secret(&name, slot).await?;
    actor.record(
        &state,
        "secret.delete",
        None,
        format!("name={name} slot={slot}"),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
struct RoleQuery {
    principal: Option<String>,
    role: Option<String>,
    scope: Option<String>,
}

async fn list_roles(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let query: RoleQuery = query(&parts)?;
    let assignments: Vec<Value> = authority(&state)?
        .meta()
        .list_role_assignments(query.principal.as_deref())
        .await?
        .iter()
        .map(assignment_json)
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        json!({ "role_assignments": assignments }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    principal: String,
    role: String,
    #[serde(default = "registry_scope")]
    scope: String,
}

async fn assign_role(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let body: AssignBody = parse_body(&body)?;
    let assignment = authority(&state)?
        .assign_role(&body.principal, &body.role, &body.scope)
        .await?;
    actor.record(
        &state,
        "role.assign",
        None,
        format!(
            "principal={} role={} scope={}",
            assignment.principal, assignment.role, assignment.scope
        ),
    );
    Ok(json_reply(
        StatusCode::CREATED,
        assignment_json(&assignment),
    ))
}

async fn remove_role(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let query: RoleQuery = query(&parts)?;
    let (Some(principal), Some(role)) = (query.principal, query.role) else {
        return Err(ApiError::QueryInvalid {
            name: "principal",
            reason: "removing a role needs `principal`, `role` and `scope`".into(),
        });
    };
    let scope = query.scope.unwrap_or_else(registry_scope);
    authority(&state)?
        .remove_role(&principal, &role, &scope)
        .await?;
    actor.record(
        &state,
        "role.remove",
        None,
        format!("principal={principal} role={role} scope={scope}"),
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn federation_json(record: &berth_meta::FederationRecord) -> Value {
    json!({
        "name": record.name,
        "issuer": record.issuer,
        "audience": record.audience,
        "claims": record.claims,
        "principal": record.principal,
        "created_at": time(record.created_at),
    })
}

async fn list_federations(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let federations: Vec<Value> = authority(&state)?
        .meta()
        .list_federations()
        .await?
        .iter()
        .map(federation_json)
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        json!({ "federations": federations }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FederationBody {
    name: String,
    issuer: String,
    audience: String,
    claims: BTreeMap<String, String>,
    principal: String,
}

async fn create_federation(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let body: FederationBody = parse_body(&body)?;
    let record = authority(&state)?
        .create_federation(
            &body.name,
            &body.issuer,
            &body.audience,
            &body.claims,
            &body.principal,
        )
        .await?;
    actor.record(
        &state,
        "federation.create",
        None,
        format!("name={} issuer={}", record.name, record.issuer),
    );
    Ok(json_reply(StatusCode::CREATED, federation_json(&record)))
}

async fn delete_federation(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    authority(&state)?.delete_federation(&name).await?;
    actor.record(&state, "federation.delete", None, format!("name={name}"));
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn settings_json(state: &AppState) -> Result<Value, ApiError> {
    let authority = authority(state)?;
    Ok(json!({
        "anonymous_pull": authority.registry_anonymous_pull().await?,
        "service": authority.settings().service,
    }))
}

async fn show_settings(State(state): Shared, parts: Parts) -> ApiResult {
    actor(&state, &parts).await?;
    Ok(json_reply(StatusCode::OK, settings_json(&state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    anonymous_pull: Option<bool>,
}

async fn update_settings(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let body: SettingsBody = parse_body(&body)?;
    if let Some(enabled) = body.anonymous_pull {
        authority(&state)?
            .set_registry_anonymous_pull(enabled)
            .await?;
        actor.record(
            &state,
            "settings.update",
            None,
            format!("anonymous_pull={enabled}"),
        );
    }
    Ok(json_reply(StatusCode::OK, settings_json(&state).await?))
}

async fn repository_json(state: &AppState, name: &str) -> Result<Value, ApiError> {
    let repository = berth_oci::RepositoryName::parse(name)?;
    let meta = state.registry.meta();
    if !meta.repository_exists(&repository).await? {
        return Err(ApiError::NotFound {
            message: format!("repository {name} does not exist"),
        });
    }
    Ok(json!({
        "name": name,
        "anonymous_pull": meta.anonymous_pull(name).await?,
    }))
}

async fn show_repository(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    if let Some(grants) = &actor.grants {
        if grants.actions_on(&name).is_empty() {
            return Err(ApiError::Denied {
                message: format!(
                    "{} has no access to repository {name}",
                    actor.name.as_deref().unwrap_or("anonymous")
                ),
            });
        }
    }
    Ok(json_reply(
        StatusCode::OK,
        repository_json(&state, &name).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryBody {
    anonymous_pull: Option<bool>,
}

async fn update_repository(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_owner_of(&name)?;
    let body: RepositoryBody = parse_body(&body)?;
    repository_json(&state, &name).await?;
    if let Some(enabled) = body.anonymous_pull {
        match state.auth.as_ref() {
            Some(authority) => {
                authority
                    .set_repository_anonymous_pull(&name, enabled)
                    .await?
            }
            None => {
                state
                    .registry
                    .meta()
                    .set_anonymous_pull(&name, enabled)
                    .await?
            }
        }
        actor.record(
            &state,
            "repository.update",
            Some(&name),
            format!("anonymous_pull={enabled}"),
        );
    }
    Ok(json_reply(
        StatusCode::OK,
        repository_json(&state, &name).await?,
    ))
}

async fn list_keys(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let keys: Vec<Value> = authority(&state)?
        .meta()
        .signing_keys()
        .await?
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "active": k.active,
                "created_at": time(k.created_at),
                "retired_at": optional_time(k.retired_at),
            })
        })
        .collect();
    Ok(json_reply(StatusCode::OK, json!({ "keys": keys })))
}

async fn rotate_key(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let (kid, previous) = authority(&state)?.rotate_signing_key().await?;
    actor.record(
        &state,
        "signing-key.rotate",
        None,
        format!("kid={kid} previous={previous}"),
    );
    Ok(json_reply(
        StatusCode::OK,
        json!({ "kid": kid, "previous": previous }),
    ))
}

#[derive(Deserialize, Default)]
struct AuditParams {
    principal: Option<String>,
    repository: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    before: Option<i64>,
}

fn time_param(name: &'static str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            parse_rfc3339(text).ok_or_else(|| ApiError::QueryInvalid {
                name,
                reason: format!("{text:?} is not an RFC 3339 time such as 2026-12-03T10:00:00Z"),
            })
        })
        .transpose()
}

async fn audit(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let params: AuditParams = query(&parts)?;
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    let query = AuditQuery {
        principal: params.principal,
        repository: params.repository,
        action: params.action,
        outcome: params.outcome,
        since: time_param("since", params.since.as_deref())?,
        until: time_param("until", params.until.as_deref())?,
        before_id: params.before,
        limit,
    };
    let records = state.registry.meta().query_audit(&query).await?;
    let next_before = (records.len() == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let events: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "at": time(r.event.at),
                "principal": r.event.principal,
                "action": r.event.action,
                "repository": r.event.repository,
                "digest": r.event.digest,
                "source": r.event.source,
                "outcome": r.event.outcome,
                "detail": r.event.detail,
            })
        })
        .collect();
    Ok(json_reply(
        StatusCode::OK,
        json!({ "events": events, "next_before": next_before }),
    ))
}
