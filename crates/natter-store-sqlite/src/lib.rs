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
mod checkpoints;
mod connections;
mod conversations;
mod errors;
mod file_collection;
mod file_meta;
mod files;
mod messages;
mod migrate;
mod query;
mod readers;
mod writer;
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

use crate::checkpoints::Checkpoints;
use crate::errors::db;
use crate::readers::Readers;
use crate::writer::Writer;

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
    /// The writer thread: every write, batched into shared transactions.
    writes: Writer,
    /// The reader threads.
    reads: Readers,
    /// Copies the WAL into the database file, off the commit path.
    _checkpoints: Checkpoints,
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
        let mut writer_conn = connections::open_writer(path)?;
        migrate::run(&mut writer_conn)?;
        let reader_conns = (0..READ_CONNECTIONS_MAX)
            .map(|_| connections::open_reader(path))
            .collect::<StoreResult<Vec<_>>>()?;
        let spawned = |e: std::io::Error| StoreError::Unavailable(format!("start a thread: {e}"));
        let (writes, _) = Writer::spawn(writer_conn).map_err(spawned)?;
        let (reads, _) = Readers::spawn(reader_conns).map_err(spawned)?;
        let checkpoints = Checkpoints::spawn(connections::open_reader(path)?).map_err(spawned)?;
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
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_millis(ACQUIRE_TIMEOUT_MS))
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                reader,
                writes,
                reads,
                _checkpoints: checkpoints,
            }),
        })
    }

    /// Close the connections once the work already queued is done. Clones become unusable.
    pub async fn close(&self) {
        self.inner.writes.close().await;
        self.inner.reads.close().await;
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }

    /// Run `work` on the writer thread, in the next batch's transaction; returns once that batch
    /// is durable. If `work` fails, what it wrote is rolled back and the rest of the batch stays.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.writes.write(work).await
    }

    /// Run `work` on a reader thread, inside one read transaction (one snapshot).
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.reads.read(work).await
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    async fn sqlx_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.inner
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db)
    }

    /// A read transaction: every query in it sees the same snapshot.
    async fn sqlx_read(&self) -> StoreResult<Transaction<'static, Sqlite>> {
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
fn next_change(conn: &rusqlite::Connection) -> StoreResult<i64> {
    conn.prepare_cached(
        "UPDATE meta SET change_seq = change_seq + 1 WHERE id = 1 RETURNING change_seq",
    )
    .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
    .map_err(errors::sql)
}

/// [`next_change`] on a sqlx connection, for the modules not yet on the storage threads.
async fn next_change_sqlx(conn: &mut SqliteConnection) -> StoreResult<i64> {
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
