-- A user's picture (AccountStore::set_avatar): the id of a complete picture file of theirs and a
-- snapshot of it (an Attachment as JSON, like a message's attachments), both NULL for none. The
-- foreign key keeps a file from being deleted while it is someone's avatar; the collector leaves
-- such files alone (file_collection.rs), finding them through the index.
ALTER TABLE users ADD COLUMN avatar_file_id BLOB REFERENCES files (id);
ALTER TABLE users ADD COLUMN avatar TEXT CHECK ((avatar IS NULL) = (avatar_file_id IS NULL));
CREATE INDEX users_by_avatar ON users (avatar_file_id) WHERE avatar_file_id IS NOT NULL;
