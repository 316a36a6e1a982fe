//! Where an upload's bytes come from, and how each kind goes back to the offset the server
//! holds after a failed `PATCH`:
//! - [`Seekable`] (a file, a `Cursor`): each chunk's body streams straight from the reader, one
//!   64 KiB frame at a time; a resume seeks. Nothing but a frame is ever in memory.
//! - [`Buffered`] (a pipe, a socket, a decoder): it cannot go back, so each chunk is read into
//!   memory before it is sent and kept until the server confirmed it; a resume re-sends from
//!   that copy. Memory is one chunk (`UploadOptions::chunk_size`).

use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeek, ReadBuf};

use crate::error::{Error, Result};
use crate::limits::UPLOAD_FRAME;

/// A source of upload bytes (private: the two kinds above are chosen by `Upload::send` and
/// `Upload::send_stream`).
pub(crate) trait Source: Send {
    /// The body of a `PATCH` at `offset` (the server's) of at most `max` bytes, and its length.
    fn chunk(
        &mut self,
        offset: u64,
        max: u64,
    ) -> impl Future<Output = Result<(reqwest::Body, u64)>> + Send;

    /// The error the last body met reading the source, if any. A failing source is not a
    /// failing network, so it is not retried.
    fn take_failure(&mut self) -> Option<io::Error>;
}

struct Shared<R> {
    reader: R,
    /// Bumped for every chunk: a body of an abandoned `PATCH` that the HTTP client still polls
    /// must not read bytes meant for the next one.
    generation: u64,
    failure: Option<io::Error>,
}

/// A seekable reader whose position 0 is the upload's first byte.
pub(crate) struct Seekable<R> {
    shared: Arc<Mutex<Shared<R>>>,
}

fn lock<R>(shared: &Mutex<Shared<R>>) -> MutexGuard<'_, Shared<R>> {
    // Held only inside one poll; a panic elsewhere leaves the reader usable.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<R> Seekable<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                reader,
                generation: 0,
                failure: None,
            })),
        }
    }
}

impl<R: AsyncRead + AsyncSeek + Unpin + Send + 'static> Source for Seekable<R> {
    async fn chunk(&mut self, offset: u64, max: u64) -> Result<(reqwest::Body, u64)> {
        let generation = {
            let mut shared = lock(&self.shared);
            shared.generation += 1;
            shared.generation
        };
        // Let an operation an abandoned body left in flight finish (a `tokio::fs::File` refuses
        // to seek while one is), then seek.
        let shared = &self.shared;
        std::future::poll_fn(|cx| Pin::new(&mut lock(shared).reader).poll_complete(cx))
            .await
            .map_err(Error::Source)?;
        Pin::new(&mut lock(shared).reader)
            .start_seek(SeekFrom::Start(offset))
            .map_err(Error::Source)?;
        let position =
            std::future::poll_fn(|cx| Pin::new(&mut lock(shared).reader).poll_complete(cx))
                .await
                .map_err(Error::Source)?;
        if position != offset {
            return Err(Error::Source(io::Error::other(format!(
                "seeking to {offset} landed at {position}"
            ))));
        }
        let body = ChunkBody {
            shared: self.shared.clone(),
            generation,
            remaining: max,
        };
        Ok((reqwest::Body::wrap(body), max))
    }

    fn take_failure(&mut self) -> Option<io::Error> {
        lock(&self.shared).failure.take()
    }
}

/// One `PATCH` body streamed from a [`Seekable`]'s reader.
struct ChunkBody<R> {
    shared: Arc<Mutex<Shared<R>>>,
    generation: u64,
    remaining: u64,
}

impl<R: AsyncRead + Unpin + Send> http_body::Body for ChunkBody<R> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut shared = lock(&this.shared);
        if shared.generation != this.generation {
            return Poll::Ready(Some(Err(io::Error::other("superseded by a newer chunk"))));
        }
        let want = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(UPLOAD_FRAME);
        let mut buf = vec![0; want];
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut shared.reader).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(error)) => {
                shared.failure = Some(io::Error::new(error.kind(), error.to_string()));
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    let message = "the source ended before the upload's size";
                    shared.failure = Some(io::Error::new(io::ErrorKind::UnexpectedEof, message));
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        message,
                    ))));
                }
                buf.truncate(n);
                this.remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A reader that cannot seek, positioned at the upload's first byte.
