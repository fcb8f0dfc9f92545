//! Secret hashing, verification and generation.

use berth_auth::{constant_time_eq, generate_secret, hash_secret, verify_secret};

#[test]
fn hash_then_verify() {
    let phc = hash_secret("correct horse battery staple").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
    assert!(!phc.contains("correct horse"));
    assert!(verify_secret("correct horse battery staple", &phc));
}

#[test]
fn wrong_secret_is_refused() {
    let phc = hash_secret("s3cret").unwrap();
    for wrong in ["s3cret ", "S3cret", "", "s3cre", "s3cret\0"] {
        assert!(!verify_secret(wrong, &phc), "{wrong:?}");
    }
}

#[test]
fn equal_secrets_hash_differently() {
    let a = hash_secret("same").unwrap();
    let b = hash_secret("same").unwrap();
    assert_ne!(a, b, "each hash has its own salt");
    assert!(verify_secret("same", &a) && verify_secret("same", &b));
}

#[test]
fn empty_and_unicode_secrets_hash() {
    let empty = hash_secret("").unwrap();
    assert!(verify_secret("", &empty));
    assert!(!verify_secret(" ", &empty));

    let unicode = hash_secret("pässwörd-🔑").unwrap();
    assert!(verify_secret("pässwörd-🔑", &unicode));
    assert!(!verify_secret("passwort-🔑", &unicode));
}

#[test]
fn malformed_stored_hash_is_false() {
    let phc = hash_secret("s3cret").unwrap();
    let truncated = &phc[..phc.len() - 10];
    let wrong_algorithm = phc.replacen("argon2id", "scrypt", 1);
    for bad in [
        "",
        "s3cret",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1$",
        "$argon2id$v=19$m=x,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
        truncated,
        wrong_algorithm.as_str(),
    ] {
        assert!(!verify_secret("s3cret", bad), "{bad}");
    }
}

#[test]
fn generated_secrets_are_long_alphanumeric_and_distinct() {
    let secrets: Vec<String> = (0..50).map(|_| generate_secret()).collect();
    for secret in &secrets {
        assert_eq!(secret.len(), 40);
        assert!(
            secret.chars().all(|c| c.is_ascii_alphanumeric()),
            "{secret}"
        );
    }
    let mut unique = secrets.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), secrets.len());

    // Over 2000 characters every class should appear; a broken sampler that
    // emits only digits or one case would not.
    let all: String = secrets.concat();
    assert!(all.chars().any(|c| c.is_ascii_lowercase()));
    assert!(all.chars().any(|c| c.is_ascii_uppercase()));
    assert!(all.chars().any(|c| c.is_ascii_digit()));
}

#[test]
fn constant_time_comparison() {
    assert!(constant_time_eq(b"token-value", b"token-value"));
    assert!(constant_time_eq(b"", b""));
    assert!(!constant_time_eq(b"token-value", b"token-valuf"));
    assert!(!constant_time_eq(b"token-value", b"token-valu"));
    assert!(!constant_time_eq(b"", b"x"));
}

#[test]
fn hashes_written_by_other_argon2_implementations_verify() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    for (algorithm, params) in [
        (argon2::Algorithm::Argon2id, argon2::Params::default()),
        (
            argon2::Algorithm::Argon2i,
            argon2::Params::new(4096, 3, 2, Some(24)).unwrap(),
        ),
    ] {
        let hasher = argon2::Argon2::new(algorithm, argon2::Version::V0x13, params);
        let phc = hasher.hash_password(b"interop", &salt).unwrap().to_string();
        assert!(verify_secret("interop", &phc), "{phc}");
        assert!(!verify_secret("interop!", &phc), "{phc}");
    }
}

#[test]
fn hashes_asking_for_absurd_memory_are_refused() {
    let phc = hash_secret("x").unwrap().replace("m=7168", "m=4194304");
    assert!(!verify_secret("x", &phc));
}
