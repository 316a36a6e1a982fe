//! Per-key rate limits (GCRA via `governor`): sends and searches per user; registrations per client address;
//! logins per (username, address), per address and per node, with the lockout of
//! `lockout.rs` in front; typing indicators per user and conversation. Keys idle long enough are
//! forgotten by a periodic sweep so memory stays bounded.
//!
//! With Redis configured the same quotas are also enforced cluster-wide (GCRA in Redis), so a
//! client cannot multiply its allowance by spreading requests over nodes; the node-local limit
//! stays in front, cheap, and still bounds each node if Redis is down (the Redis check fails
//! open).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use natter_domain::{ConversationId, DomainError, UserId};

use crate::config::Limits;
use crate::lockout::Lockout;

#[derive(Clone)]
pub struct RateLimits {
    sends: Arc<KeyedLimit<UserId>>,
    /// Searches per user: each may read many index pages.
    searches: Arc<KeyedLimit<UserId>>,
    auth: Arc<KeyedLimit<String>>,
    /// One typing indicator per interval: each fans out to every member, so one per keystroke
    /// would be a flood.
    typing: Arc<KeyedLimit<(UserId, ConversationId)>>,
    login_per_address: Arc<KeyedLimit<IpAddr>>,
    login_global: Arc<DefaultDirectRateLimiter>,
    lockout: Arc<Lockout>,
    cluster: Option<ClusterLimits>,
}

/// A rate limit shared by every node (Redis: `backends/redis.rs`).
#[async_trait]
pub trait ClusterLimiter: Send + Sync + 'static {
    /// Count one request against `key`: on average `per_second`, up to `burst` at once;
    /// `Err(ms)` says when to retry.
    async fn check(&self, key: &str, per_second: f64, burst: u32) -> Result<(), u64>;
}

/// The cluster-wide half: the same quotas, counted by a [`ClusterLimiter`].
#[derive(Clone)]
struct ClusterLimits {
    limiter: Arc<dyn ClusterLimiter>,
    /// (per second, burst)
    sends: (f64, u32),
    auth: (f64, u32),
    login_per_address: (f64, u32),
    /// Typing indicators per second (burst 1).
    typing_per_second: f64,
}

impl RateLimits {
    pub fn new(limits: &Limits, cluster: Option<Arc<dyn ClusterLimiter>>) -> Self {
        let nz = nonzero;
        let sends =
            Quota::per_second(nz(limits.sends_per_second)).allow_burst(nz(limits.sends_burst));
        let auth = Quota::per_minute(nz(limits.auth_per_minute)).allow_burst(nz(limits.auth_burst));
        let per_address = Quota::per_minute(nz(limits.login_per_address_per_minute))
            .allow_burst(nz(limits.login_per_address_burst));
        let global =
            Quota::per_second(nz(limits.login_per_second)).allow_burst(nz(limits.login_burst));
        Self {
            sends: Arc::new(KeyedLimit::new(sends)),
            searches: Arc::new(KeyedLimit::new(
                Quota::per_second(nz(limits.searches_per_second))
                    .allow_burst(nz(limits.searches_burst)),
            )),
            auth: Arc::new(KeyedLimit::new(auth)),
            typing: Arc::new(KeyedLimit::new(typing_quota(limits.typing_interval_ms))),
            login_per_address: Arc::new(KeyedLimit::new(per_address)),
            login_global: Arc::new(DefaultDirectRateLimiter::direct(global)),
            lockout: Arc::new(Lockout::new(
                limits.login_failures_free,
                limits.login_lockout_max_ms,
            )),
            cluster: cluster.map(|limiter| ClusterLimits {
                limiter,
                sends: (
                    f64::from(limits.sends_per_second.max(1)),
                    limits.sends_burst,
                ),
                auth: (
                    f64::from(limits.auth_per_minute.max(1)) / 60.0,
                    limits.auth_burst,
                ),
                login_per_address: (
                    f64::from(limits.login_per_address_per_minute.max(1)) / 60.0,
                    limits.login_per_address_burst,
                ),
                typing_per_second: 1000.0 / limits.typing_interval_ms.max(1) as f64,
            }),
        }
    }

    /// Count one message send by `user`.
    pub async fn check_send(&self, user: &UserId) -> Result<(), DomainError> {
        self.sends.check(user)?;
        match &self.cluster {
            Some(cluster) => {
                let (rate, burst) = cluster.sends;
                cluster_check(&*cluster.limiter, &format!("send:{}", user.0), rate, burst).await
            }
            None => Ok(()),
        }
    }

    /// Count one message search by `user` (node-local: a search is a read, it changes nothing
    /// a quota across nodes would protect).
    pub async fn check_search(&self, user: &UserId) -> Result<(), DomainError> {
        self.searches.check(user)
    }

