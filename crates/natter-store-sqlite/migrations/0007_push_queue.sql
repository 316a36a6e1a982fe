-- The durable push pipeline (docs/push.md). `push_queue`: one row per created message, inserted
-- in the transaction that commits the message, removed by the notifier in the transaction that
-- writes the message's deliveries. `push_deliveries`: one notification for one device, removed
-- once the provider accepted it (or it was given up).
CREATE TABLE push_queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL
);

CREATE TABLE push_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         BLOB NOT NULL,
    device_id       BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    message_id      INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    badge           INTEGER,
    quiet           INTEGER NOT NULL,
    due_at_ms       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    in_flight       INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    UNIQUE (device_id, message_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries (in_flight, due_at_ms);
