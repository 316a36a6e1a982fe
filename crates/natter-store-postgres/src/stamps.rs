//! The global change counter behind sync cursors ([`ConversationStore::changed_since`]).
//!
//! Every write that a member's sync must see stamps the rows it touches with a fresh value of
//! the `natter_change_seq` sequence: `conversations.changed_at` for what all members see,
//! `members.changed_at` for what only that member sees. Writers take the value with the SQL
//! function `natter_change_stamp()`, inside their transaction, as late as they can (the stamp's
//! fence is held until commit).
//!
//! The catch with a sequence: values are handed out in call order, but transactions commit in
//! any order. If a reader took the sequence's current value as its cursor while a transaction
//! holding a smaller stamp was still open, that change would commit *below* the cursor the
//! client now holds and never be synced. So each stamp is taken behind a per-backend fence (an
//! advisory lock held until its transaction ends), and [`horizon`] reads the sequence and then
//! waits for every fenced transaction to end. Every stamp at or below the horizon is then
//! committed (or rolled back), so a snapshot taken afterwards sees all of them; stamps above it
//! that the snapshot happens to see are synced again next time, which is harmless. The wait is
//! at most the commit of the transactions in flight (stamps are taken just before commit), and
//! the reader holds no fence while waiting, so writers never wait for readers. SQL in
//! `migrations/0001_init.sql`.
//!
//! [`ConversationStore::changed_since`]: natter_domain::ports::ConversationStore::changed_since

use natter_domain::ports::StoreResult;
use sqlx::PgPool;

use crate::errors::db;

/// A sync cursor: every change stamped at or below it is committed (or rolled back) by the
/// time this returns. Run outside the transaction that reads the changes, and before it.
pub(crate) async fn horizon(pool: &PgPool) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT natter_sync_horizon()")
        .fetch_one(pool)
        .await
        .map_err(db)
}
