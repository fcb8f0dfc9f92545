//! Content digests (`algorithm:hex`) and incremental hashing.
//!
//! A [`Digest`] value is always well formed: a supported algorithm (sha256 or
//! sha512) and exactly the right number of lower-case hex characters, so code
//! holding one can use it as a storage key without further checks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};

use crate::OciError;

/// A supported hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the registry default.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name in a digest string: `"sha256"` or `"sha512"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded hash: 64 for sha256, 128 for sha512.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest such as `sha256:e3b0c442...`.
///
/// Displays, serializes and deserializes as that string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    // The whole "alg:hex" string, kept so that `as_str` needs no allocation.
    value: String,
    algorithm: Algorithm,
}

impl Digest {
    /// Parses `algorithm:encoded`.
    ///
    /// Fails with [`OciError::DigestInvalid`] when the text does not match the
    /// spec's grammar, when the algorithm is well formed but not sha256/sha512,
    /// or when the hash is not exactly 64 (sha256) or 128 (sha512) lower-case
    /// hex characters.
    pub fn parse(s: &str) -> Result<Digest, OciError> {
        let Some((alg, encoded)) = s.split_once(':') else {
            return Err(OciError::digest(
                s,
                "expected '<algorithm>:<hex>', e.g. 'sha256:' followed by 64 hex characters",
            ));
        };
        check_algorithm_grammar(s, alg)?;
        check_encoded_grammar(s, encoded)?;
        let Some(algorithm) = Algorithm::from_name(alg) else {
            return Err(OciError::digest(
                s,
                format!("unsupported algorithm {alg:?}; only sha256 and sha512 are supported"),
            ));
        };
        check_hex(s, algorithm, encoded)?;
        Ok(Digest {
            value: s.to_owned(),
            algorithm,
        })
    }

    /// The hash algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lower-case hex hash, without the `algorithm:` prefix.
    pub fn hex(&self) -> &str {
        &self.value[self.algorithm.as_str().len() + 1..]
    }

    /// The whole digest string, `algorithm:hex`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Hashes `data` in one go.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut hasher = DigestHasher::new(algorithm);
        hasher.update(data);
        hasher.finalize()
    }

    /// The sha256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Digest {
        Digest::of(Algorithm::Sha256, data)
    }

    fn from_hash(algorithm: Algorithm, hash: &[u8]) -> Digest {
        Digest {
            value: format!("{}:{}", algorithm.as_str(), hex::encode(hash)),
            algorithm,
        }
    }
}

fn check_algorithm_grammar(input: &str, alg: &str) -> Result<(), OciError> {
    // algorithm-component ([+._-] algorithm-component)*, component = [a-z0-9]+
    let mut previous_was_separator = true;
    for c in alg.chars() {
        let separator = matches!(c, '+' | '.' | '_' | '-');
        if !(separator || c.is_ascii_lowercase() || c.is_ascii_digit()) {
            return Err(OciError::digest(
                input,
                format!(
                    "character {c:?} is not allowed in the algorithm name; expected e.g. sha256"
                ),
            ));
        }
        if separator && previous_was_separator {
            return Err(OciError::digest(
                input,
                "the algorithm name is empty or has a misplaced separator; expected e.g. sha256",
            ));
        }
        previous_was_separator = separator;
    }
    if previous_was_separator {
        return Err(OciError::digest(
            input,
            "the algorithm name is empty or ends with a separator; expected e.g. sha256",
        ));
    }
    Ok(())
}

