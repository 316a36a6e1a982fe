//! One WebSocket over its TCP stream, without buffers of its own while idle.
//!
//! Reading: wait for readiness, `try_read` into a buffer shared by every connection of the
//! thread, parse every complete frame from it, and copy out only the bytes of a frame not
//! complete yet. What a read leaves (frames not handed out yet, a partial frame) is boxed
//! ([`Unread`]) and freed once handed out: an idle connection's socket keeps one pointer for
//! it, as its task's memory is what every idle connection costs. Pings are answered here.
//!
//! Writing goes through the connection's [`Outlet`], shared with the hub, which writes events
//! to the socket itself (see `gateway/outlet.rs`): frames are shared [`Bytes`] written with
//! vectored writes, and the queue is freed once written.

use std::cell::RefCell;
use std::io;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use std::net::Shutdown;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::frame;
use super::parser::{Incoming, Parser};
use crate::gateway::outlet::Outlet;
use crate::serving::admission::Slot;

/// The read buffer of each thread: one `try_read` takes up to this much.
const READ_BUFFER: usize = 64 * 1024;
/// How long a closing connection waits for the client to close its side after the close frame
/// was written (so the close frame is not lost to a reset).
const CLOSE_LINGER: Duration = Duration::from_secs(1);

thread_local! {
    static READ: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUFFER].into_boxed_slice());
}

pub struct Socket {
    outlet: Arc<Outlet>,
    /// Holds the connection's admission slot for as long as the socket is open.
    _slot: Slot,
    parser: Parser,
    /// What the last read left; `None` between frames.
    unread: Option<Box<Unread>>,
    /// The client closed its side, or reading failed.
    ended: bool,
}

/// What a read left to hand out or to complete.
struct Unread {
    /// Parsed, not handed out yet.
    frames: std::vec::IntoIter<Incoming>,
    /// The start of a frame not complete yet.
    partial: Vec<u8>,
}

impl Socket {
    /// `read_already`: bytes the HTTP layer read past the upgrade request.
    pub fn new(stream: TcpStream, slot: Slot, read_already: &[u8], max_message: usize) -> Self {
        let mut socket = Self {
            outlet: Arc::new(Outlet::new(stream)),
            _slot: slot,
            parser: Parser::new(max_message),
            unread: None,
            ended: false,
        };
        if !read_already.is_empty() {
            socket.parse(read_already);
        }
        socket
    }

    /// The next message, control frame or protocol error; `None` once the connection is gone.
    /// Pings are answered here (the pong is queued with the other frames) and still returned,
    /// as the client was heard from. Frames waiting to be written go out first: nothing more is
    /// read from a client that does not read. Cancel-safe: all its state is in the socket.
    pub async fn recv(&mut self) -> Option<Incoming> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`Self::recv`] as a poll function: waiting on it keeps no future alive, only the
    /// socket's readiness registration (what an idle connection's task waits on).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Incoming>> {
        loop {
            if self.pending() {
                if self.try_flush().is_err() {
                    return Poll::Ready(None);
                }
                if self.pending() {
                    if ready!(self.outlet.stream().poll_write_ready(cx)).is_err() {
                        return Poll::Ready(None);
                    }
                    continue;
                }
            }
            if let Some(incoming) = self.next_parsed() {
                if let Incoming::Ping(payload) = &incoming {
                    self.queue(frame::pong(payload));
                }
                return Poll::Ready(Some(incoming));
            }
            if self.ended || ready!(self.outlet.stream().poll_read_ready(cx)).is_err() {
                return Poll::Ready(None);
            }
            self.read();
        }
    }

    /// Read what the kernel has into the thread's buffer and parse it.
    fn read(&mut self) {
        READ.with_borrow_mut(|buffer| match self.outlet.stream().try_read(buffer) {
            Ok(0) => self.ended = true,
            Ok(n) => self.parse(&buffer[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.ended = true,
        });
    }

    /// The next frame the last read parsed; once they are all handed out, what held them is
    /// freed (all of it unless a frame is incomplete).
    fn next_parsed(&mut self) -> Option<Incoming> {
        let unread = self.unread.as_mut()?;
        let next = unread.frames.next();
        if next.is_none() {
            if unread.partial.is_empty() {
                self.unread = None;
            } else {
                unread.frames = Vec::new().into_iter();
            }
        }
        next
    }

    /// Parse what was read after what the last read left incomplete. Called only once every
    /// parsed frame was handed out.
    fn parse(&mut self, bytes: &[u8]) {
        let mut frames = Vec::new();
        let partial = match self.unread.take() {
            Some(unread) if !unread.partial.is_empty() => {
                let mut partial = unread.partial;
                partial.extend_from_slice(bytes);
                let used = self.parser.feed(&partial, &mut frames);
                partial.drain(..used);
                partial
            }
            _ => {
                let used = self.parser.feed(bytes, &mut frames);
                bytes[used..].to_vec()
            }
        };
        if !frames.is_empty() || !partial.is_empty() {
            self.unread = Some(Box::new(Unread {
                frames: frames.into_iter(),
                partial: if partial.is_empty() {
                    Vec::new()
                } else {
                    partial
                },
            }));
        }
    }

    /// The outgoing side, shared with the hub.
    pub fn outlet(&self) -> &Arc<Outlet> {
        &self.outlet
    }

    /// Add a frame to write (see [`Self::try_flush`], [`Self::flush`]).
    pub fn queue(&self, frame: Bytes) {
        self.outlet.queue(frame);
    }

    /// Whether frames wait to be written.
    pub fn pending(&self) -> bool {
        self.outlet.pending()
    }

    /// Write what the socket takes now, without waiting.
    pub fn try_flush(&self) -> io::Result<()> {
        self.outlet.try_flush()
    }

    /// Write every queued frame, waiting for the socket as needed. Cancel-safe.
    pub async fn flush(&self) -> io::Result<()> {
        self.outlet.flush().await
    }

    /// Queue `frame` and write everything queued.
    pub async fn send(&self, frame: Bytes) -> io::Result<()> {
        self.queue(frame);
        self.flush().await
    }

    /// The closing handshake from the server's side: send a close frame (`None`: one without a
    /// code, the answer to a client's close that had none) after the frames still queued,
    /// waiting up to `write_within` for a client that reads slowly (a slow consumer reads what
    /// was queued, then its 4008), then end the TCP stream's sending side and read (dropping
    /// it) what the client still sends until it closes too, within [`CLOSE_LINGER`]. Closing at
    /// once could reset the connection under data the client had in flight, and a reset can
    /// lose the close frame.
    pub async fn close(self, code: Option<u16>, reason: &str, write_within: Duration) {
        self.queue(frame::close(code, reason));
        if !matches!(
            tokio::time::timeout(write_within, self.flush()).await,
            Ok(Ok(()))
        ) {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_LINGER, async {
            socket2::SockRef::from(self.outlet.stream()).shutdown(Shutdown::Write)?;
            self.drain().await;
            io::Result::Ok(())
        })
        .await;
    }

    async fn drain(&self) {
        let stream = self.outlet.stream();
        while stream.readable().await.is_ok() {
            let read = READ.with_borrow_mut(|buffer| stream.try_read(buffer));
            match read {
                Ok(0) => return,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}
