//! [`ConversationLocks`] across every process that shares the database: a PostgreSQL
//! transaction-level advisory lock per conversation.
//!
//! - **Its own pool.** A held lock occupies a connection (the transaction that holds it) for as
//!   long as the service runs "check, store, publish". On the store's pool, enough holders
//!   waiting for their store calls could take every connection and deadlock the node; a
//!   separate small pool keeps lock holders from ever starving the store.
//! - **Key**: a stable 64-bit hash (FNV-1a) of the conversation's uuid, the same in every process
//!   and every build. Two conversations that collide merely serialise with each other. The
//!   one-bigint form of the advisory lock never collides with the store's two-key sync fences.
//! - **Release on drop**: the guard owns the transaction; dropping it spawns the rollback on the
//!   Tokio runtime at once (see [`roll_back_soon`]), which ends the transaction and so the lock.
//!   If the process dies, the server ends the session and releases the lock with it; a holder
//!   that stalls is ended by `idle_in_transaction_session_timeout`.
//! - **Bounded waits**: `lock_timeout` on these connections turns a lock that cannot be had in
//!   [`LOCK_WAIT_MAX`] into `Unavailable` instead of a hung request.

use std::time::Duration;

use async_trait::async_trait;
use natter_domain::ConversationId;
use natter_domain::ports::{ConversationLocks, OrderGuard, StoreResult};
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};

use crate::errors::db;
use crate::{connect_pool, roll_back_soon};

/// Connections of the lock pool by default: the most locks one node holds at once.
pub const LOCK_POOL_SIZE: u32 = 16;
/// The longest wait for one conversation's lock.
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(30);

/// Cluster-wide conversation locks. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct PgLocks {
    pool: PgPool,
}

/// The advisory lock key of a conversation: FNV-1a over the uuid's 16 bytes.
pub fn lock_key(conversation: ConversationId) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = conversation
        .0
        .as_bytes()
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME));
    hash as i64
}

impl PgLocks {
    /// Connect a lock pool of [`LOCK_POOL_SIZE`] connections.
    pub async fn connect(url: &str) -> StoreResult<PgLocks> {
        Self::connect_with_size(url, LOCK_POOL_SIZE).await
    }

    /// Connect a lock pool of `size` connections: at most that many locks are held (or waited
    /// for) at once by this process; more callers wait for a connection.
    pub async fn connect_with_size(url: &str, size: u32) -> StoreResult<PgLocks> {
        let lock_timeout = format!("{}ms", LOCK_WAIT_MAX.as_millis());
        let pool = connect_pool(url, size, &[("lock_timeout", &lock_timeout)]).await?;
        Ok(PgLocks { pool })
    }

    /// Close the pool (waiting for held locks to be released).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl ConversationLocks for PgLocks {
    async fn lock(&self, conversation: ConversationId) -> StoreResult<OrderGuard> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // If this future is dropped while waiting, the transaction drops with it and sqlx rolls
        // it back when the connection returns to the pool (after the wait ends).
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(conversation))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(Box::new(PgLockGuard { tx: Some(tx) }))
    }
}

/// Holds one conversation's advisory lock until dropped.
struct PgLockGuard {
    tx: Option<Transaction<'static, Postgres>>,
}

impl Drop for PgLockGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            roll_back_soon(tx);
        }
    }
}
