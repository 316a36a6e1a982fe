-- Uploaded files and uploads in progress (the FileStore port; the same table as SQLite's).
-- A row is an upload until completed_at_ms is set, together with what the bytes turned out to
-- be (sha256, mime, content_size: the stored length, which differs from `size` once an image's
-- metadata was stripped; media: dimensions, duration, ThumbHash and thumbnails as JSON, NULL for
-- files that are not media). `size` is the declared size: it counts against the owner's quota
-- from the moment the upload is created. No foreign key to users, as in SQLite: a file outlives nothing
-- it names, and the port's contract does not require the owner to exist.
CREATE TABLE files (
    id              uuid PRIMARY KEY,
    owner_id        uuid NOT NULL,
    name            text NOT NULL,
    size            bigint NOT NULL CHECK (size > 0),
    created_at_ms   bigint NOT NULL,
    sha256          bytea CHECK (octet_length(sha256) = 32),
    mime            text,
    completed_at_ms bigint,
    content_size    bigint CHECK (content_size >= 0),
    media           jsonb,
    CHECK ((completed_at_ms IS NULL) = (sha256 IS NULL) AND (sha256 IS NULL) = (mime IS NULL)
           AND (sha256 IS NULL) = (content_size IS NULL)),
    CHECK (media IS NULL OR completed_at_ms IS NOT NULL)
);
CREATE INDEX files_by_owner ON files (owner_id);
-- The collector's scan: only incomplete uploads, oldest first.
CREATE INDEX files_incomplete ON files (created_at_ms) WHERE completed_at_ms IS NULL;

-- One row per message that attaches a file, keyed by the message's idempotency key, so a
-- retried send records nothing twice. A member of `conversation_id` may fetch the file while a
-- row is not released (the message not deleted). The same as SQLite's `file_refs`.
CREATE TABLE file_refs (
    file_id         uuid NOT NULL,
    conversation_id uuid NOT NULL,
    sender_id       uuid NOT NULL,
    client_msg_id   text NOT NULL,
    created_at_ms   bigint NOT NULL,
    released_at_ms  bigint,
    PRIMARY KEY (file_id, conversation_id, sender_id, client_msg_id)
);
CREATE INDEX file_refs_by_message ON file_refs (conversation_id, sender_id, client_msg_id);
