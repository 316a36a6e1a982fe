//! One WebSocket connection: `hello` (authenticate, register with the hub, catch up), then a
//! loop that answers commands (the hub writes the events itself, `outlet.rs`) until the client
//! leaves, idles out, floods, falls behind, its session ends (logout, reuse, expiry), or the
//! server shuts down.
//! The WebSocket protocol (frames, pings, the closing handshake) is `ws/`'s.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use natter_domain::{DomainError, UserId};
use natter_protocol::{Ack, ClientFrame, HelloOk, ServerFrame, close_code};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, timeout_at};

use super::commands::{self, Started, error_frame};
use super::frames::encode;
use super::hub::Refused;
use super::outlet::Outlet;
use super::pipeline::Pipeline;
use super::resume::{self, CatchUpError};
use super::ws::{Incoming, Socket};
use crate::auth::AccessClaims;
use crate::error::ApiError;
use crate::limiter::ConnectionLimit;
use crate::state::AppState;

pub(super) type Sink = Socket;

/// Why the connection ended, and the close frame to send (if the socket is still writable).
struct Ending {
    /// 0: the connection is gone, no close frame. [`NO_CODE`]: a close frame without a code.
    code: u16,
    reason: &'static str,
}

/// RFC 6455's "no status code" (never sent): the answer to a client's close that had no code
/// is a close frame without one.
const NO_CODE: u16 = 1005;

impl Ending {
    const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }

    /// The answer to the client's close: its code echoed (section 5.5.1).
    fn echo(code: Option<u16>) -> Self {
        Self::new(code.unwrap_or(NO_CODE), "")
    }
}

/// A connection's first task: the hello, the registration and the catch-up ([`open`], boxed),
/// then the live phase in a task of its own ([`live`]). A task's memory is that of its largest
/// future, and the live phase's is what every idle connection keeps, so it gets a task sized
/// for it alone.
pub async fn serve(mut socket: Socket, state: AppState, permit: OwnedSemaphorePermit) {
    metrics::gauge!("natter_ws_connections").increment(1.0);
    match Box::pin(open(&state, &mut socket)).await {
        Ok(claims) => {
            tokio::spawn(live(socket, state, claims, permit));
        }
        Err(ending) => Box::pin(close(socket, &state, ending)).await,
    }
}

/// What the live phase works with, borrowed by [`pump`] as one reference (its future keeps
/// that one pointer, not one per part).
struct Live {
    socket: Socket,
    state: AppState,
    claims: AccessClaims,
}

