//! The scaled-out backends, shared by every natter process of a deployment:
//!
//! - PostgreSQL: users, sessions, conversations, the per-conversation order (advisory locks for
//!   "check, store, publish"; the conversation row for message seqs), the push pipeline and
//!   file metadata (the bytes go to S3: `files.store`).
//! - Messages in PostgreSQL too, or in Cassandra (bodies, `cassandra.rs`), sequenced by
//!   PostgreSQL.
//! - Redis (optional, `redis.rs`): the bus between nodes, presence, limits, idempotency keys.
//! - Kafka (optional, `kafka.rs`): the durable log of message events; the `notifier` role; the
//!   message search index in PostgreSQL, written from the log by the `indexer` role. Without
//!   the log there is no search index (`Ports::search` is `None`: searching is `Unavailable`).
//!
//! Each engine's crate sits behind a cargo feature of the same name (all on by default); a
//! binary built without one refuses a configuration that names it.

use std::sync::Arc;

use natter_domain::ports::{EventBus, MessageStore, PresenceStore};
use natter_domain::{Ports, SystemClock};
use natter_store_postgres::{PgLocks, PgStore};

use super::Backends;
use crate::config::{EventLogBackend, MessagesBackend, RealtimeBackend, ServerConfig};
use crate::embedded::{MemoryBus, MemoryPresence};

#[cfg_attr(
    all(feature = "cassandra", feature = "redis", feature = "kafka"),
    allow(dead_code)
)]
fn not_built(feature: &str) -> anyhow::Error {
    anyhow::anyhow!("this natter was built without the `{feature}` feature")
}

pub async fn migrate(config: &ServerConfig) -> anyhow::Result<()> {
    let pg = postgres(config).await?;
    if config.backends.messages == MessagesBackend::Cassandra {
        bodies(config, &pg).await?;
    }
    if config.backends.event_log == EventLogBackend::Kafka {
        #[cfg(feature = "kafka")]
        super::kafka::ensure_topic(config).await?;
        #[cfg(not(feature = "kafka"))]
        return Err(not_built("kafka"));
    }
    pg.close().await;
    Ok(())
}

pub async fn open(config: &ServerConfig) -> anyhow::Result<Backends> {
    let pg = postgres(config).await?;
    let locks = PgLocks::connect_with_size(&config.postgres.url, config.postgres.lock_pool_size)
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL (locks): {e}"))?;
    // `conversations`: the store that knows where message bodies are (summaries, badges).
    let (conversations, messages): (PgStore, Arc<dyn MessageStore>) = match config.backends.messages
    {
        MessagesBackend::Cassandra => {
            let bodies = bodies(config, &pg).await?;
            (pg.clone().with_messages(bodies.clone()), bodies)
        }
        _ => (pg.clone(), Arc::new(pg.clone())),
    };
    // Filled in below; the in-process defaults serve one process.
    let mut backends = Backends::new(Ports {
        accounts: Arc::new(pg.clone()),
        conversations: Arc::new(conversations.clone()),
        messages,
        bus: Arc::new(MemoryBus::new(config.limits.bus_capacity)),
        presence: Arc::new(MemoryPresence::default()),
        clock: Arc::new(SystemClock),
        locks: Arc::new(locks),
        files: Some(Arc::new(pg.clone())),
        // Set below when the message log feeds the index.
        search: None,
        push: Arc::new(pg.clone()),
    });
    if config.backends.realtime == RealtimeBackend::Redis {
        let (bus, presence) = realtime(config, &mut backends).await?;
        backends.ports.bus = bus;
        backends.ports.presence = presence;
    }
    if config.backends.event_log == EventLogBackend::Kafka {
        #[cfg(feature = "kafka")]
        {
            let bus = backends.ports.bus.clone();
            backends.ports.bus = super::kafka::event_log(config, bus, &mut backends).await?;
            // Searched by every process, written by those of the indexer role.
            backends.ports.search = Some(Arc::new(pg.clone()));
            if config.runs(crate::config::Role::Indexer) {
                super::kafka::start_indexer(config, &mut backends, pg.clone());
            }
            if config.runs(crate::config::Role::Notifier) {
                super::kafka::start_notifier(
                    config,
                    &mut backends,
                    Arc::new(conversations.clone()),
                );
            }
        }
        #[cfg(not(feature = "kafka"))]
        return Err(not_built("kafka"));
    }
    if config.runs(crate::config::Role::Notifier) {
        backends.push_queue = Some(Arc::new(conversations));
    }
    backends.on_close(move || async move { pg.close().await });
    Ok(backends)
}

async fn postgres(config: &ServerConfig) -> anyhow::Result<PgStore> {
    let pg = PgStore::connect(&config.postgres.url, config.postgres.pool_size)
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL: {e}"))?;
    pg.migrate()
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL migrations: {e}"))?;
    Ok(pg)
}

async fn bodies(config: &ServerConfig, pg: &PgStore) -> anyhow::Result<Arc<dyn MessageStore>> {
    #[cfg(feature = "cassandra")]
    return Ok(Arc::new(super::cassandra::bodies(config, pg).await?));
    #[cfg(not(feature = "cassandra"))]
    {
        let _ = (config, pg);
        Err(not_built("cassandra"))
    }
}

async fn realtime(
    config: &ServerConfig,
    backends: &mut Backends,
) -> anyhow::Result<(Arc<dyn EventBus>, Arc<dyn PresenceStore>)> {
    #[cfg(feature = "redis")]
    return super::redis::open(config, backends).await;
    #[cfg(not(feature = "redis"))]
    {
        let _ = (config, backends);
        Err(not_built("redis"))
    }
}
