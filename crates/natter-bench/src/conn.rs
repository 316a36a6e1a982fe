//! One benchmark client connection, for every target: open (from a chosen 127.0.0.x source
//! address), authenticate and subscribe in the target's own protocol (see [`Target`]), then
//! loop: count what arrives, publish what the scenario asks, drop or reconnect on command.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::targets::Target;
use crate::track::{Tracker, payload};

pub type Ws = WebSocketStream<TcpStream>;

/// Source addresses client sockets are spread over (each pair of addresses has its own
/// ephemeral port range, ~28k ports).
const SOURCE_ADDRESSES: u8 = 8;
/// Attempts to open a connection before giving up (listen backlogs overflow in storms).
const CONNECT_ATTEMPTS: u32 = 30;
/// Longest wait for a handshake, an authentication or a subscription answer.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Who a connection is: its credential (natter access token, Centrifugo JWT, nothing for the
/// relay) and its rooms (natter knows a user's conversations itself; peers subscribe to them).
#[derive(Debug, Clone)]
pub struct Identity {
    pub token: String,
    pub rooms: Vec<usize>,
}

/// State shared by all connections of a run.
pub struct Shared {
    pub target: Arc<dyn Target>,
    pub tracker: Arc<Tracker>,
    /// Wire name of each room: a conversation id for natter, `r<i>` for peers.
    pub room_names: Arc<Vec<String>>,
    /// Distinguishes runs in natter's idempotency keys.
    pub run_tag: String,
    /// Connections currently authenticated and subscribed.
    pub ready: AtomicUsize,
    /// Frames received during resumes (natter replays what a client missed).
    pub replayed: AtomicUsize,
    pub reconnect_times: crate::stats::Sharded,
    /// Bounds handshakes in flight (a fleet of clients, not one SYN flood).
    pub connect_gate: tokio::sync::Semaphore,
}

pub enum Cmd {
    Publish {
        room: usize,
        g: u64,
        n: u32,
        t_us: u64,
    },
    /// Close the TCP connection without a WebSocket close (a network drop), then wait.
    Drop,
    /// Reconnect (resuming where the protocol can) after a `Drop`.
    Reconnect,
}

pub fn source_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCE_ADDRESSES as usize) as u8)
}

fn ws_config() -> WebSocketConfig {
    // Small buffers: tungstenite's defaults cost ~134 KiB per connection; the bench holds
    // tens of thousands on the same machine as the server.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(4 << 20))
}

async fn open_tcp(source: Ipv4Addr, addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut delay = Duration::from_millis(20);
    let mut last = None;
    for _ in 0..CONNECT_ATTEMPTS {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.into(), 0))?;
        match socket.connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
    Err(last
        .map(anyhow::Error::from)
        .unwrap_or_else(|| anyhow::anyhow!("connect failed")))
}

/// What a natter client keeps to resume.
#[derive(Debug, Clone, Default)]
pub struct ResumeState {
    pub sync_cursor: Option<i64>,
}

/// Opens, authenticates and subscribes. Returns the socket ready for live traffic.
pub async fn connect(
    shared: &Shared,
    ident: &Identity,
    index: usize,
    resume: &mut ResumeState,
) -> anyhow::Result<Ws> {
    let target = &*shared.target;
    let _permit = shared.connect_gate.acquire().await?;
    let tcp = open_tcp(source_address(index), target.addr()).await?;
    let url = target.ws_url(ident, &shared.room_names);
    let (mut ws, _) = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::client_async_with_config(url, tcp, Some(ws_config())),
    )
    .await
    .context("websocket handshake timed out")??;
    let replayed = target
        .authenticate(&mut ws, ident, &shared.room_names, resume)
        .await?;
    shared.replayed.fetch_add(replayed, Ordering::Relaxed);
    Ok(ws)
}

/// The next text frame during a handshake (bounded in time).
pub async fn next_text(ws: &mut Ws) -> anyhow::Result<String> {
    loop {
        let msg = tokio::time::timeout(HANDSHAKE_TIMEOUT, ws.next())
            .await
            .context("no answer in time")?;
        match msg {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(frame))) => bail!("closed during handshake: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err.into()),
            None => bail!("closed during handshake"),
        }
    }
}

/// Runs one connection until its command channel closes. Signals readiness through
/// `shared.ready` after every (re)connect.
pub async fn run(
    shared: Arc<Shared>,
    ident: Identity,
    index: usize,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) -> anyhow::Result<()> {
    let mut resume = ResumeState::default();
    let mut ws = Some(
        connect(&shared, &ident, index, &mut resume)
            .await
            .with_context(|| format!("connection {index}"))?,
    );
    shared.ready.fetch_add(1, Ordering::AcqRel);
    loop {
        let Some(socket) = ws.as_mut() else {
            match rx.recv().await {
                Some(Cmd::Reconnect) => {
                    let started = Instant::now();
                    ws = Some(
                        connect(&shared, &ident, index, &mut resume)
                            .await
                            .with_context(|| format!("reconnect {index}"))?,
                    );
                    shared
                        .reconnect_times
                        .record(index, started.elapsed().as_micros() as u64);
                    shared.ready.fetch_add(1, Ordering::AcqRel);
                }
                Some(_) => {}
                None => return Ok(()),
            }
            continue;
        };
        tokio::select! {
            msg = socket.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = shared.target.on_text(&shared.tracker, index, text.as_str()) {
                        let _ = socket.send(Message::text(reply)).await;
                    }
                }
                Some(Ok(Message::Close(frame))) => bail!("connection {index} closed by the server: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(err)) => bail!("connection {index}: {err}"),
                None => bail!("connection {index} closed by the server"),
            },
            cmd = rx.recv() => match cmd {
                Some(Cmd::Publish { room, g, n, t_us }) => {
                    let frame = shared.target.publish_frame(&shared.room_names[room], g, &payload(g, n, t_us), &shared.run_tag);
                    shared.tracker.published.fetch_add(1, Ordering::Relaxed);
                    if socket.send(Message::text(frame)).await.is_err() {
                        shared.tracker.on_error();
                    }
                }
                Some(Cmd::Drop) => {
                    ws = None; // dropping the stream closes the socket: no close handshake
                    shared.ready.fetch_sub(1, Ordering::AcqRel);
                }
                Some(Cmd::Reconnect) => {}
                None => return Ok(()),
            },
        }
    }
}
