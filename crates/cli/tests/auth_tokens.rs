//! Tokens and credentials over HTTP: what the registry refuses and what it keeps working.
//!
//! Tokens are forged here with the registry's own signing keys, read from its database the
//! way an attacker who stole a key would, to show that each check (expiry, audience,
//! signature, key id, algorithm, kind) holds on its own. Login tokens die with the secret
//! that minted them, disabled principals and expired secrets are refused, key rotation
//! keeps old tokens valid, failed logins are throttled per address, secrets never reach the
//! log, and denied and successful pushes land in the audit log.

mod support;
mod support_http;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use berth_auth::jwt::KeyRing;
use serde_json::{json, Value};
use support::Server;
use support_http::*;

const TOKEN_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The registry's key ring, read from its database while it runs.
async fn stolen_keys(server: &Server) -> KeyRing {
    let meta = berth_meta::MetaStore::open(&server.data_dir.join("berth.db"))
        .await
        .expect("open berth.db");
    let keys: Vec<(String, Vec<u8>, bool)> = meta
        .signing_keys()
        .await
        .expect("signing keys")
        .into_iter()
        .map(|k| (k.kid, k.pkcs8, k.active))
        .collect();
    meta.close().await;
    KeyRing::from_keys(&keys).expect("key ring")
}

/// Access-token claims for `sub`/`pid` granting `actions` on `repo`.
fn access_claims(sub: &str, pid: i64, repo: &str, actions: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": "berth", "sub": sub, "aud": "berth",
        "exp": now + 300, "nbf": now - 5, "iat": now - 5, "jti": format!("forged-{now}-{repo}"),
        "kind": "access", "pid": pid,
        "access": [{"type": "repository", "name": repo, "actions": actions}],
    })
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

