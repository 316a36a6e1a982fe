//! natter's embedded storage: one SQLite file, reached through sqlx, implementing the storage
//! ports of `natter-domain` ([`AccountStore`], [`ConversationStore`], [`MessageStore`], and the
//! file metadata of [`FileStore`](natter_domain::files::FileStore)).
//!
//! Why it is shaped this way:
//! - **One writer.** SQLite allows one writer at a time anyway; funnelling every write through a
//!   pool of exactly one connection turns lock contention (`SQLITE_BUSY`) into a fair queue, and
//!   every write transaction starts with `BEGIN IMMEDIATE` so it takes the write lock up front
//!   instead of failing half-way when a read lock must be upgraded. Reads use a separate pool and
//!   see WAL snapshots, so they never wait for the writer.
//! - **Durable before returning.** WAL journal with `synchronous=FULL`: a commit fsyncs the log,
//!   so a message whose `append` returned survives SIGKILL and power loss.
//! - **Counters inside the transaction.** `seq` and `mod_seq` come from
//!   `UPDATE conversations ... RETURNING` in the same transaction as the insert, so they are
//!   gap-free and never reused, and a global change counter (`meta.change_seq`) stamps every row
//!   a client's sync must see.
//! - **Group commit.** Appends, the hot write, queue for a task that commits all waiting appends
//!   in one transaction (one fsync for the batch); see `group_commit`.
//! - Runtime-checked queries (`sqlx::query` + `bind`) rather than the compile-time macros, so the
//!   crate builds without a database or an offline query cache.
//!
//! [`AccountStore`]: natter_domain::ports::AccountStore
//! [`ConversationStore`]: natter_domain::ports::ConversationStore
//! [`MessageStore`]: natter_domain::ports::MessageStore

mod accounts;
mod conversations;
mod errors;
mod file_collection;
mod file_meta;
mod files;
mod group_commit;
mod messages;
#[macro_use]
mod push_devices;
mod push_queue;
mod rows;
mod summaries;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::errors::{db, migrate_error};
use crate::group_commit::Appender;

/// How long a connection waits on a lock held by another process (or a second `open` of the same
/// file) before the statement fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// How long a caller waits for a pooled connection before giving up with `Unavailable`.
const ACQUIRE_TIMEOUT_MS: u64 = 30_000;
/// Concurrent readers. Reads are short index lookups; a few connections keep 2 cores busy.
const READ_CONNECTIONS_MAX: u32 = 4;

/// A handle to one SQLite database file. Cheap to clone: clones share the same pools.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Exactly one connection: every write transaction queues here, in arrival order.
    writer: SqlitePool,
    /// Readers never take the write lock; in WAL mode they read a consistent snapshot.
    reader: SqlitePool,
    /// Appends are batched into shared transactions by a task (group commit).
    appends: Appender,
}

impl SqliteStore {
    /// Open (creating the file and its parent directory if missing) and migrate the database.
    /// Must be called inside a Tokio runtime: it starts the store's append task there.
    ///
    /// Opening the same path twice works: the two handles serialise their writes through
    /// SQLite's own file lock (waiting up to the busy timeout).
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // Blocking, but done once at start-up before any request is served.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            files::create_private_dir(parent).map_err(|e| {
                StoreError::Unavailable(format!("create {}: {e}", parent.display()))
            })?;
        }
        files::make_private(path)
            .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", path.display())))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_millis(ACQUIRE_TIMEOUT_MS))
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(migrate_error)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_millis(ACQUIRE_TIMEOUT_MS))
            .connect_with(options)
            .await
            .map_err(db)?;
        let appends = Appender::spawn(writer.clone());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                reader,
                appends,
            }),
        })
    }

    /// Close both pools, waiting for running queries. Clones become unusable.
    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    async fn write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db)
    }

    /// A read transaction: every query in it sees the same snapshot.
    async fn read(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.inner.reader.begin().await.map_err(db)
    }

    /// A read connection without a transaction, for single-statement reads: each statement is a
    /// round trip to sqlx's SQLite worker thread, so BEGIN and ROLLBACK would triple the cost of
    /// the hottest lookups (membership checks on every command).
    async fn read_one(&self) -> StoreResult<sqlx::pool::PoolConnection<Sqlite>> {
        self.inner.reader.acquire().await.map_err(db)
    }
}

/// Bump the global change counter and return its new value. Call inside a write transaction.
async fn next_change(conn: &mut SqliteConnection) -> StoreResult<i64> {
    sqlx::query_scalar(
        "UPDATE meta SET change_seq = change_seq + 1 WHERE id = 1 RETURNING change_seq",
    )
    .fetch_one(conn)
    .await
    .map_err(db)
}

/// Commit, mapping the error.
async fn commit(tx: Transaction<'static, Sqlite>) -> StoreResult<()> {
    tx.commit().await.map_err(db)
}
