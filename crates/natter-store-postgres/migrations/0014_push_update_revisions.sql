-- An edit's update of a push is a delivery of its own (`revision`: 0 for a message's own push,
-- the edit's time for an update), so it is added even while the message's first push to that
-- device is still on its way; a (device, message) key dropped it then.
ALTER TABLE push_deliveries ADD COLUMN revision bigint NOT NULL DEFAULT 0;
ALTER TABLE push_deliveries DROP CONSTRAINT push_deliveries_device_id_message_id_key;
ALTER TABLE push_deliveries ADD CONSTRAINT push_deliveries_device_message_revision
    UNIQUE (device_id, message_id, revision);
