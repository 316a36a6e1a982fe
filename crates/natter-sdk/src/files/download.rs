//! Downloads from a file's signed URL as a stream of bytes. A connection that drops (or stalls
//! past `DOWNLOAD_IDLE`) is resumed with `Range: bytes=<received>-` and `If-Range: <ETag>`, so
//! the rest comes only if the bytes are still the same; an expired URL is renewed once through
//! `GET /files/{id}`. At the end the SHA-256 of everything received must be the file's.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use natter_protocol::FileView;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, IF_RANGE, RANGE};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Retries, hex, retryable};
use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::limits::{DOWNLOAD_IDLE, DOWNLOAD_TIMEOUT};
use crate::rest::{Client, error_from};

/// Where and how a download fetches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadOptions {
    /// The origin the file's relative `url` is joined to, e.g. a CDN in front of the servers
    /// (`http://cdn.example:8081`); default: the client's base URL. Absolute URLs are kept.
    pub origin: Option<String>,
    /// Retries after a dropped connection, 5xx or 429.
    pub retries: Retries,
}

/// A file's bytes as they arrive: a `Stream` of `Result<Bytes>`. The last item is an
/// [`Error::HashMismatch`] when the bytes are not the file's (so a consumer that wrote them out
/// must discard them); any other error ends the stream too.
pub struct Download {
    size: u64,
    stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .finish()
    }
}

impl Download {
    /// The file's size: the bytes this stream yields when it succeeds.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Stream for Download {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}

impl Client {
    /// The bytes of `file` from its signed `url` (no token needed for them), with the default
    /// options. Nothing is sent before the stream is polled.
    pub fn download(&self, file: &FileView) -> Download {
        self.download_with(file, DownloadOptions::default())
    }

    /// [`download`](Client::download) with explicit options.
    pub fn download_with(&self, file: &FileView, options: DownloadOptions) -> Download {
        let state = State {
            client: self.clone(),
            url: locate(self, &options, &file.url),
            file_id: file.id,
            etag: format!("\"{}\"", file.sha256),
            expected: file.sha256.to_ascii_lowercase(),
            size: file.size,
            received: 0,
            hasher: Sha256::new(),
            response: None,
            renewed: false,
            failures: 0,
            backoff: Backoff::new(options.retries.initial, options.retries.max_delay),
            options,
            done: false,
        };
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        Download {
            size: file.size,
            stream: stream.boxed(),
        }
    }

