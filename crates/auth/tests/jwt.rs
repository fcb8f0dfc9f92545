//! Signed tokens: berth's own ES256 key ring, external RS256/ES256 issuers,
//! and every way a token can be forged or damaged.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use berth_auth::{
    check_times, generate_signing_key, peek_unverified, verify_external, AuthError, Jwks, KeyRing,
};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A 2048-bit RSA key made with `openssl genpkey` for these tests only.
const RSA_KEY: &[u8] = include_bytes!("fixtures/rsa2048.pk8");

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Claims {
    sub: String,
    exp: i64,
    access: Vec<String>,
}

fn claims() -> Claims {
    Claims {
        sub: "alice".to_owned(),
        exp: 2_000_000_000,
        access: vec!["pull".to_owned()],
    }
}

fn ring_with(keys: &[(&str, &[u8], bool)]) -> KeyRing {
    let keys: Vec<(String, Vec<u8>, bool)> = keys
        .iter()
        .map(|(kid, der, active)| (kid.to_string(), der.to_vec(), *active))
        .collect();
    KeyRing::from_keys(&keys).unwrap()
}

fn single_ring() -> (KeyRing, String) {
    let (kid, der) = generate_signing_key().unwrap();
    (ring_with(&[(&kid, &der, true)]), kid)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Replaces one dot-separated part of a token.
fn replace_part(token: &str, index: usize, value: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = value;
    parts.join(".")
}

fn is_invalid_token(err: &AuthError) -> bool {
    matches!(err, AuthError::InvalidToken(_))
}

fn sign_es256(pkcs8: &[u8], header: &Value, claims: &Value) -> String {
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng).unwrap();
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = pair.sign(&rng, input.as_bytes()).unwrap();
    format!("{input}.{}", b64(signature))
}

fn sign_rs256(header: &Value, claims: &Value) -> String {
    let pair = RsaKeyPair::from_pkcs8(RSA_KEY).unwrap();
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", b64(signature))
}

fn rsa_jwk(kid: Option<&str>) -> Value {
    let pair = RsaKeyPair::from_pkcs8(RSA_KEY).unwrap();
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    let mut jwk = json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)});
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

fn jwks(keys: Vec<Value>) -> Jwks {
    serde_json::from_value(json!({ "keys": keys })).unwrap()
}

#[test]
fn sign_and_verify_round_trip() {
    let (ring, kid) = single_ring();
    assert_eq!(ring.active_kid(), kid);
    let token = ring.sign(&claims()).unwrap();
    assert_eq!(token.split('.').count(), 3);

    let (header, _) = peek_unverified(&token).unwrap();
    assert_eq!(header, json!({"alg": "ES256", "typ": "JWT", "kid": kid}));
    // ES256 signatures are the fixed 64-byte r || s.
    let signature = token.rsplit('.').next().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap().len(), 64);

    let back: Claims = ring.verify(&token).unwrap();
    assert_eq!(back, claims());
}

#[test]
fn tampered_payload_is_refused() {
    let (ring, _) = single_ring();
    let token = ring.sign(&claims()).unwrap();
    let mut forged = claims();
    forged.access.push("push".to_owned());
    let payload = b64(serde_json::to_vec(&forged).unwrap());
    let err = ring
        .verify::<Claims>(&replace_part(&token, 1, &payload))
        .unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
    assert!(err.to_string().contains("signature"), "{err}");
}

#[test]
fn tampered_signature_is_refused() {
    let (ring, _) = single_ring();
    let token = ring.sign(&claims()).unwrap();
    let mut signature = URL_SAFE_NO_PAD
        .decode(token.rsplit('.').next().unwrap())
        .unwrap();
    signature[10] ^= 1;
    let err = ring
        .verify::<Claims>(&replace_part(&token, 2, &b64(&signature)))
        .unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");

    let err = ring
        .verify::<Claims>(&replace_part(&token, 2, ""))
        .unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
}

