//! Identity records: principals, their secrets and roles, token signing keys, settings,
//! anonymous pull per repository and workload identity federations.
//!
//! The store keeps what the authority needs and decides nothing itself: names, kinds,
//! roles and scopes are stored as given, secrets only as the hashes the caller computed.
//! Guarantees:
//! - a refused write ([`MetaError::Conflict`], [`MetaError::NotFound`]) changes nothing;
//! - deleting a principal deletes its secrets, role assignments and federations with it;
//! - a secret's id is never reused, so a refresh token bound to a replaced or deleted
//!   secret can never match a new one;
//! - at most one signing key is active, and rotating keys is one transaction.

use std::collections::BTreeMap;
use std::fmt;

use sqlx::sqlite::SqliteConnection;

use crate::error::MetaError;
use crate::store::{self, MetaStore};

/// What a principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A person who signs in with a password.
    User,
    /// A machine identity with secrets and roles, such as a CI pipeline.
    ServicePrincipal,
    /// A repository-scoped credential whose rights come from its scope map.
    Token,
}

impl PrincipalKind {
    /// The stored and displayed form: `user`, `service_principal` or `token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ServicePrincipal => "service_principal",
            Self::Token => "token",
        }
    }

    /// The kind named by `text` in its [`as_str`](Self::as_str) form; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "user" => Some(Self::User),
            "service_principal" => Some(Self::ServicePrincipal),
            "token" => Some(Self::Token),
            _ => None,
        }
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A principal as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalRecord {
    /// Never reused after the principal is deleted.
    pub id: i64,
    /// Unique among principals of every kind.
    pub name: String,
    /// What the principal is.
    pub kind: PrincipalKind,
    /// Free text for people; empty by default.
    pub description: String,
    /// The scope-map entries of a token; `None` for other kinds.
    pub scope_map: Option<Vec<String>>,
    /// A disabled principal keeps its records but must not authenticate.
    pub enabled: bool,
    /// When the principal was created, unix milliseconds.
    pub created_at: i64,
    /// When the principal was last changed, unix milliseconds.
    pub updated_at: i64,
}

/// A hashed secret of a principal, in one of its two slots.
///
/// Two slots let a secret be rotated without downtime: issue the second, switch clients,
/// delete the first. `Debug` leaves the hash out so that the record can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// Never reused, so that tokens bound to a secret die with it.
    pub id: i64,
    /// The principal the secret belongs to.
    pub principal_id: i64,
    /// 1 or 2.
    pub slot: u8,
    /// The hash the caller computed; the plaintext is never stored.
    pub hash: String,
    /// When the secret stops being accepted, unix milliseconds; `None` for never.
    pub expires_at: Option<i64>,
    /// When the secret was set, unix milliseconds.
    pub created_at: i64,
}

impl fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRecord")
            .field("id", &self.id)
            .field("principal_id", &self.principal_id)
            .field("slot", &self.slot)
            .field("hash", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A role granted to a principal on a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleAssignmentRecord {
    /// The assignment's own id.
    pub id: i64,
    /// The principal the role is granted to.
    pub principal_id: i64,
    /// That principal's name.
    pub principal: String,
    /// The role, as the authority names it.
    pub role: String,
    /// Where the role applies, as the authority writes scopes.
    pub scope: String,
    /// When the role was granted, unix milliseconds.
    pub created_at: i64,
}

/// A private key that signs access tokens. `Debug` leaves the key bytes out.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id written in token headers.
    pub kid: String,
    /// The private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
    /// Whether this key signs new tokens; at most one key is active.
    pub active: bool,
    /// When the key was added, unix milliseconds.
    pub created_at: i64,
    /// When a newer key replaced it, unix milliseconds; `None` while active.
    pub retired_at: Option<i64>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("pkcs8", &"<redacted>")
            .field("active", &self.active)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

/// Trust in an external issuer: its tokens whose claims match act as a principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederationRecord {
    /// The federation's own id.
    pub id: i64,
    /// Unique among federations.
    pub name: String,
    /// The `iss` the external tokens must carry.
    pub issuer: String,
    /// The `aud` the external tokens must carry.
    pub audience: String,
    /// Claim name to glob; every one must match.
    pub claims: BTreeMap<String, String>,
    /// The principal a matching token acts as.
    pub principal_id: i64,
    /// That principal's name.
    pub principal: String,
    /// When the federation was created, unix milliseconds.
    pub created_at: i64,
}

