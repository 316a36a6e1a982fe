//! A bounded in-memory map in front of a store, for reads that are repeated far more often than
//! what they read changes (membership on every send and page, a session on every request).
//!
//! Correctness rests on one rule: whoever changes what an entry says calls [`Cache::invalidate`]
//! right after the store has the change and before anyone is told of it (the event is
//! published, the request answered). A read that missed takes a [`Ticket`] *before* it reads
//! the store and offers what it read with [`Cache::fill`]; the fill is dropped when any
//! invalidation happened since the ticket, so a read that raced a change can never put the old
//! value back after the change was invalidated.
//!
//! Bounded by count: when full, an arbitrary entry is dropped (always safe: a miss reads the
//! store). The value of a full cache is a few dozen bytes per entry plus the map's overhead.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Proof of the cache's invalidation count at the moment a store read began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

pub struct Cache<K, V> {
    state: Mutex<State<K, V>>,
    max: usize,
}

struct State<K, V> {
    entries: HashMap<K, V>,
    /// Bumped by every invalidation.
    generation: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    /// Holds at most `max` entries (0: holds nothing, every read goes to the store).
    pub fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State {
                entries: HashMap::new(),
                generation: 0,
            }),
            max,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        // A panic while holding the lock leaves a consistent map (every operation is one
        // insert or remove): keep using it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.state().entries.get(key).cloned()
    }

    /// Take before reading the store on a miss.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.state().generation)
    }

    /// Keep `value`, read from the store after `ticket` was taken, unless something was
    /// invalidated since (the read may predate that change).
    pub fn fill(&self, ticket: Ticket, key: K, value: V) {
        let mut state = self.state();
        if state.generation != ticket.0 || self.max == 0 {
            return;
        }
        if state.entries.len() >= self.max && !state.entries.contains_key(&key) {
            let victim = state.entries.keys().next().cloned();
            if let Some(victim) = victim {
                state.entries.remove(&victim);
            }
        }
        state.entries.insert(key, value);
    }

    /// Forget `key`: the store changed what it says.
    pub fn invalidate(&self, key: &K) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.remove(key);
    }

    /// Forget everything.
    pub fn clear(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }

    /// Change the entry of `key` in place, if there is one (for a change this process made and
    /// knows the outcome of, such as a flag that only ever goes from false to true).
    pub fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some(value) = self.state().entries.get_mut(key) {
            change(value);
        }
    }

    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let cache = Cache::new(10);
        let ticket = cache.ticket();
        // The store changed while the read was in flight.
        cache.invalidate(&1);
        cache.fill(ticket, 1, "old");
        assert_eq!(cache.get(&1), None);
        let ticket = cache.ticket();
        cache.fill(ticket, 1, "new");
        assert_eq!(cache.get(&1), Some("new"));
        cache.invalidate(&1);
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn it_never_holds_more_than_its_bound() {
        let cache = Cache::new(3);
        for key in 0..100 {
            let ticket = cache.ticket();
            cache.fill(ticket, key, key * 2);
            assert!(cache.len() <= 3);
            assert_eq!(cache.get(&key), Some(key * 2));
        }
        let none = Cache::new(0);
        let ticket = none.ticket();
        none.fill(ticket, 1, 1);
        assert!(none.is_empty());
    }

    #[test]
    fn update_changes_only_a_present_entry() {
        let cache = Cache::new(3);
        cache.update(&1, |v: &mut bool| *v = true);
        assert_eq!(cache.get(&1), None);
        let ticket = cache.ticket();
        cache.fill(ticket, 1, false);
        cache.update(&1, |v| *v = true);
        assert_eq!(cache.get(&1), Some(true));
    }
}
