//! The application's handle on a WebSocket session: typed commands, the event stream, resume
//! cursors and connection state. The socket itself belongs to a background task (`driver.rs`);
//! this handle only talks to it through channels, so it is `Sync` and every method takes `&self`
//! (share it as `Arc<Session>` to send from several tasks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use natter_protocol::{
    Ack, ClientFrame, Cursors, EditMessageRequest, HelloOk, HistoryParams, MemberView, MessageView,
    SendMessageRequest, ServerFrame,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::acks::{self, Sent};
use crate::driver::{self, Command};
use crate::error::{Error, Result};
use crate::limits::{
    DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_COMMAND_TIMEOUT, DEFAULT_HELLO_TIMEOUT,
};
use crate::rest::Client;
use crate::resume::ResumeState;

/// How a [`Session`] behaves. `SessionConfig::default()` is what [`Client::connect`] uses.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long a command may take, reconnects included, before it fails with
    /// [`Error::Timeout`]. Default 10 s.
    pub command_timeout: Duration,
    /// How long one connection attempt (TCP, WebSocket handshake, `hello` and its resume
    /// replay) may take. Default 10 s.
    pub hello_timeout: Duration,
    /// First reconnect delay (jittered down to half). Default 50 ms.
    pub backoff_initial: Duration,
    /// Longest reconnect delay. Default 2 s.
    pub backoff_max: Duration,
    /// Reconnect and resume after a drop. Default true; when false the first drop ends the
    /// session.
    pub reconnect: bool,
    /// Resume from a previous session's [`Session::sync_cursor`] on the first `hello`.
    pub sync_cursor: Option<i64>,
    /// Per-conversation `mod_seq` the app already has (see [`Session::track`]).
    pub cursors: Cursors,
    /// Deliver events to [`Session::next_event`]. Default true. Turn it off for load
    /// generators that never read events: the event queue is unbounded (see `next_event`).
    pub receive_events: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            backoff_initial: DEFAULT_BACKOFF_INITIAL,
            backoff_max: DEFAULT_BACKOFF_MAX,
            reconnect: true,
            sync_cursor: None,
            cursors: Cursors::new(),
            receive_events: true,
        }
    }
}

/// Where the session's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Reconnecting: commands queue up and are sent once the new `hello` is acknowledged.
    Connecting,
    /// Authenticated and streaming events.
    Connected,
    /// Over for good; see [`Session::close_reason`].
    Closed,
}

/// State shared by the handle and the driver task. Std mutexes: nothing awaits while holding
/// them, and each critical section is a few map operations.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) resume: Mutex<ResumeState>,
    pub(crate) hello: Mutex<Option<HelloOk>>,
    pub(crate) closed: Mutex<Option<(Option<u16>, String)>>,
    pub(crate) reconnects: AtomicU64,
    next_id: AtomicU64,
    pub(crate) state: watch::Sender<ConnectionState>,
}

impl Shared {
    pub(crate) fn new(resume: ResumeState) -> Self {
        Self {
            resume: Mutex::new(resume),
            hello: Mutex::new(None),
            closed: Mutex::new(None),
            reconnects: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            state: watch::Sender::new(ConnectionState::Connecting),
        }
    }

    /// A number unique within this session, for request ids.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn resume(&self) -> MutexGuard<'_, ResumeState> {
        lock(&self.resume)
    }

    pub(crate) fn closed_error(&self) -> Error {
        match lock(&self.closed).clone() {
            Some((code, reason)) => Error::Closed { code, reason },
            None => Error::Closed {
                code: None,
                reason: "session task ended".into(),
            },
        }
    }
}

/// Locks a std mutex, ignoring poisoning: every value behind these locks stays consistent
/// between statements, so a panic elsewhere leaves nothing half-written.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An authenticated WebSocket session that reconnects and resumes by itself. Made by
/// [`Client::connect`].
///
/// Events ([`next_event`](Session::next_event)) arrive in server order, each message change
/// exactly once across reconnects. Commands ([`send`](Session::send) and friends) return the
/// server's answer; one in flight during a drop is re-sent after the reconnect, so it only
/// fails on its timeout or when the session ends.
#[derive(Debug)]
pub struct Session {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    /// A tokio mutex so `next_event` can take `&self` and wait while holding it.
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<ServerFrame>>,
    task: Mutex<Option<JoinHandle<()>>>,
    command_timeout: Duration,
}

