//! In-process event bus over a `tokio::sync::broadcast` channel. Publish order is delivery order
//! for every subscriber. A subscriber that falls more than `capacity` events behind gets
//! [`BusItem::Lagged`] and must resync its clients (the port's at-most-once contract).

use std::sync::Arc;

use async_trait::async_trait;
use natter_domain::BusError;
use natter_domain::events::Event;
use natter_domain::ports::{BusItem, BusSubscription, EventBus};
use tokio::sync::broadcast;

pub struct MemoryBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl MemoryBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(16));
        Self { sender }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: Event) -> Result<(), BusError> {
        self.publish_now(event)
    }

    fn publishes_now(&self) -> bool {
        true
    }

    fn publish_now(&self, event: Event) -> Result<(), BusError> {
        // An error only means nobody subscribes yet (no gateway running): nothing to deliver.
        let _ = self.sender.send(Arc::new(event));
        Ok(())
    }

    fn subscribe(&self) -> Box<dyn BusSubscription> {
        Box::new(MemorySubscription {
            receiver: self.sender.subscribe(),
        })
    }
}

struct MemorySubscription {
    receiver: broadcast::Receiver<Arc<Event>>,
}

#[async_trait]
impl BusSubscription for MemorySubscription {
    async fn next(&mut self) -> Option<BusItem> {
        match self.receiver.recv().await {
            Ok(event) => Some(BusItem::Event(event)),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(BusItem::Lagged),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    fn try_next(&mut self) -> Option<BusItem> {
        match self.receiver.try_recv() {
            Ok(event) => Some(BusItem::Event(event)),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(BusItem::Lagged),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::{SessionId, UserId};

    fn event() -> Event {
        Event::SessionRevoked {
            user_id: UserId::new(),
            session_id: SessionId::new(),
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_reports_lag() {
        let bus = MemoryBus::new(16);
        let mut subscription = bus.subscribe();
        let sent: Vec<Event> = (0..3).map(|_| event()).collect();
        for e in &sent {
            bus.publish(e.clone()).await.unwrap();
        }
        for e in &sent {
            match subscription.next().await {
                Some(BusItem::Event(got)) => assert_eq!(&*got, e),
                other => panic!("unexpected {other:?}"),
            }
        }
        for _ in 0..40 {
            bus.publish(event()).await.unwrap();
        }
        assert!(matches!(subscription.next().await, Some(BusItem::Lagged)));
    }
}