#[tokio::test]
async fn forged_and_misused_tokens_are_refused() {
    let server = Server::start();
    let owner = Client::new(&server);
    Image::new("forgery").push(&owner, "app", "v1").await;
    let real = owner.token(&["repository:app:pull"]).await;
    let pid = jwt_claims(&real)["pid"].as_i64().expect("pid");
    let keys = stolen_keys(&server).await;
    let pull = |token: &str| {
        let client = Client::with_bearer(&server, token);
        async move { client.get_manifest("app", "v1", OCI_MANIFEST).await }
    };

    // A token made with the real key and honest claims works: the forgeries below fail
    // for the one thing each changes.
    let honest = keys
        .sign(&access_claims("owner", pid, "app", &["pull"]))
        .unwrap();
    pull(&honest).await.expect(200);

    let mut expired = access_claims("owner", pid, "app", &["pull"]);
    expired["exp"] = json!(now() - 3600);
    expired["nbf"] = json!(now() - 7200);
    let mut other_audience = access_claims("owner", pid, "app", &["pull"]);
    other_audience["aud"] = json!("other");
    let mut login_kind = access_claims("owner", pid, "app", &["pull"]);
    login_kind["kind"] = json!("login");
    let (other_kid, other_key) = berth_auth::generate_signing_key().unwrap();
    let foreign = KeyRing::from_keys(&[(other_kid, other_key, true)]).unwrap();
    let honest_parts: Vec<&str> = honest.split('.').collect();
    let widened = access_claims("owner", pid, "app", &["pull", "push", "delete"]);
    let tampered = format!("{}.{}.{}", honest_parts[0], b64(&widened), honest_parts[2]);
    let header = jwt_header(&honest);
    let none_header = json!({"alg": "none", "typ": "JWT", "kid": header["kid"]});
    let alg_none = format!("{}.{}.", b64(&none_header), honest_parts[1]);
    let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": header["kid"]});
    let alg_hs = format!(
        "{}.{}.{}",
        b64(&hs_header),
        honest_parts[1],
        honest_parts[2]
    );

    let forgeries = [
        ("expired", keys.sign(&expired).unwrap()),
        ("audience other", keys.sign(&other_audience).unwrap()),
        ("login kind", keys.sign(&login_kind).unwrap()),
        (
            "unknown kid",
            foreign
                .sign(&access_claims("owner", pid, "app", &["pull"]))
                .unwrap(),
        ),
        ("tampered claims", tampered),
        ("alg none", alg_none),
        ("alg HS256", alg_hs),
        ("garbage", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA".to_string()),
    ];
    for (what, token) in &forgeries {
        let resp = pull(token).await;
        assert_eq!(resp.status, 401, "{what}: {}", resp.describe());
        resp.expect_error(401, "UNAUTHORIZED");
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        // Refused tokens write nothing either.
        let push = Client::with_bearer(&server, token)
            .put_manifest(
                "app",
                "forged",
                OCI_MANIFEST,
                &Image::new("forgery").manifest,
            )
            .await;
        assert_eq!(push.status, 401, "{what}: {}", push.describe());
    }
    assert_eq!(owner.tags("app").await, Some(vec!["v1".to_string()]));

    // A token for another service is not issued.
    owner
        .get("/token?service=other&scope=repository:app:pull")
        .await
        .expect_error(401, "UNAUTHORIZED");
    let resp = owner
        .token_form(&[
            ("grant_type", "password"),
            ("username", "owner"),
            ("password", &server.owner_password()),
            ("service", "other"),
        ])
        .await;
    resp.expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn scopes_secret_slots_and_login_tokens() {
    let server = Server::start();
    let owner = Client::new(&server);
    let image = Image::new("scopes");
    image.push(&owner, "app", "v1").await;
    let reader = owner
        .create_principal(json!({"name": "reader", "kind": "service_principal",
            "roles": [{"role": "pull", "scope": "app"}]}))
        .await;
    let ci = owner
        .create_principal(json!({"name": "ci", "kind": "service_principal",
            "roles": [{"role": "push", "scope": "app"}]}))
        .await;

    // A pull token cannot push: 403 when its principal may not, 401 insufficient_scope
    // when the principal may but the token was asked for pull only.
    let second = Image::new("second");
    for (name, secret, status, code) in [
        ("reader", &reader, 403, "DENIED"),
        ("ci", &ci, 401, "UNAUTHORIZED"),
    ] {
        let basic = Client::with_basic(&server, name, secret);
        let token = basic.token(&["repository:app:pull"]).await;
        let bearer = Client::with_bearer(&server, &token);
        bearer
            .get_manifest("app", "v1", OCI_MANIFEST)
            .await
            .expect(200);
        let resp = bearer
            .put_manifest("app", "v2", OCI_MANIFEST, &second.manifest)
            .await;
        resp.expect_error(status, code);
        let resp = bearer
            .send("POST", "/v2/app/blobs/uploads/", &[], None)
            .await;
        resp.expect_error(status, code);
        if status == 401 {
            let challenge = resp.header("www-authenticate").unwrap_or_default();
            assert_eq!(
                challenge,
                format!(
                    "Bearer realm=\"http://{}/token\",service=\"berth\",\
                     scope=\"repository:app:pull,push\",error=\"insufficient_scope\"",
                    server.host()
                )
            );
        }
    }
    assert_eq!(owner.tags("app").await, Some(vec!["v1".to_string()]));
    assert!(upload_files(&server.data_dir).is_empty());

    // A login token (refresh token) works at /token and as a basic password…
    let login = owner
        .token_form(&[
            ("grant_type", "password"),
            ("username", "ci"),
            ("password", &ci),
            ("service", "berth"),
            ("scope", "repository:app:pull,push"),
            ("access_type", "offline"),
        ])
        .await;
    login.expect(200);
    let login_token = login.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string();
    assert_eq!(jwt_claims(&login_token)["kind"], "login");
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", login_token.as_str()),
        ("service", "berth"),
        ("scope", "repository:app:pull"),
    ];
    Client::anonymous(&server)
        .token_form(&refresh)
        .await
        .expect(200);
    for user in [TOKEN_USERNAME, "ci"] {
        Client::with_basic(&server, user, &login_token)
            .get_manifest("app", "v1", OCI_MANIFEST)
            .await
            .expect(200);
    }
    // …but not as a bearer token, nor under another principal's name.
    Client::with_bearer(&server, &login_token)
        .get_manifest("app", "v1", OCI_MANIFEST)
        .await
        .expect_error(401, "UNAUTHORIZED");
    Client::with_basic(&server, "reader", &login_token)
        .get("/v2/")
        .await
        .expect_error(401, "UNAUTHORIZED");

    // A second secret works, and replacing slot 1 leaves slot 2 working.
    let slot2 = owner
        .api(
            "POST",
            "/api/v1/principals/ci/secrets",
            Some(json!({"slot": 2})),
        )
        .await;
    let slot2 = slot2.expect(201).json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let new1 = owner
        .api(
            "POST",
            "/api/v1/principals/ci/secrets",
            Some(json!({"slot": 1})),
        )
        .await;
    let new1 = new1.expect(201).json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    for (what, secret, status) in [("old slot 1", &ci, 401), ("new slot 1", &new1, 200)] {
        let resp = Client::with_basic(&server, "ci", secret).get("/v2/").await;
        assert_eq!(resp.status, status, "{what}: {}", resp.describe());
    }
    Client::with_basic(&server, "ci", &slot2)
        .get("/v2/")
        .await
        .expect(200);
    // The login token came from the replaced secret: it died with it.
    Client::anonymous(&server)
        .token_form(&refresh)
        .await
        .expect_error(401, "UNAUTHORIZED");
    Client::with_basic(&server, TOKEN_USERNAME, &login_token)
        .get("/v2/")
        .await
        .expect_error(401, "UNAUTHORIZED");

    // Deleting a secret kills login tokens minted with it, at /token and as a password.
    let from_slot2 = Client::with_basic(&server, "ci", &slot2)
        .get("/token?service=berth&scope=repository:app:pull&offline_token=true")
        .await;
    let login2 = from_slot2.expect(200).json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string();
    Client::with_basic(&server, TOKEN_USERNAME, &login2)
        .get("/v2/")
        .await
        .expect(200);
    owner
        .api("DELETE", "/api/v1/principals/ci/secrets/2", None)
        .await
        .expect(204);
    Client::with_basic(&server, TOKEN_USERNAME, &login2)
        .get("/v2/")
        .await
        .expect_error(401, "UNAUTHORIZED");
    Client::anonymous(&server)
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &login2),
            ("service", "berth"),
        ])
        .await
        .expect_error(401, "UNAUTHORIZED");
    Client::with_basic(&server, TOKEN_USERNAME, &login2)
        .token_response(&["repository:app:pull"])
        .await
        .expect_error(401, "UNAUTHORIZED");

    // Nothing secret reached the log.
    assert_log_is_clean(&server, &[&ci, &new1, &slot2, &reader]);
}

