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
//! - **One round trip to take it**: `BEGIN` and `pg_advisory_xact_lock` go to the server as one
//!   message ([`OneTripTx`]), so a send waits for one answer here, not two. A write that checks
//!   the actor's membership first (a send, an edit, a reaction) has it read in that same message
//!   ([`ConversationLocks::lock_reading_member`]): the `SELECT` is a statement of its own after
//!   the lock's, so in READ COMMITTED it takes its snapshot once the lock is granted and sees every
//!   membership change committed under the lock before.
//! - **Release on drop**: the guard owns the transaction; dropping it spawns the rollback on the
//!   Tokio runtime at once, which ends the transaction and so the lock. If the process dies, the
//!   server ends the session and releases the lock with it; a holder that stalls is ended by
//!   `idle_in_transaction_session_timeout`.
//! - **Bounded waits**: `lock_timeout` on these connections turns a lock that cannot be had in
//!   [`LOCK_WAIT_MAX`] into `Unavailable` instead of a hung request.

use std::time::Duration;

use async_trait::async_trait;
use natter_domain::ports::{ConversationLocks, MemberUnderLock, OrderGuard, StoreResult};
use natter_domain::{ConversationId, UserId};
use sqlx::postgres::PgPool;
use sqlx::{FromRow, Row};

use crate::connect_pool;
use crate::errors::db;
use crate::one_trip::{self, OneTripTx};
use crate::rows::{MemberRow, member_columns};

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
        // If this future is dropped while waiting, the transaction drops with it and is rolled
        // back once the wait ends (one_trip.rs).
        let (tx, _) = OneTripTx::begin(&self.pool, &lock_statement(conversation))
            .await
            .map_err(db)?;
        Ok(Box::new(PgLockGuard { _tx: tx }))
    }

    async fn lock_reading_member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> StoreResult<(OrderGuard, MemberUnderLock)> {
        let sql = format!(
            concat!(
                "{lock}; SELECT ",
                member_columns!(),
                " FROM members m WHERE m.conversation_id = {conversation} \
                 AND m.user_id = {user} AND m.left_at_ms IS NULL"
            ),
            lock = lock_statement(conversation),
            conversation = one_trip::uuid(conversation.0),
            user = one_trip::uuid(user.0),
        );
        let (tx, rows) = OneTripTx::begin(&self.pool, &sql).await.map_err(db)?;
        let guard: OrderGuard = Box::new(PgLockGuard { _tx: tx });
        // The lock's own row has one column; the member's, all of them.
        let member = rows
            .iter()
            .find(|row| row.len() > 1)
            .map(|row| MemberRow::from_row(row).map_err(db)?.into_member())
            .transpose()?;
        Ok((
            guard,
            member.map_or(MemberUnderLock::NotAMember, MemberUnderLock::Member),
        ))
    }
}

/// The statement that waits for `conversation`'s lock (held until its transaction ends).
fn lock_statement(conversation: ConversationId) -> String {
    format!(
        "SELECT pg_advisory_xact_lock({})",
        one_trip::int(lock_key(conversation))
    )
}

/// Holds one conversation's advisory lock until dropped (the transaction rolls back on drop).
struct PgLockGuard {
    _tx: OneTripTx,
}
