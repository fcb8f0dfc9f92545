//! Compact JSON Web Signatures: berth's own ES256 tokens and tokens of
//! external OpenID Connect issuers.
//!
//! Written by hand over `ring`, `base64` (URL-safe, no padding) and
//! `serde_json` so that exactly the algorithms named here are accepted: berth
//! signs and verifies ES256 only; external tokens may be RS256 or ES256.
//! `none`, HMAC algorithms and anything else are refused before any key is
//! looked at, so an attacker cannot choose how a token is checked.
//!
//! Guarantees: a verified token's signature was made by a key of the given
//! set under the algorithm its header names, and that algorithm is one this
//! module accepts. Times and audience are not checked here; callers use
//! [`check_times`] and their own audience rule. Error messages say which
//! check failed and never contain the token.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, RsaPublicKeyComponents, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_2048_8192_SHA256,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::AuthError;

/// Longest token accepted, in bytes; bounds the work an anonymous caller can
/// cause. Identity tokens with many claims stay far below it.
const MAX_TOKEN_LEN: usize = 32 * 1024;

/// Length of a P-256 coordinate in bytes.
const P256_COORDINATE_LEN: usize = 32;

/// The ES256 keys of this registry: one active key that signs, and older keys
/// that still verify the tokens they signed until those expire.
pub struct KeyRing {
    active_kid: String,
    active: EcdsaKeyPair,
    /// Uncompressed public points (`0x04 || x || y`) by key id, the active
    /// key included.
    verifiers: HashMap<String, Vec<u8>>,
    rng: SystemRandom,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.verifiers.keys().collect();
        kids.sort();
        f.debug_struct("KeyRing")
            .field("active_kid", &self.active_kid)
            .field("kids", &kids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Builds the ring from `(kid, PKCS#8 DER, is_active)` triples.
    ///
    /// Fails with [`AuthError::Key`] when a key is not a P-256 PKCS#8 key, a
    /// key id is empty or repeated, or not exactly one key is active.
    pub fn from_keys(keys: &[(String, Vec<u8>, bool)]) -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let mut verifiers = HashMap::new();
        let mut active = None;
        for (kid, pkcs8, is_active) in keys {
            if kid.is_empty() {
                return Err(AuthError::Key(
                    "a signing key has an empty key id".to_owned(),
                ));
            }
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|err| {
                    AuthError::Key(format!(
                        "signing key {kid:?} is not a P-256 PKCS#8 key: {err}"
                    ))
                })?;
            let public = pair.public_key().as_ref().to_vec();
            if verifiers.insert(kid.clone(), public).is_some() {
                return Err(AuthError::Key(format!(
                    "key id {kid:?} is used by two keys"
                )));
            }
            if *is_active {
                if active.is_some() {
                    return Err(AuthError::Key(
                        "more than one signing key is marked active; exactly one must be"
                            .to_owned(),
                    ));
                }
                active = Some((kid.clone(), pair));
            }
        }
        let (active_kid, active) = active.ok_or_else(|| {
            AuthError::Key("no signing key is marked active; exactly one must be".to_owned())
        })?;
        Ok(KeyRing {
            active_kid,
            active,
            verifiers,
            rng,
        })
    }

    /// The key id of the key that signs new tokens.
    pub fn active_kid(&self) -> &str {
        &self.active_kid
    }

    /// Signs `claims` with the active key.
    ///
    /// The header is `{"alg":"ES256","typ":"JWT","kid":<active kid>}`; the
    /// signature is the 64-byte fixed-width `r || s` that JWS requires.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, AuthError> {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.active_kid});
        let payload = serde_json::to_vec(claims)
            .map_err(|err| AuthError::token(format!("claims cannot be serialized: {err}")))?;
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self
            .active
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| AuthError::Key("the active signing key failed to sign".to_owned()))?;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
        Ok(token)
    }

    /// Verifies a token signed by a key of this ring and returns its claims.
    ///
    /// Checks the structure, that the algorithm is ES256 (anything else,
    /// `none` above all, is refused), that the key id is in the ring
    /// ([`AuthError::UnknownKey`] otherwise) and the signature. Does not
    /// check times or audience: see [`check_times`].
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, AuthError> {
        let parts = Parts::split(token)?;
        if parts.alg()? != "ES256" {
            return Err(AuthError::token("token algorithm is not accepted"));
        }
        let kid = parts
            .kid()?
            .ok_or_else(|| AuthError::token("token names no key id"))?;
        let public = self.verifiers.get(kid).ok_or(AuthError::UnknownKey)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(parts.signing_input.as_bytes(), &parts.signature)
            .map_err(|_| bad_signature())?;
        serde_json::from_slice(&parts.payload)
            .map_err(|_| AuthError::token("token claims are not the expected ones"))
    }

    /// The public keys as a JWKS document, so that others can verify berth's
    /// tokens: `{"keys":[{"kty":"EC","crv":"P-256","kid","use":"sig","alg":"ES256","x","y"}]}`,
    /// sorted by key id.
    pub fn jwks(&self) -> Value {
        let mut kids: Vec<&String> = self.verifiers.keys().collect();
        kids.sort();
        let keys: Vec<Value> = kids
            .into_iter()
            .map(|kid| {
                // An uncompressed point is 0x04 followed by x and y.
                let point = &self.verifiers[kid];
                let (x, y) = point[1..].split_at(P256_COORDINATE_LEN);
                json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "kid": kid,
                    "use": "sig",
                    "alg": "ES256",
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                })
            })
            .collect();
        json!({ "keys": keys })
    }
}

