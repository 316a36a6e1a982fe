-- A user's picture (AccountStore::set_avatar): the id of a complete picture file of theirs and a
-- snapshot of it (an Attachment as JSON, the same JSON as a message's attachments), both NULL for
-- none; the same columns as SQLite's. The foreign key keeps a file from being deleted while it is
-- someone's avatar; the collector leaves such files alone (file_collection.rs), finding them
-- through the index.
ALTER TABLE users ADD COLUMN avatar_file_id uuid REFERENCES files (id);
ALTER TABLE users ADD COLUMN avatar text;
ALTER TABLE users ADD CONSTRAINT users_avatar_whole
    CHECK ((avatar_file_id IS NULL) = (avatar IS NULL));
CREATE INDEX users_by_avatar ON users (avatar_file_id) WHERE avatar_file_id IS NOT NULL;
