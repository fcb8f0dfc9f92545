//! HTTP helpers for the conformance and crash tests: a thin client over reqwest that returns
//! whole responses (status, headers, body), builders for OCI manifests, digests, and a raw
//! HTTP/1.1 writer for requests reqwest cannot produce (chunked bodies, dropped connections).
//!
//! Every helper panics with the request line and the response body when the server answers
//! something unexpected, so a failing test says what the server did.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::support::{basic_authorization, Server};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Deterministic pseudo-random bytes (xorshift), so large bodies are reproducible.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One complete HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub method: String,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All values of a header (e.g. `Link`).
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The body as text, lossily, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A one-line description of the exchange for assertion messages.
    pub fn describe(&self) -> String {
        let mut body = self.text();
        body.truncate(600);
        format!(
            "{} {} -> {} {:?} body={body}",
            self.method, self.url, self.status, self.headers
        )
    }

    /// The body parsed as JSON; panics with the exchange when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.describe()))
    }

    /// Asserts the status code.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status,
            status,
            "unexpected status: {}",
            self.describe()
        );
        self
    }

    /// The `code` of every entry in the spec's error body.
    pub fn error_codes(&self) -> Vec<String> {
        let Ok(value) = serde_json::from_slice::<Value>(&self.body) else {
            return Vec::new();
        };
        value["errors"]
            .as_array()
            .map(|errs| {
                errs.iter()
                    .filter_map(|e| e["code"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts an error response: status, the spec's JSON error shape, and the code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Resp {
        self.expect(status);
        let value = self.json();
        let errors = value["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors array: {}", self.describe()));
        assert!(
            !errors.is_empty(),
            "empty errors array: {}",
            self.describe()
        );
        for e in errors {
            assert!(
                e["code"].is_string(),
                "error without code: {}",
                self.describe()
            );
            assert!(
                e.get("message").is_none_or(Value::is_string),
                "message is not a string: {}",
                self.describe()
            );
        }
        assert!(
            self.error_codes().iter().any(|c| c == code),
            "expected error code {code}: {}",
            self.describe()
        );
        self
    }

    /// The `Location` header as a path (`/v2/...?...`), whether absolute or relative.
    #[track_caller]
    pub fn location(&self) -> String {
        let loc = self
            .header("location")
            .unwrap_or_else(|| panic!("no Location: {}", self.describe()));
        path_of(loc)
    }
}

/// Strips `scheme://host` from an absolute URL; leaves a path unchanged.
pub fn path_of(location: &str) -> String {
    match location.find("://") {
        Some(i) => {
            let rest = &location[i + 3..];
            rest.find('/')
                .map_or("/".to_string(), |j| rest[j..].to_string())
        }
        None => location.to_string(),
    }
}

/// Appends a query parameter to a path that may already carry a query.
pub fn with_query(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}

/// An HTTP client bound to one server's base URL, sending one identity's credentials.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
    /// The `Authorization` value sent with every request that does not set its own.
    authorization: Option<String>,
}

impl Client {
    /// A client acting as the registry owner (anonymous when authentication is off).
    pub fn new(server: &Server) -> Client {
        Client::for_base(&server.base).authorized(server.authorization())
    }

    /// A client that sends no credentials.
    pub fn anonymous(server: &Server) -> Client {
        Client::for_base(&server.base)
    }

    /// A client sending basic credentials: a principal's name and secret, or a username
    /// with a login token as password.
    pub fn with_basic(server: &Server, user: &str, password: &str) -> Client {
        Client::for_base(&server.base).authorized(Some(basic_authorization(user, password)))
    }

    /// A client sending `Authorization: Bearer <token>`.
    pub fn with_bearer(server: &Server, token: &str) -> Client {
        Client::for_base(&server.base).authorized(Some(format!("Bearer {token}")))
    }

    /// An anonymous client for a base URL (`http://127.0.0.1:PORT`).
    pub fn for_base(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        Client {
            http,
            base: base.to_string(),
            authorization: None,
        }
    }

    /// The same client sending `authorization` (or nothing) from now on.
    pub fn authorized(mut self, authorization: Option<String>) -> Client {
        self.authorization = authorization;
        self
    }

    /// The `Authorization` value this client sends, if any.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends a request; `Err` only for transport failures.
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, reqwest::Error> {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let url = self.url(path);
        let mut req = self.http.request(method.clone(), &url);
        let overridden = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(value), false) = (&self.authorization, overridden) {
            req = req.header("authorization", value.as_str());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Resp {
            method: method.to_string(),
            url,
            status,
            headers,
            body,
        })
    }

    /// Sends a request and panics on transport failure.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_send(method, path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path} failed in transport: {e:?}"))
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], None).await
    }

    pub async fn head(&self, path: &str) -> Resp {
        self.send("HEAD", path, &[], None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, &[], None).await
    }

    /// POST /v2/<repo>/blobs/uploads/ and returns the upload location (asserting 202).
    pub async fn start_upload(&self, repo: &str) -> String {
        let resp = self
            .send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], None)
            .await;
        resp.expect(202);
        resp.location()
    }

    /// PATCH a chunk; `range` is the Content-Range value to send, if any.
    pub async fn patch(&self, location: &str, chunk: &[u8], range: Option<&str>) -> Resp {
        let len = chunk.len().to_string();
        let mut headers = vec![
            ("content-type", "application/octet-stream"),
            ("content-length", len.as_str()),
        ];
        if let Some(range) = range {
            headers.push(("content-range", range));
        }
        self.send("PATCH", location, &headers, Some(chunk.to_vec()))
            .await
    }

    /// PUT <location>?digest=D with an optional final chunk.
    pub async fn finish(&self, location: &str, digest: &str, body: &[u8]) -> Resp {
        let url = with_query(location, "digest", digest);
        let len = body.len().to_string();
        let headers = [
            ("content-type", "application/octet-stream"),
            ("content-length", len.as_str()),
        ];
        self.send("PUT", &url, &headers, Some(body.to_vec())).await
    }

    /// Pushes a blob with POST + PUT and returns its digest (asserting 201).
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let d = digest(bytes);
        let location = self.start_upload(repo).await;
        self.finish(&location, &d, bytes).await.expect(201);
        d
    }

    /// PUT a manifest under `reference` with the given Content-Type.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Resp {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let headers = [("content-type", media_type)];
        self.send("PUT", &path, &headers, Some(bytes.to_vec()))
            .await
    }

    /// GET a manifest with an Accept header.
    pub async fn get_manifest(&self, repo: &str, reference: &str, accept: &str) -> Resp {
        let path = format!("/v2/{repo}/manifests/{reference}");
        self.send("GET", &path, &[("accept", accept)], None).await
    }

    /// The repository's tag list, or `None` when the repository is unknown (404).
    pub async fn tags(&self, repo: &str) -> Option<Vec<String>> {
        let resp = self.get(&format!("/v2/{repo}/tags/list")).await;
        if resp.status == 404 {
            resp.expect_error(404, "NAME_UNKNOWN");
            return None;
        }
        resp.expect(200);
        Some(string_list(&resp.json()["tags"]))
    }
}

