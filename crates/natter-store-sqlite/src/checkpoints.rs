//! Checkpoints off the commit path, and a log that starts over under a steady stream of commits.
//!
//! A thread of its own copies the WAL into the database file every [`INTERVAL`]
//! (`PRAGMA wal_checkpoint(PASSIVE)`: it never waits for readers or the writer). SQLite starts
//! the log from its beginning again only when a write transaction begins with every frame of the
//! log already copied. Under a steady stream of commits that never happens on its own: the copy
//! takes longer than the gap between two commits, so by the time it ends the writer has appended
//! more, and the log grew without end (measured: 1 GB in 10 s at 2,000 sends/s, every fsync then
//! also allocating blocks and writing the file's size).
//!
//! So when a copy leaves a long log behind ([`FINISH_AT_FRAMES`]), the thread asks the writer
//! ([`CheckpointRequest`]) to finish the job: between two of its transactions, where no commit
//! can slip in, the writer copies the few frames committed since ([`finish_on_writer`]), and its
//! next transaction starts the log over. The bulk of the copying stays on this thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;

/// How often the log is copied into the database.
const INTERVAL: Duration = Duration::from_millis(500);
/// A log at least this long after a copy (1 MiB of 4 KiB pages) is not starting over by itself:
/// the writer is asked to finish the copy. At light loads the log starts over after every copy
/// and stays far below it, so the writer is never interrupted.
const FINISH_AT_FRAMES: i64 = 256;

/// The checkpoint thread; it ends when this handle drops.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    _stop: mpsc::Sender<()>,
}

impl Checkpoints {
    pub(crate) fn spawn(
        conn: Connection,
        request: CheckpointRequest,
    ) -> std::io::Result<Checkpoints> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("natter-sqlite-checkpoints".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(err) = copy_log(&conn, &request) {
                        tracing::warn!(%err, "WAL checkpoint failed; retrying later");
                    }
                }
            })?;
        Ok(Checkpoints { _stop: stop })
    }
}

/// The checkpoint thread's request that the writer finish a copy, shared by both threads.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckpointRequest(Arc<AtomicBool>);

impl CheckpointRequest {
    fn ask(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether a finish was asked for since the last call.
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// One copy of the log into the database; asks the writer to finish it if the log is long.
fn copy_log(conn: &Connection, request: &CheckpointRequest) -> rusqlite::Result<()> {
    let frames_in_log = passive_checkpoint(conn)?;
    if frames_in_log >= FINISH_AT_FRAMES {
        request.ask();
    }
    Ok(())
}

/// On the writer's connection, between two transactions: copy what is left of the log, so that
/// the writer's next transaction starts it over. Cheap after a copy by the checkpoint thread
/// (only the frames committed since); a failure leaves the log as it was.
pub(crate) fn finish_on_writer(conn: &Connection) {
    if let Err(err) = passive_checkpoint(conn) {
        tracing::warn!(%err, "finishing a WAL checkpoint failed; retrying later");
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`; returns the frames in the log (copied or not).
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections;
    use crate::writer::{Undo, Writer};

    /// Queue a write of `rows` notes of 3,000 characters (a page or so each) and wait for it.
    async fn write_notes(writer: &Writer, first: usize, rows: usize) {
        let done = writer
            .queue_counted(Undo::Savepoint, move |conn, _| {
                for n in first..first + rows {
                    conn.execute(
                        "INSERT INTO notes (text) VALUES (?)",
                        [format!("{n:03000}")],
                    )
                    .map_err(crate::errors::sql)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        done.await.unwrap();
    }

    /// A copy that cannot catch up with the writer (here a reader holds it back, as commits
    /// made during the copy do under load) leaves a long log; the writer finishes the copy at
    /// its next batch and the log starts over.
    #[tokio::test]
    async fn a_log_the_copy_cannot_catch_up_with_starts_over_once_the_writer_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let writer_conn = connections::open_writer(&path).unwrap();
        writer_conn
            .execute_batch("CREATE TABLE notes (text TEXT NOT NULL)")
            .unwrap();
        let request = CheckpointRequest::default();
        let (writer, _) = Writer::spawn(writer_conn, request.clone(), Default::default()).unwrap();
        let copier = connections::open_reader(&path).unwrap();
        let reader = connections::open_reader(&path).unwrap();

        write_notes(&writer, 0, 10).await;
        reader.execute_batch("BEGIN").unwrap();
        let seen: i64 = reader
            .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(seen, 10);
        write_notes(&writer, 10, 300).await;
        copy_log(&copier, &request).unwrap();
        reader.execute_batch("COMMIT").unwrap();
        assert!(
            request.0.load(Ordering::Acquire),
            "a log of 300 frames and more asks the writer to finish"
        );

        write_notes(&writer, 310, 1).await;
        let frames = passive_checkpoint(&copier).unwrap();
        assert!(
            frames < 10,
            "the log started over with the last write: {frames} frames in it"
        );
        let total: i64 = copier
            .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
            .unwrap();
        assert_eq!(total, 311);
        assert!(!request.take(), "the writer took the request");

        // As after a crash now: the files as they are on disk, the log's older frames still
        // behind the new ones. Recovery must keep every write and only those.
        let crashed = dir.path().join("crashed");
        std::fs::create_dir(&crashed).unwrap();
        for name in ["c.db", "c.db-wal"] {
            std::fs::copy(dir.path().join(name), crashed.join(name)).unwrap();
        }
        let recovered = Connection::open(crashed.join("c.db")).unwrap();
        let (rows, last): (i64, String) = recovered
            .query_row("SELECT count(*), max(text) FROM notes", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        assert_eq!((rows, last), (311, format!("{:03000}", 310)));
        let check: String = recovered
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn a_short_log_does_not_disturb_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let writer_conn = connections::open_writer(&path).unwrap();
        writer_conn
            .execute_batch(
                "CREATE TABLE notes (text TEXT NOT NULL); INSERT INTO notes VALUES ('a');",
            )
            .unwrap();
        let request = CheckpointRequest::default();
        copy_log(&connections::open_reader(&path).unwrap(), &request).unwrap();
        assert!(!request.take());
    }
}
