//! Workload identity federation: trusting JWTs that an external OIDC issuer signed.
//!
//! A federation names an issuer, the audience its tokens must carry, and claim patterns
//! (`sub`, `repository`, any string claim) that must all match for the token to act as
//! one principal. The issuer's keys come from its discovery document and JWKS, fetched
//! over HTTP(S) and cached; a token signed by a key the cache does not know triggers one
//! refetch, so an issuer's key rotation is picked up without a restart, while a flood of
//! tokens with made-up key ids cannot turn into a flood of fetches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_meta::FederationRecord;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::jwt::{self, Jwks};

/// How long fetched keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// The least time between two fetches for one issuer.
const MIN_REFETCH: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY: i64 = 60;

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

struct CachedKeys {
    jwks: Jwks,
    fetched: Instant,
}

/// Fetches and caches issuers' keys and checks tokens against federation rules.
pub struct FederationVerifier {
    /// Built on first use: loading the system's root certificates costs memory and
    /// time that a registry without federations should not pay.
    http: std::sync::OnceLock<reqwest::Client>,
    keys: Mutex<HashMap<String, CachedKeys>>,
}

impl Default for FederationVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl FederationVerifier {
    pub fn new() -> Self {
        Self {
            http: std::sync::OnceLock::new(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
    }

    /// The issuer a token claims, read before anything is verified: it only selects
    /// which federations (and keys) to verify against.
    pub fn claimed_issuer(token: &str) -> Result<String, AuthError> {
        let (_, claims) = jwt::peek_unverified(token)?;
        claims
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| AuthError::Federation("the token has no `iss` claim".into()))
    }

    /// Verifies `token` with its issuer's keys and returns the first federation (by
    /// name) whose audience and claim patterns it satisfies.
    pub async fn verify<'a>(
        &self,
        token: &str,
        federations: &'a [FederationRecord],
        now: i64,
    ) -> Result<&'a FederationRecord, AuthError> {
        let Some(issuer) = federations.first().map(|f| f.issuer.clone()) else {
            return Err(AuthError::Federation(
                "the token's issuer is not trusted by any federation".into(),
            ));
        };
        let claims = self.verified_claims(&issuer, token).await?;
        if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
            return Err(AuthError::Federation(
                "the token's issuer does not match".into(),
            ));
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| AuthError::Federation("the token has no `exp` claim".into()))?;
        let nbf = claims.get("nbf").and_then(Value::as_i64);
        jwt::check_times(exp, nbf, now, LEEWAY)?;

        let mut candidates: Vec<&FederationRecord> = federations.iter().collect();
        candidates.sort_by(|a, b| a.name.cmp(&b.name));
        let mut audience_matched = false;
        for federation in candidates {
            if !audience_contains(&claims, &federation.audience) {
                continue;
            }
            audience_matched = true;
            if claims_match(&claims, &federation.claims) {
                return Ok(federation);
            }
        }
        Err(AuthError::Federation(if audience_matched {
            "no federation rule matches the token's claims".into()
        } else {
            "the token's audience is not one a federation accepts".into()
        }))
    }

    async fn verified_claims(
        &self,
        issuer: &str,
        token: &str,
    ) -> Result<Map<String, Value>, AuthError> {
        let jwks = self.keys_for(issuer, false).await?;
        match jwt::verify_external(token, &jwks) {
            Err(AuthError::UnknownKey) => {
                let jwks = self.keys_for(issuer, true).await?;
                jwt::verify_external(token, &jwks)
            }
            other => other,
        }
    }

    async fn keys_for(&self, issuer: &str, refresh: bool) -> Result<Jwks, AuthError> {
        {
            let cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(cached) = cache.get(issuer) {
                let age = cached.fetched.elapsed();
                let fresh = age < JWKS_TTL && !refresh;
                if fresh || age < MIN_REFETCH {
                    return Ok(cached.jwks.clone());
                }
            }
        }
        let jwks = self.fetch(issuer).await?;
        let mut cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            issuer.to_string(),
            CachedKeys {
                jwks: jwks.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(jwks)
    }

    async fn fetch(&self, issuer: &str) -> Result<Jwks, AuthError> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&discovery_url).await?;
        let jwks: Jwks = self.get_json(&discovery.jwks_uri).await?;
        tracing::info!(issuer, keys = jwks.keys.len(), "fetched issuer keys");
        Ok(jwks)
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, AuthError> {
        let unreachable = |err: reqwest::Error| {
            tracing::warn!(url, err = %err, "issuer keys could not be fetched");
            AuthError::Federation(format!("the issuer's keys could not be fetched from {url}"))
        };
        let response = self
            .http()
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unreachable)?;
        let bytes = response.bytes().await.map_err(unreachable)?;
        serde_json::from_slice(&bytes)
            .map_err(|_| AuthError::Federation(format!("{url} did not return the expected JSON")))
    }
}

fn audience_contains(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// Every pattern must match its claim; a claim that is missing or not a string fails.
fn claims_match(claims: &Map<String, Value>, patterns: &BTreeMap<String, String>) -> bool {
    patterns.iter().all(|(claim, pattern)| {
        claims
            .get(claim)
            .and_then(Value::as_str)
            .is_some_and(|value| glob_match(pattern, value))
    })
}

/// `*` matches any run of characters, everything else itself.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_a_shell_pattern_without_classes() {
        assert!(glob_match(
            "repo:org/app:*",
            "repo:org/app:ref:refs/heads/main"
        ));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(!glob_match("repo:org/app:*", "repo:org/other:main"));
        assert!(!glob_match("a*bc", "abc-bc-x"));
        assert!(glob_match("a*bc", "abc-bc"));
        assert!(!glob_match("ab*ba", "aba"));
    }

    #[test]
    fn claims_need_every_pattern() {
        let claims: Map<String, Value> = serde_json::from_str(
            r#"{"sub":"repo:org/app:ref:main","repository":"org/app","run":3}"#,
        )
        .unwrap();
        let mut patterns = BTreeMap::new();
        patterns.insert("sub".to_string(), "repo:org/*".to_string());
        patterns.insert("repository".to_string(), "org/app".to_string());
        assert!(claims_match(&claims, &patterns));
        patterns.insert("run".to_string(), "*".to_string());
        assert!(!claims_match(&claims, &patterns), "non-string claim");
    }

    #[test]
    fn audience_may_be_a_list() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"aud":["other","berth"]}"#).unwrap();
        assert!(audience_contains(&claims, "berth"));
        assert!(!audience_contains(&claims, "nobody"));
    }
}
