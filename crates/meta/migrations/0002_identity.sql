-- Identity: principals with their secrets and roles, token signing keys, settings,
-- anonymous pull per repository, workload identity federations and the audit log.
-- Times are unix milliseconds.

-- AUTOINCREMENT so that the id of a deleted principal never names a new one.
CREATE TABLE principals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'service_principal', 'token')),
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of scope-map entries; only tokens carry one.
    scope_map TEXT,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Refresh tokens name the secret they were issued against; AUTOINCREMENT keeps a replaced
-- or deleted secret's id from ever naming a new secret, so those tokens stay invalid.
CREATE TABLE principal_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    principal_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    slot INTEGER NOT NULL CHECK (slot IN (1, 2)),
    hash TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (principal_id, slot)
);

CREATE TABLE role_assignments (
    id INTEGER PRIMARY KEY,
    principal_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (principal_id, role, scope)
);

-- Private keys that sign access tokens; retired keys stay to verify tokens they signed.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    pkcs8 BLOB NOT NULL,
    active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

-- At most one key signs new tokens.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active = 1;

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

ALTER TABLE repositories ADD COLUMN anonymous_pull INTEGER NOT NULL DEFAULT 0;

-- The anonymous catalog pages through only the repositories open to anonymous pull.
CREATE INDEX repositories_anonymous ON repositories (name) WHERE anonymous_pull = 1;

-- Trust in an external token issuer: tokens whose claims match the globs act as the
-- principal.
CREATE TABLE federations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    issuer TEXT NOT NULL,
    audience TEXT NOT NULL,
    -- JSON object: claim name -> glob.
    claims TEXT NOT NULL,
    principal_id INTEGER NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE INDEX federations_issuer ON federations (issuer);
-- Deleting a principal cascades here; the index spares that delete a table scan.
CREATE INDEX federations_principal ON federations (principal_id);

-- AUTOINCREMENT so that an audit record's id, once reported, never names another one.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    principal TEXT,
    action TEXT NOT NULL,
    repository TEXT,
    digest TEXT,
    source TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_principal ON audit_log (principal, id);
CREATE INDEX audit_log_repository ON audit_log (repository, id);
