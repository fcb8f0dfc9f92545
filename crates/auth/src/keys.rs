//! Generation of this registry's token-signing keys.
//!
//! Guarantees: a generated key is a P-256 key in PKCS#8 DER, the form
//! [`KeyRing::from_keys`](crate::KeyRing::from_keys) reads, and its key id is
//! derived from the public key, so the same key always has the same id and
//! two different keys practically never share one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::digest::{digest, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use crate::AuthError;

/// Bytes of the public key's SHA-256 kept in the key id.
const KID_BYTES: usize = 16;

/// Generates a new P-256 signing key.
///
/// Returns its key id (the first 16 bytes of the SHA-256 of the public key,
/// base64url) and the key as PKCS#8 DER. Fails with [`AuthError::Key`] only
/// when the system's random source fails.
pub fn generate_signing_key() -> Result<(String, Vec<u8>), AuthError> {
    let rng = SystemRandom::new();
    let unusable = |_| AuthError::Key("the system random source failed".to_owned());
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(unusable)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|err| AuthError::Key(format!("a freshly generated key is unusable: {err}")))?;
    let hash = digest(&SHA256, pair.public_key().as_ref());
    let kid = URL_SAFE_NO_PAD.encode(&hash.as_ref()[..KID_BYTES]);
    Ok((kid, pkcs8.as_ref().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_distinct_and_load() {
        let (kid_a, key_a) = generate_signing_key().unwrap();
        let (kid_b, key_b) = generate_signing_key().unwrap();
        assert_ne!(kid_a, kid_b);
        assert_ne!(key_a, key_b);
        // 16 bytes in base64url without padding.
        assert_eq!(kid_a.len(), 22);
        assert!(kid_a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));

        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_a, &rng).unwrap();
        let hash = digest(&SHA256, pair.public_key().as_ref());
        assert_eq!(URL_SAFE_NO_PAD.encode(&hash.as_ref()[..KID_BYTES]), kid_a);
    }
}
