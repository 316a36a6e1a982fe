-- The durable push pipeline (docs/push.md), shared by every notifier process; the same tables
-- as SQLite's (0007_push_queue.sql, 0008_push_claims.sql). `push_queue`: one row per created
-- message, inserted by the statement that commits it (messages.rs, sequencer.rs), or per read
-- cursor passing what was pushed (`reader` set), inserted with the cursor. Notifiers plan a
-- message when its Kafka record arrives and remove its row then (a record delivered again finds
-- none: nothing twice); a row Kafka never delivered is planned from here after a grace period.
-- A delivery is claimed by one notifier (`claimed_by`) until its lease ends. The notifier's
-- earlier outbox, which nothing sent from, goes.
DROP TABLE push_outbox;

CREATE TABLE push_queue (
    id              bigserial PRIMARY KEY,
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    reader          uuid,
    created_at_ms   bigint NOT NULL DEFAULT 0   -- a message's creation time
);
CREATE INDEX push_queue_by_message ON push_queue (conversation_id, seq) WHERE reader IS NULL;

CREATE TABLE push_shown (
    user_id         uuid NOT NULL,
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);

CREATE TABLE push_deliveries (
    id              bigserial PRIMARY KEY,
    user_id         uuid NOT NULL,
    device_id       uuid NOT NULL,
    conversation_id uuid NOT NULL,
    message_id      bigint,             -- NULL for a withdraw
    seq             bigint NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    badge           bigint,
    quiet           boolean NOT NULL,
    withdraw        boolean NOT NULL,
    due_at_ms       bigint NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    claimed_by      text,
    lease_until_ms  bigint,
    created_at_ms   bigint NOT NULL,
    UNIQUE (device_id, message_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries (due_at_ms) WHERE claimed_by IS NULL;
CREATE INDEX push_deliveries_leased ON push_deliveries (lease_until_ms) WHERE claimed_by IS NOT NULL;
CREATE INDEX push_deliveries_by_device ON push_deliveries (device_id, id);