/// Columns of `principals` in the order of [`PrincipalRow`].
macro_rules! principal_columns {
    () => {
        "id, name, kind, description, scope_map, enabled, created_at, updated_at"
    };
}

type PrincipalRow = (i64, String, String, String, Option<String>, bool, i64, i64);

type SecretRow = (i64, i64, u8, String, Option<i64>, i64);

type RoleRow = (i64, i64, String, String, String, i64);

type SigningKeyRow = (String, Vec<u8>, bool, i64, Option<i64>);

type FederationRow = (i64, String, String, String, String, i64, String, i64);

impl MetaStore {
    /// Records a new principal, enabled.
    ///
    /// `scope_map` is stored as given; deciding which kinds carry one (tokens) is the
    /// caller's. Fails with [`MetaError::Conflict`] when the name is taken by a principal
    /// of any kind.
    pub async fn create_principal(
        &self,
        name: &str,
        kind: PrincipalKind,
        description: &str,
        scope_map: Option<&[String]>,
        now: i64,
    ) -> Result<PrincipalRecord, MetaError> {
        let scope_map = scope_map.map(scope_map_to_db).transpose()?;
        let row: PrincipalRow = sqlx::query_as(concat!(
            "INSERT INTO principals \
             (name, kind, description, scope_map, enabled, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5) RETURNING ",
            principal_columns!()
        ))
        .bind(name)
        .bind(kind.as_str())
        .bind(description)
        .bind(scope_map)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(|err| conflict_or(err, || format!("principal {name} already exists")))?;
        let record = principal_from_row(row)?;
        tracing::info!(principal = name, kind = kind.as_str(), "principal created");
        Ok(record)
    }

    /// The principal called `name`, if there is one.
    pub async fn principal_by_name(
        &self,
        name: &str,
    ) -> Result<Option<PrincipalRecord>, MetaError> {
        let row: Option<PrincipalRow> = sqlx::query_as(concat!(
            "SELECT ",
            principal_columns!(),
            " FROM principals WHERE name = ?1"
        ))
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        row.map(principal_from_row).transpose()
    }

