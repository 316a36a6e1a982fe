//! The SDK's one error type. REST and WebSocket failures share it so that a test can assert on
//! `error.code()` without caring which transport carried the request.

use natter_protocol::ErrorBody;

/// `Result` with the SDK's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a natter server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered a REST call with a non-2xx status. `body` is the server's
    /// [`ErrorBody`]; when the response was not one (an empty 404 from an unknown route, say),
    /// `body.code` is empty and `body.message` holds the start of the raw response.
    #[error("HTTP {status}: {} ({})", body.code, body.message)]
    Api {
        /// The HTTP status (400, 401, 403, 404, 409, 413, 415, 429, 503...).
        status: u16,
        /// The server's error body.
        body: ErrorBody,
    },
    /// The server answered a WebSocket command (or `hello`) with an `error` frame.
    #[error("command rejected: {} ({})", body.code, body.message)]
    Command {
        /// The error frame's code and message.
        body: ErrorBody,
    },
    /// Transport failure of a REST call (connection refused, reset...).
    #[error("HTTP transport: {0}")]
    Http(#[source] reqwest::Error),
    /// Transport failure of the WebSocket (handshake refused, reset...).
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The server sent something the SDK cannot understand (bad JSON, an ack without the
    /// expected payload...).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The server answered a WebSocket command with an `ack` of another kind than the command's
    /// (a `member` for a `send`, say).
    #[error("expected a {expected} ack, got a {got} ack")]
    WrongAck {
        /// The kind the command is answered with ([`Ack::kind`](natter_protocol::Ack::kind)).
        expected: &'static str,
        /// The kind that came.
        got: &'static str,
    },
    /// The WebSocket session is over: the server closed it for good (4001 unauthenticated after
    /// a failed token refresh, 4002 session logged out or expired) or the application closed it.
    #[error("session closed (code {code:?}): {reason}")]
    Closed {
        /// The WebSocket close code (4001, 4002, 1000 for our own close...); `None` when the
        /// connection ended without one.
        code: Option<u16>,
        /// The close frame's reason, or what ended the session.
        reason: String,
    },
    /// No answer within the configured timeout.
    #[error("timed out")]
    Timeout,
    /// Reading the source of an upload failed, or it ended before the declared size. Not
    /// retried: the upload stays resumable from the offset the server holds.
    #[error("upload source: {0}")]
    Source(#[source] std::io::Error),
    /// A non-seekable upload source cannot go back to the offset the server holds (the bytes
    /// after it were already read and are no longer buffered).
    #[error("the source cannot rewind to offset {server_offset}: it is at {source_position}")]
    NotResumable {
        /// The server's `Upload-Offset`.
        server_offset: u64,
        /// The first byte the source still holds.
        source_position: u64,
    },
    /// The upload was cancelled with [`Upload::cancel`](crate::Upload::cancel).
    #[error("upload cancelled")]
    Cancelled,
    /// Writing a download out failed ([`Client::download_to`](crate::Client::download_to)).
    #[error("download destination: {0}")]
    Destination(#[source] std::io::Error),
    /// A downloaded file's bytes do not hash to the `sha256` of its `FileView`: corrupted on
    /// the way or in storage. Discard what was received.
    #[error("downloaded bytes hash to {actual}, the file's SHA-256 is {expected}")]
    HashMismatch {
        /// `FileView.sha256`.
        expected: String,
        /// SHA-256 of the bytes received (lower-case hex).
        actual: String,
    },
    /// The base URL given to [`Client::new`](crate::Client::new) is not `http://` or `https://`.
    #[error("invalid base URL: {0}")]
    InvalidUrl(String),
}

impl Error {
    /// The server's machine-readable error code (`not_found`, `forbidden`, `rate_limited`...)
    /// for REST errors and rejected WebSocket commands; `None` for transport errors.
    pub fn code(&self) -> Option<&str> {
        match self.body() {
            Some(body) if !body.code.is_empty() => Some(&body.code),
            _ => None,
        }
    }

    /// The HTTP status of a REST error; `None` for everything else (WebSocket errors have no
    /// status).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            Self::Http(error) => error.status().map(|status| status.as_u16()),
            _ => None,
        }
    }

    /// The server's error body, for REST errors and rejected WebSocket commands.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Self::Api { body, .. } | Self::Command { body } => Some(body),
            _ => None,
        }
    }

    /// For `rate_limited` errors: how long the server asks us to wait.
    pub fn retry_after_ms(&self) -> Option<u64> {
        self.body().and_then(|body| body.retry_after_ms)
    }

    /// The close code, when this is [`Error::Closed`].
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Self::Closed { code, .. } => *code,
            _ => None,
        }
    }

    /// True for errors that say "this token is not (or no longer) accepted".
    pub fn is_unauthenticated(&self) -> bool {
        self.code() == Some("unauthenticated")
            || self.close_code() == Some(natter_protocol::close_code::UNAUTHENTICATED)
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else {
            Self::Http(error)
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(error: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::WebSocket(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> ErrorBody {
        ErrorBody {
            code: code.into(),
            message: "m".into(),
            retry_after_ms: Some(5),
        }
    }

    #[test]
    fn code_and_status_come_from_the_body() {
        let api = Error::Api {
            status: 404,
            body: body("not_found"),
        };
        assert_eq!(api.code(), Some("not_found"));
        assert_eq!(api.status(), Some(404));
        let ws = Error::Command {
            body: body("forbidden"),
        };
        assert_eq!(ws.code(), Some("forbidden"));
        assert_eq!(ws.status(), None);
        assert_eq!(ws.retry_after_ms(), Some(5));
        assert_eq!(
            Error::Api {
                status: 404,
                body: body("")
            }
            .code(),
            None
        );
        assert_eq!(Error::Timeout.code(), None);
    }

    #[test]
    fn unauthenticated_is_recognised_from_code_or_close() {
        assert!(
            Error::Command {
                body: body("unauthenticated")
            }
            .is_unauthenticated()
        );
        assert!(
            Error::Closed {
                code: Some(4001),
                reason: String::new()
            }
            .is_unauthenticated()
        );
        assert!(
            !Error::Closed {
                code: Some(4002),
                reason: String::new()
            }
            .is_unauthenticated()
        );
    }
}