impl Client {
    /// Opens a WebSocket session with the default [`SessionConfig`]: connects, sends `hello`
    /// with the access token and waits for its ack (refreshing the token once if it is
    /// refused).
    pub async fn connect(&self) -> Result<Session> {
        self.connect_with(SessionConfig::default()).await
    }

    /// [`connect`](Client::connect) with a custom configuration.
    pub async fn connect_with(&self, config: SessionConfig) -> Result<Session> {
        let command_timeout = config.command_timeout;
        let started = driver::start(self.clone(), config).await?;
        Ok(Session {
            shared: started.shared,
            commands: started.commands,
            events: tokio::sync::Mutex::new(started.events),
            task: Mutex::new(Some(started.task)),
            command_timeout,
        })
    }
}

/// Commands. Each takes a fresh request id and resolves with the matching `ack`, or fails with
/// [`Error::Command`] carrying the matching `error` frame.
impl Session {
    /// Sends a message. `client_msg_id` makes retries idempotent (use
    /// [`new_client_msg_id`](crate::new_client_msg_id) for a fresh one).
    pub async fn send(
        &self,
        conversation_id: Uuid,
        client_msg_id: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<MessageView> {
        let request = SendMessageRequest {
            client_msg_id: client_msg_id.into(),
            text: text.into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        };
        self.send_with(conversation_id, request).await
    }

    /// Sends a message with a reply target, mentions or attachments.
    pub async fn send_with(
        &self,
        conversation_id: Uuid,
        request: SendMessageRequest,
    ) -> Result<MessageView> {
        self.send_deduped(conversation_id, request)
            .await
            .map(|sent| sent.message)
    }

    /// [`send_with`](Session::send_with), also telling whether the server had already stored
    /// this `client_msg_id` (the message is then the original).
    pub async fn send_deduped(
        &self,
        conversation_id: Uuid,
        request: SendMessageRequest,
    ) -> Result<Sent> {
        let SendMessageRequest {
            client_msg_id,
            text,
            reply_to_seq,
            mentions,
            attachments,
        } = request;
        let ack = self
            .request(|id| ClientFrame::Send {
                id,
                conversation_id,
                client_msg_id,
                text,
                reply_to_seq,
                mentions,
                attachments,
            })
            .await?;
        acks::sent(ack)
    }

    /// Replaces a message's text (no mentions).
    pub async fn edit(
        &self,
        conversation_id: Uuid,
        seq: i64,
        text: impl Into<String>,
    ) -> Result<MessageView> {
        self.edit_with(
            conversation_id,
            seq,
            EditMessageRequest {
                text: text.into(),
                mentions: Vec::new(),
            },
        )
        .await
    }

    /// Replaces a message's text and mentions.
    pub async fn edit_with(
        &self,
        conversation_id: Uuid,
        seq: i64,
        request: EditMessageRequest,
    ) -> Result<MessageView> {
        let EditMessageRequest { text, mentions } = request;
        acks::message(
            self.request(|id| ClientFrame::Edit {
                id,
                conversation_id,
                seq,
                text,
                mentions,
            })
            .await?,
        )
    }

    /// Soft-deletes a message.
    pub async fn delete(&self, conversation_id: Uuid, seq: i64) -> Result<MessageView> {
        acks::message(
            self.request(|id| ClientFrame::Delete {
                id,
                conversation_id,
                seq,
            })
            .await?,
        )
    }

    /// Adds the caller's reaction.
    pub async fn react(
        &self,
        conversation_id: Uuid,
        seq: i64,
        emoji: impl Into<String>,
    ) -> Result<MessageView> {
        let emoji = emoji.into();
        acks::message(
            self.request(|id| ClientFrame::React {
                id,
                conversation_id,
                seq,
                emoji,
            })
            .await?,
        )
    }

    /// Removes the caller's reaction.
    pub async fn unreact(
        &self,
        conversation_id: Uuid,
        seq: i64,
        emoji: impl Into<String>,
    ) -> Result<MessageView> {
        let emoji = emoji.into();
        acks::message(
            self.request(|id| ClientFrame::Unreact {
                id,
                conversation_id,
                seq,
                emoji,
            })
            .await?,
        )
    }

    /// Moves the caller's read cursor.
    pub async fn read(&self, conversation_id: Uuid, seq: i64) -> Result<MemberView> {
        acks::member(
            self.request(|id| ClientFrame::Read {
                id,
                conversation_id,
                seq,
            })
            .await?,
        )
    }

    /// Moves the caller's delivered cursor.
    pub async fn delivered(&self, conversation_id: Uuid, seq: i64) -> Result<MemberView> {
        acks::member(
            self.request(|id| ClientFrame::Delivered {
                id,
                conversation_id,
                seq,
            })
            .await?,
        )
    }

    /// Announces that the caller is typing.
    pub async fn typing(&self, conversation_id: Uuid) -> Result<()> {
        acks::done(
            self.request(|id| ClientFrame::Typing {
                id,
                conversation_id,
            })
            .await?,
        )
    }

    /// A page of history, ascending by seq.
    pub async fn history(
        &self,
        conversation_id: Uuid,
        params: HistoryParams,
    ) -> Result<Vec<MessageView>> {
        let HistoryParams {
            before,
            after,
            limit,
        } = params;
        let ack = self
            .request(|id| ClientFrame::History {
                id,
                conversation_id,
                before,
                after,
                limit,
            })
            .await?;
        acks::history(ack)
    }

    /// A round trip to the server (answered by `pong`).
    pub async fn ping(&self) -> Result<()> {
        acks::done(self.request(|id| ClientFrame::Ping { id }).await?)
    }

    /// Any command: `make` builds the frame from the request id it is given (the frame must
    /// carry that id). Resolves with the typed ack (a `pong` resolves as [`Ack::Done`]). Re-sent after a reconnect like the
    /// typed commands. Do not send `hello` this way: the session manages it.
    pub async fn request(&self, make: impl FnOnce(String) -> ClientFrame) -> Result<Ack> {
        let key = self.shared.next_id();
        let frame = make(driver::request_id(key));
        let deadline = Instant::now() + self.command_timeout;
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            key,
            frame,
            reply,
            deadline,
        };
        match tokio::time::timeout_at(deadline, self.commands.send(command)).await {
            Err(_elapsed) => return Err(Error::Timeout),
            Ok(Err(_closed)) => return Err(self.shared.closed_error()),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Err(_elapsed) => Err(Error::Timeout),
            Ok(Ok(result)) => result,
            // The driver dropped the reply: swept at its deadline, or the session ended.
            Ok(Err(_dropped)) if self.state() == ConnectionState::Closed => {
                Err(self.shared.closed_error())
            }
            Ok(Err(_dropped)) => Err(Error::Timeout),
        }
    }

