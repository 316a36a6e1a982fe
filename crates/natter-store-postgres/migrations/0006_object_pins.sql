-- What the collector needs to delete objects safely (the same tables as SQLite's). Objects are
-- content-addressed and shared between files, so each upload or file pins the objects it uses
-- (its bytes, its thumbnails) before it checks whether they exist, and an object is deleted only
-- once nothing pins it. The row of `objects` is the lock both sides take: a pin upserts it, the
-- collector locks it before it looks for pins, so neither can miss the other.
CREATE TABLE file_objects (
    file_id uuid NOT NULL,
    sha256  bytea NOT NULL CHECK (octet_length(sha256) = 32),
    PRIMARY KEY (file_id, sha256)
);
CREATE INDEX file_objects_by_object ON file_objects (sha256);

-- Every object pinned at some point. `orphaned`: nothing pins it any more; `deleting`: the
-- collector is deleting its bytes, so it cannot be pinned until that is over and the row is gone.
CREATE TABLE objects (
    sha256   bytea PRIMARY KEY CHECK (octet_length(sha256) = 32),
    orphaned boolean NOT NULL DEFAULT false,
    deleting boolean NOT NULL DEFAULT false
);
CREATE INDEX objects_to_collect ON objects (sha256) WHERE orphaned OR deleting;

-- The collector's scan of complete files.
CREATE INDEX files_complete ON files (completed_at_ms) WHERE completed_at_ms IS NOT NULL;

-- Files completed before this version pin their objects: the bytes, and each thumbnail (whose
-- hash the media JSON holds as an array of 32 numbers).
INSERT INTO file_objects (file_id, sha256)
    SELECT id, sha256 FROM files WHERE sha256 IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO file_objects (file_id, sha256)
    SELECT f.id,
           (SELECT decode(string_agg(lpad(to_hex(b.value::int), 2, '0'), '' ORDER BY b.n), 'hex')
            FROM jsonb_array_elements_text(t.value -> 'sha256') WITH ORDINALITY AS b(value, n))
    FROM files AS f, jsonb_array_elements(f.media -> 'thumbnails') AS t
    WHERE f.media IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO objects (sha256) SELECT DISTINCT sha256 FROM file_objects ON CONFLICT DO NOTHING;