fn check_encoded_grammar(input: &str, encoded: &str) -> Result<(), OciError> {
    if encoded.is_empty() {
        return Err(OciError::digest(input, "the hash after ':' is missing"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '=' | '_' | '-');
    if let Some(c) = encoded.chars().find(|&c| !allowed(c)) {
        return Err(OciError::digest(
            input,
            format!("character {c:?} is not allowed in the hash; expected lower-case hex"),
        ));
    }
    Ok(())
}

fn check_hex(input: &str, algorithm: Algorithm, encoded: &str) -> Result<(), OciError> {
    if let Some(c) = encoded
        .chars()
        .find(|c| !matches!(c, '0'..='9' | 'a'..='f'))
    {
        return Err(OciError::digest(
            input,
            format!(
                "character {c:?} in the {} hash is not lower-case hex (0-9, a-f)",
                algorithm.as_str()
            ),
        ));
    }
    if encoded.len() != algorithm.hex_len() {
        return Err(OciError::digest(
            input,
            format!(
                "a {} hash has {} hex characters, found {}",
                algorithm.as_str(),
                algorithm.hex_len(),
                encoded.len()
            ),
        ));
    }
    Ok(())
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for Digest {
    type Err = OciError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Incremental hasher that produces a [`Digest`]; feed it bytes as they stream in.
#[derive(Clone)]
pub struct DigestHasher {
    state: HasherState,
}

#[derive(Clone)]
enum HasherState {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl DigestHasher {
    /// A hasher with no data fed yet.
    pub fn new(algorithm: Algorithm) -> DigestHasher {
        let state = match algorithm {
            Algorithm::Sha256 => HasherState::Sha256(Sha256::new()),
            Algorithm::Sha512 => HasherState::Sha512(Sha512::new()),
        };
        DigestHasher { state }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HasherState::Sha256(h) => h.update(data),
            HasherState::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Digest {
        match self.state {
            HasherState::Sha256(h) => Digest::from_hash(Algorithm::Sha256, &h.finalize()),
            HasherState::Sha512(h) => Digest::from_hash(Algorithm::Sha512, &h.finalize()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            HasherState::Sha256(_) => Algorithm::Sha256,
            HasherState::Sha512(_) => Algorithm::Sha512,
        }
    }
}

impl fmt::Debug for DigestHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestHasher")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn reason(input: &str) -> String {
        match Digest::parse(input) {
            Err(OciError::DigestInvalid { reason, .. }) => reason,
            other => panic!("expected DigestInvalid for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_valid_sha256() {
        let d = Digest::parse(EMPTY_SHA256).expect("valid");
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), &EMPTY_SHA256[7..]);
        assert_eq!(d.as_str(), EMPTY_SHA256);
        assert_eq!(d.to_string(), EMPTY_SHA256);
        assert_eq!(EMPTY_SHA256.parse::<Digest>(), Ok(d));
    }

    #[test]
    fn parses_valid_sha512() {
        let text = format!("sha512:{}", "ab".repeat(64));
        let d = Digest::parse(&text).expect("valid");
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.hex().len(), 128);
    }

    #[test]
    fn rejects_upper_case_hex() {
        let upper = format!("sha256:{}", "E3".repeat(32));
        assert!(reason(&upper).contains("lower-case hex"));
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(reason("sha256:abc").contains("64"));
        assert!(reason(&format!("sha256:{}", "a".repeat(65))).contains("found 65"));
        assert!(reason(&format!("sha512:{}", "a".repeat(64))).contains("128"));
    }

    #[test]
    fn rejects_missing_parts() {
        assert!(reason("sha256:").contains("missing"));
        assert!(reason("").contains("expected"));
        assert!(reason("e3b0c44298fc1c149afbf4c8996fb924").contains("expected"));
        assert!(reason(&format!(":{}", "a".repeat(64))).contains("algorithm"));
    }

    #[test]
    fn rejects_unknown_but_well_formed_algorithm() {
        let r = reason("md5:d41d8cd98f00b204e9800998ecf8427e");
        assert!(r.contains("sha256 and sha512"), "{r}");
        assert!(
            reason("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .contains("unsupported")
        );
    }

    #[test]
    fn rejects_malformed_algorithm_and_encoding() {
        assert!(reason(&format!("SHA256:{}", "a".repeat(64))).contains("not allowed"));
        assert!(reason(&format!("sha256+:{}", "a".repeat(64))).contains("separator"));
        assert!(reason(&format!("sha..256:{}", "a".repeat(64))).contains("separator"));
        assert!(reason("sha256:ab/cd").contains("not allowed"));
        assert!(reason("sha256:abc:def").contains("not allowed"));
    }

    #[test]
    fn one_shot_digest_matches_known_vector() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY_SHA256);
        let d = Digest::of(Algorithm::Sha512, b"abc");
        assert!(d.hex().starts_with("ddaf35a193617aba"));
        assert_eq!(Digest::parse(d.as_str()), Ok(d.clone()));
    }

    #[test]
    fn hasher_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let mut hasher = DigestHasher::new(algorithm);
            assert_eq!(hasher.algorithm(), algorithm);
            for chunk in data.chunks(333) {
                hasher.update(chunk);
            }
            let copy = hasher.clone();
            assert_eq!(hasher.finalize(), Digest::of(algorithm, &data));
            assert_eq!(copy.finalize(), Digest::of(algorithm, &data));
        }
    }

    #[test]
    fn serde_round_trips_as_string() {
        let d = Digest::parse(EMPTY_SHA256).expect("valid");
        let json = serde_json::to_string(&d).expect("serialize");
        assert_eq!(json, format!("\"{EMPTY_SHA256}\""));
        let back: Digest = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
        assert!(serde_json::from_str::<Digest>("42").is_err());
    }
}
