//! Waking the notifier's tasks when there is work, instead of only polling: a commit is
//! published on the event bus right after it, so the planner listens there (a new message, a
//! change, a read cursor moving) and the drain is woken by the planner's writes. A wake-up that
//! comes while a task is busy is kept (`Notify` stores one permit), and each task still looks
//! every [`super::IDLE_POLL`]: for deliveries due after a backoff, for work the bus did not
//! announce (another process's, scaled out), and through a bus outage.

use natter_domain::events::Event;
use natter_domain::ports::{BusItem, EventBus};
use tokio::sync::Notify;

#[derive(Default)]
pub struct Wake {
    plan: Notify,
    send: Notify,
}

impl Wake {
    /// There may be queue entries to plan.
    pub fn plan(&self) {
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

    /// Wakes the planner at every event that may have queued something, until the bus ends.
    pub async fn listen(&self, bus: &dyn EventBus) {
        let mut events = bus.subscribe();
        while let Some(item) = events.next().await {
            let queued = match item {
                BusItem::Event(event) => matches!(
                    *event,
                    Event::MessageCreated(_) | Event::MessageUpdated(_) | Event::Receipt { .. }
                ),
                // Whatever was missed: look.
                _ => true,
            };
            if queued {
                self.plan();
            }
        }
    }
}
