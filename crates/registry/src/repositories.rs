//! Repositories as the management API sees them: creating one with settings, reading,
//! listing, updating and deleting them, and the registry's usage and quota.
//!
//! Settings are validated here before they reach the store, so a refused setting names
//! what is wrong and changes nothing.

use berth_meta::policy::Encryption;
use berth_meta::{DeletedRepository, RepositoryPatch, RepositoryRecord, RepositorySettings, Usage};
use berth_oci::RepositoryName;

use crate::{now_millis, Registry, RegistryError};

impl Registry {
    /// Creates an empty repository with `settings`.
    ///
    /// Fails with [`RegistryError::Conflict`] when it exists and with
    /// [`RegistryError::SettingInvalid`] when a setting cannot be applied.
    pub async fn create_repository(
        &self,
        name: &RepositoryName,
        settings: &RepositorySettings,
    ) -> Result<RepositoryRecord, RegistryError> {
        settings
            .mutability
            .validate()
            .map_err(RegistryError::SettingInvalid)?;
        match (settings.encryption, &settings.kms_key) {
            (Encryption::Kms, None) => {
                return Err(RegistryError::SettingInvalid(
                    "KMS encryption needs the key that encrypts the repository".into(),
                ))
            }
            (Encryption::None | Encryption::Aes256, Some(_)) => {
                return Err(RegistryError::SettingInvalid(
                    "a KMS key applies only to KMS encryption".into(),
                ))
            }
            _ => {}
        }
        Ok(self
            .meta
            .create_repository(name, settings, now_millis())
            .await?)
    }

    /// The repository `name`.
    pub async fn repository(
        &self,
        name: &RepositoryName,
    ) -> Result<RepositoryRecord, RegistryError> {
        self.meta
            .repository(name)
            .await?
            .ok_or_else(|| name_unknown(name))
    }

    /// Listed repositories by name, strictly after `last`, at most `limit`.
    pub async fn repository_records(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepositoryRecord>, RegistryError> {
        Ok(self.meta.list_repository_records(last, limit).await?)
    }

    /// Applies `patch` and returns the repository as it now is.
    pub async fn update_repository(
        &self,
        name: &RepositoryName,
        patch: &RepositoryPatch,
    ) -> Result<RepositoryRecord, RegistryError> {
        if let Some(rule) = &patch.mutability {
            rule.validate().map_err(RegistryError::SettingInvalid)?;
        }
        if self.meta.repository(name).await?.is_none() {
            return Err(name_unknown(name));
        }
        Ok(self
            .meta
            .update_repository(name, patch, now_millis())
            .await?)
    }

    /// Deletes the repository with all its tags and images.
    ///
    /// Fails with [`RegistryError::Refused`], deleting nothing, while the repository or
    /// anything in it is locked.
    pub async fn delete_repository(
        &self,
        name: &RepositoryName,
    ) -> Result<DeletedRepository, RegistryError> {
        if self.meta.repository(name).await?.is_none() {
            return Err(name_unknown(name));
        }
        Ok(self.meta.delete_repository(name, now_millis()).await?)
    }

    /// Registry-wide storage, counts and quota.
    pub async fn usage(&self) -> Result<Usage, RegistryError> {
        Ok(self.meta.usage().await?)
    }

    /// Sets or removes the registry-wide storage quota.
    pub async fn set_registry_quota(&self, quota_bytes: Option<u64>) -> Result<(), RegistryError> {
        Ok(self.meta.set_registry_quota(quota_bytes).await?)
    }
}

pub(crate) fn name_unknown(name: &RepositoryName) -> RegistryError {
    RegistryError::NameUnknown {
        repository: name.to_string(),
    }
}
