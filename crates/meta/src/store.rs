//! Opening the database, its two connection pools and the helpers every query shares.
//!
//! Writes go through a pool of exactly one connection: SQLite allows one writer at a
//! time, and queueing writers in-process means they wait for the pool instead of
//! failing with `SQLITE_BUSY`. Reads go through a separate pool whose connections refuse
//! to write (`query_only`) and are tuned for fast lookups.

use std::path::Path;
use std::time::Duration;

use berth_oci::Digest;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::MetaError;
use crate::migrate;

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Number of read connections; enough for the two cores the registry targets, with room
/// for requests that wait on the network between queries.
const READ_CONNECTIONS: u32 = 6;

/// Page cache per read connection, in KiB (negative `cache_size` means KiB in SQLite).
/// Kept small: the kernel's page cache already holds the file, and every read connection
/// pays this in resident memory.
const READ_CACHE_KIB: &str = "-4096";

/// Handle to the metadata database. Cheap to clone: clones share both pools.
#[derive(Clone, Debug)]
pub struct MetaStore {
    pub(crate) writer: SqlitePool,
    pub(crate) reader: SqlitePool,
}

impl MetaStore {
    /// Opens the database at `path`, creating the file if it is missing, and applies
    /// every migration it has not seen yet.
    ///
    /// Fails with [`MetaError::SchemaTooNew`] when the database was migrated by a newer
    /// build, and with [`MetaError::Database`] when the file cannot be opened.
    pub async fn open(path: &Path) -> Result<Self, MetaError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);

        // FULL syncs the WAL on every commit: an acknowledged write survives power loss.
        let write_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        // The write connection is never retired, so the WAL and its index stay in place.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(write_options)
            .await?;

        migrate::run(&writer).await?;

        let read_options = base
            .pragma("query_only", "ON")
            .pragma("cache_size", READ_CACHE_KIB)
            .pragma("temp_store", "MEMORY");
        // A local file cannot drop a connection the way a network database can, so the
        // liveness ping before each use would only add a round trip to every query.
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(read_options)
            .await?;

        tracing::info!(path = %path.display(), "metadata store opened");
        Ok(Self { writer, reader })
    }

    /// The newest migration applied to the database (0 for an empty one).
    pub async fn schema_version(&self) -> Result<i64, MetaError> {
        migrate::current_version(&self.reader).await
    }

    /// Closes both pools, waiting for connections in use to be returned. Later calls on
    /// this store (or its clones) fail with [`MetaError::Database`].
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Starts a write transaction on the single write connection.
    ///
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction that reads
    /// before it writes never has to upgrade its lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, MetaError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Commits `tx` when `result` is a success and rolls it back otherwise, so that a refused
/// write leaves nothing behind.
pub(crate) async fn finish<T>(
    tx: Transaction<'static, Sqlite>,
    result: Result<T, MetaError>,
) -> Result<T, MetaError> {
    match result {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(err = %rollback, "rollback failed");
            }
            Err(err)
        }
    }
}

/// The id of repository `name`, if it exists.
pub(crate) async fn repository_id(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<Option<i64>, MetaError> {
    let id = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(id)
}

/// The id of repository `name`, creating the repository when it does not exist.
pub(crate) async fn ensure_repository(
    conn: &mut SqliteConnection,
    name: &str,
    now: i64,
) -> Result<i64, MetaError> {
    if let Some(id) = repository_id(conn, name).await? {
        return Ok(id);
    }
    let id = sqlx::query_scalar(
        "INSERT INTO repositories (name, created_at) VALUES (?1, ?2) RETURNING id",
    )
    .bind(name)
    .bind(now)
    .fetch_one(conn)
    .await?;
    tracing::debug!(repository = name, "repository created");
    Ok(id)
}

/// Converts a size for storage; SQLite integers are signed 64-bit.
pub(crate) fn size_to_db(size: u64) -> Result<i64, MetaError> {
    i64::try_from(size)
        .map_err(|_| MetaError::Corrupt(format!("size {size} is too large to store")))
}

/// Converts a stored size back; a negative one means the row is damaged.
pub(crate) fn size_from_db(size: i64) -> Result<u64, MetaError> {
    u64::try_from(size).map_err(|_| MetaError::Corrupt(format!("stored size {size} is negative")))
}

/// Parses a stored digest; an unparsable one means the row is damaged.
pub(crate) fn digest_from_db(text: &str) -> Result<Digest, MetaError> {
    Digest::parse(text).map_err(|err| MetaError::Corrupt(format!("stored digest: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn int_pragma(pool: &SqlitePool, name: &str) -> i64 {
        let sql = format!("PRAGMA {name}");
        sqlx::query_scalar(&sql)
            .fetch_one(pool)
            .await
            .expect("pragma query")
    }

    async fn open_temp() -> (tempfile::TempDir, MetaStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MetaStore::open(&dir.path().join("meta.db"))
            .await
            .expect("open");
        (dir, store)
    }

    #[tokio::test]
    async fn write_connection_is_durable() {
        let (_dir, store) = open_temp().await;

        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.writer)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        // 2 is FULL.
        assert_eq!(int_pragma(&store.writer, "synchronous").await, 2);
        assert_eq!(int_pragma(&store.writer, "foreign_keys").await, 1);
        assert_eq!(int_pragma(&store.writer, "busy_timeout").await, 10_000);
    }

    #[tokio::test]
    async fn read_connections_are_tuned_and_refuse_writes() {
        let (_dir, store) = open_temp().await;

        assert_eq!(int_pragma(&store.reader, "query_only").await, 1);
        // 2 is MEMORY.
        assert_eq!(int_pragma(&store.reader, "temp_store").await, 2);
        assert_eq!(int_pragma(&store.reader, "cache_size").await, -4096);
        assert_eq!(int_pragma(&store.reader, "foreign_keys").await, 1);

        let write = sqlx::query("INSERT INTO repositories (name, created_at) VALUES ('x', 0)")
            .execute(&store.reader)
            .await;
        assert!(write.is_err(), "read pool accepted a write");
    }

    #[test]
    fn sizes_round_trip_and_reject_out_of_range() {
        assert_eq!(size_to_db(42).expect("fits"), 42);
        assert!(matches!(size_to_db(u64::MAX), Err(MetaError::Corrupt(_))));
        assert_eq!(size_from_db(7).expect("non-negative"), 7);
        assert!(matches!(size_from_db(-1), Err(MetaError::Corrupt(_))));
        assert!(matches!(digest_from_db("nope"), Err(MetaError::Corrupt(_))));
    }
}
