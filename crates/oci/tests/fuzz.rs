//! Fuzz-style property: no parser in the crate panics on arbitrary input.
//! A fixed-seed PRNG keeps runs reproducible without extra dependencies.

use berth_oci::{media_type, Digest, Manifest, Reference, RepositoryName, Tag};

/// xorshift64*: tiny, deterministic, good enough to shake parsers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const ALPHABET: &[u8] = b"{}[]\":,-.0123456789eE+abfnrtuslSHA/_ \\\x00\xff\xc3\xa9";

fn seed_manifest() -> String {
    let d = Digest::sha256(b"x");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{d}",
        "size":1}},"layers":[{{"mediaType":"a/b","digest":"{d}","size":2,"urls":["u"]}}],
        "subject":{{"mediaType":"a/b","digest":"{d}","size":3}},"annotations":{{"k":"v"}}}}"#,
        media_type::OCI_MANIFEST,
        media_type::OCI_CONFIG
    )
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] = ALPHABET[rng.below(ALPHABET.len())],
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            _ => bytes.truncate(at),
        }
    }
    bytes
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(64);
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn exercise_text_parsers(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = Digest::parse(&text);
    let _ = RepositoryName::parse(&text);
    let _ = Tag::parse(&text);
    let _ = Reference::parse(&text);
    let _ = media_type::is_valid(&text);
    let _ = media_type::essence(&text);
}

#[test]
fn parsers_never_panic_on_mutated_manifests() {
    let seed = seed_manifest();
    assert!(
        Manifest::parse(None, seed.as_bytes()).is_ok(),
        "seed must be valid"
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for _ in 0..4000 {
        let bytes = mutate(&mut rng, seed.as_bytes());
        let content_type = [None, Some(media_type::OCI_INDEX)][rng.below(2)];
        if let Ok(m) = Manifest::parse(content_type, &bytes) {
            accepted += 1;
            let _ = (m.required_blobs(), m.referrer_artifact_type());
        }
    }
    // Some mutations land in whitespace or strings and keep the manifest valid;
    // none would mean the mutator only ever produces garbage.
    assert!(accepted > 0);
}

#[test]
fn parsers_never_panic_on_random_bytes() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..4000 {
        let bytes = random_bytes(&mut rng);
        assert!(Manifest::parse(None, &bytes).is_err());
        exercise_text_parsers(&bytes);
    }
}

#[test]
fn deeply_nested_json_is_rejected_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Manifest::parse(None, deep.as_bytes()).is_err());
}
