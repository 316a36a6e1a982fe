-- natter's PostgreSQL schema. Native types: uuid ids, bigint Unix-millisecond times, boolean
-- flags, uuid[] for ordered id lists. Usernames use the "C" collation, so ordering and prefix
-- ranges are bytewise, whatever the database's default collation.

-- The global change counter: every write that a client's sync must see stamps the rows it
-- touches with a fresh value (conversations.changed_at, members.changed_at).
CREATE SEQUENCE natter_change_seq;

-- Write stamps handed out by the message sequencer (MessageSequencer::begin): strictly
-- increasing cluster-wide, for last-write-wins message stores.
CREATE SEQUENCE natter_write_stamp;

-- A sequence hands values out in call order, but transactions commit in any order: a reader
-- that took "the highest stamp" as its cursor could step over a smaller stamp whose
-- transaction commits a moment later, and that change would never be synced. So a writer
-- takes its stamp through natter_change_stamp(), which first takes a per-backend fence lock
-- (exclusive, advisory, held until its transaction ends), and a reader takes its cursor from
-- natter_sync_horizon(), which reads the sequence and then waits for every transaction holding
-- a fence to end. Any stamp at or below the returned horizon then belongs to a transaction that
-- has ended, so a snapshot taken afterwards sees it (or it was rolled back).
--
-- Fence locks use the two-key advisory form (key1 = 1851880564, 'natt' in ASCII; key2 = the
-- backend pid), which never collides with the one-bigint form used by conversation locks.

CREATE FUNCTION natter_change_stamp() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Before nextval: a reader that sees the value in the sequence also sees the fence.
    PERFORM pg_advisory_xact_lock(1851880564, pg_backend_pid());
    RETURN nextval('natter_change_seq');
END
$$;

CREATE FUNCTION natter_sync_horizon() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    horizon bigint;
    holder oid;
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO horizon FROM natter_change_seq;
    FOR holder IN
        SELECT l.objid FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.classid = 1851880564 AND l.objsubid = 2
          AND l.granted AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    LOOP
        -- Wait for that transaction to end. The shared lock is taken in a subtransaction that
        -- is then rolled back, which releases it at once: the reader never holds one fence
        -- while waiting for another (no deadlock with writers, no writer waits for a reader).
        BEGIN
            PERFORM pg_advisory_xact_lock_shared(1851880564, holder::integer);
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'natter: fence passed';
        EXCEPTION WHEN raise_exception THEN
            NULL;
        END;
    END LOOP;
    RETURN horizon;
END
$$;

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text COLLATE "C" NOT NULL UNIQUE,
    display_name  text NOT NULL,
    password_hash text NOT NULL,
    created_at_ms bigint NOT NULL,
    last_seen_ms  bigint
);

CREATE TABLE sessions (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id),
    device_name     text NOT NULL,
    created_at_ms   bigint NOT NULL,
    last_used_at_ms bigint NOT NULL,
    revoked_at_ms   bigint
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at_ms);

-- SHA-256 hashes of refresh tokens. Spent ones stay so a replay can be recognised.
CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id),
    spent      boolean NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('direct', 'group')),
    name             text,
    topic            text,
    created_by       uuid NOT NULL,
    created_at_ms    bigint NOT NULL,
    -- Direct conversations only: the two members, smaller uuid first; one conversation per pair.
    direct_lo        uuid,
    direct_hi        uuid,
    last_seq         bigint NOT NULL DEFAULT 0,
    last_mod         bigint NOT NULL DEFAULT 0,
    last_activity_ms bigint NOT NULL,
    -- Current members, maintained by the writes that add and remove them.
    member_count     bigint NOT NULL,
    -- natter_change_seq stamp of the latest change every member must sync.
    changed_at       bigint NOT NULL,
    CHECK ((kind = 'direct') = (direct_lo IS NOT NULL AND direct_hi IS NOT NULL)),
    UNIQUE (direct_lo, direct_hi)
);

-- Current and former members. A former member has left_at_ms set; the row stays so that sync can
-- tell the user the conversation is gone, and is reused when they rejoin.
CREATE TABLE members (
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    user_id         uuid NOT NULL REFERENCES users (id),
    role            text NOT NULL CHECK (role IN ('member', 'admin', 'owner')),
    muted           boolean NOT NULL DEFAULT false,
    read_seq        bigint NOT NULL DEFAULT 0,
    delivered_seq   bigint NOT NULL DEFAULT 0,
    joined_at_ms    bigint NOT NULL,
    -- Position in the conversation's joining order (a rejoin moves the member to the end).
    join_order      bigint NOT NULL,
    left_at_ms      bigint,
    -- natter_change_seq stamp of the latest change only this member must sync.
    changed_at      bigint NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_by_user ON members (user_id, conversation_id);

-- Message bodies, when PostgreSQL holds them (a split deployment keeps them in Cassandra and
-- leaves these tables empty). Mentions are an ordered uuid[]: read with the row, no join.
CREATE TABLE messages (
    conversation_id uuid NOT NULL REFERENCES conversations (id),
    seq             bigint NOT NULL,
    id              bigint NOT NULL UNIQUE,
    mod_seq         bigint NOT NULL,
    sender_id       uuid NOT NULL,
    client_msg_id   text NOT NULL,
    text            text NOT NULL,
    reply_to_seq    bigint,
    mentions        uuid[] NOT NULL DEFAULT '{}',
    created_at_ms   bigint NOT NULL,
    edited_at_ms    bigint,
    deleted         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (conversation_id, sender_id, client_msg_id);
CREATE INDEX messages_by_mod ON messages (conversation_id, mod_seq);

CREATE TABLE reactions (
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    emoji           text NOT NULL,
    user_id         uuid NOT NULL,
    -- Order of reacting (reactions to one message are written under its conversation's lock).
    position        bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (conversation_id, seq, emoji, user_id),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq)
);

-- Push notifications waiting for a user's devices; one per (user, message), so a replayed
-- event enqueues nothing new.
CREATE TABLE push_outbox (
    user_id         uuid NOT NULL,
    message_id      bigint NOT NULL,
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    sender_id       uuid NOT NULL,
    preview         text NOT NULL,
    mentioned       boolean NOT NULL,
    created_at_ms   bigint NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX push_outbox_by_age ON push_outbox (user_id, created_at_ms, message_id);
