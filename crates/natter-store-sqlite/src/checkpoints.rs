//! Checkpoints off the commit path: a thread of its own copies the WAL into the database file
//! every [`INTERVAL`] (`PRAGMA wal_checkpoint(PASSIVE)`: it never waits for readers or the
//! writer). Once everything is copied, the writer's next commit starts the log from its
//! beginning again, so the log stays small while commits only ever append and fsync it.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the log is copied into the database.
const INTERVAL: Duration = Duration::from_millis(500);

/// The checkpoint thread; it ends when this handle drops.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    _stop: mpsc::Sender<()>,
}

impl Checkpoints {
    pub(crate) fn spawn(conn: Connection) -> std::io::Result<Checkpoints> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("natter-sqlite-checkpoints".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(err) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(%err, "WAL checkpoint failed; retrying later");
                    }
                }
            })?;
        Ok(Checkpoints { _stop: stop })
    }
}
