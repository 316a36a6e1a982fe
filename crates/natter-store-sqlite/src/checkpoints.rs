//! Checkpoints off the commit path, and a log that starts over under a steady stream of commits.
//!
//! A thread of its own copies the WAL into the database file (`PRAGMA wal_checkpoint(PASSIVE)`:
//! it never waits for readers or the writer), looking every [`INTERVAL`] but copying only once the
//! writer has appended [`COPY_AT_FRAMES`] frames since the last copy, or [`COPY_AT_LEAST_EVERY`].
//! Why not copy every short log at once: the writer's first commit after a complete copy starts
//! the log over, and starting over writes a new log header that SQLite syncs on its own before the
//! commit's frames (an out-of-order write after a restart could otherwise corrupt the database:
//! SQLite ticket ff5be73dee). A copy every 500 ms put that second fsync on every fifth commit of a
//! room sending ten messages a second, and the database file's own fsync beside it.
//!
//! SQLite starts the log from its beginning again only when a write transaction begins with every
//! frame of the log already copied. Under a steady stream of commits that never happens on its
//! own: the copy takes longer than the gap between two commits, so by the time it ends the writer
//! has appended more, and the log grew without end (measured: 1 GB in 10 s at 2,000 sends/s,
//! every fsync then also allocating blocks and writing the file's size).
//!
//! So when a copy leaves a long log behind ([`FINISH_AT_FRAMES`]), the thread asks the writer
//! ([`CheckpointRequest`]) to finish the job: between two of its transactions, where no
//! commit can slip in, the writer copies the few frames committed since ([`finish_on_writer`]),
//! and its next transaction starts the log over. The bulk of the copying stays on this thread.
//!
//! The writer counts the frames it appends with a WAL hook ([`count_appended_frames`]): after
//! each commit SQLite tells it the log's length.

use std::cell::RefCell;
use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::Wal;

/// How often the thread looks at the log.
const INTERVAL: Duration = Duration::from_millis(500);
/// Frames appended since the last copy that make the next look copy them (4 MiB of 4 KiB pages):
/// from a few hundred sends a second on that is every look, as before (copying every other look
/// at 2,000 sends a second, as 4,096 did, raised their p50 by a quarter); a room sending ten a
/// second is copied every few seconds.
const COPY_AT_FRAMES: i64 = 1_024;
/// Appended frames are copied at least this often, however few.
const COPY_AT_LEAST_EVERY: Duration = Duration::from_secs(30);
/// A log at least this long after a copy (1 MiB of 4 KiB pages) is not starting over by itself:
/// the writer is asked to finish the copy. A copy that caught up with the writer's last commit
/// says nothing of whether more came in meanwhile: under load they did (asking only when frames
/// were left behind let the log grow by 100 MB a second at 2,000 sends a second). When nothing
/// came in, the writer's finish copies nothing and costs one statement.
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
                let mut last = LastCopy {
                    appended: 0,
                    at: Instant::now(),
                };
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    let appended = request.appended_frames();
                    if !last.due(appended, Instant::now()) {
                        continue;
                    }
                    match copy_log(&conn, &request) {
                        Ok(()) => {
                            last = LastCopy {
                                appended,
                                at: Instant::now(),
                            }
                        }
                        Err(err) => tracing::warn!(%err, "WAL checkpoint failed; retrying later"),
                    }
                }
            })?;
        Ok(Checkpoints { _stop: stop })
    }
}

/// When the checkpoint thread last copied the log, and what the writer had appended by then.
#[derive(Debug, Clone, Copy)]
struct LastCopy {
    appended: i64,
    at: Instant,
}

impl LastCopy {
    /// Whether the log is worth copying now, the writer having appended `appended` frames in all.
    fn due(&self, appended: i64, now: Instant) -> bool {
        let since = appended - self.appended;
        since >= COPY_AT_FRAMES || (since > 0 && now.duration_since(self.at) >= COPY_AT_LEAST_EVERY)
    }
}

/// What the writer and the checkpoint thread share: the checkpoint thread's request that the
/// writer finish a copy, and the frames the writer has appended to the log since it started.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckpointRequest(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    finish: AtomicBool,
    appended_frames: AtomicI64,
}

impl CheckpointRequest {
    fn ask(&self) {
        self.0.finish.store(true, Ordering::Release);
    }

    /// Whether a finish was asked for since the last call.
    pub(crate) fn take(&self) -> bool {
        self.0.finish.swap(false, Ordering::AcqRel)
    }

    /// Frames the writer has appended to the log since it started (every commit counted).
    fn appended_frames(&self) -> i64 {
        self.0.appended_frames.load(Ordering::Acquire)
    }
}

/// The writer thread's count of appended frames, kept by [`on_commit`] (a WAL hook is a plain
/// `fn`, without data of its own; each store's writer is a thread of its own).
struct FrameCount {
    shared: Arc<Shared>,
    /// The log's length after the previous commit.
    log_frames: i64,
}

