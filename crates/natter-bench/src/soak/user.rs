//! One soak user's primary device, in natter's raw WebSocket protocol (not the SDK's session, so
//! that the soak decides how a connection dies): it acts when the driver says so, drops its
//! connection (abruptly or with a close frame) on command, acts over REST while offline, and
//! resumes with its cursors. It records every change it receives, so that the driver can check
//! that every acknowledged message reached every member exactly once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use natter_sdk::Client;
use natter_sdk::protocol::rest::{HistoryParams, SendMessageRequest};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::counters::{C, Counters, report_error};
use crate::sched::SplitMix;

pub type Ws = WebSocketStream<TcpStream>;

/// Longest wait for a connection, its handshake and the resume up to the `hello` ack.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A `ping` when nothing was sent for this long (natter's idle timeout is 60 s).
const PING_EVERY: Duration = Duration::from_secs(15);
/// Access tokens live 15 minutes; refresh before reconnecting once one is this old.
const REFRESH_AFTER: Duration = Duration::from_secs(600);
/// How long a quiescing device waits for its outstanding acks.
const QUIESCE_WAIT: Duration = Duration::from_secs(15);
/// Own messages remembered as edit targets.
const OWN_RECENT: usize = 8;
const EMOJI: [&str; 4] = ["👍", "🎉", "😂", "🙏"];

/// Where the server is, and what every user task shares.
pub struct Env {
    /// `host:port` to open TCP connections to.
    pub addr: String,
    /// `ws://host:port/api/v1/ws`.
    pub ws_url: String,
    pub counters: Counters,
}

/// What the driver asks of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send,
    Edit,
    React,
    Typing,
    Read,
    History,
    Rest,
}

/// Where a quiescing device sends its acknowledged (room, seq) pairs.
pub type AckedReply = oneshot::Sender<Vec<(usize, i64)>>;

pub enum Cmd {
    Act(Action),
    /// Drop the connection (without a close frame when `abrupt`), stay offline for `pause`.
    Drop {
        abrupt: bool,
        pause: Duration,
    },
    /// Stop acting; answer with every acknowledged (room, seq) once no send is outstanding.
    Quiesce(AckedReply),
    /// Stay connected until every listed seq of every own room was received, or `deadline`.
    Finish {
        want: Arc<Vec<HashSet<i64>>>,
        deadline: Instant,
    },
}

/// What one device saw of one conversation.
#[derive(Debug, Default)]
pub struct ConvSeen {
    pub seqs: HashSet<i64>,
    /// Every change received; a second copy of one is a duplicate.
    mod_seqs: HashSet<i64>,
    /// The resume cursor: the highest mod_seq received.
    max_mod: i64,
    max_seq: i64,
}

/// A user: its identity, rooms, and what its primary device saw.
pub struct User {
    pub index: usize,
    pub username: String,
    pub password: String,
    pub client: Client,
    /// Global room indices and their conversation ids, one slot per room of the user.
    pub rooms: Vec<(usize, Uuid)>,
    pub seen: Vec<ConvSeen>,
    /// Acknowledged sends: (global room, seq).
    pub acked: Vec<(usize, i64)>,
    slot_of: HashMap<Uuid, usize>,
    sync_cursor: Option<i64>,
    own_recent: VecDeque<(usize, i64)>,
    next_id: u64,
    rng: SplitMix,
    token_at: Instant,
}

/// Why a live connection ended.
enum End {
    Dropped(Duration),
    ClosedByServer(Option<u16>),
    Finished,
}

/// What an outstanding command was.
enum Pending {
    Send(usize),
    Other(Action),
}

impl User {
    pub fn new(
        index: usize,
        username: String,
        password: String,
        client: Client,
        rooms: Vec<(usize, Uuid)>,
    ) -> Self {
        let slot_of = rooms
            .iter()
            .enumerate()
            .map(|(s, (_, id))| (*id, s))
            .collect();
        Self {
            index,
            username,
            password,
            client,
            seen: rooms.iter().map(|_| ConvSeen::default()).collect(),
            rooms,
            acked: Vec::new(),
            slot_of,
            sync_cursor: None,
            own_recent: VecDeque::new(),
            next_id: 0,
            rng: SplitMix::new(0x50A4 + index as u64),
            token_at: Instant::now(),
        }
    }

