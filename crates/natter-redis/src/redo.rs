//! [`Unheard`]: the events this node could not publish, published again once Redis takes them.
//!
//! Why: a publish that fails reaches no other node. The hubs there notice a lost *message* event
//! only when a later one of the same conversation skips its `mod_seq` (they then tell their
//! clients to resync), so the last messages sent while this node was cut off from Redis, and
//! every membership change it made meanwhile, would never reach the other nodes' clients: nothing
//! later reveals the hole. So a failed event is kept here, in publish order, and published again
//! as soon as Redis takes publishes; while any is kept, newer events queue behind it, so every
//! subscriber still receives this node's events in the order they were published. A hub that
//! already has an event (delivered from the durable log, or read by a resync) drops the late
//! copy by its `mod_seq`.
//!
//! Typing indicators are not kept: late, they would say something false. At most
//! [`UNHEARD_MAX`] events are kept; past that the oldest go (the hubs then see a gap and resync).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use natter_domain::BusError;
use natter_domain::events::Event;
use tokio::sync::{Mutex, Notify};

/// Where events are published (the Redis channel; a fake in the tests).
pub(crate) trait Channel {
    fn publish(&self, event: &Event) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// The most events kept while Redis is away.
pub(crate) const UNHEARD_MAX: usize = 65_536;

#[derive(Default)]
pub(crate) struct Unheard {
    events: Mutex<VecDeque<Event>>,
    /// Whether `events` may be non-empty: read without the lock on every publish.
    waiting: AtomicBool,
    /// Told when the first event is kept.
    kept: Notify,
}

impl Unheard {
    pub(crate) fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// Until an event is kept (at once if one is).
    pub(crate) async fn until_waiting(&self) {
        let kept = self.kept.notified();
        if !self.is_waiting() {
            kept.await;
        }
    }

    /// Publish `event` on `channel`, after every event still kept; if that fails, keep it
    /// (behind them) and return the error.
    pub(crate) async fn publish(
        &self,
        event: Event,
        channel: &impl Channel,
    ) -> Result<(), BusError> {
        let ephemeral = matches!(event, Event::Typing { .. });
        if ephemeral || !self.is_waiting() {
            let published = channel.publish(&event).await;
            if published.is_err() && !ephemeral {
                self.keep(&mut *self.events.lock().await, event);
            }
            return published;
        }
        let mut events = self.events.lock().await;
        let mut published = Self::publish_kept(&mut events, channel).await;
        if published.is_ok() {
            published = channel.publish(&event).await;
        }
        if published.is_err() {
            self.keep(&mut events, event);
        }
        self.waiting.store(!events.is_empty(), Ordering::Release);
        published
    }

    /// Publish the kept events, oldest first, until one fails; whether none is left.
    pub(crate) async fn retry(&self, channel: &impl Channel) -> bool {
        let mut events = self.events.lock().await;
        let _ = Self::publish_kept(&mut events, channel).await;
        self.waiting.store(!events.is_empty(), Ordering::Release);
        events.is_empty()
    }

    async fn publish_kept(
        events: &mut VecDeque<Event>,
        channel: &impl Channel,
    ) -> Result<(), BusError> {
        while let Some(event) = events.front() {
            channel.publish(event).await?;
            events.pop_front();
            metrics::counter!("natter_bus_republished_total").increment(1);
        }
        Ok(())
    }

    fn keep(&self, events: &mut VecDeque<Event>, event: Event) {
        if events.len() >= UNHEARD_MAX {
            events.pop_front();
            metrics::counter!("natter_bus_unheard_dropped_total").increment(1);
        }
        events.push_back(event);
        self.waiting.store(true, Ordering::Release);
        self.kept.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::AtomicBool;

    use natter_domain::{ConversationId, UserId};

    use super::*;

    /// A publish that fails while `up` is false and records what it published.
    struct Target {
        up: AtomicBool,
        got: StdMutex<Vec<Event>>,
    }

    impl Target {
        fn new() -> Self {
            Self {
                up: AtomicBool::new(false),
                got: StdMutex::new(Vec::new()),
            }
        }

        fn got(&self) -> Vec<Event> {
            self.got.lock().unwrap().clone()
        }
    }

    impl Channel for Target {
        async fn publish(&self, event: &Event) -> Result<(), BusError> {
            if !self.up.load(Ordering::Relaxed) {
                return Err(BusError::Unavailable("down".into()));
            }
            self.got.lock().unwrap().push(event.clone());
            Ok(())
        }
    }

    fn presence(online: bool) -> Event {
        Event::Presence {
            user_id: UserId::new(),
            online,
            last_seen_ms: None,
            audience: Vec::new(),
        }
    }

    fn typing() -> Event {
        Event::Typing {
            conversation_id: ConversationId::new(),
            user_id: UserId::new(),
            expires_in_ms: 3_000,
        }
    }

    #[tokio::test]
    async fn failed_events_go_out_in_order_before_newer_ones() {
        let (unheard, target) = (Unheard::default(), Target::new());
        let (a, b, c) = (presence(true), presence(false), presence(true));
        assert!(unheard.publish(a.clone(), &target).await.is_err());
        assert!(unheard.publish(b.clone(), &target).await.is_err());
        assert!(unheard.is_waiting());
        target.up.store(true, Ordering::Relaxed);
        unheard.publish(c.clone(), &target).await.unwrap();
        assert_eq!(target.got(), vec![a, b, c]);
        assert!(!unheard.is_waiting());
    }

    #[tokio::test]
    async fn a_retry_publishes_what_was_kept() {
        let (unheard, target) = (Unheard::default(), Target::new());
        let a = presence(true);
        assert!(unheard.publish(a.clone(), &target).await.is_err());
        assert!(!unheard.retry(&target).await, "still down");
        target.up.store(true, Ordering::Relaxed);
        assert!(unheard.retry(&target).await);
        assert_eq!(target.got(), vec![a]);
        assert!(!unheard.is_waiting());
    }

    #[tokio::test]
    async fn typing_is_never_kept_nor_held_back() {
        let (unheard, target) = (Unheard::default(), Target::new());
        assert!(unheard.publish(typing(), &target).await.is_err());
        assert!(!unheard.is_waiting());
        let kept = presence(true);
        assert!(unheard.publish(kept.clone(), &target).await.is_err());
        target.up.store(true, Ordering::Relaxed);
        let late = typing();
        unheard.publish(late.clone(), &target).await.unwrap();
        assert_eq!(target.got(), vec![late], "typing does not wait");
        assert!(unheard.is_waiting(), "the kept event is still waiting");
    }

    #[tokio::test]
    async fn past_the_bound_the_oldest_go() {
        let (unheard, target) = (Unheard::default(), Target::new());
        let first = presence(true);
        assert!(unheard.publish(first.clone(), &target).await.is_err());
        for _ in 0..UNHEARD_MAX {
            assert!(unheard.publish(presence(false), &target).await.is_err());
        }
        target.up.store(true, Ordering::Relaxed);
        assert!(unheard.retry(&target).await);
        let got = target.got();
        assert_eq!(got.len(), UNHEARD_MAX);
        assert!(!got.contains(&first));
    }
}
