//! A client of other OCI registries (the distribution API), as the source of an import.
//!
//! [`RemoteSource`] reads one repository of one registry and implements the domain's
//! [`ImageSource`]: manifests by tag or digest (accepting every manifest type the
//! registry stores), blobs as byte streams, and referrers, through the referrers API or,
//! where a registry answers it with 404, the referrers tag schema (`sha256-<hex>`).
//!
//! Guarantees: credentials go only in `Authorization` headers, to the registry and to the
//! token realm its challenge names, never in URLs or logs; Docker token authentication
//! (a `Bearer` challenge exchanged for a pull token at the realm, with the credentials
//! as basic auth when there are any) and plain basic authentication are both spoken, and
//! a token that expires mid-import is renewed once per request; loopback hosts are
//! reached over plain HTTP, every other host over HTTPS unless the caller asks for plain
//! HTTP; no request goes to an address the caller's [`Destinations`] do not permit,
//! whether the source, its token realm or a redirect names it; every failure is a
//! [`RegistryError`] naming the registry, the repository and what was asked, with the
//! registry's own message when it gave one.

mod addresses;

pub use addresses::{Destinations, IpRanges};

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use berth_oci::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use berth_oci::{Descriptor, Digest, Reference, RepositoryName, MAX_MANIFEST_BYTES};
use berth_registry::{ImageSource, RegistryError, SourceBlob, SourceManifest};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;

/// Every manifest type an import can store, for `Accept`.
const MANIFEST_TYPES: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// Redirects followed for one request, as many as reqwest's default policy allows.
const MAX_REDIRECTS: usize = 10;

/// Largest referrers list or token answer read, in bytes.
const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;

/// A principal's name and secret at the source registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to reach a source registry.
#[derive(Clone, Debug, Default)]
pub struct RemoteOptions {
    pub credentials: Option<Credentials>,
    /// Plain HTTP even for a host that is not loopback.
    pub plain_http: bool,
    /// The addresses the source, its token realm and its redirects may resolve to.
    pub destinations: Destinations,
}

/// One repository of another registry, read over the distribution API.
pub struct RemoteSource {
    /// `registry/repository` as the person named it, for messages.
    name: String,
    base: Url,
    repository: String,
    credentials: Option<Credentials>,
    destinations: Arc<Destinations>,
    http: reqwest::Client,
    /// The `Authorization` value that worked last, reused until it stops working.
    authorization: Mutex<Option<String>>,
}

