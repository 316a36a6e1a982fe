//! The background task that owns a session's socket: `hello` and resume, command routing,
//! heartbeats, and reconnecting with backoff when the connection drops.
//!
//! Life of a session:
//! 1. `start` connects and completes `hello` in the caller's task (so `connect()` reports a
//!    bad token or an unreachable server), then spawns `run`.
//! 2. `serve` re-sends every unanswered command, then loops: route acks/errors/pongs to their
//!    pending command, pass events through the resume dedup to the app, write new commands,
//!    ping every `idle_timeout_ms / 3`.
//! 3. On a drop it returns why. 4002, or 4001 when a token refresh does not help, end the
//!    session; anything else leads to `reconnect`: wait (backoff, still queueing commands and
//!    expiring old ones), `hello` again with the latest cursors, go back to 2.
//! 4. `finish` fails what is still pending with `Error::Closed` and closes the event queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use natter_protocol::{Ack, ClientFrame, HelloOk, ServerFrame, close_code};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::limits::{CLOSE_GRACE, COMMAND_QUEUE, DEADLINE_SWEEP, MAX_IN_FLIGHT, MIN_HEARTBEAT};
use crate::rest::Client;
use crate::resume::ResumeState;
use crate::session::{ConnectionState, SessionConfig, Shared, lock};
use crate::socket::{self, Incoming, Ws};

/// From the handle to the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A command awaiting its ack; `key` is the number in its request id.
    Request {
        key: u64,
        frame: ClientFrame,
        reply: oneshot::Sender<Result<Ack>>,
        deadline: Instant,
    },
    /// A raw text frame (tests); answered once written.
    Raw {
        text: String,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Drop the connection abruptly; `done` fires once it is gone.
    Disconnect { done: oneshot::Sender<()> },
    /// Close cleanly and end the session.
    Close,
}

/// The request id of command number `key`. Commands are `r<n>`, hellos `h<n>`, heartbeats
/// `k<n>`: one counter, distinct prefixes, so an answer is never mistaken for another's.
pub(crate) fn request_id(key: u64) -> String {
    format!("r{key}")
}

fn request_key(id: &str) -> Option<u64> {
    id.strip_prefix('r')?.parse().ok()
}

struct Pending {
    frame: ClientFrame,
    reply: oneshot::Sender<Result<Ack>>,
    deadline: Instant,
}

/// Why a connection ended.
enum Lost {
    /// Reconnect after a backoff.
    Transient(Error),
    /// The token was refused: refresh, then reconnect.
    Unauthenticated(Error),
    /// `force_disconnect`: reconnect, and tell the caller once the socket is gone.
    Forced(oneshot::Sender<()>),
    /// The session is over.
    End(Ending),
}

enum Ending {
    /// `close()` or the handle was dropped.
    ByClient,
    /// The server ended it (4002, or 4001 that a refresh did not cure), or reconnecting is off.
    Fatal { code: Option<u16>, reason: String },
}

impl Ending {
    fn from_error(error: Error) -> Self {
        match error {
            Error::Closed { code, reason } => Self::Fatal { code, reason },
            other => Self::Fatal {
                code: None,
                reason: other.to_string(),
            },
        }
    }
}

/// What `start` hands to the `Session` handle.
pub(crate) struct Started {
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) events: mpsc::UnboundedReceiver<ServerFrame>,
    pub(crate) task: JoinHandle<()>,
}

pub(crate) async fn start(client: Client, config: SessionConfig) -> Result<Started> {
    let shared = Arc::new(Shared::new(ResumeState::new(
        config.sync_cursor,
        config.cursors.clone(),
    )));
    let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let (events_tx, events) = mpsc::unbounded_channel();
    let mut sweep = tokio::time::interval(DEADLINE_SWEEP);
    sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut driver = Driver {
        backoff: Backoff::new(config.backoff_initial, config.backoff_max),
        url: client.websocket_url(),
        client,
        config,
        shared: Arc::clone(&shared),
        commands,
        events: events_tx,
        pending: BTreeMap::new(),
        last_token: None,
        sweep,
    };
    let (ws, hello) = driver.connect_first().await?;
    let task = tokio::spawn(driver.run(ws, hello));
    Ok(Started {
        shared,
        commands: commands_tx,
        events,
        task,
    })
}

