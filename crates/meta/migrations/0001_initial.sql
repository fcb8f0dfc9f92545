-- Initial schema: repositories, blobs and their links, manifests with their references,
-- tags, upload sessions and the event outbox. Times are unix milliseconds.

CREATE TABLE repositories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Bytes known to exist in blob storage.
CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- What a repository may read.
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    digest TEXT NOT NULL REFERENCES blobs (digest),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;

-- Garbage collection asks "is this blob linked anywhere".
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    repository_id INTEGER NOT NULL REFERENCES repositories (id),
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    content BLOB NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    artifact_type TEXT,
    subject_digest TEXT,
    annotations TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
);

-- The referrers API lists the manifests of a repository that name a subject.
CREATE INDEX manifests_by_subject ON manifests (repository_id, subject_digest)
    WHERE subject_digest IS NOT NULL;

-- Blobs and child manifests a manifest depends on; rows go with their manifest.
CREATE TABLE manifest_references (
    repository_id INTEGER NOT NULL,
    manifest_digest TEXT NOT NULL,
    target_digest TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
    PRIMARY KEY (repository_id, manifest_digest, target_digest, kind),
    FOREIGN KEY (repository_id, manifest_digest)
        REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX manifest_references_by_target ON manifest_references (repository_id, target_digest);

CREATE TABLE tags (
    repository_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest)
) WITHOUT ROWID;

CREATE INDEX tags_by_manifest ON tags (repository_id, manifest_digest);

-- Upload sessions name their repository as text: starting an upload does not create it.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX uploads_by_updated_at ON uploads (updated_at);

-- The outbox: AUTOINCREMENT so that ids are never reused after a delete.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest TEXT,
    tag TEXT,
    detail TEXT
);
