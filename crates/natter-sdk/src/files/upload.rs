//! The tus 1.0 upload: create, `PATCH` chunk after chunk, and after a dropped connection, a 5xx
//! or a busy upload ask `HEAD` for the offset and go on from there (bounded, with backoff); a
//! 409 `offset_mismatch` re-syncs from its `Upload-Offset`. Progress is the offset the server
//! confirmed, published on a `watch` channel like the session's connection state.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use natter_protocol::{ErrorBody, FileView, UploadView};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use tokio::io::{AsyncRead, AsyncSeek};
use tokio::sync::watch;
use uuid::Uuid;

use super::source::{Buffered, Seekable, Source};
use super::{Retries, TUS_VERSION, retryable};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::limits::{DEFAULT_UPLOAD_CHUNK, HTTP_TIMEOUT, MIN_TRANSFER_BYTES_PER_S};
use crate::rest::{Client, error_from};

/// The content type of a tus chunk.
const CHUNK_TYPE: &str = "application/offset+octet-stream";

/// How an upload sends its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOptions {
    /// Bytes per `PATCH` (8 MiB by default). A dropped connection costs at most the unconfirmed
    /// part of one chunk, and progress moves once per chunk. A non-seekable source holds one
    /// chunk in memory.
    pub chunk_size: u64,
    /// Retries after transport errors, 5xx, 429 and a busy upload.
    pub retries: Retries,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_UPLOAD_CHUNK,
            retries: Retries::default(),
        }
    }
}

/// An upload in progress (`POST /files/uploads` done). Cheap to clone: clones share progress and
/// cancellation, so one task can send while another watches or cancels.
///
/// ```no_run
/// # async fn demo(client: natter_sdk::Client) -> natter_sdk::Result<()> {
/// // A `tokio::fs::File` works the same; anything `AsyncRead + AsyncSeek` does.
/// let file = std::io::Cursor::new(vec![7u8; 20 << 20]);
/// let size = 20 << 20;
/// let upload = client.create_upload(size, Some("holiday.jpg")).await?;
/// let mut progress = upload.progress();
/// tokio::spawn(async move {
///     while progress.changed().await.is_ok() {
///         println!("{} of {size} bytes", *progress.borrow());
///     }
/// });
/// let view = upload.send(file).await?;
/// println!("{} is {}", view.name, view.mime);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Upload {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    view: UploadView,
    /// `view.upload_url`, resolved against the base URL.
    url: String,
    options: UploadOptions,
    progress: watch::Sender<u64>,
    cancelled: watch::Sender<bool>,
}

/// What a `PATCH` got back, when it is not an error.
enum Patched {
    /// 204: the new offset.
    Offset(u64),
    /// 409 `offset_mismatch`: the server's offset.
    Mismatch(u64),
}

impl Client {
    /// `POST /files/uploads`: declares an upload of `size` bytes named `name` (no name: `file`).
    /// Refusals are [`Error::Api`]: 413 `payload_too_large` (over `files.max_bytes`), 413
    /// `quota_exceeded`, 400 `invalid` (a size of 0, a name with a path or control characters).
    pub async fn create_upload(&self, size: u64, name: Option<&str>) -> Result<Upload> {
        self.create_upload_with(size, name, UploadOptions::default())
            .await
    }

    /// [`create_upload`](Client::create_upload) with explicit options.
    pub async fn create_upload_with(
        &self,
        size: u64,
        name: Option<&str>,
        options: UploadOptions,
    ) -> Result<Upload> {
        let metadata = name.map(|name| format!("filename {}", STANDARD.encode(name)));
        let view: UploadView = self
            .call(
                |http, url| {
                    let request = http
                        .post(url)
                        .header("tus-resumable", TUS_VERSION)
                        .header("upload-length", size);
                    match &metadata {
                        Some(metadata) => request.header("upload-metadata", metadata),
                        None => request,
                    }
                },
                "/files/uploads",
            )
            .await?;
        Ok(self.resume_upload(view, options))
    }

    /// A handle on an upload created earlier (by another process, before a restart): its next
    /// `send` starts from the offset the server holds.
    pub fn resume_upload(&self, view: UploadView, options: UploadOptions) -> Upload {
        let url = self.resolve(&view.upload_url);
        Upload {
            inner: Arc::new(Inner {
                client: self.clone(),
                progress: watch::Sender::new(view.offset),
                cancelled: watch::Sender::new(false),
                url,
                view,
                options,
            }),
        }
    }

    /// Uploads `size` bytes from a seekable `reader` (a `tokio::fs::File`, a `Cursor`) with the
    /// default options, and returns the complete file. See [`Upload::send`].
    pub async fn upload<R>(&self, reader: R, size: u64, name: Option<&str>) -> Result<FileView>
    where
        R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
    {
        self.create_upload(size, name).await?.send(reader).await
    }
}

impl Upload {
    /// The upload's id, which is the file's once complete.
    pub fn id(&self) -> Uuid {
        self.inner.view.id
    }

