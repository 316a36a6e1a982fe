//! The resume promise on the embedded server (real SQLite store, real WebSockets): a live message
//! event at or below the cursor a client gave in `hello` is never sent to that connection.
//!
//! The race it guards against: a message is committed (so a replay can already read it) but its
//! event is still on its way to the bus when a device says hello with a cursor that includes it.
//! The event is then queued as a live event after the hello ack. A bus decorator holds the event
//! between commit and publish, which makes the race deterministic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use natter_domain::error::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusSubscription, EventBus};
use natter_protocol::{Ack, MessageView, ServerFrame};
use natter_sdk::Client;
use natter_server::ServerConfig;
use serde_json::json;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "resume-test-passphrase-7Q";

/// Passes every event through to the real bus, except that the next message event can be held
/// between its commit and its publish until the test releases it.
struct HoldingBus {
    inner: Arc<dyn EventBus>,
    next: Mutex<Option<Hold>>,
}

struct Hold {
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

impl HoldingBus {
    /// Hold the next `MessageCreated`: the first receiver resolves once it is committed and held;
    /// it is published when the sender fires (or is dropped).
    fn hold_next_message(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached, reached_rx) = oneshot::channel();
        let (release_tx, release) = oneshot::channel();
        *self.next.lock().expect("hold lock") = Some(Hold { reached, release });
        (reached_rx, release_tx)
    }
}

#[async_trait]
impl EventBus for HoldingBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        if matches!(event, Event::MessageCreated(_)) {
            let hold = self.next.lock().expect("hold lock").take();
            if let Some(hold) = hold {
                let _ = hold.reached.send(());
                let _ = hold.release.await;
            }
        }
        self.inner.publish(event).await
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        self.inner.subscribe()
    }
}

/// The embedded server, its bus wrapped in a [`HoldingBus`].
async fn start(dir: &tempfile::TempDir) -> (natter_server::RunningServer, Arc<HoldingBus>) {
    let mut config = ServerConfig::default();
    config.server.listen = "127.0.0.1:0".parse().expect("address");
    config.server.data_dir = dir.path().to_owned();
    config.auth.argon2_memory_kib = 512;
    let mut backends = natter_server::backends::open(&config)
        .await
        .expect("backends");
    let bus = Arc::new(HoldingBus {
        inner: backends.ports.bus.clone(),
        next: Mutex::new(None),
    });
    backends.ports.bus = bus.clone();
    let server = natter_server::start_with(config, backends)
        .await
        .expect("server");
    (server, bus)
}

async fn user(base: &str, name: &str) -> (Client, Uuid) {
    let client = Client::new(base).expect("client");
    let id = client
        .register(name, PASSWORD)
        .await
        .expect("register")
        .user
        .id;
    (client, id)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next server frame (pings skipped), within [`WAIT`].
async fn next_frame(ws: &mut Ws) -> ServerFrame {
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
async fn hello(client: &Client, resume: serde_json::Value) -> (Ws, Vec<ServerFrame>, i64) {
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

fn replayed_message(frames: &[ServerFrame]) -> Vec<&MessageView> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ServerFrame::MessageNew { message } | ServerFrame::MessageUpdated { message } => {
                Some(message)
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_after_the_hello_ack_is_not_sent_again_at_or_below_the_cursor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, bus) = start(&dir).await;
    let base = format!("http://{}", server.addr);
    let (alice, _) = user(&base, "alice").await;
    let (bob, bob_id) = user(&base, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_id])
        .await
        .expect("group")
        .conversation
        .id;

    // Alice's message is committed; its event is held before the bus.
    let (reached, release) = bus.hold_next_message();
    let sending = tokio::spawn({
        let alice = alice.clone();
        async move { alice.send_text(group, "held").await }
    });
    tokio::time::timeout(WAIT, reached)
        .await
        .expect("the send reached the bus in time")
        .expect("held");

    // Bob's first device reads it from the store during its replay...
    let (mut replaying, frames, sync_cursor) = hello(
        &bob,
        json!({"sync_cursor": 0, "cursors": {group.to_string(): 0}}),
    )
    .await;
    let held = match replayed_message(&frames)[..] {
        [message] if message.text == "held" => message.clone(),
        ref other => panic!("expected the held message replayed, got {other:?}"),
    };
    // ... so his devices resume with cursors that include it: with the sync cursor that first
    // hello returned (the conversation has not changed since: nothing is replayed), and without
    // any sync cursor (no replay at all).
    let cursors = json!({group.to_string(): held.mod_seq});
    let (mut resumed, frames, _) = hello(
        &bob,
        json!({"sync_cursor": sync_cursor, "cursors": cursors}),
    )
    .await;
    assert!(frames.is_empty(), "nothing changed since: {frames:?}");
    let (mut cursors_only, frames, _) = hello(&bob, json!({"cursors": cursors})).await;
    assert!(
        frames.is_empty(),
        "no replay without a sync cursor: {frames:?}"
    );

    // The held event reaches the bus after all three hello acks; then a normal message follows.
    release.send(()).expect("release");
    let sent = sending.await.expect("send task").expect("send");
    assert_eq!(sent.id, held.id);
    let later = alice.send_text(group, "later").await.expect("send later");

    for (device, ws) in [
        ("replayed it", &mut replaying),
        ("resumed with a sync cursor", &mut resumed),
        ("resumed with cursors only", &mut cursors_only),
    ] {
        match next_frame(ws).await {
            ServerFrame::MessageNew { message } if message.id == later.id => {}
            other => panic!("the device that {device} got {other:?}, not the later message"),
        }
    }
    server.shutdown().await.expect("shutdown");
}
