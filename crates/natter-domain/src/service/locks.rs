//! Striped per-conversation locks: a fixed array of async mutexes indexed by a hash of the
//! conversation id. Bounded memory whatever the number of conversations; two conversations that
//! share a stripe merely serialise with each other.

use std::hash::{Hash, Hasher};

use tokio::sync::{Mutex, MutexGuard};

use crate::ids::ConversationId;

const STRIPES: usize = 1024;

pub struct ConversationLocks {
    stripes: Box<[Mutex<()>]>,
}

impl Default for ConversationLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl ConversationLocks {
    /// An async mutex (not a std one) because the holder awaits the store and the bus.
    pub async fn lock(&self, conversation: ConversationId) -> MutexGuard<'_, ()> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        conversation.hash(&mut hasher);
        let index = (hasher.finish() as usize) % self.stripes.len();
        self.stripes[index].lock().await
    }
}
