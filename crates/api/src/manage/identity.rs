//! Identity endpoints: `whoami`, principals and their secrets, role assignments,
//! federations, token signing keys and the audit log. All but `whoami` and a
//! principal's view of itself need the `owner` role on the whole registry.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use berth_auth::authority::{Authority, NewPrincipal};
use berth_auth::clock::parse_rfc3339;
use berth_meta::{AuditQuery, PrincipalKind, PrincipalRecord, RoleAssignmentRecord};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    actor, authority, days, json_reply, optional_time, parse_body, query, time, ApiResult, Shared,
};
use crate::error::ApiError;

pub(super) async fn whoami(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn list_principals(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn create_principal(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
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

pub(super) async fn show_principal(
    State(state): Shared,
    Path(name): Path<String>,
    parts: Parts,
) -> ApiResult {
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

pub(super) async fn update_principal(
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

pub(super) async fn delete_principal(
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

pub(super) async fn reset_secret(
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

pub(super) async fn delete_secret(
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

pub(super) async fn list_roles(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn assign_role(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
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

pub(super) async fn remove_role(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn list_federations(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn create_federation(
    State(state): Shared,
    parts: Parts,
    body: Bytes,
) -> ApiResult {
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

pub(super) async fn delete_federation(
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

pub(super) async fn list_keys(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn rotate_key(State(state): Shared, parts: Parts) -> ApiResult {
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

pub(super) async fn audit(State(state): Shared, parts: Parts) -> ApiResult {
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
