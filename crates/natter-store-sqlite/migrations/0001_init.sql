-- natter's embedded schema. UUIDs are 16-byte BLOBs, times are Unix milliseconds, booleans 0/1.

-- One global change counter: every write that a client's sync must see stamps the rows it
-- touches with a fresh value, so "what changed for me since X" is a range condition.
CREATE TABLE meta (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    change_seq INTEGER NOT NULL
);
INSERT INTO meta (id, change_seq) VALUES (1, 0);

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER
);

CREATE TABLE sessions (
    id              BLOB PRIMARY KEY,
    user_id         BLOB NOT NULL REFERENCES users (id),
    device_name     TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    last_used_at_ms INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at_ms);

-- SHA-256 hashes of refresh tokens. Spent ones stay so a replay can be recognised.
CREATE TABLE refresh_tokens (
    hash       BLOB PRIMARY KEY,
    session_id BLOB NOT NULL REFERENCES sessions (id),
    spent      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE conversations (
    id               BLOB PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
    name             TEXT,
    topic            TEXT,
    created_by       BLOB NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    -- Direct conversations only: "<smaller uuid>:<larger uuid>", one conversation per pair.
    direct_key       TEXT UNIQUE,
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_mod         INTEGER NOT NULL DEFAULT 0,
    last_activity_ms INTEGER NOT NULL,
    -- meta.change_seq of the latest change every member must sync (messages, metadata, members).
    changed_at       INTEGER NOT NULL
);

-- Current and former members. A former member has left_at_ms set; the row stays so that sync can
-- tell the user the conversation is gone, and is reused when they rejoin.
CREATE TABLE members (
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    user_id         BLOB NOT NULL REFERENCES users (id),
    role            TEXT NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    muted           INTEGER NOT NULL DEFAULT 0,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    joined_at_ms    INTEGER NOT NULL,
    -- Position in the conversation's joining order (a rejoin moves the member to the end).
    join_order      INTEGER NOT NULL,
    left_at_ms      INTEGER,
    -- meta.change_seq of the latest change only this member must sync (cursors, role, leaving).
    changed_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (user_id, conversation_id);

CREATE TABLE messages (
    conversation_id BLOB NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    id              INTEGER NOT NULL UNIQUE,
    mod_seq         INTEGER NOT NULL,
    sender_id       BLOB NOT NULL,
    client_msg_id   TEXT NOT NULL,
    text            TEXT NOT NULL,
    reply_to_seq    INTEGER,
    created_at_ms   INTEGER NOT NULL,
    edited_at_ms    INTEGER,
    deleted         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender_id, client_msg_id);
CREATE INDEX messages_by_mod ON messages (conversation_id, mod_seq);

CREATE TABLE mentions (
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    user_id         BLOB NOT NULL,
    position        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq, user_id),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq)
) WITHOUT ROWID;

CREATE TABLE reactions (
    conversation_id BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    emoji           TEXT NOT NULL,
    user_id         BLOB NOT NULL,
    -- Order of reacting within the message.
    position        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq, emoji, user_id),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq)
) WITHOUT ROWID;
