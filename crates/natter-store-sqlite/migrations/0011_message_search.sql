-- Full-text search over messages (natter_domain::search). The index holds each message's terms
-- as natter_domain::search::index_text folds and splits them (accents, case and width folded,
-- CJK characters one term each), so FTS5's own tokenizer only splits on the spaces between them.
-- Contentless (the text is in `messages`), rowid = messages.id, deleted messages left out; the
-- store writes it in the same transaction as the message. Existing messages are indexed by the
-- migration's Rust step (migrate.rs), since the folding is Rust's.
CREATE VIRTUAL TABLE message_search USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
