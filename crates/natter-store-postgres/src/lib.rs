//! natter's PostgreSQL storage: every storage port of `natter-domain` on one PostgreSQL
//! database, for deployments where several natter processes share their state.
//!
//! - [`PgStore`]: [`AccountStore`], [`ConversationStore`], [`MessageStore`] (message bodies in
//!   PostgreSQL, so PostgreSQL alone is a complete backend), [`MessageSequencer`] (for a message
//!   store that keeps bodies elsewhere, Cassandra, while conversations stay here) and
//!   [`FileStore`] (file and upload metadata), [`PushDevices`] and [`PushQueue`] (the push
//!   pipeline every notifier process shares).
//! - [`MessageSearch`] on PostgreSQL full-text search, over an index that the indexer writes
//!   from the message log ([`PgStore::index`], [`PgStore::index_batch`], `search`), and fills
//!   in for messages the log no longer holds ([`PgStore::backfill_search_step`],
//!   `search_backfill`).
//! - [`PgLocks`]: [`ConversationLocks`] as advisory locks, on a pool of its own.
//!
//! Why it is shaped this way:
//! - **The conversation row is the per-conversation sequence.** Appends and changes take it
//!   `FOR UPDATE` and allocate `seq` / `mod_seq` from it in the same transaction, so they are
//!   gap-free whichever process writes; the sequencer hands out exactly that lock as a ticket.
//!   Lock order everywhere: the conversation row first, then its member or message rows.
//! - **Sync stamps from a sequence, read behind a fence.** The global change counter is a
//!   PostgreSQL sequence; `stamps` explains how readers avoid stepping over a stamp whose
//!   transaction has not committed yet.
//! - **Summaries through the message port.** The message-derived parts of conversation
//!   summaries (last message, unread and mention counts) come from the message store in use:
//!   one SQL query when the bodies are here, the [`MessageStore`] port when
//!   [`PgStore::with_messages`] names another store (`summaries`).
//! - **Durable before returning**: every write commits before its method returns (PostgreSQL's
//!   default `synchronous_commit = on`).
//! - Runtime-checked queries (`sqlx::query` + `bind`) rather than the compile-time macros, so the
//!   crate builds without a database or an offline query cache. Schema in `migrations/`, applied
//!   by [`PgStore::migrate`].
//!
//! [`AccountStore`]: natter_domain::ports::AccountStore
//! [`ConversationStore`]: natter_domain::ports::ConversationStore
//! [`MessageStore`]: natter_domain::ports::MessageStore
//! [`MessageSequencer`]: natter_domain::ports::MessageSequencer
//! [`PushDevices`]: natter_domain::push::PushDevices
//! [`PushQueue`]: natter_domain::notify::PushQueue
//! [`FileStore`]: natter_domain::files::FileStore
//! [`MessageSearch`]: natter_domain::ports::MessageSearch
//! [`ConversationLocks`]: natter_domain::ports::ConversationLocks

mod accounts;
mod conversations;
mod errors;
mod file_collection;
mod files;
mod locks;
mod messages;
mod one_trip;
mod push_devices;
mod push_queue;
mod rows;
mod search;
mod search_backfill;
mod sequencer;
mod stamps;
mod summaries;

pub use locks::{LOCK_POOL_SIZE, LOCK_WAIT_MAX, PgLocks, lock_key};
pub use search::SearchEntry;
pub use search_backfill::{BackfillProgress, BackfillStep};
pub use summaries::UNREAD_SCAN_MAX;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use natter_domain::StoreError;
use natter_domain::ports::{MessageStore, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Transaction};

use crate::errors::{db, migrate_error};