    /// The principal with id `id`, if there is one.
    pub async fn principal_by_id(&self, id: i64) -> Result<Option<PrincipalRecord>, MetaError> {
        let row: Option<PrincipalRow> = sqlx::query_as(concat!(
            "SELECT ",
            principal_columns!(),
            " FROM principals WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(principal_from_row).transpose()
    }

    /// Every principal, or those of `kind` when given, ordered by name.
    pub async fn list_principals(
        &self,
        kind: Option<PrincipalKind>,
    ) -> Result<Vec<PrincipalRecord>, MetaError> {
        let rows: Vec<PrincipalRow> = sqlx::query_as(concat!(
            "SELECT ",
            principal_columns!(),
            " FROM principals WHERE ?1 IS NULL OR kind = ?1 ORDER BY name"
        ))
        .bind(kind.map(PrincipalKind::as_str))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(principal_from_row).collect()
    }

    /// Changes the fields given of principal `name` and sets its `updated_at` to `now`;
    /// `None` leaves a field as it is.
    ///
    /// Fails with [`MetaError::NotFound`] when there is no such principal.
    pub async fn update_principal(
        &self,
        name: &str,
        description: Option<&str>,
        enabled: Option<bool>,
        scope_map: Option<&[String]>,
        now: i64,
    ) -> Result<PrincipalRecord, MetaError> {
        let scope_map = scope_map.map(scope_map_to_db).transpose()?;
        let row: Option<PrincipalRow> = sqlx::query_as(concat!(
            "UPDATE principals SET description = COALESCE(?2, description), \
             enabled = COALESCE(?3, enabled), scope_map = COALESCE(?4, scope_map), \
             updated_at = ?5 WHERE name = ?1 RETURNING ",
            principal_columns!()
        ))
        .bind(name)
        .bind(description)
        .bind(enabled)
        .bind(scope_map)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        let row = row.ok_or_else(|| principal_not_found(name))?;
        tracing::info!(principal = name, "principal updated");
        principal_from_row(row)
    }

    /// Deletes principal `name` with its secrets, role assignments and federations;
    /// returns whether it existed.
    pub async fn delete_principal(&self, name: &str) -> Result<bool, MetaError> {
        let removed = sqlx::query("DELETE FROM principals WHERE name = ?1")
            .bind(name)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if removed > 0 {
            tracing::info!(principal = name, "principal deleted");
        }
        Ok(removed > 0)
    }

    /// The number of principals of every kind.
    pub async fn count_principals(&self) -> Result<i64, MetaError> {
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM principals")
            .fetch_one(&self.reader)
            .await?;
        Ok(count)
    }

    /// Stores `hash` as the secret in `slot` (1 or 2) of the principal, replacing the
    /// slot's previous secret. The new secret gets a new id, so tokens bound to the
    /// previous one stop matching.
    ///
    /// Fails with [`MetaError::NotFound`] when the principal or the slot does not exist.
    pub async fn set_secret(
        &self,
        principal_id: i64,
        slot: u8,
        hash: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<SecretRecord, MetaError> {
        if !matches!(slot, 1 | 2) {
            return Err(MetaError::NotFound(format!(
                "secret slot {slot} does not exist; the slots are 1 and 2"
            )));
        }
        let mut tx = self.begin_write().await?;
        let result = set_secret_tx(&mut tx, principal_id, slot, hash, expires_at, now).await;
        store::finish(tx, result).await
    }

    /// Deletes the secret in `slot` of the principal; returns whether there was one.
    pub async fn delete_secret(&self, principal_id: i64, slot: u8) -> Result<bool, MetaError> {
        let removed =
            sqlx::query("DELETE FROM principal_secrets WHERE principal_id = ?1 AND slot = ?2")
                .bind(principal_id)
                .bind(slot)
                .execute(&self.writer)
                .await?
                .rows_affected();
        if removed > 0 {
            tracing::info!(principal_id, slot, "secret deleted");
        }
        Ok(removed > 0)
    }

    /// The secrets of the principal, ordered by slot.
    pub async fn secrets_of(&self, principal_id: i64) -> Result<Vec<SecretRecord>, MetaError> {
        let rows: Vec<SecretRow> = sqlx::query_as(
            "SELECT id, principal_id, slot, hash, expires_at, created_at \
             FROM principal_secrets WHERE principal_id = ?1 ORDER BY slot",
        )
        .bind(principal_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(secret_from_row).collect())
    }

    /// The secret with id `id`, if it still exists.
    pub async fn secret_by_id(&self, id: i64) -> Result<Option<SecretRecord>, MetaError> {
        let row: Option<SecretRow> = sqlx::query_as(
            "SELECT id, principal_id, slot, hash, expires_at, created_at \
             FROM principal_secrets WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(secret_from_row))
    }

    /// Grants `role` on `scope` to the principal. Granting an existing assignment again
    /// returns it unchanged, with its original time.
    ///
    /// Fails with [`MetaError::NotFound`] when the principal does not exist.
    pub async fn assign_role(
        &self,
        principal_id: i64,
        role: &str,
        scope: &str,
        now: i64,
    ) -> Result<RoleAssignmentRecord, MetaError> {
        let mut tx = self.begin_write().await?;
        let result = assign_role_tx(&mut tx, principal_id, role, scope, now).await;
        store::finish(tx, result).await
    }

    /// Revokes `role` on `scope` from the principal; returns whether it was granted.
    pub async fn unassign_role(
        &self,
        principal_id: i64,
        role: &str,
        scope: &str,
    ) -> Result<bool, MetaError> {
        let removed = sqlx::query(
            "DELETE FROM role_assignments WHERE principal_id = ?1 AND role = ?2 AND scope = ?3",
        )
        .bind(principal_id)
        .bind(role)
        .bind(scope)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if removed > 0 {
            tracing::info!(principal_id, role, scope, "role unassigned");
        }
        Ok(removed > 0)
    }

    /// The roles of the principal, ordered by scope, then role.
    pub async fn roles_of(
        &self,
        principal_id: i64,
    ) -> Result<Vec<RoleAssignmentRecord>, MetaError> {
        let rows: Vec<RoleRow> = sqlx::query_as(
            "SELECT r.id, r.principal_id, p.name, r.role, r.scope, r.created_at \
             FROM role_assignments r JOIN principals p ON p.id = r.principal_id \
             WHERE r.principal_id = ?1 ORDER BY r.scope, r.role",
        )
        .bind(principal_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(role_from_row).collect())
    }

    /// Every role assignment, or those of the principal called `principal` when given,
    /// ordered by principal name, scope, then role.
    pub async fn list_role_assignments(
        &self,
        principal: Option<&str>,
    ) -> Result<Vec<RoleAssignmentRecord>, MetaError> {
        let rows: Vec<RoleRow> = sqlx::query_as(
            "SELECT r.id, r.principal_id, p.name, r.role, r.scope, r.created_at \
             FROM role_assignments r JOIN principals p ON p.id = r.principal_id \
             WHERE ?1 IS NULL OR p.name = ?1 ORDER BY p.name, r.scope, r.role",
        )
        .bind(principal)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(role_from_row).collect())
    }

    /// Every signing key, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, MetaError> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, pkcs8, active, created_at, retired_at FROM signing_keys \
             ORDER BY created_at DESC, rowid DESC",
        )
        .fetch_all(&self.reader)
        .await?;
        let keys = rows
            .into_iter()
            .map(
                |(kid, pkcs8, active, created_at, retired_at)| SigningKeyRecord {
                    kid,
                    pkcs8,
                    active,
                    created_at,
                    retired_at,
                },
            )
            .collect();
        Ok(keys)
    }

    /// Makes `kid` the active signing key, retiring the previous one at `now`, in one
    /// transaction: there is never a moment with two active keys or none.
    ///
    /// Fails with [`MetaError::Conflict`] when a key with this id exists; the previous
    /// key then stays active.
    pub async fn add_signing_key(
        &self,
        kid: &str,
        pkcs8: &[u8],
        now: i64,
    ) -> Result<(), MetaError> {
        let mut tx = self.begin_write().await?;
        let result = add_signing_key_tx(&mut tx, kid, pkcs8, now).await;
        store::finish(tx, result).await?;
        tracing::info!(kid, "signing key activated");
        Ok(())
    }

    /// Deletes the inactive keys retired before `retired_before`; returns how many.
    /// Tokens they signed no longer verify, so pass a time older than the longest token
    /// lifetime.
    pub async fn prune_signing_keys(&self, retired_before: i64) -> Result<u64, MetaError> {
        let removed = sqlx::query("DELETE FROM signing_keys WHERE active = 0 AND retired_at < ?1")
            .bind(retired_before)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if removed > 0 {
            tracing::info!(removed, "retired signing keys pruned");
        }
        Ok(removed)
    }

    /// The value of setting `key`, if it was set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, MetaError> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await?;
        Ok(value)
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        tracing::info!(key, "setting changed");
        Ok(())
    }