impl RemoteSource {
    /// A source for `repository` at `registry` (`host[:port]`, optionally with an
    /// `http://` or `https://` scheme). `docker.io` names Docker Hub, whose official
    /// images live under `library/`.
    pub fn new(
        registry: &str,
        repository: &str,
        options: RemoteOptions,
    ) -> Result<RemoteSource, RegistryError> {
        let name = format!("{registry}/{repository}");
        let invalid = |reason: String| RegistryError::SourceInvalid {
            source_name: name.clone(),
            reason,
        };
        let base = base_url(registry, options.plain_http).map_err(invalid)?;
        RepositoryName::parse(repository).map_err(|err| invalid(err.to_string()))?;
        let docker_hub = matches!(registry, "docker.io" | "index.docker.io");
        let repository = if docker_hub && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        let destinations = Arc::new(options.destinations);
        let redirects = Arc::clone(&destinations);
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(addresses::GuardedResolver {
                destinations: Arc::clone(&destinations),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match redirects.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(reason) => attempt.error(reason),
                }
            }))
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| RegistryError::SourceUnreachable {
                source_name: name.clone(),
                reason: root_cause(&err),
            })?;
        Ok(RemoteSource {
            name,
            base,
            repository,
            credentials: options.credentials,
            destinations,
            http,
            authorization: Mutex::new(None),
        })
    }

    fn url(&self, tail: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(&format!("/v2/{}/{tail}", self.repository));
        url
    }

    /// GETs `url`, authenticating when the registry challenges; the answer is anything
    /// but 401 (a 401 after authenticating is an error here).
    async fn get(&self, url: &Url, accept: Option<&str>) -> Result<Response, RegistryError> {
        let cached = self.authorization.lock().expect("not poisoned").clone();
        let response = self.send(url, accept, cached.as_deref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let authorization = self.authenticate(response.headers()).await?;
        let response = self.send(url, accept, Some(&authorization)).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let message = server_message(response).await;
            return Err(self.unauthorized(message));
        }
        *self.authorization.lock().expect("not poisoned") = Some(authorization);
        Ok(response)
    }

    async fn send(
        &self,
        url: &Url,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Response, RegistryError> {
        self.check_destination(url)?;
        let mut request = self.http.get(url.clone());
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        request.send().await.map_err(|err| self.unreachable(&err))
    }

    /// The `Authorization` value that answers the challenge in `headers`.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<String, RegistryError> {
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let Some((scheme, params)) = challenge else {
            return Err(self.unauthorized(
                "it asks for authentication without saying how (no WWW-Authenticate)".into(),
            ));
        };
        if scheme.eq_ignore_ascii_case("basic") {
            return match &self.credentials {
                Some(credentials) => Ok(basic(credentials)),
                None => Err(self.unauthorized("it needs credentials".into())),
            };
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(self.unauthorized(format!(
                "it asks for {scheme} authentication, which berth does not speak"
            )));
        }
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let realm = param("realm")
            .and_then(|realm| Url::parse(realm).ok())
            .filter(|realm| matches!(realm.scheme(), "http" | "https"))
            .ok_or_else(|| self.unauthorized("its challenge names no usable token realm".into()))?;
        let mut token_url = realm.clone();
        {
            let mut query = token_url.query_pairs_mut();
            if let Some(service) = param("service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &format!("repository:{}:pull", self.repository));
        }
        self.check_destination(&token_url)?;
        let mut request = self.http.get(token_url);
        if let Some(credentials) = &self.credentials {
            request = request.header(AUTHORIZATION, basic(credentials));
        }
        let response = request.send().await.map_err(|err| self.unreachable(&err))?;
        let status = response.status();
        if !status.is_success() {
            let message = server_message(response).await;
            return Err(
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    self.unauthorized(format!("its token service at {realm} refused: {message}"))
                } else {
                    self.unreachable_because(format!(
                        "its token service at {realm} answered {status}: {message}"
                    ))
                },
            );
        }
        let bytes = self.read_limited(response, MAX_JSON_BYTES).await?;
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|err| self.invalid(format!("the token answer is not JSON ({err})")))?;
        let token = answer
            .access_token
            .or(answer.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.invalid("the token answer has no token".into()))?;
        Ok(format!("Bearer {token}"))
    }

    /// Reads a whole body of at most `limit` bytes.
    async fn read_limited(
        &self,
        response: Response,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(self.invalid(format!("an answer is larger than {limit} bytes")));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| self.unreachable(&err))?;
            if body.len() + chunk.len() > limit {
                return Err(self.invalid(format!("an answer is larger than {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The error for an answer that is neither success nor 404.
    async fn failed(&self, what: &str, response: Response) -> RegistryError {
        let status = response.status();
        let message = server_message(response).await;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                self.unauthorized(format!("it refused to serve {what}: {message}"))
            }
            _ => self.unreachable_because(format!("it answered {status} for {what}: {message}")),
        }
    }

    async fn not_found(&self, what: String, response: Response) -> RegistryError {
        let message = server_message(response).await;
        RegistryError::SourceNotFound {
            source_name: self.name.clone(),
            what: format!("{what} (it says: {message})"),
        }
    }

    fn unauthorized(&self, reason: String) -> RegistryError {
        RegistryError::SourceUnauthorized {
            source_name: self.name.clone(),
            reason,
        }
    }

    fn invalid(&self, reason: String) -> RegistryError {
        RegistryError::SourceInvalid {
            source_name: self.name.clone(),
            reason,
        }
    }

    fn unreachable(&self, err: &reqwest::Error) -> RegistryError {
        let url = err
            .url()
            .map(|u| format!("{}://{}", u.scheme(), u.authority()))
            .unwrap_or_else(|| self.base.to_string());
        self.unreachable_because(format!("cannot reach {url} ({})", root_cause(err)))
    }

    /// Refuses a URL whose host is an address the destinations do not permit; names are
    /// checked by the resolver.
    fn check_destination(&self, url: &Url) -> Result<(), RegistryError> {
        self.destinations.check_url(url).map_err(|reason| {
            self.unreachable_because(format!(
                "cannot reach {}://{} ({reason})",
                url.scheme(),
                url.authority()
            ))
        })
    }

    fn unreachable_because(&self, reason: String) -> RegistryError {
        RegistryError::SourceUnreachable {
            source_name: self.name.clone(),
            reason,
        }
    }

    /// The index the referrers tag schema keeps for `subject`, or nothing.
    async fn referrers_tag(&self, subject: &Digest) -> Result<Vec<Descriptor>, RegistryError> {
        let tag = format!("{}-{}", subject.algorithm().as_str(), subject.hex());
        let url = self.url(&format!("manifests/{tag}"));
        let response = self.get(&url, Some(OCI_INDEX)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(Vec::new()),
            status if status.is_success() => {
                let bytes = self.read_limited(response, MAX_MANIFEST_BYTES).await?;
                self.descriptors(&bytes, &format!("the referrers tag {tag}"))
            }
            _ => Err(self
                .failed(&format!("the referrers tag {tag}"), response)
                .await),
        }
    }

    fn descriptors(&self, bytes: &[u8], what: &str) -> Result<Vec<Descriptor>, RegistryError> {
        let index: ReferrersIndex = serde_json::from_slice(bytes)
            .map_err(|err| self.invalid(format!("{what} is not an index ({err})")))?;
        Ok(index.manifests)
    }
}

#[async_trait]
impl ImageSource for RemoteSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn manifest(&self, reference: &Reference) -> Result<SourceManifest, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let response = self.get(&url, Some(&MANIFEST_TYPES.join(", "))).await?;
        let what = format!("manifest {reference}");
        match response.status() {
            status if status.is_success() => {}
            StatusCode::NOT_FOUND => return Err(self.not_found(what, response).await),
            _ => return Err(self.failed(&what, response).await),
        }
        let headers = response.headers();
        let media_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| berth_oci::media_type::essence(v).to_string())
            .unwrap_or_default();
        let digest = match headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
        {
            Some(text) => Some(Digest::parse(text).map_err(|err| {
                self.invalid(format!("it announced {what} with a bad digest: {err}"))
            })?),
            None => None,
        };
        let content = self.read_limited(response, MAX_MANIFEST_BYTES).await?;
        Ok(SourceManifest {
            digest,
            media_type,
            content,
        })
    }

    async fn blob(&self, digest: &Digest) -> Result<SourceBlob, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let response = self.get(&url, None).await?;
        let what = format!("blob {digest}");
        match response.status() {
            status if status.is_success() => {}
            StatusCode::NOT_FOUND => return Err(self.not_found(what, response).await),
            _ => return Err(self.failed(&what, response).await),
        }
        let size = response.content_length();
        let body = response.bytes_stream().map_err(std::io::Error::other);
        Ok(SourceBlob {
            size,
            body: Box::pin(body),
        })
    }

    async fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, RegistryError> {
        let url = self.url(&format!("referrers/{subject}"));
        let response = self.get(&url, Some(OCI_INDEX)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => {
                tracing::debug!(
                    subject = subject.as_str(),
                    "no referrers API at the source; reading the referrers tag"
                );
                self.referrers_tag(subject).await
            }
            status if status.is_success() => {
                let bytes = self.read_limited(response, MAX_JSON_BYTES).await?;
                self.descriptors(&bytes, &format!("the referrers of {subject}"))
            }
            _ => Err(self
                .failed(&format!("the referrers of {subject}"), response)
                .await),
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct ReferrersIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

fn basic(credentials: &Credentials) -> String {
    let pair = format!("{}:{}", credentials.username, credentials.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The registry's base URL: the scheme it was given with; else plain HTTP for loopback
/// hosts or when asked, HTTPS otherwise. Docker Hub's API lives on another host.
pub fn base_url(registry: &str, plain_http: bool) -> Result<Url, String> {
    let (explicit, host) = match registry.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (Some(scheme), rest),
        Some((scheme, _)) => return Err(format!("{scheme}:// is not http:// or https://")),
        None => (None, registry),
    };
    let host = host.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "{registry:?} is not a registry address; give it as host[:port]"
        ));
    }
    let host = match host {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    };
    let probe = Url::parse(&format!("http://{host}/"))
        .map_err(|err| format!("{registry:?} is not a registry address ({err})"))?;
    let scheme = match explicit {
        Some(scheme) => scheme,
        None if plain_http || is_loopback(&probe) => "http",
        None => "https",
    };
    Url::parse(&format!("{scheme}://{host}/"))
        .map_err(|err| format!("{registry:?} is not a registry address ({err})"))
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The registry's own words from an error answer: the `message`s of an OCI error body,
/// else its status.
async fn server_message(response: Response) -> String {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let messages: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("errors")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.get("message")?.as_str().map(str::to_string))
        .filter(|m| !m.is_empty())
        .collect();
    if messages.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        messages.join("; ")
    }
}