pub(crate) struct Buffered<R> {
    reader: R,
    /// The upload offset of `held`'s first byte.
    start: u64,
    /// The chunk last read, kept until the server confirmed it.
    held: Bytes,
}

impl<R> Buffered<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            start: 0,
            held: Bytes::new(),
        }
    }
}

impl<R: AsyncRead + Unpin + Send> Source for Buffered<R> {
    async fn chunk(&mut self, offset: u64, max: u64) -> Result<(reqwest::Body, u64)> {
        let end = self.start + self.held.len() as u64;
        if offset < self.start {
            return Err(Error::NotResumable {
                server_offset: offset,
                source_position: self.start,
            });
        }
        if offset >= end {
            // Confirmed up to `end` or further (an upload resumed with a fresh stream of the
            // same bytes): skip what the server has, then read the next chunk.
            let skip = offset - end;
            let skipped =
                tokio::io::copy(&mut (&mut self.reader).take(skip), &mut tokio::io::sink())
                    .await
                    .map_err(Error::Source)?;
            let mut buf = Vec::with_capacity(usize::try_from(max).unwrap_or(0));
            (&mut self.reader)
                .take(max)
                .read_to_end(&mut buf)
                .await
                .map_err(Error::Source)?;
            if skipped < skip || (buf.len() as u64) < max {
                return Err(Error::Source(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the source ended before the upload's size",
                )));
            }
            self.start = offset;
            self.held = Bytes::from(buf);
        }
        let piece = self
            .held
            .slice(usize::try_from(offset - self.start).unwrap_or(0)..);
        let len = piece.len() as u64;
        Ok((reqwest::Body::from(piece), len))
    }

    fn take_failure(&mut self) -> Option<io::Error> {
        None
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn collect(body: reqwest::Body) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    fn data() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn seekable_streams_the_asked_range_and_goes_back() {
        let bytes = data();
        let mut source = Seekable::new(std::io::Cursor::new(bytes.clone()));
        let (body, len) = source.chunk(1000, 150_000).await.unwrap();
        assert_eq!(len, 150_000);
        assert_eq!(collect(body).await, &bytes[1000..151_000]);
        let (body, _) = source.chunk(10, 5).await.unwrap();
        assert_eq!(collect(body).await, &bytes[10..15]);
    }

    #[tokio::test]
    async fn a_stale_body_reads_nothing_after_the_next_chunk_began() {
        let mut source = Seekable::new(std::io::Cursor::new(data()));
        let (stale, _) = source.chunk(0, 100).await.unwrap();
        let (fresh, _) = source.chunk(50, 10).await.unwrap();
        assert!(stale.collect().await.is_err());
        assert_eq!(collect(fresh).await, &data()[50..60]);
    }

    #[tokio::test]
    async fn a_short_source_is_a_source_error() {
        let mut source = Seekable::new(std::io::Cursor::new(vec![1u8; 10]));
        let (body, _) = source.chunk(0, 20).await.unwrap();
        assert!(body.collect().await.is_err());
        let failure = source.take_failure().expect("recorded");
        assert_eq!(failure.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn buffered_resends_its_chunk_and_refuses_to_go_further_back() {
        let bytes = data();
        let mut source = Buffered::new(&bytes[..]);
        let (body, len) = source.chunk(0, 1000).await.unwrap();
        assert_eq!((collect(body).await, len), (bytes[..1000].to_vec(), 1000));
        // The server kept 400 of them: the rest comes from memory.
        let (body, _) = source.chunk(400, 1000).await.unwrap();
        assert_eq!(collect(body).await, &bytes[400..1000]);
        let (body, _) = source.chunk(1000, 1000).await.unwrap();
        assert_eq!(collect(body).await, &bytes[1000..2000]);
        assert!(matches!(
            source.chunk(999, 10).await,
            Err(Error::NotResumable {
                server_offset: 999,
                source_position: 1000
            })
        ));
        // Ahead of what was read: skipped.
        let (body, _) = source.chunk(5000, 10).await.unwrap();
        assert_eq!(collect(body).await, &bytes[5000..5010]);
        assert!(matches!(
            source.chunk(5010, 1_000_000).await,
            Err(Error::Source(_))
        ));
    }
}
