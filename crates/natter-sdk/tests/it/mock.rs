//! A scripted in-process WebSocket server speaking just enough of the protocol to exercise the
//! session's reconnect, resume, dedup and re-send logic without the real server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use natter_protocol::{Ack, ClientFrame, ErrorBody, HelloOk, MessageView, ServerFrame};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use uuid::Uuid;

/// Knobs a test turns before (or while) the client talks to the mock.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Announced in `HelloOk`.
    pub idle_timeout_ms: u64,
    /// Store the Nth send (1-based, counted over the server's lifetime) but drop the TCP stream
    /// instead of publishing and acking it.
    pub drop_after_storing_send: Option<usize>,
    /// On resume, replay every message regardless of the client's cursors (a sloppy server):
    /// the SDK must drop what it already delivered.
    pub replay_everything: bool,
    /// Never answer commands (to test timeouts).
    pub silent: bool,
}

#[derive(Debug, Default)]
pub struct State {
    pub script: Script,
    pub hellos: Vec<ClientFrame>,
    pub pings: usize,
    pub sends: usize,
    /// Refresh requests served; a refresh token `spent` is refused with 401.
    pub refreshes: usize,
    pub log: Vec<MessageView>,
    by_client_id: HashMap<String, usize>,
    connections: Vec<mpsc::UnboundedSender<Outgoing>>,
    connection_count: u64,
}

#[allow(clippy::large_enum_variant)] // test-only, a handful of frames
#[derive(Debug)]
enum Outgoing {
    Frame(ServerFrame),
    Close(u16),
}

pub struct Mock {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub const USER: Uuid = Uuid::from_u128(0xA);
pub const CONV: Uuid = Uuid::from_u128(0xC);

impl Mock {
    pub async fn spawn(script: Script) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let accept_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&accept_state);
                connections.push(tokio::spawn(async move {
                    let mut head = [0u8; 32];
                    let peeked = stream.peek(&mut head).await.unwrap_or(0);
                    if head[..peeked].starts_with(b"POST /api/v1/auth/refresh") {
                        refresh(stream, &state).await;
                    } else if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                        serve(ws, state).await;
                    }
                }));
            }
        });
        Mock { url, state, task }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Closes every open connection with `code`.
    pub fn close_all(&self, code: u16) {
        for connection in &self.state().connections {
            let _ = connection.send(Outgoing::Close(code));
        }
    }

    /// Appends a message from someone else and publishes it.
    pub fn publish_from_other(&self, text: &str) -> MessageView {
        let mut state = self.state();
        let message = append(
            &mut state,
            Uuid::from_u128(0xB),
            Uuid::now_v7().to_string(),
            text.into(),
        );
        broadcast(
            &mut state,
            ServerFrame::MessageNew {
                message: message.clone(),
            },
        );
        message
    }
}

fn append(state: &mut State, sender: Uuid, client_msg_id: String, text: String) -> MessageView {
    let n = i64::try_from(state.log.len()).unwrap() + 1;
    let message = MessageView {
        id: n.to_string(),
        conversation_id: CONV,
        seq: n,
        mod_seq: n,
        sender_id: sender,
        client_msg_id: client_msg_id.clone(),
        text,
        reply_to_seq: None,
        mentions: Vec::new(),
        created_at_ms: 0,
        edited_at_ms: None,
        deleted: false,
        reactions: Vec::new(),
        attachments: Vec::new(),
    };
    state.by_client_id.insert(client_msg_id, state.log.len());
    state.log.push(message.clone());
    message
}

fn broadcast(state: &mut State, frame: ServerFrame) {
    state
        .connections
        .retain(|connection| connection.send(Outgoing::Frame(frame.clone())).is_ok());
}

fn text(frame: &ServerFrame) -> Message {
    Message::text(serde_json::to_string(frame).unwrap())
}

