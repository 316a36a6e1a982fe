-- The same pipeline as PostgreSQL's, where several notifiers share it and Kafka delivers most
-- messages first: claims are leases (an in-flight delivery says who claimed it and until when),
-- and a queued message says when it was committed (scaled out, only the ones Kafka did not
-- deliver in time are planned from the queue).
ALTER TABLE push_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE push_deliveries ADD COLUMN lease_until_ms INTEGER;
ALTER TABLE push_queue ADD COLUMN created_at_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX push_queue_by_message ON push_queue (conversation_id, seq);
CREATE INDEX push_deliveries_by_device ON push_deliveries (device_id, id);