thread_local! {
    static FRAME_COUNT: RefCell<Option<FrameCount>> = const { RefCell::new(None) };
}

/// Count the frames `conn` (the writer's connection, on the calling thread: the writer thread)
/// appends to the log into `request`. Replaces the WAL hook of `wal_autocheckpoint`, which is
/// off on the writer anyway.
pub(crate) fn count_appended_frames(conn: &Connection, request: &CheckpointRequest) {
    FRAME_COUNT.with(|count| {
        *count.borrow_mut() = Some(FrameCount {
            shared: request.0.clone(),
            log_frames: 0,
        })
    });
    conn.wal_hook(Some(on_commit));
}

/// SQLite's WAL hook: a commit left `log_frames` frames in the log.
fn on_commit(_: &Wal, log_frames: c_int) -> rusqlite::Result<()> {
    let log_frames = i64::from(log_frames);
    FRAME_COUNT.with(|count| {
        if let Some(count) = count.borrow_mut().as_mut() {
            // A shorter log than after the previous commit: it started over with this one. A
            // restart whose commit leaves a log longer than the previous one is counted short,
            // which only delays a copy (a restart follows a copy, so the log was short anyway).
            let appended = if log_frames >= count.log_frames {
                log_frames - count.log_frames
            } else {
                log_frames
            };
            count.log_frames = log_frames;
            count
                .shared
                .appended_frames
                .fetch_add(appended, Ordering::AcqRel);
        }
    });
    Ok(())
}

/// One copy of the log into the database; asks the writer to finish it if the log is long.
fn copy_log(conn: &Connection, request: &CheckpointRequest) -> rusqlite::Result<()> {
    if passive_checkpoint(conn)? >= FINISH_AT_FRAMES {
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
            .queue_counted(
                Undo::Savepoint,
                move |conn, _| {
                    for n in first..first + rows {
                        conn.execute(
                            "INSERT INTO notes (text) VALUES (?)",
                            [format!("{n:03000}")],
                        )
                        .map_err(crate::errors::sql)?;
                    }
                    Ok(())
                },
                None,
            )
            .await
            .unwrap();
        done.await.unwrap();
    }

    /// A writer on a fresh database with a `notes` table (and the `meta` row every batch reads),
    /// the request it shares with the checkpoint thread, and a connection to copy the log with.
    fn notes_writer(path: &std::path::Path) -> (Writer, CheckpointRequest, Connection) {
        let writer_conn = connections::open_writer(path).unwrap();
        writer_conn
            .execute_batch("CREATE TABLE notes (text TEXT NOT NULL)")
            .unwrap();
        writer_conn
            .execute_batch(crate::search_index::META_FOR_TESTS)
            .unwrap();
        let request = CheckpointRequest::default();
        let (writer, _) = Writer::spawn(writer_conn, request.clone(), Default::default()).unwrap();
        (writer, request, connections::open_reader(path).unwrap())
    }

    /// A copy that cannot catch up with the writer (here a reader holds it back, as commits
    /// made during the copy do under load) leaves a long log; the writer finishes the copy at
    /// its next batch and the log starts over.
    #[tokio::test]
    async fn a_log_the_copy_cannot_catch_up_with_starts_over_once_the_writer_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let (writer, request, copier) = notes_writer(&path);
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
            request.0.finish.load(Ordering::Acquire),
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

    /// The writer counts every frame it appends, the log's restarts included.
    #[tokio::test]
    async fn the_writer_counts_the_frames_it_appends() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, request, copier) = notes_writer(&dir.path().join("f.db"));

        write_notes(&writer, 0, 20).await;
        let before_restart = request.appended_frames();
        assert!(
            before_restart >= 20,
            "20 notes of a page each: {before_restart} frames"
        );
        let (log, copied): (i64, i64) = copier
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get(1)?, row.get(2)?))
            })
            .unwrap();
        assert_eq!(copied, log, "nothing held the copy back");
        write_notes(&writer, 20, 5).await;
        let after = request.appended_frames();
        assert!(
            (before_restart + 5..before_restart + 20).contains(&after),
            "the log started over with 5 notes: {after} frames in all after {before_restart}"
        );
    }

    #[test]
    fn a_short_log_waits_for_more_frames_or_half_a_minute() {
        let at = Instant::now();
        let last = LastCopy { appended: 100, at };
        assert!(
            !last.due(100, at + Duration::from_secs(3600)),
            "nothing new"
        );
        assert!(!last.due(101, at + Duration::from_secs(29)));
        assert!(last.due(101, at + COPY_AT_LEAST_EVERY));
        assert!(!last.due(100 + COPY_AT_FRAMES - 1, at));
        assert!(last.due(100 + COPY_AT_FRAMES, at));
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