struct Driver {
    client: Client,
    config: SessionConfig,
    url: String,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<ServerFrame>,
    /// Unanswered commands by key, so re-sending after a reconnect keeps their order. At most
    /// `MAX_IN_FLIGHT` (new commands wait in the channel meanwhile).
    pending: BTreeMap<u64, Pending>,
    backoff: Backoff,
    /// The access token the last `hello` carried: refresh only if it is still the current one.
    last_token: Option<String>,
    /// Frees pending commands past their deadline (their callers already gave up).
    sweep: Interval,
}

impl Driver {
    /// The first connection, in the caller's task: a refused token is refreshed once; any other
    /// failure is returned as is (no retries: the caller learns the server is unreachable).
    async fn connect_first(&mut self) -> Result<(Ws, HelloOk)> {
        match self.attempt().await {
            Ok(connected) => return Ok(connected),
            Err(Lost::Unauthenticated(error)) => {
                if self
                    .client
                    .refresh_if_stale(self.last_token.as_deref())
                    .await
                    .is_err()
                {
                    return Err(error);
                }
            }
            Err(Lost::Transient(error)) => return Err(error),
            Err(Lost::Forced(_) | Lost::End(Ending::ByClient)) => {
                return Err(Error::Closed {
                    code: None,
                    reason: "closed while connecting".into(),
                });
            }
            Err(Lost::End(Ending::Fatal { code, reason })) => {
                return Err(Error::Closed { code, reason });
            }
        }
        match self.attempt().await {
            Ok(connected) => Ok(connected),
            Err(Lost::Unauthenticated(error) | Lost::Transient(error)) => Err(error),
            Err(Lost::Forced(_) | Lost::End(Ending::ByClient)) => Err(Error::Closed {
                code: None,
                reason: "closed while connecting".into(),
            }),
            Err(Lost::End(Ending::Fatal { code, reason })) => Err(Error::Closed { code, reason }),
        }
    }

    async fn run(mut self, mut ws: Ws, mut hello: HelloOk) {
        let ending = loop {
            let dropped = self.serve(&mut ws, &hello).await;
            drop(ws);
            self.shared.state.send_replace(ConnectionState::Connecting);
            let dropped = match dropped {
                Lost::Forced(done) => {
                    let _ = done.send(());
                    Lost::Transient(Error::WebSocket("forced disconnect".into()))
                }
                other => other,
            };
            if !self.config.reconnect
                && let Lost::Transient(error) | Lost::Unauthenticated(error) = dropped
            {
                break Ending::from_error(error);
            }
            match self.reconnect(dropped).await {
                Ok((new_ws, new_hello)) => {
                    self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    (ws, hello) = (new_ws, new_hello);
                }
                Err(ending) => break ending,
            }
        };
        self.finish(ending);
    }