    /// Count one login attempt for `username` (normalised) from `client`: refused while the pair
    /// is locked out, or past the node's, the address's or the pair's quota.
    pub async fn check_login(&self, username: &str, client: IpAddr) -> Result<(), DomainError> {
        self.lockout.check(username, client)?;
        self.login_global
            .check()
            .map_err(|not_until| refused(not_until, &DefaultClock::default()))?;
        self.login_per_address.check(&client)?;
        if let Some(cluster) = &self.cluster {
            let (rate, burst) = cluster.login_per_address;
            let key = format!("login-address:{client}");
            cluster_check(&*cluster.limiter, &key, rate, burst).await?;
        }
        self.check_auth(&format!("login:{username}:{client}")).await
    }

    /// Record how a login checked by [`Self::check_login`] ended: a wrong password counts
    /// towards the pair's lockout, a right one clears it.
    pub fn login_outcome(&self, username: &str, client: IpAddr, right_password: bool) {
        if right_password {
            self.lockout.succeeded(username, client);
        } else {
            self.lockout.failed(username, client);
        }
    }

    /// Count one login or registration attempt under `key`.
    pub async fn check_auth(&self, key: &str) -> Result<(), DomainError> {
        self.auth.check(&key.to_owned())?;
        match &self.cluster {
            Some(cluster) => {
                let (rate, burst) = cluster.auth;
                cluster_check(&*cluster.limiter, &format!("auth:{key}"), rate, burst).await
            }
            None => Ok(()),
        }
    }

    /// Whether `user`'s typing indicator in `conversation` may be published now (on any node,
    /// with Redis); the caller drops it silently if not (the indicator members see is still on).
    pub async fn typing_allowed(&self, user: UserId, conversation: ConversationId) -> bool {
        if self.typing.check(&(user, conversation)).is_err() {
            return false;
        }
        match &self.cluster {
            Some(cluster) => {
                let key = format!("typing:{}:{}", user.0, conversation.0);
                cluster_check(&*cluster.limiter, &key, cluster.typing_per_second, 1)
                    .await
                    .is_ok()
            }
            None => true,
        }
    }

    /// Drop state of keys that are back to a full burst.
    pub fn sweep(&self) {
        self.sends.limiter.retain_recent();
        self.searches.limiter.retain_recent();
        self.auth.limiter.retain_recent();
        self.typing.limiter.retain_recent();
        self.login_per_address.limiter.retain_recent();
        self.lockout.sweep();
    }
}

async fn cluster_check(
    limiter: &dyn ClusterLimiter,
    key: &str,
    rate: f64,
    burst: u32,
) -> Result<(), DomainError> {
    limiter
        .check(key, rate, burst)
        .await
        .map_err(|retry_ms| DomainError::RateLimited {
            retry_after_ms: retry_ms.max(1),
        })
}

fn typing_quota(interval_ms: u64) -> Quota {
    Quota::with_period(std::time::Duration::from_millis(interval_ms.max(1)))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// One connection's command budget, so a flood from one client cannot monopolise the node.
/// On the standard library's monotonic clock: it takes no room in the limiter, which every
/// connection holds for its whole life (the default clock, `quanta`'s, keeps its calibration in
/// each copy, 32 bytes more), and needs no calibration either (`cpuid`, ~4% of the CPU of a
/// connection storm when each connection calibrated one).
pub type ConnectionLimit =
    RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<std::time::Instant>>;

pub fn connection_limit(per_second: u32, burst: u32) -> ConnectionLimit {
    RateLimiter::direct_with_clock(
        Quota::per_second(nonzero(per_second)).allow_burst(nonzero(burst)),
        MonotonicClock,
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

    fn check(&self, key: &K) -> Result<(), DomainError> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| refused(not_until, &self.clock))
    }
}

/// A refusal that says when the quota allows the next attempt.
fn refused(
    not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>,
    clock: &DefaultClock,
) -> DomainError {
    let wait = not_until.wait_time_from(clock.now());
    DomainError::RateLimited {
        retry_after_ms: wait.as_millis().max(1) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            auth_per_minute: 1_000,
            auth_burst: 1_000,
            login_per_address_per_minute: 1_000,
            login_per_address_burst: 1_000,
            ..Limits::default()
        }
    }

    #[tokio::test]
    async fn the_node_wide_login_limit_counts_every_address() {
        let limits = RateLimits::new(
            &Limits {
                login_per_second: 1,
                login_burst: 3,
                ..limits()
            },
            None,
        );
        for last in 1..=3 {
            let client = IpAddr::from([10, 0, 0, last]);
            limits.check_login("alice", client).await.expect("burst");
        }
        let refused = limits.check_login("bob", IpAddr::from([10, 0, 0, 9])).await;
        assert!(matches!(refused, Err(DomainError::RateLimited { .. })));
    }

    #[tokio::test]
    async fn a_locked_pair_is_refused_and_cleared_by_a_success() {
        let limits = RateLimits::new(
            &Limits {
                login_failures_free: 0,
                ..limits()
            },
            None,
        );
        let client = IpAddr::from([10, 0, 0, 1]);
        limits.login_outcome("alice", client, false);
        assert!(limits.check_login("alice", client).await.is_err());
        assert!(
            limits
                .check_login("alice", IpAddr::from([10, 0, 0, 2]))
                .await
                .is_ok()
        );
        limits.login_outcome("alice", client, true);
        assert!(limits.check_login("alice", client).await.is_ok());
    }
}