    /// Runs the device until it has finished (after `Cmd::Finish`) or the driver hung up.
    pub async fn run(mut self, env: Arc<Env>, mut rx: mpsc::UnboundedReceiver<Cmd>) -> Self {
        let mut finish: Option<(Arc<Vec<HashSet<i64>>>, Instant)> = None;
        let mut failures = 0u32;
        let mut first = true;
        loop {
            if let Some((_, deadline)) = &finish
                && Instant::now() > *deadline
            {
                return self;
            }
            if self.token_at.elapsed() > REFRESH_AFTER {
                self.renew_tokens(&env).await;
            }
            let ws = match self.connect(&env).await {
                Ok(ws) => ws,
                Err(err) => {
                    report_error(
                        &env.counters,
                        format!("user {} connect: {err:#}", self.index),
                    );
                    if err.to_string().contains("unauthenticated") {
                        self.renew_tokens(&env).await;
                    }
                    failures += 1;
                    let backoff = Duration::from_millis(200 * u64::from(failures.min(10)));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            failures = 0;
            if !first {
                env.counters.add(C::Reconnects);
            }
            first = false;
            env.counters.online.fetch_add(1, Ordering::Relaxed);
            let end = self.live(&env, ws, &mut rx, &mut finish).await;
            env.counters.online.fetch_sub(1, Ordering::Relaxed);
            match end {
                End::Finished => return self,
                End::ClosedByServer(code) => {
                    env.counters.add(C::ServerCloses);
                    eprintln!("soak: user {} closed by the server ({code:?})", self.index);
                    if code == Some(4002) {
                        self.renew_tokens(&env).await;
                    }
                }
                End::Dropped(pause) => {
                    if self.offline(&env, pause, &mut rx, &mut finish).await {
                        return self;
                    }
                }
            }
        }
    }

    /// Refreshes the tokens; logs in again if the session is gone.
    async fn renew_tokens(&mut self, env: &Env) {
        env.counters.add(C::RestCalls);
        if let Err(err) = self.client.refresh().await {
            report_error(
                &env.counters,
                format!("user {} refresh: {err}; logging in again", self.index),
            );
            if let Err(err) = self.client.login(&self.username, &self.password).await {
                report_error(&env.counters, format!("user {} login: {err}", self.index));
            }
        }
        self.token_at = Instant::now();
    }

    async fn connect(&mut self, env: &Env) -> anyhow::Result<Ws> {
        let token = self.client.access_token().context("no access token")?;
        let mut hello = json!({"type": "hello", "id": "h", "token": token});
        if let Some(cursor) = self.sync_cursor {
            hello["sync_cursor"] = cursor.into();
            let cursors: BTreeMap<String, i64> = self
                .rooms
                .iter()
                .zip(&self.seen)
                .map(|((_, id), seen)| (id.to_string(), seen.max_mod))
                .collect();
            hello["cursors"] = serde_json::to_value(cursors)?;
        }
        let opened = async {
            let tcp = TcpStream::connect(&env.addr).await?;
            tcp.set_nodelay(true)?;
            let (mut ws, _) = tokio_tungstenite::client_async(env.ws_url.as_str(), tcp).await?;
            ws.send(Message::text(hello.to_string())).await?;
            loop {
                let text = match ws.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => bail!("closed during resume: {frame:?}"),
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => return Err(err.into()),
                    None => bail!("closed during resume"),
                };
                let value: Value = serde_json::from_str(&text)?;
                match value["type"].as_str() {
                    Some("ack") if value["id"] == "h" => {
                        self.sync_cursor = value["hello"]["sync_cursor"].as_i64();
                        return Ok(ws);
                    }
                    Some("error") if value["id"] == "h" => bail!("hello refused: {text}"),
                    _ => {
                        env.counters.add(C::Replayed);
                        self.on_change(env, &value);
                    }
                }
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, opened)
            .await
            .context("connect and resume timed out")?
    }

    /// Records a `message.new` or `message.updated`; ignores every other event.
    fn on_change(&mut self, env: &Env, value: &Value) {
        let kind = match value["type"].as_str() {
            Some("message.new") => C::Delivered,
            Some("message.updated") => C::Updated,
            _ => return,
        };
        let message = &value["message"];
        let (Some(conv), Some(seq), Some(mod_seq)) = (
            message["conversation_id"]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok()),
            message["seq"].as_i64(),
            message["mod_seq"].as_i64(),
        ) else {
            report_error(&env.counters, format!("unreadable change: {value}"));
            return;
        };
        let Some(&slot) = self.slot_of.get(&conv) else {
            return;
        };
        env.counters.add(kind);
        let seen = &mut self.seen[slot];
        if !seen.mod_seqs.insert(mod_seq) {
            env.counters.add(C::Duplicates);
            eprintln!(
                "soak: user {} got change {mod_seq} of room {} twice",
                self.index, self.rooms[slot].0
            );
        }
        seen.seqs.insert(seq);
        seen.max_mod = seen.max_mod.max(mod_seq);
        seen.max_seq = seen.max_seq.max(seq);
    }

    /// Acknowledged messages (`want`, by global room) of this user's rooms it never received.
    pub fn missing(&self, want: &[HashSet<i64>]) -> u64 {
        self.rooms
            .iter()
            .zip(&self.seen)
            .map(|((room, _), seen)| want[*room].difference(&seen.seqs).count() as u64)
            .sum()
    }

    async fn live(
        &mut self,
        env: &Env,
        mut ws: Ws,
        rx: &mut mpsc::UnboundedReceiver<Cmd>,
        finish: &mut Option<(Arc<Vec<HashSet<i64>>>, Instant)>,
    ) -> End {
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut quiesce: Option<(AckedReply, Instant)> = None;
        let mut last_sent = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            if let Some((want, deadline)) = finish.as_ref()
                && (self.missing(want) == 0 || Instant::now() > *deadline)
            {
                let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                return End::Finished;
            }
            let sends_out = pending.values().any(|p| matches!(p, Pending::Send(_)));
            if let Some((_, since)) = &quiesce
                && (!sends_out || since.elapsed() > QUIESCE_WAIT)
                && let Some((reply, _)) = quiesce.take()
            {
                let _ = reply.send(self.acked.clone());
            }
            tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_live_text(env, &text, &mut pending),
                    Some(Ok(Message::Close(frame))) => {
                        return End::ClosedByServer(frame.map(|f| u16::from(f.code)));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(err)) => {
                        report_error(&env.counters, format!("user {} socket: {err}", self.index));
                        return End::ClosedByServer(None);
                    }
                    None => return End::ClosedByServer(None),
                },
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Act(action)) => {
                        if let Some((id, frame, what)) = self.command(action) {
                            pending.insert(id, what);
                            last_sent = Instant::now();
                            if let Err(err) = ws.send(Message::text(frame)).await {
                                report_error(&env.counters, format!("user {} send: {err}", self.index));
                            }
                        } else {
                            self.rest_action(env, action).await;
                        }
                    }
                    Some(Cmd::Drop { abrupt, pause }) => {
                        if abrupt {
                            env.counters.add(C::DropAbrupt);
                            if self.rng.below(2) == 0 {
                                // A reset rather than a FIN: the peer sees the socket vanish.
                                let _ = ws.get_ref().set_zero_linger();
                            }
                            drop(ws);
                        } else {
                            env.counters.add(C::DropClean);
                            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                        }
                        return End::Dropped(pause);
                    }
                    Some(Cmd::Quiesce(reply)) => quiesce = Some((reply, Instant::now())),
                    Some(Cmd::Finish { want, deadline }) => *finish = Some((want, deadline)),
                    None => return End::Finished,
                },
                _ = tick.tick() => {
                    if last_sent.elapsed() > PING_EVERY {
                        last_sent = Instant::now();
                        let ping = json!({"type": "ping", "id": "p"}).to_string();
                        let _ = ws.send(Message::text(ping)).await;
                    }
                }
            }
        }
    }

    fn on_live_text(&mut self, env: &Env, text: &str, pending: &mut HashMap<String, Pending>) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(err) => return report_error(&env.counters, format!("bad frame {text}: {err}")),
        };
        let id = value["id"].as_str().unwrap_or_default();
        match value["type"].as_str() {
            Some("ack") => match pending.remove(id) {
                Some(Pending::Send(slot)) => {
                    let Some(seq) = value["message"]["seq"].as_i64() else {
                        return report_error(
                            &env.counters,
                            format!("send ack without seq: {text}"),
                        );
                    };
                    env.counters.add(C::AckedWs);
                    self.on_acked(slot, seq);
                }
                Some(Pending::Other(action)) => env.counters.add(counter_of(action)),
                None => {}
            },
            Some("error") => {
                let what = pending.remove(id);
                let code = value["code"].as_str().unwrap_or_default();
                if code == "rate_limited" {
                    env.counters.add(C::RateLimited);
                } else if code == "conflict" && matches!(what, Some(Pending::Other(Action::React)))
                {
                    // The same emoji again: already there.
                } else {
                    report_error(&env.counters, format!("user {}: {text}", self.index));
                }
            }
            _ => self.on_change(env, &value),
        }
    }

    fn on_acked(&mut self, slot: usize, seq: i64) {
        self.acked.push((self.rooms[slot].0, seq));
        self.own_recent.push_back((slot, seq));
        if self.own_recent.len() > OWN_RECENT {
            self.own_recent.pop_front();
        }
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    /// The username holds the run's tag, so the id is unique per run and user.
    fn client_msg_id(&self, id: &str) -> String {
        format!("{}-{id}", self.username)
    }

    /// A WebSocket frame for `action`: (command id, frame, what it was). None when the action
    /// has nothing to act on yet (then it is done over REST instead).
    fn command(&mut self, action: Action) -> Option<(String, String, Pending)> {
        let slot = self.rng.below(self.rooms.len() as u64) as usize;
        let conv = self.rooms[slot].1;
        let max_seq = self.seen[slot].max_seq;
        let id = self.new_id();
        let frame = match action {
            Action::Send => {
                let frame = json!({"type": "send", "id": id, "conversation_id": conv,
                    "client_msg_id": self.client_msg_id(&id), "text": format!("soak {} {id}", self.index)});
                return Some((id, frame.to_string(), Pending::Send(slot)));
            }
            Action::Edit => {
                let &(slot, seq) = self.own_recent.back()?;
                json!({"type": "edit", "id": id, "conversation_id": self.rooms[slot].1,
                    "seq": seq, "text": format!("edited {id}")})
            }
            Action::React if max_seq > 0 => {
                let seq = 1 + self.rng.below(max_seq as u64) as i64;
                let emoji = EMOJI[self.rng.below(EMOJI.len() as u64) as usize];
                json!({"type": "react", "id": id, "conversation_id": conv, "seq": seq, "emoji": emoji})
            }
            Action::Read if max_seq > 0 => {
                json!({"type": "read", "id": id, "conversation_id": conv, "seq": max_seq})
            }
            Action::Typing => json!({"type": "typing", "id": id, "conversation_id": conv}),
            Action::History if self.rng.below(2) == 0 => {
                let before = 1 + self.rng.below(max_seq as u64 + 1) as i64;
                json!({"type": "history", "id": id, "conversation_id": conv, "before": before, "limit": 50})
            }
            _ => return None,
        };
        Some((id, frame.to_string(), Pending::Other(action)))
    }

    /// Does `action` over REST (while offline, and for REST-only actions).
    async fn rest_action(&mut self, env: &Env, action: Action) {
        let slot = self.rng.below(self.rooms.len() as u64) as usize;
        let conv = self.rooms[slot].1;
        let max_seq = self.seen[slot].max_seq;
        let outcome = match action {
            Action::Send => {
                let id = self.new_id();
                let request = SendMessageRequest {
                    client_msg_id: self.client_msg_id(&id),
                    text: format!("soak {} {id} (REST)", self.index),
                    reply_to_seq: None,
                    mentions: Vec::new(),
                    attachments: Vec::new(),
                };
                match self.client.send_message(conv, &request).await {
                    Ok(message) => {
                        env.counters.add(C::AckedRest);
                        self.on_acked(slot, message.seq);
                        Ok(())
                    }
                    Err(err) => Err(err),
                }
            }
            Action::Edit => match self.own_recent.back().copied() {
                Some((slot, seq)) => self
                    .client
                    .edit_message(self.rooms[slot].1, seq, "edited (REST)")
                    .await
                    .map(|_| env.counters.add(C::Edits)),
                None => Ok(()),
            },
            Action::React if max_seq > 0 => {
                let seq = 1 + self.rng.below(max_seq as u64) as i64;
                let emoji = EMOJI[self.rng.below(EMOJI.len() as u64) as usize];
                match self.client.react(conv, seq, emoji).await {
                    Err(err) if err.code() == Some("conflict") => Ok(()),
                    other => other.map(|_| env.counters.add(C::Reactions)),
                }
            }
            Action::Read if max_seq > 0 => self
                .client
                .mark_read(conv, max_seq)
                .await
                .map(|_| env.counters.add(C::Reads)),
            Action::Typing => self
                .client
                .typing(conv)
                .await
                .map(|_| env.counters.add(C::Typing)),
            Action::History => {
                let before = Some(1 + self.rng.below(max_seq as u64 + 1) as i64);
                let params = HistoryParams {
                    before,
                    after: None,
                    limit: Some(50),
                };
                self.client
                    .history(conv, &params)
                    .await
                    .map(|_| env.counters.add(C::HistoryPages))
            }
            Action::Rest | Action::React | Action::Read => {
                let result = match self.rng.below(3) {
                    0 => self.client.conversations(None, Some(20)).await.map(|_| ()),
                    1 => self.client.members(conv).await.map(|_| ()),
                    _ => self.client.me().await.map(|_| ()),
                };
                result.map(|_| env.counters.add(C::RestCalls))
            }
        };
        if let Err(err) = outcome {
            if err.code() == Some("rate_limited") {
                env.counters.add(C::RateLimited);
            } else {
                report_error(
                    &env.counters,
                    format!("user {} REST {action:?}: {err}", self.index),
                );
            }
        }
    }

    /// Offline for `pause`: acts over REST meanwhile. Returns true when the device is done.
    async fn offline(
        &mut self,
        env: &Env,
        pause: Duration,
        rx: &mut mpsc::UnboundedReceiver<Cmd>,
        finish: &mut Option<(Arc<Vec<HashSet<i64>>>, Instant)>,
    ) -> bool {
        let until = tokio::time::Instant::now() + pause;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return false,
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Act(action)) => self.rest_action(env, action).await,
                    Some(Cmd::Drop { .. }) => {}
                    Some(Cmd::Quiesce(reply)) => {
                        let _ = reply.send(self.acked.clone());
                        return false;
                    }
                    Some(Cmd::Finish { want, deadline }) => {
                        *finish = Some((want, deadline));
                        return false;
                    }
                    None => return true,
                },
            }
        }
    }
}