/// The innermost cause, which says what actually went wrong (e.g. "Connection refused").
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Splits `Bearer realm="r",service="s"` into the scheme and its parameters; quoted
/// values may contain commas and backslash escapes.
pub fn parse_challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        let key = key.trim().to_string();
        if key.is_empty() {
            break;
        }
        chars.next_if_eq(&'=')?;
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut value = String::new();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
            value
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string()
        };
        params.push((key, value));
    }
    Some((scheme.to_string(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_speak_plain_http_and_others_https() {
        for (input, expected) in [
            ("127.0.0.1:5000", "http://127.0.0.1:5000/"),
            ("localhost:5000", "http://localhost:5000/"),
            ("[::1]:5000", "http://[::1]:5000/"),
            ("127.8.9.10", "http://127.8.9.10/"),
            ("registry.example.com", "https://registry.example.com/"),
            ("10.0.0.1:5000", "https://10.0.0.1:5000/"),
            ("localhost.example.com", "https://localhost.example.com/"),
            ("https://127.0.0.1:5000", "https://127.0.0.1:5000/"),
            (
                "http://registry.example.com/",
                "http://registry.example.com/",
            ),
            ("docker.io", "https://registry-1.docker.io/"),
        ] {
            assert_eq!(
                base_url(input, false).unwrap().as_str(),
                expected,
                "{input}"
            );
        }
        assert_eq!(
            base_url("registry.example.com:5000", true)
                .unwrap()
                .as_str(),
            "http://registry.example.com:5000/"
        );
        for bad in [
            "",
            "ftp://host",
            "host/path",
            "user@host",
            "host?x",
            "ho st",
        ] {
            assert!(base_url(bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_hub_official_images_live_under_library() {
        let source = RemoteSource::new("docker.io", "alpine", RemoteOptions::default()).unwrap();
        assert_eq!(
            source.url("manifests/3").as_str(),
            "https://registry-1.docker.io/v2/library/alpine/manifests/3"
        );
        let source = RemoteSource::new("ghcr.io", "team/app", RemoteOptions::default()).unwrap();
        assert_eq!(
            source.url("blobs/x").as_str(),
            "https://ghcr.io/v2/team/app/blobs/x"
        );
        assert!(RemoteSource::new("ghcr.io", "Bad/Name", RemoteOptions::default()).is_err());
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bearer_challenges_are_parsed() {
        let (scheme, params) =
            parse_challenge(r#"Bearer realm="http://127.0.0.1:5000/token",service="berth""#)
                .unwrap();
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params,
            pairs(&[
                ("realm", "http://127.0.0.1:5000/token"),
                ("service", "berth")
            ])
        );

        let (_, params) = parse_challenge(
            r#"Bearer realm="https://h/token", service="a,b", scope="repository:x:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(params[1], ("service".into(), "a,b".into()));
        assert_eq!(params[2], ("scope".into(), "repository:x:pull,push".into()));
        assert_eq!(params[3], ("error".into(), "insufficient_scope".into()));
    }

    #[test]
    fn escapes_and_unquoted_values_are_understood() {
        let (_, params) = parse_challenge(r#"Bearer realm="a\"b",service=berth"#).unwrap();
        assert_eq!(params, pairs(&[("realm", "a\"b"), ("service", "berth")]));
        let (scheme, params) = parse_challenge("Basic").unwrap();
        assert_eq!(scheme, "Basic");
        assert!(params.is_empty());
    }

    #[test]
    fn malformed_challenges_are_refused() {
        assert!(parse_challenge("").is_none());
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert!(parse_challenge("Bearer realm").is_none());
    }

    #[test]
    fn credentials_never_show_their_password() {
        let credentials = Credentials {
            username: "ci".into(),
            password: "s3cr3t".into(),
        };
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}
