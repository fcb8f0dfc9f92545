//! A private configuration for the containers/image clients (skopeo, podman, buildah), so
//! that tests never read or write anything under /etc or the user's home: vfs storage in a
//! temporary directory (works as root without overlay support), a signature policy that
//! accepts anything, an empty auth file of its own and a registries.conf that marks the
//! registry under test as plain HTTP.

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// One client program and the directory that holds its configuration.
pub struct ClientConfig {
    pub program: &'static str,
    dir: tempfile::TempDir,
}

impl ClientConfig {
    /// Writes the configuration of `program` for the registry at `registry` (host:port).
    pub fn new(program: &'static str, registry: &str) -> ClientConfig {
        let dir = tempfile::tempdir().expect("config dir");
        let path = dir.path();
        let registries = format!(
            "unqualified-search-registries = []\n\
             [[registry]]\nlocation = \"{registry}\"\ninsecure = true\n"
        );
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n",
            path.display()
        );
        let engine = "[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n";
        let files = [
            (
                "policy.json",
                r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
            ),
            ("registries.conf", &registries),
            ("storage.conf", &storage),
            ("containers.conf", engine),
            ("auth.json", r#"{"auths":{}}"#),
        ];
        for (name, text) in files {
            fs::write(path.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
        }
        ClientConfig { program, dir }
    }

    /// A file of this configuration.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The program with this configuration; podman and buildah get explicit storage flags.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(self.program);
        cmd.env("CONTAINERS_REGISTRIES_CONF", self.path("registries.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.path("storage.conf"))
            .env("CONTAINERS_CONF", self.path("containers.conf"))
            .env("REGISTRY_AUTH_FILE", self.path("auth.json"))
            .env("TMPDIR", self.dir.path());
        if self.program == "skopeo" {
            cmd.arg("--policy").arg(self.path("policy.json"));
        } else {
            cmd.arg("--root").arg(self.path("root"));
            cmd.arg("--runroot").arg(self.path("run"));
            cmd.args(["--storage-driver", "vfs"]);
        }
        cmd
    }
}
