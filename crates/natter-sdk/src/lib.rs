//! The Rust client for natter, used by the integration tests, the benchmark tool and bots.
//!
//! Two halves:
//! - [`Client`]: one typed async method per REST route (`/api/v1/...`), holding the session's
//!   tokens and refreshing them once on a 401. Cheap to clone.
//! - [`Session`]: a WebSocket session from [`Client::connect`]. A background task owns the
//!   socket, authenticates with `hello`, keeps it alive with pings, and when the connection
//!   drops reconnects with backoff and resumes from its cursors, so the application sees every
//!   message change exactly once and in order, and a command in flight during a drop is simply
//!   re-sent (sends are idempotent on `client_msg_id`).
//!
//! Files (docs/media.md has the routes): [`Client::create_upload`] starts a tus 1.0 upload
//! and [`Upload::send`] streams it from any `AsyncRead + AsyncSeek` in chunks (8 MiB by default, [`UploadOptions`]), only 64 KiB
//! of it in memory at a time. [`Upload::progress`] is a `watch` of the bytes the server confirmed;
//! [`Upload::cancel`] stops it and deletes the upload. When a chunk fails (dropped connection,
//! 5xx, 429, the upload still busy) the upload asks `HEAD` for the offset, seeks there and goes
//! on, with backoff, up to [`Retries::max`] failures in a row; a 409 `offset_mismatch` re-syncs
//! from its `Upload-Offset`. A reader that cannot seek goes through [`Upload::send_stream`],
//! which holds one chunk in memory to re-send it. [`Client::download`] streams a file's bytes from
//! its signed URL, resumes a dropped download with `Range` and `If-Range`, and ends with
//! [`Error::HashMismatch`] if the bytes do not hash to the file's SHA-256. Refusals are
//! [`Error::Api`] with the server's code (`payload_too_large`, `quota_exceeded`, `not_found`,
//! `forbidden`, and from the upload's completion `invalid_media`, `media_too_large` or
//! `unavailable`...).
//!
//! ```no_run
//! # async fn upload(client: natter_sdk::Client) -> natter_sdk::Result<()> {
//! let bytes = vec![0u8; 30 << 20];
//! let file = client.upload(std::io::Cursor::new(bytes), 30 << 20, Some("video.mp4")).await?;
//! let mut out = Vec::new();
//! client.download_to(&file, &mut out).await?; // SHA-256 checked
//! # Ok(()) }
//! ```
//!
//! Wire types are those of [`natter_protocol`], re-exported as [`protocol`].
//!
//! ```no_run
//! use natter_sdk::{Client, protocol::ServerFrame};
//!
//! # async fn demo() -> natter_sdk::Result<()> {
//! let alice = Client::new("http://127.0.0.1:8080")?;
//! alice.register("alice", "correct horse battery").await?;
//! let bob = alice.anonymous();
//! let bob_user = bob.register("bob", "staple battery horse").await?.user;
//!
//! let chat = alice.create_direct(bob_user.id).await?.conversation;
//! let bob_session = bob.connect().await?;
//! let alice_session = alice.connect().await?;
//! let sent = alice_session.send(chat.id, natter_sdk::new_client_msg_id(), "hi bob").await?;
//! assert_eq!(sent.seq, 1);
//!
//! while let Some(event) = bob_session.next_event().await {
//!     if let ServerFrame::MessageNew { message } = event {
//!         println!("bob got {:?}", message.text);
//!         break;
//!     }
//! }
//! alice_session.close().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod acks;
mod backoff;
mod driver;
mod error;
mod files;
mod limits;
mod rest;
mod resume;
mod routes;
mod session;
mod socket;
mod urls;

pub use acks::Sent;
pub use error::{Error, Result};
pub use files::{Download, DownloadOptions, Retries, Upload, UploadOptions};
pub use natter_protocol as protocol;
pub use reqwest::Method;
pub use rest::{Client, RawBody, RawResponse};
pub use session::{ConnectionState, Session, SessionConfig};
pub use urls::encode_path_segment;

/// A fresh idempotency key for a send: a UUIDv7 string (time-ordered, so server-side indexes on
/// it stay append-friendly).
pub fn new_client_msg_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    /// Handles are shared across tasks (`Arc<Session>`, cloned `Client`s).
    #[test]
    fn handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Client>();
        assert_send_sync::<crate::Session>();
        assert_send_sync::<crate::Error>();
    }
}
