//! Opening a connection the way every connection of the store is configured.
//!
//! - **WAL, `synchronous=FULL`**: a commit syncs the log, so a write that returned survives
//!   SIGKILL and power loss; readers see the last commit and never block the writer. The
//!   writer's log buffer ([`crate::wal_buffer`]) writes out at that sync, so `FULL` must stay.
//!   SQLite is built to sync with `fdatasync` (`.cargo/config.toml`): as durable as `fsync`,
//!   without a write of the file's timestamps at every commit.
//! - **No automatic checkpoints on the writer**: SQLite would otherwise copy the log into the
//!   database (and fsync it) inside whichever commit crosses the threshold, stalling that batch;
//!   [`crate::checkpoints`] does it on its own thread instead.
//! - **Busy timeout**: a second process (or a second `open` of the same file) serialises its
//!   writes with ours through SQLite's file lock instead of failing at once.
//! - **Plans that do not depend on bound values** (the query planner stability guarantee):
//!   otherwise SQLite reads the value bound to `LIMIT ?` while planning, and rebinding that
//!   parameter, even to the same value, expires the cached statement, so every run of a paged
//!   read (history, resume) parsed and planned its SQL again (22% of the server's CPU in a
//!   reconnect storm). No statement of the store has a plan that benefits from its values.
//! - **Our page cache** ([`crate::page_cache`]): SQLite's own, without the walk of the whole
//!   cache that a commit after a B-tree split made.

use std::ffi::CStr;
use std::path::Path;
use std::time::Duration;

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::errors::sql;
use crate::{page_cache, wal_buffer};

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
/// 10,000 clients connected at once (their sessions read by four read connections).
const READER_CACHE_KIB: i64 = 2 * 1024;

/// What the process's SQLite is given before it starts (once): no memory statistics
/// ([`memory_statistics_off`]), our page cache ([`page_cache`]), then the log buffer's VFS
/// ([`wal_buffer`], whose registration starts SQLite); returns the VFS's name.
fn configure_sqlite() -> StoreResult<&'static CStr> {
    memory_statistics_off();
    page_cache::install();
    wal_buffer::register().map_err(|code| {
        StoreError::Internal(format!("registering the WAL buffer VFS failed: {code}"))
    })
}

/// SQLite counts every allocation it makes for `sqlite3_memory_used` and the soft heap limit,
/// neither of which natter uses, under one process-wide mutex: a lock and an unlock per
/// `malloc` and per `free`, from every connection's thread. Refused, harmlessly, once SQLite has
/// started (the counting then stays on).
fn memory_statistics_off() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        // SAFETY: a configuration call taking one int; SQLite refuses it (SQLITE_MISUSE) once
        // it has started, changing nothing.
        let rc =
            unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0) };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!("SQLite had started before the store: it keeps counting its memory");
        }
    });
}

fn open(path: &Path, flags: OpenFlags, vfs: Option<&CStr>) -> StoreResult<Connection> {
    let conn = match vfs {
        Some(vfs) => Connection::open_with_flags_and_vfs(path, flags, vfs),
        None => Connection::open_with_flags(path, flags),
    }
    .map_err(sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(sql)?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .map_err(sql)?;
    Ok(conn)
}

/// The writer's connection: creates the file if missing and switches it to WAL. Its log is
/// written through [`wal_buffer`], a commit's frames in a few large writes.
pub(crate) fn open_writer(path: &Path) -> StoreResult<Connection> {
    let vfs = configure_sqlite()?;
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        Some(vfs),
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
    configure_sqlite()?;
    let conn = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        None,
    )?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
        .map_err(sql)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use rusqlite::{StatementStatus, params};

    use super::*;

    /// A cached statement with `LIMIT ?` runs again without being parsed and planned again.
    #[test]
    fn paged_statements_are_not_prepared_again_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let writer = open_writer(&path).unwrap();
        writer
            .execute_batch(
                "CREATE TABLE t (c INTEGER, s INTEGER, PRIMARY KEY (c, s)); \
                 INSERT INTO t VALUES (1, 1), (1, 2), (1, 3), (2, 1);",
            )
            .unwrap();
        let reader = open_reader(&path).unwrap();
        let text = "SELECT s FROM t WHERE c = ? AND s > ? ORDER BY s LIMIT ?";
        for (c, after, limit) in [(1, 0, 2), (1, 1, 2), (2, 0, 50), (1, 0, 50)] {
            let mut statement = reader.prepare_cached(text).unwrap();
            let rows: Vec<i64> = statement
                .query_map(params![c, after, limit], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(!rows.is_empty());
            assert_eq!(statement.get_status(StatementStatus::RePrepare), 0);
        }
    }
}
