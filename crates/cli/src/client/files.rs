//! The three credential files the client keeps: docker's `config.json`, podman's
//! `auth.json`, and berth's own login state; where each lives and how it is rewritten.
//!
//! Guarantees: a rewrite keeps every key it does not own, replaces the file atomically
//! (a reader sees the old file or the new one, never half of one), follows a symlinked
//! file to its target, and leaves a new file readable by its owner only (0600). An
//! existing docker or podman file keeps its permissions; berth's state, which holds
//! secrets, is always 0600.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::{ClientError, Result};

/// Environment variable naming berth's login state file. Not `BERTH_CONFIG`: that one is
/// the server's TOML file (`berth serve --config`), and the client must never rewrite it.
pub const STATE_ENV: &str = "BERTH_CLIENT_CONFIG";

/// Where the credential files are, resolved from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialPaths {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    pub docker: PathBuf,
    /// `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, else
    /// `~/.config/containers/auth.json`.
    pub podman: PathBuf,
    /// `$BERTH_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/berth/config.json`, else
    /// `~/.config/berth/config.json`.
    pub berth: PathBuf,
}

impl CredentialPaths {
    /// Resolves the paths from the process environment.
    pub fn from_env() -> Result<CredentialPaths> {
        CredentialPaths::resolve(|name| std::env::var_os(name))
    }

    /// Resolves the paths with `env` standing in for the environment; empty values count
    /// as unset, as the tools that own these files treat them.
    pub fn resolve(env: impl Fn(&str) -> Option<OsString>) -> Result<CredentialPaths> {
        let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = || {
            var("HOME").ok_or_else(|| {
                ClientError::usage(format!(
                    "HOME is not set, so the credential files cannot be found; set HOME or {STATE_ENV}"
                ))
            })
        };
        let docker = match var("DOCKER_CONFIG") {
            Some(dir) => dir.join("config.json"),
            None => home()?.join(".docker").join("config.json"),
        };
        let podman = match (var("REGISTRY_AUTH_FILE"), var("XDG_RUNTIME_DIR")) {
            (Some(file), _) => file,
            (None, Some(run)) => run.join("containers").join("auth.json"),
            (None, None) => home()?.join(".config").join("containers").join("auth.json"),
        };
        let berth = match (var(STATE_ENV), var("XDG_CONFIG_HOME")) {
            (Some(file), _) => file,
            (None, Some(config)) => config.join("berth").join("config.json"),
            (None, None) => home()?.join(".config").join("berth").join("config.json"),
        };
        Ok(CredentialPaths {
            docker,
            podman,
            berth,
        })
    }
}

/// Reads a JSON object file; a missing or empty file is an empty object.
pub fn read_object(path: &Path) -> Result<Map<String, Value>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(err) => return Err(ClientError::file("read", path, err)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ClientError::BadFile {
            path: path.to_path_buf(),
            reason: "it is not a JSON object".into(),
        }),
        Err(err) => Err(ClientError::BadFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        }),
    }
}

/// How a rewritten file's permissions are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Keep an existing file's permissions; a new file gets 0600.
    KeepOr0600,
    /// Always 0600.
    Always0600,
}

/// Atomically replaces `path` with `value` pretty-printed, creating parent directories.
pub fn write_object(path: &Path, value: &Map<String, Value>, mode: Mode) -> Result<()> {
    // A symlinked config (dotfile managers do this) is updated where it points, rather
    // than replaced by a regular file.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|err| ClientError::file("create directory", &dir, err))?;

    let mut text = serde_json::to_vec_pretty(value).expect("a JSON map always serialises");
    text.push(b'\n');
    let permissions = match (mode, fs::metadata(&target)) {
        (Mode::KeepOr0600, Ok(meta)) => meta.permissions(),
        _ => private_permissions(),
    };

    let file_name = target.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = create_private(&tmp)?;
        file.write_all(&text)?;
        file.set_permissions(permissions)?;
        // The rename below must never publish a file whose bytes are not yet on disk.
        file.sync_all()?;
        fs::rename(&tmp, &target)
    })();
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        return Err(ClientError::file("write", &target, err));
    }
    Ok(())
}

