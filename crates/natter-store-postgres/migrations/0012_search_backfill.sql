-- The walk that indexes the messages the search index has no row for (messages sent before
-- the index existed, or whose records the log no longer holds): src/search_backfill.rs, run by
-- the indexer role. One row per walk; its position is the last (conversation, seq) done, in
-- that order (seq = max bigint: the whole conversation). `done_at_ms` set: the walk is over.
-- A database created by this migration walks an empty table once; one upgraded walks every
-- message. To walk again: UPDATE search_backfill SET conversation_id =
-- '00000000-0000-0000-0000-000000000000', seq = 0, done_at_ms = NULL.
CREATE TABLE search_backfill (
    name            text PRIMARY KEY,
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    read            bigint NOT NULL DEFAULT 0,
    indexed         bigint NOT NULL DEFAULT 0,
    started_at_ms   bigint,
    done_at_ms      bigint
);
INSERT INTO search_backfill (name, conversation_id, seq)
VALUES ('messages', '00000000-0000-0000-0000-000000000000', 0);
