//! Centrifugo v6: JSON protocol over WebSocket, HS256 connection tokens, clients may subscribe
//! to and publish into any channel without a namespace (so its publish path is the client's, as
//! natter's and the relay's are). No history or recovery: it persists nothing.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::bail;
use async_trait::async_trait;
use futures_util::SinkExt;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use super::{Bins, Kind, Server, Setup, Target, free_port};
use crate::conn::{Identity, ResumeState, Ws, next_text};
use crate::track::Tracker;
use crate::world::RoomSpec;

/// The HS256 secret of Centrifugo's connection tokens (a local throwaway).
pub const CENTRIFUGO_SECRET: &str = "natter-bench-local-secret-not-for-production";

pub(super) fn spawn(
    bins: &Bins,
    dir: &Path,
    log: &std::fs::File,
) -> anyhow::Result<(Child, SocketAddr)> {
    let port = free_port()?;
    let config = dir.join("config.json");
    std::fs::write(&config, centrifugo_config(port).to_string())?;
    let mut cmd = Command::new(&bins.centrifugo);
    cmd.arg("--config").arg(&config).current_dir(dir);
    Ok((
        super::spawn(cmd, log)?,
        SocketAddr::from(([127, 0, 0, 1], port)),
    ))
}

pub fn centrifugo_config(port: u16) -> serde_json::Value {
    serde_json::json!({
        "http_server": {"address": "127.0.0.1", "port": port},
        "log": {"level": "error"},
        "client": {
            "token": {"hmac_secret_key": CENTRIFUGO_SECRET},
            "allowed_origins": ["*"],
            "channel_limit": 1024,
            "queue_max_size": 16 * 1024 * 1024
        },
        "channel": {
            "without_namespace": {
                "allow_subscribe_for_client": true,
                "allow_publish_for_client": true
            }
        }
    })
}

/// A connection JWT for Centrifugo user `sub`.
pub fn centrifugo_token(sub: &str) -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 24 * 3600;
    let claims = serde_json::json!({"sub": sub, "exp": exp});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(CENTRIFUGO_SECRET.as_bytes()),
    )?)
}

pub struct Centrifugo {
    pub server: Server,
}

#[async_trait]
impl Target for Centrifugo {
    fn kind(&self) -> Kind {
        Kind::Centrifugo
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn pids(&self) -> Vec<u32> {
        vec![self.server.pid]
    }

    async fn setup(&self, n_users: usize, rooms: &[RoomSpec]) -> anyhow::Result<Setup> {
        Ok(Setup {
            tokens: (0..n_users)
                .map(|u| centrifugo_token(&format!("u{u}")))
                .collect::<anyhow::Result<_>>()?,
            room_names: super::peer_room_names(rooms.len()),
            clients: Vec::new(),
        })
    }

    fn ws_url(&self, _ident: &Identity, _room_names: &[String]) -> String {
        format!("ws://{}/connection/websocket", self.addr())
    }

    /// `connect` and one `subscribe` per room in one batch; waits for every answer.
    async fn authenticate(
        &self,
        ws: &mut Ws,
        ident: &Identity,
        room_names: &[String],
        _resume: &mut ResumeState,
    ) -> anyhow::Result<usize> {
        let mut batch = format!(r#"{{"id":1,"connect":{{"token":"{}"}}}}"#, ident.token);
        for (i, room) in ident.rooms.iter().enumerate() {
            batch.push_str(&format!(
                "\n{{\"id\":{},\"subscribe\":{{\"channel\":\"{}\"}}}}",
                i + 2,
                room_names[*room]
            ));
        }
        ws.send(Message::text(batch)).await?;
        let mut answers = 0;
        while answers < ident.rooms.len() + 1 {
            let text = next_text(ws).await?;
            for line in text.lines() {
                if line.contains(r#""error""#) {
                    bail!("centrifugo refused: {line}");
                }
                if line.starts_with(r#"{"id":"#) {
                    answers += 1;
                }
            }
        }
        Ok(0)
    }

    fn publish_frame(&self, room_name: &str, g: u64, text: &str, _run_tag: &str) -> String {
        format!(
            r#"{{"id":{},"publish":{{"channel":"{room_name}","data":"{text}"}}}}"#,
            g + 1000
        )
    }

    /// Frames batch several lines; `{}` is a server ping, `{"id":..}` a command's answer.
    fn on_text(&self, tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str> {
        let mut reply = None;
        for line in text.lines() {
            if line == "{}" {
                reply = Some("{}");
            } else if line.starts_with(r#"{"id":"#) {
                if line.contains(r#""error""#) {
                    tracker.on_error();
                }
            } else {
                tracker.on_text(shard, line);
            }
        }
        reply
    }

    async fn stop(&self) {
        self.server.kill().await;
    }
}
