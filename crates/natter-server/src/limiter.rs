//! Per-key rate limits (GCRA via `governor`): sends per user, auth attempts per username or
//! client address. Keys idle long enough are forgotten by a periodic sweep so memory stays bounded.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use natter_domain::{DomainError, UserId};

use crate::config::Limits;

#[derive(Clone)]
pub struct RateLimits {
    pub sends: Arc<KeyedLimit<UserId>>,
    pub auth: Arc<KeyedLimit<String>>,
}

impl RateLimits {
    pub fn new(limits: &Limits) -> Self {
        let nz = nonzero;
        let sends =
            Quota::per_second(nz(limits.sends_per_second)).allow_burst(nz(limits.sends_burst));
        let auth = Quota::per_minute(nz(limits.auth_per_minute)).allow_burst(nz(limits.auth_burst));
        Self {
            sends: Arc::new(KeyedLimit::new(sends)),
            auth: Arc::new(KeyedLimit::new(auth)),
        }
    }

    /// Drop state of keys that are back to a full burst.
    pub fn sweep(&self) {
        self.sends.limiter.retain_recent();
        self.auth.limiter.retain_recent();
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// One connection's command budget, so a flood from one client cannot monopolise the node.
pub fn connection_limit(per_second: u32, burst: u32) -> DefaultDirectRateLimiter {
    DefaultDirectRateLimiter::direct(
        Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst)),
    )
}

pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    fn new(quota: Quota) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    pub fn check(&self, key: &K) -> Result<(), DomainError> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            DomainError::RateLimited {
                retry_after_ms: wait.as_millis().max(1) as u64,
            }
        })
    }
}
