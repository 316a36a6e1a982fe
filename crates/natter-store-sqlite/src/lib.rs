//! natter's embedded storage: one SQLite file, implementing the storage ports of `natter-domain`
//! ([`AccountStore`], [`ConversationStore`], [`MessageStore`], the push pipeline and the file
//! metadata of [`FileStore`](natter_domain::files::FileStore)).
//!
//! Why it is shaped this way:
//! - **Whole operations as closures.** SQLite is a synchronous library; async callers hand each
//!   whole operation to a connection as a closure (rusqlite, cached prepared statements): a write
//!   goes to the writer's thread, one hop there and one back whatever its number of statements; a
//!   read runs on the caller's own thread on a pooled read connection, no hop at all, because it
//!   is shorter than a hop's wake-ups ([`readers`]). (The store used sqlx before: its
//!   per-statement hand-off to a worker thread cost 65% of the server's CPU in context switches.)
//! - **One writer, group commit for every write.** SQLite allows one writer at a time anyway. The
//!   writer thread ([`writer`]) takes every write waiting into one `BEGIN IMMEDIATE` transaction,
//!   each in its own savepoint, and commits once: one fsync for the batch, whatever mix of
//!   appends, cursors, logins and push claims it holds. Reads ([`readers`]) see WAL snapshots,
//!   so they never wait for the writer.
//! - **Durable before returning.** WAL journal with `synchronous=FULL`: a commit fsyncs the log,
//!   so a write that returned survives SIGKILL and power loss. Nobody is answered before the
//!   commit of their batch. Checkpoints run on a thread of their own ([`checkpoints`]), not
//!   inside a commit.
//! - **Counters in the writer, rows as the truth.** `seq` and `mod_seq` are allocated by the writer
//!   thread from an in-memory copy of each conversation's counters ([`counters`]), written to the
//!   conversation row in the same savepoint as the message: gap-free, never reused (a rolled-back
//!   write puts its numbers back, a failed batch or another connection's commit makes the copy be
//!   read again), in the order writes were queued. A global change counter (`meta.change_seq`)
//!   stamps every row a client's sync must see.
//! - **Appends stay together.** Messages live in a rowid table keyed by their id, which grows on
//!   a node, so a batch of appends to many conversations fills the table's last pages; per
//!   append, one `(conversation, seq)` index entry and one idempotency entry are the only pages
//!   found by conversation. Changes are found without a `mod_seq` index over every message: an
//!   unchanged message's `mod_seq` grows with its seq, and changed ones have a partial index
//!   (migration 0010, [`messages`]).
//!   Its last value seen committed by this handle is also kept in memory, so a client that has
//!   nothing yet gets a sync cursor without a read ([`SqliteStore::committed_change`]).
//!
//! [`AccountStore`]: natter_domain::ports::AccountStore
//! [`ConversationStore`]: natter_domain::ports::ConversationStore
//! [`MessageStore`]: natter_domain::ports::MessageStore

mod accounts;
mod checkpoints;
mod connections;
mod conversations;
mod counters;
mod errors;
mod file_collection;
mod file_meta;
mod files;
mod messages;
mod migrate;
mod page_cache;
mod query;
mod readers;
mod rosters;
mod search;
mod search_index;
mod wal_buffer;
mod writer;
#[macro_use]
mod push_devices;
mod push_queue;
mod rows;
mod summaries;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;

use crate::checkpoints::{CheckpointRequest, Checkpoints};
use crate::readers::Readers;
use crate::rosters::Rosters;
use crate::writer::{AfterCommit, Undo, Writer};

/// Read connections. A read runs on its caller's thread, so at most one per runtime worker
/// thread runs at a time; a few more serve callers from other runtimes (tests, tools).
const READERS: usize = 4;

/// A handle to one SQLite database file. Cheap to clone: clones share the same threads.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The writer thread: every write, batched into shared transactions.
    writes: Writer,
    /// The read connections.
    reads: Readers,
    /// The connection searches run on, apart: a search can read far more than a page of
    /// history, and must never hold up the reads of history, resume and sync.
    searches: Readers,
    /// Copies the WAL into the database file, off the commit path.
    _checkpoints: Checkpoints,
    /// The highest `meta.change_seq` a write of this handle committed (or read at open): a
    /// value of the counter that is committed, so a valid sync cursor for a new client.
    committed_change: AtomicI64,
    /// The current members of small conversations, for presence ([`rosters`]).
    rosters: Arc<Rosters>,
}