    /// Downloads `file` into `writer` and returns the bytes written. On
    /// [`Error::HashMismatch`] the writer already holds the wrong bytes: discard them.
    pub async fn download_to<W>(&self, file: &FileView, writer: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin,
    {
        let mut download = self.download(file);
        let mut written = 0;
        while let Some(piece) = download.next().await {
            let piece = piece?;
            writer.write_all(&piece).await.map_err(Error::Destination)?;
            written += piece.len() as u64;
        }
        writer.flush().await.map_err(Error::Destination)?;
        Ok(written)
    }
}

fn locate(client: &Client, options: &DownloadOptions, url: &str) -> String {
    match &options.origin {
        Some(origin) if url.starts_with('/') => format!("{}{url}", origin.trim_end_matches('/')),
        _ => client.resolve(url),
    }
}

struct State {
    client: Client,
    url: String,
    file_id: uuid::Uuid,
    /// The quoted SHA-256: the download's `ETag`, sent as `If-Range`.
    etag: String,
    expected: String,
    size: u64,
    received: u64,
    hasher: Sha256,
    response: Option<reqwest::Response>,
    /// Whether the URL was renewed already (an expired signature is renewed once).
    renewed: bool,
    failures: u32,
    backoff: Backoff,
    options: DownloadOptions,
    done: bool,
}

impl State {
    async fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.done {
                return None;
            }
            let Some(response) = self.response.as_mut() else {
                if self.received == self.size {
                    self.done = true;
                    return self.verify().err().map(Err);
                }
                match self.request().await {
                    Ok(response) => self.response = Some(response),
                    Err(error) => {
                        if let Err(error) = self.failed(error).await {
                            return Some(Err(error));
                        }
                    }
                }
                continue;
            };
            let outcome = match tokio::time::timeout(DOWNLOAD_IDLE, response.chunk()).await {
                Ok(Ok(Some(piece))) => {
                    let len = piece.len() as u64;
                    if self.received + len > self.size {
                        self.done = true;
                        return Some(Err(Error::Protocol(format!(
                            "the download is longer than the file's {} bytes",
                            self.size
                        ))));
                    }
                    self.hasher.update(&piece);
                    self.received += len;
                    self.failures = 0;
                    self.backoff.reset();
                    return Some(Ok(piece));
                }
                Ok(Ok(None)) if self.received == self.size => {
                    self.response = None;
                    continue;
                }
                Ok(Ok(None)) => Error::Protocol(format!(
                    "the download ended after {} of {} bytes",
                    self.received, self.size
                )),
                Ok(Err(error)) => Error::from(error),
                Err(_) => Error::Timeout,
            };
            self.response = None;
            // A body cut short is a dropped connection: resume.
            let outcome = match outcome {
                Error::Protocol(message) => {
                    tracing::debug!(%message, "download cut short; resuming");
                    Error::Timeout
                }
                other => other,
            };
            if let Err(error) = self.failed(outcome).await {
                return Some(Err(error));
            }
        }
    }

    /// After a failure: wait and go on if it is worth retrying, else end with it.
    async fn failed(&mut self, error: Error) -> Result<()> {
        if !retryable(&error) || self.failures >= self.options.retries.max {
            self.done = true;
            return Err(error);
        }
        self.failures += 1;
        tracing::debug!(%error, received = self.received, "download failed; resuming");
        tokio::time::sleep(self.backoff.next_delay()).await;
        Ok(())
    }

    /// The request for what is still missing: the whole file, or the rest with `Range`.
    async fn request(&mut self) -> Result<reqwest::Response> {
        let mut request = self.client.http().get(&self.url).timeout(DOWNLOAD_TIMEOUT);
        if self.received > 0 {
            request = request
                .header(RANGE, format!("bytes={}-", self.received))
                .header(IF_RANGE, &self.etag);
        }
        let response = request.send().await?;
        match response.status() {
            StatusCode::OK if self.received == 0 => Ok(response),
            StatusCode::PARTIAL_CONTENT if self.received > 0 => {
                let from = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("bytes "))
                    .and_then(|value| value.split('-').next())
                    .and_then(|value| value.parse::<u64>().ok());
                if from == Some(self.received) {
                    Ok(response)
                } else {
                    Err(Error::Protocol(format!(
                        "asked for bytes from {}, got Content-Range {from:?}",
                        self.received
                    )))
                }
            }
            StatusCode::OK => Err(Error::Protocol(
                "the server sent the whole file to a range request: its bytes changed".into(),
            )),
            StatusCode::FORBIDDEN if !self.renewed => {
                // Most likely the signature expired during a long download: a fresh URL.
                self.renewed = true;
                let original = error_from(response).await;
                match self.client.file(self.file_id).await {
                    Ok(view) if view.sha256.eq_ignore_ascii_case(&self.expected) => {
                        self.url = locate(&self.client, &self.options, &view.url);
                        Box::pin(self.request()).await
                    }
                    _ => Err(original),
                }
            }
            _ => Err(error_from(response).await),
        }
    }

    fn verify(&mut self) -> Result<()> {
        let actual = hex(&std::mem::take(&mut self.hasher).finalize());
        if actual == self.expected {
            Ok(())
        } else {
            Err(Error::HashMismatch {
                expected: self.expected.clone(),
                actual,
            })
        }
    }
}
