//! Server configuration, passed explicitly (no globals). One TOML file picks each port's backend
//! and sets every limit; every key has a default that a chat server in production would use, so
//! an empty file (or none) is the embedded single-process server. `natter.example.toml` at the
//! repository root documents every key; a test checks it against these types.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo must not silently fall back to a
//! default.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub server: NodeConfig,
    pub backends: Backends,
    pub postgres: PostgresConfig,
    pub cassandra: CassandraConfig,
    pub redis: RedisConfig,
    pub kafka: KafkaConfig,
    pub limits: Limits,
    pub auth: AuthConfig,
    pub files: FilesConfig,
    /// The push providers (FCM, APNs, Web Push): key files and endpoints (docs/push.md).
    pub push: natter_push::PushConfig,
    pub notifier: NotifierConfig,
}

/// The notifier that sends push notifications (docs/push.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierConfig {
    /// A push the provider keeps refusing for now (throttled, down) is given up after this many
    /// sends...
    pub max_attempts: u32,
    /// ...or once it is this old.
    pub max_age_s: u64,
    /// For tests only (empty: off). While this file exists the notifier plans and sends
    /// nothing, so a test can `kill -9` the server between a message's commit and its push.
    pub pause_file: String,
}

impl NotifierConfig {
    pub fn max_age_ms(&self) -> i64 {
        i64::try_from(self.max_age_s.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_age_s: 3600,
            pause_file: String::new(),
        }
    }
}

/// This process: where it listens, its identity and what it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub listen: SocketAddr,
    /// The embedded database, the token key (unless `auth.token_key_file` is set).
    pub data_dir: PathBuf,
    /// Unique per process sharing the same stores (0-1023); part of every message id.
    pub node_id: u16,
    /// What this process runs; all of them by default.
    pub roles: Vec<Role>,
    /// Proxies (NGINX) whose `X-Forwarded-For` names the client, for per-address limits.
    /// Their connections are exempt from `limits.max_sockets_per_address` (one proxy carries
    /// many clients); the proxy must bound connections per client itself.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Browser origins (`https://chat.example.com`) that may open a WebSocket besides the
    /// server's own (the `Host` the request was sent to); `"*"` allows any. Requests without an
    /// `Origin` (non-browser clients) are always allowed. The same origins get CORS on the
    /// REST API (`cors.rs`): the desktop app's are `tauri://localhost` and
    /// `http://tauri.localhost`.
    pub allowed_origins: Vec<String>,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the public listener.
    /// Loopback by default; port 0 picks a free port (printed); `""` turns metrics off.
    #[serde(with = "optional_addr")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./natter-data"),
            node_id: 0,
            roles: Role::ALL.to_vec(),
            trusted_proxies: Vec::new(),
            allowed_origins: Vec::new(),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// An address, or none as the empty string (TOML has no null).
mod optional_addr {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.trim() {
            "" => Ok(None),
            addr => addr.parse().map(Some).map_err(D::Error::custom),
        }
    }
}

/// The services of one binary, deployable apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The REST API (and the web app).
    Api,
    /// WebSocket connections and the hub that fans events out to them.
    Gateway,
    /// Plans and sends push notifications (embedded: always; scaled out: from the Kafka event
    /// log when there is one, and from the PostgreSQL queue).
    Notifier,
    /// Scaled out with the Kafka event log: writes the message search index in PostgreSQL from
    /// the log (consumer group `kafka.indexer_group`). Embedded, the index is written with each
    /// message and the role does nothing.
    Indexer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Api, Role::Gateway, Role::Notifier, Role::Indexer];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "api" => Some(Self::Api),
            "gateway" => Some(Self::Gateway),
            "notifier" => Some(Self::Notifier),
            "indexer" => Some(Self::Indexer),
            _ => None,
        }
    }
}

/// Which engine serves each port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backends {
    /// Users, sessions and conversations.
    pub accounts: AccountsBackend,
    /// Message bodies.
    pub messages: MessagesBackend,
    /// Real-time fan-out, presence and cluster-wide rate limits.
    pub realtime: RealtimeBackend,
    /// The durable log of message events that consumers read.
    pub event_log: EventLogBackend,
}

