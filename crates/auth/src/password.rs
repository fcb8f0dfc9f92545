//! Hashing and checking of passwords and other long-lived secrets.
//!
//! Secrets are stored only as Argon2id PHC strings with a random salt each,
//! so a leaked database reveals no secret and equal secrets hash differently.
//! Comparisons run in constant time. Nothing here logs a secret or a hash.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distr::Alphanumeric;
use rand::{Rng, RngCore};
use subtle::ConstantTimeEq;

use crate::AuthError;

/// Bytes of random salt per hash.
const SALT_BYTES: usize = 16;
/// Characters of a generated secret; 40 of 62 symbols is about 238 bits.
const SECRET_LEN: usize = 40;

/// Hashes `secret` with Argon2id and the argon2 crate's default parameters
/// (m = 19456 KiB, t = 2, p = 1) and a random 16-byte salt, returning the
/// PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
///
/// Fails with [`AuthError::Hash`] only if the hasher itself fails.
pub fn hash_secret(secret: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; SALT_BYTES];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|err| AuthError::Hash(err.to_string()))?;
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|err| AuthError::Hash(err.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `secret` matches the stored PHC string `phc`, compared in
/// constant time with the parameters recorded in `phc`.
///
/// A stored hash that is malformed or of an unsupported algorithm is `false`
/// and logged as a warning (without the hash), since it means the stored
/// data is damaged rather than that the caller is wrong.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        tracing::warn!("stored secret hash is malformed");
        return false;
    };
    match Argon2::default().verify_password(secret.as_bytes(), &hash) {
        Ok(()) => true,
        Err(argon2::password_hash::Error::Password) => false,
        Err(err) => {
            tracing::warn!(err = %err, "stored secret hash cannot be checked");
            false
        }
    }
}

/// A new random secret of 40 characters from `[A-Za-z0-9]`, drawn uniformly
/// from the thread's cryptographically secure generator (about 238 bits).
pub fn generate_secret() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect()
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths, for comparing secrets that are not hashed.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
