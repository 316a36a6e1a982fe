//! The bare Bun relay (bench/relay/bun-relay.js): rooms named in the upgrade URL, `room|payload`
//! published to every subscriber of the room. No authentication, no persistence: a floor.

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

pub struct Relay {
    pub server: Server,
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

    fn publish_frame(&self, room_name: &str, _g: u64, text: &str, _run_tag: &str) -> String {
        format!("{room_name}|{text}")
    }

    fn on_text(&self, tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str> {
        tracker.on_text(shard, text);
        None
    }

    async fn stop(&self) {
        self.server.kill().await;
    }
}