/// On its own server: every refusal counts towards the address's failure limit.
#[tokio::test]
async fn disabled_principals_and_expired_secrets_are_refused() {
    let server = Server::start();
    let owner = Client::new(&server);
    Image::new("disabled").push(&owner, "app", "v1").await;
    let reader = owner
        .create_principal(json!({"name": "reader", "kind": "service_principal",
            "roles": [{"role": "pull", "scope": "app"}]}))
        .await;
    Client::with_basic(&server, "reader", &reader)
        .get_manifest("app", "v1", OCI_MANIFEST)
        .await
        .expect(200);

    // A disabled principal can neither use its secret nor get tokens.
    owner
        .api(
            "PATCH",
            "/api/v1/principals/reader",
            Some(json!({"enabled": false})),
        )
        .await
        .expect(200);
    let disabled = Client::with_basic(&server, "reader", &reader);
    disabled.get("/v2/").await.expect_error(401, "UNAUTHORIZED");
    disabled
        .token_response(&["repository:app:pull"])
        .await
        .expect_error(401, "UNAUTHORIZED");

    // A secret past its expiry is refused.
    let expiring = owner
        .create_principal(json!({"name": "expiring", "kind": "service_principal",
            "roles": [{"role": "pull", "scope": "app"}], "secret_expires_in_days": 0}))
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let expired = Client::with_basic(&server, "expiring", &expiring);
    expired.get("/v2/").await.expect_error(401, "UNAUTHORIZED");
    expired
        .token_response(&["repository:app:pull"])
        .await
        .expect_error(401, "UNAUTHORIZED");
    let later = owner
        .api(
            "POST",
            "/api/v1/principals/expiring/secrets",
            Some(json!({"slot": 1, "expires_in_days": 30})),
        )
        .await;
    let later = later.expect(201).json();
    assert!(later["expires_at"].is_string(), "{later}");
    Client::with_basic(&server, "expiring", later["secret"].as_str().unwrap())
        .get_manifest("app", "v1", OCI_MANIFEST)
        .await
        .expect(200);

    assert_log_is_clean(&server, &[&reader, &expiring]);
}

