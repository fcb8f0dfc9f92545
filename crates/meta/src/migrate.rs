//! Versioned schema migrations, embedded in the binary.
//!
//! Migration `n` is `migrations/000n_*.sql`. Each runs in its own transaction together
//! with the row that records it in `schema_migrations`, so a crash leaves the database
//! at the previous version or the next one, never in between. A database recorded at a
//! version newer than this build knows is refused rather than touched.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;

use crate::error::MetaError;

/// The migrations in order; the version of each is its position, starting at 1.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_identity.sql"),
    include_str!("../migrations/0003_management.sql"),
];

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> i64 {
    // The list is a handful of entries, far below i64::MAX.
    MIGRATIONS.len() as i64
}

/// The newest version recorded in the database (0 when none is).
pub(crate) async fn current_version(pool: &SqlitePool) -> Result<i64, MetaError> {
    let version = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(pool)
        .await?;
    Ok(version)
}

/// Brings the database up to [`latest_version`], or refuses a newer one.
pub(crate) async fn run(pool: &SqlitePool) -> Result<(), MetaError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .execute(pool)
    .await?;

    let found = current_version(pool).await?;
    let known = latest_version();
    if found > known {
        return Err(MetaError::SchemaTooNew { found, known });
    }

    for (version, sql) in (1..).zip(MIGRATIONS.iter()).filter(|(v, _)| *v > found) {
        apply(pool, version, sql).await?;
    }
    Ok(())
}

async fn apply(pool: &SqlitePool, version: i64, sql: &str) -> Result<(), MetaError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::raw_sql(sql).execute(&mut *tx).await?;
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)")
        .bind(version)
        .bind(unix_millis())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(version, "schema migration applied");
    Ok(())
}

/// Wall-clock time for the migration record; a clock before 1970 records 0.
fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
