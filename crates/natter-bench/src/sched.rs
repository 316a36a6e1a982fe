//! Open-loop scheduling: the i-th event of a run at `rate` per second is due at `i / rate`
//! seconds after the start, whether or not earlier events have completed. Latency is measured
//! from that intended time, so a stall delays (and is charged to) every event scheduled during
//! it instead of silently lowering the offered rate (no coordinated omission).
//!
//! Events are released on time by [`Ticks`], a thread sleeping on the kernel's high-resolution
//! timers: tokio's timer wheel rounds every sleep up to the next millisecond, which would start
//! each event up to a millisecond late and charge that to the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The pacing thread's finest step: at high rates it releases every event due within it at once.
const TICK_MIN: Duration = Duration::from_micros(100);

/// Releases the events of an open-loop run at their intended times: [`Ticks::due`] returns
/// once more events are due than the caller has sent.
pub struct Ticks {
    shared: Arc<TickState>,
}

struct TickState {
    /// Events due so far (events `0..due`).
    due: AtomicU64,
    ready: Notify,
    stop: AtomicBool,
}

impl Ticks {
    /// Start pacing `total` events at `rate_per_s` from `start`.
    pub fn start(start: Instant, rate_per_s: f64, total: u64) -> Self {
        let shared = Arc::new(TickState {
            due: AtomicU64::new(0),
            ready: Notify::new(),
            stop: AtomicBool::new(false),
        });
        let state = shared.clone();
        std::thread::Builder::new()
            .name("bench-ticks".into())
            .spawn(move || {
                while !state.stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    let due = due_by(now.saturating_duration_since(start), rate_per_s).min(total);
                    if now >= start && due > state.due.load(Ordering::Relaxed) {
                        state.due.store(due, Ordering::Release);
                        state.ready.notify_one();
                    }
                    if due >= total {
                        return;
                    }
                    let next = start + intended_offset(due, rate_per_s);
                    std::thread::sleep(next.saturating_duration_since(now).max(TICK_MIN));
                }
            })
            .expect("start the pacing thread");
        Self { shared }
    }

    /// Wait until event `i` is due.
    pub async fn release(&self, i: u64) {
        self.due(i).await;
    }

    /// Wait until more than `sent` events are due; how many are (at most the run's total).
    pub async fn due(&self, sent: u64) -> u64 {
        loop {
            let ready = self.shared.ready.notified();
            let due = self.shared.due.load(Ordering::Acquire);
            if due > sent {
                return due;
            }
            ready.await;
        }
    }
}

impl Drop for Ticks {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

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

    #[tokio::test]
    async fn ticks_release_every_event_and_none_early() {
        let start = Instant::now() + Duration::from_millis(5);
        let (rate, total) = (2_000.0, 40);
        let ticks = Ticks::start(start, rate, total);
        let mut sent = 0;
        while sent < total {
            let due = ticks.due(sent).await;
            assert!(due > sent && due <= total);
            let last = start + intended_offset(due - 1, rate);
            assert!(Instant::now() >= last, "event {} released early", due - 1);
            sent = due;
        }
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
