//! Delivery accounting shared by every connection of a run.
//!
//! Each published message carries its own bookkeeping in its text: `@@B<g>.<n>.<t_us>@@`, where
//! `g` is the message's index in the run, `n` how many devices must receive it, and `t_us` its
//! intended send time (microseconds since the run's epoch). A receiver finds the marker with one
//! substring search (no JSON parsing on the hot path), records send-to-delivery latency, and
//! counts the delivery; the `n`-th delivery records the time until the last member had it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::Semaphore;

use crate::stats::Sharded;

pub struct Tracker {
    pub epoch: Instant,
    /// Whether deliveries are recorded (off while connecting and warming up).
    pub recording: AtomicBool,
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    /// Messages every member has received.
    pub completed: AtomicU64,
    /// Refused commands (error frames) and failed writes.
    pub errors: AtomicU64,
    counts: Vec<AtomicU32>,
    /// Send (intended time) to each delivery.
    pub per_delivery: Sharded,
    /// Send (intended time) to the last member's delivery.
    pub last_member: Sharded,
    /// Saturation runs take a permit per message and get it back when the message is fully
    /// delivered (or refused): a bounded number of messages in flight.
    pub window: Semaphore,
}

/// Parsed marker of a benchmark message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub g: u64,
    pub n: u32,
    pub t_us: u64,
}

pub fn payload(g: u64, n: u32, t_us: u64) -> String {
    format!("@@B{g}.{n}.{t_us}@@")
}

/// Finds and parses the first marker in `text`.
pub fn find_marker(text: &str) -> Option<Marker> {
    let start = text.find("@@B")? + 3;
    let rest = &text[start..];
    let end = rest.find("@@")?;
    let mut parts = rest[..end].split('.');
    let g = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let t_us = parts.next()?.parse().ok()?;
    Some(Marker { g, n, t_us })
}

impl Tracker {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            recording: AtomicBool::new(false),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            counts: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            per_delivery: Sharded::default(),
            last_member: Sharded::default(),
            window: Semaphore::new(0),
        })
    }

    pub fn capacity(&self) -> u64 {
        self.counts.len() as u64
    }

    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// A connection received `text`; `shard` spreads histogram locks.
    pub fn on_text(&self, shard: usize, text: &str) {
        if let Some(marker) = find_marker(text) {
            self.on_marker(shard, marker);
        }
    }

    pub fn on_marker(&self, shard: usize, m: Marker) {
        let now = self.now_us();
        let latency = now.saturating_sub(m.t_us);
        let Some(count) = self.counts.get(m.g as usize) else {
            return;
        };
        let seen = count.fetch_add(1, Ordering::AcqRel) + 1;
        if self.recording.load(Ordering::Relaxed) {
            self.delivered.fetch_add(1, Ordering::Relaxed);
            self.per_delivery.record(shard, latency);
        }
        if seen == m.n {
            if self.recording.load(Ordering::Relaxed) {
                self.completed.fetch_add(1, Ordering::Relaxed);
                self.last_member.record(shard, latency);
            }
            self.window.add_permits(1);
        }
    }

    /// A command was refused or could not be written: its message will never complete.
    pub fn on_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.window.add_permits(1);
    }

    /// Starts a new measured phase: counters and histograms from zero, `window` messages may
    /// be in flight. Message indices keep growing across phases (see `capacity`).
    pub fn start_phase(&self, window: usize) {
        self.published.store(0, Ordering::Relaxed);
        self.delivered.store(0, Ordering::Relaxed);
        self.completed.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
        self.per_delivery.reset();
        self.last_member.reset();
        let stale = self.window.available_permits();
        self.window.forget_permits(stale);
        self.window.add_permits(window);
        self.recording.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_inside_any_envelope() {
        let p = payload(42, 100, 123_456);
        let natter = format!(r#"{{"type":"message.new","message":{{"text":"{p}","seq":3}}}}"#);
        assert_eq!(
            find_marker(&natter),
            Some(Marker {
                g: 42,
                n: 100,
                t_us: 123_456
            })
        );
        let centrifugo =
            format!(r#"{{"push":{{"channel":"r1","pub":{{"data":"{p}","offset":7}}}}}}"#);
        assert_eq!(find_marker(&centrifugo).map(|m| m.g), Some(42));
        assert_eq!(find_marker("{\"type\":\"presence\"}"), None);
        assert_eq!(find_marker("@@Bx.1.2@@"), None);
    }

    #[test]
    fn the_last_delivery_completes_and_frees_a_window_slot() {
        let t = Tracker::new(10);
        t.start_phase(0);
        let m = Marker {
            g: 3,
            n: 2,
            t_us: 0,
        };
        t.on_marker(0, m);
        assert_eq!(t.completed.load(Ordering::Relaxed), 0);
        t.on_marker(1, m);
        assert_eq!(t.completed.load(Ordering::Relaxed), 1);
        assert_eq!(t.delivered.load(Ordering::Relaxed), 2);
        assert_eq!(t.window.available_permits(), 1);
        t.start_phase(5);
        assert_eq!(t.window.available_permits(), 5);
        assert_eq!(t.delivered.load(Ordering::Relaxed), 0);
        // Out of capacity: ignored, not a panic.
        t.on_marker(
            0,
            Marker {
                g: 99,
                n: 1,
                t_us: 0,
            },
        );
    }
}
