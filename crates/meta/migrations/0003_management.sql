-- Management: repository settings (tag mutability, scan on push, encryption type, quota),
-- the changeable attributes (locks) of repositories, tags and manifests, the times and
-- sizes listings report, and counters kept by triggers so that no request has to count
-- rows. Times are unix milliseconds.

ALTER TABLE repositories ADD COLUMN tag_mutability TEXT NOT NULL DEFAULT 'MUTABLE'
    CHECK (tag_mutability IN
        ('MUTABLE', 'IMMUTABLE', 'IMMUTABLE_WITH_EXCLUSION', 'MUTABLE_WITH_EXCLUSION'));
-- JSON array of wildcard filters that invert the mutability of the tags they match.
ALTER TABLE repositories ADD COLUMN mutability_exclusions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE repositories ADD COLUMN scan_on_push INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN encryption TEXT NOT NULL DEFAULT 'NONE'
    CHECK (encryption IN ('NONE', 'AES256', 'KMS'));
ALTER TABLE repositories ADD COLUMN kms_key TEXT;
-- NULL: no quota of its own.
ALTER TABLE repositories ADD COLUMN quota_bytes INTEGER CHECK (quota_bytes >= 0);
ALTER TABLE repositories ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE repositories ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE repositories ADD COLUMN read_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE repositories ADD COLUMN list_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE repositories ADD COLUMN updated_at INTEGER;
ALTER TABLE repositories ADD COLUMN last_push_at INTEGER;
ALTER TABLE repositories ADD COLUMN tag_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN manifest_count INTEGER NOT NULL DEFAULT 0;
-- Bytes of the blobs linked to the repository, each counted once.
ALTER TABLE repositories ADD COLUMN blob_bytes INTEGER NOT NULL DEFAULT 0;

ALTER TABLE tags ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN read_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN list_enabled INTEGER NOT NULL DEFAULT 1;

-- Tags newest first (or oldest first) without sorting: the listing walks this index.
CREATE INDEX tags_by_time ON tags (repository_id, updated_at, name);

ALTER TABLE manifests ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN read_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN list_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE manifests ADD COLUMN last_pulled_at INTEGER;
-- Config and layers (for an index, its children's), each distinct blob once.
ALTER TABLE manifests ADD COLUMN image_size INTEGER NOT NULL DEFAULT 0;
-- JSON object: os, architecture, variant, created and labels of the image config.
ALTER TABLE manifests ADD COLUMN config_info TEXT;

CREATE INDEX manifests_by_time ON manifests (repository_id, created_at, digest);

UPDATE manifests SET image_size = COALESCE((
    SELECT SUM(b.size) FROM manifest_references r JOIN blobs b ON b.digest = r.target_digest
    WHERE r.repository_id = manifests.repository_id AND r.manifest_digest = manifests.digest
      AND r.kind = 'blob'), 0);
-- Indexes after images: an index's size is the sum of its children's.
UPDATE manifests SET image_size = image_size + COALESCE((
    SELECT SUM(c.image_size) FROM manifest_references r JOIN manifests c
      ON c.repository_id = r.repository_id AND c.digest = r.target_digest
    WHERE r.repository_id = manifests.repository_id AND r.manifest_digest = manifests.digest
      AND r.kind = 'manifest'), 0)
WHERE EXISTS (SELECT 1 FROM manifest_references r
    WHERE r.repository_id = manifests.repository_id AND r.manifest_digest = manifests.digest
      AND r.kind = 'manifest');

UPDATE repositories SET
    tag_count = (SELECT COUNT(*) FROM tags WHERE repository_id = repositories.id),
    manifest_count = (SELECT COUNT(*) FROM manifests WHERE repository_id = repositories.id),
    blob_bytes = COALESCE((SELECT SUM(b.size) FROM repository_blobs rb
        JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = repositories.id), 0),
    last_push_at = (SELECT MAX(created_at) FROM manifests
        WHERE repository_id = repositories.id),
    updated_at = created_at;

-- Registry-wide totals: exactly one row.
CREATE TABLE usage_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    blob_bytes INTEGER NOT NULL,
    blob_count INTEGER NOT NULL,
    repository_count INTEGER NOT NULL,
    tag_count INTEGER NOT NULL,
    manifest_count INTEGER NOT NULL
);

INSERT INTO usage_totals (id, blob_bytes, blob_count, repository_count, tag_count,
                          manifest_count)
VALUES (1,
    (SELECT COALESCE(SUM(size), 0) FROM blobs),
    (SELECT COUNT(*) FROM blobs),
    (SELECT COUNT(*) FROM repositories),
    (SELECT COUNT(*) FROM tags),
    (SELECT COUNT(*) FROM manifests));

CREATE TRIGGER blobs_counted AFTER INSERT ON blobs BEGIN
    UPDATE usage_totals SET blob_bytes = blob_bytes + NEW.size, blob_count = blob_count + 1;
END;
CREATE TRIGGER blobs_uncounted AFTER DELETE ON blobs BEGIN
    UPDATE usage_totals SET blob_bytes = blob_bytes - OLD.size, blob_count = blob_count - 1;
END;

CREATE TRIGGER repositories_counted AFTER INSERT ON repositories BEGIN
    UPDATE usage_totals SET repository_count = repository_count + 1;
END;
CREATE TRIGGER repositories_uncounted AFTER DELETE ON repositories BEGIN
    UPDATE usage_totals SET repository_count = repository_count - 1;
END;

CREATE TRIGGER tags_counted AFTER INSERT ON tags BEGIN
    UPDATE repositories SET tag_count = tag_count + 1 WHERE id = NEW.repository_id;
    UPDATE usage_totals SET tag_count = tag_count + 1;
END;
CREATE TRIGGER tags_uncounted AFTER DELETE ON tags BEGIN
    UPDATE repositories SET tag_count = tag_count - 1 WHERE id = OLD.repository_id;
    UPDATE usage_totals SET tag_count = tag_count - 1;
END;

CREATE TRIGGER manifests_counted AFTER INSERT ON manifests BEGIN
    UPDATE repositories SET manifest_count = manifest_count + 1 WHERE id = NEW.repository_id;
    UPDATE usage_totals SET manifest_count = manifest_count + 1;
END;
CREATE TRIGGER manifests_uncounted AFTER DELETE ON manifests BEGIN
    UPDATE repositories SET manifest_count = manifest_count - 1 WHERE id = OLD.repository_id;
    UPDATE usage_totals SET manifest_count = manifest_count - 1;
END;

CREATE TRIGGER repository_blobs_counted AFTER INSERT ON repository_blobs BEGIN
    UPDATE repositories
    SET blob_bytes = blob_bytes + (SELECT size FROM blobs WHERE digest = NEW.digest)
    WHERE id = NEW.repository_id;
END;
CREATE TRIGGER repository_blobs_uncounted AFTER DELETE ON repository_blobs BEGIN
    UPDATE repositories
    SET blob_bytes = blob_bytes - (SELECT size FROM blobs WHERE digest = OLD.digest)
    WHERE id = OLD.repository_id;
END;
