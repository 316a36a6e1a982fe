//! Opening a connection the way every connection of the store is configured.
//!
//! - **WAL, `synchronous=FULL`**: a commit fsyncs the log, so a write that returned survives
//!   SIGKILL and power loss; readers see the last commit and never block the writer.
//! - **No automatic checkpoints on the writer**: SQLite would otherwise copy the log into the
//!   database (and fsync it) inside whichever commit crosses the threshold, stalling that batch;
//!   [`crate::checkpoints`] does it on its own thread instead.
//! - **Busy timeout**: a second process (or a second `open` of the same file) serialises its
//!   writes with ours through SQLite's file lock instead of failing at once.

use std::path::Path;
use std::time::Duration;

use natter_domain::ports::StoreResult;
use rusqlite::{Connection, OpenFlags};

use crate::errors::sql;

/// How long a connection waits on a lock held by another connection before failing with
/// `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection (every query text of the store fits).
const STATEMENT_CACHE: usize = 256;
/// The log is truncated back to this size after a checkpoint has emptied it.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// The writer's page cache: appends to many conversations touch many index pages, and a page
/// evicted between batches is read back from the file (measured: 12% of the writer's time with
/// SQLite's default 2 MiB).
const WRITER_CACHE_KIB: i64 = 64 * 1024;
/// Each reader's page cache: SQLite's default. Readers serve small lookups, and every reader
/// caches its own copy of what it touched: 16 MiB each cost ~4 KiB of RSS per connection when
/// 10,000 clients connected at once (their sessions read by four readers).
const READER_CACHE_KIB: i64 = 2 * 1024;

fn open(path: &Path, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(path, flags).map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .map_err(sql)?;
    Ok(conn)
}

/// The writer's connection: creates the file if missing and switches it to WAL.
pub(crate) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sql)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(sql)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
        .map_err(sql)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(sql)?;
    Ok(conn)
}

/// A reader's connection (also the checkpointer's: a checkpoint needs no write lock).
pub(crate) fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
        .map_err(sql)?;
    Ok(conn)
}
