-- Uploaded files and uploads in progress. A row is an upload until completed_at_ms is set,
-- together with what the bytes turned out to be (sha256, mime). `size` is the declared size:
-- it counts against the owner's quota from the moment the upload is created.
CREATE TABLE files (
    id              BLOB PRIMARY KEY,
    owner_id        BLOB NOT NULL,
    name            TEXT NOT NULL,
    size            INTEGER NOT NULL CHECK (size > 0),
    created_at_ms   INTEGER NOT NULL,
    sha256          BLOB,
    mime            TEXT,
    completed_at_ms INTEGER,
    CHECK ((completed_at_ms IS NULL) = (sha256 IS NULL) AND (sha256 IS NULL) = (mime IS NULL))
);
CREATE INDEX files_by_owner ON files (owner_id);
-- The collector's scan: only incomplete uploads, oldest first.
CREATE INDEX files_incomplete ON files (created_at_ms) WHERE completed_at_ms IS NULL;
