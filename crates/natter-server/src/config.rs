//! Server configuration, passed explicitly (no globals). Every limit has a default that a chat
//! server in production would use; tests lower some of them.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Unique per process sharing the same stores; part of every message id.
    pub node_id: u16,
    pub limits: Limits,
    pub auth: AuthConfig,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub access_ttl_s: u64,
    /// argon2id cost. The defaults are OWASP's recommendation (19 MiB, 2 passes).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Hashes computed at once; each holds `argon2_memory_kib` of memory.
    pub argon2_concurrency: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_s: 900,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_concurrency: 4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest REST request body.
    pub max_body_bytes: usize,
    /// Largest WebSocket message (a `hello` with many cursors is the biggest legitimate one).
    pub ws_max_message_bytes: usize,
    /// Frames queued for one connection before it is dropped as a slow consumer (close 4008).
    pub ws_outbound_queue: usize,
    /// Close a connection that sent nothing for this long (close 4000).
    pub ws_idle_timeout_ms: u64,
    /// Time allowed between connecting and a valid `hello` (close 4001).
    pub ws_hello_timeout_ms: u64,
    /// Unparseable or rejected frames tolerated per connection before close 4029.
    pub ws_bad_frames_max: u32,
    /// Commands one WebSocket connection may send per second (any kind, pings included);
    /// beyond it commands are refused with `rate_limited` and count as bad frames.
    pub ws_commands_per_second: u32,
    pub ws_commands_burst: u32,
    /// Per-user message sends (REST and WebSocket together).
    pub sends_per_second: u32,
    pub sends_burst: u32,
    /// Per-username logins and per-address registrations.
    pub auth_per_minute: u32,
    pub auth_burst: u32,
    /// Most WebSocket connections this node accepts at once.
    pub max_connections: usize,
    /// Conversations whose member sets the hub keeps in memory; beyond it, sets are evicted and
    /// reloaded from the store on their next event.
    pub hub_member_cache_max: usize,
    /// Events buffered for the gateway before it must resync its clients.
    pub bus_capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            ws_max_message_bytes: 256 * 1024,
            ws_outbound_queue: 1024,
            ws_idle_timeout_ms: 60_000,
            ws_hello_timeout_ms: 10_000,
            ws_bad_frames_max: 20,
            ws_commands_per_second: 200,
            ws_commands_burst: 400,
            sends_per_second: 20,
            sends_burst: 100,
            auth_per_minute: 20,
            auth_burst: 10,
            max_connections: 100_000,
            hub_member_cache_max: 100_000,
            bus_capacity: 65_536,
        }
    }
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            data_dir,
            node_id: 0,
            limits: Limits::default(),
            auth: AuthConfig::default(),
        }
    }
}
