//! [`RedisIdempotency`]: short-lived idempotency keys shared by every node, so a client that
//! retries a request on another node gets the first answer instead of a second effect (REST
//! responses cached by `Idempotency-Key`).
//!
//! `remember` is `SET key value NX GET PX ttl` (Redis 7): one atomic round trip that either
//! stores the value (first time: `None`) or leaves the existing one and returns it. Keys expire
//! by themselves. Errors are returned, not hidden: whether to serve the request without the
//! cache or refuse it is the caller's choice.

use std::time::Duration;

use crate::connection::Redis;
use crate::errors::Error;

pub struct RedisIdempotency {
    redis: Redis,
}

impl RedisIdempotency {
    pub fn new(redis: &Redis) -> Self {
        Self {
            redis: redis.clone(),
        }
    }

    /// Store `value` under `key` for `ttl` unless the key exists; `Some(existing)` if it does.
    pub async fn remember(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<Option<Vec<u8>>, Error> {
        let ttl_ms = (ttl.as_millis() as u64).max(1);
        self.redis
            .run(
                redis::cmd("SET")
                    .arg(self.key(key))
                    .arg(value)
                    .arg("NX")
                    .arg("GET")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut self.redis.connection()),
            )
            .await
    }

    /// Store `value` under `key` for `ttl`, replacing what is there (the final answer of a
    /// request whose key [`Self::remember`] claimed).
    pub async fn replace(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        let ttl_ms = (ttl.as_millis() as u64).max(1);
        self.redis
            .run(
                redis::cmd("SET")
                    .arg(self.key(key))
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut self.redis.connection()),
            )
            .await
    }

    /// Drop a key (for example when the request it guarded failed and may be retried).
    pub async fn forget(&self, key: &str) -> Result<(), Error> {
        self.redis
            .run(
                redis::cmd("DEL")
                    .arg(self.key(key))
                    .query_async(&mut self.redis.connection()),
            )
            .await
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(&format!("idem:{key}"))
    }
}
