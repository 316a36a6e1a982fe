//! Hands each event received from Redis to this node's subscriptions, each through a bounded
//! queue, and marks every gap with [`BusItem::Lagged`].
//!
//! A subscription that does not keep up must not slow the others or grow memory, so delivery
//! never waits: an event that does not fit is dropped for that subscription. Each queue keeps
//! one slot in reserve so the [`BusItem::Lagged`] marker always fits right where the gap is:
//! the subscriber sees the events before the gap, then `Lagged` (it resyncs from storage when it
//! reads it), then the events after. Events dropped while a marker is still queued need no new
//! marker: the resync that marker triggers happens after they were committed.
//!
//! Connections come in generations: when the pub/sub connection is lost, every subscription
//! gets [`BusItem::Down`] at once (so it can fill in from a durable feed), pushes still arriving
//! from the old connection are ignored, and every subscription gets `Lagged` once the new
//! connection is subscribed (what was published in between is lost: pub/sub is at-most-once).

use std::sync::{Arc, Mutex, MutexGuard};

use natter_domain::events::Event;
use natter_domain::ports::BusItem;
use tokio::sync::mpsc::{self, error::TrySendError};

pub(crate) struct Fanout {
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    /// The connection whose pushes are current.
    generation: u64,
    /// A connection was replaced and the subscriptions were not told yet.
    gap_pending: bool,
    closed: bool,
    slots: Vec<Slot>,
}

struct Slot {
    sender: mpsc::Sender<BusItem>,
    /// The last item queued was a `Lagged` marker.
    marker_at_tail: bool,
    /// Events were dropped and no marker covers them yet (only while the queue is full).
    marker_owed: bool,
}

impl Fanout {
    /// `capacity` events per subscription (plus one slot reserved for the gap marker).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                generation: 1,
                gap_pending: false,
                closed: false,
                slots: Vec::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscription; its receiver ends when the bus closes.
    pub(crate) fn subscribe(&self) -> mpsc::Receiver<BusItem> {
        let (sender, receiver) = mpsc::channel(self.capacity + 1);
        let mut state = self.state();
        if !state.closed {
            state.slots.push(Slot {
                sender,
                marker_at_tail: false,
                marker_owed: false,
            });
        }
        receiver
    }

    pub(crate) fn generation(&self) -> u64 {
        self.state().generation
    }

    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.state().generation == generation
    }

    /// Deliver an event pushed by connection `generation` (ignored if that connection was
    /// replaced).
    pub(crate) fn deliver(&self, generation: u64, event: Event) {
        let event = Arc::new(event);
        let mut state = self.state();
        if state.generation != generation || state.closed {
            return;
        }
        state.flush_gap();
        state
            .slots
            .retain_mut(|slot| slot.offer(&event) != Offer::Closed);
    }

    /// Connection `generation` pushed something that could not be decoded: for the subscribers
    /// it is a lost event, so they must resync.
    pub(crate) fn lost_one(&self, generation: u64) {
        let mut state = self.state();
        if state.generation == generation {
            state.flush_gap();
            state.slots.retain_mut(|slot| slot.gap() != Offer::Closed);
        }
    }

    /// The current connection is lost and being replaced: stop accepting its pushes and tell
    /// every subscription the bus is down. Returns the next connection's generation.
    pub(crate) fn next_generation(&self) -> u64 {
        let mut state = self.state();
        state.generation += 1;
        if !state.gap_pending {
            state.slots.retain_mut(|slot| slot.down() != Offer::Closed);
        }
        state.gap_pending = true;
        state.generation
    }

    /// Connection `generation` is subscribed: tell every subscription about the gap.
    pub(crate) fn resubscribed(&self, generation: u64) {
        let mut state = self.state();
        if state.generation == generation {
            state.flush_gap();
        }
    }

    /// End every subscription (after what is already queued).
    pub(crate) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.slots.clear();
    }

    #[cfg(test)]
    fn subscriptions(&self) -> usize {
        self.state().slots.len()
    }
}

