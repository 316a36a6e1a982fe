//! Builds the ports from the configuration: each `[backends]` key picks the adapter of one port.
//! This is the only place that names concrete adapters; the domain and the transports see only
//! the traits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use natter_domain::ports::EventBus;
use natter_domain::service::StripedLocks;
use natter_domain::{Ports, SystemClock};
use natter_store_sqlite::SqliteStore;

use crate::config::{AccountsBackend, ServerConfig};
use crate::embedded;

type CloseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The opened adapters and what must run or close with them.
pub struct Backends {
    pub ports: Ports,
    closers: Vec<Box<dyn FnOnce() -> CloseFuture + Send>>,
}

impl Backends {
    /// Close the stores (flushes the embedded database).
    pub async fn close(self) {
        for close in self.closers {
            close().await;
        }
    }
}

/// Run the migrations of every configured store (idempotent), without starting anything else.
pub async fn migrate(config: &ServerConfig) -> anyhow::Result<()> {
    open(config).await?.close().await;
    Ok(())
}

/// Open every configured adapter, migrating its schema first.
pub async fn open(config: &ServerConfig) -> anyhow::Result<Backends> {
    config.validate().map_err(anyhow::Error::msg)?;
    match config.backends.accounts {
        AccountsBackend::Sqlite => open_embedded(config).await,
        AccountsBackend::Postgres => anyhow::bail!("the PostgreSQL backend is not built in"),
    }
}

async fn open_embedded(config: &ServerConfig) -> anyhow::Result<Backends> {
    let data_dir = &config.server.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let store = SqliteStore::open(&data_dir.join("natter.db"))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let bus: Arc<dyn EventBus> = Arc::new(embedded::MemoryBus::new(config.limits.bus_capacity));
    let ports = Ports {
        accounts: Arc::new(store.clone()),
        conversations: Arc::new(store.clone()),
        messages: Arc::new(store.clone()),
        bus,
        presence: Arc::new(embedded::MemoryPresence::default()),
        clock: Arc::new(SystemClock),
        locks: Arc::new(StripedLocks::default()),
    };
    Ok(Backends {
        ports,
        closers: vec![Box::new(move || {
            Box::pin(async move { store.close().await })
        })],
    })
}
