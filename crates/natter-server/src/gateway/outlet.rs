//! A connection's outgoing side, shared by the hub and the connection's own task.
//!
//! The hub writes events straight to the socket. While it handles a batch of events it queues
//! each event's frame (the same shared bytes for every recipient) to each recipient's outlet,
//! then writes every outlet it touched once, all of that batch's frames in one vectored write
//! (uWebSockets calls this corking). A delivery costs no task wake-up and no channel: the
//! connection's task is woken only when the socket does not take everything (it then waits
//! until the socket is writable and writes the rest), when a write failed, or to close the
//! connection.
//!
//! Until the connection is live (its catch-up replayed and its hello acknowledged) the hub's
//! frames are held, not written, so that live events come after the replay; going live queues
//! the held frames the client does not have yet. From then on the hub drops a message event the
//! client already has (`seen_up_to`, from its cursors and the replay). The connection's own
//! frames (acks, errors, pongs, the replay, the close) go through the same queue, in order with
//! the events.
//!
//! A run of one conversation's events goes to every live outlet that lacks none of them as one
//! buffer ([`Batch`]): the frames joined once, then one reference count and one slice per outlet
//! instead of one per frame (a room of 1,000 at saturation hands each outlet runs of tens of
//! frames).
//!
//! A client that does not read: once `capacity` frames wait, the hub closes the connection as a
//! slow consumer (4008); it resumes without loss.
//!
//! The outlet also holds the connection's two deadlines, so that an idle connection needs no
//! timer of its own: when the client was last heard from and when its session is due for a
//! check. The hub's sweep looks at every outlet a few times per idle timeout (`Hub::sweep`).

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use natter_domain::ConversationId;
use tokio::net::TcpStream;

use super::hub::Frame;

/// Frames written per system call at most.
const SLICES_PER_WRITE: usize = 64;

pub struct Outlet {
    stream: TcpStream,
    state: Mutex<Outgoing>,
    /// When the client was last heard from ([`now_ms`]).
    heard_at_ms: AtomicU64,
    /// When the session must be looked at again ([`now_ms`]; `u64::MAX`: not due).
    session_due_ms: AtomicU64,
}

/// Milliseconds on the gateway's monotonic clock.
pub fn now_ms() -> u64 {
    static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Bytes waiting to be written: one frame, or a run of them joined ([`Batch`]).
struct Pending {
    bytes: Bytes,
    frames: u32,
}

#[derive(Default)]
struct Outgoing {
    /// What waits to be written, in order (a partly written entry holds what is left of it);
    /// unallocated when empty.
    queue: VecDeque<Pending>,
    /// Frames in `queue` (what `capacity` bounds).
    waiting: u32,
    /// The hub's frames, held until the connection is live; `None` once it is.
    #[expect(clippy::box_collection, reason = "8 bytes in every outlet, not 24")]
    held: Option<Box<Vec<Arc<Frame>>>>,
    /// Per conversation, the highest `mod_seq` the client has (its cursors and the replay); see
    /// [`fresh`]. `None` when empty, as it is for most connections once live.
    #[expect(clippy::box_collection, reason = "8 bytes in every outlet, not 48")]
    seen_up_to: Option<Box<HashMap<ConversationId, i64>>>,
    /// Which of the hub's lists of outlets to write it is on, if any.
    dirty: Option<Lane>,
    /// The hub wants the connection closed with this code.
    kill: Option<u16>,
    /// The session is due for a check (the hub's sweep found it so).
    check_session: bool,
    /// A write failed: the connection is gone.
    broken: bool,
    /// The hub woke the connection's task (see the module docs for when) and the task has not
    /// looked yet.
    woken: bool,
    /// The connection's task, when it waits ([`Outlet::poll_woken`]).
    waiter: Option<Waker>,
}

/// The hub's two lists of outlets to write: those of urgent events (small audiences) are
/// written first (`hub.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Bulk,
    Urgent,
}

