-- The same as SQLite's 0009_push_changes.sql: a change to a message that is someone's newest
-- push in its conversation queues a `changed` entry (in the change's statement), and
-- `push_shown` says when that push was planned (an edit after it is told from a reaction).
ALTER TABLE push_queue ADD COLUMN changed boolean NOT NULL DEFAULT false;
ALTER TABLE push_shown ADD COLUMN pushed_at_ms bigint NOT NULL DEFAULT 0;
CREATE INDEX push_shown_by_message ON push_shown (conversation_id, seq);