fn private_permissions() -> fs::Permissions {
    fs::Permissions::from_mode(0o600)
}

/// Creates the temporary file so that it is never readable by others, not even briefly.
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, OsString)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn paths_fall_back_to_home() {
        let paths = CredentialPaths::resolve(env_of(&[("HOME", "/h")])).unwrap();
        assert_eq!(paths.docker, Path::new("/h/.docker/config.json"));
        assert_eq!(paths.podman, Path::new("/h/.config/containers/auth.json"));
        assert_eq!(paths.berth, Path::new("/h/.config/berth/config.json"));
    }

    #[test]
    fn environment_overrides_each_path() {
        let paths = CredentialPaths::resolve(env_of(&[
            ("HOME", "/h"),
            ("DOCKER_CONFIG", "/d"),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
            ("XDG_CONFIG_HOME", "/x"),
        ]))
        .unwrap();
        assert_eq!(paths.docker, Path::new("/d/config.json"));
        assert_eq!(paths.podman, Path::new("/run/user/1/containers/auth.json"));
        assert_eq!(paths.berth, Path::new("/x/berth/config.json"));

        let paths = CredentialPaths::resolve(env_of(&[
            ("REGISTRY_AUTH_FILE", "/p/auth.json"),
            ("XDG_RUNTIME_DIR", "/run/user/1"),
            (STATE_ENV, "/b/state.json"),
            ("DOCKER_CONFIG", "/d"),
            ("BERTH_CONFIG", "/etc/berth.toml"),
        ]))
        .unwrap();
        assert_eq!(paths.podman, Path::new("/p/auth.json"));
        assert_eq!(paths.berth, Path::new("/b/state.json"));
    }

    #[test]
    fn missing_home_is_an_error_only_when_needed() {
        let err = CredentialPaths::resolve(env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("HOME"), "{err}");
        let empty_home = CredentialPaths::resolve(env_of(&[("HOME", "")]));
        assert!(empty_home.is_err());
    }

    #[test]
    fn missing_and_empty_files_read_as_empty_objects() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_object(&dir.path().join("absent.json"))
            .unwrap()
            .is_empty());
        let empty = dir.path().join("empty.json");
        fs::write(&empty, "\n").unwrap();
        assert!(read_object(&empty).unwrap().is_empty());
    }

    #[test]
    fn invalid_files_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        for bad in ["{not json", "[1, 2]", "\"text\""] {
            fs::write(&path, bad).unwrap();
            let err = read_object(&path).unwrap_err();
            assert!(matches!(err, ClientError::BadFile { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("config.json"));
            assert_eq!(fs::read_to_string(&path).unwrap(), bad);
        }
    }

    #[test]
    fn new_files_are_0600_with_their_directories_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b").join("config.json");
        let value = json!({"k": 1}).as_object().unwrap().clone();
        write_object(&path, &value, Mode::KeepOr0600).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(read_object(&path).unwrap(), value);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn existing_permissions_are_kept_unless_always_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let value = Map::new();
        write_object(&path, &value, Mode::KeepOr0600).unwrap();
        assert_eq!(mode_of(&path), 0o644);
        write_object(&path, &value, Mode::Always0600).unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn a_symlinked_file_is_updated_at_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        let link = dir.path().join("config.json");
        fs::write(&target, "{}").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let value = json!({"auths": {}}).as_object().unwrap().clone();
        write_object(&link, &value, Mode::KeepOr0600).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(read_object(&target).unwrap(), value);
    }

    #[test]
    fn a_failed_replace_reports_the_path_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::create_dir(&path).unwrap();
        let err = write_object(&path, &Map::new(), Mode::KeepOr0600).unwrap_err();
        assert!(matches!(err, ClientError::File { .. }), "{err}");
        assert!(err.to_string().contains("config.json"), "{err}");
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "only the directory in the way remains");
    }
}
