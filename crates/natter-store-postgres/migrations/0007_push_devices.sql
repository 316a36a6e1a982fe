-- The same tables as SQLite's (0006_push_devices.sql).
-- Devices registered for push notifications. A device belongs to the session that registered it
-- and counts only while that session is live (joined with `sessions` when read). One address (an
-- FCM or APNs token, a Web Push endpoint) is one device: registering it again moves the row.
CREATE TABLE push_devices (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL,
    session_id    uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('fcm', 'apns', 'web_push')),
    address       text NOT NULL,
    apns_topic    text,
    apns_sandbox  boolean,
    p256dh        text,
    auth          text,
    created_at_ms bigint NOT NULL,
    UNIQUE (kind, address)
);
CREATE INDEX push_devices_by_user ON push_devices (user_id, created_at_ms);

-- What each user wants to be notified of; no row means the defaults (everything, full preview,
-- no quiet hours).
CREATE TABLE notification_settings (
    user_id         uuid PRIMARY KEY,
    level           text NOT NULL CHECK (level IN ('all', 'mentions_and_direct', 'nothing')),
    preview         text NOT NULL CHECK (preview IN ('full', 'sender_only', 'hidden')),
    quiet_start_min integer,
    quiet_end_min   integer,
    quiet_time_zone text,
    CHECK ((quiet_start_min IS NULL) = (quiet_time_zone IS NULL)
           AND (quiet_end_min IS NULL) = (quiet_time_zone IS NULL))
);
