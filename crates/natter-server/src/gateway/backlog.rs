//! The hub's order of work: which event it handles next.
//!
//! An event of a big audience costs a delivery per connected member: in a room of a thousand at
//! saturation a single commit publishes a few hundred of them, a few hundred thousand
//! deliveries. Handled strictly in bus order, the event of a quiet room of ten that was
//! committed beside them waited for every one to be queued and written (issue 12 measured the
//! quiet room's p99 at 25-60 times its value alone, most of it this wait).
//!
//! What the hub promises is per key: the events of one conversation reach a connection in the
//! order the bus gave them, and so do the `presence` and `user.updated` events about one user.
//! Across keys nothing is promised (docs/protocol.md, "Events"). So the backlog lets an event
//! through at once when its audience is small and nothing of its key waits; any other event
//! waits in bus order, and once an event of a key waits, every later event of that key waits
//! behind it. A control item of the bus (it lagged, went down or came back) changes how every
//! later event is handled, so it is a barrier: everything after it waits until it is handled.
//!
//! Pure bookkeeping: the hub decides what an item's key and cost are and handles the items; this
//! only says when.

use std::collections::{HashMap, VecDeque};

use natter_domain::{ConversationId, UserId};

/// What an item's order is kept with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Conversation(ConversationId),
    /// Events about one user (presence, profile).
    Subject(UserId),
}

/// How an item stands in the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ordered with the other items of this key; `cost` is its deliveries (as far as known).
    Keyed { key: Key, cost: usize },
    /// Ordered with nothing in particular (a session revoked: its connections close).
    Free,
    /// Everything after it waits until it is handled.
    Barrier,
}

pub struct Backlog<T> {
    /// An item of at most this cost whose key has nothing waiting goes ahead.
    urgent_cost: usize,
    waiting: VecDeque<(Order, T)>,
    /// Items waiting per key.
    keys: HashMap<Key, usize>,
    barriers: usize,
}

impl<T> Backlog<T> {
    pub fn new(urgent_cost: usize) -> Self {
        Self {
            urgent_cost,
            waiting: VecDeque::new(),
            keys: HashMap::new(),
            barriers: 0,
        }
    }

    /// A new item from the bus: returned if it may be handled now, ahead of what waits;
    /// otherwise it waits its turn ([`Self::next`]).
    pub fn admit(&mut self, order: Order, item: T) -> Option<T> {
        let now = self.barriers == 0
            && match order {
                Order::Keyed { key, cost } => {
                    cost <= self.urgent_cost && !self.keys.contains_key(&key)
                }
                Order::Free => true,
                Order::Barrier => self.waiting.is_empty(),
            };
        if now {
            return Some(item);
        }
        match order {
            Order::Keyed { key, .. } => *self.keys.entry(key).or_default() += 1,
            Order::Free => {}
            Order::Barrier => self.barriers += 1,
        }
        self.waiting.push_back((order, item));
        None
    }

    /// The item whose turn it is, in bus order.
    pub fn next(&mut self) -> Option<T> {
        let (order, item) = self.waiting.pop_front()?;
        match order {
            Order::Keyed { key, .. } => {
                if let Some(count) = self.keys.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        self.keys.remove(&key);
                    }
                }
            }
            Order::Free => {}
            Order::Barrier => self.barriers -= 1,
        }
        Some(item)
    }

    /// The item whose turn it is, if `wanted` says so (otherwise it stays first).
    pub fn next_if(&mut self, wanted: impl FnOnce(&T) -> bool) -> Option<T> {
        let (_, item) = self.waiting.front()?;
        if wanted(item) { self.next() } else { None }
    }

    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn room(n: u128) -> Key {
        Key::Conversation(ConversationId(Uuid::from_u128(n)))
    }

    fn keyed(key: Key, cost: usize) -> Order {
        Order::Keyed { key, cost }
    }

    fn drain(backlog: &mut Backlog<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| backlog.next()).collect()
    }

    #[test]
    fn next_if_takes_the_first_only_when_wanted_and_keeps_the_count_of_its_key() {
        let mut backlog = Backlog::new(64);
        assert_eq!(backlog.admit(keyed(room(1), 1000), "a1"), None);
        assert_eq!(backlog.admit(keyed(room(1), 1000), "a2"), None);
        assert_eq!(backlog.admit(keyed(room(2), 1000), "b1"), None);
        assert_eq!(backlog.next_if(|item| item.starts_with('b')), None);
        assert_eq!(backlog.next_if(|item| item.starts_with('a')), Some("a1"));
        assert_eq!(
            backlog.admit(keyed(room(1), 1), "a3"),
            None,
            "a2 still waits: a small event of its key waits behind it"
        );
        assert_eq!(backlog.next_if(|item| item.starts_with('a')), Some("a2"));
        assert_eq!(backlog.next_if(|item| item.starts_with('a')), None);
        assert_eq!(drain(&mut backlog), ["b1", "a3"]);
    }

    #[test]
    fn a_small_event_of_another_key_goes_ahead_of_big_ones() {
        let mut backlog = Backlog::new(64);
        assert_eq!(backlog.admit(keyed(room(1), 1000), "a1"), None);
        assert_eq!(backlog.admit(keyed(room(1), 1000), "a2"), None);
        assert_eq!(backlog.admit(keyed(room(2), 10), "b1"), Some("b1"));
        assert_eq!(
            backlog.admit(keyed(Key::Subject(UserId(Uuid::nil())), 5), "p"),
            Some("p")
        );
        assert_eq!(backlog.admit(Order::Free, "revoked"), Some("revoked"));
        assert_eq!(drain(&mut backlog), ["a1", "a2"]);
    }

    #[test]
    fn a_key_with_a_waiting_event_keeps_its_order_until_it_has_gone() {
        let mut backlog = Backlog::new(64);
        assert_eq!(backlog.admit(keyed(room(1), 1000), "a1"), None);
        // Small now (members left), but a1 is still waiting: behind it.
        assert_eq!(backlog.admit(keyed(room(1), 3), "a2"), None);
        assert_eq!(backlog.next(), Some("a1"));
        assert_eq!(backlog.admit(keyed(room(1), 3), "a3"), None);
        assert_eq!(backlog.next(), Some("a2"));
        assert_eq!(backlog.next(), Some("a3"));
        assert!(backlog.is_empty());
        assert_eq!(backlog.admit(keyed(room(1), 3), "a4"), Some("a4"));
    }

    #[test]
    fn a_barrier_holds_everything_after_it() {
        let mut backlog = Backlog::new(64);
        assert_eq!(backlog.admit(Order::Barrier, "lag"), Some("lag"));
        assert_eq!(backlog.admit(keyed(room(1), 1000), "a1"), None);
        assert_eq!(backlog.admit(Order::Barrier, "down"), None);
        assert_eq!(backlog.admit(keyed(room(2), 1), "b1"), None);
        assert_eq!(backlog.admit(Order::Free, "revoked"), None);
        assert_eq!(backlog.len(), 4);
        assert_eq!(drain(&mut backlog), ["a1", "down", "b1", "revoked"]);
        assert_eq!(backlog.admit(keyed(room(2), 1), "b2"), Some("b2"));
    }
}