/// A JSON array of strings (null counts as empty).
pub fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Accept header listing the manifest types berth serves.
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// An OCI descriptor.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({ "mediaType": media_type, "digest": digest(bytes), "size": bytes.len() })
}

/// Serializes an OCI image manifest.
pub fn image_manifest(config: &Value, layers: &[Value]) -> Vec<u8> {
    let value = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    serde_json::to_vec(&value).expect("serialize")
}

/// Serializes an OCI image manifest from a JSON object (for artifacts and subjects).
pub fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialize")
}

/// A small image pushed to a repository: its config, layer and manifest.
pub struct Image {
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl Image {
    /// A deterministic image whose content depends on `seed`.
    pub fn new(seed: &str) -> Image {
        let config = to_bytes(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "berth-test-seed": seed,
        }));
        let layer = format!("layer bytes for {seed}").into_bytes();
        let manifest = image_manifest(
            &descriptor(OCI_CONFIG, &config),
            &[descriptor(OCI_LAYER, &layer)],
        );
        let digest = digest(&manifest);
        Image {
            config,
            layer,
            manifest,
            digest,
        }
    }

    /// Pushes the blobs and the manifest under `reference`; asserts 201.
    pub async fn push(&self, client: &Client, repo: &str, reference: &str) -> Resp {
        self.push_blobs(client, repo).await;
        let resp = client
            .put_manifest(repo, reference, OCI_MANIFEST, &self.manifest)
            .await;
        resp.expect(201);
        resp
    }

    /// Pushes only the config and layer blobs.
    pub async fn push_blobs(&self, client: &Client, repo: &str) {
        client.push_blob(repo, &self.config).await;
        client.push_blob(repo, &self.layer).await;
    }
}

