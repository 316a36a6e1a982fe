//! Latency histograms (HdrHistogram, microseconds, 3 significant digits) and their summaries.
//!
//! Thousands of connection tasks record at once, so recording goes to one of several shards
//! (each behind a std Mutex, held for one `record`), merged when the run ends.

use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency kept exactly: 10 minutes. Larger values are clamped (and show as the max).
const MAX_LATENCY_US: u64 = 600_000_000;
const SHARDS: usize = 16;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// A histogram many tasks record into.
pub struct Sharded {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Sharded {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }
}

impl Sharded {
    pub fn record(&self, shard_hint: usize, value_us: u64) {
        let mut h = self.shards[shard_hint % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        h.saturating_record(value_us.clamp(1, MAX_LATENCY_US));
    }

    pub fn reset(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|p| p.into_inner()).reset();
        }
    }

    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let h = shard.lock().unwrap_or_else(|p| p.into_inner());
            all.add(&*h).expect("same bounds");
        }
        all
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

pub fn summarize(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    Summary {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
    }
}

/// `a / b`, rounded to two decimals; None when either side is missing or zero.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 && b > 0.0 => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_into_exact_percentiles() {
        let sharded = Sharded::default();
        for i in 1..=10_000u64 {
            sharded.record(i as usize, i * 10); // 10 us .. 100 ms
        }
        let s = summarize(&sharded.merged());
        assert_eq!(s.count, 10_000);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.p999_ms - 99.9).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn out_of_range_values_are_clamped_not_lost() {
        let sharded = Sharded::default();
        sharded.record(0, 0);
        sharded.record(1, u64::MAX);
        let h = sharded.merged();
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
    }

    #[test]
    fn empty_histograms_summarize_to_zero() {
        assert_eq!(summarize(&new_histogram()), Summary::default());
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(1.0), Some(4.0)), Some(0.25));
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
    }
}
