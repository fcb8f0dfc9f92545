//! The token endpoint, `/token`: Docker's token protocol (`GET` with basic credentials)
//! and its OAuth2 form (`POST` with a password, refresh-token or token-exchange grant).
//!
//! The endpoint only translates HTTP into a [`TokenRequest`]; which scopes are granted is
//! the identity service's decision. Credentials are never logged.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_auth::access::RequestedScope;
use berth_auth::authority::{Credentials, TokenRequest};
use berth_auth::clock::format_rfc3339;
use http_body_util::BodyExt;
use serde_json::json;

use crate::auth::source;
use crate::error::ApiError;
use crate::observe::RouteLabel;
use crate::AppState;

/// The largest form body accepted; a token request is a few kilobytes at most.
const MAX_FORM: usize = 64 * 1024;
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// `GET` or `POST /token`.
pub async fn token(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let mut response = match issue(&state, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    response.extensions_mut().insert(RouteLabel("token"));
    response
}

async fn issue(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let Some(authority) = state.auth.as_ref() else {
        return Err(ApiError::AuthDisabled);
    };
    let (parts, body) = request.into_parts();
    let request = match parts.method {
        Method::GET => from_query(state, &parts)?,
        Method::POST => {
            let body = read_form(body).await?;
            from_form(state, &parts, &body)?
        }
        _ => {
            return Err(ApiError::MethodNotAllowed {
                method: parts.method.to_string(),
            })
        }
    };
    let issued = authority.issue(request).await.map_err(ApiError::Auth)?;
    let issued_at = format_rfc3339(issued.issued_at * 1000);
    let mut body = json!({
        "token": issued.access_token,
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
        "issued_at": issued_at,
    });
    if let Some(login) = issued.login_token {
        body["refresh_token"] = json!(login);
        body["refresh_expires_in"] = json!(issued.login_expires_in);
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response())
}

/// Docker's form: scopes and options in the query, credentials in basic auth.
fn from_query(state: &AppState, parts: &Parts) -> Result<TokenRequest, ApiError> {
    let pairs = pairs(parts.uri.query().unwrap_or_default().as_bytes());
    let credentials = match basic_credentials(parts)? {
        Some((username, password)) => Credentials::Password { username, password },
        None => Credentials::Anonymous,
    };
    Ok(TokenRequest {
        credentials,
        service: value(&pairs, "service"),
        scopes: scopes(&pairs)?,
        offline: value(&pairs, "offline_token").is_some_and(|v| v == "true"),
        login_ttl: login_ttl(&pairs)?,
        source: source(state, parts),
    })
}

/// OAuth2's form: everything in the body.
fn from_form(state: &AppState, parts: &Parts, body: &[u8]) -> Result<TokenRequest, ApiError> {
    let pairs = pairs(body);
    let grant = value(&pairs, "grant_type").unwrap_or_default();
    let required = |name: &'static str| {
        value(&pairs, name).ok_or_else(|| ApiError::QueryInvalid {
            name,
            reason: format!("grant_type {grant} needs `{name}`"),
        })
    };
    let (credentials, offline) = match grant.as_str() {
        "password" => (
            Credentials::Password {
                username: required("username")?,
                password: required("password")?,
            },
            value(&pairs, "access_type").is_some_and(|v| v == "offline"),
        ),
        "refresh_token" => (Credentials::RefreshToken(required("refresh_token")?), true),
        TOKEN_EXCHANGE => (Credentials::Federated(required("subject_token")?), true),
        other => {
            return Err(ApiError::QueryInvalid {
                name: "grant_type",
                reason: format!(
                    "{other:?} is not supported; use password, refresh_token or {TOKEN_EXCHANGE}"
                ),
            })
        }
    };
    Ok(TokenRequest {
        credentials,
        service: value(&pairs, "service"),
        scopes: scopes(&pairs)?,
        offline,
        login_ttl: login_ttl(&pairs)?,
        source: source(state, parts),
    })
}

fn pairs(input: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(input).into_owned().collect()
}

fn value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

fn scopes(pairs: &[(String, String)]) -> Result<Vec<RequestedScope>, ApiError> {
    let values = pairs
        .iter()
        .filter(|(key, _)| key == "scope")
        .map(|(_, value)| value.as_str());
    RequestedScope::parse_all(values).map_err(ApiError::Auth)
}

fn login_ttl(pairs: &[(String, String)]) -> Result<Option<Duration>, ApiError> {
    match value(pairs, "login_ttl") {
        None => Ok(None),
        Some(text) => text
            .parse::<u64>()
            .map(|secs| Some(Duration::from_secs(secs)))
            .map_err(|_| ApiError::QueryInvalid {
                name: "login_ttl",
                reason: format!("{text:?} is not a number of seconds"),
            }),
    }
}

fn basic_credentials(parts: &Parts) -> Result<Option<(String, String)>, ApiError> {
    use base64::Engine;
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || ApiError::Auth(berth_auth::AuthError::BadCredentials);
    let text = header.to_str().map_err(|_| invalid())?;
    let (scheme, encoded) = text.trim().split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
    Ok(Some((username.to_string(), password.to_string())))
}

async fn read_form(body: axum::body::Body) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_FORM);
    limited
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| ApiError::QueryInvalid {
            name: "body",
            reason: format!("the form could not be read or is larger than {MAX_FORM} bytes"),
        })
}
