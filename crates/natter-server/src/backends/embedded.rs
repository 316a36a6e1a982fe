//! The embedded backends: one SQLite file, the in-process bus and presence. Nothing to install,
//! one process.

use std::sync::Arc;

use natter_domain::ports::EventBus;
use natter_domain::service::StripedLocks;
use natter_domain::{Ports, SystemClock};
use natter_store_sqlite::SqliteStore;

use super::Backends;
use crate::config::{RealtimeBackend, ServerConfig};
use crate::embedded::{MemoryBus, MemoryPresence};

pub async fn open(config: &ServerConfig) -> anyhow::Result<Backends> {
    if config.backends.realtime != RealtimeBackend::Memory {
        anyhow::bail!(
            "backends.realtime = \"redis\" needs shared stores (backends.accounts = \"postgres\")"
        );
    }
    let data_dir = &config.server.data_dir;
    crate::secrets::create_private_dir(data_dir)?;
    let store = SqliteStore::open(&data_dir.join("natter.db"))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::new(config.limits.bus_capacity));
    let ports = Ports {
        accounts: Arc::new(store.clone()),
        conversations: Arc::new(store.clone()),
        messages: Arc::new(store.clone()),
        bus,
        presence: Arc::new(MemoryPresence::default()),
        clock: Arc::new(SystemClock),
        locks: Arc::new(StripedLocks::default()),
        files: Some(Arc::new(store.clone())),
        search: Some(Arc::new(store.clone())),
        push: Arc::new(store.clone()),
    };
    let mut backends = Backends::new(ports);
    backends.push_queue = Some(Arc::new(store.clone()));
    backends.on_close(move || async move { store.close().await });
    Ok(backends)
}
