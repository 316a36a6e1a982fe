//! The WebSocket protocol itself (RFC 6455), with a raw TCP client written from the RFC alone:
//! the opening handshake, fragmentation, control frames, masking, the closing handshake, and
//! the close code each protocol error gets. Bytes go out exactly as written here, split as the
//! test chooses, so nothing in a client library smooths them over.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::server::TestServer;
use crate::support::user;

const WAIT: Duration = Duration::from_secs(10);
const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

const FIN: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A masked client frame.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![first];
    match payload.len() {
        len @ 0..=125 => bytes.push(0x80 | len as u8),
        len @ 126..=65535 => {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            bytes.push(0x80 | 127);
            bytes.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(&MASK);
    bytes.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
    bytes
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

/// What the server sent: a frame (its first byte and payload), or the end of the stream.
#[derive(Debug, PartialEq)]
enum Read {
    Frame(u8, Vec<u8>),
    End,
}

struct Raw {
    stream: TcpStream,
    read: Vec<u8>,
}

impl Raw {
    /// A TCP connection to the server, before any HTTP.
    async fn tcp(server: &TestServer) -> TcpStream {
        let address = server.base_url.trim_start_matches("http://");
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(address))
            .await
            .expect("connect in time")
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
    }

    /// Send an HTTP request with `headers` and return the response head.
    async fn request(server: &TestServer, headers: &[&str]) -> (TcpStream, String, Vec<u8>) {
        let mut stream = Self::tcp(server).await;
        let host = server.base_url.trim_start_matches("http://");
        let mut request = format!("GET /api/v1/ws HTTP/1.1\r\nHost: {host}\r\n");
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let deadline = Instant::now() + WAIT;
        let mut read = Vec::new();
        loop {
            if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&read[..end]).into_owned();
                let rest = read[end + 4..].to_vec();
                return (stream, head, rest);
            }
            let mut buffer = [0u8; 4096];
            let n = timeout_at(deadline, stream.read(&mut buffer))
                .await
                .expect("response in time")
                .expect("read");
            assert!(n > 0, "closed before the response head: {read:?}");
            read.extend_from_slice(&buffer[..n]);
        }
    }

    /// A WebSocket after a valid handshake.
    async fn connect(server: &TestServer) -> Self {
        let (stream, head, read) = Self::request(
            server,
            &[
                "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version: 13",
            ],
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        Self { stream, read }
    }

    /// A WebSocket that completed `hello` with a fresh user's token.
    async fn authenticated(server: &TestServer) -> Self {
        let (client, _) = user(server, "raw").await;
        Self::authenticated_as(server, &client).await
    }

    /// A WebSocket that completed `hello` with `client`'s token.
    async fn authenticated_as(server: &TestServer, client: &natter_sdk::Client) -> Self {
        let token = client.access_token().expect("token");
        let mut ws = Self::connect(server).await;
        let hello = serde_json::json!({"type": "hello", "id": "h", "token": token}).to_string();
        ws.send(&frame(FIN | TEXT, hello.as_bytes())).await;
        let ack = ws.text().await;
        assert!(
            ack.contains(r#""type":"ack""#) && ack.contains(r#""id":"h""#),
            "{ack}"
        );
        ws
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The server may have closed already (that is what some tests expect): ignore errors.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next frame the server sends, or the end of the stream.
    async fn next(&mut self) -> Read {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((frame, used)) = server_frame(&self.read) {
                self.read.drain(..used);
                return frame;
            }
            let mut buffer = [0u8; 65536];
            match timeout_at(deadline, self.stream.read(&mut buffer))
                .await
                .expect("a frame or the end in time")
            {
                Ok(0) | Err(_) => return Read::End,
                Ok(n) => self.read.extend_from_slice(&buffer[..n]),
            }
        }
    }

    /// The next text frame's payload (pings and pongs in between are skipped).
    async fn text(&mut self) -> String {
        loop {
            match self.next().await {
                Read::Frame(first, payload) if first == FIN | TEXT => {
                    return String::from_utf8(payload).expect("UTF-8 from the server");
                }
                Read::Frame(first, _) if first == FIN | PONG || first == FIN | PING => {}
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The server's close: its code (frames before it are skipped), then the server closes TCP.
    async fn close_code(&mut self) -> Option<u16> {
        for _ in 0..1000 {
            match self.next().await {
                Read::Frame(first, payload) if first == FIN | CLOSE => {
                    assert_eq!(self.next().await, Read::End, "TCP closed after the close");
                    return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                }
                Read::Frame(..) => {}
                Read::End => panic!("the connection ended without a close frame"),
            }
        }
        panic!("no close in 1000 frames");
    }
}

/// A server frame at the start of `bytes` and its length; server frames are never masked.
fn server_frame(bytes: &[u8]) -> Option<(Read, usize)> {
    let [first, second, rest @ ..] = bytes else {
        return None;
    };
    assert_eq!(second & 0x80, 0, "server frames are unmasked");
    let (len, header) = match second & 0x7F {
        126 => (
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as usize,
            10,
        ),
        len => (len as usize, 2),
    };
    let payload = bytes.get(header..header + len)?.to_vec();
    Some((Read::Frame(*first, payload), header + len))
}

fn ping_command(id: &str) -> Vec<u8> {
    format!(r#"{{"type":"ping","id":"{id}"}}"#).into_bytes()
}

fn is_pong(text: &str, id: &str) -> bool {
    text == format!(r#"{{"type":"pong","id":"{id}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opening_handshake_is_checked() {
    let server = TestServer::spawn();
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
    let ok = ["Upgrade: websocket", "Connection: keep-alive, Upgrade", key];
    let (_, head, _) =
        Raw::request(&server, &[&ok[..], &["Sec-WebSocket-Version: 13"]].concat()).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    if crate::cluster::enabled() {
        return; // NGINX answers malformed upgrades in its own way.
    }
    let (_, head, _) =
        Raw::request(&server, &[&ok[..], &["Sec-WebSocket-Version: 8"]].concat()).await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{head}"
    );
    let short_key = [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: c2hvcnQ=",
        "Sec-WebSocket-Version: 13",
    ];
    let (_, head, _) = Raw::request(&server, &short_key).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let no_upgrade = ["Connection: keep-alive", key, "Sec-WebSocket-Version: 13"];
    let (_, head, _) = Raw::request(&server, &no_upgrade).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_message_in_fragments_with_a_ping_between() {
    let server = TestServer::spawn();
    let mut ws = Raw::authenticated(&server).await;
    let command = ping_command("fragments");
    let (a, rest) = command.split_at(5);
    let (b, c) = rest.split_at(7);
    ws.send(&frame(TEXT, a)).await;
    ws.send(&frame(FIN | PING, b"still there?")).await;
    ws.send(&frame(CONTINUATION, b)).await;
    ws.send(&frame(FIN | CONTINUATION, c)).await;
    assert_eq!(
        ws.next().await,
        Read::Frame(FIN | PONG, b"still there?".to_vec())
    );
    assert!(is_pong(&ws.text().await, "fragments"));
    // An empty ping gets an empty pong; an unsolicited pong gets nothing.
    ws.send(&frame(FIN | PONG, b"unsolicited")).await;
    ws.send(&frame(FIN | PING, b"")).await;
    assert_eq!(ws.next().await, Read::Frame(FIN | PONG, Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_split_byte_by_byte_still_parses() {
    let server = TestServer::spawn();
    let mut ws = Raw::authenticated(&server).await;
    let mut bytes = frame(FIN | TEXT, &ping_command("slow"));
    // A long one too: 16-bit length, several reads of the server's per-thread buffer apart.
    let padded = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(300));
    bytes.extend(frame(FIN | TEXT, padded.as_bytes()));
    for byte in &bytes {
        ws.send(std::slice::from_ref(byte)).await;
        ws.stream.flush().await.expect("flush");
        tokio::task::yield_now().await;
    }
    assert!(is_pong(&ws.text().await, "slow"));
    assert!(is_pong(&ws.text().await, &"x".repeat(300)));
}

/// A fresh authenticated socket gets `bytes` and must close with `code`.
async fn closes_with(server: &TestServer, bytes: &[u8], code: u16, what: &str) {
    let mut ws = Raw::authenticated(server).await;
    ws.send(bytes).await;
    assert_eq!(ws.close_code().await, Some(code), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_close_with_1002() {
    let server = TestServer::spawn();
    let mut unmasked = vec![FIN | TEXT, 2];
    unmasked.extend_from_slice(b"{}");
    closes_with(&server, &unmasked, 1002, "an unmasked frame").await;
    for rsv in [0x40, 0x20, 0x10] {
        closes_with(
            &server,
            &frame(FIN | TEXT | rsv, b"{}"),
            1002,
            "a reserved bit",
        )
        .await;
    }
    for opcode in [0x3, 0xB] {
        closes_with(
            &server,
            &frame(FIN | opcode, b""),
            1002,
            "an unknown opcode",
        )
        .await;
    }
    closes_with(
        &server,
        &frame(FIN | PING, &[b'p'; 126]),
        1002,
        "a ping of 126 bytes",
    )
    .await;
    closes_with(&server, &frame(PING, b"p"), 1002, "a fragmented ping").await;
    closes_with(
        &server,
        &frame(FIN | CONTINUATION, b"x"),
        1002,
        "a lone continuation",
    )
    .await;
    let nested = [frame(TEXT, b"{"), frame(FIN | TEXT, b"}")].concat();
    closes_with(
        &server,
        &nested,
        1002,
        "a new message inside a fragmented one",
    )
    .await;
    closes_with(
        &server,
        &frame(FIN | CLOSE, b"\x03"),
        1002,
        "a close payload of one byte",
    )
    .await;
    for code in [999u16, 1005, 1006, 1015, 2000, 5000] {
        closes_with(
            &server,
            &frame(FIN | CLOSE, &close_payload(code, b"")),
            1002,
            "a bad close code",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_1007_even_split_across_fragments() {
    let server = TestServer::spawn();
    // "é" (C3 A9) split over two fragments is fine.
    let mut ws = Raw::authenticated(&server).await;
    let command = r#"{"type":"ping","id":"café"}"#.as_bytes();
    let split = command.iter().position(|b| *b == 0xC3).expect("é") + 1;
    ws.send(&frame(TEXT, &command[..split])).await;
    ws.send(&frame(FIN | CONTINUATION, &command[split..])).await;
    assert!(is_pong(&ws.text().await, "café"));
    // A lead byte whose continuation byte never comes, over two fragments.
    let broken = [
        frame(TEXT, b"{\"type\":\"ping\",\"id\":\"caf\xc3"),
        frame(FIN | CONTINUATION, b"e\"}"),
    ]
    .concat();
    closes_with(&server, &broken, 1007, "invalid UTF-8 over fragments").await;
    let reason = frame(FIN | CLOSE, &close_payload(1000, b"\xff"));
    closes_with(&server, &reason, 1007, "a close reason that is not UTF-8").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_or_too_large_fragments_are_1009() {
    let server = TestServer::spawn();
    // 256 KiB in all at most: three fragments of 100 KiB are one too many.
    let fragment = vec![b' '; 100 * 1024];
    let too_many = [
        frame(TEXT, b"{"),
        frame(CONTINUATION, &fragment),
        frame(CONTINUATION, &fragment),
        frame(FIN | CONTINUATION, &fragment),
    ]
    .concat();
    closes_with(&server, &too_many, 1009, "too many fragments").await;
    let too_large = [
        frame(TEXT, b"{"),
        frame(FIN | CONTINUATION, &vec![b' '; 300 * 1024]),
    ]
    .concat();
    closes_with(&server, &too_large, 1009, "too large a fragment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_close_is_answered_with_a_close_then_tcp_closes() {
    let server = TestServer::spawn();
    let mut ws = Raw::authenticated(&server).await;
    ws.send(&frame(FIN | CLOSE, &close_payload(1000, b"bye")))
        .await;
    assert_eq!(ws.close_code().await, Some(1000), "the code is echoed");
    // A close without a code is answered by one without a code.
    let mut ws = Raw::authenticated(&server).await;
    ws.send(&frame(FIN | CLOSE, b"")).await;
    assert_eq!(ws.close_code().await, None);
    // Before hello too.
    let mut ws = Raw::connect(&server).await;
    ws.send(&frame(FIN | CLOSE, &close_payload(4000, b"")))
        .await;
    assert_eq!(ws.close_code().await, Some(4000));
}

/// A client that sends its commands without waiting for the answers (pipelining, all in one TCP
/// write) gets one answer per command, in its order; its sends are stored in its order; and a
/// command after them sees them all, as if each had waited for the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_are_answered_in_order_and_see_the_sends_before_them() {
    const SENDS: usize = 30;
    let server = TestServer::spawn();
    let (client, _) = user(&server, "pipe").await;
    let (_, other) = user(&server, "other").await;
    let group = client
        .create_group("pipelined", None, &[other.id])
        .await
        .expect("group")
        .conversation
        .id;
    let mut ws = Raw::authenticated_as(&server, &client).await;
    let mut burst = Vec::new();
    for i in 0..SENDS {
        let send = serde_json::json!({"type": "send", "id": format!("s{i}"),
            "conversation_id": group, "client_msg_id": format!("c{i}"), "text": format!("m{i}")});
        burst.extend(frame(FIN | TEXT, send.to_string().as_bytes()));
    }
    let history =
        serde_json::json!({"type": "history", "id": "h", "conversation_id": group, "limit": 50});
    burst.extend(frame(FIN | TEXT, history.to_string().as_bytes()));
    burst.extend(frame(FIN | TEXT, &ping_command("last")));
    ws.send(&burst).await;

    let mut answers = Vec::new();
    while answers.len() < SENDS + 2 {
        let text = ws.text().await;
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        // Events come in between: the sends' own, and any published around the connect (the
        // group's `member.added` may reach the hub after the connection is live). Answers carry
        // their command's `id`; events none.
        if value.get("id").is_none() {
            continue;
        }
        answers.push(value);
    }
    for (i, ack) in answers[..SENDS].iter().enumerate() {
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["id"], format!("s{i}"), "answered in the client's order");
        assert_eq!(ack["message"]["text"], format!("m{i}"));
        assert_eq!(ack["message"]["seq"], i + 1, "stored in the client's order");
    }
    let page = &answers[SENDS];
    assert_eq!(page["id"], "h", "{page}");
    let texts: Vec<&str> = page["messages"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|m| m["text"].as_str().expect("text"))
        .collect();
    let sent: Vec<String> = (0..SENDS).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, sent, "the history after the sends holds them all");
    let pong = &answers[SENDS + 1];
    assert!(pong["type"] == "pong" && pong["id"] == "last", "{pong}");
}
