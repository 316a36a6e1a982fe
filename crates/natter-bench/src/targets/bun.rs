//! The bare Bun relay (bench/relay/bun-relay.js): rooms named in the upgrade URL, `room|payload`
//! published to every subscriber of the room. No authentication, no persistence: a floor.
//!
//! What it relays is the bench's choice ([`RelayFrame`]): by default the marker alone (~25 bytes,
//! the recorded results), or a frame as large as natter's `message.new` for the same marker
//! (~333 bytes), so that a comparison per delivery can also be made at equal bytes: on loopback the
//! kernel's copy of every byte is a large part of a server's fan-out cost.

use std::net::SocketAddr;

use async_trait::async_trait;
use tokio::process::{Child, Command};

use super::{Bins, Kind, Server, Setup, Target, free_port};
use crate::conn::{Identity, ResumeState, Ws};
use crate::track::Tracker;
use crate::world::RoomSpec;

pub(super) fn spawn(bins: &Bins, log: &std::fs::File) -> anyhow::Result<(Child, SocketAddr)> {
    let port = free_port()?;
    let mut cmd = Command::new(&bins.bun);
    cmd.arg(&bins.relay_js).env("PORT", port.to_string());
    Ok((
        super::spawn(cmd, log)?,
        SocketAddr::from(([127, 0, 0, 1], port)),
    ))
}

/// What the relay's publishers send (`--relay-frame`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RelayFrame {
    /// The marker alone.
    Marker,
    /// The marker inside a frame with the fields and sizes of natter's `message.new`.
    Chat,
}

pub struct Relay {
    pub server: Server,
    pub frame: RelayFrame,
}

/// `text` as the `text` of a frame with every field natter's `message.new` carries for a plain
/// message (docs/protocol.md), each as long as natter's: a 19-digit id, two UUIDs, `seq` and
/// `mod_seq`, the client's id, a creation time in milliseconds.
fn chat_frame(g: u64, text: &str, run_tag: &str) -> String {
    format!(
        r#"{{"type":"message.new","message":{{"id":"7403919388562538496","conversation_id":"0192f0e4-7c2a-7b3e-9a51-3c7d2e8f4a10","seq":{g},"mod_seq":{g},"sender_id":"0192f0e4-7c2a-7b3e-9a51-3c7d2e8f4a11","client_msg_id":"{run_tag}-{g}","text":"{text}","created_at_ms":1795748209000,"deleted":false}}}}"#
    )
}

#[async_trait]
impl Target for Relay {
    fn kind(&self) -> Kind {
        Kind::Bun
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn pids(&self) -> Vec<u32> {
        vec![self.server.pid]
    }

    async fn setup(&self, n_users: usize, rooms: &[RoomSpec]) -> anyhow::Result<Setup> {
        Ok(Setup {
            tokens: vec![String::new(); n_users],
            room_names: super::peer_room_names(rooms.len()),
            clients: Vec::new(),
        })
    }

    fn ws_url(&self, ident: &Identity, room_names: &[String]) -> String {
        let rooms: Vec<&str> = ident
            .rooms
            .iter()
            .map(|r| room_names[*r].as_str())
            .collect();
        format!("ws://{}/?r={}", self.addr(), rooms.join(","))
    }

    async fn authenticate(
        &self,
        _ws: &mut Ws,
        _ident: &Identity,
        _room_names: &[String],
        _resume: &mut ResumeState,
    ) -> anyhow::Result<usize> {
        Ok(0) // subscribed by the upgrade itself
    }

    fn publish_frame(&self, room_name: &str, g: u64, text: &str, run_tag: &str) -> String {
        match self.frame {
            RelayFrame::Marker => format!("{room_name}|{text}"),
            RelayFrame::Chat => format!("{room_name}|{}", chat_frame(g, text, run_tag)),
        }
    }

    fn on_text(&self, tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str> {
        tracker.on_text(shard, text);
        None
    }

    async fn stop(&self) {
        self.server.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use natter_sdk::protocol::{MessageView, ServerFrame};

    use super::*;
    use crate::track::{find_marker, payload};

    /// The chat frame is exactly as long as the `message.new` natter sends for the same marker
    /// (numbers of the same digits), and the tracker finds the marker in it.
    #[test]
    fn a_chat_frame_is_the_size_of_natters_message_new() {
        let (g, run_tag) = (123_456, "b4242");
        let text = payload(g, 1000, 98_765_432);
        let natters = serde_json::to_string(&ServerFrame::MessageNew {
            message: MessageView {
                id: "7403919388562538497".into(),
                conversation_id: uuid::Uuid::now_v7(),
                seq: g as i64,
                mod_seq: g as i64,
                sender_id: uuid::Uuid::now_v7(),
                client_msg_id: format!("{run_tag}-{g}"),
                text: text.clone(),
                reply_to_seq: None,
                mentions: Vec::new(),
                created_at_ms: 1_795_748_209_123,
                edited_at_ms: None,
                deleted: false,
                reactions: Vec::new(),
                attachments: Vec::new(),
            },
        })
        .unwrap();
        let chat = chat_frame(g, &text, run_tag);
        assert_eq!(chat.len(), natters.len(), "{chat}\n{natters}");
        assert_eq!(find_marker(&chat).map(|m| m.g), Some(g));
    }
}
