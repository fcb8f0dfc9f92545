//! Access control at the HTTP boundary: which identity a request carries and whether it
//! may reach the endpoint it asks for.
//!
//! Every `/v2/` endpoint maps to the repository actions it needs; [`admit`] asks the
//! identity service and turns a refusal into the response the Docker token protocol
//! expects: 401 `UNAUTHORIZED` with a `WWW-Authenticate` challenge naming the scope when
//! the caller has no (valid) identity or its token lacks an action its principal holds,
//! 403 `DENIED` when the identity simply may not. Refusals are written to the audit log.
//! With authentication turned off every request is admitted as anonymous.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::http::request::Parts;
use axum::http::{header, Method};
use berth_auth::access::{Action, ActionSet};
use berth_auth::authority::{Caller, Decision};
use berth_auth::AuthError;

use crate::error::ApiError;
use crate::route::Endpoint;
use crate::AppState;

/// The peer address of the connection a request arrived on, inserted by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The client's address: the connection's peer, or, when the peer is a trusted proxy,
/// the nearest address in `X-Forwarded-For` that is not one. Failed logins are counted
/// against it and the audit log records it.
pub fn source(state: &AppState, parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.0.ip());
    if !state.trusted_proxies.contains(peer) {
        return peer;
    }
    // Each proxy appends the address it received from; reading from the right, the
    // first address no trusted proxy owns is the client. Anything further left was
    // written by the client itself and proves nothing.
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) => {
                client = address;
                if !state.trusted_proxies.contains(address) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

/// What an endpoint requires of its caller.
enum Requirement<'a> {
    /// Any identity, including an anonymous token (the `/v2/` version check).
    Identity,
    /// Anything; the listing is filtered to what the caller may see.
    Catalog,
    /// Any one of `actions` on the repository.
    Repository {
        name: &'a str,
        actions: ActionSet,
        /// The docker actions a challenge asks for.
        scope: &'static str,
        /// The action's name in the audit log.
        audit: &'static str,
    },
}

fn requirement<'a>(endpoint: &Endpoint<'a>, method: &Method) -> Option<Requirement<'a>> {
    let read = |name| Requirement::Repository {
        name,
        actions: ActionSet::of(&[Action::Pull]),
        scope: "pull",
        audit: "pull",
    };
    let write = |name| Requirement::Repository {
        name,
        actions: ActionSet::of(&[Action::Push]),
        scope: "pull,push",
        audit: "push",
    };
    let delete = |name| Requirement::Repository {
        name,
        actions: ActionSet::of(&[Action::Delete]),
        scope: "delete",
        audit: "delete",
    };
    let is_read = matches!(*method, Method::GET | Method::HEAD);
    Some(match endpoint {
        Endpoint::Base if is_read => Requirement::Identity,
        Endpoint::Catalog if *method == Method::GET => Requirement::Catalog,
        Endpoint::Tags { name } | Endpoint::Referrers { name, .. } if *method == Method::GET => {
            Requirement::Repository {
                name,
                actions: ActionSet::of(&[Action::Pull, Action::MetadataRead]),
                scope: "pull",
                audit: "list",
            }
        }
        Endpoint::Manifest { name, .. } | Endpoint::Blob { name, .. } if is_read => read(name),
        Endpoint::Manifest { name, .. } if *method == Method::PUT => write(name),
        Endpoint::Manifest { name, .. } | Endpoint::Blob { name, .. }
            if *method == Method::DELETE =>
        {
            delete(name)
        }
        Endpoint::Uploads { name } if *method == Method::POST => write(name),
        Endpoint::Upload { name, .. }
            if matches!(
                *method,
                Method::GET | Method::PATCH | Method::PUT | Method::DELETE
            ) =>
        {
            write(name)
        }
        _ => return None,
    })
}

