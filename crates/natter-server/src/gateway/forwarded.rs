//! The bus subscription, forwarded to the hub by a task of its own through a bounded channel,
//! so that the hub can wait for the bus and for a timer at once ([`super::pacing`]): a
//! subscription's `next` need not be safe to cancel (the Kafka failover's is not), a channel's
//! `recv` is. The channel holds what the hub takes in one step ([`CAPACITY`]); beyond it the
//! task waits, and the bus itself holds the rest and reports a lag when it overflows, as when
//! the hub read it directly.

use async_trait::async_trait;
use natter_domain::ports::{BusItem, BusSubscription};
use tokio::sync::mpsc;

/// Items waiting for the hub at most.
const CAPACITY: usize = 2048;

/// Start forwarding `subscription`; the task ends when the bus closes or the hub is gone.
pub(super) fn forward(mut subscription: Box<dyn BusSubscription>) -> Forwarded {
    let (sender, receiver) = mpsc::channel(CAPACITY);
    tokio::spawn(async move {
        while let Some(item) = subscription.next().await {
            if sender.send(item).await.is_err() {
                return;
            }
            while let Some(item) = subscription.try_next() {
                if sender.send(item).await.is_err() {
                    return;
                }
            }
        }
    });
    Forwarded { receiver }
}

pub(super) struct Forwarded {
    receiver: mpsc::Receiver<BusItem>,
}

#[async_trait]
impl BusSubscription for Forwarded {
    /// Safe to cancel: an item is taken only when it is returned.
    async fn next(&mut self) -> Option<BusItem> {
        self.receiver.recv().await
    }

    fn try_next(&mut self) -> Option<BusItem> {
        self.receiver.try_recv().ok()
    }
}
