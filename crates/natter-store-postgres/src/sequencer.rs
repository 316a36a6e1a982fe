//! [`MessageSequencer`] for a message store that keeps bodies outside PostgreSQL (Cassandra):
//! the conversation row stays here and is the sequence.
//!
//! A ticket is an open transaction holding the conversation row `FOR UPDATE`, so tickets of one
//! conversation are taken one at a time across every process; the body store writes under it
//! and commits through it, which advances `last_seq` / `last_mod` and stamps the conversation
//! for sync in that same transaction. Dropping the ticket rolls back (promptly: the rollback is
//! spawned, see `one_trip`), so a body write whose process gives up never becomes visible as
//! committed and its seq is handed out again.
//!
//! A ticket costs two round trips to the server: `BEGIN` travels with the row lock and
//! `COMMIT` with the head's update ([`OneTripTx`]), since the ticket is held, under the
//! conversation's lock, across the body store's write.
//!
//! The write stamp comes from the `natter_write_stamp` sequence, drawn *after* the row lock is
//! granted: stamps then increase in the order tickets are granted, so a write left behind by a
//! ticket that was never committed always loses to the next ticket's write of the same cell.

use async_trait::async_trait;
use natter_domain::ports::{MessageSequencer, SequenceHead, SequenceTicket, StoreResult};
use natter_domain::{ConversationId, StoreError};
use sqlx::{PgConnection, Row};

use crate::PgStore;
use crate::errors::db;
use crate::one_trip::{self, OneTripTx};

/// Lock the conversation row and read its committed counters; `NotFound` if it does not exist.
/// Lock order: callers take this before any member or message row of the conversation.
pub(crate) async fn lock_conversation(
    conn: &mut PgConnection,
    conversation: ConversationId,
) -> StoreResult<(i64, i64)> {
    sqlx::query_as("SELECT last_seq, last_mod FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(conversation.0)
        .fetch_optional(conn)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)
}

#[async_trait]
impl MessageSequencer for PgStore {
    async fn begin(&self, conversation: ConversationId) -> StoreResult<Box<dyn SequenceTicket>> {
        // MATERIALIZED: the row lock is granted before nextval runs (see the module docs).
        let first = format!(
            "WITH c AS MATERIALIZED \
               (SELECT last_seq, last_mod FROM conversations WHERE id = {} FOR UPDATE) \
             SELECT c.last_seq, c.last_mod, nextval('natter_write_stamp') FROM c",
            one_trip::uuid(conversation.0)
        );
        let (tx, rows) = OneTripTx::begin(self.pool(), &first).await.map_err(db)?;
        // No row: the conversation does not exist (dropping the ticket rolls back).
        let Some(row) = rows.first() else {
            return Err(StoreError::NotFound);
        };
        let column = |i: usize| row.try_get::<i64, _>(i).map_err(db);
        Ok(Box::new(PgTicket {
            tx: Some(tx),
            conversation,
            head: SequenceHead {
                last_seq: column(0)?,
                last_mod: column(1)?,
                write_stamp: column(2)?,
            },
        }))
    }

    async fn head(&self, conversation: ConversationId) -> StoreResult<SequenceHead> {
        let (last_seq, last_mod): (i64, i64) =
            sqlx::query_as("SELECT last_seq, last_mod FROM conversations WHERE id = $1")
                .bind(conversation.0)
                .fetch_optional(self.pool())
                .await
                .map_err(db)?
                .ok_or(StoreError::NotFound)?;
        Ok(SequenceHead {
            last_seq,
            last_mod,
            write_stamp: 0,
        })
    }
}

/// A conversation's write ticket: the transaction holding its row lock.
struct PgTicket {
    /// `None` only once committed (dropping the transaction rolls it back).
    tx: Option<OneTripTx>,
    conversation: ConversationId,
    head: SequenceHead,
}

impl PgTicket {
    /// Run `sql` (which must update exactly the conversation row and count that one row) and
    /// commit, in one round trip. If the row was not there, the commit changed nothing.
    async fn finish(mut self: Box<Self>, sql: String) -> StoreResult<()> {
        let tx = self
            .tx
            .take()
            .ok_or_else(|| StoreError::Internal("ticket already used".into()))?;
        let rows = tx.commit_after(&sql).await.map_err(db)?;
        if rows != 1 {
            return Err(StoreError::Internal(format!(
                "sequencer ticket of {} lost its conversation",
                self.conversation
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl SequenceTicket for PgTicket {
    fn head(&self) -> SequenceHead {
        self.head
    }

    async fn commit_append(self: Box<Self>, created_at_ms: i64) -> StoreResult<()> {
        // The message's pushes are owed from this commit on (push_queue.rs).
        let (id, at) = (
            one_trip::uuid(self.conversation.0),
            one_trip::int(created_at_ms),
        );
        self.finish(format!(
            "WITH upd AS (UPDATE conversations SET last_seq = last_seq + 1, \
               last_mod = last_mod + 1, last_activity_ms = GREATEST(last_activity_ms, {at}), \
               changed_at = natter_change_stamp() WHERE id = {id} RETURNING last_seq), \
             push AS (INSERT INTO push_queue (conversation_id, seq, created_at_ms) \
               SELECT {id}, upd.last_seq, {at} FROM upd) \
             SELECT 1 FROM upd"
        ))
        .await
    }

    async fn commit_change(self: Box<Self>, seq: i64) -> StoreResult<()> {
        // A change to a message someone's devices show queues its update (push_queue.rs).
        let (id, seq) = (one_trip::uuid(self.conversation.0), one_trip::int(seq));
        self.finish(format!(
            "WITH upd AS (UPDATE conversations SET last_mod = last_mod + 1, \
               changed_at = natter_change_stamp() WHERE id = {id} RETURNING id), \
             push AS (INSERT INTO push_queue (conversation_id, seq, changed) \
               SELECT {id}, {seq}, true FROM upd WHERE EXISTS (SELECT 1 FROM push_shown \
                 WHERE conversation_id = {id} AND seq = {seq})) \
             SELECT 1 FROM upd"
        ))
        .await
    }
}
