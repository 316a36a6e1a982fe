//! Waking the notifier's tasks when there is work, instead of only polling: a commit is
//! published on the event bus right after it, so the planner listens there (a new message, a
//! change, a read cursor moving) and the drain is woken by the planner's writes. A wake-up that
//! comes while a task is busy is kept (`Notify` stores one permit), and each task still looks
//! every [`super::IDLE_POLL`]: for deliveries due after a backoff, for work the bus did not
//! announce (another process's, scaled out), and through a bus outage.
//!
//! The listener reads the bus in batches, one every [`LISTEN_SPACING`] at most: reading each
//! event as it was published woke the notifier's thread once per event, 6-7% of the server's
//! samples with durable sends at saturation (`perf record` under `natter-bench latency --rates
//! 20000` and `fanout --sizes 100`), nearly all of it the thread switches.

use std::time::Duration;

use natter_domain::events::Event;
use natter_domain::ports::{BusItem, EventBus};
use tokio::sync::Notify;

/// After a batch of events, how long the listener leaves the bus before it reads what came
/// meanwhile: the planner's own spacing (it looks at most that often while work keeps coming,
/// so waking it sooner would gain nothing); a lone event after a quiet spell still wakes it at
/// once.
const LISTEN_SPACING: Duration = super::fanout::LOOK_SPACING;

#[derive(Default)]
pub struct Wake {
    plan: Notify,
    send: Notify,
    /// The planner's wake-ups so far.
    #[cfg(test)]
    plans: std::sync::atomic::AtomicUsize,
}

impl Wake {
    /// There may be queue entries to plan.
    pub fn plan(&self) {
        #[cfg(test)]
        self.plans
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.plan.notify_one();
    }

    /// There may be deliveries to send.
    pub fn send(&self) {
        self.send.notify_one();
    }

    /// Until there may be entries to plan, at most the idle poll.
    pub async fn until_plan(&self) {
        let _ = tokio::time::timeout(super::IDLE_POLL, self.plan.notified()).await;
    }

    /// Until there may be deliveries to send, at most the idle poll.
    pub async fn until_send(&self) {
        let _ = tokio::time::timeout(super::IDLE_POLL, self.send.notified()).await;
    }

    /// Wakes the planner after every batch of events of which one may have queued something for
    /// it to plan now, until the bus ends. `kafka_first`: new messages are the Kafka planner's.
    pub async fn listen(&self, bus: &dyn EventBus, kafka_first: bool) {
        let mut events = bus.subscribe();
        while let Some(item) = events.next().await {
            let mut wake = wakes_the_planner(&item, kafka_first);
            while let Some(item) = events.try_next() {
                wake |= wakes_the_planner(&item, kafka_first);
            }
            if wake {
                self.plan();
            }
            tokio::time::sleep(LISTEN_SPACING).await;
        }
    }
}

/// Whether `item` may have queued something the queue's planner plans at once: a change or a
/// read cursor, a new message unless Kafka plans new messages first (scaled out the queue takes
/// them only after [`super::KAFKA_GRACE`], which the idle poll covers: waking at every message
/// of every node made three nodes look at the queue ~160 times a second, each look a scan of
/// the young messages it must pass over), and whatever was missed.
fn wakes_the_planner(item: &BusItem, kafka_first: bool) -> bool {
    match item {
        BusItem::Event(event) => match **event {
            Event::MessageCreated(_) => !kafka_first,
            Event::MessageUpdated(_) | Event::Receipt { .. } => true,
            _ => false,
        },
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use natter_domain::model::Message;
    use natter_domain::values::ClientMsgId;
    use natter_domain::{ConversationId, MessageId, UserId};

    use super::*;

    fn created() -> BusItem {
        BusItem::Event(Arc::new(Event::MessageCreated(Message {
            id: MessageId(1),
            conversation_id: ConversationId::new(),
            seq: 1,
            mod_seq: 1,
            sender_id: UserId::new(),
            client_msg_id: ClientMsgId::parse("c-1").expect("id"),
            text: "hi".into(),
            reply_to_seq: None,
            mentions: Vec::new(),
            created_at_ms: 1,
            edited_at_ms: None,
            deleted: false,
            reactions: Vec::new(),
            attachments: Vec::new(),
        })))
    }

    #[tokio::test(start_paused = true)]
    async fn the_planner_is_woken_once_per_batch_of_events_at_once_after_a_quiet_spell() {
        let bus = Arc::new(crate::embedded::MemoryBus::new(1024));
        let wake = Arc::new(Wake::default());
        let listening = {
            let (bus, wake) = (bus.clone(), wake.clone());
            tokio::spawn(async move { wake.listen(bus.as_ref(), false).await })
        };
        tokio::task::yield_now().await;
        let planned = || wake.plans.load(std::sync::atomic::Ordering::Relaxed);
        let publish = |count: usize| {
            let bus = bus.clone();
            async move {
                for _ in 0..count {
                    let BusItem::Event(event) = created() else {
                        unreachable!()
                    };
                    bus.publish((*event).clone()).await.expect("publish");
                }
            }
        };

        // A lone message after a quiet spell: at once.
        publish(1).await;
        tokio::task::yield_now().await;
        assert_eq!(planned(), 1);
        // A hundred while the listener leaves the bus: one wake-up when it reads them.
        publish(100).await;
        tokio::task::yield_now().await;
        assert_eq!(planned(), 1);
        tokio::time::sleep(LISTEN_SPACING).await;
        tokio::task::yield_now().await;
        assert_eq!(planned(), 2);
        // Quiet again: the next one at once.
        tokio::time::sleep(LISTEN_SPACING * 3).await;
        publish(1).await;
        tokio::task::yield_now().await;
        assert_eq!(planned(), 3);
        listening.abort();
    }

    #[test]
    fn a_new_message_wakes_the_planner_unless_kafka_plans_it_first() {
        assert!(wakes_the_planner(&created(), false));
        assert!(!wakes_the_planner(&created(), true));
    }

    #[test]
    fn reads_changes_and_anything_missed_always_wake_it() {
        let receipt = BusItem::Event(Arc::new(Event::Receipt {
            conversation_id: ConversationId::new(),
            user_id: UserId::new(),
            read_seq: 1,
            delivered_seq: 1,
        }));
        for kafka_first in [false, true] {
            assert!(wakes_the_planner(&receipt, kafka_first));
            assert!(wakes_the_planner(&BusItem::Lagged, kafka_first));
            assert!(wakes_the_planner(&BusItem::Down, kafka_first));
        }
    }
}