#[test]
fn algorithms_other_than_es256_are_refused() {
    let (ring, kid) = single_ring();
    let token = ring.sign(&claims()).unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let signature = token.rsplit('.').next().unwrap();
    for alg in ["none", "None", "HS256", "RS256", "ES384", ""] {
        let header = b64(json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string());
        for forged in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.{signature}"),
        ] {
            let err = ring.verify::<Claims>(&forged).unwrap_err();
            assert!(is_invalid_token(&err), "{alg}: {err:?}");
        }
    }
    let no_alg = b64(json!({"typ": "JWT", "kid": kid}).to_string());
    let err = ring
        .verify::<Claims>(&format!("{no_alg}.{payload}.{signature}"))
        .unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
}

#[test]
fn a_valid_signature_under_another_alg_label_is_refused() {
    // The signature verifies; only the header's algorithm is wrong.
    let (kid, der) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid, &der, true)]);
    for alg in ["none", "ES384", "HS256", "es256"] {
        let token = sign_es256(&der, &json!({"alg": alg, "kid": kid}), &json!({"sub": "a"}));
        let err = ring.verify::<Value>(&token).unwrap_err();
        assert!(is_invalid_token(&err), "{alg}: {err:?}");

        let set: Jwks = serde_json::from_value(ring.jwks()).unwrap();
        let err = verify_external(&token, &set).unwrap_err();
        assert!(is_invalid_token(&err), "{alg}: {err:?}");
    }
    let rsa_set = jwks(vec![rsa_jwk(Some("rsa-1"))]);
    for alg in ["none", "RS384", "rs256", "PS256"] {
        let token = sign_rs256(&json!({"alg": alg, "kid": "rsa-1"}), &json!({"sub": "a"}));
        let err = verify_external(&token, &rsa_set).unwrap_err();
        assert!(is_invalid_token(&err), "{alg}: {err:?}");
    }
}

#[test]
fn critical_header_extensions_are_refused() {
    let (kid, der) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid, &der, true)]);
    let header = json!({"alg": "ES256", "kid": kid, "crit": ["b64"], "b64": false});
    let token = sign_es256(&der, &header, &json!({"sub": "alice"}));
    let err = ring.verify::<Value>(&token).unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
}

#[test]
fn unknown_or_missing_key_id_is_refused() {
    let (ring, _) = single_ring();
    let (other, _) = single_ring();
    let token = other.sign(&claims()).unwrap();
    assert!(matches!(
        ring.verify::<Claims>(&token).unwrap_err(),
        AuthError::UnknownKey
    ));

    let (kid, der) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid, &der, true)]);
    let no_kid = sign_es256(&der, &json!({"alg": "ES256"}), &json!({"sub": "alice"}));
    assert!(is_invalid_token(
        &ring.verify::<Value>(&no_kid).unwrap_err()
    ));
    let numeric_kid = sign_es256(&der, &json!({"alg": "ES256", "kid": 7}), &json!({}));
    assert!(is_invalid_token(
        &ring.verify::<Value>(&numeric_kid).unwrap_err()
    ));
}

#[test]
fn a_key_claimed_by_the_wrong_kid_does_not_verify() {
    // A token signed by key B but naming key A's id must fail on the
    // signature, not pass because A is known.
    let (kid_a, der_a) = generate_signing_key().unwrap();
    let (_, der_b) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid_a, &der_a, true)]);
    let token = sign_es256(&der_b, &json!({"alg": "ES256", "kid": kid_a}), &json!({}));
    assert!(is_invalid_token(&ring.verify::<Value>(&token).unwrap_err()));
}

#[test]
fn malformed_tokens_are_refused() {
    let (ring, _) = single_ring();
    let token = ring.sign(&claims()).unwrap();
    let long = "a".repeat(40_000);
    for bad in [
        String::new(),
        "abc".to_owned(),
        "a.b".to_owned(),
        format!("{token}.extra"),
        format!("{token}="),
        token.replace('.', ".."),
        replace_part(&token, 0, "!!!"),
        replace_part(&token, 0, &b64("[1,2]")),
        replace_part(&token, 0, &b64("not json")),
        format!("{long}.{long}.{long}"),
    ] {
        let err = ring.verify::<Claims>(&bad).unwrap_err();
        assert!(is_invalid_token(&err), "{bad:.40}: {err:?}");
    }
}

