//! Every limit and default the SDK applies, in one place, each with the reason for its value.

use std::time::Duration;

/// Upper bound on one REST call, so a wedged server fails a test instead of hanging it.
pub(crate) const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle keep-alive connections are dropped after this, well before the server closes them
/// (`limits.http_header_timeout_ms`, 15 s by default): a request sent on a connection the server
/// is closing at that moment would fail without an answer.
pub(crate) const HTTP_POOL_IDLE: Duration = Duration::from_secs(5);

/// Raw response text kept in an error whose body was not an `ErrorBody`: enough to diagnose,
/// small enough not to flood logs with an HTML error page.
pub(crate) const ERROR_TEXT_MAX_CHARS: usize = 512;

/// Default time a WebSocket command may take, reconnects included, before it fails with
/// `Error::Timeout`.
pub(crate) const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Default time for one connection attempt: TCP + WebSocket handshake + `hello` ack (which
/// includes the server's resume replay).
pub(crate) const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// First reconnect delay: short, because most drops (a node restart behind a balancer, a
/// forced disconnect in a test) are over almost at once.
pub(crate) const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(50);

/// Longest reconnect delay: a client comes back within ~2 s of the server, while a fleet of
/// clients retrying at this pace (with jitter) does not stampede it.
pub(crate) const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Commands queued between the `Session` handle and its socket task. When full, callers wait
/// (backpressure) instead of the queue growing without bound.
pub(crate) const COMMAND_QUEUE: usize = 1024;

/// Commands sent and not yet answered. Past this the task stops taking new commands until
/// answers (or timeouts) free room, so a caller firing sends in a loop cannot grow the
/// re-send set without bound.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// How often the task looks for commands past their deadline; the caller already returned
/// `Timeout` by then, this only frees the entry.
pub(crate) const DEADLINE_SWEEP: Duration = Duration::from_millis(250);

/// Heartbeat floor, whatever `idle_timeout_ms` the server announces, so a misconfigured server
/// cannot make us ping in a busy loop.
pub(crate) const MIN_HEARTBEAT: Duration = Duration::from_millis(100);

/// How long `close()` waits for the server to answer our close frame before dropping the TCP
/// stream anyway.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Default bytes per `PATCH` of an upload: large enough that a request's overhead (a round
/// trip, an fsync on the server) is small against the bytes, small enough that a dropped
/// connection re-sends little and a progress bar moves.
pub(crate) const DEFAULT_UPLOAD_CHUNK: u64 = 8 * 1024 * 1024;

/// Bytes read from an upload source per body frame.
pub(crate) const UPLOAD_FRAME: usize = 64 * 1024;

/// Default failed attempts in a row (transport errors, 5xx, a busy upload) after which an
/// upload or a download gives up. Any progress resets the count.
pub(crate) const DEFAULT_TRANSFER_RETRIES: u32 = 8;

/// Slowest average a `PATCH` may go before it is abandoned and resumed: its deadline is
/// `HTTP_TIMEOUT` plus its size at this rate (8 MiB: 30 s + 128 s).
pub(crate) const MIN_TRANSFER_BYTES_PER_S: u64 = 64 * 1024;

/// Longest wait for the next piece of a download before the connection counts as dropped
/// (and the download resumes with `Range`).
pub(crate) const DOWNLOAD_IDLE: Duration = HTTP_TIMEOUT;

/// A download's own request deadline: the client-wide `HTTP_TIMEOUT` would cut any large
/// download; stalls are caught by `DOWNLOAD_IDLE` instead.
pub(crate) const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
