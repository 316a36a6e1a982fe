-- People search by display name (natter_domain::names): a row per word of each user's display
-- name (natter_domain::names::name_words: folded and split in Rust), carrying the username (to
-- order by) and all the user's words, space-separated (to check the query's other words on the
-- same row), written in the same transaction as the user and each rename. Searches range-scan
-- the primary key by a query word's prefix; the second index finds a user's rows to replace.
-- Existing users are indexed by the migration's Rust step (migrate.rs).
CREATE TABLE user_words (
    word     TEXT NOT NULL,
    user_id  BLOB NOT NULL REFERENCES users (id),
    username TEXT NOT NULL,
    words    TEXT NOT NULL,
    PRIMARY KEY (word, user_id)
) WITHOUT ROWID;
CREATE INDEX user_words_by_user ON user_words (user_id);
