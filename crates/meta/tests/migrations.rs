//! Schema migrations: fresh databases, reopening, upgrading and refusing newer ones.

mod common;

use berth_meta::{MetaError, MetaStore};
use common::Fixture;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const KNOWN_VERSION: i64 = 3;

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
async fn version_1_database_keeps_its_data_when_migrated_to_the_latest() {
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

    assert_eq!(
        store.schema_version().await.expect("version"),
        KNOWN_VERSION
    );
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
    assert_eq!(versions, [1, 2, 3]);
    pool.close().await;
}

/// Opens a database at `path` with migrations 1 and 2 applied, as the identity release
/// left it, and returns its pool.
async fn version_2_database(path: &std::path::Path) -> sqlx::SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
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
    for (version, sql) in [
        (1, include_str!("../migrations/0001_initial.sql")),
        (2, include_str!("../migrations/0002_identity.sql")),
    ] {
        sqlx::raw_sql(sql).execute(&pool).await.expect("migration");
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)")
            .bind(version)
            .execute(&pool)
            .await
            .expect("record version");
    }
    pool
}

#[tokio::test]
async fn version_2_database_gets_counts_sizes_and_default_settings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta.db");
    let pool = version_2_database(&path).await;
    // Two repositories sharing a layer; `app` holds an image, a second image and an
    // index over both, with two tags.
    let data = [
        "INSERT INTO repositories (id, name, created_at) VALUES (1, 'team/app', 10)",
        "INSERT INTO repositories (id, name, created_at) VALUES (2, 'team/lib', 20)",
        "INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:aa', 1000, 10)",
        "INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:bb', 100, 10)",
        "INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:cc', 7, 10)",
        "INSERT INTO repository_blobs VALUES (1, 'sha256:aa', 10)",
        "INSERT INTO repository_blobs VALUES (1, 'sha256:bb', 10)",
        "INSERT INTO repository_blobs VALUES (1, 'sha256:cc', 10)",
        "INSERT INTO repository_blobs VALUES (2, 'sha256:aa', 20)",
        "INSERT INTO manifests (repository_id, digest, media_type, content, size, created_at) \
         VALUES (1, 'sha256:m1', 'application/vnd.oci.image.manifest.v1+json', x'7b7d', 2, 30)",
        "INSERT INTO manifests (repository_id, digest, media_type, content, size, created_at) \
         VALUES (1, 'sha256:m2', 'application/vnd.oci.image.manifest.v1+json', x'7b7d', 2, 40)",
        "INSERT INTO manifests (repository_id, digest, media_type, content, size, created_at) \
         VALUES (1, 'sha256:ix', 'application/vnd.oci.image.index.v1+json', x'7b7d', 2, 50)",
        "INSERT INTO manifest_references VALUES (1, 'sha256:m1', 'sha256:aa', 'blob')",
        "INSERT INTO manifest_references VALUES (1, 'sha256:m1', 'sha256:bb', 'blob')",
        "INSERT INTO manifest_references VALUES (1, 'sha256:m2', 'sha256:cc', 'blob')",
        "INSERT INTO manifest_references VALUES (1, 'sha256:ix', 'sha256:m1', 'manifest')",
        "INSERT INTO manifest_references VALUES (1, 'sha256:ix', 'sha256:m2', 'manifest')",
        "INSERT INTO tags VALUES (1, 'latest', 'sha256:ix', 50, 55)",
        "INSERT INTO tags VALUES (1, 'v1', 'sha256:m1', 30, 30)",
    ];
    for sql in data {
        sqlx::query(sql)
            .execute(&pool)
            .await
            .expect("version 2 data");
    }
    pool.close().await;

    let store = MetaStore::open(&path).await.expect("open");

    assert_eq!(
        store.schema_version().await.expect("version"),
        KNOWN_VERSION
    );
    let app = store
        .repository(&common::repo("team/app"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (app.tag_count, app.manifest_count, app.size_bytes),
        (2, 3, 1107)
    );
    assert_eq!(app.last_push_at, Some(50));
    assert_eq!(app.updated_at, 10);
    assert_eq!(app.settings, berth_meta::RepositorySettings::default());
    assert_eq!(app.attributes, berth_meta::policy::Attributes::default());
    let lib = store
        .repository(&common::repo("team/lib"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (lib.tag_count, lib.size_bytes, lib.last_push_at),
        (0, 1000, None)
    );

    let usage = store.usage().await.expect("usage");
    assert_eq!(usage.blob_bytes, 1107, "the shared layer counts once");
    assert_eq!(
        (
            usage.blob_count,
            usage.repository_count,
            usage.tag_count,
            usage.manifest_count
        ),
        (3, 2, 2, 3)
    );

    // The fixture's digests are short stand-ins the Digest type would refuse, so the
    // image sizes are read from the table.
    store.close().await;
    let pool = SqlitePoolOptions::new()
        .connect_with(SqliteConnectOptions::new().filename(&path))
        .await
        .expect("inspect");
    let sizes: Vec<(String, i64)> =
        sqlx::query_as("SELECT digest, image_size FROM manifests ORDER BY digest")
            .fetch_all(&pool)
            .await
            .expect("sizes");
    let sizes: Vec<(&str, i64)> = sizes.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    assert_eq!(
        sizes,
        [("sha256:ix", 1107), ("sha256:m1", 1100), ("sha256:m2", 7)]
    );
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