fn counter_of(action: Action) -> C {
    match action {
        Action::Send => C::AckedWs,
        Action::Edit => C::Edits,
        Action::React => C::Reactions,
        Action::Typing => C::Typing,
        Action::Read => C::Reads,
        Action::History => C::HistoryPages,
        Action::Rest => C::RestCalls,
    }
}

/// A second device of `username`: logs in, listens for `stay`, logs out, and checks that the
/// logout closed its socket with 4002. Counts the changes it received and any duplicate.
pub async fn guest(
    env: Arc<Env>,
    base: Client,
    username: String,
    password: String,
    stay: Duration,
) {
    if let Err(err) = guest_session(&env, &base, &username, &password, stay).await {
        report_error(&env.counters, format!("guest {username}: {err:#}"));
    }
}

async fn guest_session(
    env: &Env,
    base: &Client,
    username: &str,
    password: &str,
    stay: Duration,
) -> anyhow::Result<()> {
    let client = base.anonymous();
    client.login(username, password).await?;
    let token = client.access_token().context("no token after login")?;
    let tcp = TcpStream::connect(&env.addr).await?;
    let (mut ws, _) = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_tungstenite::client_async(env.ws_url.as_str(), tcp),
    )
    .await??;
    let hello = json!({"type": "hello", "id": "h", "token": token});
    ws.send(Message::text(hello.to_string())).await?;
    env.counters.add(C::Guests);
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let mut logged_out = false;
    let stay_until = tokio::time::Instant::now() + stay;
    let close_by = stay_until + Duration::from_secs(15);
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text)?;
                    if matches!(value["type"].as_str(), Some("message.new" | "message.updated")) {
                        let message = &value["message"];
                        let key = (message["conversation_id"].as_str().unwrap_or_default().to_string(),
                                   message["mod_seq"].as_i64().unwrap_or_default());
                        if !seen.insert(key) {
                            env.counters.add(C::Duplicates);
                            eprintln!("soak: guest {username} got a change twice: {text}");
                        }
                    } else if value["type"] == "error" {
                        bail!("error frame: {text}");
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code));
                    if logged_out && code == Some(4002) {
                        return Ok(());
                    }
                    bail!("closed with {code:?} (logged out: {logged_out})");
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => bail!("socket: {err}"),
                None => bail!("closed without a close frame (logged out: {logged_out})"),
            },
            _ = tokio::time::sleep_until(stay_until), if !logged_out => {
                env.counters.add(C::RestCalls);
                client.logout().await?;
                logged_out = true;
            }
            _ = tokio::time::sleep_until(close_by) => bail!("the socket stayed open after logout"),
            _ = ping.tick() => {
                ws.send(Message::text(json!({"type": "ping", "id": "p"}).to_string())).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: &str, conv: Uuid, seq: i64, mod_seq: i64) -> Value {
        json!({"type": kind, "message": {"conversation_id": conv, "seq": seq, "mod_seq": mod_seq}})
    }

    #[test]
    fn every_change_counts_once_and_a_second_copy_is_a_duplicate() {
        let env = Env {
            addr: String::new(),
            ws_url: String::new(),
            counters: Counters::default(),
        };
        let (mine, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let client = Client::new("http://127.0.0.1:9").unwrap();
        let mut user = User::new(0, "u".into(), "p".into(), client, vec![(3, mine)]);
        user.on_change(&env, &change("message.new", mine, 1, 1));
        user.on_change(&env, &change("message.new", mine, 2, 2));
        user.on_change(&env, &change("message.updated", mine, 1, 3));
        user.on_change(&env, &change("message.new", other, 9, 9));
        assert_eq!(env.counters.get(C::Delivered), 2);
        assert_eq!(env.counters.get(C::Updated), 1);
        assert_eq!(env.counters.get(C::Duplicates), 0);
        assert_eq!(user.seen[0].max_mod, 3);
        // A replay after a resume that repeats a change already seen.
        user.on_change(&env, &change("message.updated", mine, 1, 3));
        assert_eq!(env.counters.get(C::Duplicates), 1);

        let mut want = vec![HashSet::new(); 4];
        want[3] = HashSet::from([1, 2]);
        assert_eq!(user.missing(&want), 0);
        want[3].insert(4);
        want[2].insert(1); // another user's room
        assert_eq!(user.missing(&want), 1);
    }
}
