//! Transactions whose `BEGIN` travels with their first statement and whose `COMMIT` with their
//! last: one round trip to the server at each end instead of two.
//!
//! Why: the conversation lock ([`crate::PgLocks`]) and the sequencer ticket are taken on every
//! scaled-out send, one after the other, and the ticket is held, under the lock, until the body
//! store's write is done. sqlx's `Transaction` sends `BEGIN` and waits for its answer before the
//! first statement, and `COMMIT` after the last: three round trips of a send (the lock's
//! `BEGIN`, the ticket's `BEGIN` and `COMMIT`; BENCHMARKS.md, natter-cluster), each of them time
//! a busy conversation is locked.
//!
//! How: the simple query protocol runs the statements of one message in order and skips the
//! rest at the first error, so `BEGIN; <first>` either opens the transaction with `<first>`
//! done, or fails; `<last>; COMMIT` commits only if `<last>` succeeded. That protocol takes no
//! parameters: statements are built from [`uuid`] and [`int`] literals only, which cannot carry
//! SQL, and are planned on every call (microseconds for these one-row statements).
//!
//! Safety: the transaction owns its pooled connection until it ends. Dropped before it commits
//! (an error, a caller that gave up mid-statement), it is rolled back by a spawned task before
//! the connection goes back to the pool; the task first reads whatever answer was still in
//! flight. Without a runtime, or if the rollback fails, the connection is closed instead, which
//! ends the session and with it the transaction and its locks. sqlx's own bookkeeping never sees
//! these transactions, so it never sends a second `BEGIN`/`ROLLBACK` of its own.

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{AssertSqlSafe, Postgres};
use uuid::Uuid;

/// An open transaction on a pooled connection; rolled back when dropped uncommitted.
pub(crate) struct OneTripTx {
    /// `None` once committed (or handed to the rollback).
    conn: Option<PoolConnection<Postgres>>,
}

impl OneTripTx {
    /// Take a connection from `pool` and run `BEGIN; <first>` as one message: the open
    /// transaction and the rows `first` returned.
    pub(crate) async fn begin(
        pool: &PgPool,
        first: &str,
    ) -> Result<(Self, Vec<PgRow>), sqlx::Error> {
        let conn = pool.acquire().await?;
        // Owned by the transaction before anything is sent: if this future is dropped while the
        // statement runs, the drop rolls back what `BEGIN` may already have opened.
        let mut tx = OneTripTx { conn: Some(conn) };
        let sql = format!("BEGIN; {first}");
        let conn = tx.conn.as_mut().expect("just set");
        let rows = sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_all(&mut **conn)
            .await?;
        Ok((tx, rows))
    }

    /// Run `<last>; COMMIT` as one message; the rows `last` returned or changed. If `last`
    /// fails, nothing is committed and the transaction is rolled back.
    pub(crate) async fn commit_after(mut self, last: &str) -> Result<u64, sqlx::Error> {
        let mut conn = self.conn.take().expect("a transaction commits once");
        let sql = format!("{last}; COMMIT");
        match sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(err) => {
                // `last` failed (the transaction is aborted) or COMMIT did (it has ended): a
                // rollback ends the first and is a harmless no-op after the second.
                roll_back(conn);
                Err(err)
            }
        }
    }
}

impl Drop for OneTripTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            roll_back(conn);
        }
    }
}

/// End whatever transaction `conn` has open, then let it go back to the pool; close it if that
/// cannot be done.
fn roll_back(mut conn: PoolConnection<Postgres>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                // Waits for the answer of a statement still in flight first (sqlx reads up to
                // the server's ready message before sending another query).
                if let Err(error) = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await {
                    tracing::warn!(%error, "rollback of an abandoned transaction failed");
                    conn.close_on_drop();
                }
            });
        }
        Err(_) => conn.close_on_drop(),
    }
}

/// A uuid as an SQL literal.
pub(crate) fn uuid(value: Uuid) -> String {
    format!("'{value}'::uuid")
}

/// An integer as an SQL literal (quoted, so `i64::MIN` parses as one).
pub(crate) fn int(value: i64) -> String {
    format!("'{value}'::bigint")
}
