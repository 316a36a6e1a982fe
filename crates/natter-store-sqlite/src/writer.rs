//! The writer thread: the one place that writes to the database.
//!
//! Every write (an append, a read cursor, a login, a push claim...) is a closure sent to this
//! thread. The thread takes every closure waiting (up to [`BATCH_MAX`]) into one
//! `BEGIN IMMEDIATE` transaction, runs each in turn and commits once: one fsync for the whole
//! batch (group commit), whatever mix of writes it holds. While writes come faster than
//! [`GATHER_ABOVE_PER_SECOND`], a batch of several first waits for more ([`gather_for`]: the
//! longer the batch before took, the longer). Nobody is answered before the commit, so a write
//! that returned is durable; if the commit fails, every write of the batch gets the error and
//! none of them happened.
//!
//! A write that fails must leave the rest of the batch as if it had never run ([`Undo`]). Most
//! run inside a savepoint of their own, rolled back alone. An append, the hot path, runs without
//! one: a savepoint copies every page the write is about to change into SQLite's sub-journal
//! first (8% of this thread's samples at 20,000 sends/s offered; without it 200,000 sends took
//! 10.5-11.3 s instead of 11.5-11.9), and an append's failures come before its first change (an
//! unknown conversation) or from SQLite itself. One that fails having changed nothing needs no
//! undo; one that changed rows fails the whole batch.
//!
//! Why a thread and not an async task on a pooled connection: SQLite is a synchronous library.
//! Driving it statement by statement from async code (as sqlx does) costs a channel hop, a futex
//! wake and two context switches per statement; here a whole write costs one hop there and one
//! back, and the statements run back to back on a hot thread with cached prepared statements.
//!
//! The answers are sent in commit order from this one thread, so callers woken by one batch see
//! the effects of all of it.
//!
//! The thread also owns the conversations' counters ([`Counters`]): a write that allocates
//! `seq`/`mod_seq` is given them ([`Writer::queue_counted`]), and the thread keeps them in step
//! with what commits (put back when a savepoint rolls back, forgotten when a batch fails).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::checkpoints::{self, CheckpointRequest};
use crate::counters::Counters;
use crate::errors::sql;
use crate::rosters::Rosters;

/// Writes waiting for the thread; callers beyond this wait to enqueue (backpressure).
const QUEUE_MAX: usize = 4_096;
/// Writes per transaction: bounds how long the write lock is held and the batch's memory. At
/// saturation a larger batch writes fewer WAL frames per append (appends to one conversation
/// share its index pages): 2,048 instead of 512 took 200,000 sends at 20,000/s in 12.0 s
/// instead of 12.6.
const BATCH_MAX: usize = 2048;
/// Writes a second above which the writer lets each batch fill ([`gather_for`]) before running
/// it. A commit costs a share of its own whatever its size (the log frames of every page its
/// writes touch, the fsync and the writeback behind it), so at
/// a high rate larger batches are cheaper per write; below it, each batch runs at once, as a
/// wait would only add to every write's latency (at 2,000 sends/s a wait whenever four writes
/// were waiting raised the per-device p99 from 2.1 to 2.9 ms).
const GATHER_ABOVE_PER_SECOND: u32 = 10_000;
/// The shortest a batch fills at a high rate ([`gather_for`]).
const GATHER_MIN: Duration = Duration::from_micros(600);
/// The longest a batch fills, however long the batch before took.
const GATHER_MAX: Duration = Duration::from_millis(3);
/// A batch fills for this many times what the batch before took to run and commit.
const GATHER_PER_RUN: u32 = 4;
/// Only a batch that found at least this many writes waiting fills: a lone write (a quiet
/// room's, beside a flood of another) never waits.
const GATHER_FROM: usize = 4;
/// The span over which the write rate is counted.
const RATE_SPAN: Duration = Duration::from_millis(50);

/// How a write that fails is undone, leaving the rest of its batch to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undo {
    /// The write runs inside a savepoint of its own, rolled back alone if it fails.
    Savepoint,
    /// No savepoint: for a write that fails only before its first change or through SQLite
    /// itself. If it fails having changed rows, the whole batch fails and nothing of it happens.
    WholeBatch,
}

