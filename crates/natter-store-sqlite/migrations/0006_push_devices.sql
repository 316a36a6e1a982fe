-- Devices registered for push notifications. A device belongs to the session that registered it
-- and counts only while that session is live (joined with `sessions` when read). One address (an
-- FCM or APNs token, a Web Push endpoint) is one device: registering it again moves the row.
CREATE TABLE push_devices (
    id            BLOB PRIMARY KEY,
    user_id       BLOB NOT NULL,
    session_id    BLOB NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('fcm', 'apns', 'web_push')),
    address       TEXT NOT NULL,
    apns_topic    TEXT,
    apns_sandbox  INTEGER,
    p256dh        TEXT,
    auth          TEXT,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (kind, address)
);
CREATE INDEX push_devices_by_user ON push_devices (user_id, created_at_ms);

-- What each user wants to be notified of; no row means the defaults (everything, full preview,
-- no quiet hours).
CREATE TABLE notification_settings (
    user_id         BLOB PRIMARY KEY,
    level           TEXT NOT NULL CHECK (level IN ('all', 'mentions_and_direct', 'nothing')),
    preview         TEXT NOT NULL CHECK (preview IN ('full', 'sender_only', 'hidden')),
    quiet_start_min INTEGER,
    quiet_end_min   INTEGER,
    quiet_time_zone TEXT,
    CHECK ((quiet_start_min IS NULL) = (quiet_time_zone IS NULL)
           AND (quiet_end_min IS NULL) = (quiet_time_zone IS NULL))
) WITHOUT ROWID;