/// The live phase ([`pump`]), then leave and close. Holds the connection's permit. An `async`
/// block rather than an `async fn`: the state machine of an `async fn` keeps its arguments twice
/// (rust-lang/rust#62958), a block's captures once.
fn live(
    socket: Socket,
    state: AppState,
    claims: AccessClaims,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send {
    let mut live = Live {
        socket,
        state,
        claims,
    };
    async move {
        let ending = pump(&mut live).await;
        leave(&live.state, live.claims.user_id, live.socket.outlet());
        Box::pin(close(live.socket, &live.state, ending)).await;
        drop(permit);
    }
}

/// The server's side of the closing handshake, if the socket is still there to write to. A
/// client that reads slowly gets what was queued, then the close, if it reads it all within
/// the idle timeout.
async fn close(socket: Socket, state: &AppState, ending: Ending) {
    let write_within = Duration::from_millis(state.config.limits.ws_idle_timeout_ms);
    match ending.code {
        0 => {}
        NO_CODE => socket.close(None, "", write_within).await,
        code => socket.close(Some(code), ending.reason, write_within).await,
    }
    metrics::gauge!("natter_ws_connections").decrement(1.0);
}

/// Wait for the hello, register with the hub, record the presence, catch the client up and
/// acknowledge the hello; the claims of the connection now live. A connection that fails after
/// it registered has left again.
async fn open(state: &AppState, socket: &mut Socket) -> Result<AccessClaims, Ending> {
    let (claims, session_left, hello_id, sync_cursor, cursors) =
        authenticate(state, socket).await?;
    let per_user = state.config.limits.ws_connections_per_user;
    match state
        .hub
        .try_register(claims.user_id, claims.session_id, socket.outlet(), per_user)
    {
        Ok(()) => {}
        Err(Refused::TooMany) => {
            return Err(Ending::new(
                close_code::TOO_MANY_CONNECTIONS,
                "too many connections for this user",
            ));
        }
        Err(Refused::Shut(code)) => return Err(Ending::new(code, kill_reason(code))),
    }
    if let Err(err) = state.chat.connected(claims.user_id).await {
        tracing::warn!(%err, "presence not recorded");
    }
    match handshake(state, claims, socket, hello_id, sync_cursor, cursors).await {
        Ok(()) => {
            socket.outlet().session_left(Some(session_left));
            Ok(claims)
        }
        Err(ending) => {
            leave(state, claims.user_id, socket.outlet());
            Err(ending)
        }
    }
}

/// The connection leaves the hub, and its presence after the grace period.
fn leave(state: &AppState, user: UserId, outlet: &Arc<Outlet>) {
    state.hub.unregister(user, outlet);
    leave_after_grace(state, user);
}

/// The user's presence keeps this connection for `limits.presence_grace_ms` after it closed
/// (at once when the server is stopping): a client back within it never appeared offline, and
/// its contacts hear nothing of the round trip.
fn leave_after_grace(state: &AppState, user: UserId) {
    let state = state.clone();
    let left_at_ms = state.chat.ports().clock.now_ms();
    let grace = Duration::from_millis(state.config.limits.presence_grace_ms);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(grace) => {}
            () = stopping(&mut shutdown) => {}
        }
        if let Err(err) = state.chat.disconnected(user, left_at_ms).await {
            tracing::warn!(%err, "presence not recorded");
        }
    });
}

pub(super) async fn send_frame(sink: &mut Sink, frame: &ServerFrame) -> Result<(), ()> {
    sink.send(encode(frame)).await.map_err(|_| ())
}

/// A valid hello: who, how long their session has left, and where to resume from.
type Hello = (
    AccessClaims,
    Duration,
    String,
    Option<i64>,
    natter_protocol::Cursors,
);

/// Wait for a valid `hello` within the deadline.
async fn authenticate(state: &AppState, sink: &mut Sink) -> Result<Hello, Ending> {
    let deadline = Instant::now() + Duration::from_millis(state.config.limits.ws_hello_timeout_ms);
    let mut bad_frames = 0;
    loop {
        let next = timeout_at(deadline, sink.recv())
            .await
            .map_err(|_| Ending::new(close_code::UNAUTHENTICATED, "no hello in time"))?;
        let text = match next {
            None => return Err(Ending::new(0, "")),
            Some(Incoming::Fail(code, reason)) => return Err(Ending::new(code, reason)),
            Some(Incoming::Text(text)) => text,
            Some(Incoming::Close(code)) => return Err(Ending::echo(code)),
            Some(Incoming::Binary) => {
                let _ = send_frame(
                    sink,
                    &error_frame(
                        None,
                        &ApiError::BadRequest("binary frames are not supported".into()),
                    ),
                )
                .await;
                bad_frames += 1;
                if bad_frames >= 3 {
                    return Err(Ending::new(close_code::UNAUTHENTICATED, "expected hello"));
                }
                continue;
            }
            Some(Incoming::Ping(_) | Incoming::Pong) => continue,
        };
        match ClientFrame::parse(&text) {
            Ok(ClientFrame::Hello {
                id,
                token,
                sync_cursor,
                cursors,
            }) => {
                // Refused like an unparsable frame: an error, and the connection still waits
                // for a valid hello.
                if let Err(err) = resume::check_cursors(sync_cursor, &cursors) {
                    let _ = send_frame(sink, &error_frame(Some(id), &ApiError::Domain(err))).await;
                } else {
                    match state.auth.authenticate_with_time_left(&token).await {
                        Ok((claims, left)) => return Ok((claims, left, id, sync_cursor, cursors)),
                        Err(err) => {
                            let _ =
                                send_frame(sink, &error_frame(Some(id), &ApiError::Domain(err)))
                                    .await;
                            return Err(Ending::new(close_code::UNAUTHENTICATED, "invalid token"));
                        }
                    }
                }
            }
            Ok(other) => {
                let _ = send_frame(
                    sink,
                    &error_frame(
                        Some(other.id().to_owned()),
                        &ApiError::Domain(DomainError::Unauthenticated),
                    ),
                )
                .await;
            }
            Err(err) => {
                let _ = send_frame(sink, &error_frame(frame_id(&text), &bad_frame(&err))).await;
            }
        }
        bad_frames += 1;
        if bad_frames >= 3 {
            return Err(Ending::new(close_code::UNAUTHENTICATED, "expected hello"));
        }
    }
}

