//! The audit trail: who did what, where, from which address, and how it ended.
//!
//! Request handlers must not wait for an audit write, so events go through a bounded
//! channel to one task that writes them in batches, one transaction per batch. Events
//! written before a crash are durable; the few still queued at the instant of a crash
//! are lost, and so is any event that finds the queue full (counted and logged), which
//! keeps a flood of requests from turning into unbounded memory.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use berth_meta::{AuditEvent, MetaStore};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::clock::now_millis;

/// Events queued before new ones are dropped.
const QUEUE: usize = 16_384;
/// Events written per transaction at most.
const BATCH: usize = 512;

/// What a recorded event says, before its time and address are filled in.
#[derive(Clone, Debug, Default)]
pub struct AuditEntry {
    pub principal: Option<String>,
    pub action: &'static str,
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub source: Option<IpAddr>,
    pub outcome: &'static str,
    pub detail: String,
}

/// Outcomes, so that queries can rely on a fixed vocabulary.
pub mod outcome {
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const DENIED: &str = "denied";
}

/// A cheap handle to the audit writer.
#[derive(Clone)]
pub struct AuditLog {
    sender: mpsc::Sender<AuditEvent>,
    dropped: Arc<AtomicU64>,
}

/// The writer task; [`AuditWriter::finish`] drains the queue at shutdown.
pub struct AuditWriter {
    task: JoinHandle<()>,
}

impl AuditLog {
    /// Starts the writer task on the current runtime.
    pub fn start(meta: MetaStore) -> (AuditLog, AuditWriter) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_batches(meta, receiver));
        let log = AuditLog {
            sender,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (log, AuditWriter { task })
    }

    /// Queues an event; never waits.
    pub fn record(&self, entry: AuditEntry) {
        let event = AuditEvent {
            at: now_millis(),
            principal: entry.principal,
            action: entry.action.to_string(),
            repository: entry.repository,
            digest: entry.digest,
            source: entry.source.map(|ip| ip.to_string()),
            outcome: entry.outcome.to_string(),
            detail: entry.detail,
        };
        if self.sender.try_send(event).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "audit queue full; events dropped");
            }
        }
    }
}

impl AuditWriter {
    /// Waits until every queued event is written. All [`AuditLog`] handles must have been
    /// dropped first, or this waits for them.
    pub async fn finish(self) {
        if let Err(err) = self.task.await {
            tracing::warn!(err = %err, "audit writer ended abnormally");
        }
    }
}

async fn write_batches(meta: MetaStore, mut receiver: mpsc::Receiver<AuditEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        if let Err(err) = meta.append_audit(&batch).await {
            tracing::error!(err = %err, events = batch.len(), "audit events could not be written");
        }
        batch.clear();
    }
}
