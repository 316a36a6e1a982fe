-- Message ids are unique by construction (Snowflake layout: time, node id, counter; node ids are
-- unique among the processes sharing the stores), and nothing looks a message up by id. The
-- global unique index only caught a misconfigured node id, at the price of one more B-tree
-- insert per message, and a split deployment (bodies in Cassandra) cannot enforce it at all. It
-- also made test cases that share one database collide whenever two of them drew the same
-- 10-bit node id in the same millisecond. Messages are keyed by (conversation_id, seq).
ALTER TABLE messages DROP CONSTRAINT messages_id_key;
