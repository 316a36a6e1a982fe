//! Helpers shared by the end-to-end tests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use natter_sdk::Client;
use natter_sdk::protocol::{Ack, ServerFrame, UserView};

/// A unique username per call (tests share nothing but the server).
pub fn username(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 10_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Register a fresh user; the returned client holds its tokens.
pub async fn user(server: &crate::server::TestServer, prefix: &str) -> (Client, UserView) {
    let client = server.client();
    let tokens = client
        .register(&username(prefix), "correct horse battery staple")
        .await
        .expect("register");
    (client, tokens.user)
}

/// Wait for the first event matching `pick`, skipping others (bounded by `within`).
pub async fn expect_event<T>(
    session: &natter_sdk::Session,
    within: Duration,
    mut pick: impl FnMut(&ServerFrame) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = session
            .next_event_timeout(left)
            .await
            .expect("event before the deadline");
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

// ---- Helpers for the real-time, resume, crash and raw WebSocket tests ----

/// Every message in a conversation, ascending by seq (paged through REST history).
pub async fn all_messages(
    client: &Client,
    conversation: uuid::Uuid,
) -> Vec<natter_sdk::protocol::MessageView> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let params = natter_sdk::protocol::HistoryParams {
            before: None,
            after: Some(after),
            limit: Some(200),
        };
        let page = client
            .history(conversation, &params)
            .await
            .expect("history")
            .messages;
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page);
    }
    out
}

/// Collect the next `count` `message.new` events of `conversation` (skipping other events),
/// failing if they do not all arrive within `within`.
pub async fn collect_new_messages(
    session: &natter_sdk::Session,
    conversation: uuid::Uuid,
    count: usize,
    within: Duration,
) -> Vec<natter_sdk::protocol::MessageView> {
    let deadline = tokio::time::Instant::now() + within;
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match session.next_event_timeout(left).await {
            Ok(ServerFrame::MessageNew { message }) if message.conversation_id == conversation => {
                out.push(message)
            }
            Ok(_) => {}
            Err(err) => panic!("got {} of {count} messages, then: {err}", out.len()),
        }
    }
    out
}

/// Assert that no event matching `bad` arrives within `window` (other events are skipped).
pub async fn assert_no_event(
    session: &natter_sdk::Session,
    window: Duration,
    mut bad: impl FnMut(&ServerFrame) -> bool,
) {
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        match session.next_event_timeout(left).await {
            Ok(event) => assert!(!bad(&event), "unexpected event: {event:?}"),
            Err(natter_sdk::Error::Timeout) => return,
            Err(err) => panic!("session ended: {err}"),
        }
    }
}

pub type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a raw client read.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one value at a time in tests: its size does not matter
pub enum RawRead {
    Frame(ServerFrame),
    /// A close frame (its code), or the stream ended / failed (`None`).
    Closed(Option<u16>),
}

/// A raw WebSocket to the server, no hello sent.
pub async fn raw_connect(server: &crate::server::TestServer) -> RawWs {
    let url = server.client().websocket_url();
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("ws connect in time")
    .expect("ws connect");
    ws
}

/// The next frame or close from a raw socket, skipping pings/pongs (bounded by `within`).
pub async fn raw_read(ws: &mut RawWs, within: Duration) -> RawRead {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("raw read before the deadline");
        match next {
            None | Some(Err(_)) => return RawRead::Closed(None),
            Some(Ok(Message::Close(frame))) => {
                return RawRead::Closed(frame.map(|f| u16::from(f.code)));
            }
            Some(Ok(Message::Text(text))) => {
                let frame = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|e| panic!("bad server frame {text}: {e}"));
                return RawRead::Frame(frame);
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Read until the connection closes, returning the close code (frames before it are skipped).
pub async fn raw_close_code(ws: &mut RawWs, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if let RawRead::Closed(code) = raw_read(ws, left).await {
            return code;
        }
    }
}

pub async fn raw_send(ws: &mut RawWs, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        text.to_owned(),
    ))
    .await
    .expect("raw send");
}

/// A raw socket that completed `hello` with `client`'s token.
pub async fn raw_authenticated(server: &crate::server::TestServer, client: &Client) -> RawWs {
    let mut ws = raw_connect(server).await;
    let token = client.access_token().expect("token");
    raw_send(
        &mut ws,
        &serde_json::json!({"type": "hello", "id": "h", "token": token}).to_string(),
    )
    .await;
    match raw_read(&mut ws, Duration::from_secs(10)).await {
        RawRead::Frame(ServerFrame::Ack {
            id,
            body: Ack::Hello(_),
        }) if id == "h" => ws,
        other => panic!("expected the hello ack, got {other:?}"),
    }
}

// ---- Helpers for the REST tests (accounts, conversations, messages, http_errors, openapi) ----

/// The status and code of a REST call that must fail; panics when it succeeded.
pub fn api_error<T: std::fmt::Debug>(result: natter_sdk::Result<T>) -> (u16, String) {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(natter_sdk::Error::Api { status, body }) => (status, body.code),
        Err(other) => panic!("expected an API error, got {other}"),
    }
}

/// A raw JSON request under `/api/v1` with `client`'s access token (if any); any status returned.
pub async fn raw_json(
    client: &Client,
    method: natter_sdk::Method,
    api_path: &str,
    body: Option<serde_json::Value>,
) -> natter_sdk::RawResponse {
    let body = body.map(natter_sdk::RawBody::Json).unwrap_or_default();
    let response = client
        .raw_request(method, &format!("/api/v1{api_path}"), body, None)
        .await
        .expect("raw request");
    assert!(
        response.status < 500,
        "server error {} for {api_path}: {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    response
}

/// Sleep long enough that the next write gets a later millisecond timestamp than the last.
pub async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}
