//! A conversation's write order: its lock, and its turn to publish.
//!
//! Every write that publishes an event of a conversation (a send, an edit, a membership change)
//! takes the conversation's [`Order`]: the [`ConversationLocks`](crate::ports::ConversationLocks)
//! lock, so "check, store" runs one at a time, and a publish *turn*, so the events reach the bus
//! in the order the writes were stored (the hub reads a skipped `mod_seq` as a lost event).
//!
//! While the lock is held through the publish, the turn changes nothing. It matters for a send
//! whose store commits writes in the order they were queued (the embedded store's one writer,
//! [`MessageStore::queue_append`](crate::ports::MessageStore::queue_append)): the send releases
//! the lock once its append is queued, before the commit and its fsync, so the next send to the
//! same conversation is queued behind it and both share a commit. Its event still waits for the
//! publish of every turn taken before it, and every later write's event waits for it.
//!
//! Turns are chained per stripe (a fixed array indexed by a hash of the conversation id, like the
//! embedded locks): memory is bounded whatever the number of conversations, and two
//! conversations sharing a stripe merely publish in the order they took their turns. A turn
//! whose write failed releases the next one when it is dropped.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::ids::ConversationId;
use crate::ports::OrderGuard;

const STRIPES: usize = 1024;

/// The last turn taken per stripe: the next turn waits for it.
pub(super) struct PublishTurns {
    stripes: Box<[Mutex<Option<oneshot::Receiver<()>>>]>,
}

impl Default for PublishTurns {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(None)).collect(),
        }
    }
}

impl PublishTurns {
    /// The turn after every turn taken before in this conversation's stripe. Taken under the
    /// conversation's lock, so turns follow the order of the writes.
    pub(super) fn take(&self, conversation: ConversationId) -> Turn {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut hasher);
        let stripe = &self.stripes[(hasher.finish() as usize) % self.stripes.len()];
        let (done, next) = oneshot::channel();
        let previous = stripe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(next);
        Turn {
            previous,
            _done: done,
        }
    }
}

/// One write's place in its stripe's publish order. Dropping it lets the next turn publish.
pub(super) struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    /// Dropped with the turn: the next turn's `previous` resolves.
    _done: oneshot::Sender<()>,
}

impl Turn {
    /// Wait until every turn taken before this one is over (published, or failed).
    async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error means the sender was dropped: that is the signal.
            let _ = previous.await;
        }
    }
}

/// A conversation's lock and publish turn, held by one write.
pub(super) struct Order {
    lock: Option<OrderGuard>,
    turn: Turn,
}

impl Order {
    pub(super) fn new(lock: OrderGuard, turn: Turn) -> Self {
        Self {
            lock: Some(lock),
            turn,
        }
    }

    /// Let the next write of the conversation in, keeping this write's publish turn. Only once
    /// this write is queued in a store that commits in queue order.
    pub(super) fn release_lock(&mut self) {
        self.lock = None;
    }

    /// Wait for this write's turn to publish.
    pub(super) async fn turn(&mut self) {
        self.turn.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn turns_publish_in_the_order_they_were_taken_whatever_order_they_finish() {
        let turns = PublishTurns::default();
        let conversation = ConversationId::new();
        let published = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut gates = Vec::new();
        for n in 0..5 {
            let mut turn = turns.take(conversation);
            let (gate, finished) = oneshot::channel::<()>();
            gates.push(gate);
            let published = published.clone();
            tasks.push(tokio::spawn(async move {
                let _ = finished.await;
                turn.wait().await;
                published.lock().unwrap().push(n);
            }));
        }
        // The writes finish in reverse order; the third one fails (its turn is dropped).
        for (n, gate) in gates.into_iter().enumerate().rev() {
            if n == 2 {
                tasks[2].abort();
            } else {
                gate.send(()).unwrap();
            }
        }
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("every turn ends");
        }
        assert_eq!(*published.lock().unwrap(), vec![0, 1, 3, 4]);
    }

    #[tokio::test]
    async fn a_turn_of_another_stripe_does_not_wait() {
        let turns = PublishTurns::default();
        let first = ConversationId::new();
        let _held = turns.take(first);
        let other = (0..10_000)
            .map(|_| ConversationId::new())
            .find(|c| stripe_of(*c) != stripe_of(first))
            .expect("another stripe");
        let mut turn = turns.take(other);
        tokio::time::timeout(Duration::from_secs(10), turn.wait())
            .await
            .expect("not blocked by the other stripe's turn");
    }

    fn stripe_of(conversation: ConversationId) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }
}
