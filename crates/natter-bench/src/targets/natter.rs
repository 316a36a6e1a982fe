//! natter: the release binary on embedded storage in a temporary data directory. Users are
//! registered and conversations created over REST (through the SDK); a client says `hello` with
//! its access token (and its cursors when it resumes), sends with `send` and receives
//! `message.new`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use natter_sdk::Client;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::{Bins, Kind, Server, Setup, Target};
use crate::conn::{Identity, ResumeState, Ws, next_text};
use crate::track::Tracker;
use crate::world::{PASSWORD, RoomSpec, World};

/// Concurrent REST calls while setting up (the server has 2 cores too).
const SETUP_CONCURRENCY: usize = 16;
/// Members natter accepts when a group is created; the rest are added one by one.
const GROUP_INITIAL_MEMBERS_MAX: usize = 499;

/// The natter flags the bench uses (recorded in the results): limits that would throttle a
/// load generator are opened up, and password hashing is cheap so thousands of users register
/// in seconds. Everything else (persistence, queues, fan-out) is the product's default path.
pub fn natter_flags() -> Vec<String> {
    [
        "--sends-per-second",
        "1000000",
        "--auth-per-minute",
        "100000000",
        "--login-per-address-per-minute",
        "100000000",
        "--metrics-listen",
        "",
        "--argon2-memory-kib",
        "64",
        "--ws-idle-timeout-ms",
        "3600000",
        "--ws-outbound-queue",
        "8192",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Settings without a flag that the bench changes (recorded with the flags): the clients come
/// from 8 loopback addresses, so the per-address socket cap (512 by default, a guard against one
/// host holding a node's sockets) would refuse every connection past 4,096; a publisher at
/// saturation sends as fast as the server takes its sends, far above the 200 commands a second
/// one connection may send by default (a guard against one client's flood, like the per-user
/// send quota opened by `--sends-per-second`); the search scenario searches as one user, far
/// above a person's quota.
pub fn natter_env() -> Vec<(String, String)> {
    vec![
        (
            "NATTER__LIMITS__WS_COMMANDS_PER_SECOND".into(),
            "1000000".into(),
        ),
        ("NATTER__LIMITS__WS_COMMANDS_BURST".into(), "1000000".into()),
        (
            "NATTER__LIMITS__MAX_SOCKETS_PER_ADDRESS".into(),
            "100000".into(),
        ),
        (
            "NATTER__LIMITS__SEARCHES_PER_SECOND".into(),
            "1000000".into(),
        ),
        ("NATTER__LIMITS__SEARCHES_BURST".into(), "1000000".into()),
    ]
}

/// Starts `natter serve` with its data in `dir/data`; returns once it printed its address.
pub(super) async fn spawn(
    bins: &Bins,
    dir: &Path,
    log: &std::fs::File,
    env: &[(String, String)],
) -> anyhow::Result<(Child, SocketAddr)> {
    let mut cmd = Command::new(&bins.natter);
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.join("data"));
    cmd.args(natter_flags())
        .env("RUST_LOG", "warn")
        .envs(natter_env())
        .envs(env.iter().map(|(k, v)| (k, v)));
    let child = super::spawn(cmd, log)?;
    let addr = super::wait_for_natter_addr(&dir.join("server.log")).await?;
    Ok((child, addr))
}

/// One embedded natter node.
pub struct Natter {
    server: Server,
}

impl Natter {
    pub fn new(server: Server) -> Self {
        Self { server }
    }
}

#[async_trait]
impl Target for Natter {
    fn kind(&self) -> Kind {
        Kind::Natter
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    fn pids(&self) -> Vec<u32> {
        vec![self.server.pid]
    }

    fn data_dir(&self) -> Option<PathBuf> {
        Some(self.server.dir().join("data"))
    }

    fn base_url(&self) -> Option<String> {
        Some(self.server.base_url())
    }

    fn resumes(&self) -> bool {
        true
    }

    async fn setup(&self, n_users: usize, rooms: &[RoomSpec]) -> anyhow::Result<Setup> {
        setup(&self.server.base_url(), "bench", n_users, rooms).await
    }

    fn ws_url(&self, _ident: &Identity, _room_names: &[String]) -> String {
        ws_url(self.addr())
    }

    async fn authenticate(
        &self,
        ws: &mut Ws,
        ident: &Identity,
        room_names: &[String],
        resume: &mut ResumeState,
    ) -> anyhow::Result<usize> {
        hello(ws, ident, room_names, resume).await
    }

    fn publish_frame(&self, room_name: &str, g: u64, text: &str, run_tag: &str) -> String {
        publish_frame(room_name, g, text, run_tag)
    }

    fn on_text(&self, tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str> {
        on_text(tracker, shard, text)
    }

    async fn send_aside(&self, world: &World, room: usize, text: &str) -> anyhow::Result<()> {
        send_aside(world, room, text).await
    }

    async fn stop(&self) {
        self.server.kill().await;
    }
}

pub fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/api/v1/ws")
}

/// `hello` with the user's token; when resuming, its sync cursor and a cursor of 0 in each of
/// its rooms (nothing was seen there before the drop: replay everything since).
pub async fn hello(
    ws: &mut Ws,
    ident: &Identity,
    room_names: &[String],
    resume: &mut ResumeState,
) -> anyhow::Result<usize> {
    let mut hello = serde_json::json!({"type": "hello", "id": "h", "token": ident.token});
    if let Some(cursor) = resume.sync_cursor {
        hello["sync_cursor"] = cursor.into();
        let cursors: BTreeMap<&str, i64> = ident
            .rooms
            .iter()
            .map(|r| (room_names[*r].as_str(), 0))
            .collect();
        hello["cursors"] = serde_json::to_value(cursors)?;
    }
    ws.send(Message::text(hello.to_string())).await?;
    let mut replayed = 0;
    loop {
        let text = next_text(ws).await?;
        if text.starts_with(r#"{"type":"ack","id":"h""#) {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            resume.sync_cursor = value["hello"]["sync_cursor"].as_i64();
            return Ok(replayed);
        }
        if text.starts_with(r#"{"type":"error""#) {
            bail!("hello refused: {text}");
        }
        replayed += 1;
    }
}

pub fn publish_frame(room_name: &str, g: u64, text: &str, run_tag: &str) -> String {
    format!(
        r#"{{"type":"send","id":"{g}","conversation_id":"{room_name}","client_msg_id":"{run_tag}-{g}","text":"{text}"}}"#
    )
}

/// Acks are ignored, error frames are refused sends, anything else may carry a delivery.
pub fn on_text(tracker: &Tracker, shard: usize, text: &str) -> Option<&'static str> {
    if text.starts_with(r#"{"type":"ack""#) {
        return None;
    }
    if text.starts_with(r#"{"type":"error""#) {
        tracker.on_error();
        return None;
    }
    tracker.on_text(shard, text);
    None
}

/// A REST send by the room's first member.
pub async fn send_aside(world: &World, room: usize, text: &str) -> anyhow::Result<()> {
    let client = &world.clients[world.rooms[room].members[0]];
    let conv: Uuid = world.room_names[room]
        .parse()
        .context("natter rooms are uuids")?;
    client.send_text(conv, text).await.context("send aside")?;
    Ok(())
}

/// Registers the users (`<prefix>000000`, ...) and creates the rooms over REST.
pub async fn setup(
    base_url: &str,
    prefix: &str,
    n_users: usize,
    rooms: &[RoomSpec],
) -> anyhow::Result<Setup> {
    let (clients, ids) = register(base_url, prefix, n_users).await?;
    let room_names = create_rooms(&clients, &ids, rooms).await?;
    let tokens = clients
        .iter()
        .map(|c| c.access_token().unwrap_or_default())
        .collect();
    Ok(Setup {
        tokens,
        room_names,
        clients,
    })
}

async fn register(
    base_url: &str,
    prefix: &str,
    n_users: usize,
) -> anyhow::Result<(Vec<Client>, Vec<Uuid>)> {
    let base = Client::new(base_url)?;
    let registered: Vec<(usize, Client, Uuid)> = stream::iter(0..n_users)
        .map(|u| {
            let client = base.anonymous();
            async move {
                let tokens = client
                    .register(&format!("{prefix}{u:06}"), PASSWORD)
                    .await
                    .with_context(|| format!("register user {u}"))?;
                anyhow::Ok((u, client, tokens.user.id))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut sorted = registered;
    sorted.sort_by_key(|(u, _, _)| *u);
    Ok(sorted.into_iter().map(|(_, c, id)| (c, id)).unzip())
}

async fn create_rooms(
    clients: &[Client],
    ids: &[Uuid],
    rooms: &[RoomSpec],
) -> anyhow::Result<Vec<String>> {
    // Indices, not borrowed items: a closure over borrowed arguments makes the future not
    // `Send` for every lifetime, which `async_trait` needs.
    let created: Vec<(usize, Uuid)> = stream::iter(0..rooms.len())
        .map(|r| async move { anyhow::Ok((r, create_room(clients, ids, r, &rooms[r]).await?)) })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    let mut names = vec![String::new(); rooms.len()];
    for (r, id) in created {
        names[r] = id.to_string();
    }
    Ok(names)
}

async fn create_room(
    clients: &[Client],
    ids: &[Uuid],
    r: usize,
    room: &RoomSpec,
) -> anyhow::Result<Uuid> {
    let owner = &clients[room.members[0]];
    if room.direct {
        let summary = owner
            .create_direct(ids[room.members[1]])
            .await
            .context("create direct")?;
        return Ok(summary.conversation.id);
    }
    let others: Vec<Uuid> = room.members[1..].iter().map(|u| ids[*u]).collect();
    let first = &others[..others.len().min(GROUP_INITIAL_MEMBERS_MAX)];
    let summary = owner
        .create_group(&format!("room {r}"), None, first)
        .await
        .context("create group")?;
    let id = summary.conversation.id;
    // Membership changes serialise on the conversation's lock; a few in flight keep it busy.
    stream::iter(others[first.len()..].to_vec())
        .map(|user| async move { owner.add_member(id, user, None).await.context("add member") })
        .buffer_unordered(4)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(id)
}