#[test]
fn claims_of_the_wrong_shape_are_refused() {
    let (kid, der) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid, &der, true)]);
    let token = sign_es256(
        &der,
        &json!({"alg": "ES256", "kid": kid}),
        &json!({"sub": 5}),
    );
    assert!(is_invalid_token(
        &ring.verify::<Claims>(&token).unwrap_err()
    ));
    assert_eq!(ring.verify::<Value>(&token).unwrap(), json!({"sub": 5}));
}

#[test]
fn rotated_keys_still_verify_what_they_signed() {
    let (old_kid, old_der) = generate_signing_key().unwrap();
    let (new_kid, new_der) = generate_signing_key().unwrap();
    let before = ring_with(&[(&old_kid, &old_der, true)]);
    let after = ring_with(&[(&old_kid, &old_der, false), (&new_kid, &new_der, true)]);
    assert_eq!(after.active_kid(), new_kid);

    let old_token = before.sign(&claims()).unwrap();
    assert_eq!(after.verify::<Claims>(&old_token).unwrap(), claims());

    let new_token = after.sign(&claims()).unwrap();
    let (header, _) = peek_unverified(&new_token).unwrap();
    assert_eq!(header["kid"], json!(new_kid));
    assert!(matches!(
        before.verify::<Claims>(&new_token).unwrap_err(),
        AuthError::UnknownKey
    ));

    // Once the old key is dropped its tokens stop verifying.
    let later = ring_with(&[(&new_kid, &new_der, true)]);
    assert!(matches!(
        later.verify::<Claims>(&old_token).unwrap_err(),
        AuthError::UnknownKey
    ));
}

#[test]
fn key_rings_need_exactly_one_active_usable_key() {
    let (kid_a, der_a) = generate_signing_key().unwrap();
    let (kid_b, der_b) = generate_signing_key().unwrap();
    let build = |keys: &[(&str, &[u8], bool)]| {
        let keys: Vec<(String, Vec<u8>, bool)> = keys
            .iter()
            .map(|(k, d, a)| (k.to_string(), d.to_vec(), *a))
            .collect();
        KeyRing::from_keys(&keys)
    };
    let cases: Vec<Vec<(&str, &[u8], bool)>> = vec![
        vec![],
        vec![(&kid_a, &der_a, false)],
        vec![(&kid_a, &der_a, true), (&kid_b, &der_b, true)],
        vec![(&kid_a, &der_a, true), (&kid_a, &der_b, false)],
        vec![("", &der_a, true)],
        vec![(&kid_a, b"not a key", true)],
        vec![(&kid_a, &der_a, true), (&kid_b, RSA_KEY, false)],
    ];
    for keys in cases {
        let err = build(&keys).unwrap_err();
        assert!(matches!(err, AuthError::Key(_)), "{err:?}");
    }
    assert!(build(&[(&kid_a, &der_a, false), (&kid_b, &der_b, true)]).is_ok());
}

#[test]
fn jwks_publishes_every_public_key() {
    let (kid_a, der_a) = generate_signing_key().unwrap();
    let (kid_b, der_b) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid_a, &der_a, false), (&kid_b, &der_b, true)]);
    let doc = ring.jwks();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);

    let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    kids.sort();
    let mut expected = vec![kid_a.as_str(), kid_b.as_str()];
    expected.sort();
    assert_eq!(kids, expected);
    for key in keys {
        assert_eq!(key["kty"], "EC");
        assert_eq!(key["crv"], "P-256");
        assert_eq!(key["alg"], "ES256");
        assert_eq!(key["use"], "sig");
        for coordinate in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD
                .decode(key[coordinate].as_str().unwrap())
                .unwrap();
            assert_eq!(bytes.len(), 32);
        }
        assert!(
            key.get("d").is_none(),
            "the private key must not be published"
        );
    }
}

