//! Reconnect delays: exponential from `initial` to `max`, with "equal jitter" (each delay is
//! drawn from the upper half of its step) so that clients dropped together by a node restart
//! do not all come back in the same millisecond.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    /// Failed attempts since the last success; capped (doubling stops long before the cap).
    attempt: u32,
    /// xorshift64 state: jitter needs spread, not cryptographic quality, and this avoids a
    /// dependency.
    rng: u64,
}

/// Doubling beyond 2^16 * initial is pointless: any sane `max` is reached long before.
const MAX_DOUBLINGS: u32 = 16;

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        // A fresh RandomState is randomly keyed: a cheap, dependency-free seed.
        let seed = RandomState::new().hash_one(0u8) | 1;
        Self::with_seed(initial, max, seed)
    }

    pub(crate) fn with_seed(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt: in `[step / 2, step]` where `step` is
    /// `initial * 2^attempts`, capped at `max`.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self
            .initial
            .saturating_mul(1 << self.attempt.min(MAX_DOUBLINGS))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        let spread = u64::try_from((step - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            self.next_random() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// After a successful connection: the next drop starts again from `initial`.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_grow_within_bounds_and_cap() {
        for seed in [1, 7, 0xdead_beef, u64::MAX] {
            let mut backoff = Backoff::with_seed(50 * MS, 2000 * MS, seed);
            let mut step = 50 * MS;
            for _ in 0..40 {
                let delay = backoff.next_delay();
                assert!(
                    delay >= step / 2 && delay <= step,
                    "{delay:?} outside [{:?}, {step:?}]",
                    step / 2
                );
                step = (step * 2).min(2000 * MS);
            }
        }
    }

    #[test]
    fn reset_starts_over_and_jitter_varies() {
        let mut backoff = Backoff::new(50 * MS, 2000 * MS);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= 50 * MS);
        let delays: Vec<_> = (0..20)
            .map(|_| {
                backoff.reset();
                backoff.next_delay()
            })
            .collect();
        assert!(
            delays.windows(2).any(|pair| pair[0] != pair[1]),
            "no jitter: {delays:?}"
        );
    }

    #[test]
    fn degenerate_settings_do_not_panic() {
        let mut zero = Backoff::with_seed(Duration::ZERO, Duration::ZERO, 3);
        assert_eq!(zero.next_delay(), Duration::ZERO);
        let mut inverted = Backoff::with_seed(100 * MS, 10 * MS, 3);
        assert!(inverted.next_delay() <= 100 * MS);
    }
}