fn bad_frame(err: &natter_protocol::FrameError) -> ApiError {
    ApiError::BadRequest(format!("bad frame: {err}"))
}

/// The `id` of a frame that failed to parse, when it is at least a JSON object with a string id,
/// so the client can match the error to its command.
fn frame_id(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get("id")?.as_str().map(str::to_owned)
}

/// Catch the client up, acknowledge its `hello`, then go live: the hub writes events from now
/// on, except those the client has (per conversation, its cursor or what was replayed, whichever
/// is higher).
async fn handshake(
    state: &AppState,
    claims: AccessClaims,
    sink: &mut Sink,
    hello_id: String,
    sync_cursor: Option<i64>,
    cursors: natter_protocol::Cursors,
) -> Result<(), Ending> {
    let caught_up = Box::pin(resume::catch_up(
        state,
        claims.user_id,
        sync_cursor,
        &cursors,
        sink,
    ))
    .await;
    let (sync_cursor, seen_up_to) = match caught_up {
        Ok(done) => (done.sync_cursor, done.seen_up_to),
        Err(CatchUpError::Closed) => return Err(Ending::new(0, "")),
        Err(CatchUpError::Domain(err)) => {
            let _ = send_frame(sink, &error_frame(Some(hello_id), &ApiError::Domain(err))).await;
            return Err(Ending::new(1011, "resume failed; retry"));
        }
    };
    let hello = HelloOk {
        user_id: claims.user_id.0,
        session_id: claims.session_id.0,
        idle_timeout_ms: state.config.limits.ws_idle_timeout_ms,
        sync_cursor,
    };
    let ack = ServerFrame::Ack {
        id: hello_id,
        body: Ack::Hello(hello),
    };
    send_frame(sink, &ack)
        .await
        .map_err(|_| Ending::new(0, ""))?;
    sink.outlet().go_live(seen_up_to);
    sink.try_flush().map_err(|_| Ending::new(0, ""))
}