    /// Opens or closes `repository` to pulls without credentials.
    ///
    /// Fails with [`MetaError::NotFound`] when the repository does not exist.
    pub async fn set_anonymous_pull(
        &self,
        repository: &str,
        enabled: bool,
    ) -> Result<(), MetaError> {
        let changed = sqlx::query("UPDATE repositories SET anonymous_pull = ?2 WHERE name = ?1")
            .bind(repository)
            .bind(enabled)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if changed == 0 {
            return Err(MetaError::NotFound(format!(
                "repository {repository} does not exist"
            )));
        }
        tracing::info!(repository, enabled, "anonymous pull changed");
        Ok(())
    }

    /// Whether `repository` may be pulled without credentials; `false` when it does not
    /// exist.
    pub async fn anonymous_pull(&self, repository: &str) -> Result<bool, MetaError> {
        let enabled: Option<bool> =
            sqlx::query_scalar("SELECT anonymous_pull FROM repositories WHERE name = ?1")
                .bind(repository)
                .fetch_optional(&self.reader)
                .await?;
        Ok(enabled.unwrap_or(false))
    }

    /// Repositories with anonymous pull, for an anonymous catalog: page like
    /// [`list_repositories`](MetaStore::list_repositories) (ordered by name, strictly after
    /// `last`, at most n).
    pub async fn anonymous_repositories(
        &self,
        n: usize,
        last: Option<&str>,
    ) -> Result<Vec<String>, MetaError> {
        // One JSON row per page for the same reason as the catalog's listings: each row
        // crossing from sqlx's worker thread costs more than the query.
        let page: String = sqlx::query_scalar(
            "SELECT json_group_array(name ORDER BY name) FROM ( \
               SELECT name FROM repositories \
               WHERE anonymous_pull = 1 AND list_enabled = 1 AND name > ?1 \
               ORDER BY name LIMIT ?2)",
        )
        .bind(last.unwrap_or(""))
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_one(&self.reader)
        .await?;
        serde_json::from_str(&page)
            .map_err(|err| MetaError::Corrupt(format!("listing page is not a JSON array: {err}")))
    }

