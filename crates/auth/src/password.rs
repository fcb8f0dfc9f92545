//! Hashing and checking of passwords and other long-lived secrets.
//!
//! Secrets are stored only as Argon2id PHC strings with a random salt each,
//! so a leaked database reveals no secret and equal secrets hash differently.
//! Comparisons run in constant time. Nothing here logs a secret or a hash.

use std::sync::{LazyLock, Mutex};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use rand::distr::Alphanumeric;
use rand::{Rng, RngCore};
use subtle::ConstantTimeEq;

use crate::AuthError;

const SALT_BYTES: usize = 16;
const SECRET_LEN: usize = 40;
/// Argon2id cost of new hashes: OWASP's 7 MiB, 5 passes, 1 lane, a profile as strong as
/// the 19 MiB, 2 pass default at a third of the memory. Secrets are random 40-character
/// strings, so the cost guards against a leaked database, not against weak passwords.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;
const LANES: u32 = 1;
const OUTPUT_BYTES: usize = 32;
/// The most memory a stored hash may ask for; anything larger is treated as damaged.
const MAX_MEMORY_KIB: u32 = 64 * 1024;

/// The working memory of every hash, allocated once and reused: argon2 allocating its
/// megabytes per call leaves each worker thread's allocator holding a copy, so a burst of
/// logins would grow the server by tens of megabytes that never come back. One buffer
/// also means one hash at a time, which bounds what a flood of logins can cost.
static MEMORY: LazyLock<Mutex<Vec<Block>>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    secret: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    hasher.hash_password_into_with_memory(secret, salt, out, &mut memory[..blocks])
}

/// Hashes `secret` with Argon2id and a random 16-byte salt; returns the PHC string.
pub fn hash_secret(secret: &str) -> Result<String, AuthError> {
    let hash_error = |err: argon2::Error| AuthError::Hash(err.to_string());
    let mut salt = [0u8; SALT_BYTES];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::new(MEMORY_KIB, PASSES, LANES, Some(OUTPUT_BYTES)).map_err(hash_error)?;
    let mut out = [0u8; OUTPUT_BYTES];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        secret.as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(hash_error)?;
    let salt = SaltString::encode_b64(&salt).map_err(|err| AuthError::Hash(err.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={MEMORY_KIB},t={PASSES},p={LANES}${}${}",
        salt.as_str(),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Checks `secret` against a stored PHC string in constant time, with the algorithm and
/// cost the string records. A malformed string is `false` and a warning without the hash.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        tracing::warn!("stored secret hash is malformed");
        return false;
    };
    let checked = (|| -> Option<bool> {
        let algorithm = Algorithm::try_from(hash.algorithm).ok()?;
        let version = Version::try_from(hash.version.unwrap_or(0x13)).ok()?;
        let params = Params::try_from(&hash).ok()?;
        if params.m_cost() > MAX_MEMORY_KIB {
            return None;
        }
        let mut salt_buf = [0u8; 64];
        let salt = hash.salt?.decode_b64(&mut salt_buf).ok()?;
        let expected = hash.hash?;
        let mut out = vec![0u8; expected.len()];
        compute(
            algorithm,
            version,
            params,
            secret.as_bytes(),
            salt,
            &mut out,
        )
        .ok()?;
        Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
    })();
    checked.unwrap_or_else(|| {
        tracing::warn!("stored secret hash cannot be checked");
        false
    })
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
