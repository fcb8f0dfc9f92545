//! Registry-wide settings (anonymous pull, the storage quota) and usage, in the manner
//! of `az acr show-usage`: each figure with its limit, where one exists.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{actor, authority, json_reply, nullable, parse_body, ApiResult, Shared};
use crate::error::ApiError;
use crate::AppState;

async fn settings_json(state: &AppState) -> Result<Value, ApiError> {
    let usage = state.registry.usage().await?;
    let (anonymous_pull, service) = match state.auth.as_ref() {
        Some(authority) => (
            json!(authority.registry_anonymous_pull().await?),
            json!(authority.settings().service),
        ),
        None => (json!(true), Value::Null),
    };
    Ok(json!({
        "anonymous_pull": anonymous_pull,
        "service": service,
        "quota_bytes": usage.quota_bytes,
    }))
}

pub(super) async fn show_settings(State(state): Shared, parts: Parts) -> ApiResult {
    actor(&state, &parts).await?;
    Ok(json_reply(StatusCode::OK, settings_json(&state).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    anonymous_pull: Option<bool>,
    /// `null` removes the quota.
    #[serde(default, deserialize_with = "nullable")]
    quota_bytes: Option<Option<u64>>,
}

pub(super) async fn update_settings(State(state): Shared, parts: Parts, body: Bytes) -> ApiResult {
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
    if let Some(quota) = body.quota_bytes {
        state.registry.set_registry_quota(quota).await?;
        let shown = quota.map_or_else(|| "none".to_string(), |q| q.to_string());
        actor.record(
            &state,
            "settings.update",
            None,
            format!("quota_bytes={shown}"),
        );
    }
    Ok(json_reply(StatusCode::OK, settings_json(&state).await?))
}

/// `GET /api/v1/usage`: storage against the quota and the counts of what the registry
/// holds, as a list of `{name, current_value, limit, unit}` like `az acr show-usage`.
/// Storage counts each stored blob once, however many repositories share it.
pub(super) async fn usage(State(state): Shared, parts: Parts) -> ApiResult {
    let actor = actor(&state, &parts).await?;
    actor.require_admin()?;
    let usage = state.registry.usage().await?;
    let mut value = vec![
        figure("Size", usage.blob_bytes, usage.quota_bytes, "Bytes"),
        figure("Blobs", usage.blob_count, None, "Count"),
        figure("Repositories", usage.repository_count, None, "Count"),
        figure("Manifests", usage.manifest_count, None, "Count"),
        figure("Tags", usage.tag_count, None, "Count"),
    ];
    if let Some(authority) = state.auth.as_ref() {
        let principals = authority.meta().count_principals().await?;
        value.push(figure(
            "Principals",
            u64::try_from(principals).unwrap_or(0),
            None,
            "Count",
        ));
    }
    Ok(json_reply(StatusCode::OK, json!({ "value": value })))
}

fn figure(name: &str, current: u64, limit: Option<u64>, unit: &str) -> Value {
    json!({ "name": name, "current_value": current, "limit": limit, "unit": unit })
}
