//! Housekeeping that keeps storage from filling with abandoned work.
//!
//! Upload sessions that clients started and never finished are removed once idle for
//! longer than the configured time, together with upload bytes that no session records
//! (left by a monolithic push that died midway).

use std::time::{Duration, SystemTime};

use crate::{now_millis, Registry, RegistryError};

impl Registry {
    /// Removes uploads idle for longer than `idle`; returns how many were removed.
    pub async fn purge_idle_uploads(&self, idle: Duration) -> Result<usize, RegistryError> {
        let cutoff = now_millis() - idle.as_millis() as i64;
        let mut purged = 0;
        for id in self.meta.uploads_idle_since(cutoff).await? {
            // A request streaming into the upload right now keeps it, however long the
            // stream has lasted; it is judged again after the request ends.
            if !self.cancel_idle(&id).await? {
                continue;
            }
            self.meta.delete_upload(&id).await?;
            purged += 1;
        }

        let stored = self
            .blobs
            .list_uploads()
            .await
            .map_err(RegistryError::Storage)?;
        let horizon = SystemTime::now()
            .checked_sub(idle)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for (id, modified) in stored {
            // A session recorded in the metadata store is judged by its own clock above;
            // only bytes nobody owns are swept by file age.
            if modified < horizon
                && self.meta.upload(&id).await?.is_none()
                && self.cancel_idle(&id).await?
            {
                purged += 1;
            }
        }
        Ok(purged)
    }

    async fn cancel_idle(&self, id: &str) -> Result<bool, RegistryError> {
        self.blobs
            .cancel_idle_upload(id)
            .await
            .map_err(RegistryError::Storage)
    }
}