/// Whether this process's SQLite runs with the store's page cache ([`page_cache`]): it does when
/// the store opened the process's first SQLite connection.
pub fn sqlite_uses_the_stores_page_cache() -> bool {
    page_cache::installed()
}

impl SqliteStore {
    /// Open (creating the file and its parent directory if missing) and migrate the database.
    /// Starts the store's threads; they end with [`close`](Self::close) or when the last handle
    /// drops.
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
        let committed_change = writer_conn
            .query_row("SELECT change_seq FROM meta WHERE id = 1", [], |row| {
                row.get::<_, i64>(0)
            })
            .map_err(errors::sql)?;
        let reader_conns = (0..READERS)
            .map(|_| connections::open_reader(path))
            .collect::<StoreResult<Vec<_>>>()?;
        let spawned = |e: std::io::Error| StoreError::Unavailable(format!("start a thread: {e}"));
        let checkpoint = CheckpointRequest::default();
        let rosters = Arc::new(Rosters::default());
        let (writes, _) =
            Writer::spawn(writer_conn, checkpoint.clone(), rosters.clone()).map_err(spawned)?;
        let reads = Readers::new(reader_conns);
        let searches = Readers::new(vec![connections::open_reader(path)?]);
        let checkpoints =
            Checkpoints::spawn(connections::open_reader(path)?, checkpoint).map_err(spawned)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writes,
                reads,
                searches,
                _checkpoints: checkpoints,
                committed_change: AtomicI64::new(committed_change),
                rosters,
            }),
        })
    }

    /// Close the connections once the work already queued is done. Clones become unusable.
    pub async fn close(&self) {
        self.inner.writes.close().await;
        self.inner.reads.close().await;
        self.inner.searches.close().await;
    }

    fn rosters(&self) -> &Arc<Rosters> {
        &self.inner.rosters
    }

    /// Run `work` on the writer thread, in the next batch's transaction; returns once that batch
    /// is durable. If `work` fails, what it wrote is rolled back and the rest of the batch stays.
    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write_counted(move |conn, _| work(conn)).await
    }

    /// [`write`](Self::write) for a write that allocates or reads conversations' counters.
    async fn write_counted<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Connection, &mut counters::Counters) -> StoreResult<T>
            + Send
            + 'static,
        T: Send + 'static,
    {
        self.queue_counted(Undo::Savepoint, work, None).await?.await
    }

    /// [`write_counted`](Self::write_counted), returning once `work` is queued (writes commit
    /// in queue order); the future resolves as `write_counted` would, and `undo` says how
    /// `work` is undone if it fails. Every write goes through here, which notes the change
    /// counter's value once the write that advanced it ([`counters::Counters::next_change`])
    /// has committed: before `after` runs (the writer's hook, see
    /// [`writer::Writer::queue_counted`]), so that whatever the hook makes known is covered.
    async fn queue_counted<T, F>(
        &self,
        undo: Undo,
        work: F,
        after: Option<AfterCommit<T>>,
    ) -> StoreResult<impl Future<Output = StoreResult<T>> + Send + 'static>
    where
        F: FnOnce(&rusqlite::Connection, &mut counters::Counters) -> StoreResult<T>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let after = after.map(|after| {
            let inner = self.inner.clone();
            Box::new(move |(value, change): &(T, Option<i64>)| {
                if let Some(change) = change {
                    inner.committed_change.fetch_max(*change, Ordering::Relaxed);
                }
                after(value);
            }) as AfterCommit<(T, Option<i64>)>
        });
        let committed = self
            .inner
            .writes
            .queue_counted(
                undo,
                move |conn, counters| {
                    let value = work(conn, counters)?;
                    Ok((value, counters.change_of_this_write()))
                },
                after,
            )
            .await?;
        let inner = self.inner.clone();
        Ok(async move {
            let (value, change) = committed.await?;
            if let Some(change) = change {
                inner.committed_change.fetch_max(change, Ordering::Relaxed);
            }
            Ok(value)
        })
    }

    /// A committed value of the global change counter (see `Inner::committed_change`).
    pub(crate) fn committed_change(&self) -> i64 {
        self.inner.committed_change.load(Ordering::Relaxed)
    }

    /// Run `work` on a read connection, inside one read transaction (one snapshot), on this
    /// task's thread.
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.reads.read(work).await
    }

    /// A search's read: on the search connection, on a blocking thread, so it never holds a
    /// runtime worker. The read finishes (and gives its connection back) even if the caller
    /// stops waiting.
    async fn search_read<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(store.inner.searches.read(work)))
            .await
            .map_err(|err| StoreError::Internal(format!("a search failed: {err}")))?
    }
}
