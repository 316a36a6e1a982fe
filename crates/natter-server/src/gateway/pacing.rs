//! When the hub writes the outlets of big audiences: at once while it has time to spare, in
//! paced rounds while writing takes much of its time or deliveries come at a high rate.
//!
//! At saturation a room of 1,000's deliveries cost the server what the kernel charges per write
//! (a system call, a segment, the reader's wake-up), and the hub writes each connection as soon
//! as it can: the faster it writes, the fewer frames each write carries, so the cost per
//! delivery never falls. While the hub is busy it therefore writes the dirty outlets in rounds
//! (every outlet dirty when a round starts, each once) and starts a round at most every
//! [`ROUND_MIN`]: frames keep coming to the outlets that wait, and each write carries more. A
//! room of 1,000 at saturation went from 3.0-3.2 M deliveries per server CPU-second to 5.4-5.6
//! M, with more deliveries a second and a lower p99 (BENCHMARKS.md, eighteenth round). While
//! it is not busy (writing took at most [`BUSY_SHARE`] of the last [`SPAN`], and fewer than
//! [`BUSY_DELIVERIES_PER_SECOND`] were queued in it), a round starts
//! whenever there is something to write: paced always, a room of 100 at 200 msg/s had a median
//! of 23 ms instead of 1.4. Urgent outlets (small audiences, `Lane::Urgent`) are never paced,
//! and the hub waits for a round's time or the bus's next event, whichever comes first
//! (`forwarded.rs`).

use std::time::{Duration, Instant};

/// How often a round may start while the hub is busy.
pub(super) const ROUND_MIN: Duration = Duration::from_millis(40);
/// The span over which the hub's writing time and its deliveries are counted.
const SPAN: Duration = Duration::from_millis(50);
/// Busy: writing took more than this share of the last span...
const BUSY_SHARE: f64 = 0.3;
/// ...or the hub queued deliveries at this rate or more. A room of 100 at saturation (~2 M
/// deliveries a second) writes each outlet often enough never to take a third of the hub's
/// time, yet its writes cost what the kernel charges per call: paced, it gave 2.76-2.94 M
/// deliveries per server CPU-second against 2.59-2.80 M (BENCHMARKS.md, twenty-third round).
/// At this rate a round's wait is small beside the queueing such a load already has; a room of
/// 100 at 200 msg/s (20,000 deliveries a second) is far below it.
const BUSY_DELIVERIES_PER_SECOND: f64 = 500_000.0;

pub(super) struct Pacing {
    /// Outlets of the running round not written yet (0: the round is over).
    left: usize,
    round_started: Instant,
    span_started: Instant,
    writing: Duration,
    /// Deliveries queued in the running span.
    queued: usize,
    busy: bool,
}

impl Pacing {
    pub(super) fn new(now: Instant) -> Self {
        Self {
            left: 0,
            round_started: now.checked_sub(ROUND_MIN).unwrap_or(now),
            span_started: now,
            writing: Duration::ZERO,
            queued: 0,
            busy: false,
        }
    }

    /// How long until the next round may start, if the running one is over and the hub is
    /// busy; `None`: an outlet may be written now.
    pub(super) fn wait(&self, now: Instant) -> Option<Duration> {
        if self.left > 0 || !self.busy {
            return None;
        }
        let due = self.round_started + ROUND_MIN;
        (due > now).then(|| due - now)
    }

    /// Whether the next outlet of `dirty` waiting ones may be written at `now`: the running
    /// round goes on, or a new one starts with every outlet dirty now.
    pub(super) fn take(&mut self, dirty: usize, now: Instant) -> bool {
        if self.left == 0 {
            if dirty == 0 || self.wait(now).is_some() {
                return false;
            }
            self.left = dirty;
            self.round_started = now;
        }
        self.left -= 1;
        true
    }

    /// The dirty outlets ran out before the round did (connections dropped meanwhile).
    pub(super) fn none_left(&mut self) {
        self.left = 0;
    }

    /// Count `deliveries` queued to outlets (they make the hub busy at a high rate).
    pub(super) fn queued(&mut self, deliveries: usize) {
        self.queued += deliveries;
    }

    /// Count `spent` writing, ending at `now`.
    pub(super) fn wrote(&mut self, spent: Duration, now: Instant) {
        self.writing += spent;
        let span = now.saturating_duration_since(self.span_started);
        if span >= SPAN {
            self.busy = self.writing.as_secs_f64() > span.as_secs_f64() * BUSY_SHARE
                || self.queued as f64 >= span.as_secs_f64() * BUSY_DELIVERIES_PER_SECOND;
            self.span_started = now;
            self.writing = Duration::ZERO;
            self.queued = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_hub_writes_at_once_and_a_busy_one_in_rounds() {
        let start = Instant::now();
        let mut pacing = Pacing::new(start);
        assert!(pacing.take(2, start) && pacing.take(2, start));
        assert!(
            pacing.take(1, start),
            "not busy: the next round starts at once"
        );

        // Writing most of a span: busy.
        let busy = start + SPAN;
        pacing.wrote(SPAN.mul_f64(0.9), busy);
        assert!(
            pacing.take(3, busy),
            "the last round started long enough ago"
        );
        assert!(
            pacing.take(3, busy) && pacing.take(3, busy),
            "the round's three outlets"
        );
        assert_eq!(pacing.wait(busy), Some(ROUND_MIN));
        assert!(!pacing.take(1, busy), "the next round waits");
        assert!(!pacing.take(1, busy + ROUND_MIN - Duration::from_millis(1)));
        assert!(pacing.take(1, busy + ROUND_MIN), "and starts once due");

        // A span with little writing: not busy any more.
        let quiet = busy + SPAN;
        pacing.wrote(Duration::from_millis(1), quiet);
        assert_eq!(pacing.wait(quiet), None);
        assert!(pacing.take(1, quiet));
    }

    #[test]
    fn many_deliveries_make_the_hub_busy_however_briefly_it_writes() {
        let start = Instant::now();
        let mut pacing = Pacing::new(start);
        let per_span = (BUSY_DELIVERIES_PER_SECOND * SPAN.as_secs_f64()) as usize;

        pacing.queued(per_span - 1);
        let end = start + SPAN;
        pacing.wrote(Duration::from_millis(1), end);
        assert_eq!(pacing.wait(end), None, "just below the rate: not busy");

        pacing.queued(per_span);
        let busy = end + SPAN;
        pacing.wrote(Duration::from_millis(1), busy);
        assert!(pacing.take(1, busy), "the first round starts at once");
        assert_eq!(pacing.wait(busy), Some(ROUND_MIN), "the next waits");
    }

    #[test]
    fn a_round_whose_outlets_went_away_ends() {
        let start = Instant::now();
        let mut pacing = Pacing::new(start);
        assert!(pacing.take(5, start));
        pacing.none_left();
        assert!(pacing.take(1, start), "not busy: a new round at once");
    }
}