    /// Trusts tokens of `issuer` for `audience` whose claims match every glob of
    /// `claims` to act as the principal.
    ///
    /// Fails with [`MetaError::Conflict`] when the name is taken and with
    /// [`MetaError::NotFound`] when the principal does not exist.
    pub async fn create_federation(
        &self,
        name: &str,
        issuer: &str,
        audience: &str,
        claims: &BTreeMap<String, String>,
        principal_id: i64,
        now: i64,
    ) -> Result<FederationRecord, MetaError> {
        let new = NewFederation {
            name,
            issuer,
            audience,
            claims,
            principal_id,
            now,
        };
        let mut tx = self.begin_write().await?;
        let result = create_federation_tx(&mut tx, new).await;
        store::finish(tx, result).await
    }

    /// Every federation, ordered by name.
    pub async fn list_federations(&self) -> Result<Vec<FederationRecord>, MetaError> {
        let rows: Vec<FederationRow> = sqlx::query_as(
            "SELECT f.id, f.name, f.issuer, f.audience, f.claims, f.principal_id, p.name, \
             f.created_at FROM federations f JOIN principals p ON p.id = f.principal_id \
             ORDER BY f.name",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(federation_from_row).collect()
    }

    /// The federations that trust `issuer`, ordered by name.
    pub async fn federations_for_issuer(
        &self,
        issuer: &str,
    ) -> Result<Vec<FederationRecord>, MetaError> {
        let rows: Vec<FederationRow> = sqlx::query_as(
            "SELECT f.id, f.name, f.issuer, f.audience, f.claims, f.principal_id, p.name, \
             f.created_at FROM federations f JOIN principals p ON p.id = f.principal_id \
             WHERE f.issuer = ?1 ORDER BY f.name",
        )
        .bind(issuer)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(federation_from_row).collect()
    }

    /// Deletes federation `name`; returns whether it existed.
    pub async fn delete_federation(&self, name: &str) -> Result<bool, MetaError> {
        let removed = sqlx::query("DELETE FROM federations WHERE name = ?1")
            .bind(name)
            .execute(&self.writer)
            .await?
            .rows_affected();
        if removed > 0 {
            tracing::info!(federation = name, "federation deleted");
        }
        Ok(removed > 0)
    }
}

/// A federation about to be created.
struct NewFederation<'a> {
    name: &'a str,
    issuer: &'a str,
    audience: &'a str,
    claims: &'a BTreeMap<String, String>,
    principal_id: i64,
    now: i64,
}

