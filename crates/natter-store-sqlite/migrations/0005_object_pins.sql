-- What the collector needs to delete objects safely. Objects are content-addressed and shared
-- between files, so each upload or file pins the objects it uses (its bytes, its thumbnails)
-- before it checks whether they exist, and an object is deleted only once nothing pins it.
CREATE TABLE file_objects (
    file_id BLOB NOT NULL,
    sha256  BLOB NOT NULL,
    PRIMARY KEY (file_id, sha256)
) WITHOUT ROWID;
CREATE INDEX file_objects_by_object ON file_objects (sha256);

-- Every object pinned at some point. `orphaned`: nothing pins it any more (set when the last pin
-- goes); `deleting`: the collector is deleting its bytes, so it cannot be pinned until that is
-- over and the row is gone.
CREATE TABLE objects (
    sha256   BLOB PRIMARY KEY,
    orphaned INTEGER NOT NULL DEFAULT 0,
    deleting INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX objects_to_collect ON objects (sha256) WHERE orphaned OR deleting;

-- The collector's scan of complete files.
CREATE INDEX files_complete ON files (completed_at_ms) WHERE completed_at_ms IS NOT NULL;

-- Files completed before this version pin their objects: the bytes, and each thumbnail (whose
-- hash the media JSON holds as an array of 32 numbers).
INSERT OR IGNORE INTO file_objects (file_id, sha256)
    SELECT id, sha256 FROM files WHERE sha256 IS NOT NULL;
INSERT OR IGNORE INTO file_objects (file_id, sha256)
    SELECT f.id,
           unhex((SELECT group_concat(printf('%02x', b.value), '')
                  FROM json_each(t.value, '$.sha256') AS b))
    FROM files AS f, json_each(f.media, '$.thumbnails') AS t
    WHERE f.media IS NOT NULL;
INSERT OR IGNORE INTO objects (sha256) SELECT DISTINCT sha256 FROM file_objects;
