-- What complete files are, beyond their hash and type, and which messages show them.

-- The length of the stored bytes (it differs from the uploaded `size` once an image's metadata
-- was stripped; NULL for files completed before this column existed, whose stored bytes are
-- the uploaded ones) and the media facts (dimensions, duration, ThumbHash, thumbnails) as JSON.
ALTER TABLE files ADD COLUMN content_size INTEGER;
ALTER TABLE files ADD COLUMN media TEXT;

-- One row per message that attaches a file, keyed by the message's idempotency key, so a
-- retried send records nothing twice. A member of `conversation_id` may fetch the file while a
-- row is not released (the message not deleted).
CREATE TABLE file_refs (
    file_id         BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    sender_id       BLOB NOT NULL,
    client_msg_id   TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    released_at_ms  INTEGER,
    PRIMARY KEY (file_id, conversation_id, sender_id, client_msg_id)
) WITHOUT ROWID;
CREATE INDEX file_refs_by_message ON file_refs (conversation_id, sender_id, client_msg_id);

-- The attachments of a message: a JSON array of snapshots of complete files; NULL when none.
ALTER TABLE messages ADD COLUMN attachments TEXT;
