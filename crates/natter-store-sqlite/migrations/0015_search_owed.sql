-- The writer writes the search index a few hundred messages at a time (search_index.rs).
-- `search_from`: at or below the id of every message whose index entry is still owed, written in
-- the transaction of every batch that leaves entries owed; NULL when nothing is. After a crash
-- the first batch indexes every message from there again.
ALTER TABLE meta ADD COLUMN search_from INTEGER;
