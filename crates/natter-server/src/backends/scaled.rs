//! The scaled-out backends, shared by every natter process of a deployment:
//!
//! - PostgreSQL: users, sessions, conversations, the per-conversation order (advisory locks for
//!   "check, store, publish"; the conversation row for message seqs) and the push outbox.
//! - Messages in PostgreSQL too, or in Cassandra (bodies), sequenced by PostgreSQL.
//! - Redis (optional): the real-time bus between nodes and cluster-wide presence.
//! - Kafka (optional): the durable log of message events; the `notifier` role consumes it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use natter_domain::ports::{ConversationStore, EventBus, MessageStore, PresenceStore};
use natter_domain::{Ports, SystemClock};
use natter_kafka::{KafkaEventLog, Notifier};
use natter_redis::idempotency::RedisIdempotency;
use natter_redis::{BusOptions, Redis, RedisBus, RedisPresence, RedisRateLimiter};
use natter_store_cassandra::{CassandraConfig, CassandraMessages, Replication};
use natter_store_postgres::{PgLocks, PgStore};
use tokio_util::sync::CancellationToken;

use super::Backends;
use crate::config::{EventLogBackend, MessagesBackend, RealtimeBackend, Role, ServerConfig};
use crate::embedded::{MemoryBus, MemoryPresence};
use crate::idempotency::RedisIdempotencyStore;

pub async fn migrate(config: &ServerConfig) -> anyhow::Result<()> {
    let pg = postgres(config).await?;
    if config.backends.messages == MessagesBackend::Cassandra {
        cassandra(config, &pg).await?;
    }
    if config.backends.event_log == EventLogBackend::Kafka {
        ensure_topic(config).await?;
    }
    pg.close().await;
    Ok(())
}

pub async fn open(config: &ServerConfig) -> anyhow::Result<Backends> {
    let pg = postgres(config).await?;
    let locks = PgLocks::connect_with_size(&config.postgres.url, config.postgres.lock_pool_size)
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL (locks): {e}"))?;
    let (conversations, messages): (Arc<dyn ConversationStore>, Arc<dyn MessageStore>) =
        match config.backends.messages {
            MessagesBackend::Cassandra => {
                let bodies = Arc::new(cassandra(config, &pg).await?);
                (Arc::new(pg.clone().with_messages(bodies.clone())), bodies)
            }
            _ => (Arc::new(pg.clone()), Arc::new(pg.clone())),
        };
    let mut rate_limiter = None;
    let mut idempotency = None;
    let mut leave_presence: Option<Arc<RedisPresence>> = None;
    let (bus, presence): (Arc<dyn EventBus>, Arc<dyn PresenceStore>) =
        match config.backends.realtime {
            RealtimeBackend::Memory => (
                Arc::new(MemoryBus::new(config.limits.bus_capacity)),
                Arc::new(MemoryPresence::default()),
            ),
            RealtimeBackend::Redis => {
                // The error names the server with its password hidden.
                let redis = Redis::connect(&config.redis.url)
                    .await
                    .map_err(|e| anyhow::anyhow!("Redis: {e}"))?;
                let options = BusOptions {
                    channel: config.redis.channel.clone(),
                    subscriber_capacity: config.limits.bus_capacity,
                    ..BusOptions::default()
                };
                let bus = RedisBus::start(&redis, options)
                    .await
                    .map_err(|e| anyhow::anyhow!("Redis bus: {e}"))?;
                let presence = RedisPresence::start(
                    &redis,
                    config.server.node_id,
                    Duration::from_millis(config.redis.presence_ttl_ms),
                )
                .await
                .map_err(|e| anyhow::anyhow!("Redis presence: {e}"))?;
                rate_limiter = Some(Arc::new(RedisRateLimiter::new(&redis)));
                idempotency = Some(RedisIdempotencyStore(RedisIdempotency::new(&redis)));
                let presence = Arc::new(presence);
                leave_presence = Some(presence.clone());
                (Arc::new(bus), presence)
            }
        };
    let mut event_log = None;
    let bus: Arc<dyn EventBus> = match config.backends.event_log {
        EventLogBackend::None => bus,
        EventLogBackend::Kafka => {
            ensure_topic(config).await?;
            let log = Arc::new(
                KafkaEventLog::new(&kafka(config), bus)
                    .map_err(|e| anyhow::anyhow!("Kafka producer: {e}"))?,
            );
            event_log = Some(log.clone());
            log
        }
    };
    let ports = Ports {
        accounts: Arc::new(pg.clone()),
        conversations,
        messages,
        bus,
        presence,
        clock: Arc::new(SystemClock),
        locks: Arc::new(locks),
    };
    let mut backends = Backends::new(ports);
    backends.rate_limiter = rate_limiter;
    if let Some(idempotency) = idempotency {
        backends.idempotency = Arc::new(idempotency);
    }
    if config.backends.event_log == EventLogBackend::Kafka && config.runs(Role::Notifier) {
        start_notifier(config, &mut backends, &pg);
    }
    if let Some(log) = event_log {
        // Records still queued in the producer are lost unless flushed before exit.
        backends.on_close(move || async move {
            if let Err(err) = log.flush(Duration::from_secs(10)).await {
                tracing::warn!(%err, "message events not all written to Kafka at shutdown");
            }
        });
    }
    if let Some(presence) = leave_presence {
        // A graceful stop takes this node's users offline at once (a crash: after the TTL).
        backends.on_close(move || async move {
            if let Err(err) = presence.shutdown().await {
                tracing::warn!(%err, "presence not cleared at shutdown; it expires with the TTL");
            }
        });
    }
    backends.on_close(move || async move { pg.close().await });
    Ok(backends)
}

