//! The read connections: a small pool, each read running on the calling task's own thread
//! inside one read transaction, so all its statements see the same snapshot. In WAL mode a
//! reader sees the last committed state and never waits for the writer.
//!
//! Why on the caller's thread: a read here is an index range over pages in memory, tens to a few
//! hundred microseconds, less than what handing it to a thread of its own cost: that thread's
//! wake-up, the caller's wake-up with the answer, and a third one as idle reader threads passed
//! a shared queue between them (two thirds of a history page's server time was task switches).
//! On 2 cores a reader thread took the caller's CPU anyway. The writer keeps its own thread: a
//! commit waits milliseconds for its fsync.

use std::sync::Mutex;

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::query::exec;
use crate::writer::contain_panic;

/// The handle to the read connections.
#[derive(Debug)]
pub(crate) struct Readers {
    /// The connections not in use.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection in `idle`; closed once the readers are.
    free: Semaphore,
    count: usize,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the storage readers have stopped".into())
}

impl Readers {
    pub(crate) fn new(connections: Vec<Connection>) -> Readers {
        let count = connections.len();
        Readers {
            idle: Mutex::new(connections),
            free: Semaphore::new(count),
            count,
        }
    }

    /// Run `work` on a read connection inside one read transaction (waiting for a connection
    /// while all are in use).
    pub(crate) async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let _permit = self.free.acquire().await.map_err(|_| stopped())?;
        let conn = self.take().ok_or_else(stopped)?;
        let result = contain_panic(|| snapshot(&conn, work));
        self.put_back(conn);
        result
    }

    /// Close every connection once the reads running are done; later reads fail.
    pub(crate) async fn close(&self) {
        let all = u32::try_from(self.count).unwrap_or(u32::MAX);
        if let Ok(permits) = self.free.acquire_many(all).await {
            permits.forget();
            self.free.close();
            drop(std::mem::take(&mut *self.lock()));
        }
    }

    fn take(&self) -> Option<Connection> {
        self.lock().pop()
    }

    fn put_back(&self, conn: Connection) {
        self.lock().push(conn);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // Nothing runs while the lock is held but a push or a pop: it cannot be poisoned
        // half-way through one.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn snapshot<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    // `BEGIN` and `ROLLBACK` as cached statements: rusqlite's transactions parse them at every
    // read. A read transaction has nothing to keep, so it always rolls back, also when `work`
    // fails or panics (the guard's drop).
    exec(conn, "BEGIN", [])?;
    let _end = RollBack(conn);
    work(conn)
}

/// Ends the read transaction of [`snapshot`] when dropped.
struct RollBack<'a>(&'a Connection);

impl Drop for RollBack<'_> {
    fn drop(&mut self) {
        if let Err(err) = exec(self.0, "ROLLBACK", []) {
            tracing::warn!(%err, "a read transaction did not end");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{open_reader, open_writer};

    /// A read that fails or panics still ends its transaction: the connection serves the next.
    #[test]
    fn every_read_ends_its_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let _writer = open_writer(&path).unwrap();
        let conn = open_reader(&path).unwrap();
        let inside = snapshot(&conn, |conn| Ok(conn.is_autocommit())).unwrap();
        assert!(!inside, "the work runs inside a transaction");
        assert!(conn.is_autocommit());
        let failed: StoreResult<()> = snapshot(&conn, |_| Err(stopped()));
        assert!(failed.is_err());
        assert!(conn.is_autocommit());
        let panicked: StoreResult<()> = contain_panic(|| snapshot(&conn, |_| panic!("a bug")));
        assert!(panicked.is_err());
        assert!(conn.is_autocommit());
        assert!(snapshot(&conn, |_| Ok(())).is_ok());
    }
}
