//! HTTP conversations with a berth registry: discovering its auth challenge at `/v2/`,
//! exchanging credentials for tokens at its token realm, and calling `/api/v1`.
//!
//! Guarantees: secrets travel only in request bodies or `Authorization` headers, never
//! in URLs; path segments (principal and repository names) are percent-encoded; every
//! non-success answer becomes `ClientError::Server` carrying the server's own message,
//! and every transport failure names the URL and its root cause.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use berth_remote::{parse_challenge, root_cause};

use super::error::{ClientError, Result};
use super::registry_url::RegistryUrl;

/// The scope a token needs to act on the management API.
pub const API_SCOPE: &str = "registry:api:*";

/// A principal's name (or the token user name) and its secret or login token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

/// What `/v2/` says about authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Auth is off: `/v2/` answered 200 without credentials.
    Open,
    /// Tokens come from `realm` for the audience `service`.
    Bearer { realm: Url, service: String },
}

/// The token endpoint's answer; only the fields the client uses.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub refresh_expires_in: Option<u64>,
}

impl TokenResponse {
    /// The access token, under either of its two names.
    pub fn access(&self) -> Option<&str> {
        self.access_token.as_deref().or(self.token.as_deref())
    }
}

/// A token request at the realm.
#[derive(Clone, Debug)]
pub struct TokenRequest<'a> {
    pub credentials: &'a Credentials,
    pub scope: Option<&'a str>,
    /// Ask for a login (refresh) token as well.
    pub offline: bool,
    /// The login token's lifetime in seconds; the server caps it.
    pub login_ttl: Option<u64>,
}

/// One registry, reached over HTTP(S).
#[derive(Clone, Debug)]
pub struct Registry {
    url: RegistryUrl,
    http: reqwest::Client,
}

impl Registry {
    pub fn new(url: RegistryUrl) -> Result<Registry> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|err| ClientError::Unreachable {
                url: url.to_string(),
                cause: root_cause(&err),
            })?;
        Ok(Registry { url, http })
    }

    pub fn url(&self) -> &RegistryUrl {
        &self.url
    }

    /// Asks `/v2/` without credentials how to authenticate.
    pub async fn challenge(&self) -> Result<Challenge> {
        let url = self.url.join("/v2/");
        let response = self.send(self.http.get(url.clone()), &url).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(Challenge::Open);
        }
        if status != StatusCode::UNAUTHORIZED {
            return Err(server_error(response).await);
        }
        let header = response
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let protocol = |reason: &str| ClientError::Protocol {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, params) =
            parse_challenge(header).ok_or_else(|| protocol("no WWW-Authenticate challenge"))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(protocol(&format!(
                "it asks for {scheme} authentication, not Bearer"
            )));
        }
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let realm = param("realm").ok_or_else(|| protocol("the challenge has no realm"))?;
        let realm = self
            .url
            .url()
            .join(&realm)
            .map_err(|err| protocol(&format!("the realm {realm:?} is not a URL ({err})")))?;
        let service = param("service").unwrap_or_default();
        Ok(Challenge::Bearer { realm, service })
    }

    /// Exchanges credentials for tokens with the password grant at `realm`.
    pub async fn token(
        &self,
        realm: &Url,
        service: &str,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse> {
        let ttl = request.login_ttl.map(|s| s.to_string());
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "password"),
            ("username", &request.credentials.username),
            ("password", &request.credentials.secret),
            ("service", service),
        ];
        if let Some(scope) = request.scope {
            form.push(("scope", scope));
        }
        if request.offline {
            form.push(("access_type", "offline"));
        }
        if let Some(ttl) = &ttl {
            form.push(("login_ttl", ttl));
        }
        let builder = self.http.post(realm.clone()).form(&form);
        let response = self.send(builder, realm).await?;
        if !response.status().is_success() {
            return Err(server_error(response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| unreachable(realm, &err))?;
        serde_json::from_slice(&body).map_err(|err| ClientError::Protocol {
            url: realm.to_string(),
            reason: format!("the token answer is not valid JSON ({err})"),
        })
    }

    /// The URL of `/api/v1/` followed by `segments`, each percent-encoded.
    pub fn api_url(&self, segments: &[&str]) -> Url {
        let mut url = self.url.join("/api/v1");
        url.path_segments_mut()
            .expect("http URLs have paths")
            .extend(segments);
        url
    }

    async fn send(&self, builder: reqwest::RequestBuilder, url: &Url) -> Result<reqwest::Response> {
        builder.send().await.map_err(|err| unreachable(url, &err))
    }
}

/// A session on the management API, authenticated once.
#[derive(Clone, Debug)]
pub struct Api {
    registry: Registry,
    bearer: Option<String>,
}