impl State {
    fn flush_gap(&mut self) {
        if std::mem::take(&mut self.gap_pending) {
            self.slots.retain_mut(|slot| slot.gap() != Offer::Closed);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Offer {
    Queued,
    Dropped,
    Closed,
}

impl Slot {
    fn offer(&mut self, event: &Arc<Event>) -> Offer {
        if self.marker_owed && self.try_marker() != Offer::Queued {
            return Offer::Dropped;
        }
        // Keep the last slot for a marker.
        if self.sender.capacity() > 1 {
            match self.sender.try_send(BusItem::Event(Arc::clone(event))) {
                Ok(()) => {
                    self.marker_at_tail = false;
                    return Offer::Queued;
                }
                Err(TrySendError::Closed(_)) => return Offer::Closed,
                Err(TrySendError::Full(_)) => {}
            }
        }
        match self.gap() {
            Offer::Closed => Offer::Closed,
            _ => Offer::Dropped,
        }
    }

    /// The connection is lost: queue [`BusItem::Down`] (in the reserved slot's stead, a marker
    /// if the queue is full: this subscriber resyncs instead of filling in).
    fn down(&mut self) -> Offer {
        if self.marker_owed || self.sender.capacity() <= 1 {
            return self.gap();
        }
        match self.sender.try_send(BusItem::Down) {
            Ok(()) => {
                self.marker_at_tail = false;
                Offer::Queued
            }
            Err(TrySendError::Closed(_)) => Offer::Closed,
            Err(TrySendError::Full(_)) => self.gap(),
        }
    }

    /// Something this subscriber should have seen is lost: make sure a marker follows.
    fn gap(&mut self) -> Offer {
        if self.sender.is_closed() {
            return Offer::Closed;
        }
        // A marker still queued (nothing after it, not yet read) covers this loss too.
        if self.marker_at_tail && self.sender.capacity() < self.sender.max_capacity() {
            return Offer::Queued;
        }
        self.marker_owed = true;
        self.try_marker()
    }

    fn try_marker(&mut self) -> Offer {
        match self.sender.try_send(BusItem::Lagged) {
            Ok(()) => {
                self.marker_owed = false;
                self.marker_at_tail = true;
                Offer::Queued
            }
            Err(TrySendError::Full(_)) => Offer::Dropped,
            Err(TrySendError::Closed(_)) => Offer::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::{SessionId, UserId};

    fn event(n: u8) -> Event {
        Event::Typing {
            conversation_id: natter_domain::ConversationId::new(),
            user_id: UserId::new(),
            expires_in_ms: i64::from(n),
        }
    }

    fn seen(receiver: &mut mpsc::Receiver<BusItem>) -> Vec<Option<i64>> {
        let mut out = Vec::new();
        while let Ok(item) = receiver.try_recv() {
            out.push(match item {
                BusItem::Event(e) => match &*e {
                    Event::Typing { expires_in_ms, .. } => Some(*expires_in_ms),
                    _ => unreachable!(),
                },
                BusItem::Lagged => None,
                BusItem::Down => Some(-1),
                BusItem::Resumed => unreachable!(),
            });
        }
        out
    }

    #[test]
    fn a_full_queue_drops_then_marks_the_gap_then_continues() {
        let fanout = Fanout::new(3);
        let mut slow = fanout.subscribe();
        let mut fast = fanout.subscribe();
        let generation = fanout.generation();
        for n in 1..=5 {
            fanout.deliver(generation, event(n));
            if n <= 4 {
                assert_eq!(seen(&mut fast), vec![Some(i64::from(n))]);
            }
        }
        // 1..3 fit, 4 and 5 are dropped behind one marker.
        assert_eq!(seen(&mut slow), vec![Some(1), Some(2), Some(3), None]);
        fanout.deliver(generation, event(6));
        assert_eq!(seen(&mut slow), vec![Some(6)]);
        assert_eq!(seen(&mut fast), vec![Some(5), Some(6)]);
    }

    #[test]
    fn a_loss_after_the_marker_was_read_gets_a_new_marker() {
        let fanout = Fanout::new(1);
        let mut sub = fanout.subscribe();
        let generation = fanout.generation();
        fanout.deliver(generation, event(1));
        fanout.deliver(generation, event(2)); // dropped, marker queued
        assert_eq!(seen(&mut sub), vec![Some(1), None]);
        fanout.deliver(generation, event(3));
        fanout.deliver(generation, event(4)); // dropped again: a new marker
        assert_eq!(seen(&mut sub), vec![Some(3), None]);
    }

    #[test]
    fn a_new_connection_marks_a_gap_and_ignores_the_old_one() {
        let fanout = Fanout::new(8);
        let mut sub = fanout.subscribe();
        let old = fanout.generation();
        fanout.deliver(old, event(1));
        let new = fanout.next_generation();
        fanout.deliver(old, event(2)); // stale connection
        assert_eq!(
            seen(&mut sub),
            vec![Some(1), Some(-1)],
            "the event, then down"
        );
        fanout.resubscribed(new);
        fanout.resubscribed(new); // once only
        fanout.deliver(new, event(3));
        assert_eq!(
            seen(&mut sub),
            vec![None, Some(3)],
            "lagged, then the event"
        );
    }

    #[test]
    fn a_full_queue_gets_a_marker_instead_of_down() {
        let fanout = Fanout::new(1);
        let mut sub = fanout.subscribe();
        fanout.deliver(fanout.generation(), event(1));
        let new = fanout.next_generation();
        fanout.resubscribed(new);
        assert_eq!(
            seen(&mut sub),
            vec![Some(1), None],
            "one marker covers both"
        );
    }

    #[test]
    fn an_event_from_the_new_connection_before_resubscribed_comes_after_the_marker() {
        let fanout = Fanout::new(8);
        let mut sub = fanout.subscribe();
        let new = fanout.next_generation();
        fanout.deliver(new, event(1));
        fanout.resubscribed(new);
        assert_eq!(seen(&mut sub), vec![Some(-1), None, Some(1)]);
    }

    #[tokio::test]
    async fn dropped_subscriptions_are_forgotten_and_close_ends_the_rest() {
        let fanout = Fanout::new(4);
        let gone = fanout.subscribe();
        let mut kept = fanout.subscribe();
        drop(gone);
        fanout.deliver(
            fanout.generation(),
            Event::SessionRevoked {
                user_id: UserId::new(),
                session_id: SessionId::new(),
            },
        );
        assert_eq!(fanout.subscriptions(), 1);
        fanout.close();
        assert!(matches!(kept.recv().await, Some(BusItem::Event(_))));
        assert!(kept.recv().await.is_none());
    }
}
