-- Messages in commit order. The table is keyed by the message id, which increases on a node, so a
-- batch of appends to many conversations fills the table's last pages instead of dirtying one
-- leaf per conversation. What finds a message costs one index entry each:
-- - `messages_by_seq` (conversation, seq): history, a message by seq, the end of a conversation;
-- - `messages_idempotency` (conversation, sender, client_msg_id): a retried send;
-- - `messages_changed` (conversation, mod_seq), only for messages changed after they were created
--   (edits, deletes, reactions: `changed = 1`). An unchanged message's `mod_seq` is the one it was
--   created with (`created_mod`), and `created_mod` increases with `seq`, so "changed since X"
--   is a range of seqs plus this index. Rows of older schemas keep `created_mod = 0` and count as
--   changed: their `mod_seq` is found through the index, as before.
-- The migration runs with foreign keys off (migrate.rs), so the old table can be dropped while
-- mentions and reactions still refer to it; they refer to the new one once it is renamed.
CREATE TABLE messages_in_commit_order (
    id              INTEGER PRIMARY KEY,
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    mod_seq         INTEGER NOT NULL,
    created_mod     INTEGER NOT NULL,
    changed         INTEGER NOT NULL DEFAULT 0,
    sender_id       BLOB NOT NULL,
    client_msg_id   TEXT NOT NULL,
    text            TEXT NOT NULL,
    reply_to_seq    INTEGER,
    created_at_ms   INTEGER NOT NULL,
    edited_at_ms    INTEGER,
    deleted         INTEGER NOT NULL DEFAULT 0,
    attachments     TEXT
);
INSERT INTO messages_in_commit_order (id, conversation_id, seq, mod_seq, created_mod, changed,
    sender_id, client_msg_id, text, reply_to_seq, created_at_ms, edited_at_ms, deleted, attachments)
SELECT id, conversation_id, seq, mod_seq, 0, 1, sender_id, client_msg_id, text, reply_to_seq,
    created_at_ms, edited_at_ms, deleted, attachments
FROM messages ORDER BY id;
DROP TABLE messages;
ALTER TABLE messages_in_commit_order RENAME TO messages;
CREATE UNIQUE INDEX messages_by_seq ON messages (conversation_id, seq);
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender_id, client_msg_id);
CREATE INDEX messages_changed ON messages (conversation_id, mod_seq) WHERE changed = 1;
-- push_queue's (conversation, seq) index was one more page found by conversation per append
-- (the queue holds a backlog while the notifier catches up). Embedded mode reads the queue in
-- commit order and removes entries by id; only the Kafka planner of scaled-out mode looks entries
-- up by message, so here that is a scan of the queue (the conformance suite's cases).
DROP INDEX push_queue_by_message;
