-- The durable push pipeline (docs/push.md). `push_queue`: one row per created message, inserted
-- in the transaction that commits the message, or per read cursor passing what was pushed
-- (`reader` set), inserted with the cursor; removed by the notifier in the transaction that
-- writes the deliveries. `push_deliveries`: one notification for one device (an alert, or a
-- withdraw: everything up to `seq` is read), removed once the provider accepted it (or it was
-- given up). `push_shown`: the newest message pushed to a user per conversation, until read.
CREATE TABLE push_queue (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    reader          BLOB
);

CREATE TABLE push_shown (
    user_id         BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
) WITHOUT ROWID;

CREATE TABLE push_deliveries (
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
    withdraw        INTEGER NOT NULL DEFAULT 0,
    due_at_ms       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    in_flight       INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    UNIQUE (device_id, message_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries (in_flight, due_at_ms);
