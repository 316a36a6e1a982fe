//! The reader threads: a few connections, each owned by a thread, serving read closures from
//! one shared queue. In WAL mode a reader sees the last committed state and never waits for the
//! writer. Each closure runs inside one read transaction, so all its statements see the same
//! snapshot; a read costs one hop to a thread and one back, whatever its number of statements.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::query::exec;
use crate::writer::contain_panic;

/// Reads waiting for a thread; callers beyond this wait to enqueue.
const QUEUE_MAX: usize = 4_096;

type Read = Box<dyn FnOnce(&Connection) + Send>;

enum Msg {
    Read(Read),
    /// One reader closes its connection, answers and ends.
    Close(oneshot::Sender<()>),
}

/// The handle to the reader threads.
#[derive(Debug)]
pub(crate) struct Readers {
    queue: mpsc::Sender<Msg>,
    threads: usize,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the storage readers have stopped".into())
}

impl Readers {
    /// One thread per connection.
    pub(crate) fn spawn(
        connections: Vec<Connection>,
    ) -> std::io::Result<(Readers, Vec<JoinHandle<()>>)> {
        let (queue, messages) = mpsc::channel(QUEUE_MAX);
        let messages = Arc::new(Mutex::new(messages));
        let threads = connections.len();
        let handles = connections
            .into_iter()
            .enumerate()
            .map(|(n, conn)| {
                let messages = messages.clone();
                std::thread::Builder::new()
                    .name(format!("natter-sqlite-reader-{n}"))
                    .spawn(move || serve(conn, &messages))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok((Readers { queue, threads }, handles))
    }

    /// Run `work` on a reader connection inside one read transaction.
    pub(crate) async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let read: Read = Box::new(move |conn: &Connection| {
            let _ = reply.send(contain_panic(|| snapshot(conn, work)));
        });
        self.queue
            .send(Msg::Read(read))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Close every reader once the reads queued before are done.
    pub(crate) async fn close(&self) {
        for _ in 0..self.threads {
            let (done, closed) = oneshot::channel();
            if self.queue.send(Msg::Close(done)).await.is_err() {
                return;
            }
            let _ = closed.await;
        }
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

fn serve(conn: Connection, messages: &Mutex<mpsc::Receiver<Msg>>) {
    loop {
        // Idle readers queue on the mutex; the one holding it waits for the next message.
        let next = match messages.lock() {
            Ok(mut queue) => queue.blocking_recv(),
            Err(_) => None,
        };
        match next {
            Some(Msg::Read(read)) => read(&conn),
            Some(Msg::Close(done)) => {
                drop(conn);
                let _ = done.send(());
                return;
            }
            None => return,
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
