//! Group commit for appends: one task owns the queue of pending appends and writes as many as are
//! waiting (up to [`APPEND_BATCH_MAX`]) in one `BEGIN IMMEDIATE` transaction, so one fsync covers
//! the whole batch. Under load this multiplies append throughput; with a single sender it costs
//! one channel hop.
//!
//! Each append runs inside its own savepoint, so a failing append (say, to a missing
//! conversation) is rolled back alone and the rest of the batch still commits. Nobody is answered
//! before the commit: a returned append is durable. If the commit itself fails, every append of
//! the batch gets the error, and none of them happened.
//!
//! The task still takes the single writer connection from the writer pool for each batch, so
//! appends and all other writes stay serialised. It ends when the last [`SqliteStore`] handle
//! drops (the queue closes); appends after [`SqliteStore::close`] fail with `Unavailable`.
//!
//! [`SqliteStore`]: crate::SqliteStore
//! [`SqliteStore::close`]: crate::SqliteStore::close

use natter_domain::StoreError;
use natter_domain::model::{AppendOutcome, NewMessage};
use natter_domain::ports::StoreResult;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::errors::db;
use crate::messages;

/// Appends waiting for the writer; callers beyond this wait to enqueue (backpressure).
const APPEND_QUEUE_MAX: usize = 1_024;
/// Appends per transaction: bounds the time the write lock is held and the batch's memory.
const APPEND_BATCH_MAX: usize = 64;

type Reply = oneshot::Sender<StoreResult<AppendOutcome>>;

struct Request {
    message: NewMessage,
    reply: Reply,
}

/// The handle to the append task.
#[derive(Debug)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Request>,
    /// Kept so the task is owned by the store; it finishes on its own once `queue` closes.
    _task: JoinHandle<()>,
}

impl Appender {
    pub(crate) fn spawn(writer: SqlitePool) -> Self {
        let (queue, requests) = mpsc::channel(APPEND_QUEUE_MAX);
        let task = tokio::spawn(run(writer, requests));
        Self { queue, _task: task }
    }

    pub(crate) async fn append(&self, message: NewMessage) -> StoreResult<AppendOutcome> {
        let stopped = || StoreError::Unavailable("the append writer has stopped".into());
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Request { message, reply })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

async fn run(writer: SqlitePool, mut requests: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(APPEND_BATCH_MAX);
    while requests.recv_many(&mut batch, APPEND_BATCH_MAX).await > 0 {
        commit_batch(&writer, &mut batch).await;
    }
}

fn fail_all(replies: impl IntoIterator<Item = Reply>, err: &StoreError) {
    for reply in replies {
        // The caller may have given up waiting; the outcome is then nobody's business.
        let _ = reply.send(Err(err.clone()));
    }
}

/// Commit the batch and answer every request in it; leaves `batch` empty (its capacity is reused).
async fn commit_batch(writer: &SqlitePool, batch: &mut Vec<Request>) {
    let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch.drain(..).map(|r| r.reply), &db(e)),
    };
    let mut done: Vec<(Reply, StoreResult<AppendOutcome>)> = Vec::with_capacity(batch.len());
    let mut pending = batch.drain(..);
    while let Some(request) = pending.next() {
        match isolated(&mut tx, &request.message).await {
            Ok(outcome) => done.push((request.reply, outcome)),
            Err(fatal) => {
                // The transaction is in an unknown state: abandon it (dropping rolls back).
                drop(tx);
                let replies = done.into_iter().map(|(reply, _)| reply);
                let rest = std::iter::once(request.reply).chain(pending.map(|r| r.reply));
                return fail_all(replies.chain(rest), &fatal);
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, outcome) in done {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => fail_all(done.into_iter().map(|(reply, _)| reply), &db(e)),
    }
}

/// One append in its own savepoint. The outer error means the savepoint machinery failed (the
/// batch cannot go on); the inner result is the append's own.
async fn isolated(
    conn: &mut SqliteConnection,
    message: &NewMessage,
) -> Result<StoreResult<AppendOutcome>, StoreError> {
    sqlx::query("SAVEPOINT append")
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let outcome = messages::append_in(conn, message).await;
    if outcome.is_err() {
        sqlx::query("ROLLBACK TO append")
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    }
    sqlx::query("RELEASE append")
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(outcome)
}