impl Api {
    /// Authenticates with an access token for `registry:api:*`, or not at all when the
    /// registry has auth off.
    pub async fn connect(registry: Registry, credentials: Option<&Credentials>) -> Result<Api> {
        let bearer = match registry.challenge().await? {
            Challenge::Open => None,
            Challenge::Bearer { realm, service } => {
                let credentials = credentials.ok_or_else(|| ClientError::NotLoggedIn {
                    registry: registry.url().host_port(),
                })?;
                let request = TokenRequest {
                    credentials,
                    scope: Some(API_SCOPE),
                    offline: false,
                    login_ttl: None,
                };
                let tokens = registry.token(&realm, &service, &request).await?;
                let access = tokens.access().ok_or_else(|| ClientError::Protocol {
                    url: realm.to_string(),
                    reason: "the token answer has no access_token".into(),
                })?;
                Some(access.to_string())
            }
        };
        Ok(Api { registry, bearer })
    }

    /// The full URL of an API path, for messages.
    pub fn url(&self, segments: &[&str]) -> String {
        self.registry.api_url(segments).to_string()
    }

    /// Sends one API request; `None` for an empty answer such as 204.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Option<Value>> {
        let mut url = self.registry.api_url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut builder = self.registry.http.request(method, url.clone());
        if let Some(token) = &self.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = self.registry.send(builder, &url).await?;
        if !response.status().is_success() {
            return Err(server_error(response).await);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|err| unreachable(&url, &err))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| ClientError::Protocol {
                url: url.to_string(),
                reason: format!("the answer is not valid JSON ({err})"),
            })
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Value> {
        self.call(Method::GET, segments, query, None)
            .await
            .map(Option::unwrap_or_default)
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value> {
        self.call(Method::POST, segments, &[], Some(body))
            .await
            .map(Option::unwrap_or_default)
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value> {
        self.call(Method::PATCH, segments, &[], Some(body))
            .await
            .map(Option::unwrap_or_default)
    }

    pub async fn delete(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<()> {
        self.call(Method::DELETE, segments, query, None)
            .await
            .map(drop)
    }
}

/// Turns an error answer into `ClientError::Server` with the server's message.
async fn server_error(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    ClientError::Server {
        status: status.as_u16(),
        message: error_message(&body).unwrap_or_else(|| {
            format!(
                "the registry answered {}",
                status.canonical_reason().unwrap_or("with an error")
            )
        }),
    }
}

/// The `message`s of an OCI error body, joined; `None` when the body has none.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let messages: Vec<&str> = value
        .get("errors")?
        .as_array()?
        .iter()
        .filter_map(|e| e.get("message")?.as_str())
        .filter(|m| !m.is_empty())
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

fn unreachable(url: &Url, err: &reqwest::Error) -> ClientError {
    ClientError::Unreachable {
        url: url.to_string(),
        cause: root_cause(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_come_from_the_oci_error_body() {
        let body = br#"{"errors":[{"code":"DENIED","message":"principal ci already exists"}]}"#;
        assert_eq!(error_message(body).unwrap(), "principal ci already exists");
        let two = br#"{"errors":[{"code":"A","message":"one"},{"code":"B","message":"two"}]}"#;
        assert_eq!(error_message(two).unwrap(), "one; two");
        assert!(error_message(b"<html>bad gateway</html>").is_none());
        assert!(error_message(br#"{"errors":[]}"#).is_none());
        assert!(error_message(br#"{"errors":[{"code":"X"}]}"#).is_none());
    }

    #[test]
    fn api_urls_encode_each_segment() {
        let registry = Registry::new(RegistryUrl::parse("127.0.0.1:5000").unwrap()).unwrap();
        let url = registry.api_url(&["principals", "a b", "secrets", "1"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:5000/api/v1/principals/a%20b/secrets/1"
        );
        let repo = registry.api_url(&["repositories", "team", "app"]);
        assert_eq!(
            repo.as_str(),
            "http://127.0.0.1:5000/api/v1/repositories/team/app"
        );
        let sneaky = registry.api_url(&["principals", "../settings"]);
        assert_eq!(sneaky.path(), "/api/v1/principals/..%2Fsettings");
    }

    #[test]
    fn token_answers_accept_either_name_for_the_access_token() {
        let a: TokenResponse = serde_json::from_str(r#"{"token":"t"}"#).unwrap();
        assert_eq!(a.access(), Some("t"));
        let b: TokenResponse =
            serde_json::from_str(r#"{"token":"t","access_token":"u","refresh_token":"r"}"#)
                .unwrap();
        assert_eq!(b.access(), Some("u"));
        assert_eq!(b.refresh_token.as_deref(), Some("r"));
    }
}