/// Frames the hub offers outlets together: one conversation's run, in order. The first live
/// outlet that takes them all joins their bytes into one buffer, shared by every outlet after.
pub struct Batch<'a> {
    frames: &'a [Arc<Frame>],
    joined: std::cell::OnceCell<Bytes>,
}

impl<'a> Batch<'a> {
    pub fn new(frames: &'a [Arc<Frame>]) -> Self {
        Self {
            frames,
            joined: std::cell::OnceCell::new(),
        }
    }

    /// The frames as one buffer: the single frame's own bytes, or all of them copied together.
    fn joined(&self) -> Bytes {
        self.joined
            .get_or_init(|| match self.frames {
                [one] => one.wire.clone(),
                frames => {
                    let length = frames.iter().map(|frame| frame.wire.len()).sum();
                    let mut joined = BytesMut::with_capacity(length);
                    for frame in frames {
                        joined.extend_from_slice(&frame.wire);
                    }
                    joined.freeze()
                }
            })
            .clone()
    }
}

/// What became of the frames the hub offered an outlet.
pub enum Offer {
    /// `frames` queued; `add_to` names the list the hub must add the outlet to (`None`: it is
    /// on it already, or the frames are held until the connection is live).
    Queued { frames: usize, add_to: Option<Lane> },
    /// The client has them already.
    Skipped,
    /// `capacity` frames already wait: a slow consumer.
    Full,
    /// A write failed earlier: the connection is gone.
    Broken,
}

