//! Redis for a cluster: the bus between nodes, presence across nodes, cluster-wide rate limits
//! and `Idempotency-Key` answers, all on one connection handle (`natter-redis`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use natter_domain::DomainError;
use natter_domain::ports::{EventBus, PresenceStore};
use natter_redis::{
    BusOptions, Redis, RedisBus, RedisIdempotency, RedisPresence, RedisRateLimiter,
};

use super::Backends;
use crate::config::ServerConfig;
use crate::idempotency::{CLAIM_TTL, IdempotencyStore, KEY_TTL};
use crate::limiter::ClusterLimiter;

/// Connect, subscribe and join presence; registers the presence goodbye with `backends`.
/// Returns the bus and presence ports; sets the cluster limiter and idempotency store.
pub async fn open(
    config: &ServerConfig,
    backends: &mut Backends,
) -> anyhow::Result<(Arc<dyn EventBus>, Arc<dyn PresenceStore>)> {
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
    let presence = Arc::new(presence);
    backends.rate_limiter = Some(Arc::new(Limiter(RedisRateLimiter::new(&redis))));
    backends.idempotency = Arc::new(Idempotency(RedisIdempotency::new(&redis)));
    let leaving = presence.clone();
    // A graceful stop takes this node's users offline at once (a crash: after the TTL).
    backends.on_close(move || async move {
        if let Err(err) = leaving.shutdown().await {
            tracing::warn!(%err, "presence not cleared at shutdown; it expires with the TTL");
        }
    });
    Ok((Arc::new(bus), presence))
}

struct Limiter(RedisRateLimiter);

#[async_trait]
impl ClusterLimiter for Limiter {
    async fn check(&self, key: &str, per_second: f64, burst: u32) -> Result<(), u64> {
        self.0
            .check(key, per_second, burst)
            .await
            .map_err(|retry| retry.ms)
    }
}

/// Keys in Redis, so a retry on another node finds the first answer.
struct Idempotency(RedisIdempotency);

fn unavailable(err: natter_redis::Error) -> DomainError {
    tracing::warn!(%err, "idempotency keys unavailable");
    DomainError::Unavailable
}

#[async_trait]
impl IdempotencyStore for Idempotency {
    async fn claim(&self, key: &str, value: &[u8]) -> Result<Option<Vec<u8>>, DomainError> {
        self.0
            .remember(key, value, CLAIM_TTL)
            .await
            .map_err(unavailable)
    }

    async fn store(&self, key: &str, value: &[u8]) -> Result<(), DomainError> {
        self.0
            .replace(key, value, KEY_TTL)
            .await
            .map_err(unavailable)
    }

    async fn release(&self, key: &str) -> Result<(), DomainError> {
        self.0.forget(key).await.map_err(unavailable)
    }
}
