//! Schema migrations: fresh databases, reopening, upgrading and refusing newer ones.

mod common;

use berth_meta::{MetaError, MetaStore};
use common::Fixture;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const KNOWN_VERSION: i64 = 2;

const TABLES: [&str; 15] = [
    "repositories",
    "blobs",
    "repository_blobs",
    "manifests",
    "manifest_references",
    "tags",
    "uploads",
    "events",
    "principals",
    "principal_secrets",
    "role_assignments",
    "signing_keys",
    "settings",
    "federations",
    "audit_log",
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
async fn version_1_database_keeps_its_data_when_migrated_to_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    // A database as the first release left it: migration 1 applied, with data.
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("create");
    sqlx::query("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER)")
        .execute(&pool)
        .await
        .expect("bookkeeping table");
    sqlx::raw_sql(include_str!("../migrations/0001_initial.sql"))
        .execute(&pool)
        .await
        .expect("migration 1");
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)")
        .execute(&pool)
        .await
        .expect("record version 1");
    let layer = common::digest(b"layer");
    let version_1_data = [
        "INSERT INTO repositories (id, name, created_at) VALUES (7, 'library/alpine', 5)",
        "INSERT INTO blobs (digest, size, created_at) VALUES (?1, 5, 5)",
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (7, ?1, 5)",
        "INSERT INTO events (at, kind, repository, digest) \
         VALUES (5, 'blob.pushed', 'library/alpine', ?1)",
    ];
    for sql in version_1_data {
        sqlx::query(sql)
            .bind(layer.as_str())
            .execute(&pool)
            .await
            .expect("version 1 data");
    }
    pool.close().await;

    let store = MetaStore::open(&path).await.expect("open");

    assert_eq!(store.schema_version().await.expect("version"), 2);
    let repo = common::repo("library/alpine");
    assert_eq!(
        store.list_repositories(None, None).await.expect("list"),
        ["library/alpine"]
    );
    assert_eq!(
        store.linked_blob_size(&repo, &layer).await.expect("size"),
        Some(5)
    );
    let events = store.events_after(0, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "blob.pushed");
    // The new column defaults to closed, and the repository can be opened.
    assert!(!store.anonymous_pull("library/alpine").await.expect("read"));
    store
        .set_anonymous_pull("library/alpine", true)
        .await
        .expect("enable");
    assert_eq!(
        store.anonymous_repositories(10, None).await.expect("list"),
        ["library/alpine"]
    );
    assert_eq!(store.count_principals().await.expect("count"), 0);
    assert_eq!(store.count_audit().await.expect("count"), 0);
    store.close().await;

    let pool = SqlitePoolOptions::new()
        .connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .expect("inspect");
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .expect("versions");
    assert_eq!(versions, [1, 2]);
    pool.close().await;
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
