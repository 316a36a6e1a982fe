//! [`RedisPresence`]: who is online across the cluster. A user is online while at least one of
//! their connections is open on a live node.
//!
//! Keys (`{prefix}:presence:` then):
//! - `user:{user}`: hash, node -> that node's open connections of the user;
//! - `alive:{node}`: the node's heartbeat, a key with a TTL refreshed every third of it;
//! - `users:{node}`: set of the users the node has counts for (what a sweep must clean);
//! - `nodes`: set of the nodes that registered; `current:{node_id}`: a node id's incarnation.
//!
//! A "node" here is one incarnation of a node id (`{node_id}.{random}`), so a restarted process
//! never inherits the counts of its previous life; at start it deletes the previous
//! incarnation's heartbeat, which makes those counts dead at once.
//!
//! **Dead nodes.** A node that dies stops refreshing its heartbeat; once the key expires its
//! counts no longer count: `online()` and the transitions ignore them, and a periodic sweep (run
//! by every live node, bounded per call) removes them.
//!
//! **This node's counts are kept in memory too**, and Redis holds a copy. Each change writes the
//! node's absolute count for the user (not an increment), under a per-user lock, in one Lua
//! script that also says whether the user's cluster-wide presence changed: atomic, one round
//! trip. A write that fails (Redis down) still counts locally, the call returns `Unavailable`
//! (the gateway logs it and carries on), and the user is rewritten by the next heartbeat. When
//! the heartbeat finds its key gone (expired during an outage, swept, or Redis restarted empty),
//! every local count is rewritten. Rewrites announce nothing: presence shown to contacts may
//! stay stale until the user's next change.
//!
//! Scripts name keys derived from the arguments (a node's heartbeat), which a single Redis
//! server or a primary with replicas allows; Redis Cluster would need one hash tag for all.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::UserId;
use natter_domain::ports::{PresenceStore, StoreResult};
use redis::Script;
use tokio::sync::RwLock;
use tokio::task::AbortHandle;

use crate::connection::Redis;
use crate::errors::Error;

/// Users per `online` script call and per pipelined rewrite batch.
const BATCH: usize = 256;
/// Users a sweep call may clean (keeps each script short).
const SWEEP_BUDGET: usize = 1_000;
const STRIPES: usize = 64;

struct Scripts {
    set: Script,
    online: Script,
    heartbeat: Script,
    start: Script,
    sweep: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            set: Script::new(include_str!("lua/presence_set.lua")),
            online: Script::new(include_str!("lua/presence_online.lua")),
            heartbeat: Script::new(include_str!("lua/presence_heartbeat.lua")),
            start: Script::new(include_str!("lua/presence_start.lua")),
            sweep: Script::new(include_str!("lua/presence_sweep.lua")),
        }
    }
}

pub struct RedisPresence {
    inner: Arc<Inner>,
    heartbeat: AbortHandle,
}

struct Inner {
    redis: Redis,
    /// `{prefix}:presence:`
    base: String,
    /// This incarnation, `{node_id}.{random}`.
    node: String,
    ttl: Duration,
    scripts: Scripts,
    local: Mutex<Local>,
    /// Changes hold it shared; a rewrite of this node's counts holds it exclusively.
    gate: RwLock<()>,
    /// One user's changes run one at a time, so Redis sees this node's counts in order.
    stripes: Vec<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct Local {
    counts: HashMap<UserId, u32>,
    /// Users whose count in Redis may be wrong (a write failed).
    dirty: HashSet<UserId>,
}

impl RedisPresence {
    /// Connect to `url` and start as node `node_id` with the default key prefix.
    pub async fn connect(node_id: u16, url: &str, heartbeat_ttl: Duration) -> Result<Self, Error> {
        Self::start(&Redis::connect(url).await?, node_id, heartbeat_ttl).await
    }