async fn set_secret_tx(
    conn: &mut SqliteConnection,
    principal_id: i64,
    slot: u8,
    hash: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<SecretRecord, MetaError> {
    principal_name(conn, principal_id).await?;

    // Delete and insert rather than update: the replacement must get a new id.
    sqlx::query("DELETE FROM principal_secrets WHERE principal_id = ?1 AND slot = ?2")
        .bind(principal_id)
        .bind(slot)
        .execute(&mut *conn)
        .await?;
    let row: SecretRow = sqlx::query_as(
        "INSERT INTO principal_secrets (principal_id, slot, hash, expires_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         RETURNING id, principal_id, slot, hash, expires_at, created_at",
    )
    .bind(principal_id)
    .bind(slot)
    .bind(hash)
    .bind(expires_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    tracing::info!(principal_id, slot, "secret set");
    Ok(secret_from_row(row))
}

async fn assign_role_tx(
    conn: &mut SqliteConnection,
    principal_id: i64,
    role: &str,
    scope: &str,
    now: i64,
) -> Result<RoleAssignmentRecord, MetaError> {
    let principal = principal_name(conn, principal_id).await?;

    let inserted = sqlx::query(
        "INSERT INTO role_assignments (principal_id, role, scope, created_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (principal_id, role, scope) DO NOTHING",
    )
    .bind(principal_id)
    .bind(role)
    .bind(scope)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let (id, created_at): (i64, i64) = sqlx::query_as(
        "SELECT id, created_at FROM role_assignments \
         WHERE principal_id = ?1 AND role = ?2 AND scope = ?3",
    )
    .bind(principal_id)
    .bind(role)
    .bind(scope)
    .fetch_one(&mut *conn)
    .await?;
    if inserted > 0 {
        tracing::info!(principal = %principal, role, scope, "role assigned");
    }
    Ok(RoleAssignmentRecord {
        id,
        principal_id,
        principal,
        role: role.to_owned(),
        scope: scope.to_owned(),
        created_at,
    })
}

async fn add_signing_key_tx(
    conn: &mut SqliteConnection,
    kid: &str,
    pkcs8: &[u8],
    now: i64,
) -> Result<(), MetaError> {
    // Retire first: the unique index on active keys refuses a second one.
    sqlx::query("UPDATE signing_keys SET active = 0, retired_at = ?1 WHERE active = 1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, pkcs8, active, created_at, retired_at) \
         VALUES (?1, ?2, 1, ?3, NULL)",
    )
    .bind(kid)
    .bind(pkcs8)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|err| conflict_or(err, || format!("signing key {kid} already exists")))?;
    Ok(())
}

async fn create_federation_tx(
    conn: &mut SqliteConnection,
    new: NewFederation<'_>,
) -> Result<FederationRecord, MetaError> {
    let principal = principal_name(conn, new.principal_id).await?;
    let claims = serde_json::to_string(new.claims)
        .map_err(|err| MetaError::Corrupt(format!("federation claims cannot be stored: {err}")))?;

    let id: i64 = sqlx::query_scalar(
        "INSERT INTO federations (name, issuer, audience, claims, principal_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    )
    .bind(new.name)
    .bind(new.issuer)
    .bind(new.audience)
    .bind(&claims)
    .bind(new.principal_id)
    .bind(new.now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|err| conflict_or(err, || format!("federation {} already exists", new.name)))?;
    tracing::info!(
        federation = new.name,
        issuer = new.issuer,
        principal = %principal,
        "federation created"
    );
    Ok(FederationRecord {
        id,
        name: new.name.to_owned(),
        issuer: new.issuer.to_owned(),
        audience: new.audience.to_owned(),
        claims: new.claims.clone(),
        principal_id: new.principal_id,
        principal,
        created_at: new.now,
    })
}

/// The name of the principal with id `id`, or [`MetaError::NotFound`].
async fn principal_name(conn: &mut SqliteConnection, id: i64) -> Result<String, MetaError> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM principals WHERE id = ?1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    name.ok_or_else(|| MetaError::NotFound(format!("principal with id {id} does not exist")))
}

fn principal_not_found(name: &str) -> MetaError {
    MetaError::NotFound(format!("principal {name} does not exist"))
}

/// Turns a unique-constraint violation into [`MetaError::Conflict`] with `message`;
/// other failures stay database errors.
fn conflict_or(err: sqlx::Error, message: impl FnOnce() -> String) -> MetaError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => MetaError::Conflict(message()),
        _ => MetaError::Database(err),
    }
}

fn scope_map_to_db(entries: &[String]) -> Result<String, MetaError> {
    serde_json::to_string(entries)
        .map_err(|err| MetaError::Corrupt(format!("scope map cannot be stored: {err}")))
}

fn principal_from_row(row: PrincipalRow) -> Result<PrincipalRecord, MetaError> {
    let (id, name, kind, description, scope_map, enabled, created_at, updated_at) = row;
    let kind = PrincipalKind::parse(&kind)
        .ok_or_else(|| MetaError::Corrupt(format!("principal {name} has unknown kind {kind}")))?;
    let scope_map = scope_map
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|err| {
            MetaError::Corrupt(format!(
                "scope map of principal {name} is not a JSON array: {err}"
            ))
        })?;
    Ok(PrincipalRecord {
        id,
        name,
        kind,
        description,
        scope_map,
        enabled,
        created_at,
        updated_at,
    })
}

fn secret_from_row(row: SecretRow) -> SecretRecord {
    let (id, principal_id, slot, hash, expires_at, created_at) = row;
    SecretRecord {
        id,
        principal_id,
        slot,
        hash,
        expires_at,
        created_at,
    }
}

fn role_from_row(row: RoleRow) -> RoleAssignmentRecord {
    let (id, principal_id, principal, role, scope, created_at) = row;
    RoleAssignmentRecord {
        id,
        principal_id,
        principal,
        role,
        scope,
        created_at,
    }
}

fn federation_from_row(row: FederationRow) -> Result<FederationRecord, MetaError> {
    let (id, name, issuer, audience, claims, principal_id, principal, created_at) = row;
    let claims = serde_json::from_str(&claims).map_err(|err| {
        MetaError::Corrupt(format!(
            "claims of federation {name} are not a JSON object: {err}"
        ))
    })?;
    Ok(FederationRecord {
        id,
        name,
        issuer,
        audience,
        claims,
        principal_id,
        principal,
        created_at,
    })
}
