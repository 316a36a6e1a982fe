//! Builds the ports from the configuration: each `[backends]` key picks the adapter of one port.
//! This is the only place that names concrete adapters; the domain and the transports see only
//! the traits.
//!
//! - `embedded.rs`: SQLite, the in-process bus and presence (the default; one process).
//! - `scaled.rs`: PostgreSQL, with `cassandra.rs`, `redis.rs` and `kafka.rs` (many processes
//!   sharing them); each behind the cargo feature of its name.

#[cfg(feature = "cassandra")]
mod cassandra;
mod embedded;
#[cfg(feature = "kafka")]
mod kafka;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "postgres")]
mod scaled;

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use crate::idempotency::{IdempotencyStore, MemoryIdempotency};
use crate::limiter::ClusterLimiter;
use natter_domain::Ports;

use crate::config::{AccountsBackend, ServerConfig};

type CloseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Closer = Box<dyn FnOnce() -> CloseFuture + Send>;

/// The opened adapters and what must stop or close with them.
pub struct Backends {
    pub ports: Ports,
    /// Cluster-wide rate limits (Redis), when configured.
    pub rate_limiter: Option<Arc<dyn ClusterLimiter>>,
    /// `Idempotency-Key` answers: in memory, or in Redis when configured.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The durable push pipeline this process plans and sends from (embedded, or scaled out
    /// in the notifier role).
    pub push_queue: Option<Arc<dyn natter_domain::notify::PushQueue>>,
    /// Run in order at shutdown: stop consumers, then close stores.
    closers: Vec<Closer>,
}

impl Backends {
    fn new(ports: Ports) -> Self {
        Self {
            ports,
            rate_limiter: None,
            idempotency: Arc::new(MemoryIdempotency::default()),
            push_queue: None,
            closers: Vec::new(),
        }
    }

    fn on_close<F>(&mut self, close: impl FnOnce() -> F + Send + 'static)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.closers.push(Box::new(move || Box::pin(close())));
    }

    /// Stop the background consumers and close the stores (flushes the embedded database).
    pub async fn close(self) {
        for close in self.closers {
            close().await;
        }
    }
}

#[cfg(not(feature = "postgres"))]
const NO_POSTGRES: &str = "this natter was built without the `postgres` feature";

/// Run the migrations of every configured store (idempotent), without starting anything else.
pub async fn migrate(config: &ServerConfig) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    match config.backends.accounts {
        AccountsBackend::Sqlite => embedded::open(config).await?.close().await,
        #[cfg(feature = "postgres")]
        AccountsBackend::Postgres => scaled::migrate(config).await?,
        #[cfg(not(feature = "postgres"))]
        AccountsBackend::Postgres => anyhow::bail!(NO_POSTGRES),
    }
    Ok(())
}

/// Open every configured adapter, migrating its schema first, and start the background work
/// of this process's roles (the notifier consumer).
pub async fn open(config: &ServerConfig) -> anyhow::Result<Backends> {
    config.validate().map_err(anyhow::Error::msg)?;
    match config.backends.accounts {
        AccountsBackend::Sqlite => embedded::open(config).await,
        #[cfg(feature = "postgres")]
        AccountsBackend::Postgres => scaled::open(config).await,
        #[cfg(not(feature = "postgres"))]
        AccountsBackend::Postgres => anyhow::bail!(NO_POSTGRES),
    }
}