#[test]
fn check_times_applies_leeway() {
    let now = 1_000_000;
    assert!(check_times(now + 60, None, now, 0).is_ok());
    assert!(matches!(
        check_times(now, None, now, 0),
        Err(AuthError::Expired)
    ));
    assert!(matches!(
        check_times(now - 1, None, now, 0),
        Err(AuthError::Expired)
    ));
    assert!(check_times(now - 10, None, now, 30).is_ok());
    assert!(matches!(
        check_times(now - 30, None, now, 30),
        Err(AuthError::Expired)
    ));

    assert!(check_times(now + 60, Some(now), now, 0).is_ok());
    assert!(check_times(now + 60, Some(now + 30), now, 30).is_ok());
    assert!(matches!(
        check_times(now + 60, Some(now + 1), now, 0),
        Err(AuthError::NotYetValid)
    ));
    assert!(matches!(
        check_times(now + 600, Some(now + 31), now, 30),
        Err(AuthError::NotYetValid)
    ));
    assert!(check_times(i64::MAX, Some(i64::MIN), i64::MIN, i64::MAX).is_ok());
}

#[test]
fn external_es256_tokens_verify_against_a_published_key_set() {
    let (ring, kid) = single_ring();
    let set: Jwks = serde_json::from_value(ring.jwks()).unwrap();
    let token = ring
        .sign(&json!({"iss": "https://idp.example", "sub": "ci"}))
        .unwrap();
    let claims = verify_external(&token, &set).unwrap();
    assert_eq!(claims["sub"], json!("ci"));

    let forged = replace_part(&token, 1, &b64(json!({"sub": "root"}).to_string()));
    assert!(is_invalid_token(
        &verify_external(&forged, &set).unwrap_err()
    ));

    let (other, _) = single_ring();
    let stranger = other.sign(&json!({"sub": "ci"})).unwrap();
    assert!(matches!(
        verify_external(&stranger, &set).unwrap_err(),
        AuthError::UnknownKey
    ));
    assert_ne!(other.active_kid(), kid);
}

#[test]
fn external_es256_without_kid_uses_the_only_ec_key() {
    let (kid, der) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid, &der, true)]);
    let mut ec_key = ring.jwks()["keys"][0].clone();
    ec_key.as_object_mut().unwrap().remove("kid");
    let token = sign_es256(&der, &json!({"alg": "ES256"}), &json!({"sub": "ci"}));

    let set = jwks(vec![ec_key.clone(), rsa_jwk(Some("rsa"))]);
    assert_eq!(verify_external(&token, &set).unwrap()["sub"], json!("ci"));

    let (_, other_der) = generate_signing_key().unwrap();
    let other_ring = ring_with(&[("other", &other_der, true)]);
    let two = jwks(vec![ec_key, other_ring.jwks()["keys"][0].clone()]);
    assert!(is_invalid_token(
        &verify_external(&token, &two).unwrap_err()
    ));

    let none = jwks(vec![rsa_jwk(Some("rsa"))]);
    assert!(matches!(
        verify_external(&token, &none).unwrap_err(),
        AuthError::UnknownKey
    ));
}

#[test]
fn external_rs256_tokens_verify() {
    let set = jwks(vec![rsa_jwk(Some("rsa-1"))]);
    let claims = json!({"iss": "https://idp.example", "sub": "repo:org/app", "aud": "berth"});
    let token = sign_rs256(
        &json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
        &claims,
    );
    let verified = verify_external(&token, &set).unwrap();
    assert_eq!(Value::Object(verified), claims);

    let no_kid = sign_rs256(&json!({"alg": "RS256"}), &claims);
    assert!(verify_external(&no_kid, &set).is_ok());

    let forged = replace_part(&token, 1, &b64(json!({"sub": "root"}).to_string()));
    let err = verify_external(&forged, &set).unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
}

#[test]
fn external_wrong_kid_is_unknown_key() {
    let set = jwks(vec![rsa_jwk(Some("rsa-1"))]);
    let token = sign_rs256(
        &json!({"alg": "RS256", "kid": "rsa-2"}),
        &json!({"sub": "x"}),
    );
    assert!(matches!(
        verify_external(&token, &set).unwrap_err(),
        AuthError::UnknownKey
    ));
    let empty = jwks(vec![]);
    assert!(matches!(
        verify_external(&token, &empty).unwrap_err(),
        AuthError::UnknownKey
    ));
}

