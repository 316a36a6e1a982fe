//! A sequencer wrapper that can make the next commit fail: the store has written its cells,
//! then the ticket is rolled back and the caller gets `Unavailable`, exactly as when a process
//! dies (or loses PostgreSQL) between the Cassandra writes and the commit. What it leaves behind
//! is an orphan.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use natter_domain::ports::{MessageSequencer, SequenceHead, SequenceTicket, StoreResult};
use natter_domain::{ConversationId, StoreError};

pub struct Faults {
    inner: Arc<dyn MessageSequencer>,
    fail_next_commit: Arc<AtomicBool>,
}

impl Faults {
    pub fn new(inner: Arc<dyn MessageSequencer>) -> Self {
        Self {
            inner,
            fail_next_commit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The next ticket to commit rolls back instead and reports `Unavailable`.
    pub fn fail_next_commit(&self) {
        self.fail_next_commit.store(true, Ordering::SeqCst);
    }
}

struct Ticket {
    inner: Box<dyn SequenceTicket>,
    fail: Arc<AtomicBool>,
}

impl Ticket {
    fn injected(&self) -> bool {
        self.fail.swap(false, Ordering::SeqCst)
    }
}

fn died() -> StoreError {
    StoreError::Unavailable("injected: died before the commit".into())
}

#[async_trait]
impl MessageSequencer for Faults {
    async fn begin(&self, conversation: ConversationId) -> StoreResult<Box<dyn SequenceTicket>> {
        Ok(Box::new(Ticket {
            inner: self.inner.begin(conversation).await?,
            fail: self.fail_next_commit.clone(),
        }))
    }

    async fn head(&self, conversation: ConversationId) -> StoreResult<SequenceHead> {
        self.inner.head(conversation).await
    }
}

#[async_trait]
impl SequenceTicket for Ticket {
    fn head(&self) -> SequenceHead {
        self.inner.head()
    }

    async fn commit_append(self: Box<Self>, created_at_ms: i64) -> StoreResult<()> {
        if self.injected() {
            return Err(died()); // dropping the inner ticket rolls it back
        }
        self.inner.commit_append(created_at_ms).await
    }

    async fn commit_change(self: Box<Self>, seq: i64) -> StoreResult<()> {
        if self.injected() {
            return Err(died());
        }
        self.inner.commit_change(seq).await
    }
}