/// One write waiting for the thread: run inside the batch's transaction, then told how the
/// commit went.
trait Job: Send {
    /// How the write is undone if it fails.
    fn undo(&self) -> Undo;
    /// Run the write; `false` if it failed (it is then undone, see [`Undo`]).
    fn run(&mut self, conn: &Connection, counters: &mut Counters) -> bool;
    /// Answer the caller, once the batch's fate (`committed`) is known.
    fn finish(self: Box<Self>, committed: StoreResult<()>);
}

/// Run on this thread with a write's value once its batch has committed, before the write is
/// answered ([`Writer::queue_counted`]). It must not block.
pub(crate) type AfterCommit<T> = Box<dyn FnOnce(&T) + Send>;

struct Write<F, T> {
    undo: Undo,
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    after: Option<AfterCommit<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for Write<F, T>
where
    F: FnOnce(&Connection, &mut Counters) -> StoreResult<T> + Send,
    T: Send,
{
    fn undo(&self) -> Undo {
        self.undo
    }

    fn run(&mut self, conn: &Connection, counters: &mut Counters) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = contain_panic(|| work(conn, counters));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(self: Box<Self>, committed: StoreResult<()>) {
        let answer = match (self.outcome, committed) {
            // Rolled back to its savepoint: its own error, whatever became of the others.
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)) | None, Err(batch)) => Err(batch),
            (None, Ok(())) => Err(StoreError::Internal("a write was never run".into())),
        };
        if let (Ok(value), Some(after)) = (&answer, self.after) {
            // A panic in it must not end the thread; the write itself has committed.
            let _ = catch_unwind(AssertUnwindSafe(|| after(value)));
        }
        // The caller may have stopped waiting; the write's fate is then nobody's business.
        let _ = self.reply.send(answer);
    }
}

/// Run `work`, turning a panic into an error so one bad write cannot kill the thread.
pub(crate) fn contain_panic<T>(work: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(StoreError::Internal("a storage call panicked".into())))
}

enum Msg {
    Job(Box<dyn Job>),
    /// Finish what is queued before this, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// The handle to the writer thread. The thread ends when [`Writer::close`] is called or every
/// handle is dropped.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Msg>,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the storage writer has stopped".into())
}

impl Writer {
    /// `checkpoint`: the checkpoint thread's requests that the writer finish a copy of the log
    /// ([`checkpoints`]), honoured before the next batch. `rosters`: forgotten whenever a batch
    /// finds that another connection committed since the last one.
    pub(crate) fn spawn(
        conn: Connection,
        checkpoint: CheckpointRequest,
        rosters: Arc<Rosters>,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, messages) = mpsc::channel(QUEUE_MAX);
        // Returns once the thread runs, named and at its priority: a store that has opened has
        // its writer ready (and `/proc` shows it, which the tests read).
        let (started, running) = std::sync::mpsc::sync_channel(0);
        let thread = std::thread::Builder::new()
            .name("natter-sqlite-writer".into())
            .spawn(move || {
                raise_priority();
                let _ = started.send(());
                run(conn, messages, checkpoint, &rosters)
            })?;
        running
            .recv()
            .map_err(|_| std::io::Error::other("the writer thread ended as it started"))?;
        Ok((Writer { queue }, thread))
    }

    /// Queue `work` behind every write queued before it, and return once it is queued: the
    /// future resolves once its batch has committed (or failed). Writes run and commit in the
    /// order they were queued; `undo` says how `work` is undone if it fails. `after` runs on
    /// this thread with the value of a write that committed, right after the commit and before
    /// the answer; the hooks of a batch run in commit order.
    pub(crate) async fn queue_counted<T, F>(
        &self,
        undo: Undo,
        work: F,
        after: Option<AfterCommit<T>>,
    ) -> StoreResult<impl Future<Output = StoreResult<T>> + Send + 'static>
    where
        F: FnOnce(&Connection, &mut Counters) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Write {
            undo,
            work: Some(work),
            outcome: None,
            after,
            reply,
        };
        self.queue
            .send(Msg::Job(Box::new(job)))
            .await
            .map_err(|_| stopped())?;
        Ok(async move { answer.await.map_err(|_| stopped())? })
    }

    /// Let the writes already queued finish, then close the connection. Later writes fail with
    /// `Unavailable`.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Msg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// How much nicer than the process's other threads the writer asks to be scheduled (a lower