    /// Register this node (a new incarnation of `node_id`), write its first heartbeat and start
    /// the task that refreshes it every third of `heartbeat_ttl` and sweeps dead nodes.
    pub async fn start(
        redis: &Redis,
        node_id: u16,
        heartbeat_ttl: Duration,
    ) -> Result<Self, Error> {
        let ttl = heartbeat_ttl.max(Duration::from_millis(300));
        let base = redis.key("presence:");
        let node = format!(
            "{node_id}.{:012x}",
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        let inner = Arc::new(Inner {
            redis: redis.clone(),
            scripts: Scripts::new(),
            local: Mutex::new(Local::default()),
            gate: RwLock::new(()),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            base,
            node,
            ttl,
        });
        let previous: Option<String> = inner
            .redis
            .run(
                inner
                    .scripts
                    .start
                    .key(format!("{}current:{node_id}", inner.base))
                    .arg(&inner.node)
                    .arg(&inner.base)
                    .invoke_async(&mut inner.redis.connection()),
            )
            .await?;
        if let Some(previous) = previous {
            tracing::info!(%previous, node = %inner.node, "presence: replaced the previous incarnation of this node");
        }
        inner.beat().await?;
        let heartbeat = tokio::spawn(Arc::clone(&inner).heartbeat_loop()).abort_handle();
        Ok(Self { inner, heartbeat })
    }

    /// This incarnation's name in Redis (`{node_id}.{random}`).
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Leave the cluster now (graceful stop): stop the heartbeat and delete it, so this node's
    /// users whose only connections were here are offline at once, then sweep its counts.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.heartbeat.abort();
        let inner = &self.inner;
        let mut connection = inner.redis.connection();
        inner
            .redis
            .run(
                redis::cmd("DEL")
                    .arg(inner.alive_key())
                    .query_async::<()>(&mut connection),
            )
            .await?;
        inner.sweep().await
    }
}

impl Drop for RedisPresence {
    /// Like a crash: the heartbeat stops and expires; nothing is deleted.
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl Inner {
    fn alive_key(&self) -> String {
        format!("{}alive:{}", self.base, self.node)
    }

    fn user_key(&self, user: UserId) -> String {
        format!("{}user:{user}", self.base)
    }

    fn users_key(&self) -> String {
        format!("{}users:{}", self.base, self.node)
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        self.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stripe(&self, user: UserId) -> &tokio::sync::Mutex<()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut hasher);
        &self.stripes[hasher.finish() as usize % self.stripes.len()]
    }

    /// Write this node's `count` for `user`; the cluster-wide transition (1, -1 or 0).
    async fn write(&self, user: UserId, count: u32) -> Result<i64, Error> {
        let result = self
            .redis
            .run(
                self.scripts
                    .set
                    .key(self.user_key(user))
                    .key(self.users_key())
                    .arg(&self.base)
                    .arg(&self.node)
                    .arg(user.to_string())
                    .arg(count)
                    .invoke_async(&mut self.redis.connection()),
            )
            .await;
        let mut local = self.local();
        match result {
            Ok(_) => {
                local.dirty.remove(&user);
            }
            Err(_) => {
                local.dirty.insert(user);
            }
        }
        result
    }

    /// Refresh the heartbeat; rewrite every local count if it had expired.
    async fn beat(&self) -> Result<(), Error> {
        let alive: i64 = self
            .redis
            .run(
                self.scripts
                    .heartbeat
                    .key(self.alive_key())
                    .key(format!("{}nodes", self.base))
                    .arg(&self.node)
                    .arg(self.ttl.as_millis() as u64)
                    .invoke_async(&mut self.redis.connection()),
            )
            .await?;
        if alive == 0 {
            let mut local = self.local();
            let users: Vec<UserId> = local.counts.keys().copied().collect();
            local.dirty.extend(users);
        }
        Ok(())
    }