async fn serve(
    mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: Arc<Mutex<State>>,
) {
    let Some(Ok(Message::Text(first))) = ws.next().await else {
        return;
    };
    let hello: ClientFrame = serde_json::from_str(first.as_str()).unwrap();
    let ClientFrame::Hello {
        id,
        token,
        sync_cursor,
        cursors,
    } = hello.clone()
    else {
        panic!("first frame {hello:?}")
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let accepted = {
        let mut state = state.lock().unwrap();
        state.hellos.push(hello);
        if token == "bad" {
            None
        } else {
            state.connection_count += 1;
            state.connections.push(tx);
            let replay: Vec<MessageView> = match sync_cursor {
                None => Vec::new(),
                Some(_) => {
                    let after = if state.script.replay_everything {
                        0
                    } else {
                        cursors.get(&CONV).copied().unwrap_or(0)
                    };
                    state
                        .log
                        .iter()
                        .filter(|m| m.mod_seq > after)
                        .cloned()
                        .collect()
                }
            };
            let ok = HelloOk {
                user_id: USER,
                session_id: Uuid::nil(),
                idle_timeout_ms: state.script.idle_timeout_ms,
                sync_cursor: i64::try_from(state.connection_count).unwrap() * 100,
            };
            Some((replay, ok))
        }
    };
    let Some((replay, ok)) = accepted else {
        let error = ErrorBody {
            code: "unauthenticated".into(),
            message: "bad token".into(),
            retry_after_ms: None,
        };
        let _ = ws
            .send(text(&ServerFrame::Error {
                id: Some(id),
                error,
            }))
            .await;
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::from(4001),
                reason: "".into(),
            }))
            .await;
        return;
    };
    for message in replay {
        let _ = ws.send(text(&ServerFrame::MessageNew { message })).await;
    }
    let ack = ServerFrame::Ack {
        id,
        body: Ack::Hello(ok),
    };
    if ws.send(text(&ack)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Frame(frame)) => { let _ = ws.send(text(&frame)).await; }
                Some(Outgoing::Close(code)) => {
                    let _ = ws.close(Some(CloseFrame { code: CloseCode::from(code), reason: "scripted".into() })).await;
                    return;
                }
                None => return,
            },
            item = ws.next() => {
                let Some(Ok(Message::Text(raw))) = item else { return };
                let Ok(frame) = serde_json::from_str::<ClientFrame>(raw.as_str()) else {
                    let error = ErrorBody { code: "bad_frame".into(), message: "bad".into(), retry_after_ms: None };
                    let _ = ws.send(text(&ServerFrame::Error { id: None, error })).await;
                    continue;
                };
                if !answer(&mut ws, &state, frame).await {
                    return;
                }
            }
        }
    }
}

/// Handles one command; false when the connection must drop.
async fn answer(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: &Arc<Mutex<State>>,
    frame: ClientFrame,
) -> bool {
    let reply = {
        let mut state = state.lock().unwrap();
        if state.script.silent {
            return true;
        }
        match frame {
            ClientFrame::Ping { id } => {
                state.pings += 1;
                ServerFrame::Pong { id }
            }
            ClientFrame::Send {
                id,
                client_msg_id,
                text,
                ..
            } if text == "forbidden" => {
                let _ = client_msg_id;
                let error = ErrorBody {
                    code: "forbidden".into(),
                    message: "no".into(),
                    retry_after_ms: None,
                };
                ServerFrame::Error {
                    id: Some(id),
                    error,
                }
            }
            ClientFrame::Send {
                id,
                client_msg_id,
                text,
                ..
            } => {
                if let Some(&index) = state.by_client_id.get(&client_msg_id) {
                    let message = state.log[index].clone();
                    ServerFrame::Ack {
                        id,
                        body: Ack::Message {
                            message,
                            duplicate: true,
                        },
                    }
                } else {
                    state.sends += 1;
                    let message = append(&mut state, USER, client_msg_id, text);
                    if state.script.drop_after_storing_send == Some(state.sends) {
                        return false;
                    }
                    broadcast(
                        &mut state,
                        ServerFrame::MessageNew {
                            message: message.clone(),
                        },
                    );
                    ServerFrame::Ack {
                        id,
                        body: Ack::Message {
                            message,
                            duplicate: false,
                        },
                    }
                }
            }
            other => ServerFrame::Ack {
                id: other.id().to_owned(),
                body: Ack::Done,
            },
        }
    };
    ws.send(text(&reply)).await.is_ok()
}

/// Answers `POST /auth/refresh` with tokens whose access token the mock accepts (`good`), or
/// 401 when the refresh token is `spent`.
async fn refresh(mut stream: tokio::net::TcpStream, state: &Arc<Mutex<State>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    // Headers and the small JSON body arrive together in practice; read until the body ends.
    while !request.ends_with(b"}") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    state.lock().unwrap().refreshes += 1;
    let text = String::from_utf8_lossy(&request);
    let (status, body) = if text.contains("\"spent\"") {
        (
            "401 Unauthorized",
            r#"{"code":"unauthenticated","message":"spent"}"#.to_owned(),
        )
    } else {
        let tokens = natter_protocol::AuthTokens {
            user: natter_protocol::UserView {
                id: USER,
                username: "alice".into(),
                display_name: "Alice".into(),
                created_at_ms: 0,
                online: None,
                last_seen_ms: None,
                avatar: None,
            },
            session_id: Uuid::nil(),
            access_token: "good".into(),
            expires_in_s: 900,
            refresh_token: "spent".into(),
        };
        ("200 OK", serde_json::to_string(&tokens).unwrap())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}