    /// What the server answered at creation.
    pub fn view(&self) -> &UploadView {
        &self.inner.view
    }

    /// Bytes the server has confirmed: only grows, and ends at the size when the upload is
    /// complete. Moves once per chunk (and on a resume, to the offset `HEAD` reports).
    pub fn progress(&self) -> watch::Receiver<u64> {
        self.inner.progress.subscribe()
    }

    /// `HEAD`: the offset the server holds now.
    pub async fn offset(&self) -> Result<u64> {
        let response = self
            .inner
            .client
            .send_authed(|http| {
                http.head(&self.inner.url)
                    .header("tus-resumable", TUS_VERSION)
            })
            .await?;
        if response.status() != StatusCode::OK {
            // A HEAD answer has no body: name the usual statuses so callers can match codes.
            let status = response.status();
            let code = match status {
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::FORBIDDEN => "forbidden",
                StatusCode::UNAUTHORIZED => "unauthenticated",
                StatusCode::CONFLICT => "conflict",
                _ => "",
            };
            return Err(Error::Api {
                status: status.as_u16(),
                body: ErrorBody {
                    code: code.into(),
                    message: format!("HEAD {} answered {status}", self.inner.view.upload_url),
                    retry_after_ms: None,
                },
            });
        }
        upload_offset(response.headers())
    }

    /// Sends the bytes of `reader`, whose position 0 is the file's first byte, from the offset the
    /// server holds to the end, then returns the complete file (`GET /files/{id}`).
    ///
    /// Each chunk's body streams from the reader (only 64 KiB at a time in memory). When a
    /// `PATCH` fails on the way (connection dropped, 5xx, 429, the upload still busy with the
    /// dropped request), it waits (backoff), asks `HEAD` for the offset, seeks there and goes
    /// on, up to [`Retries::max`] failures in a row. An error reading the reader is
    /// [`Error::Source`] and is not retried; a refusal ([`Error::Api`]) is returned as is; a
    /// [`cancel`](Upload::cancel) makes it return [`Error::Cancelled`]. After any other error
    /// the upload stays resumable: call `send` again (this or another handle).
    ///
    /// The file is complete only when the server says so in answer to a `PATCH` that reached
    /// the end: when the end was learnt otherwise (the last chunk's answer was lost), an empty
    /// `PATCH` at the end asks for that answer. So what completing the file cost is the error
    /// returned, even when the answer carrying it was lost: 422 `invalid_media` or
    /// `media_too_large` (a picture the server refused; the upload is gone, and the server
    /// remembers the refusal for an hour), 503 `unavailable` (the object store is down after
    /// the retries; the bytes are kept, `send` again later); never a 404 of a later request.
    pub async fn send<R>(&self, reader: R) -> Result<FileView>
    where
        R: AsyncRead + AsyncSeek + Unpin + Send + 'static,
    {
        self.run(&mut Seekable::new(reader)).await
    }

    /// [`send`](Upload::send) for a reader that cannot seek (a pipe, a socket, a decoder),
    /// positioned at the file's first byte. Each chunk is read into memory before it is sent and
    /// kept until the server confirms it, so a resume re-sends from that copy: memory is one
    /// chunk. If the server holds less than the start of the chunk in memory (its staged bytes
    /// were lost), the upload cannot go on from this reader: [`Error::NotResumable`]. If it holds
    /// more (an upload resumed with a fresh reader), the bytes it has are read and skipped.
    pub async fn send_stream<R>(&self, reader: R) -> Result<FileView>
    where
        R: AsyncRead + Unpin + Send,
    {
        self.run(&mut Buffered::new(reader)).await
    }