/// The `notifier` role: one member of the notifier consumer group (`kafka.notifier_group`), stopped (and its
/// offsets committed) at shutdown.
fn start_notifier(config: &ServerConfig, backends: &mut Backends, pg: &PgStore) {
    let notifier = Notifier::new(
        backends.ports.conversations.clone(),
        backends.ports.presence.clone(),
        Arc::new(pg.clone()),
    );
    let kafka = kafka(config);
    let group = config.kafka.notifier_group.clone();
    let stop = CancellationToken::new();
    let task = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(err) =
                natter_kafka::run_consumer(&kafka, &group, Arc::new(notifier), stop).await
            {
                tracing::error!(%err, "the notifier consumer stopped");
            }
        })
    };
    backends.on_close(move || async move {
        stop.cancel();
        if tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .is_err()
        {
            tracing::warn!("the notifier consumer did not stop in time");
        }
    });
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

/// Message bodies in Cassandra, sequenced by PostgreSQL; creates the keyspace and tables.
async fn cassandra(config: &ServerConfig, pg: &PgStore) -> anyhow::Result<CassandraMessages> {
    let settings = CassandraConfig {
        replication: Replication::Simple {
            factor: config.cassandra.replication_factor,
        },
        ..CassandraConfig::default()
    };
    let messages = CassandraMessages::connect_with(
        &config.cassandra.nodes,
        &config.cassandra.keyspace,
        Arc::new(pg.clone()),
        settings,
    )
    .await
    .map_err(|e| anyhow::anyhow!("Cassandra {:?}: {e}", config.cassandra.nodes))?;
    messages
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("Cassandra schema: {e}"))?;
    Ok(messages)
}

fn kafka(config: &ServerConfig) -> natter_kafka::KafkaConfig {
    natter_kafka::KafkaConfig::new(config.kafka.brokers.clone())
        .with_topic(config.kafka.topic.clone())
}

async fn ensure_topic(config: &ServerConfig) -> anyhow::Result<()> {
    natter_kafka::ensure_topic(&kafka(config), config.kafka.partitions)
        .await
        .map(|_| ())
        .with_context(|| {
            format!(
                "Kafka topic {} on {}",
                config.kafka.topic, config.kafka.brokers
            )
        })
}