/// Authenticates the request and checks it may reach `endpoint`. On success the caller
/// is stored in the request's extensions for handlers that filter by it.
pub async fn admit(
    state: &AppState,
    endpoint: &Endpoint<'_>,
    parts: &mut Parts,
) -> Result<(), ApiError> {
    let Some(authority) = state.auth.as_ref() else {
        parts.extensions.insert(Caller::Anonymous);
        return Ok(());
    };
    let Some(requirement) = requirement(endpoint, &parts.method) else {
        // The method is not served here; the handler answers 405 without revealing more.
        return Ok(());
    };
    let source = source(state, parts);
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match authority.authenticate(authorization, source).await {
        Ok(caller) => caller,
        Err(err) => {
            let scope = challenge_scope(&requirement);
            return Err(refusal(state, parts, err, scope.as_deref()));
        }
    };
    let decision = match &requirement {
        Requirement::Identity => match caller {
            Caller::Anonymous => Decision::Unauthenticated,
            _ => Decision::Allow,
        },
        Requirement::Catalog => Decision::Allow,
        Requirement::Repository { name, actions, .. } => authority
            .authorize(&caller, name, *actions)
            .await
            .map_err(ApiError::Auth)?,
    };
    if decision != Decision::Allow {
        let (action, repository) = match &requirement {
            Requirement::Repository { name, audit, .. } => (*audit, Some(*name)),
            _ => ("access", None),
        };
        // Every client's first request is an anonymous `GET /v2/` to learn how to log
        // in; recording that as a refusal would bury the real ones.
        let probe =
            matches!(requirement, Requirement::Identity) && matches!(caller, Caller::Anonymous);
        if !probe {
            authority.audit_denied(&caller, action, repository, source, decision);
        }
        return Err(denial(
            state,
            parts,
            decision,
            challenge_scope(&requirement).as_deref(),
            &caller,
            action,
            repository,
        ));
    }
    parts.extensions.insert(caller);
    Ok(())
}

/// The scope a challenge names: what the refused request needed. Built only on refusal,
/// so admitted requests never pay for the formatting. A name outside the spec's grammar
/// (which could carry a quote into the header) is left out.
fn challenge_scope(requirement: &Requirement<'_>) -> Option<String> {
    match requirement {
        Requirement::Repository { name, scope, .. } => berth_oci::RepositoryName::parse(name)
            .ok()
            .map(|name| format!("repository:{name}:{scope}")),
        Requirement::Catalog => Some("registry:catalog:*".to_string()),
        Requirement::Identity => None,
    }
}

/// Whether the admitted caller may pull from `repository` (for cross-repository mounts,
/// which fall back to an ordinary upload when it may not).
pub async fn may_pull(state: &AppState, parts: &Parts, repository: &str) -> bool {
    let Some(authority) = state.auth.as_ref() else {
        return true;
    };
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .unwrap_or(Caller::Anonymous);
    matches!(
        authority
            .authorize(&caller, repository, ActionSet::of(&[Action::Pull]))
            .await,
        Ok(Decision::Allow)
    )
}

/// The `WWW-Authenticate` value that sends a client to the token endpoint.
pub fn challenge(
    state: &AppState,
    parts: &Parts,
    scope: Option<&str>,
    error: Option<&str>,
) -> String {
    let service = state
        .auth
        .as_ref()
        .map_or("berth", |a| a.settings().service.as_str());
    let mut value = format!(
        "Bearer realm=\"{}/token\",service=\"{service}\"",
        external_base(state, parts)
    );
    if let Some(scope) = scope {
        value.push_str(&format!(",scope=\"{scope}\""));
    }
    if let Some(error) = error {
        value.push_str(&format!(",error=\"{error}\""));
    }
    value
}

/// The URL clients reach this registry at: the configured one, or the request's `Host`.
pub fn external_base(state: &AppState, parts: &Parts) -> String {
    if let Some(url) = &state.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()) && !h.contains('"'))
        .unwrap_or("localhost");
    let scheme = if state.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

fn refusal(state: &AppState, parts: &Parts, err: AuthError, scope: Option<&str>) -> ApiError {
    match err {
        AuthError::Throttled { .. } => ApiError::Auth(err),
        err if err.is_internal() => ApiError::Auth(err),
        err => ApiError::Unauthenticated {
            challenge: challenge(state, parts, scope, Some("invalid_token")),
            message: format!("{err}; log in again (berth login, docker login) and retry"),
        },
    }
}

fn denial(
    state: &AppState,
    parts: &Parts,
    decision: Decision,
    scope: Option<&str>,
    caller: &Caller,
    action: &str,
    repository: Option<&str>,
) -> ApiError {
    let target = repository.map_or_else(
        || "this registry".to_string(),
        |r| format!("repository {r}"),
    );
    match decision {
        Decision::Forbidden => ApiError::Denied {
            message: format!(
                "{} may not {action} {target}; ask a registry owner for a role that allows it",
                caller.name().unwrap_or("anonymous")
            ),
        },
        Decision::InsufficientScope => ApiError::Unauthenticated {
            challenge: challenge(state, parts, scope, Some("insufficient_scope")),
            message: format!(
                "the token does not grant {action} on {target}; request a token with that scope"
            ),
        },
        Decision::Unauthenticated | Decision::Allow => ApiError::Unauthenticated {
            challenge: challenge(state, parts, scope, None),
            message: format!("authentication required to {action} {target}; log in first"),
        },
    }
}
