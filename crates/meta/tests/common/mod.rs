//! Fixtures shared by the metadata store tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_meta::{MetaStore, NewManifest};
use berth_oci::{Digest, RepositoryName, Tag};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

pub const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: MetaStore,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MetaStore::open(&dir.path().join("meta.db"))
            .await
            .expect("open store");
        Self { dir, store }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("meta.db")
    }

    /// A second, independent connection to inspect rows the API does not expose.
    pub async fn inspect(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new().filename(self.path());
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("inspect connection")
    }

    pub async fn count(&self, table: &str) -> i64 {
        let pool = self.inspect().await;
        let count = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        count
    }

    pub async fn event_kinds(&self) -> Vec<String> {
        let events = self.store.events_after(0, 1000).await.expect("events");
        events.into_iter().map(|e| e.kind).collect()
    }
}

pub fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).expect("repository name")
}

pub fn tag(name: &str) -> Tag {
    Tag::parse(name).expect("tag")
}

pub fn digest(content: &[u8]) -> Digest {
    Digest::sha256(content)
}

pub static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

/// A manifest with no references, no tag and no subject.
pub fn manifest<'a>(
    repository: &'a RepositoryName,
    digest: &'a Digest,
    content: &'a [u8],
) -> NewManifest<'a> {
    NewManifest {
        repository,
        digest,
        media_type: IMAGE,
        content,
        artifact_type: None,
        subject: None,
        annotations: &NO_ANNOTATIONS,
        blobs: &[],
        manifests: &[],
        tag: None,
        config_info: None,
        now: 1_000,
    }
}
