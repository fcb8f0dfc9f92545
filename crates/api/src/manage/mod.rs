//! The management API under `/api/v1`: repositories with their tags, images, locks,
//! settings and usage; principals, secrets, roles, federations, signing keys and the
//! audit log; image imports.
//!
//! Requests authenticate with basic credentials or with a bearer token that carries the
//! `registry:api:*` scope; what they may do is decided from the principal's current
//! roles, not from the token. Managing identities and quotas needs the `owner` role on
//! the whole registry; changing a repository's settings needs `owner` on that
//! repository; reading, tagging, locking and deleting content need the same actions as
//! on `/v2/` (pull or metadata_read, push, metadata_write, delete). Every change is
//! written to the audit log. Bodies are JSON; errors are the registry's error body, so
//! clients need one parser.

mod identity;
pub(crate) mod imports;
mod repositories;
mod settings;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_auth::access::{Action, Grants};
use berth_auth::audit::{outcome, AuditEntry};
use berth_auth::authority::{Authority, Decision, API_SCOPE};
use berth_auth::clock::format_rfc3339;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::auth::{challenge, source};
use crate::error::ApiError;
use crate::observe::RouteLabel;
use crate::AppState;

type Shared = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// The routes of the management API.
pub fn routes() -> Router<Arc<AppState>> {
    use identity::*;
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
            get(settings::show_settings).patch(settings::update_settings),
        )
        .route("/api/v1/usage", get(settings::usage))
        .route(
            "/api/v1/repositories",
            get(repositories::list).post(repositories::create),
        )
        .route(
            "/api/v1/repositories/{*path}",
            get(repositories::get)
                .put(repositories::put)
                .patch(repositories::patch)
                .delete(repositories::delete),
        )
        .route("/api/v1/imports", post(imports::start))
        .route("/api/v1/imports/{id}", get(imports::show))
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

    /// Refuses unless the caller may do `action` to `repository`; `verb` completes
    /// "may not … repository".
    fn require(&self, repository: &str, action: Action, verb: &str) -> Result<(), ApiError> {
        match &self.grants {
            Some(grants) if !grants.actions_on(repository).contains(action) => {
                Err(ApiError::Denied {
                    message: format!(
                        "{} may not {verb} repository {repository}",
                        self.name.as_deref().unwrap_or("anonymous")
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses unless the caller may read `repository`'s content or metadata.
    fn require_read(&self, repository: &str) -> Result<(), ApiError> {
        match &self.grants {
            Some(grants) => {
                let actions = grants.actions_on(repository);
                if actions.contains(Action::Pull) || actions.contains(Action::MetadataRead) {
                    Ok(())
                } else {
                    Err(ApiError::Denied {
                        message: format!(
                            "{} has no access to repository {repository}",
                            self.name.as_deref().unwrap_or("anonymous")
                        ),
                    })
                }
            }
            None => Ok(()),
        }
    }

    /// Whether the caller may see `repository` in a listing.
    fn sees(&self, repository: &str) -> bool {
        self.require_read(repository).is_ok()
    }

    /// Records a successful change to the image `digest` of `repository`.
    fn record_content(
        &self,
        state: &AppState,
        action: &'static str,
        repository: &str,
        digest: &berth_oci::Digest,
        detail: String,
    ) {
        state.audit.record(AuditEntry {
            principal: self.name.clone(),
            action,
            repository: Some(repository.to_string()),
            digest: Some(digest.to_string()),
            source: Some(self.source),
            outcome: outcome::SUCCEEDED,
            detail,
        });
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

fn query<T: DeserializeOwned + Default>(parts: &Parts) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .map_err(|err| ApiError::QueryInvalid {
            name: "query",
            reason: err.body_text(),
        })
}

async fn openapi() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
        .into_response()
}

/// For `Option<Option<T>>` fields with `#[serde(default)]`: absent is `None`, `null` is
/// `Some(None)`, so a body can remove a value as well as leave it alone.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(include_str!("../openapi.json")).expect("the document is JSON")
    }

    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }

    #[test]
    fn every_served_endpoint_is_documented() {
        let doc = document();
        let served = [
            ("/api/v1/repositories", ["get", "post"].as_slice()),
            ("/api/v1/repositories/{name}", &["get", "patch", "delete"]),
            ("/api/v1/repositories/{name}/_tags", &["get"]),
            (
                "/api/v1/repositories/{name}/_tags/{tag}",
                &["get", "put", "patch", "delete"],
            ),
            ("/api/v1/repositories/{name}/_manifests", &["get"]),
            (
                "/api/v1/repositories/{name}/_manifests/{reference}",
                &["get", "patch", "delete"],
            ),
            ("/api/v1/usage", &["get"]),
            ("/api/v1/settings", &["get", "patch"]),
            ("/api/v1/principals", &["get", "post"]),
            ("/api/v1/role-assignments", &["get", "post", "delete"]),
            ("/api/v1/audit", &["get"]),
            ("/api/v1/imports", &["post"]),
            ("/api/v1/imports/{id}", &["get"]),
        ];
        for (path, methods) in served {
            for method in methods {
                assert!(
                    doc["paths"][path][method].is_object(),
                    "{} {path} is not documented",
                    method.to_uppercase()
                );
            }
        }
    }
}