    /// Reconnects until it works or the session must end.
    async fn reconnect(&mut self, mut dropped: Lost) -> Result<(Ws, HelloOk), Ending> {
        // One refresh per run of unauthenticated failures: if the fresh token is refused too,
        // refreshing again would not help.
        let mut refreshed = false;
        loop {
            match dropped {
                Lost::End(ending) => return Err(ending),
                Lost::Forced(done) => {
                    let _ = done.send(());
                    self.pause().await?;
                }
                Lost::Transient(error) => {
                    tracing::debug!(%error, "connection lost; reconnecting");
                    self.pause().await?;
                }
                Lost::Unauthenticated(error) if refreshed => return Err(Ending::from_error(error)),
                Lost::Unauthenticated(error) => {
                    refreshed = true;
                    match self
                        .client
                        .refresh_if_stale(self.last_token.as_deref())
                        .await
                    {
                        Ok(()) => {}
                        Err(refresh @ (Error::Api { .. } | Error::Protocol(_))) => {
                            tracing::debug!(%refresh, "token refresh refused; ending the session");
                            return Err(Ending::from_error(error));
                        }
                        Err(refresh) => {
                            tracing::debug!(%refresh, "token refresh failed; retrying later");
                            refreshed = false;
                            self.pause().await?;
                        }
                    }
                }
            }
            match self.attempt().await {
                Ok(connected) => {
                    self.backoff.reset();
                    return Ok(connected);
                }
                Err(next) => dropped = next,
            }
        }
    }