    /// Writes `text` as one WebSocket text frame, as-is, for tests of malformed input. Not
    /// tracked: an answer to it (an `error` frame without id) shows up in `next_event`. Fails
    /// while reconnecting.
    pub async fn send_raw(&self, text: impl Into<String>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Raw {
            text: text.into(),
            reply,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| self.shared.closed_error())?;
        answer.await.map_err(|_| self.shared.closed_error())?
    }
}

/// Events, resume cursors, connection state.
impl Session {
    /// The next event (every frame but `ack`, `pong` and `error`s answering a command), in
    /// arrival order, message changes deduplicated across reconnects. `None` once the session
    /// has ended and every event before the end was read.
    ///
    /// The queue behind it is unbounded on purpose: the socket task must never wait for the
    /// application (it would stop answering commands and heartbeats), and dropping events would
    /// break exactly-once. Read events, or connect with `receive_events: false`.
    pub async fn next_event(&self) -> Option<ServerFrame> {
        self.events.lock().await.recv().await
    }

    /// [`next_event`](Session::next_event) with a deadline: [`Error::Timeout`] if nothing comes,
    /// the close reason if the session ended.
    pub async fn next_event_timeout(&self, timeout: Duration) -> Result<ServerFrame> {
        match tokio::time::timeout(timeout, self.next_event()).await {
            Err(_elapsed) => Err(Error::Timeout),
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(self.shared.closed_error()),
        }
    }

