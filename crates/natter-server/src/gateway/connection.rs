//! One WebSocket connection: `hello` (authenticate, register with the hub, catch up), then a
//! loop that answers commands and forwards queued events until the client leaves, idles out,
//! floods, falls behind, its session ends (logout, reuse, expiry), or the server shuts down.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use natter_domain::{ConversationId, DomainError, UserId};
use natter_protocol::{Ack, ClientFrame, HelloOk, ServerFrame, close_code};
use tokio::time::{Instant, timeout_at};

use super::commands::{self, error_frame};
use super::frames::encode;
use super::hub::Registration;
use super::resume::{self, CatchUpError};
use crate::auth::AccessClaims;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) type Sink = SplitSink<WebSocket, Message>;

/// tungstenite's write buffer: 0 writes each frame as it is fed. A 16 KiB buffer let a batch of
/// events go out in one write (+15% deliveries per CPU-second at saturation in a room of 1,000)
/// but cost every connection ~5 KiB more RSS (8 -> 12 KiB with 10,000 idle connections): idle
/// memory matters more. Writing shared pre-framed bytes with vectored writes needs our own
/// WebSocket writer (issue 12, item 4).
pub(super) const WRITE_BUFFER_BYTES: usize = 0;
/// Queued events written per wake-up at most, so commands are still read between batches.
const EVENTS_PER_FLUSH: usize = 64;
type Stream = SplitStream<WebSocket>;

/// Why the connection ended, and the close frame to send (if the socket is still writable).
struct Ending {
    code: u16,
    reason: &'static str,
}

impl Ending {
    const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

/// Large one-off futures (authentication, catch-up, commands) are boxed so that the state machine
/// an idle connection keeps alive stays small: its size is that of its largest inline future.
pub async fn serve(socket: WebSocket, state: AppState) {
    metrics::gauge!("natter_ws_connections").increment(1.0);
    let (mut sink, mut stream) = socket.split();
    let ending = match Box::pin(authenticate(&state, &mut sink, &mut stream)).await {
        Ok((claims, session_left, hello_id, sync_cursor, cursors)) => 'connected: {
            let per_user = state.config.limits.ws_connections_per_user;
            let Some(registration) =
                state
                    .hub
                    .try_register(claims.user_id, claims.session_id, per_user)
            else {
                break 'connected Ending::new(
                    close_code::TOO_MANY_CONNECTIONS,
                    "too many connections for this user",
                );
            };
            let hub_id = registration.id;
            if let Err(err) = Box::pin(state.chat.connected(claims.user_id)).await {
                tracing::warn!(%err, "presence not recorded");
            }
            let mut registration = registration;
            let ending = match Box::pin(handshake(
                &state,
                claims,
                &mut sink,
                hello_id,
                sync_cursor,
                cursors,
            ))
            .await
            {
                Ok(seen_up_to) => {
                    pump(
                        &state,
                        claims,
                        session_left,
                        &mut sink,
                        &mut stream,
                        &mut registration,
                        seen_up_to,
                    )
                    .await
                }
                Err(ending) => ending,
            };
            state.hub.unregister(hub_id);
            leave_after_grace(&state, claims.user_id);
            ending
        }
        Err(ending) => ending,
    };
    if ending.code != 0 {
        let close = CloseFrame {
            code: ending.code,
            reason: Utf8Bytes::from_static(ending.reason),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(Message::Close(Some(close))),
        )
        .await;
    }
    metrics::gauge!("natter_ws_connections").decrement(1.0);
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
    sink.send(Message::Text(encode(frame)))
        .await
        .map_err(|_| ())
}