/// The live phase: answer commands until the connection ends (the hub writes the events itself,
/// see `outlet.rs`; this task is woken only to finish a write the socket did not take at once,
/// to check the session when it is due, to take the answers of sends that committed, or to
/// close). Deliberately lean: this future is what every idle connection keeps in memory, so
/// frames are encoded before any await, command handling and the session check are boxed
/// ([`Command::run`], [`session_check`]), the unanswered sends live in a box made for them
/// (`pipeline.rs`: a client's pipelined sends commit together), its one wait is a poll function
/// over the socket, the hub's wake-up and the oldest unanswered send (no future kept between
/// frames), and there is no timer: the hub's sweep watches the idle timeout and the session's
/// expiry (`Hub::sweep`).
///
/// While frames wait to be written (the client does not read fast enough), nothing more is read
/// from the client; the hub cuts the connection as a slow consumer (4008) once
/// `limits.ws_outbound_queue` frames wait. An `async` block for the reason [`live`] gives.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
fn pump(live: &mut Live) -> impl Future<Output = Ending> + Send + '_ {
    async move {
        let mut bad_frames = 0u32;
        let commands = crate::limiter::connection_limit(
            live.state.config.limits.ws_commands_per_second,
            live.state.config.limits.ws_commands_burst,
        );
        let mut sending: Option<Box<Pipeline<'_>>> = None;
        let ending = loop {
            if let Some(code) = live.socket.outlet().killed() {
                break Ending::new(code, kill_reason(code));
            }
            if live.socket.outlet().take_session_check() {
                match Box::pin(session_check(&live.state, live.claims)).await {
                    Ok(left) => live.socket.outlet().session_left(left),
                    Err(ending) => break ending,
                }
            }
            // The only wait of an idle connection: a poll function over the socket's readiness
            // and the hub's wake-up, so the task keeps no future for it. Woken: killed or due
            // for a session check (both checked above), or frames the hub could not write
            // (`poll_recv` writes them first). With sends unanswered, their oldest answer too;
            // with too many, nothing more is read.
            let next = std::future::poll_fn(|cx| {
                if live.socket.outlet().poll_woken(cx).is_ready() {
                    return Poll::Ready(Next::Flush);
                }
                if let Some(pipeline) = sending.as_mut() {
                    if let Poll::Ready(Some(answer)) = pipeline.poll_oldest(cx) {
                        // The answers committed with it are usually there too: one write.
                        live.socket.queue(answer);
                        while let Some(answer) = pipeline.ready_now() {
                            live.socket.queue(answer);
                        }
                        if pipeline.is_empty() {
                            sending = None;
                        }
                        return Poll::Ready(Next::Flush);
                    }
                    if pipeline.is_full() {
                        return Poll::Pending;
                    }
                }
                live.socket.poll_recv(cx).map(Next::Incoming)
            })
            .await;
            let incoming = match next {
                Next::Flush => {
                    if live.socket.try_flush().is_err() {
                        break Ending::new(0, "");
                    }
                    continue;
                }
                Next::Incoming(incoming) => incoming,
            };
            live.socket.outlet().heard();
            let outgoing = match incoming {
                None => break Ending::new(0, ""),
                Some(Incoming::Close(code)) => break Ending::echo(code),
                Some(Incoming::Fail(code, reason)) => break Ending::new(code, reason),
                Some(Incoming::Text(text)) => {
                    let command = Command {
                        state: &live.state,
                        user: live.claims.user_id,
                        budget: &commands,
                        bad_frames: &mut bad_frames,
                        sending: &mut sending,
                        socket: &live.socket,
                    };
                    match Box::pin(command.run(text)).await {
                        Some(answer) => answer,
                        None => continue,
                    }
                }
                Some(Incoming::Binary) => {
                    bad_frames += 1;
                    encode(&error_frame(
                        None,
                        &ApiError::BadRequest("binary frames are not supported".into()),
                    ))
                }
                Some(Incoming::Ping(_) | Incoming::Pong) => continue,
            };
            match sending.as_mut() {
                Some(pipeline) => pipeline.push_ready(outgoing),
                None => live.socket.queue(outgoing),
            }
            if live.socket.try_flush().is_err() {
                break Ending::new(0, "");
            }
            if bad_frames >= live.state.config.limits.ws_bad_frames_max {
                break Ending::new(close_code::FLOOD, "too many bad frames");
            }
        };
        // Sends already queued commit whatever happens to the connection; their answers go
        // before the close frame, and their events are published as for any other send.
        Box::pin(answer_all_then(sending, &live.socket, ending)).await
    }
}

/// What the live phase waits for.
enum Next {
    /// The hub's wake-up, or unanswered sends' answers queued to the socket: write what waits.
    Flush,
    /// A frame from the client, or its end.
    Incoming(Option<Incoming>),
}

/// One text frame of a live connection and what answering it takes: everything a command
/// needs is here, and [`Command::run`]'s future is boxed, so that none of it weighs on the
/// future every idle connection keeps ([`pump`]).
struct Command<'c, 'a> {
    state: &'a AppState,
    user: UserId,
    /// The connection's command budget.
    budget: &'c ConnectionLimit,
    bad_frames: &'c mut u32,
    sending: &'c mut Option<Box<Pipeline<'a>>>,
    socket: &'c Socket,
}