/// How long a caller waits for a pooled connection (or for the server to accept a new one)
/// before giving up with `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// A transaction left open this long is ended by the server: a process that stalls while
/// holding a conversation's row lock (a sequencer ticket, an advisory lock) cannot block that
/// conversation forever. Far above any legitimate hold time.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";
/// A pooled connection idle at least this long is pinged before it is handed out (one that
/// fails is replaced). Busier ones are not: sqlx pings every connection as it comes back to the
/// pool anyway, and a ping on every acquire was a round trip in front of each of a send's
/// statements, the lock's and the sequencer's included (BENCHMARKS.md, natter-cluster).
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// A handle to one PostgreSQL database. Cheap to clone: clones share the same pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Where message bodies live when not in this database (see [`PgStore::with_messages`]).
    external_messages: Option<Arc<dyn MessageStore>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.inner.pool)
            .field("external_messages", &self.inner.external_messages.is_some())
            .finish()
    }
}

/// Parse a `postgres://` URL and add the session settings every natter connection uses.
fn connect_options(url: &str) -> StoreResult<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
    Ok(options.application_name("natter").options([(
        "idle_in_transaction_session_timeout",
        IDLE_IN_TRANSACTION_TIMEOUT,
    )]))
}

/// A pool of up to `size` connections to `url`, with `settings` on each session.
///
/// One connection is opened directly first: an unreachable server or a refused login fails
/// here at once, with the driver's own reason ("connection refused", "database does not
/// exist"), rather than as a bare pool timeout after [`ACQUIRE_TIMEOUT`].
pub(crate) async fn connect_pool(
    url: &str,
    size: u32,
    settings: &[(&str, &str)],
) -> StoreResult<PgPool> {
    let options = connect_options(url)?.options(settings.iter().copied());
    let unreachable = |e: sqlx::Error| {
        let database = options.get_database().unwrap_or("postgres");
        let (host, port) = (options.get_host(), options.get_port());
        StoreError::Unavailable(format!("PostgreSQL {host}:{port}/{database}: {e}"))
    };
    let probe = PgConnection::connect_with(&options)
        .await
        .map_err(unreachable)?;
    // Closing is a courtesy; the pool below is what matters.
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(size.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options.clone())
        .await
        .map_err(unreachable)
}

impl PgStore {
    /// Connect a pool of up to `pool_size` connections (an unreachable server is reported here,
    /// at once, as `Unavailable` with the reason). Does not touch the schema: see
    /// [`PgStore::migrate`].
    pub async fn connect(url: &str, pool_size: u32) -> StoreResult<PgStore> {
        let pool = connect_pool(url, pool_size, &[]).await?;
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                external_messages: None,
            }),
        })
    }

    /// Apply the pending migrations of `migrations/`, then index the display names of users
    /// whose words are not indexed yet (what SQL cannot do: the folding is Rust's; nothing to
    /// do after the first run, unless a node of an older version created users since). Safe to
    /// run from several processes at once (sqlx serialises the migrations with an advisory
    /// lock) and on every start.
    pub async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations")
            .run(&self.inner.pool)
            .await
            .map_err(migrate_error)?;
        let indexed = accounts::index_unindexed_users(self).await?;
        if indexed > 0 {
            tracing::info!(users = indexed, "indexed existing users' display names");
        }
        Ok(())
    }

    /// The same database, with message bodies kept by `messages` (a split deployment: bodies
    /// in Cassandra, sequenced by this store's [`MessageSequencer`] impl). Conversation
    /// summaries then read last messages and unread counts through that port instead of this
    /// database's `messages` table; unread and mention counts then stop at
    /// [`UNREAD_SCAN_MAX`] scanned messages per conversation. Other clones of `self` keep their
    /// own setting.
    ///
    /// [`MessageSequencer`]: natter_domain::ports::MessageSequencer
    pub fn with_messages(self, messages: Arc<dyn MessageStore>) -> PgStore {
        PgStore {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                external_messages: Some(messages),
            }),
        }
    }

    /// Close the pool, waiting for running queries. Clones become unusable.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.inner.pool.begin().await.map_err(db)
    }

    /// A read-only transaction whose statements all see one snapshot.
    async fn read(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.inner
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db)
    }
}

/// Commit, mapping the error.
async fn commit(tx: Transaction<'static, Postgres>) -> StoreResult<()> {
    tx.commit().await.map_err(db)
}