    /// Cancels the upload: a `send` in progress returns [`Error::Cancelled`] at once, and
    /// `DELETE` removes the upload and its bytes (retried while the server still holds the
    /// abandoned `PATCH`, which it answers with 409 `conflict`). A complete upload cannot be
    /// cancelled (409 `conflict`).
    pub async fn cancel(&self) -> Result<()> {
        self.inner.cancelled.send_replace(true);
        let retries = self.inner.options.retries;
        let mut backoff = Backoff::new(retries.initial, retries.max_delay);
        let mut failures = 0;
        loop {
            let outcome = match self
                .inner
                .client
                .send_authed(|http| {
                    http.delete(&self.inner.url)
                        .header("tus-resumable", TUS_VERSION)
                })
                .await
            {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => error_from(response).await,
                Err(error) => error,
            };
            let busy = outcome.status() == Some(409)
                && matches!(self.offset().await, Ok(offset) if offset < self.inner.view.size);
            let transient = retryable(&outcome) && outcome.status() != Some(409);
            if !(busy || transient) || failures >= retries.max {
                return Err(outcome);
            }
            failures += 1;
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn run(&self, source: &mut impl Source) -> Result<FileView> {
        let size = self.inner.view.size;
        let retries = self.inner.options.retries;
        let chunk = self.inner.options.chunk_size.max(1);
        let mut backoff = Backoff::new(retries.initial, retries.max_delay);
        let mut cancelled = self.inner.cancelled.subscribe();
        let mut offset = *self.inner.progress.borrow();
        let mut failures = 0;
        // Only the server's answer to the `PATCH` that reached the end says the file is
        // complete: an offset at the end learnt otherwise (`HEAD`, a 409, another handle) may
        // be an upload the server has yet to finish, or has refused. Then an empty `PATCH` at
        // the end makes it finish now and answer how that went (204, a 422 refusal, a 503).
        let mut complete = false;
        while !complete {
            if *cancelled.borrow_and_update() {
                return Err(Error::Cancelled);
            }
            let attempt = async {
                let (body, len) = if offset < size {
                    source.chunk(offset, (size - offset).min(chunk)).await?
                } else {
                    (reqwest::Body::from(Vec::new()), 0)
                };
                self.patch(offset, body, len).await
            };
            let outcome = tokio::select! {
                outcome = attempt => outcome,
                _ = cancelled.wait_for(|cancelled| *cancelled) => return Err(Error::Cancelled),
            };
            match outcome {
                Ok(Patched::Offset(confirmed)) => {
                    offset = confirmed;
                    complete = confirmed == size;
                    failures = 0;
                    backoff.reset();
                }
                // A complete file answers every PATCH with its size; at the end, that is done.
                Ok(Patched::Mismatch(held)) if held == size && offset == size => complete = true,
                Ok(Patched::Mismatch(held)) if failures < retries.max => {
                    tracing::debug!(offset, held, "upload offset re-synced");
                    offset = held;
                    failures += 1;
                }
                Ok(Patched::Mismatch(held)) => {
                    return Err(Error::Protocol(format!(
                        "the upload's offset keeps moving (the server holds {held})"
                    )));
                }
                Err(error) => {
                    if let Some(failure) = source.take_failure() {
                        return Err(Error::Source(failure));
                    }
                    if !retryable(&error) || failures >= retries.max {
                        return Err(error);
                    }
                    failures += 1;
                    tracing::debug!(%error, offset, failures, "upload chunk failed; resuming");
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                        _ = cancelled.wait_for(|cancelled| *cancelled) => return Err(Error::Cancelled),
                    }
                    match self.offset().await {
                        Ok(held) => offset = held,
                        // The next PATCH learns the offset (409) or fails and counts again.
                        Err(error) if retryable(&error) => {}
                        // The HEAD completed the upload and the server refused the content (a
                        // HEAD answer has no body): the empty PATCH at the end gets the
                        // refusal with its code, which the server remembers for a while.
                        Err(error) if error.status() == Some(422) => offset = size,
                        Err(error) => return Err(error),
                    }
                }
            }
            self.inner.progress.send_if_modified(|shown| {
                let moved = offset > *shown;
                *shown = (*shown).max(offset);
                moved
            });
        }
        self.complete_view().await
    }

    /// One `PATCH` of `len` bytes at `offset`. A 401 refreshes the token before it is returned
    /// (as a retryable error), since the body cannot be sent twice.
    async fn patch(&self, offset: u64, body: reqwest::Body, len: u64) -> Result<Patched> {
        let client = &self.inner.client;
        let token = client.access_token();
        let deadline = HTTP_TIMEOUT + Duration::from_secs(len / MIN_TRANSFER_BYTES_PER_S);
        let mut request = client
            .http()
            .patch(&self.inner.url)
            .header("tus-resumable", TUS_VERSION)
            .header(CONTENT_TYPE, CHUNK_TYPE)
            .header(CONTENT_LENGTH, len)
            .header("upload-offset", offset)
            .timeout(deadline)
            .body(body);
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => {
                Ok(Patched::Offset(upload_offset(response.headers())?))
            }
            StatusCode::CONFLICT if response.headers().contains_key("upload-offset") => {
                let held = upload_offset(response.headers())?;
                match error_from(response).await {
                    error if error.code() == Some("offset_mismatch") => Ok(Patched::Mismatch(held)),
                    error => Err(error),
                }
            }
            StatusCode::UNAUTHORIZED => {
                let error = error_from(response).await;
                if error.is_unauthenticated() && client.refresh_token().is_some() {
                    client.refresh_if_stale(token.as_deref()).await?;
                }
                Err(error)
            }
            _ => Err(error_from(response).await),
        }
    }

    /// `GET /files/{id}` once the server said the upload is complete, retried like a chunk.
    async fn complete_view(&self) -> Result<FileView> {
        let retries = self.inner.options.retries;
        let mut backoff = Backoff::new(retries.initial, retries.max_delay);
        let mut failures = 0;
        loop {
            match self.inner.client.file(self.id()).await {
                Err(error) if retryable(&error) && failures < retries.max => {
                    failures += 1;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                outcome => return outcome,
            }
        }
    }
}

fn upload_offset(headers: &HeaderMap) -> Result<u64> {
    headers
        .get("upload-offset")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| Error::Protocol("no Upload-Offset in the answer".into()))
}