impl Command<'_, '_> {
    /// Parse and run the command in `text`: its encoded answer, or `None` for a send the
    /// store queued (answered from the pipeline when it commits). Unreadable frames and
    /// commands over the connection's budget count towards the flood limit; ordinary refusals
    /// (not_found, forbidden...) do not, so a long-lived, well-behaved client is never closed
    /// for them.
    async fn run(self, text: String) -> Option<Bytes> {
        let frame = match ClientFrame::parse(&text) {
            Ok(frame) if self.budget.check().is_err() => {
                *self.bad_frames += 1;
                return Some(encode(&error_frame(
                    Some(frame.id().to_owned()),
                    &ApiError::Domain(DomainError::RateLimited {
                        retry_after_ms: 1000,
                    }),
                )));
            }
            Ok(frame) => frame,
            Err(err) => {
                *self.bad_frames += 1;
                return Some(encode(&error_frame(frame_id(&text), &bad_frame(&err))));
            }
        };
        metrics::counter!("natter_ws_commands_total").increment(1);
        if !matches!(frame, ClientFrame::Send { .. }) {
            // It sees every send before it committed.
            answer_all(self.sending, self.socket).await;
        }
        match commands::start(self.state, self.user, frame).await {
            Started::Answered(answer) => Some(encode(&answer)),
            Started::Committing(answer) => {
                self.sending
                    .get_or_insert_default()
                    .push(Box::pin(answer.map(|answer| encode(&answer))));
                None
            }
        }
    }
}

/// [`answer_all`], then `ending` (boxed by the caller with what it keeps, so that the ending
/// does not weigh on every idle connection's future).
async fn answer_all_then(
    mut sending: Option<Box<Pipeline<'_>>>,
    socket: &Socket,
    ending: Ending,
) -> Ending {
    answer_all(&mut sending, socket).await;
    ending
}

/// Wait for every unanswered send and queue the answers, in order.
async fn answer_all(sending: &mut Option<Box<Pipeline<'_>>>, socket: &Socket) {
    if let Some(mut pipeline) = sending.take() {
        while let Some(answer) = pipeline.next().await {
            socket.queue(answer);
        }
    }
}

/// The session's expiry came: look again in the store, as a refresh on another connection (or
/// node) may have moved it. Still valid: the new deadline. Expired or revoked: close with 4002.
/// The store unreachable: close so the client reconnects (and is checked again at `hello`),
/// rather than keep an unchecked session open.
async fn session_check(state: &AppState, claims: AccessClaims) -> Result<Option<Duration>, Ending> {
    match state.auth.session_time_left(claims).await {
        Ok(Some(left)) => Ok(Some(left)),
        Ok(None) => Err(Ending::new(close_code::SESSION_REVOKED, "session expired")),
        Err(err) => {
            tracing::warn!(%err, "session not checked; closing the connection");
            Err(Ending::new(1011, "session check failed; reconnect"))
        }
    }
}

/// Resolves once the server starts shutting down (the guard is dropped inside, keeping the
/// connection future `Send`).
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await.map(|_| ());
}

fn kill_reason(code: u16) -> &'static str {
    match code {
        close_code::SLOW_CONSUMER => "too slow: reconnect and resume",
        close_code::RESYNC => "events lost: reconnect and resume",
        close_code::SESSION_REVOKED => "session revoked",
        close_code::IDLE_TIMEOUT => "idle timeout",
        1001 => "server shutting down; reconnect",
        _ => "closed by server",
    }
}

#[cfg(test)]
mod tests {
    /// What every idle connection keeps in memory is the live phase's state machine (in its
    /// task): what follows it is boxed and it waits through a poll function. A large future
    /// awaited inline would cost every connection its size (1,160 bytes before, in a debug
    /// build; 280 since). tokio aligns a task to 128 bytes on x86-64 and adds about 96 of its
    /// own: up to 288 bytes, the task takes 384 (a heap profile of 10,000 idle connections
    /// shows 384-byte tasks at 280; at 368 they took 512).
    #[test]
    fn an_idle_connection_keeps_a_small_state_machine() {
        fn output_size<A, B, C, D, R>(_: fn(A, B, C, D) -> R) -> usize {
            size_of::<R>()
        }
        let size = output_size(super::live as fn(_, _, _, _) -> _);
        assert!(size <= 288, "the live phase's future is {size} bytes");
    }
}
