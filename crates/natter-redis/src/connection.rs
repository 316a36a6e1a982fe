//! [`Redis`]: one handle to a Redis server, shared by the adapters of a node.
//!
//! It holds a [`ConnectionManager`]: one multiplexed connection that pipelines the commands of
//! every caller and reconnects by itself after a failure. One connection per node is enough for
//! presence, limits, idempotency keys and publishing (Redis answers each in microseconds), and it
//! keeps a node's publishes in one order (Redis delivers the publishes of one connection in the
//! order it received them). The bus's subscriber needs a connection of its own (see
//! [`crate::bus`]).
//!
//! Keys are namespaced by a prefix (`natter` by default) so that several deployments, or
//! parallel test runs, can share one server.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::errors::{Error, bounded, redact};

/// A connected handle; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Redis {
    pub const DEFAULT_PREFIX: &'static str = "natter";
    /// How long one command may take before the caller gets `Unavailable`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Connect (and check the server answers), with [`Self::DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with_timeout(url, Self::DEFAULT_TIMEOUT).await
    }

    pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, Error> {
        let failed = |reason: String| Error::Connect {
            url: redact(url),
            reason,
        };
        let client = redis::Client::open(url).map_err(|e| failed(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        let manager = bounded(
            timeout,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|e| failed(e.to_string()))?;
        let redis = Self {
            client,
            manager,
            prefix: Self::DEFAULT_PREFIX.into(),
            timeout,
        };
        let pong: String = redis
            .run(redis::cmd("PING").query_async(&mut redis.connection()))
            .await
            .map_err(|e| failed(e.to_string()))?;
        debug_assert_eq!(pong, "PONG");
        Ok(redis)
    }

    /// Namespace every key of the adapters built from this handle (`{prefix}:...`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into().into();
        self
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `{prefix}:{rest}`.
    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    pub(crate) fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Run one operation under this handle's timeout.
    pub(crate) async fn run<T>(
        &self,
        operation: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Error> {
        bounded(self.timeout, operation).await
    }
}