/// nice value): every durable write of every room waits for this one thread, so when the cores
/// are saturated (a flooded room's fan-out) it should not wait its turn behind the connections'
/// tasks. A quiet room's p99 beside a room of 1,000 at saturation: 9.9-12.0 ms with it, 13.8-19.3
/// without (`natter-bench isolation`, five runs each, BENCHMARKS.md "Twelfth round").
const NICER_BY: i32 = 10;

/// Lower this thread's nice value by [`NICER_BY`] where the process may (Linux: root or
/// `CAP_SYS_NICE`); otherwise it keeps the default, which is only slower under saturation.
fn raise_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread (Linux keeps a nice value per thread).
        let raised = unsafe {
            let thread = libc::gettid() as libc::id_t;
            let current = libc::getpriority(libc::PRIO_PROCESS, thread);
            libc::setpriority(libc::PRIO_PROCESS, thread, current - NICER_BY) == 0
        };
        if !raised {
            tracing::debug!(
                "the storage writer keeps the default priority (no permission to raise it)"
            );
        }
    }
}

fn run(
    conn: Connection,
    mut messages: mpsc::Receiver<Msg>,
    checkpoint: CheckpointRequest,
    rosters: &Rosters,
) {
    checkpoints::count_appended_frames(&conn, &checkpoint);
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(BATCH_MAX);
    let mut counters = Counters::default();
    let mut rate = WriteRate::new(Instant::now());
    let mut closing = None;
    let mut last_run = Duration::ZERO;
    while closing.is_none() {
        match messages.blocking_recv() {
            Some(Msg::Job(job)) => batch.push(job),
            Some(Msg::Close(done)) => closing = Some(done),
            None => break,
        }
        take_waiting(&mut messages, &mut batch, &mut closing);
        if closing.is_none() && rate.high() && (GATHER_FROM..BATCH_MAX).contains(&batch.len()) {
            std::thread::sleep(gather_for(last_run));
            take_waiting(&mut messages, &mut batch, &mut closing);
        }
        rate.count(batch.len(), Instant::now());
        if checkpoint.take() {
            checkpoints::finish_on_writer(&conn);
        }
        if !batch.is_empty() {
            let started = Instant::now();
            commit_batch(&conn, &mut counters, rosters, &mut batch);
            last_run = started.elapsed();
        }
    }
    messages.close();
    drop(conn);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Whether writes have lately come faster than [`GATHER_ABOVE_PER_SECOND`]: counted over spans
/// of [`RATE_SPAN`], each span's verdict holding through the next.
struct WriteRate {
    since: Instant,
    writes: u32,
    high: bool,
}

impl WriteRate {
    fn new(now: Instant) -> Self {
        WriteRate {
            since: now,
            writes: 0,
            high: false,
        }
    }

    fn high(&self) -> bool {
        self.high
    }

    /// Count a batch of `writes` run at `now`.
    fn count(&mut self, writes: usize, now: Instant) {
        self.writes = self
            .writes
            .saturating_add(u32::try_from(writes).unwrap_or(u32::MAX));
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= RATE_SPAN {
            let per_second = f64::from(self.writes) / elapsed.as_secs_f64();
            self.high = per_second > f64::from(GATHER_ABOVE_PER_SECOND);
            self.since = now;
            self.writes = 0;
        }
    }
}

/// How long a batch fills at a high rate (see [`GATHER_ABOVE_PER_SECOND`]), given how long the
/// batch before took to run and commit: [`GATHER_PER_RUN`] times that, within [`GATHER_MIN`]
/// and [`GATHER_MAX`]. The busier the thread and the cores, the longer a batch takes and the
/// more the next one should carry: a commit's share (its log frames, the fsync and the
/// writeback, the hub's wake-up for its events) is paid once per batch. In a room of 100 at
/// saturation (~21,000 sends a second, 2 cores shared with the bench's client) a fixed 600 µs
/// gave 2.81-3.06 M deliveries per server CPU-second, this rule 3.12-3.33 M (a fixed 3 ms:
/// 3.21-3.38 M); at 12,000 sends a second, where the cores are not saturated, a fixed 3 ms
/// raised the per-device p50 from 6.5-7.8 ms to 11.2-13.6 ms, this rule to 8.1-10.3 ms (each
/// with 10% less CPU than 600 µs). BENCHMARKS.md, twenty-fourth round.
fn gather_for(last_run: Duration) -> Duration {
    last_run
        .saturating_mul(GATHER_PER_RUN)
        .clamp(GATHER_MIN, GATHER_MAX)
}

/// Move the writes already waiting into `batch`, up to [`BATCH_MAX`] or a close request.
fn take_waiting(
    messages: &mut mpsc::Receiver<Msg>,
    batch: &mut Vec<Box<dyn Job>>,
    closing: &mut Option<oneshot::Sender<()>>,
) {
    while closing.is_none() && batch.len() < BATCH_MAX {
        match messages.try_recv() {
            Ok(Msg::Job(job)) => batch.push(job),
            Ok(Msg::Close(done)) => *closing = Some(done),
            Err(_) => break,
        }
    }
}

/// Run every job of `batch` in one transaction and answer each; leaves `batch` empty.
fn commit_batch(
    conn: &Connection,
    counters: &mut Counters,
    rosters: &Rosters,
    batch: &mut Vec<Box<dyn Job>>,
) {
    let committed = run_in_transaction(conn, counters, rosters, batch);
    if committed.is_err() {
        counters.forget();
    }
    for job in batch.drain(..) {
        job.finish(committed.clone());
    }
}

fn run_in_transaction(
    conn: &Connection,
    counters: &mut Counters,
    rosters: &Rosters,
    batch: &mut [Box<dyn Job>],
) -> StoreResult<()> {
    let tx =
        rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(sql)?;
    if counters.begin_batch(&tx)? {
        rosters.forget_all();
    }
    for job in batch.iter_mut() {
        if job.undo() == Undo::Savepoint {
            // Appends leave their conversations' rows behind; anything else may read them.
            counters.write_rows_behind(&tx)?;
        }
        counters.begin_job();
        match job.undo() {
            Undo::Savepoint => run_in_savepoint(&tx, counters, &mut **job)?,
            Undo::WholeBatch => {
                let changes_before = tx.total_changes();
                if !job.run(&tx, counters) {
                    counters.rollback_job();
                    // Rolled back by SQLite itself, or rows changed that nothing can undo
                    // alone: dropping `tx` rolls everything back and every job gets the error.
                    if tx.is_autocommit() || tx.total_changes() != changes_before {
                        return Err(StoreError::Unavailable(
                            "a write failed part way; its batch was rolled back".into(),
                        ));
                    }
                }
            }
        }
    }
    counters.write_rows_behind(&tx)?;
    counters.search.finish_batch(&tx)?;
    counters.save_change(&tx)?;
    tx.commit().map_err(sql)
}

/// Run `job` inside a savepoint, rolled back alone if the job fails. An error here is the
/// savepoint machinery's own: the transaction is then in an unknown state and the batch fails.
fn run_in_savepoint(
    tx: &Connection,
    counters: &mut Counters,
    job: &mut dyn Job,
) -> StoreResult<()> {
    let step = |sql_text: &str| {
        tx.prepare_cached(sql_text)
            .and_then(|mut statement| statement.execute([]))
            .map_err(sql)
    };
    step("SAVEPOINT write")?;
    if !job.run(tx, counters) {
        counters.rollback_job();
        step("ROLLBACK TO write")?;
    }
    step("RELEASE write")?;
    Ok(())
}

/// Test support: the writer thread held busy by a write of a batch of its own, so that the
/// writes queued meanwhile run together in the next batch.
#[cfg(test)]
pub(crate) struct Held {
    release: std::sync::mpsc::Sender<()>,
    done: std::pin::Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>,
}

#[cfg(test)]
impl Writer {
    /// Hold the thread busy; returns once it is.
    pub(crate) async fn hold(&self) -> Held {
        let (running, started) = oneshot::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let done = self
            .queue_counted(
                Undo::Savepoint,
                move |_, _| {
                    running.send(()).ok();
                    held.recv().ok();
                    Ok(())
                },
                None,
            )
            .await
            .unwrap();
        started.await.unwrap();
        Held {
            release,
            done: Box::pin(done),
        }
    }
}

#[cfg(test)]
impl Held {
    /// Let the thread go on (the writes queued meanwhile run next, in one batch).
    pub(crate) async fn release(self) {
        self.release.send(()).unwrap();
        self.done.await.unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer on a fresh database with one table, `notes(text UNIQUE)`, and the `meta` row
    /// every batch reads (what the search index is owed, [`crate::search_index`]).
    fn writer() -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("CREATE TABLE notes (text TEXT NOT NULL UNIQUE)")
            .unwrap();
        conn.execute_batch(crate::search_index::META_FOR_TESTS)
            .unwrap();
        (
            Writer::spawn(conn, CheckpointRequest::default(), Default::default())
                .unwrap()
                .0,
            dir,
        )
    }

    fn insert(conn: &Connection, text: &str) -> StoreResult<()> {
        conn.execute("INSERT INTO notes (text) VALUES (?)", [text])
            .map(drop)
            .map_err(sql)
    }

    /// A write of a test batch: how it is undone, and what it does.
    type TestJob = (Undo, fn(&Connection) -> StoreResult<()>);

    fn failed() -> StoreError {
        StoreError::Conflict("refused".into())
    }

    /// A write that fails having changed a row.
    fn half_done(conn: &Connection) -> StoreResult<()> {
        insert(conn, "half done")?;
        Err(failed())
    }

    /// Queue `jobs` so that they run in one batch: the thread is held busy by a write of a
    /// batch of its own until all of them are queued. Each job has a commit hook that notes
    /// its index. Returns each job's answer, and the indexes noted once every answer came.
    async fn one_batch(writer: &Writer, jobs: Vec<TestJob>) -> (Vec<StoreResult<()>>, Vec<usize>) {
        let noted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = writer.hold().await;
        let mut answers = Vec::new();
        for (index, (undo, job)) in jobs.into_iter().enumerate() {
            let noted = Arc::clone(&noted);
            let hook: AfterCommit<()> = Box::new(move |()| noted.lock().unwrap().push(index));
            answers.push(
                writer
                    .queue_counted(undo, move |conn, _| job(conn), Some(hook))
                    .await
                    .unwrap(),
            );
        }
        held.release().await;
        let mut results = Vec::new();
        for (index, answer) in answers.into_iter().enumerate() {
            let result = answer.await;
            if result.is_ok() {
                assert!(
                    noted.lock().unwrap().contains(&index),
                    "a committed write's hook runs before its answer"
                );
            }
            results.push(result);
        }
        let noted = noted.lock().unwrap().clone();
        (results, noted)
    }

    async fn notes(writer: &Writer) -> Vec<String> {
        let read = writer
            .queue_counted(
                Undo::Savepoint,
                |conn, _| {
                    let mut statement = conn
                        .prepare("SELECT text FROM notes ORDER BY text")
                        .map_err(sql)?;
                    let rows = statement.query_map([], |row| row.get(0)).map_err(sql)?;
                    rows.collect::<Result<Vec<String>, _>>().map_err(sql)
                },
                None,
            )
            .await
            .unwrap();
        read.await.unwrap()
    }

    #[tokio::test]
    async fn a_write_in_a_savepoint_that_fails_is_undone_alone() {
        let (writer, _dir) = writer();
        let (results, hooked) = one_batch(
            &writer,
            vec![
                (Undo::Savepoint, |conn| insert(conn, "a")),
                (Undo::Savepoint, half_done),
                (Undo::WholeBatch, |conn| insert(conn, "c")),
            ],
        )
        .await;
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert_eq!(
            hooked,
            [0, 2],
            "the hooks of the committed writes, in commit order"
        );
        assert!(matches!(results[1], Err(StoreError::Conflict(_))));
        assert_eq!(notes(&writer).await, ["a", "c"]);
    }

    #[tokio::test]
    async fn a_write_without_a_savepoint_that_fails_before_changing_anything_leaves_the_batch() {
        let (writer, _dir) = writer();
        let (results, hooked) = one_batch(
            &writer,
            vec![
                (Undo::WholeBatch, |conn| insert(conn, "a")),
                (Undo::WholeBatch, |_| Err(failed())),
                // A statement that fails is undone by SQLite itself: no rows changed.
                (Undo::WholeBatch, |conn| insert(conn, "a")),
                (Undo::WholeBatch, |conn| insert(conn, "d")),
            ],
        )
        .await;
        assert!(results[0].is_ok() && results[3].is_ok(), "{results:?}");
        assert_eq!(hooked, [0, 3]);
        assert!(matches!(results[1], Err(StoreError::Conflict(_))));
        assert!(results[2].is_err());
        assert_eq!(notes(&writer).await, ["a", "d"]);
    }

    #[tokio::test]
    async fn a_write_without_a_savepoint_that_fails_having_changed_rows_fails_its_batch() {
        let (writer, _dir) = writer();
        let (results, hooked) = one_batch(
            &writer,
            vec![
                (Undo::Savepoint, |conn| insert(conn, "a")),
                (Undo::WholeBatch, half_done),
                (Undo::WholeBatch, |conn| insert(conn, "c")),
            ],
        )
        .await;
        assert!(matches!(results[1], Err(StoreError::Conflict(_))));
        assert!(
            matches!(results[0], Err(StoreError::Unavailable(_)))
                && matches!(results[2], Err(StoreError::Unavailable(_))),
            "{results:?}"
        );
        assert!(hooked.is_empty(), "nothing committed: {hooked:?}");
        assert!(notes(&writer).await.is_empty());
        // The writer goes on with the next batch.
        let later = writer
            .queue_counted(Undo::WholeBatch, |conn, _| insert(conn, "later"), None)
            .await
            .unwrap();
        later.await.unwrap();
        assert_eq!(notes(&writer).await, ["later"]);
    }

    #[test]
    fn batches_fill_only_while_writes_come_faster_than_the_threshold() {
        let start = Instant::now();
        let mut rate = WriteRate::new(start);
        assert!(!rate.high(), "a fresh writer runs each batch at once");
        // 10,000 a second exactly, over one span: not above it.
        let per_span = (f64::from(GATHER_ABOVE_PER_SECOND) * RATE_SPAN.as_secs_f64()) as usize;
        rate.count(per_span, start + RATE_SPAN);
        assert!(!rate.high());
        // One more write over the next span: above it.
        rate.count(per_span + 1, start + 2 * RATE_SPAN);
        assert!(rate.high());
        // The verdict holds within a span, whatever comes, and is given again at its end.
        rate.count(0, start + 2 * RATE_SPAN + RATE_SPAN / 2);
        assert!(rate.high());
        rate.count(1, start + 3 * RATE_SPAN);
        assert!(!rate.high(), "a quiet span ends the filling");
    }

    #[test]
    fn a_batch_fills_longer_the_longer_the_batch_before_took() {
        assert_eq!(
            gather_for(Duration::ZERO),
            GATHER_MIN,
            "never below the floor"
        );
        assert_eq!(
            gather_for(Duration::from_micros(400)),
            Duration::from_micros(400) * GATHER_PER_RUN
        );
        assert!(gather_for(Duration::from_micros(400)) > GATHER_MIN);
        assert_eq!(
            gather_for(Duration::from_secs(5)),
            GATHER_MAX,
            "nor above the cap"
        );
        assert_eq!(gather_for(Duration::MAX), GATHER_MAX, "without overflowing");
    }

    #[test]
    fn a_long_quiet_spell_counts_as_a_low_rate() {
        let start = Instant::now();
        let mut rate = WriteRate::new(start);
        rate.count(
            usize::try_from(GATHER_ABOVE_PER_SECOND).unwrap(),
            start + Duration::from_secs(2),
        );
        assert!(!rate.high(), "5,000 a second over two seconds");
    }
}