/// Checks a token's validity period, in seconds since the epoch.
///
/// `exp` must be greater than `now - leeway` ([`AuthError::Expired`]
/// otherwise) and `nbf`, when present, at most `now + leeway`
/// ([`AuthError::NotYetValid`] otherwise). The leeway absorbs clock skew
/// between issuer and verifier.
pub fn check_times(exp: i64, nbf: Option<i64>, now: i64, leeway: i64) -> Result<(), AuthError> {
    if exp <= now.saturating_sub(leeway) {
        return Err(AuthError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

/// An external issuer's key set (RFC 7517).
#[derive(Deserialize, Clone, Debug)]
pub struct Jwks {
    /// The keys; ones of a type this module does not use are skipped.
    pub keys: Vec<Jwk>,
}

/// One key of a [`Jwks`]. Every field is optional so that a set holding keys
/// of other types still parses; unknown fields are ignored.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct Jwk {
    /// Key type: `RSA` or `EC` are used.
    pub kty: Option<String>,
    /// Key id, matched against the token header's `kid`.
    pub kid: Option<String>,
    /// Algorithm the key is meant for; when present it must match the token's.
    pub alg: Option<String>,
    /// Intended use; when present it must be `sig`.
    #[serde(rename = "use")]
    pub use_: Option<String>,
    /// EC curve; must be `P-256`.
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    pub y: Option<String>,
    /// RSA modulus, base64url big-endian.
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian.
    pub e: Option<String>,
}

/// Verifies a token of an external OpenID Connect issuer against its key set
/// and returns the claims, unchecked for time and audience.
///
/// Accepts RS256 (RSA PKCS#1 v1.5, 2048 to 8192 bits) and ES256 (P-256).
/// The key is the one whose `kid` matches the header's, or, when the token
/// names no key, the only key of the matching type. A key id missing from
/// the set is [`AuthError::UnknownKey`], so the caller can refetch the set
/// once (the issuer may have rotated). Every other failure is
/// [`AuthError::InvalidToken`] or, for a malformed key, [`AuthError::Key`].
pub fn verify_external(token: &str, jwks: &Jwks) -> Result<Map<String, Value>, AuthError> {
    let parts = Parts::split(token)?;
    let alg = parts.alg()?;
    let kty = match alg {
        "RS256" => "RSA",
        "ES256" => "EC",
        _ => return Err(AuthError::token("token algorithm is not accepted")),
    };
    let key = select_key(jwks, kty, parts.kid()?)?;
    if key.alg.as_deref().is_some_and(|key_alg| key_alg != alg) {
        return Err(AuthError::token("token algorithm does not match its key"));
    }
    if key.use_.as_deref().is_some_and(|key_use| key_use != "sig") {
        return Err(AuthError::token("token key is not meant for signatures"));
    }

    let message = parts.signing_input.as_bytes();
    let verified = if kty == "RSA" {
        let n = decode_field(key.n.as_deref(), "n")?;
        let e = decode_field(key.e.as_deref(), "e")?;
        RsaPublicKeyComponents { n, e }.verify(
            &RSA_PKCS1_2048_8192_SHA256,
            message,
            &parts.signature,
        )
    } else {
        let point = ec_point(key)?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, &parts.signature)
    };
    verified.map_err(|_| bad_signature())?;
    parts.claims()
}

/// Reads a token's header and claims without verifying anything, to route
/// it (which issuer, which key). Never trust the result.
pub fn peek_unverified(token: &str) -> Result<(Value, Map<String, Value>), AuthError> {
    let parts = Parts::split(token)?;
    let claims = parts.claims()?;
    Ok((Value::Object(parts.header), claims))
}

fn bad_signature() -> AuthError {
    AuthError::token("token signature does not verify")
}

/// The key for a token of key type `kty` naming `kid`.
fn select_key<'a>(jwks: &'a Jwks, kty: &str, kid: Option<&str>) -> Result<&'a Jwk, AuthError> {
    let Some(kid) = kid else {
        let mut candidates = jwks
            .keys
            .iter()
            .filter(|key| key.kty.as_deref() == Some(kty));
        return match (candidates.next(), candidates.next()) {
            (Some(key), None) => Ok(key),
            (None, _) => Err(AuthError::UnknownKey),
            (Some(_), Some(_)) => Err(AuthError::token(
                "token names no key id and the issuer has several keys of its type",
            )),
        };
    };
    let key = jwks
        .keys
        .iter()
        .find(|key| key.kid.as_deref() == Some(kid))
        .ok_or(AuthError::UnknownKey)?;
    if key.kty.as_deref() != Some(kty) {
        return Err(AuthError::token("token algorithm does not match its key"));
    }
    Ok(key)
}

