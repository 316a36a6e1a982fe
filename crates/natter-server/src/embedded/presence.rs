//! In-process presence: a count of open connections per user. A std Mutex, not a tokio one,
//! because nothing awaits while holding it.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use natter_domain::UserId;
use natter_domain::ports::{PresenceStore, StoreResult};

#[derive(Default)]
pub struct MemoryPresence {
    connections: Mutex<HashMap<UserId, u32>>,
}

#[async_trait]
impl PresenceStore for MemoryPresence {
    async fn connected(&self, user: UserId) -> StoreResult<bool> {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let count = connections.entry(user).or_insert(0);
        *count += 1;
        Ok(*count == 1)
    }

    async fn disconnected(&self, user: UserId) -> StoreResult<bool> {
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        match connections.get_mut(&user) {
            Some(count) if *count > 1 => {
                *count -= 1;
                Ok(false)
            }
            Some(_) => {
                connections.remove(&user);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn online(&self, users: &[UserId]) -> StoreResult<Vec<UserId>> {
        let connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        Ok(users
            .iter()
            .copied()
            .filter(|u| connections.contains_key(u))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn online_until_the_last_connection_closes() {
        let presence = MemoryPresence::default();
        let user = UserId::new();
        assert!(presence.connected(user).await.unwrap());
        assert!(!presence.connected(user).await.unwrap());
        assert!(!presence.disconnected(user).await.unwrap());
        assert_eq!(presence.online(&[user]).await.unwrap(), vec![user]);
        assert!(presence.disconnected(user).await.unwrap());
        assert!(presence.online(&[user]).await.unwrap().is_empty());
    }
}