/// `head` with the owner's `Authorization` header added after the request line (unchanged
/// when authentication is off), so raw requests act as the owner like [`Client::new`].
pub fn owner_head(server: &Server, head: &str) -> String {
    match (server.authorization(), head.split_once("\r\n")) {
        (Some(value), Some((line, rest))) => format!("{line}\r\nAuthorization: {value}\r\n{rest}"),
        _ => head.to_string(),
    }
}

/// Writes a raw HTTP/1.1 request as the owner and reads the whole response (connection
/// closes). `body_parts` are written in order; used for chunked transfer encoding by hand.
pub fn raw_request(server: &Server, head: &str, body_parts: &[&[u8]]) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .write_all(owner_head(server, head).as_bytes())
        .expect("write head");
    for part in body_parts {
        stream.write_all(part).expect("write body");
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    status_and_text(&response)
}

/// Sends a request head (as the owner) and part of its declared body, then drops the
/// connection, as a client that loses its network mid-upload does.
pub fn raw_abandon(server: &Server, head: &str, partial_body: &[u8]) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(owner_head(server, head).as_bytes())
        .expect("write head");
    stream.write_all(partial_body).expect("write body");
    stream.flush().expect("flush");
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// A header value from a raw response text, case-insensitively.
pub fn raw_header(response: &str, name: &str) -> Option<String> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Every regular file under `<data>/blobs/`, recursively (empty when the tree is absent).
pub fn blob_files(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![data_dir.join("blobs")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

/// Whether a committed blob file exists for `digest` at `<data>/blobs/sha256/<2 hex>/<hex>`.
pub fn blob_file_exists(data_dir: &std::path::Path, digest: &str) -> bool {
    let hex = digest.trim_start_matches("sha256:");
    data_dir
        .join("blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .exists()
}

/// Reads one HTTP/1.1 response (head plus a Content-Length body) from `stream`.
/// Returns the status (0 when none arrived) and the raw text read so far.
pub fn read_one_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = raw_header(&text, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&byte[..n]),
        }
    }
    status_and_text(&buf)
}

/// Sends a request head (as the owner), gives the server `wait` to answer from the head
/// alone (as it may for an oversized Content-Length), and only then sends the body.
/// Returns the response and the connection, to probe whether it can still be used.
pub fn raw_early_response(
    server: &Server,
    head: &str,
    body: &[u8],
    wait: Duration,
) -> (u16, String, TcpStream) {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .write_all(owner_head(server, head).as_bytes())
        .expect("write head");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let mut first = [0u8; 1];
    let early = matches!(stream.peek(&mut first), Ok(n) if n > 0);
    if !early {
        let _ = stream.write_all(body);
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let (status, text) = read_one_response(&mut stream);
    (status, text, stream)
}

/// A raw HTTP response's status code (0 when there is none) and its text.
fn status_and_text(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

// ----- identity: the management API and the token endpoint -----

impl Client {
    /// A JSON request to the management API (`/api/v1/...`).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| serde_json::to_vec(&b).expect("serialize"));
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        self.send(method, path, headers, body).await
    }

    /// Creates a principal from a `POST /api/v1/principals` body; asserts 201 and returns
    /// its first secret.
    pub async fn create_principal(&self, body: Value) -> String {
        let resp = self.api("POST", "/api/v1/principals", Some(body)).await;
        resp.expect(201);
        resp.json()["secret"]["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no secret: {}", resp.describe()))
            .to_string()
    }

    /// `GET /token?service=berth&scope=…` with this client's credentials.
    pub async fn token_response(&self, scopes: &[&str]) -> Resp {
        let mut path = "/token?service=berth".to_string();
        for scope in scopes {
            path = with_query(&path, "scope", scope);
        }
        self.get(&path).await
    }

    /// An access token for `scopes`; asserts 200.
    pub async fn token(&self, scopes: &[&str]) -> String {
        let resp = self.token_response(scopes).await;
        resp.expect(200);
        resp.json()["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {}", resp.describe()))
            .to_string()
    }

    /// A form `POST /token` (OAuth2 grants); `pairs` are URL-encoded here.
    pub async fn token_form(&self, pairs: &[(&str, &str)]) -> Resp {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send("POST", "/token", &headers, Some(body.into_bytes()))
            .await
    }
}

/// Percent-encodes everything but unreserved characters, as forms and queries need.
pub fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The claims of a JWT, decoded without verifying anything.
pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The header of a JWT, decoded without verifying anything.
pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("JWT part {index} is not base64url: {e}"));
    serde_json::from_slice(&bytes).expect("JWT part is JSON")
}

/// Every regular file under `<data>/uploads/`.
pub fn upload_files(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("uploads")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect()
}