/// The owner's password file is private, and neither it, nor `secrets`, nor any token is
/// in the server log.
fn assert_log_is_clean(server: &Server, secrets: &[&str]) {
    let mode = std::fs::metadata(server.owner_password_path())
        .expect("owner-password")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "owner-password mode {mode:o}");
    let raw = std::fs::read_to_string(server.owner_password_path()).unwrap();
    assert!(
        raw.ends_with('\n') && raw.trim().len() >= 16,
        "owner-password"
    );
    let log = server.log();
    assert!(log.contains("owner-password"), "the log names the file");
    for secret in std::iter::once(&server.owner_password().as_str()).chain(secrets) {
        assert!(!log.contains(secret), "a secret is in the server log");
    }
    assert!(!log.contains("eyJ"), "a token is in the server log");
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_and_signs_with_the_new_key() {
    let server = Server::start();
    let owner = Client::new(&server);
    Image::new("rotation").push(&owner, "app", "v1").await;
    let before = owner.token(&["repository:app:pull"]).await;
    let old_kid = jwt_header(&before)["kid"].as_str().unwrap().to_string();

    let rotated = owner.api("POST", "/api/v1/signing-keys/rotate", None).await;
    let rotated = rotated.expect(200).json();
    assert_eq!(rotated["previous"], old_kid.as_str());
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);

    let after = owner.token(&["repository:app:pull"]).await;
    assert_eq!(jwt_header(&after)["kid"], new_kid.as_str());
    for token in [&before, &after] {
        Client::with_bearer(&server, token)
            .get_manifest("app", "v1", OCI_MANIFEST)
            .await
            .expect(200);
    }
    let keys = owner.api("GET", "/api/v1/signing-keys", None).await;
    let keys = keys.expect(200).json();
    let active: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["active"] == true)
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(active, [new_kid.as_str()], "{keys}");
    // Rotating is for owners only.
    let secret = owner
        .create_principal(json!({"name": "dev", "kind": "user",
            "roles": [{"role": "push", "scope": "*"}]}))
        .await;
    Client::with_basic(&server, "dev", &secret)
        .api("POST", "/api/v1/signing-keys/rotate", None)
        .await
        .expect_error(403, "DENIED");
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address() {
    let server = Server::start();
    let owner = Client::new(&server);
    let good = owner
        .create_principal(json!({"name": "victim", "kind": "user"}))
        .await;
    let bad = Client::with_basic(&server, "owner", "wrong password");
    for attempt in 1..=10 {
        let resp = bad.get("/v2/").await;
        assert_eq!(resp.status, 401, "attempt {attempt}: {}", resp.describe());
    }
    let resp = bad.get("/v2/").await;
    resp.expect_error(429, "TOOMANYREQUESTS");
    let retry: u64 = resp
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After: {}", resp.describe()));
    assert!((1..=60).contains(&retry), "Retry-After {retry}");

    // While the address is blocked, even a correct password of another principal is
    // refused, at /v2/ and at /token.
    let victim = Client::with_basic(&server, "victim", &good);
    victim
        .get("/v2/")
        .await
        .expect_error(429, "TOOMANYREQUESTS");
    victim
        .token_response(&["repository:app:pull"])
        .await
        .expect_error(429, "TOOMANYREQUESTS");
    Client::anonymous(&server)
        .token_form(&[
            ("grant_type", "password"),
            ("username", "victim"),
            ("password", &good),
        ])
        .await
        .expect_error(429, "TOOMANYREQUESTS");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_throttled_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(tmp.path(), &["--trusted-proxies", "127.0.0.1/32"]);
    let owner = Client::new(&server);
    let password = server.owner_password();
    let bad = Client::with_basic(&server, "owner", "wrong password");
    let from = |client: &'static str| [("x-forwarded-for", client)];
    for attempt in 1..=10 {
        let resp = bad.send("GET", "/v2/", &from("203.0.113.5"), None).await;
        assert_eq!(resp.status, 401, "attempt {attempt}: {}", resp.describe());
    }
    bad.send("GET", "/v2/", &from("203.0.113.5"), None)
        .await
        .expect_error(429, "TOOMANYREQUESTS");
    // Another client behind the same proxy is not blocked by the first one's failures,
    // and a spoofed entry left of the proxy's own does not help the blocked client.
    let other = Client::with_basic(&server, "owner", &password);
    other
        .send("GET", "/v2/", &from("198.51.100.7"), None)
        .await
        .expect(200);
    Client::with_basic(&server, "owner", "wrong again")
        .send("GET", "/v2/", &from("198.51.100.9, 203.0.113.5"), None)
        .await
        .expect_error(429, "TOOMANYREQUESTS");

    // The audit log names the forwarded client, not the proxy.
    let mut sources = Vec::new();
    for _ in 0..50 {
        let events = owner
            .api("GET", "/api/v1/audit?outcome=failed&limit=100", None)
            .await
            .expect(200)
            .json();
        sources = events["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["source"].as_str().map(str::to_string))
            .collect();
        if sources.len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sources.len() >= 10, "{sources:?}");
    assert!(sources.iter().all(|s| s == "203.0.113.5"), "{sources:?}");
}

#[tokio::test]
async fn forwarded_addresses_are_ignored_without_trusted_proxies() {
    let server = Server::start();
    let bad = Client::with_basic(&server, "owner", "wrong password");
    for attempt in 1..=10 {
        let spoofed = format!("203.0.113.{attempt}");
        let resp = bad
            .send(
                "GET",
                "/v2/",
                &[("x-forwarded-for", spoofed.as_str())],
                None,
            )
            .await;
        assert_eq!(resp.status, 401, "attempt {attempt}: {}", resp.describe());
    }
    bad.send("GET", "/v2/", &[("x-forwarded-for", "203.0.113.99")], None)
        .await
        .expect_error(429, "TOOMANYREQUESTS");
}

#[tokio::test]
async fn audit_records_denied_and_successful_pushes() {
    let server = Server::start();
    let owner = Client::new(&server);
    let secret = owner
        .create_principal(json!({"name": "viewer", "kind": "service_principal",
            "roles": [{"role": "pull", "scope": "audited/app"}]}))
        .await;
    let image = Image::new("audited");
    image.push_blobs(&owner, "audited/app").await;
    Client::with_basic(&server, "viewer", &secret)
        .put_manifest("audited/app", "v1", OCI_MANIFEST, &image.manifest)
        .await
        .expect_error(403, "DENIED");
    owner
        .put_manifest("audited/app", "v1", OCI_MANIFEST, &image.manifest)
        .await
        .expect(201);

    // The audit log is written in the background; give it a moment.
    let mut events = Vec::new();
    for _ in 0..50 {
        let resp = owner
            .get("/api/v1/audit?repository=audited/app&action=push")
            .await;
        events = resp.expect(200).json()["events"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if events.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let find = |outcome: &str| {
        events
            .iter()
            .find(|e| e["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {outcome} push in {events:#?}"))
            .clone()
    };
    let denied = find("denied");
    assert_eq!(denied["principal"], "viewer", "{denied}");
    assert_eq!(denied["action"], "push", "{denied}");
    assert_eq!(denied["repository"], "audited/app", "{denied}");
    assert_eq!(denied["source"], "127.0.0.1", "{denied}");
    let done = find("succeeded");
    assert_eq!(done["principal"], "owner", "{done}");
    assert_eq!(done["digest"], image.digest.as_str(), "{done}");
    assert_eq!(done["source"], "127.0.0.1", "{done}");
    assert!(
        done["id"].as_i64() > denied["id"].as_i64(),
        "newest first: {events:#?}"
    );

    // Only owners read the audit log.
    Client::with_basic(&server, "viewer", &secret)
        .get("/api/v1/audit")
        .await
        .expect_error(403, "DENIED");
}

#[tokio::test]
async fn auth_none_warns_loudly_and_serves_without_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_in(tmp.path(), &["--auth", "none"]);
    assert!(server.credentials().is_none(), "no owner without auth");
    let log = server.log();
    assert!(
        log.contains("WARN") && log.contains("AUTHENTICATION IS OFF"),
        "{log}"
    );
    let anyone = Client::anonymous(&server);
    anyone.get("/v2/").await.expect(200);
    Image::new("open").push(&anyone, "open/app", "v1").await;
    anyone
        .get_manifest("open/app", "v1", OCI_MANIFEST)
        .await
        .expect(200);
    let token = anyone.get("/token?service=berth").await;
    assert!(
        token.status >= 400 && token.status < 500,
        "{}",
        token.describe()
    );
}

/// A bearer token outlives its principal: after the principal is disabled or deleted, its
/// access tokens keep working until they expire (five minutes by default), because only
/// the token's own claims are checked. Ignored until the server checks the principal.
#[tokio::test]
async fn tokens_die_with_a_disabled_or_deleted_principal() {
    let server = Server::start();
    let owner = Client::new(&server);
    Image::new("revoked").push(&owner, "app", "v1").await;
    for (name, change) in [("disabled", "PATCH"), ("deleted", "DELETE")] {
        let secret = owner
            .create_principal(json!({"name": name, "kind": "service_principal",
                "roles": [{"role": "pull", "scope": "app"}]}))
            .await;
        let token = Client::with_basic(&server, name, &secret)
            .token(&["repository:app:pull"])
            .await;
        let bearer = Client::with_bearer(&server, &token);
        bearer
            .get_manifest("app", "v1", OCI_MANIFEST)
            .await
            .expect(200);
        let path = format!("/api/v1/principals/{name}");
        let body = (change == "PATCH").then(|| json!({"enabled": false}));
        let resp = owner.api(change, &path, body).await;
        assert!(
            resp.status == 200 || resp.status == 204,
            "{}",
            resp.describe()
        );
        let resp = bearer.get_manifest("app", "v1", OCI_MANIFEST).await;
        assert_eq!(resp.status, 401, "{name}: {}", resp.describe());
    }
}
