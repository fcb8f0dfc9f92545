//! Workload identity federation end to end: the test runs its own OpenID Connect issuer
//! (discovery document and JWKS over plain HTTP on loopback), berth trusts it through a
//! federation, and an external token is exchanged at `/token` for an access token that
//! pushes. Untrusted issuers, wrong audiences, unmatched claims, expired tokens and
//! signatures by unknown keys are refused; a key the issuer adds later is picked up by a
//! refetch of its JWKS.

mod support;
mod support_http;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_auth::jwt::KeyRing;
use serde_json::{json, Value};
use support::Server;
use support_http::*;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A signing key of the test issuer.
fn new_key() -> KeyRing {
    let (kid, pkcs8) = berth_auth::generate_signing_key().expect("key");
    KeyRing::from_keys(&[(kid, pkcs8, true)]).expect("ring")
}

/// A minimal OIDC issuer: `/.well-known/openid-configuration` and `/jwks`, the latter
/// serving whatever key set the test sets.
struct Issuer {
    base: String,
    jwks: Arc<Mutex<Value>>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl Issuer {
    fn start(jwks: Value) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind issuer");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let jwks = Arc::new(Mutex::new(jwks));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let (served, fetches, issuer) = (jwks.clone(), jwks_fetches.clone(), base.clone());
        // The thread lives as long as the test process; each test's issuer is tiny.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = match path.as_str() {
                    "/.well-known/openid-configuration" => (
                        "200 OK",
                        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}),
                    ),
                    "/jwks" => {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", served.lock().expect("jwks").clone())
                    }
                    _ => ("404 Not Found", json!({})),
                };
                let body = body.to_string();
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Issuer {
            base,
            jwks,
            jwks_fetches,
        }
    }

    /// Claims of a CI job of `org/app` on its main branch, valid for five minutes.
    fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": self.base, "aud": "berth-ci",
            "sub": "repo:org/app:ref:refs/heads/main", "repository": "org/app",
            "iat": now, "nbf": now, "exp": now + 300,
        })
    }
}

async fn exchange(client: &Client, subject_token: &str, scope: &str) -> Resp {
    client
        .token_form(&[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", JWT_TYPE),
            ("service", "berth"),
            ("scope", scope),
        ])
        .await
}

#[tokio::test]
async fn federated_tokens_are_exchanged_and_checked() {
    let server = Server::start();
    let owner = Client::new(&server);
    let key = new_key();
    let issuer = Issuer::start(key.jwks());
    owner
        .create_principal(json!({"name": "ci-fed", "kind": "service_principal",
            "roles": [{"role": "push", "scope": "org/*"}]}))
        .await;
    let federation = json!({
        "name": "github", "issuer": issuer.base, "audience": "berth-ci",
        "claims": {"sub": "repo:org/app:*", "repository": "org/app"},
        "principal": "ci-fed",
    });
    let created = owner
        .api("POST", "/api/v1/federations", Some(federation))
        .await;
    assert_eq!(created.expect(201).json()["principal"], "ci-fed");

    // A matching token is exchanged for an access token that pushes to org/app.
    let anonymous = Client::anonymous(&server);
    let scope = "repository:org/app:pull,push";
    let resp = exchange(&anonymous, &key.sign(&issuer.claims()).unwrap(), scope).await;
    let body = resp.expect(200).json();
    let access = body["access_token"].as_str().expect("access_token");
    assert!(body["refresh_token"].is_string(), "{body}");
    let claims = jwt_claims(access);
    assert_eq!(claims["sub"], "ci-fed");
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "org/app", "actions": ["pull", "push"]}])
    );
    let pusher = Client::with_bearer(&server, access);
    let image = Image::new("federated");
    image.push(&pusher, "org/app", "v1").await;
    assert_eq!(
        owner.get_manifest("org/app", "v1", OCI_MANIFEST).await.body,
        image.manifest
    );
    // The principal's roles still bound it: nothing outside org/*.
    let outside = exchange(
        &anonymous,
        &key.sign(&issuer.claims()).unwrap(),
        "repository:other/app:pull,push",
    )
    .await;
    let outside = outside.expect(200).json();
    assert_eq!(
        jwt_claims(outside["token"].as_str().unwrap())["access"],
        json!([])
    );
    let first_fetches = issuer.jwks_fetches.load(Ordering::SeqCst);
    let first_fetch = Instant::now();
    assert_eq!(first_fetches, 1, "the issuer's keys are cached");

    // Refusals, each changing one thing.
    let stranger_key = new_key();
    let stranger = Issuer::start(stranger_key.jwks());
    let mut untrusted = stranger.claims();
    untrusted["sub"] = json!("repo:org/app:ref:refs/heads/main");
    let mut audience = issuer.claims();
    audience["aud"] = json!("someone-else");
    let mut other_repo = issuer.claims();
    other_repo["sub"] = json!("repo:org/other:ref:refs/heads/main");
    let mut wrong_claim = issuer.claims();
    wrong_claim["repository"] = json!("org/other");
    let mut expired = issuer.claims();
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    let unknown_key = new_key();
    let refused = [
        ("untrusted issuer", stranger_key.sign(&untrusted).unwrap()),
        ("wrong audience", key.sign(&audience).unwrap()),
        ("sub not matching", key.sign(&other_repo).unwrap()),
        ("claim not matching", key.sign(&wrong_claim).unwrap()),
        ("expired", key.sign(&expired).unwrap()),
        (
            "key not in the JWKS",
            unknown_key.sign(&issuer.claims()).unwrap(),
        ),
        ("not a JWT", "not-a-jwt".to_string()),
    ];
    for (what, token) in &refused {
        let resp = exchange(&anonymous, token, scope).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.describe());
        resp.expect_error(401, "UNAUTHORIZED");
        let text = resp.text();
        assert!(!text.contains("access_token"), "{what}: {text}");
    }
    assert_eq!(owner.tags("org/app").await, Some(vec!["v1".to_string()]));

    // The issuer rotates: its JWKS now holds a new key. A token signed with it names an
    // unknown key id, so berth refetches the set (at most every few seconds) and accepts.
    let rotated = new_key();
    *issuer.jwks.lock().unwrap() = rotated.jwks();
    let min_refetch = Duration::from_secs(10);
    if let Some(rest) = min_refetch.checked_sub(first_fetch.elapsed()) {
        tokio::time::sleep(rest + Duration::from_millis(300)).await;
    }
    let resp = exchange(&anonymous, &rotated.sign(&issuer.claims()).unwrap(), scope).await;
    resp.expect(200);
    assert!(issuer.jwks_fetches.load(Ordering::SeqCst) > first_fetches);
    // The old key is gone from the issuer's set, so its tokens no longer pass.
    let resp = exchange(&anonymous, &key.sign(&issuer.claims()).unwrap(), scope).await;
    resp.expect_error(401, "UNAUTHORIZED");

    // Deleting the federation ends the trust.
    owner
        .api("DELETE", "/api/v1/federations/github", None)
        .await
        .expect(204);
    exchange(&anonymous, &rotated.sign(&issuer.claims()).unwrap(), scope)
        .await
        .expect_error(401, "UNAUTHORIZED");
}
