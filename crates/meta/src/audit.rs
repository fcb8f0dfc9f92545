//! The audit log: who did what to which repository, when, from where, and how it ended.
//!
//! Records are appended in batches, each batch in one transaction, so a batch is stored
//! whole or not at all. Ids increase strictly and are never reused, so a reader pages
//! back in time by passing the smallest id it has seen as `before_id`. The principal and
//! repository filters each have an index that ends in the id, so a page filtered by one
//! of them walks only the matching rows, newest first, and stops at the limit.

use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

use crate::error::MetaError;
use crate::store::{self, MetaStore};

/// Records a query returns when its limit is 0.
const DEFAULT_LIMIT: usize = 100;

/// The most records one query returns.
const MAX_LIMIT: usize = 1000;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened, unix milliseconds.
    pub at: i64,
    /// Who acted; `None` for an anonymous client.
    pub principal: Option<String>,
    /// What was attempted, as the caller names actions.
    pub action: String,
    /// The repository concerned, if any.
    pub repository: Option<String>,
    /// The blob or manifest concerned, if any.
    pub digest: Option<String>,
    /// Where the request came from, such as the client's address.
    pub source: Option<String>,
    /// How it ended, as the caller names outcomes.
    pub outcome: String,
    /// Free text; empty when there is nothing to add.
    pub detail: String,
}

/// An audit event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log; strictly increasing, never reused.
    pub id: i64,
    /// What was recorded.
    pub event: AuditEvent,
}

/// Which audit records to return. Every filter given must match; the default returns
/// the newest 100 records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records of this principal.
    pub principal: Option<String>,
    /// Only records about this repository.
    pub repository: Option<String>,
    /// Only records of this action.
    pub action: Option<String>,
    /// Only records with this outcome.
    pub outcome: Option<String>,
    /// Only records at or after this time, unix milliseconds.
    pub since: Option<i64>,
    /// Only records strictly before this time, unix milliseconds.
    pub until: Option<i64>,
    /// Only records with a smaller id: the next page after a page whose last record had
    /// this id.
    pub before_id: Option<i64>,
    /// At most this many records; 0 means 100, and more than 1000 means 1000.
    pub limit: usize,
}

type AuditRow = (
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
);

impl MetaStore {
    /// Appends `events` in one transaction: all of them are stored or none is.
    pub async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), MetaError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let result = append_tx(&mut tx, events).await;
        store::finish(tx, result).await
    }

    /// The records that match every filter of `query`, newest (highest id) first.
    pub async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, MetaError> {
        let mut sql = QueryBuilder::<Sqlite>::new(
            "SELECT id, at, principal, action, repository, digest, source, outcome, detail \
             FROM audit_log WHERE 1 = 1",
        );
        let text_filters = [
            ("principal", &query.principal),
            ("repository", &query.repository),
            ("action", &query.action),
            ("outcome", &query.outcome),
        ];
        for (column, value) in text_filters {
            if let Some(value) = value {
                sql.push(format_args!(" AND {column} = "))
                    .push_bind(value.as_str());
            }
        }
        if let Some(since) = query.since {
            sql.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            sql.push(" AND at < ").push_bind(until);
        }
        if let Some(before_id) = query.before_id {
            sql.push(" AND id < ").push_bind(before_id);
        }
        sql.push(" ORDER BY id DESC LIMIT ")
            .push_bind(effective_limit(query.limit));

        let rows: Vec<AuditRow> = sql.build_query_as().fetch_all(&self.reader).await?;
        Ok(rows.into_iter().map(record_from_row).collect())
    }

    /// The number of records in the log.
    pub async fn count_audit(&self) -> Result<i64, MetaError> {
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
            .fetch_one(&self.reader)
            .await?;
        Ok(count)
    }

    /// Deletes the records from before `before`, unix milliseconds; returns how many.
    pub async fn prune_audit(&self, before: i64) -> Result<u64, MetaError> {
        let removed = sqlx::query("DELETE FROM audit_log WHERE at < ?1")
            .bind(before)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if removed > 0 {
            tracing::info!(removed, "audit records pruned");
        }
        Ok(removed)
    }
}

async fn append_tx(conn: &mut SqliteConnection, events: &[AuditEvent]) -> Result<(), MetaError> {
    for event in events {
        sqlx::query(
            "INSERT INTO audit_log \
             (at, principal, action, repository, digest, source, outcome, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(event.at)
        .bind(event.principal.as_deref())
        .bind(&event.action)
        .bind(event.repository.as_deref())
        .bind(event.digest.as_deref())
        .bind(event.source.as_deref())
        .bind(&event.outcome)
        .bind(&event.detail)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The LIMIT for a requested one: 0 asks for the default, and the cap bounds the memory
/// one query can take.
fn effective_limit(limit: usize) -> i64 {
    let limit = if limit == 0 {
        DEFAULT_LIMIT
    } else {
        limit.min(MAX_LIMIT)
    };
    // At most MAX_LIMIT, far below i64::MAX.
    limit as i64
}

fn record_from_row(row: AuditRow) -> AuditRecord {
    let (id, at, principal, action, repository, digest, source, outcome, detail) = row;
    AuditRecord {
        id,
        event: AuditEvent {
            at,
            principal,
            action,
            repository,
            digest,
            source,
            outcome,
            detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_is_capped() {
        assert_eq!(effective_limit(0), 100);
        assert_eq!(effective_limit(1), 1);
        assert_eq!(effective_limit(1000), 1000);
        assert_eq!(effective_limit(1001), 1000);
        assert_eq!(effective_limit(usize::MAX), 1000);
    }
}