/// Map a read error to the close code RFC 6455 asks for.
fn read_error_ending(err: &axum::Error) -> Ending {
    let text = err.to_string();
    if text.contains("Space limit") || text.contains("too long") || text.contains("Capacity") {
        Ending::new(1009, "frame too large")
    } else if text.to_ascii_lowercase().contains("utf") {
        Ending::new(1007, "invalid UTF-8")
    } else {
        Ending::new(0, "")
    }
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
async fn authenticate(
    state: &AppState,
    sink: &mut Sink,
    stream: &mut Stream,
) -> Result<Hello, Ending> {
    let deadline = Instant::now() + Duration::from_millis(state.config.limits.ws_hello_timeout_ms);
    let mut bad_frames = 0;
    loop {
        let next = timeout_at(deadline, stream.next())
            .await
            .map_err(|_| Ending::new(close_code::UNAUTHENTICATED, "no hello in time"))?;
        let text = match next {
            None => return Err(Ending::new(0, "")),
            Some(Err(err)) => return Err(read_error_ending(&err)),
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) => return Err(Ending::new(0, "")),
            Some(Ok(Message::Binary(_))) => {
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
            Some(Ok(_)) => continue,
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

/// Catch the client up and acknowledge its `hello`. Returns, per conversation, the highest
/// `mod_seq` the client has (its cursor or what was replayed, whichever is higher), so live
/// events it already has are dropped.
async fn handshake(
    state: &AppState,
    claims: AccessClaims,
    sink: &mut Sink,
    hello_id: String,
    sync_cursor: Option<i64>,
    cursors: natter_protocol::Cursors,
) -> Result<HashMap<ConversationId, i64>, Ending> {
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
    Ok(seen_up_to)
}

/// The live phase: forward queued events and answer commands until the connection ends.
/// Deliberately lean: this future is what every idle connection keeps in memory, so frames are
/// encoded before any await, command handling and the session check are boxed ([`answer`],
/// [`session_check`]), and one timer serves both the idle timeout and the session's expiry.
async fn pump(
    state: &AppState,
    claims: AccessClaims,
    session_left: Duration,
    sink: &mut Sink,
    stream: &mut Stream,
    registration: &mut Registration,
    seen_up_to: HashMap<ConversationId, i64>,
) -> Ending {
    let limits = &state.config.limits;
    let idle = Duration::from_millis(limits.ws_idle_timeout_ms);
    let mut idle_deadline = Instant::now() + idle;
    let mut session_deadline = Instant::now().checked_add(session_left);
    let mut bad_frames = 0u32;
    let mut shutdown = state.shutdown.clone();
    let commands =
        crate::limiter::connection_limit(limits.ws_commands_per_second, limits.ws_commands_burst);
    loop {
        let outgoing = tokio::select! {
            biased;
            () = stopping(&mut shutdown) => return Ending::new(1001, "server shutting down; reconnect"),
            changed = registration.kill.changed() => {
                let code = if changed.is_ok() { (*registration.kill.borrow()).unwrap_or(1011) } else { 1011 };
                return Ending::new(code, kill_reason(code));
            }
            queued = registration.queue.recv() => {
                let Some(frame) = queued else { return Ending::new(1011, "internal error") };
                if !fresh(&seen_up_to, &frame) {
                    continue;
                }
                // Every other event already waiting goes out in the same wake-up.
                if sink.feed(Message::Text(frame.text.clone())).await.is_err() {
                    return Ending::new(0, "");
                }
                for _ in 1..EVENTS_PER_FLUSH {
                    let Ok(next) = registration.queue.try_recv() else { break };
                    if fresh(&seen_up_to, &next) && sink.feed(Message::Text(next.text.clone())).await.is_err() {
                        return Ending::new(0, "");
                    }
                }
                if sink.flush().await.is_err() {
                    return Ending::new(0, "");
                }
                continue;
            }
            incoming = timeout_at(session_deadline.map_or(idle_deadline, |at| at.min(idle_deadline)), stream.next()) => {
                let Ok(incoming) = incoming else {
                    if session_deadline.is_none_or(|at| idle_deadline <= at) {
                        return Ending::new(close_code::IDLE_TIMEOUT, "idle timeout");
                    }
                    match Box::pin(session_check(state, claims)).await {
                        Ok(next) => session_deadline = next,
                        Err(ending) => return ending,
                    }
                    continue;
                };
                idle_deadline = Instant::now() + idle;
                match incoming {
                    None | Some(Ok(Message::Close(_))) => return Ending::new(0, ""),
                    Some(Err(err)) => return read_error_ending(&err),
                    Some(Ok(Message::Text(text))) => Box::pin(answer(state, claims.user_id, &commands, &mut bad_frames, text)).await,
                    Some(Ok(Message::Binary(_))) => {
                        bad_frames += 1;
                        encode(&error_frame(None, &ApiError::BadRequest("binary frames are not supported".into())))
                    }
                    Some(Ok(_)) => continue,
                }
            }
        };
        if sink.send(Message::Text(outgoing)).await.is_err() {
            return Ending::new(0, "");
        }
        if bad_frames >= limits.ws_bad_frames_max {
            return Ending::new(close_code::FLOOD, "too many bad frames");
        }
    }
}

/// Whether the client does not have `frame` yet (catch-up may have sent it already).
fn fresh(seen_up_to: &HashMap<ConversationId, i64>, frame: &super::hub::Frame) -> bool {
    frame.position.is_none_or(|(conversation, mod_seq)| {
        seen_up_to
            .get(&conversation)
            .is_none_or(|seen| mod_seq > *seen)
    })
}

/// The session's expiry came: look again in the store, as a refresh on another connection (or
/// node) may have moved it. Still valid: the new deadline. Expired or revoked: close with 4002.
/// The store unreachable: close so the client reconnects (and is checked again at `hello`),
/// rather than keep an unchecked session open.
async fn session_check(state: &AppState, claims: AccessClaims) -> Result<Option<Instant>, Ending> {
    match state.auth.session_time_left(claims).await {
        Ok(Some(left)) => Ok(Instant::now().checked_add(left)),
        Ok(None) => Err(Ending::new(close_code::SESSION_REVOKED, "session expired")),
        Err(err) => {
            tracing::warn!(%err, "session not checked; closing the connection");
            Err(Ending::new(1011, "session check failed; reconnect"))
        }
    }
}

/// Parse and run one command, returning the encoded answer. Unreadable frames and commands over
/// the connection's budget count towards the flood limit; ordinary refusals (not_found,
/// forbidden...) do not, so a long-lived, well-behaved client is never closed for them.
async fn answer(
    state: &AppState,
    user: UserId,
    commands: &governor::DefaultDirectRateLimiter,
    bad_frames: &mut u32,
    text: Utf8Bytes,
) -> Utf8Bytes {
    let frame = match ClientFrame::parse(&text) {
        Ok(frame) if commands.check().is_err() => {
            *bad_frames += 1;
            error_frame(
                Some(frame.id().to_owned()),
                &ApiError::Domain(DomainError::RateLimited {
                    retry_after_ms: 1000,
                }),
            )
        }
        Ok(frame) => {
            metrics::counter!("natter_ws_commands_total").increment(1);
            commands::execute(state, user, frame).await
        }
        Err(err) => {
            *bad_frames += 1;
            error_frame(frame_id(&text), &bad_frame(&err))
        }
    };
    encode(&frame)
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
        1001 => "server shutting down; reconnect",
        _ => "closed by server",
    }
}
