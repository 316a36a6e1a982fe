-- An edit's update of a push is a delivery of its own (`revision`: 0 for a message's own push,
-- the edit's time for an update), so it is added even while the message's first push to that
-- device is still on its way; a (device, message) key dropped it then. SQLite cannot change a
-- table's UNIQUE constraint, so the table is built again.
CREATE TABLE push_deliveries_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BLOB NOT NULL,
    device_id       BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    message_id      INTEGER,            -- NULL for a withdraw
    seq             INTEGER NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    badge           INTEGER,
    quiet           INTEGER NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 0,
    withdraw        INTEGER NOT NULL DEFAULT 0,
    due_at_ms       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    in_flight       INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    claimed_by      TEXT,
    lease_until_ms  INTEGER,
    UNIQUE (device_id, message_id, revision)
);
INSERT INTO push_deliveries_new (id, user_id, device_id, conversation_id, message_id, seq, title,
    body, badge, quiet, withdraw, due_at_ms, attempts, in_flight, created_at_ms, claimed_by,
    lease_until_ms)
SELECT id, user_id, device_id, conversation_id, message_id, seq, title, body, badge, quiet,
    withdraw, due_at_ms, attempts, in_flight, created_at_ms, claimed_by, lease_until_ms
FROM push_deliveries;
DROP TABLE push_deliveries;
ALTER TABLE push_deliveries_new RENAME TO push_deliveries;
CREATE INDEX push_deliveries_due ON push_deliveries (in_flight, due_at_ms);
CREATE INDEX push_deliveries_by_device ON push_deliveries (device_id, id);
