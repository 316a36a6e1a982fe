//! [`RedisRateLimiter`]: a rate limit per key shared by every node, so a client cannot multiply
//! its allowance by spreading requests over nodes.
//!
//! GCRA (`lua/gcra.lua`): each key stores one timestamp (its theoretical arrival time); a check
//! is one script call, one round trip, atomic, and needs no refill task. Time is the Redis
//! server's, so nodes with skewed clocks agree.
//!
//! **Fail-open.** When Redis does not answer within the limiter's timeout (short: a limit check
//! sits in front of every send), the request is allowed, and for the next second checks skip
//! Redis entirely and allow too, so an outage costs one timeout per second rather than one per
//! request. Why open: the limits protect against abuse, and refusing every send and login while
//! Redis is down would turn a degraded component into a full outage. The per-node limiter
//! (`natter-server`'s `limiter.rs`) still bounds each node meanwhile.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::Script;

use crate::connection::Redis;
use crate::errors::bounded;

/// The request was refused; retry after `ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    pub ms: u64,
}

pub struct RedisRateLimiter {
    redis: Redis,
    script: Script,
    timeout: Duration,
    started: Instant,
    /// Milliseconds after `started` until which checks skip Redis (0: not failing).
    open_until_ms: AtomicU64,
}

impl RedisRateLimiter {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
    /// How long checks fail open without asking Redis after a failure.
    pub const FAIL_OPEN_PAUSE: Duration = Duration::from_secs(1);

    pub fn new(redis: &Redis) -> Self {
        Self {
            redis: redis.clone(),
            script: Script::new(include_str!("lua/gcra.lua")),
            timeout: Self::DEFAULT_TIMEOUT,
            started: Instant::now(),
            open_until_ms: AtomicU64::new(0),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Count one request against `key`: on average `per_second`, up to `burst` at once.
    /// `Err` says when to retry. Allows when Redis is unavailable (see the module docs), or when
    /// `per_second` is not a positive number.
    pub async fn check(&self, key: &str, per_second: f64, burst: u32) -> Result<(), RetryAfter> {
        if !(per_second.is_finite() && per_second > 0.0) {
            debug_assert!(false, "rate must be positive, got {per_second}");
            return Ok(());
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        if now_ms < self.open_until_ms.load(Ordering::Relaxed) {
            return Ok(());
        }
        let interval_ms = 1000.0 / per_second;
        let mut invocation = self.script.key(self.redis.key(&format!("rl:{key}")));
        invocation.arg(interval_ms).arg(burst.max(1));
        let mut connection = self.redis.connection();
        match bounded(
            self.timeout,
            invocation.invoke_async::<u64>(&mut connection),
        )
        .await
        {
            Ok(0) => Ok(()),
            Ok(ms) => Err(RetryAfter { ms }),
            Err(err) => {
                let until = self.started.elapsed() + Self::FAIL_OPEN_PAUSE;
                self.open_until_ms
                    .store(until.as_millis() as u64, Ordering::Relaxed);
                tracing::warn!(%err, "rate limiter: Redis unavailable, allowing requests");
                Ok(())
            }
        }
    }
}
