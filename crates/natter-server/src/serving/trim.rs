//! Give the allocator's free memory back to the system after a burst of connections.
//!
//! A reconnect storm opens thousands of connections at once, each with its HTTP request, its
//! WebSocket handshake and its catch-up in flight, then settles to idle connections that keep
//! little (`gateway/`). glibc's malloc keeps what the burst freed: its free chunks lie between
//! live ones, where `free` never returns them. Measured with `natter-bench idle` (10,000 clients,
//! 1,000 connecting at once, once the listener's queue no longer drops them, see `listener.rs`):
//! 2.2-2.7 KiB of server RSS per idle connection settled, 1.5 KiB after one `malloc_trim(0)`
//! (89 -> 76 MB). So once a burst is over (at least [`BURST`] connections admitted since the
//! last trim, then fewer than [`QUIET`] in one look), `malloc_trim(0)` releases the free pages
//! in the middle of the heap too. It takes the allocator's locks while it walks the heap (3.0 ms
//! at 10,000 idle connections, 7.4 ms at 19,000, measured in that scenario), which is why it
//! runs after bursts and not on a timer.

use std::sync::Arc;
use std::time::Duration;

use super::admission::Admission;

/// Connections admitted since the last trim that make a burst.
pub const BURST: u64 = 1_000;
/// Fewer admissions than this in one look: the burst is over.
pub const QUIET: u64 = 100;
/// How often the admissions are looked at.
const LOOK_EVERY: Duration = Duration::from_millis(500);
/// Looks between two trims at least (2 s): a node that admits connections steadily trims now
/// and then, not at every look, and a storm that paused for a look (a trim then) is trimmed
/// again soon after it ends.
const LOOKS_BETWEEN_TRIMS: u32 = 4;

/// Watches `admission` and trims after each burst, until aborted.
pub async fn after_bursts(admission: Arc<Admission>) {
    let mut bursts = Bursts::starting_at(admission.admitted());
    let mut every = tokio::time::interval(LOOK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if bursts.look(admission.admitted()) {
            // Off the runtime's workers: the walk of the heap takes milliseconds.
            let _ = tokio::task::spawn_blocking(release_free_memory).await;
        }
    }
}

/// When a burst of admissions has ended.
#[derive(Debug)]
struct Bursts {
    at_last_trim: u64,
    at_last_look: u64,
    looks_since_trim: u32,
}

impl Bursts {
    fn starting_at(admitted: u64) -> Self {
        Self {
            at_last_trim: admitted,
            at_last_look: admitted,
            looks_since_trim: LOOKS_BETWEEN_TRIMS,
        }
    }

    /// `admitted` is the count now; true when it is time to trim.
    fn look(&mut self, admitted: u64) -> bool {
        let since_look = admitted.saturating_sub(self.at_last_look);
        self.at_last_look = admitted;
        self.looks_since_trim = self.looks_since_trim.saturating_add(1);
        let since_trim = admitted.saturating_sub(self.at_last_trim);
        if since_trim >= BURST && since_look < QUIET && self.looks_since_trim > LOOKS_BETWEEN_TRIMS
        {
            self.at_last_trim = admitted;
            self.looks_since_trim = 0;
            return true;
        }
        false
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    let started = std::time::Instant::now();
    // SAFETY: malloc_trim only walks and releases the allocator's own free memory.
    unsafe { libc::malloc_trim(0) };
    tracing::debug!(took = ?started.elapsed(), "free memory returned after a burst of connections");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_when_a_burst_has_ended() {
        let mut bursts = Bursts::starting_at(0);
        assert!(!bursts.look(600), "a burst under way");
        assert!(!bursts.look(10_000), "still under way");
        assert!(bursts.look(10_050), "it ended");
        assert!(!bursts.look(10_050), "nothing new since");
        assert!(!bursts.look(10_090));
    }

    #[test]
    fn a_steady_trickle_trims_once_a_bursts_worth_came() {
        let mut bursts = Bursts::starting_at(0);
        let mut admitted = 0;
        let mut trims = Vec::new();
        for look in 1..=60 {
            admitted += QUIET - 1;
            if bursts.look(admitted) {
                trims.push(look);
            }
        }
        // Each time a burst's worth came since the last (11 looks of 99).
        assert_eq!(trims, [11, 22, 33, 44, 55]);
    }

    #[test]
    fn a_second_burst_soon_after_waits_its_turn() {
        let mut bursts = Bursts::starting_at(0);
        assert!(!bursts.look(5_000));
        assert!(bursts.look(5_000));
        assert!(!bursts.look(9_000));
        for _ in 0..3 {
            assert!(!bursts.look(9_000));
        }
        assert!(bursts.look(9_000));
    }

    #[test]
    fn counts_from_where_it_started() {
        let mut bursts = Bursts::starting_at(50_000);
        assert!(!bursts.look(50_010));
    }
}