    /// An event if one is already queued (and no other task is waiting in `next_event`).
    pub fn try_next_event(&self) -> Option<ServerFrame> {
        self.events.try_lock().ok()?.try_recv().ok()
    }

    /// Declares that the app already has `conversation_id` up to `mod_seq` (from REST history
    /// or local storage): the next resume asks only for later changes, and events at or below
    /// it are dropped. Cursors only move forward.
    pub fn track(&self, conversation_id: Uuid, mod_seq: i64) {
        self.shared.resume().track(conversation_id, mod_seq);
    }

    /// Stops resuming `conversation_id` (the server then sends a `conversation` summary for it
    /// on the next resume if it changed).
    pub fn forget(&self, conversation_id: Uuid) {
        self.shared.resume().forget(conversation_id);
    }

    /// The per-conversation cursors the next `hello` will carry; persist them with
    /// [`sync_cursor`](Session::sync_cursor) to resume in a later process.
    pub fn cursors(&self) -> Cursors {
        self.shared.resume().cursors().clone()
    }

    /// The `sync_cursor` of the last `hello` ack.
    pub fn sync_cursor(&self) -> Option<i64> {
        self.shared.resume().sync_cursor()
    }

    /// The last `hello` ack (who we are, the idle timeout...).
    pub fn hello(&self) -> Option<HelloOk> {
        lock(&self.shared.hello).clone()
    }

    /// Successful reconnects so far.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects.load(Ordering::Relaxed)
    }

    /// Message events dropped because they had already been delivered.
    pub fn duplicates_dropped(&self) -> u64 {
        self.shared.resume().duplicates_dropped()
    }

    /// Message events that skipped `mod_seq` values (delivered anyway; should stay 0).
    pub fn gaps_seen(&self) -> u64 {
        self.shared.resume().gaps_seen()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        *self.shared.state.borrow()
    }

    /// A receiver that sees every state change.
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// Waits until the state is `state` ([`Error::Timeout`] otherwise). Waiting for
    /// `Connected` on a closed session fails at once with the close reason.
    pub async fn wait_for_state(&self, state: ConnectionState, timeout: Duration) -> Result<()> {
        let mut changes = self.state_changes();
        let reached = tokio::time::timeout(
            timeout,
            changes.wait_for(|now| *now == state || *now == ConnectionState::Closed),
        );
        match reached.await {
            Err(_elapsed) => Err(Error::Timeout),
            Ok(Err(_task_gone)) => Err(self.shared.closed_error()),
            Ok(Ok(now)) if *now == state => Ok(()),
            Ok(Ok(_closed)) => Err(self.shared.closed_error()),
        }
    }

    /// Why the session ended, once it has ([`Error::Closed`]).
    pub fn close_reason(&self) -> Option<Error> {
        let closed = lock(&self.shared.closed).clone();
        closed.map(|(code, reason)| Error::Closed { code, reason })
    }

    /// Drops the TCP stream without a close handshake, as a network failure would, so that
    /// the reconnect logic runs. Returns once the old connection is gone (state `Connecting`).
    pub async fn force_disconnect(&self) {
        let (done, dropped) = oneshot::channel();
        if self
            .commands
            .send(Command::Disconnect { done })
            .await
            .is_ok()
        {
            // An error means the task ended: nothing left to disconnect.
            let _ = dropped.await;
        }
    }

    /// Closes cleanly (close frame 1000) and stops reconnecting. Pending commands fail with
    /// [`Error::Closed`]; `next_event` drains what was queued, then returns `None`.
    pub async fn close(&self) {
        // A full queue or an ended task both mean the close command may not get through; the
        // task also ends when the handle is dropped, so both are fine.
        let _ = self.commands.send(Command::Close).await;
        let task = lock(&self.task).take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "session task failed");
        }
    }
}
