//! Berth's login state and the `auths` entries of docker's and podman's files.
//!
//! The login state is `{"current": URL, "registries": {URL: {"username", "secret"}}}`,
//! keyed by canonical registry URL. Docker and podman entries are keyed by `host[:port]`
//! and hold `base64("00000000-0000-0000-0000-000000000000:<login token>")`, the form the
//! registry accepts as Basic credentials or as a password at `/token`.
//!
//! Guarantees: every update reads the file, changes only the entry it is about, and
//! writes it back whole (see `files`), so unknown keys (docker's `credHelpers`,
//! `psFormat`, ...) survive.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::{ClientError, Result};
use super::files::{self, Mode};
use super::registry_url::RegistryUrl;

/// The user name that marks a berth login token as the password.
pub const TOKEN_USERNAME: &str = "00000000-0000-0000-0000-000000000000";

/// Berth's login state file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginState {
    /// Canonical URL of the registry commands use when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Credentials by canonical registry URL.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryLogin>,
    /// Keys written by other versions, kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The credentials saved for one registry; both absent when its auth is off.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegistryLogin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl LoginState {
    /// Reads the state; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<LoginState> {
        let map = files::read_object(path)?;
        serde_json::from_value(Value::Object(map)).map_err(|err| ClientError::BadFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
    }

    /// Writes the state, always with mode 0600 since it holds secrets.
    pub fn save(&self, path: &Path) -> Result<()> {
        let Value::Object(map) = serde_json::to_value(self).expect("state serialises") else {
            unreachable!("a struct serialises to an object")
        };
        files::write_object(path, &map, Mode::Always0600)
    }

    /// The saved entry for the registry `url` names, matched by host and port.
    pub fn find(&self, url: &RegistryUrl) -> Option<(&str, &RegistryLogin)> {
        self.registries.iter().find_map(|(key, login)| {
            let same = RegistryUrl::parse(key).is_ok_and(|k| k.same_registry(url));
            same.then_some((key.as_str(), login))
        })
    }

    /// Saves `login` for `url`, replacing any entry for the same registry.
    pub fn insert(&mut self, url: &RegistryUrl, login: RegistryLogin) {
        self.registries
            .retain(|key, _| !RegistryUrl::parse(key).is_ok_and(|k| k.same_registry(url)));
        self.registries.insert(url.to_string(), login);
    }

    /// Removes every entry for the registry `url` names; returns whether one existed.
    /// The current registry is forgotten when it was this one.
    pub fn remove(&mut self, url: &RegistryUrl) -> bool {
        let before = self.registries.len();
        self.registries
            .retain(|key, _| !RegistryUrl::parse(key).is_ok_and(|k| k.same_registry(url)));
        let was_current = self
            .current
            .as_deref()
            .and_then(|c| RegistryUrl::parse(c).ok())
            .is_some_and(|c| c.same_registry(url));
        if was_current {
            self.current = None;
        }
        self.registries.len() != before
    }

    /// The current registry, if one is set and parses.
    pub fn current(&self) -> Option<RegistryUrl> {
        self.current
            .as_deref()
            .and_then(|c| RegistryUrl::parse(c).ok())
    }
}

/// Sets `auths[host:port]` in a docker or podman file to the login token.
pub fn store_container_auth(path: &Path, url: &RegistryUrl, login_token: &str) -> Result<()> {
    let mut config = files::read_object(path)?;
    let auths = auths_of(&mut config, path)?;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{TOKEN_USERNAME}:{login_token}"));
    // The whole entry is replaced: a stale `identitytoken` beside the new `auth` would
    // be preferred by docker and fail.
    let mut entry = Map::new();
    entry.insert("auth".into(), Value::String(encoded));
    auths.insert(url.host_port(), Value::Object(entry));
    files::write_object(path, &config, Mode::KeepOr0600)
}

/// Removes the entries for this registry from a docker or podman file; returns whether
/// one existed. A missing file is left missing.
pub fn erase_container_auth(path: &Path, url: &RegistryUrl) -> Result<bool> {
    let mut config = files::read_object(path)?;
    if config.is_empty() {
        return Ok(false);
    }
    let auths = auths_of(&mut config, path)?;
    let before = auths.len();
    auths.retain(|key, _| !RegistryUrl::parse(key).is_ok_and(|k| k.same_registry(url)));
    if auths.len() == before {
        return Ok(false);
    }
    files::write_object(path, &config, Mode::KeepOr0600)?;
    Ok(true)
}