impl Outlet {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            state: Mutex::new(Outgoing {
                held: Some(Box::default()),
                ..Outgoing::default()
            }),
            heard_at_ms: AtomicU64::new(now_ms()),
            session_due_ms: AtomicU64::new(u64::MAX),
        }
    }

    /// The stream, for the connection's reads.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn state(&self) -> MutexGuard<'_, Outgoing> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // The hub's side.

    /// Queue a batch's frames, but not those the client has, and none once `capacity` frames
    /// wait; the outlet is to be written in `lane` (an urgent frame moves a bulk outlet up). One
    /// lock for the whole batch, and one entry when the client lacks all of it.
    pub fn offer(&self, batch: &Batch<'_>, capacity: usize, lane: Lane) -> Offer {
        let frames = batch.frames;
        let mut state = self.state();
        let state = &mut *state;
        if state.broken {
            return Offer::Broken;
        }
        if frames.is_empty() {
            // A run whose events were all duplicates: nothing to queue, not even an empty entry
            // (a write of nothing reads as a socket that takes nothing).
            return Offer::Skipped;
        }
        if let Some(held) = &mut state.held {
            if held.len() + frames.len() > capacity {
                return Offer::Full;
            }
            held.extend(frames.iter().cloned());
            return Offer::Queued {
                frames: frames.len(),
                add_to: None,
            };
        }
        let queued = if state.seen_up_to.is_none() {
            if state.waiting as usize + frames.len() > capacity {
                return Offer::Full;
            }
            state.push(batch.joined(), frames.len());
            frames.len()
        } else {
            let mut queued = 0;
            for frame in frames {
                if !fresh(&mut state.seen_up_to, frame) {
                    continue;
                }
                if state.waiting as usize >= capacity {
                    return Offer::Full;
                }
                state.push(frame.wire.clone(), 1);
                queued += 1;
            }
            queued
        };
        if queued == 0 {
            return Offer::Skipped;
        }
        let add_to = match (state.dirty, lane) {
            (None, lane) | (Some(Lane::Bulk), lane @ Lane::Urgent) => Some(lane),
            (Some(_), _) => None,
        };
        if add_to.is_some() {
            state.dirty = add_to;
        }
        Offer::Queued {
            frames: queued,
            add_to,
        }
    }

    /// The hub's turn to write this outlet: write what the socket takes now. What it does not
    /// take, the connection's task writes once the socket is writable.
    pub fn write_batch(&self) {
        let mut state = self.state();
        state.dirty = None;
        if state.write_now(&self.stream).is_err() {
            state.broken = true;
        }
        if state.broken || !state.queue.is_empty() {
            wake(state);
        }
    }

    /// Ask the connection to close with `code` (the first code asked for wins).
    pub fn kill(&self, code: u16) {
        let mut state = self.state();
        state.kill.get_or_insert(code);
        wake(state);
    }

    /// When the client was last heard from ([`now_ms`]).
    pub fn heard_at_ms(&self) -> u64 {
        self.heard_at_ms.load(Ordering::Relaxed)
    }

    /// If the session is due for a check at `now_ms`, ask the connection to check it (once).
    pub fn check_session_if_due(&self, now_ms: u64) {
        if self.session_due_ms.load(Ordering::Relaxed) <= now_ms {
            self.session_due_ms.store(u64::MAX, Ordering::Relaxed);
            let mut state = self.state();
            state.check_session = true;
            wake(state);
        }
    }

    // The connection's side.

    /// The code the hub asked the connection to close with.
    pub fn killed(&self) -> Option<u16> {
        self.state().kill
    }

    /// The client was heard from.
    pub fn heard(&self) {
        self.heard_at_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// The client was heard from at `at_ms` (tests move the clock this way).
    #[cfg(test)]
    pub fn heard_at(&self, at_ms: u64) {
        self.heard_at_ms.store(at_ms, Ordering::Relaxed);
    }

    /// The session must be looked at again after `left` (never for `None`).
    pub fn session_left(&self, left: Option<Duration>) {
        let due = left.map_or(u64::MAX, |left| {
            now_ms().saturating_add(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
        });
        self.session_due_ms.store(due, Ordering::Relaxed);
    }

    /// Whether the hub's sweep found the session due for a check (then cleared).
    pub fn take_session_check(&self) -> bool {
        std::mem::take(&mut self.state().check_session)
    }

    /// Ready once the hub woke the connection (see the module docs); a wake-up while the task
    /// was not waiting is kept for its next call. A poll function rather than a future, so that
    /// the wait of an idle connection costs its task no state (`connection::pump`).
    pub fn poll_woken(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state();
        if std::mem::take(&mut state.woken) {
            return Poll::Ready(());
        }
        match &mut state.waiter {
            Some(waiter) if waiter.will_wake(cx.waker()) => {}
            waiter => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The catch-up is done and the hello acknowledged: queue the held frames the client does
    /// not have (`seen_up_to`), and let the hub write from now on.
    pub fn go_live(&self, seen_up_to: HashMap<ConversationId, i64>) {
        let mut state = self.state();
        let state = &mut *state;
        state.seen_up_to = (!seen_up_to.is_empty()).then(|| Box::new(seen_up_to));
        for frame in state.held.take().map(|held| *held).unwrap_or_default() {
            if fresh(&mut state.seen_up_to, &frame) {
                state.push(frame.wire.clone(), 1);
            }
        }
    }

    /// Add a frame to write (see [`Self::try_flush`], [`Self::flush`]).
    pub fn queue(&self, frame: Bytes) {
        self.state().push(frame, 1);
    }

    /// Whether frames wait to be written.
    pub fn pending(&self) -> bool {
        !self.state().queue.is_empty()
    }

    /// Write what the socket takes now, without waiting.
    pub fn try_flush(&self) -> io::Result<()> {
        let mut state = self.state();
        let written = state.write_now(&self.stream);
        if written.is_err() {
            state.broken = true;
        }
        written
    }

    /// Write every queued frame, waiting for the socket as needed. Cancel-safe.
    pub async fn flush(&self) -> io::Result<()> {
        loop {
            self.try_flush()?;
            if !self.pending() {
                return Ok(());
            }
            self.stream.writable().await?;
        }
    }
}

/// Wake the connection's task, outside the lock.
fn wake(mut state: MutexGuard<'_, Outgoing>) {
    state.woken = true;
    let waiter = state.waiter.take();
    drop(state);
    if let Some(waiter) = waiter {
        waiter.wake();
    }
}

impl Outgoing {
    /// Queue `bytes`, which hold `frames` frames.
    fn push(&mut self, bytes: Bytes, frames: usize) {
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        self.waiting = self.waiting.saturating_add(frames);
        self.queue.push_back(Pending { bytes, frames });
    }

    /// Write what is queued until the socket takes no more; the queue is freed once empty.
    fn write_now(&mut self, stream: &TcpStream) -> io::Result<()> {
        if self.broken {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        while !self.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
            let mut count = 0;
            for (slot, pending) in slices.iter_mut().zip(&self.queue) {
                *slot = IoSlice::new(&pending.bytes);
                count += 1;
            }
            let mut wrote = match stream.try_write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) => return Err(err),
            };
            while let Some(first) = self.queue.front_mut() {
                let left = first.bytes.len();
                if wrote < left {
                    first.bytes.advance(wrote);
                    break;
                }
                wrote -= left;
                self.waiting -= first.frames;
                self.queue.pop_front();
            }
        }
        self.queue = VecDeque::new();
        Ok(())
    }
}

/// Whether the client does not have `frame` yet (catch-up may have sent it already). The first
/// newer event of a conversation ends its entry: the hub hands each conversation's events over
/// in order and drops those it handled before, so every later one is newer still. A client
/// back with cursors for hundreds of conversations holds the map only until they move.
#[expect(clippy::box_collection, reason = "the outlet's field")]
fn fresh(seen_up_to: &mut Option<Box<HashMap<ConversationId, i64>>>, frame: &Frame) -> bool {
    let (Some(seen), Some((conversation, mod_seq))) = (seen_up_to.as_mut(), frame.position) else {
        return true;
    };
    match seen.get(&conversation) {
        None => true,
        Some(&has) if mod_seq <= has => false,
        Some(_) => {
            seen.remove(&conversation);
            if seen.is_empty() {
                *seen_up_to = None;
            }
            true
        }
    }
}

/// The client's end of an outlet's connection, for tests: reads the frames the server wrote.
#[cfg(test)]
pub mod peer {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::Outlet;

    pub struct Peer {
        pub outlet: Arc<Outlet>,
        client: TcpStream,
        bytes: Vec<u8>,
    }

    impl Peer {
        /// A loopback connection: the server's end in an outlet, the client's end here.
        pub async fn connect() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let address = listener.local_addr().expect("address");
            let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
            let (server, _) = accepted.expect("accept");
            Self {
                outlet: Arc::new(Outlet::new(server)),
                client: client.expect("connect"),
                bytes: Vec::new(),
            }
        }

        /// The payloads of the frames received until nothing more comes for 50 ms.
        pub async fn received(&mut self) -> Vec<String> {
            let mut chunk = [0u8; 16 * 1024];
            while let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(50), self.client.read(&mut chunk)).await
            {
                if n == 0 {
                    break;
                }
                self.bytes.extend_from_slice(&chunk[..n]);
            }
            let mut texts = Vec::new();
            while let Some((header, len)) = frame_length(&self.bytes) {
                if self.bytes.len() < header + len {
                    break;
                }
                let frame: Vec<u8> = self.bytes.drain(..header + len).collect();
                texts.push(String::from_utf8_lossy(&frame[header..]).into_owned());
            }
            texts
        }
    }

    /// The header size and payload length of the unmasked frame `bytes` starts with.
    fn frame_length(bytes: &[u8]) -> Option<(usize, usize)> {
        match *bytes.get(1)? & 0x7F {
            126 => Some((
                4,
                u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize,
            )),
            127 => Some((
                10,
                u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize,
            )),
            len => Some((2, len as usize)),
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_domain::ConversationId;

    use super::peer::Peer;
    use super::*;
    use crate::gateway::ws::frame;

    /// Every connection keeps its outlet (in an `Arc`: two counts of 8 bytes before it). The
    /// allocator's blocks go 128, 160, 192 bytes: at 160 or under, an outlet takes the 160-byte
    /// block (its frames held before the connection is live are boxed to stay there).
    #[test]
    fn an_outlet_fits_a_160_byte_block() {
        let size = size_of::<Outlet>() + 16;
        assert!(size <= 160, "an outlet in its Arc takes {size} bytes");
    }

    fn event(conversation: ConversationId, mod_seq: i64) -> Arc<Frame> {
        Arc::new(Frame {
            position: Some((conversation, mod_seq)),
            wire: frame::text(format!("{mod_seq}").as_bytes()),
        })
    }

    #[tokio::test]
    async fn frames_are_held_until_live_then_only_those_the_client_lacks_are_written() {
        let mut peer = Peer::connect().await;
        let conversation = ConversationId::new();
        for mod_seq in 1..=4 {
            assert!(matches!(
                peer.outlet
                    .offer(&Batch::new(&[event(conversation, mod_seq)]), 16, Lane::Bulk),
                Offer::Queued { add_to: None, .. }
            ));
        }
        peer.outlet.write_batch();
        assert!(peer.received().await.is_empty(), "nothing before go_live");

        // The replay gave the client the first conversation up to 2, the other up to 5.
        let other = ConversationId::new();
        peer.outlet.queue(frame::text(b"ack"));
        peer.outlet
            .go_live(HashMap::from([(conversation, 2), (other, 5)]));
        peer.outlet.try_flush().expect("write");
        assert_eq!(peer.received().await, ["ack", "3", "4"]);

        assert!(matches!(
            peer.outlet
                .offer(&Batch::new(&[event(other, 5)]), 16, Lane::Bulk),
            Offer::Skipped
        ));
        assert!(matches!(
            peer.outlet
                .offer(&Batch::new(&[event(other, 6)]), 16, Lane::Bulk),
            Offer::Queued {
                add_to: Some(Lane::Bulk),
                ..
            }
        ));
        assert!(matches!(
            peer.outlet
                .offer(&Batch::new(&[event(conversation, 5)]), 16, Lane::Bulk),
            Offer::Queued { add_to: None, .. }
        ));
        assert!(
            peer.outlet.state().seen_up_to.is_none(),
            "each conversation's first newer event ended its entry"
        );
        assert!(
            peer.received().await.is_empty(),
            "queued until the batch ends"
        );
        peer.outlet.write_batch();
        assert_eq!(peer.received().await, ["6", "5"]);
    }

    #[tokio::test]
    async fn a_run_is_queued_at_once_but_for_what_the_client_has() {
        let mut peer = Peer::connect().await;
        let conversation = ConversationId::new();
        let run: Vec<Arc<Frame>> = (1..=4).map(|m| event(conversation, m)).collect();
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&run[..2]), 16, Lane::Bulk),
            Offer::Queued {
                frames: 2,
                add_to: None
            }
        ));
        peer.outlet.go_live(HashMap::from([(conversation, 2)]));
        peer.outlet.try_flush().expect("write");
        assert_eq!(peer.received().await, Vec::<String>::new(), "it had both");
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&run), 16, Lane::Bulk),
            Offer::Queued {
                frames: 2,
                add_to: Some(Lane::Bulk)
            }
        ));
        peer.outlet.write_batch();
        assert_eq!(peer.received().await, ["3", "4"]);
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&run[..1]), 1, Lane::Bulk),
            Offer::Queued { frames: 1, .. }
        ));
        let later = [
            event(ConversationId::new(), 1),
            event(ConversationId::new(), 1),
        ];
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&later), 1, Lane::Bulk),
            Offer::Full
        ));
    }

    #[tokio::test]
    async fn a_live_outlet_takes_a_run_as_one_entry_and_counts_its_frames() {
        let mut peer = Peer::connect().await;
        let conversation = ConversationId::new();
        peer.outlet.go_live(HashMap::new());
        let run: Vec<Arc<Frame>> = (1..=3).map(|m| event(conversation, m)).collect();
        let batch = Batch::new(&run);
        assert!(matches!(
            peer.outlet.offer(&batch, 4, Lane::Bulk),
            Offer::Queued { frames: 3, .. }
        ));
        {
            let state = peer.outlet.state();
            assert_eq!((state.queue.len(), state.waiting), (1, 3));
        }
        // A second outlet shares the joined bytes rather than joining them again.
        let other = Peer::connect().await;
        other.outlet.go_live(HashMap::new());
        other.outlet.offer(&batch, 4, Lane::Bulk);
        assert_eq!(
            other.outlet.state().queue[0].bytes.as_ptr(),
            peer.outlet.state().queue[0].bytes.as_ptr()
        );

        let next = [event(conversation, 4)];
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&next), 4, Lane::Bulk),
            Offer::Queued { frames: 1, .. }
        ));
        let beyond = [event(conversation, 5)];
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&beyond), 4, Lane::Bulk),
            Offer::Full
        ));
        peer.outlet.write_batch();
        assert_eq!(peer.received().await, ["1", "2", "3", "4"]);
        assert_eq!(peer.outlet.state().waiting, 0);
    }

    #[tokio::test]
    async fn an_empty_batch_queues_nothing() {
        let mut peer = Peer::connect().await;
        peer.outlet.go_live(HashMap::new());
        assert!(matches!(
            peer.outlet.offer(&Batch::new(&[]), 4, Lane::Bulk),
            Offer::Skipped
        ));
        assert!(!peer.outlet.pending());
        let next = [event(ConversationId::new(), 1)];
        peer.outlet.offer(&Batch::new(&next), 4, Lane::Bulk);
        peer.outlet.write_batch();
        assert_eq!(peer.received().await, ["1"]);
        assert!(!peer.outlet.state().broken);
    }

    #[tokio::test]
    async fn a_run_the_socket_takes_in_parts_arrives_whole_and_in_order() {
        let mut peer = Peer::connect().await;
        peer.outlet.go_live(HashMap::new());
        // 16 MiB: more than a loopback socket takes at once (its buffers stop at a few MiB).
        const FRAMES: usize = 128;
        const SIZE: usize = 128 * 1024;
        let letter = |i: usize| b'a' + (i % 26) as u8;
        let run: Vec<Arc<Frame>> = (0..FRAMES)
            .map(|i| {
                Arc::new(Frame {
                    position: None,
                    wire: frame::text(&vec![letter(i); SIZE]),
                })
            })
            .collect();
        peer.outlet.offer(&Batch::new(&run), FRAMES, Lane::Bulk);
        peer.outlet.write_batch();
        assert!(peer.outlet.pending(), "the socket took only part of it");
        let outlet = Arc::clone(&peer.outlet);
        let flushed = tokio::spawn(async move { outlet.flush().await });
        let mut received = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while received.len() < FRAMES && std::time::Instant::now() < deadline {
            received.extend(peer.received().await);
        }
        flushed.await.expect("joined").expect("flushed");
        assert_eq!(received.len(), FRAMES);
        for (i, text) in received.iter().enumerate() {
            let expected = char::from(letter(i));
            assert!(
                text.len() == SIZE && text.chars().all(|c| c == expected),
                "frame {i}"
            );
        }
        assert_eq!(peer.outlet.state().waiting, 0);
    }

    #[tokio::test]
    async fn a_full_queue_is_refused() {
        let peer = Peer::connect().await;
        let conversation = ConversationId::new();
        peer.outlet.go_live(HashMap::new());
        for mod_seq in 1..=2 {
            assert!(matches!(
                peer.outlet
                    .offer(&Batch::new(&[event(conversation, mod_seq)]), 2, Lane::Bulk),
                Offer::Queued { .. }
            ));
        }
        assert!(matches!(
            peer.outlet
                .offer(&Batch::new(&[event(conversation, 3)]), 2, Lane::Bulk),
            Offer::Full
        ));
    }

    #[tokio::test]
    async fn a_kill_wakes_the_connection_with_its_first_code() {
        let peer = Peer::connect().await;
        peer.outlet.kill(4008);
        peer.outlet.kill(4009);
        let woken = std::future::poll_fn(|cx| peer.outlet.poll_woken(cx));
        tokio::time::timeout(std::time::Duration::from_secs(10), woken)
            .await
            .expect("woken");
        assert_eq!(peer.outlet.killed(), Some(4008));
    }
}