/// The uncompressed point `0x04 || x || y` of a P-256 JWK.
fn ec_point(key: &Jwk) -> Result<Vec<u8>, AuthError> {
    if key.crv.as_deref() != Some("P-256") {
        return Err(AuthError::Key(
            "issuer EC key is not on curve P-256".to_owned(),
        ));
    }
    let mut point = Vec::with_capacity(1 + 2 * P256_COORDINATE_LEN);
    point.push(0x04);
    for (value, name) in [(&key.x, "x"), (&key.y, "y")] {
        let coordinate = decode_field(value.as_deref(), name)?;
        if coordinate.len() > P256_COORDINATE_LEN {
            return Err(AuthError::Key(format!(
                "issuer EC key field {name} is too long"
            )));
        }
        // Some issuers drop leading zero bytes; the point needs full width.
        point.resize(point.len() + P256_COORDINATE_LEN - coordinate.len(), 0);
        point.extend_from_slice(&coordinate);
    }
    Ok(point)
}

fn decode_field(value: Option<&str>, name: &str) -> Result<Vec<u8>, AuthError> {
    let value = value.ok_or_else(|| AuthError::Key(format!("issuer key has no field {name}")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| AuthError::Key(format!("issuer key field {name} is not base64url")))
}

/// A compact JWS taken apart, nothing verified yet.
struct Parts<'a> {
    header: Map<String, Value>,
    payload: Vec<u8>,
    /// `header.payload` as received: what the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
}

impl<'a> Parts<'a> {
    fn split(token: &'a str) -> Result<Self, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::token("token is too long"));
        }
        let malformed = || AuthError::token("token is not a compact JWS");
        let (signing_input, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or_else(malformed)?;
        if payload.contains('.') {
            return Err(malformed());
        }
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed());
        let header = match serde_json::from_slice(&decode(header)?) {
            Ok(Value::Object(header)) => header,
            _ => return Err(AuthError::token("token header is not a JSON object")),
        };
        // Extensions marked critical would change how the token must be
        // read, and none is understood here.
        if header.contains_key("crit") {
            return Err(AuthError::token("token header has critical extensions"));
        }
        Ok(Parts {
            header,
            payload: decode(payload)?,
            signing_input,
            signature: decode(signature)?,
        })
    }

    fn alg(&self) -> Result<&str, AuthError> {
        self.header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::token("token header names no algorithm"))
    }

    fn kid(&self) -> Result<Option<&str>, AuthError> {
        match self.header.get("kid") {
            None => Ok(None),
            Some(Value::String(kid)) => Ok(Some(kid)),
            Some(_) => Err(AuthError::token("token key id is not a string")),
        }
    }

    fn claims(&self) -> Result<Map<String, Value>, AuthError> {
        match serde_json::from_slice(&self.payload) {
            Ok(Value::Object(claims)) => Ok(claims),
            _ => Err(AuthError::token("token claims are not a JSON object")),
        }
    }
}
