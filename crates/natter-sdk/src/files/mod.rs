//! Files: tus 1.0 uploads that stream from any `AsyncRead` and resume after a dropped
//! connection (`upload.rs`, with the sources in `source.rs`), and downloads from a file's signed
//! URL that resume with `Range` and check the SHA-256 at the end (`download.rs`). The routes and
//! every refusal are in docs/media.md; this module only adds what a client must do around them:
//! chunking, retries with backoff, and checking what arrived.

mod download;
mod source;
mod upload;

use std::time::Duration;

use natter_protocol::FileView;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::limits::{DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_TRANSFER_RETRIES};
use crate::rest::Client;

pub use download::{Download, DownloadOptions};
pub use upload::{Upload, UploadOptions};

/// Sent on every tus request (natter does not require it; other tus servers do).
const TUS_VERSION: &str = "1.0.0";

impl Client {
    /// `GET /files/{file_id}`: a complete file's metadata and a fresh signed download URL.
    pub async fn file(&self, file_id: Uuid) -> Result<FileView> {
        self.call(|http, url| http.get(url), &format!("/files/{file_id}"))
            .await
    }
}

/// How a transfer retries: failed attempts in a row before it gives up, and the delays between
/// them (the same jittered exponential backoff as the WebSocket reconnects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Failed attempts in a row (transport errors, 5xx, 429, a busy upload) before the error is
    /// returned; any progress resets the count. 0: no retry.
    pub max: u32,
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            max: DEFAULT_TRANSFER_RETRIES,
            initial: DEFAULT_BACKOFF_INITIAL,
            max_delay: DEFAULT_BACKOFF_MAX,
        }
    }
}

/// Whether trying again may succeed: the connection failed or timed out, the server is
/// overloaded or failing (429, 5xx), the upload is busy with a request the server has not
/// yet seen end (409 `conflict`), or the access token expired (refreshed before the retry).
fn retryable(error: &Error) -> bool {
    match error {
        Error::Http(_) | Error::Timeout => true,
        Error::Api { status, body } => {
            *status >= 500
                || *status == 429
                || (*status == 409 && body.code == "conflict")
                || (*status == 401 && body.code == "unauthenticated")
        }
        _ => false,
    }
}

/// Lower-case hex, as `FileView.sha256` is written.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use natter_protocol::ErrorBody;

    use super::*;

    fn api(status: u16, code: &str) -> Error {
        Error::Api {
            status,
            body: ErrorBody {
                code: code.into(),
                message: String::new(),
                retry_after_ms: None,
            },
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        for transient in [
            api(500, "internal"),
            api(503, "unavailable"),
            api(429, "rate_limited"),
            api(409, "conflict"),
            api(401, "unauthenticated"),
            Error::Timeout,
        ] {
            assert!(retryable(&transient), "{transient}");
        }
        for final_answer in [
            api(404, "not_found"),
            api(403, "forbidden"),
            api(413, "payload_too_large"),
            api(413, "quota_exceeded"),
            api(409, "offset_mismatch"),
            api(400, "invalid"),
            Error::Cancelled,
        ] {
            assert!(!retryable(&final_answer), "{final_answer}");
        }
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
