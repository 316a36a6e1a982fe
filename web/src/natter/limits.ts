// Every limit and default the client applies, in one place, each with its reason
// (mirrors crates/natter-sdk/src/limits.rs).

/** How long a command may take, reconnects included, before it fails with a timeout. */
export const COMMAND_TIMEOUT_MS = 10_000;
/** One connection attempt: WebSocket handshake + hello ack (which includes the resume replay). */
export const HELLO_TIMEOUT_MS = 10_000;
/** First reconnect delay (jittered down to half): most drops are over almost at once. */
export const BACKOFF_INITIAL_MS = 250;
/** Longest reconnect delay: a browser comes back within ~5 s of the server without stampeding it. */
export const BACKOFF_MAX_MS = 5_000;
/** How often pending commands past their deadline are failed. */
export const DEADLINE_SWEEP_MS = 250;
/** Heartbeat floor whatever idle timeout the server announces. */
export const MIN_HEARTBEAT_MS = 100;
/** Unanswered commands kept for re-sending; beyond this new commands fail at once. */
export const MAX_IN_FLIGHT = 4096;
/** Outbox entries kept (unsent messages); the composer refuses more. */
export const OUTBOX_MAX = 500;
/** How long an outbox send may wait for its ack before the outbox retries it (same client_msg_id). */
export const OUTBOX_SEND_TIMEOUT_MS = 30_000;
/** Message text limit enforced by the server (characters). */
export const TEXT_MAX_CHARS = 4000;
/** Files one message may carry (the server refuses more). */
export const ATTACHMENTS_MAX = 10;
/** Bytes per upload `PATCH`: small enough that a dropped connection loses little. */
export const UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024;
/** Failed upload requests in a row (network errors, 5xx) before an upload gives up. */
export const UPLOAD_MAX_RETRIES = 8;
