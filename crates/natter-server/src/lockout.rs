//! Login lockout with exponential backoff, keyed on (username, client address): after
//! `login_failures_free` wrong passwords from one address for one username, each further one
//! locks that pair out for 1 s, doubling up to `login_lockout_max_ms`. Keyed on the pair, not the
//! username, so an attacker guessing from one address cannot lock the owner out from another;
//! guessing from many addresses is bounded by the per-address and global login limits.
//!
//! Node-local and bounded: at most [`MAX_PAIRS`] pairs are remembered, and pairs whose lock and
//! memory have lapsed are swept.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use natter_domain::DomainError;

/// Pairs remembered at once; past it, new failures are not recorded (the rate limits still
/// apply) until a sweep frees room.
pub const MAX_PAIRS: usize = 100_000;

pub struct Lockout {
    free: u32,
    max: Duration,
    pairs: Mutex<HashMap<(String, IpAddr), Failures>>,
}

struct Failures {
    count: u32,
    locked_until: Instant,
    last: Instant,
}

impl Lockout {
    pub fn new(free: u32, max_ms: u64) -> Self {
        Self {
            free,
            max: Duration::from_millis(max_ms.max(1)),
            pairs: Mutex::default(),
        }
    }

    /// `RateLimited` while `username` is locked out for `client`.
    pub fn check(&self, username: &str, client: IpAddr) -> Result<(), DomainError> {
        let now = Instant::now();
        let pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        match pairs.get(&(username.to_owned(), client)) {
            Some(failures) if failures.locked_until > now => Err(DomainError::RateLimited {
                retry_after_ms: (failures.locked_until - now).as_millis().max(1) as u64,
            }),
            _ => Ok(()),
        }
    }

    /// A wrong password: past the free ones, lock the pair for 1 s doubling per failure.
    pub fn failed(&self, username: &str, client: IpAddr) {
        let now = Instant::now();
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        let key = (username.to_owned(), client);
        if !pairs.contains_key(&key) && pairs.len() >= MAX_PAIRS {
            self.sweep_locked(&mut pairs, now);
            if pairs.len() >= MAX_PAIRS {
                return;
            }
        }
        let failures = pairs.entry(key).or_insert(Failures {
            count: 0,
            locked_until: now,
            last: now,
        });
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        if let Some(over) = failures.count.checked_sub(self.free).filter(|n| *n > 0) {
            let doublings = (over - 1).min(30);
            let lock = Duration::from_secs(1u64 << doublings).min(self.max);
            failures.locked_until = now + lock;
        }
    }

    /// A right password forgets the pair's failures.
    pub fn succeeded(&self, username: &str, client: IpAddr) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.remove(&(username.to_owned(), client));
    }

    /// Forget pairs no longer locked and without a failure for the longest lock.
    pub fn sweep(&self) {
        let mut pairs = self.pairs.lock().unwrap_or_else(|e| e.into_inner());
        self.sweep_locked(&mut pairs, Instant::now());
    }

    fn sweep_locked(&self, pairs: &mut HashMap<(String, IpAddr), Failures>, now: Instant) {
        pairs.retain(|_, f| f.locked_until > now || now.duration_since(f.last) < self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn locks_the_pair_after_the_free_failures_with_doubling_waits() {
        let lockout = Lockout::new(2, 60_000);
        lockout.failed("alice", addr(1));
        lockout.failed("alice", addr(1));
        assert!(lockout.check("alice", addr(1)).is_ok(), "two free failures");
        lockout.failed("alice", addr(1));
        let Err(DomainError::RateLimited { retry_after_ms }) = lockout.check("alice", addr(1))
        else {
            panic!("locked after the third")
        };
        assert!(retry_after_ms <= 1_000);
        lockout.failed("alice", addr(1));
        let Err(DomainError::RateLimited { retry_after_ms }) = lockout.check("alice", addr(1))
        else {
            panic!("still locked")
        };
        assert!(retry_after_ms > 1_000 && retry_after_ms <= 2_000);
        assert!(lockout.check("alice", addr(2)).is_ok(), "another address");
        assert!(lockout.check("bob", addr(1)).is_ok(), "another username");
        lockout.succeeded("alice", addr(1));
        assert!(lockout.check("alice", addr(1)).is_ok(), "success forgets");
    }

    #[test]
    fn the_lock_never_exceeds_the_maximum() {
        let lockout = Lockout::new(0, 5_000);
        for _ in 0..64 {
            lockout.failed("alice", addr(1));
        }
        let Err(DomainError::RateLimited { retry_after_ms }) = lockout.check("alice", addr(1))
        else {
            panic!("locked")
        };
        assert!(retry_after_ms <= 5_000);
    }
}
