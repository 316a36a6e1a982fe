-- People search by display name (natter_domain::names): a row per word of each user's display
-- name (natter_domain::names::name_words: folded and split in Rust), carrying the username (to
-- order by) and all the user's words, space-separated (to check the query's other words on the
-- same row), written in the same transaction as the user and each rename. Searches range-scan
-- the primary key by a query word's prefix (bytewise "C" collation, like usernames), reading
-- the rest from the index alone; the second index finds a user's rows to replace.
CREATE TABLE user_words (
    word     text COLLATE "C" NOT NULL,
    user_id  uuid NOT NULL REFERENCES users (id),
    username text COLLATE "C" NOT NULL,
    words    text NOT NULL,
    PRIMARY KEY (word, user_id) INCLUDE (username, words)
);
CREATE INDEX user_words_by_user ON user_words (user_id);

-- Whether the user's words are in user_words. Users from before this migration, and any that a
-- node of an older version creates, are not: PgStore::migrate indexes them (the folding is
-- Rust's), a batch at a time.
ALTER TABLE users ADD COLUMN words_indexed boolean NOT NULL DEFAULT false;
CREATE INDEX users_words_unindexed ON users (id) WHERE NOT words_indexed;
