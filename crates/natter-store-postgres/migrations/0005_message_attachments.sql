-- The attachments of a message: a JSON array of snapshots of complete files (the same JSON the
-- embedded store keeps); NULL when none, and once the message is deleted.
ALTER TABLE messages ADD COLUMN attachments text;
