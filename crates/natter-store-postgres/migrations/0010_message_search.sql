-- The message search index (natter_domain::search; src/search.rs), written by the indexer
-- consumer group from the message log, never in a send's transaction. One row per message,
-- keyed by its id, with the fields the filters need (so it works whether the bodies are here or
-- in Cassandra). `terms` is to_tsvector('simple', ...) of the terms natter_domain folded, space
-- separated. `mod_seq` is the state the row holds: an upsert of an older state changes
-- nothing. A deleted message keeps its row, without terms, so that a replayed older record
-- cannot bring it back.
CREATE TABLE message_search (
    id              bigint PRIMARY KEY,
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    sender_id       uuid NOT NULL,
    created_at_ms   bigint NOT NULL,
    has_attachment  boolean NOT NULL,
    mod_seq         bigint NOT NULL,
    deleted         boolean NOT NULL,
    terms           tsvector NOT NULL
);
CREATE INDEX message_search_terms ON message_search USING gin (terms);
-- Newest first within one conversation (the primary key serves newest first across them).
CREATE INDEX message_search_by_conversation ON message_search (conversation_id, id);