fn auths_of<'a>(
    config: &'a mut Map<String, Value>,
    path: &Path,
) -> Result<&'a mut Map<String, Value>> {
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    auths.as_object_mut().ok_or_else(|| ClientError::BadFile {
        path: path.to_path_buf(),
        reason: "its \"auths\" is not an object".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn url(s: &str) -> RegistryUrl {
        RegistryUrl::parse(s).unwrap()
    }

    fn login(user: &str, secret: &str) -> RegistryLogin {
        RegistryLogin {
            username: Some(user.into()),
            secret: Some(secret.into()),
            other: Map::new(),
        }
    }

    #[test]
    fn docker_entry_is_merged_keeping_every_other_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let before = json!({
            "auths": {"other.example": {"auth": "b3RoZXI6cHc="}},
            "credHelpers": {"gcr.io": "gcloud"},
            "psFormat": "table {{.ID}}"
        });
        fs::write(&path, before.to_string()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

        store_container_auth(&path, &url("127.0.0.1:5000"), "tok.en.jwt").unwrap();

        let after: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(after["credHelpers"], before["credHelpers"]);
        assert_eq!(after["psFormat"], before["psFormat"]);
        assert_eq!(
            after["auths"]["other.example"],
            before["auths"]["other.example"]
        );
        let auth = after["auths"]["127.0.0.1:5000"]["auth"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap();
        assert_eq!(decoded, b"00000000-0000-0000-0000-000000000000:tok.en.jwt");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn docker_entry_replaces_a_stale_identity_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let stale = json!({"auths": {"h.example": {"auth": "x", "identitytoken": "old"}}});
        fs::write(&path, stale.to_string()).unwrap();
        store_container_auth(&path, &url("https://h.example/"), "new").unwrap();
        let after = files::read_object(&path).unwrap();
        assert_eq!(after["auths"]["h.example"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_missing_auth_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("containers").join("auth.json");
        store_container_auth(&path, &url("localhost:5000"), "t").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(files::read_object(&path).unwrap()["auths"]["localhost:5000"].is_object());
    }

    #[test]
    fn a_malformed_auths_key_is_refused_and_the_file_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"auths": []}"#).unwrap();
        let err = store_container_auth(&path, &url("h.example"), "t").unwrap_err();
        assert!(err.to_string().contains("auths"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), r#"{"auths": []}"#);
    }

    #[test]
    fn erasing_removes_only_this_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let before = json!({
            "auths": {"127.0.0.1:5000": {"auth": "a"}, "h.example": {"auth": "b"}},
            "currentContext": "default"
        });
        fs::write(&path, before.to_string()).unwrap();
        assert!(erase_container_auth(&path, &url("http://127.0.0.1:5000")).unwrap());
        let after = files::read_object(&path).unwrap();
        assert_eq!(after["auths"], json!({"h.example": {"auth": "b"}}));
        assert_eq!(after["currentContext"], "default");
        assert!(!erase_container_auth(&path, &url("127.0.0.1:5000")).unwrap());

        let absent = dir.path().join("absent.json");
        assert!(!erase_container_auth(&absent, &url("h.example")).unwrap());
        assert!(!absent.exists(), "erasing never creates a file");
    }

    #[test]
    fn login_state_round_trips_with_unknown_keys_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth").join("config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            json!({
                "current": "http://127.0.0.1:5000",
                "registries": {"http://127.0.0.1:5000": {"username": "u", "secret": "s", "note": 1}},
                "future": {"x": true}
            })
            .to_string(),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

        let mut state = LoginState::load(&path).unwrap();
        state.insert(&url("h.example"), login("ci", "pw"));
        state.save(&path).unwrap();

        let raw = files::read_object(&path).unwrap();
        assert_eq!(raw["future"], json!({"x": true}));
        assert_eq!(raw["registries"]["http://127.0.0.1:5000"]["note"], 1);
        assert_eq!(raw["registries"]["https://h.example"]["username"], "ci");
        assert_eq!(raw["current"], "http://127.0.0.1:5000");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_state_with_the_wrong_shape_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, r#"{"registries": {"h": "not an object"}}"#).unwrap();
        let err = LoginState::load(&path).unwrap_err();
        assert!(matches!(err, ClientError::BadFile { .. }), "{err}");
    }

    #[test]
    fn entries_are_found_and_removed_by_host_and_port() {
        let mut state = LoginState::default();
        state.insert(&url("127.0.0.1:5000"), login("a", "1"));
        state.current = Some("http://127.0.0.1:5000".into());
        // Saving the same registry spelled differently replaces, never duplicates.
        state.insert(&url("http://127.0.0.1:5000/"), login("b", "2"));
        assert_eq!(state.registries.len(), 1);
        assert_eq!(state.current.as_deref(), Some("http://127.0.0.1:5000"));
        let (key, found) = state.find(&url("127.0.0.1:5000")).unwrap();
        assert_eq!(key, "http://127.0.0.1:5000");
        assert_eq!(found.username.as_deref(), Some("b"));
        assert!(state.find(&url("127.0.0.1:5001")).is_none());

        assert!(state.remove(&url("127.0.0.1:5000")));
        assert!(
            state.current.is_none(),
            "the current registry is forgotten with it"
        );
        assert!(!state.remove(&url("127.0.0.1:5000")));
    }
}
