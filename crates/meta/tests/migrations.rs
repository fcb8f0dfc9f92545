//! Schema migrations: fresh databases, reopening, upgrading and refusing newer ones.

mod common;

use berth_meta::{MetaError, MetaStore};
use common::Fixture;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const KNOWN_VERSION: i64 = 1;

const TABLES: [&str; 8] = [
    "repositories",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_references",
    "tags",
    "uploads",
    "events",
];

#[tokio::test]
async fn fresh_open_applies_every_migration() {
    let fx = Fixture::new().await;

    assert_eq!(
        fx.store.schema_version().await.expect("version"),
        KNOWN_VERSION
    );
    assert_eq!(fx.count("schema_migrations").await, KNOWN_VERSION);
    for table in TABLES {
        assert_eq!(fx.count(table).await, 0, "table {table}");
    }
}

#[tokio::test]
async fn reopen_keeps_data_and_applies_nothing() {
    let fx = Fixture::new().await;
    let repo = common::repo("library/alpine");
    fx.store
        .link_blob(&repo, &common::digest(b"layer"), 5, 1)
        .await
        .expect("link");
    fx.store.close().await;

    let reopened = MetaStore::open(&fx.path()).await.expect("reopen");

    assert_eq!(
        reopened.schema_version().await.expect("version"),
        KNOWN_VERSION
    );
    assert_eq!(fx.count("schema_migrations").await, KNOWN_VERSION);
    assert!(reopened.repository_exists(&repo).await.expect("exists"));
}

#[tokio::test]
async fn older_database_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    // A database from before any migration: only the bookkeeping table.
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .connect_with(options)
        .await
        .expect("create");
    sqlx::query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        .execute(&pool)
        .await
        .expect("bookkeeping table");
    pool.close().await;

    let store = MetaStore::open(&path).await.expect("open");

    assert_eq!(
        store.schema_version().await.expect("version"),
        KNOWN_VERSION
    );
    let repos = store
        .list_repositories(None, None)
        .await
        .expect("tables exist");
    assert!(repos.is_empty());
}

#[tokio::test]
async fn newer_database_is_refused() {
    let fx = Fixture::new().await;
    fx.store.close().await;
    let pool = fx.inspect().await;
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
        .execute(&pool)
        .await
        .expect("future version");
    pool.close().await;

    let err = MetaStore::open(&fx.path()).await.expect_err("newer schema");

    assert!(
        matches!(
            err,
            MetaError::SchemaTooNew {
                found: 99,
                known: KNOWN_VERSION
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn unopenable_path_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing-dir").join("meta.db");

    let err = MetaStore::open(&path)
        .await
        .expect_err("no parent directory");

    assert!(matches!(err, MetaError::Database(_)), "{err:?}");
}
