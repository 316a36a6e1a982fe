//! A MessageSequencer in memory, for cases that need no PostgreSQL: one mutex per conversation
//! as the ticket, counters committed on `commit_*`, stamps from one process-wide counter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use natter_domain::ports::{MessageSequencer, SequenceHead, SequenceTicket, StoreResult};
use natter_domain::{ConversationId, StoreError};
use tokio::sync::OwnedMutexGuard;

/// A conversation's committed `(last_seq, last_mod)`; holding the lock is holding the ticket.
type Slot = Arc<tokio::sync::Mutex<(i64, i64)>>;

#[derive(Default)]
pub struct MemSequencer {
    conversations: Mutex<HashMap<ConversationId, Slot>>,
    stamps: AtomicI64,
}

impl MemSequencer {
    pub fn create(&self, conversation: ConversationId) {
        self.conversations
            .lock()
            .unwrap()
            .insert(conversation, Arc::default());
    }

    fn slot(&self, conversation: ConversationId) -> StoreResult<Slot> {
        self.conversations
            .lock()
            .unwrap()
            .get(&conversation)
            .cloned()
            .ok_or(StoreError::NotFound)
    }
}

struct MemTicket {
    guard: OwnedMutexGuard<(i64, i64)>,
    head: SequenceHead,
}

#[async_trait]
impl MessageSequencer for MemSequencer {
    async fn begin(&self, conversation: ConversationId) -> StoreResult<Box<dyn SequenceTicket>> {
        let guard = self.slot(conversation)?.lock_owned().await;
        let (last_seq, last_mod) = *guard;
        let write_stamp = self.stamps.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Box::new(MemTicket {
            guard,
            head: SequenceHead {
                last_seq,
                last_mod,
                write_stamp,
            },
        }))
    }

    async fn head(&self, conversation: ConversationId) -> StoreResult<SequenceHead> {
        let (last_seq, last_mod) = *self.slot(conversation)?.lock().await;
        Ok(SequenceHead {
            last_seq,
            last_mod,
            write_stamp: 0,
        })
    }
}

#[async_trait]
impl SequenceTicket for MemTicket {
    fn head(&self) -> SequenceHead {
        self.head
    }

    async fn commit_append(mut self: Box<Self>, _created_at_ms: i64) -> StoreResult<()> {
        *self.guard = (self.head.last_seq + 1, self.head.last_mod + 1);
        Ok(())
    }

    async fn commit_change(mut self: Box<Self>) -> StoreResult<()> {
        *self.guard = (self.head.last_seq, self.head.last_mod + 1);
        Ok(())
    }
}