    /// Rewrite the counts of the users marked dirty, in pipelined batches, with changes paused.
    async fn rewrite_dirty(&self) -> Result<(), Error> {
        let _exclusive = self.gate.write().await;
        let pending: Vec<(UserId, u32)> = {
            let mut local = self.local();
            let users: Vec<UserId> = local.dirty.drain().collect();
            users
                .into_iter()
                .map(|u| (u, local.counts.get(&u).copied().unwrap_or(0)))
                .collect()
        };
        if pending.is_empty() {
            return Ok(());
        }
        let mut connection = self.redis.connection();
        let mut done = 0;
        let result = async {
            // After a Redis restart the script cache is empty, and EVALSHA in a pipeline does not
            // fall back to EVAL.
            self.redis
                .run(self.scripts.set.load_async(&mut connection))
                .await?;
            for batch in pending.chunks(BATCH) {
                let invocations: Vec<_> = batch
                    .iter()
                    .map(|(user, count)| {
                        let mut invocation = self.scripts.set.prepare_invoke();
                        invocation
                            .key(self.user_key(*user))
                            .key(self.users_key())
                            .arg(&self.base)
                            .arg(&self.node)
                            .arg(user.to_string())
                            .arg(*count);
                        invocation
                    })
                    .collect();
                let mut pipe = redis::pipe();
                for invocation in &invocations {
                    pipe.invoke_script(invocation).ignore();
                }
                self.redis
                    .run(pipe.query_async::<()>(&mut connection))
                    .await?;
                done += batch.len();
            }
            Ok::<(), Error>(())
        }
        .await;
        if result.is_err() {
            self.local()
                .dirty
                .extend(pending[done..].iter().map(|(user, _)| *user));
        } else {
            tracing::info!(
                users = pending.len(),
                "presence: rewrote this node's counts"
            );
        }
        result
    }

    /// Remove dead nodes' counts, a bounded number of calls per round.
    async fn sweep(&self) -> Result<(), Error> {
        for _ in 0..10 {
            let more: i64 = self
                .redis
                .run(
                    self.scripts
                        .sweep
                        .key(format!("{}nodes", self.base))
                        .arg(&self.base)
                        .arg(SWEEP_BUDGET)
                        .invoke_async(&mut self.redis.connection()),
                )
                .await?;
            if more == 0 {
                break;
            }
        }
        Ok(())
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let mut interval = tokio::time::interval(self.ttl / 3);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            let round = async {
                self.beat().await?;
                self.rewrite_dirty().await?;
                self.sweep().await
            };
            if let Err(err) = round.await {
                tracing::warn!(%err, node = %self.node, "presence heartbeat failed");
            }
        }
    }
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn connected(&self, user: UserId) -> StoreResult<bool> {
        let inner = &self.inner;
        let _shared = inner.gate.read().await;
        let _user = inner.stripe(user).lock().await;
        let count = {
            let mut local = inner.local();
            let count = local.counts.entry(user).or_insert(0);
            *count += 1;
            *count
        };
        Ok(inner.write(user, count).await? == 1)
    }

    async fn disconnected(&self, user: UserId) -> StoreResult<bool> {
        let inner = &self.inner;
        let _shared = inner.gate.read().await;
        let _user = inner.stripe(user).lock().await;
        let count = {
            let mut local = inner.local();
            match local.counts.get_mut(&user) {
                None => return Ok(false),
                Some(count) if *count > 1 => {
                    *count -= 1;
                    *count
                }
                Some(_) => {
                    local.counts.remove(&user);
                    0
                }
            }
        };
        Ok(inner.write(user, count).await? == -1)
    }

    async fn online(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        let inner = &self.inner;
        let mut online = Vec::new();
        for batch in users.chunks(BATCH) {
            let mut invocation = inner.scripts.online.prepare_invoke();
            for user in batch {
                invocation.key(inner.user_key(*user));
            }
            invocation.arg(&inner.base).arg(&inner.node);
            let positions: Vec<usize> = inner
                .redis
                .run(invocation.invoke_async(&mut inner.redis.connection()))
                .await?;
            online.extend(
                positions
                    .into_iter()
                    .filter_map(|p| batch.get(p.wrapping_sub(1)).copied()),
            );
        }
        Ok(online)
    }
}
