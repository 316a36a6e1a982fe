//! What the embedded server's end-to-end tests in this folder share: the server with its bus
//! wrapped in a [`HoldingBus`] (an event held between commit and publish, so races are forced
//! deterministically), users, and raw WebSocket clients. Each test file uses part of it.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use natter_domain::error::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusSubscription, EventBus};
use natter_protocol::{Ack, ServerFrame};
use natter_sdk::Client;
use natter_server::ServerConfig;
use serde_json::json;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

pub const WAIT: Duration = Duration::from_secs(10);

/// A user created straight in the accounts store (no password is ever checked).
pub async fn stored_user(chat: &natter_domain::Chat, name: &str) -> natter_domain::UserId {
    use natter_domain::values::{DisplayName, Username};
    chat.ports()
        .accounts
        .create_user(natter_domain::model::NewUser {
            id: natter_domain::UserId::new(),
            username: Username::parse(name).expect("name"),
            display_name: DisplayName::parse(name).expect("display name"),
            password_hash: "not used".into(),
            created_at_ms: 1,
        })
        .await
        .expect("user")
        .id
}

/// A message "hello" with the client id `id`, for `Chat::send_message`.
pub fn greeting(id: &str) -> natter_domain::service::OutgoingMessage {
    use natter_domain::values::{ClientMsgId, MessageText};
    natter_domain::service::OutgoingMessage {
        client_msg_id: ClientMsgId::parse(id).expect("id"),
        text: MessageText::parse("hello").expect("text"),
        reply_to_seq: None,
        mentions: Vec::new(),
        attachments: Vec::new(),
    }
}
pub const PASSWORD: &str = "resume-test-passphrase-7Q";

/// Passes every event through to the real bus, except that the next event of a kind can be
/// held between its commit and its publish until the test releases it.
pub struct HoldingBus {
    inner: Arc<dyn EventBus>,
    next: Mutex<Option<Hold>>,
}

struct Hold {
    which: fn(&Event) -> bool,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl HoldingBus {
    /// `inner`, with nothing held yet.
    pub fn wrap(inner: Arc<dyn EventBus>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            next: Mutex::new(None),
        })
    }

    /// Hold the next event `which` accepts: the first receiver resolves once it is committed and
    /// held; it is published when the sender fires (or is dropped).
    pub fn hold_next(
        &self,
        which: fn(&Event) -> bool,
    ) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached, reached_rx) = oneshot::channel();
        let (release_tx, release) = oneshot::channel();
        *self.next.lock().expect("hold lock") = Some(Hold {
            which,
            reached,
            release,
        });
        (reached_rx, release_tx)
    }

    /// Hold the next `MessageCreated` ([`hold_next`](Self::hold_next)).
    pub fn hold_next_message(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        self.hold_next(|event| matches!(event, Event::MessageCreated(_)))
    }
}

#[async_trait]
impl EventBus for HoldingBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        let hold = {
            let mut next = self.next.lock().expect("hold lock");
            match next.take() {
                Some(hold) if (hold.which)(&event) => Some(hold),
                other => {
                    *next = other;
                    None
                }
            }
        };
        if let Some(hold) = hold {
            let _ = hold.reached.send(());
            let _ = hold.release.await;
        }
        self.inner.publish(event).await
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        self.inner.subscribe()
    }
}

/// The embedded deployment's stores and bus in `dir`, with the default settings, for tests
/// that drive the domain's `Chat` directly (ports may be swapped for decorators first).
pub async fn embedded_backends(dir: &tempfile::TempDir) -> natter_server::backends::Backends {
    let mut config = ServerConfig::default();
    config.server.data_dir = dir.path().to_owned();
    natter_server::backends::open(&config)
        .await
        .expect("backends")
}

/// The embedded server, its bus wrapped in a [`HoldingBus`].
pub async fn start(dir: &tempfile::TempDir) -> (natter_server::RunningServer, Arc<HoldingBus>) {
    let mut config = ServerConfig::default();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.server.data_dir = dir.path().to_owned();
    config.auth.argon2_memory_kib = 512;
    let mut backends = natter_server::backends::open(&config)
        .await
        .expect("backends");
    let bus = HoldingBus::wrap(backends.ports.bus.clone());
    backends.ports.bus = bus.clone();
    let server = natter_server::start_with(config, backends)
        .await
        .expect("server");
    (server, bus)
}

pub async fn user(base: &str, name: &str) -> (Client, Uuid) {
    let client = Client::new(base).expect("client");
    let id = client
        .register(name, PASSWORD)
        .await
        .expect("register")
        .user
        .id;
    (client, id)
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next server frame (pings skipped), within [`WAIT`].
pub async fn next_frame(ws: &mut Ws) -> ServerFrame {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("readable socket");
        match next {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("bad server frame {text}: {e}"));
            }
            Message::Close(close) => panic!("closed by the server: {close:?}"),
            _ => {}
        }
    }
}

/// Connect and say `hello` with `resume` (its `sync_cursor` and `cursors`). Returns the socket,
/// the frames replayed before the ack, and the ack's `sync_cursor`.
pub async fn hello(client: &Client, resume: serde_json::Value) -> (Ws, Vec<ServerFrame>, i64) {
    let (mut ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(client.websocket_url()),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    let mut frame = json!({"type": "hello", "id": "h", "token": client.access_token()});
    for (key, value) in resume.as_object().expect("resume fields") {
        frame[key] = value.clone();
    }
    ws.send(Message::text(frame.to_string()))
        .await
        .expect("send hello");
    let mut replayed = Vec::new();
    for _ in 0..100 {
        match next_frame(&mut ws).await {
            ServerFrame::Ack {
                id,
                body: Ack::Hello(hello),
            } if id == "h" => return (ws, replayed, hello.sync_cursor),
            ServerFrame::Ack { id, body } if id == "h" => panic!("hello acked with {body:?}"),
            ServerFrame::Error { error, .. } => panic!("hello refused: {error:?}"),
            other => replayed.push(other),
        }
    }
    panic!("no hello ack after 100 frames: {replayed:?}");
}
