//! The writer thread: the one place that writes to the database.
//!
//! Every write (an append, a read cursor, a login, a push claim...) is a closure sent to this
//! thread. The thread takes every closure waiting (up to [`BATCH_MAX`]) into one
//! `BEGIN IMMEDIATE` transaction, runs each inside its own savepoint and commits once: one fsync
//! for the whole batch (group commit), whatever mix of writes it holds. Nobody is answered before
//! the commit, so a write that returned is durable; if the commit fails, every write of the batch
//! gets the error and none of them happened. A closure that fails is rolled back to its savepoint
//! alone and the rest of the batch still commits.
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
//! `seq`/`mod_seq` is given them ([`Writer::write_counted`]), and the thread keeps them in step
//! with what commits (put back when a savepoint rolls back, forgotten when a batch fails).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use natter_domain::StoreError;
use natter_domain::ports::StoreResult;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::counters::Counters;
use crate::errors::sql;

/// Writes waiting for the thread; callers beyond this wait to enqueue (backpressure).
const QUEUE_MAX: usize = 4_096;
/// Writes per transaction: bounds how long the write lock is held and the batch's memory.
const BATCH_MAX: usize = 512;

/// One write waiting for the thread: run inside the batch's transaction, then told how the
/// commit went.
trait Job: Send {
    /// Run the write; `false` if it failed (its savepoint is then rolled back).
    fn run(&mut self, conn: &Connection, counters: &mut Counters) -> bool;
    /// Answer the caller, once the batch's fate (`committed`) is known.
    fn finish(self: Box<Self>, committed: StoreResult<()>);
}

struct Write<F, T> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<F, T> Job for Write<F, T>
where
    F: FnOnce(&Connection, &mut Counters) -> StoreResult<T> + Send,
    T: Send,
{
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
    pub(crate) fn spawn(conn: Connection) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (queue, messages) = mpsc::channel(QUEUE_MAX);
        let thread = std::thread::Builder::new()
            .name("natter-sqlite-writer".into())
            .spawn(move || run(conn, messages))?;
        Ok((Writer { queue }, thread))
    }

    /// Queue `work` behind every write queued before it, and return once it is queued: the
    /// future resolves once its batch has committed (or failed). Writes run and commit in the
    /// order they were queued.
    pub(crate) async fn queue_counted<T, F>(
        &self,
        work: F,
    ) -> StoreResult<impl Future<Output = StoreResult<T>> + Send + 'static>
    where
        F: FnOnce(&Connection, &mut Counters) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Write {
            work: Some(work),
            outcome: None,
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

fn run(conn: Connection, mut messages: mpsc::Receiver<Msg>) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(BATCH_MAX);
    let mut counters = Counters::default();
    let mut closing = None;
    while closing.is_none() {
        match messages.blocking_recv() {
            Some(Msg::Job(job)) => batch.push(job),
            Some(Msg::Close(done)) => closing = Some(done),
            None => break,
        }
        while closing.is_none() && batch.len() < BATCH_MAX {
            match messages.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_batch(&conn, &mut counters, &mut batch);
        }
    }
    messages.close();
    drop(conn);
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

/// Run every job of `batch` in one transaction and answer each; leaves `batch` empty.
fn commit_batch(conn: &Connection, counters: &mut Counters, batch: &mut Vec<Box<dyn Job>>) {
    let committed = run_in_transaction(conn, counters, batch);
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
    batch: &mut [Box<dyn Job>],
) -> StoreResult<()> {
    let tx =
        rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate).map_err(sql)?;
    counters.begin_batch(&tx)?;
    for job in batch.iter_mut() {
        // If the savepoint machinery itself fails, the transaction is in an unknown state:
        // dropping `tx` rolls everything back and every job gets the error.
        tx.execute_batch("SAVEPOINT write").map_err(sql)?;
        counters.begin_job();
        if !job.run(&tx, counters) {
            counters.rollback_job();
            tx.execute_batch("ROLLBACK TO write").map_err(sql)?;
        }
        tx.execute_batch("RELEASE write").map_err(sql)?;
    }
    counters.search.apply(&tx)?;
    tx.commit().map_err(sql)
}
