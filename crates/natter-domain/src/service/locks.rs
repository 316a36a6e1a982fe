//! The embedded [`ConversationLocks`]: a fixed array of async mutexes indexed by a hash of the
//! conversation id. Bounded memory whatever the number of conversations; two conversations that
//! share a stripe merely serialise with each other. Processes that share stores use a
//! cluster-wide implementation instead (PostgreSQL advisory locks).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::ids::ConversationId;
use crate::ports::{ConversationLocks, OrderGuard, StoreResult};

const STRIPES: usize = 1024;

pub struct StripedLocks {
    stripes: Box<[Arc<Mutex<()>>]>,
}

impl Default for StripedLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        }
    }
}

#[async_trait]
impl ConversationLocks for StripedLocks {
    /// An async mutex (not a std one) because the holder awaits the store and the bus.
    async fn lock(&self, conversation: ConversationId) -> StoreResult<OrderGuard> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut hasher);
        let index = (hasher.finish() as usize) % self.stripes.len();
        Ok(Box::new(self.stripes[index].clone().lock_owned().await))
    }
}
