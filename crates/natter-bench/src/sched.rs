//! Open-loop scheduling: the i-th event of a run at `rate` per second is due at `i / rate`
//! seconds after the start, whether or not earlier events have completed. Latency is measured
//! from that intended time, so a stall delays (and is charged to) every event scheduled during
//! it instead of silently lowering the offered rate (no coordinated omission).

use std::time::Duration;

/// Offset of event `i` from the start of a run at `rate_per_s` events per second.
pub fn intended_offset(i: u64, rate_per_s: f64) -> Duration {
    assert!(rate_per_s > 0.0, "rate must be positive");
    Duration::from_secs_f64(i as f64 / rate_per_s)
}

/// Events of a run that are due by `elapsed` (events 0..n have intended offsets <= elapsed).
pub fn due_by(elapsed: Duration, rate_per_s: f64) -> u64 {
    (elapsed.as_secs_f64() * rate_per_s).floor() as u64 + 1
}

/// Events in a run of `duration` at `rate_per_s` (at least one).
pub fn total_events(duration: Duration, rate_per_s: f64) -> u64 {
    ((duration.as_secs_f64() * rate_per_s).round() as u64).max(1)
}

/// A small deterministic generator (SplitMix64) to pick senders and pages reproducibly.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_clock_not_completions() {
        assert_eq!(intended_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(intended_offset(1500, 1000.0), Duration::from_millis(1500));
        assert_eq!(intended_offset(3, 20_000.0), Duration::from_micros(150));
    }

    #[test]
    fn due_counts_include_event_zero() {
        assert_eq!(due_by(Duration::ZERO, 100.0), 1);
        assert_eq!(due_by(Duration::from_millis(9), 100.0), 1);
        assert_eq!(due_by(Duration::from_millis(10), 100.0), 2);
        assert_eq!(due_by(Duration::from_secs(1), 100.0), 101);
    }

    #[test]
    fn totals_round_and_never_vanish() {
        assert_eq!(total_events(Duration::from_secs(10), 2000.0), 20_000);
        assert_eq!(total_events(Duration::from_millis(1), 1.0), 1);
    }

    #[test]
    fn splitmix_is_deterministic_and_bounded() {
        let (mut a, mut b) = (SplitMix::new(7), SplitMix::new(7));
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
    }
}
