-- Edits update and deletes withdraw the alert a device shows: a change to a message that is
-- someone's newest push in its conversation queues a `changed` entry (in the change's
-- transaction), and `push_shown` says when that push was planned, so an edit after it is
-- told apart from a reaction.
ALTER TABLE push_queue ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE push_shown ADD COLUMN pushed_at_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX push_shown_by_message ON push_shown (conversation_id, seq);
