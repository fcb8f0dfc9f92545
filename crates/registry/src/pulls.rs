//! Last-pull times, noted in memory on every manifest pull and written in batches.
//!
//! A pull must stay a single read of the metadata store, so it only notes the time in
//! a map; [`Registry::flush_pulls`] writes the map in one transaction. Guarantees: the
//! hot path takes one short lock and never waits for the database; a crash loses at
//! most the pulls since the last flush, which only makes a last-pull time older than it
//! should be; the map holds at most [`MAX_PENDING`] images between flushes.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_meta::Pull;
use berth_oci::{Digest, RepositoryName};

use crate::{now_millis, Registry, RegistryError};

/// The most distinct images noted between two flushes; pulls of further images are not
/// noted until the next flush empties the map.
const MAX_PENDING: usize = 100_000;

/// Pulls noted since the last flush: repository → digest → latest time.
#[derive(Default)]
pub(crate) struct PullLog {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    by_repository: HashMap<String, HashMap<String, i64>>,
    images: usize,
}

impl PullLog {
    /// Notes that `digest` of `repository` was pulled now.
    pub(crate) fn note(&self, repository: &RepositoryName, digest: &Digest) {
        let now = now_millis();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        // Nested maps keyed by `String` can be searched with `&str`, so pulling an image
        // already noted, the common case under load, allocates nothing.
        if let Some(at) = pending
            .by_repository
            .get_mut(repository.as_str())
            .and_then(|digests| digests.get_mut(digest.as_str()))
        {
            *at = now;
            return;
        }
        if pending.images >= MAX_PENDING {
            return;
        }
        pending.images += 1;
        pending
            .by_repository
            .entry(repository.to_string())
            .or_default()
            .insert(digest.to_string(), now);
    }

    fn take(&self) -> Vec<Pull> {
        let taken = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *pending)
        };
        let mut pulls = Vec::with_capacity(taken.images);
        for (repository, digests) in taken.by_repository {
            for (digest, at) in digests {
                pulls.push(Pull {
                    repository: repository.clone(),
                    digest,
                    at,
                });
            }
        }
        pulls
    }
}

impl Registry {
    /// Writes the pulls noted since the last flush; returns how many images they were.
    /// On failure the batch is lost, which only leaves those last-pull times older.
    pub async fn flush_pulls(&self) -> Result<usize, RegistryError> {
        let pulls = self.pulls.take();
        self.meta.record_pulls(&pulls).await?;
        Ok(pulls.len())
    }
}
