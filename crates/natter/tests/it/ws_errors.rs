//! Bad WebSocket input, with a raw client: each gets a clear error or close code, changes
//! nothing, and leaves other clients on the same server alone. Also idle and hello timeouts,
//! slow consumers (dropped, then resume without loss) and logout closing live connections.

use std::time::Duration;

use futures_util::SinkExt;
use natter_sdk::protocol::{Ack, HelloOk, ServerFrame};
use natter_sdk::{Client, Session, SessionConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use uuid::Uuid;

use crate::server::TestServer;
use crate::support::{
    RawRead, RawWs, all_messages, assert_no_event, collect_new_messages, raw_authenticated,
    raw_close_code, raw_connect, raw_read, raw_send, user,
};

const WAIT: Duration = Duration::from_secs(10);

/// The next frame must be an error with `code` (and `id`, when given).
async fn expect_error(ws: &mut RawWs, code: &str, id: Option<&str>) {
    match raw_read(ws, WAIT).await {
        RawRead::Frame(ServerFrame::Error { id: got_id, error }) => {
            assert_eq!(error.code, code, "error {error:?}");
            assert!(!error.message.is_empty());
            if let Some(id) = id {
                assert_eq!(got_id.as_deref(), Some(id));
            }
        }
        other => panic!("expected an error {code}, got {other:?}"),
    }
}

async fn expect_pong(ws: &mut RawWs, id: &str) {
    raw_send(ws, &format!(r#"{{"type":"ping","id":"{id}"}}"#)).await;
    match raw_read(ws, WAIT).await {
        RawRead::Frame(ServerFrame::Pong { id: got }) => assert_eq!(got, id),
        other => panic!("expected pong {id}, got {other:?}"),
    }
}

/// Alice and bob in a group; bob's SDK session watches for anything that should not happen.
struct Bystander {
    alice: Client,
    bob_session: Session,
    group: Uuid,
}

async fn bystander(server: &TestServer) -> Bystander {
    let (alice, _) = user(server, "alice").await;
    let (bob, bob_user) = user(server, "bob").await;
    let group = alice
        .create_group("g", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let bob_session = bob.connect().await.expect("bob session");
    Bystander {
        alice,
        bob_session,
        group,
    }
}

impl Bystander {
    /// Nothing was stored, bob saw no message, and bob's session still works: a fresh message
    /// reaches him, without a reconnect.
    async fn assert_unaffected(&self, stored_before: usize) {
        assert_eq!(
            all_messages(&self.alice, self.group).await.len(),
            stored_before,
            "nothing stored"
        );
        assert_no_event(&self.bob_session, Duration::from_millis(200), |e| {
            matches!(
                e,
                ServerFrame::MessageNew { .. } | ServerFrame::MessageUpdated { .. }
            )
        })
        .await;
        let probe = self
            .alice
            .send_text(self.group, "still fine?")
            .await
            .expect("send");
        let got = collect_new_messages(&self.bob_session, self.group, 1, WAIT).await;
        assert_eq!(got[0].id, probe.id);
        self.bob_session.ping().await.expect("bob's ping");
        assert_eq!(
            self.bob_session.reconnects(),
            0,
            "bob's connection was never disturbed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hello_in_time_closes_with_4001() {
    let server = TestServer::spawn_with(&["--ws-hello-timeout-ms", "500"]);
    let (alice, _) = user(&server, "alice").await;
    let mut silent = raw_connect(&server).await;
    let started = tokio::time::Instant::now();
    assert_eq!(raw_close_code(&mut silent, WAIT).await, Some(4001));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the hello timeout"
    );
    // A client that says hello in time is fine, and stays past the hello timeout.
    let mut prompt = raw_authenticated(&server, &alice).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    expect_pong(&mut prompt, "p").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_gets_unauthenticated_then_4001() {
    let server = TestServer::spawn();
    let mut ws = raw_connect(&server).await;
    raw_send(
        &mut ws,
        r#"{"type":"hello","id":"h1","token":"not-a-token"}"#,
    )
    .await;
    expect_error(&mut ws, "unauthenticated", Some("h1")).await;
    assert_eq!(raw_close_code(&mut ws, WAIT).await, Some(4001));

    // A command before hello is refused too.
    let mut ws = raw_connect(&server).await;
    raw_send(&mut ws, r#"{"type":"ping","id":"p1"}"#).await;
    expect_error(&mut ws, "unauthenticated", Some("p1")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_with_a_negative_cursor_is_refused_with_invalid() {
    let server = TestServer::spawn();
    let (alice, _) = user(&server, "alice").await;
    let token = alice.access_token().expect("token");
    let conversation = Uuid::now_v7().to_string();
    let hello = |id: &str, resume: serde_json::Value| {
        let mut frame = serde_json::json!({"type": "hello", "id": id, "token": token});
        for (key, value) in resume.as_object().expect("resume fields") {
            frame[key] = value.clone();
        }
        frame.to_string()
    };

    // Neither hello is accepted: each gets `invalid`, and the connection is still waiting for
    // a valid hello (a command is unauthenticated), until the third bad frame closes it.
    let mut ws = raw_connect(&server).await;
    raw_send(
        &mut ws,
        &hello("h1", serde_json::json!({"sync_cursor": -1})),
    )
    .await;
    expect_error(&mut ws, "invalid", Some("h1")).await;
    raw_send(
        &mut ws,
        &hello(
            "h2",
            serde_json::json!({"sync_cursor": 0, "cursors": {&conversation: -5}}),
        ),
    )
    .await;
    expect_error(&mut ws, "invalid", Some("h2")).await;
    raw_send(&mut ws, r#"{"type":"ping","id":"p1"}"#).await;
    expect_error(&mut ws, "unauthenticated", Some("p1")).await;
    assert_eq!(raw_close_code(&mut ws, WAIT).await, Some(4001));

    // A corrected hello on the same connection is accepted.
    let mut ws = raw_connect(&server).await;
    raw_send(
        &mut ws,
        &hello("h3", serde_json::json!({"cursors": {&conversation: -1}})),
    )
    .await;
    expect_error(&mut ws, "invalid", Some("h3")).await;
    raw_send(
        &mut ws,
        &hello(
            "h4",
            serde_json::json!({"sync_cursor": 0, "cursors": {&conversation: 0}}),
        ),
    )
    .await;
    loop {
        match raw_read(&mut ws, WAIT).await {
            RawRead::Frame(ServerFrame::Ack { id, body }) if id == "h4" => {
                assert!(matches!(body, Ack::Hello(_)), "hello ack: {body:?}");
                break;
            }
            RawRead::Frame(ServerFrame::Conversation { .. }) => {}
            other => panic!("expected the hello ack, got {other:?}"),
        }
    }
    expect_pong(&mut ws, "p2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_invalid_and_change_nothing() {
    let server = TestServer::spawn();
    let by = bystander(&server).await;
    let group = by.group;
    let mut ws = raw_authenticated(&server, &by.alice).await;

    // Malformed JSON: an error without id, and the connection stays usable.
    raw_send(&mut ws, r#"{"type":"send","id":"x0","conversation_id":"#).await;
    expect_error(&mut ws, "invalid", None).await;
    expect_pong(&mut ws, "p1").await;
    raw_send(&mut ws, "not json at all").await;
    expect_error(&mut ws, "invalid", None).await;

    // Unknown type, wrong field types, unknown field, bad uuid, missing field.
    let bad = [
        ("x1", r#"{"type":"explode","id":"x1"}"#.to_owned()),
        (
            "x2",
            format!(
                r#"{{"type":"send","id":"x2","conversation_id":"{group}","client_msg_id":"c","text":42}}"#
            ),
        ),
        (
            "x3",
            format!(
                r#"{{"type":"send","id":"x3","conversation_id":"{group}","client_msg_id":"c","text":"hi","extra":1}}"#
            ),
        ),
        (
            "x4",
            r#"{"type":"send","id":"x4","conversation_id":"nope","client_msg_id":"c","text":"hi"}"#
                .to_owned(),
        ),
        (
            "x5",
            format!(r#"{{"type":"send","id":"x5","conversation_id":"{group}","text":"hi"}}"#),
        ),
        (
            "x6",
            format!(r#"{{"type":"read","id":"x6","conversation_id":"{group}","seq":"one"}}"#),
        ),
        // Valid frames whose values break the rules: empty and too long text.
        (
            "x7",
            format!(
                r#"{{"type":"send","id":"x7","conversation_id":"{group}","client_msg_id":"c7","text":""}}"#
            ),
        ),
        (
            "x8",
            format!(
                r#"{{"type":"send","id":"x8","conversation_id":"{group}","client_msg_id":"c8","text":"{}"}}"#,
                "a".repeat(4001)
            ),
        ),
    ];
    for (id, frame) in &bad {
        raw_send(&mut ws, frame).await;
        expect_error(&mut ws, "invalid", Some(id)).await;
    }
    // A type field that is not a string, and a JSON array.
    raw_send(&mut ws, r#"{"type":7,"id":"x9"}"#).await;
    expect_error(&mut ws, "invalid", None).await;
    raw_send(&mut ws, "[1,2]").await;
    expect_error(&mut ws, "invalid", None).await;

    // A binary frame.
    ws.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send binary");
    expect_error(&mut ws, "invalid", None).await;

    // A frame well under the size limit but full of junk is just invalid.
    raw_send(
        &mut ws,
        &format!("{{\"junk\":\"{}\"}}", "z".repeat(100 * 1024)),
    )
    .await;
    expect_error(&mut ws, "invalid", None).await;

    // Still usable; nothing stored; bob saw nothing and is fine.
    expect_pong(&mut ws, "p2").await;
    by.assert_unaffected(0).await;
    // And the same connection can still send properly.
    raw_send(&mut ws, &format!(r#"{{"type":"send","id":"ok","conversation_id":"{group}","client_msg_id":"good","text":"fine"}}"#)).await;
    loop {
        match raw_read(&mut ws, WAIT).await {
            RawRead::Frame(ServerFrame::Ack { id, body }) if id == "ok" => {
                let Ack::Message { message, .. } = body else {
                    panic!("expected a message ack, got {body:?}");
                };
                assert_eq!(message.text, "fine");
                break;
            }
            RawRead::Frame(_) => {}
            other => panic!("expected the ack, got {other:?}"),
        }
    }
    assert_eq!(all_messages(&by.alice, group).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_frames_closes_with_4029() {
    let server = TestServer::spawn();
    let by = bystander(&server).await;
    let mut ws = raw_authenticated(&server, &by.alice).await;
    for _ in 0..25 {
        if ws.send(Message::text("{bad")).await.is_err() {
            break;
        }
    }
    let mut errors = 0;
    let code = loop {
        match raw_read(&mut ws, WAIT).await {
            RawRead::Frame(ServerFrame::Error { error, .. }) => {
                assert_eq!(error.code, "invalid");
                errors += 1;
            }
            RawRead::Frame(other) => panic!("unexpected {other:?}"),
            RawRead::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(4029));
    assert_eq!(errors, 20, "closed at the 20th bad frame");
    by.assert_unaffected(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_refusals_do_not_count_as_a_flood() {
    let server = TestServer::spawn();
    let by = bystander(&server).await;
    let mut ws = raw_authenticated(&server, &by.alice).await;
    let nowhere = uuid::Uuid::now_v7();
    for i in 0..30 {
        let id = format!("s{i}");
        let frame = serde_json::json!({"type":"send","id":id,"conversation_id":nowhere,"client_msg_id":id,"text":"hi"});
        ws.send(Message::text(frame.to_string()))
            .await
            .expect("send");
        expect_error(&mut ws, "not_found", Some(&id)).await;
    }
    expect_pong(&mut ws, "p").await;
    by.assert_unaffected(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_closes_with_1009() {
    let server = TestServer::spawn();
    let by = bystander(&server).await;
    let mut ws = raw_authenticated(&server, &by.alice).await;
    let huge = format!(
        r#"{{"type":"send","id":"big","conversation_id":"{}","client_msg_id":"big","text":"{}"}}"#,
        by.group,
        "a".repeat(300 * 1024)
    );
    let _ = ws.send(Message::text(huge)).await;
    assert_eq!(raw_close_code(&mut ws, WAIT).await, Some(1009));
    by.assert_unaffected(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_frame_closes_the_connection() {
    let server = TestServer::spawn();
    let by = bystander(&server).await;
    let mut ws = raw_authenticated(&server, &by.alice).await;
    let bytes = b"{\"type\":\"ping\",\"id\":\"\xff\xfe\"}".to_vec();
    let frame = Frame::message(bytes, OpCode::Data(Data::Text), true);
    let _ = ws.send(Message::Frame(frame)).await;
    assert_eq!(raw_close_code(&mut ws, WAIT).await, Some(1007));
    by.assert_unaffected(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_with_4000_and_heartbeats_keep_one_open() {
    let server = TestServer::spawn_with(&["--ws-idle-timeout-ms", "1000"]);
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let session = bob.connect().await.expect("bob's session");
    assert_eq!(session.hello().expect("hello").idle_timeout_ms, 1000);

    let mut idle = raw_authenticated(&server, &alice).await;
    let started = tokio::time::Instant::now();
    assert_eq!(raw_close_code(&mut idle, WAIT).await, Some(4000));
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "not before the idle timeout"
    );

    // The SDK pings on its own: connected all along.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    session.ping().await.expect("ping");
    assert_eq!(session.reconnects(), 0);
    session.close().await;
}

/// A raw socket with a tiny receive buffer, so that a client that does not read backs up fast.
async fn tiny_window_socket(server: &TestServer) -> RawWs {
    let address: std::net::SocketAddr = server
        .base_url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(address).await.expect("connect");
    let url = server.client().websocket_url();
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("handshake");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_dropped_with_4008_and_resumes_without_loss() {
    let server = TestServer::spawn_with(&["--ws-outbound-queue", "8"]);
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_user) = user(&server, "bob").await;
    let group = alice
        .create_group("firehose", None, &[bob_user.id])
        .await
        .expect("group")
        .conversation
        .id;
    let alice_session = alice.connect().await.expect("alice's session");

    let mut slow = tiny_window_socket(&server).await;
    let token = bob.access_token().expect("token");
    raw_send(
        &mut slow,
        &serde_json::json!({"type": "hello", "id": "h", "token": token}).to_string(),
    )
    .await;
    let hello: HelloOk = match raw_read(&mut slow, WAIT).await {
        RawRead::Frame(ServerFrame::Ack {
            body: Ack::Hello(hello),
            ..
        }) => hello,
        other => panic!("expected the hello ack, got {other:?}"),
    };

    // Bob's raw client stops reading while alice sends a lot: 16 KiB per message (4000
    // four-byte characters), ~10 MB in all, more than the kernel buffers on both ends hold.
    const TOTAL: i64 = 600;
    let text = "😀".repeat(4000);
    for i in 1..=TOTAL {
        let sent = alice.send_text(group, &text).await.expect("send");
        assert_eq!(sent.seq, i);
    }
    // Alice's own session (reading normally) got everything without trouble.
    let got = collect_new_messages(
        &alice_session,
        group,
        TOTAL as usize,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(got.last().map(|m| m.seq), Some(TOTAL));
    assert_eq!(alice_session.reconnects(), 0);

    // Now bob reads: what was buffered, then the slow-consumer close.
    let mut received = Vec::new();
    let mut last_mod = 0;
    let code = loop {
        match raw_read(&mut slow, Duration::from_secs(20)).await {
            RawRead::Frame(ServerFrame::MessageNew { message }) => {
                last_mod = message.mod_seq;
                received.push(message.seq);
            }
            RawRead::Frame(_) => {}
            RawRead::Closed(code) => break code,
        }
    };
    assert_eq!(
        code,
        Some(4008),
        "dropped as a slow consumer after {} messages",
        received.len()
    );
    assert!((received.len() as i64) < TOTAL);
    assert_eq!(
        received,
        (1..=received.len() as i64).collect::<Vec<_>>(),
        "what did arrive is in order"
    );

    // Resuming from what the raw client saw yields the rest, exactly once.
    let config = SessionConfig {
        sync_cursor: Some(hello.sync_cursor),
        cursors: [(group, last_mod)].into_iter().collect(),
        ..SessionConfig::default()
    };
    let resumed = bob.connect_with(config).await.expect("resume");
    let rest = collect_new_messages(
        &resumed,
        group,
        (TOTAL as usize) - received.len(),
        Duration::from_secs(30),
    )
    .await;
    let first_missing = received.len() as i64 + 1;
    assert_eq!(
        rest.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (first_missing..=TOTAL).collect::<Vec<_>>()
    );
    assert_no_event(&resumed, Duration::from_millis(300), |e| {
        matches!(e, ServerFrame::MessageNew { .. })
    })
    .await;
    resumed.close().await;
    alice_session.close().await;
}

/// Reads events until the session ends (`None`), bounded.
async fn until_session_ends(session: &Session) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, session.next_event()).await {
            Ok(None) => return,
            Ok(Some(_)) => {}
            Err(_) => panic!("the session did not end"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_and_revocation_close_live_connections_with_4002() {
    let server = TestServer::spawn();
    let (alice, alice_user) = user(&server, "alice").await;
    let session = alice.connect().await.expect("session");
    let mut raw = raw_authenticated(&server, &alice).await;

    alice.logout().await.expect("logout");
    assert_eq!(raw_close_code(&mut raw, WAIT).await, Some(4002));
    until_session_ends(&session).await;
    assert_eq!(
        session.close_reason().and_then(|e| e.close_code()),
        Some(4002)
    );
    let err = session.ping().await.expect_err("ended");
    assert_eq!(err.close_code(), Some(4002));

    // Revoking another device's session closes that device only.
    let phone = server.client();
    let phone_tokens = phone
        .login(&alice_user.username, "correct horse battery staple")
        .await
        .expect("phone login");
    let laptop = server.client();
    laptop
        .login(&alice_user.username, "correct horse battery staple")
        .await
        .expect("laptop login");
    let phone_session = phone.connect().await.expect("phone session");
    let laptop_session = laptop.connect().await.expect("laptop session");
    laptop
        .revoke_session(phone_tokens.session_id)
        .await
        .expect("revoke the phone");
    until_session_ends(&phone_session).await;
    assert_eq!(
        phone_session.close_reason().and_then(|e| e.close_code()),
        Some(4002)
    );
    laptop_session
        .ping()
        .await
        .expect("the laptop is unaffected");
    assert_eq!(laptop_session.reconnects(), 0);
    let err = phone
        .me()
        .await
        .expect_err("the revoked session's tokens are dead");
    assert_eq!(err.status(), Some(401));
    laptop_session.close().await;
}

/// A browser page of another origin cannot open a socket; the server's own origin and clients
/// that send no `Origin` (SDKs, bots) can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_before_the_upgrade() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::spawn();
    let url = server.client().websocket_url();
    let connect = |origin: Option<String>| {
        let mut request = url.as_str().into_client_request().expect("request");
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("header"));
        }
        tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
    };
    match connect(Some("https://evil.example".into()))
        .await
        .expect("in time")
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!("expected 403, got {:?}", other.map(|_| "a socket")),
    }
    let own = server.base_url.clone();
    connect(Some(own))
        .await
        .expect("in time")
        .expect("own origin");
    connect(None).await.expect("in time").expect("no origin");
}

/// An origin named in `server.allowed_origins` (here the desktop app's, `tauri://localhost`)
/// may open a socket, and may call the REST API across origins: the preflight is answered with
/// its origin, the methods and the headers the API and tus read, and every answer names it and
/// exposes tus's headers. An origin not named gets neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_origin_such_as_the_desktop_app_gets_cors_and_a_socket() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    const DESKTOP: &str = "tauri://localhost";
    let server = TestServer::spawn_with_env(
        &[],
        &[(
            "NATTER__SERVER__ALLOWED_ORIGINS",
            r#"["tauri://localhost", "http://tauri.localhost"]"#,
        )],
    );
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/conversations", server.base_url),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
    };
    let allowed = preflight(DESKTOP).await.expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], DESKTOP);
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("upload-offset"),
        "{headers}"
    );
    assert!(h.get("access-control-allow-credentials").is_none());

    let foreign = preflight("https://evil.example").await.expect("preflight");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // A real call from the desktop's page: the answer names its origin and exposes tus's headers.
    let answer = http
        .get(format!("{}/api/v1/users/me", server.base_url))
        .header("origin", DESKTOP)
        .send()
        .await
        .expect("GET");
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["access-control-allow-origin"], DESKTOP);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("upload-offset") && exposed.contains("location"),
        "{exposed}"
    );

    let mut request = server
        .client()
        .websocket_url()
        .as_str()
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("origin", DESKTOP.parse().expect("header"));
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("in time")
        .expect("the desktop app's origin opens a socket");
}