impl Default for Backends {
    fn default() -> Self {
        Self {
            accounts: AccountsBackend::Sqlite,
            messages: MessagesBackend::Sqlite,
            realtime: RealtimeBackend::Memory,
            event_log: EventLogBackend::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountsBackend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessagesBackend {
    Sqlite,
    Postgres,
    Cassandra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RealtimeBackend {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventLogBackend {
    None,
    Kafka,
}

impl Backends {
    /// Combinations that cannot work, explained.
    pub fn validate(&self) -> Result<(), String> {
        use AccountsBackend as A;
        use MessagesBackend as M;
        match (self.accounts, self.messages) {
            (A::Sqlite, M::Sqlite) | (A::Postgres, M::Postgres | M::Cassandra) => {}
            (A::Sqlite, _) => {
                return Err(
                    "backends.messages must be \"sqlite\" when backends.accounts is \"sqlite\""
                        .into(),
                );
            }
            (A::Postgres, M::Sqlite) => {
                return Err(
                    "backends.messages = \"sqlite\" needs backends.accounts = \"sqlite\" \
                     (message order is kept by the conversations' store)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// True when several processes may share these stores.
    pub fn shared(&self) -> bool {
        self.accounts != AccountsBackend::Sqlite
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    pub url: String,
    pub pool_size: u32,
    /// Connections reserved for the per-conversation order locks.
    pub lock_pool_size: u32,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/natter".into(),
            pool_size: 16,
            lock_pool_size: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CassandraConfig {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// Used only when `natter migrate` creates the keyspace.
    pub replication_factor: u32,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        Self {
            nodes: vec!["127.0.0.1:9042".into()],
            keyspace: "natter".into(),
            replication_factor: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub url: String,
    /// The pub/sub channel every node subscribes to.
    pub channel: String,
    /// A node whose heartbeat is older than this is dead: its users go offline.
    pub presence_ttl_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            channel: "natter:events".into(),
            presence_ttl_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma-separated `host:port`.
    pub brokers: String,
    /// Message events, keyed by conversation id.
    pub topic: String,
    pub partitions: i32,
    /// The consumer group of the notifier role (one group reads the whole topic once).
    pub notifier_group: String,
    /// The consumer group of the indexer role (the message search index).
    pub indexer_group: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic: "natter.messages".into(),
            partitions: 8,
            notifier_group: "natter-notifier".into(),
            indexer_group: "natter-indexer".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub access_ttl_s: u64,
    /// argon2id cost. The defaults are OWASP's recommendation (19 MiB, 2 passes).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Hashes computed at once; each holds `argon2_memory_kib` of memory.
    pub argon2_concurrency: usize,
    /// Logins and registrations that may wait for a hashing slot; beyond it they are refused at
    /// once with 503 `unavailable` and `Retry-After`, so a flood cannot queue up latency.
    pub argon2_queue: usize,
    /// The keyring that signs access tokens (the first key signs, all verify; `natter
    /// rotate-token-key` adds one). Every node of a cluster must use the same file; default
    /// `<data_dir>/token.key`, created on first start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_key_file: Option<PathBuf>,
    /// A session ends this long after login, however active (the user logs in again).
    pub session_max_age_s: u64,
    /// A session not refreshed for this long ends (a forgotten device stops being a way in).
    pub session_idle_s: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_s: 900,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_concurrency: 4,
            argon2_queue: 32,
            token_key_file: None,
            session_max_age_s: 30 * 24 * 3600,
            session_idle_s: 14 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest REST request body.
    pub max_body_bytes: usize,
    /// Largest WebSocket message (a `hello` with many cursors is the biggest legitimate one).
    pub ws_max_message_bytes: usize,
    /// Frames queued for one connection before it is dropped as a slow consumer (close 4008).
    pub ws_outbound_queue: usize,
    /// Close a connection that sent nothing for this long (close 4000; checked every quarter of
    /// it, at most every second).
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
    /// Per-user message searches (`GET /search/messages`), on each node.
    pub searches_per_second: u32,
    pub searches_burst: u32,
    /// Logins per (username, client address), and registrations per client address.
    pub auth_per_minute: u32,
    pub auth_burst: u32,
    /// Logins per client address, whatever the username.
    pub login_per_address_per_minute: u32,
    pub login_per_address_burst: u32,
    /// Logins per second on this node, all clients together.
    pub login_per_second: u32,
    pub login_burst: u32,
    /// Wrong passwords for one (username, client address) before each further one locks that
    /// pair out, for 1 s doubling per failure up to `login_lockout_max_ms`. Another address
    /// (the real owner) is not locked out.
    pub login_failures_free: u32,
    pub login_lockout_max_ms: u64,
    /// Most WebSocket connections this node accepts at once.
    pub max_connections: usize,
    /// Most WebSocket connections one user may hold open on this node (tabs, devices); one more
    /// is closed with 4010 after its `hello`.
    pub ws_connections_per_user: usize,
    /// A user's typing indicator is published at most once per conversation in this interval;
    /// extra ones are acknowledged and dropped.
    pub typing_interval_ms: u64,
    /// A user's last connection closing announces them offline only after this long without a
    /// new one: a reload or a network switch announces nothing. 0 announces at once.
    pub presence_grace_ms: u64,
    /// Most TCP connections (HTTP and WebSocket) this node holds at once. At the limit a new one
    /// replaces the connection that has waited longest for a request head (silent, trickling or
    /// idle keep-alive); if none is waiting, the new one is closed at once. Lowered to fit the
    /// process's open-file limit if that is smaller, less a reserve of 512 files (a tenth of a
    /// limit below 5,120).
    pub max_sockets: usize,
    /// Most TCP connections from one client address (IPv6: one /64) at once, trusted proxies
    /// excepted; beyond it new ones from that address are closed at once.
    pub max_sockets_per_address: usize,
    /// Time for a request head to arrive complete, counted from when the server is ready for
    /// it: from the accept, or on a keep-alive connection from the previous response (so it
    /// is also the keep-alive idle timeout). Cuts silent and trickling (slowloris) sockets. A
    /// request body must then arrive within the same time (400 otherwise).
    pub http_header_timeout_ms: u64,
    /// Conversations whose member sets the hub keeps in memory; beyond it, sets are evicted and
    /// reloaded from the store on their next event.
    pub hub_member_cache_max: usize,
    /// Memberships (conversation, user) kept in memory for the check of every send, history
    /// page, resume and typing indicator. Embedded only (one process owns the stores); 0 turns
    /// the cache off.
    pub member_cache_max: usize,
    /// Sessions kept in memory for the check of every access token. Embedded only; 0 turns the
    /// cache off.
    pub session_cache_max: usize,
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
            searches_per_second: 5,
            searches_burst: 20,
            auth_per_minute: 20,
            auth_burst: 10,
            login_per_address_per_minute: 60,
            login_per_address_burst: 30,
            login_per_second: 200,
            login_burst: 400,
            login_failures_free: 5,
            login_lockout_max_ms: 900_000,
            max_connections: 100_000,
            ws_connections_per_user: 20,
            typing_interval_ms: 2_500,
            presence_grace_ms: 3_000,
            max_sockets: 120_000,
            max_sockets_per_address: 512,
            http_header_timeout_ms: 15_000,
            hub_member_cache_max: 100_000,
            member_cache_max: 200_000,
            session_cache_max: 100_000,
            bus_capacity: 65_536,
        }
    }
}

/// Uploaded files (`docs/media.md`): sizes, quota, download URLs, collection of abandoned
/// uploads, and where complete files' bytes live (`store`: this node's disk, or S3 when several
/// nodes serve them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest file; a larger declared size is refused with 413 before anything is stored.
    pub max_bytes: u64,
    /// What one user's files and unfinished uploads may take together: the declared
    /// `Upload-Length` of each, not the size stored after processing.
    pub quota_bytes: u64,
    /// How long a signed download URL works after it is handed out.
    pub url_ttl_s: u64,
    /// An upload not completed this long after its creation is deleted with its bytes.
    pub incomplete_max_age_s: u64,
    /// A complete file no message ever showed is deleted this long after it was completed.
    pub unattached_max_age_s: u64,
    /// A file whose messages were all deleted is deleted this long after the last one was.
    pub deleted_retention_s: u64,
    /// How often the collector looks for such uploads and files, and for objects nothing uses.
    pub collect_interval_s: u64,
    /// Most pixels (width x height) an uploaded image may decode to; a larger one (a
    /// decompression bomb: a few KiB declaring 20000x20000) is refused with 422
    /// `media_too_large` before it is decoded, nothing stored.
    pub max_image_pixels: u64,
    /// Most frames of an animated image (GIF, APNG, WebP), counted without decoding them.
    pub max_frames: u64,
    /// Images processed (decoded, stripped, thumbnailed) at once, on blocking threads; later
    /// completions wait. Each may hold `max_image_pixels` x 8 bytes while it runs.
    pub processing_concurrency: u32,
    /// For tests only (empty: off). When set, image processing stops after writing the
    /// thumbnails, creates `<this>.waiting` and waits until this file exists, so a test can
    /// `kill -9` the server at that point.
    pub processing_pause_file: String,
    /// The ffmpeg program that makes video posters and strips the metadata of sounds and videos
    /// (docs/media.md): a path, or a name looked up on `PATH`; empty: not used. Optional: without
    /// it those files are stored as they are, without a poster.
    pub ffmpeg: String,
    /// Longest one ffmpeg run may take (wall clock; its CPU time is limited to the same); it is
    /// killed then, and the file stored as it is.
    pub ffmpeg_timeout_s: u64,
    /// Where complete files' bytes live: `local` (`<data_dir>/files/objects`) or `s3`.
    pub store: ObjectStoreKind,
    /// The S3 endpoint (`http://127.0.0.1:58333` for SeaweedFS); empty: AWS in `s3_region`.
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    /// Credentials; empty: taken from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or the
    /// instance's role), as the AWS tools do.
    pub s3_access_key_id: String,
    /// Never printed (`natter config` shows it redacted) nor logged.
    pub s3_secret_access_key: Secret,
    /// Plain `http://` endpoints are refused unless this is set (loopback, tests).
    pub s3_allow_http: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectStoreKind {
    Local,
    S3,
}

/// A credential: read from the file or the environment like any key, but never shown. `Debug`
/// and serialisation (what `natter config` prints) give `<redacted>` for a set value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

const REDACTED: &str = "<redacted>";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn shown(&self) -> &str {
        if self.0.is_empty() { "" } else { REDACTED }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            quota_bytes: 1024 * 1024 * 1024,
            url_ttl_s: 300,
            incomplete_max_age_s: 24 * 3600,
            unattached_max_age_s: 24 * 3600,
            deleted_retention_s: 24 * 3600,
            collect_interval_s: 600,
            max_image_pixels: 50_000_000,
            max_frames: 1000,
            processing_concurrency: 2,
            processing_pause_file: String::new(),
            ffmpeg: "ffmpeg".into(),
            ffmpeg_timeout_s: 30,
            store: ObjectStoreKind::Local,
            s3_endpoint: String::new(),
            s3_bucket: "natter".into(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: Secret::default(),
            s3_allow_http: false,
        }
    }
}

impl ServerConfig {
    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.server.roles.contains(&role)
    }

    /// Where the token keyring lives: `auth.token_key_file`, or `<data_dir>/token.key`.
    pub fn token_key_path(&self) -> PathBuf {
        self.auth
            .token_key_file
            .clone()
            .unwrap_or_else(|| self.server.data_dir.join("token.key"))
    }

    /// Reject combinations that cannot work, with a message that says what to change.
    pub fn validate(&self) -> Result<(), String> {
        self.backends.validate()?;
        if self.server.node_id > 1023 {
            return Err("server.node_id must be at most 1023".into());
        }
        if self.auth.session_max_age_s == 0 || self.auth.session_idle_s == 0 {
            return Err("auth.session_max_age_s and auth.session_idle_s must be positive".into());
        }
        if self.files.max_bytes == 0 || self.files.url_ttl_s == 0 {
            return Err("files.max_bytes and files.url_ttl_s must be positive".into());
        }
        if self.files.collect_interval_s == 0 {
            return Err("files.collect_interval_s must be positive".into());
        }
        if self.files.max_image_pixels == 0
            || self.files.max_frames == 0
            || self.files.processing_concurrency == 0
        {
            return Err(
                "files.max_image_pixels, files.max_frames and files.processing_concurrency must be positive"
                    .into(),
            );
        }
        if self.files.ffmpeg_timeout_s == 0 {
            return Err("files.ffmpeg_timeout_s must be positive".into());
        }
        if self.files.store == ObjectStoreKind::S3 && self.files.s3_bucket.is_empty() {
            return Err("files.store = \"s3\" needs files.s3_bucket".into());
        }
        if self.notifier.max_attempts == 0 || self.notifier.max_age_s == 0 {
            return Err("notifier.max_attempts and notifier.max_age_s must be positive".into());
        }
        if self.server.roles.is_empty() {
            return Err("server.roles must name at least one role".into());
        }
        if self.backends.event_log == EventLogBackend::Kafka && !self.backends.shared() {
            return Err(
                "backends.event_log = \"kafka\" needs backends.accounts = \"postgres\" \
                 (the notifier queues pushes there)"
                    .into(),
            );
        }
        Ok(())
    }
}
