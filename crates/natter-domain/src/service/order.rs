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
//! Such a store may also publish the send's event itself, on its thread, right after the commit
//! ([`Order::at_commit`]): then the event does not wait for the sender's task to be run again
//! (under load, for a worker that is busy with other connections). It does so only if every turn
//! taken before is over, which it can tell without waiting; otherwise it leaves the publish to
//! the task, in turn, as before. Either way the events reach the bus in the order of the turns.
//!
//! Turns are chained per stripe (a fixed array indexed by a hash of the conversation id, like the
//! embedded locks): memory is bounded whatever the number of conversations, and two
//! conversations sharing a stripe merely publish in the order they took their turns. A turn
//! whose write failed releases the next one when it is dropped.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

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
    #[cfg(test)]
    async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error means the sender was dropped: that is the signal.
            let _ = previous.await;
        }
    }

    /// Whether every turn taken before this one is over, without waiting.
    fn has_come(&mut self) -> bool {
        let Some(previous) = &mut self.previous else {
            return true;
        };
        match previous.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => false,
            // Closed: the sender was dropped, the signal. It never sends.
            Ok(()) | Err(oneshot::error::TryRecvError::Closed) => {
                self.previous = None;
                true
            }
        }
    }
}

/// A write's turn, shared with the hook its store runs right after the commit
/// ([`MessageStore::queue_append`](crate::ports::MessageStore::queue_append)). `None` once the
/// hook published: the turn is over.
type SharedTurn = Arc<Mutex<Option<Turn>>>;

fn lock(turn: &SharedTurn) -> std::sync::MutexGuard<'_, Option<Turn>> {
    turn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A send's publish at its commit, on the store's thread ([`Order::at_commit`]).
pub(super) struct CommitTurn(SharedTurn);

impl CommitTurn {
    /// Run `publish` now if every turn taken before this write's is over; if it reports
    /// success, the write's turn ends (the next write may publish). Otherwise the turn is left
    /// to the write's task ([`Order::turn`]), as if this had never run.
    pub(super) fn publish_if_first(&self, publish: impl FnOnce() -> bool) {
        let mut turn = lock(&self.0);
        if turn.as_mut().is_some_and(Turn::has_come) && publish() {
            *turn = None;
        }
    }
}

/// A conversation's lock and publish turn, held by one write.
pub(super) struct Order {
    lock: Option<OrderGuard>,
    turn: SharedTurn,
}

impl Order {
    pub(super) fn new(lock: OrderGuard, turn: Turn) -> Self {
        Self {
            lock: Some(lock),
            turn: Arc::new(Mutex::new(Some(turn))),
        }
    }

    /// This write's turn for a hook its store runs right after the commit: the write's event
    /// may be published there ([`CommitTurn::publish_if_first`]).
    pub(super) fn at_commit(&self) -> CommitTurn {
        CommitTurn(Arc::clone(&self.turn))
    }

    /// Let the next write of the conversation in, keeping this write's publish turn. Only once
    /// this write is queued in a store that commits in queue order.
    pub(super) fn release_lock(&mut self) {
        self.lock = None;
    }

    /// Wait for this write's turn to publish. `false`: the turn is over, its event was
    /// published at the commit ([`Order::at_commit`]), and nothing more may be published.
    pub(super) async fn turn(&mut self) -> bool {
        let previous = match lock(&self.turn).as_mut() {
            None => return false,
            Some(turn) => turn.previous.take(),
        };
        if let Some(previous) = previous {
            // An error means the sender was dropped: that is the signal.
            let _ = previous.await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
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

    fn order(turns: &PublishTurns, conversation: ConversationId) -> Order {
        Order::new(Box::new(()), turns.take(conversation))
    }

    #[tokio::test]
    async fn a_commit_hook_publishes_only_once_every_earlier_turn_is_over() {
        let turns = PublishTurns::default();
        let conversation = ConversationId::new();
        let earlier = turns.take(conversation);
        let mut send = order(&turns, conversation);
        let mut later = turns.take(conversation);
        let hook = send.at_commit();

        let mut published = 0;
        hook.publish_if_first(|| {
            published += 1;
            true
        });
        assert_eq!(published, 0, "an earlier write's event is not out yet");

        drop(earlier);
        hook.publish_if_first(|| {
            published += 1;
            true
        });
        assert_eq!(published, 1);
        tokio::time::timeout(Duration::from_secs(10), later.wait())
            .await
            .expect("the hook's publish ended the send's turn while the send is still running");
        assert!(
            !send.turn().await,
            "the send's own task must not publish its event again"
        );
    }

    #[tokio::test]
    async fn a_commit_hook_that_could_not_publish_leaves_the_turn_to_the_task() {
        let turns = PublishTurns::default();
        let conversation = ConversationId::new();
        let mut send = order(&turns, conversation);
        let mut later = turns.take(conversation);
        send.at_commit().publish_if_first(|| false);

        assert!(send.turn().await, "the task publishes");
        let waiting = tokio::time::timeout(Duration::from_millis(50), later.wait()).await;
        assert!(
            waiting.is_err(),
            "the next turn waits for the task's publish"
        );
        drop(send);
        tokio::time::timeout(Duration::from_secs(10), later.wait())
            .await
            .expect("over once the send is");
    }

    fn stripe_of(conversation: ConversationId) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut hasher);
        (hasher.finish() as usize) % STRIPES
    }
}