#[test]
fn external_algorithm_confusion_is_refused() {
    let set = jwks(vec![rsa_jwk(Some("rsa-1"))]);
    let token = sign_rs256(
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &json!({"sub": "x"}),
    );
    let payload = token.split('.').nth(1).unwrap();
    let signature = token.rsplit('.').next().unwrap();
    for alg in ["none", "HS256", "ES256", "RS384", "PS256"] {
        let header = b64(json!({"alg": alg, "kid": "rsa-1"}).to_string());
        for forged in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}.{signature}"),
        ] {
            let err = verify_external(&forged, &set).unwrap_err();
            assert!(is_invalid_token(&err), "{alg}: {err:?}");
        }
    }

    // A key restricted to another algorithm is not used for RS256.
    let mut restricted = rsa_jwk(Some("rsa-1"));
    restricted["alg"] = json!("RS512");
    let err = verify_external(&token, &jwks(vec![restricted])).unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");

    let mut encryption = rsa_jwk(Some("rsa-1"));
    encryption["use"] = json!("enc");
    let err = verify_external(&token, &jwks(vec![encryption])).unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
}

#[test]
fn external_keys_with_bad_material_are_refused() {
    let token = sign_rs256(&json!({"alg": "RS256", "kid": "k"}), &json!({"sub": "x"}));
    let mut no_modulus = rsa_jwk(Some("k"));
    no_modulus.as_object_mut().unwrap().remove("n");
    let err = verify_external(&token, &jwks(vec![no_modulus])).unwrap_err();
    assert!(matches!(err, AuthError::Key(_)), "{err:?}");

    let mut bad_base64 = rsa_jwk(Some("k"));
    bad_base64["e"] = json!("AQAB==");
    let err = verify_external(&token, &jwks(vec![bad_base64])).unwrap_err();
    assert!(matches!(err, AuthError::Key(_)), "{err:?}");

    let (kid, der) = generate_signing_key().unwrap();
    let ring = ring_with(&[(&kid, &der, true)]);
    let es_token = ring.sign(&json!({"sub": "x"})).unwrap();
    let mut wrong_curve = ring.jwks()["keys"][0].clone();
    wrong_curve["crv"] = json!("P-384");
    let err = verify_external(&es_token, &jwks(vec![wrong_curve])).unwrap_err();
    assert!(matches!(err, AuthError::Key(_)), "{err:?}");

    let mut off_curve = ring.jwks()["keys"][0].clone();
    off_curve["y"] = json!(b64([7u8; 32]));
    let err = verify_external(&es_token, &jwks(vec![off_curve])).unwrap_err();
    assert!(is_invalid_token(&err), "{err:?}");
}

#[test]
fn key_sets_with_unknown_keys_and_fields_parse() {
    let set: Jwks = serde_json::from_value(json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "ed"},
        {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB", "x5c": ["..."], "key_ops": ["verify"]}
    ], "extra": true}))
    .unwrap();
    assert_eq!(set.keys.len(), 2);
    assert_eq!(set.keys[0].kid.as_deref(), Some("ed"));
}

#[test]
fn peek_reads_without_verifying() {
    let token = sign_rs256(
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &json!({"iss": "https://idp.example", "sub": "x"}),
    );
    let unsigned = replace_part(&token, 2, "");
    let (header, claims) = peek_unverified(&unsigned).unwrap();
    assert_eq!(header["kid"], json!("rsa-1"));
    assert_eq!(claims["iss"], json!("https://idp.example"));

    for bad in ["", "a.b", "a.b.c.d", "!.!.!"] {
        assert!(
            is_invalid_token(&peek_unverified(bad).unwrap_err()),
            "{bad}"
        );
    }
    let array_claims = replace_part(&token, 1, &b64("[1]"));
    assert!(is_invalid_token(
        &peek_unverified(&array_claims).unwrap_err()
    ));
}