    /// Waits one backoff delay while still queueing commands and expiring old ones.
    async fn pause(&mut self) -> Result<(), Ending> {
        let until = Instant::now() + self.backoff.next_delay();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return Ok(()),
                _ = self.sweep.tick() => self.sweep_expired(),
                command = self.commands.recv(), if self.has_room() => {
                    if let Err(lost) = self.queue_offline(command) {
                        return match lost {
                            Lost::End(ending) => Err(ending),
                            _ => Ok(()),
                        };
                    }
                }
            }
        }
    }

    /// Takes a command while there is no usable connection: requests wait in `pending` for the
    /// next `serve`, raw frames fail, a disconnect is already done.
    fn queue_offline(&mut self, command: Option<Command>) -> Result<(), Lost> {
        match command {
            None | Some(Command::Close) => Err(Lost::End(Ending::ByClient)),
            Some(Command::Request {
                key,
                frame,
                reply,
                deadline,
            }) => {
                self.pending.insert(
                    key,
                    Pending {
                        frame,
                        reply,
                        deadline,
                    },
                );
                Ok(())
            }
            Some(Command::Raw { reply, .. }) => {
                let _ = reply.send(Err(Error::WebSocket("not connected (reconnecting)".into())));
                Ok(())
            }
            Some(Command::Disconnect { done }) => {
                let _ = done.send(());
                Ok(())
            }
        }
    }

    /// One connection attempt: open, `hello`, then read (delivering the resume replay) until
    /// the hello's ack, all within `hello_timeout`.
    async fn attempt(&mut self) -> Result<(Ws, HelloOk), Lost> {
        let deadline = Instant::now() + self.config.hello_timeout;
        let opened = tokio::time::timeout_at(deadline, socket::open(&self.url)).await;
        let mut ws = match opened {
            Err(_elapsed) => return Err(Lost::Transient(Error::Timeout)),
            Ok(Err(error)) => return Err(Lost::Transient(error)),
            Ok(Ok(ws)) => ws,
        };
        let token = self.client.access_token();
        self.last_token.clone_from(&token);
        let hello_id = format!("h{}", self.shared.next_id());
        let hello = {
            let mut resume = self.shared.resume();
            resume.begin_replay();
            resume.hello(hello_id.clone(), token.unwrap_or_default())
        };
        socket::write(&mut ws, &hello)
            .await
            .map_err(Lost::Transient)?;
        loop {
            let incoming = tokio::select! {
                () = tokio::time::sleep_until(deadline) => return Err(Lost::Transient(Error::Timeout)),
                _ = self.sweep.tick() => { self.sweep_expired(); continue; }
                command = self.commands.recv(), if self.has_room() => {
                    self.queue_offline(command)?;
                    continue;
                }
                item = ws.next() => Incoming::from_read(item),
            };
            match incoming {
                Incoming::Frame(ServerFrame::Ack { id, body }) if id == hello_id => {
                    let Ack::Hello(ok) = body else {
                        return Err(Lost::Transient(Error::WrongAck {
                            expected: "hello",
                            got: body.kind(),
                        }));
                    };
                    self.shared.resume().on_hello_ok(&ok);
                    *lock(&self.shared.hello) = Some(ok.clone());
                    self.shared.state.send_replace(ConnectionState::Connected);
                    return Ok((ws, ok));
                }
                Incoming::Frame(ServerFrame::Error {
                    id: Some(id),
                    error,
                }) if id == hello_id => {
                    let unauthenticated = error.code == "unauthenticated";
                    let error = Error::Command { body: error };
                    return Err(if unauthenticated {
                        Lost::Unauthenticated(error)
                    } else {
                        Lost::Transient(error)
                    });
                }
                Incoming::Frame(frame) => self.on_frame(frame),
                Incoming::Closed { code, reason } => return Err(closed(code, reason)),
                Incoming::Failed(error) => return Err(Lost::Transient(error)),
                Incoming::Skip => {}
            }
        }
    }

    /// Runs one established connection until it drops.
    async fn serve(&mut self, ws: &mut Ws, hello: &HelloOk) -> Lost {
        // Commands from the previous connection (and queued while reconnecting), in order;
        // those whose caller already gave up are not worth sending.
        self.sweep_expired();
        let resend: Vec<ClientFrame> = self
            .pending
            .values()
            .map(|pending| pending.frame.clone())
            .collect();
        for frame in &resend {
            if let Err(error) = socket::write(ws, frame).await {
                return Lost::Transient(error);
            }
        }
        // No heartbeat when the server announces no idle timeout (0).
        let idle_timeout =
            (hello.idle_timeout_ms > 0).then(|| Duration::from_millis(hello.idle_timeout_ms));
        let mut heartbeat = idle_timeout.map(|idle| {
            let period = (idle / 3).max(MIN_HEARTBEAT);
            let mut interval = tokio::time::interval_at(Instant::now() + period, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        let mut last_read = Instant::now();
        loop {
            tokio::select! {
                item = ws.next() => {
                    last_read = Instant::now();
                    match Incoming::from_read(item) {
                        Incoming::Frame(frame) => self.on_frame(frame),
                        Incoming::Closed { code, reason } => return closed(code, reason),
                        Incoming::Failed(error) => return Lost::Transient(error),
                        Incoming::Skip => {}
                    }
                }
                command = self.commands.recv(), if self.has_room() => {
                    if let Some(lost) = self.on_command(ws, command).await {
                        return lost;
                    }
                }
                () = tick(heartbeat.as_mut()) => {
                    // The server pongs every ping, so silence for a whole idle timeout means
                    // the connection is dead even if TCP has not noticed.
                    if idle_timeout.is_some_and(|idle| last_read.elapsed() > idle) {
                        return Lost::Transient(Error::WebSocket("no frame from the server within the idle timeout".into()));
                    }
                    let ping = ClientFrame::Ping { id: format!("k{}", self.shared.next_id()) };
                    if let Err(error) = socket::write(ws, &ping).await {
                        return Lost::Transient(error);
                    }
                }
                _ = self.sweep.tick() => self.sweep_expired(),
            }
        }
    }

    /// Handles a command on a live connection; `Some` when the connection must end.
    async fn on_command(&mut self, ws: &mut Ws, command: Option<Command>) -> Option<Lost> {
        match command {
            None | Some(Command::Close) => {
                socket::close_normally(ws).await;
                // Wait briefly for the server's close reply so it sees a clean close.
                let _ = tokio::time::timeout(CLOSE_GRACE, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                Some(Lost::End(Ending::ByClient))
            }
            Some(Command::Request {
                key,
                frame,
                reply,
                deadline,
            }) => {
                let written = socket::write(ws, &frame).await;
                // Kept even if the write failed: it is re-sent after the reconnect.
                self.pending.insert(
                    key,
                    Pending {
                        frame,
                        reply,
                        deadline,
                    },
                );
                written.err().map(Lost::Transient)
            }
            Some(Command::Raw { text, reply }) => {
                let written = socket::write_text(ws, text).await;
                let failed = written
                    .as_ref()
                    .err()
                    .map(|error| Lost::Transient(Error::WebSocket(error.to_string())));
                let _ = reply.send(written);
                failed
            }
            Some(Command::Disconnect { done }) => Some(Lost::Forced(done)),
        }
    }

    /// Routes one server frame: answers to their pending command, events through the dedup to
    /// the app.
    fn on_frame(&mut self, frame: ServerFrame) {
        match frame {
            ServerFrame::Ack { id, body } => self.answer(&id, Ok(body)),
            ServerFrame::Pong { id } => self.answer(&id, Ok(Ack::Done)),
            ServerFrame::Error {
                id: Some(id),
                error,
            } => self.answer(&id, Err(Error::Command { body: error })),
            // An error about a frame the server could not parse enough to find its id: nobody
            // awaits it, so the app (a test that sent garbage) gets it as an event.
            event => {
                if self.shared.resume().admit(&event) && self.config.receive_events {
                    // Fails only when the handle is gone; then nobody wants the event.
                    let _ = self.events.send(event);
                }
            }
        }
    }

    fn answer(&mut self, id: &str, result: Result<Ack>) {
        match request_key(id).and_then(|key| self.pending.remove(&key)) {
            // The caller may have timed out and gone; that is fine.
            Some(pending) => {
                let _ = pending.reply.send(result);
            }
            None => tracing::trace!(id, "answer to no pending command (heartbeat, or timed out)"),
        }
    }

    fn has_room(&self) -> bool {
        self.pending.len() < MAX_IN_FLIGHT
    }

    fn sweep_expired(&mut self) {
        let now = Instant::now();
        self.pending
            .retain(|_, pending| pending.deadline > now && !pending.reply.is_closed());
    }

    fn finish(mut self, ending: Ending) {
        let (code, reason) = match ending {
            Ending::ByClient => (Some(1000), "closed by the client".to_owned()),
            Ending::Fatal { code, reason } => (code, reason),
        };
        tracing::debug!(?code, %reason, "session ended");
        *lock(&self.shared.closed) = Some((code, reason.clone()));
        for (_, pending) in std::mem::take(&mut self.pending) {
            let _ = pending.reply.send(Err(Error::Closed {
                code,
                reason: reason.clone(),
            }));
        }
        // Stop accepting commands; those already queued fail as their reply senders drop.
        self.commands.close();
        self.shared.state.send_replace(ConnectionState::Closed);
    }
}

/// The next tick of an optional interval; never, without one.
async fn tick(interval: Option<&mut Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// What a close from the server means for us.
fn closed(code: Option<u16>, reason: String) -> Lost {
    let error = Error::Closed { code, reason };
    match code {
        Some(close_code::UNAUTHENTICATED) => Lost::Unauthenticated(error),
        Some(close_code::SESSION_REVOKED) => Lost::End(Ending::from_error(error)),
        _ => Lost::Transient(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_round_trip_and_other_prefixes_do_not_match() {
        assert_eq!(request_id(42), "r42");
        assert_eq!(request_key("r42"), Some(42));
        assert_eq!(request_key("k42"), None);
        assert_eq!(request_key("h1"), None);
        assert_eq!(request_key("r"), None);
    }

    #[test]
    fn close_codes_decide_between_reconnect_refresh_and_end() {
        assert!(matches!(
            closed(Some(4001), String::new()),
            Lost::Unauthenticated(_)
        ));
        assert!(matches!(
            closed(Some(4002), String::new()),
            Lost::End(Ending::Fatal {
                code: Some(4002),
                ..
            })
        ));
        for code in [
            Some(1000),
            Some(1001),
            Some(4000),
            Some(4008),
            Some(4009),
            Some(4029),
            None,
        ] {
            assert!(
                matches!(closed(code, String::new()), Lost::Transient(_)),
                "{code:?}"
            );
        }
    }
}
